package importfile

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"
)

func gbk(t testing.TB, s string) []byte {
	t.Helper()
	b, err := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCSVEncodings(t *testing.T) {
	text := csvText(canonHeader, rowOf(nil))
	tests := []struct {
		name string
		data []byte
		enc  string
	}{
		{"utf-8 with BOM", append(slices.Clone(utf8BOM), text...), "utf-8-bom"},
		{"utf-8", []byte(text), "utf-8"},
		{"gbk", gbk(t, text), "gb18030"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustParse(t, tt.data, Options{})
			checkInvariants(t, res)
			if res.Format != "csv" || res.Encoding != tt.enc {
				t.Fatalf("format %q encoding %q, want csv %q", res.Format, res.Encoding, tt.enc)
			}
			if len(res.Rows) != 1 || res.Rows[0].HeadName != "段辉杰" || res.Rows[0].County != "奉节县" {
				t.Fatalf("rows = %+v", res.Rows)
			}
		})
	}
}

func TestCSVShapes(t *testing.T) {
	good := strings.Join(rowOf(nil), ",")
	hdr := strings.Join(canonHeader, ",")
	tests := []struct {
		name  string
		data  string
		lines []int // Line of each accepted row
	}{
		{"LF line endings", hdr + "\n" + good + "\n", []int{2}},
		{"CR line endings", hdr + "\r" + good + "\r", []int{2}},
		{"no final newline", hdr + "\r\n" + good, []int{2}},
		{"tab separated", strings.ReplaceAll(hdr+"\n"+good+"\n", ",", "\t"), []int{2}},
		{"semicolon separated", strings.ReplaceAll(hdr+"\n"+good+"\n", ",", ";"), []int{2}},
		{"quoted fields", csvText(canonHeader, rowOf(map[string]string{"行政村": "双河村,二组", "户主姓名": `段"辉"杰`})), []int{2}},
		{"line break inside a quoted cell counts as one row",
			csvText(canonHeader, rowOf(map[string]string{"行政村": "双河村\n二组"}), rowOf(map[string]string{"户编号": "50023600000002", "户主证件号码": "11010519491231002X"})),
			[]int{2, 3}},
		{"trailing empty columns", hdr + ",,,\r\n" + good + ",,,\r\n", []int{2}},
		{"short row is padded", hdr + "\r\n" + strings.Join(rowOf(nil)[:12], ",") + "\r\n", []int{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := mustParse(t, []byte(tt.data), Options{})
			checkInvariants(t, res)
			var lines []int
			for _, r := range res.Rows {
				lines = append(lines, r.Line)
			}
			if !slices.Equal(lines, tt.lines) || len(res.Problems) != 0 {
				t.Fatalf("lines %v problems %v, want lines %v and no problems", lines, problemKeys(res.Problems), tt.lines)
			}
		})
	}
	res := mustParse(t, []byte(csvText(canonHeader, rowOf(map[string]string{"行政村": "双河村,二组", "户主姓名": `段"辉"杰`}))), Options{})
	if r := res.Rows[0]; r.Village != "双河村,二组" || r.HeadName != `段"辉"杰` {
		t.Fatalf("quoted fields read as %q and %q", r.Village, r.HeadName)
	}
}

func TestUnterminatedQuoteDoesNotHang(t *testing.T) {
	// The open quote swallows the rest of the file into one cell, which is
	// then too large; the rows before it are unaffected.
	data := csvText(canonHeader, rowOf(nil)) + `奉节县,"永乐镇` + "\r\n" + strings.Repeat("x,y,z\r\n", 2000)
	res := mustParse(t, []byte(data), Options{})
	checkInvariants(t, res)
	if len(res.Rows) != 1 || res.DataRows != 2 {
		t.Fatalf("rows=%d DataRows=%d, want 1 and 2", len(res.Rows), res.DataRows)
	}
	if !slices.Contains(problemKeys(res.Problems), "3:市:cell_too_large") {
		t.Fatalf("problems = %v, want the runaway cell reported", problemKeys(res.Problems))
	}
}

