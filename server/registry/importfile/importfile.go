package importfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"
)

// Row is one household from the list, normalised and fully validated.
type Row struct {
	Line                                      int // row number as Excel shows it; header is row 1
	Province, City, County, Township, Village string
	HouseholdNo                               string    // 户编号, the government's key
	HeadName                                  string    // 户主姓名
	IDNumber                                  string    // 18 chars, check digit verified, upper-case X
	FamilySize                                int       // 0 when the column is absent or blank
	Category                                  string    // one of Categories
	RiskType                                  string    // one of RiskTypes, or "" when blank
	HasLabor                                  bool      // 是否有劳动能力 是/否
	Phone                                     string    // ASCII digits only ("" if blank)
	IdentifiedAt                              time.Time // 识别监测时间, date at 00:00 UTC; zero when blank
	RiskEliminated                            bool      // 风险消除状态 已消除=true, 未消除=false
}

// Problem is one thing wrong with one cell or row.
type Problem struct {
	Line      int    // Excel row number (0 for file-level problems)
	Column    string // canonical Chinese header (see Columns), "" for file/row-level
	Code      string // stable machine code, see the Code constants
	Message   string // Simplified Chinese
	MessageEN string
	// County is the row's county cell as written, when it could be read, so
	// that a caller can tell which county a rejected row belongs to (for
	// instance, to leave out rows of counties it does not serve); "" when
	// unknown. Not part of the report.
	County string `json:"-"`
}

// Options bounds the work Parse may do. Zero values take the defaults.
type Options struct {
	MaxBytes     int64 // default 64 MiB; larger input -> error
	MaxRows      int   // default 500_000 non-blank data rows
	MaxCellBytes int   // default 4096; bigger cell -> Problem cell_too_large
	// Progress, if set, is called every 1,000 rows read below the header
	// (blank ones included) and once at the end with done == total. total
	// is 0 while unknown, which it is for both formats until the end.
	Progress func(done, total int)
	// Now is the clock for "date in the future" checks; default time.Now.
	// Dates are compared in China Standard Time, where the lists come from.
	Now func() time.Time
}

const (
	DefaultMaxBytes     = 64 << 20
	DefaultMaxRows      = 500_000
	DefaultMaxCellBytes = 4096
)

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.MaxCellBytes <= 0 {
		o.MaxCellBytes = DefaultMaxCellBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Result is what Parse found. Rows and Problems never overlap: a row with any
// problem is left out of Rows.
type Result struct {
	Format   string // "csv" or "xlsx"
	Encoding string // "utf-8", "utf-8-bom", "gb18030", "xlsx"
	Sheet    string // for xlsx
	Rows     []Row  // only rows with no problems
	Problems []Problem
	DataRows int // non-blank data rows seen
}

// Parse detects the format by content (zip magic => XLSX; otherwise CSV,
// UTF-8 with or without BOM, else GB18030/GBK), finds the header, maps
// aliases and validates every row.
//
// It returns a *FileError only when the file as a whole is unusable: binary
// junk, a truncated or corrupt XLSX, no sheet with a recognisable header,
// missing required columns, too large. An error reading r itself is returned
// wrapped, not as a *FileError.
func Parse(r io.Reader, opts Options) (*Result, error) {
	opts = opts.withDefaults()
	br := bufio.NewReaderSize(&capReader{r: r, left: opts.MaxBytes}, sniffBytes)
	head, err := br.Peek(sniffBytes)
	atEOF := errors.Is(err, io.EOF)
	if err != nil && !atEOF {
		return nil, readError(err, opts.MaxBytes)
	}
	switch {
	case len(head) == 0 || (atEOF && len(bytes.TrimSpace(bytes.TrimPrefix(head, utf8BOM))) == 0):
		return nil, fileErr(CodeEmptyFile, "文件是空的", "the file is empty", nil)
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return parseXLSX(br, opts)
	case bytes.HasPrefix(head, []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}):
		// OLE2: a legacy .xls, or an .xlsx protected by a password.
		return nil, fileErr(CodeUnsupportedFormat,
			"不支持旧版 .xls 或设置了密码的工作簿，请在 Excel 中去掉密码并另存为 .xlsx 或 CSV 后再上传",
			"legacy .xls and password-protected workbooks are not supported; remove the password and save as .xlsx or CSV",
			nil)
	}
	text, enc, ferr := openCSV(br, head, atEOF)
	if ferr != nil {
		return nil, ferr
	}
	src := newCSVReader(text, sniffDelimiter(head), opts.MaxCellBytes, maxHeaderCells)
	res := &Result{Format: "csv", Encoding: enc}
	var search headerSearch
	for range headerScanRows {
		rec, ok, err := src.next()
		if err != nil {
			return nil, readError(err, opts.MaxBytes)
		}
		if !ok {
			break
		}
		if search.consider(newHeader(rec.line, rec.cells), "") {
			if ferr := search.best.conflictError(); ferr != nil {
				return nil, ferr
			}
			src.keep = search.best.width
			if err := validateAll(res, search.best, csvRows{src}, 0, opts, nil); err != nil {
				return nil, err
			}
			return res, nil
		}
	}
	return nil, search.failure()
}

