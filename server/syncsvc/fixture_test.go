package syncsvc_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/doorstep-dev/doorstep/server/auth"
	"github.com/doorstep-dev/doorstep/server/demo"
	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
	"github.com/doorstep-dev/doorstep/syncproto"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// fx is a seeded database (the demo bank and a second branch, see testenv)
// with households for three officers and a sync service over it.
type fx struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	codec *pii.Codec
	svc   *syncsvc.Service

	o1, o1b, o2, o3, hbo store.Actor // o1b is officer1's second device
	sup, mgr, hbMgr      store.Actor

	hh1, hh2, hh3 []string // households of officer1, officer2, officer3
	fpxd          string   // the 扶贫小额信贷 product
}

func newFx(t *testing.T, db *store.DB) *fx {
	t.Helper()
	ctx := context.Background()
	seed(t, db)
	sec, err := secrets.Generate()
	if err != nil {
		t.Fatal(err)
	}
	codec, err := pii.New(sec)
	if err != nil {
		t.Fatal(err)
	}
	f := &fx{t: t, ctx: ctx, db: db, codec: codec, svc: syncsvc.New(db, syncsvc.Options{PII: codec})}
	f.o1 = f.actor("officer1", "phone-1")
	f.o1b = f.actor("officer1", "tablet-1")
	f.o2 = f.actor("officer2", "phone-2")
	f.o3 = f.actor("officer3", "phone-3")
	f.hbo = f.actor("hb_officer", "phone-hb")
	f.sup = f.actor("supervisor1", "")
	f.mgr = f.actor("manager1", "")
	f.hbMgr = f.actor("hb_manager", "")
	f.hh1 = f.households("officer1", "T1", 4)
	f.hh2 = f.households("officer2", "T2", 2)
	f.hh3 = f.households("officer3", "T3", 1)
	// The households were assigned a month ago, so recent visits are not
	// "before the assignment".
	if err := db.Gorm(ctx).Table("assignments").Where("ended_at IS NULL").Update("assigned_at", store.Now().Add(-30*24*time.Hour)).Error; err != nil {
		t.Fatal(err)
	}
	var p store.LoanProduct
	if err := db.Gorm(ctx).Where("code = ? AND branch_id = ?", "FPXD", f.o1.BranchID).Take(&p).Error; err != nil {
		t.Fatal(err)
	}
	f.fpxd = p.ID
	return f
}

