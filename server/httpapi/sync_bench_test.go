package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/doorstep-dev/doorstep/server/auth"
	"github.com/doorstep-dev/doorstep/server/httpapi"
	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Sync benchmarks on Postgres through the full HTTP path with real tokens
// (scripts/bench-sync.sh runs them and prints the figures). Figures are
// reported with b.ReportMetric; nothing here asserts a speed.
//
// The push benchmarks all write the same rows for a batch of 500 new visits:
// the visits, their 500 mutation-log rows and 500 change-log rows.
//
//   - BenchmarkPush500: the engine, over HTTP with auth.
//   - BenchmarkPushNaive: the same rows written one statement at a time
//     with gorm, no HTTP at all.
//   - BenchmarkCopyFrom: the same rows with pgx CopyFrom, the floor.
//
// All three run BENCH_SYNC_DEVICES devices (default 4) at once, each an
// officer pushing its own households (runDevices).

const benchBatch = 500

// benchWorld is a server over a fresh Postgres database with officers in
// the sim branch, each with their own households and a signed-in device:
// devices pushing at once never touch each other's households, as in the
// field.
type benchWorld struct {
	env     *testenv.Env
	url     string
	hh      [][]string // households of each officer
	tokens  []string   // one device per officer
	officer []string   // usernames
}

