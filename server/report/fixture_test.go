package report_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// fixture writes base records the way the registry and the sync engine do
// (rows plus change-log entries), on a clock the test moves, and runs a
// report service on the same clock.
type fixture struct {
	t     failer
	db    *store.DB
	svc   *report.Service
	loc   *time.Location
	codec *pii.Codec

	mu  sync.Mutex
	now time.Time

	branch   store.OrgUnit
	units    map[string]store.OrgUnit // by code
	users    map[string]store.User    // by username
	product  string
	seq      int
	clearIDs []string // clear personal numbers written, for leak checks
}

// failer is what the fixture needs of a test: *testing.T and *rapid.T both do.
type failer interface {
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// at is a local (Asia/Shanghai) time.
func at(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, shanghai)
}

func newFixture(t testing.TB, db *store.DB, start time.Time, opts ...func(*report.Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	if err := testenv.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	sec, err := secrets.Generate()
	if err != nil {
		t.Fatal(err)
	}
	codec, err := pii.New(sec)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, loc: shanghai, codec: codec, now: start.UTC().Truncate(time.Microsecond),
		units: map[string]store.OrgUnit{}, users: map[string]store.User{}}
	o := report.Options{Loc: shanghai, Now: f.clock}
	for _, fn := range opts {
		fn(&o)
	}
	f.svc, err = report.New(db, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{"CQ", "XS", "WX", "FJ", "XS-01", "XS-02", "WX-01", "WX-02", "FJ-01", "FJ-02", "HB", "HB-ES", "HB-ES-01"} {
		u, err := db.OrgUnitByCode(ctx, code)
		if err != nil {
			t.Fatalf("org unit %s: %v", code, err)
		}
		f.units[code] = u
	}
	f.branch = f.units["CQ"]
	for _, name := range []string{"manager1", "supervisor1", "officer1", "officer2", "officer3", "admin", "hb_manager", "hb_officer"} {
		u, err := db.UserByUsername(ctx, name)
		if err != nil {
			t.Fatalf("user %s: %v", name, err)
		}
		f.users[name] = u
	}
	err = db.Gorm(ctx).Raw(`SELECT id FROM loan_products WHERE branch_id = ? LIMIT 1`, f.branch.ID).Scan(&f.product).Error
	if err != nil || f.product == "" {
		t.Fatalf("loan product: %v", err)
	}
	return f
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// set moves the clock to a local time.
func (f *fixture) set(t time.Time) {
	f.mu.Lock()
	f.now = t.UTC().Truncate(time.Microsecond)
	f.mu.Unlock()
}

func (f *fixture) write(fn func(tx *store.Tx) error) {
	if err := f.db.Transact(context.Background(), fn); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) catchUp() {
	if err := f.svc.CatchUp(context.Background()); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) change(tx *store.Tx, branchID, entity, id, household string) {
	tx.RecordChange(store.Change{BranchID: branchID, Entity: entity, EntityID: id, Op: store.OpUpsert, HouseholdID: household})
}

// household adds a household to the list of the branch of county code; its
// personal numbers are sealed and masked as the registry stores them.
func (f *fixture) household(countyCode string) string {
	f.seq++
	county := f.units[countyCode]
	idNo := fmt.Sprintf("5002411990%02d%02d%04d", f.seq%12+1, f.seq%28+1, 1000+f.seq)
	phone := fmt.Sprintf("138%08d", 10000000+f.seq)
	f.clearIDs = append(f.clearIDs, idNo, phone)
	idEnc, err := f.codec.Seal(pii.IDNumber, idNo)
	if err != nil {
		f.t.Fatal(err)
	}
	phEnc, err := f.codec.Seal(pii.Phone, phone)
	if err != nil {
		f.t.Fatal(err)
	}
	now := f.clock()
	h := store.Household{
		ID: store.NewID(), BranchID: county.BranchID, CountyID: &county.ID, HouseholdNo: fmt.Sprintf("HH%05d", f.seq),
		HeadName: fmt.Sprintf("户主%d", f.seq), IDNumberEnc: idEnc, IDNumberBidx: f.codec.BlindIndex(pii.IDNumber, idNo),
		IDNumberMasked: pii.Mask(pii.IDNumber, idNo), PhoneEnc: phEnc, PhoneBidx: f.codec.BlindIndex(pii.Phone, phone),
		PhoneMasked: pii.Mask(pii.Phone, phone), County: county.Name, Township: "梅江镇", Village: fmt.Sprintf("%d村", f.seq),
		FamilySize: 3, FieldTimes: "{}", ListStatus: store.ListActive, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	f.write(func(tx *store.Tx) error {
		if err := tx.Create(&h).Error; err != nil {
			return err
		}
		f.change(tx, h.BranchID, syncproto.EntityHousehold, h.ID, h.ID)
		return nil
	})
	return h.ID
}

// assign ends the household's current assignment and starts one with the
// outlet and officer (username, or "" for the outlet alone).
func (f *fixture) assign(hh, outletCode, officer, due string) {
	outlet := f.units[outletCode]
	var off *string
	if officer != "" {
		id := f.users[officer].ID
		off = &id
	}
	now := f.clock()
	f.write(func(tx *store.Tx) error {
		if err := tx.Exec(`UPDATE assignments SET ended_at = ?, end_reason = 'reassigned' WHERE branch_id = ? AND household_id = ? AND ended_at IS NULL`,
			now, outlet.BranchID, hh).Error; err != nil {
			return err
		}
		a := store.Assignment{ID: store.NewID(), BranchID: outlet.BranchID, HouseholdID: hh, OutletID: outlet.ID, OfficerID: off,
			OfficerDueOn: due, AssignedAt: now}
		if err := tx.Create(&a).Error; err != nil {
			return err
		}
		if err := tx.Exec(`UPDATE households SET outlet_id = ?, officer_id = ?, county_id = ?, updated_at = ?, version = version + 1 WHERE branch_id = ? AND id = ?`,
			outlet.ID, off, *outlet.ParentID, now, outlet.BranchID, hh).Error; err != nil {
			return err
		}
		f.change(tx, outlet.BranchID, syncproto.EntityHousehold, hh, hh)
		return nil
	})
}

// setDue changes the deadline of a household's current assignment.
func (f *fixture) setDue(hh, due string) {
	f.write(func(tx *store.Tx) error {
		if err := tx.Exec(`UPDATE assignments SET officer_due_on = ? WHERE branch_id = ? AND household_id = ? AND ended_at IS NULL`,
			due, f.branch.ID, hh).Error; err != nil {
			return err
		}
		f.change(tx, f.branch.ID, syncproto.EntityHousehold, hh, hh)
		return nil
	})
}

// removeHousehold takes a household off the list, as a re-import does.
func (f *fixture) removeHousehold(hh string) {
	now := f.clock()
	f.write(func(tx *store.Tx) error {
		if err := tx.Exec(`UPDATE assignments SET ended_at = ?, end_reason = 'removed_from_list' WHERE branch_id = ? AND household_id = ? AND ended_at IS NULL`,
			now, f.branch.ID, hh).Error; err != nil {
			return err
		}
		if err := tx.Exec(`UPDATE households SET list_status = 'removed', removed_at = ?, officer_id = NULL, updated_at = ? WHERE branch_id = ? AND id = ?`,
			now, now, f.branch.ID, hh).Error; err != nil {
			return err
		}
		f.change(tx, f.branch.ID, syncproto.EntityHousehold, hh, hh)
		return nil
	})
}

type visitOpt func(*store.Visit)

func flagged(v *store.Visit) { v.Flags = `["gps_far"]` }

// visit records a visit by officer at outlet, with its corrected time.
func (f *fixture) visit(hh, officer, outletCode string, visitedAt time.Time, outcome string, opts ...visitOpt) string {
	now := f.clock()
	outlet := f.units[outletCode].ID
	v := store.Visit{
		ID: store.NewID(), BranchID: f.branch.ID, HouseholdID: hh, OfficerID: f.users[officer].ID, OutletID: &outlet,
		Outcome: outcome, StartedAt: visitedAt.UTC(), VisitedAt: visitedAt.UTC(), ReceivedAt: now, Status: syncproto.VisitRecorded,
		Flags: "[]", FieldTimes: "{}", Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	for _, o := range opts {
		o(&v)
	}
	f.write(func(tx *store.Tx) error {
		if err := tx.Create(&v).Error; err != nil {
			return err
		}
		f.change(tx, v.BranchID, syncproto.EntityVisit, v.ID, hh)
		return nil
	})
	return v.ID
}

// updateVisit changes a visit's columns, as a sync edit or a review does.
func (f *fixture) updateVisit(id string, fields map[string]any) {
	now := f.clock()
	fields["updated_at"] = now
	f.write(func(tx *store.Tx) error {
		var v store.Visit
		if err := tx.Where("branch_id = ? AND id = ?", f.branch.ID, id).Take(&v).Error; err != nil {
			return err
		}
		if err := tx.Model(&store.Visit{}).Where("branch_id = ? AND id = ?", f.branch.ID, id).Updates(fields).Error; err != nil {
			return err
		}
		f.change(tx, f.branch.ID, syncproto.EntityVisit, id, v.HouseholdID)
		if h, ok := fields["household_id"].(string); ok && h != v.HouseholdID {
			f.change(tx, f.branch.ID, syncproto.EntityVisit, id, h)
		}
		return nil
	})
}

func (f *fixture) need(hh, officer, visitID string, amount int64) string {
	now := f.clock()
	n := store.FinancingNeed{ID: store.NewID(), BranchID: f.branch.ID, HouseholdID: hh, OfficerID: f.users[officer].ID,
		Purpose: "养殖", AmountFen: amount, Status: syncproto.NeedRecorded, FieldTimes: "{}", Version: 1, CreatedAt: now, UpdatedAt: now}
	if visitID != "" {
		n.VisitID = &visitID
	}
	f.write(func(tx *store.Tx) error {
		if err := tx.Create(&n).Error; err != nil {
			return err
		}
		f.change(tx, n.BranchID, syncproto.EntityNeed, n.ID, hh)
		return nil
	})
	return n.ID
}

func (f *fixture) updateNeed(id string, fields map[string]any) {
	fields["updated_at"] = f.clock()
	f.write(func(tx *store.Tx) error {
		var n store.FinancingNeed
		if err := tx.Where("branch_id = ? AND id = ?", f.branch.ID, id).Take(&n).Error; err != nil {
			return err
		}
		if err := tx.Model(&store.FinancingNeed{}).Where("branch_id = ? AND id = ?", f.branch.ID, id).Updates(fields).Error; err != nil {
			return err
		}
		f.change(tx, f.branch.ID, syncproto.EntityNeed, id, n.HouseholdID)
		return nil
	})
}

func (f *fixture) loan(hh, officer string, amount int64) string {
	now := f.clock()
	l := store.LoanApplication{ID: store.NewID(), BranchID: f.branch.ID, HouseholdID: hh, ProductID: f.product, OfficerID: f.users[officer].ID,
		AmountFen: amount, TermMonths: 24, Purpose: "养殖", Status: syncproto.LoanDraft, FieldTimes: "{}", Version: 1, CreatedAt: now, UpdatedAt: now}
	f.write(func(tx *store.Tx) error {
		if err := tx.Create(&l).Error; err != nil {
			return err
		}
		f.change(tx, l.BranchID, syncproto.EntityLoan, l.ID, hh)
		return nil
	})
	return l.ID
}

// loanTo moves a loan application to a state, stamping the time of the step.
func (f *fixture) loanTo(id, status string) {
	now := f.clock()
	fields := map[string]any{"status": status, "updated_at": now}
	switch status {
	case syncproto.LoanSubmitted:
		fields["submitted_at"] = now
	case syncproto.LoanApproved, syncproto.LoanRejected:
		fields["decided_at"] = now
	case syncproto.LoanDisbursed:
		fields["disbursed_at"] = now
	}
	f.write(func(tx *store.Tx) error {
		var l store.LoanApplication
		if err := tx.Where("branch_id = ? AND id = ?", f.branch.ID, id).Take(&l).Error; err != nil {
			return err
		}
		if err := tx.Model(&store.LoanApplication{}).Where("branch_id = ? AND id = ?", f.branch.ID, id).Updates(fields).Error; err != nil {
			return err
		}
		f.change(tx, f.branch.ID, syncproto.EntityLoan, id, l.HouseholdID)
		return nil
	})
}

// rows reads a month's current rows keyed by level/county/outlet/officer.
func (f *fixture) rows(month string) map[store.ReportKey]store.ReportFigures {
	rs, err := f.db.ReportRows(context.Background(), f.branch.ID, month)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[store.ReportKey]store.ReportFigures{}
	for _, r := range rs {
		out[r.ReportKey] = r.ReportFigures
	}
	return out
}

func (f *fixture) officerKey(countyCode, outletCode, officer string) store.ReportKey {
	k := store.ReportKey{Level: store.LevelOfficer, CountyID: f.units[countyCode].ID, OutletID: f.units[outletCode].ID}
	if officer != "" {
		k.OfficerID = f.users[officer].ID
	}
	return k
}

func (f *fixture) unitKey(level, code string) store.ReportKey {
	u := f.units[code]
	switch level {
	case store.LevelBranch:
		return store.ReportKey{Level: level}
	case store.LevelCounty:
		return store.ReportKey{Level: level, CountyID: u.ID}
	default:
		return store.ReportKey{Level: level, CountyID: *u.ParentID, OutletID: u.ID}
	}
}

// actor is how a seeded user acts.
func (f *fixture) actor(username string) store.Actor {
	u := f.users[username]
	unit, err := f.db.OrgUnit(context.Background(), u.OrgUnitID)
	if err != nil {
		f.t.Fatal(err)
	}
	return store.Actor{UserID: u.ID, Username: u.Username, Role: u.Role, BranchID: u.BranchID, OrgUnitID: u.OrgUnitID, OrgPath: unit.Path}
}
