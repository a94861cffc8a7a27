package console_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/console"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

func TestSignInAndSessionCookie(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		b := newBrowser(t, env)
		p := b.signIn(testenv.Supervisor1, testenv.Password)
		wantStatus(t, p, http.StatusSeeOther, "sign in")
		var sess *http.Cookie
		for _, c := range p.Resp.Cookies() {
			if c.Name == console.SessionCookie {
				sess = c
			}
		}
		if sess == nil || sess.Value == "" {
			t.Fatal("no session cookie set")
		}
		if !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != console.Base || sess.Secure {
			t.Fatalf("session cookie over plain http: HttpOnly=%v SameSite=%v Path=%q Secure=%v", sess.HttpOnly, sess.SameSite, sess.Path, sess.Secure)
		}
		// Only the hash of the cookie value is stored.
		var n int64
		env.DB.Gorm(context.Background()).Model(&store.ConsoleSession{}).Where("id_hash = ?", sess.Value).Count(&n)
		if n != 0 {
			t.Fatal("the session id is stored in clear")
		}
		home := b.get("/console/overview")
		wantStatus(t, home, http.StatusOK, "overview")
		mustContain(t, home.Body, "网点主管", "overview shows the role in Chinese")
	})
}

func TestSecureCookieBehindHTTPS(t *testing.T) {
	env := newEnv(t, newSQLite(t), testenv.WithConfig(func(c *config.Config) { c.PublicURL = "https://console.bank.example" }))
	// A cookie jar would not send Secure cookies over plain http, so this
	// test carries them by hand.
	b := newBrowser(t, env)
	login := b.get("/console/login")
	form := url.Values{"username": {testenv.Manager1}, "password": {testenv.Password}, "csrf": {b.csrf}}
	req, _ := http.NewRequest(http.MethodPost, env.URL+"/console/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, c := range login.Resp.Cookies() {
		if !c.Secure || !c.HttpOnly {
			t.Fatalf("cookie %s Secure=%v HttpOnly=%v under an https public URL", c.Name, c.Secure, c.HttpOnly)
		}
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	p := b.do(req)
	wantStatus(t, p, http.StatusSeeOther, "sign in")
	found := false
	for _, c := range p.Resp.Cookies() {
		if c.Name == console.SessionCookie {
			found = true
			if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
				t.Fatalf("session cookie Secure=%v HttpOnly=%v SameSite=%v under https", c.Secure, c.HttpOnly, c.SameSite)
			}
		}
	}
	if !found {
		t.Fatal("no session cookie")
	}
	if p.Resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatal("no HSTS under https")
	}
}

func TestOfficerIsRefusedPolitely(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		b := newBrowser(t, env)
		p := b.signIn(testenv.Officer1, testenv.Password)
		wantStatus(t, p, http.StatusForbidden, "officer sign-in")
		mustContain(t, p.Body, "客户经理请使用手机上的", "officer refusal in Chinese")
		if b.cookie(console.SessionCookie) != nil {
			t.Fatal("an officer got a session cookie")
		}
		var n int64
		env.DB.Gorm(context.Background()).Model(&store.ConsoleSession{}).Count(&n)
		if n != 0 {
			t.Fatalf("%d console sessions stored for an officer", n)
		}
		// English on request.
		b.get("/console/login?lang=en")
		p = b.post("/console/login", url.Values{"username": {testenv.Officer1}, "password": {testenv.Password}})
		wantStatus(t, p, http.StatusForbidden, "officer sign-in, English")
		mustContain(t, p.Body, "Loan officers work in the phone app", "officer refusal in English")
	})
}

func TestWrongPasswordAndThrottle(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		b := newBrowser(t, env)
		p := b.signIn(testenv.Manager1, "wrong-password-1")
		wantStatus(t, p, http.StatusUnauthorized, "wrong password")
		mustContain(t, p.Body, "用户名或密码错误", "wrong password message")
		p = b.signIn("nobody-at-all", "wrong-password-1")
		wantStatus(t, p, http.StatusUnauthorized, "unknown user")
		mustContain(t, p.Body, "用户名或密码错误", "unknown user gets the same message")
		for i := 0; i < 4; i++ {
			wantStatus(t, b.signIn(testenv.Manager1, "wrong-password-2"), http.StatusUnauthorized, "wrong password again")
		}
		// Five failures on the account: even the right password waits.
		p = b.signIn(testenv.Manager1, testenv.Password)
		wantStatus(t, p, http.StatusTooManyRequests, "throttled")
		mustContain(t, p.Body, "登录失败次数过多", "throttle message")
		// The console's failures spent the account's one budget: the app's
		// login is refused as well.
		env.DoStatus(t, http.StatusTooManyRequests, http.MethodPost, "/api/v1/auth/login", "",
			syncproto.LoginRequest{Username: testenv.Manager1, Password: testenv.Password, DeviceID: "laptop"})
		// Another account from the same address is not locked out by this one.
		mustSignIn(t, env, testenv.Supervisor1)
	})
}

