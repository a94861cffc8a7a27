package coverage_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

func TestFlagsOnArrival(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		o1 := testenv.Officer1
		h1 := f.household("XS-01", o1)
		clean := f.visit(h1, o1, "visited", nov(3, 9))
		f.arrive(clean)
		if got := flagCodes(f.reload(clean).Flags); len(got) != 0 {
			t.Fatalf("clean visit flagged %v", got)
		}
		if f.auditCount("visit.flags", clean.ID) != 0 {
			t.Fatal("an unflagged visit was audited as flagged")
		}

		// A visit 60 km away twenty minutes later, without accuracy, on
		// someone else's phone, two minutes long.
		h2 := f.household("XS-01", o1, func(h *store.Household) { h.Lat, h.Lng = ptr(28.99), ptr(108.99) })
		bad := f.visit(h2, o1, "visited", nov(3, 9).Add(20*time.Minute), func(v *store.Visit) {
			v.Lat, v.Lng = ptr(28.99), ptr(109.00) // ~1 km from its household, 60 km from the previous visit
			v.AccuracyM = ptr(350.0)
			e := v.StartedAt.Add(2 * time.Minute)
			v.EndedAt = &e
			d := f.device(testenv.Officer2)
			v.DeviceID = &d
		})
		f.arrive(bad)
		want := []string{coverage.FlagGPSLowAccuracy, coverage.FlagImpossibleTravel, coverage.FlagTooFar, coverage.FlagTooShort, coverage.FlagUnregisteredDevice}
		if got := flagCodes(f.reload(bad).Flags); !reflect.DeepEqual(got, want) {
			t.Fatalf("flags %v, want %v", got, want)
		}
		var rows []store.VisitFlag
		db.Gorm(f.ctx).Where("visit_id = ?", bad.ID).Order("code").Find(&rows)
		if len(rows) != len(want) || rows[1].Code != coverage.FlagImpossibleTravel {
			t.Fatalf("visit_flags rows %+v", rows)
		}
		if f.auditCount("visit.flags", bad.ID) != 1 {
			t.Fatal("flags not audited")
		}
		// Recomputing without a change writes nothing new.
		f.arrive(bad)
		if f.auditCount("visit.flags", bad.ID) != 1 {
			t.Fatal("an unchanged recomputation was audited again")
		}

		// Order independence: a later visit arrives first, then an earlier
		// one the same day; the later one becomes the duplicate.
		h3 := f.household("XS-01", testenv.Officer2)
		late := f.visit(h3, testenv.Officer2, "visited", nov(5, 15))
		f.arrive(late)
		if got := flagCodes(f.reload(late).Flags); len(got) != 0 {
			t.Fatalf("late visit alone: %v", got)
		}
		early := f.visit(h3, testenv.Officer2, "refused", nov(5, 9))
		f.arrive(early)
		if got := flagCodes(f.reload(early).Flags); len(got) != 0 {
			t.Fatalf("early visit flagged %v", got)
		}
		if got := flagCodes(f.reload(late).Flags); !reflect.DeepEqual(got, []string{coverage.FlagDuplicateSameDay}) {
			t.Fatalf("late visit after the early one arrived: %v", got)
		}
		// An absence earlier the same day is not a duplicate.
		h4 := f.household("XS-01", testenv.Officer2)
		f.arrive(f.visit(h4, testenv.Officer2, "absent", nov(6, 9)))
		again := f.visit(h4, testenv.Officer2, "visited", nov(6, 17))
		f.arrive(again)
		if got := flagCodes(f.reload(again).Flags); len(got) != 0 {
			t.Fatalf("return after an absence flagged %v", got)
		}

		// Deleting the earlier visit clears the duplicate of the later one.
		d := nov(7, 0)
		f.tx(func(tx *store.Tx) error {
			return tx.Model(&store.Visit{}).Where("id = ?", early.ID).Update("deleted_at", d).Error
		})
		f.arrive(early)
		if got := flagCodes(f.reload(late).Flags); len(got) != 0 {
			t.Fatalf("after the earlier visit was deleted: %v", got)
		}

		// Outside the assignment window, with evidence.
		h5 := f.household("XS-01", o1)
		before := f.visit(h5, o1, "visited", time.Date(2026, 9, 20, 2, 0, 0, 0, time.UTC))
		f.arrive(before)
		fl := coverage.DecodeFlags(f.reload(before).Flags)
		if len(fl) != 1 || fl[0].Code != coverage.FlagOutsideAssignment || fl[0].Evidence["reason"] != "before_assignment" {
			t.Fatalf("visit before the assignment: %+v", fl)
		}
	})
}

