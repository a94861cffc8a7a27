package report_test

import (
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/report"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the generated figures section of docs/REPORTS.md")

const reportsDoc = "../../docs/REPORTS.md"

// TestReportsDocMatchesFigures keeps docs/REPORTS.md's figures section
// exactly what the figure table generates. Run with -update-docs to rewrite it.
func TestReportsDocMatchesFigures(t *testing.T) {
	body, err := os.ReadFile(reportsDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(body)
	i, j := strings.Index(doc, report.DocBegin), strings.Index(doc, report.DocEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated figures section between the markers", reportsDoc)
	}
	got := doc[i : j+len(report.DocEnd)+1]
	want := report.FiguresMarkdown()
	if got == want {
		return
	}
	if *updateDocs {
		if err := os.WriteFile(reportsDoc, []byte(doc[:i]+want+doc[j+len(report.DocEnd)+1:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("%s is out of date with store.ReportFigureDefs; run go test ./server/report -run TestReportsDocMatchesFigures -update-docs", reportsDoc)
}
