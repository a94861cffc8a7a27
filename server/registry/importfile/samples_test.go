package importfile

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

// sampleDir holds the county sample lists described in its README.
const sampleDir = "../../../../shared/data"

func readSample(t *testing.T, name string) []byte {
	t.Helper()
	path := filepath.Join(sampleDir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("sample list %s is missing (%v): these tests need /work/shared/data, reached as %s from this package; they are not optional", name, err, sampleDir)
	}
	return b
}

// linesWith returns the sorted lines of problems with the given code.
func linesWith(ps []Problem, code string) []int {
	var out []int
	for _, p := range ps {
		if p.Code == code {
			out = append(out, p.Line)
		}
	}
	return out
}

func rowAt(t *testing.T, res *Result, line int) Row {
	t.Helper()
	for _, r := range res.Rows {
		if r.Line == line {
			return r
		}
	}
	t.Fatalf("row %d not among the accepted rows", line)
	return Row{}
}

// Every defect class the data README lists is found in the October list,
// at the rows where it actually is, and nothing else is flagged.
func TestSampleOctober(t *testing.T) {
	res := mustParse(t, readSample(t, "monitoring-list-2026-10.csv"), Options{})
	checkInvariants(t, res)
	if res.Format != "csv" || res.Encoding != "utf-8-bom" {
		t.Fatalf("format %q encoding %q", res.Format, res.Encoding)
	}
	// 2,000 rows below the header, 5 of them blank.
	if res.DataRows != 1995 || len(res.Rows) != 1954 || len(res.Problems) != 41 {
		t.Fatalf("DataRows %d rows %d problems %d; want 1995, 1954, 41", res.DataRows, len(res.Rows), len(res.Problems))
	}
	wantCounts := map[string]int{
		CodeIDChecksum:         9,
		CodeIDScientific:       4,
		CodeUnknownCategory:    9,
		CodeMissingValue:       9,
		CodeDuplicateHousehold: 10,
	}
	if got := codeCounts(res.Problems); !maps.Equal(got, wantCounts) {
		t.Fatalf("problem counts %v, want %v", got, wantCounts)
	}
	wantLines := map[string][]int{
		CodeIDChecksum:         {456, 668, 772, 983, 1049, 1093, 1224, 1737, 1938},
		CodeIDScientific:       {335, 1115, 1282, 1509},
		CodeUnknownCategory:    {166, 471, 807, 885, 1045, 1062, 1407, 1489, 1715},
		CodeMissingValue:       {122, 230, 637, 1046, 1291, 1671, 1748, 1806, 1891},
		CodeDuplicateHousehold: {221, 293, 550, 619, 694, 1019, 1373, 1462, 1535, 1816},
	}
	for code, want := range wantLines {
		if got := linesWith(res.Problems, code); !slices.Equal(got, want) {
			t.Errorf("%s on rows %v, want %v", code, got, want)
		}
	}
	for _, p := range res.Problems {
		if p.Code == CodeMissingValue && p.Column != "户主姓名" {
			t.Errorf("row %d: missing value in %s, want only missing names", p.Line, p.Column)
		}
		if p.Code == CodeUnknownCategory && !strings.Contains(p.Message, "一般农户") {
			t.Errorf("row %d: unknown category message does not name the value: %s", p.Line, p.Message)
		}
	}
	// Duplicates name each other.
	for _, pair := range [][2]int{{221, 293}, {550, 619}, {694, 1373}, {1019, 1535}, {1462, 1816}} {
		for i, p := range res.Problems {
			if p.Code == CodeDuplicateHousehold && p.Line == pair[0] && !strings.Contains(p.Message, itoa(pair[1])) {
				t.Errorf("problem %d: row %d does not name row %d: %s", i, pair[0], pair[1], p.Message)
			}
			if p.Code == CodeDuplicateHousehold && p.Line == pair[1] && !strings.Contains(p.Message, itoa(pair[0])) {
				t.Errorf("problem %d: row %d does not name row %d: %s", i, pair[1], pair[0], p.Message)
			}
		}
	}

	// Defects that are repaired, not rejected.
	if r := rowAt(t, res, 452); r.IDNumber != "36112719520122116X" { // " 36112719520122116x "
		t.Errorf("row 452: lower-case x with spaces read as %q", r.IDNumber)
	}
	if r := rowAt(t, res, 41); r.IDNumber != "500236196307205928" { // " 500236196307205928 "
		t.Errorf("row 41: ID with stray spaces read as %q", r.IDNumber)
	}
	for line, phone := range map[int]string{582: "15220124992", 1221: "14171308917", 1735: "14069642669", 1916: "18475652272"} {
		if r := rowAt(t, res, line); r.Phone != phone { // full-width digits
			t.Errorf("row %d: full-width phone read as %q, want %q", line, r.Phone, phone)
		}
	}
	for line, date := range map[int]time.Time{
		146:  time.Date(2022, 12, 10, 0, 0, 0, 0, time.UTC), // 2022/12/10
		1837: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),   // 2024/03/01
	} {
		if r := rowAt(t, res, line); !r.IdentifiedAt.Equal(date) {
			t.Errorf("row %d: slash date read as %v, want %v", line, r.IdentifiedAt, date)
		}
	}
	// Blank rows are neither rows nor problems.
	for _, blank := range []int{157, 373, 560, 614, 825} {
		for _, r := range res.Rows {
			if r.Line == blank {
				t.Errorf("blank row %d was returned", blank)
			}
		}
		if slices.Contains(linesWithAny(res.Problems), blank) {
			t.Errorf("blank row %d was reported", blank)
		}
	}
	first := res.Rows[0]
	want := Row{Line: 2, Province: "重庆市", City: "重庆市", County: "奉节县", Township: "永乐镇", Village: "双河村",
		HouseholdNo: "50023600000001", HeadName: "段辉杰", IDNumber: "500236194809252725", FamilySize: 6,
		Category: "突发严重困难户", RiskType: "因意外事故", HasLabor: true, Phone: "18822706930",
		IdentifiedAt: time.Date(2022, 9, 5, 0, 0, 0, 0, time.UTC), RiskEliminated: true}
	if first != want {
		t.Errorf("first row\n got %+v\nwant %+v", first, want)
	}
}

