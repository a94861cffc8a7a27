package syncsvc_test

import (
	"encoding/base64"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// replica is what a device holds, applied the way the reference client
// applies pulled pages.
type replica struct {
	recs       map[string]syncproto.Change // entity:id → last upsert
	rejections map[string]syncproto.RejectionRecord
	cursor     string
}

func newReplica() *replica {
	return &replica{recs: map[string]syncproto.Change{}, rejections: map[string]syncproto.RejectionRecord{}}
}

func (r *replica) apply(t *testing.T, cs []syncproto.Change) {
	t.Helper()
	for _, c := range cs {
		key := c.Entity + ":" + c.ID
		switch {
		case c.Entity == syncproto.EntityRejection:
			r.rejections[c.ID] = decode[syncproto.RejectionRecord](t, c.Data)
		case c.Op == syncproto.ChangeUpsert:
			r.recs[key] = c
		case c.Op == syncproto.ChangeDelete:
			delete(r.recs, key)
		case c.Op == syncproto.ChangeRemove:
			for k, x := range r.recs {
				if x.HouseholdID == c.ID {
					delete(r.recs, k)
				}
			}
		default:
			t.Fatalf("unknown change op %q", c.Op)
		}
	}
}

func (r *replica) digest() string {
	var items []syncproto.DigestItem
	for _, c := range r.recs {
		items = append(items, syncproto.DigestItem{Entity: c.Entity, ID: c.ID, Version: c.Version})
	}
	return syncproto.Digest(items)
}

func (r *replica) has(entity, id string) bool { _, ok := r.recs[entity+":"+id]; return ok }

// sync pulls the replica up to date.
func (d *device) sync(r *replica, limit int) {
	d.f.t.Helper()
	cs, cur := d.pullAll(r.cursor, limit)
	r.apply(d.f.t, cs)
	r.cursor = cur
}

// serverScope is what the officer's device should hold: the pull of a fresh
// device, applied.
func (d *device) serverScope() *replica {
	d.f.t.Helper()
	r := newReplica()
	d.sync(r, syncproto.MaxPullLimit)
	return r
}

func TestPullDeliversTheScopeAndOnlyTheScope(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d1, d2 := f.device(f.o1), f.device(f.o2)
		r1 := newReplica()
		d1.sync(r1, 3)
		for _, id := range f.hh1 {
			if !r1.has(syncproto.EntityHousehold, id) {
				t.Fatalf("household %s missing", id)
			}
		}
		if !r1.has(syncproto.EntityLoanProduct, f.fpxd) {
			t.Fatal("loan product missing")
		}
		if n := len(r1.recs); n != len(f.hh1)+1 {
			t.Fatalf("officer1 holds %d records, want %d", n, len(f.hh1)+1)
		}
		// Records officer1 makes reach officer1's other device through the
		// log, and never officer2's.
		vid, nid, pid, lid := newID(), newID(), newID(), newID()
		d1.push(
			d1.m(syncproto.EntityVisit, syncproto.OpCreate, vid, 0, visitFields(f.hh1[0])),
			d1.m(syncproto.EntityNeed, syncproto.OpCreate, nid, 0, map[string]any{"household_id": f.hh1[0], "visit_id": vid, "amount_fen": 5}),
			d1.m(syncproto.EntityVisitPlan, syncproto.OpCreate, pid, 0, map[string]any{"household_id": f.hh1[1], "planned_on": "2025-04-01"}),
			d1.m(syncproto.EntityLoan, syncproto.OpCreate, lid, 0, map[string]any{"household_id": f.hh1[0], "product_id": f.fpxd, "amount_fen": 100, "term_months": 1}),
		)
		d1.sync(r1, 2)
		for _, k := range [][2]string{{syncproto.EntityVisit, vid}, {syncproto.EntityNeed, nid}, {syncproto.EntityVisitPlan, pid}, {syncproto.EntityLoan, lid}} {
			if !r1.has(k[0], k[1]) {
				t.Fatalf("%s %s not delivered", k[0], k[1])
			}
		}
		v := decode[syncproto.Visit](t, r1.recs["visit:"+vid].Data)
		if v.HouseholdID != f.hh1[0] || v.OfficerID != f.o1.UserID || v.Status != syncproto.VisitRecorded || v.Version != 1 {
			t.Fatalf("pulled visit %+v", v)
		}
		r2 := newReplica()
		d2.sync(r2, 0)
		for k := range r2.recs {
			for _, id := range append(f.hh1, vid, nid, pid, lid) {
				if strings.HasSuffix(k, ":"+id) {
					t.Fatalf("officer2 received %s", k)
				}
			}
		}
		if r1.digest() != d1.serverScope().digest() {
			t.Fatal("incremental and full sync disagree")
		}
	})
}

