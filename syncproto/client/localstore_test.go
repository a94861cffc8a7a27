package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// These tests exercise the local store and the outbox with no server: pages
// and push results are fed to the same code a sync runs.

const testUser = "user-1"

func openTest(t *testing.T, dir string) *Client {
	t.Helper()
	c, err := Open(context.Background(), dir, Options{BaseURL: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	err = c.tx(context.Background(), func(tx *sql.Tx) error {
		if err := setMeta(tx, metaUserID, testUser); err != nil {
			return err
		}
		return setMeta(tx, metaUsername, "officer1")
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustJSON(t *testing.T, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	hh1 = "0193a000-0000-7000-8000-000000000001"
	hh2 = "0193a000-0000-7000-8000-000000000002"
)

func household(id, no string, version int64) syncproto.Household {
	return syncproto.Household{ID: id, HouseholdNo: no, HeadName: "张三", Phone: "138****0000", SituationNotes: "old", Version: version}
}

func upsert(t *testing.T, entity, id, hh string, version int64, v any) syncproto.Change {
	return syncproto.Change{Entity: entity, ID: id, Op: syncproto.ChangeUpsert, HouseholdID: hh, Version: version, Data: mustJSON(t, v)}
}

func page(t *testing.T, c *Client, cursor string, changes ...syncproto.Change) {
	t.Helper()
	var rep SyncReport
	if err := c.applyPage(context.Background(), syncproto.PullResponse{Cursor: cursor, Changes: changes}, &rep); err != nil {
		t.Fatalf("apply page: %v", err)
	}
}

func seedHouseholds(t *testing.T, c *Client) {
	page(t, c, "c1",
		upsert(t, syncproto.EntityHousehold, hh1, hh1, 3, household(hh1, "H001", 3)),
		upsert(t, syncproto.EntityHousehold, hh2, hh2, 1, household(hh2, "H002", 1)),
		upsert(t, syncproto.EntityLoanProduct, "p1", "", 1, syncproto.LoanProduct{ID: "p1", Code: "FPXD", Name: "扶贫小额信贷", MaxAmountFen: 5_000_000, MaxTermMonths: 36, Active: true, Version: 1}),
	)
}

func pending(t *testing.T, c *Client) []PendingMutation {
	t.Helper()
	p, err := c.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenKeepsDeviceID(t *testing.T) {
	dir := t.TempDir()
	c1, err := Open(context.Background(), dir, Options{BaseURL: "http://example.test/"})
	if err != nil {
		t.Fatal(err)
	}
	id := c1.DeviceID()
	c1.Close()
	c2, err := Open(context.Background(), dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.DeviceID() != id || id == "" {
		t.Fatalf("device id changed across reopen: %q then %q", id, c2.DeviceID())
	}
	s, err := c2.Session(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.ServerURL != "http://example.test" {
		t.Fatalf("server URL = %q, want the stored one without trailing slash", s.ServerURL)
	}
	if s.SignedIn {
		t.Fatal("a fresh device must not be signed in")
	}
	if _, err := Open(context.Background(), t.TempDir(), Options{BaseURL: "ftp://x"}); err == nil {
		t.Fatal("a non-http server URL must be refused")
	}
}

func TestOddDirectoryNames(t *testing.T) {
	root := t.TempDir()
	var ids []string
	for _, name := range []string{"a#b", "a?b", "a%20b", "a b"} {
		c := openTest(t, filepath.Join(root, name))
		ids = append(ids, c.DeviceID())
		c.Close()
		if _, err := os.Stat(filepath.Join(root, name, "device.db")); err != nil {
			t.Fatalf("%q: the store is not inside the directory: %v", name, err)
		}
	}
	for i := range ids {
		for j := i + 1; j < len(ids); j++ {
			if ids[i] == ids[j] {
				t.Fatal("two directories share one store")
			}
		}
	}
}

func TestLocalEditIsVisibleAndQueued(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, t.TempDir())
	seedHouseholds(t, c)

	lat, lng := 28.45, 108.99
	id, err := c.CreateVisit(ctx, VisitInput{HouseholdID: hh1, Outcome: syncproto.OutcomeVisited, Notes: "养猪 20 头", Lat: &lat, Lng: &lng})
	if err != nil {
		t.Fatal(err)
	}
	v, ok, err := c.Visit(ctx, id)
	if err != nil || !ok {
		t.Fatalf("visit not visible locally: %v %v", ok, err)
	}
	if v.Notes != "养猪 20 头" || v.Status != syncproto.VisitRecorded || v.OfficerID != testUser || v.Version != 0 {
		t.Fatalf("local view = %+v", v)
	}
	if err := c.UpdateHousehold(ctx, hh1, HouseholdPatch{SituationNotes: ptr("new roof")}); err != nil {
		t.Fatal(err)
	}
	p := pending(t, c)
	if len(p) != 2 {
		t.Fatalf("outbox has %d rows, want 2", len(p))
	}
	if p[0].Entity != syncproto.EntityVisit || p[0].Op != syncproto.OpCreate || p[0].BaseVersion != 0 || p[0].EntityID != id {
		t.Fatalf("first mutation = %+v", p[0])
	}
	if p[1].Entity != syncproto.EntityHousehold || p[1].BaseVersion != 3 || p[1].Seq <= p[0].Seq {
		t.Fatalf("second mutation = %+v", p[1])
	}
	if _, has := p[0].Fields["status"]; has {
		t.Fatal("server-owned status must not travel in the mutation")
	}
	if string(p[1].Fields["situation_notes"]) != `"new roof"` || len(p[1].Fields) != 1 {
		t.Fatalf("household mutation fields = %s", p[1].Fields)
	}
	h, _, _ := c.Household(ctx, hh1)
	if h.SituationNotes != "new roof" || h.Version != 3 {
		t.Fatalf("household view = %+v", h)
	}
	// The digest covers only what the server confirmed.
	d, err := c.Digest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := syncproto.Digest([]syncproto.DigestItem{
		{Entity: syncproto.EntityHousehold, ID: hh1, Version: 3},
		{Entity: syncproto.EntityHousehold, ID: hh2, Version: 1},
		{Entity: syncproto.EntityLoanProduct, ID: "p1", Version: 1},
	})
	if d != want {
		t.Fatal("digest must cover server-confirmed records at their server versions only")
	}
}

func ptr[T any](v T) *T { return &v }

func TestEditsRefusedLocally(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, t.TempDir())
	seedHouseholds(t, c)
	cases := []struct {
		name string
		do   func() error
		code string
	}{
		{"unknown household", func() error {
			_, err := c.CreateVisit(ctx, VisitInput{HouseholdID: "nope", Outcome: syncproto.OutcomeVisited})
			return err
		}, syncproto.RejectNotFound},
		{"bad outcome", func() error {
			_, err := c.CreateVisit(ctx, VisitInput{HouseholdID: hh1, Outcome: "partied"})
			return err
		}, syncproto.RejectInvalidField},
		{"server-owned household field", func() error {
			_, err := c.Mutate(ctx, syncproto.EntityHousehold, syncproto.OpUpdate, hh1, map[string]any{"head_name": "李四"})
			return err
		}, syncproto.RejectUnknownField},
		{"household create", func() error {
			_, err := c.Mutate(ctx, syncproto.EntityHousehold, syncproto.OpCreate, "", map[string]any{"phone": "1"})
			return err
		}, syncproto.RejectUnsupported},
		{"visit status", func() error {
			_, err := c.Mutate(ctx, syncproto.EntityVisit, syncproto.OpCreate, "", map[string]any{"household_id": hh1, "status": "confirmed"})
			return err
		}, syncproto.RejectUnknownField},
		{"loan above product limit", func() error {
			_, err := c.CreateLoan(ctx, LoanInput{HouseholdID: hh1, ProductID: "p1", AmountFen: 5_000_001, TermMonths: 12})
			return err
		}, syncproto.RejectProductLimit},
		{"loan term above product limit", func() error {
			_, err := c.CreateLoan(ctx, LoanInput{HouseholdID: hh1, ProductID: "p1", AmountFen: 100, TermMonths: 37})
			return err
		}, syncproto.RejectProductLimit},
		{"update of a missing record", func() error {
			return c.UpdateVisit(ctx, "0193a000-0000-7000-8000-0000000000ff", VisitPatch{Notes: ptr("x")})
		}, syncproto.RejectNotFound},
		{"half a location", func() error {
			lat := 1.0
			return c.UpdateHousehold(ctx, hh1, HouseholdPatch{Lat: &lat})
		}, syncproto.RejectInvalidField},
		{"text too long", func() error {
			_, err := c.CreateVisit(ctx, VisitInput{HouseholdID: hh1, Outcome: syncproto.OutcomeVisited, Notes: string(make([]byte, syncproto.MaxFieldBytes+1))})
			return err
		}, syncproto.RejectInvalidField},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			var ee *EditError
			if !errors.As(err, &ee) || ee.Code != tc.code {
				t.Fatalf("err = %v, want EditError %s", err, tc.code)
			}
		})
	}
	if n := len(pending(t, c)); n != 0 {
		t.Fatalf("refused edits left %d rows in the outbox", n)
	}
}

func TestLoanStates(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, t.TempDir())
	seedHouseholds(t, c)
	id, err := c.CreateLoan(ctx, LoanInput{HouseholdID: hh1, ProductID: "p1", AmountFen: 3_000_000, TermMonths: 36, Purpose: "养牛"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SubmitLoan(ctx, id); err != nil {
		t.Fatal(err)
	}
	l, _, _ := c.Loan(ctx, id)
	if l.Status != syncproto.LoanSubmitted {
		t.Fatalf("status = %s", l.Status)
	}
	var ee *EditError
	if err := c.UpdateLoan(ctx, id, LoanPatch{AmountFen: ptr[int64](100)}); !errors.As(err, &ee) || ee.Code != syncproto.RejectIllegalState {
		t.Fatalf("editing a submitted loan: %v", err)
	}
	if err := c.SubmitLoan(ctx, id); !errors.As(err, &ee) {
		t.Fatalf("submitting twice: %v", err)
	}
	if err := c.WithdrawLoan(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := c.WithdrawLoan(ctx, id); !errors.As(err, &ee) {
		t.Fatalf("withdrawing a withdrawn loan: %v", err)
	}
	if n := len(pending(t, c)); n != 3 {
		t.Fatalf("outbox = %d, want create, submit, withdraw", n)
	}
}

func TestPullRebasesPendingEdits(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, t.TempDir())
	seedHouseholds(t, c)
	if err := c.UpdateHousehold(ctx, hh1, HouseholdPatch{SituationNotes: ptr("mine")}); err != nil {
		t.Fatal(err)
	}
	// The bank changes the household meanwhile.
	h := household(hh1, "H001", 4)
	h.HeadName = "张三丰"
	h.SituationNotes = "bank"
	page(t, c, "c2", upsert(t, syncproto.EntityHousehold, hh1, hh1, 4, h))
	got, _, _ := c.Household(ctx, hh1)
	if got.HeadName != "张三丰" || got.SituationNotes != "mine" || got.Version != 4 {
		t.Fatalf("after pull the view must be the new server state with the pending edit on top: %+v", got)
	}
	// An older state arriving later does not win over a newer one.
	page(t, c, "c3", upsert(t, syncproto.EntityHousehold, hh1, hh1, 2, household(hh1, "H001", 2)))
	got, _, _ = c.Household(ctx, hh1)
	if got.HeadName != "张三丰" {
		t.Fatal("a stale upsert replaced a newer record")
	}
	s, _ := c.Session(ctx)
	if s.Cursor != "c3" {
		t.Fatalf("cursor = %q", s.Cursor)
	}
}

func TestRemoveDropsHouseholdAndEverythingUnderIt(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, t.TempDir())
	seedHouseholds(t, c)
	page(t, c, "c2",
		upsert(t, syncproto.EntityVisit, "v-server", hh1, 1, syncproto.Visit{ID: "v-server", HouseholdID: hh1, Outcome: "visited", Version: 1}),
		upsert(t, syncproto.EntityVisit, "v-other", hh2, 1, syncproto.Visit{ID: "v-other", HouseholdID: hh2, Outcome: "visited", Version: 1}),
	)
	if _, err := c.CreateNeed(ctx, NeedInput{HouseholdID: hh1, Purpose: "piglets", AmountFen: 1_000_000}); err != nil {
		t.Fatal(err)
	}
	page(t, c, "c3", syncproto.Change{Entity: syncproto.EntityHousehold, ID: hh1, Op: syncproto.ChangeRemove, HouseholdID: hh1})
	hs, _ := c.Households(ctx)
	if len(hs) != 1 || hs[0].ID != hh2 {
		t.Fatalf("households after remove = %+v", hs)
	}
	if vs, _ := c.Visits(ctx, hh1); len(vs) != 0 {
		t.Fatalf("visits of the removed household remain: %+v", vs)
	}
	if ns, _ := c.Needs(ctx, ""); len(ns) != 0 {
		t.Fatal("the pending need of the removed household is still shown")
	}
	if vs, _ := c.Visits(ctx, hh2); len(vs) != 1 {
		t.Fatal("a visit of another household was dropped")
	}
	if n := len(pending(t, c)); n != 1 {
		t.Fatalf("the outbox must keep the officer's work: %d rows", n)
	}
	// A tombstone deletes one record.
	page(t, c, "c4", syncproto.Change{Entity: syncproto.EntityVisit, ID: "v-other", Op: syncproto.ChangeDelete, HouseholdID: hh2})
	if vs, _ := c.Visits(ctx, hh2); len(vs) != 0 {
		t.Fatal("tombstone did not delete the visit")
	}
}

func TestResyncWipeKeepsOutbox(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, t.TempDir())
	seedHouseholds(t, c)
	vid, err := c.CreateVisit(ctx, VisitInput{HouseholdID: hh1, Outcome: syncproto.OutcomeAbsent})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.tx(ctx, func(tx *sql.Tx) error { return c.wipeRecords(tx, testUser) }); err != nil {
		t.Fatal(err)
	}
	if hs, _ := c.Households(ctx); len(hs) != 0 {
		t.Fatal("downloaded records survived the wipe")
	}
	if _, ok, _ := c.Visit(ctx, vid); !ok {
		t.Fatal("the pending visit must stay visible through a resync")
	}
	if n := len(pending(t, c)); n != 1 {
		t.Fatalf("outbox = %d", n)
	}
	s, _ := c.Session(ctx)
	if s.Cursor != "" {
		t.Fatal("cursor survived the wipe")
	}
}

func TestStoreResults(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, t.TempDir())
	seedHouseholds(t, c)
	okID, _ := c.CreateVisit(ctx, VisitInput{HouseholdID: hh1, Outcome: syncproto.OutcomeVisited, Notes: "fine"})
	badID, _ := c.CreateVisit(ctx, VisitInput{HouseholdID: hh1, Outcome: syncproto.OutcomeRefused, Notes: "lost?"})
	if err := c.UpdateHousehold(ctx, hh1, HouseholdPatch{Phone: ptr("13800001111")}); err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateHousehold(ctx, hh2, HouseholdPatch{SituationNotes: ptr("device")}); err != nil {
		t.Fatal(err)
	}
	batch, err := c.loadBatch(ctx, 100)
	if err != nil || len(batch) != 4 {
		t.Fatalf("batch = %d %v", len(batch), err)
	}
	serverVisit := syncproto.Visit{ID: okID, HouseholdID: hh1, OfficerID: testUser, Outcome: "visited", Notes: "fine", Status: "recorded", Version: 1}
	serverHH1 := household(hh1, "H001", 3) // phone rejected: the server's state
	serverHH2 := household(hh2, "H002", 2)
	serverHH2.SituationNotes = "bank, later"
	results := []syncproto.MutationResult{
		{MutationID: batch[0].MutationID, Seq: batch[0].Seq, Status: syncproto.StatusAccepted, Version: 1, Current: mustJSON(t, serverVisit)},
		{MutationID: batch[1].MutationID, Seq: batch[1].Seq, Status: syncproto.StatusRejected,
			Rejection: &syncproto.Rejection{Code: syncproto.RejectOutOfScope, Message: "该户不在您的名下"}},
		{MutationID: batch[2].MutationID, Seq: batch[2].Seq, Status: syncproto.StatusRejected, Version: 3,
			Rejection: &syncproto.Rejection{Code: syncproto.RejectInvalidField, Field: "phone", Message: "手机号格式不正确"}, Current: mustJSON(t, serverHH1)},
		{MutationID: batch[3].MutationID, Seq: batch[3].Seq, Status: syncproto.StatusMerged, Version: 2, Current: mustJSON(t, serverHH2),
			Conflicts: []syncproto.FieldConflict{{Field: "situation_notes", Rule: "later_event_wins", DeviceValue: mustJSON(t, "device"), ServerValue: mustJSON(t, "bank, later"), Winner: "server"}}},
	}
	var rep SyncReport
	n, err := c.storeResults(ctx, batch, results, &rep)
	if err != nil || n != 4 {
		t.Fatalf("store results: %d %v", n, err)
	}
	if rep.Accepted != 1 || rep.Rejected != 2 || rep.Merged != 1 || rep.Conflicts != 1 || len(rep.Rejections) != 2 {
		t.Fatalf("report = %+v", rep)
	}
	if p := pending(t, c); len(p) != 0 {
		t.Fatalf("answered mutations stayed in the outbox: %+v", p)
	}
	v, ok, _ := c.Visit(ctx, okID)
	if !ok || v.Version != 1 {
		t.Fatalf("accepted visit = %+v", v)
	}
	if _, ok, _ := c.Visit(ctx, badID); ok {
		t.Fatal("a rejected create must not stay on the device as if it existed")
	}
	h1, _, _ := c.Household(ctx, hh1)
	if h1.Phone != "138****0000" {
		t.Fatalf("rejected phone edit was not reverted: %q", h1.Phone)
	}
	h2, _, _ := c.Household(ctx, hh2)
	if h2.SituationNotes != "bank, later" || h2.Version != 2 {
		t.Fatalf("merged household = %+v", h2)
	}
	rj, err := c.Rejections(ctx)
	if err != nil || len(rj) != 2 {
		t.Fatalf("rejections = %d %v", len(rj), err)
	}
	var lost *RejectionInfo
	for i := range rj {
		if rj[i].EntityID == badID {
			lost = &rj[i]
		}
	}
	if lost == nil || lost.Code != syncproto.RejectOutOfScope || string(lost.Fields["notes"]) != `"lost?"` {
		t.Fatalf("the rejected visit's fields must be kept for the officer: %+v", lost)
	}
	cf, _ := c.Conflicts(ctx)
	if len(cf) != 1 || cf[0].Field != "situation_notes" || cf[0].Winner != "server" || string(cf[0].DeviceValue) != `"device"` {
		t.Fatalf("conflicts = %+v", cf)
	}
	// The same results again (a retried push answered twice) change nothing.
	n, err = c.storeResults(ctx, batch, results, &rep)
	if err != nil || n != 0 {
		t.Fatalf("replayed results: %d %v", n, err)
	}
}

func TestPulledRejectionLeavesOutbox(t *testing.T) {
	ctx := context.Background()
	c := openTest(t, t.TempDir())
	seedHouseholds(t, c)
	if err := c.UpdateHousehold(ctx, hh1, HouseholdPatch{SituationNotes: ptr("x")}); err != nil {
		t.Fatal(err)
	}
	p := pending(t, c)
	rr := syncproto.RejectionRecord{ID: "r1", DeviceID: "d", MutationID: p[0].MutationID, Entity: syncproto.EntityHousehold, EntityID: hh1,
		Rejection: syncproto.Rejection{Code: syncproto.RejectOutOfScope, Message: "不在名下"}, CreatedAt: time.Now().UTC()}
	page(t, c, "c2", upsert(t, syncproto.EntityRejection, "r1", "", 1, rr))
	if n := len(pending(t, c)); n != 0 {
		t.Fatal("a mutation whose verdict arrived on pull stayed in the outbox")
	}
	h, _, _ := c.Household(ctx, hh1)
	if h.SituationNotes != "old" {
		t.Fatal("the refused edit was not reverted")
	}
	rj, _ := c.Rejections(ctx)
	if len(rj) != 1 || rj[0].RejectionID != "r1" || string(rj[0].Fields["situation_notes"]) != `"x"` {
		t.Fatalf("rejections = %+v", rj)
	}
	// Rejections are not records: they stay out of the digest.
	items, _ := digestItems(c.db)
	for _, it := range items {
		if it.Entity == syncproto.EntityRejection {
			t.Fatal("rejection in digest")
		}
	}
}

func TestReopenFromDiskKeepsEverything(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c := openTest(t, dir)
	seedHouseholds(t, c)
	id, _ := c.CreateVisit(ctx, VisitInput{HouseholdID: hh2, Outcome: syncproto.OutcomeMoved})
	c.Close()
	c2, err := Open(ctx, dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if _, ok, _ := c2.Visit(ctx, id); !ok {
		t.Fatal("visit lost across reopen")
	}
	if n, _ := c2.PendingCount(ctx); n != 1 {
		t.Fatalf("outbox lost across reopen: %d", n)
	}
	s, _ := c2.Session(ctx)
	if s.Cursor != "c1" || s.UserID != testUser {
		t.Fatalf("session lost across reopen: %+v", s)
	}
}