func TestCSRF(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		tok := env.Login(t, testenv.Officer1, testenv.Password, "phone-csrf")
		b := mustSignIn(t, env, testenv.Supervisor1)
		path := "/console/devices/" + tok.DeviceID + "/revoke"
		for name, v := range map[string]url.Values{
			"missing": {"csrf": {""}},
			"wrong":   {"csrf": {"not-the-token"}},
		} {
			p := b.post(path, v)
			wantStatus(t, p, http.StatusForbidden, "revoke with "+name+" CSRF token")
			mustContain(t, p.Body, "页面已过期或来源不明", "CSRF refusal")
		}
		d, err := env.DB.DeviceByID(context.Background(), store.Actor{Role: store.RoleAdmin}, tok.DeviceID)
		if err != nil || d.Status != store.DeviceActive {
			t.Fatalf("device after refused posts: %v %v", d.Status, err)
		}
		// Another session's token does not work either.
		other := mustSignIn(t, env, testenv.Supervisor1)
		p := b.post(path, url.Values{"csrf": {other.csrf}})
		wantStatus(t, p, http.StatusForbidden, "revoke with another session's token")
		// The right token does.
		b.get("/console/devices")
		p = b.post(path, nil)
		wantStatus(t, p, http.StatusSeeOther, "revoke with the token")
		d, _ = env.DB.DeviceByID(context.Background(), store.Actor{Role: store.RoleAdmin}, tok.DeviceID)
		if d.Status != store.DeviceRevoked {
			t.Fatalf("device status %s after revoke", d.Status)
		}

		// The sign-in form has its own token, tied to a cookie.
		fresh := newBrowser(t, env)
		p = fresh.post("/console/login", url.Values{"username": {testenv.Manager1}, "password": {testenv.Password}, "csrf": {"forged"}})
		wantStatus(t, p, http.StatusForbidden, "sign-in without the login cookie")
		if fresh.cookie(console.SessionCookie) != nil {
			t.Fatal("a forged sign-in got a session")
		}
	})
}

func TestSignOutEndsTheSessionOnTheServer(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		b := mustSignIn(t, env, testenv.Manager1)
		old := b.cookie(console.SessionCookie)
		if old == nil {
			t.Fatal("no session cookie")
		}
		p := b.post("/console/logout", nil)
		wantStatus(t, p, http.StatusSeeOther, "sign out")
		if loc := p.Resp.Header.Get("Location"); !strings.HasPrefix(loc, "/console/login") {
			t.Fatalf("sign out goes to %q", loc)
		}
		// Replay the old cookie as a thief would.
		thief := newBrowser(t, env)
		u, _ := url.Parse(env.URL + "/console/")
		thief.c.Jar.SetCookies(u, []*http.Cookie{{Name: console.SessionCookie, Value: old.Value, Path: "/console"}})
		p = thief.get("/console/overview")
		wantStatus(t, p, http.StatusSeeOther, "old cookie after sign-out")
		if loc := p.Resp.Header.Get("Location"); !strings.HasPrefix(loc, "/console/login") {
			t.Fatalf("old cookie goes to %q", loc)
		}
		var s store.ConsoleSession
		if err := env.DB.Gorm(context.Background()).Where("user_id = ?", env.User(t, testenv.Manager1).ID).Take(&s).Error; err != nil {
			t.Fatal(err)
		}
		if s.RevokedAt == nil || s.EndReason != store.ConsoleEndSignOut {
			t.Fatalf("session row after sign-out: revoked_at %v reason %q", s.RevokedAt, s.EndReason)
		}
	})
}

