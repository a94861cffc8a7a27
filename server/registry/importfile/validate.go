package importfile

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/width"
)

// Categories are the three kinds of monitored household (监测对象类别).
var Categories = []string{"脱贫不稳定户", "边缘易致贫户", "突发严重困难户"}

// RiskTypes are the main risk types (主要风险类型) used by the national
// monitoring system and the provincial systems that feed it. The list is the
// union of what county exports contain; names are matched exactly.
var RiskTypes = []string{
	"因病", "因残", "因学", "因灾", "因意外事故", "因疫情",
	"缺劳动力", "缺技术", "缺资金", "缺土地", "缺水",
	"交通条件落后", "自身发展动力不足",
	"务工就业不稳", "产业项目失败",
	"住房出现安全问题", "饮水安全问题", "义务教育保障问题", "基本医疗保障问题",
	"其他",
}

// chinaTime is where the lists are produced; "today" means today there.
// A fixed zone avoids depending on the tzdata of the host.
var chinaTime = time.FixedZone("CST", 8*60*60)

// earliestIdentified rejects dates no monitoring list can hold: the
// mechanism dates from 2020, and anything before 2000 is a typo or an Excel
// serial of 0.
var earliestIdentified = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// earliestBirth bounds birth dates embedded in ID numbers.
var earliestBirth = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

const (
	minFamilySize = 1
	maxFamilySize = 30
)

// validator checks rows one at a time and remembers what it needs to find
// duplicate household numbers at the end.
type validator struct {
	h        header
	maxCell  int
	today    time.Time
	xlsx     bool // cells are raw XLSX values: dates may be serial numbers
	date1904 bool
	cats     map[string]bool
	risks    map[string]bool

	// Clean rows so far, in fixed-size chunks: appending to one slice of
	// half a million rows would copy it again and again as it grows.
	chunks   [][]Row
	nrows    int
	rowBad   []bool // by row index across chunks
	problems []Problem
	firstHN  map[string]hnSeen   // first row with each household number
	dupHN    map[string][]hnSeen // every row, for numbers seen more than once

	// per row
	line   int
	bad    bool
	county string             // the row's county cell, trimmed, when readable
	val    [numColumns]string // trimmed cell text
	ok     [numColumns]bool   // column present and cell readable
}

// present reports whether column c has a value to check, reporting a
// required column left blank.
func (v *validator) present(c column) bool {
	if !v.ok[c] {
		return false
	}
	if v.val[c] != "" {
		return true
	}
	if columnSpecs[c].required {
		v.add(c, CodeMissingValue,
			fmt.Sprintf("“%s”不能为空", columnSpecs[c].name),
			fmt.Sprintf("%s is empty", columnSpecs[c].nameEN))
	}
	return false
}

const rowChunk = 4096

type hnSeen struct {
	line   int
	row    int    // index in rows, -1 if the row already had problems
	county string // the row's county, for Problem.County
}

func newValidator(h header, opts Options) *validator {
	now := opts.Now().In(chinaTime)
	v := &validator{
		h:       h,
		maxCell: opts.MaxCellBytes,
		today:   time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC),
		cats:    setOf(Categories),
		risks:   setOf(RiskTypes),
		firstHN: make(map[string]hnSeen),
		dupHN:   make(map[string][]hnSeen),
	}
	return v
}

