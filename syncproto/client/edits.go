package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// editable lists, per entity a device may change, the fields it may set and
// the operations it may send. The server enforces the same lists; checking
// here tells the officer at once instead of after the next sync.
var editable = map[string]struct {
	fields []string
	ops    []string
}{
	syncproto.EntityHousehold: {syncproto.HouseholdObservedFields, []string{syncproto.OpUpdate}},
	syncproto.EntityVisit:     {syncproto.VisitEditableFields, []string{syncproto.OpCreate, syncproto.OpUpdate}},
	syncproto.EntityVisitPlan: {syncproto.VisitPlanEditableFields, []string{syncproto.OpCreate, syncproto.OpUpdate, syncproto.OpDelete}},
	syncproto.EntityNeed:      {syncproto.FinancingNeedEditableFields, []string{syncproto.OpCreate, syncproto.OpUpdate}},
	syncproto.EntityLoan:      {syncproto.LoanApplicationEditableFields, []string{syncproto.OpCreate, syncproto.OpUpdate}},
}

// Mutate records a local edit: it changes the local record and appends the
// mutation to the outbox in one local transaction, and returns the record id
// (generated for a create when id is empty). fields maps field names to
// values that marshal to JSON.
func (c *Client) Mutate(ctx context.Context, entity, op, id string, fields map[string]any) (string, error) {
	raw := make(map[string]json.RawMessage, len(fields))
	for k, v := range fields {
		b, err := json.Marshal(v)
		if err != nil {
			return "", &EditError{Field: k, Code: syncproto.RejectInvalidField, Message: "字段值无法编码", MessageEN: "value cannot be encoded"}
		}
		raw[k] = b
	}
	return c.mutate(ctx, entity, op, id, raw)
}

