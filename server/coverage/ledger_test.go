package coverage_test

import (
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

func rowOf(t *testing.T, l coverage.Ledger, id string) coverage.LedgerRow {
	t.Helper()
	for _, r := range l.Households {
		if r.HouseholdID == id {
			return r
		}
	}
	t.Fatalf("household %s not in the ledger", id)
	return coverage.LedgerRow{}
}

func notInLedger(t *testing.T, l coverage.Ledger, id string) {
	t.Helper()
	for _, r := range l.Households {
		if r.HouseholdID == id {
			t.Fatalf("household %s must not be in the %s ledger", id, l.Scope.Code)
		}
	}
}

func TestLedgerOutcomes(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		o1, o2 := testenv.Officer1, testenv.Officer2
		visited := f.household("XS-01", o1)
		f.visit(visited, o1, "visited", nov(3, 10))
		withNeed := f.household("XS-01", o1)
		v := f.visit(withNeed, o1, "visited", nov(4, 10))
		f.need(withNeed, &v, nov(4, 11))
		// A need that arrived in December with a late-November visit counts
		// for November; an old need from October does not.
		lateNeed := f.household("XS-01", o1)
		lv := f.visit(lateNeed, o1, "visited", nov(29, 16))
		f.need(lateNeed, &lv, time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC))
		oldNeed := f.household("XS-01", o1)
		f.visit(oldNeed, o1, "visited", nov(4, 15))
		f.need(oldNeed, nil, time.Date(2026, 10, 20, 3, 0, 0, 0, time.UTC))
		refused := f.household("XS-01", o1)
		f.visit(refused, o1, "refused", nov(5, 10))
		moved := f.household("XS-01", o1)
		f.visit(moved, o1, "moved", nov(5, 11))
		absent3 := f.household("XS-01", o2)
		for d := 6; d <= 8; d++ {
			f.visit(absent3, o2, "absent", nov(d, 10))
		}
		absent2 := f.household("XS-01", o2)
		f.visit(absent2, o2, "absent", nov(6, 11))
		f.visit(absent2, o2, "absent", nov(7, 11))
		eliminated := f.household("XS-01", o2, func(h *store.Household) { h.RiskEliminated = true })
		missing := f.household("XS-01", o2)
		october := f.household("XS-01", o2)
		f.visit(october, o2, "visited", time.Date(2026, 10, 31, 15, 59, 0, 0, time.UTC)) // 23:59 on 31 October in Shanghai
		firstMinute := f.household("XS-01", o2)
		f.visit(firstMinute, o2, "visited", time.Date(2026, 10, 31, 16, 0, 0, 0, time.UTC)) // 00:00 on 1 November in Shanghai
		disputed := f.household("XS-01", o2)
		f.visit(disputed, o2, "visited", nov(9, 10), func(v *store.Visit) { v.Status = "has_issues" })
		deleted := f.household("XS-01", o2)
		f.visit(deleted, o2, "visited", nov(9, 11), func(v *store.Visit) { d := nov(9, 12); v.DeletedAt = &d })
		removed := f.household("XS-01", o2, func(h *store.Household) { h.ListStatus = store.ListRemoved })
		otherOutlet := f.household("XS-02", o2)
		otherCounty := f.household("WX-01", testenv.Officer3)
		// A visit by another officer still covers the household.
		byColleague := f.household("XS-01", o1)
		f.visit(byColleague, o2, "visited", nov(10, 10))

		sup := f.actor(testenv.Supervisor1)
		l, err := f.svc.Ledger(f.ctx, sup, coverage.LedgerRequest{Month: "2026-11", OrgID: f.units["XS-01"].ID})
		if err != nil {
			t.Fatalf("ledger: %v", err)
		}
		want := map[string]coverage.Outcome{
			visited.ID: coverage.OutcomeVisited, withNeed.ID: coverage.OutcomeVisitedWithNeed, refused.ID: coverage.OutcomeRefused,
			moved.ID: coverage.OutcomeMoved, absent3.ID: coverage.OutcomeAbsent, absent2.ID: coverage.OutcomeMissing,
			eliminated.ID: coverage.OutcomeRiskEliminated, missing.ID: coverage.OutcomeMissing, october.ID: coverage.OutcomeMissing,
			firstMinute.ID: coverage.OutcomeVisited, disputed.ID: coverage.OutcomeMissing, deleted.ID: coverage.OutcomeMissing,
			byColleague.ID: coverage.OutcomeVisited, lateNeed.ID: coverage.OutcomeVisitedWithNeed, oldNeed.ID: coverage.OutcomeVisited,
		}
		for id, o := range want {
			if got := rowOf(t, l, id).Outcome; got != o {
				t.Errorf("household %s: %s, want %s", id, got, o)
			}
		}
		if len(l.Households) != len(want) {
			t.Errorf("ledger has %d households, want %d", len(l.Households), len(want))
		}
		notInLedger(t, l, removed.ID)
		notInLedger(t, l, otherOutlet.ID)
		notInLedger(t, l, otherCounty.ID)
		if r := rowOf(t, l, absent2.ID); r.Attempts != 2 || r.Final {
			t.Errorf("two absences: %+v", r)
		}
		if l.Summary.Households != 15 || l.Summary.Covered != 10 || l.Summary.Missing != 5 || l.Summary.CoverageRate != 0.6667 {
			t.Errorf("summary %+v", l.Summary)
		}
		if len(l.Officers) != 2 {
			t.Fatalf("officers %+v", l.Officers)
		}
		for _, o := range l.Officers {
			switch o.Username {
			case o1:
				if o.Summary.Households != 7 || o.Summary.Missing != 0 || o.Summary.CoverageRate != 1 || len(o.Missing) != 0 {
					t.Errorf("officer1 %+v", o)
				}
			case o2:
				if o.Summary.Households != 8 || o.Summary.Missing != 5 || len(o.Missing) != 5 {
					t.Errorf("officer2 %+v", o.Summary)
				}
			default:
				t.Errorf("unexpected officer %q", o.Username)
			}
		}

		// Only the missing rows, or none; the figures stay whole.
		miss, err := f.svc.Ledger(f.ctx, sup, coverage.LedgerRequest{Month: "2026-11", OrgID: f.units["XS-01"].ID, Rows: coverage.RowsMissing})
		if err != nil || len(miss.Households) != 5 || miss.Summary != l.Summary {
			t.Fatalf("rows=missing: %v, %d rows, %+v", err, len(miss.Households), miss.Summary)
		}
		for _, r := range miss.Households {
			if r.Settled() {
				t.Fatalf("rows=missing returned a settled household %+v", r)
			}
		}
		none, err := f.svc.Ledger(f.ctx, sup, coverage.LedgerRequest{Month: "2026-11", Rows: coverage.RowsNone})
		if err != nil || len(none.Households) != 0 || none.Summary != l.Summary || len(none.Officers[0].Missing)+len(none.Officers[1].Missing) != 5 {
			t.Fatalf("rows=none: %v %+v", err, none)
		}
		if _, err := f.svc.Ledger(f.ctx, sup, coverage.LedgerRequest{Rows: "some"}); !isCode(err, "invalid_request") {
			t.Fatalf("rows=some: %v", err)
		}

		// The county ledger includes the other outlet; the officer ledger only theirs.
		county, err := f.svc.Ledger(f.ctx, f.actor(testenv.Manager1), coverage.LedgerRequest{Month: "2026-11", OrgID: f.units["XS"].ID})
		if err != nil {
			t.Fatalf("county ledger: %v", err)
		}
		rowOf(t, county, otherOutlet.ID)
		notInLedger(t, county, otherCounty.ID)
		off, err := f.svc.Ledger(f.ctx, sup, coverage.LedgerRequest{Month: "2026-11", OfficerID: f.users[o1].ID})
		if err != nil {
			t.Fatalf("officer ledger: %v", err)
		}
		if off.Summary.Households != 7 || off.Scope.Kind != "officer" {
			t.Errorf("officer ledger %+v", off.Summary)
		}

		// N is a branch setting.
		_, err = f.svc.UpdateSettings(f.ctx, f.actor(testenv.Manager1), coverage.SettingsUpdate{
			AbsentAttempts: 2, DistanceThresholdM: 500, LowAccuracyM: 100, MaxSpeedKMH: 120, MinDurationS: 180, MaxClockOffsetS: 600, SpotCheckSize: 5,
		})
		if err != nil {
			t.Fatalf("settings: %v", err)
		}
		l, err = f.svc.Ledger(f.ctx, sup, coverage.LedgerRequest{Month: "2026-11", OrgID: f.units["XS-01"].ID})
		if err != nil {
			t.Fatalf("ledger: %v", err)
		}
		if got := rowOf(t, l, absent2.ID).Outcome; got != coverage.OutcomeAbsent || l.AbsentAttempts != 2 {
			t.Errorf("with N=2, two absences are %s (N=%d)", got, l.AbsentAttempts)
		}
	})
}

