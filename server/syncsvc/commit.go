package syncsvc

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// maxLoggedValue caps what the conflict log keeps of a device's values.
const maxLoggedValue = 64 << 10

// commit writes the batch: changed records, the mutation log, the conflict
// log, the change log and the device's bookkeeping, and builds the results.
func (b *batch) commit(req syncproto.PushRequest, ocs []*outcome) ([]syncproto.MutationResult, error) {
	if err := b.writeRecords(); err != nil {
		return nil, err
	}
	if hook := b.s.opts.OnVisitsApplied; hook != nil {
		var vs []store.Visit
		for _, t := range b.touched {
			if t.entity == syncproto.EntityVisit {
				vs = append(vs, b.visits[t.id].row)
			}
		}
		if len(vs) > 0 {
			if err := hook(b.tx, b.a.BranchID, vs, b.movedFrom); err != nil {
				return nil, err
			}
		}
	}
	cache := map[string]json.RawMessage{}
	results := make([]syncproto.MutationResult, len(ocs))
	var logRows []store.DeviceMutation
	var conflictRows []store.Conflict
	for i, oc := range ocs {
		switch {
		case oc.alias != nil:
			continue // filled below, once the first is built
		case oc.replay != nil:
			results[i] = *oc.replay
			continue
		}
		res := syncproto.MutationResult{MutationID: oc.m.MutationID, Seq: oc.m.Seq, Status: oc.status, Rejection: oc.rej}
		res.Version = b.versionOf(oc.entity, oc.id)
		if oc.current {
			res.Current = b.currentJSON(cache, oc.entity, oc.id)
		}
		if oc.status == syncproto.StatusRejected && res.Current == nil {
			res.Version = 0
		}
		hh := oc.householdID
		if hh == "" {
			hh = b.householdOf(oc.entity, oc.id)
		}
		if oc.entity == syncproto.EntityHousehold {
			for k := range oc.conflicts {
				oc.conflicts[k].device = maskedPhoneValue(oc.conflicts[k].field, oc.conflicts[k].device)
				oc.conflicts[k].server = maskedPhoneValue(oc.conflicts[k].field, oc.conflicts[k].server)
			}
		}
		res.Conflicts = wireConflicts(oc.conflicts)
		results[i] = res
		base := store.Conflict{BranchID: b.a.BranchID, UserID: b.a.UserID, DeviceID: b.dev.ID, MutationID: oc.m.MutationID,
			Entity: printable(oc.m.Entity), EntityID: printable(oc.m.EntityID), HouseholdID: b.scopedHousehold(hh),
			OutletID: b.outletOf(hh), CreatedAt: b.now}
		if oc.rej != nil {
			c := base
			c.ID, c.Kind, c.Field, c.Rule, c.Code, c.Message, c.Winner = store.NewID(), store.ConflictRejection, oc.rej.Field, oc.rule, oc.rej.Code, oc.rej.Message, "server"
			c.DeviceValue = loggedFields(oc.m)
			if res.Current != nil {
				c.ServerValue = ptr(string(res.Current))
			}
			conflictRows = append(conflictRows, c)
			// Addressed to the officer, so every device of theirs learns the
			// verdict on its next pull even if this response is lost.
			b.tx.RecordChange(store.Change{BranchID: b.a.BranchID, Entity: syncproto.EntityRejection, EntityID: c.ID,
				Op: store.OpUpsert, AudienceUserID: b.a.UserID})
		}
		for _, fc := range oc.conflicts {
			c := base
			c.ID, c.Kind, c.Field, c.Rule, c.Winner = store.NewID(), store.ConflictField, fc.field, fc.rule, fc.winner
			c.DeviceValue, c.ServerValue = ptr(string(fc.device)), ptr(string(fc.server))
			conflictRows = append(conflictRows, c)
		}
		if oc.applied && !oc.dupSeq {
			body, err := json.Marshal(res)
			if err != nil {
				return nil, fmt.Errorf("encode result: %w", err)
			}
			logRows = append(logRows, store.DeviceMutation{BranchID: b.a.BranchID, DeviceID: b.dev.ID, MutationID: oc.m.MutationID,
				Seq: oc.m.Seq, Entity: printable(oc.m.Entity), EntityID: printable(oc.m.EntityID), Status: oc.status,
				Result: string(body), ReceivedAt: b.now})
		}
	}
	for i, oc := range ocs {
		if oc.alias != nil {
			for j, o := range ocs {
				if o == oc.alias {
					results[i] = results[j]
				}
			}
		}
	}
	if err := b.tx.InsertDeviceMutations(logRows); err != nil {
		return nil, err
	}
	if err := b.tx.InsertConflicts(conflictRows); err != nil {
		return nil, err
	}
	err := b.tx.TouchDevice(b.dev.ID, store.DeviceSync{At: b.now, ClockOffsetMS: b.offset.Milliseconds(),
		PendingChanges: req.PendingCount, AppVersion: req.AppVersion})
	return results, err
}

