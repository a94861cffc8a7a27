package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
)

// File formats.
const (
	FormatXLSX = "xlsx"
	FormatCSV  = "csv"
)

// Document is a report ready to render: the lines of a scope, its counties
// and outlets, and the households still missing.
type Document struct {
	Month       string
	Branch      store.OrgUnit
	Unit        store.OrgUnit
	Version     int // 0: current figures
	VersionKind string
	GeneratedAt time.Time
	Lines       []Line
	Missing     []MissingLine
	units       map[string]store.OrgUnit
}

// MissingLine is a household still missing, with names; numbers are masked.
type MissingLine struct {
	store.ReportMissing
	CountyName  string
	OutletName  string
	OfficerName string
}

// document gathers a report of a scope: the current figures (version 0) or
// a frozen version's, and the households missing as of now.
func (s *Service) document(ctx context.Context, sc Scope, m string, version int) (*Document, error) {
	d := &Document{Month: m, Branch: sc.Branch, Unit: sc.Unit, Version: version, GeneratedAt: s.clock().Now.In(s.loc)}
	n, err := s.names(ctx, sc.Branch.ID)
	if err != nil {
		return nil, err
	}
	d.units = n.units
	if version == 0 {
		v, err := s.monthly(ctx, sc, m)
		if err != nil {
			return nil, err
		}
		d.Lines = v.Lines
	} else {
		v, err := s.version(ctx, sc, m, version)
		if err != nil {
			return nil, err
		}
		d.Lines, d.VersionKind = v.Lines, v.Version.Kind
	}
	missing, err := s.db.ReportMissingHouseholds(ctx, sc.Branch.ID, m, s.clock())
	if err != nil {
		return nil, err
	}
	for _, h := range missing {
		if !sc.contains(store.ReportKey{Level: store.LevelOfficer, CountyID: h.CountyID, OutletID: h.OutletID, OfficerID: h.OfficerID}) {
			continue
		}
		ml := MissingLine{ReportMissing: h, CountyName: n.units[h.CountyID].Name, OutletName: n.units[h.OutletID].Name}
		if p, ok := n.people[h.OfficerID]; ok {
			ml.OfficerName = p.DisplayName
			if ml.OfficerName == "" {
				ml.OfficerName = p.Username
			}
		}
		d.Missing = append(d.Missing, ml)
	}
	return d, nil
}

// Render writes the document as xlsx or csv with Chinese (zh) or English
// (en) headers, and names the file.
func (d *Document) Render(format, lang string) ([]byte, string, error) {
	if lang != "en" {
		lang = "zh"
	}
	name := fmt.Sprintf("doorstep-report-%s-%s", d.Unit.Code, d.Month)
	if d.Version > 0 {
		name += fmt.Sprintf("-v%d", d.Version)
	}
	name += "-" + lang
	switch format {
	case FormatXLSX:
		b, err := d.xlsx(lang)
		return b, name + ".xlsx", err
	case FormatCSV:
		b, err := d.csv(lang)
		return b, name + ".csv", err
	}
	return nil, "", apperr.Invalid("format", "格式应为 xlsx 或 csv", "format must be xlsx or csv").With("value", clip(format, 16))
}

