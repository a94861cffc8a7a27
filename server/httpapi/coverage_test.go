package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

// Coverage endpoints in the authorization matrix. Officers get 403 on every
// one; anything outside a supervisor's or manager's subtree is 404, as if it
// did not exist; writes are for supervisors and branch managers, not the
// technical admin (403).

var shanghaiTZ = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

func thisMonth() string { return coverage.MonthOf(store.Now(), shanghaiTZ).String() }

// unitOfOwner is the org unit a target of the owner lives in: an officer's
// outlet, a supervisor's outlet, a manager's or admin's branch.
func unitOfOwner(t *testing.T, m *matrix, owner string) store.OrgUnit {
	t.Helper()
	u := m.env.User(t, owner)
	unit, err := m.env.DB.OrgUnit(context.Background(), u.OrgUnitID)
	if err != nil {
		t.Fatal(err)
	}
	return unit
}

func ownerUnit(t *testing.T, m *matrix, actor, owner string) string {
	return unitOfOwner(t, m, owner).ID
}

// officerOf is the officer whose households stand for the owner's: the
// owner if an officer, else an officer of the owner's subtree.
func officerOf(t *testing.T, m *matrix, owner string) string {
	u := m.env.User(t, owner)
	switch {
	case u.Role == store.RoleOfficer:
		return owner
	case strings.HasPrefix(owner, "hb_"):
		return testenv.OtherBranchOfficer
	default:
		return testenv.Officer1
	}
}

func freshHousehold(t *testing.T, m *matrix, actor, owner string) string {
	t.Helper()
	ids, err := m.env.DB.CreateSimHouseholds(context.Background(), officerOf(t, m, owner), m.unique("COV"), 1)
	if err != nil {
		t.Fatal(err)
	}
	return ids[0]
}

// freshVisit records a visit on a fresh household of the owner's officer,
// as the sync engine would, and flags it.
func freshVisit(t *testing.T, m *matrix, actor, owner string) string {
	t.Helper()
	hid := freshHousehold(t, m, actor, owner)
	off := m.env.User(t, officerOf(t, m, owner))
	now := store.Now()
	v := store.Visit{ID: store.NewID(), BranchID: off.BranchID, HouseholdID: hid, OfficerID: off.ID, Outcome: "visited",
		StartedAt: now, VisitedAt: now, ReceivedAt: now, Status: "recorded", Flags: "[]", FieldTimes: "{}", Version: 1, CreatedAt: now, UpdatedAt: now}
	err := m.env.DB.Transact(context.Background(), func(tx *store.Tx) error {
		if err := tx.Create(&v).Error; err != nil {
			return err
		}
		return coverage.FlagVisits(tx, shanghaiTZ, v.BranchID, []string{v.ID})
	})
	if err != nil {
		t.Fatal(err)
	}
	return v.ID
}

