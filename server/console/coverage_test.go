package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

// bank is the households and visits every coverage test starts from: an
// outlet of supervisor1 (XS-01) with three households, the other outlet of
// the same county (XS-02), an outlet in another county (WX-01) and one in
// the other branch (HB-ES-01).
type bank struct {
	env                     *testenv.Env
	own1, own2, own3        fixture // XS-01, officer1
	sameCounty              fixture // XS-02
	otherCounty             fixture // WX-01, officer3
	otherBranch             fixture // HB-ES-01, hb_officer
	visit1, visit2          string  // flagged visits at own1, own2
	visitOther, visitOtherB string  // flagged visits at otherCounty, otherBranch
	outlet, outletWX        string  // org unit ids
	outletHB                string
}

func newBank(t *testing.T, env *testenv.Env) *bank {
	t.Helper()
	return newBankAt(t, env, time.Time{})
}

// newBankAt is newBank with the visits made at a given time; the zero time
// means just after the households were assigned.
func newBankAt(t *testing.T, env *testenv.Env, now time.Time) *bank {
	t.Helper()
	db := env.DB
	b := &bank{env: env}
	b.own1 = addHousehold(t, db, "XS-01", testenv.Officer1, "500241001", "张三")
	b.own2 = addHousehold(t, db, "XS-01", testenv.Officer1, "500241002", "李四")
	b.own3 = addHousehold(t, db, "XS-01", testenv.Officer2, "500241003", "王五")
	b.sameCounty = addHousehold(t, db, "XS-02", "", "500241101", "赵六")
	b.otherCounty = addHousehold(t, db, "WX-01", testenv.Officer3, "500238001", "钱七")
	b.otherBranch = addHousehold(t, db, "HB-ES-01", testenv.OtherBranchOfficer, "422801001", "孙八")
	if now.IsZero() {
		now = store.Now()
	}
	b.visit1 = addVisit(t, db, b.own1, testenv.Officer1, now, "家中有两头猪")
	b.visit2 = addVisit(t, db, b.own2, testenv.Officer1, now, "外出务工")
	b.visitOther = addVisit(t, db, b.otherCounty, testenv.Officer3, now, "在家")
	b.visitOtherB = addVisit(t, db, b.otherBranch, testenv.OtherBranchOfficer, now, "在家")
	for _, id := range []struct{ branch, visit string }{
		{b.own1.branch(t, db), b.visit1}, {b.own2.branch(t, db), b.visit2},
		{b.otherCounty.branch(t, db), b.visitOther}, {b.otherBranch.branch(t, db), b.visitOtherB},
	} {
		flagVisits(t, env, id.branch, id.visit)
	}
	b.outlet = unitID(t, db, "XS-01")
	b.outletWX = unitID(t, db, "WX-01")
	b.outletHB = unitID(t, db, "HB-ES-01")
	return b
}

func (f fixture) branch(t testing.TB, db *store.DB) string {
	t.Helper()
	var h store.Household
	if err := db.Gorm(context.Background()).Where("id = ?", f.ID).Take(&h).Error; err != nil {
		t.Fatal(err)
	}
	return h.BranchID
}