func setOf(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

func (v *validator) add(col column, code, zh, en string) {
	name := ""
	if col >= 0 {
		name = columnSpecs[col].name
	}
	v.problems = append(v.problems, Problem{Line: v.line, Column: name, Code: code, Message: zh, MessageEN: en, County: v.county})
	v.bad = true
}

// row validates one non-blank record.
func (v *validator) row(rec record) {
	v.line, v.bad = rec.line, false
	v.county = ""
	if i := v.h.idx[colCounty]; i >= 0 && i < len(rec.cells) && !rec.cells[i].tooBig && utf8.ValidString(rec.cells[i].v) {
		v.county = trimSpace(rec.cells[i].v)
	}

	// Gather the cells; an oversized or garbled cell is reported once here
	// and then treated as unusable (v.ok false) by the checks below.
	for c := range numColumns {
		v.val[c], v.ok[c] = "", false
		i := v.h.idx[c]
		if i < 0 {
			continue
		}
		var cl cell
		if i < len(rec.cells) {
			cl = rec.cells[i]
		}
		switch {
		case cl.tooBig:
			v.add(c, CodeCellTooLarge,
				fmt.Sprintf("“%s”单元格超过 %d 字节，未读取；请检查是否误粘贴了大段内容", columnSpecs[c].name, v.maxCell),
				fmt.Sprintf("%s: cell is larger than %d bytes and was not read; was a large block of text pasted by mistake?", columnSpecs[c].nameEN, v.maxCell))
		case !utf8.ValidString(cl.v) || strings.ContainsRune(cl.v, utf8.RuneError):
			v.add(c, CodeBadEncoding,
				fmt.Sprintf("“%s”含有无法识别的字符（乱码），请确认文件编码为 UTF-8 或 GBK", columnSpecs[c].name),
				fmt.Sprintf("%s: contains unreadable characters; check that the file is saved as UTF-8 or GBK", columnSpecs[c].nameEN))
		default:
			v.val[c], v.ok[c] = trimSpace(cl.v), true
		}
	}
	val, present := &v.val, v.present

	r := Row{Line: rec.line}
	if present(colProvince) {
		r.Province = val[colProvince]
	}
	if present(colCity) {
		r.City = val[colCity]
	}
	if present(colCounty) {
		r.County = val[colCounty]
	}
	if present(colTownship) {
		r.Township = val[colTownship]
	}
	if present(colVillage) {
		r.Village = val[colVillage]
	}
	if present(colHouseholdNo) {
		r.HouseholdNo = v.householdNo(val[colHouseholdNo])
	}
	if present(colHeadName) {
		r.HeadName = val[colHeadName]
	}
	if present(colIDNumber) {
		r.IDNumber = v.idNumber(val[colIDNumber])
	}
	if present(colFamilySize) {
		r.FamilySize = v.familySize(val[colFamilySize])
	}
	if present(colCategory) {
		r.Category = val[colCategory]
		if !v.cats[r.Category] {
			v.add(colCategory, CodeUnknownCategory,
				fmt.Sprintf("监测对象类别“%s”不在规定范围内，应为%s之一", quoteUser(r.Category), strings.Join(Categories, "、")),
				fmt.Sprintf("unknown monitoring category %q; expected one of %s", quoteUser(r.Category), strings.Join(Categories, ", ")))
		}
	}
	if present(colRiskType) {
		r.RiskType = val[colRiskType]
		if !v.risks[r.RiskType] {
			v.add(colRiskType, CodeUnknownRiskType,
				fmt.Sprintf("主要风险类型“%s”不在规定的风险类型中（如因病、因残、因学、缺劳动力、其他等）", quoteUser(r.RiskType)),
				fmt.Sprintf("unknown main risk type %q (expected one of the official types such as 因病, 因残, 因学, 缺劳动力, 其他)", quoteUser(r.RiskType)))
		}
	}
	if present(colHasLabor) {
		switch val[colHasLabor] {
		case "是":
			r.HasLabor = true
		case "否":
		default:
			v.add(colHasLabor, CodeBadValue,
				fmt.Sprintf("是否有劳动能力应填“是”或“否”，实际为“%s”", quoteUser(val[colHasLabor])),
				fmt.Sprintf("able to work must be 是 (yes) or 否 (no), got %q", quoteUser(val[colHasLabor])))
		}
	}
	if present(colPhone) {
		r.Phone = v.phone(val[colPhone])
	}
	if present(colIdentifiedAt) {
		r.IdentifiedAt = v.identifiedAt(val[colIdentifiedAt])
	}
	if present(colRiskEliminated) {
		switch val[colRiskEliminated] {
		case "已消除", "风险已消除":
			r.RiskEliminated = true
		case "未消除", "风险未消除":
		default:
			v.add(colRiskEliminated, CodeBadValue,
				fmt.Sprintf("风险消除状态应填“已消除”或“未消除”，实际为“%s”", quoteUser(val[colRiskEliminated])),
				fmt.Sprintf("risk status must be 已消除 (eliminated) or 未消除 (not eliminated), got %q", quoteUser(val[colRiskEliminated])))
		}
	}

	idx := -1
	if !v.bad {
		idx = v.nrows
		if len(v.chunks) == 0 || len(v.chunks[len(v.chunks)-1]) == rowChunk {
			v.chunks = append(v.chunks, make([]Row, 0, rowChunk))
		}
		last := &v.chunks[len(v.chunks)-1]
		*last = append(*last, r)
		v.nrows++
		v.rowBad = append(v.rowBad, false)
	}
	if r.HouseholdNo != "" {
		seen := hnSeen{line: rec.line, row: idx, county: v.county}
		switch first, dup := v.firstHN[r.HouseholdNo]; {
		case !dup:
			v.firstHN[r.HouseholdNo] = seen
		case v.dupHN[r.HouseholdNo] == nil:
			v.dupHN[r.HouseholdNo] = []hnSeen{first, seen}
		default:
			v.dupHN[r.HouseholdNo] = append(v.dupHN[r.HouseholdNo], seen)
		}
	}
}

// finish reports duplicate household numbers and returns the clean rows and
// all problems in row order.
func (v *validator) finish() ([]Row, []Problem) {
	for hn, seen := range v.dupHN {
		for i, s := range seen {
			others := make([]string, 0, len(seen)-1)
			for j, o := range seen {
				if j != i {
					others = append(others, strconv.Itoa(o.line))
				}
			}
			v.line, v.county = s.line, s.county
			v.add(colHouseholdNo, CodeDuplicateHousehold,
				fmt.Sprintf("户编号 %s 在文件中重复出现（另见第 %s 行），这几行都不会导入，请核实后只保留一行", hn, strings.Join(others, "、")),
				fmt.Sprintf("household number %s appears more than once (also row %s); none of these rows is imported, keep only one", hn, strings.Join(others, ", ")))
			if s.row >= 0 {
				v.rowBad[s.row] = true
			}
		}
	}
	good := 0
	for _, bad := range v.rowBad {
		if !bad {
			good++
		}
	}
	rows := make([]Row, 0, good)
	for c, chunk := range v.chunks {
		for i, r := range chunk {
			if !v.rowBad[c*rowChunk+i] {
				rows = append(rows, r)
			}
		}
	}
	v.chunks = nil
	sortProblems(v.problems)
	return rows, v.problems
}

// normCode prepares a cell holding a code (ID, household number, phone):
// full-width digits and letters become ASCII, and the tricks people use to
// keep Excel from turning codes into numbers ('123, ="123") are undone.
func normCode(s string) string {
	s = foldWidth(s)
	if len(s) >= 3 && s[0] == '=' && s[1] == '"' && s[len(s)-1] == '"' {
		s = s[2 : len(s)-1]
	}
	s = strings.TrimPrefix(s, "'")
	return trimSpace(s)
}

// foldWidth maps full-width forms to ASCII (ＡＢ１２ -> AB12) and trims.
func foldWidth(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return trimSpace(width.Fold.String(s))
		}
	}
	return s
}

