package importfile

import (
	"bytes"
	"encoding/csv"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/xuri/excelize/v2"
)

var reportProblems = []Problem{
	{Line: 0, Code: "example_file_level", Message: "文件级问题", MessageEN: "file-level problem"},
	{Line: 7, Column: "户主证件号码", Code: CodeIDChecksum, Message: "证件号码校验位不正确", MessageEN: "wrong ID check digit"},
	{Line: 9, Column: "监测对象类别", Code: CodeUnknownCategory, Message: "=HYPERLINK(\"http://x\")", MessageEN: "@SUM(A1)"},
}

func TestWriteReportCSV(t *testing.T) {
	tests := []struct {
		lang string
		want [][]string
	}{
		{"", [][]string{
			{"row", "column", "code", "message"},
			{"", "", "example_file_level", "文件级问题"},
			{"7", "户主证件号码", "id_checksum", "证件号码校验位不正确"},
			{"9", "监测对象类别", "unknown_category", `'=HYPERLINK("http://x")`},
		}},
		{"en", [][]string{
			{"row", "column", "code", "message"},
			{"", "", "example_file_level", "file-level problem"},
			{"7", "Head's ID number (户主证件号码)", "id_checksum", "wrong ID check digit"},
			{"9", "Monitoring category (监测对象类别)", "unknown_category", "'@SUM(A1)"},
		}},
	}
	for _, tt := range tests {
		t.Run("lang="+tt.lang, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteReportCSV(&buf, reportProblems, tt.lang); err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(buf.Bytes(), utf8BOM) {
				t.Fatal("report does not start with a UTF-8 BOM")
			}
			got, err := csv.NewReader(bytes.NewReader(buf.Bytes()[len(utf8BOM):])).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Fatalf("report\n got %q\nwant %q", got, tt.want)
			}
		})
	}
	// "zh" and unknown languages both mean Chinese.
	var zh, other bytes.Buffer
	_ = WriteReportCSV(&zh, reportProblems, "zh")
	_ = WriteReportCSV(&other, reportProblems, "fr")
	if !bytes.Equal(zh.Bytes(), other.Bytes()) {
		t.Error("unknown language should fall back to Chinese")
	}
}

// The report of the October sample is kept as a golden file: it is what a
// county officer downloads.
func TestWriteReportCSVGolden(t *testing.T) {
	res := mustParse(t, readSample(t, "monitoring-list-2026-10.csv"), Options{})
	for _, lang := range []string{"zh", "en"} {
		var buf bytes.Buffer
		if err := WriteReportCSV(&buf, res.Problems, lang); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", "report.october."+lang+".csv")
		if *updateGoldens {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Fatalf("report differs from %s (run with -update if intended)", path)
		}
	}
}

func TestWriteReportXLSX(t *testing.T) {
	tests := []struct {
		lang  string
		sheet string
		want  [][]string
	}{
		{"zh", "问题清单", [][]string{
			{"行号", "列", "代码", "说明"},
			{"", "", "example_file_level", "文件级问题"},
			{"7", "户主证件号码", "id_checksum", "证件号码校验位不正确"},
			{"9", "监测对象类别", "unknown_category", `=HYPERLINK("http://x")`},
		}},
		{"en", "Problems", [][]string{
			{"Row", "Column", "Code", "Message"},
			{"", "", "example_file_level", "file-level problem"},
			{"7", "Head's ID number (户主证件号码)", "id_checksum", "wrong ID check digit"},
			{"9", "Monitoring category (监测对象类别)", "unknown_category", "@SUM(A1)"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteReportXLSX(&buf, reportProblems, tt.lang); err != nil {
				t.Fatal(err)
			}
			f, err := excelize.OpenReader(&buf)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = f.Close() }()
			if got := f.GetSheetList(); !slices.Equal(got, []string{tt.sheet}) {
				t.Fatalf("sheets %v, want [%s]", got, tt.sheet)
			}
			got, err := f.GetRows(tt.sheet)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got { // GetRows drops trailing empty cells
				for len(got[i]) < 4 {
					got[i] = append(got[i], "")
				}
			}
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Fatalf("rows\n got %q\nwant %q", got, tt.want)
			}
			// Text that looks like a formula stays text.
			if formula, _ := f.GetCellFormula(tt.sheet, "D4"); formula != "" {
				t.Fatalf("D4 became a formula: %q", formula)
			}
			// Row numbers are numbers, so the sheet sorts correctly.
			if typ, _ := f.GetCellType(tt.sheet, "A3"); typ != excelize.CellTypeNumber && typ != excelize.CellTypeUnset {
				t.Fatalf("A3 cell type %v, want a number", typ)
			}
		})
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteReportErrors(t *testing.T) {
	if err := WriteReportCSV(failWriter{}, reportProblems, "zh"); err == nil {
		t.Error("WriteReportCSV ignored a write error")
	}
	if err := WriteReportXLSX(failWriter{}, reportProblems, "zh"); err == nil {
		t.Error("WriteReportXLSX ignored a write error")
	}
}

// The report of a parse can itself be read back by excelize with every
// problem present: a round trip on the real sample.
func TestWriteReportXLSXSample(t *testing.T) {
	res := mustParse(t, readSample(t, "monitoring-list-2026-10.csv"), Options{})
	var buf bytes.Buffer
	if err := WriteReportXLSX(&buf, res.Problems, ""); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	rows, err := f.GetRows("问题清单")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1+len(res.Problems) || rows[1][0] != "122" || rows[1][2] != CodeMissingValue {
		t.Fatalf("%d rows, first %q", len(rows), rows[1])
	}
}