func TestPullRedeliversRejectionsToEveryDeviceOfTheOfficer(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		phone, tablet := f.device(f.o1), f.device(f.o1b)
		rp, rt := newReplica(), newReplica()
		phone.sync(rp, 0)
		tablet.sync(rt, 0)
		m := phone.m(syncproto.EntityVisit, syncproto.OpCreate, newID(), 0, map[string]any{"household_id": f.hh1[0], "outcome": "lost"})
		phone.push(m) // the response is lost
		phone.sync(rp, 0)
		tablet.sync(rt, 0)
		for _, r := range []*replica{rp, rt} {
			if len(r.rejections) != 1 {
				t.Fatalf("%d rejections delivered", len(r.rejections))
			}
			for _, x := range r.rejections {
				if x.MutationID != m.MutationID || x.Rejection.Code != syncproto.RejectInvalidField || x.Rejection.Field != "outcome" || x.DeviceID != f.o1.DeviceID || x.EntityID != m.EntityID {
					t.Fatalf("rejection record %+v", x)
				}
			}
		}
		other := newReplica()
		f.device(f.o2).sync(other, 0)
		if len(other.rejections) != 0 {
			t.Fatal("another officer received the rejection")
		}
	})
}

func TestPullScopeChangeMovesTheWholeHousehold(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d1, d2 := f.device(f.o1), f.device(f.o2)
		r1, r2 := newReplica(), newReplica()
		hh := f.hh1[0]
		vid, nid, pid, lid := newID(), newID(), newID(), newID()
		d1.push(
			d1.m(syncproto.EntityVisit, syncproto.OpCreate, vid, 0, visitFields(hh)),
			d1.m(syncproto.EntityNeed, syncproto.OpCreate, nid, 0, map[string]any{"household_id": hh, "amount_fen": 5}),
			d1.m(syncproto.EntityVisitPlan, syncproto.OpCreate, pid, 0, map[string]any{"household_id": hh, "planned_on": "2025-04-01"}),
			d1.m(syncproto.EntityLoan, syncproto.OpCreate, lid, 0, map[string]any{"household_id": hh, "product_id": f.fpxd, "amount_fen": 100, "term_months": 1}),
		)
		d1.sync(r1, 0)
		d2.sync(r2, 0)
		if r2.has(syncproto.EntityHousehold, hh) || !r1.has(syncproto.EntityVisit, vid) {
			t.Fatal("bad starting point")
		}
		f.reassign(hh, f.o2)
		d1.sync(r1, 0)
		d2.sync(r2, 0)
		for _, k := range []string{"household:" + hh, "visit:" + vid, "financing_need:" + nid, "visit_plan:" + pid, "loan_application:" + lid} {
			if _, ok := r1.recs[k]; ok {
				t.Fatalf("officer1 still holds %s", k)
			}
			if _, ok := r2.recs[k]; !ok {
				t.Fatalf("officer2 did not receive %s", k)
			}
		}
		h := decode[syncproto.Household](t, r2.recs["household:"+hh].Data)
		if h.OfficerID != f.o2.UserID || h.DueOn != "2030-01-31" || h.AssignedAt == nil {
			t.Fatalf("household as officer2 sees it: %+v", h)
		}
		for _, d := range []*device{d1, d2} {
			r := map[*device]*replica{d1: r1, d2: r2}[d]
			if r.digest() != d.serverScope().digest() {
				t.Fatalf("%s's device diverged after the reassignment", d.a.Username)
			}
		}
		// Officer1's later edits to the household are refused, officer2's accepted.
		wantRejected(t, d1.pushOne(d1.m(syncproto.EntityHousehold, syncproto.OpUpdate, hh, 2, map[string]any{"has_labor": true})), syncproto.RejectOutOfScope, "entity_id")
		wantStatus(t, d2.pushOne(d2.m(syncproto.EntityHousehold, syncproto.OpUpdate, hh, 2, map[string]any{"has_labor": true})), syncproto.StatusAccepted)
	})
}