func TestReviewLoop(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		sup := f.actor(testenv.Supervisor1)
		o1 := testenv.Officer1
		h := f.household("XS-01", o1, func(h *store.Household) { h.Lat, h.Lng = nil, nil })
		v := f.visit(h, o1, "visited", nov(3, 9), func(v *store.Visit) { v.Lat, v.Lng = ptr(28.5), ptr(109.1) })
		f.arrive(v)
		other := f.household("WX-01", testenv.Officer3)
		ov := f.visit(other, testenv.Officer3, "visited", nov(3, 9))

		// Another county's visit is out of reach.
		if _, err := f.svc.MarkIssues(f.ctx, sup, ov.ID, coverage.IssuesRequest{Kind: "correct", Reason: "x"}); !isCode(err, "not_found") {
			t.Fatalf("other county: %v", err)
		}
		if _, err := f.svc.Confirm(f.ctx, sup, ov.ID, coverage.ConfirmRequest{}); !isCode(err, "not_found") {
			t.Fatalf("other county confirm: %v", err)
		}
		if _, err := f.svc.MarkIssues(f.ctx, sup, v.ID, coverage.IssuesRequest{Kind: "delete", Reason: "x"}); !isCode(err, "invalid_request") {
			t.Fatalf("bad kind: %v", err)
		}
		if _, err := f.svc.MarkIssues(f.ctx, sup, v.ID, coverage.IssuesRequest{Kind: "correct"}); !isCode(err, "invalid_request") {
			t.Fatalf("missing reason: %v", err)
		}

		var seqBefore int64
		db.Gorm(f.ctx).Raw("SELECT COALESCE(MAX(seq), 0) FROM changes WHERE branch_id = ?", v.BranchID).Scan(&seqBefore)
		res, err := f.svc.MarkIssues(f.ctx, sup, v.ID, coverage.IssuesRequest{Kind: "correct", Reason: "情况描述不完整"})
		if err != nil {
			t.Fatalf("has issues: %v", err)
		}
		if res.Visit.Status != "has_issues" || res.Visit.ReviewNote != "情况描述不完整" || res.Task == nil || res.Task.Kind != "correct" || res.Task.OfficerID != f.users[o1].ID {
			t.Fatalf("result %+v", res)
		}
		if res.Visit.Version != 2 {
			t.Fatalf("visit version %d, want 2", res.Visit.Version)
		}
		var chg []store.ChangeRow
		db.Gorm(f.ctx).Where("branch_id = ? AND seq > ?", v.BranchID, seqBefore).Order("seq, ord").Find(&chg)
		if len(chg) != 2 || chg[0].Entity != "visit" || chg[1].Entity != "task" || chg[1].AudienceUserID == nil || *chg[1].AudienceUserID != f.users[o1].ID {
			t.Fatalf("changes %+v", chg)
		}
		if _, err := f.svc.MarkIssues(f.ctx, sup, v.ID, coverage.IssuesRequest{Kind: "revisit", Reason: "again"}); !isCode(err, "conflict") {
			t.Fatalf("second task: %v", err)
		}
		l, _ := f.svc.Ledger(f.ctx, sup, coverage.LedgerRequest{Month: "2026-11"})
		if rowOf(t, l, h.ID).Outcome != coverage.OutcomeMissing {
			t.Fatal("a visit with issues still counts")
		}
		page, err := f.svc.Review(f.ctx, sup, coverage.ReviewRequest{Status: "has_issues"})
		if err != nil || len(page.Visits) != 1 || page.Visits[0].OpenTaskKind != "correct" {
			t.Fatalf("has_issues queue: %v %+v", err, page)
		}

		// The officer's correction arrives through the sync engine's hook.
		f.tx(func(tx *store.Tx) error {
			return tx.Model(&store.Visit{}).Where("id = ?", v.ID).Updates(map[string]any{"situation": "家中养猪 3 头，需要购买饲料", "version": 3}).Error
		})
		f.arrive(v)
		if got := f.reload(v); got.Status != "recorded" {
			t.Fatalf("after the correction the visit is %s", got.Status)
		}
		page, err = f.svc.Review(f.ctx, sup, coverage.ReviewRequest{Status: "corrected"})
		if err != nil || len(page.Visits) != 1 || page.Visits[0].ID != v.ID {
			t.Fatalf("corrected queue: %v %+v", err, page)
		}

		// Another visit of the household, 11 km off: nothing to compare with yet.
		far := f.visit(h, o1, "absent", nov(8, 9), func(v *store.Visit) { v.Lat, v.Lng = ptr(28.6), ptr(109.1) })
		f.arrive(far)
		if got := flagCodes(f.reload(far).Flags); len(got) != 0 {
			t.Fatalf("before the household has a location: %v", got)
		}

		// Confirmation closes the task and gives the household its location.
		conf, err := f.svc.Confirm(f.ctx, sup, v.ID, coverage.ConfirmRequest{Note: "电话核实无误"})
		if err != nil {
			t.Fatalf("confirm: %v", err)
		}
		if conf.Visit.Status != "confirmed" || len(conf.ClosedTasks) != 1 || conf.ClosedTasks[0].Status != "done" || !conf.LocationSet {
			t.Fatalf("confirm result %+v", conf)
		}
		var hh store.Household
		db.Gorm(f.ctx).Where("id = ?", h.ID).Take(&hh)
		if hh.Lat == nil || *hh.Lat != 28.5 || hh.LocationSource != "visit" || hh.Version != 2 {
			t.Fatalf("household location %+v", hh)
		}
		if got := flagCodes(f.reload(far).Flags); len(got) != 1 || got[0] != coverage.FlagTooFar {
			t.Fatalf("the household's other visit, once it has a location: %v", got)
		}
		var task store.Task
		db.Gorm(f.ctx).Where("id = ?", res.Task.ID).Take(&task)
		if task.Status != "done" || task.Version != 2 {
			t.Fatalf("task %+v", task)
		}
		l, _ = f.svc.Ledger(f.ctx, sup, coverage.LedgerRequest{Month: "2026-11"})
		if rowOf(t, l, h.ID).Outcome != coverage.OutcomeVisited {
			t.Fatal("the confirmed visit does not count")
		}
		again, err := f.svc.Confirm(f.ctx, sup, v.ID, coverage.ConfirmRequest{})
		if err != nil || !again.AlreadyConfirmed {
			t.Fatalf("confirming twice: %+v %v", again, err)
		}
		if f.auditCount("visit.confirm", v.ID) != 1 || f.auditCount("visit.has_issues", v.ID) != 1 || f.auditCount("task.done", res.Task.ID) != 1 {
			t.Fatal("review actions not audited once each")
		}

		// A revisit task is answered by a new visit to the household.
		h2 := f.household("XS-01", testenv.Officer2)
		v2 := f.visit(h2, testenv.Officer2, "absent", nov(4, 9))
		rv, err := f.svc.MarkIssues(f.ctx, sup, v2.ID, coverage.IssuesRequest{Kind: "revisit", Reason: "请再次上门"})
		if err != nil {
			t.Fatalf("revisit: %v", err)
		}
		v3 := f.visit(h2, testenv.Officer2, "visited", nov(6, 9))
		f.arrive(v3)
		page, _ = f.svc.Review(f.ctx, sup, coverage.ReviewRequest{Status: "corrected"})
		if len(page.Visits) != 1 || page.Visits[0].ID != v3.ID || page.Visits[0].OpenTaskID != rv.Task.ID {
			t.Fatalf("revisit answer not in the corrected queue: %+v", page.Visits)
		}
		c3, err := f.svc.Confirm(f.ctx, sup, v3.ID, coverage.ConfirmRequest{})
		if err != nil || len(c3.ClosedTasks) != 1 || c3.ClosedTasks[0].ID != rv.Task.ID {
			t.Fatalf("confirming the revisit: %+v %v", c3, err)
		}
	})
}

