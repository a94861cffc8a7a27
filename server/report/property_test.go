package report_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Each check builds a database, so the default of 100 checks is cut to a
// dozen unless -rapid.checks or RAPID_CHECKS says otherwise.
func limitRapidChecks(n int) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if !set && os.Getenv("RAPID_CHECKS") == "" {
		flag.Set("rapid.checks", fmt.Sprint(n))
	}
}

// TestIncrementalEqualsRebuild drives random histories — households listed,
// assigned, reassigned and removed; visits created, edited, moved between
// months and households, confirmed, flagged and deleted; needs; loan
// applications through their states; months closed; the clock crossing
// months — with the worker catching up at random moments, and checks that
// the tables it keeps are exactly what a full rebuild computes, and that a
// closed version never changes.
func TestIncrementalEqualsRebuild(t *testing.T) {
	limitRapidChecks(12)
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			if dialect == "postgres" {
				// dbtest holds an admin connection per database until the
				// test ends: stay well under max_connections.
				f := flag.Lookup("rapid.checks")
				if n, _ := strconv.Atoi(f.Value.String()); n > 40 {
					f.Value.Set("40")
					defer f.Value.Set(strconv.Itoa(n))
				}
			}
			rapid.Check(t, func(rt *rapid.T) {
				var db *store.DB
				if dialect == "sqlite" {
					db = dbtest.NewSQLite(t)
				} else {
					var err error
					db, err = store.Open(context.Background(), store.Config{URL: dbtest.NewPostgresURL(t), MaxOpenConns: 4})
					if err != nil {
						t.Fatal(err)
					}
				}
				// Each check has its own database; close its pool when the
				// check ends, not when the whole test does.
				defer db.Close()
				runHistory(t, rt, db)
			})
		})
	}
}

type world struct {
	f          *fixture
	households []string
	visits     []string
	needs      []string
	loans      map[string]string // id → status
	frozen     map[string][]store.ReportVersionRow
}

var outlets = []struct{ outlet, county string }{{"XS-01", "XS"}, {"XS-02", "XS"}, {"WX-01", "WX"}}
var officersOf = map[string][]string{"XS-01": {"officer1", "officer2", ""}, "XS-02": {""}, "WX-01": {"officer3", ""}}
var outcomes = []string{syncproto.OutcomeVisited, syncproto.OutcomeVisited, syncproto.OutcomeAbsent, syncproto.OutcomeRefused, syncproto.OutcomeMoved}