func unitID(t testing.TB, db *store.DB, code string) string {
	t.Helper()
	u, err := db.OrgUnitByCode(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// flagVisits runs the automatic checks on visits as the sync engine does
// when they arrive. The fixtures have no GPS, so they are all flagged.
func flagVisits(t testing.TB, env *testenv.Env, branchID string, ids ...string) {
	t.Helper()
	err := env.DB.Transact(context.Background(), func(tx *store.Tx) error {
		return coverage.FlagVisits(tx, env.Config.Location(), branchID, ids)
	})
	if err != nil {
		t.Fatalf("flag visits: %v", err)
	}
}

func setDue(t testing.TB, db *store.DB, f fixture, day string) {
	t.Helper()
	err := db.Gorm(context.Background()).Model(&store.Assignment{}).
		Where("household_id = ? AND ended_at IS NULL", f.ID).Update("officer_due_on", day).Error
	if err != nil {
		t.Fatal(err)
	}
}

func visitRow(t testing.TB, db *store.DB, id string) store.Visit {
	t.Helper()
	var v store.Visit
	if err := db.Gorm(context.Background()).Where("id = ?", id).Take(&v).Error; err != nil {
		t.Fatal(err)
	}
	return v
}

// TestCoverageMatrix walks the authorization matrix over the coverage
// pages: what each role sees of its own outlet, the same county, another
// county and another branch.
func TestCoverageMatrix(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		bk := newBank(t, env)
		type want struct {
			sees, hidden []fixture
		}
		cases := []struct {
			user string
			org  string
			want want
		}{
			{testenv.Supervisor1, "", want{sees: []fixture{bk.own3}, hidden: []fixture{bk.sameCounty, bk.otherCounty, bk.otherBranch}}},
			{testenv.Manager1, "", want{sees: []fixture{bk.own3, bk.sameCounty}, hidden: []fixture{bk.otherBranch}}},
			{testenv.Admin, "", want{sees: []fixture{bk.own3, bk.sameCounty}, hidden: []fixture{bk.otherBranch}}},
			{testenv.OtherBranchManager, "", want{hidden: []fixture{bk.own3, bk.sameCounty, bk.otherCounty}}},
		}
		for _, tc := range cases {
			b := mustSignIn(t, env, tc.user)
			p := b.get("/console/coverage?show=all")
			wantStatus(t, p, http.StatusOK, tc.user+" ledger")
			for _, f := range tc.want.sees {
				mustContain(t, p.Body, f.No, tc.user+" ledger")
			}
			for _, f := range tc.want.hidden {
				mustNotContain(t, p.Body, f.No, tc.user+" ledger")
			}
		}

		// Asking for another subtree by id reads as "not found".
		sup := mustSignIn(t, env, testenv.Supervisor1)
		for name, org := range map[string]string{"other county": bk.outletWX, "other branch": bk.outletHB} {
			for _, path := range []string{"/console/coverage?org=", "/console/overview?org=", "/console/reviews?org="} {
				p := sup.get(path + url.QueryEscape(org))
				wantStatus(t, p, http.StatusNotFound, "supervisor1 asks for "+name+" at "+path)
				mustNotContain(t, p.Body, bk.otherCounty.No, name)
			}
		}
		mgr := mustSignIn(t, env, testenv.Manager1)
		wantStatus(t, mgr.get("/console/coverage?org="+bk.outletWX), http.StatusOK, "manager1 on another county")
		wantStatus(t, mgr.get("/console/coverage?org="+bk.outletHB), http.StatusNotFound, "manager1 on another branch")
		hb := mustSignIn(t, env, testenv.OtherBranchManager)
		wantStatus(t, hb.get("/console/coverage?org="+bk.outlet), http.StatusNotFound, "hb_manager on CQ")

		// The review queue: own outlet's flagged visits only.
		p := sup.get("/console/reviews")
		wantStatus(t, p, http.StatusOK, "review queue")
		mustContain(t, p.Body, "visit-"+bk.visit1, "own flagged visit")
		mustContain(t, p.Body, "visit-"+bk.visit2, "own flagged visit")
		mustNotContain(t, p.Body, bk.visitOther, "another county's visit")
		mustNotContain(t, p.Body, bk.visitOtherB, "another branch's visit")
		mustContain(t, p.Body, "无定位", "flag evidence in Chinese")

		// Judging a visit out of reach reads as "not found" and changes nothing.
		for name, id := range map[string]string{"other county": bk.visitOther, "other branch": bk.visitOtherB} {
			p := sup.post("/console/reviews/"+id+"/confirm", nil)
			wantStatus(t, p, http.StatusNotFound, "confirm "+name)
			if v := visitRow(t, env.DB, id); v.Status != "recorded" {
				t.Fatalf("%s visit is %s after a refused confirmation", name, v.Status)
			}
		}
		p = hb.post("/console/reviews/"+bk.visit1+"/confirm", nil)
		wantStatus(t, p, http.StatusNotFound, "hb_manager confirms a CQ visit")

		// Household pages follow the same reach.
		for _, c := range []struct {
			b    *browser
			f    fixture
			want int
		}{
			{sup, bk.own1, 200}, {sup, bk.sameCounty, 404}, {sup, bk.otherCounty, 404}, {sup, bk.otherBranch, 404},
			{mgr, bk.otherCounty, 200}, {mgr, bk.otherBranch, 404}, {hb, bk.otherBranch, 200}, {hb, bk.own1, 404},
		} {
			p := c.b.get("/console/households/" + c.f.ID)
			wantStatus(t, p, c.want, "household "+c.f.No)
			if c.want == 404 {
				mustNotContain(t, p.Body, c.f.Head, "refused household page")
			}
		}
	})
}

