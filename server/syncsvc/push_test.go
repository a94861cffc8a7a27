package syncsvc_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// A retried push writes nothing and returns byte for byte the first results.
func TestPushReplayWritesNothingAndReturnsTheSameResults(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		vid, nid := newID(), newID()
		ms := []syncproto.Mutation{
			d.m(syncproto.EntityVisit, syncproto.OpCreate, vid, 0, visitFields(f.hh1[0])),
			d.m(syncproto.EntityNeed, syncproto.OpCreate, nid, 0, map[string]any{"household_id": f.hh1[0], "visit_id": vid, "purpose": "购买仔猪", "amount_fen": 1_000_000}),
			d.m(syncproto.EntityHousehold, syncproto.OpUpdate, f.hh1[1], 1, map[string]any{"situation_notes": "新修了猪圈", "phone": "13800138000"}),
			d.m(syncproto.EntityVisit, syncproto.OpCreate, newID(), 0, visitFields(f.hh2[0])), // another officer's household
			d.m(syncproto.EntityHousehold, syncproto.OpUpdate, f.hh1[2], 1, map[string]any{"head_name": "改名"}),
		}
		first := d.push(ms...)
		before := f.counts()
		firstJSON, _ := json.Marshal(first.Results)

		again := d.push(ms...)
		againJSON, _ := json.Marshal(again.Results)
		if string(firstJSON) != string(againJSON) {
			t.Fatalf("replayed results differ:\nfirst %s\nagain %s", firstJSON, againJSON)
		}
		if after := f.counts(); !reflect.DeepEqual(before, after) {
			t.Fatalf("replay wrote: before %v after %v", before, after)
		}
		wantStatus(t, first.Results[0], syncproto.StatusAccepted)
		wantStatus(t, first.Results[1], syncproto.StatusAccepted)
		wantStatus(t, first.Results[2], syncproto.StatusAccepted)
		wantRejected(t, first.Results[3], syncproto.RejectOutOfScope, "household_id")
		wantRejected(t, first.Results[4], syncproto.RejectServerOwned, "head_name")
		// A plain accepted create answers with its version; the record itself
		// comes with the next pull. Merges and rejections carry the record.
		if first.Results[0].Version != 1 || first.Results[0].Current != nil {
			t.Fatalf("accepted create: version %d current %s", first.Results[0].Version, first.Results[0].Current)
		}
		if first.Results[2].Current == nil || first.Results[4].Current == nil {
			t.Fatal("household update and rejection should carry the household")
		}

		// The same batch split and reordered: still nothing new.
		d.push(ms[4], ms[2])
		d.push(ms[1], ms[0], ms[3])
		if after := f.counts(); !reflect.DeepEqual(before, after) {
			t.Fatalf("reordered replay wrote: before %v after %v", before, after)
		}
		if n := f.count("visits"); n != 1 {
			t.Fatalf("%d visits, want 1", n)
		}
	})
}

// One bad mutation never blocks the others; each gets its own verdict.
func TestPushPartialAcceptance(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		good1, good2 := newID(), newID()
		bad := visitFields(f.hh1[0])
		bad["mood"] = "happy"
		resp := d.push(
			d.m(syncproto.EntityVisit, syncproto.OpCreate, good1, 0, visitFields(f.hh1[0])),
			d.m(syncproto.EntityVisit, syncproto.OpCreate, newID(), 0, bad),
			d.m(syncproto.EntityVisit, syncproto.OpCreate, newID(), 0, map[string]any{"household_id": f.hh1[0], "outcome": "maybe", "started_at": time.Now().UTC()}),
			d.m(syncproto.EntityVisit, syncproto.OpCreate, good2, 0, visitFields(f.hh1[1])),
			d.m("tractor", syncproto.OpCreate, newID(), 0, nil),
			d.m(syncproto.EntityTask, syncproto.OpUpdate, newID(), 1, map[string]any{"status": "done"}),
		)
		wantStatus(t, resp.Results[0], syncproto.StatusAccepted)
		wantRejected(t, resp.Results[1], syncproto.RejectUnknownField, "mood")
		wantRejected(t, resp.Results[2], syncproto.RejectInvalidField, "outcome")
		wantStatus(t, resp.Results[3], syncproto.StatusAccepted)
		wantRejected(t, resp.Results[4], syncproto.RejectInvalidMutation, "entity")
		wantRejected(t, resp.Results[5], syncproto.RejectUnsupported, "entity")
		f.visit(good1)
		f.visit(good2)
		if n := f.count("visits"); n != 2 {
			t.Fatalf("%d visits, want 2", n)
		}
		var rej int64
		db.Gorm(f.ctx).Table("conflicts").Where("kind = ?", store.ConflictRejection).Count(&rej)
		if rej != 4 {
			t.Fatalf("%d rejections logged, want 4", rej)
		}
	})
}

