package apitest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/doorstep-dev/doorstep/server/apitest"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// The staff and integration API — the monitoring-list import, households,
// assignments, plans, progress, service areas, coverage, review and
// reports — driven through the real server on both databases with every
// exchange checked against openapi.yaml.
func TestContractStaffAPI(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		env.Client.Transport = apitest.Transport(t, env.Client.Transport)
		c := &contract{t: t, env: env}
		mgr := env.Login(t, testenv.Manager1, testenv.Password, "desk-m").AccessToken
		sup := env.Login(t, testenv.Supervisor1, testenv.Password, "desk-s").AccessToken
		admin := env.Login(t, testenv.Admin, testenv.Password, "desk-a").AccessToken
		officer := env.Login(t, testenv.Officer1, testenv.Password, "phone-1").AccessToken
		c.imports(mgr, officer)
		hh := c.registry(mgr, sup, admin, officer)
		visits := c.visits(officer, hh)
		c.coverage(mgr, sup, officer, hh, visits)
		c.reports(mgr, sup, hh[0])
	}, testenv.WithConfig(func(c *config.Config) { c.ReportClose = "off" }))
}

// send is Do for bodies that are not JSON.
func (c *contract) send(status int, method, path, token, ctype string, body []byte) []byte {
	c.t.Helper()
	req, err := http.NewRequest(method, c.env.URL+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.env.Client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, out)
	}
	return out
}

type importView struct {
	Import struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Summary struct {
			Committable bool `json:"committable"`
			New         int  `json:"new"`
		} `json:"summary"`
	} `json:"import"`
	Applied *bool `json:"applied"`
}

func (c *contract) imports(mgr, officer string) {
	list, err := os.ReadFile("../registry/importfile/testdata/nobom.csv")
	if err != nil {
		c.t.Fatal(err)
	}
	lines := strings.Split(string(list), "\n")
	clean := []byte(strings.Join(lines[:2], "\n") + "\n")

	// A list with an error, as a form: previewed, never committable.
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	fw, _ := mw.CreateFormFile("file", "county.csv")
	fw.Write(list)
	mw.Close()
	bad := decode[importView](c.t, c.send(http.StatusCreated, "POST", "/api/v1/imports", mgr, mw.FormDataContentType(), form.Bytes()))
	if bad.Import.Summary.Committable {
		c.t.Fatal("a list with a bad date is committable")
	}
	csv := c.send(http.StatusOK, "GET", "/api/v1/imports/"+bad.Import.ID+"/errors?format=csv", mgr, "", nil)
	if !bytes.Contains(csv, []byte("bad_date")) {
		c.t.Fatalf("error report lacks the problem: %s", csv)
	}
	c.send(http.StatusOK, "GET", "/api/v1/imports/"+bad.Import.ID+"/errors?format=xlsx&lang=en", mgr, "", nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "GET", "/api/v1/imports/"+bad.Import.ID+"/errors?format=pdf", mgr, nil, nil)
	c.wantError(http.StatusConflict, "conflict", "POST", "/api/v1/imports/"+bad.Import.ID+"/commit", mgr, nil, nil)
	c.want(http.StatusNoContent, "DELETE", "/api/v1/imports/"+bad.Import.ID, mgr, nil)

	// A clean list, as the raw body: previewed, then committed.
	good := decode[importView](c.t, c.send(http.StatusCreated, "POST", "/api/v1/imports?file_name=county.csv", mgr, "text/csv", clean))
	c.want(http.StatusOK, "GET", "/api/v1/imports", mgr, nil)
	c.want(http.StatusOK, "GET", "/api/v1/imports/"+good.Import.ID, mgr, nil)
	c.want(http.StatusOK, "GET", "/api/v1/imports/"+good.Import.ID+"/items?kind=added&limit=5", mgr, nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "GET", "/api/v1/imports/"+good.Import.ID+"/items?limit=-1", mgr, nil, nil)
	done := decode[importView](c.t, c.want(http.StatusOK, "POST", "/api/v1/imports/"+good.Import.ID+"/commit", mgr, nil))
	if done.Applied == nil || !*done.Applied {
		c.t.Fatalf("commit: %+v", done)
	}
	c.wantError(http.StatusForbidden, "forbidden", "GET", "/api/v1/imports", officer, nil, nil)
	c.wantError(http.StatusNotFound, "not_found", "GET", "/api/v1/imports/"+uuid.NewString(), mgr, nil, nil)
}

