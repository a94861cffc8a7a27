package syncsvc

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// edit is one mutation as the merge sees it: who made it, in which order,
// what it had seen and when it happened.
type edit struct {
	device  string // device row id
	seq     int64
	base    int64
	event   time.Time // corrected event time, or the receive time when suspect
	suspect bool
}

// deviceWins decides one field between the stored value (stamp st) and a
// device edit. concurrent reports that the two edits did not see each other.
// The rules are those at the top of rules.go.
func deviceWins(st store.FieldStamp, stamped bool, e edit) (wins, concurrent bool) {
	switch {
	case !stamped:
		return true, false
	case st.D != "" && st.D == e.device:
		// The same device: its own seq orders its edits.
		return st.S <= e.seq, false
	case st.V <= e.base:
		return true, false
	default:
		return e.event.After(st.T), true
	}
}

func (e edit) stamp(version int64) store.FieldStamp {
	return store.FieldStamp{T: e.event, V: version, D: e.device, S: e.seq}
}

// access reads and writes one field of a row type.
type access[T any] struct {
	get func(*T) any
	set func(*T, value)
}

// goValue is the Go value of a validated field, shaped like what access.get
// returns, so that their JSON forms compare.
func goValue(fr *FieldRule, v value) any {
	if v.null {
		return nil
	}
	switch fr.Type {
	case TypeBool:
		return v.b
	case TypeNumber:
		return v.f
	case TypeInteger:
		return v.i
	case TypeTime:
		return v.t
	default:
		return v.s
	}
}

// fieldConflict is a field conflict before it becomes a wire record and a
// conflict-log row.
type fieldConflict struct {
	field  string
	rule   string
	device json.RawMessage
	server json.RawMessage
	winner string
}

// mergeLWW merges the field_lww fields of c into row under the stamps. It
// returns whether anything changed and the conflicts between concurrent
// edits whose values differ. next is the version this batch gives the row.
func mergeLWW[T any](fields map[string]access[T], row *T, stamps store.FieldTimes, c *checked, e edit, next int64) (changed bool, conflicts []fieldConflict) {
	for _, name := range c.names {
		fr := c.rule.field(name)
		if fr == nil || fr.Merge != MergeFieldLWW {
			continue
		}
		acc, ok := fields[name]
		if !ok {
			continue
		}
		v := c.fields[name]
		cur := mustJSON(acc.get(row))
		dev := mustJSON(goValue(fr, v))
		st, stamped := stamps.Get(name)
		wins, concurrent := deviceWins(st, stamped, e)
		same := bytes.Equal(cur, dev)
		switch {
		case wins && !same:
			acc.set(row, v)
			stamps[name] = e.stamp(next)
			changed = true
			if concurrent {
				conflicts = append(conflicts, fieldConflict{field: name, rule: RuleFieldLWW, device: dev, server: cur, winner: "device"})
			}
		case !wins && !same && concurrent:
			conflicts = append(conflicts, fieldConflict{field: name, rule: RuleFieldLWW, device: dev, server: cur, winner: "server"})
		}
	}
	return changed, conflicts
}

func wireConflicts(fcs []fieldConflict) []syncproto.FieldConflict {
	if len(fcs) == 0 {
		return nil
	}
	out := make([]syncproto.FieldConflict, len(fcs))
	for i, f := range fcs {
		out[i] = syncproto.FieldConflict{Field: f.field, Rule: f.rule, DeviceValue: f.device, ServerValue: f.server, Winner: f.winner}
	}
	return out
}

func cloneStamps(ft store.FieldTimes) store.FieldTimes {
	out := make(store.FieldTimes, len(ft)+2)
	for k, v := range ft {
		out[k] = v
	}
	return out
}

// --- Field access tables, per row type ---------------------------------------

func ptrF(v value) *float64 {
	if v.null {
		return nil
	}
	f := v.f
	return &f
}

func ptrT(v value) *time.Time {
	if v.null {
		return nil
	}
	t := v.t
	return &t
}

func ptrS(v value) *string {
	if v.null || v.s == "" {
		return nil
	}
	s := v.s
	return &s
}

