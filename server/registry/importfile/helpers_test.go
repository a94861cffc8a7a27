package importfile

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// testNow is the clock for every test: dates after 2026-11-23 (China time)
// are in the future.
var testNow = func() time.Time { return time.Date(2026, 11, 23, 10, 0, 0, 0, chinaTime) }

// canonHeader is the header row exactly as the official template has it.
var canonHeader = []string{"省", "市", "县（市、区）", "乡（镇）", "行政村", "户编号", "户主姓名", "户主证件号码", "家庭人口数", "监测对象类别", "主要风险类型", "是否有劳动能力", "联系电话", "识别监测时间", "风险消除状态"}

// goodValues is a row that passes every check.
func goodValues() map[string]string {
	return map[string]string{
		"省": "重庆市", "市": "重庆市", "县（市、区）": "奉节县", "乡（镇）": "永乐镇", "行政村": "双河村",
		"户编号": "50023600000001", "户主姓名": "段辉杰", "户主证件号码": "500236194809252725",
		"家庭人口数": "6", "监测对象类别": "突发严重困难户", "主要风险类型": "因意外事故",
		"是否有劳动能力": "是", "联系电话": "18822706930", "识别监测时间": "2022-09-05", "风险消除状态": "已消除",
	}
}

// rowOf lays out values in the canonical column order, with changes applied.
func rowOf(changes map[string]string) []string {
	v := goodValues()
	for k, x := range changes {
		if _, ok := v[k]; !ok {
			panic("rowOf: unknown column " + k)
		}
		v[k] = x
	}
	out := make([]string, len(canonHeader))
	for i, h := range canonHeader {
		out[i] = v[h]
	}
	return out
}

// csvText renders rows as CSV, quoting every field that needs it.
func csvText(rows ...[]string) string {
	var b strings.Builder
	for _, r := range rows {
		for i, f := range r {
			if i > 0 {
				b.WriteByte(',')
			}
			if strings.ContainsAny(f, ",\"\r\n") {
				f = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
			}
			b.WriteString(f)
		}
		b.WriteString("\r\n")
	}
	return b.String()
}

// mustParse parses data with the test clock and fails the test on error.
func mustParse(t testing.TB, data []byte, opts Options) *Result {
	t.Helper()
	if opts.Now == nil {
		opts.Now = testNow
	}
	res, err := Parse(bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return res
}

// mustFail parses data and returns the *FileError it must produce.
func mustFail(t testing.TB, data []byte, opts Options) *FileError {
	t.Helper()
	if opts.Now == nil {
		opts.Now = testNow
	}
	res, err := Parse(bytes.NewReader(data), opts)
	if err == nil {
		t.Fatalf("Parse succeeded (%d rows, %d problems), want a *FileError", len(res.Rows), len(res.Problems))
	}
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("Parse error %T %v, want *FileError", err, err)
	}
	if fe.Message == "" || fe.MessageEN == "" || fe.Code == "" {
		t.Fatalf("FileError lacks code or messages: %+v", fe)
	}
	if res != nil {
		t.Fatalf("Parse returned a result together with an error")
	}
	return fe
}

// problemKeys summarises problems as "line:column:code" for comparisons.
func problemKeys(ps []Problem) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = fmt.Sprintf("%d:%s:%s", p.Line, p.Column, p.Code)
	}
	return out
}

func codeCounts(ps []Problem) map[string]int {
	m := map[string]int{}
	for _, p := range ps {
		m[p.Code]++
	}
	return m
}