func newBenchWorld(b *testing.B, devices, households int) *benchWorld {
	b.Helper()
	ctx := context.Background()
	url := dbtest.NewPostgresURL(b)
	db, err := store.Open(ctx, store.Config{URL: url, MaxOpenConns: 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	env := testenv.New(b, db)
	hash, err := auth.HashPassword(testenv.Password)
	if err != nil {
		b.Fatal(err)
	}
	prov, err := db.ProvisionSim(ctx, store.SimProvision{Prefix: "bench-officer-", Officers: devices, HouseholdsPerOfficer: households, PasswordHash: hash})
	if err != nil {
		b.Fatal(err)
	}
	// Assigned long ago, so no benchmark visit is before its assignment.
	if err := db.Gorm(ctx).Exec(`UPDATE assignments SET assigned_at = assigned_at - interval '3 years'`).Error; err != nil {
		b.Fatal(err)
	}
	w := &benchWorld{env: env, url: url, officer: prov.Usernames}
	for i, name := range prov.Usernames {
		u := env.User(b, name)
		var ids []string
		if err := db.Gorm(ctx).Model(&store.Household{}).Where("officer_id = ?", u.ID).Order("id").Pluck("id", &ids).Error; err != nil {
			b.Fatal(err)
		}
		w.hh = append(w.hh, ids)
		w.tokens = append(w.tokens, env.Login(b, name, testenv.Password, fmt.Sprintf("bench-%d", i)).AccessToken)
	}
	return w
}

func benchDevices() int {
	if n, err := strconv.Atoi(os.Getenv("BENCH_SYNC_DEVICES")); err == nil && n > 0 {
		return n
	}
	return 4
}

// visitBatch is a push of n new visits with seqs from seq+1: ordinary
// visits, one per household per day, with GPS and notes that differ from
// visit to visit, lasting twenty minutes, so
// that the coverage checks the server runs on every pushed visit find
// nothing to flag, as for most real visits. k0 numbers the batch's first
// visit among the total visits the device pushes in the run; they are dated
// oldest first, ending yesterday, as a phone pushes its outbox in the order
// the visits were made.
func visitBatch(hh []string, seq int64, k0, n, total int) []byte {
	now := time.Now().UTC()
	days := (total-1)/len(hh) + 1
	ms := make([]syncproto.Mutation, n)
	for i := range ms {
		k := k0 + i
		day := time.Duration(days-k/len(hh)) * 24 * time.Hour
		start := now.Add(-day).Add(time.Duration(k%len(hh)) * time.Minute)
		// Time-ordered ids, as the reference client makes them.
		ms[i] = syncproto.Mutation{MutationID: uuid.Must(uuid.NewV7()).String(), Seq: seq + int64(i) + 1, Entity: syncproto.EntityVisit, Op: syncproto.OpCreate,
			EntityID: uuid.Must(uuid.NewV7()).String(), DeviceTime: start.Add(20 * time.Minute), Fields: map[string]json.RawMessage{
				"household_id": json.RawMessage(`"` + hh[k%len(hh)] + `"`),
				"outcome":      json.RawMessage(`"visited"`),
				"notes":        json.RawMessage(fmt.Sprintf(`"家中养猪 %d 头，母亲住院，需要周转资金"`, 5+k%40)),
				// A few metres apart from one visit to the next, as on foot.
				"lat":        json.RawMessage(fmt.Sprintf(`%.5f`, 28.45+float64(k%50)*0.00005)),
				"lng":        json.RawMessage(fmt.Sprintf(`%.5f`, 108.99+float64(k%30)*0.00005)),
				"accuracy_m": json.RawMessage(strconv.Itoa(5 + k%8)),
				"started_at": json.RawMessage(`"` + start.Format(time.RFC3339Nano) + `"`),
				"ended_at":   json.RawMessage(`"` + start.Add(20*time.Minute).Format(time.RFC3339Nano) + `"`),
			}}
	}
	b, _ := json.Marshal(syncproto.PushRequest{DeviceTime: now, PendingCount: n, Mutations: ms})
	return b
}

var benchClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func benchPost(b testing.TB, url, path, token string, body []byte) []byte {
	req, _ := http.NewRequest(http.MethodPost, url+path, bytesReader(body))
	req.Header.Set(syncproto.HeaderProtocol, "1")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := benchClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("%s: %d %s", path, resp.StatusCode, out)
	}
	return out
}

// BenchmarkPush500 pushes batches of 500 new visits through the full HTTP
// path with real tokens:
//
//   - app: the server as app.Build wires it, with the coverage checks that run
//     inside every push transaction (store flags on the pushed visits);
//   - engine: the same router and auth with the sync engine alone.
func BenchmarkPush500(b *testing.B) {
	b.Run("app", func(b *testing.B) {
		w := newBenchWorld(b, benchDevices(), 500)
		benchPush(b, w, w.env.URL)
	})
	b.Run("engine", func(b *testing.B) {
		w := newBenchWorld(b, benchDevices(), 500)
		benchPush(b, w, engineOnly(b, w.env))
	})
}

// engineOnly serves the app's router with a sync service that has no
// coverage hook.
func engineOnly(b *testing.B, env *testenv.Env) string {
	b.Helper()
	codec, err := pii.New(env.Secrets)
	if err != nil {
		b.Fatal(err)
	}
	a := env.App
	h, err := httpapi.New(httpapi.Deps{Config: a.Config, DB: a.DB, Log: a.Log, Metrics: prometheus.NewRegistry(), Auth: a.Auth,
		Sync: syncsvc.New(a.DB, syncsvc.Options{Log: a.Log, PII: codec}), Registry: a.Registry, Coverage: a.Coverage, Report: a.Report})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h.Handler())
	b.Cleanup(srv.Close)
	return srv.URL
}

func benchPush(b *testing.B, w *benchWorld, url string) {
	devices := len(w.tokens)
	// Bodies are built before the clock starts: the figure is the server's.
	bodies := make([][][]byte, devices)
	total := (b.N + devices - 1) / devices * benchBatch
	for i := 0; i < b.N; i++ {
		d := i % devices
		bodies[d] = append(bodies[d], visitBatch(w.hh[d], int64(len(bodies[d])*benchBatch), len(bodies[d])*benchBatch, benchBatch, total))
	}
	runDevices(b, devices, func(d, k int) error {
		out := benchPost(b, url, "/api/v1/sync/push", w.tokens[d], bodies[d][k])
		if bytes.Contains(out, []byte(`"rejected"`)) {
			return fmt.Errorf("a benchmark mutation was rejected: %.300s", out)
		}
		return nil
	})
}