func TestReviewAndSignOff(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		bk := newBank(t, env)
		sup := mustSignIn(t, env, testenv.Supervisor1)
		sup.get("/console/reviews")

		p := sup.post("/console/reviews/"+bk.visit1+"/confirm", url.Values{"note": {"电话回访属实"}, "back": {"/console/reviews"}})
		wantStatus(t, p, http.StatusSeeOther, "confirm")
		if loc := p.Resp.Header.Get("Location"); !strings.Contains(loc, "ok=rev.ok.confirmed") {
			t.Fatalf("confirm goes to %q", loc)
		}
		if v := visitRow(t, env.DB, bk.visit1); v.Status != "confirmed" || v.ReviewNote != "电话回访属实" {
			t.Fatalf("visit after confirm: %s %q", v.Status, v.ReviewNote)
		}
		page := sup.get(p.Resp.Header.Get("Location"))
		mustContain(t, page.Body, "已确认该次走访", "flash after confirm")

		// "Has issues" needs a reason; without one nothing changes.
		p = sup.post("/console/reviews/"+bk.visit2+"/issues", url.Values{"kind": {"revisit"}, "reason": {"  "}})
		wantStatus(t, p, http.StatusBadRequest, "issues without a reason")
		mustContain(t, p.Body, "请填写原因", "reason required message")
		if v := visitRow(t, env.DB, bk.visit2); v.Status != "recorded" {
			t.Fatalf("visit after a refused has-issues: %s", v.Status)
		}
		p = sup.post("/console/reviews/"+bk.visit2+"/issues", url.Values{"kind": {"revisit"}, "reason": {"照片与户址不符"}})
		wantStatus(t, p, http.StatusSeeOther, "issues")
		if v := visitRow(t, env.DB, bk.visit2); v.Status != "has_issues" {
			t.Fatalf("visit after has-issues: %s", v.Status)
		}
		var tasks int64
		env.DB.Gorm(context.Background()).Model(&store.Task{}).Where("visit_id = ? AND kind = ?", bk.visit2, "revisit").Count(&tasks)
		if tasks != 1 {
			t.Fatalf("%d revisit tasks after has-issues", tasks)
		}

		// The outlet cannot be signed off while households are missing.
		month := coverage.MonthOf(store.Now(), env.Config.Location()).String()
		led := sup.get("/console/coverage?month=" + month)
		wantStatus(t, led, http.StatusOK, "ledger")
		mustContain(t, led.Body, "signoff-blocked", "sign-off blocked")
		mustContain(t, led.Body, bk.own3.No, "missing household listed")
		mustNotContain(t, led.Body, bk.own1.No, "covered household not in the missing list")
		p = sup.post("/console/coverage/signoff", url.Values{"outlet_id": {bk.outlet}, "month": {month}})
		wantStatus(t, p, http.StatusConflict, "premature sign-off")
		var n int64
		env.DB.Gorm(context.Background()).Model(&store.CoverageSignoff{}).Count(&n)
		if n != 0 {
			t.Fatal("a premature sign-off was stored")
		}

		// Exempt the two missing households (own2's visit no longer counts).
		for _, f := range []fixture{bk.own2, bk.own3} {
			p = sup.post("/console/coverage/exempt", url.Values{"household_id": {f.ID}, "month": {month}, "reason": {"长期外出务工，已电话联系"}})
			wantStatus(t, p, http.StatusSeeOther, "exempt "+f.No)
		}
		led = sup.get("/console/coverage?month=" + month + "&show=exempted")
		mustContain(t, led.Body, "长期外出务工，已电话联系", "exemption reason shown")
		mustContain(t, led.Body, "signoff-form", "sign-off form once nothing is missing")
		mustContain(t, led.Body, "签字确认的数字如下", "the figures being attested")

		p = sup.post("/console/coverage/signoff", url.Values{"outlet_id": {bk.outlet}, "month": {month}, "note": {"本月一户不漏"}})
		wantStatus(t, p, http.StatusSeeOther, "sign-off")
		led = sup.get("/console/coverage?month=" + month)
		mustContain(t, led.Body, "当前有效", "current sign-off listed")
		mustContain(t, led.Body, "本月一户不漏", "sign-off note listed")
		env.DB.Gorm(context.Background()).Model(&store.CoverageSignoff{}).Count(&n)
		if n != 1 {
			t.Fatalf("%d sign-offs stored", n)
		}
		// Signing again without naming the current sign-off is a conflict.
		p = sup.post("/console/coverage/signoff", url.Values{"outlet_id": {bk.outlet}, "month": {month}})
		wantStatus(t, p, http.StatusConflict, "second sign-off")

		// Another county's outlet cannot be signed by this supervisor.
		p = sup.post("/console/coverage/signoff", url.Values{"outlet_id": {bk.outletWX}, "month": {month}})
		wantStatus(t, p, http.StatusNotFound, "sign-off of another county")
	})
}

