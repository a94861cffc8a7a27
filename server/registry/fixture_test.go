package registry_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/registry/importfile"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// sampleDir holds the county sample lists (see its README).
const sampleDir = "../../../shared/data"

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sampleDir, name))
	if err != nil {
		t.Fatalf("sample list %s is missing (%v): these tests need /work/shared/data, reached as %s from this package; they are not optional", name, err, sampleDir)
	}
	return b
}

// world is a bank with two branches: CQ serves 秀山, 巫溪 and 奉节 with two
// outlets each; SC is another branch whose data CQ's staff must never see.
type world struct {
	db  *store.DB
	svc *registry.Service
	sec *secrets.Secrets

	branch, other                  store.OrgUnit
	units                          map[string]store.OrgUnit
	users                          map[string]store.User
	admin, manager, otherManager   store.Actor
	supXS, supXS01, supWX01, supFJ store.Actor
	officer1, officer2, officer3   store.Actor
	officerSC                      store.Actor
	xs01, xs02, wx01, wx02, fj01   string
	now                            time.Time
}

var fixtureUnits = []store.NewOrgUnit{
	{Kind: store.KindBranch, Code: "CQ", Name: "重庆分行"},
	{Kind: store.KindCounty, Code: "XS", Name: "秀山支行", ParentCode: "CQ"},
	{Kind: store.KindCounty, Code: "WX", Name: "巫溪支行", ParentCode: "CQ"},
	{Kind: store.KindCounty, Code: "FJ", Name: "奉节支行", ParentCode: "CQ"},
	{Kind: store.KindOutlet, Code: "XS-01", Name: "秀山中和网点", ParentCode: "XS"},
	{Kind: store.KindOutlet, Code: "XS-02", Name: "秀山石耶网点", ParentCode: "XS"},
	{Kind: store.KindOutlet, Code: "WX-01", Name: "巫溪柏杨网点", ParentCode: "WX"},
	{Kind: store.KindOutlet, Code: "WX-02", Name: "巫溪尖山网点", ParentCode: "WX"},
	{Kind: store.KindOutlet, Code: "FJ-01", Name: "奉节永安网点", ParentCode: "FJ"},
	{Kind: store.KindOutlet, Code: "FJ-02", Name: "奉节白帝网点", ParentCode: "FJ"},
	{Kind: store.KindBranch, Code: "SC", Name: "四川分行"},
	{Kind: store.KindCounty, Code: "SC-C", Name: "某县支行", ParentCode: "SC"},
	{Kind: store.KindOutlet, Code: "SC-01", Name: "某网点", ParentCode: "SC-C"},
}

var fixtureUsers = []store.NewUser{
	{Username: "admin", Role: store.RoleAdmin, OrgUnitCode: "CQ"},
	{Username: "manager", Role: store.RoleBranchManager, OrgUnitCode: "CQ"},
	{Username: "manager-sc", Role: store.RoleBranchManager, OrgUnitCode: "SC"},
	{Username: "sup-xs", Role: store.RoleSupervisor, OrgUnitCode: "XS"},
	{Username: "sup-xs01", Role: store.RoleSupervisor, OrgUnitCode: "XS-01"},
	{Username: "sup-wx01", Role: store.RoleSupervisor, OrgUnitCode: "WX-01"},
	{Username: "sup-fj", Role: store.RoleSupervisor, OrgUnitCode: "FJ"},
	{Username: "officer1", Role: store.RoleOfficer, OrgUnitCode: "XS-01"},
	{Username: "officer2", Role: store.RoleOfficer, OrgUnitCode: "XS-01"},
	{Username: "officer3", Role: store.RoleOfficer, OrgUnitCode: "WX-01"},
	{Username: "officer-sc", Role: store.RoleOfficer, OrgUnitCode: "SC-01"},
}

// Township → outlet, for the townships of the sample lists.
var fixtureAreas = []struct{ County, Township, Outlet string }{
	{"秀山土家族苗族自治县", "清溪场街道", "XS-01"}, {"秀山土家族苗族自治县", "梅江镇", "XS-01"}, {"秀山土家族苗族自治县", "隘口镇", "XS-01"},
	{"秀山土家族苗族自治县", "石耶镇", "XS-02"}, {"秀山土家族苗族自治县", "龙池镇", "XS-02"},
	{"巫溪县", "宁厂镇", "WX-01"}, {"巫溪县", "文峰镇", "WX-01"},
	{"巫溪县", "尖山镇", "WX-02"}, {"巫溪县", "徐家镇", "WX-02"},
	{"奉节县", "永乐镇", "FJ-01"}, {"奉节县", "康乐镇", "FJ-01"}, {"奉节县", "草堂镇", "FJ-01"},
	{"奉节县", "白帝镇", "FJ-02"}, {"奉节县", "汾河镇", "FJ-02"},
}