func ptr(s string) *string { return &s }

// writeRecords bumps the version of every changed record, writes them with
// one multi-row statement per table and notes them in the change log, in the
// order they were first changed.
func (b *batch) writeRecords() error {
	var (
		hs []store.Household
		vs []store.Visit
		ps []store.VisitPlan
		ns []store.FinancingNeed
		ls []store.LoanApplication
	)
	for _, t := range b.touched {
		op := store.OpUpsert
		var hid string
		switch t.entity {
		case syncproto.EntityHousehold:
			r := b.households[t.id]
			if r.row.ref {
				return fmt.Errorf("household %s was loaded as a reference only and cannot be written", t.id)
			}
			r.row.Version, r.row.FieldTimes = r.next(), r.stamps.String()
			hs = append(hs, r.row.Household)
			hid = r.row.ID
		case syncproto.EntityVisit:
			r := b.visits[t.id]
			r.row.Version, r.row.FieldTimes = r.next(), r.stamps.String()
			vs = append(vs, r.row)
			hid = r.row.HouseholdID
		case syncproto.EntityVisitPlan:
			r := b.plans[t.id]
			r.row.Version, r.row.FieldTimes = r.next(), r.stamps.String()
			ps = append(ps, r.row)
			hid = r.row.HouseholdID
			if r.row.DeletedAt != nil {
				op = store.OpDelete
			}
		case syncproto.EntityNeed:
			r := b.needs[t.id]
			r.row.Version, r.row.FieldTimes = r.next(), r.stamps.String()
			ns = append(ns, r.row)
			hid = r.row.HouseholdID
			if r.row.DeletedAt != nil {
				op = store.OpDelete
			}
		case syncproto.EntityLoan:
			r := b.loans[t.id]
			r.row.Version, r.row.FieldTimes = r.next(), r.stamps.String()
			ls = append(ls, r.row)
			hid = r.row.HouseholdID
			if r.row.DeletedAt != nil {
				op = store.OpDelete
			}
		}
		b.tx.RecordChange(store.Change{BranchID: b.a.BranchID, Entity: t.entity, EntityID: t.id, Op: op, HouseholdID: hid})
	}
	if err := b.tx.WriteHouseholdObservations(hs); err != nil {
		return err
	}
	if err := b.tx.WriteVisits(vs); err != nil {
		return err
	}
	if err := b.tx.WriteVisitPlans(ps); err != nil {
		return err
	}
	if err := b.tx.WriteNeeds(ns); err != nil {
		return err
	}
	return b.tx.WriteLoans(ls)
}

// versionOf is a record's version as this batch leaves it (0 if unknown).
func (b *batch) versionOf(entity, id string) int64 {
	switch entity {
	case syncproto.EntityHousehold:
		if r := b.households[id]; r != nil {
			return r.row.Version
		}
	case syncproto.EntityVisit:
		if r := b.visits[id]; r != nil {
			return r.row.Version
		}
	case syncproto.EntityVisitPlan:
		if r := b.plans[id]; r != nil {
			return r.row.Version
		}
	case syncproto.EntityNeed:
		if r := b.needs[id]; r != nil {
			return r.row.Version
		}
	case syncproto.EntityLoan:
		if r := b.loans[id]; r != nil {
			return r.row.Version
		}
	}
	return 0
}

func (b *batch) householdOf(entity, id string) string {
	switch entity {
	case syncproto.EntityHousehold:
		if r := b.households[id]; r != nil {
			return id
		}
	case syncproto.EntityVisit:
		if r := b.visits[id]; r != nil {
			return r.row.HouseholdID
		}
	case syncproto.EntityVisitPlan:
		if r := b.plans[id]; r != nil {
			return r.row.HouseholdID
		}
	case syncproto.EntityNeed:
		if r := b.needs[id]; r != nil {
			return r.row.HouseholdID
		}
	case syncproto.EntityLoan:
		if r := b.loans[id]; r != nil {
			return r.row.HouseholdID
		}
	}
	return ""
}