// runDevices runs b.N batches spread over devices goroutines, batch k of
// device d being batch(d, k), and reports mutations/s over the lot. Every
// push benchmark runs through it, so the engine, the naive path and
// CopyFrom are compared at the same concurrency.
func runDevices(b *testing.B, devices int, batch func(d, k int) error) {
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for d := 0; d < devices; d++ {
		n := b.N / devices
		if d < b.N%devices {
			n++
		}
		wg.Add(1)
		go func(d, n int) {
			defer wg.Done()
			for k := 0; k < n; k++ {
				if err := batch(d, k); err != nil {
					b.Error(err)
					return
				}
			}
		}(d, n)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*benchBatch)/elapsed.Seconds(), "mutations/s")
	b.ReportMetric(float64(devices), "devices")
}

// BenchmarkPushNaive is what a straightforward handler does with the same
// batch of 500 new visits: one mutation at a time, each in its own
// transaction (its own exactly-once unit), looking up the mutation log and
// the household with gorm and inserting the visit, the log row and the
// change-log row one statement each. The "one-tx" variant keeps the same
// row-at-a-time statements but commits once per batch.
func BenchmarkPushNaive(b *testing.B) {
	for _, perMutation := range []bool{true, false} {
		name := "tx-per-mutation"
		if !perMutation {
			name = "one-tx"
		}
		b.Run(name, func(b *testing.B) {
			devices := benchDevices()
			w := newBenchWorld(b, devices, 500)
			ctx := context.Background()
			actors := make([]store.Actor, devices)
			for d := range actors {
				actors[d] = benchActor(b, w, d)
			}
			one := func(tx *store.Tx, d, k, seq int) error {
				a := actors[d]
				now := store.Now()
				mid := uuid.NewString()
				hh := w.hh[d][k%len(w.hh[d])]
				var logged int64
				if err := tx.Model(&store.DeviceMutation{}).Where("branch_id = ? AND device_id = ? AND mutation_id = ?", a.BranchID, a.DeviceID, mid).Count(&logged).Error; err != nil {
					return err
				}
				var h store.Household
				if err := a.ScopeHouseholds(tx.Table("households AS h").Select("h.*"), "h").Where("h.id = ?", hh).Take(&h).Error; err != nil {
					return err
				}
				lat, lng, acc := 28.45, 108.99, 8.0
				end := now.Add(20 * time.Minute)
				v := store.Visit{ID: uuid.NewString(), BranchID: a.BranchID, HouseholdID: hh, OfficerID: a.UserID, OutletID: h.OutletID, DeviceID: &a.DeviceID,
					Outcome: "visited", Notes: "家中养猪 20 头，母亲住院，需要周转资金", Lat: &lat, Lng: &lng, AccuracyM: &acc, StartedAt: now, EndedAt: &end,
					VisitedAt: now, ReceivedAt: now, Status: "recorded", Flags: "[]", FieldTimes: "{}", Version: 1, CreatedAt: now, UpdatedAt: now}
				if err := tx.Create(&v).Error; err != nil {
					return err
				}
				m := store.DeviceMutation{BranchID: a.BranchID, DeviceID: a.DeviceID, MutationID: mid, Seq: int64(seq),
					Entity: "visit", EntityID: v.ID, Status: "accepted", Result: `{"status":"accepted","version":1}`, ReceivedAt: now}
				if err := tx.Create(&m).Error; err != nil {
					return err
				}
				tx.RecordChange(store.Change{BranchID: a.BranchID, Entity: "visit", EntityID: v.ID, Op: store.OpUpsert, HouseholdID: hh})
				return nil
			}
			runDevices(b, devices, func(d, i int) error {
				if perMutation {
					for k := 0; k < benchBatch; k++ {
						if err := w.env.DB.Transact(ctx, func(tx *store.Tx) error { return one(tx, d, k, i*benchBatch+k+1) }); err != nil {
							return err
						}
					}
					return nil
				}
				return w.env.DB.Transact(ctx, func(tx *store.Tx) error {
					for k := 0; k < benchBatch; k++ {
						if err := one(tx, d, k, i*benchBatch+k+1); err != nil {
							return err
						}
					}
					return nil
				})
			})
		})
	}
}

