package store

import "time"

// Database rows. These are storage types only: wire types live in syncproto
// and are joined to these by small converters in the packages that use both.

// Org unit kinds.
const (
	KindBranch = "branch"
	KindCounty = "county"
	KindOutlet = "outlet"
)

type OrgUnit struct {
	ID        string `gorm:"primaryKey"`
	BranchID  string
	ParentID  *string
	Kind      string
	Code      string
	Name      string
	Path      string
	CreatedAt time.Time
}

func (OrgUnit) TableName() string { return "org_units" }

type ServiceArea struct {
	BranchID  string `gorm:"primaryKey"`
	County    string `gorm:"primaryKey"`
	Township  string `gorm:"primaryKey"`
	Village   string `gorm:"primaryKey"`
	OutletID  string
	CreatedAt time.Time
}

func (ServiceArea) TableName() string { return "service_areas" }

// User statuses.
const (
	UserActive   = "active"
	UserDisabled = "disabled"
)

type User struct {
	ID           string `gorm:"primaryKey"`
	BranchID     string
	OrgUnitID    string
	Username     string
	DisplayName  string
	Role         string
	Status       string
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

func (User) TableName() string { return "users" }

// Device statuses.
const (
	DeviceActive  = "active"
	DeviceRevoked = "revoked"
)

type Device struct {
	ID             string `gorm:"primaryKey"`
	BranchID       string
	UserID         string
	ClientDeviceID string
	Name           string
	Status         string
	AppVersion     string
	LastSeenAt     *time.Time
	LastSyncAt     *time.Time
	ClockOffsetMS  int64 `gorm:"column:clock_offset_ms"`
	PendingChanges int
	RevokedAt      *time.Time
	RevokedBy      *string
	CreatedAt      time.Time
}

func (Device) TableName() string { return "devices" }

// Refresh token statuses.
const (
	TokenActive  = "active"
	TokenRotated = "rotated"
	TokenRevoked = "revoked"
)

type RefreshToken struct {
	ID        string `gorm:"primaryKey"`
	BranchID  string
	DeviceID  string
	FamilyID  string
	TokenHash string
	Status    string
	IssuedAt  time.Time
	ExpiresAt time.Time
	RotatedAt *time.Time
}

func (RefreshToken) TableName() string { return "refresh_tokens" }

type LoginAttempt struct {
	Key string
	At  time.Time
}

func (LoginAttempt) TableName() string { return "login_attempts" }

// Household list statuses.
const (
	ListActive  = "active"
	ListRemoved = "removed"
)

type Household struct {
	ID             string `gorm:"primaryKey"`
	BranchID       string `gorm:"primaryKey"`
	CountyID       *string
	OutletID       *string
	OfficerID      *string
	HouseholdNo    string
	HeadName       string
	IDNumberEnc    []byte `gorm:"column:id_number_enc"`
	IDNumberBidx   string `gorm:"column:id_number_bidx"`
	IDNumberMasked string `gorm:"column:id_number_masked"`
	PhoneEnc       []byte
	PhoneBidx      string
	PhoneMasked    string
	Province       string
	City           string
	County         string
	Township       string
	Village        string
	FamilySize     int
	Category       string
	RiskType       string
	HasLabor       bool
	RiskEliminated bool
	IdentifiedOn   string
	Lat            *float64
	Lng            *float64
	LocationSource string
	SituationNotes string
	FieldTimes     string
	ListStatus     string
	SnapshotID     *string
	ContentHash    string
	Version        int64
	CreatedAt      time.Time
	UpdatedAt      time.Time
	RemovedAt      *time.Time
}

func (Household) TableName() string { return "households" }

type Assignment struct {
	ID           string `gorm:"primaryKey"`
	BranchID     string `gorm:"primaryKey"`
	HouseholdID  string
	OutletID     string
	OfficerID    *string
	OutletDueOn  string
	OfficerDueOn string
	AssignedBy   *string
	AssignedAt   time.Time
	EndedAt      *time.Time
	EndReason    string
}

func (Assignment) TableName() string { return "assignments" }

type ListSnapshot struct {
	ID          string `gorm:"primaryKey"`
	BranchID    string
	Version     int
	FileName    string
	FileSHA256  string `gorm:"column:file_sha256"`
	Status      string
	Summary     string
	CreatedBy   *string
	CreatedAt   time.Time
	CommittedAt *time.Time
}

func (ListSnapshot) TableName() string { return "list_snapshots" }

type SnapshotChange struct {
	BranchID    string `gorm:"primaryKey"`
	SnapshotID  string `gorm:"primaryKey"`
	HouseholdNo string `gorm:"primaryKey"`
	Kind        string `gorm:"primaryKey"`
	HouseholdID *string
	Fields      string
}

func (SnapshotChange) TableName() string { return "snapshot_changes" }

type VisitPlan struct {
	ID          string `gorm:"primaryKey"`
	BranchID    string `gorm:"primaryKey"`
	HouseholdID string
	OfficerID   string
	PlannedOn   string
	WindowEnd   string
	Notes       string
	Status      string
	CreatedBy   string
	FieldTimes  string
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeletedAt   *time.Time
}

func (VisitPlan) TableName() string { return "visit_plans" }

type Visit struct {
	ID           string `gorm:"primaryKey"`
	BranchID     string `gorm:"primaryKey"`
	HouseholdID  string
	OfficerID    string
	OutletID     *string
	DeviceID     *string
	Outcome      string
	Situation    string
	Notes        string
	Lat          *float64
	Lng          *float64
	AccuracyM    *float64 `gorm:"column:accuracy_m"`
	StartedAt    time.Time
	EndedAt      *time.Time
	VisitedAt    time.Time
	ReceivedAt   time.Time
	ClockSuspect bool
	Status       string
	ReviewedBy   *string
	ReviewedAt   *time.Time
	ReviewNote   string
	Flags        string
	AfterClose   bool
	FieldTimes   string
	Version      int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	DeletedAt    *time.Time
}

func (Visit) TableName() string { return "visits" }

type FinancingNeed struct {
	ID          string `gorm:"primaryKey"`
	BranchID    string `gorm:"primaryKey"`
	HouseholdID string
	VisitID     *string
	OfficerID   string
	Purpose     string
	AmountFen   int64
	Status      string
	Notes       string
	FieldTimes  string
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
	DeletedAt   *time.Time
}

func (FinancingNeed) TableName() string { return "financing_needs" }

type LoanProduct struct {
	ID                   string `gorm:"primaryKey"`
	BranchID             string `gorm:"primaryKey"`
	Code                 string
	Name                 string
	MaxAmountFen         int64
	MaxTermMonths        int
	CollateralRequired   bool
	GovernmentGuaranteed bool
	InterestSubsidy      string
	Active               bool
	Version              int64
	CreatedAt            time.Time
	UpdatedAt            time.Time
}

func (LoanProduct) TableName() string { return "loan_products" }

type LoanApplication struct {
	ID           string `gorm:"primaryKey"`
	BranchID     string `gorm:"primaryKey"`
	HouseholdID  string
	NeedID       *string
	ProductID    string
	OfficerID    string
	AmountFen    int64
	TermMonths   int
	Purpose      string
	Status       string
	SubmittedAt  *time.Time
	DecidedBy    *string
	DecidedAt    *time.Time
	DecisionNote string
	DisbursedAt  *time.Time
	FieldTimes   string
	Version      int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
	DeletedAt    *time.Time
}

func (LoanApplication) TableName() string { return "loan_applications" }

type Task struct {
	ID          string `gorm:"primaryKey"`
	BranchID    string `gorm:"primaryKey"`
	OfficerID   string
	HouseholdID *string
	VisitID     *string
	Kind        string
	Reason      string
	Status      string
	CreatedBy   string
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

func (Task) TableName() string { return "tasks" }

type ChangeRow struct {
	BranchID       string `gorm:"primaryKey"`
	Seq            int64  `gorm:"primaryKey"`
	Ord            int    `gorm:"primaryKey"`
	Entity         string
	EntityID       string
	Op             string
	HouseholdID    *string
	AudienceUserID *string
	CreatedAt      time.Time
}

func (ChangeRow) TableName() string { return "changes" }

type DeviceMutation struct {
	BranchID   string `gorm:"primaryKey"`
	DeviceID   string `gorm:"primaryKey"`
	MutationID string `gorm:"primaryKey"`
	Seq        int64
	Entity     string
	EntityID   string
	Status     string
	Result     string
	ReceivedAt time.Time
}

func (DeviceMutation) TableName() string { return "device_mutations" }

type Conflict struct {
	ID          string `gorm:"primaryKey"`
	BranchID    string `gorm:"primaryKey"`
	Kind        string
	UserID      string
	DeviceID    string
	MutationID  string
	Entity      string
	EntityID    string
	HouseholdID *string
	OutletID    *string
	Field       string
	Rule        string
	Code        string
	Message     string
	DeviceValue *string
	ServerValue *string
	Winner      string
	CreatedAt   time.Time
}

func (Conflict) TableName() string { return "conflicts" }

type AuditEntry struct {
	ID         int64 `gorm:"primaryKey;autoIncrement"`
	BranchID   string
	ActorID    string
	ActorRole  string
	Action     string
	TargetType string
	TargetID   string
	Details    string
	RequestID  string
	CreatedAt  time.Time
}

func (AuditEntry) TableName() string { return "audit_log" }
