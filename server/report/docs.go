package report

import (
	"strings"

	"github.com/doorstep-dev/doorstep/server/store"
)

// Markers around the generated part of docs/REPORTS.md.
const (
	DocBegin = "<!-- figures:begin (generated from store.ReportFigureDefs; do not edit by hand) -->"
	DocEnd   = "<!-- figures:end -->"
)

var sourceDoc = map[string]string{
	store.SourceHousehold: "households answered for",
	store.SourceVisit:     "the officer's visits",
	store.SourceNeed:      "financing needs",
	store.SourceLoan:      "loan applications",
	store.SourceDerived:   "derived",
}

// FiguresMarkdown is the figures section of docs/REPORTS.md, generated from
// the one table of figure definitions.
func FiguresMarkdown() string {
	var b strings.Builder
	b.WriteString(DocBegin + "\n\n")
	b.WriteString("| code | 指标 | figure | unit | counted from |\n| --- | --- | --- | --- | --- |\n")
	for _, f := range store.ReportFigureDefs {
		note := ""
		if f.Basis {
			note = " (basis, not shown in files)"
		}
		b.WriteString("| `" + f.Code + "` | " + f.LabelZH + " | " + f.LabelEN + " | " + f.Unit + " | " + sourceDoc[f.Source] + note + " |\n")
	}
	for _, f := range store.ReportFigureDefs {
		b.WriteString("\n### `" + f.Code + "` — " + f.LabelZH + " / " + f.LabelEN + "\n\n")
		b.WriteString(f.DefZH + "\n\n" + f.DefEN + "\n")
		if f.SQL != "" {
			b.WriteString("\nComputed as `SUM(" + f.SQL + ")` over " + sourceDoc[f.Source] + ".\n")
		}
	}
	b.WriteString("\n" + DocEnd + "\n")
	return b.String()
}