func TestFileErrors(t *testing.T) {
	junk := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range junk {
		junk[i] = byte(rng.UintN(256))
	}
	xlsx := xlsxOf(t, []sheetSpec{{name: "Sheet1", rows: [][]any{anyRow(canonHeader), anyRow(rowOf(nil))}}})
	tests := []struct {
		name string
		data []byte
		code string
	}{
		{"empty", nil, CodeEmptyFile},
		{"only a BOM and newlines", append(slices.Clone(utf8BOM), "\r\n\r\n"...), CodeEmptyFile},
		{"random bytes", junk, CodeBinaryFile},
		{"PNG image", append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), junk...), CodeBinaryFile},
		{"legacy xls", append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, junk...), CodeUnsupportedFormat},
		{"UTF-16 text", append([]byte{0xFF, 0xFE}, []byte("\x01\x77")...), CodeUnsupportedFormat},
		{"truncated xlsx", xlsx[:len(xlsx)/2], CodeCorruptXLSX},
		{"xlsx cut to the zip header", xlsx[:30], CodeCorruptXLSX},
		{"zip that is not a workbook", zipOf(t, "hello.txt", "hi"), CodeCorruptXLSX},
		{"xlsx without the header", xlsxOf(t, []sheetSpec{{name: "Sheet1", rows: [][]any{{"名称", "数量"}, {"化肥", 3}}}}), CodeNoHeader},
		{"xlsx missing a required column", xlsxOf(t, []sheetSpec{{name: "名单", rows: [][]any{anyRow(canonHeader[:7])}}}), CodeMissingColumns},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := mustFail(t, tt.data, Options{})
			if fe.Code != tt.code {
				t.Fatalf("code = %q (%s), want %q", fe.Code, fe.MessageEN, tt.code)
			}
		})
	}
}