// A page never holds part of a server transaction: each push below is one
// transaction creating a known set of visits, and every page must hold
// whole sets. A transaction bigger than the page comes whole.
func TestPullPageNeverSplitsATransaction(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		r := newReplica()
		d.sync(r, 0)
		txOf := map[string]int{}
		sizes := []int{3, 1, 4, 12, 2, 5, 5, 1}
		for tx, n := range sizes {
			var ms []syncproto.Mutation
			for i := 0; i < n; i++ {
				id := newID()
				txOf[id] = tx
				ms = append(ms, d.m(syncproto.EntityVisit, syncproto.OpCreate, id, 0, visitFields(f.hh1[i%len(f.hh1)])))
			}
			d.push(ms...)
		}
		const limit = 5
		cursor := r.cursor
		seen := map[string]bool{}
		for pages := 0; ; pages++ {
			resp, err := f.svc.Pull(f.ctx, f.o1, syncproto.PullRequest{Cursor: cursor, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			inPage := map[int]int{}
			for _, c := range resp.Changes {
				if c.Entity == syncproto.EntityVisit {
					inPage[txOf[c.ID]]++
					seen[c.ID] = true
				}
			}
			for tx, n := range inPage {
				if n != sizes[tx] {
					t.Fatalf("page %d holds %d of the %d visits of transaction %d", pages, n, sizes[tx], tx)
				}
				if sizes[tx] <= limit && len(resp.Changes) > limit {
					t.Fatalf("page %d has %d changes with limit %d", pages, len(resp.Changes), limit)
				}
			}
			cursor = resp.Cursor
			if !resp.HasMore {
				break
			}
		}
		if len(seen) != len(txOf) {
			t.Fatalf("delivered %d of %d visits", len(seen), len(txOf))
		}
	})
}

func TestPullCursors(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		resp, err := f.svc.Pull(f.ctx, f.o1, syncproto.PullRequest{Limit: 2})
		if err != nil || !resp.HasMore || resp.Cursor == "" {
			t.Fatalf("first page: %+v %v", resp, err)
		}
		invalid := func(a store.Actor, cursor string) {
			t.Helper()
			_, err := f.svc.Pull(f.ctx, a, syncproto.PullRequest{Cursor: cursor})
			if e, ok := apperr.As(err); !ok || e.Code != syncproto.CodeInvalidCursor {
				t.Fatalf("cursor %q: %v, want invalid_cursor", cursor, err)
			}
		}
		payload, mac, _ := strings.Cut(resp.Cursor, ".")
		body, _ := base64.RawURLEncoding.DecodeString(payload)
		forged := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(body), `"s":`, `"s":9`, 1))) + "." + mac
		invalid(f.o1, forged)
		invalid(f.o1, payload+".00000000000000000000000000000000")
		invalid(f.o1, "garbage")
		invalid(f.o1, "a.b.c")
		invalid(f.o2, resp.Cursor)  // another officer's cursor
		invalid(f.hbo, resp.Cursor) // another branch
		// The cursor of another server (another key) is refused too.
		other := newFx(t, dbtest.NewSQLite(t))
		invalid(other.o1, resp.Cursor)

		// A cursor can be used again (a lost response) and gives the same page.
		again, err := f.svc.Pull(f.ctx, f.o1, syncproto.PullRequest{Limit: 2})
		if err != nil || again.Cursor != resp.Cursor || len(again.Changes) != len(resp.Changes) {
			t.Fatalf("repeated pull differs: %v", err)
		}
	})
}

