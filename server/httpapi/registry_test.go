package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/doorstep-dev/doorstep/server/registry/importfile"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// regSampleDir holds the county sample lists.
const regSampleDir = "../../../shared/data"

func regSample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(regSampleDir, name))
	if err != nil {
		t.Fatalf("sample list %s is missing (%v): these tests need /work/shared/data, reached as %s from this package", name, err, regSampleDir)
	}
	return b
}

// regCleaned drops the rows with problems, as a county office would after
// reading the error report.
func regCleaned(t *testing.T, data []byte) []byte {
	t.Helper()
	res, err := importfile.Parse(bytes.NewReader(data), importfile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bad := map[int]bool{}
	for _, p := range res.Problems {
		bad[p.Line] = true
	}
	var b strings.Builder
	for i, l := range strings.SplitAfter(string(data), "\n") {
		if !bad[i+1] {
			b.WriteString(l)
		}
	}
	return []byte(b.String())
}

func multipartBody(t *testing.T, name string, data []byte) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("note", "ignored")
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return b.Bytes(), mw.FormDataContentType()
}

type importJSON struct {
	Import struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Version int    `json:"version"`
		Summary struct {
			New, Changed, Removed, Unchanged, Errors, Warnings, DataRows int
			OtherCountyRows                                              int `json:"other_county_rows"`
			Committable                                                  bool
		} `json:"summary"`
	} `json:"import"`
	Applied  *bool `json:"applied"`
	Items    map[string][]map[string]any
	Problems []struct {
		Row      int
		Code     string
		Severity string
		Message  string
	}
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

func regWantError(t *testing.T, resp *http.Response, body []byte, status int, code string) syncproto.Error {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, body)
	}
	e := testenv.ErrorOf(t, body)
	if e.Code != code {
		t.Fatalf("code %q, want %q: %s", e.Code, code, body)
	}
	return e
}

func upload(t *testing.T, env *testenv.Env, token, name string, data []byte) (*http.Response, []byte) {
	t.Helper()
	body, ct := multipartBody(t, name, data)
	return env.DoHeaders(t, http.MethodPost, "/api/v1/imports", token, body, map[string]string{"Content-Type": ct})
}