func runHistory(t *testing.T, rt *rapid.T, db *store.DB) {
	start := at(2026, 8, 3, 9, 0)
	f := newFixture(t, db, start, func(o *report.Options) {
		o.RestateAfter = -1
		o.BatchChanges = rapid.IntRange(1, 50).Draw(rt, "batch")
		o.WholeMonthAt = rapid.IntRange(1, 8).Draw(rt, "wholemonth")
	})
	f.t = rt
	w := &world{f: f, loans: map[string]string{}, frozen: map[string][]store.ReportVersionRow{}}
	end := at(2027, 1, 20, 0, 0)
	ctx := context.Background()

	pickHousehold := func(label string) (string, bool) {
		if len(w.households) == 0 {
			return "", false
		}
		return rapid.SampledFrom(w.households).Draw(rt, label), true
	}
	randomTime := func(label string) time.Time {
		back := rapid.IntRange(-2*24, 80*24).Draw(rt, label)
		return f.clock().Add(-time.Duration(back) * time.Hour).Add(time.Duration(rapid.IntRange(0, 59).Draw(rt, label+"m")) * time.Minute)
	}
	due := func() string {
		if rapid.IntRange(0, 3).Draw(rt, "nodue") == 0 {
			return ""
		}
		return f.clock().In(shanghai).AddDate(0, 0, rapid.IntRange(-5, 40).Draw(rt, "due")).Format(time.DateOnly)
	}

	steps := rapid.IntRange(10, 70).Draw(rt, "steps")
	for i := 0; i < steps; i++ {
		switch rapid.IntRange(0, 14).Draw(rt, "op") {
		case 0: // a new household on the list
			w.households = append(w.households, f.household(rapid.SampledFrom([]string{"XS", "WX"}).Draw(rt, "county")))
		case 1, 2: // assigned or reassigned, or the deadline moved
			if h, ok := pickHousehold("assign"); ok && rapid.IntRange(0, 3).Draw(rt, "movedue") == 0 {
				f.setDue(h, due())
			} else if ok {
				o := rapid.SampledFrom(outlets).Draw(rt, "outlet")
				f.assign(h, o.outlet, rapid.SampledFrom(officersOf[o.outlet]).Draw(rt, "officer"), due())
			}
		case 3: // taken off the list
			if h, ok := pickHousehold("remove"); ok && rapid.IntRange(0, 2).Draw(rt, "reallyremove") == 0 {
				f.removeHousehold(h)
			}
		case 4, 5, 6: // a visit
			if h, ok := pickHousehold("visit"); ok {
				o := rapid.SampledFrom(outlets).Draw(rt, "vout")
				officer := rapid.SampledFrom([]string{"officer1", "officer2", "officer3"}).Draw(rt, "vofficer")
				var opts []visitOpt
				if rapid.IntRange(0, 4).Draw(rt, "flag") == 0 {
					opts = append(opts, flagged)
				}
				w.visits = append(w.visits, f.visit(h, officer, o.outlet, randomTime("vat"), rapid.SampledFrom(outcomes).Draw(rt, "outcome"), opts...))
			}
		case 7: // a visit edited: its time (perhaps into another month), outcome, review, household, or deleted
			if len(w.visits) == 0 {
				continue
			}
			v := rapid.SampledFrom(w.visits).Draw(rt, "editvisit")
			fields := map[string]any{}
			switch rapid.IntRange(0, 5).Draw(rt, "vedit") {
			case 0:
				t := randomTime("newat").UTC()
				fields["visited_at"], fields["started_at"] = t, t
			case 1:
				fields["outcome"] = rapid.SampledFrom(outcomes).Draw(rt, "newoutcome")
			case 2:
				fields["status"] = rapid.SampledFrom([]string{syncproto.VisitConfirmed, syncproto.VisitHasIssues, syncproto.VisitRecorded}).Draw(rt, "status")
			case 3:
				if h, ok := pickHousehold("movevisit"); ok {
					fields["household_id"] = h
				}
			case 4:
				fields["deleted_at"] = f.clock()
			case 5:
				fields["flags"] = rapid.SampledFrom([]string{"[]", `["too_short"]`}).Draw(rt, "flags")
			}
			if len(fields) > 0 {
				f.updateVisit(v, fields)
			}
		case 8: // a financing need, perhaps linked to a visit
			if h, ok := pickHousehold("need"); ok {
				link := ""
				if len(w.visits) > 0 && rapid.Bool().Draw(rt, "link") {
					link = rapid.SampledFrom(w.visits).Draw(rt, "needvisit")
				}
				w.needs = append(w.needs, f.need(h, "officer1", link, int64(rapid.IntRange(1, 500).Draw(rt, "amount"))*10_000))
			}
		case 9: // a need edited or deleted
			if len(w.needs) == 0 {
				continue
			}
			n := rapid.SampledFrom(w.needs).Draw(rt, "editneed")
			switch rapid.IntRange(0, 2).Draw(rt, "nedit") {
			case 0:
				f.updateNeed(n, map[string]any{"amount_fen": int64(rapid.IntRange(1, 500).Draw(rt, "namount")) * 10_000})
			case 1:
				f.updateNeed(n, map[string]any{"deleted_at": f.clock()})
			case 2:
				if len(w.visits) > 0 {
					f.updateNeed(n, map[string]any{"visit_id": rapid.SampledFrom(w.visits).Draw(rt, "relink")})
				}
			}
		case 10: // a loan application moves through its states
			if len(w.loans) == 0 || rapid.IntRange(0, 2).Draw(rt, "newloan") == 0 {
				if h, ok := pickHousehold("loan"); ok {
					w.loans[f.loan(h, "officer1", int64(rapid.IntRange(1, 50).Draw(rt, "lamount"))*100_000)] = syncproto.LoanDraft
				}
				continue
			}
			ids := sortedKeys(w.loans)
			id := rapid.SampledFrom(ids).Draw(rt, "loanid")
			next := map[string][]string{
				syncproto.LoanDraft:     {syncproto.LoanSubmitted},
				syncproto.LoanSubmitted: {syncproto.LoanApproved, syncproto.LoanRejected, syncproto.LoanWithdrawn},
				syncproto.LoanApproved:  {syncproto.LoanDisbursed},
			}[w.loans[id]]
			if len(next) == 0 {
				continue
			}
			st := rapid.SampledFrom(next).Draw(rt, "loanstate")
			f.loanTo(id, st)
			w.loans[id] = st
		case 11: // time passes, perhaps into another month
			nt := f.clock().Add(time.Duration(rapid.IntRange(1, 20*24).Draw(rt, "hours")) * time.Hour)
			if nt.After(end) {
				nt = end
			}
			f.set(nt)
		case 12, 13: // the worker catches up
			f.catchUp()
		case 14: // a month is closed, or the schedule ticks
			if rapid.Bool().Draw(rt, "tick") {
				if err := f.svc.Tick(ctx); err != nil {
					rt.Fatal(err)
				}
			} else {
				months := monthsBefore(start, f.clock())
				if len(months) > 0 {
					m := rapid.SampledFrom(months).Draw(rt, "closemonth")
					if _, err := f.svc.CloseAsOperator(ctx, m, "CQ"); err == nil {
						_, rows, err := db.ReportVersionRows(ctx, f.branch.ID, m, 1)
						if err != nil {
							rt.Fatal(err)
						}
						w.frozen[m] = rows
					}
				}
			}
		}
	}
	f.catchUp()
	if err := f.svc.Tick(ctx); err != nil {
		rt.Fatal(err)
	}
	cur := store.ReportMonthOf(f.clock(), shanghai)
	for m := "2026-07"; m <= cur; m = nextMonth(m) {
		before := f.rows(m)
		opened, err := db.ReportMonthOpened(ctx, f.branch.ID, m)
		if err != nil {
			rt.Fatal(err)
		}
		if err := f.svc.Rebuild(ctx, m, "CQ"); err != nil {
			rt.Fatal(err)
		}
		after := f.rows(m)
		if !opened {
			// The worker never had a reason to open this month: it must hold
			// no data at all.
			for k, v := range after {
				if v != (store.ReportFigures{}) {
					rt.Fatalf("month %s was never opened but a rebuild finds data: %+v %+v", m, k, v)
				}
			}
			continue
		}
		if d := rowDiff(before, after); d != "" {
			rt.Fatalf("month %s: incremental tables differ from the rebuild:\n%s", m, d)
		}
	}
	for m, rows := range w.frozen {
		_, now, err := db.ReportVersionRows(ctx, f.branch.ID, m, 1)
		if err != nil {
			rt.Fatal(err)
		}
		if !reflect.DeepEqual(rows, now) {
			rt.Fatalf("version 1 of %s changed after it was closed", m)
		}
	}
}

func monthsBefore(start, now time.Time) []string {
	var out []string
	cur := store.ReportMonthOf(now, shanghai)
	for m := store.ReportMonthOf(start, shanghai); m < cur; m = nextMonth(m) {
		out = append(out, m)
	}
	return out
}

func nextMonth(m string) string {
	t, _ := time.Parse("2006-01", m)
	return t.AddDate(0, 1, 0).Format("2006-01")
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// rowDiff lists the rows where the incremental tables and a rebuild differ.
func rowDiff(incremental, rebuilt map[store.ReportKey]store.ReportFigures) string {
	var b strings.Builder
	for k, v := range rebuilt {
		if w, ok := incremental[k]; !ok || w != v {
			fmt.Fprintf(&b, "%+v:\n  incremental %+v (present %v)\n  rebuild     %+v\n", k, w, ok, v)
		}
	}
	for k, v := range incremental {
		if _, ok := rebuilt[k]; !ok {
			fmt.Fprintf(&b, "%+v: incremental %+v, rebuild has no row\n", k, v)
		}
	}
	return b.String()
}
