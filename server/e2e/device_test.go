package e2e_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"

	"github.com/doorstep-dev/doorstep/server/app"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
	"github.com/doorstep-dev/doorstep/syncproto/client"
)

// login → pull → offline edits → sync → a second device of the same officer
// sees them; another officer's device sees none of it.
func TestOfflineEditsReachTheServerAndTheOfficersOtherDevice(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		phone := w.device(t, "", client.Options{})
		tablet := w.device(t, "", client.Options{})
		other := w.device(t, "", client.Options{})
		login(t, phone, testenv.Officer1)
		login(t, tablet, testenv.Officer1)
		login(t, other, testenv.Officer2)

		rep := mustSync(t, phone)
		if rep.Pulled == 0 {
			t.Fatalf("first sync pulled nothing: %+v", rep)
		}
		got := householdIDs(t, phone)
		if len(got) != len(w.hh1) {
			t.Fatalf("officer1's phone holds %d households, want %d", len(got), len(w.hh1))
		}
		for _, id := range w.hh1 {
			if !got[id] {
				t.Fatalf("household %s missing on officer1's phone", id)
			}
		}
		if ps, _ := phone.Products(ctx); len(ps) == 0 {
			t.Fatal("no loan products on the phone")
		}

		// Offline work.
		lat, lng := 28.45, 108.99
		vid, err := phone.CreateVisit(ctx, client.VisitInput{HouseholdID: w.hh1[0], Outcome: syncproto.OutcomeVisited, Notes: "养猪 20 头", Lat: &lat, Lng: &lng})
		if err != nil {
			t.Fatal(err)
		}
		nid, err := phone.CreateNeed(ctx, client.NeedInput{HouseholdID: w.hh1[0], VisitID: vid, Purpose: "购买仔猪", AmountFen: 1_000_000})
		if err != nil {
			t.Fatal(err)
		}
		lid, err := phone.CreateLoan(ctx, client.LoanInput{HouseholdID: w.hh1[0], NeedID: nid, ProductID: w.fpxd, AmountFen: 3_000_000, TermMonths: 24, Purpose: "养殖"})
		if err != nil {
			t.Fatal(err)
		}
		if err := phone.SubmitLoan(ctx, lid); err != nil {
			t.Fatal(err)
		}
		notes := "新修了猪圈"
		if err := phone.UpdateHousehold(ctx, w.hh1[1], client.HouseholdPatch{SituationNotes: &notes}); err != nil {
			t.Fatal(err)
		}
		if err := phone.UpdateVisit(ctx, vid, client.VisitPatch{Notes: ptr("养猪 21 头")}); err != nil {
			t.Fatal(err)
		}

		rep = mustSync(t, phone)
		if rep.Pushed != 6 || rep.Rejected != 0 || rep.Pending != 0 {
			t.Fatalf("push report = %+v, rejections %+v", rep, rep.Rejections)
		}
		if n := countRows(t, db, "visits", "id = ?", vid); n != 1 {
			t.Fatalf("server holds %d copies of the visit", n)
		}
		v, _, _ := phone.Visit(ctx, vid)
		if v.Version == 0 || v.Notes != "养猪 21 头" || v.ReceivedAt.IsZero() {
			t.Fatalf("phone's visit after sync = %+v", v)
		}

		mustSync(t, tablet)
		tv, ok, _ := tablet.Visit(ctx, vid)
		if !ok || tv.Notes != "养猪 21 头" || tv.Version != v.Version {
			t.Fatalf("officer1's tablet sees visit %+v (found %v)", tv, ok)
		}
		tl, ok, _ := tablet.Loan(ctx, lid)
		if !ok || tl.Status != syncproto.LoanSubmitted || tl.AmountFen != 3_000_000 {
			t.Fatalf("tablet's loan = %+v", tl)
		}
		th, _, _ := tablet.Household(ctx, w.hh1[1])
		if th.SituationNotes != notes {
			t.Fatalf("tablet's household notes = %q", th.SituationNotes)
		}

		mustSync(t, other)
		for id := range householdIDs(t, other) {
			for _, mine := range w.hh1 {
				if id == mine {
					t.Fatalf("officer2's device holds officer1's household %s", id)
				}
			}
		}
		if vs, _ := other.Visits(ctx, ""); len(vs) != 0 {
			t.Fatalf("officer2's device holds %d visits of officer1", len(vs))
		}
		converged(t, phone)
		converged(t, tablet)
		converged(t, other)
	})
}

func ptr[T any](v T) *T { return &v }

