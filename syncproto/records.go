package syncproto

import "time"

// The records below are what Change.Data and MutationResult.Current carry,
// one type per entity. Money is integer fen (1 yuan = 100 fen). Dates without
// a time of day are "YYYY-MM-DD" strings.

// Household is a monitored household as its officer's device sees it.
// Fields from the government list are read-only on devices; the observed
// fields (Phone, HasLabor, Lat, Lng, SituationNotes) may be edited.
type Household struct {
	ID             string     `json:"id"`
	HouseholdNo    string     `json:"household_no"`
	HeadName       string     `json:"head_name"`
	IDNumberMasked string     `json:"id_number_masked"`
	Phone          string     `json:"phone"`
	Province       string     `json:"province"`
	City           string     `json:"city"`
	County         string     `json:"county"`
	Township       string     `json:"township"`
	Village        string     `json:"village"`
	FamilySize     int        `json:"family_size"`
	Category       string     `json:"category"`
	RiskType       string     `json:"risk_type"`
	HasLabor       bool       `json:"has_labor"`
	RiskEliminated bool       `json:"risk_eliminated"`
	IdentifiedOn   string     `json:"identified_on,omitempty"`
	Lat            *float64   `json:"lat,omitempty"`
	Lng            *float64   `json:"lng,omitempty"`
	SituationNotes string     `json:"situation_notes"`
	OutletID       string     `json:"outlet_id,omitempty"`
	OfficerID      string     `json:"officer_id,omitempty"`
	AssignedAt     *time.Time `json:"assigned_at,omitempty"`
	DueOn          string     `json:"due_on,omitempty"` // the officer's deadline
	Version        int64      `json:"version"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// HouseholdObservedFields are the household fields a device may change.
var HouseholdObservedFields = []string{"phone", "has_labor", "lat", "lng", "situation_notes"}

// Visit outcomes.
const (
	OutcomeVisited = "visited"
	OutcomeRefused = "refused"
	OutcomeAbsent  = "absent"
	OutcomeMoved   = "moved"
)

// Visit review states, set by supervisors only.
const (
	VisitRecorded  = "recorded"
	VisitConfirmed = "confirmed"
	VisitHasIssues = "has_issues"
)

// Visit is one door-to-door visit.
type Visit struct {
	ID           string     `json:"id"`
	HouseholdID  string     `json:"household_id"`
	OfficerID    string     `json:"officer_id"`
	Outcome      string     `json:"outcome"`
	Situation    string     `json:"situation"`
	Notes        string     `json:"notes"`
	Lat          *float64   `json:"lat,omitempty"`
	Lng          *float64   `json:"lng,omitempty"`
	AccuracyM    *float64   `json:"accuracy_m,omitempty"`
	StartedAt    time.Time  `json:"started_at"`         // device clock
	EndedAt      *time.Time `json:"ended_at,omitempty"` // device clock
	VisitedAt    time.Time  `json:"visited_at"`         // corrected for the device's clock offset
	ReceivedAt   time.Time  `json:"received_at"`
	ClockSuspect bool       `json:"clock_suspect,omitempty"`
	Status       string     `json:"status"`
	ReviewNote   string     `json:"review_note,omitempty"`
	Version      int64      `json:"version"`
}

// VisitEditableFields are the visit fields a device may set.
var VisitEditableFields = []string{"household_id", "outcome", "situation", "notes", "lat", "lng", "accuracy_m", "started_at", "ended_at"}

// Visit plan states.
const (
	PlanPlanned   = "planned"
	PlanDone      = "done"
	PlanCancelled = "cancelled"
)

// VisitPlan names a household and a planned date or window.
type VisitPlan struct {
	ID          string `json:"id"`
	HouseholdID string `json:"household_id"`
	OfficerID   string `json:"officer_id"`
	PlannedOn   string `json:"planned_on"`
	WindowEnd   string `json:"window_end,omitempty"`
	Notes       string `json:"notes"`
	Status      string `json:"status"`
	Version     int64  `json:"version"`
}

// VisitPlanEditableFields are the plan fields a device may set.
var VisitPlanEditableFields = []string{"household_id", "planned_on", "window_end", "notes", "status"}

// Financing need states; a need's status only moves forward, in this order.
// Fulfilled and declined are both final.
const (
	NeedRecorded  = "recorded"
	NeedReferred  = "referred"
	NeedFulfilled = "fulfilled"
	NeedDeclined  = "declined"
)

// FinancingNeed is what a household needs money for, e.g. 10,000 yuan for piglets.
type FinancingNeed struct {
	ID          string `json:"id"`
	HouseholdID string `json:"household_id"`
	VisitID     string `json:"visit_id,omitempty"`
	Purpose     string `json:"purpose"`
	AmountFen   int64  `json:"amount_fen"`
	Status      string `json:"status"`
	Notes       string `json:"notes"`
	Version     int64  `json:"version"`
}

// FinancingNeedEditableFields are the need fields a device may set.
var FinancingNeedEditableFields = []string{"household_id", "visit_id", "purpose", "amount_fen", "status", "notes"}

// Loan application states: draft → submitted → under_review → approved |
// rejected; approved → disbursed. withdrawn is reachable before a decision.
const (
	LoanDraft       = "draft"
	LoanSubmitted   = "submitted"
	LoanUnderReview = "under_review"
	LoanApproved    = "approved"
	LoanRejected    = "rejected"
	LoanDisbursed   = "disbursed"
	LoanWithdrawn   = "withdrawn"
)

// LoanApplication is a microloan application started by an officer.
type LoanApplication struct {
	ID           string `json:"id"`
	HouseholdID  string `json:"household_id"`
	NeedID       string `json:"need_id,omitempty"`
	ProductID    string `json:"product_id"`
	AmountFen    int64  `json:"amount_fen"`
	TermMonths   int    `json:"term_months"`
	Purpose      string `json:"purpose"`
	Status       string `json:"status"`
	DecisionNote string `json:"decision_note,omitempty"`
	Version      int64  `json:"version"`
}

// LoanApplicationEditableFields are the fields a device may set (drafts only).
var LoanApplicationEditableFields = []string{"household_id", "need_id", "product_id", "amount_fen", "term_months", "purpose", "status"}

// LoanProduct is reference data, e.g. 扶贫小额信贷.
type LoanProduct struct {
	ID                   string `json:"id"`
	Code                 string `json:"code"`
	Name                 string `json:"name"`
	MaxAmountFen         int64  `json:"max_amount_fen"`
	MaxTermMonths        int    `json:"max_term_months"`
	CollateralRequired   bool   `json:"collateral_required"`
	GovernmentGuaranteed bool   `json:"government_guaranteed"`
	InterestSubsidy      string `json:"interest_subsidy"` // "full", "partial" or "none"
	Active               bool   `json:"active"`
	Version              int64  `json:"version"`
}

// Task kinds and states.
const (
	TaskRevisit = "revisit"
	TaskCorrect = "correct"

	TaskOpen = "open"
	TaskDone = "done"
)

// Task is work a supervisor addressed to an officer.
type Task struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	HouseholdID string    `json:"household_id,omitempty"`
	VisitID     string    `json:"visit_id,omitempty"`
	Reason      string    `json:"reason"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	Version     int64     `json:"version"`
}

// RejectionRecord re-delivers a rejected mutation's verdict on pull, so a
// device that lost the push response still learns it.
type RejectionRecord struct {
	ID         string    `json:"id"`
	DeviceID   string    `json:"device_id"`
	MutationID string    `json:"mutation_id"`
	Entity     string    `json:"entity"`
	EntityID   string    `json:"entity_id"`
	Rejection  Rejection `json:"rejection"`
	CreatedAt  time.Time `json:"created_at"`
}