func isCode(err error, code string) bool {
	e, ok := apperr.As(err)
	return ok && e.Code == code
}

func TestLedgerReach(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		sup := f.actor(testenv.Supervisor1)
		cases := []struct {
			name  string
			actor store.Actor
			req   coverage.LedgerRequest
			code  string
		}{
			{"supervisor, own outlet", sup, coverage.LedgerRequest{OrgID: f.units["XS-01"].ID}, ""},
			{"supervisor, default scope", sup, coverage.LedgerRequest{}, ""},
			{"supervisor, own officer", sup, coverage.LedgerRequest{OfficerID: f.users[testenv.Officer2].ID}, ""},
			{"supervisor, sister outlet", sup, coverage.LedgerRequest{OrgID: f.units["XS-02"].ID}, "not_found"},
			{"supervisor, own county", sup, coverage.LedgerRequest{OrgID: f.units["XS"].ID}, "not_found"},
			{"supervisor, other county", sup, coverage.LedgerRequest{OrgID: f.units["WX-01"].ID}, "not_found"},
			{"supervisor, other county's officer", sup, coverage.LedgerRequest{OfficerID: f.users[testenv.Officer3].ID}, "not_found"},
			{"supervisor, other branch", sup, coverage.LedgerRequest{OrgID: f.units["HB-ES-01"].ID}, "not_found"},
			{"supervisor, a supervisor is not an officer", sup, coverage.LedgerRequest{OfficerID: f.users[testenv.Supervisor1].ID}, "not_found"},
			{"supervisor, unknown org", sup, coverage.LedgerRequest{OrgID: store.NewID()}, "not_found"},
			{"manager, other county", f.actor(testenv.Manager1), coverage.LedgerRequest{OrgID: f.units["WX-01"].ID}, ""},
			{"manager, other branch", f.actor(testenv.Manager1), coverage.LedgerRequest{OrgID: f.units["HB"].ID}, "not_found"},
			{"admin, other branch", f.actor(testenv.Admin), coverage.LedgerRequest{OrgID: f.units["HB"].ID}, ""},
			{"admin must name a scope", f.actor(testenv.Admin), coverage.LedgerRequest{}, "invalid_request"},
			{"not both org and officer", sup, coverage.LedgerRequest{OrgID: f.units["XS-01"].ID, OfficerID: f.users[testenv.Officer1].ID}, "invalid_request"},
			{"an officer reaches nothing", f.actor(testenv.Officer1), coverage.LedgerRequest{OfficerID: f.users[testenv.Officer1].ID}, "not_found"},
			{"impossible month", sup, coverage.LedgerRequest{Month: "2026-13"}, "invalid_request"},
		}
		for _, c := range cases {
			_, err := f.svc.Ledger(f.ctx, c.actor, c.req)
			switch {
			case c.code == "" && err != nil:
				t.Errorf("%s: %v", c.name, err)
			case c.code != "" && !isCode(err, c.code):
				t.Errorf("%s: got %v, want %s", c.name, err, c.code)
			}
		}
	})
}

