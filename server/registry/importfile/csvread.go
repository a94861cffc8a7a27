package importfile

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"unicode/utf8"

	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/transform"
)

// sniffBytes is how much of the upload we look at to decide format and
// encoding. The header row alone is enough to tell UTF-8 from GB18030, and it
// sits within the first few hundred bytes.
const sniffBytes = 64 << 10

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// looksBinary rejects files that are not text in any encoding we read: NUL
// bytes never occur in UTF-8 or GB18030 text, and more than a sprinkling of
// other control characters means an image, archive or executable.
func looksBinary(head []byte) bool {
	if bytes.IndexByte(head, 0) >= 0 {
		return true
	}
	controls := 0
	for _, b := range head {
		if b < 0x20 && b != '\t' && b != '\n' && b != '\r' && b != '\f' && b != 0x1a {
			controls++
		}
	}
	return controls > 8 && controls*100 > len(head)
}

// mostlyUTF8 decides between UTF-8 and GB18030 from the first bytes. Text
// in GBK almost never forms valid multi-byte UTF-8, so any UTF-8 Chinese
// at all with only a few invalid bytes means a UTF-8 file with a few cells
// pasted in from elsewhere: those cells are reported as bad_encoding rather
// than the whole file being decoded as GB18030 and turned to mojibake.
func mostlyUTF8(b []byte, atEOF bool) bool {
	valid, invalid := 0, 0
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			if !atEOF && !utf8.FullRune(b) {
				break // a rune cut off by the end of the sniff window
			}
			invalid++
		} else if size > 1 {
			valid++
		}
		b = b[max(size, 1):]
	}
	return invalid == 0 || valid >= 8*invalid
}

// sniffDelimiter picks the field separator from the first lines. Excel writes
// commas, but "Unicode text" and some county systems produce tabs.
func sniffDelimiter(head []byte) byte {
	lines := 0
	var comma, tab, semi int
	inQuote := false
	for _, b := range head {
		switch b {
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				comma++
			}
		case '\t':
			if !inQuote {
				tab++
			}
		case ';':
			if !inQuote {
				semi++
			}
		case '\n':
			if !inQuote {
				lines++
			}
		}
		if lines >= 5 {
			break
		}
	}
	switch {
	case comma == 0 && tab > 0:
		return '\t'
	case comma == 0 && semi > 0:
		return ';'
	}
	return ','
}

// openCSV decides the encoding from the first bytes and returns a reader of
// UTF-8 text positioned after any BOM.
func openCSV(br *bufio.Reader, head []byte, atEOF bool) (io.Reader, string, *FileError) {
	if bytes.HasPrefix(head, []byte{0xFF, 0xFE}) || bytes.HasPrefix(head, []byte{0xFE, 0xFF}) {
		return nil, "", fileErr(CodeUnsupportedFormat,
			"文件是 UTF-16（Unicode 文本）编码，请在 Excel 中另存为“CSV UTF-8（逗号分隔）”或 .xlsx 后再上传",
			"the file is UTF-16 (Unicode text); save it from Excel as \"CSV UTF-8 (comma delimited)\" or .xlsx and upload again",
			nil)
	}
	if looksBinary(head) {
		return nil, "", errBinary()
	}
	if bytes.HasPrefix(head, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
		return br, "utf-8-bom", nil
	}
	if mostlyUTF8(head, atEOF) {
		return br, "utf-8", nil
	}
	return transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder()), "gb18030", nil
}

func errBinary() *FileError {
	return fileErr(CodeBinaryFile,
		"无法识别的文件：既不是 CSV 文本也不是 Excel .xlsx 工作簿",
		"unrecognised file: neither CSV text nor an Excel .xlsx workbook",
		nil)
}

// cell is one field as read, already capped.
type cell struct {
	v      string
	tooBig bool // longer than MaxCellBytes; v holds nothing
}

func (c cell) blank() bool { return !c.tooBig && trimSpace(c.v) == "" }

// record is one spreadsheet row.
type record struct {
	line  int
	cells []cell
	// extra is true when cells beyond those kept held anything; such a row is
	// not blank even if every kept cell is.
	extra bool
}

