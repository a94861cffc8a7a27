package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Report benchmarks on PostgreSQL (scripts/bench-reports.sh runs them and
// prints the figures). Nothing here asserts a speed: the figures are
// reported with b.ReportMetric.
//
//   - BenchmarkReports1M: a branch with 200,000 households, 600 officers in
//     60 outlets and 1,000,000 visits in October 2026 (plus needs and loan
//     applications), generated with set-based SQL. Sub-benchmarks: the
//     branch's monthly report served over HTTP from the tables, a full
//     rebuild of the month, and the worker taking in a push of 500 visits.
//   - BenchmarkPushWithReportWorker: pushes of 500 new visits through the
//     real HTTP path, with and without the report worker running.

func benchEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

type bigWorld struct {
	env        *testenv.Env
	svc        *report.Service
	branch     string
	manager    string // token
	visits     int
	households int
}

var (
	bigOnce sync.Once
	big     *bigWorld
)

// bigBranch builds the 1M-visit branch once per process.
func bigBranch(b *testing.B) *bigWorld {
	b.Helper()
	bigOnce.Do(func() {
		if os.Getenv("DOORSTEP_TEST_POSTGRES_URL") == "" && !dbtest.RequirePostgres() {
			os.Setenv("DOORSTEP_TEST_REQUIRE_POSTGRES", "1")
		}
		url := dbtest.NewPostgresURL(b)
		db, err := store.Open(context.Background(), store.Config{URL: url, MaxOpenConns: 20})
		if err != nil {
			b.Fatal(err)
		}
		env := testenv.New(b, db)
		ctx := context.Background()
		visits := benchEnvInt("BENCH_REPORT_VISITS", 1_000_000)
		households := benchEnvInt("BENCH_REPORT_HOUSEHOLDS", 200_000)
		start := time.Now()
		if err := generateBigBranch(ctx, db, households, visits); err != nil {
			b.Fatal(err)
		}
		branch, err := db.OrgUnitByCode(ctx, "CQ")
		if err != nil {
			b.Fatal(err)
		}
		b.Logf("generated %d households, %d visits in %s", households, visits, time.Since(start).Round(time.Second))
		svc, err := report.New(db, report.Options{Loc: shanghai})
		if err != nil {
			b.Fatal(err)
		}
		// Bring the cursor to the end of the log; this opens the current month.
		if err := svc.CatchUp(ctx); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if err := svc.Rebuild(ctx, "2026-10", "CQ"); err != nil {
			b.Fatal(err)
		}
		b.Logf("first rebuild of October: %s", time.Since(t0).Round(time.Millisecond))
		big = &bigWorld{env: env, svc: svc, branch: branch.ID, visits: visits,
			manager: env.Login(b, testenv.Manager1, testenv.Password, "bench-manager").AccessToken, households: households}
	})
	if big == nil {
		b.Fatal("the big branch could not be built")
	}
	return big
}

// generateBigBranch fills the demo branch CQ (already seeded) with outlets,
// officers, households, assignments, October visits, needs and loan
// applications, with set-based SQL.
func generateBigBranch(ctx context.Context, db *store.DB, households, visits int) error {
	branch, err := db.OrgUnitByCode(ctx, "CQ")
	if err != nil {
		return err
	}
	var product string
	db.Gorm(ctx).Raw(`SELECT id FROM loan_products WHERE branch_id = ?`, branch.ID).Scan(&product)
	var counties []store.OrgUnit
	db.Gorm(ctx).Where("branch_id = ? AND kind = 'county'", branch.ID).Order("code").Find(&counties)
	if len(counties) != 3 {
		return fmt.Errorf("want the demo's 3 counties, have %d", len(counties))
	}
	args := map[string]any{
		"b": branch.ID, "c1": counties[0].ID, "c2": counties[1].ID, "c3": counties[2].ID,
		"p1": counties[0].Path, "p2": counties[1].Path, "p3": counties[2].Path, "product": product,
		"hh": households, "visits": visits, "needs": visits / 20, "loans": visits / 50,
	}
	// Outlet k (1..60) sits in county k % 3; officer g (0..599) in outlet 1 + g % 60;
	// household g with officer g % 600; visit g at household g % households.
	steps := []string{
		`INSERT INTO org_units (id, branch_id, parent_id, kind, code, name, path, created_at)
			 SELECT 'bo-' || k, @b, (ARRAY[@c1, @c2, @c3])[1 + k % 3], 'outlet', 'BO-' || k, '压测网点' || k,
			        (ARRAY[@p1, @p2, @p3])[1 + k % 3] || 'bo-' || k || '/', now()
			 FROM generate_series(1, 60) k`,
		`INSERT INTO users (id, branch_id, org_unit_id, username, display_name, role, status, password_hash, created_at, updated_at)
			 SELECT 'bu-' || g, @b, 'bo-' || (1 + g % 60), 'bench-officer-' || g, '客户经理' || g, 'officer', 'active', 'x', now(), now()
			 FROM generate_series(0, 599) g`,
		`INSERT INTO households (id, branch_id, county_id, outlet_id, officer_id, household_no, head_name, id_number_masked, phone_masked,
			        county, township, village, field_times, list_status, version, created_at, updated_at)
			 SELECT 'bh-' || g, @b, (ARRAY[@c1, @c2, @c3])[1 + (1 + (g % 600) % 60) % 3], 'bo-' || (1 + (g % 600) % 60), 'bu-' || (g % 600),
			        'BH' || lpad(g::text, 7, '0'), '户主' || g, '500241********' || lpad((g % 10000)::text, 4, '0'),
			        '138****' || lpad((g % 10000)::text, 4, '0'), '压测县', '压测镇', '第' || (g % 20) || '村', '{}', 'active', 1,
			        timestamptz '2026-09-01 09:00+08', timestamptz '2026-09-01 09:00+08'
			 FROM generate_series(0, @hh - 1) g`,
		`INSERT INTO assignments (id, branch_id, household_id, outlet_id, officer_id, officer_due_on, assigned_at)
			 SELECT 'ba-' || g, @b, 'bh-' || g, 'bo-' || (1 + (g % 600) % 60), 'bu-' || (g % 600), '2026-10-15', timestamptz '2026-09-02 09:00+08'
			 FROM generate_series(0, @hh - 1) g`,
		`INSERT INTO visits (id, branch_id, household_id, officer_id, outlet_id, outcome, started_at, visited_at, received_at, status, flags,
			        field_times, version, created_at, updated_at)
			 SELECT 'bv-' || g, @b, 'bh-' || (g % @hh), 'bu-' || ((g % @hh) % 600), 'bo-' || (1 + ((g % @hh) % 600) % 60),
			        (ARRAY['visited','visited','visited','visited','visited','visited','visited','absent','refused','moved'])[1 + g % 10],
			        t, t, t, CASE WHEN g % 5 = 0 THEN 'confirmed' WHEN g % 50 = 1 THEN 'has_issues' ELSE 'recorded' END,
			        CASE WHEN g % 20 = 0 THEN '["gps_far"]'::jsonb ELSE '[]'::jsonb END, '{}', 1, t, t
			 FROM (SELECT g, timestamptz '2026-10-01 00:00+08' + ((g::bigint * 2591) % (31 * 86400 - 1)) * interval '1 second' AS t
			       FROM generate_series(0, @visits - 1) g) s`,
		`INSERT INTO financing_needs (id, branch_id, household_id, visit_id, officer_id, purpose, amount_fen, status, field_times, version, created_at, updated_at)
			 SELECT 'bn-' || g, @b, 'bh-' || ((g * 20) % @hh), 'bv-' || (g * 20), 'bu-' || (((g * 20) % @hh) % 600), '养殖',
			        (g % 50 + 1) * 100000, 'recorded', '{}', 1, timestamptz '2026-10-20 09:00+08', timestamptz '2026-10-20 09:00+08'
			 FROM generate_series(0, @needs - 1) g`,
		`INSERT INTO loan_applications (id, branch_id, household_id, product_id, officer_id, amount_fen, term_months, purpose, status,
			        submitted_at, decided_at, disbursed_at, field_times, version, created_at, updated_at)
			 SELECT 'bl-' || g, @b, 'bh-' || ((g * 7) % @hh), @product, 'bu-' || (((g * 7) % @hh) % 600), (g % 50 + 1) * 100000, 24, '养殖',
			        (ARRAY['submitted','approved','rejected','disbursed'])[1 + g % 4],
			        timestamptz '2026-10-05 09:00+08',
			        CASE WHEN g % 4 > 0 THEN timestamptz '2026-10-12 09:00+08' END,
			        CASE WHEN g % 4 = 3 THEN timestamptz '2026-10-25 09:00+08' END,
			        '{}', 1, timestamptz '2026-10-04 09:00+08', timestamptz '2026-10-25 09:00+08'
			 FROM generate_series(0, @loans - 1) g`,
		`ANALYZE`,
	}
	for _, q := range steps {
		if err := benchExec(db, q, args); err != nil {
			return fmt.Errorf("generate: %w\n%s", err, q)
		}
	}
	return nil
}

// benchExec runs a statement with @name parameters inlined as literals:
// generate_series bounds and ARRAY[] need them as constants.
func benchExec(db *store.DB, q string, args map[string]any) error {
	var keys []string
	for k := range args {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		var lit string
		switch v := args[k].(type) {
		case int:
			lit = strconv.Itoa(v)
		case string:
			lit = "'" + v + "'"
		}
		q = bytesReplace(q, "@"+k, lit)
	}
	_, err := db.SQL().ExecContext(context.Background(), q)
	return err
}

func bytesReplace(s, old, new string) string {
	return string(bytes.ReplaceAll([]byte(s), []byte(old), []byte(new)))
}

func BenchmarkReports1M(b *testing.B) {
	w := bigBranch(b)
	ctx := context.Background()
	b.Run("monthly-branch-http", func(b *testing.B) {
		var lat []time.Duration
		var size int
		for i := 0; i < b.N; i++ {
			t0 := time.Now()
			req, _ := http.NewRequest("GET", w.env.URL+"/api/v1/reports/monthly?month=2026-10&org=CQ", nil)
			req.Header.Set("Authorization", "Bearer "+w.manager)
			resp, err := w.env.Client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Fatalf("%d %s", resp.StatusCode, body)
			}
			lat = append(lat, time.Since(t0))
			size = len(body)
		}
		var v report.MonthlyView
		req, _ := http.NewRequest("GET", w.env.URL+"/api/v1/reports/monthly?month=2026-10&org=CQ", nil)
		req.Header.Set("Authorization", "Bearer "+w.manager)
		if resp, err := w.env.Client.Do(req); err == nil {
			json.NewDecoder(resp.Body).Decode(&v)
			resp.Body.Close()
		}
		if len(v.Lines) == 0 || v.Lines[0].Figures["visits_total"] < float64(w.visits) {
			b.Fatalf("the report does not hold the generated visits: %d lines", len(v.Lines))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
		b.ReportMetric(ms(lat[(len(lat)*95)/100]), "p95-ms")
		b.ReportMetric(float64(len(v.Lines)), "lines")
		b.ReportMetric(float64(size)/1024, "KiB")
	})
	b.Run("rebuild-month", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := w.svc.Rebuild(ctx, "2026-10", "CQ"); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/rebuild")
		b.ReportMetric(float64(w.visits), "visits")
	})
	b.Run("catchup-500-visits", func(b *testing.B) {
		db := w.env.DB
		var total time.Duration
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			// A push of 500 visits by 500 officers of the big branch, dated
			// in October: the worst case, one officer-month each.
			err := db.Transact(ctx, func(tx *store.Tx) error {
				now := store.Now()
				vs := make([]store.Visit, 500)
				for k := range vs {
					g := (i*500 + k) * 397 % w.households
					o := fmt.Sprintf("bo-%d", 1+(g%600)%60)
					vs[k] = store.Visit{ID: uuid.NewString(), BranchID: w.branch, HouseholdID: fmt.Sprintf("bh-%d", g), OfficerID: fmt.Sprintf("bu-%d", g%600),
						OutletID: &o, Outcome: "visited", StartedAt: time.Date(2026, 10, 28, 2, 0, 0, 0, time.UTC), VisitedAt: time.Date(2026, 10, 28, 2, 0, 0, 0, time.UTC),
						ReceivedAt: now, Status: "recorded", Flags: "[]", FieldTimes: "{}", Version: 1, CreatedAt: now, UpdatedAt: now}
					tx.RecordChange(store.Change{BranchID: w.branch, Entity: syncproto.EntityVisit, EntityID: vs[k].ID, Op: store.OpUpsert, HouseholdID: vs[k].HouseholdID})
				}
				return tx.CreateInBatches(vs, 500).Error
			})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			t0 := time.Now()
			if err := w.svc.CatchUp(ctx); err != nil {
				b.Fatal(err)
			}
			total += time.Since(t0)
		}
		b.ReportMetric(ms(total/time.Duration(b.N)), "ms/push-of-500")
	})
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkPushWithReportWorker pushes batches of 500 new visits through the
// real HTTP path with real tokens from 4 devices of 3 officers (300
// households each), once with no report worker and once with the worker
// polling as doorstep serve does (every 5 s; BENCH_REPORT_POLL changes it),
// each on a fresh database. Visits are dated within the last ten days, as phones that
// were offline for a while deliver them. The cost of keeping the report
// tables current is the drop in mutations/s; drain-ms is how long the worker
// needs after the last push to be fully current.
func BenchmarkPushWithReportWorker(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("worker=%v", on), func(b *testing.B) {
			url := dbtest.NewPostgresURL(b)
			db, err := store.Open(context.Background(), store.Config{URL: url, MaxOpenConns: 20})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			env := testenv.New(b, db, testenv.WithConfig(func(c *config.Config) { c.ReportClose = "off" }))
			ctx := context.Background()
			officers := []string{testenv.Officer1, testenv.Officer1, testenv.Officer2, testenv.Officer3}
			hh := map[string][]string{}
			for i, o := range []string{testenv.Officer1, testenv.Officer2, testenv.Officer3} {
				ids, err := db.CreateSimHouseholds(ctx, o, fmt.Sprintf("RB%d", i), 300)
				if err != nil {
					b.Fatal(err)
				}
				hh[o] = ids
			}
			db.Gorm(ctx).Exec(`UPDATE assignments SET assigned_at = assigned_at - interval '2 years'`)
			tokens := make([]string, len(officers))
			for d, o := range officers {
				tokens[d] = env.Login(b, o, testenv.Password, fmt.Sprintf("rb-%d", d)).AccessToken
			}
			poll, err := time.ParseDuration(os.Getenv("BENCH_REPORT_POLL"))
			if err != nil || poll <= 0 {
				poll = 5 * time.Second // the default of doorstep serve
			}
			worker, err := report.New(db, report.Options{Loc: shanghai, Poll: poll, Close: "off"})
			if err != nil {
				b.Fatal(err)
			}
			// A running system has history and statistics: two pushes per
			// device first, taken in by the worker, then ANALYZE.
			bodies := make([][][]byte, len(officers))
			for i := 0; i < b.N+2*len(officers); i++ {
				d := i % len(officers)
				bodies[d] = append(bodies[d], pushOfVisits(hh[officers[d]], int64(len(bodies[d])*500), i*500, 500))
			}
			for d := range officers {
				for _, body := range bodies[d][:2] {
					pushBody(b, env.URL, tokens[d], body)
				}
				bodies[d] = bodies[d][2:]
			}
			if err := worker.CatchUp(ctx); err != nil {
				b.Fatal(err)
			}
			if _, err := db.SQL().ExecContext(ctx, "ANALYZE"); err != nil {
				b.Fatal(err)
			}
			// The worker's loop, as Service.Start runs it, timing each pass.
			var busy time.Duration
			stop := func() {}
			if on {
				wctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				go func() {
					defer close(done)
					t := time.NewTicker(poll)
					defer t.Stop()
					for {
						select {
						case <-wctx.Done():
							return
						case <-t.C:
						}
						t0 := time.Now()
						if err := worker.CatchUp(wctx); err != nil && wctx.Err() == nil {
							b.Error(err)
						}
						busy += time.Since(t0)
					}
				}()
				stop = func() { cancel(); <-done }
			}
			b.ResetTimer()
			t0 := time.Now()
			var wg sync.WaitGroup
			for d := range officers {
				wg.Add(1)
				go func(d int) {
					defer wg.Done()
					for _, body := range bodies[d] {
						pushBody(b, env.URL, tokens[d], body)
					}
				}(d)
			}
			wg.Wait()
			elapsed := time.Since(t0)
			b.StopTimer()
			t1 := time.Now()
			stop()
			if err := worker.CatchUp(ctx); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N*500)/elapsed.Seconds(), "mutations/s")
			if on {
				b.ReportMetric(ms(time.Since(t1)), "drain-ms")
				b.ReportMetric(ms(busy)/float64(b.N*500)*1000, "worker-ms/1k-mutations")
				b.ReportMetric(ms(elapsed)/float64(b.N*500)*1000, "push-ms/1k-mutations")
			}
			var n int64
			db.Gorm(ctx).Raw(`SELECT COALESCE(SUM(visits_total), 0) FROM report_rows WHERE level = 'branch'`).Scan(&n)
			if want := int64((b.N + 2*len(officers)) * 500); n < want {
				b.Fatalf("report tables count %d visits, %d were pushed", n, want)
			}
		})
	}
}

