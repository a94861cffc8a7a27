package coverage_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/auth"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

// BenchmarkLedgerCounty20k: the November ledger of a county sub-branch with
// 20,000 active households and 60,000 visits in the month, on Postgres, as a
// county supervisor asks for it. Around it the branch holds another county of
// 5,000 households with its own visits, and three earlier months of the
// county's visits, so that the query has to pick the county and the month
// out of 255,000 visits (and 25,500 financing needs).
//
// The target is 300 ms per ledger; scripts/bench-coverage.sh prints figures.
func BenchmarkLedgerCounty20k(b *testing.B) {
	db := dbtest.NewPostgres(b)
	ctx := context.Background()
	if err := testenv.Seed(ctx, db); err != nil {
		b.Fatal(err)
	}
	county, sup := seedCounty(b, db, 20_000, 60_000)
	svc := coverage.New(db, coverage.Options{Location: shanghai, Now: func() time.Time { return now }})
	req := coverage.LedgerRequest{Month: "2026-11", OrgID: county.ID}

	l, err := svc.Ledger(ctx, sup, req)
	if err != nil {
		b.Fatal(err)
	}
	if l.Summary.Households != 20_000 {
		b.Fatalf("ledger has %d households, want 20000", l.Summary.Households)
	}
	b.Logf("ledger: %d households, %d covered, %d missing, %d officers", l.Summary.Households, l.Summary.Covered, l.Summary.Missing, len(l.Officers))
	m, _ := coverage.ParseMonth("2026-11")
	from, to := m.Bounds(shanghai)
	sc, err := db.ResolveCoverageScope(ctx, sup, county.ID, "")
	if err != nil {
		b.Fatal(err)
	}
	plan, err := db.ExplainCoverageLedger(ctx, sup, sc, "2026-11", from, to)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("query plan:\n%s", plan)

	b.Run("store", func(b *testing.B) {
		m, _ := coverage.ParseMonth("2026-11")
		from, to := m.Bounds(shanghai)
		cpu := cpuTime()
		for b.Loop() {
			if _, err := db.CoverageLedger(ctx, sup, sc, "2026-11", from, to); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	})
	b.Run("service", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			if _, err := svc.Ledger(ctx, sup, req); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu)
	})
	// What the HTTP layer adds: encoding the ledger and compressing it.
	b.Run("encode", func(b *testing.B) {
		cpu := cpuTime()
		for b.Loop() {
			body, err := json.Marshal(l)
			if err != nil {
				b.Fatal(err)
			}
			zw, _ := gzip.NewWriterLevel(io.Discard, gzip.DefaultCompression)
			zw.Write(body)
			zw.Close()
			b.ReportMetric(float64(len(body)), "json-bytes/op")
		}
		reportCPU(b, cpu)
	})
	env := testenv.New(b, db, testenv.WithConfig(func(c *config.Config) { c.ReportClose = "off" }))
	tok := env.Login(b, "county_sup", testenv.Password, "bench-phone").AccessToken
	b.Run("http", func(b *testing.B) { benchHTTP(b, env, tok, "/api/v1/coverage/ledger?month=2026-11&org="+county.ID) })
	// What a county supervisor's overview asks for: the figures, each
	// officer's missing households, and only the missing rows.
	b.Run("http-missing", func(b *testing.B) {
		benchHTTP(b, env, tok, "/api/v1/coverage/ledger?month=2026-11&rows=missing&org="+county.ID)
	})
}

// benchHTTP asks for path through the real router, gzip accepted, as a
// browser would.
func benchHTTP(b *testing.B, env *testenv.Env, tok, path string) {
	cpu := cpuTime()
	for b.Loop() {
		req, _ := http.NewRequest("GET", env.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := env.Client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		b.ReportMetric(float64(n), "gzip-bytes/op")
	}
	reportCPU(b, cpu)
}

// cpuTime is the CPU this process (server and client side of the test) has
// used so far. On a busy shared machine wall time per ledger says little;
// the CPU the Go side spends on one does not depend on the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64(cpuTime()-since)/float64(time.Millisecond)/float64(b.N), "go-cpu-ms/op")
}

