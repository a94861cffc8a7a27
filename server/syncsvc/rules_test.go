package syncsvc_test

import (
	"strings"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// conflictRows returns the conflict-log rows of a mutation.
func (f *fx) conflictRows(mutationID string) []store.Conflict {
	f.t.Helper()
	var out []store.Conflict
	if err := f.db.Gorm(f.ctx).Where("mutation_id = ?", mutationID).Order("field").Find(&out).Error; err != nil {
		f.t.Fatal(err)
	}
	return out
}

// staffEdit changes a record the way staff-side code does: new values, a
// version bump and a change-log row.
func (f *fx) staffEdit(table, entity, id, householdID string, values map[string]any) {
	f.t.Helper()
	err := f.db.Transact(f.ctx, func(tx *store.Tx) error {
		var v int64
		if err := tx.Table(table).Select("version").Where("id = ?", id).Scan(&v).Error; err != nil {
			return err
		}
		values["version"] = v + 1
		if err := tx.Table(table).Where("id = ?", id).Updates(values).Error; err != nil {
			return err
		}
		tx.RecordChange(store.Change{BranchID: f.o1.BranchID, Entity: entity, EntityID: id, Op: store.OpUpsert, HouseholdID: householdID})
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func TestVisitRules(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		phone, tablet := f.device(f.o1), f.device(f.o1b)
		vid := newID()
		wantStatus(t, phone.pushOne(phone.m(syncproto.EntityVisit, syncproto.OpCreate, vid, 0, visitFields(f.hh1[0]))), syncproto.StatusAccepted)

		// The phone edits notes having seen version 1.
		r := phone.pushOne(phone.m(syncproto.EntityVisit, syncproto.OpUpdate, vid, 1, map[string]any{"notes": "手机补充"}))
		wantStatus(t, r, syncproto.StatusAccepted)
		if r.Version != 2 {
			t.Fatalf("version %d, want 2", r.Version)
		}
		// The tablet, offline, edited notes earlier from version 1: it loses,
		// and the conflict log keeps its value. Its outcome edit merges.
		m := tablet.mm(mut{entity: syncproto.EntityVisit, op: syncproto.OpUpdate, id: vid, base: 1, seq: 1, at: time.Now().Add(-10 * time.Minute),
			fields: map[string]any{"notes": "平板补充", "outcome": syncproto.OutcomeAbsent}})
		r = tablet.pushOne(m)
		wantStatus(t, r, syncproto.StatusMerged)
		cur := decode[syncproto.Visit](t, r.Current)
		if cur.Notes != "手机补充" || cur.Outcome != syncproto.OutcomeAbsent || cur.Version != 3 {
			t.Fatalf("merged visit %+v", cur)
		}
		if len(r.Conflicts) != 1 || r.Conflicts[0].Field != "notes" || r.Conflicts[0].Winner != "server" {
			t.Fatalf("conflicts %+v", r.Conflicts)
		}
		rows := f.conflictRows(m.MutationID)
		if len(rows) != 1 || rows[0].Kind != store.ConflictField || *rows[0].DeviceValue != `"平板补充"` || *rows[0].ServerValue != `"手机补充"` || rows[0].Winner != "server" || rows[0].Rule == "" {
			t.Fatalf("conflict log %+v", rows)
		}
		// A later concurrent edit wins, and the overwritten value is logged.
		m = tablet.mm(mut{entity: syncproto.EntityVisit, op: syncproto.OpUpdate, id: vid, base: 1, seq: 2, at: time.Now().Add(time.Minute),
			fields: map[string]any{"notes": "平板最新"}})
		r = tablet.pushOne(m)
		wantStatus(t, r, syncproto.StatusMerged)
		if got := decode[syncproto.Visit](t, r.Current).Notes; got != "平板最新" {
			t.Fatalf("notes %q", got)
		}
		if rows := f.conflictRows(m.MutationID); len(rows) != 1 || rows[0].Winner != "device" || *rows[0].ServerValue != `"手机补充"` {
			t.Fatalf("conflict log %+v", rows)
		}

		// Another officer cannot edit it, nor see it in the verdict.
		other := f.device(f.o2)
		r = other.pushOne(other.m(syncproto.EntityVisit, syncproto.OpUpdate, vid, 4, map[string]any{"notes": "x"}))
		wantRejected(t, r, syncproto.RejectOutOfScope, "entity_id")
		if r.Current != nil {
			t.Fatal("out-of-scope rejection shows the record")
		}

		// Once confirmed, device edits are rejected with the confirmed visit.
		f.staffEdit("visits", syncproto.EntityVisit, vid, f.hh1[0], map[string]any{"status": syncproto.VisitConfirmed, "review_note": "核实无误"})
		r = phone.pushOne(phone.m(syncproto.EntityVisit, syncproto.OpUpdate, vid, 5, map[string]any{"notes": "再改"}))
		wantRejected(t, r, syncproto.RejectConfirmed, "")
		cur = decode[syncproto.Visit](t, r.Current)
		if cur.Status != syncproto.VisitConfirmed || cur.Notes != "平板最新" {
			t.Fatalf("current %+v", cur)
		}
		if f.visit(vid).Notes != "平板最新" {
			t.Fatal("a confirmed visit changed")
		}
		var rej store.Conflict
		db.Gorm(f.ctx).Where("code = ?", syncproto.RejectConfirmed).Take(&rej)
		if rej.ServerValue == nil || rej.DeviceValue == nil || rej.Rule != syncsvc.RuleVisitConfirmed {
			t.Fatalf("rejection log %+v", rej)
		}

		// A visit recorded by officer1 on a household now officer2's: officer2
		// sees it but may not edit it; officer1 may not either any more.
		v2 := newID()
		wantStatus(t, phone.pushOne(phone.m(syncproto.EntityVisit, syncproto.OpCreate, v2, 0, visitFields(f.hh1[3]))), syncproto.StatusAccepted)
		f.reassign(f.hh1[3], f.o2)
		r = other.pushOne(other.m(syncproto.EntityVisit, syncproto.OpUpdate, v2, 1, map[string]any{"notes": "x"}))
		wantRejected(t, r, syncproto.RejectOutOfScope, "entity_id")
		if r.Current == nil {
			t.Fatal("the household's officer should see the visit in the verdict")
		}
		r = phone.pushOne(phone.m(syncproto.EntityVisit, syncproto.OpUpdate, v2, 1, map[string]any{"notes": "x"}))
		wantRejected(t, r, syncproto.RejectOutOfScope, "entity_id")
		r = phone.pushOne(phone.m(syncproto.EntityVisit, syncproto.OpCreate, newID(), 0, visitFields(f.hh1[3])))
		wantRejected(t, r, syncproto.RejectOutOfScope, "household_id")
	})
}

// reassign moves a household to another officer of the supervisor's outlet.
func (f *fx) reassign(householdID string, to store.Actor) {
	f.t.Helper()
	err := f.db.Transact(f.ctx, func(tx *store.Tx) error {
		_, err := tx.ReassignHousehold(f.mgr, store.Reassignment{HouseholdID: householdID, OutletID: to.OrgUnitID, OfficerID: to.UserID, DueOn: "2030-01-31"})
		return err
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func TestHouseholdRules(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		phone, tablet := f.device(f.o1), f.device(f.o1b)
		hh := f.hh1[0]
		r := phone.pushOne(phone.m(syncproto.EntityHousehold, syncproto.OpUpdate, hh, 1, map[string]any{
			"situation_notes": "母亲住院", "phone": "138 0013 8000", "lat": 28.45, "lng": 108.99}))
		wantStatus(t, r, syncproto.StatusAccepted)
		h := f.household(hh)
		if len(h.PhoneEnc) == 0 || h.PhoneMasked != "138****8000" || h.PhoneBidx != f.codec.BlindIndex("phone", "13800138000") {
			t.Fatalf("phone stored as %q / %q", h.PhoneMasked, h.PhoneBidx)
		}
		if got, _ := f.codec.Open("phone", h.PhoneEnc); got != "13800138000" {
			t.Fatalf("sealed phone opens to %q", got)
		}
		if cur := decode[syncproto.Household](t, r.Current); cur.Phone != "138****8000" || cur.SituationNotes != "母亲住院" || h.LocationSource != "visit" {
			t.Fatalf("current %+v (location source %q)", cur, h.LocationSource)
		}

		// The tablet's older concurrent edit of the same field loses; its
		// edit of another field merges.
		m := tablet.mm(mut{entity: syncproto.EntityHousehold, op: syncproto.OpUpdate, id: hh, base: 1, seq: 1, at: time.Now().Add(-time.Hour),
			fields: map[string]any{"situation_notes": "一切正常", "has_labor": true, "phone": "13900000000"}})
		r = tablet.pushOne(m)
		wantStatus(t, r, syncproto.StatusMerged)
		cur := decode[syncproto.Household](t, r.Current)
		if cur.SituationNotes != "母亲住院" || !cur.HasLabor {
			t.Fatalf("merged household %+v", cur)
		}
		rows := f.conflictRows(m.MutationID)
		if len(rows) != 2 {
			t.Fatalf("conflict log %+v", rows)
		}
		for _, c := range rows {
			if c.Winner != "server" || c.HouseholdID == nil || *c.HouseholdID != hh || c.OutletID == nil {
				t.Fatalf("conflict row %+v", c)
			}
			if c.Field == "phone" && (*c.DeviceValue != `"139****0000"` || *c.ServerValue != `"138****8000"`) {
				t.Fatalf("phone conflict not masked: %s / %s", *c.DeviceValue, *c.ServerValue)
			}
		}

		// A bank-side change (the list import) and a stale device edit.
		f.staffEdit("households", syncproto.EntityHousehold, hh, hh, map[string]any{"situation_notes": "名单更新",
			"field_times": store.FieldTimes{"situation_notes": {T: time.Now(), V: 4}}.String()})
		r = phone.pushOne(phone.mm(mut{entity: syncproto.EntityHousehold, op: syncproto.OpUpdate, id: hh, base: 3, seq: 50, at: time.Now().Add(-time.Minute),
			fields: map[string]any{"situation_notes": "手机旧值"}}))
		wantStatus(t, r, syncproto.StatusMerged)
		if got := f.household(hh).SituationNotes; got != "名单更新" {
			t.Fatalf("notes %q", got)
		}

		// An ID number sent by mistake is refused and never kept in clear.
		m = phone.m(syncproto.EntityHousehold, syncproto.OpUpdate, hh, 4, map[string]any{"id_number": "500241199001010295"})
		wantRejected(t, phone.pushOne(m), syncproto.RejectServerOwned, "id_number")
		if rows := f.conflictRows(m.MutationID); len(rows) != 1 || strings.Contains(*rows[0].DeviceValue, "19900101") {
			t.Fatalf("ID number kept in clear: %+v", rows)
		}
		for _, c := range []struct{ field, code string }{
			{"head_name", syncproto.RejectServerOwned}, {"id_number", syncproto.RejectServerOwned}, {"category", syncproto.RejectServerOwned},
			{"risk_type", syncproto.RejectServerOwned}, {"village", syncproto.RejectServerOwned}, {"household_no", syncproto.RejectServerOwned},
		} {
			r := phone.pushOne(phone.m(syncproto.EntityHousehold, syncproto.OpUpdate, hh, 4, map[string]any{c.field: "x"}))
			wantRejected(t, r, c.code, c.field)
			if r.Current == nil {
				t.Fatal("a rejection on the officer's own household should carry the current record")
			}
		}
		wantRejected(t, phone.pushOne(phone.m(syncproto.EntityHousehold, syncproto.OpUpdate, f.hh2[0], 1, map[string]any{"has_labor": true})), syncproto.RejectOutOfScope, "entity_id")
		wantRejected(t, phone.pushOne(phone.m(syncproto.EntityHousehold, syncproto.OpDelete, hh, 4, nil)), syncproto.RejectUnsupported, "op")

		// The officer's device gets the phone in clear on pull; push results
		// and the conflict log never hold it.
		cs, _ := phone.pullAll("", 0)
		c, ok := find(cs, syncproto.EntityHousehold, hh)
		if !ok || decode[syncproto.Household](t, c.Data).Phone != "13800138000" {
			t.Fatalf("pulled household %s", c.Data)
		}
		var n int64
		db.Gorm(f.ctx).Table("device_mutations").Where("result LIKE ?", "%13800138000%").Count(&n)
		var m2 int64
		db.Gorm(f.ctx).Table("conflicts").Where("device_value LIKE ? OR server_value LIKE ?", "%13900000000%", "%13800138000%").Count(&m2)
		if n+m2 != 0 {
			t.Fatalf("clear phone numbers at rest: %d mutation-log rows, %d conflict rows", n, m2)
		}
	})
}

func TestLoanRules(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		hh := f.hh1[0]
		loan := func(fields map[string]any) map[string]any {
			out := map[string]any{"household_id": hh, "product_id": f.fpxd, "amount_fen": 3_000_000, "term_months": 24, "purpose": "养殖"}
			for k, v := range fields {
				out[k] = v
			}
			return out
		}
		// Product limits.
		for _, c := range []struct {
			fields      map[string]any
			code, field string
		}{
			{map[string]any{"amount_fen": 5_000_001}, syncproto.RejectProductLimit, "amount_fen"},
			{map[string]any{"term_months": 37}, syncproto.RejectProductLimit, "term_months"},
			{map[string]any{"amount_fen": 0}, syncproto.RejectProductLimit, "amount_fen"},
			{map[string]any{"term_months": 0}, syncproto.RejectProductLimit, "term_months"},
			{map[string]any{"amount_fen": -5}, syncproto.RejectInvalidField, "amount_fen"},
			{map[string]any{"product_id": "no-such-product"}, syncproto.RejectInvalidField, "product_id"},
			{map[string]any{"status": syncproto.LoanApproved}, syncproto.RejectIllegalState, "status"},
		} {
			wantRejected(t, d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpCreate, newID(), 0, loan(c.fields))), c.code, c.field)
		}
		wantStatus(t, d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpCreate, newID(), 0, loan(map[string]any{"amount_fen": 5_000_000, "term_months": 36}))), syncproto.StatusAccepted)

		// draft → edit → submit → no more edits; the bank reviews; withdraw.
		l1 := newID()
		wantStatus(t, d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpCreate, l1, 0, loan(nil))), syncproto.StatusAccepted)
		wantStatus(t, d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpUpdate, l1, 1, map[string]any{"amount_fen": 2_000_000})), syncproto.StatusAccepted)
		wantRejected(t, d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpUpdate, l1, 2, map[string]any{"amount_fen": 6_000_000})), syncproto.RejectProductLimit, "amount_fen")
		r := d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpUpdate, l1, 2, map[string]any{"status": syncproto.LoanSubmitted}))
		wantStatus(t, r, syncproto.StatusAccepted)
		r = d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpUpdate, l1, 3, map[string]any{"purpose": "改用途"}))
		wantRejected(t, r, syncproto.RejectNotDraft, "")
		if cur := decode[syncproto.LoanApplication](t, r.Current); cur.Status != syncproto.LoanSubmitted || cur.Purpose != "养殖" {
			t.Fatalf("current %+v", cur)
		}
		wantRejected(t, d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpUpdate, l1, 3, map[string]any{"status": syncproto.LoanApproved})), syncproto.RejectIllegalState, "status")
		wantRejected(t, d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpDelete, l1, 3, nil)), syncproto.RejectNotDraft, "")
		if _, err := f.svc.DecideLoan(f.ctx, f.sup, l1, syncproto.LoanUnderReview, ""); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpUpdate, l1, 4, map[string]any{"status": syncproto.LoanWithdrawn})), syncproto.StatusAccepted)
		_, err := f.svc.DecideLoan(f.ctx, f.sup, l1, syncproto.LoanApproved, "")
		if e, ok := apperr.As(err); !ok || e.Code != syncproto.CodeConflict {
			t.Fatalf("approving a withdrawn application: %v", err)
		}

		// The bank approves while the device, offline, withdraws: the bank wins.
		l2 := newID()
		wantStatus(t, d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpCreate, l2, 0, loan(map[string]any{"status": syncproto.LoanSubmitted}))), syncproto.StatusAccepted)
		got, err := f.svc.DecideLoan(f.ctx, f.mgr, l2, syncproto.LoanApproved, "同意")
		if err != nil || got.Status != syncproto.LoanApproved || got.DecisionNote != "同意" || got.Version != 2 {
			t.Fatalf("decide: %+v %v", got, err)
		}
		r = d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpUpdate, l2, 1, map[string]any{"status": syncproto.LoanWithdrawn}))
		wantRejected(t, r, syncproto.RejectIllegalState, "status")
		if cur := decode[syncproto.LoanApplication](t, r.Current); cur.Status != syncproto.LoanApproved {
			t.Fatalf("current %+v", cur)
		}
		if _, err := f.svc.DecideLoan(f.ctx, f.sup, l2, syncproto.LoanDisbursed, ""); err != nil {
			t.Fatal(err)
		}
		// The device learns every bank decision on pull.
		cs, _ := d.pullAll("", 0)
		c, _ := find(cs, syncproto.EntityLoan, l2)
		if decode[syncproto.LoanApplication](t, c.Data).Status != syncproto.LoanDisbursed {
			t.Fatalf("pulled %s", c.Data)
		}

		// Deleting a draft leaves a tombstone.
		l3 := newID()
		wantStatus(t, d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpCreate, l3, 0, loan(nil))), syncproto.StatusAccepted)
		_, cursor := d.pullAll("", 0)
		wantStatus(t, d.pushOne(d.m(syncproto.EntityLoan, syncproto.OpDelete, l3, 1, nil)), syncproto.StatusAccepted)
		cs, _ = d.pullAll(cursor, 0)
		if c, ok := find(cs, syncproto.EntityLoan, l3); !ok || c.Op != syncproto.ChangeDelete {
			t.Fatalf("no tombstone for the deleted draft: %+v", cs)
		}

		// Who may decide: the household's supervisor or branch manager only.
		l4 := newID()
		o3 := f.device(f.o3)
		wantStatus(t, o3.pushOne(o3.m(syncproto.EntityLoan, syncproto.OpCreate, l4, 0, map[string]any{"household_id": f.hh3[0], "product_id": f.fpxd, "amount_fen": 100_000, "term_months": 12, "status": "submitted"})), syncproto.StatusAccepted)
		for _, a := range []store.Actor{f.sup, f.hbMgr} { // supervisor of another outlet; manager of another branch
			if _, err := f.svc.DecideLoan(f.ctx, a, l4, syncproto.LoanApproved, ""); err == nil {
				t.Fatalf("%s decided a loan outside their reach", a.Username)
			} else if e, ok := apperr.As(err); !ok || e.Code != syncproto.CodeNotFound {
				t.Fatalf("%s: %v", a.Username, err)
			}
		}
		if _, err := f.svc.DecideLoan(f.ctx, f.o3, l4, syncproto.LoanApproved, ""); err == nil {
			t.Fatal("an officer decided a loan")
		}
		if _, err := f.svc.DecideLoan(f.ctx, f.mgr, l4, "draft", ""); err == nil {
			t.Fatal("the bank moved a loan back to draft")
		}
	})
}