func (c *contract) registry(mgr, sup, admin, officer string) []string {
	hh, err := c.env.DB.CreateSimHouseholds(context.Background(), testenv.Officer1, "RG", 3)
	if err != nil {
		c.t.Fatal(err)
	}
	officer2 := c.env.User(c.t, testenv.Officer2).ID
	c.want(http.StatusOK, "GET", "/api/v1/households?limit=2", mgr, nil)
	c.want(http.StatusOK, "GET", "/api/v1/households?unassigned=true", sup, nil)
	page := decode[struct {
		Total int `json:"total"`
	}](c.t, c.want(http.StatusOK, "GET", "/api/v1/households", officer, nil))
	if page.Total != len(hh) {
		c.t.Fatalf("officer sees %d households, has %d", page.Total, len(hh))
	}
	c.wantError(http.StatusBadRequest, "invalid_request", "GET", "/api/v1/households?unassigned=maybe", sup, nil, nil)
	c.want(http.StatusOK, "GET", "/api/v1/households/unvisited?limit=5", sup, nil)
	c.want(http.StatusOK, "GET", "/api/v1/households/"+hh[0], sup, nil)
	c.wantError(http.StatusNotFound, "not_found", "GET", "/api/v1/households/"+uuid.NewString(), sup, nil, nil)
	c.want(http.StatusOK, "GET", "/api/v1/households/"+hh[0]+"/assignments", sup, nil)
	c.wantError(http.StatusForbidden, "forbidden", "GET", "/api/v1/households/"+hh[0]+"/assignments", officer, nil, nil)
	c.want(http.StatusOK, "POST", "/api/v1/households/"+hh[0]+"/reveal", sup, map[string]any{"fields": []string{"phone"}, "reason": "电话回访核实"})
	c.wantError(http.StatusBadRequest, "invalid_request", "POST", "/api/v1/households/"+hh[0]+"/reveal", sup, map[string]any{"fields": []string{"phone"}}, nil)

	due := time.Now().AddDate(0, 1, 0).Format("2006-01-02")
	c.want(http.StatusOK, "POST", "/api/v1/assignments", sup, map[string]any{"household_ids": []string{hh[2]}, "officer_id": officer2, "due_on": due})
	c.wantError(http.StatusBadRequest, "invalid_request", "POST", "/api/v1/assignments", sup, map[string]any{"household_ids": []string{hh[2]}}, nil)
	outlet := c.outletOf(mgr, hh[0])
	c.want(http.StatusOK, "POST", "/api/v1/outlet-deadlines", mgr, map[string]any{"outlet_id": outlet, "due_on": due})
	c.want(http.StatusCreated, "POST", "/api/v1/plans", sup, map[string]any{"household_id": hh[0], "planned_on": time.Now().In(c.env.Config.Location()).AddDate(0, 0, 1).Format("2006-01-02"), "notes": "入户核实"})
	c.want(http.StatusOK, "GET", "/api/v1/plans/overdue", sup, nil)
	c.want(http.StatusOK, "GET", "/api/v1/progress?level=outlet", mgr, nil)
	c.want(http.StatusOK, "GET", "/api/v1/progress", officer, nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "GET", "/api/v1/progress?level=planet", mgr, nil, nil)

	areas := decode[struct {
		Areas []map[string]string `json:"areas"`
	}](c.t, c.want(http.StatusOK, "GET", "/api/v1/service-areas", sup, nil))
	var in []map[string]string
	for _, a := range areas.Areas {
		in = append(in, map[string]string{"county": a["county"], "township": a["township"], "village": a["village"], "outlet_id": a["outlet_id"]})
	}
	c.want(http.StatusOK, "PUT", "/api/v1/service-areas", admin, map[string]any{"areas": in})
	c.wantError(http.StatusForbidden, "forbidden", "PUT", "/api/v1/service-areas", sup, map[string]any{"areas": in}, nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "PUT", "/api/v1/service-areas", admin, map[string]any{}, nil)
	return hh
}

func (c *contract) outletOf(token, household string) string {
	h := decode[struct {
		OutletID string `json:"outlet_id"`
	}](c.t, c.want(http.StatusOK, "GET", "/api/v1/households/"+household, token, nil))
	return h.OutletID
}

// visits has officer1 record a visit on each of their first two households.
func (c *contract) visits(officer string, hh []string) []string {
	var ids []string
	var ms []syncproto.Mutation
	for _, h := range hh[:2] {
		id := uuid.NewString()
		ids = append(ids, id)
		ms = append(ms, c.mutation("visit", "create", id, 0, map[string]any{"household_id": h, "outcome": "visited",
			"situation": "务工收入稳定", "started_at": time.Now().Add(-time.Hour)}))
	}
	for _, r := range c.pushOK(officer, ms...).Results {
		if r.Status != syncproto.StatusAccepted {
			c.t.Fatalf("visit: %+v", r)
		}
	}
	return ids
}

