package registry_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/registry/importfile"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// The served counties of the October sample: 秀山 340, 巫溪 299, 奉节 320 rows.
const octoberServedCounties = 3

func TestImportPreviewCommitReimport(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		oct := cleaned(t, readSample(t, "monitoring-list-2026-10.csv"))

		p := w.preview(t, w.manager, "monitoring-list-2026-10.csv", oct)
		s := p.Summary
		if p.Status != store.SnapshotPreviewed || s.Errors != 0 || !s.Committable || s.BaseVersion != 0 {
			t.Fatalf("preview = %+v", p)
		}
		if len(s.CountiesInFile) != octoberServedCounties {
			t.Fatalf("counties in file = %v", s.CountiesInFile)
		}
		for _, c := range []string{"横峰县", "余干县", "阳春市"} {
			if s.OtherCounties[c] == 0 {
				t.Errorf("rows of %s not reported as another county's: %v", c, s.OtherCounties)
			}
		}
		if s.New+s.OtherCountyRows != s.DataRows || s.New < 900 || s.Changed+s.Removed+s.Unchanged+s.Returned != 0 {
			t.Fatalf("first import summary = %+v", s)
		}
		if s.Warnings != s.OtherCountyRows || s.NoOutlet != 0 {
			t.Fatalf("warnings %d, other-county rows %d, no outlet %d", s.Warnings, s.OtherCountyRows, s.NoOutlet)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM households"); n != 0 {
			t.Fatalf("a dry run wrote %d households", n)
		}
		items, total, err := w.svc.ImportItems(ctx, w.manager, p.ID, store.ChangeAdded, 0, 5)
		if err != nil || int(total) != s.New || len(items) != 5 || items[0].Row == 0 || !strings.Contains(items[0].IDNumberMasked, "********") {
			t.Fatalf("added items = %+v, total %d, %v", items, total, err)
		}

		c := w.commit(t, w.manager, p.ID)
		if c.Status != store.SnapshotCommitted || c.Version != 1 {
			t.Fatalf("committed = %+v", c)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM households WHERE list_status = 'active'"); int(n) != s.New {
			t.Fatalf("active households = %d, want %d", n, s.New)
		}
		// Every household went to the outlet of its township, with an open assignment.
		if n := w.count(t, "SELECT COUNT(*) FROM households WHERE outlet_id IS NULL OR county_id IS NULL"); n != 0 {
			t.Fatalf("%d households without outlet or county", n)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM assignments WHERE ended_at IS NULL"); int(n) != s.New {
			t.Fatalf("open assignments = %d, want %d", n, s.New)
		}
		if n := w.count(t, `SELECT COUNT(*) FROM households WHERE township = '石耶镇' AND outlet_id <> ?`, w.xs02); n != 0 {
			t.Fatalf("%d households of 石耶镇 not at XS-02", n)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM snapshot_changes WHERE kind = 'added' AND snapshot_id = ?", p.ID); int(n) != s.New {
			t.Fatalf("change report added = %d", n)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM import_rows"); n != 0 {
			t.Fatalf("%d staged rows left after commit", n)
		}
		if _, _, err := w.svc.CommitImport(ctx, w.manager, p.ID); !isConflict(err, "preview_committed") {
			t.Fatalf("second commit of the same preview: %v", err)
		}

		// The same file again changes nothing: no versions, no change log.
		before := w.tableCounts(t)
		d := w.dryRun(t, w.manager, "again.csv", oct)
		if d.HasChanges() || d.Summary.Unchanged != s.New || d.Summary.New != 0 {
			t.Fatalf("re-import summary = %+v", d.Summary)
		}
		if _, applied, err := w.svc.Apply(ctx, w.manager, d); err != nil || applied {
			t.Fatalf("re-import applied=%v err=%v", applied, err)
		}
		p2 := w.preview(t, w.manager, "again.csv", oct)
		if _, applied, err := w.svc.CommitImport(ctx, w.manager, p2.ID); err != nil || applied {
			t.Fatalf("commit of an unchanged preview applied=%v err=%v", applied, err)
		}
		if after := w.tableCounts(t); !maps.Equal(before, after) {
			t.Fatalf("re-import changed the database:\nbefore %v\nafter  %v", before, after)
		}
	})
}

