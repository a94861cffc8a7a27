package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"github.com/doorstep-dev/doorstep/server/auth"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
	"github.com/doorstep-dev/doorstep/syncproto/client"
)

// doorstep sim is a load generator built on the reference client: many
// simulated devices, each with its own local store, doing offline edits and
// syncing at once against a running server.

const simSynopsis = `sim --server URL [--devices N] [--officers N] [--rounds N | --duration D] [flags]

Accounts, either:
  --provision --database-url URL   create (once) the sim branch SIM, officers
                                   sim-officer-0001.. and their households in the
                                   server's database; the generated password is
                                   kept in <home>/sim-password (mode 0600)
  --users a,b,c                    use existing officer accounts; the password
                                   comes from DOORSTEP_SIM_PASSWORD or stdin
                                   (e.g. the demo's officer1,officer2,officer3)

Devices i = 1..N sign in as officer ((i-1) mod officers)+1 and keep their local
stores in --home, so a second run reuses the sessions.`

type simConfig struct {
	server         string
	devices        int
	officers       int
	rounds         int
	duration       time.Duration
	edits          int
	home           string
	provision      bool
	databaseURL    string
	dataDir        string
	perOfficer     int
	users          string
	loginParallel  int
	serverPID      int
	pageLimit      int
	pushBatch      int
	skewMax        time.Duration
	think          time.Duration
	seed           uint64
	progressEvery  time.Duration
	requestTimeout time.Duration
}

