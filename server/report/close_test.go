package report_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/syncproto"
)

func versionRows(t *testing.T, f *fixture, month string, v int) map[store.ReportKey]store.ReportFigures {
	t.Helper()
	_, rows, err := f.db.ReportVersionRows(context.Background(), f.branch.ID, month, v)
	if err != nil {
		t.Fatal(err)
	}
	out := map[store.ReportKey]store.ReportFigures{}
	for _, r := range rows {
		out[r.ReportKey] = r.ReportFigures
	}
	return out
}

func TestCloseFreezesVersionAndLateDataRestates(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db, at(2026, 10, 1, 8, 0))
		hs := buildHistory(f) // the clock is now 3 November
		manager := f.actor("manager1")

		current := f.rows("2026-10")
		vi, err := f.svc.Close(ctx, manager, "2026-10", "CQ")
		if err != nil {
			t.Fatal(err)
		}
		if vi.Version != 1 || vi.Kind != store.VersionClose || vi.CreatedBy != "manager1" || len(vi.Files) != 4 {
			t.Fatalf("close: %+v", vi)
		}
		v1 := versionRows(t, f, "2026-10", 1)
		if d := rowDiff(current, v1); d != "" {
			t.Fatalf("version 1 differs from the figures at close:\n%s", d)
		}
		if _, err := f.svc.Close(ctx, manager, "2026-10", "CQ"); !isCode(err, syncproto.CodeConflict) {
			t.Fatalf("second close: %v, want conflict", err)
		}
		if _, err := f.svc.Close(ctx, manager, "2026-11", "CQ"); !isCode(err, syncproto.CodeInvalidRequest) {
			t.Fatalf("close of the current month: %v, want invalid_request", err)
		}

		// A closed version never changes, whatever SQL tries.
		for _, q := range []string{
			`UPDATE report_version_rows SET households_in_list = 99`,
			`DELETE FROM report_version_rows`,
			`UPDATE report_versions SET kind = 'restatement'`,
			`DELETE FROM report_versions`,
			`UPDATE report_files SET content = NULL`,
			`DELETE FROM report_files`,
		} {
			if err := db.Gorm(ctx).Exec(q).Error; err == nil {
				t.Errorf("%s succeeded on a closed version", q)
			}
		}

		// Four days into November an officer's phone finally syncs a visit
		// made on 25 October: accepted, marked late, waiting for a restatement.
		f.set(at(2026, 11, 4, 10, 0))
		v7 := f.visit(hs.h[2], "officer1", "XS-01", at(2026, 10, 25, 10, 0), syncproto.OutcomeVisited)
		f.visit(hs.h[2], "officer1", "XS-01", at(2026, 11, 4, 9, 0), syncproto.OutcomeVisited) // November: not late
		f.catchUp()
		var after struct{ AfterClose bool }
		db.Gorm(ctx).Raw(`SELECT after_close FROM visits WHERE id = ?`, v7).Scan(&after)
		if !after.AfterClose {
			t.Fatal("late visit not marked after_close")
		}
		var onTime int64
		db.Gorm(ctx).Raw(`SELECT COUNT(*) FROM visits WHERE after_close = ?`, true).Scan(&onTime)
		if onTime != 1 {
			t.Fatalf("%d visits marked after_close, want only the late one", onTime)
		}
		pending, err := db.ReportLateRecords(ctx, f.branch.ID, "2026-10", 0)
		if err != nil || len(pending) != 1 || pending[0].EntityID != v7 {
			t.Fatalf("pending late records %+v, %v", pending, err)
		}
		if d := rowDiff(v1, versionRows(t, f, "2026-10", 1)); d != "" {
			t.Fatalf("version 1 changed after late data:\n%s", d)
		}
		if now := f.rows("2026-10")[f.officerKey("XS", "XS-01", "officer1")]; now.HouseholdsVisited != 3 {
			t.Fatalf("current October figures do not include the late visit: %+v", now)
		}

		// The restatement waits until late data has been quiet for an hour.
		if err := f.svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if vs, _ := db.ReportVersions(ctx, f.branch.ID, "2026-10"); len(vs) != 1 {
			t.Fatalf("restated too early: %d versions", len(vs))
		}
		f.set(at(2026, 11, 4, 11, 30))
		if err := f.svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		vs, err := f.svc.Versions(ctx, manager, "2026-10", "CQ")
		if err != nil {
			t.Fatal(err)
		}
		if len(vs.Versions) != 2 || vs.Versions[1].Kind != store.VersionRestatement || vs.Versions[1].LateRecords != 1 || len(vs.Versions[1].Files) != 4 {
			t.Fatalf("versions after the restatement: %+v", vs.Versions)
		}
		diff, err := f.svc.Diff(ctx, manager, "2026-10", 2, "CQ")
		if err != nil {
			t.Fatal(err)
		}
		if len(diff.LateRecords) != 1 || diff.LateRecords[0].EntityID != v7 || diff.LateRecords[0].HouseholdNo == "" || diff.LateRecords[0].Officer != "officer1" {
			t.Fatalf("late records behind version 2: %+v", diff.LateRecords)
		}
		want := map[string]float64{"households_visited": 1, "visits_total": 1, "visits_repeat": 1, "assignments_overdue": -1}
		found := false
		for _, l := range diff.Lines {
			if l.Level != store.LevelOfficer || l.OfficerID != f.users["officer1"].ID {
				continue
			}
			found = true
			got := map[string]float64{}
			for _, d := range l.Figures {
				got[d.Code] = d.Delta
			}
			for code, delta := range want {
				if got[code] != delta {
					t.Errorf("officer1 %s changed by %v, want %v (all: %+v)", code, got[code], delta, l.Figures)
				}
			}
			if _, ok := got["coverage_rate"]; !ok {
				t.Errorf("coverage rate of officer1 should have moved: %+v", l.Figures)
			}
		}
		if !found {
			t.Fatalf("no diff line for officer1: %+v", diff.Lines)
		}
		for _, l := range diff.Lines {
			if l.Level == store.LevelOfficer && l.OfficerID == f.users["officer3"].ID {
				t.Errorf("officer3 did not change but has a diff line: %+v", l)
			}
		}
		if d := rowDiff(f.rows("2026-10"), versionRows(t, f, "2026-10", 2)); d != "" {
			t.Fatalf("version 2 differs from the current figures:\n%s", d)
		}
		if _, err := f.svc.Diff(ctx, manager, "2026-10", 1, "CQ"); !isCode(err, syncproto.CodeInvalidRequest) {
			t.Fatalf("diff of version 1: %v", err)
		}

		// Nothing new: no version 3. A late record's version is set once.
		f.set(at(2026, 11, 5, 11, 30))
		if err := f.svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if vs, _ := db.ReportVersions(ctx, f.branch.ID, "2026-10"); len(vs) != 2 {
			t.Fatalf("%d versions, want 2", len(vs))
		}
		if err := db.Gorm(ctx).Exec(`UPDATE report_late_records SET version = 5`).Error; err == nil {
			t.Fatal("a late record's version was changed")
		}

		// A visit moved out of the closed month restates it too.
		f.updateVisit(hs.v["v6"], map[string]any{"visited_at": at(2026, 11, 1, 0, 5).UTC()})
		f.catchUp()
		f.set(at(2026, 11, 5, 13, 0))
		if err := f.svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		v3, err := f.svc.Diff(ctx, manager, "2026-10", 3, "CQ")
		if err != nil {
			t.Fatal(err)
		}
		if len(v3.LateRecords) != 1 || v3.LateRecords[0].EntityID != hs.v["v6"] {
			t.Fatalf("version 3 late records: %+v", v3.LateRecords)
		}
		for _, m := range []string{"2026-10", "2026-11"} {
			assertRebuildEqual(t, f, m)
		}
	})
}