func zipOf(t testing.TB, name, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := newZip(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(w, body)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestMissingColumnsNamesSheet(t *testing.T) {
	data := xlsxOf(t, []sheetSpec{{name: "名单", rows: [][]any{anyRow(canonHeader[:7])}}})
	fe := mustFail(t, data, Options{})
	if !strings.Contains(fe.Message, "名单") || !strings.Contains(fe.Message, "户主证件号码") {
		t.Fatalf("message should name the sheet and the missing column: %s", fe.Message)
	}
}

func TestTooLarge(t *testing.T) {
	csv := []byte(csvText(canonHeader, rowOf(nil), rowOf(map[string]string{"户编号": "2"})))
	// Exactly at the limit is accepted.
	res := mustParse(t, csv, Options{MaxBytes: int64(len(csv))})
	if res.DataRows != 2 {
		t.Fatalf("DataRows = %d at the exact limit", res.DataRows)
	}
	if fe := mustFail(t, csv, Options{MaxBytes: int64(len(csv) - 1)}); fe.Code != CodeTooLarge {
		t.Fatalf("code = %q, want too_large", fe.Code)
	}
	// Larger than the sniff window, so the limit trips while streaming.
	big := []byte(csvText(canonHeader) + strings.Repeat(csvText(rowOf(nil)), 2000))
	if fe := mustFail(t, big, Options{MaxBytes: sniffBytes + 100}); fe.Code != CodeTooLarge {
		t.Fatalf("streaming: code = %q, want too_large", fe.Code)
	}
	xlsx := xlsxOf(t, []sheetSpec{{name: "Sheet1", rows: [][]any{anyRow(canonHeader), anyRow(rowOf(nil))}}})
	if fe := mustFail(t, xlsx, Options{MaxBytes: int64(len(xlsx) - 1)}); fe.Code != CodeTooLarge {
		t.Fatalf("xlsx: code = %q, want too_large", fe.Code)
	}
}

func TestTooManyRows(t *testing.T) {
	var rows [][]string
	rows = append(rows, canonHeader)
	for i := range 4 {
		rows = append(rows, rowOf(map[string]string{"户编号": itoa(i + 1)}), []string{})
	}
	data := []byte(csvText(rows...))
	res := mustParse(t, data, Options{MaxRows: 4}) // blank rows do not count
	if res.DataRows != 4 {
		t.Fatalf("DataRows = %d, want 4", res.DataRows)
	}
	if fe := mustFail(t, data, Options{MaxRows: 3}); fe.Code != CodeTooManyRows {
		t.Fatalf("code = %q, want too_many_rows", fe.Code)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := copy(p, strings.Repeat("a,", f.n/2+1)[:min(len(p), f.n)])
	f.n -= n
	return n, nil
}

func TestReadErrorIsNotAFileError(t *testing.T) {
	_, err := Parse(&failingReader{n: 100}, Options{})
	var fe *FileError
	if err == nil || errors.As(err, &fe) || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("err = %v, want the wrapped read error and no *FileError", err)
	}
}

func TestProgress(t *testing.T) {
	var rows [][]string
	rows = append(rows, canonHeader)
	for i := range 2500 {
		rows = append(rows, rowOf(map[string]string{"户编号": itoa(i + 1)}))
	}
	var calls [][2]int
	opts := Options{Progress: func(done, total int) { calls = append(calls, [2]int{done, total}) }}
	mustParse(t, []byte(csvText(rows...)), opts)
	want := [][2]int{{1000, 0}, {2000, 0}, {2500, 2500}}
	if !slices.Equal(calls, want) {
		t.Fatalf("progress calls %v, want %v", calls, want)
	}
}

func TestXLSX(t *testing.T) {
	dateStyle := &excelize.Style{NumFmt: 14} // m/d/yyyy: the cell is a date serial
	id2 := makeID(t, "50023619500101001")
	data := xlsxOf(t, []sheetSpec{
		{name: "说明", rows: [][]any{{"本表由奉节县乡村振兴局导出"}}},
		{name: "名单", rows: [][]any{
			{"奉节县防返贫监测对象名单"},
			anyRow(canonHeader),
			anyRow(rowOf(nil)),
			// Typed cells: numbers for size, phone and household number; a
			// real date for 识别监测时间.
			{"重庆市", "重庆市", "奉节县", "永乐镇", "双河村", 50023600000002, "向海", id2, 3, "脱贫不稳定户", "因病", "否", 13800138000, time.Date(2023, 1, 5, 0, 0, 0, 0, time.UTC), "未消除"},
			// The ID stored as a number by excelize: 18 digits, but not
			// the ones typed, so the check digit fails.
			{"重庆市", "重庆市", "奉节县", "永乐镇", "双河村", "50023600000003", "李四", 500236194809252725.0, 2, "边缘易致贫户", "因学", "是", "", "2023/01/05", "未消除"},
		}, styles: map[string]*excelize.Style{"N4": dateStyle}},
	})
	res := mustParse(t, data, Options{})
	checkInvariants(t, res)
	if res.Format != "xlsx" || res.Encoding != "xlsx" || res.Sheet != "名单" {
		t.Fatalf("format %q encoding %q sheet %q", res.Format, res.Encoding, res.Sheet)
	}
	if res.DataRows != 3 || len(res.Rows) != 2 {
		t.Fatalf("DataRows %d rows %d problems %v", res.DataRows, len(res.Rows), problemKeys(res.Problems))
	}
	typed := res.Rows[1]
	want := Row{Line: 4, Province: "重庆市", City: "重庆市", County: "奉节县", Township: "永乐镇", Village: "双河村",
		HouseholdNo: "50023600000002", HeadName: "向海", IDNumber: id2, FamilySize: 3, Category: "脱贫不稳定户",
		RiskType: "因病", Phone: "13800138000", IdentifiedAt: time.Date(2023, 1, 5, 0, 0, 0, 0, time.UTC)}
	if typed != want {
		t.Fatalf("typed row\n got %+v\nwant %+v", typed, want)
	}
	if got := problemKeys(res.Problems); !slices.Equal(got, []string{"5:户主证件号码:id_checksum"}) {
		t.Fatalf("problems = %v", got)
	}
}

// Excel itself writes numeric cells in the XML as it stores them: a long ID
// typed as a number becomes 5.0023619480925197E+17, serial dates are plain
// numbers.
func TestXLSXNumericCellsAsExcelWritesThem(t *testing.T) {
	data := rawXLSX(t, [][]string{
		canonHeader,
		rowOf(map[string]string{"户主证件号码": "#5.0023619480925197E+17"}),
		rowOf(map[string]string{"户编号": "#50023600000002", "户主证件号码": "11010519491231002X", "识别监测时间": "#44931", "家庭人口数": "#3", "联系电话": "#13800138000"}),
		rowOf(map[string]string{"户编号": "#5.00236E+13", "户主证件号码": "11010519491231002X", "识别监测时间": "#46350"}),
	})
	res := mustParse(t, data, Options{})
	checkInvariants(t, res)
	want := []string{"2:户主证件号码:id_scientific_notation", "4:户编号:scientific_notation", "4:识别监测时间:bad_date"}
	if got := problemKeys(res.Problems); !slices.Equal(got, want) {
		t.Fatalf("problems = %v, want %v", got, want)
	}
	if len(res.Rows) != 1 {
		t.Fatalf("rows = %d", len(res.Rows))
	}
	r := res.Rows[0]
	if r.HouseholdNo != "50023600000002" || r.FamilySize != 3 || r.Phone != "13800138000" || !isJan5(r) {
		t.Fatalf("numeric cells read as %+v", r)
	}
}

func TestXLSXSerialDates(t *testing.T) {
	for _, tt := range []struct {
		serial string
		want   time.Time
		ok     bool
	}{
		{"44931", time.Date(2023, 1, 5, 0, 0, 0, 0, time.UTC), true},
		{"44931.75", time.Date(2023, 1, 5, 0, 0, 0, 0, time.UTC), true},
		{"0", time.Time{}, false},
		{"-3", time.Time{}, false},
		{"1e308", time.Time{}, false},
		{"NaN", time.Time{}, false},
	} {
		got, ok := excelSerialDate(tt.serial, false)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Errorf("excelSerialDate(%q) = %v, %v; want %v, %v", tt.serial, got, ok, tt.want, tt.ok)
		}
	}
	// The 1904 system used by old Mac workbooks is 1462 days off.
	got, ok := excelSerialDate("43469", true)
	if !ok || !got.Equal(time.Date(2023, 1, 5, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("1904 serial: %v %v", got, ok)
	}
}

// A 10 MB cell must not be held: the parse should allocate far less than the
// cell itself.
func TestHugeCellCSV(t *testing.T) {
	huge := strings.Repeat("段", 10<<20/3)
	data := []byte(csvText(canonHeader,
		rowOf(map[string]string{"户主姓名": huge}),
		rowOf(map[string]string{"户编号": "50023600000002", "户主证件号码": "11010519491231002X"}),
	))
	// And one in a column we do not read, which must not even be reported.
	hdr := append(slices.Clone(canonHeader), "备注")
	data2 := []byte(csvText(hdr, append(rowOf(nil), huge)))

	alloc := allocated(func() {
		res := mustParse(t, data, Options{})
		checkInvariants(t, res)
		if got := problemKeys(res.Problems); !slices.Equal(got, []string{"2:户主姓名:cell_too_large"}) || len(res.Rows) != 1 {
			t.Fatalf("problems %v rows %d", got, len(res.Rows))
		}
		res = mustParse(t, data2, Options{})
		if len(res.Problems) != 0 || len(res.Rows) != 1 {
			t.Fatalf("huge unread cell: problems %v rows %d", problemKeys(res.Problems), len(res.Rows))
		}
	})
	if alloc > 2<<20 {
		t.Fatalf("parsing two 10 MB cells allocated %d bytes; the cell is being buffered", alloc)
	}
}

func TestHugeCellXLSX(t *testing.T) {
	huge := strings.Repeat("x", 10<<20)
	data := rawXLSX(t, [][]string{canonHeader, rowOf(map[string]string{"户主姓名": huge}), rowOf(map[string]string{"户编号": "2"})})
	res := mustParse(t, data, Options{})
	checkInvariants(t, res)
	if got := problemKeys(res.Problems); !slices.Equal(got, []string{"2:户主姓名:cell_too_large"}) || len(res.Rows) != 1 {
		t.Fatalf("problems %v rows %d", got, len(res.Rows))
	}
}

func TestWideRows(t *testing.T) {
	const cols = 5000
	wide := func(base []string, fill string) []string {
		r := slices.Clone(base)
		for len(r) < cols {
			r = append(r, fill)
		}
		return r
	}
	// Header and data rows 5000 cells wide, extra header cells unnamed.
	data := []byte(csvText(wide(canonHeader, ""), wide(rowOf(nil), ""), wide(rowOf(map[string]string{"户编号": "2"}), "1")))
	res := mustParse(t, data, Options{})
	checkInvariants(t, res)
	if len(res.Rows) != 2 || len(res.Problems) != 0 {
		t.Fatalf("csv: rows %d problems %v", len(res.Rows), problemKeys(res.Problems))
	}
	// A row that is only wide: its content is all beyond the header, so it
	// is not blank and fails on the empty required cells.
	tail := make([]string, cols)
	tail[cols-1] = "孤立的值"
	res = mustParse(t, []byte(csvText(canonHeader, tail)), Options{})
	if res.DataRows != 1 || len(res.Rows) != 0 {
		t.Fatalf("wide tail row: DataRows %d rows %d", res.DataRows, len(res.Rows))
	}
	// The same in a workbook.
	xl := rawXLSX(t, [][]string{wide(canonHeader, ""), wide(rowOf(nil), "填充")})
	res = mustParse(t, xl, Options{})
	checkInvariants(t, res)
	if len(res.Rows) != 1 || len(res.Problems) != 0 {
		t.Fatalf("xlsx: rows %d problems %v", len(res.Rows), problemKeys(res.Problems))
	}
}

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