// expectedDiff computes, independently of the registry, what the branch's
// share of next month's list should look like compared with this month's.
func expectedDiff(t *testing.T, prev, next []byte) registry.Summary {
	t.Helper()
	served := map[string]bool{"秀山土家族苗族自治县": true, "巫溪县": true, "奉节县": true}
	parse := func(b []byte) map[string]importfile.Row {
		res, err := importfile.Parse(bytes.NewReader(b), importfile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]importfile.Row{}
		for _, r := range res.Rows {
			if served[r.County] {
				r.Line = 0
				out[r.HouseholdNo] = r
			}
		}
		return out
	}
	a, b := parse(prev), parse(next)
	var s registry.Summary
	for no, r := range b {
		o, ok := a[no]
		switch {
		case !ok:
			s.New++
		case o == r:
			s.Unchanged++
		default:
			if r.RiskEliminated && !o.RiskEliminated {
				s.RiskEliminated++
				o.RiskEliminated = true
			}
			if o != r {
				s.Changed++
			}
		}
	}
	for no := range a {
		if _, ok := b[no]; !ok {
			s.Removed++
		}
	}
	return s
}

func isConflict(err error, reason string) bool {
	e, ok := apperr.As(err)
	return ok && e.Code == syncproto.CodeConflict && e.Details["reason"] == reason
}