// checkInvariants asserts what must hold for any successful parse.
func checkInvariants(t testing.TB, res *Result) {
	t.Helper()
	bad := map[int]bool{}
	for _, p := range res.Problems {
		if p.Code == "" || p.Message == "" || p.MessageEN == "" {
			t.Fatalf("problem without code or message: %+v", p)
		}
		if p.Column != "" && !slices.Contains(Columns, p.Column) {
			t.Fatalf("problem column %q is not a canonical header", p.Column)
		}
		bad[p.Line] = true
	}
	if !slices.IsSortedFunc(res.Problems, func(a, b Problem) int { return a.Line - b.Line }) {
		t.Fatalf("problems are not in row order")
	}
	for _, r := range res.Rows {
		if bad[r.Line] {
			t.Fatalf("row %d is both returned and reported", r.Line)
		}
		if !ValidIDNumber(r.IDNumber) {
			t.Fatalf("row %d: returned ID %q fails ValidIDNumber", r.Line, r.IDNumber)
		}
		if !slices.Contains(Categories, r.Category) {
			t.Fatalf("row %d: returned category %q not in Categories", r.Line, r.Category)
		}
		if r.RiskType != "" && !slices.Contains(RiskTypes, r.RiskType) {
			t.Fatalf("row %d: returned risk type %q not in RiskTypes", r.Line, r.RiskType)
		}
		if r.HeadName == "" || r.HouseholdNo == "" || r.County == "" || r.Township == "" || r.Village == "" {
			t.Fatalf("row %d: returned with a required field empty: %+v", r.Line, r)
		}
		for i := 0; i < len(r.Phone); i++ {
			if !isDigit(r.Phone[i]) {
				t.Fatalf("row %d: phone %q is not ASCII digits", r.Line, r.Phone)
			}
		}
	}
	if got := len(res.Rows) + len(bad); got != res.DataRows {
		t.Fatalf("clean rows %d + rows with problems %d = %d, want DataRows %d", len(res.Rows), len(bad), got, res.DataRows)
	}
}

// xlsxOf builds a workbook with excelize; each sheet's rows are written from
// A1. Values are written as given (strings stay strings, numbers numbers).
func xlsxOf(t testing.TB, sheets []sheetSpec) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer func() { _ = f.Close() }()
	for i, s := range sheets {
		if i == 0 {
			if err := f.SetSheetName("Sheet1", s.name); err != nil {
				t.Fatal(err)
			}
		} else if _, err := f.NewSheet(s.name); err != nil {
			t.Fatal(err)
		}
		for r, row := range s.rows {
			cellName, _ := excelize.CoordinatesToCellName(1, r+1)
			if err := f.SetSheetRow(s.name, cellName, &row); err != nil {
				t.Fatal(err)
			}
		}
		for cellName, style := range s.styles {
			id, err := f.NewStyle(style)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.SetCellStyle(s.name, cellName, cellName, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	var buf bytes.Buffer
	if _, err := f.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type sheetSpec struct {
	name   string
	rows   [][]any
	styles map[string]*excelize.Style
}

func anyRow(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// rawXLSX writes a minimal workbook by hand, for content excelize refuses to
// write (cells over Excel's 32,767-character limit) or to control the XML.
// Cells are inline strings, except values starting with '#', which are
// written as numbers (the rest of the value is the XML literal).
func rawXLSX(t testing.TB, rows [][]string) []byte {
	t.Helper()
	var sheet strings.Builder
	sheet.WriteString(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`)
	for r, row := range rows {
		fmt.Fprintf(&sheet, `<row r="%d">`, r+1)
		for c, v := range row {
			name, _ := excelize.CoordinatesToCellName(c+1, r+1)
			if num, ok := strings.CutPrefix(v, "#"); ok {
				fmt.Fprintf(&sheet, `<c r="%s"><v>%s</v></c>`, name, html.EscapeString(num))
				continue
			}
			fmt.Fprintf(&sheet, `<c r="%s" t="inlineStr"><is><t>%s</t></is></c>`, name, html.EscapeString(v))
		}
		sheet.WriteString(`</row>`)
	}
	sheet.WriteString(`</sheetData></worksheet>`)
	files := []struct{ name, body string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`},
		{"xl/workbook.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`},
		{"xl/_rels/workbook.xml.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`},
		{"xl/worksheets/sheet1.xml", sheet.String()},
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// makeID returns a valid ID number for the given 17 digits.
func makeID(t testing.TB, first17 string) string {
	t.Helper()
	c, err := IDCheckDigit(first17)
	if err != nil {
		t.Fatal(err)
	}
	return first17 + string(c)
}

func newZip(w io.Writer) *zip.Writer { return zip.NewWriter(w) }
