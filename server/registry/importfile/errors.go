package importfile

import "fmt"

// Row-level problem codes. They are part of the API: the preview screen and
// the downloadable report key on them, so never rename one.
const (
	CodeCellTooLarge       = "cell_too_large"
	CodeBadEncoding        = "bad_encoding"
	CodeMissingValue       = "missing_value"
	CodeIDScientific       = "id_scientific_notation"
	CodeIDFormat           = "id_format"
	CodeIDChecksum         = "id_checksum"
	CodeIDBirthDate        = "id_birth_date"
	CodeScientific         = "scientific_notation"
	CodeBadHouseholdNo     = "bad_household_no"
	CodeDuplicateHousehold = "duplicate_household_no"
	CodeBadNumber          = "bad_number"
	CodeUnknownCategory    = "unknown_category"
	CodeUnknownRiskType    = "unknown_risk_type"
	CodeBadValue           = "bad_value"
	CodeBadPhone           = "bad_phone"
	CodeBadDate            = "bad_date"
)

// File-level codes, carried by *FileError.
const (
	CodeTooLarge          = "too_large"
	CodeTooManyRows       = "too_many_rows"
	CodeEmptyFile         = "empty_file"
	CodeBinaryFile        = "binary_file"
	CodeUnsupportedFormat = "unsupported_format"
	CodeCorruptXLSX       = "corrupt_xlsx"
	CodeNoHeader          = "no_header"
	CodeMissingColumns    = "missing_columns"
	CodeDuplicateColumn   = "duplicate_column"
)

// FileError reports that the upload as a whole cannot be imported. Nothing in
// it is applied; the user has to fix the file and upload it again.
type FileError struct {
	Code      string
	Message   string // Simplified Chinese, safe to show to the user
	MessageEN string
	Err       error // underlying cause, for logs only; may be nil
}

func (e *FileError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("importfile: %s: %s: %v", e.Code, e.MessageEN, e.Err)
	}
	return fmt.Sprintf("importfile: %s: %s", e.Code, e.MessageEN)
}

func (e *FileError) Unwrap() error { return e.Err }

func fileErr(code, zh, en string, cause error) *FileError {
	return &FileError{Code: code, Message: zh, MessageEN: en, Err: cause}
}
