package store

import "time"

// Rows of the registry tables added by migration 0002.

// Import row actions.
const (
	ImportAdd    = "add"
	ImportChange = "change"
	ImportReturn = "return" // a household that had left the list is back
	ImportRemove = "remove"
)

// Snapshot states.
const (
	SnapshotPreviewed = "previewed"
	SnapshotCommitted = "committed"
	SnapshotDiscarded = "discarded"
)

// Snapshot change kinds.
const (
	ChangeAdded          = "added"
	ChangeRemoved        = "removed"
	ChangeRiskEliminated = "risk_eliminated"
	ChangeChanged        = "changed"
	ChangeReturned       = "returned"
)

// Problem severities.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// ImportRow is one staged household of a preview.
type ImportRow struct {
	BranchID        string `gorm:"primaryKey"`
	PreviewID       string `gorm:"primaryKey"`
	HouseholdNo     string `gorm:"primaryKey"`
	Line            int
	Action          string
	HouseholdID     string
	Reassign        bool
	AssignmentID    string
	CountyID        *string
	OutletID        *string
	OfficerID       *string
	Province        string
	City            string
	County          string
	Township        string
	Village         string
	HeadName        string
	IDNumberEnc     []byte `gorm:"column:id_number_enc"`
	IDNumberBidx    string `gorm:"column:id_number_bidx"`
	IDNumberMasked  string `gorm:"column:id_number_masked"`
	PhoneEnc        []byte
	PhoneBidx       string
	PhoneMasked     string
	FamilySize      int
	Category        string
	RiskType        string
	HasLabor        bool
	RiskEliminated  bool
	IdentifiedOn    string
	ContentHash     string
	SetPhone        bool
	SetHasLabor     bool
	Changed         bool
	NewlyEliminated bool
	Fields          string
}

func (ImportRow) TableName() string { return "import_rows" }

// ImportProblem is one finding of a dry run.
type ImportProblem struct {
	BranchID  string `gorm:"primaryKey"`
	PreviewID string `gorm:"primaryKey"`
	Ord       int    `gorm:"primaryKey"`
	Line      int
	Col       string
	Code      string
	Severity  string
	Message   string
	MessageEN string `gorm:"column:message_en"`
}

func (ImportProblem) TableName() string { return "import_problems" }

// Snapshot is a list_snapshots row with the columns migration 0002 added: a
// preview while status is previewed, a committed version of the list after.
type Snapshot struct {
	ID          string `gorm:"primaryKey"`
	BranchID    string
	Version     int // 0 while a preview; base_version+1 once committed
	BaseVersion int
	FileName    string
	FileSHA256  string `gorm:"column:file_sha256"`
	Status      string
	Summary     string
	ErrorCount  int
	ChangeCount int
	CreatedBy   *string
	CreatedAt   time.Time
	CommittedAt *time.Time
}

func (Snapshot) TableName() string { return "list_snapshots" }