func TestReviewQueue(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		h := f.household("XS-01", testenv.Officer1)
		flagged := f.visit(h, testenv.Officer1, "visited", nov(3, 9), func(v *store.Visit) { v.Lat, v.Lng = nil, nil })
		clean := f.visit(h, testenv.Officer1, "absent", nov(2, 9))
		f.arrive(flagged, clean)
		oh := f.household("WX-01", testenv.Officer3)
		f.arrive(f.visit(oh, testenv.Officer3, "visited", nov(3, 9), func(v *store.Visit) { v.Lat, v.Lng = nil, nil }))

		sup := f.actor(testenv.Supervisor1)
		page, err := f.svc.Review(f.ctx, sup, coverage.ReviewRequest{})
		if err != nil || page.Status != "flagged" || len(page.Visits) != 1 || page.Visits[0].ID != flagged.ID {
			t.Fatalf("flagged queue: %v %+v", err, page)
		}
		if fl := page.Visits[0].Flags; len(fl) != 1 || fl[0].Code != coverage.FlagGPSMissing {
			t.Fatalf("flags in the queue %+v", fl)
		}
		all, err := f.svc.Review(f.ctx, sup, coverage.ReviewRequest{Status: "all", Limit: "1"})
		if err != nil || len(all.Visits) != 1 || !all.HasMore || all.Visits[0].ID != flagged.ID {
			t.Fatalf("first page: %v %+v", err, all)
		}
		next, err := f.svc.Review(f.ctx, sup, coverage.ReviewRequest{Status: "all", Limit: "1", Offset: "1"})
		if err != nil || len(next.Visits) != 1 || next.HasMore || next.Visits[0].ID != clean.ID {
			t.Fatalf("second page: %v %+v", err, next)
		}
		mgr, err := f.svc.Review(f.ctx, f.actor(testenv.Manager1), coverage.ReviewRequest{OrgID: f.units["CQ"].ID})
		if err != nil || len(mgr.Visits) != 2 {
			t.Fatalf("manager sees %d flagged visits (%v), want 2", len(mgr.Visits), err)
		}
		for _, bad := range []coverage.ReviewRequest{{Status: "pending"}, {Limit: "0"}, {Limit: "501"}, {Limit: "ten"}, {Offset: "-1"}, {Month: "2026-1"}} {
			if _, err := f.svc.Review(f.ctx, sup, bad); !isCode(err, "invalid_request") {
				t.Errorf("%+v: %v", bad, err)
			}
		}
	})
}

