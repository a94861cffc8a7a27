package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

// The authorization matrix: every authenticated endpoint × role × the
// target's relation to the actor, with the status each must get, on both
// databases.
//
// The actors, one per role, all in the demo branch (重庆分行):
//
//	officer         officer1     (outlet XS-01, 秀山)
//	supervisor      supervisor1  (supervisor of outlet XS-01)
//	branch_manager  manager1
//	admin           admin
//
// The relations of a target to the actor:
//
//	own           the actor's own (for an officer: assigned to them)
//	sameOutlet    officer2's, in outlet XS-01 with officer1 and supervisor1
//	otherCounty   officer3's, in outlet WX-01 of county 巫溪, same branch
//	otherBranch   hb_officer's, in the second branch (湖北分行)
//
// To add an endpoint, add rows in your own test file of this package:
//
//	var _ = addMatrixRows(
//		matrixRow{name: "get household", method: "GET", path: "/api/v1/households/{id}",
//			target: householdTarget, // func(t, m, actor, owner) string: creates or finds the target, returns its id
//			want: map[string]outcomes{
//				roleOfficer:    {200, 404, 404, 404},
//				roleSupervisor: {200, 200, 404, 404},
//				roleManager:    {200, 200, 200, 404},
//				roleAdmin:      all(200),
//			}},
//	)
//
// A target function gets the acting and the owning username; for own they
// are the same. Rows whose request changes the target should create a fresh
// target on every call, so that cases do not depend on each other. For list
// endpoints use Seen and Hidden: 200 with the target's id in the body, or
// not. Every row is also sent without a token and must get 401.

const (
	roleOfficer    = store.RoleOfficer
	roleSupervisor = store.RoleSupervisor
	roleManager    = store.RoleBranchManager
	roleAdmin      = store.RoleAdmin
)

type relation int

const (
	own relation = iota
	sameOutlet
	otherCounty
	otherBranch
)

var relations = []relation{own, sameOutlet, otherCounty, otherBranch}

func (r relation) String() string {
	return [...]string{"own", "same-outlet", "other-county", "other-branch"}[r]
}

// Pseudo-statuses for list endpoints.
const (
	Seen   = -1 // 200, and the target's id is in the body
	Hidden = -2 // 200, and the target's id is not in the body
)

// outcomes are the expected results by relation: own, same outlet, other
// county, other branch.
type outcomes [4]int

func all(status int) outcomes { return outcomes{status, status, status, status} }

// matrixActors is who acts for each role.
var matrixActors = []struct{ role, user string }{
	{roleOfficer, testenv.Officer1},
	{roleSupervisor, testenv.Supervisor1},
	{roleManager, testenv.Manager1},
	{roleAdmin, testenv.Admin},
}

// ownerFor is whose the target is, for a relation to the actor.
func ownerFor(actor string, rel relation) string {
	switch rel {
	case own:
		return actor
	case sameOutlet:
		return testenv.Officer2
	case otherCounty:
		return testenv.Officer3
	default:
		return testenv.OtherBranchOfficer
	}
}

// targetFunc makes (or finds) a target owned by owner, for actor, and
// returns its id.
type targetFunc func(t *testing.T, m *matrix, actor, owner string) string

type matrixRow struct {
	name   string
	method string
	path   string // {id} becomes the target's id
	// body builds the request body from the target id; nil sends none.
	body func(id string) any
	// target is nil for requests without one; all four outcomes must then agree.
	target targetFunc
	want   map[string]outcomes // by role
	// check, when set, runs after each request, e.g. to see that a refused
	// write changed nothing.
	check func(t *testing.T, m *matrix, id string, status int)
	// public rows are not expected to answer 401 without a token.
	public bool
}

var matrixTables [][]matrixRow

// addMatrixRows registers rows; call it from a package-level var in the
// file that tests the endpoints.
func addMatrixRows(rows ...matrixRow) bool {
	matrixTables = append(matrixTables, rows)
	return true
}

// matrix is the state shared by the cases of one database.
type matrix struct {
	env    *testenv.Env
	tokens map[string]string
	n      int
}

// token signs the user in once and returns their access token.
func (m *matrix) token(t *testing.T, user string) string {
	t.Helper()
	if tok, ok := m.tokens[user]; ok {
		return tok
	}
	tok := m.env.Login(t, user, testenv.Password, "matrix-"+user).AccessToken
	m.tokens[user] = tok
	return tok
}

// unique returns a fresh name.
func (m *matrix) unique(prefix string) string {
	m.n++
	return fmt.Sprintf("%s-%d", prefix, m.n)
}