func runSim(ctx context.Context, env *cmdEnv, args []string) error {
	fs := newFlags(env, "sim", simSynopsis)
	var sc simConfig
	fs.StringVar(&sc.server, "server", "", "URL of the running server, e.g. http://127.0.0.1:8080")
	fs.IntVar(&sc.devices, "devices", 100, "simulated devices")
	fs.IntVar(&sc.officers, "officers", 0, "officer accounts the devices share (default: one per device, or the number of --users)")
	fs.IntVar(&sc.rounds, "rounds", 3, "rounds per device: offline edits, then sync")
	fs.DurationVar(&sc.duration, "duration", 0, "run rounds for this long instead of a fixed number")
	fs.IntVar(&sc.edits, "edits", 4, "offline edits per device per round")
	fs.StringVar(&sc.home, "home", "./doorstep-sim", "directory for the devices' local stores")
	fs.BoolVar(&sc.provision, "provision", false, "create the sim officers and households in the server's database")
	fs.StringVar(&sc.databaseURL, "database-url", os.Getenv("DOORSTEP_DATABASE_URL"), "with --provision: the server's postgres:// URL (empty: the embedded SQLite in --data-dir)")
	fs.StringVar(&sc.dataDir, "data-dir", envOr("DOORSTEP_DATA_DIR", "./doorstep-data"), "with --provision and no --database-url: the server's data directory")
	fs.IntVar(&sc.perOfficer, "households-per-officer", 20, "with --provision: households per officer")
	fs.StringVar(&sc.users, "users", "", "comma-separated existing officer usernames (instead of --provision)")
	fs.IntVar(&sc.loginParallel, "login-concurrency", 4, "devices signing in at once (password hashing is deliberately slow)")
	fs.IntVar(&sc.serverPID, "server-pid", 0, "PID of the server process, to report its peak memory (Linux)")
	fs.IntVar(&sc.pageLimit, "page-limit", 0, "pull page size (default: the client's)")
	fs.IntVar(&sc.pushBatch, "push-batch", 0, "mutations per push (default: the client's)")
	fs.DurationVar(&sc.skewMax, "clock-skew", 0, "give each device a clock off by up to ± this much, e.g. 48h")
	fs.DurationVar(&sc.think, "think", 0, "pause up to this long (random) between a device's rounds")
	fs.Uint64Var(&sc.seed, "seed", 1, "random seed for the edits")
	fs.DurationVar(&sc.progressEvery, "progress-every", 0, "progress line interval (default: 250ms on a terminal, 5s otherwise)")
	fs.DurationVar(&sc.requestTimeout, "request-timeout", 2*time.Minute, "HTTP timeout of one request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("sim: unexpected argument %q", fs.Arg(0))
	}
	if sc.server == "" {
		return errors.New("sim: --server is required")
	}
	if sc.devices <= 0 || sc.rounds < 0 || sc.edits < 0 {
		return errors.New("sim: --devices must be positive, --rounds and --edits not negative")
	}
	if sc.provision == (sc.users != "") {
		return errors.New("sim: give either --provision or --users")
	}
	if err := os.MkdirAll(sc.home, 0o700); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	usernames, password, provInfo, err := simAccounts(ctx, env, &sc)
	if err != nil {
		return err
	}
	s := newSim(env, sc, usernames, password)
	defer s.close()
	return s.run(ctx, provInfo)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// simAccounts provisions or reads the officer accounts and their password.
func simAccounts(ctx context.Context, env *cmdEnv, sc *simConfig) ([]string, string, string, error) {
	if !sc.provision {
		users := splitUsers(sc.users)
		if len(users) == 0 {
			return nil, "", "", errors.New("sim: --users is empty")
		}
		pw := os.Getenv("DOORSTEP_SIM_PASSWORD")
		if pw == "" {
			if f, ok := env.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				fmt.Fprint(env.stderr, "Password of the sim accounts: ")
				b, err := term.ReadPassword(int(f.Fd()))
				fmt.Fprintln(env.stderr)
				if err != nil {
					return nil, "", "", err
				}
				pw = string(b)
			} else {
				line, _ := bufio.NewReader(env.stdin).ReadString('\n')
				pw = strings.TrimRight(line, "\r\n")
			}
		}
		if pw == "" {
			return nil, "", "", errors.New("sim: no password (set DOORSTEP_SIM_PASSWORD or pipe it on stdin)")
		}
		if sc.officers <= 0 || sc.officers > len(users) {
			sc.officers = len(users)
		}
		return users[:sc.officers], pw, "", nil
	}
	if sc.officers <= 0 {
		sc.officers = sc.devices
	}
	pwFile := filepath.Join(sc.home, "sim-password")
	reset := false
	raw, err := os.ReadFile(pwFile)
	pw := strings.TrimSpace(string(raw))
	if err != nil || pw == "" {
		var b [18]byte
		rand.Read(b[:])
		pw = hex.EncodeToString(b[:])
		if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
			return nil, "", "", fmt.Errorf("sim: %w", err)
		}
		reset = true
	}
	db, err := store.Open(ctx, store.Config{URL: sc.databaseURL, DataDir: sc.dataDir})
	if err != nil {
		return nil, "", "", fmt.Errorf("sim: %w", err)
	}
	defer db.Close()
	if n, err := db.Pending(ctx); err != nil || n > 0 {
		return nil, "", "", fmt.Errorf("sim: the database is not migrated (run doorstep migrate up or start the server first): %v", err)
	}
	// One hash for every sim officer: they share the password anyway, and
	// hashing a thousand times would only slow provisioning down.
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return nil, "", "", err
	}
	start := time.Now()
	res, err := db.ProvisionSim(ctx, store.SimProvision{
		Prefix: "sim-officer-", Officers: sc.officers, HouseholdsPerOfficer: sc.perOfficer, PasswordHash: hash, ResetPasswords: reset,
	})
	if err != nil {
		return nil, "", "", err
	}
	info := fmt.Sprintf("provision: %d officers and %d households created, %d households existed (%s)",
		res.CreatedOfficers, res.CreatedHouseholds, res.ExistingHouseholds, time.Since(start).Round(time.Millisecond))
	return res.Usernames, pw, info, nil
}

