package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/demo"
	"github.com/doorstep-dev/doorstep/server/registry/importfile"
	"github.com/doorstep-dev/doorstep/server/store"
)

const importSampleDir = "../../../../shared/data"

func importSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(importSampleDir, name))
	if err != nil {
		t.Fatalf("sample list %s is missing (%v): these tests need /work/shared/data, reached as %s", name, err, importSampleDir)
	}
	return b
}

// seededDataDir makes an embedded database with the demo bank (which maps
// the sample lists' townships to outlets).
func seededDataDir(t *testing.T) (dir string, db func() *store.DB) {
	t.Helper()
	dir = isolate(t)
	open := func() *store.DB {
		d, err := store.Open(context.Background(), store.Config{DataDir: filepath.Join(dir, "data")})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := open()
	if _, err := d.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := demo.Seed(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	d.Close()
	return dir, open
}

func TestImportHouseholdsCommand(t *testing.T) {
	dir, open := seededDataDir(t)
	oct := filepath.Join(dir, "oct.csv")
	os.WriteFile(oct, importSample(t, "monitoring-list-2026-10.csv"), 0o600)

	// Dry run with the report: the sample's 41 problems, 16 of them in the
	// branch's counties, rows numbered as Excel shows them.
	report := filepath.Join(dir, "report.csv")
	out, _, err := runCmd(t, "", "import", "households", oct, "--report", report)
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	t.Logf("dry run output:\n%s", out)
	for _, want := range []string{"错误", "16", "这是预览", "横峰县", "第 456 行"} {
		if !strings.Contains(out, want) && !(want == "这是预览" && strings.Contains(out, "文件有错误")) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte("\xEF\xBB\xBF")))).ReadAll()
	if err != nil || len(recs) < 42 || strings.Join(recs[0], ",") != "row,column,code,message" {
		t.Fatalf("report: %d records, %v", len(recs), err)
	}
	found := false
	for _, r := range recs {
		found = found || (r[0] == "456" && r[2] == "id_checksum")
	}
	if !found {
		t.Fatal("report lacks row 456's check digit error")
	}

	// --commit refuses a file with errors, writing nothing.
	if _, _, err := runCmd(t, "", "import", "households", "--commit", oct); err == nil || !strings.Contains(err.Error(), "16") {
		t.Fatalf("commit of a file with errors: %v", err)
	}
	d := open()
	var n int64
	d.Gorm(context.Background()).Raw("SELECT COUNT(*) FROM households").Scan(&n)
	d.Close()
	if n != 0 {
		t.Fatalf("a refused commit wrote %d households", n)
	}

	// The fixed file commits; the same file again changes nothing.
	fixed := filepath.Join(dir, "fixed.csv")
	os.WriteFile(fixed, dropProblemRows(t, importSample(t, "monitoring-list-2026-10.csv")), 0o600)
	out, _, err = runCmd(t, "", "import", "households", fixed, "--commit", "--branch", "CQ", "--lang", "en")
	if err != nil || !strings.Contains(out, "Applied; list version 1") {
		t.Fatalf("commit: %v\n%s", err, out)
	}
	out, _, err = runCmd(t, "", "import", "households", fixed, "--commit")
	if err != nil || !strings.Contains(out, "没有任何改动") {
		t.Fatalf("re-import: %v\n%s", err, out)
	}
	d = open()
	d.Gorm(context.Background()).Raw("SELECT COUNT(*) FROM households").Scan(&n)
	d.Close()
	if n < 900 {
		t.Fatalf("households after commit = %d", n)
	}

	// Mistakes are reported plainly.
	if _, _, err := runCmd(t, "", "import", "households"); err == nil {
		t.Fatal("no file accepted")
	}
	if _, _, err := runCmd(t, "", "import", "households", filepath.Join(dir, "missing.csv")); err == nil {
		t.Fatal("missing file accepted")
	}
	junk := filepath.Join(dir, "junk.bin")
	os.WriteFile(junk, bytes.Repeat([]byte{0, 0xff, 3}, 1000), 0o600)
	if _, _, err := runCmd(t, "", "import", "households", junk); err == nil || !strings.Contains(err.Error(), "二进制") && !strings.Contains(err.Error(), "不是") {
		t.Fatalf("junk: %v", err)
	}
	if _, _, err := runCmd(t, "", "import", "households", fixed, "--branch", "NOPE"); err == nil {
		t.Fatal("unknown branch accepted")
	}
	out, _, err = runCmd(t, "", "import", "households", "--help")
	if !strings.Contains(out, "--commit") {
		t.Fatalf("help: %v\n%s", err, out)
	}
	out, _, err = runCmd(t, "", "import", "rekey")
	if err != nil || !strings.Contains(out, "Re-sealed 0 of") {
		t.Fatalf("rekey with nothing to do: %v\n%s", err, out)
	}
}

// A large file shows a progress bar on stderr.
func TestImportProgressBar(t *testing.T) {
	dir, _ := seededDataDir(t)
	data := importSample(t, "monitoring-list-2026-10.csv")
	big := filepath.Join(dir, "big.csv")
	var b bytes.Buffer
	b.Write(data)
	body := data[bytes.IndexByte(data, '\n')+1:]
	for b.Len() < progressFrom+1 {
		b.Write(body) // repeated households are reported as duplicates, which is fine here
	}
	os.WriteFile(big, b.Bytes(), 0o600)
	_, errOut, err := runCmd(t, "", "import", "households", big)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "100%") || !strings.Contains(errOut, "[") {
		t.Fatalf("no progress bar on stderr: %q", errOut)
	}
}

func dropProblemRows(t *testing.T, data []byte) []byte {
	t.Helper()
	res, err := importfile.Parse(bytes.NewReader(data), importfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bad := map[int]bool{}
	for _, p := range res.Problems {
		bad[p.Line] = true
	}
	var b strings.Builder
	for i, l := range strings.SplitAfter(string(data), "\n") {
		if !bad[i+1] {
			b.WriteString(l)
		}
	}
	return []byte(b.String())
}
