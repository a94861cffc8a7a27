package e2e_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/doorstep-dev/doorstep/server/app"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
	"github.com/doorstep-dev/doorstep/syncproto/client"
)

// Each check drives three devices against the real server for ~30 steps; the
// default of 100 checks is cut to a dozen unless -rapid.checks or
// RAPID_CHECKS says otherwise, so a dialect stays well under a minute.
func capRapidChecks(n int) {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if !set && os.Getenv("RAPID_CHECKS") == "" {
		flag.Set("rapid.checks", fmt.Sprint(n))
	}
}

// Transport modes for one sync.
const (
	netClean    int32 = iota
	netLosePush       // the first push is applied by the server, its answer lost
	netDouble         // every sync request reaches the server twice
	netKill           // the app dies right after the server answered the nth sync call
)

// chaosTransport forwards to the real server and, per mode, loses the answer
// of the first push or sends every sync request twice (a proxy that retried
// on its own). Only sync calls are touched; sign-in stays clean.
type chaosTransport struct {
	base    http.RoundTripper
	mode    atomic.Int32
	dropped atomic.Bool // the push answer of this sync was already lost
	faults  atomic.Int64
	// For netKill: the sync call to die after, the calls so far, and the
	// sync's cancel.
	killAt, calls atomic.Int64
	kill          func()
}

func (ct *chaosTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	mode := ct.mode.Load()
	if mode == netClean || !isSync(req.URL.Path) {
		return ct.base.RoundTrip(req)
	}
	switch mode {
	case netLosePush:
		if req.URL.Path == "/api/v1/sync/push" && ct.dropped.CompareAndSwap(false, true) {
			resp, err := ct.base.RoundTrip(req)
			if err != nil {
				return nil, err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ct.faults.Add(1)
			return nil, errDropped
		}
	case netKill:
		resp, err := ct.base.RoundTrip(req)
		if err != nil || ct.calls.Add(1) != ct.killAt.Load() {
			return resp, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ct.faults.Add(1)
		ct.kill()
		return nil, errDropped
	case netDouble:
		body, err := requestBody(req)
		if err != nil {
			return nil, err
		}
		first := req.Clone(req.Context())
		first.Body = io.NopCloser(strings.NewReader(string(body)))
		if resp, err := ct.base.RoundTrip(first); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			ct.faults.Add(1)
		}
		second := req.Clone(req.Context())
		second.Body = io.NopCloser(strings.NewReader(string(body)))
		return ct.base.RoundTrip(second)
	}
	return ct.base.RoundTrip(req)
}

func requestBody(req *http.Request) ([]byte, error) {
	if req.Body == nil {
		return nil, nil
	}
	defer req.Body.Close()
	return io.ReadAll(req.Body)
}

// smDevice is one phone in the model, with what the test knows about it.
type smDevice struct {
	name     string
	dir      string
	opts     client.Options
	officer  string
	officeID string // the officer's user id
	c        *client.Client
	net      *chaosTransport
	serverID string
	// issued holds every mutation id the device put in its outbox.
	issued map[string]bool
	// visits maps each visit the device created to its create mutation.
	visits map[string]string
	// refused holds the records some edit of which the server refused.
	refused map[string]bool
	cursor  cursorPos
}

// cursorPos is the decoded position of a pull cursor (see syncsvc/cursor.go:
// base64url JSON, a dot, a MAC). The test reads it only to order positions.
type cursorPos struct {
	Set   bool
	Phase string `json:"p"`
	S     int64  `json:"s"`
	E     int    `json:"e"`
	I     string `json:"i"`
}

func decodeCursorPos(raw string) (cursorPos, error) {
	if raw == "" {
		return cursorPos{}, nil
	}
	payload, _, ok := strings.Cut(raw, ".")
	if !ok {
		return cursorPos{}, fmt.Errorf("cursor %q has no MAC", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return cursorPos{}, err
	}
	var p cursorPos
	if err := json.Unmarshal(b, &p); err != nil {
		return cursorPos{}, err
	}
	p.Set = true
	return p, nil
}

// behind reports whether q is strictly behind p.
func (p cursorPos) behind(q cursorPos) bool {
	switch {
	case !p.Set:
		return false
	case !q.Set:
		return true
	case p.Phase == "l" && q.Phase == "s":
		return true
	case p.Phase == "s" && q.Phase == "l":
		return q.S < p.S
	case p.Phase == "l":
		return q.S < p.S
	}
	// Both in the snapshot: the same starting change number, and the walk
	// (entity index, then id) never goes back.
	if q.S != p.S {
		return true
	}
	if q.E != p.E {
		return q.E < p.E
	}
	return q.I < p.I
}

type smWorld struct {
	t       *testing.T
	db      *store.DB
	w       *world
	url     string
	sup     string // supervisor1's access token
	servers []*httptest.Server
	// What the runs did, logged per dialect so a run that exercised
	// nothing shows.
	steps                                    map[string]int
	pushed, conflicts, rejected, removed, rs int
	faults                                   int64
	// moved holds every household ever reassigned: the only ones whose
	// edits the server may refuse in these runs.
	moved      map[string]bool
	rejectCode map[string]int
}

// TestStateMachineSync drives three devices (officer1 ×2, officer2 ×1)
// through random offline edits, conflicting edits of the same records,
// syncs with lost push answers and doubled requests, reassignments and
// server restarts, checking the invariants after every step and
// convergence at the end.
func TestStateMachineSync(t *testing.T) {
	capRapidChecks(12)
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		w := newWorld(t, db)
		sw := &smWorld{t: t, db: db, w: w, url: w.env.URL}
		sw.sup = w.env.Login(t, testenv.Supervisor1, testenv.Password, "sm-sup-console").AccessToken
		t.Cleanup(func() {
			for _, s := range sw.servers {
				s.Close()
			}
		})
		sw.steps, sw.moved, sw.rejectCode = map[string]int{}, map[string]bool{}, map[string]int{}
		run := 0
		rapid.Check(t, func(rt *rapid.T) {
			run++
			sw.check(rt, run)
		})
		t.Logf("%d runs; steps done %v; %d mutations pushed, %d field conflicts, %d rejections, %d households removed, %d resyncs, %d injected faults; rejections by code %v",
			run, sw.steps, sw.pushed, sw.conflicts, sw.rejected, sw.removed, sw.rs, sw.faults, sw.rejectCode)
		if sw.pushed == 0 || sw.faults == 0 || sw.steps["reassign"] == 0 || sw.steps["restart"] == 0 {
			t.Fatal("the runs exercised too little to mean anything")
		}
	})
}