// November: 40 households gone, about 120 risk eliminated, phones changed and
// 150 new, across all six counties of the sample; the branch sees its share.
func TestNextMonthsList(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		oct := cleaned(t, readSample(t, "monitoring-list-2026-10.csv"))
		nov := cleaned(t, readSample(t, "monitoring-list-2026-11.csv"))
		w.commit(t, w.manager, w.preview(t, w.manager, "oct.csv", oct).ID)

		// An officer works some households of 秀山 before the new list arrives.
		var held []string
		if err := w.db.Gorm(ctx).Raw(`SELECT id FROM households WHERE outlet_id = ? ORDER BY household_no LIMIT 50`, w.xs01).Scan(&held).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Assign(ctx, w.supXS01, registry.AssignInput{HouseholdIDs: held, OfficerID: w.officer1.UserID, DueOn: "2026-11-30"}); err != nil {
			t.Fatal(err)
		}

		p := w.preview(t, w.manager, "nov.csv", nov)
		s := p.Summary
		t.Logf("november: %+v", s)
		if s.BaseVersion != 1 || s.Errors != 0 {
			t.Fatalf("november preview = %+v", s)
		}
		want := expectedDiff(t, oct, nov)
		if s.New != want.New || s.Removed != want.Removed || s.RiskEliminated != want.RiskEliminated || s.Changed != want.Changed || s.Unchanged != want.Unchanged {
			t.Fatalf("november summary = %+v\nwant new %d removed %d risk eliminated %d changed %d unchanged %d",
				s, want.New, want.Removed, want.RiskEliminated, want.Changed, want.Unchanged)
		}
		if s.New < 50 || s.Removed < 10 || s.RiskEliminated < 40 || s.Changed < 5 {
			t.Fatalf("the sample no longer exercises every kind of change: %+v", s)
		}
		changed, _, err := w.svc.ImportItems(ctx, w.manager, p.ID, store.ChangeChanged, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		phones := 0
		for _, it := range changed {
			if f, ok := it.Fields["phone"]; ok {
				phones++
				if o, _ := f.Old.(string); !strings.Contains(o, "****") {
					t.Fatalf("old phone shown unmasked: %+v", f)
				}
			}
		}
		if phones == 0 {
			t.Fatal("no changed phone among the changed households")
		}
		removed, _, err := w.svc.ImportItems(ctx, w.manager, p.ID, store.ChangeRemoved, 0, 1000)
		if err != nil || len(removed) != s.Removed || removed[0].HeadName == "" {
			t.Fatalf("removed items %d (%v), want %d with names", len(removed), err, s.Removed)
		}

		before := w.tableCounts(t)
		c := w.commit(t, w.manager, p.ID)
		if c.Version != 2 {
			t.Fatalf("version = %d", c.Version)
		}
		// Removed households stay, out of the list and off any officer.
		if n := w.count(t, "SELECT COUNT(*) FROM households WHERE list_status = 'removed' AND removed_at IS NOT NULL AND officer_id IS NULL"); int(n) != s.Removed {
			t.Fatalf("removed households = %d, want %d", n, s.Removed)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM households"); n != before["households"]+int64(s.New) {
			t.Fatalf("households = %d, want %d", n, before["households"]+int64(s.New))
		}
		if n := w.count(t, "SELECT COUNT(*) FROM assignments WHERE end_reason = ?", store.EndRemoved); int(n) != s.Removed {
			t.Fatalf("assignments ended as removed = %d, want %d", n, s.Removed)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM households WHERE risk_eliminated"); n < int64(s.RiskEliminated) {
			t.Fatalf("risk eliminated households = %d", n)
		}
		for kind, want := range map[string]int{store.ChangeAdded: s.New, store.ChangeRemoved: s.Removed, store.ChangeRiskEliminated: s.RiskEliminated, store.ChangeChanged: s.Changed} {
			if n := w.count(t, "SELECT COUNT(*) FROM snapshot_changes WHERE snapshot_id = ? AND kind = ?", p.ID, kind); int(n) != want {
				t.Errorf("change report %s = %d, want %d", kind, n, want)
			}
		}
		// A removed household the officer held leaves their device.
		var removedHeld int64
		for _, it := range removed {
			for _, h := range held {
				if it.HouseholdID == h {
					removedHeld++
				}
			}
		}
		if n := w.count(t, "SELECT COUNT(*) FROM changes WHERE op = 'scope_remove' AND audience_user_id = ?", w.officer1.UserID); n != removedHeld {
			t.Fatalf("scope_remove for officer1 = %d, want %d", n, removedHeld)
		}
		// New households in villages officer1 already works go to officer1.
		var viaVillage int64 = w.count(t, `SELECT COUNT(*) FROM households h WHERE h.snapshot_id = ? AND h.officer_id = ?
			AND h.created_at = h.updated_at`, p.ID, w.officer1.UserID)
		if n := w.count(t, "SELECT COUNT(*) FROM changes WHERE op = 'scope_add' AND audience_user_id = ?", w.officer1.UserID); n != viaVillage+int64(len(held)) {
			t.Fatalf("scope_add for officer1 = %d, want %d assigned + %d new in their villages", n, len(held), viaVillage)
		}

		// Staff lists: removed households on request, unassigned ones by filter.
		gone, total, err := w.svc.Households(ctx, w.manager, registry.HouseholdQuery{Status: "removed", Limit: 1000})
		if err != nil || int(total) != s.Removed || gone[0].RemovedAt == nil || gone[0].OfficerID != "" {
			t.Fatalf("removed households listed: %d of %d, %v", total, s.Removed, err)
		}
		mine, total, _ := w.svc.Households(ctx, w.supXS01, registry.HouseholdQuery{OfficerID: w.officer1.UserID, Limit: 1000})
		for _, h := range mine {
			if h.OfficerID != w.officer1.UserID || h.ListStatus != "active" {
				t.Fatalf("officer filter returned %+v", h)
			}
		}
		_, unassigned, _ := w.svc.Households(ctx, w.supXS01, registry.HouseholdQuery{Unassigned: true})
		all := w.count(t, "SELECT COUNT(*) FROM households WHERE outlet_id = ? AND list_status = 'active'", w.xs01)
		if unassigned+total != all {
			t.Fatalf("XS-01: %d unassigned + %d officer1's != %d active", unassigned, total, all)
		}

		// History: the committed report still reads after the staged rows are gone.
		items, total, err := w.svc.ImportItems(ctx, w.manager, p.ID, store.ChangeChanged, 0, 10)
		if err != nil || int(total) != s.Changed || len(items) == 0 || len(items[0].Fields) == 0 {
			t.Fatalf("committed change report: %d items of %d, %v", len(items), total, err)
		}

		// October again brings the removed households back and undoes the rest.
		back := w.preview(t, w.manager, "oct-again.csv", oct)
		if back.Summary.Returned != s.Removed || back.Summary.Removed != s.New {
			t.Fatalf("october again: %+v", back.Summary)
		}
		w.commit(t, w.manager, back.ID)
		if n := w.count(t, "SELECT COUNT(*) FROM snapshot_changes WHERE snapshot_id = ? AND kind = 'returned'", back.ID); int(n) != s.Removed {
			t.Fatalf("returned = %d", n)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM households WHERE list_status = 'active' AND outlet_id IS NOT NULL"); n != before["households"] {
			t.Fatalf("active after october again = %d, want %d", n, before["households"])
		}
	})
}