func splitUsers(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// --- the run -------------------------------------------------------------------

type simDevice struct {
	idx        int
	username   string
	c          *client.Client
	rng        *mrand.Rand
	households []string
	visits     []string
	product    string
}

type sim struct {
	env      *cmdEnv
	cfg      simConfig
	users    []string
	password string
	http     *http.Client
	devices  []*simDevice

	requests    atomic.Int64
	failedTries atomic.Int64 // attempts answered 5xx/429 or lost on the network
	clientErrs  atomic.Int64 // attempts answered 4xx, but for expired tokens
	expired     atomic.Int64 // attempts answered 401 token_expired (then refreshed)
	done        atomic.Int64 // syncs finished in the current phase
	total       atomic.Int64 // syncs planned in the current phase
	phaseName   atomic.Value

	mu      sync.Mutex
	lat     map[string][]time.Duration // per request path
	phases  []*simPhase
	errSeen map[string]int
	totals  client.SyncReport
	diverge int

	before, after map[string]*serverHist // the server's histograms around the run
}

type simPhase struct {
	name   string
	syncs  []time.Duration
	failed int
	wall   time.Duration
}

func newSim(env *cmdEnv, cfg simConfig, users []string, password string) *sim {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        cfg.devices + 16,
		MaxIdleConnsPerHost: cfg.devices + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // the client negotiates gzip itself
	}
	return &sim{
		env: env, cfg: cfg, users: users, password: password,
		http: &http.Client{Transport: tr, Timeout: cfg.requestTimeout},
		lat:  map[string][]time.Duration{}, errSeen: map[string]int{},
	}
}

func (s *sim) close() {
	for _, d := range s.devices {
		if d != nil && d.c != nil {
			d.c.Close()
		}
	}
	s.http.CloseIdleConnections()
}

func (s *sim) onRequest(ri client.RequestInfo) {
	s.requests.Add(1)
	switch {
	case ri.Status == 0 || ri.Status >= 500 || ri.Status == http.StatusTooManyRequests:
		s.failedTries.Add(1)
	case ri.Code == syncproto.CodeTokenExpired:
		// Part of the protocol: the client refreshes and retries.
		s.expired.Add(1)
	case ri.Status >= 400:
		s.clientErrs.Add(1)
	}
	if ri.Status >= 200 && ri.Status < 300 {
		s.mu.Lock()
		s.lat[ri.Path] = append(s.lat[ri.Path], ri.Duration)
		s.mu.Unlock()
	}
	if ri.Err != nil && ri.Code != syncproto.CodeTokenExpired {
		s.noteErr(strings.TrimPrefix(ri.Path, "/api/v1/") + ": " + shortErr(ri.Err))
	}
}

func shortErr(err error) string {
	msg := err.Error()
	if len(msg) > 120 {
		msg = msg[:120] + "…"
	}
	return msg
}

func (s *sim) noteErr(msg string) {
	s.mu.Lock()
	s.errSeen[msg]++
	s.mu.Unlock()
}

func (s *sim) run(ctx context.Context, provInfo string) error {
	cfg := s.cfg
	w := s.env.stdout
	fmt.Fprintf(w, "doorstep sim: %d devices, %d officers, server %s\n", cfg.devices, len(s.users), cfg.server)
	if provInfo != "" {
		fmt.Fprintln(w, provInfo)
	}
	start := time.Now()
	if err := s.openAndLogin(ctx); err != nil {
		return err
	}
	fmt.Fprintf(w, "login: %d devices ready (%s)\n", len(s.devices), time.Since(start).Round(time.Millisecond))

	before, err := s.scrapeServer(ctx)
	if err != nil {
		fmt.Fprintf(s.env.stderr, "note: cannot read the server's /metrics (%v); only client-side figures follow\n", err)
	}
	stop := s.progress(ctx)
	defer stop()
	s.phase(ctx, "initial", func(ctx context.Context, d *simDevice) error { return s.syncOnce(ctx, d, false) }, 1)
	if cfg.duration > 0 {
		deadline := time.Now().Add(cfg.duration)
		s.phase(ctx, "rounds", func(ctx context.Context, d *simDevice) error {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if err := s.round(ctx, d); err != nil {
					return err
				}
			}
			return nil
		}, 0)
	} else if cfg.rounds > 0 {
		s.phase(ctx, "rounds", func(ctx context.Context, d *simDevice) error {
			for r := 0; r < cfg.rounds; r++ {
				if err := s.round(ctx, d); err != nil {
					return err
				}
			}
			return nil
		}, cfg.rounds)
	}
	// Quiesce: every device sends what is left and pulls what the others
	// sent; only then is the server's state stable for the digest check.
	s.phase(ctx, "final", func(ctx context.Context, d *simDevice) error { return s.syncOnce(ctx, d, false) }, 1)
	s.phase(ctx, "digest", func(ctx context.Context, d *simDevice) error { return s.syncOnce(ctx, d, true) }, 1)
	stop()
	if before != nil {
		s.after, _ = s.scrapeServer(ctx)
		s.before = before
	}
	return s.summary(time.Since(start))
}

