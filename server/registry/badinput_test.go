package registry_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/syncproto"
)

const header = "省,市,县（市、区）,乡（镇）,行政村,户编号,户主姓名,户主证件号码,家庭人口数,监测对象类别,主要风险类型,是否有劳动能力,联系电话,识别监测时间,风险消除状态\r\n"

// goodRow is a valid 巫溪 household.
const goodRow = "重庆市,重庆市,巫溪县,宁厂镇,青山村,50023899990001,张三,500238195206029898,3,脱贫不稳定户,因病,是,13812345678,2023-09-24,未消除\r\n"

func workbookWithout(t *testing.T) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	if err := f.SetSheetName("Sheet1", "说明"); err != nil {
		t.Fatal(err)
	}
	f.SetCellValue("说明", "A1", "本工作簿是填表说明，没有名单")
	f.SetCellValue("说明", "A2", "请向县乡村振兴局索取监测对象名单")
	var b bytes.Buffer
	if _, err := f.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Files that cannot be read at all: a clear error naming what is wrong,
// and nothing stored, not even a preview.
func TestUnreadableFilesWriteNothing(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		junk := make([]byte, 4096)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range junk {
			junk[i] = byte(r.IntN(256))
		}
		xlsx := readSample(t, "monitoring-list.xlsx")
		cases := map[string]struct {
			data []byte
			code string
		}{
			"binary junk":                  {junk, "binary_file"},
			"truncated xlsx":               {xlsx[:len(xlsx)/2], "corrupt_xlsx"},
			"workbook without the list":    {workbookWithout(t), "no_header"},
			"empty":                        {nil, "empty_file"},
			"header only, columns missing": {[]byte("省,市,户编号\r\n1,2,3\r\n"), "missing_columns"},
		}
		before := w.tableCounts(t)
		for name, tc := range cases {
			_, err := w.svc.PreviewImport(ctx, w.manager, registry.ImportInput{FileName: name, Data: bytes.NewReader(tc.data)})
			e, ok := apperr.As(err)
			if !ok || e.Code != syncproto.CodeInvalidRequest || e.Details["file_error"] != tc.code || e.Message == "" || e.MessageEN == "" {
				t.Errorf("%s: err %v, want invalid_request with file_error %s", name, err, tc.code)
			}
		}
		if n := w.count(t, "SELECT COUNT(*) FROM list_snapshots"); n != 0 {
			t.Fatalf("unreadable files left %d previews", n)
		}
		if after := w.tableCounts(t); !mapsEqual(before, after) {
			t.Fatalf("unreadable files wrote:\nbefore %v\nafter  %v", before, after)
		}
	})
}

// Files that read but have bad rows: every problem reported with its row,
// the preview cannot be committed, nothing reaches the households.
func TestDefectiveFilesAreReportedNotApplied(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		hugeRow := header + goodRow + strings.Repeat("x,", 200_000) + "\r\n"
		bigCell := header + strings.Replace(goodRow, "张三", strings.Repeat("张", 10<<20/3), 1)
		cases := map[string]struct {
			data     []byte
			wantCode string
			wantLine int
		}{
			"october sample":  {readSample(t, "monitoring-list-2026-10.csv"), "id_checksum", 456},
			"november sample": {readSample(t, "monitoring-list-2026-11.csv"), "", 0},
			"gbk sample":      {readSample(t, "monitoring-list-gbk.csv"), "", 0},
			"a 10 MB cell":    {[]byte(bigCell), "cell_too_large", 2},
			"a huge row":      {[]byte(hugeRow), "", 3},
		}
		for name, tc := range cases {
			before := w.tableCounts(t)
			p, err := w.svc.PreviewImport(ctx, w.manager, registry.ImportInput{FileName: name, Data: bytes.NewReader(tc.data)})
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if p.Summary.Errors == 0 || p.Summary.Committable {
				t.Errorf("%s: summary %+v; want errors", name, p.Summary)
				continue
			}
			probs, err := w.svc.ImportProblems(ctx, w.manager, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			found := tc.wantCode == "" && tc.wantLine == 0
			for _, q := range probs {
				if q.Line <= 0 || q.Message == "" || q.MessageEN == "" {
					t.Errorf("%s: problem without row or message: %+v", name, q)
				}
				if (tc.wantCode == "" || q.Code == tc.wantCode) && (tc.wantLine == 0 || q.Line == tc.wantLine) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no %q problem on row %d among %d", name, tc.wantCode, tc.wantLine, len(probs))
			}
			if _, _, err := w.svc.CommitImport(ctx, w.manager, p.ID); !isConflict(err, "file_has_errors") {
				t.Errorf("%s: commit = %v", name, err)
			}
			if after := w.tableCounts(t); !mapsEqual(before, after) {
				t.Errorf("%s: a refused file wrote:\nbefore %v\nafter  %v", name, before, after)
			}
		}
	})
}

// The clean XLSX sample and the GBK sample once fixed both import.
func TestXLSXAndGBKImport(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		x := w.preview(t, w.manager, "monitoring-list.xlsx", readSample(t, "monitoring-list.xlsx"))
		if x.Summary.Format != "xlsx" || x.Summary.Errors != 0 || x.Summary.New == 0 {
			t.Fatalf("xlsx preview = %+v", x.Summary)
		}
		w.commit(t, w.manager, x.ID)
		g := w.preview(t, w.manager, "gbk.csv", cleaned(t, readSample(t, "monitoring-list-gbk.csv")))
		if g.Summary.Encoding != "gb18030" || g.Summary.Errors != 0 || g.Summary.New+g.Summary.Unchanged+g.Summary.Changed == 0 {
			t.Fatalf("gbk preview = %+v", g.Summary)
		}
		c := w.commit(t, w.manager, g.ID)
		if c.Version != 2 {
			t.Fatalf("gbk commit version %d", c.Version)
		}
		// Names came through the GBK decoding intact.
		var names []string
		w.db.Gorm(context.Background()).Raw("SELECT head_name FROM households WHERE snapshot_id = ? LIMIT 20", g.ID).Scan(&names)
		for _, n := range names {
			if strings.ContainsRune(n, '\uFFFD') || n == "" {
				t.Fatalf("garbled name %q", n)
			}
		}
	})
}