// Rejections are stored with the officer's values and the record goes back
// to the server's version; the rest of the queue goes through.
func TestRejectionsAreSurfacedAndDoNotBlockTheQueue(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		c := w.device(t, "", client.Options{})
		login(t, c, testenv.Officer1)
		mustSync(t, c)
		// Past the local check: the product limit is the server's to enforce.
		bad, err := c.Mutate(ctx, syncproto.EntityLoan, syncproto.OpCreate, "", map[string]any{
			"household_id": w.hh1[0], "product_id": w.fpxd, "amount_fen": 5_000_001, "term_months": 12, "status": "draft",
		})
		if err != nil {
			t.Fatal(err)
		}
		good, err := c.CreateVisit(ctx, client.VisitInput{HouseholdID: w.hh1[0], Outcome: syncproto.OutcomeAbsent})
		if err != nil {
			t.Fatal(err)
		}
		rep := mustSync(t, c)
		if rep.Rejected != 1 || rep.Accepted+rep.Merged != 1 || rep.Pending != 0 {
			t.Fatalf("report = %+v", rep)
		}
		if _, ok, _ := c.Loan(ctx, bad); ok {
			t.Fatal("the rejected loan is still shown as if it existed")
		}
		if _, ok, _ := c.Visit(ctx, good); !ok {
			t.Fatal("the good visit is gone")
		}
		rj, _ := c.Rejections(ctx)
		if len(rj) != 1 || rj[0].EntityID != bad || rj[0].Code != syncproto.RejectProductLimit || rj[0].Message == "" {
			t.Fatalf("rejections = %+v", rj)
		}
		if string(rj[0].Fields["amount_fen"]) != "5000001" {
			t.Fatalf("the officer's values were not kept: %s", rj[0].Fields)
		}
		if n := countRows(t, db, "loan_applications", "id = ?", bad); n != 0 {
			t.Fatal("the server stored a loan beyond the product limit")
		}
		converged(t, c)
	})
}

// A push whose answer is lost is sent again and applied once.
func TestLostResponsesAreRetriedAndAppliedOnce(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		ft := &faultyTransport{base: http.DefaultTransport}
		c := w.device(t, "", client.Options{HTTP: &http.Client{Transport: ft, Timeout: 30 * time.Second}, PushBatch: 3})
		login(t, c, testenv.Officer1)
		mustSync(t, c)
		var visits []string
		for i := 0; i < 7; i++ {
			id, err := c.CreateVisit(ctx, client.VisitInput{HouseholdID: w.hh1[i%len(w.hh1)], Outcome: syncproto.OutcomeVisited, Notes: fmt.Sprint("visit ", i)})
			if err != nil {
				t.Fatal(err)
			}
			visits = append(visits, id)
		}
		// Every other push and pull answer is lost; some bodies are cut short.
		ft.decide = func(path string, n int) (bool, int) {
			if !isSync(path) {
				return false, 0
			}
			switch n % 3 {
			case 1:
				return true, 0
			case 2:
				return false, 40
			}
			return false, 0
		}
		rep := mustSync(t, c)
		if ft.drops.Load() == 0 {
			t.Fatal("the test dropped nothing")
		}
		if rep.Accepted+rep.Merged != len(visits) || rep.Pending != 0 {
			t.Fatalf("report = %+v", rep)
		}
		for _, id := range visits {
			if n := countRows(t, db, "visits", "id = ?", id); n != 1 {
				t.Fatalf("visit %s stored %d times", id, n)
			}
		}
		var dev store.Device
		s, _ := c.Session(ctx)
		if err := db.Gorm(ctx).Where("id = ?", s.ServerDeviceID).Take(&dev).Error; err != nil {
			t.Fatal(err)
		}
		if n := countRows(t, db, "device_mutations", "device_id = ?", dev.ID); n != int64(len(visits)) {
			t.Fatalf("the device's mutation log holds %d entries, want %d", n, len(visits))
		}
		ft.decide = nil
		converged(t, c)
	})
}

