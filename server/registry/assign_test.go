package registry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// importOctober commits the cleaned October list and returns the ids of some
// households of outlet XS-01 and of WX-01.
func importOctober(t *testing.T, w *world) (xs01, wx01 []string) {
	t.Helper()
	ctx := context.Background()
	w.commit(t, w.manager, w.preview(t, w.manager, "oct.csv", cleaned(t, readSample(t, "monitoring-list-2026-10.csv"))).ID)
	if err := w.db.Gorm(ctx).Raw(`SELECT id FROM households WHERE outlet_id = ? ORDER BY household_no LIMIT 20`, w.xs01).Scan(&xs01).Error; err != nil {
		t.Fatal(err)
	}
	if err := w.db.Gorm(ctx).Raw(`SELECT id FROM households WHERE outlet_id = ? ORDER BY household_no LIMIT 20`, w.wx01).Scan(&wx01).Error; err != nil {
		t.Fatal(err)
	}
	if len(xs01) != 20 || len(wx01) != 20 {
		t.Fatalf("fixture households: %d at XS-01, %d at WX-01", len(xs01), len(wx01))
	}
	return xs01, wx01
}

type changeRow struct {
	Op             string
	EntityID       string
	AudienceUserID *string
	Seq            int64
}

func (w *world) changesSince(t *testing.T, seq int64) []changeRow {
	t.Helper()
	var out []changeRow
	if err := w.db.Gorm(context.Background()).Raw(`SELECT op, entity_id, audience_user_id, seq FROM changes WHERE seq > ? ORDER BY seq, ord`, seq).Scan(&out).Error; err != nil {
		t.Fatal(err)
	}
	return out
}

func (w *world) lastSeq(t *testing.T) int64 {
	return w.count(t, "SELECT COALESCE(MAX(seq), 0) FROM changes")
}

func TestReassignmentKeepsHistoryAndMovesDevices(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		xs, _ := importOctober(t, w)
		hh := xs[:5]

		seq := w.lastSeq(t)
		res, err := w.svc.Assign(ctx, w.supXS01, registry.AssignInput{HouseholdIDs: hh, OfficerID: w.officer1.UserID, DueOn: "2026-11-30"})
		if err != nil || res.Assigned != 5 {
			t.Fatalf("assign to officer1: %+v %v", res, err)
		}
		adds := 0
		for _, c := range w.changesSince(t, seq) {
			if c.Op == store.OpScopeAdd && c.AudienceUserID != nil && *c.AudienceUserID == w.officer1.UserID {
				adds++
			}
			if c.Op == store.OpScopeRemove {
				t.Fatalf("first assignment removed a household from someone: %+v", c)
			}
		}
		if adds != 5 {
			t.Fatalf("scope_add to officer1 = %d, want 5", adds)
		}

		// Assigning again with the same deadline changes nothing.
		seq = w.lastSeq(t)
		res, err = w.svc.Assign(ctx, w.supXS01, registry.AssignInput{HouseholdIDs: hh, OfficerID: w.officer1.UserID, DueOn: "2026-11-30"})
		if err != nil || res.Unchanged != 5 || len(w.changesSince(t, seq)) != 0 {
			t.Fatalf("repeat assignment: %+v %v, %d changes", res, err, len(w.changesSince(t, seq)))
		}
		// A new deadline alone re-sends the household to the same device.
		res, err = w.svc.Assign(ctx, w.supXS01, registry.AssignInput{HouseholdIDs: hh[:1], OfficerID: w.officer1.UserID, DueOn: "2026-12-05"})
		if err != nil || res.DueChanged != 1 {
			t.Fatalf("deadline change: %+v %v", res, err)
		}
		if cs := w.changesSince(t, seq); len(cs) != 1 || cs[0].Op != store.OpUpsert {
			t.Fatalf("deadline change recorded %+v", cs)
		}

		// Reassign two to officer2: officer1's device drops them, officer2's gets them.
		seq = w.lastSeq(t)
		res, err = w.svc.Assign(ctx, w.supXS01, registry.AssignInput{HouseholdIDs: hh[:2], OfficerID: w.officer2.UserID})
		if err != nil || res.Assigned != 2 {
			t.Fatalf("reassign: %+v %v", res, err)
		}
		removes, added := map[string]bool{}, map[string]bool{}
		for _, c := range w.changesSince(t, seq) {
			switch {
			case c.Op == store.OpScopeRemove && *c.AudienceUserID == w.officer1.UserID:
				removes[c.EntityID] = true
			case c.Op == store.OpScopeAdd && *c.AudienceUserID == w.officer2.UserID:
				added[c.EntityID] = true
			}
		}
		if len(removes) != 2 || len(added) != 2 || !removes[hh[0]] || !added[hh[1]] {
			t.Fatalf("reassignment changes: removes %v adds %v", removes, added)
		}
		hist, err := w.svc.AssignmentHistory(ctx, w.supXS01, hh[0])
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 3 {
			t.Fatalf("history has %d periods, want import, officer1, officer2: %+v", len(hist), hist)
		}
		first, mid, last := hist[0], hist[1], hist[2]
		if first.OfficerID != nil || first.EndedAt == nil || first.EndReason != store.EndReassigned {
			t.Errorf("import period = %+v", first)
		}
		if *mid.OfficerID != w.officer1.UserID || mid.EndedAt == nil || mid.OfficerDueOn != "2026-12-05" {
			t.Errorf("officer1 period = %+v", mid)
		}
		// No new deadline given: the one the household had carries over.
		if *last.OfficerID != w.officer2.UserID || last.EndedAt != nil || last.OfficerDueOn != "2026-12-05" || *last.AssignedBy != w.supXS01.UserID {
			t.Errorf("officer2 period = %+v", last)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM assignments WHERE household_id = ? AND ended_at IS NULL", hh[0]); n != 1 {
			t.Fatalf("%d open assignments", n)
		}
		h, err := w.svc.Household(ctx, w.supXS01, hh[0])
		if err != nil || h.OfficerID != w.officer2.UserID || h.OfficerDueOn != "2026-12-05" {
			t.Fatalf("household after reassignment: %+v %v", h, err)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM audit_log WHERE action = 'households.assign'"); n != 3 {
			t.Fatalf("assignment audit entries = %d", n)
		}
	})
}

