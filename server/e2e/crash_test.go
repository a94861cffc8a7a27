package e2e_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
	"github.com/doorstep-dev/doorstep/syncproto/client"
)

// The server process is killed with SIGKILL in the middle of a device's push,
// twice: once while a push transaction is open (on Postgres, seen in
// pg_stat_activity; on SQLite, once the request body has gone out), and once
// after the server answered but before the device read the answer. After a
// restart on the same database the device syncs to the end, and every visit
// is stored exactly once, with its mutation-log row and its change rows.
func TestServerCrashDuringPush(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the server binary")
	}
	bin := buildDoorstep(t)
	t.Run("postgres", func(t *testing.T) {
		u := dbtest.NewPostgresURL(t) // fails rather than skips under DOORSTEP_TEST_REQUIRE_POSTGRES=1
		crashDuringPush(t, bin, u)
	})
	t.Run("sqlite", func(t *testing.T) { crashDuringPush(t, bin, "") })
}

const crashVisits = 1500

func crashDuringPush(t *testing.T, bin, dbURL string) {
	ctx := context.Background()
	dataDir := t.TempDir()
	secretsFile := filepath.Join(t.TempDir(), "secrets.json")
	openDB := func() *store.DB {
		t.Helper()
		db, err := store.Open(ctx, store.Config{URL: dbURL, DataDir: dataDir})
		if err != nil {
			t.Fatalf("open database: %v", err)
		}
		return db
	}

	// Seed, then close: the server process owns the database while it runs.
	db := openDB()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := testenv.Seed(ctx, db); err != nil {
		t.Fatal(err)
	}
	hh, err := db.CreateSimHouseholds(ctx, testenv.Officer1, "CRASH", 20)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	srv := &serverProc{t: t, bin: bin, addr: freeAddr(t), dbURL: dbURL, dataDir: dataDir, secrets: secretsFile, logPath: filepath.Join(t.TempDir(), "server.log")}
	t.Cleanup(srv.stop)
	srv.start()

	kt := &killTransport{base: http.DefaultTransport.(*http.Transport).Clone()}
	if dbURL != "" {
		kt.stall = newPGStall(t, dbURL)
	}
	c, err := client.Open(ctx, t.TempDir(), client.Options{
		BaseURL:     srv.url(),
		HTTP:        &http.Client{Transport: kt, Timeout: 60 * time.Second},
		PushBatch:   200,
		MaxAttempts: 2,
		BackoffBase: time.Millisecond,
		BackoffMax:  5 * time.Millisecond,
		DigestEvery: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, testenv.Officer1, testenv.Password, "crash test"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	// A long day offline.
	created := map[string]string{} // visit id → household id
	for i := 0; i < crashVisits; i++ {
		h := hh[i%len(hh)]
		id, err := c.CreateVisit(ctx, client.VisitInput{HouseholdID: h, Outcome: syncproto.OutcomeVisited, Notes: fmt.Sprintf("第 %d 次走访", i)})
		if err != nil {
			t.Fatal(err)
		}
		created[id] = h
	}
	pending, err := c.Pending(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != crashVisits {
		t.Fatalf("outbox holds %d mutations, want %d", len(pending), crashVisits)
	}
	mutationOf := map[string]string{} // mutation id → visit id
	for _, p := range pending {
		if p.Entity != syncproto.EntityVisit || created[p.EntityID] == "" {
			t.Fatalf("unexpected outbox entry %s %s", p.Entity, p.EntityID)
		}
		mutationOf[p.MutationID] = p.EntityID
	}

	// Crash 1: the second push of the sync, while its transaction is open.
	kt.arm(2, killInTransaction, srv.kill)
	if rep, err := syncInBackground(ctx, c); err == nil {
		t.Fatalf("sync succeeded although the server was killed: %+v", rep)
	}
	if !kt.fired() {
		t.Fatal("the kill never fired")
	}
	t.Logf("crash 1: %s", kt.outcome())
	srv.start()
	db = openDB()
	applied := checkConsistent(t, db, created, mutationOf)
	db.Close()
	switch {
	case dbURL != "" && applied != 200:
		// The second push was killed inside its transaction: only the first
		// batch may be there.
		t.Fatalf("after crash 1 the server holds %d applied mutations, want the first batch of 200", applied)
	case applied != 200 && applied != 400:
		t.Fatalf("after crash 1 the server holds %d applied mutations; want whole batches: 200 (before commit) or 400 (after)", applied)
	}
	t.Logf("after crash 1: %d mutations applied", applied)

	// Crash 2: the first push of the next sync is answered, then the server
	// dies before the device reads the answer.
	kt.stall = nil
	kt.arm(kt.pushCount()+1, killAfterAnswer, srv.kill)
	if rep, err := syncInBackground(ctx, c); err == nil {
		t.Fatalf("sync succeeded although the server was killed: %+v", rep)
	}
	if !kt.fired() {
		t.Fatal("the second kill never fired")
	}
	t.Logf("crash 2: %s", kt.outcome())
	srv.start()
	db = openDB()
	if n := checkConsistent(t, db, created, mutationOf); n != applied+200 {
		// The answered push was committed before the kill.
		t.Fatalf("after crash 2 the server holds %d applied mutations, want %d", n, applied+200)
	}
	db.Close()

	// Sync until nothing is pending (bounded).
	var rep client.SyncReport
	for i := 0; ; i++ {
		if i == 10 {
			t.Fatalf("still %d pending after 10 syncs", rep.Pending)
		}
		rep, err = c.Sync(ctx)
		if err != nil {
			t.Fatalf("sync after restart: %v", err)
		}
		if rep.Pending == 0 {
			break
		}
	}
	if rep.Rejected != 0 {
		t.Fatalf("mutations rejected after the crash: %+v", rep.Rejections)
	}
	rep, err = c.SyncWith(ctx, client.SyncOptions{Digest: true})
	if err != nil || !rep.DigestSent || rep.Diverged || rep.Pending != 0 {
		t.Fatalf("device has not converged: %+v %v", rep, err)
	}
	if n, err := c.PendingCount(ctx); err != nil || n != 0 {
		t.Fatalf("outbox holds %d (%v)", n, err)
	}
	srv.stop()

	db = openDB()
	defer db.Close()
	if n := checkConsistent(t, db, created, mutationOf); n != crashVisits {
		t.Fatalf("server applied %d mutations, want %d", n, crashVisits)
	}

	// The device's records equal the server's.
	type row struct {
		ID, HouseholdID, Outcome, Notes string
		Version                         int64
	}
	var rows []row
	if err := db.Gorm(ctx).Table("visits").Select("id, household_id, outcome, notes, version").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	local, err := c.Visits(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(local) != len(rows) {
		t.Fatalf("device holds %d visits, server %d", len(local), len(rows))
	}
	onServer := map[string]row{}
	for _, r := range rows {
		onServer[r.ID] = r
	}
	for _, v := range local {
		r, ok := onServer[v.ID]
		if !ok {
			t.Fatalf("device visit %s is not on the server", v.ID)
		}
		if v.HouseholdID != r.HouseholdID || v.Outcome != r.Outcome || v.Notes != r.Notes || v.Version != r.Version || v.Version == 0 {
			t.Fatalf("visit %s differs: device %+v, server %+v", v.ID, v, r)
		}
	}
}

// checkConsistent asserts that no mutation is half applied and none twice,
// and returns how many of the device's mutations the server holds.
func checkConsistent(t *testing.T, db *store.DB, created, mutationOf map[string]string) int {
	t.Helper()
	ctx := context.Background()
	type mrow struct {
		MutationID, Entity, EntityID, Status string
	}
	var ms []mrow
	if err := db.Gorm(ctx).Table("device_mutations").Select("mutation_id, entity, entity_id, status").Find(&ms).Error; err != nil {
		t.Fatal(err)
	}
	logged := map[string]bool{} // visit ids with a mutation-log row
	for _, m := range ms {
		vid, ok := mutationOf[m.MutationID]
		if !ok {
			t.Fatalf("device_mutations holds unknown mutation %s", m.MutationID)
		}
		if m.Entity != syncproto.EntityVisit || m.EntityID != vid || m.Status != "accepted" {
			t.Fatalf("mutation %s logged as %+v, want an accepted visit %s", m.MutationID, m, vid)
		}
		if logged[vid] {
			t.Fatalf("visit %s has two mutation-log rows", vid)
		}
		logged[vid] = true
	}
	type vrow struct{ ID, HouseholdID string }
	var vs []vrow
	if err := db.Gorm(ctx).Table("visits").Select("id, household_id").Find(&vs).Error; err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, v := range vs {
		if created[v.ID] == "" {
			t.Fatalf("server holds visit %s the device never made", v.ID)
		}
		if created[v.ID] != v.HouseholdID {
			t.Fatalf("visit %s on household %s, made on %s", v.ID, v.HouseholdID, created[v.ID])
		}
		if seen[v.ID] {
			t.Fatalf("visit %s stored twice", v.ID)
		}
		seen[v.ID] = true
		if !logged[v.ID] {
			t.Fatalf("visit %s stored without its mutation-log row", v.ID)
		}
	}
	for vid := range logged {
		if !seen[vid] {
			t.Fatalf("mutation for visit %s logged but the visit is missing", vid)
		}
	}
	var changed []string
	if err := db.Gorm(ctx).Table("changes").Where("entity = ?", syncproto.EntityVisit).Distinct("entity_id").Pluck("entity_id", &changed).Error; err != nil {
		t.Fatal(err)
	}
	inLog := map[string]bool{}
	for _, id := range changed {
		if !seen[id] {
			t.Fatalf("change row for visit %s, which is not stored", id)
		}
		inLog[id] = true
	}
	for id := range seen {
		if !inLog[id] {
			t.Fatalf("visit %s stored without a change row", id)
		}
	}
	return len(vs)
}

func syncInBackground(ctx context.Context, c *client.Client) (client.SyncReport, error) {
	type result struct {
		rep client.SyncReport
		err error
	}
	ch := make(chan result, 1)
	go func() {
		rep, err := c.Sync(ctx)
		ch <- result{rep, err}
	}()
	r := <-ch
	return r.rep, r.err
}

// Kill points.
const (
	killInTransaction = iota + 1 // once the body is sent and (on Postgres) a push transaction is seen open
	killAfterAnswer              // once the server answered; the answer is thrown away
)

// killTransport forwards requests to the server and, on the armed push,
// kills the server process. The device never sees that push's answer.
type killTransport struct {
	base http.RoundTripper
	// stall, when set, makes the armed push wait inside its transaction
	// until the server is killed (Postgres).
	stall interface {
		hold() error
		wait(stop <-chan struct{}) bool
		release()
	}

	mu     sync.Mutex
	pushes int
	at     int
	mode   int
	kill   func()
	done   bool
	note   string
}

var errKilled = errors.New("test: server killed during this push")

func (k *killTransport) arm(at, mode int, kill func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.at, k.mode, k.kill, k.done, k.note = at, mode, kill, false, ""
}

func (k *killTransport) fired() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.done
}

func (k *killTransport) outcome() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.note
}

func (k *killTransport) pushCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.pushes
}

func (k *killTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path != "/api/v1/sync/push" {
		return k.base.RoundTrip(req)
	}
	k.mu.Lock()
	k.pushes++
	armed := !k.done && k.pushes == k.at
	mode, kill := k.mode, k.kill
	if armed {
		k.done = true
	}
	k.mu.Unlock()
	if !armed {
		return k.base.RoundTrip(req)
	}

	if mode == killAfterAnswer {
		resp, err := k.base.RoundTrip(req)
		if err != nil {
			return nil, err
		}
		kill()
		resp.Body.Close()
		k.setNote(fmt.Sprintf("killed after the server answered %d", resp.StatusCode))
		return nil, errKilled
	}

	if k.stall != nil {
		if err := k.stall.hold(); err != nil {
			return nil, err
		}
		defer k.stall.release()
	}
	sent := make(chan struct{})
	returned := make(chan struct{})
	var answered atomic.Bool
	killed := make(chan struct{})
	if req.Body != nil {
		req.Body = &sentBody{r: req.Body, left: req.ContentLength, sent: sent}
	} else {
		close(sent)
	}
	go func() {
		defer close(killed)
		select {
		case <-sent:
		case <-returned:
		}
		switch {
		case k.stall != nil && k.stall.wait(returned):
			kill()
			k.setNote("killed while the push transaction was open (blocked on the change log)")
		default:
			kill()
			if answered.Load() {
				k.setNote("killed after the server answered")
			} else {
				k.setNote("killed once the request body was sent, before any answer")
			}
		}
	}()
	resp, err := k.base.RoundTrip(req)
	if err == nil {
		answered.Store(true)
	}
	close(returned)
	<-killed
	if err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return nil, errKilled
}

func (k *killTransport) setNote(s string) {
	k.mu.Lock()
	k.note = s
	k.mu.Unlock()
}

// sentBody closes sent once the transport has read the whole body.
type sentBody struct {
	r    io.ReadCloser
	left int64 // bytes still to read when the length is known, else -1
	sent chan struct{}
	once sync.Once
}

func (b *sentBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if b.left > 0 {
		b.left -= int64(n)
	}
	if err == io.EOF || b.left == 0 {
		b.once.Do(func() { close(b.sent) })
	}
	return n, err
}

func (b *sentBody) Close() error {
	b.once.Do(func() { close(b.sent) })
	return b.r.Close()
}

// pgStall holds the change log locked from the test while the armed push
// runs: the push writes its visits and mutation-log rows, then waits for the
// lock inside its transaction, where wait sees it (pg_stat_activity) and the
// server is killed. The lock is released after the kill, so the orphaned
// transaction can only roll back.
type pgStall struct {
	db   *sql.DB
	name string
	tx   *sql.Tx
}

func newPGStall(t *testing.T, dbURL string) *pgStall {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return &pgStall{db: db, name: strings.TrimPrefix(u.Path, "/")}
}

func (p *pgStall) hold() error {
	tx, err := p.db.Begin()
	if err != nil {
		return fmt.Errorf("test: begin: %w", err)
	}
	if _, err := tx.Exec(`LOCK TABLE changes IN EXCLUSIVE MODE`); err != nil {
		tx.Rollback()
		return fmt.Errorf("test: lock changes: %w", err)
	}
	p.tx = tx
	return nil
}

func (p *pgStall) release() {
	if p.tx != nil {
		p.tx.Rollback()
		p.tx = nil
	}
}

// wait polls until a session of the test database is blocked on the lock
// while inserting into the change log with a transaction id (it has written),
// or stop closes, or 30 s pass.
func (p *pgStall) wait(stop <-chan struct{}) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-stop:
			return false
		default:
		}
		var n int
		err := p.db.QueryRow(`SELECT COUNT(*) FROM pg_stat_activity
			WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL
			AND wait_event_type = 'Lock' AND query ~* '^\s*insert into changes\M'`, p.name).Scan(&n)
		if err != nil {
			return false
		}
		if n > 0 {
			return true
		}
	}
	return false
}