// pushOfVisits is a push body of n new visits of the households, dated
// within the last ten days, twenty minutes each, with a location.
func pushOfVisits(hh []string, seq int64, k0, n int) []byte {
	now := time.Now().UTC()
	ms := make([]syncproto.Mutation, n)
	for i := range ms {
		k := k0 + i
		back := time.Duration((k*7919)%(10*24*60)) * time.Minute
		start := now.Add(-back - time.Hour)
		ms[i] = syncproto.Mutation{MutationID: uuid.NewString(), Seq: seq + int64(i) + 1, Entity: syncproto.EntityVisit, Op: syncproto.OpCreate,
			EntityID: uuid.NewString(), DeviceTime: start.Add(20 * time.Minute), Fields: map[string]json.RawMessage{
				"household_id": json.RawMessage(`"` + hh[k%len(hh)] + `"`),
				"outcome":      json.RawMessage(`"visited"`),
				"notes":        json.RawMessage(`"家中养猪，需要周转资金"`),
				"lat":          json.RawMessage(`28.45`), "lng": json.RawMessage(`108.99`), "accuracy_m": json.RawMessage(`8`),
				"started_at": json.RawMessage(`"` + start.Format(time.RFC3339Nano) + `"`),
				"ended_at":   json.RawMessage(`"` + start.Add(20*time.Minute).Format(time.RFC3339Nano) + `"`),
			}}
	}
	body, _ := json.Marshal(syncproto.PushRequest{DeviceTime: now, PendingCount: n, Mutations: ms})
	return body
}

var pushClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func pushBody(b *testing.B, url, token string, body []byte) {
	req, _ := http.NewRequest(http.MethodPost, url+"/api/v1/sync/push", bytes.NewReader(body))
	req.Header.Set(syncproto.HeaderProtocol, "1")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := pushClient.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"rejected"`)) {
		b.Errorf("push: %d %.300s", resp.StatusCode, out)
	}
}