func (s *sim) openAndLogin(ctx context.Context) error {
	s.devices = make([]*simDevice, s.cfg.devices)
	sem := make(chan struct{}, max(1, s.cfg.loginParallel))
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for i := range s.devices {
		d := &simDevice{idx: i + 1, username: s.users[i%len(s.users)], rng: mrand.New(mrand.NewPCG(s.cfg.seed, uint64(i)))}
		s.devices[i] = d
		skew := time.Duration(0)
		if s.cfg.skewMax > 0 {
			skew = time.Duration(d.rng.Int64N(2*int64(s.cfg.skewMax)+1)) - s.cfg.skewMax
		}
		c, err := client.Open(ctx, filepath.Join(s.cfg.home, fmt.Sprintf("device-%04d", d.idx)), client.Options{
			BaseURL: s.cfg.server, HTTP: s.http, Clock: func() time.Time { return time.Now().Add(skew) },
			Log: slog.New(slog.NewTextHandler(io.Discard, nil)), AppVersion: "doorstep-sim",
			PageLimit: s.cfg.pageLimit, PushBatch: s.cfg.pushBatch, DigestEvery: -1, OnRequest: s.onRequest,
			BackoffBase: 200 * time.Millisecond, BackoffMax: 5 * time.Second, MaxAttempts: 8,
		})
		if err != nil {
			return fmt.Errorf("sim: device %d: %w", d.idx, err)
		}
		d.c = c
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			sess, err := c.Session(ctx)
			if err == nil && sess.SignedIn && sess.Username == d.username {
				return
			}
			if err == nil {
				_, err = c.Login(ctx, d.username, s.password, fmt.Sprintf("sim device %04d", d.idx))
			}
			if err != nil {
				once.Do(func() { firstErr = fmt.Errorf("sim: device %d cannot sign in as %s: %w", d.idx, d.username, err) })
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// phase runs fn on every device at once and records how each went.
func (s *sim) phase(ctx context.Context, name string, fn func(context.Context, *simDevice) error, syncsPerDevice int) {
	p := &simPhase{name: name}
	s.mu.Lock()
	s.phases = append(s.phases, p)
	s.mu.Unlock()
	s.phaseName.Store(name)
	s.done.Store(0)
	s.total.Store(int64(syncsPerDevice * len(s.devices)))
	start := time.Now()
	var wg sync.WaitGroup
	for _, d := range s.devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx, d); err != nil {
				s.mu.Lock()
				p.failed++
				s.mu.Unlock()
				s.noteErr(name + ": " + shortErr(err))
			}
		}()
	}
	wg.Wait()
	p.wall = time.Since(start)
}