// A file with row errors is previewed and reported but never applied.
func TestFileWithErrorsIsNotCommitted(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		p := w.preview(t, w.manager, "oct.csv", readSample(t, "monitoring-list-2026-10.csv"))
		// Of the sample's 41 problems, 16 are in the branch's counties and
		// block the commit; the other 25 are in counties it does not serve.
		if p.Summary.Errors != 16 || p.Summary.OtherCountyErrors != 25 || p.Summary.Committable {
			t.Fatalf("summary = %+v; want 16 blocking errors and 25 in other counties", p.Summary)
		}
		probs, err := w.svc.ImportProblems(ctx, w.manager, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		codes, sev := map[string]int{}, map[string]int{}
		for _, q := range probs {
			codes[q.Code]++
			sev[q.Severity]++
		}
		if sev["error"] != 16 {
			t.Errorf("stored severities = %v", sev)
		}
		for code, want := range map[string]int{"id_checksum": 9, "id_scientific_notation": 4, "unknown_category": 9, "missing_value": 9, "duplicate_household_no": 10} {
			if codes[code] != want {
				t.Errorf("%s = %d, want %d", code, codes[code], want)
			}
		}
		if codes[registry.WarnCountyNotServed] == 0 {
			t.Error("rows of other counties are not reported")
		}
		before := w.tableCounts(t)
		_, _, err = w.svc.CommitImport(ctx, w.manager, p.ID)
		if !isConflict(err, "file_has_errors") {
			t.Fatalf("commit of a file with errors: %v", err)
		}
		if after := w.tableCounts(t); !maps.Equal(before, after) {
			t.Fatalf("a refused commit wrote:\nbefore %v\nafter  %v", before, after)
		}

		// Fixing only the branch's own rows is enough: the other counties'
		// problems are theirs, reported but not blocking.
		own := dropLines(t, readSample(t, "monitoring-list-2026-10.csv"), func(p importfile.Problem) bool {
			return p.County == "巫溪县" || p.County == "奉节县" || p.County == "秀山土家族苗族自治县" || p.County == ""
		})
		p2 := w.preview(t, w.manager, "oct-own-fixed.csv", own)
		if p2.Summary.Errors != 0 || p2.Summary.OtherCountyErrors == 0 || !p2.Summary.Committable { // 23: a duplicate pair spanned counties
			t.Fatalf("own rows fixed: %+v", p2.Summary)
		}
		w.commit(t, w.manager, p2.ID)
	})
}

