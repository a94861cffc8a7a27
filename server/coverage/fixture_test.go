package coverage_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// now is the service clock in these tests: 20 November 2026, Shanghai.
var now = time.Date(2026, 11, 20, 4, 0, 0, 0, time.UTC)

// nov returns a time on the given November 2026 day and Shanghai hour, as UTC.
func nov(day, hour int) time.Time {
	return time.Date(2026, 11, day, hour, 0, 0, 0, shanghai).UTC()
}

func ptr[T any](v T) *T { return &v }

// fx is the demo bank and second branch with households and visits made
// directly in the store, below the sync engine.
type fx struct {
	t     *testing.T
	db    *store.DB
	svc   *coverage.Service
	ctx   context.Context
	units map[string]store.OrgUnit
	users map[string]store.User
	dev   map[string]string // username → a device row id
	n     int
}

func setup(t *testing.T, db *store.DB) *fx {
	t.Helper()
	ctx := context.Background()
	if err := testenv.Seed(ctx, db); err != nil {
		t.Fatalf("seed: %v", err)
	}
	f := &fx{t: t, db: db, ctx: ctx, units: map[string]store.OrgUnit{}, users: map[string]store.User{}, dev: map[string]string{}}
	f.svc = coverage.New(db, coverage.Options{Location: shanghai, Now: func() time.Time { return now }})
	for _, c := range []string{"CQ", "XS", "XS-01", "XS-02", "WX", "WX-01", "HB", "HB-ES", "HB-ES-01"} {
		u, err := db.OrgUnitByCode(ctx, c)
		if err != nil {
			t.Fatalf("org unit %s: %v", c, err)
		}
		f.units[c] = u
	}
	for _, n := range []string{testenv.Admin, testenv.Manager1, testenv.Supervisor1, testenv.Officer1, testenv.Officer2, testenv.Officer3,
		testenv.OtherBranchManager, testenv.OtherBranchSupervisor, testenv.OtherBranchOfficer} {
		u, err := db.UserByUsername(ctx, n)
		if err != nil {
			t.Fatalf("user %s: %v", n, err)
		}
		f.users[n] = u
	}
	return f
}

// actor is how the user acts, as requireAuth would build it.
func (f *fx) actor(username string) store.Actor {
	u := f.users[username]
	var path string
	for _, unit := range f.units {
		if unit.ID == u.OrgUnitID {
			path = unit.Path
		}
	}
	if path == "" {
		unit, err := f.db.OrgUnit(f.ctx, u.OrgUnitID)
		if err != nil {
			f.t.Fatalf("unit of %s: %v", username, err)
		}
		path = unit.Path
	}
	return store.Actor{UserID: u.ID, Username: u.Username, Role: u.Role, BranchID: u.BranchID, OrgUnitID: u.OrgUnitID, OrgPath: path, RequestID: "test"}
}

func (f *fx) tx(fn func(tx *store.Tx) error) {
	f.t.Helper()
	if err := f.db.Transact(f.ctx, fn); err != nil {
		f.t.Fatalf("transaction: %v", err)
	}
}

// household creates an active household in the outlet, assigned to the
// officer since 1 October, located at lat, lng when given.
func (f *fx) household(outlet, officer string, mods ...func(*store.Household)) store.Household {
	f.t.Helper()
	f.n++
	o := f.units[outlet]
	county := *o.ParentID
	off := f.users[officer].ID
	ts := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	h := store.Household{
		ID: store.NewID(), BranchID: o.BranchID, CountyID: &county, OutletID: &o.ID, OfficerID: &off,
		HouseholdNo: fmt.Sprintf("H%05d", f.n), HeadName: fmt.Sprintf("户主%d", f.n), Township: "梅江镇", Village: "村" + outlet,
		Lat: ptr(28.45), Lng: ptr(108.99), LocationSource: "list", FieldTimes: "{}", ListStatus: store.ListActive,
		Version: 1, CreatedAt: ts, UpdatedAt: ts,
	}
	for _, m := range mods {
		m(&h)
	}
	f.tx(func(tx *store.Tx) error {
		if err := tx.Create(&h).Error; err != nil {
			return err
		}
		a := store.Assignment{ID: store.NewID(), BranchID: h.BranchID, HouseholdID: h.ID, OutletID: o.ID, OfficerID: &off, AssignedAt: ts}
		return tx.Create(&a).Error
	})
	return h
}

// device returns (registering once) a device row of the user.
func (f *fx) device(username string) string {
	f.t.Helper()
	if id, ok := f.dev[username]; ok {
		return id
	}
	u := f.users[username]
	d := store.Device{ID: store.NewID(), BranchID: u.BranchID, UserID: u.ID, ClientDeviceID: "phone-" + username, Name: "phone", Status: store.DeviceActive, CreatedAt: store.Now()}
	f.tx(func(tx *store.Tx) error { return tx.Create(&d).Error })
	f.dev[username] = d.ID
	return d.ID
}

// visit records a visit by the officer at the household, at the household's
// location, ten minutes long, on the officer's device. It is not flagged.
func (f *fx) visit(h store.Household, officer, outcome string, at time.Time, mods ...func(*store.Visit)) store.Visit {
	f.t.Helper()
	v := f.newVisit(h, officer, outcome, at, mods...)
	f.tx(func(tx *store.Tx) error { return tx.Create(&v).Error })
	return v
}

// arrive runs the sync engine's hook for visits, as a push would: with the
// visits as they stand in the database.
func (f *fx) arrive(vs ...store.Visit) {
	f.t.Helper()
	now := make([]store.Visit, len(vs))
	for i, v := range vs {
		now[i] = f.reload(v)
	}
	f.tx(func(tx *store.Tx) error { return f.svc.VisitsApplied(tx, vs[0].BranchID, now, nil) })
}

func (f *fx) need(h store.Household, v *store.Visit, at time.Time) {
	f.t.Helper()
	n := store.FinancingNeed{ID: store.NewID(), BranchID: h.BranchID, HouseholdID: h.ID, OfficerID: *h.OfficerID, Purpose: "买猪苗",
		AmountFen: 1_000_000, Status: "recorded", FieldTimes: "{}", Version: 1, CreatedAt: at, UpdatedAt: at}
	if v != nil {
		n.VisitID = &v.ID
	}
	f.tx(func(tx *store.Tx) error { return tx.Create(&n).Error })
}

func (f *fx) reload(v store.Visit) store.Visit {
	f.t.Helper()
	var out store.Visit
	if err := f.db.Gorm(f.ctx).Where("branch_id = ? AND id = ?", v.BranchID, v.ID).Take(&out).Error; err != nil {
		f.t.Fatalf("reload visit: %v", err)
	}
	return out
}

func (f *fx) auditCount(action, targetID string) int64 {
	f.t.Helper()
	var n int64
	if err := f.db.Gorm(f.ctx).Model(&store.AuditEntry{}).Where("action = ? AND target_id = ?", action, targetID).Count(&n).Error; err != nil {
		f.t.Fatalf("audit: %v", err)
	}
	return n
}

func flagCodes(raw string) []string {
	out := []string{}
	for _, fl := range coverage.DecodeFlags(raw) {
		out = append(out, fl.Code)
	}
	return out
}