func TestDisablingTheAccountEndsTheSession(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		b := mustSignIn(t, env, testenv.Supervisor1)
		err := env.DB.Transact(context.Background(), func(tx *store.Tx) error {
			_, err := tx.SetUserStatus(testenv.Supervisor1, store.UserDisabled)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, b.get("/console/overview"), http.StatusSeeOther, "disabled account")
		p := b.signIn(testenv.Supervisor1, testenv.Password)
		wantStatus(t, p, http.StatusForbidden, "disabled account signs in")
		mustContain(t, p.Body, "账号已停用", "disabled message")
	})
}

func TestUnauthenticatedGoesToSignIn(t *testing.T) {
	db := newSQLite(t)
	env := newEnv(t, db)
	b := newBrowser(t, env)
	for _, path := range []string{"/console", "/console/", "/console/overview", "/console/households", "/console/devices", "/console/audit"} {
		p := b.get(path)
		wantStatus(t, p, http.StatusSeeOther, path)
		if loc := p.Resp.Header.Get("Location"); !strings.HasPrefix(loc, "/console/login?next=") {
			t.Fatalf("%s redirects to %q", path, loc)
		}
	}
	p := b.post("/console/logout", url.Values{"csrf": {"x"}})
	wantStatus(t, p, http.StatusSeeOther, "logout without a session")
	// An open redirect through next= is refused.
	fresh := newBrowser(t, env)
	fresh.get("/console/login")
	p = fresh.post("/console/login", url.Values{"username": {testenv.Manager1}, "password": {testenv.Password}, "next": {"//evil.example/x"}})
	wantStatus(t, p, http.StatusSeeOther, "sign in with a foreign next")
	if loc := p.Resp.Header.Get("Location"); loc != "/console/overview" {
		t.Fatalf("next=//evil.example led to %q", loc)
	}
}

var inlineHandler = regexp.MustCompile(`(?i)<[^>]+\son[a-z]+\s*=`)

func TestContentSecurityPolicy(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		pages := []string{"/console/overview", "/console/coverage", "/console/reviews", "/console/conflicts",
			"/console/households", "/console/imports", "/console/assignments", "/console/reports", "/console/devices", "/console/audit"}
		anon := newBrowser(t, env)
		check := func(p page, path string) {
			t.Helper()
			csp := p.Resp.Header.Get("Content-Security-Policy")
			if csp != console.CSP {
				t.Fatalf("%s: CSP %q", path, csp)
			}
			if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
				t.Fatalf("%s: CSP allows inline script: %q", path, csp)
			}
			if strings.Contains(strings.ToLower(p.Body), "<script") {
				t.Fatalf("%s: page has a script element", path)
			}
			if m := inlineHandler.FindString(p.Body); m != "" {
				t.Fatalf("%s: inline event handler %q", path, m)
			}
			if strings.Contains(p.Body, "style=\"") {
				t.Fatalf("%s: inline style attribute, which the CSP forbids", path)
			}
			if strings.Contains(p.Body, "http://") || strings.Contains(p.Body, "https://") {
				t.Fatalf("%s: page refers to another site", path)
			}
			if p.Resp.Header.Get("X-Frame-Options") != "DENY" || p.Resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("%s: missing framing or sniffing protection", path)
			}
		}
		check(anon.get("/console/login"), "/console/login")
		b := mustSignIn(t, env, testenv.Admin)
		for _, path := range pages {
			p := b.get(path)
			wantStatus(t, p, http.StatusOK, path)
			check(p, path)
			if p.Resp.Header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%s: cacheable", path)
			}
		}
		css := b.get("/console/static/console.css")
		wantStatus(t, css, http.StatusOK, "stylesheet")
		if ct := css.Resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
			t.Fatalf("stylesheet served as %q", ct)
		}
		wantStatus(t, b.get("/console/static/../console.go"), http.StatusNotFound, "path traversal")
	})
}

func TestEnglishSwitch(t *testing.T) {
	db := newSQLite(t)
	env := newEnv(t, db)
	b := mustSignIn(t, env, testenv.Manager1)
	p := b.get("/console/households")
	mustContain(t, p.Body, "户编号", "Chinese by default")
	mustContain(t, p.Body, `lang="zh-CN"`, "html lang")
	p = b.get("/console/households?lang=en")
	mustContain(t, p.Body, "Household no.", "English on request")
	p = b.get("/console/devices")
	mustContain(t, p.Body, "Last sync", "English kept by the cookie")
	mustContain(t, p.Body, `lang="en"`, "html lang")
	p = b.get("/console/devices?lang=zh")
	mustContain(t, p.Body, "最近同步", "back to Chinese")
}