func TestImportOverHTTP(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		mgr := env.Login(t, testenv.Manager1, testenv.Password, "mgr-pc").AccessToken
		oct := regCleaned(t, regSample(t, "monitoring-list-2026-10.csv"))

		resp, body := upload(t, env, mgr, "monitoring-list-2026-10.csv", oct)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload: %d %s", resp.StatusCode, body)
		}
		p := decode[importJSON](t, body)
		s := p.Import.Summary
		if p.Import.Status != "previewed" || s.New == 0 || s.Errors != 0 || !s.Committable || s.OtherCountyRows == 0 {
			t.Fatalf("preview = %+v", p.Import)
		}
		if len(p.Items["added"]) != 20 || p.Items["added"][0]["id_number_masked"] == "" {
			t.Fatalf("added sample = %v", p.Items["added"])
		}
		if len(p.Problems) == 0 || p.Problems[0].Severity != "warning" || p.Problems[0].Code != "county_not_served" || !strings.Contains(p.Problems[0].Message, "本分行不服务") {
			t.Fatalf("problems = %+v", p.Problems[:min(3, len(p.Problems))])
		}
		got := decode[importJSON](t, env.DoStatus(t, http.StatusOK, http.MethodGet, "/api/v1/imports/"+p.Import.ID, mgr, nil))
		if got.Import.ID != p.Import.ID || got.Import.Summary.New != s.New {
			t.Fatalf("GET import = %+v", got.Import)
		}
		page := decode[struct {
			Items []map[string]any
			Total int
		}](t, env.DoStatus(t, http.StatusOK, http.MethodGet, "/api/v1/imports/"+p.Import.ID+"/items?kind=added&offset=20&limit=5", mgr, nil))
		if len(page.Items) != 5 || page.Total != s.New {
			t.Fatalf("items page = %d of %d", len(page.Items), page.Total)
		}
		if n := count(t, env, "SELECT COUNT(*) FROM households"); n != 0 {
			t.Fatalf("the dry run wrote %d households", n)
		}

		c := decode[importJSON](t, env.DoStatus(t, http.StatusOK, http.MethodPost, "/api/v1/imports/"+p.Import.ID+"/commit", mgr, nil))
		if c.Applied == nil || !*c.Applied || c.Import.Version != 1 || c.Import.Status != "committed" {
			t.Fatalf("commit = %+v", c)
		}
		if n := count(t, env, "SELECT COUNT(*) FROM households WHERE list_status = 'active'"); int(n) != s.New {
			t.Fatalf("households = %d, want %d", n, s.New)
		}
		resp, body = env.Do(t, http.MethodPost, "/api/v1/imports/"+p.Import.ID+"/commit", mgr, nil)
		if e := regWantError(t, resp, body, http.StatusConflict, syncproto.CodeConflict); e.Details["reason"] != "preview_committed" {
			t.Fatalf("second commit: %s", body)
		}

		// The same file as a raw body: nothing to apply, nothing written.
		before := count(t, env, "SELECT COUNT(*) FROM changes")
		resp, body = env.DoHeaders(t, http.MethodPost, "/api/v1/imports?file_name=again.csv", mgr, oct, map[string]string{"Content-Type": "text/csv"})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("raw upload: %d %s", resp.StatusCode, body)
		}
		again := decode[importJSON](t, body)
		if again.Import.Summary.Unchanged != s.New || again.Import.Summary.New != 0 {
			t.Fatalf("re-import summary = %+v", again.Import.Summary)
		}
		c = decode[importJSON](t, env.DoStatus(t, http.StatusOK, http.MethodPost, "/api/v1/imports/"+again.Import.ID+"/commit", mgr, nil))
		if c.Applied == nil || *c.Applied {
			t.Fatalf("unchanged commit applied: %+v", c)
		}
		if after := count(t, env, "SELECT COUNT(*) FROM changes"); after != before {
			t.Fatalf("unchanged re-import wrote %d change-log rows", after-before)
		}

		list := decode[struct{ Imports []map[string]any }](t, env.DoStatus(t, http.StatusOK, http.MethodGet, "/api/v1/imports", mgr, nil))
		if len(list.Imports) != 2 {
			t.Fatalf("imports listed: %d", len(list.Imports))
		}
	})
}