func (sw *smWorld) check(rt *rapid.T, run int) {
	ctx := context.Background()
	// Every run starts from the same assignment, so a failing run replays
	// (and shrinks) whatever earlier runs moved.
	sw.assign(rt, sw.w.hh1, sw.w.env.User(sw.t, testenv.Officer1).ID)
	sw.assign(rt, sw.w.hh2, sw.w.env.User(sw.t, testenv.Officer2).ID)
	clear(sw.moved)
	devs := []*smDevice{
		sw.newDevice(rt, fmt.Sprintf("r%d-phone1", run), testenv.Officer1),
		sw.newDevice(rt, fmt.Sprintf("r%d-tablet1", run), testenv.Officer1),
		sw.newDevice(rt, fmt.Sprintf("r%d-phone2", run), testenv.Officer2),
	}
	defer func() {
		for _, d := range devs {
			d.c.Close()
		}
	}()
	for _, d := range devs {
		sw.sync(rt, d, netClean)
	}
	pick := func(rt *rapid.T, label string) *smDevice {
		return devs[rapid.IntRange(0, len(devs)-1).Draw(rt, label)]
	}
	text := func(rt *rapid.T, label string) string {
		return rapid.SampledFrom([]string{"养猪 20 头", "屋顶漏雨", "外出务工", "种植茶叶", "孩子上学", ""}).Draw(rt, label) +
			fmt.Sprint(" #", rapid.IntRange(0, 999).Draw(rt, label+"-n"))
	}

	actions := map[string]func(*rapid.T){
		"createVisit": func(rt *rapid.T) {
			d := pick(rt, "device")
			hh := d.randomHousehold(rt)
			if hh == "" {
				rt.Skip("no household on the device")
			}
			outcome := rapid.SampledFrom([]string{syncproto.OutcomeVisited, syncproto.OutcomeAbsent, syncproto.OutcomeRefused}).Draw(rt, "outcome")
			id, err := d.c.CreateVisit(ctx, client.VisitInput{HouseholdID: hh, Outcome: outcome, Notes: text(rt, "notes")})
			if err != nil {
				rt.Fatalf("%s: create visit: %v", d.name, err)
			}
			d.visits[id] = d.noteIssued(rt)
		},
		"updateVisit": func(rt *rapid.T) {
			d := pick(rt, "device")
			v := d.randomVisit(rt)
			if v == "" {
				rt.Skip("no visit on the device")
			}
			if err := d.c.UpdateVisit(ctx, v, client.VisitPatch{Notes: ptr(text(rt, "notes"))}); err != nil {
				rt.Fatalf("%s: update visit: %v", d.name, err)
			}
			d.noteIssued(rt)
		},
		"createNeed": func(rt *rapid.T) {
			d := pick(rt, "device")
			hh := d.randomHousehold(rt)
			if hh == "" {
				rt.Skip("no household on the device")
			}
			amount := int64(rapid.IntRange(1, 5_000_000).Draw(rt, "amount_fen"))
			if _, err := d.c.CreateNeed(ctx, client.NeedInput{HouseholdID: hh, Purpose: text(rt, "purpose"), AmountFen: amount}); err != nil {
				rt.Fatalf("%s: create need: %v", d.name, err)
			}
			d.noteIssued(rt)
		},
		"updateHousehold": func(rt *rapid.T) {
			d := pick(rt, "device")
			hh := d.randomHousehold(rt)
			if hh == "" {
				rt.Skip("no household on the device")
			}
			if err := d.c.UpdateHousehold(ctx, hh, client.HouseholdPatch{SituationNotes: ptr(text(rt, "situation"))}); err != nil {
				rt.Fatalf("%s: update household: %v", d.name, err)
			}
			d.noteIssued(rt)
		},
		// Officer1's two devices edit the same record offline.
		"conflictingEdit": func(rt *rapid.T) {
			a, b := devs[0], devs[1]
			if rapid.Bool().Draw(rt, "visit") {
				v := common(a.localVisits(rt), b.localVisits(rt))
				if len(v) == 0 {
					rt.Skip("no visit on both devices")
				}
				id := rapid.SampledFrom(v).Draw(rt, "visit_id")
				for _, d := range []*smDevice{a, b} {
					if err := d.c.UpdateVisit(ctx, id, client.VisitPatch{Notes: ptr(d.name + " " + text(rt, "notes"))}); err != nil {
						rt.Fatalf("%s: update visit: %v", d.name, err)
					}
					d.noteIssued(rt)
				}
				return
			}
			hh := common(a.localHouseholds(rt), b.localHouseholds(rt))
			if len(hh) == 0 {
				rt.Skip("no household on both devices")
			}
			id := rapid.SampledFrom(hh).Draw(rt, "household_id")
			for _, d := range []*smDevice{a, b} {
				if err := d.c.UpdateHousehold(ctx, id, client.HouseholdPatch{SituationNotes: ptr(d.name + " " + text(rt, "situation"))}); err != nil {
					rt.Fatalf("%s: update household: %v", d.name, err)
				}
				d.noteIssued(rt)
			}
		},
		"sync":         func(rt *rapid.T) { sw.sync(rt, pick(rt, "device"), netClean) },
		"syncLostPush": func(rt *rapid.T) { sw.sync(rt, pick(rt, "device"), netLosePush) },
		"syncDoubled":  func(rt *rapid.T) { sw.sync(rt, pick(rt, "device"), netDouble) },
		"reassign": func(rt *rapid.T) {
			one, two := sw.officerHouseholds(rt, devs[0].officeID), sw.officerHouseholds(rt, devs[2].officeID)
			all := append(slices.Clone(one), two...)
			if len(all) == 0 {
				rt.Skip("no household to move")
			}
			hh := rapid.SampledFrom(all).Draw(rt, "household_id")
			to := devs[2].officeID
			if slices.Contains(two, hh) {
				to = devs[0].officeID
			}
			sw.assign(rt, []string{hh}, to)
			sw.moved[hh] = true
		},
		"restart": func(rt *rapid.T) { sw.restart(rt, devs) },
		// The app is killed during a sync, right after the server answered
		// one of its calls, and started again from what it stored on disk.
		"killMidSync": func(rt *rapid.T) {
			d := pick(rt, "device")
			at := rapid.Int64Range(1, 4).Draw(rt, "kill_after_call")
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			d.net.calls.Store(0)
			d.net.killAt.Store(at)
			d.net.kill = cancel
			d.net.mode.Store(netKill)
			_, err := d.c.Sync(sctx) // fails when killed, succeeds when it finished first
			d.net.mode.Store(netClean)
			sw.faults += d.net.faults.Swap(0)
			if err != nil && sctx.Err() == nil {
				rt.Fatalf("%s: sync failed without being killed: %v", d.name, err)
			}
			d.reopen(rt)
		},
	}
	for name, act := range actions {
		actions[name] = func(rt *rapid.T) {
			act(rt) // a skipped action panics out of here and is not counted
			sw.steps[name]++
		}
	}
	actions[""] = func(rt *rapid.T) {
		for _, d := range devs {
			sw.invariants(rt, d)
		}
	}
	rt.Repeat(actions)

	// Quiesce: a clean network, every device synced until nothing is
	// pending, twice round, so edits pushed late reach the others.
	for round := 0; round < 2; round++ {
		for _, d := range devs {
			for i := 0; ; i++ {
				rep := sw.sync(rt, d, netClean)
				if rep.Pending == 0 {
					break
				}
				if i == 5 {
					rt.Fatalf("%s: still %d pending after %d syncs", d.name, rep.Pending, i+1)
				}
			}
		}
	}
	for _, d := range devs {
		sw.invariants(rt, d)
		if n := len(d.pending(rt)); n != 0 {
			rt.Fatalf("%s: %d mutations pending after quiescing", d.name, n)
		}
		for id, m := range d.visits {
			if st := sw.mutationStatus(rt, d, m); st == "" {
				rt.Fatalf("%s: the create of visit %s never reached the server", d.name, id)
			}
		}
		rep, err := d.c.SyncWith(ctx, client.SyncOptions{Digest: true})
		if err != nil {
			rt.Fatalf("%s: digest sync: %v", d.name, err)
		}
		if !rep.DigestSent || rep.Diverged || rep.Resynced || rep.Pending != 0 {
			rt.Fatalf("%s has not converged with the server: %+v", d.name, rep)
		}
		sw.sameHouseholds(rt, d)
		sw.sameContent(rt, d)
	}
	// Officer1's two devices hold the same records, version for version.
	da, err := devs[0].c.Digest(ctx)
	if err != nil {
		rt.Fatal(err)
	}
	db, err := devs[1].c.Digest(ctx)
	if err != nil {
		rt.Fatal(err)
	}
	if da != db {
		rt.Fatalf("officer1's two devices differ after quiescing: %s vs %s", da, db)
	}
	sw.visitReferences(rt)
}

