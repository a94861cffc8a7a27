package report_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// history builds the hand-made October 2026 of the figures test and returns
// the ids the other tests need. The report worker catches up after every step.
type history struct {
	h    [7]string // households 1..6
	v    map[string]string
	loan map[string]string
}

func buildHistory(f *fixture) history {
	hs := history{v: map[string]string{}, loan: map[string]string{}}
	f.set(at(2026, 10, 5, 10, 0))
	f.catchUp()
	for i := 1; i <= 5; i++ {
		hs.h[i] = f.household("XS")
	}
	hs.h[6] = f.household("WX")
	for _, i := range []int{1, 2, 3} {
		f.assign(hs.h[i], "XS-01", "officer1", "2026-10-10")
	}
	f.assign(hs.h[4], "XS-01", "officer2", "2026-10-20")
	f.assign(hs.h[5], "XS-02", "", "")
	f.assign(hs.h[6], "WX-01", "officer3", "2026-10-03")
	// Visited late on 30 September local time (15:30 UTC): counts in September.
	hs.v["v5"] = f.visit(hs.h[6], "officer3", "WX-01", at(2026, 9, 30, 23, 30), syncproto.OutcomeVisited)
	f.catchUp()

	f.set(at(2026, 10, 6, 12, 0))
	hs.v["v1"] = f.visit(hs.h[1], "officer1", "XS-01", at(2026, 10, 6, 9, 0), syncproto.OutcomeVisited)
	f.need(hs.h[1], "officer1", hs.v["v1"], 1_000_000)
	f.catchUp()

	f.set(at(2026, 10, 7, 12, 0))
	hs.v["v3"] = f.visit(hs.h[2], "officer1", "XS-01", at(2026, 10, 7, 10, 0), syncproto.OutcomeAbsent)
	f.catchUp()

	f.set(at(2026, 10, 8, 12, 0))
	hs.v["v4"] = f.visit(hs.h[4], "officer2", "XS-01", at(2026, 10, 8, 10, 0), syncproto.OutcomeVisited, flagged)
	f.need(hs.h[4], "officer2", "", 500_000)
	hs.loan["l1"] = f.loan(hs.h[1], "officer1", 3_000_000)
	f.loanTo(hs.loan["l1"], syncproto.LoanSubmitted)
	f.catchUp()

	f.set(at(2026, 10, 9, 12, 0))
	hs.loan["l2"] = f.loan(hs.h[4], "officer2", 2_000_000)
	f.loanTo(hs.loan["l2"], syncproto.LoanSubmitted)
	f.catchUp()

	f.set(at(2026, 10, 12, 12, 0))
	f.loanTo(hs.loan["l2"], syncproto.LoanRejected)
	f.catchUp()

	f.set(at(2026, 10, 15, 12, 0))
	f.loanTo(hs.loan["l1"], syncproto.LoanApproved)
	f.updateVisit(hs.v["v1"], map[string]any{"status": syncproto.VisitConfirmed})
	f.catchUp()

	f.set(at(2026, 10, 20, 12, 0))
	hs.v["v2"] = f.visit(hs.h[1], "officer1", "XS-01", at(2026, 10, 20, 9, 0), syncproto.OutcomeVisited)
	f.catchUp()

	// Synced ten minutes into November, visited a minute before midnight on
	// 31 October local time: counts in October.
	f.set(at(2026, 11, 1, 0, 10))
	hs.v["v6"] = f.visit(hs.h[3], "officer1", "XS-01", at(2026, 10, 31, 23, 59), syncproto.OutcomeVisited)
	f.catchUp()

	f.set(at(2026, 11, 2, 9, 0))
	f.loanTo(hs.loan["l1"], syncproto.LoanDisbursed)
	f.catchUp()

	f.set(at(2026, 11, 3, 9, 0))
	f.catchUp()
	return hs
}