func TestSpotChecksAreReproducible(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		sup := f.actor(testenv.Supervisor1)
		for i := 0; i < 12; i++ {
			h := f.household("XS-01", testenv.Officer1)
			f.visit(h, testenv.Officer1, "visited", nov(1+i, 10))
		}
		h := f.household("XS-01", testenv.Officer2)
		f.visit(h, testenv.Officer2, "visited", nov(2, 10))
		f.visit(f.household("XS-01", testenv.Officer1), testenv.Officer1, "visited", time.Date(2026, 10, 10, 2, 0, 0, 0, time.UTC))

		a, err := f.svc.SpotChecks(f.ctx, sup, coverage.SpotCheckRequest{Month: "2026-11"})
		if err != nil {
			t.Fatalf("spot checks: %v", err)
		}
		if a.Size != 5 || len(a.Officers) != 2 {
			t.Fatalf("spot checks %+v", a)
		}
		for _, o := range a.Officers {
			want := 5
			if o.OfficerID == f.users[testenv.Officer2].ID {
				want = 1
			} else if o.Population != 12 {
				t.Fatalf("officer1 population %d, want 12 (October excluded)", o.Population)
			}
			if len(o.Visits) != want {
				t.Fatalf("officer %s: %d visits sampled, want %d", o.OfficerName, len(o.Visits), want)
			}
		}
		b, err := f.svc.SpotChecks(f.ctx, f.actor(testenv.Manager1), coverage.SpotCheckRequest{Month: "2026-11", OfficerID: f.users[testenv.Officer1].ID})
		if err != nil || len(b.Officers) != 1 {
			t.Fatalf("officer1 alone: %v %+v", err, b)
		}
		if !reflect.DeepEqual(ids(a.Officers[0].Visits), ids(b.Officers[0].Visits)) && !reflect.DeepEqual(ids(a.Officers[1].Visits), ids(b.Officers[0].Visits)) {
			t.Fatal("the same month and officer gave another sample")
		}
		c, _ := f.svc.SpotChecks(f.ctx, sup, coverage.SpotCheckRequest{Month: "2026-11", OfficerID: f.users[testenv.Officer1].ID, Size: "3"})
		if len(c.Officers[0].Visits) != 3 {
			t.Fatalf("size 3 gave %d", len(c.Officers[0].Visits))
		}
		if _, err := f.svc.SpotChecks(f.ctx, sup, coverage.SpotCheckRequest{Size: "51"}); !isCode(err, "invalid_request") {
			t.Fatalf("size 51: %v", err)
		}
		if _, err := f.svc.SpotChecks(f.ctx, sup, coverage.SpotCheckRequest{OfficerID: f.users[testenv.Officer3].ID}); !isCode(err, "not_found") {
			t.Fatalf("other county's officer: %v", err)
		}
		var set store.CoverageSettings
		db.Gorm(f.ctx).Where("branch_id = ?", f.units["CQ"].ID).Take(&set)
		if len(set.SpotCheckSeed) != 32 {
			t.Fatalf("seed %q", set.SpotCheckSeed)
		}
	})
}