func TestNeedRules(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		hh := f.hh1[0]
		n := newID()
		wantStatus(t, d.pushOne(d.m(syncproto.EntityNeed, syncproto.OpCreate, n, 0, map[string]any{"household_id": hh, "purpose": "仔猪", "amount_fen": 1_000_000})), syncproto.StatusAccepted)
		wantStatus(t, d.pushOne(d.m(syncproto.EntityNeed, syncproto.OpUpdate, n, 1, map[string]any{"status": syncproto.NeedReferred})), syncproto.StatusAccepted)
		r := d.pushOne(d.m(syncproto.EntityNeed, syncproto.OpUpdate, n, 2, map[string]any{"status": syncproto.NeedRecorded}))
		wantRejected(t, r, syncproto.RejectStatusBackwards, "status")

		// The bank closes the need while the device, which saw "referred",
		// edits it: its stale status loses the merge, its notes merge.
		f.staffEdit("financing_needs", syncproto.EntityNeed, n, hh, map[string]any{"status": syncproto.NeedFulfilled,
			"field_times": store.FieldTimes{"status": {T: time.Now(), V: 3}}.String()})
		r = d.pushOne(d.m(syncproto.EntityNeed, syncproto.OpUpdate, n, 2, map[string]any{"status": syncproto.NeedReferred, "notes": "已联系"}))
		wantStatus(t, r, syncproto.StatusMerged)
		cur := decode[syncproto.FinancingNeed](t, r.Current)
		if cur.Status != syncproto.NeedFulfilled || cur.Notes != "已联系" {
			t.Fatalf("merged need %+v", cur)
		}
		if len(r.Conflicts) != 1 || r.Conflicts[0].Field != "status" || r.Conflicts[0].Rule != syncsvc.RuleNeedForward {
			t.Fatalf("conflicts %+v", r.Conflicts)
		}
		// Final states do not change into each other.
		wantRejected(t, d.pushOne(d.m(syncproto.EntityNeed, syncproto.OpUpdate, n, 4, map[string]any{"status": syncproto.NeedDeclined})), syncproto.RejectStatusBackwards, "status")
		wantRejected(t, d.pushOne(d.m(syncproto.EntityNeed, syncproto.OpDelete, n, 4, nil)), syncproto.RejectIllegalState, "status")
		wantRejected(t, d.pushOne(d.m(syncproto.EntityNeed, syncproto.OpUpdate, n, 4, map[string]any{"amount_fen": 100_000_001})), syncproto.RejectInvalidField, "amount_fen")
		wantRejected(t, d.pushOne(d.m(syncproto.EntityNeed, syncproto.OpUpdate, n, 4, map[string]any{"household_id": f.hh1[1]})), syncproto.RejectInvalidField, "household_id")
	})
}