// BenchmarkCopyFrom writes the same rows with pgx CopyFrom, one
// transaction per batch and one connection per device. The rows are built
// before the clock starts: the figure is the database's floor.
func BenchmarkCopyFrom(b *testing.B) {
	devices := benchDevices()
	w := newBenchWorld(b, devices, 500)
	ctx := context.Background()
	type rows struct{ visits, muts, changes [][]any }
	conns := make([]*pgx.Conn, devices)
	batches := make([][]rows, devices)
	for d := 0; d < devices; d++ {
		a := benchActor(b, w, d)
		conn, err := pgx.Connect(ctx, w.url)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { conn.Close(ctx) })
		conns[d] = conn
		for i := 0; i < (b.N+devices-1)/devices; i++ {
			now := store.Now()
			r := rows{make([][]any, benchBatch), make([][]any, benchBatch), make([][]any, benchBatch)}
			for k := 0; k < benchBatch; k++ {
				id := uuid.NewString()
				hh := w.hh[d][k%len(w.hh[d])]
				r.visits[k] = []any{id, a.BranchID, hh, a.UserID, a.DeviceID, "visited", "家中养猪 20 头，母亲住院，需要周转资金", 28.45, 108.99,
					now, now, now, "recorded", "[]", "{}", int64(1), now, now}
				r.muts[k] = []any{a.BranchID, a.DeviceID, uuid.NewString(), int64(i*benchBatch + k + 1), "visit", id, "accepted", `{"status":"accepted"}`, now}
				r.changes[k] = []any{a.BranchID, int64(1_000_000 + i*devices + d), int32(k), "visit", id, "upsert", hh, now}
			}
			batches[d] = append(batches[d], r)
		}
	}
	runDevices(b, devices, func(d, i int) error {
		r := batches[d][i]
		tx, err := conns[d].Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"visits"}, []string{"id", "branch_id", "household_id", "officer_id", "device_id", "outcome", "notes",
			"lat", "lng", "started_at", "visited_at", "received_at", "status", "flags", "field_times", "version", "created_at", "updated_at"}, pgx.CopyFromRows(r.visits)); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"device_mutations"}, []string{"branch_id", "device_id", "mutation_id", "seq", "entity", "entity_id",
			"status", "result", "received_at"}, pgx.CopyFromRows(r.muts)); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"changes"}, []string{"branch_id", "seq", "ord", "entity", "entity_id", "op", "household_id", "created_at"},
			pgx.CopyFromRows(r.changes)); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}

// benchActor is officer i with their device, as a token would name them.
func benchActor(b *testing.B, w *benchWorld, i int) store.Actor {
	b.Helper()
	ctx := context.Background()
	u := w.env.User(b, w.officer[i])
	var d store.Device
	if err := w.env.DB.Gorm(ctx).Where("user_id = ? AND client_device_id = ?", u.ID, fmt.Sprintf("bench-%d", i)).Take(&d).Error; err != nil {
		b.Fatal(err)
	}
	return store.Actor{UserID: u.ID, Role: u.Role, BranchID: u.BranchID, OrgUnitID: u.OrgUnitID, DeviceID: d.ID}
}

// BenchmarkReplay1000 replays a push of 1,000 already-applied mutations.
func BenchmarkReplay1000(b *testing.B) {
	w := newBenchWorld(b, 1, 500)
	body := visitBatch(w.hh[0], 0, 0, 1000, 1000)
	first := benchPost(b, w.env.URL, "/api/v1/sync/push", w.tokens[0], body)
	counts := func() string {
		var n [4]int64
		g := w.env.DB.Gorm(context.Background())
		g.Table("visits").Count(&n[0])
		g.Table("changes").Count(&n[1])
		g.Table("device_mutations").Count(&n[2])
		g.Table("conflicts").Count(&n[3])
		return fmt.Sprint(n)
	}
	before := counts()
	results := func(out []byte) string {
		var r struct{ Results json.RawMessage }
		if err := json.Unmarshal(out, &r); err != nil {
			b.Fatal(err)
		}
		return string(r.Results)
	}
	want := results(first)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out := benchPost(b, w.env.URL, "/api/v1/sync/push", w.tokens[0], body)
		b.StopTimer()
		if results(out) != want {
			b.Fatal("replay answered other results than the first push")
		}
		b.StartTimer()
	}
	b.StopTimer()
	if after := counts(); after != before {
		b.Fatalf("replay wrote: %s → %s", before, after)
	}
}