// visitReferences checks that every stored visit names a household of its
// branch, a user and an org unit that exist. On Postgres no foreign key
// says so (migration 0007): the sync engine must.
func (sw *smWorld) visitReferences(rt *rapid.T) {
	rt.Helper()
	var n int64
	err := sw.db.Gorm(context.Background()).Raw(`SELECT count(*) FROM visits v
		WHERE NOT EXISTS (SELECT 1 FROM households h WHERE h.branch_id = v.branch_id AND h.id = v.household_id)
		   OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = v.officer_id)
		   OR (v.outlet_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM org_units o WHERE o.id = v.outlet_id))`).Scan(&n).Error
	if err != nil {
		rt.Fatal(err)
	}
	if n != 0 {
		rt.Fatalf("%d visits refer to a household, officer or outlet that does not exist", n)
	}
}

// assign gives households to an officer through the registry API, as
// supervisor1 at the console would.
func (sw *smWorld) assign(rt *rapid.T, households []string, officerID string) {
	resp, body := sw.w.env.Do(sw.t, http.MethodPost, "/api/v1/assignments", sw.sup,
		map[string]any{"household_ids": households, "officer_id": officerID})
	if resp.StatusCode != http.StatusOK {
		rt.Fatalf("assign %v to %s: %d %s", households, officerID, resp.StatusCode, body)
	}
}

