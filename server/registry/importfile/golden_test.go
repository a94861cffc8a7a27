package importfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// Fixtures in testdata are small files of each shape we accept or refuse.
// Each input has a .golden.json beside it with what Parse makes of it.
//
//	go test -run TestGenerateFixtures -gen ./server/registry/importfile/   # rewrite the inputs
//	go test -run TestGolden -update ./server/registry/importfile/          # rewrite the goldens
var (
	genFixtures   = flag.Bool("gen", false, "regenerate the input fixtures in testdata")
	updateGoldens = flag.Bool("update", false, "rewrite testdata/*.golden.json from current output")
)

// fixtureInputs lists the inputs; anything else in testdata is a golden.
func fixtureInputs(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatalf("read testdata: %v", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && !strings.HasSuffix(e.Name(), ".golden.json") && !strings.HasPrefix(e.Name(), "report.") {
			out = append(out, filepath.Join("testdata", e.Name()))
		}
	}
	if len(out) == 0 {
		t.Fatal("no fixtures in testdata; run with -gen")
	}
	return out
}

// golden is the stable, reviewable form of a Parse outcome.
type golden struct {
	Error    string    `json:"error,omitempty"` // FileError code
	Format   string    `json:"format,omitempty"`
	Encoding string    `json:"encoding,omitempty"`
	Sheet    string    `json:"sheet,omitempty"`
	DataRows int       `json:"dataRows"`
	Rows     []Row     `json:"rows,omitempty"`
	Problems []Problem `json:"problems,omitempty"`
}

func TestGolden(t *testing.T) {
	for _, path := range fixtureInputs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var g golden
			res, err := Parse(bytes.NewReader(data), Options{Now: testNow})
			if err != nil {
				var fe *FileError
				if !errors.As(err, &fe) {
					t.Fatalf("Parse: %v", err)
				}
				g.Error = fe.Code
			} else {
				checkInvariants(t, res)
				g = golden{Format: res.Format, Encoding: res.Encoding, Sheet: res.Sheet, DataRows: res.DataRows, Rows: res.Rows, Problems: res.Problems}
			}
			got, err := json.MarshalIndent(g, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			goldenPath := path + ".golden.json"
			if *updateGoldens {
				if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("output differs from %s (run with -update if the change is intended)\n got: %s\nwant: %s", goldenPath, got, want)
			}
		})
	}
}

// The goldens are only as good as their review; pin the facts each fixture
// exists for, so an -update that breaks one fails here.
func TestFixtureFacts(t *testing.T) {
	parse := func(name string) (*Result, *FileError) {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatalf("fixture %s: %v (run with -gen)", name, err)
		}
		res, err := Parse(bytes.NewReader(data), Options{Now: testNow})
		var fe *FileError
		errors.As(err, &fe)
		if err != nil && fe == nil {
			t.Fatalf("%s: %v", name, err)
		}
		return res, fe
	}
	for name, enc := range map[string]string{"bom.csv": "utf-8-bom", "nobom.csv": "utf-8", "gbk.csv": "gb18030"} {
		res, fe := parse(name)
		if fe != nil || res.Encoding != enc || len(res.Rows) != 2 {
			t.Errorf("%s: err %v encoding %q rows %d; want %s with 2 clean rows", name, fe, res.Encoding, len(res.Rows), enc)
			continue
		}
		if res.Rows[0].HeadName != "段辉杰" {
			t.Errorf("%s: name decoded as %q", name, res.Rows[0].HeadName)
		}
	}
	if res, _ := parse("gbk.csv"); !slices.Equal(linesWith(res.Problems, CodeDuplicateHousehold), []int{3, 5}) {
		t.Errorf("gbk.csv: duplicates on %v, want rows 3 and 5", linesWith(res.Problems, CodeDuplicateHousehold))
	}
	if res, _ := parse("aliases.csv"); len(res.Rows) != 2 || res.Rows[0].Line != 4 || res.Rows[0].Village != "双河村" {
		t.Errorf("aliases.csv: %+v", res.Rows)
	}
	if res, _ := parse("defects.csv"); len(res.Rows) != 0 || len(codeCounts(res.Problems)) < 10 {
		t.Errorf("defects.csv: want every row rejected and at least 10 distinct codes, got %v", codeCounts(res.Problems))
	}
	if res, _ := parse("valid.xlsx"); len(res.Rows) != 2 || len(res.Problems) != 0 || !isJan5(res.Rows[1]) {
		t.Errorf("valid.xlsx: rows %+v problems %v", res.Rows, problemKeys(res.Problems))
	}
	for name, code := range map[string]string{
		"truncated.xlsx": CodeCorruptXLSX, "junk.bin": CodeBinaryFile, "noheader.xlsx": CodeNoHeader, "missing-columns.csv": CodeMissingColumns,
	} {
		if _, fe := parse(name); fe == nil || fe.Code != code {
			t.Errorf("%s: error %v, want %s", name, fe, code)
		}
	}
}