func TestPlanRules(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		p := newID()
		wantStatus(t, d.pushOne(d.m(syncproto.EntityVisitPlan, syncproto.OpCreate, p, 0, map[string]any{"household_id": f.hh1[0], "planned_on": "2025-03-03", "window_end": "2025-03-07"})), syncproto.StatusAccepted)
		r := d.pushOne(d.m(syncproto.EntityVisitPlan, syncproto.OpUpdate, p, 1, map[string]any{"window_end": nil, "status": syncproto.PlanDone}))
		wantStatus(t, r, syncproto.StatusAccepted)
		if cur := decode[syncproto.VisitPlan](t, r.Current); cur.WindowEnd != "" || cur.Status != syncproto.PlanDone {
			t.Fatalf("plan %+v", cur)
		}
		wantRejected(t, d.pushOne(d.m(syncproto.EntityVisitPlan, syncproto.OpUpdate, p, 2, map[string]any{"planned_on": "2025-13-01"})), syncproto.RejectInvalidField, "planned_on")
		wantStatus(t, d.pushOne(d.m(syncproto.EntityVisitPlan, syncproto.OpDelete, p, 2, nil)), syncproto.StatusAccepted)
		wantStatus(t, d.pushOne(d.m(syncproto.EntityVisitPlan, syncproto.OpDelete, p, 3, nil)), syncproto.StatusAccepted)
		wantRejected(t, d.pushOne(d.m(syncproto.EntityVisitPlan, syncproto.OpUpdate, p, 3, map[string]any{"notes": "x"})), syncproto.RejectNotFound, "entity_id")
		wantRejected(t, d.pushOne(d.m(syncproto.EntityVisitPlan, syncproto.OpCreate, p, 0, map[string]any{"household_id": f.hh1[0], "planned_on": "2025-03-03"})), syncproto.RejectAlreadyExists, "entity_id")
		wantRejected(t, d.pushOne(d.m(syncproto.EntityVisitPlan, syncproto.OpCreate, newID(), 0, map[string]any{"household_id": f.hh3[0], "planned_on": "2025-03-03"})), syncproto.RejectOutOfScope, "household_id")
	})
}

