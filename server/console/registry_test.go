package console_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

// postFile submits a multipart form with one file, as the upload form does.
func (b *browser) postFile(path string, fields url.Values, name string, content []byte) page {
	b.t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	if _, set := fields["csrf"]; !set {
		w.WriteField("csrf", b.csrf)
	}
	for k, vs := range fields {
		for _, v := range vs {
			w.WriteField(k, v)
		}
	}
	if name != "" {
		fw, err := w.CreateFormFile("file", name)
		if err != nil {
			b.t.Fatal(err)
		}
		fw.Write(content)
	}
	w.Close()
	req, err := http.NewRequest(http.MethodPost, b.env.URL+path, &body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	return b.do(req)
}

func countHouseholds(t *testing.T, db *store.DB) int64 {
	t.Helper()
	var n int64
	db.Gorm(context.Background()).Model(&store.Household{}).Count(&n)
	return n
}

func TestImportPreviewAndCommit(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		clean, err := os.ReadFile("../registry/importfile/testdata/valid.xlsx")
		if err != nil {
			t.Fatal(err)
		}
		defects, err := os.ReadFile("../registry/importfile/testdata/defects.csv")
		if err != nil {
			t.Fatal(err)
		}
		mgr := mustSignIn(t, env, testenv.Manager1)
		mgr.get("/console/imports")

		// No file, no CSRF token: refused, nothing stored.
		wantStatus(t, mgr.postFile("/console/imports", nil, "", nil), http.StatusBadRequest, "upload without a file")
		wantStatus(t, mgr.postFile("/console/imports", url.Values{"csrf": {"forged"}}, "list.xlsx", clean), http.StatusForbidden, "upload with a forged token")

		// A defective file is previewed with its row errors and cannot be committed.
		p := mgr.postFile("/console/imports", nil, "defects.csv", defects)
		wantStatus(t, p, http.StatusSeeOther, "upload a defective list")
		p = mgr.get(p.Resp.Header.Get("Location"))
		wantStatus(t, p, http.StatusOK, "defective preview")
		mustContain(t, p.Body, "import-blocked", "commit blocked")
		mustNotContain(t, p.Body, "import-commit", "no commit button")
		mustContain(t, p.Body, "id=\"problems\"", "problems listed")
		if countHouseholds(t, env.DB) != 0 {
			t.Fatal("a defective preview wrote households")
		}

		// A clean file: preview, then commit.
		p = mgr.postFile("/console/imports", nil, "list.xlsx", clean)
		wantStatus(t, p, http.StatusSeeOther, "upload a clean list")
		preview := p.Resp.Header.Get("Location")
		p = mgr.get(preview)
		mustContain(t, p.Body, "import-commit", "commit button")
		if countHouseholds(t, env.DB) != 0 {
			t.Fatal("a preview wrote households")
		}
		p = mgr.post(preview+"/commit", nil)
		wantStatus(t, p, http.StatusSeeOther, "commit")
		if n := countHouseholds(t, env.DB); n == 0 {
			t.Fatal("commit wrote no households")
		}
		p = mgr.get(p.Resp.Header.Get("Location"))
		mustContain(t, p.Body, "已提交，名单已更新", "flash after commit")

		// Supervisors do not import, in the console as in the API.
		sup := mustSignIn(t, env, testenv.Supervisor1)
		wantStatus(t, sup.get("/console/imports"), http.StatusForbidden, "supervisor opens imports")
		wantStatus(t, sup.postFile("/console/imports", nil, "list.xlsx", clean), http.StatusForbidden, "supervisor uploads")
		tok := env.Login(t, testenv.Supervisor1, testenv.Password, "laptop-s1")
		resp, _ := env.Do(t, http.MethodGet, "/api/v1/imports", tok.AccessToken, nil)
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("API lets a supervisor list imports: %d", resp.StatusCode)
		}
		// Another branch's manager cannot see this branch's preview.
		hb := mustSignIn(t, env, testenv.OtherBranchManager)
		wantStatus(t, hb.get(preview), http.StatusNotFound, "other branch opens the preview")
	})
}

func TestAssignAndReassign(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		bk := newBank(t, env)
		sup := mustSignIn(t, env, testenv.Supervisor1)
		p := sup.get("/console/assignments?only=unassigned")
		wantStatus(t, p, http.StatusOK, "unassigned households")
		mustNotContain(t, p.Body, bk.own1.No, "an assigned household among the unassigned")

		o1 := env.User(t, testenv.Officer1)
		due := time.Now().In(env.Config.Location()).AddDate(0, 0, 10).Format(time.DateOnly)
		p = sup.get("/console/assignments")
		p = sup.post("/console/assignments", url.Values{"household_id": {bk.own3.ID}, "officer_id": {o1.ID}, "due_on": {due}})
		wantStatus(t, p, http.StatusSeeOther, "reassign own3 to officer1")
		var h store.Household
		env.DB.Gorm(context.Background()).Where("id = ?", bk.own3.ID).Take(&h)
		if h.OfficerID == nil || *h.OfficerID != o1.ID {
			t.Fatalf("own3's officer after reassigning: %v", h.OfficerID)
		}
		var a store.Assignment
		env.DB.Gorm(context.Background()).Where("household_id = ? AND ended_at IS NULL", bk.own3.ID).Take(&a)
		if a.OfficerDueOn != due {
			t.Fatalf("deadline %q, want %q", a.OfficerDueOn, due)
		}

		// A deadline in the past is refused.
		p = sup.post("/console/assignments", url.Values{"household_id": {bk.own3.ID}, "officer_id": {o1.ID}, "due_on": {"2020-01-01"}})
		wantStatus(t, p, http.StatusBadRequest, "a past deadline")
		// A household of another county cannot be taken by this supervisor.
		p = sup.post("/console/assignments", url.Values{"household_id": {bk.otherCounty.ID}, "officer_id": {o1.ID}})
		if p.Status < 400 {
			t.Fatalf("assigning another county's household: %d", p.Status)
		}
		var other store.Household
		if err := env.DB.Gorm(context.Background()).Where("id = ?", bk.otherCounty.ID).Take(&other).Error; err != nil {
			t.Fatal(err)
		}
		if other.OfficerID == nil || *other.OfficerID == o1.ID {
			t.Fatal("another county's household moved")
		}
		if !strings.Contains(sup.get("/console/assignments?officer="+o1.ID).Body, bk.own3.No) {
			t.Fatal("officer1's list lacks the reassigned household")
		}
	})
}