func (sw *smWorld) newDevice(rt *rapid.T, name, officer string) *smDevice {
	ct := &chaosTransport{base: http.DefaultTransport}
	dir := sw.t.TempDir()
	opts := client.Options{
		BaseURL: sw.url, HTTP: &http.Client{Transport: ct, Timeout: 30 * time.Second},
		PushBatch: 3, PageLimit: 4, MaxAttempts: 8,
		BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond,
	}
	c, err := client.Open(context.Background(), dir, opts)
	if err != nil {
		rt.Fatal(err)
	}
	s, err := c.Login(context.Background(), officer, testenv.Password, name)
	if err != nil {
		c.Close()
		rt.Fatalf("login %s: %v", officer, err)
	}
	return &smDevice{name: name, dir: dir, opts: opts, officer: officer, officeID: s.UserID, c: c, net: ct, serverID: s.ServerDeviceID,
		issued: map[string]bool{}, visits: map[string]string{}, refused: map[string]bool{}}
}

// sync runs one Sync with the given network behaviour. Every fault the test
// injects is one the client must ride out, so the sync must succeed.
func (sw *smWorld) sync(rt *rapid.T, d *smDevice, mode int32) client.SyncReport {
	d.net.dropped.Store(false)
	d.net.mode.Store(mode)
	defer d.net.mode.Store(netClean)
	rep, err := d.c.Sync(context.Background())
	if err != nil {
		rt.Fatalf("%s: sync (mode %d): %v (report %+v)", d.name, mode, err, rep)
	}
	sw.pushed += rep.Pushed
	sw.conflicts += rep.Conflicts
	sw.rejected += rep.Rejected
	sw.removed += rep.Removed
	sw.faults += d.net.faults.Swap(0)
	for _, r := range rep.Rejections {
		sw.rejectCode[r.Code]++
		hh := sw.householdOf(rt, r)
		switch {
		case r.Code == syncproto.RejectDependency && d.refused[r.EntityID]:
			// It builds on an edit of the same record refused before.
		case r.Code == syncproto.RejectOutOfScope && r.Entity == syncproto.EntityVisit && sw.visitOfficer(rt, r.EntityID) != d.officeID:
			// Only the officer who recorded a visit may edit it; the
			// household came to this officer with another's visits.
			sw.rejectCode["another_officers_visit"]++
		case r.Code != syncproto.RejectOutOfScope && r.Code != syncproto.RejectDependency:
			rt.Fatalf("%s: valid edit of %s %s refused: %s %s (%s)", d.name, r.Entity, r.EntityID, r.Code, r.Field, r.Message)
		case !sw.moved[hh]:
			rt.Fatalf("%s: edit of %s %s refused as %s although household %q never moved", d.name, r.Entity, r.EntityID, r.Code, hh)
		}
		d.refused[r.EntityID] = true
	}
	if rep.Resynced {
		sw.rs++
		// A resync legitimately starts the cursor from scratch.
		d.cursor = cursorPos{}
	}
	// Nothing happens between this sync and the check, so the device holds
	// exactly the officer's households now.
	sw.sameHouseholds(rt, d)
	return rep
}