// maxHeaderCells bounds the cells examined in a candidate header row; real
// templates have a few dozen columns, a pathological file may have thousands.
const maxHeaderCells = 1024

// rowSource yields the data rows after the header.
type rowSource interface {
	next() (record, bool, error)
}

type csvRows struct{ r *csvReader }

func (c csvRows) next() (record, bool, error) { return c.r.next() }

// validateAll reads every row after the header and fills res.
// xl is nil for CSV.
func validateAll(res *Result, h header, src rowSource, total int, opts Options, xl *xlsxInfo) error {
	v := newValidator(h, opts)
	if xl != nil {
		v.xlsx, v.date1904 = true, xl.date1904
	}
	done := 0
	for {
		rec, ok, err := src.next()
		if err != nil {
			var fe *FileError
			if errors.As(err, &fe) {
				return fe
			}
			return readError(err, opts.MaxBytes)
		}
		if !ok {
			break
		}
		done++
		if opts.Progress != nil && done%progressEvery == 0 {
			opts.Progress(done, total)
		}
		if isBlank(rec) {
			continue
		}
		res.DataRows++
		if res.DataRows > opts.MaxRows {
			return fileErr(CodeTooManyRows,
				fmt.Sprintf("文件超过 %d 行数据，请按乡镇拆分后分批上传", opts.MaxRows),
				fmt.Sprintf("the file has more than %d data rows; split it, for example by township", opts.MaxRows),
				nil)
		}
		v.row(rec)
	}
	if opts.Progress != nil {
		opts.Progress(done, max(total, done))
	}
	res.Rows, res.Problems = v.finish()
	return nil
}

const progressEvery = 1000

func isBlank(rec record) bool {
	if rec.extra {
		return false
	}
	for _, c := range rec.cells {
		if !c.blank() {
			return false
		}
	}
	return true
}

// sortProblems orders problems by row, keeping the column order within a row.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}

var errTooLarge = errors.New("input exceeds MaxBytes")

// capReader fails once more than left bytes have been read, so an oversized
// upload is refused without reading all of it.
type capReader struct {
	r    io.Reader
	left int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		// Exactly at the limit is fine; one byte more is not.
		var one [1]byte
		for {
			n, err := c.r.Read(one[:])
			if n > 0 {
				return 0, errTooLarge
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

func readError(err error, limit int64) error {
	if errors.Is(err, errTooLarge) {
		return fileErr(CodeTooLarge,
			"文件太大，超过了 "+sizeText(limit)+" 的上限，请拆分后分批上传",
			"the file is larger than the "+sizeText(limit)+" limit; split it and upload the parts",
			err)
	}
	return fmt.Errorf("read upload: %w", err)
}

func itoa(n int) string { return strconv.Itoa(n) }

func sizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}