// A mutation that depends on a rejected one is rejected naming it.
func TestPushDependencyRejection(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		badVisit, need, loan := newID(), newID(), newID()
		vf := visitFields(f.hh1[0])
		vf["ended_at"] = time.Now().Add(-2 * time.Hour).UTC() // before started_at
		resp := d.push(
			d.m(syncproto.EntityVisit, syncproto.OpCreate, badVisit, 0, vf),
			d.m(syncproto.EntityNeed, syncproto.OpCreate, need, 0, map[string]any{"household_id": f.hh1[0], "visit_id": badVisit, "amount_fen": 100}),
			d.m(syncproto.EntityLoan, syncproto.OpCreate, loan, 0, map[string]any{"household_id": f.hh1[0], "need_id": need, "product_id": f.fpxd, "amount_fen": 100, "term_months": 12}),
			d.m(syncproto.EntityVisit, syncproto.OpUpdate, badVisit, 0, map[string]any{"notes": "补充"}),
			d.m(syncproto.EntityNeed, syncproto.OpCreate, newID(), 0, map[string]any{"household_id": f.hh1[0], "visit_id": newID()}),
		)
		wantRejected(t, resp.Results[0], syncproto.RejectInvalidField, "ended_at")
		wantRejected(t, resp.Results[1], syncproto.RejectDependency, "visit_id")
		if !strings.Contains(resp.Results[1].Rejection.Message, badVisit) {
			t.Fatalf("dependency message does not name the visit: %s", resp.Results[1].Rejection.Message)
		}
		wantRejected(t, resp.Results[2], syncproto.RejectDependency, "need_id")
		wantRejected(t, resp.Results[3], syncproto.RejectDependency, "entity_id")
		wantRejected(t, resp.Results[4], syncproto.RejectDependency, "visit_id")

		// A later push that references the rejected visit is rejected too.
		r := d.pushOne(d.m(syncproto.EntityNeed, syncproto.OpCreate, newID(), 0, map[string]any{"household_id": f.hh1[0], "visit_id": badVisit}))
		wantRejected(t, r, syncproto.RejectDependency, "visit_id")
		// A need must reference a visit of its own household.
		v2 := newID()
		wantStatus(t, d.pushOne(d.m(syncproto.EntityVisit, syncproto.OpCreate, v2, 0, visitFields(f.hh1[1]))), syncproto.StatusAccepted)
		r = d.pushOne(d.m(syncproto.EntityNeed, syncproto.OpCreate, newID(), 0, map[string]any{"household_id": f.hh1[0], "visit_id": v2}))
		wantRejected(t, r, syncproto.RejectInvalidField, "visit_id")
	})
}