// isScientific matches what Excel shows for long numbers: 5.00241E+17.
func isScientific(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	digits := 0
	for i < len(s) && isDigit(s[i]) {
		i, digits = i+1, digits+1
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i, digits = i+1, digits+1
		}
	}
	if digits == 0 || i >= len(s) || (s[i] != 'e' && s[i] != 'E') {
		return false
	}
	i++
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	exp := 0
	for i < len(s) && isDigit(s[i]) {
		i, exp = i+1, exp+1
	}
	return exp > 0 && i == len(s)
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func removeSpaces(s string) string {
	if !strings.ContainsAny(s, " \t") {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return -1
		}
		return r
	}, s)
}

func (v *validator) householdNo(raw string) string {
	s := normCode(raw)
	if isScientific(s) {
		v.add(colHouseholdNo, CodeScientific,
			"户编号被 Excel 显示为科学计数法，后几位数字已经丢失，无法恢复；请重新导出，或把该列设置为“文本”格式后重新填写",
			"the household number was turned into scientific notation by Excel; its last digits are lost: re-export the list, or format the column as Text and re-enter it")
		return ""
	}
	okChars := len(s) <= 40
	for i := 0; i < len(s) && okChars; i++ {
		b := s[i]
		okChars = isDigit(b) || ('A' <= b && b <= 'Z') || ('a' <= b && b <= 'z') || b == '-'
	}
	if !okChars {
		v.add(colHouseholdNo, CodeBadHouseholdNo,
			"户编号只能由数字、字母和连字符组成（不超过 40 位）",
			"the household number may contain only digits, letters and hyphens (at most 40)")
		return ""
	}
	return s
}

