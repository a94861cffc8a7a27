package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

// TestDevicesMatrix: each role sees and may revoke the phones of the users it
// reaches, and nothing else.
func TestDevicesMatrix(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		own := env.Login(t, testenv.Officer1, testenv.Password, "phone-own")
		sameOutlet := env.Login(t, testenv.Officer2, testenv.Password, "phone-same-outlet")
		otherCounty := env.Login(t, testenv.Officer3, testenv.Password, "phone-other-county")
		otherBranch := env.Login(t, testenv.OtherBranchOfficer, testenv.Password, "phone-other-branch")
		type row struct {
			user     string
			sees     []string
			hidden   []string
			revokeOK string
			revokeNo string
		}
		for _, r := range []row{
			{testenv.Supervisor1, []string{"phone-own", "phone-same-outlet"}, []string{"phone-other-county", "phone-other-branch"}, sameOutlet.DeviceID, otherCounty.DeviceID},
			{testenv.Manager1, []string{"phone-own", "phone-other-county"}, []string{"phone-other-branch"}, otherCounty.DeviceID, otherBranch.DeviceID},
			{testenv.OtherBranchManager, []string{"phone-other-branch"}, []string{"phone-own", "phone-other-county"}, otherBranch.DeviceID, own.DeviceID},
		} {
			b := mustSignIn(t, env, r.user)
			p := b.get("/console/devices")
			wantStatus(t, p, http.StatusOK, r.user+" devices")
			for _, s := range r.sees {
				mustContain(t, p.Body, "test "+s, r.user+" devices")
			}
			for _, s := range r.hidden {
				mustNotContain(t, p.Body, "test "+s, r.user+" devices")
			}
			wantStatus(t, b.post("/console/devices/"+r.revokeNo+"/revoke", nil), http.StatusNotFound, r.user+" revokes out of reach")
			d, _ := env.DB.DeviceByID(context.Background(), store.Actor{Role: store.RoleAdmin}, r.revokeNo)
			if d.Status != store.DeviceActive {
				t.Fatalf("%s revoked a device out of reach", r.user)
			}
			wantStatus(t, b.post("/console/devices/"+r.revokeOK+"/revoke", nil), http.StatusSeeOther, r.user+" revokes in reach")
		}
		// The revoked phone is refused by the API at once.
		resp, _ := env.Do(t, http.MethodGet, "/api/v1/me", sameOutlet.AccessToken, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("a revoked phone still gets %d", resp.StatusCode)
		}
		// The stale filter keeps phones that never synced.
		b := mustSignIn(t, env, testenv.Manager1)
		p := b.get("/console/devices?stale=3&q=officer1")
		mustContain(t, p.Body, "test phone-own", "never-synced phone is stale")
		mustNotContain(t, p.Body, "test phone-other-county", "search by user")
	})
}

// TestDevicesByLastSync: a phone that never synced sorts as the oldest
// sync, first ascending and last descending, on both databases (whose NULLs
// sort at opposite ends).
func TestDevicesByLastSync(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		u := env.User(t, testenv.Officer3)
		now := store.Now()
		older, newer := now.Add(-2*time.Hour), now.Add(-time.Hour)
		devices := []store.Device{
			{Name: "排序机-从未", LastSyncAt: nil},
			{Name: "排序机-较早", LastSyncAt: &older},
			{Name: "排序机-最近", LastSyncAt: &newer},
		}
		for i := range devices {
			d := &devices[i]
			d.ID, d.BranchID, d.UserID, d.ClientDeviceID, d.Status, d.CreatedAt = store.NewID(), u.BranchID, u.ID, fmt.Sprint("sort-", i), store.DeviceActive, now
		}
		if err := env.DB.Gorm(context.Background()).Create(&devices).Error; err != nil {
			t.Fatal(err)
		}
		b := mustSignIn(t, env, testenv.Manager1)
		order := func(dir string) []string {
			t.Helper()
			p := b.get("/console/devices?q=" + url.QueryEscape("排序机") + "&sort=last_sync&dir=" + dir)
			wantStatus(t, p, http.StatusOK, "devices by last sync")
			var names []string
			for _, m := range regexp.MustCompile(`排序机-[^<\s"]+`).FindAllString(p.Body, -1) {
				if !slices.Contains(names, m) {
					names = append(names, m)
				}
			}
			return names
		}
		if got, want := order("asc"), []string{"排序机-从未", "排序机-较早", "排序机-最近"}; !slices.Equal(got, want) {
			t.Fatalf("ascending: %v, want %v", got, want)
		}
		if got, want := order("desc"), []string{"排序机-最近", "排序机-较早", "排序机-从未"}; !slices.Equal(got, want) {
			t.Fatalf("descending: %v, want %v", got, want)
		}
	})
}