// TestGenerateFixtures writes the inputs. They are committed; regenerate
// only when adding a fixture, then review and -update the goldens.
func TestGenerateFixtures(t *testing.T) {
	if !*genFixtures {
		t.Skip("fixtures are committed; pass -gen to regenerate them")
	}
	id2 := makeID(t, "11010519491231002")
	id3 := makeID(t, "50023619500101001")
	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join("testdata", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll("testdata", 0o755); err != nil {
		t.Fatal(err)
	}

	// UTF-8 with BOM and CRLF: repaired defects (lower-case x, spaces,
	// full-width phone) and one wrong check digit.
	write("bom.csv", append(slices.Clone(utf8BOM), csvText(canonHeader,
		rowOf(nil),
		rowOf(map[string]string{"户编号": "50023600000002", "户主证件号码": " " + strings.ToLower(id2) + " ", "联系电话": "１５２２０１２４９９２"}),
		rowOf(map[string]string{"户编号": "50023600000003", "户主证件号码": "500236194809252724"}),
	)...))

	// UTF-8 without BOM, LF endings, other date spellings, a blank row.
	write("nobom.csv", []byte(strings.ReplaceAll(csvText(canonHeader,
		rowOf(map[string]string{"识别监测时间": "2023/1/5"}),
		[]string{},
		rowOf(map[string]string{"户编号": "50023600000002", "户主证件号码": id2, "识别监测时间": "2023年1月5日"}),
		rowOf(map[string]string{"户编号": "50023600000003", "户主证件号码": id3, "识别监测时间": "2023-02-30"}),
	), "\r\n", "\n")))

	// GBK, as older Excel saves it, with a duplicated household number.
	write("gbk.csv", gbk(t, csvText(canonHeader,
		rowOf(nil),
		rowOf(map[string]string{"户编号": "50023600000002", "户主证件号码": id2}),
		rowOf(map[string]string{"户编号": "50023600000003", "户主证件号码": id3}),
		rowOf(map[string]string{"户编号": "50023600000002", "户主证件号码": id3, "户主姓名": "向海"}),
	)))

	// Another county's column names, below a title row and a blank row.
	aliasHdr := withHeader(map[string]string{
		"县（市、区）": "县", "乡（镇）": "乡(镇)", "行政村": "村", "户主姓名": "姓名", "户主证件号码": "身份证号",
		"联系电话": "电话", "家庭人口数": "人口数", "监测对象类别": " 监测对象类别 ",
	})
	write("aliases.csv", []byte("奉节县防返贫监测对象名单\r\n\r\n"+csvText(aliasHdr,
		rowOf(nil),
		rowOf(map[string]string{"户编号": "50023600000002", "户主证件号码": id2}),
	)))

	// One defect per row.
	write("defects.csv", []byte(csvText(canonHeader,
		rowOf(map[string]string{"户主证件号码": "5.00241E+17"}),
		rowOf(map[string]string{"户编号": "2", "户主证件号码": "500236194809252724"}),
		rowOf(map[string]string{"户编号": "3", "户主证件号码": "50023619480925272"}),
		rowOf(map[string]string{"户编号": "4", "户主姓名": ""}),
		rowOf(map[string]string{"户编号": "5", "监测对象类别": "一般农户"}),
		rowOf(map[string]string{"户编号": "6", "主要风险类型": "因懒"}),
		rowOf(map[string]string{"户编号": "7", "联系电话": "12345"}),
		rowOf(map[string]string{"户编号": "8", "识别监测时间": "2027-01-01"}),
		rowOf(map[string]string{"户编号": "9", "家庭人口数": "0"}),
		rowOf(map[string]string{"户编号": "10", "是否有劳动能力": "有"}),
		rowOf(map[string]string{"户编号": "11", "户主证件号码": makeID(t, "50023619480230272")}),
		rowOf(map[string]string{"户编号": "5.00236E+13"}),
		rowOf(map[string]string{"户编号": "12", "户主姓名": strings.Repeat("长", 1400)}),
		rowOf(map[string]string{"户编号": "12"}),
	)))

	write("missing-columns.csv", []byte(csvText(canonHeader[:7], rowOf(nil)[:7])))

	valid := xlsxOf(t, []sheetSpec{{name: "名单", rows: [][]any{
		anyRow(canonHeader),
		anyRow(rowOf(nil)),
		{"重庆市", "重庆市", "奉节县", "永乐镇", "双河村", "50023600000002", "向海", id2, 3, "脱贫不稳定户", "因病", "否", 13800138000, time.Date(2023, 1, 5, 0, 0, 0, 0, time.UTC), "未消除"},
	}, styles: map[string]*excelize.Style{"N3": {NumFmt: 14}}}})
	write("valid.xlsx", valid)
	write("truncated.xlsx", valid[:len(valid)*2/3])
	write("noheader.xlsx", xlsxOf(t, []sheetSpec{{name: "Sheet1", rows: [][]any{{"品名", "数量"}, {"化肥", 3}}}}))

	junk := make([]byte, 512)
	rng := rand.New(rand.NewPCG(7, 11))
	for i := range junk {
		junk[i] = byte(rng.UintN(256))
	}
	write("junk.bin", junk)
}