func linesWithAny(ps []Problem) []int {
	var out []int
	for _, p := range ps {
		out = append(out, p.Line)
	}
	return out
}

// The November list is October's successor; parsed clean rows must support
// the month-over-month comparison the data README describes.
func TestSampleNovemberAgainstOctober(t *testing.T) {
	oct := mustParse(t, readSample(t, "monitoring-list-2026-10.csv"), Options{})
	nov := mustParse(t, readSample(t, "monitoring-list-2026-11.csv"), Options{})
	checkInvariants(t, nov)
	if nov.DataRows != 2105 || len(nov.Rows) != 2065 {
		t.Fatalf("November: DataRows %d rows %d; want 2105, 2065", nov.DataRows, len(nov.Rows))
	}
	wantCounts := map[string]int{CodeIDChecksum: 9, CodeIDScientific: 3, CodeUnknownCategory: 9, CodeMissingValue: 9, CodeDuplicateHousehold: 10}
	if got := codeCounts(nov.Problems); !maps.Equal(got, wantCounts) {
		t.Fatalf("November problem counts %v, want %v", got, wantCounts)
	}
	byHN := func(res *Result) map[string]Row {
		m := make(map[string]Row, len(res.Rows))
		for _, r := range res.Rows {
			m[r.HouseholdNo] = r
		}
		return m
	}
	o, n := byHN(oct), byHN(nov)
	gone, added := 0, 0
	for hn := range o {
		if _, ok := n[hn]; !ok {
			gone++
		}
	}
	for hn := range n {
		if _, ok := o[hn]; !ok {
			added++
		}
	}
	// The README's 40 departures include one household whose October row
	// is defective (its ID is in scientific notation), so 39 among clean rows.
	if added != 150 || gone != 39 {
		t.Fatalf("new households %d, gone %d; want 150 and 39", added, gone)
	}
}

func TestSampleGBK(t *testing.T) {
	res := mustParse(t, readSample(t, "monitoring-list-gbk.csv"), Options{})
	checkInvariants(t, res)
	if res.Encoding != "gb18030" {
		t.Fatalf("Encoding = %q, want gb18030", res.Encoding)
	}
	if res.DataRows != 298 || len(res.Rows) != 294 {
		t.Fatalf("DataRows %d rows %d; want 298, 294", res.DataRows, len(res.Rows))
	}
	want := []string{
		"87:户编号:duplicate_household_no",
		"106:户主证件号码:id_scientific_notation",
		"180:户主证件号码:id_checksum",
		"188:户编号:duplicate_household_no",
	}
	if got := problemKeys(res.Problems); !slices.Equal(got, want) {
		t.Fatalf("problems %v, want %v", got, want)
	}
	if r := res.Rows[0]; r.HeadName != "莫水涛" || r.County != "秀山土家族苗族自治县" || r.Township != "清溪场街道" || r.Category != "边缘易致贫户" {
		t.Fatalf("first row not decoded: %+v", r)
	}
	// Every name decodes to real Chinese characters.
	for _, r := range res.Rows {
		if r.HeadName == "" {
			t.Fatalf("row %d: empty name", r.Line)
		}
		for _, c := range r.HeadName {
			if !unicode.Is(unicode.Han, c) {
				t.Fatalf("row %d: name %q has a non-Han character %U", r.Line, r.HeadName, c)
			}
		}
	}
	for line, phone := range map[int]string{71: "19912055631", 78: "15971129298", 227: "14555461196", 282: "13579713405"} {
		if r := rowAt(t, res, line); r.Phone != phone {
			t.Errorf("row %d: full-width phone read as %q, want %q", line, r.Phone, phone)
		}
	}
}

func TestSampleXLSX(t *testing.T) {
	res := mustParse(t, readSample(t, "monitoring-list.xlsx"), Options{})
	checkInvariants(t, res)
	if res.Format != "xlsx" || res.Encoding != "xlsx" || res.Sheet != "Sheet1" {
		t.Fatalf("format %q encoding %q sheet %q", res.Format, res.Encoding, res.Sheet)
	}
	if len(res.Rows) != 300 || len(res.Problems) != 0 || res.DataRows != 300 {
		t.Fatalf("rows %d problems %v DataRows %d; want 300 clean rows", len(res.Rows), problemKeys(res.Problems), res.DataRows)
	}
	first, last := res.Rows[0], res.Rows[299]
	if first.Line != 2 || first.HeadName != "夏春利" || first.IDNumber != "361127196003246731" ||
		!first.IdentifiedAt.Equal(time.Date(2023, 5, 9, 0, 0, 0, 0, time.UTC)) || first.FamilySize != 6 {
		t.Errorf("first row %+v", first)
	}
	if last.Line != 301 || last.HeadName != "曾永水" || last.HouseholdNo != "50024100000300" {
		t.Errorf("last row %+v", last)
	}
}