func TestAuditLogScopeAndSearch(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		mustSignIn(t, env, testenv.Supervisor1)
		mustSignIn(t, env, testenv.Manager1)
		mustSignIn(t, env, testenv.OtherBranchManager)
		sup1 := env.User(t, testenv.Supervisor1).ID
		mgr1 := env.User(t, testenv.Manager1).ID
		hbm := env.User(t, testenv.OtherBranchManager).ID

		for _, c := range []struct {
			user         string
			sees, hidden []string
		}{
			{testenv.Supervisor1, []string{sup1}, []string{mgr1, hbm}},
			{testenv.Manager1, []string{sup1, mgr1}, []string{hbm}},
			{testenv.Admin, []string{sup1, mgr1, hbm}, nil},
		} {
			b := mustSignIn(t, env, c.user)
			p := b.get("/console/audit?q=" + url.QueryEscape("console.sign_in"))
			wantStatus(t, p, http.StatusOK, c.user+" audit log")
			for _, id := range c.sees {
				mustContain(t, p.Body, id, c.user+" audit log")
			}
			for _, id := range c.hidden {
				mustNotContain(t, p.Body, id, c.user+" audit log")
			}
		}
		b := mustSignIn(t, env, testenv.Admin)
		p := b.get("/console/audit?q=" + mgr1)
		mustContain(t, p.Body, mgr1, "search by target id")
		mustNotContain(t, p.Body, sup1, "search by target id")
	})
}

func TestConflictsScope(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		bk := newBank(t, env)
		add := func(f fixture, officer, outlet, field string) {
			t.Helper()
			u := env.User(t, officer)
			hid, oid := f.ID, unitID(t, env.DB, outlet)
			dv, sv := `"138****0000"`, `"138****1234"`
			c := store.Conflict{
				ID: store.NewID(), BranchID: f.branch(t, env.DB), Kind: store.ConflictField, UserID: u.ID, DeviceID: "d-" + officer,
				MutationID: store.NewID(), Entity: "household", EntityID: f.ID, HouseholdID: &hid, OutletID: &oid,
				Field: field, Rule: "event_time", DeviceValue: &dv, ServerValue: &sv, Winner: "server", CreatedAt: time.Now().UTC(),
			}
			if err := env.DB.Gorm(context.Background()).Create(&c).Error; err != nil {
				t.Fatal(err)
			}
		}
		add(bk.own1, testenv.Officer1, "XS-01", "phone")
		add(bk.otherCounty, testenv.Officer3, "WX-01", "situation_notes")
		sup := mustSignIn(t, env, testenv.Supervisor1)
		p := sup.get("/console/conflicts")
		wantStatus(t, p, http.StatusOK, "conflicts")
		mustContain(t, p.Body, bk.own1.No, "own outlet's conflict")
		mustNotContain(t, p.Body, "situation_notes", "another county's conflict")
		p = sup.get("/console/conflicts?q=" + url.QueryEscape(bk.own1.Head))
		mustContain(t, p.Body, bk.own1.No, "search by head's name")
		p = sup.get("/console/conflicts?q=nobody")
		mustNotContain(t, p.Body, bk.own1.No+"</a>", "search that matches nothing")
		mgr := mustSignIn(t, env, testenv.Manager1)
		mustContain(t, mgr.get("/console/conflicts").Body, "situation_notes", "the branch manager sees the other county")
	})
}

// listData is what TestEveryListPagesSortsAndSearches seeds: more rows
// than a page holds in every list that pages, each list with one row its
// search finds.
type listData struct {
	month      string // this month
	importID   string // the preview whose findings are listed
	households []fixture
}

