package console_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/console"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// browser is a minimal browser: a cookie jar, no redirect following, and
// the last page's CSRF token remembered as a form would carry it.
type browser struct {
	t    testing.TB
	env  *testenv.Env
	c    *http.Client
	csrf string
}

func newBrowser(t testing.TB, env *testenv.Env) *browser {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, env: env, c: &http.Client{
		Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

type page struct {
	Status int
	Body   string
	Resp   *http.Response
}

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("%s %s: read: %v", req.Method, req.URL.Path, err)
	}
	if m := csrfPattern.FindSubmatch(body); m != nil {
		b.csrf = html.UnescapeString(string(m[1]))
	}
	return page{Status: resp.StatusCode, Body: string(body), Resp: resp}
}

func (b *browser) get(path string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.env.URL+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits a form; the remembered CSRF token is added unless the
// values carry their own "csrf".
func (b *browser) post(path string, v url.Values) page {
	b.t.Helper()
	if v == nil {
		v = url.Values{}
	}
	if _, set := v["csrf"]; !set {
		v.Set("csrf", b.csrf)
	}
	req, err := http.NewRequest(http.MethodPost, b.env.URL+path, strings.NewReader(v.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *browser) cookie(name string) *http.Cookie {
	u, _ := url.Parse(b.env.URL + console.Base + "/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// signIn goes through the sign-in form as a person would.
func (b *browser) signIn(username, password string) page {
	b.t.Helper()
	if p := b.get("/console/login"); p.Status != http.StatusOK {
		b.t.Fatalf("GET /console/login: %d", p.Status)
	}
	return b.post("/console/login", url.Values{"username": {username}, "password": {password}, "next": {"/console/overview"}})
}

// mustSignIn signs in and fails unless the console lets the user in.
func mustSignIn(t testing.TB, env *testenv.Env, username string) *browser {
	t.Helper()
	b := newBrowser(t, env)
	p := b.signIn(username, testenv.Password)
	if p.Status != http.StatusSeeOther || p.Resp.Header.Get("Location") != "/console/overview" {
		t.Fatalf("sign in %s: status %d location %q body %s", username, p.Status, p.Resp.Header.Get("Location"), p.Body)
	}
	if p := b.get("/console/overview"); p.Status != http.StatusOK {
		t.Fatalf("overview after sign-in of %s: %d", username, p.Status)
	}
	return b
}

func wantStatus(t testing.TB, p page, want int, what string) {
	t.Helper()
	if p.Status != want {
		body := p.Body
		if len(body) > 2000 {
			body = body[:2000]
		}
		t.Fatalf("%s: status %d, want %d; body: %s", what, p.Status, want, body)
	}
}

// fixture is a household placed in an outlet of the seeded banks.
type fixture struct {
	ID, No, Head string
}

// addHousehold puts a household on the list of an outlet, assigned to an
// officer (or to nobody when officer is ""), as the registry would.
func addHousehold(t testing.TB, db *store.DB, outletCode, officer, no, head string) fixture {
	t.Helper()
	ctx := context.Background()
	outlet, err := db.OrgUnitByCode(ctx, outletCode)
	if err != nil {
		t.Fatalf("outlet %s: %v", outletCode, err)
	}
	var officerID *string
	if officer != "" {
		u, err := db.UserByUsername(ctx, officer)
		if err != nil {
			t.Fatalf("officer %s: %v", officer, err)
		}
		officerID = &u.ID
	}
	now := store.Now()
	h := store.Household{
		ID: store.NewID(), BranchID: outlet.BranchID, CountyID: outlet.ParentID, OutletID: &outlet.ID, OfficerID: officerID,
		HouseholdNo: no, HeadName: head, IDNumberMasked: "500241********0295", PhoneMasked: "138****1234",
		County: "秀山土家族苗族自治县", Township: "梅江镇", Village: "凉桥村", FamilySize: 4, Category: "边缘易致贫户",
		RiskType: "因病", FieldTimes: "{}", ListStatus: store.ListActive, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	err = db.Transact(ctx, func(tx *store.Tx) error {
		if err := tx.Create(&h).Error; err != nil {
			return err
		}
		a := store.Assignment{
			ID: store.NewID(), BranchID: h.BranchID, HouseholdID: h.ID, OutletID: outlet.ID, OfficerID: officerID,
			OutletDueOn: "2026-12-31", OfficerDueOn: "2026-12-15", AssignedAt: now,
		}
		return tx.Create(&a).Error
	})
	if err != nil {
		t.Fatalf("add household %s: %v", no, err)
	}
	return fixture{ID: h.ID, No: no, Head: head}
}

// addVisit records a visit to a household as the sync engine would.
func addVisit(t testing.TB, db *store.DB, f fixture, officer string, at time.Time, situation string) string {
	t.Helper()
	ctx := context.Background()
	u, err := db.UserByUsername(ctx, officer)
	if err != nil {
		t.Fatal(err)
	}
	var h store.Household
	if err := db.Gorm(ctx).Where("id = ?", f.ID).Take(&h).Error; err != nil {
		t.Fatal(err)
	}
	v := store.Visit{
		ID: store.NewID(), BranchID: h.BranchID, HouseholdID: h.ID, OfficerID: u.ID, OutletID: h.OutletID,
		Outcome: "visited", Situation: situation, StartedAt: at, VisitedAt: at, ReceivedAt: at,
		Status: "recorded", Flags: "[]", FieldTimes: "{}", Version: 1, CreatedAt: at, UpdatedAt: at,
	}
	if err := db.Transact(ctx, func(tx *store.Tx) error { return tx.Create(&v).Error }); err != nil {
		t.Fatalf("add visit: %v", err)
	}
	return v.ID
}

func mustContain(t testing.TB, body, want, what string) {
	t.Helper()
	if !strings.Contains(body, want) {
		t.Fatalf("%s: page lacks %q", what, want)
	}
}

func mustNotContain(t testing.TB, body, unwanted, what string) {
	t.Helper()
	if strings.Contains(body, unwanted) {
		t.Fatalf("%s: page shows %q", what, unwanted)
	}
}

// quiet keeps background schedules (the monthly report close) out of the
// tests, which act on the console only.
func quiet(c *config.Config) {
	if c.ReportClose == "" {
		c.ReportClose = "off"
	}
}

func forEachDB(t *testing.T, fn func(t *testing.T, env *testenv.Env), opts ...testenv.Option) {
	t.Helper()
	testenv.ForEachDB(t, fn, append([]testenv.Option{testenv.WithConfig(quiet)}, opts...)...)
}

func newEnv(t *testing.T, db *store.DB, opts ...testenv.Option) *testenv.Env {
	t.Helper()
	return testenv.New(t, db, append([]testenv.Option{testenv.WithConfig(quiet)}, opts...)...)
}

func newSQLite(t *testing.T) *store.DB { return dbtest.NewSQLite(t) }

func seq(prefix string, i int) string { return fmt.Sprintf("%s%04d", prefix, i) }