func (v *validator) idNumber(raw string) string {
	s := removeSpaces(normCode(raw))
	if isScientific(s) {
		v.add(colIDNumber, CodeIDScientific,
			"证件号码被 Excel 变成了科学计数法（如 5.00241E+17），后几位数字已经丢失，无法恢复；请从原系统重新导出，或在 Excel 中把该列设置为“文本”格式后重新填写号码",
			"the ID number was turned into scientific notation by Excel (e.g. 5.00241E+17); its last digits are lost and cannot be recovered: re-export the list, or format the column as Text in Excel and re-enter the numbers")
		return ""
	}
	s = strings.ToUpper(s)
	if len(s) != 18 || !allDigits(s[:17]) || !(isDigit(s[17]) || s[17] == 'X') {
		zh := fmt.Sprintf("证件号码应为 18 位（17 位数字加 1 位数字或 X），实际为 %d 个字符", utf8.RuneCountInString(s))
		en := fmt.Sprintf("the ID number must be 18 characters (17 digits and a digit or X), got %d", utf8.RuneCountInString(s))
		if len(s) == 15 && allDigits(s) {
			zh = "这是 15 位的旧身份证号码，请换成 18 位号码"
			en = "this is an old 15-digit ID number; use the 18-digit number"
		}
		v.add(colIDNumber, CodeIDFormat, zh, en)
		return ""
	}
	want, _ := IDCheckDigit(s[:17])
	if s[17] != want {
		zh := fmt.Sprintf("证件号码校验位不正确（按前 17 位计算，第 18 位应为 %c），可能有数字录错", want)
		en := fmt.Sprintf("wrong ID check digit (from the first 17 digits the 18th should be %c); a digit is probably mistyped", want)
		if strings.HasSuffix(s[:17], "00") && s[17] == '0' {
			zh += "；末三位是 000，多半是 Excel 把号码当作数字保存时丢了精度，请把该列设为“文本”后重新填写"
			en += "; it ends in 000, which usually means Excel stored it as a number and lost precision: format the column as Text and re-enter it"
		}
		v.add(colIDNumber, CodeIDChecksum, zh, en)
		return ""
	}
	birth, okDate := idBirthDate(s)
	if !okDate || birth.Before(earliestBirth) || birth.After(v.today) {
		v.add(colIDNumber, CodeIDBirthDate,
			"证件号码中的出生日期（第 7-14 位）不是有效日期",
			"the birth date in the ID number (characters 7-14) is not a valid date")
		return ""
	}
	return s
}

func (v *validator) familySize(raw string) int {
	s := foldWidth(raw)
	// Numeric XLSX cells may come as "3.0".
	if t, found := strings.CutSuffix(s, ".0"); found {
		s = t
	}
	n, err := strconv.Atoi(s)
	if err != nil || !allDigits(s) || n < minFamilySize || n > maxFamilySize {
		v.add(colFamilySize, CodeBadNumber,
			fmt.Sprintf("家庭人口数应为 %d 到 %d 之间的整数，实际为“%s”", minFamilySize, maxFamilySize, quoteUser(raw)),
			fmt.Sprintf("family size must be a whole number from %d to %d, got %q", minFamilySize, maxFamilySize, quoteUser(raw)))
		return 0
	}
	return n
}

func (v *validator) phone(raw string) string {
	s := removeSpaces(normCode(raw))
	switch {
	case len(s) == 11 && s[0] == '1' && allDigits(s):
		return s
	case isLandline(s):
		return strings.Replace(s, "-", "", 1)
	}
	v.add(colPhone, CodeBadPhone,
		"联系电话应为 11 位手机号，或带区号的固定电话（如 0797-1234567）；多个号码请只留一个",
		"the phone must be an 11-digit mobile number or a landline with area code (e.g. 0797-1234567); keep only one number")
	return ""
}

