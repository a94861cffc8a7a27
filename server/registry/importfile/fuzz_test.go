package importfile

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. Whatever the input, Parse must
// not panic, must fail only with a *FileError (the reader never fails here),
// and every row it returns must be one the layer above can trust.
func FuzzParse(f *testing.F) {
	for _, path := range fixtureInputs(f) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(csvText(canonHeader, rowOf(nil))))
	f.Add([]byte("户编号,县,乡镇,村,姓名,身份证号,监测对象类别\n1,a,b,c,d,11010519491231002x,边缘易致贫户\n"))
	f.Add([]byte("\"户编号\"\t\"县\"\t乡镇\t村\t姓名\t身份证号\t监测对象类别\r\"1\"\"\"\t\r"))
	f.Fuzz(func(t *testing.T, data []byte) {
		// Small limits keep each run fast and exercise the caps.
		opts := Options{MaxBytes: 1 << 20, MaxRows: 2000, MaxCellBytes: 256, Now: testNow}
		res, err := Parse(bytes.NewReader(data), opts)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a *FileError: %v", err)
			}
			if res != nil {
				t.Fatalf("result returned with an error")
			}
			return
		}
		for _, r := range res.Rows {
			if !ValidIDNumber(r.IDNumber) {
				t.Fatalf("row %d: ID %q fails ValidIDNumber", r.Line, r.IDNumber)
			}
			if !slices.Contains(Categories, r.Category) {
				t.Fatalf("row %d: category %q not in Categories", r.Line, r.Category)
			}
		}
		checkInvariants(t, res)
	})
}