func newWorld(t testing.TB, db *store.DB) *world {
	t.Helper()
	ctx := context.Background()
	sec, err := secrets.Generate()
	if err != nil {
		t.Fatal(err)
	}
	w := &world{db: db, sec: sec, units: map[string]store.OrgUnit{}, users: map[string]store.User{}}
	w.now = time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	w.svc = registry.New(db, sec, registry.Options{Now: func() time.Time { return w.now }})
	err = db.Transact(ctx, func(tx *store.Tx) error {
		for _, n := range fixtureUnits {
			u, err := tx.CreateOrgUnit(n)
			if err != nil {
				return err
			}
			w.units[n.Code] = u
		}
		for _, n := range fixtureUsers {
			n.PasswordHash = "x"
			u, err := tx.CreateUser(n)
			if err != nil {
				return err
			}
			w.users[n.Username] = u
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	w.branch, w.other = w.units["CQ"], w.units["SC"]
	w.xs01, w.xs02, w.wx01, w.wx02, w.fj01 = w.units["XS-01"].ID, w.units["XS-02"].ID, w.units["WX-01"].ID, w.units["WX-02"].ID, w.units["FJ-01"].ID
	w.admin, w.manager, w.otherManager = w.actor("admin"), w.actor("manager"), w.actor("manager-sc")
	w.supXS, w.supXS01, w.supWX01, w.supFJ = w.actor("sup-xs"), w.actor("sup-xs01"), w.actor("sup-wx01"), w.actor("sup-fj")
	w.officer1, w.officer2, w.officer3, w.officerSC = w.actor("officer1"), w.actor("officer2"), w.actor("officer3"), w.actor("officer-sc")

	areas := make([]store.AreaInput, len(fixtureAreas))
	for i, a := range fixtureAreas {
		areas[i] = store.AreaInput{County: a.County, Township: a.Township, OutletID: a.Outlet}
	}
	if _, err := db.ReplaceServiceAreas(ctx, w.admin, w.branch.ID, areas); err != nil {
		t.Fatal(err)
	}
	return w
}

// clock is the world's time, for services built on the same database.
func (w *world) clock() time.Time { return w.now }

func (w *world) actor(username string) store.Actor {
	u := w.users[username]
	unit := w.unitByID(u.OrgUnitID)
	return store.Actor{UserID: u.ID, Username: u.Username, Role: u.Role, BranchID: u.BranchID, OrgUnitID: u.OrgUnitID, OrgPath: unit.Path, RequestID: "test-" + username}
}

func (w *world) unitByID(id string) store.OrgUnit {
	for _, u := range w.units {
		if u.ID == id {
			return u
		}
	}
	return store.OrgUnit{}
}

// cleaned returns the sample with every row that has a problem removed, as
// a county office would send it after fixing the report's findings.
func cleaned(t testing.TB, data []byte) []byte {
	t.Helper()
	res, err := importfile.Parse(bytes.NewReader(data), importfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bad := map[int]bool{}
	for _, p := range res.Problems {
		bad[p.Line] = true
	}
	lines := strings.SplitAfter(string(data), "\n")
	var b strings.Builder
	for i, l := range lines {
		if !bad[i+1] {
			b.WriteString(l)
		}
	}
	return []byte(b.String())
}

func (w *world) dryRun(t *testing.T, a store.Actor, name string, data []byte) *registry.DryRun {
	t.Helper()
	d, err := w.svc.Compute(context.Background(), a, registry.ImportInput{FileName: name, Data: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("dry run of %s: %v", name, err)
	}
	return d
}

func (w *world) preview(t *testing.T, a store.Actor, name string, data []byte) registry.Preview {
	t.Helper()
	p, err := w.svc.PreviewImport(context.Background(), a, registry.ImportInput{FileName: name, Data: bytes.NewReader(data)})
	if err != nil {
		t.Fatalf("preview of %s: %v", name, err)
	}
	return p
}

func (w *world) commit(t *testing.T, a store.Actor, id string) registry.Preview {
	t.Helper()
	p, applied, err := w.svc.CommitImport(context.Background(), a, id)
	if err != nil {
		t.Fatalf("commit %s: %v", id, err)
	}
	if !applied {
		t.Fatalf("commit %s applied nothing", id)
	}
	return p
}

// count runs a COUNT(*) query.
func (w *world) count(t testing.TB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := w.db.Gorm(context.Background()).Raw(q, args...).Scan(&n).Error; err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// tableCounts counts the rows of the tables an import writes.
func (w *world) tableCounts(t testing.TB) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, tb := range []string{"households", "assignments", "changes", "snapshot_changes", "audit_log", "change_counters"} {
		out[tb] = w.count(t, "SELECT COUNT(*) FROM "+tb)
	}
	out["committed"] = w.count(t, "SELECT COUNT(*) FROM list_snapshots WHERE status = 'committed'")
	out["version_sum"] = w.count(t, "SELECT COALESCE(SUM(version), 0) FROM households")
	return out
}

func dbtestDialects(t *testing.T, fn func(t *testing.T, w *world)) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) { fn(t, newWorld(t, db)) })
}