func count(t *testing.T, env *testenv.Env, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := env.DB.Gorm(context.Background()).Raw(q, args...).Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestImportErrorsOverHTTP(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		mgr := env.Login(t, testenv.Manager1, testenv.Password, "mgr-pc").AccessToken
		resp, body := upload(t, env, mgr, "oct.csv", regSample(t, "monitoring-list-2026-10.csv"))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("upload: %d %s", resp.StatusCode, body)
		}
		p := decode[importJSON](t, body)
		if p.Import.Summary.Errors != 16 || p.Import.Summary.Committable { // 41 problems, 16 in the branch's counties
			t.Fatalf("summary = %+v", p.Import.Summary)
		}
		id := p.Import.ID

		// CSV report: UTF-8 with BOM, Chinese, Excel row numbers.
		resp, body = env.Do(t, http.MethodGet, "/api/v1/imports/"+id+"/errors", mgr, nil)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
			!strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
			t.Fatalf("csv report: %d %v", resp.StatusCode, resp.Header)
		}
		text := string(bytes.TrimPrefix(body, []byte("\xEF\xBB\xBF")))
		if !strings.HasPrefix(text, "row,column,code,message\r\n") || !strings.Contains(text, "\r\n456,户主证件号码,id_checksum,证件号码校验位不正确") ||
			!strings.Contains(text, "county_not_served") {
			t.Fatalf("csv report:\n%.600s", text)
		}
		resp, body = env.Do(t, http.MethodGet, "/api/v1/imports/"+id+"/errors?lang=en", mgr, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "wrong ID check digit") {
			t.Fatalf("english csv report: %.300s", body)
		}
		// XLSX report: a workbook whose first sheet holds the same rows.
		resp, body = env.Do(t, http.MethodGet, "/api/v1/imports/"+id+"/errors?format=xlsx", mgr, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("xlsx report: %d %s", resp.StatusCode, body)
		}
		f, err := excelize.OpenReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("xlsx report does not open: %v", err)
		}
		rows, _ := f.GetRows(f.GetSheetName(0))
		f.Close()
		if len(rows) < 42 || rows[0][0] != "行号" {
			t.Fatalf("xlsx report rows %d, header %v", len(rows), rows[0])
		}
		resp, body = env.Do(t, http.MethodGet, "/api/v1/imports/"+id+"/errors?format=pdf", mgr, nil)
		regWantError(t, resp, body, http.StatusBadRequest, syncproto.CodeInvalidRequest)

		// A file with errors is never applied.
		resp, body = env.Do(t, http.MethodPost, "/api/v1/imports/"+id+"/commit", mgr, nil)
		e := regWantError(t, resp, body, http.StatusConflict, syncproto.CodeConflict)
		if e.Details["reason"] != "file_has_errors" || !strings.Contains(e.Message, "16") {
			t.Fatalf("commit of a file with errors: %s", body)
		}
		if n := count(t, env, "SELECT COUNT(*) FROM households"); n != 0 {
			t.Fatalf("%d households written", n)
		}

		// Unreadable uploads: 400 naming the problem, nothing stored.
		before := count(t, env, "SELECT COUNT(*) FROM list_snapshots")
		junk := bytes.Repeat([]byte{0, 1, 2, 0xff, 0xfe, 0x80}, 2000)
		xlsx := regSample(t, "monitoring-list.xlsx")
		for name, tc := range map[string]struct {
			data []byte
			code string
		}{
			"junk.bin":       {junk, "binary_file"},
			"truncated.xlsx": {xlsx[:len(xlsx)/3], "corrupt_xlsx"},
			"empty.csv":      {[]byte{}, "empty_file"},
		} {
			resp, body := upload(t, env, mgr, name, tc.data)
			e := regWantError(t, resp, body, http.StatusBadRequest, syncproto.CodeInvalidRequest)
			if e.Details["file_error"] != tc.code || e.Message == "" {
				t.Errorf("%s: %s", name, body)
			}
		}
		resp, body = env.DoHeaders(t, http.MethodPost, "/api/v1/imports", mgr, "--x\r\nbroken", map[string]string{"Content-Type": "multipart/form-data; boundary=x"})
		regWantError(t, resp, body, http.StatusBadRequest, syncproto.CodeInvalidRequest)
		if after := count(t, env, "SELECT COUNT(*) FROM list_snapshots"); after != before {
			t.Fatalf("unreadable uploads stored %d previews", after-before)
		}

		// A list larger than the general 8 MiB body cap still uploads: a 10 MB cell is a row problem.
		header := "省,市,县（市、区）,乡（镇）,行政村,户编号,户主姓名,户主证件号码,家庭人口数,监测对象类别,主要风险类型,是否有劳动能力,联系电话,识别监测时间,风险消除状态\r\n"
		big := header + "重庆市,重庆市,巫溪县,宁厂镇,青山村,50023899990001," + strings.Repeat("张", 10<<20/3) + ",500238195206029898,3,脱贫不稳定户,因病,是,13812345678,2023-09-24,未消除\r\n"
		resp, body = upload(t, env, mgr, "big.csv", []byte(big))
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("10 MB cell: %d %.300s", resp.StatusCode, body)
		}
		bp := decode[importJSON](t, body)
		if bp.Import.Summary.Errors != 1 || bp.Problems[0].Code != "cell_too_large" || bp.Problems[0].Row != 2 {
			t.Fatalf("10 MB cell: %+v %+v", bp.Import.Summary, bp.Problems)
		}
	})
}

