package importfile

import "testing"

// Every problem names the county of its row, so that a caller can set aside
// the rows of counties it does not serve; duplicates too, each with its own.
func TestProblemsNameTheirCounty(t *testing.T) {
	in := "户编号,户主姓名,户主证件号码,监测对象类别,县（市、区）,乡（镇）,行政村\r\n" +
		"1,张三,500238195206029898,一般农户,巫溪县,宁厂镇,青山村\r\n" +
		"2,李四,500238195206029898,脱贫不稳定户, 横峰县 ,姚家乡,中心村\r\n" +
		"2,王五,500238195206029898,脱贫不稳定户,奉节县,永乐镇,双河村\r\n" +
		"3,,500238195206029898,脱贫不稳定户,,永乐镇,双河村\r\n"
	res := mustParse(t, []byte(in), Options{})
	want := map[int]string{2: "巫溪县", 3: "横峰县", 4: "奉节县", 5: ""}
	if len(res.Problems) < 4 {
		t.Fatalf("problems = %+v", res.Problems)
	}
	for _, p := range res.Problems {
		if c, ok := want[p.Line]; !ok || p.County != c {
			t.Errorf("row %d (%s): county %q, want %q", p.Line, p.Code, p.County, c)
		}
	}
}