// words are the fixed texts of the files.
var words = map[string][2]string{
	"summary":    {"汇总", "Summary"},
	"officers":   {"客户经理", "Officers"},
	"missing":    {"未走访户", "Missing households"},
	"chart":      {"覆盖率图表", "Coverage chart"},
	"title":      {"走访月报", "monthly visit report"},
	"current":    {"当前数据（未关账或关账后最新）", "current figures"},
	"version":    {"第 %d 版", "version %d"},
	"close":      {"关账版", "close"},
	"restate":    {"重述版", "restatement"},
	"generated":  {"生成时间", "Generated"},
	"definition": {"各项指标口径见 docs/REPORTS.md", "Figures are defined in docs/REPORTS.md"},
	"level":      {"层级", "Level"},
	"code":       {"编码", "Code"},
	"unit":       {"机构", "Unit"},
	"county":     {"支行", "County sub-branch"},
	"outlet":     {"网点", "Outlet"},
	"officer":    {"客户经理", "Officer"},
	"username":   {"账号", "Username"},
	"total":      {"合计", "Total"},
	"hhno":       {"户编号", "Household no."},
	"head":       {"户主姓名", "Head of household"},
	"idmasked":   {"身份证号（脱敏）", "ID number (masked)"},
	"phone":      {"联系电话（脱敏）", "Phone (masked)"},
	"township":   {"乡镇", "Township"},
	"village":    {"村", "Village"},
	"due":        {"走访期限", "Deadline"},
	"coverage":   {"各网点走访覆盖率", "Visit coverage by outlet"},
	"noofficer":  {noOfficerZH, noOfficerEN},
	"nooutlet":   {"（未分配网点）", "(no outlet)"},
	"l_branch":   {"分行", "branch"},
	"l_county":   {"支行", "county"},
	"l_outlet":   {"网点", "outlet"},
	"l_officer":  {"客户经理", "officer"},
}

func w(key, lang string) string {
	p := words[key]
	if lang == "en" {
		return p[1]
	}
	return p[0]
}

// shown are the figures the files show (basis figures are left out).
func shown() []store.ReportFigure {
	var out []store.ReportFigure
	for _, f := range store.ReportFigureDefs {
		if !f.Basis {
			out = append(out, f)
		}
	}
	return out
}

func label(f store.ReportFigure, lang string) string {
	if lang == "en" {
		return f.LabelEN
	}
	return f.LabelZH
}

func (d *Document) title(lang string) string {
	t := d.Unit.Name + " " + d.Month + " " + w("title", lang)
	switch {
	case d.Version == 0:
		t += " — " + w("current", lang)
	default:
		kind := w("close", lang)
		if d.VersionKind == store.VersionRestatement {
			kind = w("restate", lang)
		}
		t += " — " + fmt.Sprintf(w("version", lang), d.Version) + " (" + kind + ")"
	}
	return t
}

// lineName is a line's display name, with the texts for rows nobody owns.
func lineName(l Line, lang string) string {
	if l.Level == store.LevelOfficer && l.OfficerID == "" {
		return w("noofficer", lang)
	}
	return l.Name
}

func (d *Document) lines(level string) []Line {
	var out []Line
	for _, l := range d.Lines {
		if l.Level == level {
			out = append(out, l)
		}
	}
	return out
}

// counties lists the county rows in the document, in order.
func (d *Document) counties() []Line { return d.lines(store.LevelCounty) }

