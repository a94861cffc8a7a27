package store

import "time"

// Rows of the coverage tables added by migration 0004.

// CoverageSettings are a branch's thresholds for the ledger, the automatic
// visit flags and the spot checks.
type CoverageSettings struct {
	BranchID           string `gorm:"primaryKey"`
	AbsentAttempts     int
	DistanceThresholdM float64 `gorm:"column:distance_threshold_m"`
	LowAccuracyM       float64 `gorm:"column:low_accuracy_m"`
	MaxSpeedKMH        float64 `gorm:"column:max_speed_kmh"`
	MinDurationS       int     `gorm:"column:min_duration_s"`
	MaxClockOffsetS    int     `gorm:"column:max_clock_offset_s"`
	SpotCheckSize      int
	SpotCheckSeed      string
	UpdatedBy          string
	UpdatedAt          time.Time
}

func (CoverageSettings) TableName() string { return "coverage_settings" }

// DefaultCoverageSettings are the thresholds of a branch that has set none.
func DefaultCoverageSettings(branchID string) CoverageSettings {
	return CoverageSettings{
		BranchID: branchID, AbsentAttempts: 3, DistanceThresholdM: 500, LowAccuracyM: 100,
		MaxSpeedKMH: 120, MinDurationS: 180, MaxClockOffsetS: 600, SpotCheckSize: 5,
	}
}

// CoverageExemption excuses one household from one month's visit.
type CoverageExemption struct {
	ID          string `gorm:"primaryKey"`
	BranchID    string `gorm:"primaryKey"`
	HouseholdID string
	Month       string
	OutletID    *string
	Reason      string
	CreatedBy   string
	CreatedAt   time.Time
}

func (CoverageExemption) TableName() string { return "coverage_exemptions" }

// CoverageSignoff is an immutable sign-off of an outlet's month.
type CoverageSignoff struct {
	ID           string `gorm:"primaryKey"`
	BranchID     string `gorm:"primaryKey"`
	OutletID     string
	Month        string
	SignedBy     string
	SignedAt     time.Time
	Note         string
	SupersedesID *string
	Figures      string
}

func (CoverageSignoff) TableName() string { return "coverage_signoffs" }

// VisitFlag is one automatic flag on a visit, with its evidence as JSON.
type VisitFlag struct {
	BranchID  string `gorm:"primaryKey"`
	VisitID   string `gorm:"primaryKey"`
	Code      string `gorm:"primaryKey"`
	Evidence  string
	CreatedAt time.Time
}

func (VisitFlag) TableName() string { return "visit_flags" }
