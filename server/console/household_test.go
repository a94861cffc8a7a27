package console_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

const (
	clearID    = "500241199001010016"
	clearPhone = "13812341234"
)

// sealNumbers stores a household's personal numbers as the registry's
// import does: sealed, with masked forms for the screens.
func sealNumbers(t *testing.T, env *testenv.Env, f fixture) {
	t.Helper()
	codec, err := env.App.Registry.Codec()
	if err != nil {
		t.Fatal(err)
	}
	idEnc, err := codec.Seal(pii.IDNumber, clearID)
	if err != nil {
		t.Fatal(err)
	}
	phoneEnc, err := codec.Seal(pii.Phone, clearPhone)
	if err != nil {
		t.Fatal(err)
	}
	err = env.DB.Gorm(context.Background()).Model(&store.Household{}).Where("id = ?", f.ID).
		Updates(map[string]any{"id_number_enc": idEnc, "phone_enc": phoneEnc}).Error
	if err != nil {
		t.Fatal(err)
	}
}

func auditCount(t *testing.T, env *testenv.Env, action, target string) int64 {
	t.Helper()
	var n int64
	env.DB.Gorm(context.Background()).Model(&store.AuditEntry{}).Where("action = ? AND target_id = ?", action, target).Count(&n)
	return n
}

func TestHouseholdArchiveAndReveal(t *testing.T) {
	forEachDB(t, func(t *testing.T, env *testenv.Env) {
		bk := newBank(t, env)
		sealNumbers(t, env, bk.own1)
		sup := mustSignIn(t, env, testenv.Supervisor1)

		p := sup.get("/console/households/" + bk.own1.ID)
		wantStatus(t, p, http.StatusOK, "household page")
		mustContain(t, p.Body, "500241********0295", "masked ID")
		mustContain(t, p.Body, "138****1234", "masked phone")
		mustNotContain(t, p.Body, clearID, "clear ID before a reveal")
		mustContain(t, p.Body, "家中有两头猪", "the visit in the timeline")
		mustContain(t, p.Body, "tl assignment", "the assignment in the timeline")

		// A reveal needs a reason; without one nothing is shown or audited.
		p = sup.post("/console/households/"+bk.own1.ID+"/reveal", url.Values{"reason": {""}})
		wantStatus(t, p, http.StatusBadRequest, "reveal without a reason")
		mustNotContain(t, p.Body, clearID, "refused reveal")
		if n := auditCount(t, env, "household.reveal", bk.own1.ID); n != 0 {
			t.Fatalf("%d reveal audits after a refused reveal", n)
		}
		p = sup.post("/console/households/"+bk.own1.ID+"/reveal", url.Values{"reason": {"核实贷款申请人身份"}})
		wantStatus(t, p, http.StatusOK, "reveal")
		mustContain(t, p.Body, clearID, "clear ID after a reveal")
		mustContain(t, p.Body, clearPhone, "clear phone after a reveal")
		if n := auditCount(t, env, "household.reveal", bk.own1.ID); n != 1 {
			t.Fatalf("%d reveal audits, want 1", n)
		}
		if strings.Contains(env.Logs(), clearID) || strings.Contains(env.Logs(), clearPhone) {
			t.Fatal("a clear personal number reached the logs")
		}
		// The page after a reveal is not cacheable, and a plain reload masks again.
		if cc := p.Resp.Header.Get("Cache-Control"); cc != "no-store" {
			t.Fatalf("Cache-Control %q on revealed numbers", cc)
		}
		mustNotContain(t, sup.get("/console/households/"+bk.own1.ID).Body, clearID, "reload after a reveal")

		// Out of reach: not found, nothing revealed, nothing audited.
		hb := mustSignIn(t, env, testenv.OtherBranchManager)
		p = hb.post("/console/households/"+bk.own1.ID+"/reveal", url.Values{"reason": {"好奇"}})
		wantStatus(t, p, http.StatusNotFound, "reveal in another branch")
		mustNotContain(t, p.Body, clearID, "reveal in another branch")
		if n := auditCount(t, env, "household.reveal", bk.own1.ID); n != 1 {
			t.Fatalf("%d reveal audits after an out-of-reach attempt", n)
		}

		// The archive downloads as XLSX.
		resp := sup.get("/console/households/" + bk.own1.ID + "/archive/xlsx")
		wantStatus(t, resp, http.StatusOK, "archive download")
		if !strings.HasPrefix(resp.Body, "PK") {
			t.Fatal("the archive is not an XLSX file")
		}
	})
}

func TestHouseholdListSearchSortPage(t *testing.T) {
	env := newEnv(t, newSQLite(t))
	for i := 1; i <= 60; i++ {
		head := "张" + string(rune('甲'+i%10))
		addHousehold(t, env.DB, "XS-01", testenv.Officer1, seq("5002419", i), head)
	}
	addHousehold(t, env.DB, "XS-01", testenv.Officer1, "500241999999", "欧阳娜娜")
	b := mustSignIn(t, env, testenv.Supervisor1)
	p := b.get("/console/households")
	mustContain(t, p.Body, "第 1 页，共 2 页（61 条）", "first page")
	p = b.get("/console/households?page=2")
	mustContain(t, p.Body, "500241999999", "second page holds the last number")
	mustNotContain(t, p.Body, seq("5002419", 1)+"<", "second page does not repeat the first")
	p = b.get("/console/households?sort=household_no&dir=desc")
	if i, j := strings.Index(p.Body, "500241999999"), strings.Index(p.Body, seq("5002419", 60)); i < 0 || j < 0 || i > j {
		t.Fatal("descending order by number not applied")
	}
	p = b.get("/console/households?q=" + url.QueryEscape("欧阳"))
	mustContain(t, p.Body, "500241999999", "search by name")
	mustContain(t, p.Body, "（1 条）", "search finds one")
	p = b.get("/console/households?q=5002419999")
	mustContain(t, p.Body, "（1 条）", "search by number prefix")
	p = b.get("/console/households?q=" + url.QueryEscape("%"))
	mustContain(t, p.Body, "（0 条）", "a LIKE wildcard is taken literally")
	// A sort key outside the allow-list falls back to the default.
	p = b.get("/console/households?sort=" + url.QueryEscape("h.id; DROP TABLE households"))
	wantStatus(t, p, http.StatusOK, "unknown sort key")
	mustContain(t, p.Body, "（61 条）", "unknown sort key lists everything")
}
