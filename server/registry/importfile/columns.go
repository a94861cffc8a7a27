package importfile

import (
	"strings"
	"unicode"

	"golang.org/x/text/width"
)

type column int

const (
	colProvince column = iota
	colCity
	colCounty
	colTownship
	colVillage
	colHouseholdNo
	colHeadName
	colIDNumber
	colFamilySize
	colCategory
	colRiskType
	colHasLabor
	colPhone
	colIdentifiedAt
	colRiskEliminated
	numColumns
)

type columnSpec struct {
	name     string // canonical Chinese header; Problem.Column uses it
	nameEN   string
	required bool
	aliases  []string
}

// columnSpecs is indexed by column. Aliases come from real county exports;
// they are compared after headerKey, so width and spacing variants need no
// entry of their own.
var columnSpecs = [numColumns]columnSpec{
	colProvince:       {name: "省", nameEN: "Province", aliases: []string{"省份", "省(区、市)", "省(自治区、直辖市)"}},
	colCity:           {name: "市", nameEN: "City", aliases: []string{"市(州)", "地市", "市州", "地(市、州)", "市(地、州)"}},
	colCounty:         {name: "县（市、区）", nameEN: "County", required: true, aliases: []string{"县", "县区", "区县", "县(区)", "县(市)", "县市区", "县(区、市)"}},
	colTownship:       {name: "乡（镇）", nameEN: "Township", required: true, aliases: []string{"乡镇", "乡", "镇", "乡镇(街道)", "乡(镇、街道)", "乡镇街道"}},
	colVillage:        {name: "行政村", nameEN: "Village", required: true, aliases: []string{"村", "村名", "村(社区)", "行政村(社区)", "村社区"}},
	colHouseholdNo:    {name: "户编号", nameEN: "Household no.", required: true, aliases: []string{"户号", "户码", "家庭编号"}},
	colHeadName:       {name: "户主姓名", nameEN: "Head of household", required: true, aliases: []string{"户主", "姓名"}},
	colIDNumber:       {name: "户主证件号码", nameEN: "Head's ID number", required: true, aliases: []string{"身份证号", "证件号码", "户主身份证号", "身份证号码", "户主身份证号码", "身份证"}},
	colFamilySize:     {name: "家庭人口数", nameEN: "Family size", aliases: []string{"人口数", "家庭人口", "家庭人数", "户人口数"}},
	colCategory:       {name: "监测对象类别", nameEN: "Monitoring category", required: true, aliases: []string{"监测类别", "对象类别", "监测对象类型"}},
	colRiskType:       {name: "主要风险类型", nameEN: "Main risk type", aliases: []string{"风险类型", "主要风险", "致贫风险类型", "返贫致贫风险"}},
	colHasLabor:       {name: "是否有劳动能力", nameEN: "Able to work", aliases: []string{"劳动能力", "有无劳动能力"}},
	colPhone:          {name: "联系电话", nameEN: "Phone", aliases: []string{"电话", "手机号", "联系方式", "手机号码", "手机", "电话号码"}},
	colIdentifiedAt:   {name: "识别监测时间", nameEN: "Identified on", aliases: []string{"识别时间", "监测时间", "纳入监测时间", "识别日期", "识别监测日期"}},
	colRiskEliminated: {name: "风险消除状态", nameEN: "Risk eliminated", aliases: []string{"风险状态", "是否消除风险", "风险是否消除"}},
}

// Columns lists the canonical Chinese headers in the order of the official
// template. Problem.Column is always one of these (or "").
var Columns = func() []string {
	out := make([]string, numColumns)
	for i, s := range columnSpecs {
		out[i] = s.name
	}
	return out
}()

// ColumnNameEN returns the English name of a canonical Chinese header, or the
// header itself when it is not one.
func ColumnNameEN(name string) string {
	for _, s := range columnSpecs {
		if s.name == name {
			return s.nameEN
		}
	}
	return name
}

// Match quality of a header cell; a lower rank wins when two cells claim the
// same column.
const (
	rankCanonical = iota
	rankAlias
	rankStripped // matched only after dropping a parenthesised qualifier
)

type headerMatch struct {
	col  column
	rank int
}

var headerIndex = func() map[string]headerMatch {
	m := make(map[string]headerMatch)
	for i, s := range columnSpecs {
		m[headerKey(s.name)] = headerMatch{column(i), rankCanonical}
		for _, a := range s.aliases {
			k := headerKey(a)
			if _, taken := m[k]; !taken {
				m[k] = headerMatch{column(i), rankAlias}
			}
		}
	}
	return m
}()

// headerKey folds the variants people type into one spelling: full-width
// brackets and letters, spaces (also inside the text, as merged header cells
// often carry line breaks) and the asterisks templates use to mark required
// columns.
func headerKey(s string) string {
	s = width.Fold.String(s)
	return strings.Map(func(r rune) rune {
		if isSpaceRune(r) || r == '*' {
			return -1
		}
		return r
	}, s)
}

