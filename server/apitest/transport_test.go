package apitest_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/apitest"
)

// recorder stands in for *testing.T so the checker's own verdicts can be
// tested.
type recorder struct{ errs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *recorder) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

type canned struct {
	status  int
	body    string
	gzipped bool
}

// fakeServer answers every request with the canned response; it is the
// server side of the exchanges the checker judges, not the checker itself.
func fakeServer(t *testing.T, c canned) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		body := []byte(c.body)
		if c.gzipped {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(body)
			zw.Close()
			body = b.Bytes()
			w.Header().Set("Content-Encoding", "gzip")
		}
		if c.status == http.StatusNoContent {
			w.WriteHeader(c.status)
			return
		}
		w.WriteHeader(c.status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

const (
	tokensJSON = `{"access_token":"a.b.c","refresh_token":"r","token_type":"Bearer","expires_in":600,` +
		`"user_id":"u1","role":"officer","device_id":"d1"}`
	loginJSON = `{"username":"officer1","password":"doorstep-demo","device_id":"phone-1","device_name":"p","app_version":"1"}`
)

func gz(s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func TestTransportVerdicts(t *testing.T) {
	type call struct {
		method, path string
		headers      map[string]string
		body         []byte
	}
	login := call{"POST", "/api/v1/auth/login", map[string]string{"Content-Type": "application/json"}, []byte(loginJSON)}
	cases := []struct {
		name string
		call call
		resp canned
		ok   bool
	}{
		// Exchanges that agree with the spec.
		{"health", call{"GET", "/healthz", nil, nil}, canned{200, `{"status":"ok"}`, false}, true},
		{"login", login, canned{200, tokensJSON, false}, true},
		{"login gzip response", login, canned{200, tokensJSON, true}, true},
		{"login gzip request", call{"POST", "/api/v1/auth/login",
			map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, gz(loginJSON)},
			canned{200, tokensJSON, false}, true},
		{"login without content type", call{"POST", "/api/v1/auth/login", nil, []byte(loginJSON)}, canned{200, tokensJSON, false}, true},
		{"bad request refused", call{"POST", "/api/v1/auth/login", nil, []byte(`{"username":"x"}`)},
			canned{400, `{"code":"invalid_request","message":"m","details":{"field":"password"}}`, false}, true},
		{"no token refused", call{"GET", "/api/v1/me", nil, nil}, canned{401, `{"code":"unauthenticated","message":"m"}`, false}, true},
		{"unknown path 404", call{"GET", "/api/v1/nope", nil, nil}, canned{404, `{"code":"not_found","message":"m"}`, false}, true},
		{"wrong method 405", call{"DELETE", "/api/v1/me", nil, nil}, canned{405, `{"code":"method_not_allowed","message":"m"}`, false}, true},
		{"logout 204", call{"POST", "/api/v1/auth/logout", nil, []byte(`{"refresh_token":"r"}`)}, canned{204, ``, false}, true},

		// Exchanges that do not.
		{"wrong body", call{"GET", "/healthz", nil, nil}, canned{200, `{"status":"bad"}`, false}, false},
		{"extra field", call{"GET", "/healthz", nil, nil}, canned{200, `{"status":"ok","uptime":3}`, false}, false},
		{"undocumented status", login, canned{418, `{"code":"internal","message":"m"}`, false}, false},
		{"missing field in response", login, canned{200, `{"access_token":"a"}`, false}, false},
		{"invalid request accepted", call{"POST", "/api/v1/auth/login", nil, []byte(`{"username":"x"}`)}, canned{200, tokensJSON, false}, false},
		{"invalid request crashed", call{"POST", "/api/v1/auth/login", nil, []byte(`{"username":"x"}`)},
			canned{500, `{"code":"internal","message":"m"}`, false}, false},
		{"no token accepted", call{"GET", "/api/v1/me", nil, nil}, canned{200, `{}`, false}, false},
		{"code with the wrong status", login, canned{401, `{"code":"forbidden","message":"m"}`, false}, false},
		{"error without error body", login, canned{401, `oops`, false}, false},
		{"undocumented endpoint answered", call{"GET", "/api/v1/secret", nil, nil}, canned{200, `{}`, false}, false},
		{"unknown path, not an error body", call{"GET", "/api/v1/nope", nil, nil}, canned{404, `not found`, false}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := fakeServer(t, tc.resp)
			rec := &recorder{}
			hc := &http.Client{Transport: apitest.Transport(rec, nil)}
			var body io.Reader
			if tc.call.body != nil {
				body = bytes.NewReader(tc.call.body)
			}
			req, err := http.NewRequest(tc.call.method, srv.URL+tc.call.path, body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.call.headers {
				req.Header.Set(k, v)
			}
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if tc.ok && len(rec.errs) > 0 {
				t.Errorf("want no complaint, got: %s", strings.Join(rec.errs, "\n"))
			}
			if !tc.ok && len(rec.errs) == 0 {
				t.Errorf("want a complaint, got none")
			}
			// The caller still sees the real response, untouched (the
			// default transport undoes the gzip it asked for itself).
			want := []byte(tc.resp.body)
			if tc.resp.status != http.StatusNoContent && !bytes.Equal(got, want) {
				t.Errorf("body changed in transit: %q, want %q", got, want)
			}
		})
	}
}

// The request body must reach the server intact after the checker read it.
func TestTransportForwardsBody(t *testing.T) {
	var seen []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(tokensJSON))
	}))
	defer srv.Close()
	rec := &recorder{}
	hc := &http.Client{Transport: apitest.Transport(rec, nil)}
	resp, err := hc.Post(srv.URL+"/api/v1/auth/login", "application/json", strings.NewReader(loginJSON))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if string(seen) != loginJSON {
		t.Errorf("server got %q", seen)
	}
	if len(rec.errs) > 0 {
		t.Errorf("complaints: %v", rec.errs)
	}
}