func TestFiguresOnHandBuiltHistory(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, at(2026, 10, 1, 8, 0))
		buildHistory(f)
		oct := f.rows("2026-10")

		want := map[store.ReportKey]store.ReportFigures{
			f.officerKey("XS", "XS-01", "officer1"): {
				HouseholdsInList: 3, HouseholdsAssigned: 3, HouseholdsVisited: 2,
				VisitsTotal: 4, VisitsFirst: 3, VisitsRepeat: 1, VisitsConfirmed: 1,
				HouseholdsWithNeeds: 1, NeedsAmountFen: 1_000_000,
				LoansSubmitted: 1, LoansSubmittedFen: 3_000_000, LoansApproved: 1, LoansApprovedFen: 3_000_000,
				AssignmentsOverdue: 1,
				// H1: 23h; H2 (an absence is a visit): 48h; H3: 26d 13h59m.
				FirstVisitWaitSeconds: 23*3600 + 48*3600 + 26*86400 + 13*3600 + 59*60, FirstVisitWaitCount: 3,
			},
			f.officerKey("XS", "XS-01", "officer2"): {
				HouseholdsInList: 1, HouseholdsAssigned: 1, HouseholdsVisited: 1,
				VisitsTotal: 1, VisitsFirst: 1, VisitsFlagged: 1,
				HouseholdsWithNeeds: 1, NeedsAmountFen: 500_000,
				LoansSubmitted: 1, LoansSubmittedFen: 2_000_000, LoansRejected: 1, LoansRejectedFen: 2_000_000,
				FirstVisitWaitSeconds: 3 * 86400, FirstVisitWaitCount: 1,
			},
			f.officerKey("XS", "XS-02", ""): {HouseholdsInList: 1},
			f.officerKey("WX", "WX-01", "officer3"): {
				HouseholdsInList: 1, HouseholdsAssigned: 1, AssignmentsOverdue: 1,
			},
		}
		for k, w := range want {
			if got := oct[k]; got != w {
				t.Errorf("October %+v:\n got %+v\nwant %+v", k, got, w)
			}
		}
		branch := oct[store.ReportKey{Level: store.LevelBranch}]
		wantBranch := store.ReportFigures{}
		for _, w := range want {
			store.AddFigures(&wantBranch, w)
		}
		if branch != wantBranch {
			t.Errorf("October branch row:\n got %+v\nwant %+v", branch, wantBranch)
		}
		if branch.HouseholdsInList != 6 || branch.HouseholdsVisited != 3 || branch.VisitsTotal != 5 || branch.AssignmentsOverdue != 2 {
			t.Errorf("October branch totals %+v", branch)
		}
		xs := oct[f.unitKey(store.LevelCounty, "XS")]
		if xs.HouseholdsInList != 5 || xs.HouseholdsVisited != 3 || xs.NeedsAmountFen != 1_500_000 || xs.LoansSubmittedFen != 5_000_000 {
			t.Errorf("county XS %+v", xs)
		}
		if o := oct[f.unitKey(store.LevelOutlet, "XS-02")]; o.HouseholdsInList != 1 || o.HouseholdsAssigned != 0 {
			t.Errorf("outlet XS-02 %+v", o)
		}
		if o, ok := oct[f.unitKey(store.LevelOutlet, "FJ-02")]; !ok || o != (store.ReportFigures{}) {
			t.Errorf("outlet FJ-02 (no households) should have a row of zeros, got %+v %v", o, ok)
		}
		rate, _ := store.ReportFigureByCode("coverage_rate")
		if got := rate.Value(branch); got != 0.5 {
			t.Errorf("coverage rate %v, want 0.5", got)
		}
		avg, _ := store.ReportFigureByCode("avg_days_to_first_visit")
		if got := avg.Value(oct[f.officerKey("XS", "XS-01", "officer1")]); got != 9.8 {
			t.Errorf("officer1 average days to first visit %v, want 9.8", got)
		}

		// September: only the visit made on its last evening, nobody on the list yet.
		sep := f.rows("2026-09")
		if got := sep[f.officerKey("WX", "WX-01", "officer3")]; got != (store.ReportFigures{VisitsTotal: 1, VisitsFirst: 1}) {
			t.Errorf("September officer3 %+v", got)
		}
		if got := sep[store.ReportKey{Level: store.LevelBranch}]; got.HouseholdsInList != 0 || got.VisitsTotal != 1 {
			t.Errorf("September branch %+v", got)
		}
		// November: the disbursement of the loan approved in October.
		nov := f.rows("2026-11")
		o1 := nov[f.officerKey("XS", "XS-01", "officer1")]
		if o1.LoansDisbursed != 1 || o1.LoansDisbursedFen != 3_000_000 || o1.LoansApproved != 0 || o1.HouseholdsInList != 3 {
			t.Errorf("November officer1 %+v", o1)
		}

		// The incremental tables are exactly what a rebuild computes.
		for _, m := range []string{"2026-09", "2026-10", "2026-11"} {
			assertRebuildEqual(t, f, m)
		}
	})
}

// assertRebuildEqual rebuilds a month and compares it with the tables the
// worker kept.
func assertRebuildEqual(t *testing.T, f *fixture, month string) {
	t.Helper()
	before := f.rows(month)
	if err := f.svc.Rebuild(context.Background(), month, "CQ"); err != nil {
		t.Fatal(err)
	}
	after := f.rows(month)
	if !reflect.DeepEqual(before, after) {
		for k, v := range after {
			if before[k] != v {
				t.Errorf("%s %+v: incremental %+v, rebuild %+v", month, k, before[k], v)
			}
		}
		for k := range before {
			if _, ok := after[k]; !ok {
				t.Errorf("%s %+v: incremental has a row the rebuild does not: %+v", month, k, before[k])
			}
		}
	}
}
