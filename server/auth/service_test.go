package auth_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/auth"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// clock is a settable time source; tests move it instead of sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	db  *store.DB
	svc *auth.Service
	clk *clock
}

func newFixture(t *testing.T, db *store.DB) fixture {
	t.Helper()
	if err := testenv.Seed(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	sec, err := secrets.Generate()
	if err != nil {
		t.Fatal(err)
	}
	// Start just past a second boundary so token times are exact.
	clk := &clock{t: store.Now().Truncate(time.Second).Add(time.Second)}
	svc := auth.New(db, sec, auth.Options{
		AccessTTL: 10 * time.Minute, RefreshTTL: 24 * time.Hour, RefreshGrace: time.Minute, Now: clk.Now,
	})
	return fixture{db: db, svc: svc, clk: clk}
}

func (f fixture) login(t *testing.T, user, password, device string) (syncproto.TokenResponse, error) {
	t.Helper()
	return f.svc.Login(context.Background(), syncproto.LoginRequest{Username: user, Password: password, DeviceID: device}, "192.0.2.1")
}

func (f fixture) mustLogin(t *testing.T, user, device string) syncproto.TokenResponse {
	t.Helper()
	tok, err := f.login(t, user, testenv.Password, device)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return tok
}

func codeOf(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return "non-apperr: " + err.Error()
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := codeOf(err); got != code {
		t.Fatalf("error %v (code %q), want code %q", err, got, code)
	}
}

func TestAccessTokenLifetime(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		tok := f.mustLogin(t, testenv.Officer1, "p")
		f.clk.Advance(10*time.Minute - time.Second)
		a, err := f.svc.Authenticate(ctx, tok.AccessToken)
		if err != nil {
			t.Fatalf("token just inside its lifetime: %v", err)
		}
		if a.Username != testenv.Officer1 || a.Role != store.RoleOfficer || a.DeviceID != tok.DeviceID || a.OrgPath == "" || a.BranchID == "" {
			t.Fatalf("actor %+v", a)
		}
		f.clk.Advance(time.Minute) // past exp and the 10 s leeway
		_, err = f.svc.Authenticate(ctx, tok.AccessToken)
		wantCode(t, err, syncproto.CodeTokenExpired)
		// Refreshing gives a working token again.
		next, err := f.svc.Refresh(ctx, tok.RefreshToken, "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Authenticate(ctx, next.AccessToken); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRefreshGraceWindow(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		r0 := f.mustLogin(t, testenv.Officer1, "p")
		f.clk.Advance(5 * time.Minute)
		p1, err := f.svc.Refresh(ctx, r0.RefreshToken, "ip")
		if err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(time.Minute) // exactly at the edge of the grace window
		p2, err := f.svc.Refresh(ctx, r0.RefreshToken, "ip")
		if err != nil || p2 != p1 {
			t.Fatalf("replay at the grace edge: %v; same pair %v", err, p2 == p1)
		}
		f.clk.Advance(time.Second) // now outside it
		_, err = f.svc.Refresh(ctx, r0.RefreshToken, "ip")
		wantCode(t, err, syncproto.CodeRefreshReused)
		// The family is gone: the successor no longer refreshes and its access token stops working at once.
		_, err = f.svc.Refresh(ctx, p1.RefreshToken, "ip")
		wantCode(t, err, syncproto.CodeUnauthenticated)
		_, err = f.svc.Authenticate(ctx, p1.AccessToken)
		wantCode(t, err, syncproto.CodeUnauthenticated)
	})
}

func TestRefreshWithoutGraceIsAlwaysReuse(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		sec, _ := secrets.Generate()
		strict := auth.New(db, sec, auth.Options{RefreshGrace: 0, Now: f.clk.Now})
		ctx := context.Background()
		r0, err := strict.Login(ctx, syncproto.LoginRequest{Username: testenv.Officer3, Password: testenv.Password, DeviceID: "p"}, "ip")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := strict.Refresh(ctx, r0.RefreshToken, "ip"); err != nil {
			t.Fatal(err)
		}
		f.clk.Advance(time.Second)
		_, err = strict.Refresh(ctx, r0.RefreshToken, "ip")
		wantCode(t, err, syncproto.CodeRefreshReused)
	})
}

