package httpapi_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/doorstep-dev/doorstep/server/auth"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

const (
	loginPath   = "/api/v1/auth/login"
	refreshPath = "/api/v1/auth/refresh"
	logoutPath  = "/api/v1/auth/logout"
	mePath      = "/api/v1/me"
)

func loginBody(user, password, device string) syncproto.LoginRequest {
	return syncproto.LoginRequest{Username: user, Password: password, DeviceID: device, DeviceName: "test phone", AppVersion: "1.0.0"}
}

// wantError fails unless the response is the given status and error code.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string) syncproto.Error {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	e := testenv.ErrorOf(t, body)
	if e.Code != code {
		t.Fatalf("code %q, want %q; body %s", e.Code, code, body)
	}
	return e
}

func refresh(t *testing.T, env *testenv.Env, token string) (*http.Response, []byte) {
	t.Helper()
	return env.Do(t, "POST", refreshPath, "", syncproto.RefreshRequest{RefreshToken: token})
}

func refreshOK(t *testing.T, env *testenv.Env, token string) syncproto.TokenResponse {
	t.Helper()
	resp, body := refresh(t, env, token)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("refresh: %d %s", resp.StatusCode, body)
	}
	var tok syncproto.TokenResponse
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

// claimsOf reads a token's claims without verifying it, to forge variants.
func claimsOf(t *testing.T, token string) auth.AccessClaims {
	t.Helper()
	var c auth.AccessClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func sign(t *testing.T, m jwt.SigningMethod, c jwt.Claims, kid string, key any) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The access-token verifier accepts exactly what the server signs: EdDSA
// with a listed kid, our issuer and audience, typ access, within its life.
func TestAccessTokenForgeries(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		tok := env.Login(t, testenv.Officer1, testenv.Password, "forge-phone")
		base := claimsOf(t, tok.AccessToken)
		realKey := env.Secrets.SigningKeys[0]
		kid := realKey.KID
		pub := realKey.Private().Public().(ed25519.PublicKey)
		_, otherPriv, _ := ed25519.GenerateKey(rand.Reader)
		rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
		now := time.Now()

		with := func(edit func(c *auth.AccessClaims)) auth.AccessClaims {
			c := base
			c.Audience = append(jwt.ClaimStrings(nil), base.Audience...)
			edit(&c)
			return c
		}
		noneToken := sign(t, jwt.SigningMethodNone, base, kid, jwt.UnsafeAllowNoneSignatureType)

		// The forging harness itself must be right: our key and claims, re-signed, pass.
		control := sign(t, jwt.SigningMethodEdDSA, with(func(c *auth.AccessClaims) {
			c.IssuedAt, c.NotBefore = jwt.NewNumericDate(now), jwt.NewNumericDate(now)
			c.ExpiresAt = jwt.NewNumericDate(now.Add(5 * time.Minute))
		}), kid, realKey.Private())
		env.DoStatus(t, http.StatusOK, "GET", mePath, control, nil)
		env.DoStatus(t, http.StatusOK, "GET", mePath, tok.AccessToken, nil)

		cases := []struct {
			name  string
			token string
			code  string
		}{
			{"alg none", noneToken, syncproto.CodeUnauthenticated},
			{"alg none, signature stripped", strings.TrimSuffix(noneToken, ".") + ".", syncproto.CodeUnauthenticated},
			{"HS256 keyed with the public key", sign(t, jwt.SigningMethodHS256, base, kid, []byte(pub)), syncproto.CodeUnauthenticated},
			{"HS256 keyed with the seed", sign(t, jwt.SigningMethodHS256, base, kid, realKey.Seed), syncproto.CodeUnauthenticated},
			{"RS256", sign(t, jwt.SigningMethodRS256, base, kid, rsaKey), syncproto.CodeUnauthenticated},
			{"wrong Ed25519 key, our kid", sign(t, jwt.SigningMethodEdDSA, base, kid, otherPriv), syncproto.CodeUnauthenticated},
			{"unknown kid", sign(t, jwt.SigningMethodEdDSA, base, "k-unknown", realKey.Private()), syncproto.CodeUnauthenticated},
			{"no kid", sign(t, jwt.SigningMethodEdDSA, base, "", realKey.Private()), syncproto.CodeUnauthenticated},
			{"expired", sign(t, jwt.SigningMethodEdDSA, with(func(c *auth.AccessClaims) {
				c.IssuedAt, c.NotBefore = jwt.NewNumericDate(now.Add(-time.Hour)), jwt.NewNumericDate(now.Add(-time.Hour))
				c.ExpiresAt = jwt.NewNumericDate(now.Add(-50 * time.Minute))
			}), kid, realKey.Private()), syncproto.CodeTokenExpired},
			{"expired and wrong audience", sign(t, jwt.SigningMethodEdDSA, with(func(c *auth.AccessClaims) {
				c.Audience = jwt.ClaimStrings{"someone-else"}
				c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute))
			}), kid, realKey.Private()), syncproto.CodeUnauthenticated},
			{"no exp", sign(t, jwt.SigningMethodEdDSA, with(func(c *auth.AccessClaims) { c.ExpiresAt = nil }), kid, realKey.Private()), syncproto.CodeUnauthenticated},
			{"not yet valid", sign(t, jwt.SigningMethodEdDSA, with(func(c *auth.AccessClaims) {
				c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour))
			}), kid, realKey.Private()), syncproto.CodeUnauthenticated},
			{"wrong audience", sign(t, jwt.SigningMethodEdDSA, with(func(c *auth.AccessClaims) { c.Audience = jwt.ClaimStrings{"doorstep-console"} }), kid, realKey.Private()), syncproto.CodeUnauthenticated},
			{"no audience", sign(t, jwt.SigningMethodEdDSA, with(func(c *auth.AccessClaims) { c.Audience = nil }), kid, realKey.Private()), syncproto.CodeUnauthenticated},
			{"wrong issuer", sign(t, jwt.SigningMethodEdDSA, with(func(c *auth.AccessClaims) { c.Issuer = "evil" }), kid, realKey.Private()), syncproto.CodeUnauthenticated},
			{"typ refresh", sign(t, jwt.SigningMethodEdDSA, with(func(c *auth.AccessClaims) { c.Type = "refresh" }), kid, realKey.Private()), syncproto.CodeUnauthenticated},
			{"no typ", sign(t, jwt.SigningMethodEdDSA, with(func(c *auth.AccessClaims) { c.Type = "" }), kid, realKey.Private()), syncproto.CodeUnauthenticated},
			{"other user's id on our device", sign(t, jwt.SigningMethodEdDSA, with(func(c *auth.AccessClaims) {
				c.Subject = env.User(t, testenv.Admin).ID
			}), kid, realKey.Private()), syncproto.CodeUnauthenticated},
			{"refresh token as access token", tok.RefreshToken, syncproto.CodeUnauthenticated},
			{"tampered payload", tamper(tok.AccessToken), syncproto.CodeUnauthenticated},
			{"garbage", "not-a-jwt", syncproto.CodeUnauthenticated},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := env.Do(t, "GET", mePath, tc.token, nil)
				wantError(t, resp, body, http.StatusUnauthorized, tc.code)
			})
		}
		resp, body := env.Do(t, "GET", mePath, "", nil)
		wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeUnauthenticated)
	})
}

