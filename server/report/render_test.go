package report_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
)

// unzipped returns every part of an xlsx, decompressed.
func unzipped(t *testing.T, b []byte) map[string]string {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	out := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		out[f.Name] = string(body)
	}
	return out
}

// assertNoClearNumbers fails when a clear ID or phone number appears.
func assertNoClearNumbers(t *testing.T, f *fixture, what string, texts ...string) {
	t.Helper()
	for _, clear := range f.clearIDs {
		for _, s := range texts {
			if strings.Contains(s, clear) {
				t.Fatalf("%s contains a clear personal number", what)
			}
		}
	}
}

func TestStoredFilesXLSXAndCSV(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db, at(2026, 10, 1, 8, 0))
		buildHistory(f)
		if _, err := f.svc.Close(ctx, f.actor("manager1"), "2026-10", "CQ"); err != nil {
			t.Fatal(err)
		}
		xlsx, err := f.svc.File(ctx, f.actor("manager1"), "2026-10", 1, "xlsx", "zh", "CQ")
		if err != nil {
			t.Fatal(err)
		}
		x, err := excelize.OpenReader(bytes.NewReader(xlsx.Content))
		if err != nil {
			t.Fatalf("excelize cannot open the report: %v", err)
		}
		defer x.Close()
		sheets := x.GetSheetList()
		for _, want := range []string{"汇总", "秀山支行", "巫溪支行", "奉节支行", "客户经理", "未走访户", "覆盖率图表"} {
			if !slices.Contains(sheets, want) {
				t.Errorf("sheet %q missing; sheets %v", want, sheets)
			}
		}
		summary, _ := x.GetRows("汇总")
		if len(summary) < 6 || summary[4][2] != "名单户数" || summary[5][1] != "重庆分行" || summary[5][2] != "6" {
			t.Errorf("summary sheet: %q", summary)
		}
		county, _ := x.GetRows("秀山支行")
		var outlets []string
		for _, r := range county[3:] {
			outlets = append(outlets, r[1])
		}
		if !slices.Contains(outlets, "秀山中和网点") || !slices.Contains(outlets, "秀山石耶网点") || county[len(county)-1][0] != "合计" {
			t.Errorf("county sheet rows: %q", county)
		}
		missing, _ := x.GetRows("未走访户")
		// October: H2 (only an absence), H5 (nobody assigned) and H6 (visited in September).
		if len(missing) != 4 {
			t.Fatalf("missing households sheet has %d rows, want header + 3: %q", len(missing), missing)
		}
		for _, r := range missing[1:] {
			if !strings.Contains(r[2], "*") || !strings.Contains(r[3], "*") {
				t.Errorf("ID and phone must be masked: %q", r)
			}
		}
		parts := unzipped(t, xlsx.Content)
		chart, ok := parts["xl/charts/chart1.xml"]
		if !ok || !strings.Contains(chart, "覆盖率图表") {
			t.Errorf("no coverage chart over the outlets' data; parts %v", keys(parts))
		}
		var all []string
		for _, p := range parts {
			all = append(all, p)
		}
		assertNoClearNumbers(t, f, "xlsx", all...)

		en, err := f.svc.File(ctx, f.actor("manager1"), "2026-10", 1, "xlsx", "en", "CQ")
		if err != nil {
			t.Fatal(err)
		}
		xe, err := excelize.OpenReader(bytes.NewReader(en.Content))
		if err != nil {
			t.Fatal(err)
		}
		defer xe.Close()
		for _, want := range []string{"Summary", "Officers", "Missing households", "Coverage chart"} {
			if !slices.Contains(xe.GetSheetList(), want) {
				t.Errorf("English sheet %q missing: %v", want, xe.GetSheetList())
			}
		}
		head, _ := xe.GetRows("Summary")
		if len(head) < 5 || head[4][2] != "Households in the list" {
			t.Errorf("English headers: %q", head)
		}

		for _, lang := range []string{"zh", "en"} {
			c, err := f.svc.File(ctx, f.actor("manager1"), "2026-10", 1, "csv", lang, "CQ")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(c.Content, []byte{0xEF, 0xBB, 0xBF}) {
				t.Fatalf("%s csv has no UTF-8 byte-order mark", lang)
			}
			first := strings.SplitN(string(c.Content[3:]), "\n", 2)[0]
			want := map[string]string{"zh": "名单户数", "en": "Households in the list"}[lang]
			if !strings.Contains(first, want) {
				t.Errorf("%s csv header %q lacks %q", lang, first, want)
			}
			assertNoClearNumbers(t, f, "csv", string(c.Content))
		}

		// A supervisor or officer does not get the branch's files.
		if _, err := f.svc.File(ctx, f.actor("supervisor1"), "2026-10", 1, "xlsx", "zh", ""); err == nil {
			t.Fatal("a supervisor downloaded the branch's file")
		}
	})
}

func TestArchiveExportMasksNumbers(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db, at(2026, 10, 1, 8, 0))
		hs := buildHistory(f)
		for _, format := range []string{"json", "xlsx", "csv"} {
			body, ctype, name, err := f.svc.HouseholdArchive(ctx, f.actor("officer1"), hs.h[1], format, "zh")
			if err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			if ctype == "" || !strings.HasPrefix(name, "doorstep-archive-HH") {
				t.Errorf("%s: content type %q, name %q", format, ctype, name)
			}
			text := string(body)
			if format == "xlsx" {
				var parts []string
				for _, p := range unzipped(t, body) {
					parts = append(parts, p)
				}
				text = strings.Join(parts, "\n")
			}
			assertNoClearNumbers(t, f, "archive "+format, text)
			for _, want := range []string{hs.v["v1"], hs.v["v2"], hs.loan["l1"]} {
				if !strings.Contains(text, want) {
					t.Errorf("%s archive lacks record %s", format, want)
				}
			}
			if format == "json" && (!strings.Contains(text, `"outcome":"visited_with_need"`) || !strings.Contains(text, `"id_number_masked":"`)) {
				t.Errorf("json archive lacks the October outcome or the masked number: %s", text)
			}
		}
		// Out of scope looks like absent: officer2 does not reach officer1's household.
		if _, _, _, err := f.svc.HouseholdArchive(ctx, f.actor("officer2"), hs.h[1], "json", "zh"); err == nil {
			t.Fatal("officer2 read officer1's household archive")
		}
		if _, _, _, err := f.svc.HouseholdArchive(ctx, f.actor("hb_manager"), hs.h[1], "json", "zh"); err == nil {
			t.Fatal("another branch's manager read the archive")
		}
	})
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