func TestRefreshTokenExpires(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		r0 := f.mustLogin(t, testenv.Officer1, "p")
		f.clk.Advance(24*time.Hour - time.Second)
		r1, err := f.svc.Refresh(ctx, r0.RefreshToken, "ip")
		if err != nil {
			t.Fatalf("refresh just before expiry: %v", err)
		}
		// The successor lives a full lifetime from its own issue.
		f.clk.Advance(24 * time.Hour)
		_, err = f.svc.Refresh(ctx, r1.RefreshToken, "ip")
		wantCode(t, err, syncproto.CodeUnauthenticated)
	})
}

// A phone on a bad link may fire the same refresh several times at once:
// all of them get the one successor pair, none trips reuse detection.
func TestConcurrentRefreshOfOneToken(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		r0 := f.mustLogin(t, testenv.Officer1, "p")
		const n = 8
		var wg sync.WaitGroup
		results := make([]syncproto.TokenResponse, n)
		errs := make([]error, n)
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				results[i], errs[i] = f.svc.Refresh(ctx, r0.RefreshToken, "ip")
			}(i)
		}
		wg.Wait()
		for i := 0; i < n; i++ {
			if errs[i] != nil {
				t.Fatalf("refresh %d: %v", i, errs[i])
			}
			if results[i] != results[0] {
				t.Fatalf("refresh %d returned a different pair", i)
			}
		}
		if _, err := f.svc.Refresh(ctx, results[0].RefreshToken, "ip"); err != nil {
			t.Fatalf("successor: %v", err)
		}
	})
}

func TestThrottleWindow(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		for i := 0; i < 5; i++ {
			_, err := f.login(t, testenv.Officer1, "wrong-password", "p")
			wantCode(t, err, syncproto.CodeInvalidCredentials)
			f.clk.Advance(time.Minute)
		}
		_, err := f.login(t, testenv.Officer1, testenv.Password, "p")
		wantCode(t, err, syncproto.CodeTooManyAttempts)
		e, _ := apperr.As(err)
		// The first failure was 5 minutes ago and ages out 10 minutes from now.
		if e.Details["retry_after_seconds"] != 600 {
			t.Fatalf("retry after %v, want 600", e.Details["retry_after_seconds"])
		}
		f.clk.Advance(10 * time.Minute)
		f.mustLogin(t, testenv.Officer1, "p")
		// Success cleared the account's failures: four more do not lock it.
		for i := 0; i < 4; i++ {
			_, err := f.login(t, testenv.Officer1, "wrong-password", "p")
			wantCode(t, err, syncproto.CodeInvalidCredentials)
		}
		f.mustLogin(t, testenv.Officer1, "p")
	})
}

// TestCheckPasswordSharesTheLoginBudget: a password check, as the web
// console makes, counts its failures against the same account and address
// budgets as the app's login, and is refused once they are spent.
func TestCheckPasswordSharesTheLoginBudget(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		v, err := f.svc.CheckPassword(ctx, " "+testenv.Manager1+" ", testenv.Password, "192.0.2.1")
		if err != nil || v.User.Username != testenv.Manager1 || v.ThrottleKey == "" {
			t.Fatalf("right password: %+v, %v", v, err)
		}
		_, err = f.svc.CheckPassword(ctx, "nobody-at-all", "whatever", "192.0.2.1")
		wantCode(t, err, syncproto.CodeInvalidCredentials)
		_, err = f.svc.CheckPassword(ctx, testenv.Manager1, strings.Repeat("x", 1025), "192.0.2.1")
		wantCode(t, err, syncproto.CodeInvalidRequest)
		for i := 0; i < 3; i++ {
			_, err := f.svc.CheckPassword(ctx, testenv.Manager1, "wrong-password", "192.0.2.1")
			wantCode(t, err, syncproto.CodeInvalidCredentials)
		}
		for i := 0; i < 2; i++ {
			_, err := f.login(t, testenv.Manager1, "wrong-password", "laptop")
			wantCode(t, err, syncproto.CodeInvalidCredentials)
		}
		// Five failures, three by a check and two by logins: both refuse.
		_, err = f.login(t, testenv.Manager1, testenv.Password, "laptop")
		wantCode(t, err, syncproto.CodeTooManyAttempts)
		_, err = f.svc.CheckPassword(ctx, testenv.Manager1, testenv.Password, "192.0.2.1")
		wantCode(t, err, syncproto.CodeTooManyAttempts)
		// Another account from the same address is not locked by this one.
		if _, err := f.svc.CheckPassword(ctx, testenv.Supervisor1, testenv.Password, "192.0.2.1"); err != nil {
			t.Fatalf("another account: %v", err)
		}
	})
}