func TestImportAuthorizationOverHTTP(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		oct := regCleaned(t, regSample(t, "monitoring-list-2026-10.csv"))
		resp, body := upload(t, env, "", "oct.csv", oct)
		regWantError(t, resp, body, http.StatusUnauthorized, syncproto.CodeUnauthenticated)
		for _, u := range []string{testenv.Officer1, testenv.Supervisor1} {
			tok := env.Login(t, u, testenv.Password, u+"-dev").AccessToken
			resp, body := upload(t, env, tok, "oct.csv", oct)
			regWantError(t, resp, body, http.StatusForbidden, syncproto.CodeForbidden)
		}
		mgr := env.Login(t, testenv.Manager1, testenv.Password, "mgr").AccessToken
		p := decode[importJSON](t, func() []byte { _, b := upload(t, env, mgr, "oct.csv", oct); return b }())
		other := env.Login(t, testenv.OtherBranchManager, testenv.Password, "hb").AccessToken
		for _, req := range [][2]string{{"GET", ""}, {"GET", "/errors"}, {"GET", "/items?kind=added"}, {"POST", "/commit"}, {"DELETE", ""}} {
			resp, body := env.Do(t, req[0], "/api/v1/imports/"+p.Import.ID+req[1], other, nil)
			regWantError(t, resp, body, http.StatusNotFound, syncproto.CodeNotFound)
		}
		// The other branch's manager may not import into the demo branch by naming it.
		resp, body = env.DoHeaders(t, http.MethodPost, "/api/v1/imports?branch=CQ", other, oct, map[string]string{"Content-Type": "text/csv"})
		regWantError(t, resp, body, http.StatusNotFound, syncproto.CodeNotFound)
		if n := count(t, env, "SELECT COUNT(*) FROM households"); n != 0 {
			t.Fatalf("%d households written", n)
		}
	})
}

// householdsWorld imports October and returns a 秀山 household of outlet
// XS-01 with its clear ID and phone.
func householdsWorld(t *testing.T, env *testenv.Env) (mgr string, hhID string, row importfile.Row) {
	t.Helper()
	mgr = env.Login(t, testenv.Manager1, testenv.Password, "mgr").AccessToken
	oct := regCleaned(t, regSample(t, "monitoring-list-2026-10.csv"))
	_, body := upload(t, env, mgr, "oct.csv", oct)
	p := decode[importJSON](t, body)
	env.DoStatus(t, http.StatusOK, http.MethodPost, "/api/v1/imports/"+p.Import.ID+"/commit", mgr, nil)
	res, _ := importfile.Parse(bytes.NewReader(oct), importfile.Options{})
	for _, r := range res.Rows {
		if r.County == "秀山土家族苗族自治县" && r.Township == "梅江镇" && r.Phone != "" {
			row = r
			break
		}
	}
	if err := env.DB.Gorm(context.Background()).Raw("SELECT id FROM households WHERE household_no = ?", row.HouseholdNo).Scan(&hhID).Error; err != nil || hhID == "" {
		t.Fatalf("household %s: %v", row.HouseholdNo, err)
	}
	return mgr, hhID, row
}

type householdsPage struct {
	Households []map[string]any
	Total      int
}