func TestPushValidation(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		hh := f.hh1[0]
		raw := func(s string) json.RawMessage { return json.RawMessage(s) }
		cases := []struct {
			name   string
			entity string
			fields map[string]any
			code   string
			field  string
		}{
			{"wrong type", syncproto.EntityNeed, map[string]any{"household_id": hh, "amount_fen": "100"}, syncproto.RejectInvalidField, "amount_fen"},
			{"fraction", syncproto.EntityNeed, map[string]any{"household_id": hh, "amount_fen": 1.5}, syncproto.RejectInvalidField, "amount_fen"},
			{"negative amount", syncproto.EntityNeed, map[string]any{"household_id": hh, "amount_fen": -1}, syncproto.RejectInvalidField, "amount_fen"},
			{"huge amount", syncproto.EntityNeed, map[string]any{"household_id": hh, "amount_fen": 100_000_001}, syncproto.RejectInvalidField, "amount_fen"},
			{"overflowing amount", syncproto.EntityNeed, map[string]any{"household_id": hh, "amount_fen": raw("99999999999999999999999")}, syncproto.RejectInvalidField, "amount_fen"},
			{"impossible date", syncproto.EntityVisitPlan, map[string]any{"household_id": hh, "planned_on": "2025-02-30"}, syncproto.RejectInvalidField, "planned_on"},
			{"date with time", syncproto.EntityVisitPlan, map[string]any{"household_id": hh, "planned_on": "2025-02-03T00:00:00Z"}, syncproto.RejectInvalidField, "planned_on"},
			{"window before plan", syncproto.EntityVisitPlan, map[string]any{"household_id": hh, "planned_on": "2025-03-10", "window_end": "2025-03-01"}, syncproto.RejectInvalidField, "window_end"},
			{"long text", syncproto.EntityVisit, map[string]any{"household_id": hh, "outcome": "visited", "started_at": time.Now().UTC(), "notes": strings.Repeat("长", syncproto.MaxFieldBytes)}, syncproto.RejectInvalidField, "notes"},
			{"NUL in text", syncproto.EntityVisit, map[string]any{"household_id": hh, "outcome": "visited", "started_at": time.Now().UTC(), "notes": "a\x00b"}, syncproto.RejectInvalidField, "notes"},
			{"object for text", syncproto.EntityVisit, map[string]any{"household_id": hh, "outcome": "visited", "started_at": time.Now().UTC(), "notes": map[string]int{"a": 1}}, syncproto.RejectInvalidField, "notes"},
			{"latitude out of range", syncproto.EntityVisit, map[string]any{"household_id": hh, "outcome": "visited", "started_at": time.Now().UTC(), "lat": 91}, syncproto.RejectInvalidField, "lat"},
			{"time without zone", syncproto.EntityVisit, map[string]any{"household_id": hh, "outcome": "visited", "started_at": "2025-03-01 10:00:00"}, syncproto.RejectInvalidField, "started_at"},
			{"missing required", syncproto.EntityVisit, map[string]any{"household_id": hh, "outcome": "visited"}, syncproto.RejectInvalidField, "started_at"},
			{"null required", syncproto.EntityVisit, map[string]any{"household_id": hh, "outcome": nil, "started_at": time.Now().UTC()}, syncproto.RejectInvalidField, "outcome"},
			{"status is the supervisor's", syncproto.EntityVisit, map[string]any{"household_id": hh, "outcome": "visited", "started_at": time.Now().UTC(), "status": "confirmed"}, syncproto.RejectServerOwned, "status"},
			{"unknown field", syncproto.EntityVisitPlan, map[string]any{"household_id": hh, "planned_on": "2025-03-01", "priority": 1}, syncproto.RejectUnknownField, "priority"},
			{"bad phone", syncproto.EntityHousehold, map[string]any{"phone": "call me"}, syncproto.RejectInvalidField, "phone"},
		}
		for _, c := range cases {
			op, id := syncproto.OpCreate, newID()
			if c.entity == syncproto.EntityHousehold {
				op, id = syncproto.OpUpdate, hh
			}
			r := d.pushOne(d.m(c.entity, op, id, 1, c.fields))
			if r.Status != syncproto.StatusRejected || r.Rejection.Code != c.code || r.Rejection.Field != c.field {
				t.Errorf("%s: got %s %+v, want %s on %s", c.name, r.Status, r.Rejection, c.code, c.field)
			}
		}
		if n := f.count("visits") + f.count("visit_plans") + f.count("financing_needs"); n != 0 {
			t.Fatalf("rejected mutations wrote %d records", n)
		}
		// Mutation-level problems.
		r := d.pushOne(d.mm(mut{entity: syncproto.EntityVisit, op: "upsert", id: newID(), seq: 900}))
		wantRejected(t, r, syncproto.RejectInvalidMutation, "op")
		r = d.pushOne(d.mm(mut{entity: syncproto.EntityVisit, op: syncproto.OpCreate, id: "not-a-uuid", seq: 901, fields: visitFields(hh)}))
		wantRejected(t, r, syncproto.RejectInvalidMutation, "entity_id")
		r = d.pushOne(d.mm(mut{entity: syncproto.EntityHousehold, op: syncproto.OpCreate, id: newID(), seq: 902}))
		wantRejected(t, r, syncproto.RejectUnsupported, "op")
		r = d.pushOne(d.mm(mut{entity: syncproto.EntityVisit, op: syncproto.OpDelete, id: newID(), seq: 903}))
		wantRejected(t, r, syncproto.RejectUnsupported, "op")
	})
}