// restart replaces the server process: a new app over the same database and
// keys, on a new port; every device is pointed at it.
func (sw *smWorld) restart(rt *rapid.T, devs []*smDevice) {
	env := sw.w.env
	a, err := app.Build(env.Config, sw.db, env.Secrets, env.App.Log)
	if err != nil {
		rt.Fatalf("rebuild app: %v", err)
	}
	srv := httptest.NewServer(a.HTTP.Handler())
	sw.servers = append(sw.servers, srv)
	if len(sw.servers) > 1 {
		sw.servers[len(sw.servers)-2].Close()
	} else {
		env.Server.Close()
	}
	sw.url = srv.URL
	env.URL = srv.URL
	for _, d := range devs {
		if err := d.c.SetServerURL(context.Background(), srv.URL); err != nil {
			rt.Fatalf("%s: set server url: %v", d.name, err)
		}
	}
}

// invariants checks, for one device, that nothing acknowledged was lost or
// applied twice and that its cursor did not go back.
func (sw *smWorld) invariants(rt *rapid.T, d *smDevice) {
	rt.Helper()
	pending := map[string]bool{}
	for _, p := range d.pending(rt) {
		pending[p.MutationID] = true
		if !d.issued[p.MutationID] {
			rt.Fatalf("%s: outbox holds mutation %s the device never made", d.name, p.MutationID)
		}
	}
	for m := range d.issued {
		n := sw.count(rt, "device_mutations", "mutation_id = ?", m)
		switch {
		case n > 1:
			rt.Fatalf("%s: mutation %s logged %d times", d.name, m, n)
		case !pending[m] && n != 1:
			rt.Fatalf("%s: mutation %s left the outbox but the server never logged it", d.name, m)
		case n == 1 && sw.count(rt, "device_mutations", "mutation_id = ? AND device_id = ?", m, d.serverID) != 1:
			rt.Fatalf("%s: mutation %s logged under another device", d.name, m)
		}
	}
	for id, m := range d.visits {
		n := sw.count(rt, "visits", "id = ?", id)
		if n > 1 {
			rt.Fatalf("%s: visit %s stored %d times", d.name, id, n)
		}
		if pending[m] {
			continue
		}
		switch st := sw.mutationStatus(rt, d, m); {
		case st == "rejected" && n != 0:
			rt.Fatalf("%s: visit %s was rejected but stored", d.name, id)
		case st != "rejected" && n != 1:
			rt.Fatalf("%s: visit %s acknowledged (%s) but stored %d times", d.name, id, st, n)
		}
	}
	s, err := d.c.Session(context.Background())
	if err != nil {
		rt.Fatal(err)
	}
	pos, err := decodeCursorPos(s.Cursor)
	if err != nil {
		rt.Fatalf("%s: cursor: %v", d.name, err)
	}
	if d.cursor.behind(pos) {
		rt.Fatalf("%s: cursor went back from %+v to %+v", d.name, d.cursor, pos)
	}
	d.cursor = pos
}