func TestHouseholdsAssignmentsAndRevealOverHTTP(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		mgr, hh, row := householdsWorld(t, env)
		sup := env.Login(t, testenv.Supervisor1, testenv.Password, "sup").AccessToken
		off1 := env.Login(t, testenv.Officer1, testenv.Password, "o1").AccessToken
		off3 := env.Login(t, testenv.Officer3, testenv.Password, "o3").AccessToken
		officer1, officer3 := env.User(t, testenv.Officer1), env.User(t, testenv.Officer3)

		// Lookup by ID number goes through the blind index; results are masked.
		q := "/api/v1/households?id_number=" + url.QueryEscape(strings.ToLower(row.IDNumber))
		pg := decode[householdsPage](t, env.DoStatus(t, http.StatusOK, http.MethodGet, q, mgr, nil))
		if pg.Total != 1 || pg.Households[0]["id"] != hh || pg.Households[0]["id_number_masked"] != row.IDNumber[:6]+"********"+row.IDNumber[14:] {
			t.Fatalf("lookup = %+v", pg)
		}
		if strings.Contains(fmt.Sprint(pg.Households[0]), row.Phone) {
			t.Fatal("a staff listing shows the phone in clear")
		}
		resp, body := env.Do(t, http.MethodGet, "/api/v1/households?limit=-1", mgr, nil)
		regWantError(t, resp, body, http.StatusBadRequest, syncproto.CodeInvalidRequest)

		// Assignment: officers may not, the supervisor within the outlet may.
		assign := map[string]any{"household_ids": []string{hh}, "officer_id": officer1.ID, "due_on": "2099-12-31"}
		resp, body = env.Do(t, http.MethodPost, "/api/v1/assignments", off1, assign)
		regWantError(t, resp, body, http.StatusForbidden, syncproto.CodeForbidden)
		resp, body = env.Do(t, http.MethodPost, "/api/v1/assignments", sup, map[string]any{"household_ids": []string{hh}, "officer_id": officer3.ID})
		regWantError(t, resp, body, http.StatusForbidden, syncproto.CodeForbidden)
		resp, body = env.Do(t, http.MethodPost, "/api/v1/assignments", sup, map[string]any{"household_ids": []string{hh}, "officer_id": officer1.ID, "extra": 1})
		regWantError(t, resp, body, http.StatusBadRequest, syncproto.CodeInvalidRequest)
		res := decode[map[string]int](t, env.DoStatus(t, http.StatusOK, http.MethodPost, "/api/v1/assignments", sup, assign))
		if res["assigned"] != 1 {
			t.Fatalf("assign = %v", res)
		}
		mine := decode[householdsPage](t, env.DoStatus(t, http.StatusOK, http.MethodGet, "/api/v1/households", off1, nil))
		if mine.Total != 1 || mine.Households[0]["officer_due_on"] != "2099-12-31" {
			t.Fatalf("officer1's households = %+v", mine)
		}
		env.DoStatus(t, http.StatusNotFound, http.MethodGet, "/api/v1/households/"+hh, off3, nil)
		hist := decode[struct{ Assignments []map[string]any }](t, env.DoStatus(t, http.StatusOK, http.MethodGet, "/api/v1/households/"+hh+"/assignments", sup, nil))
		if len(hist.Assignments) != 2 || hist.Assignments[1]["officer_id"] != officer1.ID {
			t.Fatalf("history = %+v", hist)
		}

		// Reveal: staff with a reason, audited; never officers.
		resp, body = env.Do(t, http.MethodPost, "/api/v1/households/"+hh+"/reveal", off1, map[string]any{"reason": "x"})
		regWantError(t, resp, body, http.StatusForbidden, syncproto.CodeForbidden)
		resp, body = env.Do(t, http.MethodPost, "/api/v1/households/"+hh+"/reveal", sup, map[string]any{})
		if e := regWantError(t, resp, body, http.StatusBadRequest, syncproto.CodeInvalidRequest); !strings.Contains(e.Message, "原因") {
			t.Fatalf("reveal without reason: %s", body)
		}
		resp, body = env.Do(t, http.MethodPost, "/api/v1/households/"+hh+"/reveal", sup, map[string]any{"reason": "核对贷款申请人身份"})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("reveal: %d %s", resp.StatusCode, body)
		}
		rv := decode[map[string]string](t, body)
		if rv["id_number"] != row.IDNumber || rv["phone"] != row.Phone {
			t.Fatalf("revealed %v", rv)
		}
		if n := count(t, env, "SELECT COUNT(*) FROM audit_log WHERE action = 'household.reveal' AND target_id = ?", hh); n != 1 {
			t.Fatalf("reveal audit entries = %d", n)
		}

		// Plans, progress and the unvisited list.
		plan := map[string]any{"household_id": hh, "planned_on": "2099-12-01", "notes": "带上贷款资料"}
		resp, body = env.Do(t, http.MethodPost, "/api/v1/plans", off1, plan)
		regWantError(t, resp, body, http.StatusForbidden, syncproto.CodeForbidden)
		created := decode[map[string]any](t, env.DoStatus(t, http.StatusCreated, http.MethodPost, "/api/v1/plans", sup, plan))
		if created["officer_id"] != officer1.ID {
			t.Fatalf("plan = %v", created)
		}
		env.DoStatus(t, http.StatusOK, http.MethodGet, "/api/v1/plans/overdue", off1, nil)
		un := decode[householdsPage](t, env.DoStatus(t, http.StatusOK, http.MethodGet, "/api/v1/households/unvisited", off1, nil))
		if un.Total != 1 {
			t.Fatalf("officer1 unvisited = %+v", un)
		}
		prog := decode[struct {
			Units []map[string]any
			Total struct{ Assigned, Visited int }
		}](t, env.DoStatus(t, http.StatusOK, http.MethodGet, "/api/v1/progress?level=outlet", mgr, nil))
		if len(prog.Units) != 6 || prog.Total.Assigned == 0 {
			t.Fatalf("progress = %+v", prog)
		}
		resp, body = env.Do(t, http.MethodGet, "/api/v1/progress?level=outlet", off1, nil)
		regWantError(t, resp, body, http.StatusForbidden, syncproto.CodeForbidden)
		resp, body = env.Do(t, http.MethodGet, "/api/v1/progress?level=planet", mgr, nil)
		regWantError(t, resp, body, http.StatusBadRequest, syncproto.CodeInvalidRequest)

		// No clear ID or phone number anywhere in the server's logs.
		if logs := env.Logs(); strings.Contains(logs, row.IDNumber) || strings.Contains(logs, row.Phone) || strings.Contains(logs, strings.ToLower(row.IDNumber)) {
			t.Fatal("a clear ID or phone number reached the logs")
		}
	})
}