// seed creates the demo bank (officer1 and officer2 at outlet XS-01 under
// supervisor1, officer3 at WX-01, manager1) and a second branch HB with
// hb_manager and hb_officer.
func seed(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	if _, err := demo.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	hash, err := auth.HashPassword("doorstep-test")
	if err != nil {
		t.Fatal(err)
	}
	err = db.Transact(ctx, func(tx *store.Tx) error {
		for _, n := range []store.NewOrgUnit{
			{Kind: store.KindBranch, Code: "HB", Name: "湖北分行"},
			{Kind: store.KindCounty, Code: "HB-ES", Name: "恩施支行", ParentCode: "HB"},
			{Kind: store.KindOutlet, Code: "HB-ES-01", Name: "恩施龙凤网点", ParentCode: "HB-ES"},
		} {
			if _, err := tx.CreateOrgUnit(n); err != nil {
				return err
			}
		}
		for _, u := range []store.NewUser{
			{Username: "hb_manager", Role: store.RoleBranchManager, OrgUnitCode: "HB", PasswordHash: hash},
			{Username: "hb_officer", Role: store.RoleOfficer, OrgUnitCode: "HB-ES-01", PasswordHash: hash},
		} {
			if _, err := tx.CreateUser(u); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// actor builds the actor a token of the user would carry; a non-empty
// client device id registers a device.
func (f *fx) actor(username, clientDevice string) store.Actor {
	f.t.Helper()
	var u store.User
	if err := f.db.Gorm(f.ctx).Where("username = ?", username).Take(&u).Error; err != nil {
		f.t.Fatalf("user %s: %v", username, err)
	}
	unit, err := f.db.OrgUnit(f.ctx, u.OrgUnitID)
	if err != nil {
		f.t.Fatal(err)
	}
	a := store.Actor{UserID: u.ID, Username: u.Username, Role: u.Role, BranchID: u.BranchID, OrgUnitID: u.OrgUnitID, OrgPath: unit.Path}
	if clientDevice != "" {
		d := store.Device{ID: store.NewID(), BranchID: u.BranchID, UserID: u.ID, ClientDeviceID: clientDevice, Name: clientDevice,
			Status: store.DeviceActive, CreatedAt: store.Now()}
		if err := f.db.Gorm(f.ctx).Create(&d).Error; err != nil {
			f.t.Fatal(err)
		}
		a.DeviceID = d.ID
	}
	return a
}

func (f *fx) households(officer, prefix string, n int) []string {
	f.t.Helper()
	ids, err := f.db.CreateSimHouseholds(f.ctx, officer, prefix, n)
	if err != nil {
		f.t.Fatal(err)
	}
	return ids
}

// mut builds a mutation; fields are given as Go values and marshalled.
type mut struct {
	entity, op, id string
	base           int64
	at             time.Time // device time of the edit; zero means now
	fields         map[string]any
	mid            string
	seq            int64
}

// device is one officer device: it numbers its mutations like the client.
type device struct {
	f   *fx
	a   store.Actor
	seq int64
	// clock is added to every device time (a wrong device clock).
	clock time.Duration
}

func (f *fx) device(a store.Actor) *device { return &device{f: f, a: a} }

func (d *device) m(entity, op, id string, base int64, fields map[string]any) syncproto.Mutation {
	d.seq++
	return d.mm(mut{entity: entity, op: op, id: id, base: base, fields: fields, seq: d.seq})
}

func (d *device) mm(x mut) syncproto.Mutation {
	if x.mid == "" {
		x.mid = uuid.NewString()
	}
	if x.at.IsZero() {
		x.at = time.Now()
	}
	m := syncproto.Mutation{MutationID: x.mid, Seq: x.seq, Entity: x.entity, Op: x.op, EntityID: x.id,
		BaseVersion: x.base, DeviceTime: x.at.Add(d.clock).UTC()}
	if x.fields != nil {
		m.Fields = map[string]json.RawMessage{}
		for k, v := range x.fields {
			if raw, ok := v.(json.RawMessage); ok {
				m.Fields[k] = raw
				continue
			}
			b, err := json.Marshal(v)
			if err != nil {
				d.f.t.Fatal(err)
			}
			m.Fields[k] = b
		}
	}
	return m
}

func (d *device) push(ms ...syncproto.Mutation) syncproto.PushResponse {
	d.f.t.Helper()
	resp, err := d.f.svc.Push(d.f.ctx, d.a, syncproto.PushRequest{DeviceTime: time.Now().Add(d.clock).UTC(), Mutations: ms})
	if err != nil {
		d.f.t.Fatalf("push: %v", err)
	}
	if len(resp.Results) != len(ms) {
		d.f.t.Fatalf("push: %d results for %d mutations", len(resp.Results), len(ms))
	}
	return resp
}

// pushOne pushes one mutation and returns its result.
func (d *device) pushOne(m syncproto.Mutation) syncproto.MutationResult {
	d.f.t.Helper()
	return d.push(m).Results[0]
}

// pullAll pulls from cursor until caught up and returns every change and
// the last cursor.
func (d *device) pullAll(cursor string, limit int) ([]syncproto.Change, string) {
	d.f.t.Helper()
	var all []syncproto.Change
	for i := 0; i < 10000; i++ {
		resp, err := d.f.svc.Pull(d.f.ctx, d.a, syncproto.PullRequest{Cursor: cursor, Limit: limit, DeviceTime: time.Now().UTC()})
		if err != nil {
			d.f.t.Fatalf("pull: %v", err)
		}
		all = append(all, resp.Changes...)
		cursor = resp.Cursor
		if !resp.HasMore {
			return all, cursor
		}
	}
	d.f.t.Fatal("pull never caught up")
	return nil, ""
}

func newID() string { return uuid.NewString() }

func visitFields(household string) map[string]any {
	return map[string]any{"household_id": household, "outcome": syncproto.OutcomeVisited,
		"started_at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano), "notes": "走访正常"}
}

func wantStatus(t *testing.T, r syncproto.MutationResult, status string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %s, want %s (rejection %+v)", r.Status, status, r.Rejection)
	}
}

func wantRejected(t *testing.T, r syncproto.MutationResult, code, field string) {
	t.Helper()
	if r.Status != syncproto.StatusRejected || r.Rejection == nil || r.Rejection.Code != code {
		t.Fatalf("result %s %+v, want rejected %s", r.Status, r.Rejection, code)
	}
	if field != "" && r.Rejection.Field != field {
		t.Fatalf("rejection field %q, want %q (%s)", r.Rejection.Field, field, r.Rejection.Message)
	}
	if r.Rejection.Message == "" {
		t.Fatal("rejection without a message")
	}
}

// count counts rows of a table.
func (f *fx) count(table string) int64 {
	f.t.Helper()
	var n int64
	if err := f.db.Gorm(f.ctx).Table(table).Count(&n).Error; err != nil {
		f.t.Fatal(err)
	}
	return n
}

func (f *fx) counts() map[string]int64 {
	out := map[string]int64{}
	for _, t := range []string{"visits", "visit_plans", "financing_needs", "loan_applications", "changes", "device_mutations", "conflicts", "audit_log"} {
		out[t] = f.count(t)
	}
	var head int64
	f.db.Gorm(f.ctx).Raw(`SELECT COALESCE(MAX(last_seq), 0) FROM change_counters`).Scan(&head)
	out["head"] = head
	return out
}

func (f *fx) visit(id string) store.Visit {
	f.t.Helper()
	var v store.Visit
	if err := f.db.Gorm(f.ctx).Where("id = ?", id).Take(&v).Error; err != nil {
		f.t.Fatalf("visit %s: %v", id, err)
	}
	return v
}

func (f *fx) household(id string) store.Household {
	f.t.Helper()
	var h store.Household
	if err := f.db.Gorm(f.ctx).Where("id = ?", id).Take(&h).Error; err != nil {
		f.t.Fatalf("household %s: %v", id, err)
	}
	return h
}

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

func find(cs []syncproto.Change, entity, id string) (syncproto.Change, bool) {
	var out syncproto.Change
	found := false
	for _, c := range cs {
		if c.Entity == entity && c.ID == id {
			out, found = c, true
		}
	}
	return out, found
}