// round makes offline edits, then syncs.
func (s *sim) round(ctx context.Context, d *simDevice) error {
	for e := 0; e < s.cfg.edits; e++ {
		if err := s.edit(ctx, d); err != nil {
			return fmt.Errorf("edit: %w", err)
		}
	}
	if err := s.syncOnce(ctx, d, false); err != nil {
		return err
	}
	if s.cfg.think > 0 {
		t := time.NewTimer(time.Duration(d.rng.Int64N(int64(s.cfg.think))))
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

func (s *sim) syncOnce(ctx context.Context, d *simDevice, digest bool) error {
	start := time.Now()
	rep, err := d.c.SyncWith(ctx, client.SyncOptions{Digest: digest})
	took := time.Since(start)
	s.done.Add(1)
	s.mu.Lock()
	p := s.phases[len(s.phases)-1]
	p.syncs = append(p.syncs, took)
	s.totals.Pushed += rep.Pushed
	s.totals.Accepted += rep.Accepted
	s.totals.Merged += rep.Merged
	s.totals.Rejected += rep.Rejected
	s.totals.Conflicts += rep.Conflicts
	s.totals.Pulled += rep.Pulled
	s.totals.Unanswered += rep.Unanswered
	if digest && (rep.Diverged || !rep.DigestSent) && err == nil {
		s.diverge++
	}
	for _, r := range rep.Rejections {
		s.errSeen["rejected "+r.Entity+": "+r.Code]++
	}
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.refreshLocal(ctx, d)
}

// refreshLocal reloads what the device's edits pick from.
func (s *sim) refreshLocal(ctx context.Context, d *simDevice) error {
	hs, err := d.c.Households(ctx)
	if err != nil {
		return err
	}
	d.households = d.households[:0]
	for _, h := range hs {
		d.households = append(d.households, h.ID)
	}
	vs, err := d.c.Visits(ctx, "")
	if err != nil {
		return err
	}
	d.visits = d.visits[:0]
	for _, v := range vs {
		if v.Status == syncproto.VisitRecorded && v.OfficerID != "" {
			d.visits = append(d.visits, v.ID)
		}
	}
	if d.product == "" {
		ps, err := d.c.Products(ctx)
		if err != nil {
			return err
		}
		for _, p := range ps {
			if p.Active {
				d.product = p.ID
				break
			}
		}
	}
	return nil
}

var simNotes = []string{"家中养猪 12 头，长势良好", "户主外出务工，配偶在家", "新建猪圈，需要资金", "老人慢性病，按时服药", "种植柑橘 5 亩", "孩子在县城读高中"}

// edit makes one random offline edit of the kinds an officer makes.
func (s *sim) edit(ctx context.Context, d *simDevice) error {
	if len(d.households) == 0 {
		return nil
	}
	hh := d.households[d.rng.IntN(len(d.households))]
	note := simNotes[d.rng.IntN(len(simNotes))]
	switch k := d.rng.IntN(100); {
	case k < 50:
		lat, lng, acc := 28.4+d.rng.Float64()/10, 108.9+d.rng.Float64()/10, 5+d.rng.Float64()*20
		outcomes := []string{syncproto.OutcomeVisited, syncproto.OutcomeVisited, syncproto.OutcomeVisited, syncproto.OutcomeAbsent, syncproto.OutcomeRefused}
		id, err := d.c.CreateVisit(ctx, client.VisitInput{HouseholdID: hh, Outcome: outcomes[d.rng.IntN(len(outcomes))],
			Notes: note, Situation: "生活稳定", Lat: &lat, Lng: &lng, AccuracyM: &acc})
		if err == nil {
			d.visits = append(d.visits, id)
		}
		return err
	case k < 65 && len(d.visits) > 0:
		id := d.visits[d.rng.IntN(len(d.visits))]
		n := note + "（补充）"
		return d.c.UpdateVisit(ctx, id, client.VisitPatch{Notes: &n})
	case k < 80:
		labor := d.rng.IntN(2) == 0
		n := note
		return d.c.UpdateHousehold(ctx, hh, client.HouseholdPatch{HasLabor: &labor, SituationNotes: &n})
	case k < 93:
		_, err := d.c.CreateNeed(ctx, client.NeedInput{HouseholdID: hh, Purpose: "购买仔猪", AmountFen: int64(1000+d.rng.IntN(49000)) * 100, Notes: note})
		return err
	default:
		if d.product == "" {
			return nil
		}
		id, err := d.c.CreateLoan(ctx, client.LoanInput{HouseholdID: hh, ProductID: d.product, AmountFen: int64(5000+d.rng.IntN(45000)) * 100,
			TermMonths: 6 + d.rng.IntN(31), Purpose: "扩大养殖"})
		if err != nil || d.rng.IntN(2) == 0 {
			return err
		}
		return d.c.SubmitLoan(ctx, id)
	}
}

// --- progress and summary ------------------------------------------------------

func (s *sim) progress(ctx context.Context) func() {
	tty := false
	if f, ok := s.env.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		tty = true
	}
	every := s.cfg.progressEvery
	if every <= 0 {
		every = 5 * time.Second
		if tty {
			every = 250 * time.Millisecond
		}
	}
	done := make(chan struct{})
	var stopped sync.Once
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				if tty {
					fmt.Fprintln(s.env.stderr)
				}
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			name, _ := s.phaseName.Load().(string)
			n, total := s.done.Load(), s.total.Load()
			line := s.bar(name, n, total, time.Since(start))
			if tty {
				fmt.Fprintf(s.env.stderr, "\r%s\x1b[K", line)
			} else {
				fmt.Fprintln(s.env.stderr, line)
			}
		}
	}()
	return func() {
		stopped.Do(func() {
			close(done)
			wg.Wait()
		})
	}
}