// TestConsoleAgreesWithAPI checks that for every role the console refuses
// the coverage writes and the imports the API refuses, and admits the ones
// it admits: both ask the services' own role predicates.
func TestConsoleAgreesWithAPI(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		bk := newBank(t, env)
		for _, user := range []string{testenv.Admin, testenv.Manager1, testenv.Supervisor1} {
			tok := env.Login(t, user, testenv.Password, "laptop-"+user)
			api, _ := env.Do(t, http.MethodPost, "/api/v1/visits/"+bk.visit1+"/issues", tok.AccessToken,
				map[string]string{"kind": "revisit", "reason": ""})
			b := mustSignIn(t, env, user)
			con := b.post("/console/reviews/"+bk.visit1+"/issues", url.Values{"kind": {"revisit"}, "reason": {""}})
			// An empty reason: admitted roles get 400 from the service, others
			// 403 before it; nothing is written either way.
			if api.StatusCode != con.Status {
				t.Fatalf("%s: API answers %d, console %d", user, api.StatusCode, con.Status)
			}
			if user == testenv.Admin && con.Status != http.StatusForbidden {
				t.Fatalf("admin judged a visit: %d", con.Status)
			}
		}
		if v := visitRow(t, env.DB, bk.visit1); v.Status != "recorded" {
			t.Fatalf("visit changed to %s", v.Status)
		}
		// Imports: the registry's rule, asked by both.
		for _, user := range []string{testenv.Admin, testenv.Manager1, testenv.Supervisor1} {
			tok := env.Login(t, user, testenv.Password, "laptop2-"+user)
			api, _ := env.Do(t, http.MethodGet, "/api/v1/imports?branch="+testenv.BranchCode, tok.AccessToken, nil)
			con := mustSignIn(t, env, user).get("/console/imports?branch=" + testenv.BranchCode)
			if api.StatusCode != con.Status {
				t.Fatalf("%s imports: API answers %d, console %d", user, api.StatusCode, con.Status)
			}
			if want := user != testenv.Supervisor1; (con.Status == http.StatusOK) != want {
				t.Fatalf("%s imports: console answers %d", user, con.Status)
			}
		}
	})
}

func TestOverview(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		bk := newBank(t, env)
		env.Login(t, testenv.Officer1, testenv.Password, "phone-o1")
		yesterday := time.Now().In(env.Config.Location()).AddDate(0, 0, -1).Format(time.DateOnly)
		setDue(t, env.DB, bk.own3, yesterday)
		setDue(t, env.DB, bk.own1, yesterday)
		month := time.Now().In(env.Config.Location()).Format("2006-01")
		if err := env.App.Report.Rebuild(context.Background(), month, testenv.BranchCode); err != nil {
			t.Fatalf("rebuild the month's report: %v", err)
		}
		b := mustSignIn(t, env, testenv.Manager1)
		p := b.get("/console/overview")
		wantStatus(t, p, http.StatusOK, "overview")
		mustContain(t, p.Body, `<svg class="chart"`, "coverage chart")
		mustContain(t, p.Body, "秀山中和网点", "outlet bar")
		mustContain(t, p.Body, "巫溪柏杨网点", "other county's bar for the branch manager")
		mustNotContain(t, p.Body, "恩施龙凤网点", "other branch's outlet")
		// officer1 signed in on a phone that never synced.
		mustContain(t, p.Body, "从未同步", "never-synced officer listed")
		mustContain(t, p.Body, bk.own1.No, "flagged visit listed")
		mustContain(t, p.Body, "共 1 户已过走访期限仍未走访", "overdue count from the monthly report")
		overdue := p.Body[strings.Index(p.Body, `id="overdue"`):]
		mustContain(t, overdue, "秀山中和网点", "the outlet with an overdue household")
		mustNotContain(t, overdue, "巫溪柏杨网点", "an outlet with nothing overdue")
		sup := mustSignIn(t, env, testenv.Supervisor1)
		p = sup.get("/console/overview")
		mustNotContain(t, p.Body, "巫溪柏杨网点", "another county's bar for the supervisor")
	})
}
