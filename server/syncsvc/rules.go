package syncsvc

import "github.com/doorstep-dev/doorstep/syncproto"

// This file is the one place where the conflict rules are declared. The
// engine (apply.go) reads these tables; mobile-api-docs render them. Change a
// rule here and the engine and the documentation change together.
//
// How a device edit meets the server's record, for every entity:
//
//   - Sequence. seq orders a device's mutations within a batch; gaps are
//     allowed. A mutation id already in the device's log is a replay: its
//     stored result is returned and nothing is written. A different mutation
//     id reusing a seq the device already used is rejected
//     duplicate_sequence. A new mutation id with an older seq than others
//     already applied is applied normally: order between edits is decided by
//     base_version and corrected event time (and, between two edits from the
//     same device, by seq, the device's own order), never by arrival.
//   - Per-field merge. Each field carries a stamp (store.FieldStamp): the
//     corrected event time of its last edit, the record version that edit
//     produced, and the device and seq that made it. A device field wins when
//     the device had seen the stored value (stamp version <= base_version) or
//     when the stored value came from the same device's older seq. Otherwise
//     the two edits were concurrent and the later corrected event time wins;
//     on a tie the stored value stays. When a concurrent loser's value differs
//     from the winner's, the conflict log keeps both.
//   - Clocks. corrected time = device time + (server time − the request's
//     device_time). A corrected time more than 5 minutes in the future, or
//     before the household's current assignment began, is not trusted: the
//     record is flagged clock_suspect and the server's receive time is used
//     for ordering instead. Nothing is rejected for its clock.
//   - Versions. A record's version goes up by one per server transaction that
//     changes it; every result of one push that touches a record carries the
//     record as that push left it.

// Merge policies.
const (
	// MergeFieldLWW: per-field last writer wins by corrected event time.
	MergeFieldLWW = "field_lww"
	// MergeFixed: set when the record is created, never changed after.
	MergeFixed = "fixed_after_create"
	// MergeForwardOnly: a status that only moves forward.
	MergeForwardOnly = "forward_only"
	// MergeStateMachine: moves only along the declared transitions.
	MergeStateMachine = "state_machine"
)

// Field types.
const (
	TypeText    = "text"    // string of at most syncproto.MaxFieldBytes, no NUL
	TypeEnum    = "enum"    // one of Values
	TypeBool    = "bool"    // true or false
	TypeNumber  = "number"  // JSON number within [Min, Max]
	TypeInteger = "integer" // JSON integer within [Min, Max]
	TypeDate    = "date"    // "YYYY-MM-DD", a real calendar date in 2000..2099
	TypeTime    = "time"    // RFC 3339 with offset, in 2000..2099
	TypeID      = "id"      // id of another record
	TypePhone   = "phone"   // digits, optionally +, spaces and dashes; 5 to 20 digits, or "" to clear
)

// FieldRule says how a device may set one field.
type FieldRule struct {
	Field    string   `json:"field"`
	Type     string   `json:"type"`
	Values   []string `json:"values,omitempty"`
	Min      float64  `json:"min,omitempty"`
	Max      float64  `json:"max,omitempty"`
	Nullable bool     `json:"nullable,omitempty"` // null (or "" for dates) clears it
	Required bool     `json:"required,omitempty"` // must be present on create
	Merge    string   `json:"merge"`
}

// Transition is one allowed status move and who may make it.
type Transition struct {
	From string `json:"from"`
	To   string `json:"to"`
	By   string `json:"by"` // "device" or "bank"
}

// EntityRule is everything the engine enforces for one entity.
type EntityRule struct {
	Entity      string       `json:"entity"`
	Operations  []string     `json:"operations"` // what devices may send
	Fields      []FieldRule  `json:"fields"`
	ServerOwned []string     `json:"server_owned"` // sending one is rejected server_owned_field
	Transitions []Transition `json:"transitions,omitempty"`
	Rules       []string     `json:"rules"`
}