// csvReader is a lenient RFC 4180 reader that never holds more than maxCell
// bytes of one field or more than keep fields of one record, however the
// input is shaped. encoding/csv cannot do either: it buffers whole records.
//
// It also counts empty lines as rows, as Excel does, so that line numbers in
// problems match what the user sees after opening the file.
type csvReader struct {
	r       *bufio.Reader
	comma   byte
	maxCell int
	keep    int // fields kept per record; the rest are scanned and dropped

	line   int
	buf    []byte // kept fields of the current record, back to back
	ends   []int  // end offset of each kept field in buf
	tooBig []bool
	cells  []cell
	// scratch holds the start of a dropped field.
	scratch []byte
}

// droppedFieldPeek is how much of a dropped field we look at; anything
// longer is certainly not blank.
const droppedFieldPeek = 64

func newCSVReader(r io.Reader, comma byte, maxCell, keep int) *csvReader {
	return &csvReader{r: bufio.NewReaderSize(r, 64<<10), comma: comma, maxCell: maxCell, keep: keep}
}

// next reads one record. It returns ok=false at the end of input.
func (c *csvReader) next() (rec record, ok bool, err error) {
	if _, err := c.r.Peek(1); err != nil {
		if errors.Is(err, io.EOF) {
			return record{}, false, nil
		}
		return record{}, false, err
	}
	c.line++
	c.buf, c.ends, c.tooBig = c.buf[:0], c.ends[:0], c.tooBig[:0]
	extra := false
	for field := 0; ; field++ {
		kept := field < c.keep
		start := len(c.buf)
		over, nonBlank, endOfRecord, err := c.readField(kept)
		if err != nil {
			return record{}, false, err
		}
		if kept {
			c.ends = append(c.ends, len(c.buf))
			c.tooBig = append(c.tooBig, over)
			if over {
				c.buf = c.buf[:start]
				c.ends[len(c.ends)-1] = start
			}
		} else if nonBlank || over {
			extra = true
		}
		if endOfRecord {
			break
		}
	}
	// One string per record instead of one per field.
	all := string(c.buf)
	c.cells = c.cells[:0]
	start := 0
	for i, end := range c.ends {
		c.cells = append(c.cells, cell{v: all[start:end], tooBig: c.tooBig[i]})
		start = end
	}
	return record{line: c.line, cells: c.cells, extra: extra}, true, nil
}

// readField consumes one field and its terminator. Kept fields are appended
// to c.buf; a dropped field only has its first bytes looked at, to tell
// whether it is blank.
func (c *csvReader) readField(keep bool) (over, nonBlank, endOfRecord bool, err error) {
	limit, dst := c.maxCell, &c.buf
	if !keep {
		limit, dst = droppedFieldPeek, &c.scratch
		c.scratch = c.scratch[:0]
	}
	start := len(*dst)
	defer func() {
		if !keep {
			nonBlank = over || trimSpace(string(c.scratch)) != ""
			over = false
		}
	}()
	b, err := c.r.ReadByte()
	if err != nil {
		return false, false, true, eofOK(err)
	}
	quoted := b == '"'
	if !quoted {
		if end, rec := c.terminator(b); end {
			return false, false, rec, nil
		}
		*dst = append(*dst, b)
	}
	for {
		b, err = c.r.ReadByte()
		if err != nil {
			// An unterminated quote runs to the end of the file; keep what
			// we have rather than failing the whole upload.
			return over, false, true, eofOK(err)
		}
		if quoted {
			if b == '"' {
				nb, err := c.r.ReadByte()
				if err != nil {
					return over, false, true, eofOK(err)
				}
				if nb != '"' {
					// Closing quote. Anything up to the delimiter is kept
					// as text.
					quoted = false
					b = nb
				}
			}
		}
		if !quoted {
			if end, rec := c.terminator(b); end {
				return over, false, rec, nil
			}
		}
		if len(*dst)-start >= limit {
			over = true
			continue
		}
		*dst = append(*dst, b)
	}
}

// terminator reports whether b ends the field, and whether it also ends the
// record. CRLF, LF and a lone CR all end a record.
func (c *csvReader) terminator(b byte) (endField, endRecord bool) {
	switch b {
	case c.comma:
		return true, false
	case '\n':
		return true, true
	case '\r':
		if nb, err := c.r.Peek(1); err == nil && nb[0] == '\n' {
			_, _ = c.r.ReadByte()
		}
		return true, true
	}
	return false, false
}

func eofOK(err error) error {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}
