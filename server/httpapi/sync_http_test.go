package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// syncWorld is a running server with households for officer1 and officer2.
type syncWorld struct {
	env      *testenv.Env
	officer  string // officer1's access token
	officer2 string
	sup      string
	mgr      string
	hbMgr    string
	hh1      []string
	hh2      []string
	fpxd     string
	seq      int64
}

func newSyncWorld(t *testing.T, env *testenv.Env) *syncWorld {
	t.Helper()
	ctx := context.Background()
	w := &syncWorld{env: env}
	var err error
	if w.hh1, err = env.DB.CreateSimHouseholds(ctx, testenv.Officer1, "H1", 3); err != nil {
		t.Fatal(err)
	}
	if w.hh2, err = env.DB.CreateSimHouseholds(ctx, testenv.Officer2, "H2", 1); err != nil {
		t.Fatal(err)
	}
	var p store.LoanProduct
	if err := env.DB.Gorm(ctx).Where("code = ?", "FPXD").Take(&p).Error; err != nil {
		t.Fatal(err)
	}
	w.fpxd = p.ID
	w.officer = env.Login(t, testenv.Officer1, testenv.Password, "sync-phone").AccessToken
	w.officer2 = env.Login(t, testenv.Officer2, testenv.Password, "sync-phone-2").AccessToken
	w.sup = env.Login(t, testenv.Supervisor1, testenv.Password, "sup-web").AccessToken
	w.mgr = env.Login(t, testenv.Manager1, testenv.Password, "mgr-web").AccessToken
	w.hbMgr = env.Login(t, testenv.OtherBranchManager, testenv.Password, "hb-web").AccessToken
	return w
}

func (w *syncWorld) mutation(entity, op, id string, base int64, fields map[string]any) syncproto.Mutation {
	w.seq++
	m := syncproto.Mutation{MutationID: uuid.NewString(), Seq: w.seq, Entity: entity, Op: op, EntityID: id, BaseVersion: base, DeviceTime: time.Now().UTC()}
	if fields != nil {
		m.Fields = map[string]json.RawMessage{}
		for k, v := range fields {
			b, _ := json.Marshal(v)
			m.Fields[k] = b
		}
	}
	return m
}

func (w *syncWorld) visit(household string) syncproto.Mutation {
	return w.mutation(syncproto.EntityVisit, syncproto.OpCreate, uuid.NewString(), 0, map[string]any{
		"household_id": household, "outcome": "visited", "started_at": time.Now().Add(-time.Hour).UTC(), "notes": "走访"})
}

func pushBody(ms ...syncproto.Mutation) syncproto.PushRequest {
	return syncproto.PushRequest{DeviceTime: time.Now().UTC(), Mutations: ms}
}