// SQL-looking text is data: stored and returned verbatim.
func TestPushStoresSQLLookingTextVerbatim(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		evil := `'; DROP TABLE visits; --`
		vid := newID()
		fields := visitFields(f.hh1[0])
		fields["notes"] = evil
		fields["situation"] = `Robert"); DELETE FROM households WHERE ("1"="1`
		wantStatus(t, d.pushOne(d.m(syncproto.EntityVisit, syncproto.OpCreate, vid, 0, fields)), syncproto.StatusAccepted)
		v := f.visit(vid)
		if v.Notes != evil || v.Situation != fields["situation"] {
			t.Fatalf("stored %q / %q", v.Notes, v.Situation)
		}
		if n := f.count("households"); n == 0 {
			t.Fatal("households vanished")
		}
		// Hostile field names and entity names are refused and logged safely.
		r := d.pushOne(d.m(syncproto.EntityVisit, syncproto.OpCreate, newID(), 0, map[string]any{"notes'; DROP TABLE visits; --": "x", "a\x00b": 1}))
		wantRejected(t, r, syncproto.RejectUnknownField, "")
		r = d.pushOne(d.m("visit\x00'; DROP TABLE changes; --", syncproto.OpCreate, newID(), 0, nil))
		wantRejected(t, r, syncproto.RejectInvalidMutation, "entity")
		if n := f.count("visits"); n != 1 {
			t.Fatalf("%d visits", n)
		}
	})
}

// seq orders a device's mutations; a different mutation reusing a seq is
// rejected, and its replay writes nothing; a new mutation with an older seq
// is applied.
func TestPushSequenceRule(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		a := d.mm(mut{entity: syncproto.EntityVisit, op: syncproto.OpCreate, id: newID(), seq: 10, fields: visitFields(f.hh1[0])})
		wantStatus(t, d.pushOne(a), syncproto.StatusAccepted)
		dup := d.mm(mut{entity: syncproto.EntityVisit, op: syncproto.OpCreate, id: newID(), seq: 10, fields: visitFields(f.hh1[0])})
		r := d.pushOne(dup)
		wantRejected(t, r, syncproto.RejectDuplicateSeq, "seq")
		before := f.counts()
		if again := d.pushOne(dup); !reflect.DeepEqual(again, r) {
			t.Fatalf("replayed duplicate-seq verdict differs: %+v vs %+v", again, r)
		}
		if after := f.counts(); !reflect.DeepEqual(before, after) {
			t.Fatalf("replay of a duplicate-seq mutation wrote: %v → %v", before, after)
		}
		// Within one batch, the second of two mutations sharing a seq loses.
		x := d.mm(mut{entity: syncproto.EntityVisit, op: syncproto.OpCreate, id: newID(), seq: 20, fields: visitFields(f.hh1[0])})
		y := d.mm(mut{entity: syncproto.EntityVisit, op: syncproto.OpCreate, id: newID(), seq: 20, fields: visitFields(f.hh1[0])})
		resp := d.push(x, y)
		wantStatus(t, resp.Results[0], syncproto.StatusAccepted)
		wantRejected(t, resp.Results[1], syncproto.RejectDuplicateSeq, "seq")
		// An older seq with a new id, and a gap: applied.
		old := d.mm(mut{entity: syncproto.EntityVisit, op: syncproto.OpCreate, id: newID(), seq: 5, fields: visitFields(f.hh1[0])})
		wantStatus(t, d.pushOne(old), syncproto.StatusAccepted)
		if n := f.count("visits"); n != 3 {
			t.Fatalf("%d visits, want 3", n)
		}
		// A logged mutation resent under a new seq, above every logged one, is
		// still a replay: the stored verdict under its first seq, nothing written.
		first := d.pushOne(a)
		before = f.counts()
		moved := a
		moved.Seq = 30
		if again := d.pushOne(moved); !reflect.DeepEqual(again, first) {
			t.Fatalf("mutation resent under a new seq: %+v, want the stored %+v", again, first)
		}
		if after := f.counts(); !reflect.DeepEqual(before, after) {
			t.Fatalf("mutation resent under a new seq wrote: %v → %v", before, after)
		}
	})
}

