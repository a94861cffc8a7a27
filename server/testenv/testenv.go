// Package testenv runs the real Doorstep server for end-to-end tests: the app
// wired exactly as main wires it (app.Build), served by httptest on a
// loopback port, over a real database from dbtest, seeded with the demo bank
// and a second branch, with every log line captured so tests can search it.
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
//			tok := env.Login(t, testenv.Officer1, testenv.Password, "phone-1")
//			body := env.DoStatus(t, http.StatusOK, "GET", "/api/v1/me", tok.AccessToken, nil)
//			...
//		})
//	}
//
// testenv imports server/app, which imports server/httpapi: tests inside
// httpapi (and any package app imports) must be external test packages
// (package httpapi_test) to use it.
package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/app"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Env is one running server.
type Env struct {
	// URL is the server's base URL, e.g. http://127.0.0.1:41234.
	URL     string
	App     *app.App
	DB      *store.DB
	Secrets *secrets.Secrets
	Config  config.Config
	Server  *httptest.Server
	// Client talks to the server; it does not follow redirects.
	Client *http.Client

	logs *lockedBuffer
}

type options struct {
	configure []func(*config.Config)
	seed      bool
}

// Option adjusts an Env.
type Option func(*options)

// WithConfig changes the test configuration before the app is built, e.g.
// to trust a proxy or shorten the refresh grace window.
func WithConfig(fn func(*config.Config)) Option {
	return func(o *options) { o.configure = append(o.configure, fn) }
}

// WithoutSeed starts on an empty database: no org tree, no accounts.
func WithoutSeed() Option { return func(o *options) { o.seed = false } }

// TestConfig is the configuration tests run with: every field set, the
// same validation as `doorstep serve`.
func TestConfig(dataDir string) config.Config {
	return config.Config{
		DataDir:       dataDir,
		Listen:        "127.0.0.1:0",
		LogLevel:      "debug",
		LogFormat:     "json",
		SecretsFile:   filepath.Join(dataDir, "secrets.json"),
		AutoMigrate:   false,
		Demo:          true,
		Issuer:        "doorstep",
		Audience:      "doorstep-api",
		AccessTTL:     10 * time.Minute,
		RefreshTTL:    30 * 24 * time.Hour,
		RefreshGrace:  60 * time.Second,
		MaxBodyBytes:  8 << 20,
		MaxInFlight:   32,
		QueueWait:     10 * time.Second,
		ShutdownGrace: 5 * time.Second,
		TimeZone:      "Asia/Shanghai",
		// No scheduled month close in tests: a test that wants one closes
		// the month itself, so nothing depends on the wall clock.
		ReportClose: "off",
	}
}

// New builds the real app over db (already migrated, e.g. from dbtest),
// seeds it and serves it until the test ends.
func New(t testing.TB, db *store.DB, opts ...Option) *Env {
	t.Helper()
	o := options{seed: true}
	for _, opt := range opts {
		opt(&o)
	}
	ctx := context.Background()
	if o.seed {
		if err := Seed(ctx, db); err != nil {
			t.Fatalf("testenv: seed: %v", err)
		}
	}
	srv := httptest.NewUnstartedServer(nil)
	cfg := TestConfig(t.TempDir())
	cfg.Listen = srv.Listener.Addr().String()
	cfg.PublicURL = "http://" + cfg.Listen
	for _, fn := range o.configure {
		fn(&cfg)
	}
	if err := cfg.Finish(); err != nil {
		t.Fatalf("testenv: configuration: %v", err)
	}
	sec, err := secrets.Generate()
	if err != nil {
		t.Fatalf("testenv: secrets: %v", err)
	}
	logs := &lockedBuffer{}
	log := app.NewLogger(logs, cfg)
	a, err := app.Build(cfg, db, sec, log)
	if err != nil {
		t.Fatalf("testenv: build app: %v", err)
	}
	srv.Config.Handler = a.HTTP.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	client := &http.Client{
		Timeout:       60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &Env{URL: srv.URL, App: a, DB: db, Secrets: sec, Config: cfg, Server: srv, Client: client, logs: logs}
}

// ForEachDB runs fn against a fresh server on SQLite and on Postgres.
func ForEachDB(t *testing.T, fn func(t *testing.T, env *Env), opts ...Option) {
	t.Helper()
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		fn(t, New(t, db, opts...))
	})
}

// Logs returns everything the server has logged so far, one JSON object a line.
func (e *Env) Logs() string { return e.logs.String() }

// LogLines decodes the captured log lines.
func (e *Env) LogLines(t testing.TB) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(e.Logs()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// Login signs in and fails the test unless it succeeds.
func (e *Env) Login(t testing.TB, username, password, deviceID string) syncproto.TokenResponse {
	t.Helper()
	req := syncproto.LoginRequest{Username: username, Password: password, DeviceID: deviceID, DeviceName: "test " + deviceID, AppVersion: "1.0.0-test"}
	body := e.DoStatus(t, http.StatusOK, http.MethodPost, "/api/v1/auth/login", "", req)
	var tok syncproto.TokenResponse
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatalf("login %s: decode: %v", username, err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("login %s: tokens missing in %s", username, body)
	}
	return tok
}

// Do sends a request with the Doorstep-Protocol header and, when token is
// set, a bearer token. body may be nil, []byte or string (sent as is), an
// io.Reader, or anything else (sent as JSON). It returns the response, whose
// body has been read and closed, and the body.
func (e *Env) Do(t testing.TB, method, path, token string, body any) (*http.Response, []byte) {
	t.Helper()
	return e.DoHeaders(t, method, path, token, body, nil)
}

// DoHeaders is Do with extra request headers (e.g. X-Forwarded-For).
func (e *Env) DoHeaders(t testing.TB, method, path, token string, body any, headers map[string]string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	case io.Reader:
		r = b
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("%s %s: encode body: %v", method, path, err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.URL+path, r)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	req.Header.Set(syncproto.HeaderProtocol, fmt.Sprint(syncproto.ProtocolVersion))
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := e.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, out
}

// DoStatus is Do that fails the test unless the status is want.
func (e *Env) DoStatus(t testing.TB, want int, method, path, token string, body any) []byte {
	t.Helper()
	resp, out := e.Do(t, method, path, token, body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, out)
	}
	return out
}

// ErrorOf decodes an error body; it fails the test when the body is not one.
func ErrorOf(t testing.TB, body []byte) syncproto.Error {
	t.Helper()
	var e syncproto.Error
	if err := json.Unmarshal(body, &e); err != nil || e.Code == "" || e.Message == "" {
		t.Fatalf("not an error body {code, message, details}: %s", body)
	}
	return e
}

// User loads an account by username.
func (e *Env) User(t testing.TB, username string) store.User {
	t.Helper()
	u, err := e.DB.UserByUsername(context.Background(), username)
	if err != nil {
		t.Fatalf("user %s: %v", username, err)
	}
	return u
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