// The server process goes away and a new one is built over the same
// database with the same keys: the device carries on.
func TestServerRestart(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		dir := t.TempDir()
		c := w.device(t, dir, client.Options{})
		login(t, c, testenv.Officer1)
		mustSync(t, c)
		w.env.Server.Close()

		// Offline while the server is down: edits queue, sync fails cleanly.
		vid, err := c.CreateVisit(ctx, client.VisitInput{HouseholdID: w.hh1[2], Outcome: syncproto.OutcomeRefused})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Sync(ctx); err == nil {
			t.Fatal("sync succeeded with the server down")
		}
		if n, _ := c.PendingCount(ctx); n != 1 {
			t.Fatalf("pending = %d", n)
		}

		a, err := app.Build(w.env.Config, db, w.env.Secrets, w.env.App.Log)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.HTTP.Handler())
		defer srv.Close()
		if err := c.SetServerURL(ctx, srv.URL); err != nil {
			t.Fatal(err)
		}
		rep := mustSync(t, c)
		if rep.Pushed != 1 || rep.Rejected != 0 {
			t.Fatalf("report after restart = %+v", rep)
		}
		if n := countRows(t, db, "visits", "id = ?", vid); n != 1 {
			t.Fatal("the visit recorded while the server was down did not arrive")
		}
		converged(t, c)
	})
}

// Syncs are cut at random points — the context cancelled, the connection
// dropped after the server answered — and the device is reopened from disk
// between attempts. In the end nothing is lost or duplicated.
func TestKillMidSyncConverges(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		rng := newRand(t)
		dir := t.TempDir()
		var cmu sync.Mutex
		cancel := context.CancelFunc(func() {})
		setCancel := func(f context.CancelFunc) { cmu.Lock(); cancel = f; cmu.Unlock() }
		killNow := func() { cmu.Lock(); f := cancel; cmu.Unlock(); f() }
		ft := &faultyTransport{base: http.DefaultTransport}
		opts := client.Options{HTTP: &http.Client{Transport: ft, Timeout: 30 * time.Second}, PushBatch: 4, PageLimit: 3, MaxAttempts: 3}
		ft.decide = func(path string, n int) (bool, int) {
			if !isSync(path) {
				return false, 0
			}
			switch rng.IntN(6) {
			case 0:
				return true, 0
			case 1:
				return false, 1 + rng.IntN(200)
			case 2:
				// The phone dies right after the server answered.
				killNow()
				return true, 0
			}
			return false, 0
		}
		c, err := client.Open(ctx, dir, withBase(opts, w.env.URL))
		if err != nil {
			t.Fatal(err)
		}
		login(t, c, testenv.Officer1)
		var visits, needs []string
		for round := 0; round < 25; round++ {
			for e := 0; e < 1+rng.IntN(4); e++ {
				hh := w.hh1[rng.IntN(len(w.hh1))]
				if _, ok, _ := c.Household(ctx, hh); !ok {
					continue // not pulled yet
				}
				if rng.IntN(3) == 0 {
					id, err := c.CreateNeed(ctx, client.NeedInput{HouseholdID: hh, Purpose: "种子", AmountFen: int64(100 + rng.IntN(1000))})
					if err != nil {
						t.Fatal(err)
					}
					needs = append(needs, id)
				} else {
					id, err := c.CreateVisit(ctx, client.VisitInput{HouseholdID: hh, Outcome: syncproto.OutcomeVisited, Notes: fmt.Sprint("round ", round)})
					if err != nil {
						t.Fatal(err)
					}
					visits = append(visits, id)
				}
			}
			sctx, cfn := context.WithCancel(ctx)
			setCancel(cfn)
			if rng.IntN(4) == 0 {
				after := time.Duration(rng.IntN(20)) * time.Millisecond
				go func() {
					time.Sleep(after)
					cfn()
				}()
			}
			c.Sync(sctx) // any outcome
			cfn()
			if rng.IntN(3) == 0 {
				c.Close()
				if c, err = client.Open(ctx, dir, withBase(opts, w.env.URL)); err != nil {
					t.Fatal(err)
				}
			}
		}
		ft.decide = nil
		mustSync(t, c)
		defer c.Close()
		if n, _ := c.PendingCount(ctx); n != 0 {
			t.Fatalf("outbox not empty at the end: %d", n)
		}
		for _, id := range visits {
			if n := countRows(t, db, "visits", "id = ?", id); n != 1 {
				t.Fatalf("visit %s stored %d times", id, n)
			}
		}
		for _, id := range needs {
			if n := countRows(t, db, "financing_needs", "id = ?", id); n != 1 {
				t.Fatalf("need %s stored %d times", id, n)
			}
		}
		local, _ := c.Visits(ctx, "")
		if len(local) != len(visits) {
			t.Fatalf("device shows %d visits, made %d", len(local), len(visits))
		}
		if rj, _ := c.Rejections(ctx); len(rj) != 0 {
			t.Fatalf("valid edits were rejected: %+v", rj)
		}
		converged(t, c)
		t.Logf("%d visits and %d needs through %d cut connections", len(visits), len(needs), ft.drops.Load())
	})
}