func TestAssignmentAuthorization(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		xs, wx := importOctober(t, w)
		before := w.tableCounts(t)
		cases := []struct {
			name string
			a    store.Actor
			in   registry.AssignInput
			code string
		}{
			{"officer cannot assign", w.officer1, registry.AssignInput{HouseholdIDs: xs[:1], OfficerID: w.officer1.UserID}, syncproto.CodeForbidden},
			{"supervisor cannot reach another outlet's households", w.supXS01, registry.AssignInput{HouseholdIDs: wx[:1], OfficerID: w.officer1.UserID}, syncproto.CodeNotFound},
			{"supervisor cannot hand work to another outlet's officer", w.supXS01, registry.AssignInput{HouseholdIDs: xs[:1], OfficerID: w.officer3.UserID}, syncproto.CodeForbidden},
			{"one household out of reach spoils the batch", w.supXS01, registry.AssignInput{HouseholdIDs: []string{xs[0], wx[0]}, OfficerID: w.officer1.UserID}, syncproto.CodeNotFound},
			{"other branch's officer is unknown", w.supXS01, registry.AssignInput{HouseholdIDs: xs[:1], OfficerID: w.officerSC.UserID}, syncproto.CodeInvalidRequest},
			{"other branch's manager sees nothing", w.otherManager, registry.AssignInput{HouseholdIDs: xs[:1], OfficerID: w.officerSC.UserID}, syncproto.CodeNotFound},
			{"supervisor is not an officer", w.manager, registry.AssignInput{HouseholdIDs: xs[:1], OfficerID: w.supXS01.UserID}, syncproto.CodeInvalidRequest},
			{"past deadline", w.supXS01, registry.AssignInput{HouseholdIDs: xs[:1], OfficerID: w.officer1.UserID, DueOn: "2026-11-01"}, syncproto.CodeInvalidRequest},
			{"bad date", w.supXS01, registry.AssignInput{HouseholdIDs: xs[:1], OfficerID: w.officer1.UserID, DueOn: "2026/12/01"}, syncproto.CodeInvalidRequest},
			{"no households", w.supXS01, registry.AssignInput{OfficerID: w.officer1.UserID}, syncproto.CodeInvalidRequest},
			{"unknown household", w.supXS01, registry.AssignInput{HouseholdIDs: []string{"nope"}, OfficerID: w.officer1.UserID}, syncproto.CodeNotFound},
		}
		for _, tc := range cases {
			_, err := w.svc.Assign(ctx, tc.a, tc.in)
			code := ""
			if e, ok := apperr.As(err); ok {
				code = e.Code
			} else if errors.Is(err, store.ErrNotFound) {
				code = syncproto.CodeNotFound
			}
			if code != tc.code {
				t.Errorf("%s: err %v, want code %s", tc.name, err, tc.code)
			}
		}
		if after := w.tableCounts(t); !mapsEqual(before, after) {
			t.Fatalf("refused assignments wrote:\nbefore %v\nafter  %v", before, after)
		}
		// The county supervisor reaches both outlets of 秀山 and may move a household between them.
		res, err := w.svc.Assign(ctx, w.supXS, registry.AssignInput{HouseholdIDs: xs[:1], OfficerID: w.officer1.UserID, DueOn: "2026-11-30"})
		if err != nil || res.Assigned != 1 {
			t.Fatalf("county supervisor: %+v %v", res, err)
		}
		// The branch manager may hand a 秀山 household to the 巫溪 officer: it moves outlet.
		if _, err := w.svc.Assign(ctx, w.manager, registry.AssignInput{HouseholdIDs: xs[1:2], OfficerID: w.officer3.UserID}); err != nil {
			t.Fatal(err)
		}
		h, _ := w.svc.Household(ctx, w.manager, xs[1])
		if h.OutletID != w.wx01 || h.CountyID != w.units["WX"].ID {
			t.Fatalf("household did not follow the officer to WX-01: %+v", h)
		}
	})
}