func (d *Document) xlsx(lang string) ([]byte, error) {
	f := excelize.NewFile()
	defer f.Close()
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		Alignment: &excelize.Alignment{WrapText: true, Vertical: "center"}})
	if err != nil {
		return nil, err
	}
	pct, err := f.NewStyle(&excelize.Style{NumFmt: 10})
	if err != nil {
		return nil, err
	}
	titleStyle, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true, Size: 14}})
	if err != nil {
		return nil, err
	}
	figs := shown()
	sheets := sheetNames{}

	// writeTable writes a header and rows of lines at row start; lead gives
	// the leading columns of each line.
	writeTable := func(sheet string, start int, leadHead []string, lines []Line, lead func(Line) []any) error {
		head := append([]any{}, toAny(leadHead)...)
		for _, fg := range figs {
			head = append(head, label(fg, lang))
		}
		cell, _ := excelize.CoordinatesToCellName(1, start)
		if err := f.SetSheetRow(sheet, cell, &head); err != nil {
			return err
		}
		last, _ := excelize.CoordinatesToCellName(len(head), start)
		if err := f.SetCellStyle(sheet, cell, last, bold); err != nil {
			return err
		}
		for i, l := range lines {
			row := lead(l)
			for _, fg := range figs {
				if fg.Stored() {
					row = append(row, fg.Int(l.raw))
				} else {
					row = append(row, fg.Value(l.raw))
				}
			}
			c, _ := excelize.CoordinatesToCellName(1, start+1+i)
			if err := f.SetSheetRow(sheet, c, &row); err != nil {
				return err
			}
			for j, fg := range figs {
				if fg.Unit == store.UnitRate {
					rc, _ := excelize.CoordinatesToCellName(len(leadHead)+j+1, start+1+i)
					if err := f.SetCellStyle(sheet, rc, rc, pct); err != nil {
						return err
					}
				}
			}
		}
		return f.SetColWidth(sheet, "A", "B", 16)
	}

	summary := sheets.add(w("summary", lang))
	if err := f.SetSheetName("Sheet1", summary); err != nil {
		return nil, err
	}
	f.SetCellValue(summary, "A1", d.title(lang))
	f.SetCellStyle(summary, "A1", "A1", titleStyle)
	f.SetCellValue(summary, "A2", w("generated", lang)+": "+d.GeneratedAt.Format("2006-01-02 15:04:05 MST"))
	f.SetCellValue(summary, "A3", w("definition", lang))
	top := append(d.lines(store.LevelBranch), d.counties()...)
	if d.Unit.Kind == store.KindOutlet {
		top = d.lines(store.LevelOutlet)
	}
	err = writeTable(summary, 5, []string{w("code", lang), w("unit", lang)}, top, func(l Line) []any { return []any{l.Code, l.Name} })
	if err != nil {
		return nil, err
	}

	for _, c := range d.counties() {
		sheet := sheets.add(c.Name)
		if _, err := f.NewSheet(sheet); err != nil {
			return nil, err
		}
		f.SetCellValue(sheet, "A1", c.Name+" "+d.Month)
		f.SetCellStyle(sheet, "A1", "A1", titleStyle)
		var rows []Line
		for _, o := range d.lines(store.LevelOutlet) {
			if o.CountyID == c.CountyID {
				rows = append(rows, o)
			}
		}
		total := c
		total.Code, total.Name = w("total", lang), c.Name
		rows = append(rows, total)
		err := writeTable(sheet, 3, []string{w("code", lang), w("outlet", lang)}, rows, func(l Line) []any { return []any{l.Code, l.Name} })
		if err != nil {
			return nil, err
		}
	}

	officers := sheets.add(w("officers", lang))
	if _, err := f.NewSheet(officers); err != nil {
		return nil, err
	}
	err = writeTable(officers, 1, []string{w("username", lang), w("officer", lang), w("county", lang), w("outlet", lang)},
		d.lines(store.LevelOfficer), func(l Line) []any {
			outlet := l.OutletName
			if l.OutletID == "" {
				outlet = w("nooutlet", lang)
			}
			return []any{l.Code, lineName(l, lang), l.CountyName, outlet}
		})
	if err != nil {
		return nil, err
	}

	missing := sheets.add(w("missing", lang))
	if _, err := f.NewSheet(missing); err != nil {
		return nil, err
	}
	head := []any{w("hhno", lang), w("head", lang), w("idmasked", lang), w("phone", lang), w("township", lang), w("village", lang),
		w("county", lang), w("outlet", lang), w("officer", lang), w("due", lang)}
	if err := f.SetSheetRow(missing, "A1", &head); err != nil {
		return nil, err
	}
	f.SetCellStyle(missing, "A1", "J1", bold)
	sw := 2
	for _, h := range d.Missing {
		officer := h.OfficerName
		if h.OfficerID == "" {
			officer = w("noofficer", lang)
		}
		row := []any{h.HouseholdNo, h.HeadName, h.IDNumberMasked, h.PhoneMasked, h.Township, h.Village, h.CountyName, h.OutletName, officer, h.DueOn}
		c, _ := excelize.CoordinatesToCellName(1, sw)
		if err := f.SetSheetRow(missing, c, &row); err != nil {
			return nil, err
		}
		sw++
	}
	f.SetColWidth(missing, "A", "D", 20)

	chart := sheets.add(w("chart", lang))
	if _, err := f.NewSheet(chart); err != nil {
		return nil, err
	}
	cov, _ := store.ReportFigureByCode("coverage_rate")
	ch := []any{w("outlet", lang), label(cov, lang)}
	f.SetSheetRow(chart, "A1", &ch)
	f.SetCellStyle(chart, "A1", "B1", bold)
	outs := d.lines(store.LevelOutlet)
	for i, o := range outs {
		c, _ := excelize.CoordinatesToCellName(1, i+2)
		row := []any{o.Name, cov.Value(o.raw)}
		f.SetSheetRow(chart, c, &row)
		pc, _ := excelize.CoordinatesToCellName(2, i+2)
		f.SetCellStyle(chart, pc, pc, pct)
	}
	f.SetColWidth(chart, "A", "A", 18)
	if len(outs) > 0 {
		ref := quoteSheet(chart)
		n := len(outs) + 1
		err := f.AddChart(chart, "D2", &excelize.Chart{
			Type: excelize.Col,
			Series: []excelize.ChartSeries{{
				Name:       fmt.Sprintf("%s!$B$1", ref),
				Categories: fmt.Sprintf("%s!$A$2:$A$%d", ref, n),
				Values:     fmt.Sprintf("%s!$B$2:$B$%d", ref, n),
			}},
			Title:     excelize.ChartTitle{Paragraph: []excelize.RichTextRun{{Text: w("coverage", lang)}}},
			Legend:    excelize.ChartLegend{Position: "none"},
			YAxis:     excelize.ChartAxis{NumFmt: excelize.ChartNumFmt{CustomNumFmt: "0%"}},
			Dimension: excelize.ChartDimension{Width: 720, Height: 360},
		})
		if err != nil {
			return nil, fmt.Errorf("report chart: %w", err)
		}
	}
	f.SetActiveSheet(0)
	var buf bytes.Buffer
	if err := f.Write(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// csv writes every line of the document, UTF-8 with a byte-order mark so
// that Excel opens it correctly.
func (d *Document) csv(lang string) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("\uFEFF")
	cw := csv.NewWriter(&buf)
	figs := shown()
	head := []string{w("level", lang), w("code", lang), w("unit", lang), w("county", lang), w("outlet", lang)}
	for _, f := range figs {
		head = append(head, label(f, lang))
	}
	if err := cw.Write(head); err != nil {
		return nil, err
	}
	for _, l := range d.Lines {
		rec := []string{w("l_"+l.Level, lang), l.Code, lineName(l, lang), l.CountyName, l.OutletName}
		for _, f := range figs {
			if f.Stored() {
				rec = append(rec, strconv.FormatInt(f.Int(l.raw), 10))
			} else {
				rec = append(rec, strconv.FormatFloat(f.Value(l.raw), 'f', -1, 64))
			}
		}
		if err := cw.Write(rec); err != nil {
			return nil, err
		}
	}
	cw.Flush()
	return buf.Bytes(), cw.Error()
}

// sheetNames keeps sheet names valid (at most 31 characters, none of
// []:*?/\) and unique.
type sheetNames map[string]bool

func (s sheetNames) add(name string) string {
	name = strings.Map(func(r rune) rune {
		if strings.ContainsRune(`[]:*?/\`, r) {
			return '_'
		}
		return r
	}, name)
	if name == "" {
		name = "Sheet"
	}
	r := []rune(name)
	if len(r) > 28 {
		name = string(r[:28])
	}
	out := name
	for i := 2; s[strings.ToLower(out)]; i++ {
		out = fmt.Sprintf("%s(%d)", name, i)
	}
	s[strings.ToLower(out)] = true
	return out
}

func quoteSheet(name string) string { return "'" + strings.ReplaceAll(name, "'", "''") + "'" }

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