func optS(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func optF(f *float64) any {
	if f == nil {
		return nil
	}
	return *f
}

func optT(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UTC()
}

func emptyNil(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var visitAccess = map[string]access[store.Visit]{
	"outcome":    {func(r *store.Visit) any { return r.Outcome }, func(r *store.Visit, v value) { r.Outcome = v.s }},
	"situation":  {func(r *store.Visit) any { return r.Situation }, func(r *store.Visit, v value) { r.Situation = v.s }},
	"notes":      {func(r *store.Visit) any { return r.Notes }, func(r *store.Visit, v value) { r.Notes = v.s }},
	"lat":        {func(r *store.Visit) any { return optF(r.Lat) }, func(r *store.Visit, v value) { r.Lat = ptrF(v) }},
	"lng":        {func(r *store.Visit) any { return optF(r.Lng) }, func(r *store.Visit, v value) { r.Lng = ptrF(v) }},
	"accuracy_m": {func(r *store.Visit) any { return optF(r.AccuracyM) }, func(r *store.Visit, v value) { r.AccuracyM = ptrF(v) }},
	"started_at": {func(r *store.Visit) any { return r.StartedAt.UTC() }, func(r *store.Visit, v value) { r.StartedAt = v.t }},
	"ended_at":   {func(r *store.Visit) any { return optT(r.EndedAt) }, func(r *store.Visit, v value) { r.EndedAt = ptrT(v) }},
}

var planAccess = map[string]access[store.VisitPlan]{
	"planned_on": {func(r *store.VisitPlan) any { return r.PlannedOn }, func(r *store.VisitPlan, v value) { r.PlannedOn = v.s }},
	"window_end": {func(r *store.VisitPlan) any { return emptyNil(r.WindowEnd) }, func(r *store.VisitPlan, v value) {
		if v.null {
			r.WindowEnd = ""
		} else {
			r.WindowEnd = v.s
		}
	}},
	"notes":  {func(r *store.VisitPlan) any { return r.Notes }, func(r *store.VisitPlan, v value) { r.Notes = v.s }},
	"status": {func(r *store.VisitPlan) any { return r.Status }, func(r *store.VisitPlan, v value) { r.Status = v.s }},
}

var needAccess = map[string]access[store.FinancingNeed]{
	"visit_id":   {func(r *store.FinancingNeed) any { return optS(r.VisitID) }, func(r *store.FinancingNeed, v value) { r.VisitID = ptrS(v) }},
	"purpose":    {func(r *store.FinancingNeed) any { return r.Purpose }, func(r *store.FinancingNeed, v value) { r.Purpose = v.s }},
	"amount_fen": {func(r *store.FinancingNeed) any { return r.AmountFen }, func(r *store.FinancingNeed, v value) { r.AmountFen = v.i }},
	"notes":      {func(r *store.FinancingNeed) any { return r.Notes }, func(r *store.FinancingNeed, v value) { r.Notes = v.s }},
}

var loanAccess = map[string]access[store.LoanApplication]{
	"need_id":     {func(r *store.LoanApplication) any { return optS(r.NeedID) }, func(r *store.LoanApplication, v value) { r.NeedID = ptrS(v) }},
	"product_id":  {func(r *store.LoanApplication) any { return r.ProductID }, func(r *store.LoanApplication, v value) { r.ProductID = v.s }},
	"amount_fen":  {func(r *store.LoanApplication) any { return r.AmountFen }, func(r *store.LoanApplication, v value) { r.AmountFen = v.i }},
	"term_months": {func(r *store.LoanApplication) any { return int64(r.TermMonths) }, func(r *store.LoanApplication, v value) { r.TermMonths = int(v.i) }},
	"purpose":     {func(r *store.LoanApplication) any { return r.Purpose }, func(r *store.LoanApplication, v value) { r.Purpose = v.s }},
}

// hhRow is a household being merged: the row, and its phone in clear (the
// row holds it sealed).
type hhRow struct {
	store.Household
	phone string
	// ref marks a household loaded as a reference only: ID, BranchID and
	// OutletID are set, nothing else. No mutation in the batch edits it, so
	// it is never judged, shown or written.
	ref bool
}

var householdAccess = map[string]access[hhRow]{
	"phone":           {func(r *hhRow) any { return r.phone }, func(r *hhRow, v value) { r.phone = v.s }},
	"has_labor":       {func(r *hhRow) any { return r.HasLabor }, func(r *hhRow, v value) { r.HasLabor = v.b }},
	"lat":             {func(r *hhRow) any { return optF(r.Lat) }, func(r *hhRow, v value) { r.Lat = ptrF(v) }},
	"lng":             {func(r *hhRow) any { return optF(r.Lng) }, func(r *hhRow, v value) { r.Lng = ptrF(v) }},
	"situation_notes": {func(r *hhRow) any { return r.SituationNotes }, func(r *hhRow, v value) { r.SituationNotes = v.s }},
}