// sameHouseholds checks that the device holds exactly the households now
// assigned to its officer: none of another officer's, none missing.
func (sw *smWorld) sameHouseholds(rt *rapid.T, d *smDevice) {
	rt.Helper()
	want := sw.officerHouseholds(rt, d.officeID)
	got := d.localHouseholds(rt)
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(want, got) {
		rt.Fatalf("%s (%s) holds households %v, the server assigns %v", d.name, d.officer, got, want)
	}
}

// sameContent compares what the device shows with the server's rows, field
// by field for the fields the runs edit: the digest names versions only.
func (sw *smWorld) sameContent(rt *rapid.T, d *smDevice) {
	rt.Helper()
	ctx := context.Background()
	type row struct {
		ID      string
		Text    string
		Amount  int64
		Version int64
	}
	server := func(query, id string) (row, bool) {
		var rs []row
		if err := sw.db.Gorm(ctx).Raw(query, id).Scan(&rs).Error; err != nil {
			rt.Fatal(err)
		}
		if len(rs) == 0 {
			return row{}, false
		}
		return rs[0], true
	}
	hs, err := d.c.Households(ctx)
	if err != nil {
		rt.Fatal(err)
	}
	for _, h := range hs {
		s, _ := server(`SELECT id, situation_notes AS text, version FROM households WHERE id = ?`, h.ID)
		if s.Text != h.SituationNotes || s.Version != h.Version {
			rt.Fatalf("%s: household %s shows %q v%d, the server holds %q v%d", d.name, h.ID, h.SituationNotes, h.Version, s.Text, s.Version)
		}
	}
	vs, err := d.c.Visits(ctx, "")
	if err != nil {
		rt.Fatal(err)
	}
	for _, v := range vs {
		s, ok := server(`SELECT id, notes AS text, version FROM visits WHERE id = ? AND deleted_at IS NULL`, v.ID)
		if !ok || s.Text != v.Notes || s.Version != v.Version {
			rt.Fatalf("%s: visit %s shows %q v%d, the server holds %q v%d (found %v)", d.name, v.ID, v.Notes, v.Version, s.Text, s.Version, ok)
		}
	}
	ns, err := d.c.Needs(ctx, "")
	if err != nil {
		rt.Fatal(err)
	}
	for _, n := range ns {
		s, ok := server(`SELECT id, purpose AS text, amount_fen AS amount, version FROM financing_needs WHERE id = ? AND deleted_at IS NULL`, n.ID)
		if !ok || s.Text != n.Purpose || s.Amount != n.AmountFen || s.Version != n.Version {
			rt.Fatalf("%s: need %s shows %q %d fen v%d, the server holds %+v (found %v)", d.name, n.ID, n.Purpose, n.AmountFen, n.Version, s, ok)
		}
	}
}

func (sw *smWorld) officerHouseholds(rt *rapid.T, officerID string) []string {
	var ids []string
	err := sw.db.Gorm(context.Background()).Raw(
		`SELECT id FROM households WHERE officer_id = ? AND list_status = 'active' ORDER BY id`, officerID).Scan(&ids).Error
	if err != nil {
		rt.Fatal(err)
	}
	return ids
}