func TestServiceAreasOverHTTP(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		sup := env.Login(t, testenv.Supervisor1, testenv.Password, "sup").AccessToken
		mgr := env.Login(t, testenv.Manager1, testenv.Password, "mgr").AccessToken
		adm := env.Login(t, testenv.Admin, testenv.Password, "adm").AccessToken
		off := env.Login(t, testenv.Officer1, testenv.Password, "o1").AccessToken
		areas := decode[struct{ Areas []map[string]string }](t, env.DoStatus(t, http.StatusOK, http.MethodGet, "/api/v1/service-areas", sup, nil))
		if len(areas.Areas) == 0 || areas.Areas[0]["outlet_code"] == "" {
			t.Fatalf("areas = %+v", areas)
		}
		env.DoStatus(t, http.StatusForbidden, http.MethodGet, "/api/v1/service-areas", off, nil)
		body := map[string]any{"areas": []map[string]string{{"county": "巫溪县", "township": "宁厂镇", "village": "青山村", "outlet_id": "WX-02"}}}
		for _, a := range areas.Areas {
			body["areas"] = append(body["areas"].([]map[string]string), map[string]string{"county": a["county"], "township": a["township"], "village": a["village"], "outlet_id": a["outlet_code"]})
		}
		env.DoStatus(t, http.StatusForbidden, http.MethodPut, "/api/v1/service-areas", mgr, body)
		res := decode[map[string]int](t, env.DoStatus(t, http.StatusOK, http.MethodPut, "/api/v1/service-areas", adm, body))
		if res["areas"] != len(areas.Areas)+1 {
			t.Fatalf("replace = %v", res)
		}
		resp, b := env.Do(t, http.MethodPut, "/api/v1/service-areas", adm, map[string]any{"areas": []map[string]string{{"county": "巫溪县", "township": "宁厂镇", "outlet_id": "HB-ES-01"}}})
		regWantError(t, resp, b, http.StatusBadRequest, syncproto.CodeInvalidRequest)
		after := decode[struct{ Areas []map[string]string }](t, env.DoStatus(t, http.StatusOK, http.MethodGet, "/api/v1/service-areas", mgr, nil))
		if len(after.Areas) != len(areas.Areas)+1 {
			t.Fatalf("a refused mapping changed the stored one: %d areas", len(after.Areas))
		}
	})
}