// seedCounty fills county XS (outlets XS-01 and XS-02) with households,
// assignments to 40 officers and visits, plus noise elsewhere, and returns
// the county and a supervisor of it.
func seedCounty(b *testing.B, db *store.DB, households, visits int) (store.OrgUnit, store.Actor) {
	b.Helper()
	ctx := context.Background()
	county, err := db.OrgUnitByCode(ctx, "XS")
	if err != nil {
		b.Fatal(err)
	}
	wx, err := db.OrgUnitByCode(ctx, "WX")
	if err != nil {
		b.Fatal(err)
	}
	outlets := map[string]store.OrgUnit{}
	for _, c := range []string{"XS-01", "XS-02", "WX-01"} {
		if outlets[c], err = db.OrgUnitByCode(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	hash, err := auth.HashPassword(testenv.Password)
	if err != nil {
		b.Fatal(err)
	}
	var supUser store.User
	var officers []store.User
	err = db.Transact(ctx, func(tx *store.Tx) error {
		if supUser, err = tx.CreateUser(store.NewUser{Username: "county_sup", Role: store.RoleSupervisor, OrgUnitCode: "XS", PasswordHash: hash}); err != nil {
			return err
		}
		for i := 0; i < 40; i++ {
			unit := "XS-01"
			if i%2 == 1 {
				unit = "XS-02"
			}
			u, err := tx.CreateUser(store.NewUser{Username: fmt.Sprintf("bench_officer_%02d", i), Role: store.RoleOfficer, OrgUnitCode: unit, PasswordHash: hash})
			if err != nil {
				return err
			}
			officers = append(officers, u)
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ts := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	mkHouseholds := func(n int, countyID string, outletFor func(i int) (string, string), prefix string) []store.Household {
		out := make([]store.Household, n)
		for i := range out {
			outlet, officer := outletFor(i)
			c := countyID
			o, off := outlet, officer
			lat, lng := 28.3+float64(i%500)*0.001, 108.9+float64(i/500)*0.001
			out[i] = store.Household{
				ID: store.NewID(), BranchID: county.BranchID, CountyID: &c, OutletID: &o, OfficerID: &off,
				HouseholdNo: fmt.Sprintf("%s%07d", prefix, i), HeadName: fmt.Sprintf("户主%d", i), Township: "梅江镇", Village: fmt.Sprintf("村%d", i%60),
				Lat: &lat, Lng: &lng, LocationSource: "list", FieldTimes: "{}", ListStatus: store.ListActive,
				RiskEliminated: i%50 == 0, Version: 1, CreatedAt: ts, UpdatedAt: ts,
			}
		}
		return out
	}
	hs := mkHouseholds(households, county.ID, func(i int) (string, string) {
		off := officers[i%len(officers)]
		return off.OrgUnitID, off.ID
	}, "XS")
	officer3, err := db.UserByUsername(ctx, testenv.Officer3)
	if err != nil {
		b.Fatal(err)
	}
	noise := mkHouseholds(households/4, wx.ID, func(int) (string, string) { return outlets["WX-01"].ID, officer3.ID }, "WX")
	insert := func(rows any) {
		if err := db.Transact(ctx, func(tx *store.Tx) error { return tx.CreateInBatches(rows, 1000).Error }); err != nil {
			b.Fatal(err)
		}
	}
	insert(hs)
	insert(noise)
	var as []store.Assignment
	for _, h := range append(append([]store.Household{}, hs...), noise...) {
		as = append(as, store.Assignment{ID: store.NewID(), BranchID: h.BranchID, HouseholdID: h.ID, OutletID: *h.OutletID, OfficerID: h.OfficerID, AssignedAt: ts})
	}
	insert(as)
	// November: 60,000 visits over the county's households, most visited,
	// some refused, absent or moved; October and the other county: noise.
	outcomes := []string{"visited", "visited", "visited", "visited", "absent", "absent", "refused", "moved"}
	// Every tenth visit records a financing need.
	mkVisits := func(n int, pool []store.Household, month time.Month) {
		batch := make([]store.Visit, 0, 5000)
		var needs []store.FinancingNeed
		for i := 0; i < n; i++ {
			h := pool[(i*7919)%len(pool)]
			at := time.Date(2026, month, 1+i%28, 1+i%10, i%60, 0, 0, time.UTC)
			end := at.Add(12 * time.Minute)
			batch = append(batch, store.Visit{
				ID: store.NewID(), BranchID: h.BranchID, HouseholdID: h.ID, OfficerID: *h.OfficerID, OutletID: h.OutletID,
				Outcome: outcomes[i%len(outcomes)], Lat: h.Lat, Lng: h.Lng, StartedAt: at, EndedAt: &end, VisitedAt: at, ReceivedAt: at,
				Status: "recorded", Flags: "[]", FieldTimes: "{}", Version: 1, CreatedAt: at, UpdatedAt: at,
			})
			if i%10 == 0 {
				v := batch[len(batch)-1] // a copy: batch is reused
				needs = append(needs, store.FinancingNeed{ID: store.NewID(), BranchID: v.BranchID, HouseholdID: v.HouseholdID, VisitID: &v.ID,
					OfficerID: v.OfficerID, Purpose: "买猪苗", AmountFen: 1_000_000, Status: "recorded", FieldTimes: "{}", Version: 1,
					CreatedAt: v.VisitedAt.Add(time.Hour), UpdatedAt: v.VisitedAt.Add(time.Hour)})
			}
			if len(batch) == cap(batch) {
				insert(batch)
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			insert(batch)
		}
		if len(needs) > 0 {
			insert(needs)
		}
	}
	mkVisits(visits, hs[:households*9/10], time.November) // a tenth of the county still missing
	for _, m := range []time.Month{time.August, time.September, time.October} {
		mkVisits(visits, hs, m) // history: the month is a quarter of the table, as it would be by spring
	}
	mkVisits(visits/4, noise, time.November)
	if err := db.Gorm(ctx).Exec("VACUUM ANALYZE").Error; err != nil {
		b.Fatal(err)
	}
	unit, err := db.OrgUnit(ctx, supUser.OrgUnitID)
	if err != nil {
		b.Fatal(err)
	}
	return county, store.Actor{UserID: supUser.ID, Username: supUser.Username, Role: supUser.Role, BranchID: supUser.BranchID, OrgUnitID: unit.ID, OrgPath: unit.Path}
}