func matchHeaderCell(text string) (headerMatch, bool) {
	k := headerKey(text)
	if k == "" {
		return headerMatch{}, false
	}
	if m, ok := headerIndex[k]; ok {
		return m, true
	}
	// "乡(镇、街道)" or "行政村(社区)" variants we have not listed: try the
	// part before the qualifier.
	if i := strings.IndexByte(k, '('); i > 0 && strings.HasSuffix(k, ")") {
		if m, ok := headerIndex[k[:i]]; ok {
			return headerMatch{m.col, rankStripped}, true
		}
	}
	return headerMatch{}, false
}

// header records where each canonical column sits in the file.
type header struct {
	line  int
	idx   [numColumns]int // cell index, -1 when absent
	rank  [numColumns]int
	text  [numColumns]string // header text as written, for messages
	found int
	width int // 1 + largest mapped index
	// dup holds the text of a second cell that matched a column as well as
	// the one in idx did; we refuse to guess between them.
	dup [numColumns]string
}

func newHeader(line int, cells []cell) header {
	h := header{line: line}
	for i := range h.idx {
		h.idx[i] = -1
	}
	for i, c := range cells {
		if c.tooBig {
			continue
		}
		m, ok := matchHeaderCell(c.v)
		if !ok {
			continue
		}
		switch prev := h.idx[m.col]; {
		case prev < 0:
			h.found++
		case m.rank > h.rank[m.col]:
			continue
		case m.rank == h.rank[m.col]:
			if h.dup[m.col] == "" {
				h.dup[m.col] = trimSpace(c.v)
			}
			continue
		}
		h.idx[m.col], h.rank[m.col], h.text[m.col] = i, m.rank, trimSpace(c.v)
		h.dup[m.col] = "" // a better match settles any tie
	}
	for _, i := range h.idx {
		h.width = max(h.width, i+1)
	}
	return h
}

func (h *header) missing() []column {
	var out []column
	for i, s := range columnSpecs {
		if s.required && h.idx[i] < 0 {
			out = append(out, column(i))
		}
	}
	return out
}

func (h *header) complete() bool { return len(h.missing()) == 0 }

// headerScanRows bounds how far down we look for the header: exports put a
// title, a unit line or a blank row or two above it, never dozens.
const headerScanRows = 30

// minHeaderMatches is how many recognised cells make a row worth naming in a
// "missing columns" error rather than saying no header was found at all.
const minHeaderMatches = 3

// headerSearch keeps the best row seen so far across rows and sheets.
type headerSearch struct {
	best    header
	hasBest bool
	sheet   string
}

// consider returns true when h is a complete header.
func (s *headerSearch) consider(h header, sheet string) bool {
	if h.found >= minHeaderMatches && (!s.hasBest || h.found > s.best.found) {
		s.best, s.hasBest, s.sheet = h, true, sheet
	}
	return h.complete()
}

func (s *headerSearch) failure() *FileError {
	if !s.hasBest {
		return fileErr(CodeNoHeader,
			"未找到表头：文件前 30 行中没有“户编号”“户主姓名”“户主证件号码”等列名，请确认上传的是防返贫监测对象名单",
			"no header row found: none of the first 30 rows names the expected columns (户编号, 户主姓名, 户主证件号码, ...); is this the monitoring list?",
			nil)
	}
	var zh, en []string
	for _, c := range s.best.missing() {
		zh = append(zh, "“"+columnSpecs[c].name+"”")
		en = append(en, columnSpecs[c].name+" ("+columnSpecs[c].nameEN+")")
	}
	where, whereEN := "", ""
	if s.sheet != "" {
		where, whereEN = "工作表“"+s.sheet+"”", " of sheet "+s.sheet
	}
	return fileErr(CodeMissingColumns,
		where+"第 "+itoa(s.best.line)+" 行的表头缺少必需的列："+strings.Join(zh, "、"),
		"the header in row "+itoa(s.best.line)+whereEN+" lacks required columns: "+strings.Join(en, ", "),
		nil)
}

// conflictError reports the first column claimed twice, or nil.
func (h *header) conflictError() *FileError {
	for c, other := range h.dup {
		if other == "" {
			continue
		}
		name := columnSpecs[c].name
		return fileErr(CodeDuplicateColumn,
			"第 "+itoa(h.line)+" 行表头中“"+h.text[c]+"”和“"+other+"”都对应“"+name+"”列，无法判断用哪一列，请删除或改名其中一列",
			"header row "+itoa(h.line)+": both "+h.text[c]+" and "+other+" map to column "+name+"; remove or rename one of them",
			nil)
	}
	return nil
}

// isSpaceRune covers what Excel users leave around values: ASCII and Unicode
// spaces (U+3000 ideographic space, NBSP) plus zero-width characters and
// stray BOMs that unicode.IsSpace does not count.
func isSpaceRune(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\u2060' || r == '\ufeff'
}

func trimSpace(s string) string {
	// Fast path for the common case of nothing to trim.
	if s == "" || (s[0] > ' ' && s[0] < 0x80 && s[len(s)-1] > ' ' && s[len(s)-1] < 0x80) {
		return s
	}
	return strings.TrimFunc(s, isSpaceRune)
}
