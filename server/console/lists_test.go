package console_test

import (
	"context"
	"net/http"
	"net/url"
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