func withBase(o client.Options, url string) client.Options {
	o.BaseURL = url
	o.BackoffBase, o.BackoffMax = time.Millisecond, 10*time.Millisecond
	return o
}

// A household reassigned from officer1 to officer2 leaves officer1's device
// with everything under it, and arrives whole on officer2's.
func TestReassignmentMovesTheWholeHousehold(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		one := w.device(t, "", client.Options{})
		two := w.device(t, "", client.Options{})
		login(t, one, testenv.Officer1)
		login(t, two, testenv.Officer2)
		mustSync(t, one)
		mustSync(t, two)
		moved := w.hh1[3]
		vid, err := one.CreateVisit(ctx, client.VisitInput{HouseholdID: moved, Outcome: syncproto.OutcomeVisited, Notes: "交接前走访"})
		if err != nil {
			t.Fatal(err)
		}
		mustSync(t, one)

		sup := w.env.Login(t, testenv.Supervisor1, testenv.Password, "sup-console")
		officer2 := w.env.User(t, testenv.Officer2)
		w.env.DoStatus(t, http.StatusOK, http.MethodPost, "/api/v1/assignments", sup.AccessToken,
			map[string]any{"household_ids": []string{moved}, "officer_id": officer2.ID})

		rep := mustSync(t, one)
		if rep.Removed == 0 {
			t.Fatalf("officer1's device got no removal: %+v", rep)
		}
		if householdIDs(t, one)[moved] {
			t.Fatal("the reassigned household is still on officer1's device")
		}
		if vs, _ := one.Visits(ctx, moved); len(vs) != 0 {
			t.Fatal("visits of the reassigned household are still on officer1's device")
		}
		mustSync(t, two)
		if !householdIDs(t, two)[moved] {
			t.Fatal("the household did not arrive on officer2's device")
		}
		if _, ok, _ := two.Visit(ctx, vid); !ok {
			t.Fatal("the household's visit history did not come with it")
		}
		converged(t, one)
		converged(t, two)
	})
}

// A revoked device (a lost phone) is signed out and wiped: no household data
// stays on it, and the app learns how many unsent edits went with it.
func TestRevokedDeviceIsSignedOutAndWiped(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		c := w.device(t, "", client.Options{})
		s := login(t, c, testenv.Officer1)
		mustSync(t, c)
		if _, err := c.CreateVisit(ctx, client.VisitInput{HouseholdID: w.hh1[0], Outcome: syncproto.OutcomeVisited}); err != nil {
			t.Fatal(err)
		}
		sup := w.env.Login(t, testenv.Supervisor1, testenv.Password, "sup-console")
		w.env.DoStatus(t, http.StatusOK, http.MethodPost, "/api/v1/devices/"+s.ServerDeviceID+"/revoke", sup.AccessToken, nil)
		_, err := c.Sync(ctx)
		var so *client.SignedOutError
		if !errors.Is(err, client.ErrSignedOut) || !errors.As(err, &so) || so.Code != syncproto.CodeDeviceRevoked {
			t.Fatalf("sync on a revoked device: %v", err)
		}
		if so.Discarded != 1 {
			t.Fatalf("discarded = %d, want the one unsent visit", so.Discarded)
		}
		sess, _ := c.Session(ctx)
		if sess.SignedIn {
			t.Fatal("tokens survived revocation")
		}
		if n, _ := c.PendingCount(ctx); n != 0 {
			t.Fatalf("%d edits stayed on a revoked device", n)
		}
		if hh, err := c.Households(ctx); err != nil || len(hh) != 0 {
			t.Fatalf("households stayed on a revoked device: %d, %v", len(hh), err)
		}
	})
}

// A device whose store drifted from the server (here: a record deleted
// behind the client's back) is told so by the digest and resyncs.
func TestDigestMismatchResyncs(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		dir := t.TempDir()
		c := w.device(t, dir, client.Options{})
		login(t, c, testenv.Officer1)
		mustSync(t, c)
		converged(t, c)
		vid, _ := c.CreateVisit(ctx, client.VisitInput{HouseholdID: w.hh1[0], Outcome: syncproto.OutcomeVisited, Notes: "made before the resync"})
		raw, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "device.db"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(`DELETE FROM records WHERE entity = 'household' AND id = ?`, w.hh1[1]); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		rep, err := c.SyncWith(ctx, client.SyncOptions{Digest: true})
		if err != nil {
			t.Fatal(err)
		}
		if !rep.Diverged || !rep.Resynced {
			t.Fatalf("the drift went unnoticed: %+v", rep)
		}
		if !householdIDs(t, c)[w.hh1[1]] {
			t.Fatal("the resync did not bring the household back")
		}
		if _, ok, _ := c.Visit(ctx, vid); !ok {
			t.Fatal("the officer's visit disappeared in the resync")
		}
		converged(t, c)
	})
}