func mapsEqual(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Remapping a township to another outlet moves its households there; the
// officer who held them loses them from their device.
func TestServiceAreaChangeMovesHouseholds(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		xs, _ := importOctober(t, w)
		if _, err := w.svc.Assign(ctx, w.supXS01, registry.AssignInput{HouseholdIDs: xs[:3], OfficerID: w.officer1.UserID}); err != nil {
			t.Fatal(err)
		}
		h0, _ := w.svc.Household(ctx, w.manager, xs[0])
		inTownship := w.count(t, "SELECT COUNT(*) FROM households WHERE township = ? AND list_status = 'active'", h0.Township)

		// Officers, supervisors and branch managers may not change the mapping.
		for _, a := range []store.Actor{w.officer1, w.supXS, w.manager} {
			if _, err := w.svc.ReplaceServiceAreas(ctx, a, "", nil); err == nil {
				t.Fatalf("%s replaced the service areas", a.Username)
			}
		}
		areas, err := w.svc.ServiceAreas(ctx, w.admin, "CQ")
		if err != nil || len(areas) != len(fixtureAreas) {
			t.Fatalf("areas: %d %v", len(areas), err)
		}
		in := make([]store.AreaInput, 0, len(areas))
		for _, m := range areas {
			o := m.OutletCode
			if m.Township == h0.Township {
				o = "XS-02"
			}
			in = append(in, store.AreaInput{County: m.County, Township: m.Township, Village: m.Village, OutletID: o})
		}
		seq := w.lastSeq(t)
		res, err := w.svc.ReplaceServiceAreas(ctx, w.admin, "CQ", in)
		if err != nil || int64(res.Moved) != inTownship {
			t.Fatalf("remap: %+v %v; want %d moved", res, err, inTownship)
		}
		h, _ := w.svc.Household(ctx, w.manager, xs[0])
		if h.OutletID != w.xs02 || h.OfficerID != "" {
			t.Fatalf("household after remap: %+v", h)
		}
		removed := 0
		for _, c := range w.changesSince(t, seq) {
			if c.Op == store.OpScopeRemove && *c.AudienceUserID == w.officer1.UserID {
				removed++
			}
		}
		held := w.count(t, "SELECT COUNT(*) FROM assignments a JOIN households h ON h.id = a.household_id WHERE a.officer_id = ? AND a.end_reason = ?", w.officer1.UserID, store.EndAreaChanged)
		if int64(removed) != held || held == 0 {
			t.Fatalf("scope_remove to officer1 = %d, want %d", removed, held)
		}
		// Duplicate areas and foreign outlets are refused whole.
		bad := append(in[:1:1], in[0])
		if _, err := w.svc.ReplaceServiceAreas(ctx, w.admin, "CQ", bad); err == nil {
			t.Fatal("duplicate area accepted")
		}
		if _, err := w.svc.ReplaceServiceAreas(ctx, w.admin, "CQ", []store.AreaInput{{County: "x", Township: "y", OutletID: "SC-01"}}); err == nil {
			t.Fatal("another branch's outlet accepted")
		}
		if n := w.count(t, "SELECT COUNT(*) FROM service_areas WHERE branch_id = ?", w.branch.ID); int(n) != len(in) {
			t.Fatalf("refused mappings changed the stored one: %d rows", n)
		}
	})
}

func TestOutletDeadline(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		xs, _ := importOctober(t, w)
		if _, err := w.svc.SetOutletDeadline(ctx, w.supXS01, registry.OutletDeadlineInput{OutletID: "XS-01", DueOn: "2026-11-25"}); err == nil {
			t.Fatal("the outlet's own supervisor set the outlet deadline")
		}
		if _, err := w.svc.SetOutletDeadline(ctx, w.supFJ, registry.OutletDeadlineInput{OutletID: "XS-01", DueOn: "2026-11-25"}); err == nil {
			t.Fatal("another county's supervisor set the deadline")
		}
		n, err := w.svc.SetOutletDeadline(ctx, w.supXS, registry.OutletDeadlineInput{OutletID: "XS-01", DueOn: "2026-11-25"})
		want := w.count(t, "SELECT COUNT(*) FROM households WHERE outlet_id = ? AND list_status = 'active'", w.xs01)
		if err != nil || n != want {
			t.Fatalf("outlet deadline covered %d, %v; want %d", n, err, want)
		}
		// The outlet deadline survives a handover inside the outlet.
		if _, err := w.svc.Assign(ctx, w.supXS01, registry.AssignInput{HouseholdIDs: xs[:1], OfficerID: w.officer1.UserID, DueOn: "2026-11-20"}); err != nil {
			t.Fatal(err)
		}
		h, _ := w.svc.Household(ctx, w.supXS01, xs[0])
		if h.OutletDueOn != "2026-11-25" || h.OfficerDueOn != "2026-11-20" {
			t.Fatalf("deadlines = outlet %q officer %q", h.OutletDueOn, h.OfficerDueOn)
		}
	})
}
