package store

import "time"

// Report levels: officer rows are the base grain, the others are sums.
const (
	LevelBranch  = "branch"
	LevelCounty  = "county"
	LevelOutlet  = "outlet"
	LevelOfficer = "officer"
)

// ReportFigures are the stored figures of one report row, one field per
// column named in ReportFigureDefs.
type ReportFigures struct {
	HouseholdsInList      int64 `json:"households_in_list"`
	HouseholdsAssigned    int64 `json:"households_assigned"`
	HouseholdsVisited     int64 `json:"households_visited"`
	VisitsTotal           int64 `json:"visits_total"`
	VisitsFirst           int64 `json:"visits_first"`
	VisitsRepeat          int64 `json:"visits_repeat"`
	VisitsConfirmed       int64 `json:"visits_confirmed"`
	VisitsFlagged         int64 `json:"visits_flagged"`
	HouseholdsWithNeeds   int64 `json:"households_with_needs"`
	NeedsAmountFen        int64 `json:"needs_amount_fen"`
	LoansSubmitted        int64 `json:"loans_submitted"`
	LoansSubmittedFen     int64 `json:"loans_submitted_fen"`
	LoansApproved         int64 `json:"loans_approved"`
	LoansApprovedFen      int64 `json:"loans_approved_fen"`
	LoansRejected         int64 `json:"loans_rejected"`
	LoansRejectedFen      int64 `json:"loans_rejected_fen"`
	LoansDisbursed        int64 `json:"loans_disbursed"`
	LoansDisbursedFen     int64 `json:"loans_disbursed_fen"`
	AssignmentsOverdue    int64 `json:"assignments_overdue"`
	FirstVisitWaitSeconds int64 `json:"first_visit_wait_seconds"`
	FirstVisitWaitCount   int64 `json:"first_visit_wait_count"`
}

// ReportKey names a report row within a branch and month.
type ReportKey struct {
	Level     string `json:"level"`
	CountyID  string `json:"county_id"`
	OutletID  string `json:"outlet_id"`
	OfficerID string `json:"officer_id"`
}

// ReportRow is a row of current figures.
type ReportRow struct {
	BranchID string `gorm:"primaryKey"`
	Month    string `gorm:"primaryKey"`
	ReportKey
	ReportFigures
	UpdatedAt time.Time
}

func (ReportRow) TableName() string { return "report_rows" }

// ReportVersionRow is a row of a frozen version.
type ReportVersionRow struct {
	BranchID string
	Month    string
	Version  int
	ReportKey
	ReportFigures
}

func (ReportVersionRow) TableName() string { return "report_version_rows" }

// Report version kinds.
const (
	VersionClose       = "close"
	VersionRestatement = "restatement"
)

// ReportVersion is one frozen version of a branch's month.
type ReportVersion struct {
	BranchID    string    `gorm:"primaryKey" json:"-"`
	Month       string    `gorm:"primaryKey" json:"month"`
	Version     int       `gorm:"primaryKey" json:"version"`
	Kind        string    `json:"kind"`
	CreatedBy   string    `json:"created_by,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	ThroughSeq  int64     `json:"-"`
	LateRecords int       `json:"late_records"`
	CreatedAt   time.Time `json:"created_at"`
}

func (ReportVersion) TableName() string { return "report_versions" }

// ReportCursor is the worker's position in a branch's change log.
type ReportCursor struct {
	BranchID  string `gorm:"primaryKey"`
	LastSeq   int64
	AsOfDate  string
	UpdatedAt time.Time
}

func (ReportCursor) TableName() string { return "report_cursors" }

// ReportMonth is a materialised month of a branch.
type ReportMonth struct {
	BranchID       string `gorm:"primaryKey"`
	Month          string `gorm:"primaryKey"`
	OpenedAt       time.Time
	RestatePending bool
	PendingSince   *time.Time
}

func (ReportMonth) TableName() string { return "report_months" }

// ReportFact is what the worker last saw of a record that feeds the figures.
type ReportFact struct {
	BranchID    string `gorm:"primaryKey"`
	Entity      string `gorm:"primaryKey"`
	EntityID    string `gorm:"primaryKey"`
	HouseholdID string
	Month       string
	EndMonth    string
	OfficerID   string
	OutletID    string
	Digest      string
}

func (ReportFact) TableName() string { return "report_facts" }

// ReportLateRecord is a record that changed a closed month.
type ReportLateRecord struct {
	ID          string    `gorm:"primaryKey" json:"-"`
	BranchID    string    `gorm:"primaryKey" json:"-"`
	Month       string    `json:"month"`
	Entity      string    `json:"entity"`
	EntityID    string    `json:"entity_id"`
	HouseholdID string    `json:"household_id"`
	OfficerID   string    `json:"officer_id,omitempty"`
	OutletID    string    `json:"outlet_id,omitempty"`
	CountyID    string    `json:"county_id,omitempty"`
	ChangeSeq   int64     `json:"change_seq"`
	ArrivedAt   time.Time `json:"arrived_at"`
	Version     *int      `json:"version,omitempty"`
}

func (ReportLateRecord) TableName() string { return "report_late_records" }

// ReportFile is a generated file of a version.
type ReportFile struct {
	BranchID  string `gorm:"primaryKey"`
	Month     string `gorm:"primaryKey"`
	Version   int    `gorm:"primaryKey"`
	Format    string `gorm:"primaryKey"`
	Lang      string `gorm:"primaryKey"`
	FileName  string
	Content   []byte
	SHA256    string `gorm:"column:sha256"`
	SizeBytes int64
	CreatedAt time.Time
}

func (ReportFile) TableName() string { return "report_files" }