func seedLists(t *testing.T, env *testenv.Env) listData {
	t.Helper()
	ctx := context.Background()
	db := env.DB
	d := listData{month: time.Now().In(env.Config.Location()).Format("2006-01")}
	outlet, err := db.OrgUnitByCode(ctx, "XS-01")
	if err != nil {
		t.Fatal(err)
	}
	branch, county := outlet.BranchID, *outlet.ParentID
	mgr, sup, off1 := env.User(t, testenv.Manager1), env.User(t, testenv.Supervisor1), env.User(t, testenv.Officer1)
	create := func(what string, rows any) {
		t.Helper()
		if err := db.Transact(ctx, func(tx *store.Tx) error { return tx.Create(rows).Error }); err != nil {
			t.Fatalf("seed %s: %v", what, err)
		}
	}
	t0 := time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC)
	const n = 55

	// 55 officers at XS-01, each with one household visited this month;
	// the last is the one a search by "特别" finds.
	var officers []store.User
	err = db.Transact(ctx, func(tx *store.Tx) error {
		for i := 1; i <= n; i++ {
			name := fmt.Sprintf("列表经理%02d", i)
			if i == n {
				name = "特别经理"
			}
			u, err := tx.CreateUser(store.NewUser{Username: seq("lst_officer_", i), DisplayName: name, Role: store.RoleOfficer,
				OrgUnitCode: "XS-01", PasswordHash: "not-a-hash"})
			if err != nil {
				return err
			}
			officers = append(officers, u)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("seed officers: %v", err)
	}
	for i, u := range officers {
		f := addHousehold(t, db, "XS-01", u.Username, seq("5009", i+1), fmt.Sprintf("走访户%02d", i+1))
		addVisit(t, db, f, u.Username, store.Now(), "在家")
		d.households = append(d.households, f)
	}

	// 55 households of officer1 exempted this month.
	var exemptions []store.CoverageExemption
	for i := 1; i <= n; i++ {
		f := addHousehold(t, db, "XS-01", testenv.Officer1, seq("5008", i), fmt.Sprintf("免访户%02d", i))
		exemptions = append(exemptions, store.CoverageExemption{ID: store.NewID(), BranchID: branch, HouseholdID: f.ID, Month: d.month,
			OutletID: &outlet.ID, Reason: fmt.Sprintf("外出务工%02d", i), CreatedBy: sup.ID, CreatedAt: t0})
	}
	create("exemptions", &exemptions)

	// 55 sign-offs of XS-01 this month, each correcting the one before,
	// and one of XS-02.
	var signoffs []store.CoverageSignoff
	var prev *string
	for i := 1; i <= n; i++ {
		s := store.CoverageSignoff{ID: store.NewID(), BranchID: branch, OutletID: outlet.ID, Month: d.month, SignedBy: sup.ID,
			SignedAt: t0.Add(time.Duration(i) * time.Minute), Note: fmt.Sprintf("第%02d次签字", i), SupersedesID: prev, Figures: "{}"}
		prev = &s.ID
		signoffs = append(signoffs, s)
	}
	signoffs = append(signoffs, store.CoverageSignoff{ID: store.NewID(), BranchID: branch, OutletID: unitID(t, db, "XS-02"), Month: d.month,
		SignedBy: mgr.ID, SignedAt: t0, Note: "另一网点", Figures: "{}"})
	for i := range signoffs {
		create("sign-off", &signoffs[i])
	}

	// 55 discarded imports and one preview with 56 findings.
	var snaps []store.Snapshot
	for i := 1; i <= n; i++ {
		snaps = append(snaps, store.Snapshot{ID: store.NewID(), BranchID: branch, FileName: fmt.Sprintf("名单-%04d.csv", i),
			Status: store.SnapshotDiscarded, Summary: "{}", CreatedAt: t0.Add(time.Duration(i) * time.Hour)})
	}
	d.importID = store.NewID()
	snaps = append(snaps, store.Snapshot{ID: d.importID, BranchID: branch, FileName: "Special-List.xlsx", Status: store.SnapshotPreviewed,
		Summary: "{}", CreatedAt: t0})
	create("imports", &snaps)
	var probs []store.ImportProblem
	for i := 1; i <= n; i++ {
		probs = append(probs, store.ImportProblem{BranchID: branch, PreviewID: d.importID, Ord: i, Line: i + 1, Col: "身份证号",
			Code: "bad_id", Severity: "error", Message: "身份证号格式不正确", MessageEN: "malformed ID number"})
	}
	probs = append(probs, store.ImportProblem{BranchID: branch, PreviewID: d.importID, Ord: n + 1, Line: 900, Col: "联系电话",
		Code: "bad_phone", Severity: "warning", Message: "电话号码位数不对", MessageEN: "malformed phone number"})
	create("findings", &probs)

	// Versions of 55 months from 2019-01, and a restatement of 2019-01
	// whose difference names every officer above and the late visit of
	// each one's household.
	var versions []store.ReportVersion
	for i := 0; i < n; i++ {
		m := time.Date(2019, time.Month(1+i), 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
		versions = append(versions, store.ReportVersion{BranchID: branch, Month: m, Version: 1, Kind: store.VersionClose, CreatedBy: mgr.ID, CreatedAt: t0})
	}
	versions = append(versions, store.ReportVersion{BranchID: branch, Month: "2019-01", Version: 2, Kind: store.VersionRestatement,
		LateRecords: n, CreatedAt: t0.Add(time.Hour)})
	create("versions", &versions)
	var vrows []store.ReportVersionRow
	var late []store.ReportLateRecord
	two := 2
	for i, u := range officers {
		vrows = append(vrows, store.ReportVersionRow{BranchID: branch, Month: "2019-01", Version: 2,
			ReportKey:     store.ReportKey{Level: store.LevelOfficer, CountyID: county, OutletID: outlet.ID, OfficerID: u.ID},
			ReportFigures: store.ReportFigures{VisitsTotal: 1}})
		late = append(late, store.ReportLateRecord{ID: store.NewID(), BranchID: branch, Month: "2019-01", Entity: "visit", EntityID: store.NewID(),
			HouseholdID: d.households[i].ID, OfficerID: u.ID, OutletID: outlet.ID, CountyID: county, ChangeSeq: int64(i + 1),
			ArrivedAt: t0.Add(time.Duration(i) * time.Minute), Version: &two})
	}
	create("version rows", &vrows)
	create("late records", &late)

	// 55 phones of officer1 and one of officer3.
	var devices []store.Device
	for i := 1; i <= n; i++ {
		devices = append(devices, store.Device{ID: store.NewID(), BranchID: branch, UserID: off1.ID, ClientDeviceID: seq("dev-", i),
			Name: seq("测试机-", i), Status: store.DeviceActive, CreatedAt: t0})
	}
	devices = append(devices, store.Device{ID: store.NewID(), BranchID: branch, UserID: env.User(t, testenv.Officer3).ID,
		ClientDeviceID: "dev-special", Name: "特别手机", Status: store.DeviceActive, CreatedAt: t0})
	create("devices", &devices)
	return d
}

var pagerText = regexp.MustCompile(`第 (\d+) 页，共 (\d+) 页（(\d+) 条）`)

// listOn finds the list with element id on a page: its rows (by key when
// key is set, else the table's body rows) and the total its pager reports.
func listOn(t *testing.T, body, id string, key *regexp.Regexp) ([]string, int) {
	t.Helper()
	at := strings.Index(body, `id="`+id+`"`)
	if at < 0 {
		t.Fatalf("no element %q on the page", id)
	}
	seg := body[at:]
	end := strings.Index(seg, `<nav class="pager"`)
	if end < 0 {
		t.Fatalf("no pager after %q", id)
	}
	m := pagerText.FindStringSubmatch(seg[end:])
	if m == nil {
		t.Fatalf("unreadable pager after %q", id)
	}
	total, _ := strconv.Atoi(m[3])
	seg = seg[:end]
	var rows []string
	if key != nil {
		for _, k := range key.FindAllStringSubmatch(seg, -1) {
			rows = append(rows, k[1])
		}
		return rows, total
	}
	if b := strings.Index(seg, "<tbody>"); b >= 0 {
		seg = seg[b:]
	}
	for _, r := range strings.Split(seg, "<tr")[1:] {
		if !strings.Contains(r, `class="empty"`) {
			rows = append(rows, r[:strings.Index(r, "</tr>")])
		}
	}
	return rows, total
}

// TestEveryListPagesSortsAndSearches: each list that pages shows other rows
// on page 2, falls back to its default order for a sort key outside its
// allow-list, takes SQL in the search and the sort key as text, and is
// narrowed by its search.
func TestEveryListPagesSortsAndSearches(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		d := seedLists(t, env)
		b := mustSignIn(t, env, testenv.Manager1)
		for _, c := range []struct {
			name, path, prefix, id string
			key                    *regexp.Regexp
			total                  int
			sort, dir              string // a key of the allow-list and a direction its default order is not
			search                 string
			found                  int
		}{
			{name: "imports", path: "/console/imports", id: "imports", total: 56, sort: "file", dir: "asc", search: "special", found: 1},
			{name: "import findings", path: "/console/imports/" + d.importID, prefix: "p", id: "problems", total: 56, sort: "row", dir: "desc", search: "联系电话", found: 1},
			{name: "coverage officers", path: "/console/coverage?month=" + d.month, prefix: "o", id: "officers", total: 56, sort: "name", dir: "desc", search: "特别", found: 1},
			{name: "exemptions", path: "/console/coverage?month=" + d.month, prefix: "e", id: "exemptions", total: 55, sort: "household_no", dir: "desc", search: "免访户07", found: 1},
			{name: "sign-offs", path: "/console/coverage?month=" + d.month, prefix: "s", id: "signoffs", total: 56, sort: "signed_at", dir: "asc", search: "XS-02", found: 1},
			{name: "spot checks", path: "/console/reviews?tab=spot&month=" + d.month, prefix: "s", id: "spot", key: regexp.MustCompile(`<h2>([^<]+)</h2>`),
				total: 55, sort: "officer", dir: "desc", search: "特别", found: 1},
			{name: "versions", path: "/console/reports", prefix: "v", id: "versions", total: 56, sort: "month", dir: "asc", search: "2020", found: 12},
			{name: "restatement lines", path: "/console/reports/2019-01/versions/2/diff?org=CQ", id: "diff", total: 55, sort: "name", dir: "desc", search: "特别", found: 1},
			{name: "late records", path: "/console/reports/2019-01/versions/2/diff?org=CQ", prefix: "l", id: "late", total: 55, sort: "arrived", dir: "desc",
				search: d.households[6].No, found: 1},
			{name: "devices", path: "/console/devices", id: "devices", total: 56, sort: "user", dir: "desc", search: "特别手机", found: 1},
		} {
			t.Run(c.name, func(t *testing.T) {
				at := func(params ...string) (string, []string, int) {
					t.Helper()
					u := c.path
					for i := 0; i+1 < len(params); i += 2 {
						sep := "?"
						if strings.Contains(u, "?") {
							sep = "&"
						}
						u += sep + c.prefix + params[i] + "=" + url.QueryEscape(params[i+1])
					}
					p := b.get(u)
					wantStatus(t, p, http.StatusOK, c.name+" "+u)
					rows, total := listOn(t, p.Body, c.id, c.key)
					return p.Body, rows, total
				}
				_, first, total := at()
				if total != c.total || len(first) != 50 {
					t.Fatalf("page 1: %d rows of %d, want 50 of %d", len(first), total, c.total)
				}
				_, second, _ := at("page", "2")
				if len(second) != c.total-50 {
					t.Fatalf("page 2: %d rows, want %d", len(second), c.total-50)
				}
				for _, r := range second {
					if slices.Contains(first, r) {
						t.Fatalf("page 2 repeats a row of page 1: %.200s", r)
					}
				}
				if _, sorted, _ := at("sort", c.sort, "dir", c.dir); slices.Equal(sorted, first) {
					t.Fatalf("sorting by %s %s changed nothing", c.sort, c.dir)
				}
				for _, bad := range []string{"id;DROP TABLE users", "u.password_hash", "1"} {
					_, rows, n := at("sort", bad)
					if n != c.total || !slices.Equal(rows, first) {
						t.Fatalf("sort %q: %d rows of %d, not the default order", bad, len(rows), n)
					}
				}
				for _, q := range []string{"' OR 1=1 --", "%", "_%_"} {
					if _, _, n := at("q", q); n != 0 {
						t.Fatalf("search %q is not taken as text: %d rows", q, n)
					}
				}
				var users int64
				if err := env.DB.Gorm(context.Background()).Model(&store.User{}).Count(&users).Error; err != nil || users == 0 {
					t.Fatalf("users after the injection attempts: %d, %v", users, err)
				}
				body, found, n := at("q", c.search)
				if n != c.found || len(found) != c.found {
					t.Fatalf("search %q: %d rows of %d, want %d", c.search, len(found), n, c.found)
				}
				mustContain(t, body, c.search, "the search's row")
			})
		}
		// The overview's panels show the top of their lists and link to the
		// whole list, which pages.
		t.Run("overview panels", func(t *testing.T) {
			p := b.get("/console/overview")
			wantStatus(t, p, http.StatusOK, "overview")
			stale := p.Body[strings.Index(p.Body, `id="stale"`):]
			stale = stale[:strings.Index(stale, "</table>")]
			if n := strings.Count(stale, "<tr>") - 1; n != 10 {
				t.Fatalf("the stale panel shows %d officers, want 10", n)
			}
			mustContain(t, p.Body, `id="stale-more"`, "the stale panel says how many it left out")
			mustContain(t, p.Body, `href="/console/devices?stale=3" id="stale-all"`, "the stale panel links to the devices")
			mustContain(t, p.Body, `id="overdue-all"`, "the overdue panel links to the report")
		})
	})
}
