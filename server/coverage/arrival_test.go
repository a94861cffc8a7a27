package coverage_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// A visit whose flags change because another visit arrived later is counted
// again in the monthly report, though re-flagging writes no change-log row:
// the late visit's change makes every month of its officer from its own on
// recompute from the visits as they stand.
func TestReflaggedVisitReachesTheReport(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		reports, err := report.New(db, report.Options{Loc: shanghai, Close: "off"})
		if err != nil {
			t.Fatal(err)
		}
		flagged := func(month string) int64 {
			t.Helper()
			if err := reports.CatchUp(f.ctx); err != nil {
				t.Fatal(err)
			}
			rows, err := db.ReportRows(f.ctx, f.units["CQ"].ID, month)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rows {
				if r.Level == store.LevelBranch {
					return r.VisitsFlagged
				}
			}
			t.Fatal("no branch row")
			return 0
		}
		// Written and logged as the sync engine does, then its hook.
		push := func(v store.Visit) {
			f.tx(func(tx *store.Tx) error {
				tx.RecordChange(store.Change{BranchID: v.BranchID, Entity: syncproto.EntityVisit, EntityID: v.ID, Op: store.OpUpsert, HouseholdID: v.HouseholdID})
				return tx.Create(&v).Error
			})
			f.arrive(v)
		}
		// Two stops 60 km apart twenty minutes apart, either side of
		// midnight on 31 October: the later one, in November, is pushed
		// first and is clean on its own.
		local := func(m time.Month, d, h, min int) time.Time {
			return time.Date(2026, m, d, h, min, 0, 0, shanghai).UTC()
		}
		here := f.household("XS-01", testenv.Officer2)
		away := f.household("XS-01", testenv.Officer2, func(h *store.Household) { h.Lat, h.Lng = ptr(28.99), ptr(108.99) })
		late := f.newVisit(here, testenv.Officer2, "visited", local(time.November, 1, 0, 10))
		push(late)
		if n := flagged("2026-11"); n != 0 {
			t.Fatalf("%d flagged visits after a clean one", n)
		}
		// The earlier stop arrives: the November visit becomes impossible
		// travel, though the push named only an October visit.
		early := f.newVisit(away, testenv.Officer2, "visited", local(time.October, 31, 23, 50), func(v *store.Visit) { v.Lat, v.Lng = ptr(28.99), ptr(108.99) })
		push(early)
		if got := flagCodes(f.reload(late).Flags); !reflect.DeepEqual(got, []string{coverage.FlagImpossibleTravel}) {
			t.Fatalf("late visit flags %v", got)
		}
		if n := flagged("2026-11"); n != 1 {
			t.Fatalf("November's report counts %d flagged visits, want 1 (the re-flagged one)", n)
		}
	})
}

// A device edit that moves a visit in time rechecks the visits that
// followed it where it was: through the sync engine, as wired in the app.
func TestMovedVisitRechecksItsFormerNeighbours(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		eng := syncsvc.New(db, syncsvc.Options{OnVisitsApplied: f.svc.VisitsApplied})
		a := f.actor(testenv.Officer2)
		a.DeviceID = f.device(testenv.Officer2)
		seq := int64(0)
		push := func(m syncproto.Mutation) {
			t.Helper()
			seq++
			m.MutationID, m.Seq, m.Entity, m.DeviceTime = store.NewID(), seq, syncproto.EntityVisit, store.Now()
			resp, err := eng.Push(f.ctx, a, syncproto.PushRequest{DeviceTime: store.Now(), Mutations: []syncproto.Mutation{m}})
			if err != nil || resp.Results[0].Status != syncproto.StatusAccepted {
				t.Fatalf("push: %v %+v", err, resp.Results)
			}
		}
		raw := func(v any) json.RawMessage { b, _ := json.Marshal(v); return b }
		at := func(h int) time.Time { return nov(3, h) }
		visitAt := func(h store.Household, start time.Time) (string, syncproto.Mutation) {
			id := store.NewID()
			return id, syncproto.Mutation{Op: syncproto.OpCreate, EntityID: id, Fields: map[string]json.RawMessage{
				"household_id": raw(h.ID), "outcome": raw("visited"), "lat": raw(*h.Lat), "lng": raw(*h.Lng), "accuracy_m": raw(10),
				"started_at": raw(start), "ended_at": raw(start.Add(15 * time.Minute))}}
		}
		here := f.household("XS-01", testenv.Officer2)
		away := f.household("XS-01", testenv.Officer2, func(h *store.Household) { h.Lat, h.Lng = ptr(28.99), ptr(108.99) })
		first, m := visitAt(here, at(9))
		push(m)
		second, m := visitAt(away, at(9).Add(20*time.Minute)) // 60 km in twenty minutes
		push(m)
		reload := func(id string) store.Visit { return f.reload(store.Visit{ID: id, BranchID: a.BranchID}) }
		if got := flagCodes(reload(second).Flags); !reflect.DeepEqual(got, []string{coverage.FlagImpossibleTravel}) {
			t.Fatalf("second visit flags %v before the edit", got)
		}
		// The officer corrects the first visit's time: it was in the afternoon.
		push(syncproto.Mutation{Op: syncproto.OpUpdate, EntityID: first, BaseVersion: 1, Fields: map[string]json.RawMessage{
			"started_at": raw(at(14)), "ended_at": raw(at(14).Add(15 * time.Minute))}})
		if got := flagCodes(reload(second).Flags); len(got) != 0 {
			t.Fatalf("second visit flags %v after the first moved away, want none", got)
		}
		if got := flagCodes(reload(first).Flags); len(got) != 0 {
			t.Fatalf("moved visit flags %v, want none (its previous stop is hours earlier)", got)
		}
	})
}
