package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// A whole run of sign-ins, refreshes, failures, reuse, logout, revocation
// and throttling, with ID and phone numbers slipped in wherever a client can
// put them; then the captured logs are searched for every secret used.
func TestAuthLogsHoldNoSecrets(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		idNumbers := []string{"110101199003071234", "50024119850612002X"}
		phones := []string{"13812345678", "15987654321"}
		passwords := []string{testenv.Password, "wrong-password-7731", "Tr0ub4dor&3-secret"}
		var tokens []string
		keep := func(tok syncproto.TokenResponse) syncproto.TokenResponse {
			tokens = append(tokens, tok.AccessToken, tok.RefreshToken)
			return tok
		}

		// Successful sign-ins, one with an ID number as device id and a phone in the device name.
		o1 := keep(env.Login(t, testenv.Officer1, testenv.Password, "imei-"+idNumbers[0]))
		env.DoStatus(t, http.StatusOK, "POST", loginPath, "", syncproto.LoginRequest{
			Username: testenv.Officer2, Password: testenv.Password, DeviceID: "o2-phone", DeviceName: "张三 " + phones[0],
		})
		sup := keep(env.Login(t, testenv.Supervisor1, testenv.Password, "sup-phone"))

		// Failures: wrong password, ID number and phone as usernames, a password typed into the username field.
		for _, body := range []syncproto.LoginRequest{
			loginBody(testenv.Officer3, passwords[1], "p"),
			loginBody(idNumbers[1], passwords[2], "p"),
			loginBody(phones[1], phones[0], "p"),
			loginBody(passwords[2], passwords[2], "p"),
		} {
			resp, b := env.Do(t, "POST", loginPath, "", body)
			wantError(t, resp, b, http.StatusUnauthorized, syncproto.CodeInvalidCredentials)
		}
		// Throttled: five failures on one account, then a sixth attempt.
		for i := 0; i < 6; i++ {
			env.Do(t, "POST", loginPath, "", loginBody(testenv.Officer3, passwords[2], "p"))
		}

		// Refresh, grace replay, reuse.
		r1 := keep(refreshOK(t, env, o1.RefreshToken))
		refreshOK(t, env, o1.RefreshToken)
		r2 := keep(refreshOK(t, env, r1.RefreshToken))
		resp, b := refresh(t, env, o1.RefreshToken)
		wantError(t, resp, b, http.StatusUnauthorized, syncproto.CodeRefreshReused)
		refresh(t, env, r2.RefreshToken)

		// Requests carrying personal data in paths and queries.
		env.Do(t, "GET", "/api/v1/me?phone="+phones[0]+"&id="+idNumbers[0], sup.AccessToken, nil)
		env.Do(t, "GET", "/api/v1/households/by-id-number/"+idNumbers[1], sup.AccessToken, nil)
		env.Do(t, "GET", "/api/v1/me", idNumbers[0], nil)

		// Logout and revocation.
		o3 := keep(env.Login(t, testenv.Officer2, testenv.Password, "o2-tablet"))
		env.DoStatus(t, http.StatusNoContent, "POST", logoutPath, "", syncproto.RefreshRequest{RefreshToken: o3.RefreshToken})
		victim := keep(env.Login(t, testenv.Officer1, testenv.Password, "lost-phone"))
		env.DoStatus(t, http.StatusOK, "POST", "/api/v1/devices/"+victim.DeviceID+"/revoke", sup.AccessToken, nil)
		env.Do(t, "GET", mePath, victim.AccessToken, nil)

		logs := env.Logs()
		for _, event := range []string{"auth.login", "auth.login_failed", "auth.login_throttled", "auth.refresh",
			"auth.refresh_reused", "auth.logout", "auth.device_revoked", "http request"} {
			if !strings.Contains(logs, fmt.Sprintf(`"msg":%q`, event)) {
				t.Errorf("no %q event in the logs: the run did not exercise it", event)
			}
		}
		secrets := map[string][]string{"ID number": idNumbers, "phone number": phones, "password": passwords}
		for _, tok := range tokens {
			secrets["token"] = append(secrets["token"], tok)
			if parts := strings.Split(tok, "."); len(parts) == 3 {
				secrets["token signature"] = append(secrets["token signature"], parts[2])
			}
		}
		for kind, values := range secrets {
			for _, v := range values {
				if strings.Contains(logs, v) {
					t.Errorf("the logs contain a %s (%.6s…)", kind, v)
				}
			}
		}
		if t.Failed() {
			t.Logf("captured logs:\n%s", logs)
		}
	})
}