// serverProc is `doorstep serve` as a child process.
type serverProc struct {
	t                                  *testing.T
	bin, addr, dbURL, dataDir, secrets string
	logPath                            string
	cmd                                *exec.Cmd
	exited                             chan struct{}
	mu                                 sync.Mutex
	running                            bool
}

func (s *serverProc) url() string { return "http://" + s.addr }

func (s *serverProc) start() {
	t := s.t
	t.Helper()
	args := []string{"serve", "--listen", s.addr, "--data-dir", s.dataDir, "--secrets-file", s.secrets, "--report-close", "off", "--log-level", "warn"}
	if s.dbURL != "" {
		args = append(args, "--database-url", s.dbURL)
	}
	logf, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	s.mu.Lock()
	s.cmd, s.exited, s.running = cmd, exited, true
	s.mu.Unlock()

	// Ready when /readyz answers 200; bounded.
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("server exited before it was ready; log:\n%s", s.logTail())
		default:
		}
		resp, err := hc.Get(s.url() + "/readyz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready within 60 s; log:\n%s", s.logTail())
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *serverProc) kill() {
	s.mu.Lock()
	cmd, exited, running := s.cmd, s.exited, s.running
	s.running = false
	s.mu.Unlock()
	if !running {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

func (s *serverProc) stop() { s.kill() }

func (s *serverProc) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func buildDoorstep(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "doorstep")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/doorstep-dev/doorstep/server/cmd/doorstep")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