// Cursors never go backwards: the log position a cursor names only grows,
// page after page, while writers keep committing.
func TestPullCursorNeverGoesBackwards(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		cursor := ""
		last := int64(-1)
		lastPhase := ""
		for i := 0; i < 30; i++ {
			if i%3 == 0 {
				d.push(d.m(syncproto.EntityVisit, syncproto.OpCreate, newID(), 0, visitFields(f.hh1[i%4])))
			}
			resp, err := f.svc.Pull(f.ctx, f.o1, syncproto.PullRequest{Cursor: cursor, Limit: 2})
			if err != nil {
				t.Fatal(err)
			}
			phase, pos := cursorPosition(t, resp.Cursor)
			if lastPhase == "l" && phase != "l" {
				t.Fatalf("cursor went from the log back to the snapshot")
			}
			if phase == lastPhase && pos < last {
				t.Fatalf("cursor went backwards: %d after %d", pos, last)
			}
			lastPhase, last, cursor = phase, pos, resp.Cursor
		}
	})
}

// cursorPosition reads the phase and log position of a cursor: the device
// treats it as opaque, the test may look inside.
func cursorPosition(t *testing.T, cursor string) (string, int64) {
	t.Helper()
	payload, _, _ := strings.Cut(cursor, ".")
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	c := decode[struct {
		P string `json:"p"`
		S int64  `json:"s"`
		E int    `json:"e"`
	}](t, body)
	if c.P == "s" {
		return c.P, int64(c.E)
	}
	return c.P, c.S
}

func TestPullDigestMismatchAsksForResync(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		r := newReplica()
		d.push(d.m(syncproto.EntityVisit, syncproto.OpCreate, newID(), 0, visitFields(f.hh1[0])))
		d.sync(r, 0)
		pull := func(digest string) syncproto.PullResponse {
			resp, err := f.svc.Pull(f.ctx, f.o1, syncproto.PullRequest{Cursor: r.cursor, Digest: digest})
			if err != nil {
				t.Fatal(err)
			}
			return resp
		}
		if resp := pull(r.digest()); resp.ResyncRequired {
			t.Fatal("a matching digest asked for a resync")
		}
		// The device lost a record it should hold.
		for k := range r.recs {
			delete(r.recs, k)
			break
		}
		resp := pull(r.digest())
		if !resp.ResyncRequired || resp.Cursor != "" || len(resp.Changes) != 0 {
			t.Fatalf("divergent digest: %+v", resp)
		}
		// After the resync the digests agree again.
		fresh := newReplica()
		d.sync(fresh, 1)
		r = fresh
		if resp := pull(r.digest()); resp.ResyncRequired {
			t.Fatal("still divergent after a full resync")
		}
		// A device that is behind is not judged on its digest: it first
		// receives what it misses.
		d.push(d.m(syncproto.EntityVisit, syncproto.OpCreate, newID(), 0, visitFields(f.hh1[1])))
		if resp := pull("deadbeef"); resp.ResyncRequired || len(resp.Changes) == 0 {
			t.Fatalf("behind device: %+v", resp)
		}
	})
}

// Tasks addressed to the officer travel down while open and are withdrawn
// once closed; another officer never sees them.
func TestPullTasks(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		r := newReplica()
		d.sync(r, 0)
		hh := f.hh1[0]
		task := store.Task{ID: newID(), BranchID: f.o1.BranchID, OfficerID: f.o1.UserID, HouseholdID: &hh, Kind: syncproto.TaskRevisit,
			Reason: "请补充家庭收入情况", Status: store.TaskOpen, CreatedBy: f.sup.UserID, Version: 1, CreatedAt: store.Now(), UpdatedAt: store.Now()}
		err := db.Transact(f.ctx, func(tx *store.Tx) error {
			if err := tx.Create(&task).Error; err != nil {
				return err
			}
			tx.RecordChange(store.Change{BranchID: task.BranchID, Entity: syncproto.EntityTask, EntityID: task.ID, Op: store.OpUpsert, HouseholdID: hh, AudienceUserID: f.o1.UserID})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		d.sync(r, 0)
		if !r.has(syncproto.EntityTask, task.ID) {
			t.Fatal("task not delivered")
		}
		if got := decode[syncproto.Task](t, r.recs["task:"+task.ID].Data); got.Reason != task.Reason || got.HouseholdID != hh {
			t.Fatalf("task %+v", got)
		}
		if fresh := d.serverScope(); !fresh.has(syncproto.EntityTask, task.ID) || fresh.digest() != r.digest() {
			t.Fatal("open task missing from the full sync")
		}
		other := newReplica()
		f.device(f.o2).sync(other, 0)
		if other.has(syncproto.EntityTask, task.ID) {
			t.Fatal("another officer received the task")
		}
		f.staffEdit("tasks", syncproto.EntityTask, task.ID, "", map[string]any{"status": store.TaskDone})
		d.sync(r, 0)
		if r.has(syncproto.EntityTask, task.ID) {
			t.Fatal("closed task still on the device")
		}
		if r.digest() != d.serverScope().digest() {
			t.Fatal("diverged after the task closed")
		}
	})
}