// --- Targets of the auth endpoints -------------------------------------------

// freshDevice registers a new device of the owner by signing in on it.
func freshDevice(t *testing.T, m *matrix, actor, owner string) string {
	t.Helper()
	return m.env.Login(t, owner, testenv.Password, m.unique("matrix-device")).DeviceID
}

func deviceStatus(t *testing.T, m *matrix, id string) string {
	t.Helper()
	d, err := m.env.DB.DeviceByID(context.Background(), store.Actor{Role: store.RoleAdmin}, id)
	if err != nil {
		t.Fatalf("device %s: %v", id, err)
	}
	return d.Status
}

var _ = addMatrixRows(
	matrixRow{
		name: "me", method: "GET", path: "/api/v1/me",
		want: map[string]outcomes{roleOfficer: all(200), roleSupervisor: all(200), roleManager: all(200), roleAdmin: all(200)},
	},
	matrixRow{
		name: "list devices", method: "GET", path: "/api/v1/devices",
		target: freshDevice,
		want: map[string]outcomes{
			roleOfficer:    all(403),
			roleSupervisor: {Seen, Seen, Hidden, Hidden},
			roleManager:    {Seen, Seen, Seen, Hidden},
			roleAdmin:      all(Seen),
		},
	},
	matrixRow{
		name: "revoke device", method: "POST", path: "/api/v1/devices/{id}/revoke",
		target: freshDevice,
		want: map[string]outcomes{
			roleOfficer:    all(403),
			roleSupervisor: {200, 200, 404, 404},
			roleManager:    {200, 200, 200, 404},
			roleAdmin:      all(200),
		},
		check: func(t *testing.T, m *matrix, id string, status int) {
			want := store.DeviceActive
			if status == http.StatusOK {
				want = store.DeviceRevoked
			}
			if got := deviceStatus(t, m, id); got != want {
				t.Fatalf("after %d the device is %s, want %s", status, got, want)
			}
		},
	},
)

// -----------------------------------------------------------------------------

func TestAuthorizationMatrix(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		m := &matrix{env: env, tokens: map[string]string{}}
		for _, table := range matrixTables {
			for _, row := range table {
				runMatrixRow(t, m, row)
			}
		}
	})
}

func runMatrixRow(t *testing.T, m *matrix, row matrixRow) {
	t.Run(row.name, func(t *testing.T) {
		if !row.public {
			path := strings.ReplaceAll(row.path, "{id}", "00000000-0000-0000-0000-000000000000")
			resp, body := m.env.Do(t, row.method, path, "", bodyFor(row, "x"))
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("without a token: %d %s, want 401", resp.StatusCode, body)
			}
		}
		for _, a := range matrixActors {
			want, ok := row.want[a.role]
			if !ok {
				t.Errorf("row %q has no expectation for role %s", row.name, a.role)
				continue
			}
			rels := relations
			if row.target == nil {
				if want != all(want[0]) {
					t.Fatalf("row %q has no target, so its outcomes for %s must all agree: %v", row.name, a.role, want)
				}
				rels = relations[:1]
			}
			for _, rel := range rels {
				t.Run(a.role+"/"+rel.String(), func(t *testing.T) {
					id := ""
					if row.target != nil {
						id = row.target(t, m, a.user, ownerFor(a.user, rel))
					}
					path := strings.ReplaceAll(row.path, "{id}", id)
					resp, body := m.env.Do(t, row.method, path, m.token(t, a.user), bodyFor(row, id))
					expect(t, want[rel], resp.StatusCode, body, id)
					if row.check != nil {
						row.check(t, m, id, resp.StatusCode)
					}
				})
			}
		}
	})
}

func bodyFor(row matrixRow, id string) any {
	if row.body == nil {
		return nil
	}
	return row.body(id)
}

func expect(t *testing.T, want, status int, body []byte, id string) {
	t.Helper()
	switch want {
	case Seen, Hidden:
		if status != http.StatusOK {
			t.Fatalf("status %d, want 200; body %s", status, body)
		}
		if id == "" {
			t.Fatal("Seen/Hidden need a target")
		}
		if seen := bytes.Contains(body, []byte(id)); seen != (want == Seen) {
			t.Fatalf("target %s listed = %v, want %v", id, seen, want == Seen)
		}
	default:
		if status != want {
			t.Fatalf("status %d, want %d; body %s", status, want, body)
		}
		if status >= 400 {
			testenv.ErrorOf(t, body)
		}
	}
}
