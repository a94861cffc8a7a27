package importfile

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
)

// xlsxExpansion bounds how much an XLSX may decompress to, as a multiple of
// MaxBytes: real workbooks compress about 5-10x, zip bombs far more.
const xlsxExpansion = 16

// xlsxXMLInMemory is the largest worksheet excelize keeps in memory; bigger
// ones it spills to a temporary file, which File.Close removes.
const xlsxXMLInMemory = 16 << 20

func parseXLSX(r io.Reader, opts Options) (*Result, error) {
	f, err := openWorkbook(r, opts)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()

	date1904 := false
	if p, err := workbookProps(f); err == nil && p.Date1904 != nil {
		date1904 = *p.Date1904
	}
	sheets, err := sheetList(f)
	if err != nil {
		return nil, err
	}
	var search headerSearch
	for _, sheet := range sheets {
		src, err := openSheet(f, sheet, opts.MaxCellBytes)
		if err != nil {
			return nil, err
		}
		if src == nil {
			continue // a chart sheet, or one whose part is missing
		}
		res, found, err := parseSheet(src, sheet, &search, date1904, opts)
		src.close()
		if found || err != nil {
			return res, err
		}
	}
	return nil, search.failure()
}

// parseSheet looks for the header in one sheet and, when it is there,
// validates the rows below it.
func parseSheet(src *sheetRows, sheet string, search *headerSearch, date1904 bool, opts Options) (*Result, bool, error) {
	for range headerScanRows {
		rec, ok, err := src.next()
		if err != nil {
			return nil, false, err
		}
		if !ok {
			return nil, false, nil
		}
		if !search.consider(newHeader(rec.line, rec.cells), sheet) {
			continue
		}
		if ferr := search.best.conflictError(); ferr != nil {
			return nil, true, ferr
		}
		src.keep = search.best.width
		res := &Result{Format: "xlsx", Encoding: "xlsx", Sheet: sheet}
		if err := validateAll(res, search.best, src, 0, opts, &xlsxInfo{date1904: date1904}); err != nil {
			return nil, true, err
		}
		return res, true, nil
	}
	return nil, false, nil
}

// xlsxInfo tells the validator that cells are raw XLSX values.
type xlsxInfo struct{ date1904 bool }

func errCorrupt(cause error) *FileError {
	return fileErr(CodeCorruptXLSX,
		"Excel 文件已损坏或不完整（可能上传中断），请在 Excel 中打开确认后重新保存并上传",
		"the Excel file is damaged or incomplete (perhaps the upload was cut off); open it in Excel, save it again and re-upload",
		cause)
}

// recordReadErr wraps the upload reader so that, when excelize fails, we can
// tell a failed read (or an oversized upload) from a damaged workbook.
type recordReadErr struct {
	r   io.Reader
	err error
}

func (e *recordReadErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
}

// The functions below call into excelize on untrusted bytes. A malformed
// workbook must produce a *FileError, not take the server down, so each one
// turns a panic inside excelize into corrupt_xlsx.

func openWorkbook(r io.Reader, opts Options) (f *excelize.File, ferr error) {
	defer func() {
		if p := recover(); p != nil {
			f, ferr = nil, errCorrupt(fmt.Errorf("excelize panic: %v", p))
		}
	}()
	unzipLimit := xlsxExpansion * opts.MaxBytes
	rr := &recordReadErr{r: r}
	f, err := excelize.OpenReader(rr, excelize.Options{
		UnzipSizeLimit:    unzipLimit,
		UnzipXMLSizeLimit: min(xlsxXMLInMemory, unzipLimit),
	})
	if err == nil {
		return f, nil
	}
	if f != nil {
		_ = f.Close()
	}
	switch {
	case rr.err != nil:
		return nil, readError(rr.err, opts.MaxBytes)
	case strings.Contains(err.Error(), "unzip size exceeds"):
		return nil, fileErr(CodeTooLarge,
			fmt.Sprintf("Excel 文件解压后超过 %d MiB，请拆分后分批上传", unzipLimit>>20),
			fmt.Sprintf("the workbook expands to more than %d MiB; split it and upload the parts", unzipLimit>>20),
			err)
	}
	return nil, errCorrupt(err)
}

func workbookProps(f *excelize.File) (p excelize.WorkbookPropsOptions, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = errCorrupt(fmt.Errorf("excelize panic: %v", r))
		}
	}()
	return f.GetWorkbookProps()
}

func sheetList(f *excelize.File) (list []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			list, err = nil, errCorrupt(fmt.Errorf("excelize panic: %v", r))
		}
	}()
	return f.GetSheetList(), nil
}

// sheetRows streams one worksheet. excelize's Rows iterator reads the sheet
// XML as it goes, so memory does not grow with the number of rows.
type sheetRows struct {
	rows    *excelize.Rows
	maxCell int
	keep    int
	line    int
	cells   []cell
}

// openSheet returns nil, nil for a sheet without cells to read.
func openSheet(f *excelize.File, sheet string, maxCell int) (s *sheetRows, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, errCorrupt(fmt.Errorf("excelize panic: %v", r))
		}
	}()
	rows, err := f.Rows(sheet)
	if err != nil {
		return nil, nil
	}
	return &sheetRows{rows: rows, maxCell: maxCell, keep: maxHeaderCells}, nil
}

func (s *sheetRows) close() { _ = s.rows.Close() }

var rawValues = excelize.Options{RawCellValue: true}

func (s *sheetRows) next() (rec record, ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			rec, ok, err = record{}, false, errCorrupt(fmt.Errorf("excelize panic: %v", r))
		}
	}()
	if !s.rows.Next() {
		if err := s.rows.Error(); err != nil {
			return record{}, false, errCorrupt(err)
		}
		return record{}, false, nil
	}
	s.line++
	// Raw values: dates arrive as serial numbers we convert ourselves,
	// instead of strings formatted by whatever number format the cell has.
	cols, err := s.rows.Columns(rawValues)
	if err != nil {
		return record{}, false, errCorrupt(err)
	}
	s.cells = s.cells[:0]
	extra := false
	for i, v := range cols {
		big := len(v) > s.maxCell
		if i >= s.keep {
			extra = extra || big || trimSpace(v) != ""
			continue
		}
		if big {
			v = ""
		}
		s.cells = append(s.cells, cell{v: v, tooBig: big})
	}
	return record{line: s.line, cells: s.cells, extra: extra}, true, nil
}