func TestExemptionsAndSignoffs(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		sup := f.actor(testenv.Supervisor1)
		outlet := f.units["XS-01"].ID
		done := f.household("XS-01", testenv.Officer1)
		f.visit(done, testenv.Officer1, "visited", nov(3, 10))
		open1 := f.household("XS-01", testenv.Officer1)
		open2 := f.household("XS-01", testenv.Officer2)

		_, err := f.svc.SignOff(f.ctx, sup, coverage.SignoffRequest{OutletID: outlet, Month: "2026-11"})
		e, ok := apperr.As(err)
		if !ok || e.Code != "conflict" || e.Details["missing"] != 2 {
			t.Fatalf("incomplete month: %v", err)
		}

		// Exemptions need a reason; what looks like SQL is stored verbatim.
		if _, err := f.svc.Exempt(f.ctx, sup, coverage.ExemptionRequest{HouseholdID: open1.ID, Month: "2026-11", Reason: "  "}); !isCode(err, "invalid_request") {
			t.Fatalf("blank reason: %v", err)
		}
		if _, err := f.svc.Exempt(f.ctx, sup, coverage.ExemptionRequest{HouseholdID: open1.ID, Month: "2026-12", Reason: "x"}); !isCode(err, "invalid_request") {
			t.Fatalf("future month: %v", err)
		}
		sqlish := "户主住院'); DELETE FROM households; --"
		ex, err := f.svc.Exempt(f.ctx, sup, coverage.ExemptionRequest{HouseholdID: open1.ID, Month: "2026-11", Reason: sqlish})
		if err != nil || ex.Reason != sqlish {
			t.Fatalf("exempt: %+v %v", ex, err)
		}
		if _, err := f.svc.Exempt(f.ctx, sup, coverage.ExemptionRequest{HouseholdID: open1.ID, Month: "2026-11", Reason: "again"}); !isCode(err, "conflict") {
			t.Fatalf("second exemption: %v", err)
		}
		other := f.household("WX-01", testenv.Officer3)
		if _, err := f.svc.Exempt(f.ctx, sup, coverage.ExemptionRequest{HouseholdID: other.ID, Month: "2026-11", Reason: "x"}); !isCode(err, "not_found") {
			t.Fatalf("other county's household: %v", err)
		}
		if f.auditCount("coverage.exemption", open1.ID) != 1 {
			t.Fatal("exemption not audited")
		}

		// Still one household open.
		_, err = f.svc.SignOff(f.ctx, sup, coverage.SignoffRequest{OutletID: outlet, Month: "2026-11"})
		if e, ok := apperr.As(err); !ok || e.Code != "conflict" || e.Details["missing"] != 1 {
			t.Fatalf("one missing: %v", err)
		}
		f.visit(open2, testenv.Officer2, "refused", nov(12, 9))
		first, err := f.svc.SignOff(f.ctx, sup, coverage.SignoffRequest{OutletID: outlet, Month: "2026-11", Note: "十一月走访完成"})
		if err != nil {
			t.Fatalf("sign-off: %v", err)
		}
		fig := first.Figures
		if fig.Summary.Households != 3 || fig.Summary.Covered != 2 || fig.Summary.Exempted != 1 || len(fig.Households) != 3 || fig.Outlet.Code != "XS-01" {
			t.Fatalf("figures %+v", fig)
		}
		if first.SignedBy != f.users[testenv.Supervisor1].ID || first.SupersedesID != "" {
			t.Fatalf("sign-off %+v", first)
		}

		// A second sign-off must supersede the current one.
		if _, err := f.svc.SignOff(f.ctx, sup, coverage.SignoffRequest{OutletID: outlet, Month: "2026-11"}); !isCode(err, "conflict") {
			t.Fatalf("second sign-off without supersedes_id: %v", err)
		}
		second, err := f.svc.SignOff(f.ctx, sup, coverage.SignoffRequest{OutletID: outlet, Month: "2026-11", SupersedesID: first.ID, Note: "更正"})
		if err != nil {
			t.Fatalf("correction: %v", err)
		}
		if _, err := f.svc.SignOff(f.ctx, sup, coverage.SignoffRequest{OutletID: outlet, Month: "2026-11", SupersedesID: first.ID}); !isCode(err, "conflict") {
			t.Fatalf("superseding a superseded sign-off: %v", err)
		}
		list, err := f.svc.Signoffs(f.ctx, sup, coverage.SignoffsRequest{Month: "2026-11"})
		if err != nil || len(list) != 2 {
			t.Fatalf("list: %v %+v", err, list)
		}
		for _, s := range list {
			switch s.ID {
			case first.ID:
				if s.Current || s.SupersededBy != second.ID {
					t.Errorf("first %+v", s)
				}
			case second.ID:
				if !s.Current || s.SupersedesID != first.ID || s.Figures.Summary.Households != 3 {
					t.Errorf("second %+v", s)
				}
			}
		}
		// Other scopes do not see them; other outlets cannot be signed.
		if l, err := f.svc.Signoffs(f.ctx, f.actor(testenv.OtherBranchManager), coverage.SignoffsRequest{}); err != nil || len(l) != 0 {
			t.Fatalf("other branch sees %d sign-offs (%v)", len(l), err)
		}
		if _, err := f.svc.SignOff(f.ctx, sup, coverage.SignoffRequest{OutletID: f.units["WX-01"].ID, Month: "2026-11"}); !isCode(err, "not_found") {
			t.Fatalf("other county's outlet: %v", err)
		}
		if _, err := f.svc.SignOff(f.ctx, f.actor(testenv.Manager1), coverage.SignoffRequest{OutletID: f.units["XS"].ID, Month: "2026-11"}); !isCode(err, "invalid_request") {
			t.Fatalf("a county is not an outlet: %v", err)
		}
		if f.auditCount("coverage.signoff", first.ID) != 1 || f.auditCount("coverage.signoff", second.ID) != 1 {
			t.Fatal("sign-offs not audited")
		}

		// Immutable, in the database itself.
		for _, stmt := range []string{
			"UPDATE coverage_signoffs SET note = 'changed' WHERE id = ?",
			"DELETE FROM coverage_signoffs WHERE id = ?",
		} {
			err := db.Transact(f.ctx, func(tx *store.Tx) error { return tx.Exec(stmt, first.ID).Error })
			if err == nil {
				t.Fatalf("%s succeeded", stmt)
			}
		}
		var n int64
		db.Gorm(f.ctx).Model(&store.CoverageSignoff{}).Where("note = ?", "changed").Count(&n)
		if n != 0 {
			t.Fatal("a sign-off was changed")
		}
	})
}

func TestSignoffRaceOneWins(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		h := f.household("XS-01", testenv.Officer1)
		f.visit(h, testenv.Officer1, "visited", nov(3, 10))
		sup, mgr := f.actor(testenv.Supervisor1), f.actor(testenv.Manager1)
		errs := make(chan error, 2)
		for _, a := range []store.Actor{sup, mgr} {
			go func(a store.Actor) {
				_, err := f.svc.SignOff(f.ctx, a, coverage.SignoffRequest{OutletID: f.units["XS-01"].ID, Month: "2026-11"})
				errs <- err
			}(a)
		}
		var ok, conflicts int
		for range 2 {
			err := <-errs
			switch {
			case err == nil:
				ok++
			case isCode(err, "conflict"):
				conflicts++
			default:
				t.Errorf("unexpected: %v", err)
			}
		}
		if ok != 1 || conflicts != 1 {
			t.Fatalf("%d succeeded, %d conflicted; want exactly one each", ok, conflicts)
		}
		var n int64
		db.Gorm(f.ctx).Model(&store.CoverageSignoff{}).Count(&n)
		if n != 1 {
			t.Fatalf("%d sign-offs stored", n)
		}
	})
}