// tamper swaps the role in the payload for admin, keeping the signature.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	raw, _ := jwt.NewParser().DecodeSegment(parts[1])
	raw = []byte(strings.Replace(string(raw), `"role":"officer"`, `"role":"admin"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(raw)
	return strings.Join(parts, ".")
}

// Every key in the list verifies; new tokens use the first.
func TestAccessTokenKeyRotation(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		tok := env.Login(t, testenv.Officer1, testenv.Password, "rot-phone")
		c := claimsOf(t, tok.AccessToken)
		if len(env.Secrets.SigningKeys) != 1 {
			t.Fatal("test expects one generated key")
		}
		// A second server with a new key in front, the old one still listed,
		// accepts tokens of both. Exercised through the service directly.
		old := env.Secrets.SigningKeys[0]
		seed := make([]byte, ed25519.SeedSize)
		rand.Read(seed)
		rotated := *env.Secrets
		rotated.SigningKeys = append([]secrets.SigningKey{{KID: "k-new", Seed: seed}}, old)
		svc := auth.New(env.DB, &rotated, auth.Options{})
		if _, err := svc.Authenticate(context.Background(), tok.AccessToken); err != nil {
			t.Fatalf("token signed with the older listed key: %v", err)
		}
		newTok := sign(t, jwt.SigningMethodEdDSA, c, "k-new", ed25519.NewKeyFromSeed(seed))
		if _, err := svc.Authenticate(context.Background(), newTok); err != nil {
			t.Fatalf("token signed with the new key: %v", err)
		}
		// The running server does not know k-new.
		resp, body := env.Do(t, "GET", mePath, newTok, nil)
		wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeUnauthenticated)
	})
}

func TestLoginFailures(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		resp, body := env.Do(t, "POST", loginPath, "", loginBody(testenv.Officer1, "wrong-password", "p1"))
		bad := wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeInvalidCredentials)
		resp, body = env.Do(t, "POST", loginPath, "", loginBody("no-such-user", "wrong-password", "p1"))
		unknown := wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeInvalidCredentials)
		if bad.Message != unknown.Message || fmt.Sprint(bad.Details) != fmt.Sprint(unknown.Details) {
			t.Fatalf("unknown user and wrong password differ: %+v vs %+v", unknown, bad)
		}

		for _, tc := range []struct {
			name, body, field string
		}{
			{"empty body", ``, ""},
			{"not JSON", `{"username":`, ""},
			{"unknown field", `{"username":"officer1","password":"x","device_id":"d","role":"admin"}`, ""},
			{"no username", `{"password":"doorstep-demo","device_id":"d"}`, "username"},
			{"no password", `{"username":"officer1","device_id":"d"}`, "password"},
			{"no device", `{"username":"officer1","password":"doorstep-demo"}`, "device_id"},
			{"control chars in device", `{"username":"officer1","password":"doorstep-demo","device_id":"a\u0000b"}`, "device_id"},
			{"huge password", `{"username":"officer1","password":"` + strings.Repeat("x", 2000) + `","device_id":"d"}`, "password"},
			{"number for string", `{"username":1,"password":"doorstep-demo","device_id":"d"}`, "username"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := env.Do(t, "POST", loginPath, "", tc.body)
				e := wantError(t, resp, body, http.StatusBadRequest, syncproto.CodeInvalidRequest)
				if tc.field != "" && e.Details["field"] != tc.field {
					t.Fatalf("details %v, want field %s", e.Details, tc.field)
				}
			})
		}
		// None of the refused attempts registered a device.
		ds, _ := env.DB.ListDevices(context.Background(), store.Actor{Role: store.RoleAdmin}, store.DeviceFilter{})
		if len(ds) != 0 {
			t.Fatalf("%d devices registered by failed logins", len(ds))
		}
	})
}

// The device is registered on first login, reused on the next, and a login
// on another device is another device.
func TestLoginRegistersDevice(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		a := env.Login(t, testenv.Officer1, testenv.Password, "phone-A")
		b := env.Login(t, testenv.Officer1, testenv.Password, "phone-A")
		c := env.Login(t, testenv.Officer1, testenv.Password, "phone-B")
		if a.DeviceID != b.DeviceID || a.DeviceID == c.DeviceID {
			t.Fatalf("device ids %s %s %s: want first two equal, third different", a.DeviceID, b.DeviceID, c.DeviceID)
		}
		if a.TokenType != "Bearer" || a.ExpiresIn <= 0 || a.ExpiresIn > 15*60 || a.Role != "officer" || a.UserID != env.User(t, testenv.Officer1).ID {
			t.Fatalf("token response %+v", a)
		}
		cl := claimsOf(t, a.AccessToken)
		if cl.Issuer == "" || len(cl.Audience) == 0 || cl.Type != "access" || cl.Subject != a.UserID || cl.DeviceID != a.DeviceID ||
			cl.Role != "officer" || cl.ID == "" || cl.IssuedAt == nil || cl.NotBefore == nil ||
			cl.ExpiresAt.Sub(cl.IssuedAt.Time) > 15*time.Minute {
			t.Fatalf("claims %+v", cl)
		}
		// Both sessions of phone-A stay valid: a second login does not end the first.
		env.DoStatus(t, http.StatusOK, "GET", mePath, a.AccessToken, nil)
		env.DoStatus(t, http.StatusOK, "GET", mePath, b.AccessToken, nil)
	})
}

func TestRefreshRotation(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		t.Run("rotate and replay within grace", func(t *testing.T) {
			r0 := env.Login(t, testenv.Officer1, testenv.Password, "grace-phone")
			p1 := refreshOK(t, env, r0.RefreshToken)
			if p1.RefreshToken == r0.RefreshToken || p1.AccessToken == r0.AccessToken {
				t.Fatal("refresh did not rotate")
			}
			// The phone never got p1 and sends r0 again: the same pair comes back.
			p2 := refreshOK(t, env, r0.RefreshToken)
			if p2 != p1 {
				t.Fatalf("grace replay returned a different pair:\n%+v\n%+v", p1, p2)
			}
			env.DoStatus(t, http.StatusOK, "GET", mePath, p1.AccessToken, nil)
			p3 := refreshOK(t, env, p1.RefreshToken)
			if p3.RefreshToken == p1.RefreshToken {
				t.Fatal("second rotation returned the same token")
			}
			env.DoStatus(t, http.StatusOK, "GET", mePath, p3.AccessToken, nil)
		})
		t.Run("reuse revokes the family and the device's sessions", func(t *testing.T) {
			r0 := env.Login(t, testenv.Officer2, testenv.Password, "reuse-phone")
			other := env.Login(t, testenv.Officer2, testenv.Password, "reuse-phone") // second family, same device
			elsewhere := env.Login(t, testenv.Officer2, testenv.Password, "reuse-tablet")
			r1 := refreshOK(t, env, r0.RefreshToken)
			r2 := refreshOK(t, env, r1.RefreshToken)
			// r0's successor r1 has itself been rotated: r0 coming back is theft.
			resp, body := refresh(t, env, r0.RefreshToken)
			wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeRefreshReused)
			for name, tok := range map[string]string{"latest refresh": r2.RefreshToken, "other family on the device": other.RefreshToken} {
				resp, body := refresh(t, env, tok)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("%s after reuse: %d %s", name, resp.StatusCode, body)
				}
			}
			resp, body = env.Do(t, "GET", mePath, r2.AccessToken, nil)
			wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeUnauthenticated)
			// Another device of the same user is untouched, and the user can sign in again.
			refreshOK(t, env, elsewhere.RefreshToken)
			again := env.Login(t, testenv.Officer2, testenv.Password, "reuse-phone")
			env.DoStatus(t, http.StatusOK, "GET", mePath, again.AccessToken, nil)
		})
		t.Run("garbage and access tokens are not refresh tokens", func(t *testing.T) {
			r0 := env.Login(t, testenv.Officer3, testenv.Password, "garbage-phone")
			for _, tok := range []string{"nope", r0.AccessToken[:200]} {
				resp, body := refresh(t, env, tok)
				wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeUnauthenticated)
			}
			resp, body := refresh(t, env, "")
			wantError(t, resp, body, http.StatusBadRequest, syncproto.CodeInvalidRequest)
			resp, body = refresh(t, env, r0.AccessToken)
			wantError(t, resp, body, http.StatusBadRequest, syncproto.CodeInvalidRequest) // longer than any refresh token
		})
	})
}

func TestLogout(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		tok := env.Login(t, testenv.Officer1, testenv.Password, "logout-phone")
		keep := env.Login(t, testenv.Officer1, testenv.Password, "logout-tablet")
		resp, body := env.Do(t, "POST", logoutPath, "", syncproto.RefreshRequest{RefreshToken: tok.RefreshToken})
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("logout: %d %s", resp.StatusCode, body)
		}
		resp, body = refresh(t, env, tok.RefreshToken)
		wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeUnauthenticated)
		resp, body = env.Do(t, "GET", mePath, tok.AccessToken, nil)
		wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeUnauthenticated)
		env.DoStatus(t, http.StatusOK, "GET", mePath, keep.AccessToken, nil)
		// Logging out twice, or with an unknown token, is quietly fine.
		env.DoStatus(t, http.StatusNoContent, "POST", logoutPath, "", syncproto.RefreshRequest{RefreshToken: tok.RefreshToken})
		env.DoStatus(t, http.StatusNoContent, "POST", logoutPath, "", syncproto.RefreshRequest{RefreshToken: "never-issued"})
		resp, body = env.Do(t, "POST", logoutPath, "", `{}`)
		wantError(t, resp, body, http.StatusBadRequest, syncproto.CodeInvalidRequest)
	})
}

func TestRevokedDevice(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		sup := env.Login(t, testenv.Supervisor1, testenv.Password, "sup-phone")
		off := env.Login(t, testenv.Officer1, testenv.Password, "stolen-phone")
		env.DoStatus(t, http.StatusOK, "GET", mePath, off.AccessToken, nil)

		var d syncproto.DeviceInfo
		body := env.DoStatus(t, http.StatusOK, "POST", "/api/v1/devices/"+off.DeviceID+"/revoke", sup.AccessToken, nil)
		if err := json.Unmarshal(body, &d); err != nil || d.Status != "revoked" || d.RevokedAt == nil || d.RevokedBy != sup.UserID {
			t.Fatalf("revoke answer %s (%v)", body, err)
		}
		// The very next request, the refresh and a new login on that device all say device_revoked.
		resp, body := env.Do(t, "GET", mePath, off.AccessToken, nil)
		wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeDeviceRevoked)
		resp, body = refresh(t, env, off.RefreshToken)
		wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeDeviceRevoked)
		resp, body = env.Do(t, "POST", loginPath, "", loginBody(testenv.Officer1, testenv.Password, "stolen-phone"))
		wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeDeviceRevoked)
		// A wrong password on a revoked device is still just invalid credentials.
		resp, body = env.Do(t, "POST", loginPath, "", loginBody(testenv.Officer1, "wrong-password", "stolen-phone"))
		wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeInvalidCredentials)
		// A new phone works.
		fresh := env.Login(t, testenv.Officer1, testenv.Password, "new-phone")
		env.DoStatus(t, http.StatusOK, "GET", mePath, fresh.AccessToken, nil)

		// Revoking again is idempotent and audited once.
		env.DoStatus(t, http.StatusOK, "POST", "/api/v1/devices/"+off.DeviceID+"/revoke", sup.AccessToken, nil)
		var entries []store.AuditEntry
		env.DB.Gorm(ctx).Where("action = ? AND target_id = ?", "device.revoke", off.DeviceID).Find(&entries)
		if len(entries) != 1 || entries[0].ActorID != sup.UserID || entries[0].TargetType != "device" || entries[0].RequestID == "" {
			t.Fatalf("audit entries %+v; want one by the supervisor with a request id", entries)
		}
		// Listing shows it revoked.
		var list syncproto.DeviceList
		json.Unmarshal(env.DoStatus(t, http.StatusOK, "GET", "/api/v1/devices?status=revoked", sup.AccessToken, nil), &list)
		if len(list.Devices) != 1 || list.Devices[0].ID != off.DeviceID {
			t.Fatalf("revoked devices %+v", list.Devices)
		}
		resp, body = env.Do(t, "GET", "/api/v1/devices?status=lost", sup.AccessToken, nil)
		wantError(t, resp, body, http.StatusBadRequest, syncproto.CodeInvalidRequest)
		resp, body = env.Do(t, "POST", "/api/v1/devices/no-such-device/revoke", sup.AccessToken, nil)
		wantError(t, resp, body, http.StatusNotFound, syncproto.CodeNotFound)
	})
}

func TestDisabledAccount(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		tok := env.Login(t, testenv.Officer2, testenv.Password, "dis-phone")
		err := env.DB.Transact(ctx, func(tx *store.Tx) error {
			_, err := tx.SetUserStatus(testenv.Officer2, store.UserDisabled)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		resp, body := env.Do(t, "GET", mePath, tok.AccessToken, nil)
		wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeAccountDisabled)
		resp, body = refresh(t, env, tok.RefreshToken)
		wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeAccountDisabled)
		resp, body = env.Do(t, "POST", loginPath, "", loginBody(testenv.Officer2, testenv.Password, "dis-phone"))
		wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeAccountDisabled)
		// Without the right password a disabled account looks like any other failure.
		resp, body = env.Do(t, "POST", loginPath, "", loginBody(testenv.Officer2, "wrong-password", "dis-phone"))
		wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeInvalidCredentials)
		// Enabling it again does not revive the old sessions.
		env.DB.Transact(ctx, func(tx *store.Tx) error {
			_, err := tx.SetUserStatus(testenv.Officer2, store.UserActive)
			return err
		})
		resp, body = env.Do(t, "GET", mePath, tok.AccessToken, nil)
		wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeUnauthenticated)
		env.Login(t, testenv.Officer2, testenv.Password, "dis-phone")
	})
}

func retryAfter(t *testing.T, resp *http.Response) int {
	t.Helper()
	n, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || n <= 0 || n > 15*60 {
		t.Fatalf("Retry-After %q: want 1..900 seconds", resp.Header.Get("Retry-After"))
	}
	return n
}

func TestLoginThrottlePerAccount(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		for i := 0; i < 5; i++ {
			resp, body := env.Do(t, "POST", loginPath, "", loginBody(testenv.Officer1, "wrong-password", "p"))
			wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeInvalidCredentials)
		}
		// Now even the right password is refused, and the case of the name does not matter.
		for _, name := range []string{testenv.Officer1, "OFFICER1"} {
			resp, body := env.Do(t, "POST", loginPath, "", loginBody(name, testenv.Password, "p"))
			e := wantError(t, resp, body, http.StatusTooManyRequests, syncproto.CodeTooManyAttempts)
			if n := retryAfter(t, resp); e.Details["retry_after_seconds"] != float64(n) {
				t.Fatalf("details %v disagree with Retry-After %d", e.Details, n)
			}
		}
		// Other accounts from the same address are not affected.
		env.Login(t, testenv.Officer2, testenv.Password, "p2")
	})
}

func TestLoginThrottlePerAddress(t *testing.T) {
	t.Run("forged X-Forwarded-For is ignored without trusted proxies", func(t *testing.T) {
		testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
			for i := 0; i < 20; i++ {
				resp, body := env.DoHeaders(t, "POST", loginPath, "", loginBody(fmt.Sprintf("nobody%d", i), "wrong-password", "p"),
					map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i+1), "X-Real-IP": fmt.Sprintf("198.51.100.%d", i+1)})
				wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeInvalidCredentials)
			}
			resp, body := env.DoHeaders(t, "POST", loginPath, "", loginBody(testenv.Officer3, testenv.Password, "p"),
				map[string]string{"X-Forwarded-For": "203.0.113.99"})
			wantError(t, resp, body, http.StatusTooManyRequests, syncproto.CodeTooManyAttempts)
			retryAfter(t, resp)
		})
	})
	t.Run("X-Forwarded-For from a trusted proxy is honoured", func(t *testing.T) {
		testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
			xff := map[string]string{"X-Forwarded-For": "203.0.113.7"}
			for i := 0; i < 20; i++ {
				resp, body := env.DoHeaders(t, "POST", loginPath, "", loginBody(fmt.Sprintf("nobody%d", i), "wrong-password", "p"), xff)
				wantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeInvalidCredentials)
			}
			resp, body := env.DoHeaders(t, "POST", loginPath, "", loginBody(testenv.Officer3, testenv.Password, "p"), xff)
			wantError(t, resp, body, http.StatusTooManyRequests, syncproto.CodeTooManyAttempts)
			// Another client behind the same proxy is a different address.
			resp, body = env.DoHeaders(t, "POST", loginPath, "", loginBody(testenv.Officer3, testenv.Password, "p"),
				map[string]string{"X-Forwarded-For": "203.0.113.8"})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("other client behind the proxy: %d %s", resp.StatusCode, body)
			}
		}, testenv.WithConfig(func(c *config.Config) { c.TrustedProxies = []string{"127.0.0.1/32", "::1"} }))
	})
}