// pullAll pulls from an empty cursor (or the given one) until caught up.
func pullAllHTTP(b testing.TB, url, token, cursor string, limit int) (string, int) {
	n := 0
	for {
		body, _ := json.Marshal(syncproto.PullRequest{Cursor: cursor, Limit: limit, DeviceTime: time.Now().UTC()})
		var page syncproto.PullResponse
		if err := json.Unmarshal(benchPost(b, url, "/api/v1/sync/pull", token, body), &page); err != nil {
			b.Fatal(err)
		}
		n += len(page.Changes)
		cursor = page.Cursor
		if !page.HasMore {
			return cursor, n
		}
	}
}

// BenchmarkInitialPull is a full sync for an officer with 500 households
// and 5,000 visits, at the default page size and at the largest.
func BenchmarkInitialPull(b *testing.B) {
	w := newBenchWorld(b, 1, 500)
	for i := 0; i < 5; i++ {
		benchPost(b, w.env.URL, "/api/v1/sync/push", w.tokens[0], visitBatch(w.hh[0], int64(i*1000), i*1000, 1000, 5000))
	}
	for _, limit := range []int{syncproto.DefaultPullLimit, syncproto.MaxPullLimit} {
		b.Run(fmt.Sprintf("limit=%d", limit), func(b *testing.B) {
			var got int
			for i := 0; i < b.N; i++ {
				_, got = pullAllHTTP(b, w.env.URL, w.tokens[0], "", limit)
			}
			if got < 5500 {
				b.Fatalf("initial pull delivered %d records", got)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/sync")
		})
	}
}

// BenchmarkIncrementalPull1000: a caught-up device pulls 1,000 new changes
// (ten pushes of 100 edits by another device of the officer); the p95 of
// the time to catch up is reported.
func BenchmarkIncrementalPull1000(b *testing.B) {
	w := newBenchWorld(b, 1, 500)
	writer := w.tokens[0]
	reader := w.env.Login(b, w.officer[0], testenv.Password, "bench-reader").AccessToken
	benchPost(b, w.env.URL, "/api/v1/sync/push", writer, visitBatch(w.hh[0], 0, 0, 1000, 1000))
	var ids []string
	{
		var rows []string
		w.env.DB.Gorm(context.Background()).Table("visits").Order("id").Pluck("id", &rows)
		ids = rows
	}
	cursor, _ := pullAllHTTP(b, w.env.URL, reader, "", syncproto.MaxPullLimit)
	var seq atomic.Int64
	seq.Store(1000)
	version := map[string]int64{}
	for _, id := range ids {
		version[id] = 1
	}
	var durations []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		for p := 0; p < 10; p++ {
			ms := make([]syncproto.Mutation, 100)
			for k := range ms {
				id := ids[p*100+k]
				ms[k] = syncproto.Mutation{MutationID: uuid.NewString(), Seq: seq.Add(1), Entity: syncproto.EntityVisit, Op: syncproto.OpUpdate,
					EntityID: id, BaseVersion: version[id], DeviceTime: time.Now().UTC(),
					Fields: map[string]json.RawMessage{"notes": json.RawMessage(fmt.Sprintf(`"round %d"`, i))}}
				version[id]++
			}
			body, _ := json.Marshal(syncproto.PushRequest{DeviceTime: time.Now().UTC(), Mutations: ms})
			benchPost(b, w.env.URL, "/api/v1/sync/push", writer, body)
		}
		b.StartTimer()
		start := time.Now()
		var n int
		cursor, n = pullAllHTTP(b, w.env.URL, reader, cursor, syncproto.DefaultPullLimit)
		durations = append(durations, time.Since(start))
		if n != 1000 {
			b.Fatalf("incremental pull delivered %d changes, want 1000", n)
		}
	}
	b.StopTimer()
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	p95 := durations[(len(durations)*95+99)/100-1]
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-ms")
}