func ids(vs []coverage.ReviewItem) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

func TestDeviceHealth(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		dev := f.device(testenv.Officer1)
		synced := nov(19, 18)
		f.tx(func(tx *store.Tx) error {
			return tx.Model(&store.Device{}).Where("id = ?", dev).Updates(map[string]any{
				"last_sync_at": synced, "pending_changes": 7, "clock_offset_ms": -900_000, "app_version": "1.4.2",
			}).Error
		})
		f.device(testenv.Officer3)
		h, err := f.svc.DeviceHealth(f.ctx, f.actor(testenv.Supervisor1), "", "")
		if err != nil {
			t.Fatalf("device health: %v", err)
		}
		if len(h.Officers) != 2 {
			t.Fatalf("officers %+v", h.Officers)
		}
		for _, o := range h.Officers {
			switch o.Username {
			case testenv.Officer1:
				if len(o.Devices) != 1 || o.PendingChanges != 7 || o.NeverSynced || o.LastSyncAt == nil || !o.LastSyncAt.Equal(synced) {
					t.Fatalf("officer1 %+v", o)
				}
				d := o.Devices[0]
				if d.AppVersion != "1.4.2" || d.ClockOffsetMS != -900_000 || !d.ClockOff {
					t.Fatalf("device %+v", d)
				}
			case testenv.Officer2:
				if !o.NeverSynced || len(o.Devices) != 0 {
					t.Fatalf("officer2 %+v", o)
				}
			default:
				t.Fatalf("unexpected officer %s", o.Username)
			}
		}
		if _, err := f.svc.DeviceHealth(f.ctx, f.actor(testenv.Supervisor1), f.units["WX-01"].ID, ""); !isCode(err, "not_found") {
			t.Fatalf("other county: %v", err)
		}
	})
}

