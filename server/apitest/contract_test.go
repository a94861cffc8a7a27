package apitest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/doorstep-dev/doorstep/server/apitest"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// The device-facing API, driven through the real server on both databases
// with every request and response checked against openapi.yaml by
// apitest.Transport: success paths and the documented refusals. The test
// fails if the code and the spec disagree anywhere along the way.
func TestContractDeviceAPI(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		env.Client.Transport = apitest.Transport(t, env.Client.Transport)
		c := &contract{t: t, env: env}
		c.health()
		officer := c.auth()
		households := c.firstSync(officer)
		loanID := c.push(officer, households)
		c.pullErrors(officer)
		c.staff(officer, loanID)
		c.sessions()
	}, testenv.WithConfig(func(c *config.Config) { c.ReportClose = "off" }))
}

type contract struct {
	t   *testing.T
	env *testenv.Env
	seq int64
}

func (c *contract) want(status int, method, path, token string, body any) []byte {
	c.t.Helper()
	resp, out := c.env.Do(c.t, method, path, token, body)
	if resp.StatusCode != status {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, out)
	}
	return out
}

func (c *contract) wantError(status int, code, method, path, token string, body any, headers map[string]string) {
	c.t.Helper()
	resp, out := c.env.DoHeaders(c.t, method, path, token, body, headers)
	if resp.StatusCode != status {
		c.t.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, status, out)
	}
	if e := testenv.ErrorOf(c.t, out); e.Code != code {
		c.t.Fatalf("%s %s: code %q, want %q", method, path, e.Code, code)
	}
}

func decode[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, body)
	}
	return v
}

func (c *contract) health() {
	c.want(http.StatusOK, "GET", "/healthz", "", nil)
	c.want(http.StatusOK, "GET", "/readyz", "", nil)
}