// scopedHousehold names the household in the conflict log only when it is in
// the officer's scope, so the log never ties a verdict to a household the
// officer could not see.
func (b *batch) scopedHousehold(id string) *string {
	if b.visible(id) {
		return &id
	}
	return nil
}

// outletOf is the outlet a conflict-log row belongs to, for supervisors'
// scope: the household's outlet, else the officer's own unit.
func (b *batch) outletOf(householdID string) *string {
	if h := b.households[householdID]; h != nil && h.row.OutletID != nil {
		return h.row.OutletID
	}
	if b.a.OrgUnitID != "" {
		return &b.a.OrgUnitID
	}
	return nil
}

// currentJSON is the record as the officer's device should hold it after
// this batch. Households carry their phone masked here: push results are
// kept in the mutation log, and phone numbers are kept only sealed at rest.
// The next pull delivers the household with its phone.
func (b *batch) currentJSON(cache map[string]json.RawMessage, entity, id string) json.RawMessage {
	key := entity + ":" + id
	if c, ok := cache[key]; ok {
		return c
	}
	var out json.RawMessage
	switch entity {
	case syncproto.EntityHousehold:
		if r := b.households[id]; r != nil {
			masked := pii.Mask(pii.Phone, r.row.phone)
			if r.row.phone == "" {
				masked = r.row.PhoneMasked
			}
			out = mustJSON(householdWire(&r.row.Household, masked, b.assignmentOf(id)))
		}
	case syncproto.EntityVisit:
		if r := b.visits[id]; r != nil && b.visible(r.row.HouseholdID) && r.row.DeletedAt == nil {
			out = mustJSON(visitWire(&r.row))
		}
	case syncproto.EntityVisitPlan:
		if r := b.plans[id]; r != nil && b.visible(r.row.HouseholdID) && r.row.DeletedAt == nil {
			out = mustJSON(planWire(&r.row))
		}
	case syncproto.EntityNeed:
		if r := b.needs[id]; r != nil && b.visible(r.row.HouseholdID) && r.row.DeletedAt == nil {
			out = mustJSON(needWire(&r.row))
		}
	case syncproto.EntityLoan:
		if r := b.loans[id]; r != nil && b.visible(r.row.HouseholdID) && r.row.DeletedAt == nil {
			out = mustJSON(loanWire(&r.row))
		}
	}
	cache[key] = out
	return out
}

// assignmentOf rebuilds the current assignment fields a household's wire
// record shows. The batch keeps only the start; the due date is filled by
// pull, which reads the whole assignment.
func (b *batch) assignmentOf(householdID string) *store.AssignmentTerms {
	if t, ok := b.assignStart[householdID]; ok {
		return &store.AssignmentTerms{HouseholdID: householdID, AssignedAt: t, OfficerDueOn: b.dueOn[householdID]}
	}
	return nil
}

// loggedFields is what the conflict log keeps of a rejected mutation's
// values: its fields as JSON with personal numbers masked (whatever entity
// they were sent for), at most maxLoggedValue bytes, and always storable in
// a JSONB column.
func loggedFields(m *syncproto.Mutation) *string {
	if len(m.Fields) == 0 {
		return nil
	}
	fields := make(map[string]json.RawMessage, len(m.Fields))
	for k, v := range m.Fields {
		fields[k] = maskedPhoneValue(k, v)
	}
	body, err := json.Marshal(fields)
	if err != nil || len(body) > maxLoggedValue {
		s := fmt.Sprintf(`{"omitted":true,"bytes":%d}`, len(body))
		return &s
	}
	return ptr(string(jsonbSafe(body)))
}

// jsonbSafe turns JSON that Postgres's JSONB cannot hold (the \u0000 escape)
// into a JSON string of that text, which it can.
func jsonbSafe(b []byte) []byte {
	if !bytes.Contains(b, []byte(`\u0000`)) {
		return b
	}
	return mustJSON(string(b))
}

// personalFields are field names whose values are personal numbers, which
// are kept masked outside their sealed columns.
var personalFields = map[string]pii.Kind{"phone": pii.Phone, "id_number": pii.IDNumber, "id_number_masked": pii.IDNumber}

// maskedPhoneValue masks the value of a personal-number field; other fields
// pass through.
func maskedPhoneValue(field string, raw json.RawMessage) json.RawMessage {
	kind, personal := personalFields[field]
	if !personal || len(raw) == 0 {
		return raw
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return mustJSON("***")
	}
	return mustJSON(pii.Mask(kind, s))
}