func (c *Client) mutate(ctx context.Context, entity, op, id string, fields map[string]json.RawMessage) (string, error) {
	rule, ok := editable[entity]
	if !ok {
		return "", &EditError{Code: syncproto.RejectUnsupported, Message: "设备不能修改此类记录", MessageEN: "devices cannot change " + entity + " records"}
	}
	if !slices.Contains(rule.ops, op) {
		return "", &EditError{Code: syncproto.RejectUnsupported, Message: "不支持此操作", MessageEN: "operation " + op + " is not supported on " + entity}
	}
	for k, v := range fields {
		if !slices.Contains(rule.fields, k) {
			return "", &EditError{Field: k, Code: syncproto.RejectUnknownField, Message: "设备不能修改此字段", MessageEN: "devices cannot set this field"}
		}
		var s string
		if json.Unmarshal(v, &s) == nil && (len(s) > syncproto.MaxFieldBytes || !utf8.ValidString(s)) {
			return "", &EditError{Field: k, Code: syncproto.RejectInvalidField, Message: "文字过长或编码无效", MessageEN: "text too long or not valid UTF-8"}
		}
	}
	if op == syncproto.OpCreate {
		if id == "" {
			id = uuid.Must(uuid.NewV7()).String()
		} else if _, err := uuid.Parse(id); err != nil {
			return "", &EditError{Field: "id", Code: syncproto.RejectInvalidField, Message: "记录编号必须是 UUID", MessageEN: "record id must be a UUID"}
		}
	}
	if fields == nil {
		fields = map[string]json.RawMessage{}
	}
	fieldsJSON, err := json.Marshal(fields)
	if err != nil {
		return "", err
	}
	now := c.opts.Clock()
	err = c.tx(ctx, func(tx *sql.Tx) error {
		userID, err := getMeta(tx, metaUserID)
		if err != nil {
			return err
		}
		r, exists, err := loadRecord(tx, entity, id)
		if err != nil {
			return err
		}
		switch {
		case op == syncproto.OpCreate && exists:
			return &EditError{Field: "id", Code: syncproto.RejectAlreadyExists, Message: "记录已存在", MessageEN: "record already exists"}
		case op != syncproto.OpCreate && (!exists || r.Data == nil):
			return &EditError{Code: syncproto.RejectNotFound, Message: "本机没有这条记录", MessageEN: "no such record on this device"}
		}
		if hh, ok := fields["household_id"]; ok || op == syncproto.OpCreate {
			var hid string
			json.Unmarshal(hh, &hid)
			if entity != syncproto.EntityHousehold {
				h, found, err := loadRecord(tx, syncproto.EntityHousehold, hid)
				if err != nil {
					return err
				}
				if !found || h.Data == nil {
					return &EditError{Field: "household_id", Code: syncproto.RejectNotFound, Message: "本机没有这户，请先同步", MessageEN: "household not on this device; sync first"}
				}
			}
		}
		_, err = tx.Exec(`INSERT INTO outbox (mutation_id, entity, entity_id, op, base_version, device_time, fields)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			uuid.Must(uuid.NewV7()).String(), entity, id, op, r.Version, timeText(now), string(fieldsJSON))
		if err != nil {
			return fmt.Errorf("append to outbox: %w", err)
		}
		return c.rebase(tx, entity, id, r.Base, r.Version, userID)
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// EditError is a local edit refused before it reached the outbox.
type EditError struct {
	Field     string
	Code      string
	Message   string // Chinese
	MessageEN string
}

func (e *EditError) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s (%s): %s", e.Code, e.Field, e.MessageEN)
	}
	return e.Code + ": " + e.MessageEN
}

// VisitInput is a new visit.
type VisitInput struct {
	ID          string // optional; generated when empty
	HouseholdID string
	Outcome     string // syncproto.OutcomeVisited, ...
	Situation   string
	Notes       string
	Lat, Lng    *float64
	AccuracyM   *float64
	StartedAt   time.Time // device clock; default now
	EndedAt     *time.Time
}

var outcomes = []string{syncproto.OutcomeVisited, syncproto.OutcomeRefused, syncproto.OutcomeAbsent, syncproto.OutcomeMoved}

// CreateVisit records a visit.
func (c *Client) CreateVisit(ctx context.Context, in VisitInput) (string, error) {
	if !slices.Contains(outcomes, in.Outcome) {
		return "", &EditError{Field: "outcome", Code: syncproto.RejectInvalidField, Message: "走访结果应为 visited、refused、absent 或 moved", MessageEN: "outcome must be visited, refused, absent or moved"}
	}
	if err := checkLocation(in.Lat, in.Lng, in.AccuracyM); err != nil {
		return "", err
	}
	if in.StartedAt.IsZero() {
		in.StartedAt = c.opts.Clock()
	}
	f := map[string]any{
		"household_id": in.HouseholdID, "outcome": in.Outcome, "situation": in.Situation,
		"notes": in.Notes, "started_at": in.StartedAt.UTC(),
	}
	setIf(f, "lat", in.Lat)
	setIf(f, "lng", in.Lng)
	setIf(f, "accuracy_m", in.AccuracyM)
	if in.EndedAt != nil {
		f["ended_at"] = in.EndedAt.UTC()
	}
	return c.Mutate(ctx, syncproto.EntityVisit, syncproto.OpCreate, in.ID, f)
}

// VisitPatch changes some fields of a visit; nil fields stay as they are.
type VisitPatch struct {
	Outcome   *string
	Situation *string
	Notes     *string
	Lat, Lng  *float64
	AccuracyM *float64
	EndedAt   *time.Time
}

// UpdateVisit edits a visit. The server merges the recording officer's edits
// field by field until a supervisor confirms the visit.
func (c *Client) UpdateVisit(ctx context.Context, id string, p VisitPatch) error {
	if p.Outcome != nil && !slices.Contains(outcomes, *p.Outcome) {
		return &EditError{Field: "outcome", Code: syncproto.RejectInvalidField, Message: "走访结果应为 visited、refused、absent 或 moved", MessageEN: "outcome must be visited, refused, absent or moved"}
	}
	if err := checkLocation(p.Lat, p.Lng, p.AccuracyM); err != nil {
		return err
	}
	f := map[string]any{}
	setIf(f, "outcome", p.Outcome)
	setIf(f, "situation", p.Situation)
	setIf(f, "notes", p.Notes)
	setIf(f, "lat", p.Lat)
	setIf(f, "lng", p.Lng)
	setIf(f, "accuracy_m", p.AccuracyM)
	if p.EndedAt != nil {
		f["ended_at"] = p.EndedAt.UTC()
	}
	_, err := c.Mutate(ctx, syncproto.EntityVisit, syncproto.OpUpdate, id, f)
	return err
}

// NeedInput is a new financing need.
type NeedInput struct {
	ID          string
	HouseholdID string
	VisitID     string // optional: the visit where it came up
	Purpose     string
	AmountFen   int64
	Notes       string
}

// CreateNeed records a financing need.
func (c *Client) CreateNeed(ctx context.Context, in NeedInput) (string, error) {
	if in.AmountFen <= 0 {
		return "", &EditError{Field: "amount_fen", Code: syncproto.RejectInvalidField, Message: "金额必须大于零", MessageEN: "amount must be positive"}
	}
	f := map[string]any{"household_id": in.HouseholdID, "purpose": in.Purpose, "amount_fen": in.AmountFen, "notes": in.Notes}
	if in.VisitID != "" {
		f["visit_id"] = in.VisitID
	}
	return c.Mutate(ctx, syncproto.EntityNeed, syncproto.OpCreate, in.ID, f)
}

// NeedPatch changes some fields of a need.
type NeedPatch struct {
	Purpose   *string
	AmountFen *int64
	Status    *string
	Notes     *string
}

// UpdateNeed edits a financing need; its status only moves forward.
func (c *Client) UpdateNeed(ctx context.Context, id string, p NeedPatch) error {
	if p.AmountFen != nil && *p.AmountFen <= 0 {
		return &EditError{Field: "amount_fen", Code: syncproto.RejectInvalidField, Message: "金额必须大于零", MessageEN: "amount must be positive"}
	}
	f := map[string]any{}
	setIf(f, "purpose", p.Purpose)
	setIf(f, "amount_fen", p.AmountFen)
	setIf(f, "status", p.Status)
	setIf(f, "notes", p.Notes)
	_, err := c.Mutate(ctx, syncproto.EntityNeed, syncproto.OpUpdate, id, f)
	return err
}

// LoanInput starts a loan application as a draft.
type LoanInput struct {
	ID          string
	HouseholdID string
	NeedID      string
	ProductID   string
	AmountFen   int64
	TermMonths  int
	Purpose     string
}

// CreateLoan starts a draft loan application. When the product is on the
// device its limits are checked here as well as on the server.
func (c *Client) CreateLoan(ctx context.Context, in LoanInput) (string, error) {
	if err := c.checkLoan(ctx, in.ProductID, in.AmountFen, in.TermMonths); err != nil {
		return "", err
	}
	f := map[string]any{
		"household_id": in.HouseholdID, "product_id": in.ProductID, "amount_fen": in.AmountFen,
		"term_months": in.TermMonths, "purpose": in.Purpose, "status": syncproto.LoanDraft,
	}
	if in.NeedID != "" {
		f["need_id"] = in.NeedID
	}
	return c.Mutate(ctx, syncproto.EntityLoan, syncproto.OpCreate, in.ID, f)
}

func (c *Client) checkLoan(ctx context.Context, productID string, amount int64, term int) error {
	if amount <= 0 {
		return &EditError{Field: "amount_fen", Code: syncproto.RejectInvalidField, Message: "金额必须大于零", MessageEN: "amount must be positive"}
	}
	if term <= 0 {
		return &EditError{Field: "term_months", Code: syncproto.RejectInvalidField, Message: "期限必须大于零", MessageEN: "term must be positive"}
	}
	var p syncproto.LoanProduct
	found, err := c.record(ctx, syncproto.EntityLoanProduct, productID, &p)
	if err != nil || !found {
		return err
	}
	if amount > p.MaxAmountFen {
		return &EditError{Field: "amount_fen", Code: syncproto.RejectProductLimit,
			Message:   fmt.Sprintf("金额超过「%s」上限 %d 元", p.Name, p.MaxAmountFen/100),
			MessageEN: fmt.Sprintf("amount exceeds the %s limit of %d yuan", p.Code, p.MaxAmountFen/100)}
	}
	if term > p.MaxTermMonths {
		return &EditError{Field: "term_months", Code: syncproto.RejectProductLimit,
			Message:   fmt.Sprintf("期限超过「%s」上限 %d 个月", p.Name, p.MaxTermMonths),
			MessageEN: fmt.Sprintf("term exceeds the %s limit of %d months", p.Code, p.MaxTermMonths)}
	}
	return nil
}

// LoanPatch edits a draft.
type LoanPatch struct {
	NeedID     *string
	ProductID  *string
	AmountFen  *int64
	TermMonths *int
	Purpose    *string
}

// UpdateLoan edits a draft application. Only drafts may be edited.
func (c *Client) UpdateLoan(ctx context.Context, id string, p LoanPatch) error {
	var cur syncproto.LoanApplication
	if err := c.loanIn(ctx, id, &cur, syncproto.LoanDraft); err != nil {
		return err
	}
	product, amount, term := cur.ProductID, cur.AmountFen, cur.TermMonths
	if p.ProductID != nil {
		product = *p.ProductID
	}
	if p.AmountFen != nil {
		amount = *p.AmountFen
	}
	if p.TermMonths != nil {
		term = *p.TermMonths
	}
	if err := c.checkLoan(ctx, product, amount, term); err != nil {
		return err
	}
	f := map[string]any{}
	setIf(f, "need_id", p.NeedID)
	setIf(f, "product_id", p.ProductID)
	setIf(f, "amount_fen", p.AmountFen)
	setIf(f, "term_months", p.TermMonths)
	setIf(f, "purpose", p.Purpose)
	_, err := c.Mutate(ctx, syncproto.EntityLoan, syncproto.OpUpdate, id, f)
	return err
}

// SubmitLoan moves a draft to submitted.
func (c *Client) SubmitLoan(ctx context.Context, id string) error {
	var cur syncproto.LoanApplication
	if err := c.loanIn(ctx, id, &cur, syncproto.LoanDraft); err != nil {
		return err
	}
	_, err := c.Mutate(ctx, syncproto.EntityLoan, syncproto.OpUpdate, id, map[string]any{"status": syncproto.LoanSubmitted})
	return err
}

// WithdrawLoan withdraws an application that has no decision yet.
func (c *Client) WithdrawLoan(ctx context.Context, id string) error {
	var cur syncproto.LoanApplication
	if err := c.loanIn(ctx, id, &cur, syncproto.LoanDraft, syncproto.LoanSubmitted, syncproto.LoanUnderReview); err != nil {
		return err
	}
	_, err := c.Mutate(ctx, syncproto.EntityLoan, syncproto.OpUpdate, id, map[string]any{"status": syncproto.LoanWithdrawn})
	return err
}

func (c *Client) loanIn(ctx context.Context, id string, cur *syncproto.LoanApplication, states ...string) error {
	found, err := c.record(ctx, syncproto.EntityLoan, id, cur)
	if err != nil {
		return err
	}
	if !found {
		return &EditError{Code: syncproto.RejectNotFound, Message: "本机没有这条记录", MessageEN: "no such record on this device"}
	}
	if !slices.Contains(states, cur.Status) {
		return &EditError{Field: "status", Code: syncproto.RejectIllegalState,
			Message: "贷款申请当前状态（" + cur.Status + "）不允许此操作", MessageEN: "not allowed while the application is " + cur.Status}
	}
	return nil
}

// PlanInput schedules a visit.
type PlanInput struct {
	ID          string
	HouseholdID string
	PlannedOn   string // YYYY-MM-DD
	WindowEnd   string // optional YYYY-MM-DD
	Notes       string
}

// CreatePlan records a visit plan.
func (c *Client) CreatePlan(ctx context.Context, in PlanInput) (string, error) {
	if _, err := time.Parse(time.DateOnly, in.PlannedOn); err != nil {
		return "", &EditError{Field: "planned_on", Code: syncproto.RejectInvalidField, Message: "日期格式应为 YYYY-MM-DD", MessageEN: "date must be YYYY-MM-DD"}
	}
	f := map[string]any{"household_id": in.HouseholdID, "planned_on": in.PlannedOn, "notes": in.Notes}
	if in.WindowEnd != "" {
		if _, err := time.Parse(time.DateOnly, in.WindowEnd); err != nil {
			return "", &EditError{Field: "window_end", Code: syncproto.RejectInvalidField, Message: "日期格式应为 YYYY-MM-DD", MessageEN: "date must be YYYY-MM-DD"}
		}
		f["window_end"] = in.WindowEnd
	}
	return c.Mutate(ctx, syncproto.EntityVisitPlan, syncproto.OpCreate, in.ID, f)
}

// HouseholdPatch changes the fields of a household the officer observes.
type HouseholdPatch struct {
	Phone          *string
	HasLabor       *bool
	Lat, Lng       *float64
	SituationNotes *string
}

// UpdateHousehold edits observed household fields. The later edit by
// corrected event time wins on the server; the loser is kept in its conflict log.
func (c *Client) UpdateHousehold(ctx context.Context, id string, p HouseholdPatch) error {
	if err := checkLocation(p.Lat, p.Lng, nil); err != nil {
		return err
	}
	f := map[string]any{}
	setIf(f, "phone", p.Phone)
	setIf(f, "has_labor", p.HasLabor)
	setIf(f, "lat", p.Lat)
	setIf(f, "lng", p.Lng)
	setIf(f, "situation_notes", p.SituationNotes)
	_, err := c.Mutate(ctx, syncproto.EntityHousehold, syncproto.OpUpdate, id, f)
	return err
}

func setIf[T any](f map[string]any, key string, p *T) {
	if p != nil {
		f[key] = *p
	}
}

func checkLocation(lat, lng, acc *float64) error {
	if (lat == nil) != (lng == nil) {
		return &EditError{Field: "lat", Code: syncproto.RejectInvalidField, Message: "经纬度需同时提供", MessageEN: "give both latitude and longitude"}
	}
	if lat != nil && (*lat < -90 || *lat > 90 || *lng < -180 || *lng > 180) {
		return &EditError{Field: "lat", Code: syncproto.RejectInvalidField, Message: "经纬度超出范围", MessageEN: "coordinates out of range"}
	}
	if acc != nil && *acc < 0 {
		return &EditError{Field: "accuracy_m", Code: syncproto.RejectInvalidField, Message: "定位精度不能为负", MessageEN: "accuracy cannot be negative"}
	}
	return nil
}
