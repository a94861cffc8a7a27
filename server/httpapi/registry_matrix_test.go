package httpapi_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

// The registry's endpoints in the authorization matrix (see
// authz_matrix_test.go): households, assignments, reveal, plans, progress,
// imports and service areas.

// regOfficer is the officer whose household stands for the owner: officers
// own their households; for staff, "own" means their outlet's officer1.
func regOfficer(owner string) string {
	switch owner {
	case testenv.Officer1, testenv.Officer2, testenv.Officer3, testenv.OtherBranchOfficer:
		return owner
	}
	return testenv.Officer1
}

// regHousehold creates a household assigned to the owner's officer.
func regHousehold(t *testing.T, m *matrix, actor, owner string) string {
	t.Helper()
	ids, err := m.env.DB.CreateSimHouseholds(context.Background(), regOfficer(owner), "MX", 1)
	if err != nil || len(ids) != 1 {
		t.Fatalf("matrix household for %s: %v", owner, err)
	}
	return ids[0]
}

// regHouseholdAndOfficer is a fresh household and its officer's id, "hh|officer".
func regHouseholdAndOfficer(t *testing.T, m *matrix, actor, owner string) string {
	t.Helper()
	return regHousehold(t, m, actor, owner) + "|" + m.env.User(t, regOfficer(owner)).ID
}

// regPreview stores a dry run in the owner's branch, made by that
// branch's manager through the service.
func regPreview(t *testing.T, m *matrix, actor, owner string) string {
	t.Helper()
	mgr := testenv.Manager1
	if owner == testenv.OtherBranchOfficer {
		mgr = testenv.OtherBranchManager
	}
	u := m.env.User(t, mgr)
	a := store.Actor{UserID: u.ID, Username: u.Username, Role: u.Role, BranchID: u.BranchID, OrgUnitID: u.OrgUnitID}
	list := "户编号,户主姓名,户主证件号码,监测对象类别,县（市、区）,乡（镇）,行政村\r\n1,张三,500238195206029898,脱贫不稳定户,巫溪县,宁厂镇,青山村\r\n"
	p, err := m.env.App.Registry.PreviewImport(context.Background(), a, registry.ImportInput{FileName: m.unique("matrix") + ".csv", Data: bytes.NewReader([]byte(list))})
	if err != nil {
		t.Fatalf("matrix preview: %v", err)
	}
	return p.ID
}

var regStaffInReach = func(ok int) map[string]outcomes {
	return map[string]outcomes{
		roleOfficer:    all(403),
		roleSupervisor: {ok, ok, 404, 404},
		roleManager:    {ok, ok, ok, 404},
		roleAdmin:      all(ok),
	}
}

var regImporters = func(ok int) map[string]outcomes {
	return map[string]outcomes{
		roleOfficer:    all(403),
		roleSupervisor: all(403),
		roleManager:    {ok, ok, ok, 404},
		roleAdmin:      all(ok),
	}
}

var _ = addMatrixRows(
	matrixRow{name: "get household", method: "GET", path: "/api/v1/households/{id}", target: regHousehold,
		want: map[string]outcomes{
			roleOfficer:    {200, 404, 404, 404},
			roleSupervisor: {200, 200, 404, 404},
			roleManager:    {200, 200, 200, 404},
			roleAdmin:      all(200),
		}},
	matrixRow{name: "list households", method: "GET", path: "/api/v1/households?limit=1000", target: regHousehold,
		want: map[string]outcomes{
			roleOfficer:    {Seen, Hidden, Hidden, Hidden},
			roleSupervisor: {Seen, Seen, Hidden, Hidden},
			roleManager:    {Seen, Seen, Seen, Hidden},
			roleAdmin:      all(Seen),
		}},
	matrixRow{name: "household assignments", method: "GET", path: "/api/v1/households/{id}/assignments", target: regHousehold, want: regStaffInReach(200)},
	matrixRow{name: "reveal household", method: "POST", path: "/api/v1/households/{id}/reveal", target: regHousehold,
		body: func(string) any { return map[string]any{"reason": "权限矩阵测试"} }, want: regStaffInReach(200)},
	matrixRow{name: "assign households", method: "POST", path: "/api/v1/assignments", target: regHouseholdAndOfficer,
		body: func(id string) any {
			hh, officer, _ := strings.Cut(id, "|")
			return map[string]any{"household_ids": []string{hh}, "officer_id": officer}
		}, want: regStaffInReach(200)},
	matrixRow{name: "create plan", method: "POST", path: "/api/v1/plans", target: regHousehold,
		body: func(id string) any { return map[string]any{"household_id": id, "planned_on": "2099-06-01"} },
		want: regStaffInReach(201)},
	matrixRow{name: "progress", method: "GET", path: "/api/v1/progress?level=officer",
		want: map[string]outcomes{roleOfficer: all(200), roleSupervisor: all(200), roleManager: all(200), roleAdmin: all(200)}},
	matrixRow{name: "overdue plans", method: "GET", path: "/api/v1/plans/overdue",
		want: map[string]outcomes{roleOfficer: all(200), roleSupervisor: all(200), roleManager: all(200), roleAdmin: all(200)}},
	matrixRow{name: "unvisited households", method: "GET", path: "/api/v1/households/unvisited",
		want: map[string]outcomes{roleOfficer: all(200), roleSupervisor: all(200), roleManager: all(200), roleAdmin: all(200)}},
	matrixRow{name: "service areas", method: "GET", path: "/api/v1/service-areas",
		want: map[string]outcomes{roleOfficer: all(403), roleSupervisor: all(200), roleManager: all(200), roleAdmin: all(200)}},
	matrixRow{name: "upload import (empty)", method: "POST", path: "/api/v1/imports",
		want: map[string]outcomes{roleOfficer: all(403), roleSupervisor: all(403), roleManager: all(400), roleAdmin: all(400)}},
	matrixRow{name: "get import", method: "GET", path: "/api/v1/imports/{id}", target: regPreview, want: regImporters(200)},
	matrixRow{name: "import errors", method: "GET", path: "/api/v1/imports/{id}/errors", target: regPreview, want: regImporters(200)},
	matrixRow{name: "discard import", method: "DELETE", path: "/api/v1/imports/{id}", target: regPreview, want: regImporters(204)},
)