// signableOutlet returns "outlet|month": the owner's outlet and a month not
// signed yet in which every household of the outlet has been exempted, so
// a sign-off in reach succeeds.
func signableOutlet(t *testing.T, m *matrix, actor, owner string) string {
	t.Helper()
	ctx := context.Background()
	unit := unitOfOwner(t, m, officerOf(t, m, owner))
	m.n++
	month := time.Date(2024, time.Month(1+m.n%12), 1, 0, 0, 0, 0, time.UTC).AddDate(-m.n/12, 0, 0).Format("2006-01")
	admin := store.Actor{Role: store.RoleAdmin, UserID: m.env.User(t, testenv.Admin).ID}
	var ids []string
	if err := m.env.DB.Gorm(ctx).Model(&store.Household{}).Where("outlet_id = ? AND list_status = 'active'", unit.ID).Pluck("id", &ids).Error; err != nil {
		t.Fatal(err)
	}
	err := m.env.DB.Transact(ctx, func(tx *store.Tx) error {
		for _, id := range ids {
			if _, err := tx.CreateCoverageExemption(admin, id, month, "矩阵测试"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return unit.ID + "|" + month
}

func signoffBody(id string) any {
	outlet, month, _ := strings.Cut(id, "|")
	return map[string]any{"outlet_id": outlet, "month": month, "note": "矩阵"}
}

var validSettings = map[string]any{
	"absent_attempts": 3, "distance_threshold_m": 500, "low_accuracy_m": 100, "max_speed_kmh": 120,
	"min_duration_s": 180, "max_clock_offset_s": 600, "spot_check_size": 5,
}

var inReach = map[string]outcomes{
	roleOfficer:    all(403),
	roleSupervisor: {200, 200, 404, 404},
	roleManager:    {200, 200, 200, 404},
	roleAdmin:      all(200),
}

var reviewersInReach = func(ok int) map[string]outcomes {
	return map[string]outcomes{
		roleOfficer:    all(403),
		roleSupervisor: {ok, ok, 404, 404},
		roleManager:    {ok, ok, ok, 404},
		roleAdmin:      all(403),
	}
}

var _ = addMatrixRows(
	matrixRow{name: "coverage ledger", method: "GET", path: "/api/v1/coverage/ledger?org={id}", target: ownerUnit, want: inReach},
	matrixRow{name: "coverage sign-offs", method: "GET", path: "/api/v1/coverage/signoffs?org={id}", target: ownerUnit, want: inReach},
	matrixRow{name: "spot checks", method: "GET", path: "/api/v1/coverage/spot-checks?org={id}", target: ownerUnit, want: inReach},
	matrixRow{name: "device health", method: "GET", path: "/api/v1/coverage/device-health?org={id}", target: ownerUnit, want: inReach},
	matrixRow{name: "review queue", method: "GET", path: "/api/v1/visits/review?status=all&org={id}", target: ownerUnit, want: inReach},
	matrixRow{name: "review queue lists", method: "GET", path: "/api/v1/visits/review?status=all", target: freshVisit,
		want: map[string]outcomes{
			roleOfficer:    all(403),
			roleSupervisor: {Seen, Seen, Hidden, Hidden},
			roleManager:    {Seen, Seen, Seen, Hidden},
			roleAdmin:      all(400), // an admin must name the scope
		}},
	matrixRow{name: "coverage settings", method: "GET", path: "/api/v1/coverage/settings",
		want: map[string]outcomes{roleOfficer: all(403), roleSupervisor: all(200), roleManager: all(200), roleAdmin: all(200)}},
	matrixRow{name: "update coverage settings", method: "PUT", path: "/api/v1/coverage/settings",
		body: func(string) any { return validSettings },
		want: map[string]outcomes{roleOfficer: all(403), roleSupervisor: all(403), roleManager: all(200), roleAdmin: all(200)}},
	matrixRow{name: "exempt a household", method: "POST", path: "/api/v1/coverage/exemptions", target: freshHousehold,
		body: func(id string) any {
			return map[string]any{"household_id": id, "month": thisMonth(), "reason": "外出务工，全家不在村"}
		},
		want: reviewersInReach(201),
		check: func(t *testing.T, m *matrix, id string, status int) {
			var n int64
			m.env.DB.Gorm(context.Background()).Model(&store.CoverageExemption{}).Where("household_id = ?", id).Count(&n)
			if (n == 1) != (status == http.StatusCreated) {
				t.Fatalf("after %d the household has %d exemptions", status, n)
			}
		}},
	matrixRow{name: "sign off an outlet", method: "POST", path: "/api/v1/coverage/signoffs", target: signableOutlet, body: signoffBody,
		want: reviewersInReach(201),
		check: func(t *testing.T, m *matrix, id string, status int) {
			outlet, month, _ := strings.Cut(id, "|")
			var n int64
			m.env.DB.Gorm(context.Background()).Model(&store.CoverageSignoff{}).Where("outlet_id = ? AND month = ?", outlet, month).Count(&n)
			if (n == 1) != (status == http.StatusCreated) {
				t.Fatalf("after %d there are %d sign-offs", status, n)
			}
		}},
	matrixRow{name: "confirm a visit", method: "POST", path: "/api/v1/visits/{id}/confirm", target: freshVisit,
		want: reviewersInReach(200), check: visitStatusAfter("confirmed")},
	matrixRow{name: "visit has issues", method: "POST", path: "/api/v1/visits/{id}/issues", target: freshVisit,
		body: func(string) any { return map[string]any{"kind": "revisit", "reason": "请再次上门核实"} },
		want: reviewersInReach(200), check: visitStatusAfter("has_issues")},
)

func visitStatusAfter(ok string) func(t *testing.T, m *matrix, id string, status int) {
	return func(t *testing.T, m *matrix, id string, status int) {
		var v store.Visit
		if err := m.env.DB.Gorm(context.Background()).Where("id = ?", id).Take(&v).Error; err != nil {
			t.Fatal(err)
		}
		want := "recorded"
		if status == http.StatusOK {
			want = ok
		}
		if v.Status != want {
			t.Fatalf("after %d the visit is %s, want %s", status, v.Status, want)
		}
	}
}

// TestCoverageBadInput: every coverage path refuses bad input with 400 and
// {code, message, details}, changes nothing, and stores what looks like SQL
// verbatim.
func TestCoverageBadInput(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		sup := env.Login(t, testenv.Supervisor1, testenv.Password, "cov-sup").AccessToken
		mgr := env.Login(t, testenv.Manager1, testenv.Password, "cov-mgr").AccessToken
		hh, err := env.DB.CreateSimHouseholds(ctx, testenv.Officer1, "BAD", 2)
		if err != nil {
			t.Fatal(err)
		}
		other, err := env.DB.CreateSimHouseholds(ctx, testenv.Officer3, "BADX", 1)
		if err != nil {
			t.Fatal(err)
		}
		xs01, _ := env.DB.OrgUnitByCode(ctx, "XS-01")
		xs02, _ := env.DB.OrgUnitByCode(ctx, "XS-02")
		month := thisMonth()
		long := strings.Repeat("长", coverage.MaxReasonRunes+1)

		cases := []struct {
			name, method, path string
			tok                string
			body               any
			status             int
			field              string
		}{
			{"ledger: impossible month", "GET", "/api/v1/coverage/ledger?month=2026-13", sup, nil, 400, "month"},
			{"ledger: month zero", "GET", "/api/v1/coverage/ledger?month=2026-00", sup, nil, 400, "month"},
			{"ledger: not a month", "GET", "/api/v1/coverage/ledger?month=" + url.QueryEscape("2026-11' OR '1'='1"), sup, nil, 400, "month"},
			{"ledger: org and officer", "GET", "/api/v1/coverage/ledger?org=" + xs01.ID + "&officer=" + env.User(t, testenv.Officer1).ID, sup, nil, 400, "org"},
			{"ledger: another supervisor's outlet", "GET", "/api/v1/coverage/ledger?org=" + xs02.ID, sup, nil, 404, ""},
			{"ledger: SQL as org id", "GET", "/api/v1/coverage/ledger?org=" + url.QueryEscape("x' OR 1=1 --"), sup, nil, 404, ""},
			{"ledger: unknown rows", "GET", "/api/v1/coverage/ledger?rows=everything", sup, nil, 400, "rows"},
			{"ledger: overlong id", "GET", "/api/v1/coverage/ledger?org=" + strings.Repeat("a", 65), sup, nil, 400, "org"},
			{"exemption: missing reason", "POST", "/api/v1/coverage/exemptions", sup, map[string]any{"household_id": hh[0], "month": month}, 400, "reason"},
			{"exemption: blank reason", "POST", "/api/v1/coverage/exemptions", sup, map[string]any{"household_id": hh[0], "month": month, "reason": " \n "}, 400, "reason"},
			{"exemption: reason too long", "POST", "/api/v1/coverage/exemptions", sup, map[string]any{"household_id": hh[0], "month": month, "reason": long}, 400, "reason"},
			{"exemption: control characters", "POST", "/api/v1/coverage/exemptions", sup, map[string]any{"household_id": hh[0], "month": month, "reason": "a\x00b"}, 400, "reason"},
			{"exemption: impossible month", "POST", "/api/v1/coverage/exemptions", sup, map[string]any{"household_id": hh[0], "month": "2026-13", "reason": "x"}, 400, "month"},
			{"exemption: no month", "POST", "/api/v1/coverage/exemptions", sup, map[string]any{"household_id": hh[0], "reason": "x"}, 400, "month"},
			{"exemption: future month", "POST", "/api/v1/coverage/exemptions", sup, map[string]any{"household_id": hh[0], "month": "2999-01", "reason": "x"}, 400, "month"},
			{"exemption: no household", "POST", "/api/v1/coverage/exemptions", sup, map[string]any{"month": month, "reason": "x"}, 400, "household_id"},
			{"exemption: unknown field", "POST", "/api/v1/coverage/exemptions", sup, map[string]any{"household_id": hh[0], "month": month, "reason": "x", "created_by": "me"}, 400, ""},
			{"exemption: wrong type", "POST", "/api/v1/coverage/exemptions", sup, map[string]any{"household_id": 7, "month": month, "reason": "x"}, 400, "household_id"},
			{"exemption: other county", "POST", "/api/v1/coverage/exemptions", sup, map[string]any{"household_id": other[0], "month": month, "reason": "x"}, 404, ""},
			{"sign-off: no outlet", "POST", "/api/v1/coverage/signoffs", sup, map[string]any{"month": month}, 400, "outlet_id"},
			{"sign-off: impossible month", "POST", "/api/v1/coverage/signoffs", sup, map[string]any{"outlet_id": xs01.ID, "month": "2026-2"}, 400, "month"},
			{"sign-off: another supervisor's outlet", "POST", "/api/v1/coverage/signoffs", sup, map[string]any{"outlet_id": xs02.ID, "month": month}, 404, ""},
			{"sign-off: incomplete month", "POST", "/api/v1/coverage/signoffs", sup, map[string]any{"outlet_id": xs01.ID, "month": month}, 409, ""},
			{"sign-off: malformed JSON", "POST", "/api/v1/coverage/signoffs", sup, `{"outlet_id": `, 400, ""},
			{"issues: bad kind", "POST", "/api/v1/visits/x/issues", sup, map[string]any{"kind": "delete", "reason": "x"}, 400, "kind"},
			{"issues: missing reason", "POST", "/api/v1/visits/x/issues", sup, map[string]any{"kind": "correct"}, 400, "reason"},
			{"issues: unknown visit", "POST", "/api/v1/visits/" + store.NewID() + "/issues", sup, map[string]any{"kind": "correct", "reason": "x"}, 404, ""},
			{"confirm: note too long", "POST", "/api/v1/visits/x/confirm", sup, map[string]any{"note": strings.Repeat("注", coverage.MaxNoteRunes+1)}, 400, "note"},
			{"confirm: unknown visit", "POST", "/api/v1/visits/" + store.NewID() + "/confirm", sup, nil, 404, ""},
			{"review: bad status", "GET", "/api/v1/visits/review?status=pending", sup, nil, 400, "status"},
			{"review: bad limit", "GET", "/api/v1/visits/review?limit=5000", sup, nil, 400, "limit"},
			{"review: negative offset", "GET", "/api/v1/visits/review?offset=-3", sup, nil, 400, "offset"},
			{"spot checks: bad size", "GET", "/api/v1/coverage/spot-checks?size=0", sup, nil, 400, "size"},
			{"spot checks: bad month", "GET", "/api/v1/coverage/spot-checks?month=11-2026", sup, nil, 400, "month"},
			{"settings: out of range", "PUT", "/api/v1/coverage/settings", mgr, map[string]any{"absent_attempts": 0, "distance_threshold_m": 500, "low_accuracy_m": 100, "max_speed_kmh": 120, "min_duration_s": 180, "max_clock_offset_s": 600, "spot_check_size": 5}, 400, "absent_attempts"},
			{"settings: another branch", "PUT", "/api/v1/coverage/settings", mgr, withBranch(env.User(t, testenv.OtherBranchManager).BranchID), 404, ""},
		}
		var before int64
		env.DB.Gorm(ctx).Model(&store.AuditEntry{}).Where("action LIKE 'coverage.%' OR action LIKE 'visit.%'").Count(&before)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				resp, body := env.Do(t, c.method, c.path, c.tok, c.body)
				if resp.StatusCode != c.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, body)
				}
				e := testenv.ErrorOf(t, body)
				if c.field != "" && e.Details["field"] != c.field {
					t.Fatalf("details.field %v, want %s: %s", e.Details["field"], c.field, body)
				}
			})
		}
		var after, exemptions, signoffs int64
		env.DB.Gorm(ctx).Model(&store.AuditEntry{}).Where("action LIKE 'coverage.%' OR action LIKE 'visit.%'").Count(&after)
		env.DB.Gorm(ctx).Model(&store.CoverageExemption{}).Count(&exemptions)
		env.DB.Gorm(ctx).Model(&store.CoverageSignoff{}).Count(&signoffs)
		if after != before || exemptions != 0 || signoffs != 0 {
			t.Fatalf("refused requests wrote something: audit %d→%d, %d exemptions, %d sign-offs", before, after, exemptions, signoffs)
		}

		// English on request; Chinese by default.
		_, body := env.Do(t, "GET", "/api/v1/coverage/ledger?month=2026-13&lang=en", sup, nil)
		if e := testenv.ErrorOf(t, body); !strings.Contains(e.Message, "month must be") {
			t.Fatalf("English message: %s", body)
		}
		_, body = env.Do(t, "GET", "/api/v1/coverage/ledger?month=2026-13", sup, nil)
		if e := testenv.ErrorOf(t, body); !strings.Contains(e.Message, "月份") {
			t.Fatalf("Chinese message: %s", body)
		}

		// SQL-looking text is stored and returned verbatim.
		sqlish := `因病住院'); DROP TABLE households; --`
		body = env.DoStatus(t, http.StatusCreated, "POST", "/api/v1/coverage/exemptions", sup, map[string]any{"household_id": hh[1], "month": month, "reason": sqlish})
		var ex coverage.Exemption
		if err := json.Unmarshal(body, &ex); err != nil || ex.Reason != sqlish {
			t.Fatalf("exemption %s (%v)", body, err)
		}
		body = env.DoStatus(t, http.StatusOK, "GET", "/api/v1/coverage/ledger?month="+month, sup, nil)
		var l coverage.Ledger
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range l.Households {
			if r.HouseholdID == hh[1] {
				found = r.Exempted && r.ExemptionReason == sqlish
			}
		}
		if !found {
			t.Fatalf("the exemption reason did not come back verbatim: %s", fmt.Sprint(l.Summary))
		}
	}, testenv.WithConfig(func(c *config.Config) { c.ReportClose = "off" }))
}

func withBranch(id string) map[string]any {
	out := map[string]any{"branch_id": id}
	for k, v := range validSettings {
		out[k] = v
	}
	return out
}