// Rule names, as they appear in the conflict log.
const (
	RuleValidation     = "validation"
	RuleSequence       = "sequence.unique_per_device"
	RuleScope          = "scope.current_officer"
	RuleExists         = "create.unique_id"
	RuleDependency     = "dependency.must_exist"
	RuleUnsupported    = "operation.not_allowed"
	RuleFieldLWW       = "field_lww.corrected_event_time"
	RuleVisitConfirmed = "visit.confirmed_is_final"
	RuleNeedForward    = "need.status_forward_only"
	RuleLoanDraftOnly  = "loan.device_edits_drafts_only"
	RuleLoanStates     = "loan.state_machine"
	RuleLoanProduct    = "loan.product_limits"
)

// Money caps that hold whatever the product says.
const (
	// MaxNeedFen caps a financing need: 1,000,000 yuan.
	MaxNeedFen = 100_000_000
	// PovertyMicroloanCode is 扶贫小额信贷; policy caps it at 50,000 yuan and
	// 36 months even if its product row were misconfigured higher.
	PovertyMicroloanCode     = "FPXD"
	PovertyMicroloanMaxFen   = 5_000_000
	PovertyMicroloanMaxTerms = 36
)

var (
	outcomes     = []string{syncproto.OutcomeVisited, syncproto.OutcomeRefused, syncproto.OutcomeAbsent, syncproto.OutcomeMoved}
	planStates   = []string{syncproto.PlanPlanned, syncproto.PlanDone, syncproto.PlanCancelled}
	needStates   = []string{syncproto.NeedRecorded, syncproto.NeedReferred, syncproto.NeedFulfilled, syncproto.NeedDeclined}
	loanStates   = []string{syncproto.LoanDraft, syncproto.LoanSubmitted, syncproto.LoanUnderReview, syncproto.LoanApproved, syncproto.LoanRejected, syncproto.LoanDisbursed, syncproto.LoanWithdrawn}
	updateOnly   = []string{syncproto.OpUpdate}
	createUpdate = []string{syncproto.OpCreate, syncproto.OpUpdate}
	allOps       = []string{syncproto.OpCreate, syncproto.OpUpdate, syncproto.OpDelete}
)

// needRank orders financing-need states; fulfilled and declined are both final.
var needRank = map[string]int{syncproto.NeedRecorded: 0, syncproto.NeedReferred: 1, syncproto.NeedFulfilled: 2, syncproto.NeedDeclined: 2}

// LoanTransitions is the loan application state machine. Withdrawn is
// reachable only before a decision; decisions are the bank's and always win.
var LoanTransitions = []Transition{
	{syncproto.LoanDraft, syncproto.LoanSubmitted, "device"},
	{syncproto.LoanDraft, syncproto.LoanWithdrawn, "device"},
	{syncproto.LoanSubmitted, syncproto.LoanWithdrawn, "device"},
	{syncproto.LoanUnderReview, syncproto.LoanWithdrawn, "device"},
	{syncproto.LoanSubmitted, syncproto.LoanUnderReview, "bank"},
	{syncproto.LoanSubmitted, syncproto.LoanApproved, "bank"},
	{syncproto.LoanSubmitted, syncproto.LoanRejected, "bank"},
	{syncproto.LoanUnderReview, syncproto.LoanApproved, "bank"},
	{syncproto.LoanUnderReview, syncproto.LoanRejected, "bank"},
	{syncproto.LoanApproved, syncproto.LoanDisbursed, "bank"},
}

func loanMoveAllowed(from, to, by string) bool {
	for _, t := range LoanTransitions {
		if t.From == from && t.To == to && t.By == by {
			return true
		}
	}
	return false
}

