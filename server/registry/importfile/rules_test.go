package importfile

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// parseOne runs a single data row (row 2) through Parse.
func parseOne(t *testing.T, changes map[string]string) *Result {
	t.Helper()
	res := mustParse(t, []byte(csvText(canonHeader, rowOf(changes))), Options{})
	checkInvariants(t, res)
	if res.DataRows != 1 {
		t.Fatalf("DataRows = %d, want 1", res.DataRows)
	}
	return res
}

// Rows that must be accepted, and what they normalise to.
func TestRowAccepted(t *testing.T) {
	idX := makeID(t, "11010519491231002") // check character X
	tests := []struct {
		name    string
		changes map[string]string
		check   func(r Row) bool
	}{
		{"canonical row", nil, func(r Row) bool {
			return r.Line == 2 && r.Province == "重庆市" && r.City == "重庆市" && r.County == "奉节县" &&
				r.Township == "永乐镇" && r.Village == "双河村" && r.HouseholdNo == "50023600000001" &&
				r.HeadName == "段辉杰" && r.IDNumber == "500236194809252725" && r.FamilySize == 6 &&
				r.Category == "突发严重困难户" && r.RiskType == "因意外事故" && r.HasLabor &&
				r.Phone == "18822706930" && r.IdentifiedAt.Equal(time.Date(2022, 9, 5, 0, 0, 0, 0, time.UTC)) &&
				r.RiskEliminated
		}},
		{"spaces, ideographic space and NBSP trimmed", map[string]string{
			"户主姓名": "\u3000段辉杰\u00a0", "行政村": "  双河村\t", "监测对象类别": " 突发严重困难户\u3000", "户编号": "\u00a050023600000001 ",
		}, func(r Row) bool {
			return r.HeadName == "段辉杰" && r.Village == "双河村" && r.Category == "突发严重困难户" && r.HouseholdNo == "50023600000001"
		}},
		{"lower-case x normalised", map[string]string{"户主证件号码": strings.ToLower(idX)}, func(r Row) bool { return r.IDNumber == idX }},
		{"ID with stray spaces", map[string]string{"户主证件号码": " 500236194809252725 "}, func(r Row) bool { return r.IDNumber == "500236194809252725" }},
		{"full-width ID", map[string]string{"户主证件号码": "１１０１０５１９４９１２３１００２ｘ"}, func(r Row) bool { return r.IDNumber == idX }},
		{"ID kept as text with apostrophe", map[string]string{"户主证件号码": "'500236194809252725"}, func(r Row) bool { return r.IDNumber == "500236194809252725" }},
		{"ID kept as text with =\"\"", map[string]string{"户主证件号码": `="500236194809252725"`}, func(r Row) bool { return r.IDNumber == "500236194809252725" }},
		{"full-width phone", map[string]string{"联系电话": "１５２２０１２４９９２"}, func(r Row) bool { return r.Phone == "15220124992" }},
		{"phone with spaces", map[string]string{"联系电话": "152 2012 4992"}, func(r Row) bool { return r.Phone == "15220124992" }},
		{"landline with hyphen", map[string]string{"联系电话": "0797-1234567"}, func(r Row) bool { return r.Phone == "07971234567" }},
		{"landline 8 digits", map[string]string{"联系电话": "023-61234567"}, func(r Row) bool { return r.Phone == "02361234567" }},
		{"landline without hyphen", map[string]string{"联系电话": "02361234567"}, func(r Row) bool { return r.Phone == "02361234567" }},
		{"blank phone", map[string]string{"联系电话": ""}, func(r Row) bool { return r.Phone == "" }},
		{"full-width household number", map[string]string{"户编号": "５００２３６０００００００１"}, func(r Row) bool { return r.HouseholdNo == "50023600000001" }},
		{"date with slashes", map[string]string{"识别监测时间": "2023/01/05"}, isJan5},
		{"date without padding", map[string]string{"识别监测时间": "2023/1/5"}, isJan5},
		{"date with dots", map[string]string{"识别监测时间": "2023.01.05"}, isJan5},
		{"date as 8 digits", map[string]string{"识别监测时间": "20230105"}, isJan5},
		{"date in Chinese", map[string]string{"识别监测时间": "2023年1月5日"}, isJan5},
		{"date with time of day", map[string]string{"识别监测时间": "2023-01-05 00:00:00"}, isJan5},
		{"date with hyphens unpadded", map[string]string{"识别监测时间": "2023-1-5"}, isJan5},
		{"full-width date", map[string]string{"识别监测时间": "２０２３－０１－０５"}, isJan5},
		{"leap day", map[string]string{"识别监测时间": "2024-02-29"}, func(r Row) bool { return r.IdentifiedAt.Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) }},
		{"today in China", map[string]string{"识别监测时间": "2026-11-23"}, func(r Row) bool { return r.IdentifiedAt.Equal(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)) }},
		{"blank date", map[string]string{"识别监测时间": ""}, func(r Row) bool { return r.IdentifiedAt.IsZero() }},
		{"family size 1", map[string]string{"家庭人口数": "1"}, func(r Row) bool { return r.FamilySize == 1 }},
		{"family size 30", map[string]string{"家庭人口数": "30"}, func(r Row) bool { return r.FamilySize == 30 }},
		{"full-width family size", map[string]string{"家庭人口数": "３"}, func(r Row) bool { return r.FamilySize == 3 }},
		{"blank family size", map[string]string{"家庭人口数": ""}, func(r Row) bool { return r.FamilySize == 0 }},
		{"no labour", map[string]string{"是否有劳动能力": "否"}, func(r Row) bool { return !r.HasLabor }},
		{"risk not eliminated", map[string]string{"风险消除状态": "未消除"}, func(r Row) bool { return !r.RiskEliminated }},
		{"blank risk type", map[string]string{"主要风险类型": ""}, func(r Row) bool { return r.RiskType == "" }},
		{"each category", map[string]string{"监测对象类别": "边缘易致贫户"}, func(r Row) bool { return r.Category == "边缘易致贫户" }},
		{"blank province and city", map[string]string{"省": "", "市": ""}, func(r Row) bool { return r.Province == "" && r.City == "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := parseOne(t, tt.changes)
			if len(res.Problems) != 0 || len(res.Rows) != 1 {
				t.Fatalf("want 1 clean row, got %d rows and problems %v", len(res.Rows), problemKeys(res.Problems))
			}
			if !tt.check(res.Rows[0]) {
				t.Fatalf("row not normalised as expected: %+v", res.Rows[0])
			}
		})
	}
}