func (s *sim) bar(name string, n, total int64, elapsed time.Duration) string {
	const width = 30
	frac := 0.0
	if total > 0 {
		frac = math.Min(1, float64(n)/float64(total))
	}
	filled := int(frac * width)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	count := strconv.FormatInt(n, 10)
	if total > 0 {
		count += "/" + strconv.FormatInt(total, 10)
	}
	return fmt.Sprintf("%-8s [%s] %s syncs  requests %d  failed tries %d  %s",
		name, bar, count, s.requests.Load(), s.failedTries.Load(), elapsed.Round(time.Second))
}

func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64)
}

func (s *sim) summary(wall time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.env.stdout
	fmt.Fprintf(w, "\nphase     syncs  failed  wall      p50 ms   p95 ms   p99 ms   max ms\n")
	failed := 0
	for _, p := range s.phases {
		sort.Slice(p.syncs, func(i, j int) bool { return p.syncs[i] < p.syncs[j] })
		failed += p.failed
		fmt.Fprintf(w, "%-8s  %5d  %6d  %-8s  %7s  %7s  %7s  %7s\n", p.name, len(p.syncs), p.failed, p.wall.Round(time.Millisecond),
			ms(pct(p.syncs, 50)), ms(pct(p.syncs, 95)), ms(pct(p.syncs, 99)), ms(pct(p.syncs, 100)))
	}
	fmt.Fprintf(w, "\nrequest           count    p50 ms   p95 ms   p99 ms   max ms\n")
	paths := make([]string, 0, len(s.lat))
	var all []time.Duration
	for p := range s.lat {
		paths = append(paths, p)
		all = append(all, s.lat[p]...)
	}
	sort.Strings(paths)
	for _, p := range paths {
		ds := s.lat[p]
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		fmt.Fprintf(w, "%-16s  %6d  %7s  %7s  %7s  %7s\n", strings.TrimPrefix(p, "/api/v1/"), len(ds), ms(pct(ds, 50)), ms(pct(ds, 95)), ms(pct(ds, 99)), ms(pct(ds, 100)))
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	fmt.Fprintf(w, "%-16s  %6d  %7s  %7s  %7s  %7s\n", "all", len(all), ms(pct(all, 50)), ms(pct(all, 95)), ms(pct(all, 99)), ms(pct(all, 100)))

	s.printServerView(w, s.before, s.after)

	t := s.totals
	fmt.Fprintf(w, "\nrequests: %d  (failed attempts retried or lost: %d, 4xx answers: %d, expired tokens refreshed: %d)\n",
		s.requests.Load(), s.failedTries.Load(), s.clientErrs.Load(), s.expired.Load())
	fmt.Fprintf(w, "mutations: %d pushed: %d accepted, %d merged, %d rejected; %d field conflicts; %d unanswered\n",
		t.Pushed, t.Accepted, t.Merged, t.Rejected, t.Conflicts, t.Unanswered)
	fmt.Fprintf(w, "changes pulled: %d\n", t.Pulled)
	fmt.Fprintf(w, "divergence: %d of %d devices\n", s.diverge, len(s.devices))
	if s.cfg.serverPID > 0 {
		hwm, rss, err := procMemory(s.cfg.serverPID)
		if err != nil {
			fmt.Fprintf(w, "server memory: unavailable (%v)\n", err)
		} else {
			fmt.Fprintf(w, "server memory: peak %s (VmHWM), now %s (VmRSS)\n", hwm, rss)
		}
	}
	fmt.Fprintf(w, "wall time: %s\n", wall.Round(time.Millisecond))
	// Every answer a device had to recover from counts, not only the syncs
	// that finally failed.
	errs := failed + int(s.clientErrs.Load()) + int(s.failedTries.Load())
	fmt.Fprintf(w, "errors: %d  (failed syncs %d, 5xx/429/network attempts %d, 4xx answers %d)\n",
		errs, failed, s.failedTries.Load(), s.clientErrs.Load())
	if len(s.errSeen) > 0 {
		type kv struct {
			k string
			n int
		}
		var top []kv
		for k, n := range s.errSeen {
			top = append(top, kv{k, n})
		}
		sort.Slice(top, func(i, j int) bool { return top[i].n > top[j].n || (top[i].n == top[j].n && top[i].k < top[j].k) })
		fmt.Fprintln(w, "most frequent problems:")
		for i, e := range top {
			if i == 8 {
				break
			}
			fmt.Fprintf(w, "  %6d  %s\n", e.n, e.k)
		}
	}
	if errs > 0 || s.diverge > 0 {
		return fmt.Errorf("sim: %d errors, %d diverged devices", errs, s.diverge)
	}
	return nil
}

// procMemory reads VmHWM and VmRSS of a Linux process.
func procMemory(pid int) (hwm, rss string, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm = kib(v)
		}
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = kib(v)
		}
	}
	if hwm == "" {
		return "", "", errors.New("no VmHWM in /proc status")
	}
	return hwm, rss, sc.Err()
}