// dropLines removes the rows whose problems match.
func dropLines(t *testing.T, data []byte, match func(importfile.Problem) bool) []byte {
	t.Helper()
	res, err := importfile.Parse(bytes.NewReader(data), importfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bad := map[int]bool{}
	for _, p := range res.Problems {
		if match(p) {
			bad[p.Line] = true
		}
	}
	var b strings.Builder
	for i, l := range strings.SplitAfter(string(data), "\n") {
		if !bad[i+1] {
			b.WriteString(l)
		}
	}
	return []byte(b.String())
}

// A commit that fails halfway — here a household written by other means
// after the preview, with a number the file adds — leaves nothing behind:
// no household, assignment, change report or change-log row, and the preview
// is still pending.
func TestFailingCommitWritesNothing(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		oct := cleaned(t, readSample(t, "monitoring-list-2026-10.csv"))
		p := w.preview(t, w.manager, "oct.csv", oct)
		items, _, err := w.svc.ImportItems(ctx, w.manager, p.ID, store.ChangeAdded, 500, 1)
		if err != nil || len(items) != 1 {
			t.Fatal(err)
		}
		now := store.Now()
		intruder := store.Household{ID: store.NewID(), BranchID: w.branch.ID, HouseholdNo: items[0].HouseholdNo, HeadName: "手工录入",
			FieldTimes: "{}", ListStatus: store.ListActive, Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := w.db.Gorm(ctx).Create(&intruder).Error; err != nil {
			t.Fatal(err)
		}
		before := w.tableCounts(t)
		_, _, err = w.svc.CommitImport(ctx, w.manager, p.ID)
		if !isConflict(err, "list_changed") {
			t.Fatalf("commit over a conflicting household: %v", err)
		}
		if after := w.tableCounts(t); !maps.Equal(before, after) {
			t.Fatalf("a failed commit left writes behind:\nbefore %v\nafter  %v", before, after)
		}
		got, err := w.svc.GetImport(ctx, w.manager, p.ID)
		if err != nil || got.Status != store.SnapshotPreviewed || w.count(t, "SELECT COUNT(*) FROM import_rows WHERE preview_id = ?", p.ID) == 0 {
			t.Fatalf("preview after the failed commit: %+v %v", got, err)
		}
	})
}

// A preview computed before another commit is stale and refused.
func TestStalePreviewIsRefused(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		oct := cleaned(t, readSample(t, "monitoring-list-2026-10.csv"))
		nov := cleaned(t, readSample(t, "monitoring-list-2026-11.csv"))
		a := w.preview(t, w.manager, "oct.csv", oct)
		b := w.preview(t, w.admin, "nov.csv", nov)
		w.commit(t, w.manager, a.ID)
		before := w.tableCounts(t)
		if _, _, err := w.svc.CommitImport(ctx, w.admin, b.ID); !isConflict(err, "list_changed") {
			t.Fatalf("stale commit: %v", err)
		}
		if after := w.tableCounts(t); !maps.Equal(before, after) {
			t.Fatalf("stale commit wrote:\nbefore %v\nafter  %v", before, after)
		}
		// Discarded previews cannot be committed either.
		c := w.preview(t, w.manager, "nov.csv", nov)
		if err := w.svc.DiscardImport(ctx, w.manager, c.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := w.svc.CommitImport(ctx, w.manager, c.ID); !isConflict(err, "preview_discarded") {
			t.Fatalf("commit of a discarded preview: %v", err)
		}
	})
}

func TestImportAuthorization(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		oct := cleaned(t, readSample(t, "monitoring-list-2026-10.csv"))
		for _, a := range []store.Actor{w.officer1, w.supXS, w.supXS01} {
			_, err := w.svc.PreviewImport(ctx, a, registry.ImportInput{Data: bytes.NewReader(oct)})
			if e, ok := apperr.As(err); !ok || e.Code != syncproto.CodeForbidden {
				t.Errorf("%s previewed an import: %v", a.Username, err)
			}
		}
		p := w.preview(t, w.manager, "oct.csv", oct)
		// Another branch's manager cannot see, commit or name this branch.
		if _, err := w.svc.GetImport(ctx, w.otherManager, p.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("other branch's manager read the preview: %v", err)
		}
		if _, _, err := w.svc.CommitImport(ctx, w.otherManager, p.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("other branch's manager committed the preview: %v", err)
		}
		if _, err := w.svc.PreviewImport(ctx, w.otherManager, registry.ImportInput{Branch: "CQ", Data: bytes.NewReader(oct)}); err == nil {
			t.Error("other branch's manager imported into CQ")
		}
		if _, _, err := w.svc.CommitImport(ctx, w.supXS, p.ID); err == nil {
			t.Error("supervisor committed an import")
		}
		if n := w.count(t, "SELECT COUNT(*) FROM households"); n != 0 {
			t.Fatalf("refused imports wrote %d households", n)
		}
		// The other branch imports the same file and gets none of it: it serves no county there.
		po := w.preview(t, w.otherManager, "oct.csv", oct)
		if po.Summary.New != 0 || po.Summary.OtherCountyRows != po.Summary.DataRows {
			t.Fatalf("other branch preview = %+v", po.Summary)
		}
	})
}
