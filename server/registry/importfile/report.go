package importfile

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xuri/excelize/v2"
)

// reportLang picks the message language: "en" (or "en-US", ...) gives
// English, anything else the default Simplified Chinese.
func reportEnglish(lang string) bool {
	l := strings.ToLower(strings.TrimSpace(lang))
	return l == "en" || strings.HasPrefix(l, "en-") || strings.HasPrefix(l, "en_")
}

// reportRow turns a problem into the four report cells.
func reportRow(p Problem, en bool) [4]string {
	line := ""
	if p.Line > 0 {
		line = strconv.Itoa(p.Line)
	}
	col, msg := p.Column, p.Message
	if en {
		msg = p.MessageEN
		if col != "" {
			col = ColumnNameEN(col) + " (" + col + ")"
		}
	}
	return [4]string{line, col, p.Code, msg}
}

// WriteReportCSV writes the problems as UTF-8 CSV with a BOM, so that Excel
// on Windows opens the Chinese correctly. The header is
// row,column,code,message; lang "en" gives English messages and column
// names, anything else Chinese.
func WriteReportCSV(w io.Writer, problems []Problem, lang string) error {
	en := reportEnglish(lang)
	if _, err := w.Write(utf8BOM); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // what Excel writes and expects
	if err := cw.Write([]string{"row", "column", "code", "message"}); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for _, p := range problems {
		r := reportRow(p, en)
		for i := range r {
			r[i] = defuseFormula(r[i])
		}
		if err := cw.Write(r[:]); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// defuseFormula stops Excel from evaluating a cell that starts like a
// formula. Messages echo values from the uploaded file, which is not ours.
func defuseFormula(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteReportXLSX writes the problems as a one-sheet workbook with headers
// 行号, 列, 代码, 说明 (Row, Column, Code, Message with lang "en"). Cells are
// written as text, so nothing in a message is ever evaluated.
func WriteReportXLSX(w io.Writer, problems []Problem, lang string) error {
	en := reportEnglish(lang)
	sheet, heads := "问题清单", []any{"行号", "列", "代码", "说明"}
	if en {
		sheet, heads = "Problems", []any{"Row", "Column", "Code", "Message"}
	}
	f := excelize.NewFile()
	defer func() { _ = f.Close() }()
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	// Streaming keeps a report of several hundred thousand problems
	// out of memory.
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for i, wdt := range []float64{8, 18, 26, 90} {
		if err := sw.SetColWidth(i+1, i+1, wdt); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := sw.SetRow("A1", heads); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	for i, p := range problems {
		r := reportRow(p, en)
		vals := []any{nil, r[1], r[2], r[3]}
		if p.Line > 0 {
			vals[0] = p.Line
		}
		cellName, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := sw.SetRow(cellName, vals); err != nil {
			return fmt.Errorf("write report: %w", err)
		}
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if _, err := f.WriteTo(w); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