// isLandline accepts an area code starting with 0 and a 7- or 8-digit local
// number, with or without one hyphen between them: 0797-1234567, 02361234567.
func isLandline(s string) bool {
	if s == "" || s[0] != '0' {
		return false
	}
	if area, local, found := strings.Cut(s, "-"); found {
		return len(area) >= 3 && len(area) <= 4 && allDigits(area) &&
			len(local) >= 7 && len(local) <= 8 && allDigits(local)
	}
	return len(s) >= 10 && len(s) <= 12 && allDigits(s)
}

func (v *validator) identifiedAt(raw string) time.Time {
	s := foldWidth(raw)
	t, ok := parseDate(s)
	if !ok && v.xlsx {
		t, ok = excelSerialDate(s, v.date1904)
	}
	shown := quoteUser(raw)
	switch {
	case !ok:
		v.add(colIdentifiedAt, CodeBadDate,
			fmt.Sprintf("识别监测时间“%s”不是有效日期（可写作 2023-01-05、2023/1/5、2023.01.05、20230105 或 2023年1月5日）", shown),
			fmt.Sprintf("identified-on date %q is not a valid date (write 2023-01-05, 2023/1/5, 2023.01.05, 20230105 or 2023年1月5日)", shown))
	case t.After(v.today):
		v.add(colIdentifiedAt, CodeBadDate,
			fmt.Sprintf("识别监测时间 %s 晚于今天", t.Format(time.DateOnly)),
			fmt.Sprintf("identified-on date %s is in the future", t.Format(time.DateOnly)))
	case t.Before(earliestIdentified):
		v.add(colIdentifiedAt, CodeBadDate,
			fmt.Sprintf("识别监测时间 %s 早于 2000 年，请核实", t.Format(time.DateOnly)),
			fmt.Sprintf("identified-on date %s is before 2000; please check it", t.Format(time.DateOnly)))
	default:
		return t
	}
	return time.Time{}
}

// parseDate reads the ways county staff write a date: 2023-01-05,
// 2023/1/5, 2023.01.05, 20230105 and 2023年1月5日, optionally followed by a
// time of day, which is ignored.
func parseDate(s string) (time.Time, bool) {
	if d, t, found := strings.Cut(s, " "); found && isTimeOfDay(trimSpace(t)) {
		s = d
	}
	if len(s) == 8 && allDigits(s) {
		return makeDate(atoiDigits(s[:4]), atoiDigits(s[4:6]), atoiDigits(s[6:]))
	}
	var parts []string
	if rest, found := strings.CutSuffix(s, "日"); found {
		y, rest, ok1 := strings.Cut(rest, "年")
		m, d, ok2 := strings.Cut(rest, "月")
		if !ok1 || !ok2 {
			return time.Time{}, false
		}
		parts = []string{y, m, d}
	} else {
		for _, sep := range []string{"-", "/", "."} {
			if strings.Count(s, sep) == 2 {
				parts = strings.Split(s, sep)
				break
			}
		}
	}
	if len(parts) != 3 || len(parts[0]) != 4 ||
		len(parts[1]) < 1 || len(parts[1]) > 2 || len(parts[2]) < 1 || len(parts[2]) > 2 ||
		!allDigits(parts[0]) || !allDigits(parts[1]) || !allDigits(parts[2]) {
		return time.Time{}, false
	}
	return makeDate(atoiDigits(parts[0]), atoiDigits(parts[1]), atoiDigits(parts[2]))
}

func isTimeOfDay(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && s[i] != ':' {
			return false
		}
	}
	return true
}

// excelSerialDate converts a raw XLSX date cell (days since 1899-12-30, or
// since 1904 in Mac workbooks).
func excelSerialDate(s string, date1904 bool) (time.Time, bool) {
	f, err := strconv.ParseFloat(s, 64)
	// 1 is 1900-01-01; 2958465 is 9999-12-31, the largest date Excel knows.
	if err != nil || !(f >= 1 && f <= 2958465) { // also rejects NaN
		return time.Time{}, false
	}
	t, err := excelize.ExcelDateToTime(f, date1904)
	if err != nil {
		return time.Time{}, false
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), true
}

// quoteUser shortens a user's value for echoing in a message.
func quoteUser(s string) string {
	s = trimSpace(s)
	const maxRunes = 30
	if utf8.RuneCountInString(s) <= maxRunes {
		return s
	}
	r := []rune(s)
	return string(r[:maxRunes]) + "…"
}