func (c *contract) auth() string {
	login := "/api/v1/auth/login"
	c.wantError(http.StatusUnauthorized, "invalid_credentials", "POST", login, "",
		syncproto.LoginRequest{Username: testenv.Officer1, Password: "wrong", DeviceID: "phone-1"}, nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "POST", login, "", map[string]any{"username": testenv.Officer1}, nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "POST", login, "", map[string]any{"username": "x", "role": "admin"}, nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "POST", login, "", "{not json", nil)

	tok := c.env.Login(c.t, testenv.Officer1, testenv.Password, "phone-1")
	me := decode[syncproto.Me](c.t, c.want(http.StatusOK, "GET", "/api/v1/me", tok.AccessToken, nil))
	if me.Username != testenv.Officer1 || me.Role != syncproto.RoleOfficer || me.Device.ID != tok.DeviceID {
		c.t.Fatalf("me: %+v", me)
	}
	c.wantError(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/me", "", nil, nil)
	c.wantError(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/me", "not-a-token", nil, nil)
	c.wantError(http.StatusForbidden, "forbidden", "GET", "/api/v1/devices", tok.AccessToken, nil, nil)
	c.wantError(http.StatusNotFound, "not_found", "GET", "/api/v1/no-such-thing", tok.AccessToken, nil, nil)
	c.wantError(http.StatusMethodNotAllowed, "method_not_allowed", "DELETE", "/api/v1/me", tok.AccessToken, nil, nil)
	return tok.AccessToken
}

// firstSync gives officer1 households and pulls everything.
func (c *contract) firstSync(token string) []string {
	ids, err := c.env.DB.CreateSimHouseholds(context.Background(), testenv.Officer1, "CT", 3)
	if err != nil {
		c.t.Fatal(err)
	}
	cursor, seen := "", map[string]int{}
	for page := 0; ; page++ {
		if page > 20 {
			c.t.Fatal("pull does not end")
		}
		resp := decode[syncproto.PullResponse](c.t, c.want(http.StatusOK, "POST", "/api/v1/sync/pull", token,
			syncproto.PullRequest{Cursor: cursor, Limit: 2, DeviceTime: time.Now(), AppVersion: "contract"}))
		for _, ch := range resp.Changes {
			seen[ch.Entity]++
		}
		cursor = resp.Cursor
		if !resp.HasMore {
			break
		}
	}
	if seen[syncproto.EntityHousehold] != len(ids) || seen[syncproto.EntityLoanProduct] == 0 {
		c.t.Fatalf("first sync delivered %v, want %d households and the loan products", seen, len(ids))
	}
	return ids
}

func (c *contract) mutation(entity, op, id string, base int64, fields map[string]any) syncproto.Mutation {
	c.seq++
	m := syncproto.Mutation{MutationID: uuid.NewString(), Seq: c.seq, Entity: entity, Op: op, EntityID: id,
		BaseVersion: base, DeviceTime: time.Now(), Fields: map[string]json.RawMessage{}}
	for k, v := range fields {
		b, err := json.Marshal(v)
		if err != nil {
			c.t.Fatal(err)
		}
		m.Fields[k] = b
	}
	return m
}

func (c *contract) pushOK(token string, ms ...syncproto.Mutation) syncproto.PushResponse {
	c.t.Helper()
	resp := decode[syncproto.PushResponse](c.t, c.want(http.StatusOK, "POST", "/api/v1/sync/push", token,
		syncproto.PushRequest{DeviceTime: time.Now(), PendingCount: len(ms), AppVersion: "contract", Mutations: ms}))
	if len(resp.Results) != len(ms) {
		c.t.Fatalf("push: %d results for %d mutations", len(resp.Results), len(ms))
	}
	return resp
}

// push exercises every verdict and returns a submitted loan application.
func (c *contract) push(token string, hh []string) string {
	product := c.product(token)
	visit, need, loan, bigLoan := uuid.NewString(), uuid.NewString(), uuid.NewString(), uuid.NewString()
	start := time.Now().Add(-30 * time.Minute)
	ms := []syncproto.Mutation{
		c.mutation("visit", "create", visit, 0, map[string]any{"household_id": hh[0], "outcome": "visited",
			"situation": "务工收入稳定", "lat": 28.45, "lng": 108.99, "accuracy_m": 12, "started_at": start, "ended_at": start.Add(20 * time.Minute)}),
		c.mutation("household", "update", hh[0], 1, map[string]any{"has_labor": true, "situation_notes": "新增劳动力"}),
		c.mutation("financing_need", "create", need, 0, map[string]any{"household_id": hh[0], "visit_id": visit, "purpose": "仔猪", "amount_fen": 1000000}),
		c.mutation("loan_application", "create", loan, 0, map[string]any{"household_id": hh[0], "need_id": need, "product_id": product,
			"amount_fen": 3000000, "term_months": 36, "purpose": "养殖", "status": "draft"}),
		c.mutation("loan_application", "create", bigLoan, 0, map[string]any{"household_id": hh[0], "product_id": product,
			"amount_fen": 8000000, "term_months": 36, "status": "draft"}),
		c.mutation("visit_plan", "create", uuid.NewString(), 0, map[string]any{"household_id": hh[1], "planned_on": time.Now().Format("2006-01-02")}),
		c.mutation("visit", "create", uuid.NewString(), 0, map[string]any{"household_id": hh[1], "outcome": "absent", "started_at": start, "colour": "red"}),
		c.mutation("household", "update", hh[1], 1, map[string]any{"head_name": "改名"}),
		c.mutation("task", "update", uuid.NewString(), 1, map[string]any{"status": "done"}),
	}
	first := c.pushOK(token, ms...)
	wantStatus := []string{"accepted", "accepted", "accepted", "accepted", "rejected", "accepted", "rejected", "rejected", "rejected"}
	for i, r := range first.Results {
		if r.MutationID != ms[i].MutationID || r.Status != wantStatus[i] {
			c.t.Fatalf("result %d: %+v, want status %s", i, r, wantStatus[i])
		}
	}
	// A replay gets the very same results.
	again := c.pushOK(token, ms...)
	a, _ := json.Marshal(first.Results)
	b, _ := json.Marshal(again.Results)
	if !bytes.Equal(a, b) {
		c.t.Fatalf("replayed push answered differently:\n%s\n%s", a, b)
	}
	// Submit the draft, gzip-compressed this time.
	submit := c.mutation("loan_application", "update", loan, first.Results[3].Version, map[string]any{"status": "submitted"})
	raw, _ := json.Marshal(syncproto.PushRequest{DeviceTime: time.Now(), Mutations: []syncproto.Mutation{submit}})
	resp, out := c.env.DoHeaders(c.t, "POST", "/api/v1/sync/push", token, gz(string(raw)), map[string]string{"Content-Encoding": "gzip"})
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("gzip push: %d %s", resp.StatusCode, out)
	}
	if r := decode[syncproto.PushResponse](c.t, out).Results[0]; r.Status != "accepted" {
		c.t.Fatalf("submit: %+v", r)
	}

	// Whole-request refusals.
	push := "/api/v1/sync/push"
	c.wantError(http.StatusUpgradeRequired, "unsupported_protocol", "POST", push, token,
		syncproto.PushRequest{DeviceTime: time.Now()}, map[string]string{syncproto.HeaderProtocol: "99"})
	bad := c.mutation("visit", "create", uuid.NewString(), 0, nil)
	bad.MutationID = "not-a-uuid"
	c.wantError(http.StatusBadRequest, "invalid_request", "POST", push, token,
		syncproto.PushRequest{DeviceTime: time.Now(), Mutations: []syncproto.Mutation{bad}}, nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "POST", push, token, map[string]any{"mutations": []any{}}, nil)
	many := make([]syncproto.Mutation, syncproto.MaxMutationsPerPush+1)
	for i := range many {
		many[i] = c.mutation("visit_plan", "delete", uuid.NewString(), 1, nil)
	}
	c.wantError(http.StatusRequestEntityTooLarge, "too_many_mutations", "POST", push, token,
		syncproto.PushRequest{DeviceTime: time.Now(), Mutations: many}, nil)
	c.wantError(http.StatusRequestEntityTooLarge, "body_too_large", "POST", push, token,
		bytes.Repeat([]byte(" "), int(c.env.Config.MaxBodyBytes)+1), nil)
	return loan
}

func (c *contract) product(token string) string {
	resp := decode[syncproto.PullResponse](c.t, c.want(http.StatusOK, "POST", "/api/v1/sync/pull", token,
		syncproto.PullRequest{DeviceTime: time.Now(), Limit: syncproto.MaxPullLimit}))
	for _, ch := range resp.Changes {
		if ch.Entity == syncproto.EntityLoanProduct {
			return ch.ID
		}
	}
	c.t.Fatal("no loan product delivered")
	return ""
}

func (c *contract) pullErrors(token string) {
	pull := "/api/v1/sync/pull"
	c.wantError(http.StatusBadRequest, "invalid_cursor", "POST", pull, token,
		syncproto.PullRequest{Cursor: "forged.cursor", DeviceTime: time.Now()}, nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "POST", pull, token,
		syncproto.PullRequest{Limit: syncproto.MaxPullLimit + 1, DeviceTime: time.Now()}, nil)
	c.wantError(http.StatusUpgradeRequired, "unsupported_protocol", "POST", pull, token,
		syncproto.PullRequest{DeviceTime: time.Now()}, map[string]string{syncproto.HeaderProtocol: ""})
	// A device that is caught up and holds nothing the server knows of is
	// told to resync.
	var cursor string
	for {
		resp := decode[syncproto.PullResponse](c.t, c.want(http.StatusOK, "POST", pull, token,
			syncproto.PullRequest{Cursor: cursor, Limit: syncproto.MaxPullLimit, DeviceTime: time.Now()}))
		cursor = resp.Cursor
		if !resp.HasMore {
			break
		}
	}
	resp := decode[syncproto.PullResponse](c.t, c.want(http.StatusOK, "POST", pull, token,
		syncproto.PullRequest{Cursor: cursor, DeviceTime: time.Now(), Digest: syncproto.Digest(nil)}))
	if !resp.ResyncRequired || resp.Cursor != "" {
		c.t.Fatalf("wrong digest: %+v, want resync_required", resp)
	}
}

func (c *contract) staff(officerToken, loanID string) {
	sup := c.env.Login(c.t, testenv.Supervisor1, testenv.Password, "desk-1").AccessToken
	c.wantError(http.StatusForbidden, "forbidden", "POST", "/api/v1/sync/pull", sup, syncproto.PullRequest{DeviceTime: time.Now()}, nil)
	c.wantError(http.StatusForbidden, "forbidden", "GET", "/api/v1/conflicts", officerToken, nil, nil)

	page := decode[struct {
		Items []struct{ Kind, Code string } `json:"items"`
	}](c.t, c.want(http.StatusOK, "GET", "/api/v1/conflicts?kind=rejection&limit=2", sup, nil))
	if len(page.Items) == 0 {
		c.t.Fatal("the conflict log shows no rejection")
	}
	c.wantError(http.StatusBadRequest, "invalid_request", "GET", "/api/v1/conflicts?kind=other", sup, nil, nil)
	c.wantError(http.StatusBadRequest, "invalid_cursor", "GET", "/api/v1/conflicts?cursor=%25%25", sup, nil, nil)

	decision := fmt.Sprintf("/api/v1/loans/%s/decision", loanID)
	c.wantError(http.StatusForbidden, "forbidden", "POST", decision, officerToken, map[string]string{"status": "approved"}, nil)
	loan := decode[syncproto.LoanApplication](c.t, c.want(http.StatusOK, "POST", decision, sup, map[string]string{"status": "approved", "note": "符合条件"}))
	if loan.Status != syncproto.LoanApproved || loan.DecisionNote != "符合条件" {
		c.t.Fatalf("decision: %+v", loan)
	}
	c.wantError(http.StatusConflict, "conflict", "POST", decision, sup, map[string]string{"status": "rejected"}, nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "POST", decision, sup, map[string]string{"status": "withdrawn"}, nil)
	c.wantError(http.StatusNotFound, "not_found", "POST", "/api/v1/loans/"+uuid.NewString()+"/decision", sup, map[string]string{"status": "approved"}, nil)

	devices := decode[syncproto.DeviceList](c.t, c.want(http.StatusOK, "GET", "/api/v1/devices?status=active", sup, nil))
	if len(devices.Devices) == 0 {
		c.t.Fatal("supervisor sees no devices")
	}
	c.wantError(http.StatusBadRequest, "invalid_request", "GET", "/api/v1/devices?status=lost", sup, nil, nil)
}

// sessions covers refresh rotation, the grace replay, logout and revocation.
func (c *contract) sessions() {
	tok := c.env.Login(c.t, testenv.Officer2, testenv.Password, "phone-2")
	refresh := "/api/v1/auth/refresh"
	next := decode[syncproto.TokenResponse](c.t, c.want(http.StatusOK, "POST", refresh, "", syncproto.RefreshRequest{RefreshToken: tok.RefreshToken}))
	replay := decode[syncproto.TokenResponse](c.t, c.want(http.StatusOK, "POST", refresh, "", syncproto.RefreshRequest{RefreshToken: tok.RefreshToken}))
	if replay.RefreshToken != next.RefreshToken {
		c.t.Fatal("a replay within the grace window gave another pair")
	}
	c.wantError(http.StatusUnauthorized, "unauthenticated", "POST", refresh, "", syncproto.RefreshRequest{RefreshToken: "unknown"}, nil)
	c.wantError(http.StatusBadRequest, "invalid_request", "POST", refresh, "", syncproto.RefreshRequest{}, nil)
	c.want(http.StatusNoContent, "POST", "/api/v1/auth/logout", "", syncproto.RefreshRequest{RefreshToken: next.RefreshToken})
	c.wantError(http.StatusUnauthorized, "unauthenticated", "GET", "/api/v1/me", next.AccessToken, nil, nil)

	phone := c.env.Login(c.t, testenv.Officer2, testenv.Password, "phone-3")
	sup := c.env.Login(c.t, testenv.Supervisor1, testenv.Password, "desk-2").AccessToken
	d := decode[syncproto.DeviceInfo](c.t, c.want(http.StatusOK, "POST", "/api/v1/devices/"+phone.DeviceID+"/revoke", sup, nil))
	if d.Status != syncproto.DeviceRevoked {
		c.t.Fatalf("revoke: %+v", d)
	}
	c.wantError(http.StatusUnauthorized, "device_revoked", "GET", "/api/v1/me", phone.AccessToken, nil, nil)
	c.wantError(http.StatusUnauthorized, "device_revoked", "POST", refresh, "", syncproto.RefreshRequest{RefreshToken: phone.RefreshToken}, nil)
	c.wantError(http.StatusNotFound, "not_found", "POST", "/api/v1/devices/"+uuid.NewString()+"/revoke", sup, nil, nil)
}