func (c *contract) coverage(mgr, sup, officer string, hh, visits []string) {
	month := time.Now().In(c.env.Config.Location()).Format("2006-01")
	c.want(http.StatusOK, "GET", "/api/v1/coverage/ledger?month="+month, sup, nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "GET", "/api/v1/coverage/ledger?month=2026-13", sup, nil, nil)
	c.wantError(http.StatusForbidden, "forbidden", "GET", "/api/v1/coverage/ledger", officer, nil, nil)
	c.want(http.StatusOK, "GET", "/api/v1/coverage/signoffs?month="+month, sup, nil)
	c.want(http.StatusOK, "GET", "/api/v1/coverage/spot-checks?month="+month, sup, nil)
	c.want(http.StatusOK, "GET", "/api/v1/coverage/device-health", sup, nil)
	settings := decode[map[string]any](c.t, c.want(http.StatusOK, "GET", "/api/v1/coverage/settings", mgr, nil))
	upd := map[string]any{}
	for _, k := range []string{"absent_attempts", "distance_threshold_m", "low_accuracy_m", "max_speed_kmh", "min_duration_s", "max_clock_offset_s", "spot_check_size"} {
		upd[k] = settings[k]
	}
	c.want(http.StatusOK, "PUT", "/api/v1/coverage/settings", mgr, upd)
	upd["absent_attempts"] = -1
	c.wantError(http.StatusBadRequest, "invalid_request", "PUT", "/api/v1/coverage/settings", mgr, upd, nil)
	c.wantError(http.StatusForbidden, "forbidden", "PUT", "/api/v1/coverage/settings", sup, upd, nil)

	c.want(http.StatusOK, "GET", "/api/v1/visits/review?status=all&limit=5", sup, nil)
	c.want(http.StatusOK, "POST", "/api/v1/visits/"+visits[0]+"/confirm", sup, map[string]string{"note": "电话回访核实"})
	c.want(http.StatusOK, "POST", "/api/v1/visits/"+visits[1]+"/issues", sup, map[string]string{"kind": "revisit", "reason": "未见户主本人"})
	c.wantError(http.StatusBadRequest, "invalid_request", "POST", "/api/v1/visits/"+visits[1]+"/issues", sup, map[string]string{"kind": "other"}, nil)
	c.wantError(http.StatusNotFound, "not_found", "POST", "/api/v1/visits/"+uuid.NewString()+"/confirm", sup, nil, nil)

	ex := map[string]string{"household_id": hh[2], "month": month, "reason": "全家外出务工"}
	c.want(http.StatusCreated, "POST", "/api/v1/coverage/exemptions", sup, ex)
	c.wantError(http.StatusConflict, "conflict", "POST", "/api/v1/coverage/exemptions", sup, ex, nil)
	outlet := c.outletOf(sup, hh[0])
	c.wantError(http.StatusConflict, "conflict", "POST", "/api/v1/coverage/signoffs", sup, map[string]string{"outlet_id": outlet, "month": month}, nil)
}

func (c *contract) reports(mgr, sup, household string) {
	now := time.Now().In(c.env.Config.Location())
	month := now.Format("2006-01")
	last := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location()).AddDate(0, -1, 0).Format("2006-01")
	c.want(http.StatusOK, "GET", "/api/v1/reports/monthly?month="+month, sup, nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "GET", "/api/v1/reports/monthly", sup, nil, nil)
	c.want(http.StatusCreated, "POST", "/api/v1/reports/"+last+"/close", mgr, nil)
	c.wantError(http.StatusConflict, "conflict", "POST", "/api/v1/reports/"+last+"/close", mgr, nil, nil)
	c.want(http.StatusOK, "GET", "/api/v1/reports/"+last+"/versions", mgr, nil)
	c.want(http.StatusOK, "GET", "/api/v1/reports/"+last+"/versions/1", mgr, nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "GET", "/api/v1/reports/"+last+"/versions/1/diff", mgr, nil, nil)
	files := decode[struct {
		Files []struct{ Format, Lang string } `json:"files"`
	}](c.t, c.want(http.StatusOK, "GET", "/api/v1/reports/"+last+"/versions/1/files", mgr, nil))
	if len(files.Files) == 0 {
		c.t.Fatal("a closed version has no files")
	}
	for _, f := range []string{"csv", "xlsx"} {
		c.send(http.StatusOK, "GET", fmt.Sprintf("/api/v1/reports/%s/versions/1/files/%s", last, f), mgr, "", nil)
	}
	c.wantError(http.StatusNotFound, "not_found", "GET", "/api/v1/reports/"+last+"/versions/9", mgr, nil, nil)
	var arch map[string]json.RawMessage
	json.Unmarshal(c.want(http.StatusOK, "GET", "/api/v1/households/"+household+"/archive", sup, nil), &arch)
	if _, ok := arch["visits"]; !ok {
		c.t.Fatalf("archive without visits: %v", arch)
	}
	c.send(http.StatusOK, "GET", "/api/v1/households/"+household+"/archive?format=csv", sup, "", nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "GET", "/api/v1/households/"+household+"/archive?format=pdf", sup, nil, nil)
}