func (sw *smWorld) count(rt *rapid.T, table, where string, args ...any) int64 {
	var n int64
	if err := sw.db.Gorm(context.Background()).Table(table).Where(where, args...).Count(&n).Error; err != nil {
		rt.Fatal(err)
	}
	return n
}

// householdOf finds the household a refused edit was about: from the
// officer's values, or from the server's copy of the record.
func (sw *smWorld) householdOf(rt *rapid.T, r client.RejectionInfo) string {
	if r.Entity == syncproto.EntityHousehold {
		return r.EntityID
	}
	var hh string
	if raw, ok := r.Fields["household_id"]; ok && json.Unmarshal(raw, &hh) == nil && hh != "" {
		return hh
	}
	table := map[string]string{syncproto.EntityVisit: "visits", syncproto.EntityNeed: "financing_needs"}[r.Entity]
	if table == "" {
		rt.Fatalf("refused edit of an entity the test never edits: %s", r.Entity)
	}
	var ids []string
	if err := sw.db.Gorm(context.Background()).Table(table).Where("id = ?", r.EntityID).Pluck("household_id", &ids).Error; err != nil {
		rt.Fatal(err)
	}
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// visitOfficer is the officer who recorded a visit on the server, "" when
// the server has no such visit.
func (sw *smWorld) visitOfficer(rt *rapid.T, id string) string {
	var ids []string
	if err := sw.db.Gorm(context.Background()).Table("visits").Where("id = ?", id).Pluck("officer_id", &ids).Error; err != nil {
		rt.Fatal(err)
	}
	if len(ids) == 0 {
		return ""
	}
	return ids[0]
}

// mutationStatus is the server's verdict on a mutation, "" when it has none.
func (sw *smWorld) mutationStatus(rt *rapid.T, d *smDevice, mutationID string) string {
	var st []string
	err := sw.db.Gorm(context.Background()).Raw(
		`SELECT status FROM device_mutations WHERE device_id = ? AND mutation_id = ?`, d.serverID, mutationID).Scan(&st).Error
	if err != nil {
		rt.Fatal(err)
	}
	if len(st) == 0 {
		return ""
	}
	return st[0]
}

// reopen closes the device's store and opens it again from disk, as an
// app started after being killed would.
func (d *smDevice) reopen(rt *rapid.T) {
	d.c.Close()
	o := d.opts
	o.BaseURL = "" // the stored one, which a restart may have changed
	c, err := client.Open(context.Background(), d.dir, o)
	if err != nil {
		rt.Fatalf("%s: reopen: %v", d.name, err)
	}
	d.c = c
}

func (d *smDevice) pending(rt *rapid.T) []client.PendingMutation {
	ps, err := d.c.Pending(context.Background())
	if err != nil {
		rt.Fatal(err)
	}
	return ps
}

// noteIssued records the mutation the last edit appended (the outbox is in
// order, so it is the last entry) and returns its id.
func (d *smDevice) noteIssued(rt *rapid.T) string {
	ps := d.pending(rt)
	if len(ps) == 0 {
		rt.Fatalf("%s: an edit left the outbox empty", d.name)
	}
	m := ps[len(ps)-1].MutationID
	if d.issued[m] {
		rt.Fatalf("%s: the edit added nothing to the outbox", d.name)
	}
	d.issued[m] = true
	return m
}

func (d *smDevice) localHouseholds(rt *rapid.T) []string {
	hs, err := d.c.Households(context.Background())
	if err != nil {
		rt.Fatal(err)
	}
	ids := []string{}
	for _, h := range hs {
		ids = append(ids, h.ID)
	}
	sort.Strings(ids)
	return ids
}

func (d *smDevice) localVisits(rt *rapid.T) []string {
	vs, err := d.c.Visits(context.Background(), "")
	if err != nil {
		rt.Fatal(err)
	}
	ids := []string{}
	for _, v := range vs {
		ids = append(ids, v.ID)
	}
	sort.Strings(ids)
	return ids
}

func (d *smDevice) randomHousehold(rt *rapid.T) string {
	hs := d.localHouseholds(rt)
	if len(hs) == 0 {
		return ""
	}
	return rapid.SampledFrom(hs).Draw(rt, "household_id")
}

func (d *smDevice) randomVisit(rt *rapid.T) string {
	vs := d.localVisits(rt)
	if len(vs) == 0 {
		return ""
	}
	return rapid.SampledFrom(vs).Draw(rt, "visit_id")
}

func common(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