func TestDisabledAccountAndRevokedDevice(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		ctx := context.Background()
		tok := f.mustLogin(t, testenv.Officer2, "p")
		admin, err := f.svc.Authenticate(ctx, f.mustLogin(t, testenv.Admin, "a").AccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.RevokeDevice(ctx, admin, tok.DeviceID); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.Authenticate(ctx, tok.AccessToken)
		wantCode(t, err, syncproto.CodeDeviceRevoked)
		_, err = f.svc.Refresh(ctx, tok.RefreshToken, "ip")
		wantCode(t, err, syncproto.CodeDeviceRevoked)

		// Officers cannot list or revoke devices, not even their own.
		off, _ := f.svc.Authenticate(ctx, f.mustLogin(t, testenv.Officer1, "o").AccessToken)
		if _, err := f.svc.Devices(ctx, off, store.DeviceFilter{}); !errors.Is(err, apperr.Forbidden) {
			t.Fatalf("officer lists devices: %v", err)
		}
		if _, err := f.svc.RevokeDevice(ctx, off, off.DeviceID); !errors.Is(err, apperr.Forbidden) {
			t.Fatalf("officer revokes a device: %v", err)
		}
	})
}

// Unknown users cost the same argon2 work as known ones; this checks the
// dummy hash is really verified (a wrong-but-cheap path would be much
// faster), by figures printed with -bench rather than a timed assertion.
func BenchmarkLoginFailure(b *testing.B) {
	db := dbtest.NewSQLite(b)
	if err := testenv.Seed(context.Background(), db); err != nil {
		b.Fatal(err)
	}
	sec, _ := secrets.Generate()
	// Throttling would turn most attempts into cheap refusals; lift it.
	svc := auth.New(db, sec, auth.Options{MaxFailuresPerAccount: 1 << 30, MaxFailuresPerAddress: 1 << 30})
	for _, bc := range []struct{ name, user string }{{"known-user", testenv.Officer1}, {"unknown-user", "nobody"}} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				_, err := svc.Login(context.Background(), syncproto.LoginRequest{Username: bc.user, Password: "wrong-password", DeviceID: "p"}, "ip")
				if codeOf(err) != syncproto.CodeInvalidCredentials {
					b.Fatal(err)
				}
			}
		})
	}
}

// The per-request cost of authentication: signature check plus the one
// device/user/session query. go test -bench Authenticate ./server/auth/
func BenchmarkAuthenticate(b *testing.B) {
	for _, d := range []struct {
		name string
		open func(testing.TB) *store.DB
	}{{"sqlite", dbtest.NewSQLite}, {"postgres", dbtest.NewPostgres}} {
		b.Run(d.name, func(b *testing.B) {
			db := d.open(b)
			if err := testenv.Seed(context.Background(), db); err != nil {
				b.Fatal(err)
			}
			sec, _ := secrets.Generate()
			svc := auth.New(db, sec, auth.Options{})
			tok, err := svc.Login(context.Background(), syncproto.LoginRequest{Username: testenv.Officer1, Password: testenv.Password, DeviceID: "p"}, "ip")
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := svc.Authenticate(context.Background(), tok.AccessToken); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
