package registry_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/registry/importfile"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
)

// syntheticList writes n valid households spread over the fixture's
// townships, as a county export would.
func syntheticList(n int, seed uint64) []byte {
	rnd := rand.New(rand.NewPCG(seed, seed+1))
	codes := map[string]string{"秀山土家族苗族自治县": "500241", "巫溪县": "500238", "奉节县": "500236"}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(importfile.Columns)
	for i := range n {
		a := fixtureAreas[i%len(fixtureAreas)]
		code := codes[a.County]
		first17 := fmt.Sprintf("%s19%02d%02d%02d%03d", code, 40+rnd.IntN(55), 1+rnd.IntN(12), 1+rnd.IntN(28), rnd.IntN(1000))
		check, _ := importfile.IDCheckDigit(first17)
		w.Write([]string{"重庆市", "重庆市", a.County, a.Township, fmt.Sprintf("第%d村", i%97),
			fmt.Sprintf("%s%08d", code, i), "户主" + fmt.Sprint(i%1000), first17 + string(check),
			fmt.Sprint(1 + i%6), importfile.Categories[i%3], importfile.RiskTypes[i%len(importfile.RiskTypes)], "是",
			fmt.Sprintf("138%08d", i), "2024-03-01", "未消除"})
	}
	w.Flush()
	return b.Bytes()
}

// BenchmarkImport100k measures, on Postgres, the import of 100,000
// households: dry run (parse, compare, store the preview), commit, and an
// unchanged re-import, which must write nothing. scripts/bench-import.sh runs
// it and prints the figures.
func BenchmarkImport100k(b *testing.B) {
	const n = 100_000
	list := syntheticList(n, 7)
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		w := newWorld(b, dbtest.NewPostgres(b))
		b.StartTimer()

		t0 := time.Now()
		p, err := w.svc.PreviewImport(ctx, w.manager, registry.ImportInput{FileName: "bench.csv", Data: bytes.NewReader(list)})
		if err != nil || p.Summary.New != n {
			b.Fatalf("dry run: %+v %v", p.Summary, err)
		}
		dry := time.Since(t0)
		t1 := time.Now()
		if _, applied, err := w.svc.CommitImport(ctx, w.manager, p.ID); err != nil || !applied {
			b.Fatalf("commit: %v", err)
		}
		commit := time.Since(t1)

		before := w.tableCounts(b)
		t2 := time.Now()
		d, err := w.svc.Compute(ctx, w.manager, registry.ImportInput{FileName: "bench.csv", Data: bytes.NewReader(list)})
		if err != nil || d.Summary.Unchanged != n || d.HasChanges() {
			b.Fatalf("re-import: %+v %v", d.Summary, err)
		}
		if _, applied, err := w.svc.Apply(ctx, w.manager, d); err != nil || applied {
			b.Fatalf("re-import applied=%v: %v", applied, err)
		}
		again := time.Since(t2)
		if after := w.tableCounts(b); !mapsEqual(before, after) {
			b.Fatalf("unchanged re-import wrote:\nbefore %v\nafter  %v", before, after)
		}
		b.ReportMetric(float64(p.Summary.ParseMillis)/1000, "parse-s")
		b.ReportMetric(float64(p.Summary.CompareMillis)/1000, "compare-s")
		b.ReportMetric(dry.Seconds(), "dryrun-s")
		b.ReportMetric(commit.Seconds(), "commit-s")
		b.ReportMetric((dry + commit).Seconds(), "dryrun+commit-s")
		b.ReportMetric(again.Seconds(), "reimport-s")
	}
}