// Rules are the per-entity rule tables, in the order the docs show them.
var Rules = []EntityRule{
	{
		Entity:     syncproto.EntityHousehold,
		Operations: updateOnly,
		Fields: []FieldRule{
			{Field: "phone", Type: TypePhone, Merge: MergeFieldLWW},
			{Field: "has_labor", Type: TypeBool, Merge: MergeFieldLWW},
			{Field: "lat", Type: TypeNumber, Min: -90, Max: 90, Nullable: true, Merge: MergeFieldLWW},
			{Field: "lng", Type: TypeNumber, Min: -180, Max: 180, Nullable: true, Merge: MergeFieldLWW},
			{Field: "situation_notes", Type: TypeText, Merge: MergeFieldLWW},
		},
		ServerOwned: []string{"id", "household_no", "head_name", "name", "id_number", "id_number_masked", "province", "city",
			"county", "township", "village", "address", "family_size", "category", "risk_type", "risk_status",
			"risk_eliminated", "identified_on", "outlet_id", "officer_id", "assigned_at", "due_on", "version", "updated_at"},
		Rules: []string{
			"Households come from the government list; devices cannot create or delete them (unsupported_operation).",
			"The list fields (name, ID number, household number, category, risk status, address) belong to the server (server_owned_field).",
			"The fields an officer observes (phone, labour capacity, location, situation notes) merge field by field; between concurrent edits the later corrected event time wins, and the losing value is kept in the conflict log.",
			"Only the household's current officer may edit it (out_of_scope).",
			"Phone numbers are stored encrypted; push results and the conflict log show them masked.",
		},
	},
	{
		Entity:     syncproto.EntityVisit,
		Operations: createUpdate,
		Fields: []FieldRule{
			{Field: "household_id", Type: TypeID, Required: true, Merge: MergeFixed},
			{Field: "outcome", Type: TypeEnum, Values: outcomes, Required: true, Merge: MergeFieldLWW},
			{Field: "situation", Type: TypeText, Merge: MergeFieldLWW},
			{Field: "notes", Type: TypeText, Merge: MergeFieldLWW},
			{Field: "lat", Type: TypeNumber, Min: -90, Max: 90, Nullable: true, Merge: MergeFieldLWW},
			{Field: "lng", Type: TypeNumber, Min: -180, Max: 180, Nullable: true, Merge: MergeFieldLWW},
			{Field: "accuracy_m", Type: TypeNumber, Min: 0, Max: 100_000, Nullable: true, Merge: MergeFieldLWW},
			{Field: "started_at", Type: TypeTime, Required: true, Merge: MergeFieldLWW},
			{Field: "ended_at", Type: TypeTime, Nullable: true, Merge: MergeFieldLWW},
		},
		ServerOwned: []string{"id", "officer_id", "outlet_id", "device_id", "visited_at", "received_at", "clock_suspect",
			"status", "review_note", "reviewed_by", "reviewed_at", "flags", "after_close", "version"},
		Rules: []string{
			"A visit is the recording officer's record: only the household's current officer may create one (out_of_scope), and only the officer who recorded it may edit it (out_of_scope).",
			"The recording officer's edits merge field by field until a supervisor confirms the visit; after that every device edit is rejected visit_confirmed and the confirmed visit comes back in current.",
			"Review status and notes belong to supervisors (server_owned_field).",
			"Visits are the archive of record: devices correct them, never delete them (unsupported_operation).",
			"started_at and ended_at are the device clock; visited_at is started_at corrected for the device's clock offset, or the receive time when that is not trusted (clock_suspect).",
			"ended_at may not be before started_at (invalid_field).",
		},
	},
	{
		Entity:     syncproto.EntityVisitPlan,
		Operations: allOps,
		Fields: []FieldRule{
			{Field: "household_id", Type: TypeID, Required: true, Merge: MergeFixed},
			{Field: "planned_on", Type: TypeDate, Required: true, Merge: MergeFieldLWW},
			{Field: "window_end", Type: TypeDate, Nullable: true, Merge: MergeFieldLWW},
			{Field: "notes", Type: TypeText, Merge: MergeFieldLWW},
			{Field: "status", Type: TypeEnum, Values: planStates, Merge: MergeFieldLWW},
		},
		ServerOwned: []string{"id", "officer_id", "created_by", "version"},
		Rules: []string{
			"Plans merge field by field; planned_on must be a real date and window_end may not precede it (invalid_field).",
			"Only the household's current officer may create, edit or delete plans on it (out_of_scope).",
		},
	},
	{
		Entity:     syncproto.EntityNeed,
		Operations: allOps,
		Fields: []FieldRule{
			{Field: "household_id", Type: TypeID, Required: true, Merge: MergeFixed},
			{Field: "visit_id", Type: TypeID, Nullable: true, Merge: MergeFieldLWW},
			{Field: "purpose", Type: TypeText, Merge: MergeFieldLWW},
			{Field: "amount_fen", Type: TypeInteger, Min: 0, Max: MaxNeedFen, Merge: MergeFieldLWW},
			{Field: "status", Type: TypeEnum, Values: needStates, Merge: MergeForwardOnly},
			{Field: "notes", Type: TypeText, Merge: MergeFieldLWW},
		},
		ServerOwned: []string{"id", "officer_id", "version"},
		Rules: []string{
			"Needs merge field by field; amount_fen is 0 to 100,000,000 fen.",
			"Status only moves forward: recorded → referred → fulfilled | declined, both final. A device that had seen the newer status and moves it back is rejected status_backwards; a stale status concurrent with a newer one loses the merge.",
			"visit_id must name a visit of the same household that exists; one rejected or never received gives dependency_rejected.",
			"A need may be deleted only while recorded (illegal_transition).",
		},
	},
	{
		Entity:     syncproto.EntityLoan,
		Operations: allOps,
		Fields: []FieldRule{
			{Field: "household_id", Type: TypeID, Required: true, Merge: MergeFixed},
			{Field: "need_id", Type: TypeID, Nullable: true, Merge: MergeFieldLWW},
			{Field: "product_id", Type: TypeID, Required: true, Merge: MergeFieldLWW},
			{Field: "amount_fen", Type: TypeInteger, Min: 0, Max: MaxNeedFen, Required: true, Merge: MergeFieldLWW},
			{Field: "term_months", Type: TypeInteger, Min: 0, Max: 600, Required: true, Merge: MergeFieldLWW},
			{Field: "purpose", Type: TypeText, Merge: MergeFieldLWW},
			{Field: "status", Type: TypeEnum, Values: loanStates, Merge: MergeStateMachine},
		},
		ServerOwned: []string{"id", "officer_id", "decision_note", "decided_by", "decided_at", "submitted_at", "disbursed_at", "version"},
		Transitions: LoanTransitions,
		Rules: []string{
			"State machine: draft → submitted → under_review → approved | rejected; approved → disbursed. Withdrawn only before a decision.",
			"A device may create a draft (or a submitted application), edit only a draft (not_draft), submit a draft, and withdraw before a decision; any other move is illegal_transition. Bank decisions always win.",
			"amount_fen and term_months must be positive and within the product's limits (product_limit); 扶贫小额信贷 (FPXD) is capped at 5,000,000 fen and 36 months. The product must exist and be active.",
			"need_id must name a need of the same household that exists; one rejected or never received gives dependency_rejected.",
			"A loan application may be deleted only while it is a draft (not_draft).",
		},
	},
}

// rulesByEntity indexes Rules.
var rulesByEntity = func() map[string]*EntityRule {
	m := make(map[string]*EntityRule, len(Rules))
	for i := range Rules {
		m[Rules[i].Entity] = &Rules[i]
	}
	return m
}()

func (r *EntityRule) field(name string) *FieldRule {
	for i := range r.Fields {
		if r.Fields[i].Field == name {
			return &r.Fields[i]
		}
	}
	return nil
}

func (r *EntityRule) serverOwned(name string) bool {
	for _, f := range r.ServerOwned {
		if f == name {
			return true
		}
	}
	return false
}

func (r *EntityRule) allows(op string) bool {
	for _, o := range r.Operations {
		if o == op {
			return true
		}
	}
	return false
}