func decodeJSON[T any](t *testing.T, body []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

func TestSyncEndpoints(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		w := newSyncWorld(t, env)

		t.Run("426 without a supported protocol", func(t *testing.T) {
			for _, v := range []string{"", "0", "2", "one"} {
				for _, path := range []string{"/api/v1/sync/push", "/api/v1/sync/pull"} {
					resp, body := env.DoHeaders(t, "POST", path, w.officer, pushBody(), map[string]string{syncproto.HeaderProtocol: v})
					if resp.StatusCode != http.StatusUpgradeRequired {
						t.Fatalf("%s with protocol %q: %d %s", path, v, resp.StatusCode, body)
					}
					e := testenv.ErrorOf(t, body)
					if e.Code != syncproto.CodeUnsupportedProtocol || e.Details["min"] != float64(1) || e.Details["max"] != float64(1) {
						t.Fatalf("426 body %s", body)
					}
				}
			}
		})

		t.Run("401 without a token", func(t *testing.T) {
			for _, path := range []string{"/api/v1/sync/push", "/api/v1/sync/pull", "/api/v1/conflicts", "/api/v1/loans/x/decision"} {
				method := "POST"
				if path == "/api/v1/conflicts" {
					method = "GET"
				}
				resp, body := env.Do(t, method, path, "", pushBody())
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
				}
			}
		})

		t.Run("403 for the wrong role", func(t *testing.T) {
			for _, c := range []struct{ method, path, token string }{
				{"POST", "/api/v1/sync/push", w.sup},
				{"POST", "/api/v1/sync/pull", w.mgr},
				{"GET", "/api/v1/conflicts", w.officer},
				{"POST", "/api/v1/loans/" + uuid.NewString() + "/decision", w.officer},
			} {
				var body any = pushBody()
				switch {
				case strings.Contains(c.path, "decision"):
					body = map[string]string{"status": "approved"}
				case strings.Contains(c.path, "pull"):
					body = syncproto.PullRequest{}
				}
				if c.method == "GET" {
					body = nil
				}
				resp, out := env.Do(t, c.method, c.path, c.token, body)
				if resp.StatusCode != http.StatusForbidden || testenv.ErrorOf(t, out).Code != syncproto.CodeForbidden {
					t.Fatalf("%s %s: %d %s", c.method, c.path, resp.StatusCode, out)
				}
			}
		})

		t.Run("400 for malformed requests", func(t *testing.T) {
			tooLong := strings.Repeat("x", 5000)
			for _, c := range []struct {
				name, path, body string
				code, field      string
			}{
				{"malformed", "/api/v1/sync/push", `{"device_time":`, syncproto.CodeInvalidRequest, ""},
				{"not an object", "/api/v1/sync/push", `[1,2]`, syncproto.CodeInvalidRequest, ""},
				{"wrong type", "/api/v1/sync/push", `{"device_time":"2025-03-01T10:00:00Z","pending_count":"3","mutations":[]}`, syncproto.CodeInvalidRequest, "pending_count"},
				{"seq as text", "/api/v1/sync/push", `{"device_time":"2025-03-01T10:00:00Z","mutations":[{"mutation_id":"` + uuid.NewString() + `","seq":"1","entity":"visit","op":"create","entity_id":"` + uuid.NewString() + `","device_time":"2025-03-01T10:00:00Z"}]}`, syncproto.CodeInvalidRequest, "mutations.seq"},
				{"unknown field", "/api/v1/sync/push", `{"device_time":"2025-03-01T10:00:00Z","mutations":[],"extra":1}`, syncproto.CodeInvalidRequest, "extra"},
				{"no device time", "/api/v1/sync/push", `{"mutations":[]}`, syncproto.CodeInvalidRequest, "device_time"},
				{"bad mutation id", "/api/v1/sync/push", `{"device_time":"2025-03-01T10:00:00Z","mutations":[{"mutation_id":"7","seq":1,"entity":"visit","op":"create","entity_id":"x","device_time":"2025-03-01T10:00:00Z"}]}`, syncproto.CodeInvalidRequest, "mutation_id"},
				{"empty", "/api/v1/sync/pull", ``, syncproto.CodeInvalidRequest, ""},
				{"limit too big", "/api/v1/sync/pull", `{"limit":2001}`, syncproto.CodeInvalidRequest, "limit"},
				{"negative limit", "/api/v1/sync/pull", `{"limit":-1}`, syncproto.CodeInvalidRequest, "limit"},
				{"bad cursor", "/api/v1/sync/pull", `{"cursor":"eyJ2IjoxfQ.nope"}`, syncproto.CodeInvalidCursor, ""},
				{"huge cursor", "/api/v1/sync/pull", `{"cursor":"` + tooLong + `"}`, syncproto.CodeInvalidCursor, ""},
			} {
				resp, out := env.Do(t, "POST", c.path, w.officer, c.body)
				if resp.StatusCode != http.StatusBadRequest {
					t.Fatalf("%s: %d %s", c.name, resp.StatusCode, out)
				}
				e := testenv.ErrorOf(t, out)
				if e.Code != c.code || (c.field != "" && e.Details["field"] != c.field) {
					t.Fatalf("%s: %s", c.name, out)
				}
			}
			resp, out := env.Do(t, "GET", "/api/v1/conflicts?kind=bogus", w.sup, nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("bad kind: %d %s", resp.StatusCode, out)
			}
			resp, out = env.Do(t, "GET", "/api/v1/conflicts?limit=lots", w.sup, nil)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("bad limit: %d %s", resp.StatusCode, out)
			}
		})

		t.Run("413 over the caps", func(t *testing.T) {
			ms := make([]syncproto.Mutation, syncproto.MaxMutationsPerPush+1)
			for i := range ms {
				ms[i] = w.visit(w.hh1[0])
			}
			resp, out := env.Do(t, "POST", "/api/v1/sync/push", w.officer, pushBody(ms...))
			if resp.StatusCode != http.StatusRequestEntityTooLarge || testenv.ErrorOf(t, out).Code != syncproto.CodeTooManyMutations {
				t.Fatalf("too many mutations: %d %s", resp.StatusCode, out)
			}
			big := `{"device_time":"2025-03-01T10:00:00Z","mutations":[],"pad":"` + strings.Repeat("x", int(env.Config.MaxBodyBytes)) + `"}`
			resp, out = env.Do(t, "POST", "/api/v1/sync/push", w.officer, big)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || testenv.ErrorOf(t, out).Code != syncproto.CodeBodyTooLarge {
				t.Fatalf("body too large: %d %s", resp.StatusCode, out)
			}
			if n := countVisits(t, env); n != 0 {
				t.Fatalf("refused pushes wrote %d visits", n)
			}
		})

		t.Run("200 push, replay, pull, gzip", func(t *testing.T) {
			req := pushBody(w.visit(w.hh1[0]), w.visit(w.hh2[0]), w.visit(w.hh1[1]))
			_, first := env.Do(t, "POST", "/api/v1/sync/push", w.officer, req)
			_, again := env.Do(t, "POST", "/api/v1/sync/push", w.officer, req)
			r1 := decodeJSON[struct{ Results json.RawMessage }](t, first)
			r2 := decodeJSON[struct{ Results json.RawMessage }](t, again)
			if !bytes.Equal(r1.Results, r2.Results) {
				t.Fatalf("replay differs:\n%s\n%s", r1.Results, r2.Results)
			}
			res := decodeJSON[syncproto.PushResponse](t, first)
			if res.Results[0].Status != syncproto.StatusAccepted || res.Results[1].Rejection == nil || res.Results[1].Rejection.Code != syncproto.RejectOutOfScope {
				t.Fatalf("results %s", first)
			}
			if n := countVisits(t, env); n != 2 {
				t.Fatalf("%d visits after a replayed push, want 2", n)
			}

			// A gzipped push, and a gzipped answer.
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			json.NewEncoder(zw).Encode(pushBody(w.visit(w.hh1[2])))
			zw.Close()
			resp, out := env.DoHeaders(t, "POST", "/api/v1/sync/push", w.officer, buf.Bytes(), map[string]string{"Content-Encoding": "gzip"})
			if resp.StatusCode != http.StatusOK || decodeJSON[syncproto.PushResponse](t, out).Results[0].Status != syncproto.StatusAccepted {
				t.Fatalf("gzip push: %d %s", resp.StatusCode, out)
			}
			resp, out = env.Do(t, "POST", "/api/v1/sync/pull", w.officer, syncproto.PullRequest{DeviceTime: time.Now().UTC()})
			if resp.StatusCode != http.StatusOK || !resp.Uncompressed {
				t.Fatalf("pull: %d, gzip %v", resp.StatusCode, resp.Uncompressed)
			}
			page := decodeJSON[syncproto.PullResponse](t, out)
			got := map[string]int{}
			for _, c := range page.Changes {
				got[c.Entity]++
			}
			if got[syncproto.EntityHousehold] != 3 || got[syncproto.EntityVisit] != 3 || got[syncproto.EntityLoanProduct] == 0 || page.Cursor == "" {
				t.Fatalf("first page %v", got)
			}
			// Another officer's cursor is refused.
			resp, out = env.Do(t, "POST", "/api/v1/sync/pull", w.officer2, syncproto.PullRequest{Cursor: page.Cursor})
			if resp.StatusCode != http.StatusBadRequest || testenv.ErrorOf(t, out).Code != syncproto.CodeInvalidCursor {
				t.Fatalf("foreign cursor: %d %s", resp.StatusCode, out)
			}
		})

		t.Run("conflict log for staff, scoped", func(t *testing.T) {
			list := func(token, query string) syncproto.Error {
				t.Helper()
				resp, out := env.Do(t, "GET", "/api/v1/conflicts"+query, token, nil)
				if resp.StatusCode != http.StatusOK {
					return testenv.ErrorOf(t, out)
				}
				page := decodeJSON[struct {
					Items []struct {
						Kind, Code, EntityID, Rule string
						DeviceValue                json.RawMessage `json:"device_value"`
					} `json:"items"`
					NextCursor string `json:"next_cursor"`
				}](t, out)
				return syncproto.Error{Code: "ok", Details: map[string]any{"n": len(page.Items), "next": page.NextCursor, "items": page.Items}}
			}
			if r := list(w.sup, "?kind=rejection"); r.Details["n"] != 1 {
				t.Fatalf("supervisor sees %v rejections, want 1", r.Details["n"])
			}
			if r := list(w.mgr, ""); r.Details["n"] != 1 {
				t.Fatalf("manager sees %v", r.Details["n"])
			}
			if r := list(w.hbMgr, ""); r.Details["n"] != 0 {
				t.Fatalf("another branch's manager sees %v", r.Details["n"])
			}
			if r := list(w.sup, "?kind=conflict"); r.Details["n"] != 0 {
				t.Fatalf("conflicts %v", r.Details["n"])
			}
		})

		t.Run("loan decisions", func(t *testing.T) {
			lid := uuid.NewString()
			m := w.mutation(syncproto.EntityLoan, syncproto.OpCreate, lid, 0, map[string]any{
				"household_id": w.hh1[0], "product_id": w.fpxd, "amount_fen": 2_000_000, "term_months": 12, "status": "submitted"})
			_, out := env.Do(t, "POST", "/api/v1/sync/push", w.officer, pushBody(m))
			if decodeJSON[syncproto.PushResponse](t, out).Results[0].Status != syncproto.StatusAccepted {
				t.Fatalf("loan push %s", out)
			}
			path := "/api/v1/loans/" + lid + "/decision"
			resp, out := env.Do(t, "POST", path, w.hbMgr, map[string]string{"status": "approved"})
			if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("other branch: %d %s", resp.StatusCode, out)
			}
			resp, out = env.Do(t, "POST", path, w.sup, map[string]any{"status": "approved", "note": "同意", "amount": 1})
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("unknown field: %d %s", resp.StatusCode, out)
			}
			out = env.DoStatus(t, http.StatusOK, "POST", path, w.sup, map[string]string{"status": "approved", "note": "同意"})
			if l := decodeJSON[syncproto.LoanApplication](t, out); l.Status != syncproto.LoanApproved || l.DecisionNote != "同意" {
				t.Fatalf("decision %s", out)
			}
			resp, out = env.Do(t, "POST", path, w.sup, map[string]string{"status": "approved"})
			if resp.StatusCode != http.StatusConflict || testenv.ErrorOf(t, out).Code != syncproto.CodeConflict {
				t.Fatalf("second approval: %d %s", resp.StatusCode, out)
			}
			resp, out = env.Do(t, "POST", path, w.sup, map[string]string{"status": "draft"})
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("bad status: %d %s", resp.StatusCode, out)
			}
			// The officer's device learns it.
			_, out = env.Do(t, "POST", "/api/v1/sync/pull", w.officer, syncproto.PullRequest{Limit: syncproto.MaxPullLimit})
			found := false
			for _, c := range decodeJSON[syncproto.PullResponse](t, out).Changes {
				if c.ID == lid {
					found = decodeJSON[syncproto.LoanApplication](t, c.Data).Status == syncproto.LoanApproved
				}
			}
			if !found {
				t.Fatal("the approval did not reach the device")
			}
		})
	})
}

func countVisits(t *testing.T, env *testenv.Env) int64 {
	t.Helper()
	var n int64
	if err := env.DB.Gorm(context.Background()).Table("visits").Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}