func TestPushRefusesNonOfficersAndRevokedDevices(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		req := syncproto.PushRequest{DeviceTime: time.Now()}
		for _, a := range []store.Actor{f.sup, f.mgr} {
			_, err := f.svc.Push(f.ctx, a, req)
			if e, ok := apperr.As(err); !ok || e.Code != syncproto.CodeForbidden {
				t.Fatalf("%s push: %v, want forbidden", a.Role, err)
			}
			_, err = f.svc.Pull(f.ctx, a, syncproto.PullRequest{})
			if e, ok := apperr.As(err); !ok || e.Code != syncproto.CodeForbidden {
				t.Fatalf("%s pull: %v, want forbidden", a.Role, err)
			}
		}
		if err := db.Gorm(f.ctx).Table("devices").Where("id = ?", f.o1.DeviceID).Update("status", store.DeviceRevoked).Error; err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Push(f.ctx, f.o1, req)
		if e, ok := apperr.As(err); !ok || e.Code != syncproto.CodeDeviceRevoked {
			t.Fatalf("revoked device push: %v", err)
		}
		_, err = f.svc.Push(f.ctx, f.o1, syncproto.PushRequest{})
		if e, ok := apperr.As(err); !ok || e.Code != syncproto.CodeInvalidRequest {
			t.Fatalf("push without device_time: %v", err)
		}
		if errors.Is(err, store.ErrNotFound) {
			t.Fatal("unexpected not found")
		}
	})
}

// Each push measures the device's clock; records keep device, corrected and
// receive times, and absurd times are flagged, not trusted, not rejected.
func TestPushClockOffsetAndSuspectTimes(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		d.clock = -49 * time.Hour // the phone thinks it is two days ago
		started := time.Now().Add(-30 * time.Minute)
		vid := newID()
		fields := visitFields(f.hh1[0])
		fields["started_at"] = started.Add(d.clock).UTC()
		resp := d.push(d.m(syncproto.EntityVisit, syncproto.OpCreate, vid, 0, fields))
		if off := time.Duration(resp.ClockOffsetMS) * time.Millisecond; off < 48*time.Hour || off > 50*time.Hour {
			t.Fatalf("clock offset %v", off)
		}
		v := f.visit(vid)
		if v.ClockSuspect {
			t.Fatal("a consistently wrong clock was flagged")
		}
		if diff := v.VisitedAt.Sub(started); diff < -2*time.Second || diff > 2*time.Second {
			t.Fatalf("visited_at %v, want about %v (started_at on the device %v)", v.VisitedAt, started, v.StartedAt)
		}
		if !v.StartedAt.Equal(started.Add(d.clock).UTC().Truncate(time.Microsecond)) {
			t.Fatalf("started_at %v is not the device time", v.StartedAt)
		}
		var dev store.Device
		db.Gorm(f.ctx).Where("id = ?", f.o1.DeviceID).Take(&dev)
		if dev.LastSyncAt == nil || dev.ClockOffsetMS != resp.ClockOffsetMS {
			t.Fatalf("device bookkeeping %+v", dev)
		}

		// A visit "in the future" even after correction, and one before the
		// household was assigned: flagged, ordered by receive time.
		d.clock = 0
		future, early := newID(), newID()
		ff := visitFields(f.hh1[0])
		ff["started_at"] = time.Now().Add(72 * time.Hour).UTC()
		ef := visitFields(f.hh1[1])
		ef["started_at"] = time.Now().Add(-400 * 24 * time.Hour).UTC()
		resp = d.push(d.m(syncproto.EntityVisit, syncproto.OpCreate, future, 0, ff), d.m(syncproto.EntityVisit, syncproto.OpCreate, early, 0, ef))
		wantStatus(t, resp.Results[0], syncproto.StatusAccepted)
		wantStatus(t, resp.Results[1], syncproto.StatusAccepted)
		for _, id := range []string{future, early} {
			v := f.visit(id)
			if !v.ClockSuspect {
				t.Fatalf("visit %s not flagged", id)
			}
			if !v.VisitedAt.Equal(v.ReceivedAt) {
				t.Fatalf("suspect visit placed at %v, received %v", v.VisitedAt, v.ReceivedAt)
			}
		}
	})
}
