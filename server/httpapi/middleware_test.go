package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/demo"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// Every error is JSON {code, message, details} with the right status, and
// every bad body is refused before anything is written.
func TestBadInputAndErrorShape(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		const login = "/api/v1/auth/login"
		max := env.Config.MaxBodyBytes
		good := `{"username":"officer1","password":"` + demo.Password + `","device_id":"dev-mw-1","device_name":"p"}`
		cases := []struct {
			name    string
			method  string
			path    string
			body    []byte
			headers map[string]string
			status  int
			code    string
			field   string
		}{
			{"unknown route", "GET", "/api/v1/nope", nil, nil, 404, syncproto.CodeNotFound, ""},
			{"unknown top-level route", "GET", "/nope", nil, nil, 404, syncproto.CodeNotFound, ""},
			{"wrong method", "DELETE", login, nil, nil, 405, syncproto.CodeMethodNotAllowed, ""},
			{"malformed JSON", "POST", login, []byte(`{"username": "officer1",`), nil, 400, syncproto.CodeInvalidRequest, ""},
			{"not JSON at all", "POST", login, []byte("\x00\x01binary junk"), nil, 400, syncproto.CodeInvalidRequest, ""},
			{"empty body", "POST", login, []byte(""), nil, 400, syncproto.CodeInvalidRequest, ""},
			{"two objects", "POST", login, []byte(good + good), nil, 400, syncproto.CodeInvalidRequest, ""},
			{"wrong type", "POST", login, []byte(`{"username":123,"password":"x","device_id":"d","device_name":"n"}`), nil, 400, syncproto.CodeInvalidRequest, "username"},
			{"unknown field", "POST", login, []byte(`{"username":"a","password":"b","device_id":"d","device_name":"n","role":"admin"}`), nil, 400, syncproto.CodeInvalidRequest, ""},
			{"oversized body", "POST", login, bytes.Repeat([]byte(" "), int(max)+1), nil, 413, syncproto.CodeBodyTooLarge, ""},
			{"gzip bomb", "POST", login, gz(t, append([]byte(`{"username":"`), bytes.Repeat([]byte("a"), int(max)+10)...)), map[string]string{"Content-Encoding": "gzip"}, 413, syncproto.CodeBodyTooLarge, ""},
			{"broken gzip", "POST", login, []byte("definitely not gzip"), map[string]string{"Content-Encoding": "gzip"}, 400, syncproto.CodeInvalidRequest, ""},
			{"unsupported encoding", "POST", login, []byte(good), map[string]string{"Content-Encoding": "br"}, 400, syncproto.CodeInvalidRequest, ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				var body any
				if tc.body != nil {
					body = tc.body
				}
				resp, out := env.DoHeaders(t, tc.method, tc.path, "", body, tc.headers)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, out)
				}
				e := testenv.ErrorOf(t, out)
				if e.Code != tc.code {
					t.Fatalf("code %q, want %q", e.Code, tc.code)
				}
				if tc.field != "" && e.Details["field"] != tc.field {
					t.Fatalf("details.field = %v, want %q", e.Details["field"], tc.field)
				}
			})
		}
		// Nothing was registered by any of the refused requests.
		var n int64
		env.DB.Gorm(t.Context()).Table("devices").Count(&n)
		if n != 0 {
			t.Fatalf("refused requests registered %d devices", n)
		}
		// A gzip body within the cap is accepted.
		resp, out := env.DoHeaders(t, "POST", login, "", gz(t, []byte(good)), map[string]string{"Content-Encoding": "gzip"})
		if resp.StatusCode != 200 {
			t.Fatalf("gzip login: %d %s", resp.StatusCode, out)
		}
	})
}

func TestMessagesChineseByDefaultEnglishOnRequest(t *testing.T) {
	env := testenv.New(t, dbtest.NewSQLite(t))
	_, zh := env.Do(t, "GET", "/api/v1/nope", "", nil)
	_, en := env.DoHeaders(t, "GET", "/api/v1/nope", "", nil, map[string]string{"Accept-Language": "en-US,en;q=0.9"})
	if m := testenv.ErrorOf(t, zh).Message; !strings.Contains(m, "不存在") {
		t.Errorf("default message %q is not Chinese", m)
	}
	if m := testenv.ErrorOf(t, en).Message; m != "no such endpoint" {
		t.Errorf("English message = %q", m)
	}
}

func TestRequestIDs(t *testing.T) {
	env := testenv.New(t, dbtest.NewSQLite(t))
	const id = "3f2b8c1e-0a4d-4e5f-9a7b-1c2d3e4f5a6b"
	resp, _ := env.DoHeaders(t, "GET", "/healthz", "", nil, map[string]string{"X-Request-ID": id})
	if got := resp.Header.Get("X-Request-ID"); got != id {
		t.Errorf("UUID request id not echoed: %q", got)
	}
	resp, _ = env.DoHeaders(t, "GET", "/healthz", "", nil, map[string]string{"X-Request-ID": "13800138000-phone"})
	if got := resp.Header.Get("X-Request-ID"); got == "" || strings.Contains(got, "13800138000") {
		t.Errorf("free-form request id taken from the client: %q", got)
	}
	if strings.Contains(env.Logs(), "13800138000") {
		t.Error("a client-supplied request id carried a phone number into the logs")
	}
}

func TestHealthReadyMetrics(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		env.DoStatus(t, http.StatusOK, "GET", "/healthz", "", nil)
		out := env.DoStatus(t, http.StatusOK, "GET", "/readyz", "", nil)
		if !strings.Contains(string(out), env.DB.Dialect()) {
			t.Errorf("/readyz = %s", out)
		}
		env.Do(t, "GET", "/api/v1/nope", "", nil)
		m := string(env.DoStatus(t, http.StatusOK, "GET", "/metrics", "", nil))
		for _, want := range []string{
			`doorstep_http_requests_total{method="GET",route="/readyz",status="200"}`,
			`doorstep_http_request_duration_seconds_bucket`,
			`go_sql_open_connections{db_name="doorstep"}`,
		} {
			if !strings.Contains(m, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}
