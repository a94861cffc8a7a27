package importfile

import (
	"slices"
	"strings"
	"testing"
)

// withHeader replaces canonical header cells by other spellings.
func withHeader(renames map[string]string) []string {
	h := slices.Clone(canonHeader)
	for i, name := range h {
		if r, ok := renames[name]; ok {
			h[i] = r
		}
	}
	return h
}

func TestHeaderAliases(t *testing.T) {
	tests := []struct {
		alias, canonical string
	}{
		{"身份证号", "户主证件号码"},
		{"证件号码", "户主证件号码"},
		{"户主身份证号", "户主证件号码"},
		{"村", "行政村"},
		{"村名", "行政村"},
		{"乡镇", "乡（镇）"},
		{"乡(镇)", "乡（镇）"},
		{"县", "县（市、区）"},
		{"县区", "县（市、区）"},
		{"县(市、区)", "县（市、区）"},
		{"户主", "户主姓名"},
		{"姓名", "户主姓名"},
		{"电话", "联系电话"},
		{"手机号", "联系电话"},
		{"联系方式", "联系电话"},
		{"人口数", "家庭人口数"},
		{"家庭人口", "家庭人口数"},
		// Width, spacing and marker variants.
		{"县 （市、区）", "县（市、区）"},
		{" 乡（ 镇 ）", "乡（镇）"},
		{"户主\n姓名", "户主姓名"},
		{"*户主证件号码", "户主证件号码"},
		{"　户编号　", "户编号"},
		// A qualifier we have not listed is dropped.
		{"行政村（居委会）", "行政村"},
	}
	for _, tt := range tests {
		t.Run(tt.alias, func(t *testing.T) {
			hdr := withHeader(map[string]string{tt.canonical: tt.alias})
			res := mustParse(t, []byte(csvText(hdr, rowOf(nil))), Options{})
			checkInvariants(t, res)
			if len(res.Rows) != 1 || len(res.Problems) != 0 {
				t.Fatalf("alias %q: rows=%d problems=%v", tt.alias, len(res.Rows), problemKeys(res.Problems))
			}
			if res.Rows[0] != parseOne(t, nil).Rows[0] {
				t.Fatalf("alias %q mapped to the wrong column: %+v", tt.alias, res.Rows[0])
			}
		})
	}
}

func TestHeaderAliasProblemsUseCanonicalColumn(t *testing.T) {
	hdr := withHeader(map[string]string{"户主证件号码": "身份证号", "行政村": "村"})
	data := csvText(hdr, rowOf(map[string]string{"户主证件号码": "5.00241E+17", "行政村": ""}))
	res := mustParse(t, []byte(data), Options{})
	want := []string{"2:行政村:missing_value", "2:户主证件号码:id_scientific_notation"}
	if got := problemKeys(res.Problems); !slices.Equal(got, want) {
		t.Fatalf("problems = %v, want %v", got, want)
	}
}

func TestHeaderOnlyRequiredColumns(t *testing.T) {
	hdr := []string{"户编号", "县", "乡镇", "村", "户主姓名", "身份证号", "监测对象类别"}
	data := csvText(hdr, []string{"50023600000001", "奉节县", "永乐镇", "双河村", "段辉杰", "500236194809252725", "边缘易致贫户"})
	res := mustParse(t, []byte(data), Options{})
	checkInvariants(t, res)
	want := Row{Line: 2, County: "奉节县", Township: "永乐镇", Village: "双河村", HouseholdNo: "50023600000001",
		HeadName: "段辉杰", IDNumber: "500236194809252725", Category: "边缘易致贫户"}
	if len(res.Rows) != 1 || res.Rows[0] != want {
		t.Fatalf("rows = %+v, want %+v", res.Rows, want)
	}
}

func TestHeaderBelowTitleRows(t *testing.T) {
	data := "奉节县防返贫监测对象名单,,,\r\n" +
		"填报单位：奉节县乡村振兴局,,,,2026年10月\r\n" +
		"\r\n" +
		csvText(canonHeader, rowOf(nil))
	res := mustParse(t, []byte(data), Options{})
	checkInvariants(t, res)
	if len(res.Rows) != 1 || res.Rows[0].Line != 5 {
		t.Fatalf("want one row on line 5, got %+v", res.Rows)
	}
}

func TestHeaderUnknownColumnsIgnored(t *testing.T) {
	hdr := append([]string{"序号"}, canonHeader...)
	hdr = append(hdr, "备注", "帮扶责任人")
	row := append([]string{"1"}, rowOf(nil)...)
	row = append(row, "已走访", "张三")
	res := mustParse(t, []byte(csvText(hdr, row)), Options{})
	checkInvariants(t, res)
	if len(res.Rows) != 1 || res.Rows[0].HouseholdNo != "50023600000001" {
		t.Fatalf("rows = %+v", res.Rows)
	}
}

func TestHeaderCanonicalBeatsAlias(t *testing.T) {
	// 姓名 is an alias of 户主姓名, but a sheet that has both means the
	// canonical one.
	hdr := append(slices.Clone(canonHeader), "姓名")
	row := append(rowOf(nil), "家庭成员")
	res := mustParse(t, []byte(csvText(hdr, row)), Options{})
	if len(res.Rows) != 1 || res.Rows[0].HeadName != "段辉杰" {
		t.Fatalf("rows = %+v", res.Rows)
	}
}

func TestHeaderFileErrors(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		code     string
		contains []string // in the Chinese message
	}{
		{"missing required columns",
			csvText([]string{"县", "乡镇", "村", "户主姓名", "联系电话"}, []string{"奉节县", "永乐镇", "双河村", "段辉杰", ""}),
			CodeMissingColumns, []string{"户编号", "户主证件号码", "监测对象类别", "第 1 行"}},
		{"no header at all",
			"a,b,c\r\n1,2,3\r\n",
			CodeNoHeader, []string{"表头"}},
		{"header below row 30",
			strings.Repeat("说明,,,\r\n", 30) + csvText(canonHeader, rowOf(nil)),
			CodeNoHeader, nil},
		{"two aliases for one column",
			csvText(append(withHeader(map[string]string{"户主证件号码": "身份证号"}), "证件号码"), append(rowOf(nil), "x")),
			CodeDuplicateColumn, []string{"身份证号", "证件号码", "户主证件号码"}},
		{"header only, no household columns",
			csvText([]string{"姓名", "电话", "地址"}),
			CodeNoHeader, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := mustFail(t, []byte(tt.data), Options{})
			if fe.Code != tt.code {
				t.Fatalf("code = %q (%s), want %q", fe.Code, fe.Message, tt.code)
			}
			for _, s := range tt.contains {
				if !strings.Contains(fe.Message, s) {
					t.Errorf("message %q does not mention %q", fe.Message, s)
				}
			}
		})
	}
}
