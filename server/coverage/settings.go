package coverage

import (
	"context"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
)

// Settings are a branch's coverage thresholds.
type Settings struct {
	BranchID           string     `json:"branch_id"`
	AbsentAttempts     int        `json:"absent_attempts"`
	DistanceThresholdM float64    `json:"distance_threshold_m"`
	LowAccuracyM       float64    `json:"low_accuracy_m"`
	MaxSpeedKMH        float64    `json:"max_speed_kmh"`
	MinDurationS       int        `json:"min_duration_s"`
	MaxClockOffsetS    int        `json:"max_clock_offset_s"`
	SpotCheckSize      int        `json:"spot_check_size"`
	UpdatedBy          string     `json:"updated_by,omitempty"`
	UpdatedAt          *time.Time `json:"updated_at,omitempty"`
}

func settingsOf(r store.CoverageSettings) Settings {
	s := Settings{
		BranchID: r.BranchID, AbsentAttempts: r.AbsentAttempts, DistanceThresholdM: r.DistanceThresholdM,
		LowAccuracyM: r.LowAccuracyM, MaxSpeedKMH: r.MaxSpeedKMH, MinDurationS: r.MinDurationS,
		MaxClockOffsetS: r.MaxClockOffsetS, SpotCheckSize: r.SpotCheckSize, UpdatedBy: r.UpdatedBy,
	}
	if !r.UpdatedAt.IsZero() {
		t := r.UpdatedAt
		s.UpdatedAt = &t
	}
	return s
}

// SettingsUpdate is the body of PUT /coverage/settings: every threshold.
type SettingsUpdate struct {
	BranchID           string  `json:"branch_id,omitempty"` // default: the actor's branch
	AbsentAttempts     int     `json:"absent_attempts"`
	DistanceThresholdM float64 `json:"distance_threshold_m"`
	LowAccuracyM       float64 `json:"low_accuracy_m"`
	MaxSpeedKMH        float64 `json:"max_speed_kmh"`
	MinDurationS       int     `json:"min_duration_s"`
	MaxClockOffsetS    int     `json:"max_clock_offset_s"`
	SpotCheckSize      int     `json:"spot_check_size"`
}

func between(field string, v, lo, hi float64) error {
	if v < lo || v > hi || v != v {
		return apperr.Invalid(field, field+" 超出允许范围", field+" is out of range").With("min", lo).With("max", hi)
	}
	return nil
}

// SettingsOf returns the thresholds of the actor's branch, or of branchID.
func (s *Service) SettingsOf(ctx context.Context, a store.Actor, branchID string) (Settings, error) {
	if branchID == "" {
		branchID = a.BranchID
	}
	if err := validID("branch_id", branchID, true); err != nil {
		return Settings{}, err
	}
	if a.Role != store.RoleAdmin && branchID != a.BranchID {
		return Settings{}, apperr.NotFound
	}
	r, err := s.db.CoverageSettingsOf(ctx, branchID)
	if err != nil {
		return Settings{}, err
	}
	return settingsOf(r), nil
}

// UpdateSettings replaces a branch's thresholds (branch managers of the
// branch and admins).
func (s *Service) UpdateSettings(ctx context.Context, a store.Actor, u SettingsUpdate) (Settings, error) {
	if u.BranchID == "" {
		u.BranchID = a.BranchID
	}
	if err := validID("branch_id", u.BranchID, true); err != nil {
		return Settings{}, err
	}
	for _, c := range []struct {
		field     string
		v, lo, hi float64
	}{
		{"absent_attempts", float64(u.AbsentAttempts), 1, 20},
		{"distance_threshold_m", u.DistanceThresholdM, 10, 100_000},
		{"low_accuracy_m", u.LowAccuracyM, 1, 10_000},
		{"max_speed_kmh", u.MaxSpeedKMH, 5, 1_000},
		{"min_duration_s", float64(u.MinDurationS), 0, 7_200},
		{"max_clock_offset_s", float64(u.MaxClockOffsetS), 10, 86_400},
		{"spot_check_size", float64(u.SpotCheckSize), 1, 50},
	} {
		if err := between(c.field, c.v, c.lo, c.hi); err != nil {
			return Settings{}, err
		}
	}
	row := store.CoverageSettings{
		BranchID: u.BranchID, AbsentAttempts: u.AbsentAttempts, DistanceThresholdM: u.DistanceThresholdM,
		LowAccuracyM: u.LowAccuracyM, MaxSpeedKMH: u.MaxSpeedKMH, MinDurationS: u.MinDurationS,
		MaxClockOffsetS: u.MaxClockOffsetS, SpotCheckSize: u.SpotCheckSize,
	}
	err := s.db.Transact(ctx, func(tx *store.Tx) error {
		var err error
		row, err = tx.UpdateCoverageSettings(a, row)
		return err
	})
	if err != nil {
		return Settings{}, mapErr(err)
	}
	return settingsOf(row), nil
}
