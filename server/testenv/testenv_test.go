package testenv_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// Every seeded account signs in and sees itself at the right place in the tree.
func TestSeededAccountsSignIn(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		want := map[string]struct{ role, unit string }{
			testenv.Admin:                 {"admin", testenv.BranchCode},
			testenv.Manager1:              {"branch_manager", testenv.BranchCode},
			testenv.Supervisor1:           {"supervisor", testenv.Officer1Outlet},
			testenv.Officer1:              {"officer", testenv.Officer1Outlet},
			testenv.Officer2:              {"officer", testenv.Officer1Outlet},
			testenv.Officer3:              {"officer", testenv.Officer3Outlet},
			testenv.OtherBranchManager:    {"branch_manager", testenv.OtherBranchCode},
			testenv.OtherBranchSupervisor: {"supervisor", testenv.OtherBranchOutlet},
			testenv.OtherBranchOfficer:    {"officer", testenv.OtherBranchOutlet},
		}
		for name, w := range want {
			tok := env.Login(t, name, testenv.Password, "dev-"+name)
			var me syncproto.Me
			if err := json.Unmarshal(env.DoStatus(t, http.StatusOK, "GET", "/api/v1/me", tok.AccessToken, nil), &me); err != nil {
				t.Fatal(err)
			}
			if me.Username != name || me.Role != w.role || me.OrgUnit.Code != w.unit || me.Device.ID != tok.DeviceID {
				t.Errorf("%s: me = %+v; want role %s at %s on device %s", name, me, w.role, w.unit, tok.DeviceID)
			}
		}
		if !strings.Contains(env.Logs(), `"msg":"auth.login"`) {
			t.Error("logs were not captured")
		}
	})
}

// Do reports a JSON error body for unknown routes, and ErrorOf decodes it.
func TestDoAndErrorOf(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		resp, body := env.Do(t, "GET", "/api/v1/no-such-thing", "", nil)
		if resp.StatusCode != http.StatusNotFound || testenv.ErrorOf(t, body).Code != syncproto.CodeNotFound {
			t.Fatalf("unknown route: %d %s", resp.StatusCode, body)
		}
	}, testenv.WithoutSeed())
}
