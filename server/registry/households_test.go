package registry_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/registry/importfile"
	"github.com/doorstep-dev/doorstep/server/store"
)

// A household of the October sample that the branch serves, in clear.
func sampleHousehold(t *testing.T, data []byte) importfile.Row {
	t.Helper()
	res, err := importfile.Parse(bytes.NewReader(data), importfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows {
		if r.County == "巫溪县" && (r.Township == "宁厂镇" || r.Township == "文峰镇") && r.Phone != "" { // served by WX-01
			return r
		}
	}
	t.Fatal("no 巫溪 household with a phone in the sample")
	return importfile.Row{}
}

func TestPersonalNumbersEncryptedAtRest(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		oct := cleaned(t, readSample(t, "monitoring-list-2026-10.csv"))
		row := sampleHousehold(t, oct)
		p := w.preview(t, w.manager, "oct.csv", oct)

		// Staged rows of the preview hold no clear numbers either.
		var staged []struct {
			IDNumberEnc, PhoneEnc                     []byte
			IDNumberMasked, PhoneMasked, IDNumberBidx string
		}
		if err := w.db.Gorm(ctx).Raw(`SELECT id_number_enc, phone_enc, id_number_masked, phone_masked, id_number_bidx FROM import_rows WHERE household_no = ?`, row.HouseholdNo).Scan(&staged).Error; err != nil || len(staged) != 1 {
			t.Fatalf("staged row: %v %d", err, len(staged))
		}
		checkSealed(t, "staged", staged[0].IDNumberEnc, staged[0].PhoneEnc, row)
		w.commit(t, w.manager, p.ID)

		var h store.Household
		if err := w.db.Gorm(ctx).Where("household_no = ?", row.HouseholdNo).Take(&h).Error; err != nil {
			t.Fatal(err)
		}
		checkSealed(t, "household", h.IDNumberEnc, h.PhoneEnc, row)
		if h.IDNumberMasked != row.IDNumber[:6]+"********"+row.IDNumber[14:] || h.PhoneMasked != row.Phone[:3]+"****"+row.Phone[7:] {
			t.Fatalf("masks %q %q for %s", h.IDNumberMasked, h.PhoneMasked, row.HouseholdNo)
		}
		// No column of any registry table holds the clear numbers.
		for q, args := range map[string][]any{
			"SELECT COUNT(*) FROM households WHERE id_number_bidx = ? OR phone_bidx = ? OR id_number_masked = ? OR phone_masked = ? OR content_hash = ? OR list_phone_bidx = ?": {
				row.IDNumber, row.Phone, row.IDNumber, row.Phone, row.IDNumber, row.Phone},
			"SELECT COUNT(*) FROM snapshot_changes WHERE CAST(fields AS TEXT) LIKE ? OR CAST(fields AS TEXT) LIKE ? OR household_no IN (?, ?)": {
				"%" + row.IDNumber + "%", "%" + row.Phone + "%", row.IDNumber, row.Phone},
		} {
			if n := w.count(t, q, args...); n != 0 {
				t.Fatalf("%s: clear number found", q)
			}
		}
		if n := w.count(t, "SELECT COUNT(*) FROM import_problems WHERE message LIKE ? OR message LIKE ?", "%"+row.IDNumber+"%", "%"+row.Phone+"%"); n != 0 {
			t.Fatal("a problem message carries a clear number")
		}
		codec, _ := w.svc.Codec()
		if got, err := codec.Open(pii.IDNumber, h.IDNumberEnc); err != nil || got != row.IDNumber {
			t.Fatalf("sealed ID opens to %q, %v", got, err)
		}
	})
}

func checkSealed(t *testing.T, what string, idEnc, phoneEnc []byte, row importfile.Row) {
	t.Helper()
	if len(idEnc) == 0 || len(phoneEnc) == 0 {
		t.Fatalf("%s: numbers not stored sealed", what)
	}
	for _, clear := range []string{row.IDNumber, row.Phone, row.IDNumber[:12], row.Phone[3:]} {
		if bytes.Contains(idEnc, []byte(clear)) || bytes.Contains(phoneEnc, []byte(clear)) {
			t.Fatalf("%s: ciphertext contains %q", what, clear)
		}
	}
	if id, ok := pii.KeyID(idEnc); !ok || id == "" {
		t.Fatalf("%s: ciphertext does not name its key", what)
	}
}