// Two pushes of one officer, each touching a visit whose neighbour they
// both recompute, must not collide on the flags' key.
func TestConcurrentFlaggingOfANeighbour(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		h := f.household("XS-01", testenv.Officer1)
		far := func(v *store.Visit) { v.Lat, v.Lng = ptr(29.5), ptr(109.9) }
		a := f.visit(h, testenv.Officer1, "visited", nov(5, 9), far)
		b := f.visit(h, testenv.Officer1, "visited", nov(5, 10), far)
		shared := f.visit(h, testenv.Officer1, "visited", nov(5, 11)) // after both: its previous visit changes with each
		for round := 0; round < 10; round++ {
			errs := make(chan error, 2)
			for _, v := range []store.Visit{f.reload(a), f.reload(b)} {
				go func(v store.Visit) {
					errs <- db.Transact(f.ctx, func(tx *store.Tx) error {
						return f.svc.VisitsApplied(tx, v.BranchID, []store.Visit{v}, nil)
					})
				}(v)
			}
			for range 2 {
				if err := <-errs; err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
		}
		want := []string{coverage.FlagDuplicateSameDay, coverage.FlagImpossibleTravel}
		if got := flagCodes(f.reload(shared).Flags); !reflect.DeepEqual(got, want) {
			t.Fatalf("shared neighbour flags %v, want %v", got, want)
		}
		var n int64
		db.Gorm(f.ctx).Model(&store.VisitFlag{}).Where("visit_id = ?", shared.ID).Count(&n)
		if n != 2 {
			t.Fatalf("%d flag rows for the neighbour", n)
		}
	})
}

// TestServiceRefusesNonReviewers calls the certifying methods directly, past
// any route guard: the admin and an officer are refused, nothing is written,
// and the supervisor of the same outlet succeeds with the same arguments.
func TestServiceRefusesNonReviewers(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		h := f.household("XS-01", testenv.Officer1)
		v := f.visit(h, testenv.Officer1, "visited", nov(5, 9))
		calls := map[string]func(a store.Actor) error{
			"exempt": func(a store.Actor) error {
				_, err := f.svc.Exempt(f.ctx, a, coverage.ExemptionRequest{HouseholdID: h.ID, Month: "2026-11", Reason: "外出务工，全家不在"})
				return err
			},
			"confirm": func(a store.Actor) error {
				_, err := f.svc.Confirm(f.ctx, a, v.ID, coverage.ConfirmRequest{})
				return err
			},
			"issues": func(a store.Actor) error {
				_, err := f.svc.MarkIssues(f.ctx, a, v.ID, coverage.IssuesRequest{Kind: "revisit", Reason: "照片不清楚"})
				return err
			},
			"signoff": func(a store.Actor) error {
				_, err := f.svc.SignOff(f.ctx, a, coverage.SignoffRequest{OutletID: f.units["XS-01"].ID, Month: "2026-11"})
				return err
			},
		}
		var audits int64
		db.Gorm(f.ctx).Model(&store.AuditEntry{}).Count(&audits)
		for name, call := range calls {
			for _, who := range []string{testenv.Admin, testenv.Officer1} {
				if err := call(f.actor(who)); !isCode(err, "forbidden") {
					t.Errorf("%s by %s: %v, want forbidden", name, who, err)
				}
			}
		}
		var after int64
		db.Gorm(f.ctx).Model(&store.AuditEntry{}).Count(&after)
		if after != audits {
			t.Fatalf("refused calls wrote %d audit entries", after-audits)
		}
		if got := f.reload(v); got.Status != "recorded" {
			t.Fatalf("refused calls changed the visit: %s", got.Status)
		}
		if err := calls["confirm"](f.actor(testenv.Supervisor1)); err != nil {
			t.Fatalf("the outlet's supervisor could not confirm: %v", err)
		}
	})
}