func isJan5(r Row) bool { return r.IdentifiedAt.Equal(time.Date(2023, 1, 5, 0, 0, 0, 0, time.UTC)) }

// Rows that must be rejected, and exactly which problems they produce.
func TestRowRejected(t *testing.T) {
	tests := []struct {
		name    string
		changes map[string]string
		want    []string // "column:code", in report order
	}{
		{"wrong check digit", map[string]string{"户主证件号码": "500236194809252724"}, []string{"户主证件号码:id_checksum"}},
		{"scientific notation", map[string]string{"户主证件号码": "5.00241E+17"}, []string{"户主证件号码:id_scientific_notation"}},
		{"scientific notation, lower-case e", map[string]string{"户主证件号码": "5.00241e+17"}, []string{"户主证件号码:id_scientific_notation"}},
		{"17 characters", map[string]string{"户主证件号码": "50023619480925272"}, []string{"户主证件号码:id_format"}},
		{"old 15-digit ID", map[string]string{"户主证件号码": "500236480925272"}, []string{"户主证件号码:id_format"}},
		{"letter inside ID", map[string]string{"户主证件号码": "50023619480925X725"}, []string{"户主证件号码:id_format"}},
		{"impossible birth date", map[string]string{"户主证件号码": makeID(t, "50023619480230272")}, []string{"户主证件号码:id_birth_date"}},
		{"birth date in the future", map[string]string{"户主证件号码": makeID(t, "50023620990101272")}, []string{"户主证件号码:id_birth_date"}},
		{"missing name", map[string]string{"户主姓名": ""}, []string{"户主姓名:missing_value"}},
		{"name of spaces only", map[string]string{"户主姓名": " \u3000 "}, []string{"户主姓名:missing_value"}},
		{"missing ID", map[string]string{"户主证件号码": ""}, []string{"户主证件号码:missing_value"}},
		{"missing county, township, village", map[string]string{"县（市、区）": "", "乡（镇）": "", "行政村": ""},
			[]string{"县（市、区）:missing_value", "乡（镇）:missing_value", "行政村:missing_value"}},
		{"missing household number", map[string]string{"户编号": ""}, []string{"户编号:missing_value"}},
		{"missing category", map[string]string{"监测对象类别": ""}, []string{"监测对象类别:missing_value"}},
		{"household number in scientific notation", map[string]string{"户编号": "5.00236E+13"}, []string{"户编号:scientific_notation"}},
		{"household number with Chinese", map[string]string{"户编号": "奉节001"}, []string{"户编号:bad_household_no"}},
		{"unknown category", map[string]string{"监测对象类别": "一般农户"}, []string{"监测对象类别:unknown_category"}},
		{"unknown risk type", map[string]string{"主要风险类型": "因懒"}, []string{"主要风险类型:unknown_risk_type"}},
		{"labour not 是/否", map[string]string{"是否有劳动能力": "有"}, []string{"是否有劳动能力:bad_value"}},
		{"risk status not 已消除/未消除", map[string]string{"风险消除状态": "消除"}, []string{"风险消除状态:bad_value"}},
		{"phone 10 digits", map[string]string{"联系电话": "1882270693"}, []string{"联系电话:bad_phone"}},
		{"phone 12 digits", map[string]string{"联系电话": "188227069301"}, []string{"联系电话:bad_phone"}},
		{"mobile not starting with 1", map[string]string{"联系电话": "28822706930"}, []string{"联系电话:bad_phone"}},
		{"two phones", map[string]string{"联系电话": "18822706930/13800138000"}, []string{"联系电话:bad_phone"}},
		{"landline with two hyphens", map[string]string{"联系电话": "0797-123-4567"}, []string{"联系电话:bad_phone"}},
		{"landline without area code", map[string]string{"联系电话": "1234567"}, []string{"联系电话:bad_phone"}},
		{"phone with letters", map[string]string{"联系电话": "无"}, []string{"联系电话:bad_phone"}},
		{"February 30", map[string]string{"识别监测时间": "2023-02-30"}, []string{"识别监测时间:bad_date"}},
		{"month 13", map[string]string{"识别监测时间": "2023/13/01"}, []string{"识别监测时间:bad_date"}},
		{"Feb 29 in a common year", map[string]string{"识别监测时间": "20230229"}, []string{"识别监测时间:bad_date"}},
		{"tomorrow", map[string]string{"识别监测时间": "2026-11-24"}, []string{"识别监测时间:bad_date"}},
		{"next year", map[string]string{"识别监测时间": "2027年1月1日"}, []string{"识别监测时间:bad_date"}},
		{"before 2000", map[string]string{"识别监测时间": "1999-12-31"}, []string{"识别监测时间:bad_date"}},
		{"Excel serial in a CSV", map[string]string{"识别监测时间": "44931"}, []string{"识别监测时间:bad_date"}},
		{"mixed separators", map[string]string{"识别监测时间": "2023-01/05"}, []string{"识别监测时间:bad_date"}},
		{"text date", map[string]string{"识别监测时间": "去年"}, []string{"识别监测时间:bad_date"}},
		{"family size 0", map[string]string{"家庭人口数": "0"}, []string{"家庭人口数:bad_number"}},
		{"family size 31", map[string]string{"家庭人口数": "31"}, []string{"家庭人口数:bad_number"}},
		{"family size fraction", map[string]string{"家庭人口数": "3.5"}, []string{"家庭人口数:bad_number"}},
		{"family size negative", map[string]string{"家庭人口数": "-2"}, []string{"家庭人口数:bad_number"}},
		{"family size text", map[string]string{"家庭人口数": "三"}, []string{"家庭人口数:bad_number"}},
		{"several problems in one row", map[string]string{
			"户主姓名": "", "户主证件号码": "5.00241E+17", "家庭人口数": "99", "监测对象类别": "低保户",
			"联系电话": "123", "识别监测时间": "2023-02-30", "是否有劳动能力": "不详",
		}, []string{
			"户主姓名:missing_value", "户主证件号码:id_scientific_notation", "家庭人口数:bad_number",
			"监测对象类别:unknown_category", "是否有劳动能力:bad_value", "联系电话:bad_phone", "识别监测时间:bad_date",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := parseOne(t, tt.changes)
			if len(res.Rows) != 0 {
				t.Errorf("defective row was accepted: %+v", res.Rows[0])
			}
			var got []string
			for _, p := range res.Problems {
				if p.Line != 2 {
					t.Errorf("problem on line %d, want 2", p.Line)
				}
				got = append(got, p.Column+":"+p.Code)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("problems = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestScientificNotationMessageSaysDigitsAreLost(t *testing.T) {
	res := parseOne(t, map[string]string{"户主证件号码": "5.00241E+17"})
	p := res.Problems[0]
	if !strings.Contains(p.Message, "丢失") || !strings.Contains(p.Message, "文本") {
		t.Errorf("Chinese message should say digits are lost and to use a text column: %s", p.Message)
	}
	if !strings.Contains(p.MessageEN, "lost") || !strings.Contains(p.MessageEN, "re-export") {
		t.Errorf("English message should say digits are lost and to re-export: %s", p.MessageEN)
	}
}

func TestChecksumMessageNamesExpectedDigitNotTheID(t *testing.T) {
	res := parseOne(t, map[string]string{"户主证件号码": "500236194809252724"})
	p := res.Problems[0]
	if !strings.Contains(p.Message, "应为 5") {
		t.Errorf("message should give the expected check digit 5: %s", p.Message)
	}
	if strings.Contains(p.Message+p.MessageEN, "500236194809252724") {
		t.Errorf("message must not echo the ID number: %s", p.Message)
	}
}

func TestPhoneMessageDoesNotEchoNumber(t *testing.T) {
	res := parseOne(t, map[string]string{"联系电话": "1882270693"})
	if p := res.Problems[0]; strings.Contains(p.Message+p.MessageEN, "1882270693") {
		t.Errorf("phone message echoes the number: %s", p.Message)
	}
}

func TestDuplicateHouseholdNumbers(t *testing.T) {
	id2 := makeID(t, "50023619500101001")
	id3 := makeID(t, "50023619500101002")
	id4 := makeID(t, "50023619500101003")
	data := csvText(canonHeader,
		rowOf(nil), // row 2: 50023600000001
		rowOf(map[string]string{"户编号": "50023600000002", "户主证件号码": id2}),             // row 3
		rowOf(map[string]string{"户编号": "50023600000001", "户主证件号码": id3}),             // row 4: duplicate of row 2
		rowOf(map[string]string{"户编号": "５００２３６０００００００１", "户主证件号码": id4, "户主姓名": ""}), // row 5: third copy, itself defective
	)
	res := mustParse(t, []byte(data), Options{})
	checkInvariants(t, res)
	if len(res.Rows) != 1 || res.Rows[0].Line != 3 {
		t.Fatalf("want only row 3 accepted, got %+v", res.Rows)
	}
	want := []string{
		"2:户编号:duplicate_household_no",
		"4:户编号:duplicate_household_no",
		"5:户主姓名:missing_value",
		"5:户编号:duplicate_household_no",
	}
	if got := problemKeys(res.Problems); !slices.Equal(got, want) {
		t.Fatalf("problems = %v, want %v", got, want)
	}
	// Each names the other rows.
	for _, tc := range []struct {
		i      int
		others []string
	}{{0, []string{"4", "5"}}, {1, []string{"2", "5"}}, {3, []string{"2", "4"}}} {
		p := res.Problems[tc.i]
		for _, o := range tc.others {
			if !strings.Contains(p.Message, o) || !strings.Contains(p.MessageEN, o) {
				t.Errorf("row %d duplicate message does not name row %s: %s / %s", p.Line, o, p.Message, p.MessageEN)
			}
		}
	}
}

func TestBlankRowsSkippedNotCounted(t *testing.T) {
	data := csvText(canonHeader, rowOf(nil)) +
		",,,,,,,,,,,,,,\r\n" + // row 3: empty cells
		"\r\n" + // row 4: empty line, which Excel still shows as a row
		" ,\u3000,\u00a0,\t,,,,,,,,,,,\r\n" + // row 5: only spaces
		csvText(rowOf(map[string]string{"户编号": "50023600000002", "户主证件号码": makeID(t, "50023619500101001")})) // row 6
	res := mustParse(t, []byte(data), Options{})
	checkInvariants(t, res)
	if res.DataRows != 2 || len(res.Rows) != 2 || len(res.Problems) != 0 {
		t.Fatalf("DataRows=%d rows=%d problems=%v; want 2, 2, none", res.DataRows, len(res.Rows), problemKeys(res.Problems))
	}
	if res.Rows[1].Line != 6 {
		t.Errorf("second row Line = %d, want 6 (blank rows still take a row number)", res.Rows[1].Line)
	}
}

func TestCellTooLarge(t *testing.T) {
	res := parseOne(t, map[string]string{"户主姓名": strings.Repeat("段", 100), "行政村": strings.Repeat("村", 5)})
	if len(res.Problems) != 0 {
		t.Fatalf("default cap should allow 300 bytes: %v", problemKeys(res.Problems))
	}
	data := csvText(canonHeader, rowOf(map[string]string{"户主姓名": strings.Repeat("段", 100)}))
	res = mustParse(t, []byte(data), Options{MaxCellBytes: 64})
	checkInvariants(t, res)
	if got := problemKeys(res.Problems); !slices.Equal(got, []string{"2:户主姓名:cell_too_large"}) {
		t.Fatalf("problems = %v, want cell_too_large on 户主姓名", got)
	}
}

func TestBadEncodingInUTF8File(t *testing.T) {
	// One name pasted in from a GBK file near the top must not make the
	// whole file GBK.
	data := csvText(canonHeader,
		rowOf(map[string]string{"户主姓名": "\xb6\xce\xbb\xd4"}), // 段辉 in GBK
		rowOf(map[string]string{"户编号": "50023600000002", "户主证件号码": "11010519491231002X"}),
	)
	res := mustParse(t, []byte(data), Options{})
	checkInvariants(t, res)
	if res.Encoding != "utf-8" {
		t.Fatalf("Encoding = %q, want utf-8", res.Encoding)
	}
	if got := problemKeys(res.Problems); !slices.Equal(got, []string{"2:户主姓名:bad_encoding"}) {
		t.Fatalf("problems = %v", got)
	}
	if len(res.Rows) != 1 || res.Rows[0].HeadName != "段辉杰" {
		t.Fatalf("rows = %+v", res.Rows)
	}
}

func TestBadEncodingAfterSniffWindow(t *testing.T) {
	// A UTF-8 file whose later rows were pasted in from a GBK file: the
	// encoding is settled from the start, so the garbled cells must be
	// reported, not imported as mojibake.
	var b strings.Builder
	b.WriteString(csvText(canonHeader))
	n := 0
	for b.Len() < sniffBytes+1024 {
		n++
		b.WriteString(csvText(rowOf(map[string]string{
			"户编号":    fmt.Sprintf("500236%08d", n),
			"户主证件号码": makeID(t, fmt.Sprintf("50023619500101%03d", n)),
		})))
	}
	b.WriteString(csvText(rowOf(map[string]string{"户编号": "50023699999999", "户主姓名": "\xb6\xce\xbb\xd4"}))) // 段辉 in GBK
	res := mustParse(t, []byte(b.String()), Options{})
	checkInvariants(t, res)
	if res.Encoding != "utf-8" {
		t.Fatalf("Encoding = %q, want utf-8", res.Encoding)
	}
	last := n + 2
	if got := problemKeys(res.Problems); !slices.Equal(got, []string{itoa(last) + ":户主姓名:bad_encoding"}) {
		t.Fatalf("problems = %v, want bad_encoding on row %d", got, last)
	}
	if len(res.Rows) != n {
		t.Fatalf("rows = %d, want %d", len(res.Rows), n)
	}
}