// Divergence can be checked at any time by comparing a replica with a fresh
// full sync; this is what a device's digest check relies on, after any mix
// of edits, deletions, rejections and bank decisions.
func TestIncrementalAndFullSyncAgree(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		r := newReplica()
		for round := 0; round < 4; round++ {
			var ms []syncproto.Mutation
			for i := 0; i < 6; i++ {
				hh := f.hh1[(round+i)%len(f.hh1)]
				ms = append(ms, d.m(syncproto.EntityVisitPlan, syncproto.OpCreate, newID(), 0, map[string]any{"household_id": hh, "planned_on": fmt.Sprintf("2025-05-%02d", i+1)}))
			}
			resp := d.push(ms...)
			// delete one of them, edit another
			del := ms[0].EntityID
			d.push(d.m(syncproto.EntityVisitPlan, syncproto.OpDelete, del, resp.Results[0].Version, nil),
				d.m(syncproto.EntityVisitPlan, syncproto.OpUpdate, ms[1].EntityID, 1, map[string]any{"notes": "改期"}))
			d.sync(r, 4)
			if r.has(syncproto.EntityVisitPlan, del) {
				t.Fatal("deleted plan still held")
			}
		}
		want := d.serverScope()
		if r.digest() != want.digest() {
			var a, b []string
			for k := range r.recs {
				a = append(a, k)
			}
			for k := range want.recs {
				b = append(b, k)
			}
			sort.Strings(a)
			sort.Strings(b)
			t.Fatalf("incremental %v\nfull %v", a, b)
		}
	})
}

// The full sync walks the scope household by household: pages keep to the
// limit, except that one household's records are never split (a household
// with more records than the limit comes alone, whole).
func TestPullSnapshotPagesKeepHouseholdsWhole(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := newFx(t, db)
		d := f.device(f.o1)
		want := map[string]int{}
		for i, n := range []int{1, 6, 2, 0} {
			for k := 0; k < n; k++ {
				d.push(d.m(syncproto.EntityVisit, syncproto.OpCreate, newID(), 0, visitFields(f.hh1[i])))
			}
			want[f.hh1[i]] = n
		}
		const limit = 4
		cursor, got := "", map[string]int{}
		for {
			resp, err := f.svc.Pull(f.ctx, f.o1, syncproto.PullRequest{Cursor: cursor, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			perHousehold := map[string]int{}
			for _, c := range resp.Changes {
				if c.Entity == syncproto.EntityVisit {
					perHousehold[c.HouseholdID]++
					got[c.HouseholdID]++
				}
			}
			for hh, n := range perHousehold {
				if n != want[hh] {
					t.Fatalf("a page holds %d of household %s's %d visits", n, hh, want[hh])
				}
			}
			if len(resp.Changes) > limit && len(perHousehold) != 1 {
				t.Fatalf("page of %d changes over the limit %d", len(resp.Changes), limit)
			}
			cursor = resp.Cursor
			if !resp.HasMore {
				break
			}
		}
		for hh, n := range want {
			if got[hh] != n {
				t.Fatalf("household %s: %d visits delivered, want %d", hh, got[hh], n)
			}
		}
	})
}