func TestLookupByBlindIndexAndMasking(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		oct := cleaned(t, readSample(t, "monitoring-list-2026-10.csv"))
		row := sampleHousehold(t, oct)
		w.commit(t, w.manager, w.preview(t, w.manager, "oct.csv", oct).ID)

		lower := strings.ToLower(row.IDNumber)
		for _, q := range []registry.HouseholdQuery{{IDNumber: row.IDNumber}, {IDNumber: " " + lower + " "}, {Phone: row.Phone}, {Phone: "１" + row.Phone[1:]}} {
			hs, total, err := w.svc.Households(ctx, w.manager, q)
			if err != nil || total != 1 || hs[0].HouseholdNo != row.HouseholdNo {
				t.Fatalf("lookup %+v: %d results, %v", q, total, err)
			}
			if strings.Contains(hs[0].IDNumberMasked, row.IDNumber[6:14]) || !strings.Contains(hs[0].PhoneMasked, "****") {
				t.Fatalf("lookup result not masked: %+v", hs[0])
			}
		}
		// Scope still applies to lookups: 秀山's supervisor does not find a 巫溪 household.
		if _, total, err := w.svc.Households(ctx, w.supXS, registry.HouseholdQuery{IDNumber: row.IDNumber}); err != nil || total != 0 {
			t.Fatalf("out-of-scope lookup found %d (%v)", total, err)
		}
		if _, total, _ := w.svc.Households(ctx, w.otherManager, registry.HouseholdQuery{IDNumber: row.IDNumber}); total != 0 {
			t.Fatalf("other branch found %d", total)
		}
		if _, _, err := w.svc.Households(ctx, w.manager, registry.HouseholdQuery{IDNumber: "123"}); err == nil {
			t.Fatal("a 3-digit ID number was accepted as a lookup")
		}
		// Officers see only their own households, masked.
		hs, _, _ := w.svc.Households(ctx, w.manager, registry.HouseholdQuery{IDNumber: row.IDNumber})
		if _, total, _ := w.svc.Households(ctx, w.officer3, registry.HouseholdQuery{}); total != 0 {
			t.Fatalf("officer3 sees %d households before any assignment", total)
		}
		if _, err := w.svc.Assign(ctx, w.supWX01, registry.AssignInput{HouseholdIDs: []string{hs[0].ID}, OfficerID: w.officer3.UserID}); err != nil {
			t.Fatal(err)
		}
		mine, total, err := w.svc.Households(ctx, w.officer3, registry.HouseholdQuery{})
		if err != nil || total != 1 || mine[0].ID != hs[0].ID || mine[0].PhoneMasked == row.Phone {
			t.Fatalf("officer3's households: %+v %d %v", mine, total, err)
		}
	})
}

func TestRevealIsAuditedAndRestricted(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		oct := cleaned(t, readSample(t, "monitoring-list-2026-10.csv"))
		row := sampleHousehold(t, oct)
		w.commit(t, w.manager, w.preview(t, w.manager, "oct.csv", oct).ID)
		hs, _, _ := w.svc.Households(ctx, w.manager, registry.HouseholdQuery{HouseholdNo: row.HouseholdNo})
		id := hs[0].ID
		if _, err := w.svc.Assign(ctx, w.supWX01, registry.AssignInput{HouseholdIDs: []string{id}, OfficerID: w.officer3.UserID}); err != nil {
			t.Fatal(err)
		}

		for _, a := range []store.Actor{w.officer3, w.supXS, w.otherManager} {
			if _, err := w.svc.Reveal(ctx, a, id, registry.RevealInput{Reason: "核实身份"}); err == nil {
				t.Fatalf("%s revealed the numbers", a.Username)
			}
		}
		if _, err := w.svc.Reveal(ctx, w.supWX01, id, registry.RevealInput{}); err == nil {
			t.Fatal("reveal without a reason accepted")
		}
		if n := w.count(t, "SELECT COUNT(*) FROM audit_log WHERE action = 'household.reveal'"); n != 0 {
			t.Fatalf("refused reveals were audited as reveals: %d", n)
		}
		got, err := w.svc.Reveal(ctx, w.supWX01, id, registry.RevealInput{Reason: "贷款审批核实身份"})
		if err != nil || got.IDNumber != row.IDNumber || got.Phone != row.Phone {
			t.Fatalf("reveal = %+v, %v", got, err)
		}
		phoneOnly, err := w.svc.Reveal(ctx, w.manager, id, registry.RevealInput{Fields: []string{"phone"}, Reason: "联系农户"})
		if err != nil || phoneOnly.IDNumber != "" || phoneOnly.Phone != row.Phone {
			t.Fatalf("phone-only reveal = %+v, %v", phoneOnly, err)
		}
		var entries []store.AuditEntry
		w.db.Gorm(ctx).Where("action = ?", "household.reveal").Order("id").Find(&entries)
		if len(entries) != 2 || entries[0].ActorID != w.supWX01.UserID || entries[0].TargetID != id ||
			!strings.Contains(entries[0].Details, "贷款审批核实身份") || !strings.Contains(entries[1].Details, "phone") {
			t.Fatalf("audit entries = %+v", entries)
		}
		for _, e := range entries {
			if strings.Contains(e.Details, row.IDNumber) || strings.Contains(e.Details, row.Phone) {
				t.Fatal("the audit log holds a clear number")
			}
		}
	})
}