func isCode(err error, code string) bool {
	var e *apperr.Error
	return errors.As(err, &e) && e.Code == code
}

func TestScheduledCloseHappensOnce(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db, at(2026, 10, 20, 9, 0))
		h := f.household("XS")
		f.assign(h, "XS-01", "officer1", "2026-10-25")
		f.visit(h, "officer1", "XS-01", at(2026, 10, 21, 9, 0), syncproto.OutcomeVisited)
		// A second instance of the server, on the same database and clock.
		other, err := report.New(db, report.Options{Loc: shanghai, Now: f.clock})
		if err != nil {
			t.Fatal(err)
		}
		f.set(at(2026, 11, 1, 0, 20))
		if err := f.svc.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if vs, _ := db.ReportVersions(ctx, f.branch.ID, "2026-10"); len(vs) != 0 {
			t.Fatalf("closed before 00:30: %+v", vs)
		}
		f.set(at(2026, 11, 1, 0, 31))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, s := range []*report.Service{f.svc, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.Tick(ctx)
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		vs, err := db.ReportVersions(ctx, f.branch.ID, "2026-10")
		if err != nil || len(vs) != 1 || vs[0].Version != 1 || vs[0].Reason != "schedule" || vs[0].CreatedBy != "" {
			t.Fatalf("versions after the schedule: %+v, %v", vs, err)
		}
		if fs, _ := db.ReportFiles(ctx, f.branch.ID, "2026-10", 1); len(fs) != 4 {
			t.Fatalf("%d files stored, want 4", len(fs))
		}
		// The other branch is closed too, with its (empty) figures.
		hb := f.units["HB"]
		if vs, _ := db.ReportVersions(ctx, hb.ID, "2026-10"); len(vs) != 1 {
			t.Fatalf("branch HB not closed: %+v", vs)
		}
		v1 := versionRows(t, f, "2026-10", 1)
		if got := v1[store.ReportKey{Level: store.LevelBranch}]; got.HouseholdsVisited != 1 || got.HouseholdsInList != 1 {
			t.Fatalf("version 1 branch row %+v", got)
		}
		f.set(at(2026, 11, 2, 0, 31))
		if err := other.Tick(ctx); err != nil {
			t.Fatal(err)
		}
		if vs, _ := db.ReportVersions(ctx, f.branch.ID, "2026-10"); len(vs) != 1 {
			t.Fatalf("a later tick added versions: %+v", vs)
		}
	})
}
