package importfile

import (
	"bytes"
	"fmt"
	"testing"
)

// gen100k builds a realistic 100,000-row list: canonical header, UTF-8 with
// BOM, a defect in roughly one row in a hundred.
func gen100k(b *testing.B) []byte {
	b.Helper()
	var buf bytes.Buffer
	buf.Write(utf8BOM)
	buf.WriteString(csvText(canonHeader))
	towns := []string{"永乐镇", "康乐镇", "草堂镇", "白帝镇"}
	cats := Categories
	for i := range 100_000 {
		id := makeID(b, fmt.Sprintf("500236%04d%02d%02d%03d", 1940+i%60, 1+i%12, 1+i%28, i%1000))
		if i%97 == 0 {
			id = id[:17] + "0" // usually a wrong check digit
		}
		buf.WriteString(csvText([]string{
			"重庆市", "重庆市", "奉节县", towns[i%len(towns)], "双河村",
			fmt.Sprintf("500236%08d", i), "段辉杰", id, fmt.Sprint(1 + i%6), cats[i%len(cats)],
			RiskTypes[i%len(RiskTypes)], "是", fmt.Sprintf("138%08d", i), fmt.Sprintf("202%d/%d/%d", 1+i%5, 1+i%12, 1+i%28), "未消除",
		}))
	}
	return buf.Bytes()
}

// BenchmarkParse100k reports rows/s for a 100,000-row CSV (about 17 MB).
//
//	go test -run='^$' -bench=Parse100k -benchmem ./server/registry/importfile/
func BenchmarkParse100k(b *testing.B) {
	data := gen100k(b)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		res, err := Parse(bytes.NewReader(data), Options{Now: testNow})
		if err != nil {
			b.Fatal(err)
		}
		if res.DataRows != 100_000 {
			b.Fatalf("DataRows = %d", res.DataRows)
		}
	}
	b.ReportMetric(float64(100_000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