// The next list changes a household's phone: an officer's own edit is kept
// when the list's value did not change, and overwritten when it did.
func TestListPhoneVersusOfficerEdit(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		oct := cleaned(t, readSample(t, "monitoring-list-2026-10.csv"))
		row := sampleHousehold(t, oct)
		w.commit(t, w.manager, w.preview(t, w.manager, "oct.csv", oct).ID)
		codec, _ := w.svc.Codec()
		// The officer records a new phone on the device (what sync does).
		edited := "13900001111"
		enc, _ := codec.Seal(pii.Phone, edited)
		if err := w.db.Gorm(ctx).Exec(`UPDATE households SET phone_enc = ?, phone_bidx = ?, phone_masked = ? WHERE household_no = ?`,
			enc, codec.BlindIndex(pii.Phone, edited), pii.Mask(pii.Phone, edited), row.HouseholdNo).Error; err != nil {
			t.Fatal(err)
		}
		// Same list, another family size: the officer's phone stays.
		changed := bytes.Replace(oct, []byte(row.HouseholdNo+","+row.HeadName), []byte(row.HouseholdNo+","+row.HeadName+"某"), 1)
		p := w.preview(t, w.manager, "oct-name.csv", changed)
		if p.Summary.Changed != 1 {
			t.Fatalf("summary = %+v", p.Summary)
		}
		items, _, _ := w.svc.ImportItems(ctx, w.manager, p.ID, store.ChangeChanged, 0, 10)
		if len(items) != 1 || len(items[0].Fields) != 1 || items[0].Fields["head_name"].New != row.HeadName+"某" {
			t.Fatalf("changed fields = %+v", items)
		}
		w.commit(t, w.manager, p.ID)
		if got := w.phoneOf(t, row.HouseholdNo); got != edited {
			t.Fatalf("officer's phone overwritten by an unchanged list value: %q", got)
		}
		// The list now brings a new phone of its own: it wins, and is stamped.
		newPhone := "13722223333"
		withPhone := bytes.Replace(changed, []byte(","+row.Phone+","), []byte(","+newPhone+","), 1)
		p = w.preview(t, w.manager, "oct-phone.csv", withPhone)
		items, _, _ = w.svc.ImportItems(ctx, w.manager, p.ID, store.ChangeChanged, 0, 10)
		if len(items) != 1 || items[0].Fields["phone"].New != "137****3333" {
			t.Fatalf("changed fields = %+v", items)
		}
		w.commit(t, w.manager, p.ID)
		if got := w.phoneOf(t, row.HouseholdNo); got != newPhone {
			t.Fatalf("phone = %q, want the list's new %q", got, newPhone)
		}
		var ft string
		w.db.Gorm(ctx).Raw("SELECT field_times FROM households WHERE household_no = ?", row.HouseholdNo).Scan(&ft)
		st, ok := store.ParseFieldTimes(ft)["phone"]
		if !ok || st.V < 2 || st.T.IsZero() || time.Since(st.T) > time.Hour {
			t.Fatalf("phone stamp = %+v (%s)", st, ft)
		}
	})
}