func kib(v string) string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return v
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return strings.TrimSpace(v)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/1024)
}

// --- the server's own view ---------------------------------------------------

// serverHist is the server's request-duration histogram for one route, read
// from its /metrics: cumulative bucket counts by upper bound, sum and count.
type serverHist struct {
	buckets map[float64]float64
	sum     float64
	count   float64
}

// scrapeServer reads the duration histograms of the sync routes. It lets the
// summary tell time spent in the server from time spent queueing on the way.
func (s *sim) scrapeServer(ctx context.Context) (map[string]*serverHist, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(s.cfg.server, "/")+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("/metrics answered %d", resp.StatusCode)
	}
	const name = "doorstep_http_request_duration_seconds"
	out := map[string]*serverHist{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || !strings.Contains(line, `route="/api/v1/sync/`) {
			continue
		}
		labels := line[strings.Index(line, "{")+1 : strings.Index(line, "}")]
		value, err := strconv.ParseFloat(strings.TrimSpace(line[strings.Index(line, "}")+1:]), 64)
		if err != nil {
			continue
		}
		route, le := "", ""
		for _, kv := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(kv, "=")
			v = strings.Trim(v, `"`)
			switch k {
			case "route":
				route = v
			case "le":
				le = v
			}
		}
		h := out[route]
		if h == nil {
			h = &serverHist{buckets: map[float64]float64{}}
			out[route] = h
		}
		switch {
		case strings.HasPrefix(line, name+"_bucket"):
			b := math.Inf(1)
			if le != "+Inf" {
				if b, err = strconv.ParseFloat(le, 64); err != nil {
					continue
				}
			}
			h.buckets[b] = value
		case strings.HasPrefix(line, name+"_sum"):
			h.sum = value
		case strings.HasPrefix(line, name+"_count"):
			h.count = value
		}
	}
	return out, sc.Err()
}

// quantileBound is the upper bound of the bucket holding quantile q of the
// requests between two scrapes.
func quantileBound(before, after *serverHist, q float64) float64 {
	var bounds []float64
	for b := range after.buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	n := after.count
	if before != nil {
		n -= before.count
	}
	for _, b := range bounds {
		c := after.buckets[b]
		if before != nil {
			c -= before.buckets[b]
		}
		if n > 0 && c >= q*n {
			return b
		}
	}
	return math.Inf(1)
}

func (s *sim) printServerView(w io.Writer, before, after map[string]*serverHist) {
	if after == nil {
		return
	}
	var routes []string
	for r := range after {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	fmt.Fprintf(w, "\nserver side       count    mean ms  p50 ≤ ms  p95 ≤ ms  p99 ≤ ms   (from the server's /metrics histogram)\n")
	for _, r := range routes {
		a, b := after[r], before[r]
		n, sum := a.count, a.sum
		if b != nil {
			n, sum = n-b.count, sum-b.sum
		}
		if n <= 0 {
			continue
		}
		bound := func(q float64) string {
			v := quantileBound(b, a, q)
			if math.IsInf(v, 1) {
				return ">max"
			}
			return strconv.FormatFloat(v*1000, 'f', 0, 64)
		}
		fmt.Fprintf(w, "%-16s  %6.0f  %9.1f  %8s  %8s  %8s\n", strings.TrimPrefix(r, "/api/v1/"), n, sum/n*1000, bound(.5), bound(.95), bound(.99))
	}
}
