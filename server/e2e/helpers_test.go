package e2e_test

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
	"github.com/doorstep-dev/doorstep/syncproto/client"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// world is a running server with households assigned to officer1 and officer2.
type world struct {
	env  *testenv.Env
	db   *store.DB
	hh1  []string // officer1's households
	hh2  []string // officer2's households
	fpxd string   // the microloan product id
}

func newWorld(t *testing.T, db *store.DB, opts ...testenv.Option) *world {
	t.Helper()
	// No scheduled report closing in the background of sync tests.
	opts = append([]testenv.Option{testenv.WithConfig(func(c *config.Config) { c.ReportClose = "off" })}, opts...)
	env := testenv.New(t, db, opts...)
	ctx := context.Background()
	hh1, err := db.CreateSimHouseholds(ctx, testenv.Officer1, "E2E1", 4)
	if err != nil {
		t.Fatal(err)
	}
	hh2, err := db.CreateSimHouseholds(ctx, testenv.Officer2, "E2E2", 2)
	if err != nil {
		t.Fatal(err)
	}
	var p store.LoanProduct
	if err := db.Gorm(ctx).Where("code = ?", "FPXD").Take(&p).Error; err != nil {
		t.Fatal(err)
	}
	return &world{env: env, db: db, hh1: hh1, hh2: hh2, fpxd: p.ID}
}

// device opens a client in dir (a new temp dir when empty) against the world.
func (w *world) device(t *testing.T, dir string, o client.Options) *client.Client {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	if o.BaseURL == "" {
		o.BaseURL = w.env.URL
	}
	if o.BackoffBase == 0 {
		o.BackoffBase, o.BackoffMax = time.Millisecond, 20*time.Millisecond
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = 8
	}
	c, err := client.Open(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func login(t *testing.T, c *client.Client, user string) client.Session {
	t.Helper()
	s, err := c.Login(context.Background(), user, testenv.Password, "e2e "+user)
	if err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return s
}

func mustSync(t *testing.T, c *client.Client) client.SyncReport {
	t.Helper()
	rep, err := c.Sync(context.Background())
	if err != nil {
		t.Fatalf("sync: %v (report %+v)", err, rep)
	}
	return rep
}

// converged checks the device against the server with a digest.
func converged(t *testing.T, c *client.Client) {
	t.Helper()
	rep, err := c.SyncWith(context.Background(), client.SyncOptions{Digest: true})
	if err != nil {
		t.Fatalf("digest sync: %v", err)
	}
	if !rep.DigestSent || rep.Diverged || rep.Pending != 0 {
		t.Fatalf("device has not converged with the server: %+v", rep)
	}
}

func ids[T any](xs []T, id func(T) string) map[string]bool {
	m := map[string]bool{}
	for _, x := range xs {
		m[id(x)] = true
	}
	return m
}

func householdIDs(t *testing.T, c *client.Client) map[string]bool {
	t.Helper()
	hs, err := c.Households(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ids(hs, func(h syncproto.Household) string { return h.ID })
}

func countRows(t *testing.T, db *store.DB, table, where string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Gorm(context.Background()).Table(table).Where(where, args...).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// faultyTransport forwards every request to the real server and then, when
// told to, throws the answer away: the server has done the work, the device
// never hears of it. cut may also truncate the body midway.
type faultyTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	// decide is asked after the server answered: drop the whole answer, or
	// cut its body after n bytes (n > 0), or deliver it (0, false).
	decide func(path string, n int) (drop bool, cutAt int)
	calls  map[string]int
	drops  atomic.Int64
}

var errDropped = errors.New("test: connection reset after the server answered")

func (f *faultyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := f.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[req.URL.Path]++
	n := f.calls[req.URL.Path]
	f.mu.Unlock()
	drop, cut := false, 0
	if f.decide != nil {
		drop, cut = f.decide(req.URL.Path, n)
	}
	switch {
	case drop:
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		f.drops.Add(1)
		return nil, errDropped
	case cut > 0:
		f.drops.Add(1)
		resp.Body = &cutBody{r: resp.Body, left: cut}
	}
	return resp, nil
}

type cutBody struct {
	r    io.ReadCloser
	left int
}

func (c *cutBody) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errDropped
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= n
	return n, err
}

func (c *cutBody) Close() error { return c.r.Close() }

func isSync(path string) bool { return strings.HasPrefix(path, "/api/v1/sync/") }

func newRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("random seed %d", seed)
	return rand.New(rand.NewPCG(seed, 7))
}