func (w *world) phoneOf(t *testing.T, householdNo string) string {
	t.Helper()
	var h store.Household
	if err := w.db.Gorm(context.Background()).Where("household_no = ?", householdNo).Take(&h).Error; err != nil {
		t.Fatal(err)
	}
	codec, _ := w.svc.Codec()
	p, err := codec.Open(pii.Phone, h.PhoneEnc)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProgressPlansAndUnvisited(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		xs, wx := importOctober(t, w)
		if _, err := w.svc.Assign(ctx, w.supXS01, registry.AssignInput{HouseholdIDs: xs[:6], OfficerID: w.officer1.UserID, DueOn: "2026-11-10"}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Assign(ctx, w.supXS01, registry.AssignInput{HouseholdIDs: xs[6:10], OfficerID: w.officer2.UserID, DueOn: "2026-11-30"}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.Assign(ctx, w.supWX01, registry.AssignInput{HouseholdIDs: wx[:3], OfficerID: w.officer3.UserID, DueOn: "2026-11-20"}); err != nil {
			t.Fatal(err)
		}
		// officer1 visited two households this month and one last month; an absence does not count.
		w.visit(t, xs[0], w.officer1, time.Date(2026, 11, 3, 2, 0, 0, 0, time.UTC), "visited")
		w.visit(t, xs[1], w.officer1, time.Date(2026, 11, 4, 2, 0, 0, 0, time.UTC), "visited")
		w.visit(t, xs[2], w.officer1, time.Date(2026, 10, 20, 2, 0, 0, 0, time.UTC), "visited")
		w.visit(t, xs[3], w.officer1, time.Date(2026, 11, 5, 2, 0, 0, 0, time.UTC), "absent")
		w.visit(t, xs[6], w.officer2, time.Date(2026, 11, 6, 2, 0, 0, 0, time.UTC), "visited")
		w.now = time.Date(2026, 11, 12, 3, 0, 0, 0, time.UTC) // officer1's deadline (11-10) has passed

		p, err := w.svc.Progress(ctx, w.supXS01, registry.ProgressInput{Level: "officer"})
		if err != nil {
			t.Fatal(err)
		}
		byUnit := map[string]store.ProgressRow{}
		for _, r := range p.Units {
			byUnit[r.UnitID] = r
		}
		if p.Since != "2026-11-01" || len(p.Units) != 2 {
			t.Fatalf("progress = %+v", p)
		}
		if r := byUnit[w.officer1.UserID]; r.Assigned != 6 || r.Visited != 2 || r.Overdue != 4 || r.UnitName != "officer1" {
			t.Fatalf("officer1 = %+v", r)
		}
		if r := byUnit[w.officer2.UserID]; r.Assigned != 4 || r.Visited != 1 || r.Overdue != 0 {
			t.Fatalf("officer2 = %+v", r)
		}
		// Outlet level: all of XS-01's households, most without an officer yet.
		outlets, err := w.svc.Progress(ctx, w.manager, registry.ProgressInput{Level: "outlet"})
		if err != nil {
			t.Fatal(err)
		}
		atXS01 := w.count(t, "SELECT COUNT(*) FROM households WHERE outlet_id = ? AND list_status = 'active'", w.xs01)
		var found bool
		for _, r := range outlets.Units {
			if r.UnitID == w.xs01 {
				found = true
				if r.Assigned != atXS01 || r.Visited != 3 || r.Overdue != 4 || r.NoOfficer != atXS01-10 || r.UnitName != "秀山中和网点" {
					t.Fatalf("XS-01 = %+v (households %d)", r, atXS01)
				}
			}
		}
		if !found || len(outlets.Units) != 6 {
			t.Fatalf("outlet progress = %+v", outlets.Units)
		}
		county, _ := w.svc.Progress(ctx, w.manager, registry.ProgressInput{Level: "county", Org: w.units["XS"].ID})
		if len(county.Units) != 1 || county.Units[0].UnitID != w.units["XS"].ID || county.Total.Visited != 3 {
			t.Fatalf("county progress under XS = %+v", county)
		}
		branch, _ := w.svc.Progress(ctx, w.manager, registry.ProgressInput{Level: "branch"})
		if len(branch.Units) != 1 || branch.Total.Visited != 3 || branch.Total.Overdue != 4 {
			t.Fatalf("branch progress = %+v", branch)
		}
		// Scope: officers see themselves only; supervisors only their subtree; other branches nothing.
		if _, err := w.svc.Progress(ctx, w.officer1, registry.ProgressInput{Level: "outlet"}); err == nil {
			t.Fatal("officer read outlet progress")
		}
		mine, _ := w.svc.Progress(ctx, w.officer1, registry.ProgressInput{Level: "officer"})
		if len(mine.Units) != 1 || mine.Units[0].UnitID != w.officer1.UserID {
			t.Fatalf("officer1's own progress = %+v", mine)
		}
		if _, err := w.svc.Progress(ctx, w.supXS01, registry.ProgressInput{Level: "outlet", Org: w.wx01}); err == nil {
			t.Fatal("supervisor read another outlet's progress")
		}
		if other, _ := w.svc.Progress(ctx, w.otherManager, registry.ProgressInput{Level: "branch"}); len(other.Units) != 0 {
			t.Fatalf("other branch sees %+v", other.Units)
		}
		if _, err := w.svc.Progress(ctx, w.manager, registry.ProgressInput{Level: "province"}); err == nil {
			t.Fatal("unknown level accepted")
		}

		// Never visited, per officer: officer1's xs[0..2] were visited (one in October), xs[3..5] never.
		un, total, err := w.svc.Unvisited(ctx, w.supXS01, w.officer1.UserID, "", 0, 100)
		if err != nil || total != 3 || len(un) != 3 {
			t.Fatalf("unvisited for officer1 = %d, %v", total, err)
		}
		_, total, _ = w.svc.Unvisited(ctx, w.supXS01, w.officer1.UserID, "2026-11-01", 0, 100)
		if total != 4 {
			t.Fatalf("not visited since November = %d, want 4", total)
		}
		if _, _, err := w.svc.Unvisited(ctx, w.officer2, w.officer1.UserID, "", 0, 10); err == nil {
			t.Fatal("officer2 read officer1's list")
		}

		// Plans: the supervisor plans for the household's officer.
		w.now = time.Date(2026, 11, 12, 3, 0, 0, 0, time.UTC)
		if _, err := w.svc.CreatePlan(ctx, w.officer1, registry.PlanInput{HouseholdID: xs[4], PlannedOn: "2026-11-13"}); err == nil {
			t.Fatal("officer created a plan through the staff API")
		}
		if _, err := w.svc.CreatePlan(ctx, w.supXS01, registry.PlanInput{HouseholdID: wx[0], PlannedOn: "2026-11-13"}); err == nil {
			t.Fatal("supervisor planned outside their subtree")
		}
		if _, err := w.svc.CreatePlan(ctx, w.supXS01, registry.PlanInput{HouseholdID: xs[4], OfficerID: w.officer2.UserID, PlannedOn: "2026-11-13"}); err == nil {
			t.Fatal("plan for an officer who does not hold the household")
		}
		if _, err := w.svc.CreatePlan(ctx, w.supXS01, registry.PlanInput{HouseholdID: xs[4], PlannedOn: "2026-11-13", WindowEnd: "2026-11-12"}); err == nil {
			t.Fatal("window ending before it starts accepted")
		}
		seq := w.lastSeq(t)
		plan, err := w.svc.CreatePlan(ctx, w.supXS01, registry.PlanInput{HouseholdID: xs[4], PlannedOn: "2026-11-13", WindowEnd: "2026-11-15", Notes: "带上贷款资料"})
		if err != nil || plan.OfficerID != w.officer1.UserID || plan.Status != "planned" {
			t.Fatalf("plan = %+v, %v", plan, err)
		}
		if cs := w.changesSince(t, seq); len(cs) != 1 || cs[0].EntityID != plan.ID {
			t.Fatalf("plan changes = %+v", cs)
		}
		if _, err := w.svc.CreatePlan(ctx, w.supXS01, registry.PlanInput{HouseholdID: xs[5], PlannedOn: "2026-11-12"}); err != nil {
			t.Fatal(err)
		}
		// Time passes: the windowed plan is overdue after its window, the other after its day.
		w.now = time.Date(2026, 11, 14, 3, 0, 0, 0, time.UTC)
		over, total, err := w.svc.OverduePlans(ctx, w.supXS01, "", 0, 10)
		if err != nil || total != 1 || over[0].HouseholdID != xs[5] {
			t.Fatalf("overdue on 11-14 = %+v, %v", over, err)
		}
		w.now = time.Date(2026, 11, 16, 3, 0, 0, 0, time.UTC)
		over, total, _ = w.svc.OverduePlans(ctx, w.officer1, "", 0, 10)
		if total != 2 || over[0].OfficerID != w.officer1.UserID {
			t.Fatalf("officer1's overdue plans on 11-16 = %+v", over)
		}
		if _, total, _ := w.svc.OverduePlans(ctx, w.officer3, "", 0, 10); total != 0 {
			t.Fatalf("officer3 sees %d of officer1's plans", total)
		}
		if _, total, _ := w.svc.OverduePlans(ctx, w.supWX01, "", 0, 10); total != 0 {
			t.Fatalf("WX-01's supervisor sees %d of XS-01's plans", total)
		}
		if _, _, err := w.svc.OverduePlans(ctx, w.officer3, w.officer1.UserID, 0, 10); err == nil {
			t.Fatal("officer3 asked for officer1's plans")
		}
	})
}

// visit records a visit as the sync engine would.
func (w *world) visit(t *testing.T, householdID string, officer store.Actor, at time.Time, outcome string) {
	t.Helper()
	now := store.Now()
	v := store.Visit{ID: store.NewID(), BranchID: officer.BranchID, HouseholdID: householdID, OfficerID: officer.UserID,
		Outcome: outcome, StartedAt: at, VisitedAt: at, ReceivedAt: at, Status: "recorded", Flags: "[]", FieldTimes: "{}",
		Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := w.db.Gorm(context.Background()).Create(&v).Error; err != nil {
		t.Fatal(err)
	}
}
