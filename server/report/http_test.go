package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// TestReportAPI drives the report routes through the real router, with real
// tokens, on both databases. The data sits in the month before the real
// current month, so that it can be closed.
func TestReportAPI(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		now := time.Now().In(shanghai)
		first := time.Date(now.Year(), now.Month(), 1, 10, 0, 0, 0, shanghai).AddDate(0, -1, 0)
		month := first.Format("2006-01")
		f := newFixture(t, env.DB, first)
		h1 := f.household("XS")
		f.assign(h1, "XS-01", "officer1", "")
		f.visit(h1, "officer1", "XS-01", first.AddDate(0, 0, 1), syncproto.OutcomeVisited)
		h2 := f.household("WX")
		f.assign(h2, "WX-01", "officer3", "")
		f.set(now)
		if err := env.App.Report.CatchUp(ctx); err != nil {
			t.Fatal(err)
		}

		tok := map[string]string{}
		for i, u := range []string{"admin", "manager1", "supervisor1", "officer1", "officer2", "hb_manager"} {
			tok[u] = env.Login(t, u, testenv.Password, "rpt-"+string(rune('a'+i))).AccessToken
		}
		ids := map[string]string{"officer1": f.users["officer1"].ID}
		q := func(path string, kv ...string) string {
			v := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				v.Set(kv[i], kv[i+1])
			}
			if len(v) == 0 {
				return path
			}
			return path + "?" + v.Encode()
		}
		monthly := func(user string, kv ...string) report.MonthlyView {
			t.Helper()
			body := env.DoStatus(t, http.StatusOK, "GET", q("/api/v1/reports/monthly", append([]string{"month", month}, kv...)...), tok[user], nil)
			var v report.MonthlyView
			if err := json.Unmarshal(body, &v); err != nil {
				t.Fatal(err)
			}
			return v
		}

		t.Run("200s", func(t *testing.T) {
			v := monthly("manager1", "org", "CQ")
			if v.Org.Code != "CQ" || v.Status != "open" || len(v.Lines) == 0 || v.Lines[0].Level != "branch" ||
				v.Lines[0].Figures["households_in_list"] != 2 || v.Lines[0].Figures["households_visited"] != 1 {
				t.Fatalf("manager's branch view: %+v", v)
			}
			if len(v.Figures) != len(report.Figures()) {
				t.Errorf("figure definitions missing from the view")
			}
			if a := monthly("admin", "org", "CQ"); len(a.Lines) != len(v.Lines) {
				t.Errorf("admin sees %d lines, manager %d", len(a.Lines), len(v.Lines))
			}
			sup := monthly("supervisor1")
			if sup.Org.Code != "XS-01" {
				t.Fatalf("supervisor's default scope %+v", sup.Org)
			}
			for _, l := range sup.Lines {
				if l.OutletID != f.units["XS-01"].ID {
					t.Errorf("supervisor of XS-01 sees a line of another unit: %+v", l)
				}
			}
			off := monthly("officer1")
			if len(off.Lines) != 1 || off.Lines[0].OfficerID != ids["officer1"] || off.Lines[0].Figures["households_visited"] != 1 {
				t.Fatalf("officer's own view: %+v", off.Lines)
			}
			if o2 := monthly("officer2"); len(o2.Lines) != 0 {
				t.Errorf("officer2 sees rows that are not theirs: %+v", o2.Lines)
			}
			hb := monthly("hb_manager")
			for _, l := range hb.Lines {
				if l.Figures["households_in_list"] != 0 {
					t.Errorf("the other branch sees CQ's households: %+v", l)
				}
			}
			en := env.DoStatus(t, http.StatusOK, "GET", q("/api/v1/reports/monthly", "month", month, "org", "XS"), tok["manager1"], nil)
			if !bytes.Contains(en, []byte(`"label_zh":"名单户数"`)) {
				t.Errorf("figure labels missing: %s", en[:200])
			}
		})

		t.Run("400s", func(t *testing.T) {
			for _, c := range []struct{ name, path, field string }{
				{"month 13", q("/api/v1/reports/monthly", "month", "2026-13", "org", "CQ"), "month"},
				{"month without zero", q("/api/v1/reports/monthly", "month", "2026-1", "org", "CQ"), "month"},
				{"no month", q("/api/v1/reports/monthly", "org", "CQ"), "month"},
				{"future month", q("/api/v1/reports/monthly", "month", "2999-01", "org", "CQ"), "month"},
				{"sql in month", q("/api/v1/reports/monthly", "month", "2026-10' OR '1'='1", "org", "CQ"), "month"},
				{"unknown org", q("/api/v1/reports/monthly", "month", month, "org", "NOPE"), "org"},
				{"sql in org", q("/api/v1/reports/monthly", "month", month, "org", "CQ' OR 1=1 --"), "org"},
				{"other branch is invisible", q("/api/v1/reports/monthly", "month", month, "org", "HB"), "org"},
				{"version not a number", q("/api/v1/reports/"+month+"/versions/abc", "org", "CQ"), "version"},
				{"version zero", q("/api/v1/reports/"+month+"/versions/0", "org", "CQ"), "version"},
				{"diff of version 1", q("/api/v1/reports/"+month+"/versions/1/diff", "org", "CQ"), "version"},
				{"file format", q("/api/v1/reports/"+month+"/versions/1/files/pdf", "org", "CQ"), "format"},
				{"archive format", q("/api/v1/households/"+h1+"/archive", "format", "pdf"), "format"},
			} {
				resp, body := env.Do(t, "GET", c.path, tok["manager1"], nil)
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("%s: status %d, want 400: %s", c.name, resp.StatusCode, body)
					continue
				}
				e := testenv.ErrorOf(t, body)
				if e.Code != syncproto.CodeInvalidRequest || e.Details["field"] != c.field {
					t.Errorf("%s: error %+v, want field %s", c.name, e, c.field)
				}
			}
			resp, body := env.Do(t, "POST", q("/api/v1/reports/"+month+"/close", "org", "XS"), tok["manager1"], nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("close of a county: %d %s", resp.StatusCode, body)
			}
			resp, body = env.Do(t, "GET", q("/api/v1/reports/monthly", "month", "2026-13", "org", "CQ", "lang", "en"), tok["manager1"], nil)
			if e := testenv.ErrorOf(t, body); resp.StatusCode != 400 || !strings.Contains(e.Message, "YYYY-MM") || strings.ContainsRune(e.Message, '月') {
				t.Errorf("English message: %+v", e)
			}
		})

		t.Run("401", func(t *testing.T) {
			env.DoStatus(t, http.StatusUnauthorized, "GET", q("/api/v1/reports/monthly", "month", month, "org", "CQ"), "", nil)
		})

		t.Run("403s", func(t *testing.T) {
			for _, c := range []struct{ name, user, method, path string }{
				{"officer closes", "officer1", "POST", q("/api/v1/reports/"+month+"/close", "org", "CQ")},
				{"supervisor closes", "supervisor1", "POST", q("/api/v1/reports/"+month+"/close", "org", "CQ")},
				{"supervisor looks at another county", "supervisor1", "GET", q("/api/v1/reports/monthly", "month", month, "org", "WX")},
				{"supervisor looks at the branch", "supervisor1", "GET", q("/api/v1/reports/monthly", "month", month, "org", "CQ")},
				{"officer asks for a unit", "officer1", "GET", q("/api/v1/reports/monthly", "month", month, "org", "XS-01")},
				{"supervisor downloads", "supervisor1", "GET", q("/api/v1/reports/" + month + "/versions/1/files/xlsx")},
			} {
				resp, body := env.Do(t, c.method, c.path, tok[c.user], nil)
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("%s: status %d, want 403: %s", c.name, resp.StatusCode, body)
					continue
				}
				if e := testenv.ErrorOf(t, body); e.Code != syncproto.CodeForbidden {
					t.Errorf("%s: %+v", c.name, e)
				}
			}
			// Another branch's manager cannot close CQ: for them CQ does not exist.
			env.DoStatus(t, http.StatusBadRequest, "POST", q("/api/v1/reports/"+month+"/close", "org", "CQ"), tok["hb_manager"], nil)
		})

		t.Run("close, versions, files, 404s and 409", func(t *testing.T) {
			body := env.DoStatus(t, http.StatusCreated, "POST", q("/api/v1/reports/"+month+"/close", "org", "CQ"), tok["manager1"], nil)
			var vi report.VersionInfo
			if err := json.Unmarshal(body, &vi); err != nil || vi.Version != 1 || vi.CreatedBy != "manager1" || len(vi.Files) != 4 {
				t.Fatalf("close: %s %v", body, err)
			}
			resp, body := env.Do(t, "POST", q("/api/v1/reports/"+month+"/close", "org", "CQ"), tok["manager1"], nil)
			if resp.StatusCode != http.StatusConflict || testenv.ErrorOf(t, body).Code != syncproto.CodeConflict {
				t.Fatalf("second close: %d %s", resp.StatusCode, body)
			}
			if v := monthly("manager1", "org", "CQ"); v.Status != "closed" || v.LatestVersion != 1 {
				t.Errorf("after close: status %s, version %d", v.Status, v.LatestVersion)
			}
			var vs report.VersionsView
			json.Unmarshal(env.DoStatus(t, http.StatusOK, "GET", q("/api/v1/reports/"+month+"/versions", "org", "CQ"), tok["manager1"], nil), &vs)
			if len(vs.Versions) != 1 || len(vs.Versions[0].Files) != 4 {
				t.Fatalf("versions: %+v", vs)
			}
			var sv report.VersionsView
			json.Unmarshal(env.DoStatus(t, http.StatusOK, "GET", q("/api/v1/reports/"+month+"/versions"), tok["supervisor1"], nil), &sv)
			if len(sv.Versions) != 1 || len(sv.Versions[0].Files) != 0 {
				t.Errorf("a supervisor sees the versions but not the files: %+v", sv)
			}
			var one report.VersionView
			json.Unmarshal(env.DoStatus(t, http.StatusOK, "GET", q("/api/v1/reports/"+month+"/versions/1", "org", "XS"), tok["manager1"], nil), &one)
			if one.Version.Version != 1 || len(one.Lines) == 0 {
				t.Fatalf("version 1 of XS: %+v", one)
			}
			for _, l := range one.Lines {
				if l.CountyID != f.units["XS"].ID {
					t.Errorf("county view holds a line of another county: %+v", l)
				}
			}
			files := env.DoStatus(t, http.StatusOK, "GET", q("/api/v1/reports/"+month+"/versions/1/files", "org", "CQ"), tok["manager1"], nil)
			if !bytes.Contains(files, []byte(`"format":"xlsx"`)) || !bytes.Contains(files, []byte(`"format":"csv"`)) {
				t.Errorf("file list: %s", files)
			}
			resp, xlsx := env.Do(t, "GET", q("/api/v1/reports/"+month+"/versions/1/files/xlsx", "org", "CQ"), tok["manager1"], nil)
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "spreadsheetml") || !strings.Contains(resp.Header.Get("Content-Disposition"), ".xlsx") {
				t.Fatalf("xlsx download: %d %v", resp.StatusCode, resp.Header)
			}
			if x, err := excelize.OpenReader(bytes.NewReader(xlsx)); err != nil {
				t.Fatalf("downloaded xlsx does not open: %v", err)
			} else {
				x.Close()
			}
			resp, csv := env.Do(t, "GET", q("/api/v1/reports/"+month+"/versions/1/files/csv", "org", "CQ", "lang", "en"), tok["manager1"], nil)
			if resp.StatusCode != 200 || !bytes.HasPrefix(csv, []byte("\xEF\xBB\xBFLevel,")) {
				t.Fatalf("csv download: %d %q", resp.StatusCode, csv[:min(len(csv), 40)])
			}
			for _, c := range []struct{ name, user, path string }{
				{"no such version", "manager1", q("/api/v1/reports/"+month+"/versions/7", "org", "CQ")},
				{"no such diff", "manager1", q("/api/v1/reports/"+month+"/versions/2/diff", "org", "CQ")},
				{"another officer's household", "officer2", "/api/v1/households/" + h1 + "/archive"},
				{"a household of another county", "supervisor1", "/api/v1/households/" + h2 + "/archive"},
				{"another branch's household", "hb_manager", "/api/v1/households/" + h1 + "/archive"},
				{"no such household", "manager1", "/api/v1/households/nope/archive"},
			} {
				resp, body := env.Do(t, "GET", c.path, tok[c.user], nil)
				if resp.StatusCode != http.StatusNotFound || testenv.ErrorOf(t, body).Code != syncproto.CodeNotFound {
					t.Errorf("%s: %d %s", c.name, resp.StatusCode, body)
				}
			}
		})

		t.Run("archive", func(t *testing.T) {
			body := env.DoStatus(t, http.StatusOK, "GET", "/api/v1/households/"+h1+"/archive", tok["officer1"], nil)
			var ar report.Archive
			if err := json.Unmarshal(body, &ar); err != nil || ar.Household.ID != h1 || len(ar.Visits) != 1 || len(ar.Outcomes) != 1 {
				t.Fatalf("archive: %s %v", body, err)
			}
			assertNoClearNumbers(t, f, "archive json", string(body))
			resp, x := env.Do(t, "GET", "/api/v1/households/"+h1+"/archive?format=xlsx", tok["manager1"], nil)
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
				t.Fatalf("archive xlsx: %d", resp.StatusCode)
			}
			if _, err := excelize.OpenReader(bytes.NewReader(x)); err != nil {
				t.Fatal(err)
			}
			resp, c := env.Do(t, "GET", "/api/v1/households/"+h1+"/archive?format=csv", tok["supervisor1"], nil)
			if resp.StatusCode != 200 || !bytes.HasPrefix(c, []byte("\xEF\xBB\xBF")) {
				t.Fatalf("archive csv: %d", resp.StatusCode)
			}
		})
	})
}