// The rule tables are the documentation: every entity a device may change
// has one, every editable field of the wire records is declared, and the
// declared server-owned fields are refused.
func TestRulesTableCoversTheWireRecords(t *testing.T) {
	want := map[string][]string{
		syncproto.EntityHousehold: syncproto.HouseholdObservedFields,
		syncproto.EntityVisit:     syncproto.VisitEditableFields,
		syncproto.EntityVisitPlan: syncproto.VisitPlanEditableFields,
		syncproto.EntityNeed:      syncproto.FinancingNeedEditableFields,
		syncproto.EntityLoan:      syncproto.LoanApplicationEditableFields,
	}
	for _, r := range syncsvc.Rules {
		fields, ok := want[r.Entity]
		if !ok {
			t.Fatalf("rules for unexpected entity %s", r.Entity)
		}
		declared := map[string]bool{}
		for _, f := range r.Fields {
			declared[f.Field] = true
			if f.Merge == "" || f.Type == "" {
				t.Errorf("%s.%s has no merge policy or type", r.Entity, f.Field)
			}
		}
		for _, f := range fields {
			if !declared[f] {
				t.Errorf("%s.%s is editable on the wire but has no rule", r.Entity, f)
			}
		}
		if len(declared) != len(fields) {
			t.Errorf("%s declares %d fields, the wire %d", r.Entity, len(declared), len(fields))
		}
		if len(r.Rules) == 0 || len(r.ServerOwned) == 0 {
			t.Errorf("%s has no prose rules or server-owned list", r.Entity)
		}
		delete(want, r.Entity)
	}
	if len(want) != 0 {
		t.Fatalf("entities without rules: %v", want)
	}
}