// Two devices of one officer change the same household field offline; the
// later edit by event time wins and the loser learns it as a conflict.
func TestConflictsAreSurfacedToTheLosingDevice(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		// The tablet's clock runs an hour ahead. The phone's edit is made
		// three minutes after the tablet's (its clock is moved on for the
		// edit only, so the corrected times stay within the server's
		// allowance). Corrected, the phone's edit is the later and wins,
		// although the tablet's raw device time is the later one.
		var phoneSkew atomic.Int64
		phone := w.device(t, "", client.Options{Clock: func() time.Time { return time.Now().Add(time.Duration(phoneSkew.Load())) }})
		tablet := w.device(t, "", client.Options{Clock: func() time.Time { return time.Now().Add(time.Hour) }})
		login(t, phone, testenv.Officer1)
		login(t, tablet, testenv.Officer1)
		mustSync(t, phone)
		mustSync(t, tablet)
		hh := w.hh1[0]
		if err := tablet.UpdateHousehold(ctx, hh, client.HouseholdPatch{SituationNotes: ptr("平板：屋顶漏雨")}); err != nil {
			t.Fatal(err)
		}
		phoneSkew.Store(int64(3 * time.Minute))
		if err := phone.UpdateHousehold(ctx, hh, client.HouseholdPatch{SituationNotes: ptr("手机：屋顶已修好")}); err != nil {
			t.Fatal(err)
		}
		phoneSkew.Store(0)
		mustSync(t, phone)
		rep := mustSync(t, tablet)
		if rep.Rejected != 0 || rep.Conflicts == 0 {
			t.Fatalf("tablet's report = %+v", rep)
		}
		cf, err := tablet.Conflicts(ctx)
		if err != nil || len(cf) == 0 {
			t.Fatalf("conflicts = %+v %v", cf, err)
		}
		if cf[0].Field != "situation_notes" || cf[0].Winner != "server" || cf[0].Rule == "" ||
			string(cf[0].DeviceValue) != `"平板：屋顶漏雨"` || string(cf[0].ServerValue) != `"手机：屋顶已修好"` {
			t.Fatalf("conflict = %+v (device %s, server %s)", cf[0], cf[0].DeviceValue, cf[0].ServerValue)
		}
		h, _, _ := tablet.Household(ctx, hh)
		if h.SituationNotes != "手机：屋顶已修好" {
			t.Fatalf("tablet shows %q, want the later edit", h.SituationNotes)
		}
		if n := countRows(t, db, "conflicts", "entity_id = ? AND kind = ?", hh, "conflict"); n == 0 {
			t.Fatal("the server's conflict log has no entry for the household")
		}
		converged(t, phone)
		converged(t, tablet)
	})
}

// Once a supervisor confirms a visit, the officer's offline edit of it is
// rejected and the device goes back to the confirmed version.
func TestEditOfAConfirmedVisitIsRejectedAndReverted(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		w := newWorld(t, db)
		c := w.device(t, "", client.Options{})
		login(t, c, testenv.Officer1)
		mustSync(t, c)
		vid, err := c.CreateVisit(ctx, client.VisitInput{HouseholdID: w.hh1[0], Outcome: syncproto.OutcomeVisited, Notes: "原始记录"})
		if err != nil {
			t.Fatal(err)
		}
		mustSync(t, c)
		sup := w.env.Login(t, testenv.Supervisor1, testenv.Password, "sup-console")
		w.env.DoStatus(t, http.StatusOK, http.MethodPost, "/api/v1/visits/"+vid+"/confirm", sup.AccessToken, nil)

		if err := c.UpdateVisit(ctx, vid, client.VisitPatch{Notes: ptr("确认后又改")}); err != nil {
			t.Fatal(err)
		}
		rep := mustSync(t, c)
		if rep.Rejected != 1 {
			t.Fatalf("report = %+v", rep)
		}
		rj, _ := c.Rejections(ctx)
		if len(rj) != 1 || rj[0].Code != syncproto.RejectConfirmed || len(rj[0].Current) == 0 {
			t.Fatalf("rejections = %+v", rj)
		}
		v, _, _ := c.Visit(ctx, vid)
		if v.Notes != "原始记录" || v.Status != syncproto.VisitConfirmed {
			t.Fatalf("visit on the device = %+v, want the confirmed version", v)
		}
		converged(t, c)
	})
}
