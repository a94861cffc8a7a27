package client

import (
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// These tests pin the client's retry and token rules against a scripted
// HTTP peer. The server's own behaviour is covered by the end-to-end tests
// in package client_test, which run the real server.

type scripted struct {
	mu       sync.Mutex
	requests []*recorded
	handle   func(n int, r *recorded, w http.ResponseWriter)
}

type recorded struct {
	Path    string
	Header  http.Header
	Body    []byte
	Gzipped bool
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorded{Path: r.URL.Path, Header: r.Header.Clone()}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, "bad gzip", 400)
			return
		}
		body, rec.Gzipped = zr, true
	}
	rec.Body, _ = io.ReadAll(body)
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	n := len(s.requests)
	s.mu.Unlock()
	s.handle(n, rec, w)
}

func (s *scripted) paths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var p []string
	for _, r := range s.requests {
		p = append(p, r.Path)
	}
	return p
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, syncproto.Error{Code: code, Message: code})
}

func emptyPull(w http.ResponseWriter) {
	writeJSON(w, 200, syncproto.PullResponse{Cursor: "cur", ServerTime: time.Now().UTC(), Changes: []syncproto.Change{}})
}

// signedIn opens a client against srv with tokens in place.
func signedIn(t *testing.T, srv *httptest.Server, o Options) *Client {
	t.Helper()
	o.BaseURL = srv.URL
	if o.BackoffBase == 0 {
		o.BackoffBase = time.Millisecond
		o.BackoffMax = 5 * time.Millisecond
	}
	c, err := Open(context.Background(), t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	err = c.tx(context.Background(), func(tx *sql.Tx) error {
		for k, v := range map[string]string{metaAccessToken: "access-1", metaRefreshToken: "refresh-1", metaUserID: testUser, metaUsername: "officer1"} {
			if err := setMeta(tx, k, v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRetriesTransientFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		code   string
	}{
		{"503", http.StatusServiceUnavailable, syncproto.CodeUnavailable},
		{"500", http.StatusInternalServerError, syncproto.CodeInternal},
		{"429", http.StatusTooManyRequests, "rate_limited"},
		{"502 without body", http.StatusBadGateway, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &scripted{handle: func(n int, r *recorded, w http.ResponseWriter) {
				if n <= 2 {
					if tc.code == "" {
						w.WriteHeader(tc.status)
						return
					}
					if tc.status == http.StatusTooManyRequests {
						w.Header().Set("Retry-After", "0")
					}
					apiError(w, tc.status, tc.code)
					return
				}
				emptyPull(w)
			}}
			srv := httptest.NewServer(s)
			defer srv.Close()
			var attempts atomic.Int32
			c := signedIn(t, srv, Options{OnRequest: func(RequestInfo) { attempts.Add(1) }, DigestEvery: -1})
			rep, err := c.Sync(context.Background())
			if err != nil {
				t.Fatalf("sync: %v", err)
			}
			if got := len(s.paths()); got != 3 || attempts.Load() != 3 {
				t.Fatalf("requests = %d (hook saw %d), want 2 failures then success", got, attempts.Load())
			}
			if rep.Pages != 1 {
				t.Fatalf("pages = %d", rep.Pages)
			}
		})
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	s := &scripted{handle: func(n int, r *recorded, w http.ResponseWriter) { apiError(w, 503, syncproto.CodeUnavailable) }}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := signedIn(t, srv, Options{MaxAttempts: 4})
	_, err := c.Sync(context.Background())
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Code != syncproto.CodeUnavailable {
		t.Fatalf("err = %v", err)
	}
	if got := len(s.paths()); got != 4 {
		t.Fatalf("requests = %d, want MaxAttempts", got)
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
	}{
		{http.StatusForbidden, syncproto.CodeForbidden},
		{http.StatusUpgradeRequired, syncproto.CodeUnsupportedProtocol},
		{http.StatusNotFound, syncproto.CodeNotFound},
	} {
		s := &scripted{handle: func(n int, r *recorded, w http.ResponseWriter) { apiError(w, tc.status, tc.code) }}
		srv := httptest.NewServer(s)
		c := signedIn(t, srv, Options{})
		_, err := c.Sync(context.Background())
		srv.Close()
		var apiErr *APIError
		if !errors.As(err, &apiErr) || apiErr.Code != tc.code || apiErr.Status != tc.status {
			t.Fatalf("%d: err = %v", tc.status, err)
		}
		if got := len(s.paths()); got != 1 {
			t.Fatalf("%d: requests = %d, want no retry", tc.status, got)
		}
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	var first time.Time
	var gap time.Duration
	s := &scripted{handle: func(n int, r *recorded, w http.ResponseWriter) {
		if n == 1 {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			apiError(w, 503, syncproto.CodeUnavailable)
			return
		}
		gap = time.Since(first)
		emptyPull(w)
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	// The jittered backoff alone would wait at most 1 ms.
	c := signedIn(t, srv, Options{DigestEvery: -1})
	if _, err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A lower bound only: the client must not come back before it was told to.
	if gap < time.Second {
		t.Fatalf("retried after %s despite Retry-After: 1", gap)
	}
}

func TestEveryRequestCarriesProtocolAndDeviceState(t *testing.T) {
	skew := 72 * time.Hour
	s := &scripted{handle: func(n int, r *recorded, w http.ResponseWriter) { emptyPull(w) }}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := signedIn(t, srv, Options{AppVersion: "2.1.0", Clock: func() time.Time { return time.Now().Add(-skew) }, DigestEvery: -1})
	if _, err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := s.requests[0]
	if r.Header.Get(syncproto.HeaderProtocol) != "1" {
		t.Fatalf("protocol header = %q", r.Header.Get(syncproto.HeaderProtocol))
	}
	if r.Header.Get("Authorization") != "Bearer access-1" {
		t.Fatal("no bearer token")
	}
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		t.Fatal("client does not accept gzip")
	}
	var req syncproto.PullRequest
	if err := json.Unmarshal(r.Body, &req); err != nil {
		t.Fatal(err)
	}
	if req.AppVersion != "2.1.0" || time.Since(req.DeviceTime) < skew-time.Hour {
		t.Fatalf("pull request = %+v; device_time must come from the device clock", req)
	}
}

func TestGzipBothWays(t *testing.T) {
	s := &scripted{handle: func(n int, r *recorded, w http.ResponseWriter) {
		if r.Path == "/api/v1/sync/push" {
			var req syncproto.PushRequest
			if err := json.Unmarshal(r.Body, &req); err != nil {
				apiError(w, 400, syncproto.CodeInvalidRequest)
				return
			}
			resp := syncproto.PushResponse{ServerTime: time.Now().UTC()}
			for _, m := range req.Mutations {
				resp.Results = append(resp.Results, syncproto.MutationResult{MutationID: m.MutationID, Seq: m.Seq, Status: syncproto.StatusAccepted, Version: 1})
			}
			b, _ := json.Marshal(resp)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			zw.Write(b)
			zw.Close()
			return
		}
		emptyPull(w)
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := signedIn(t, srv, Options{DigestEvery: -1})
	seedHouseholds(t, c)
	for i := 0; i < 20; i++ {
		if _, err := c.CreateVisit(context.Background(), VisitInput{HouseholdID: hh1, Outcome: syncproto.OutcomeVisited, Notes: strings.Repeat("走访记录", 20)}); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := c.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 20 || rep.Pending != 0 {
		t.Fatalf("report = %+v", rep)
	}
	if !s.requests[0].Gzipped {
		t.Fatal("a large push body was not gzipped")
	}
	if s.requests[1].Gzipped {
		t.Fatal("a small pull body should go plain")
	}
}

func TestExpiredTokenRefreshesOnceAndRetries(t *testing.T) {
	var refreshBody syncproto.RefreshRequest
	s := &scripted{handle: func(n int, r *recorded, w http.ResponseWriter) {
		switch {
		case r.Path == "/api/v1/auth/refresh":
			json.Unmarshal(r.Body, &refreshBody)
			writeJSON(w, 200, syncproto.TokenResponse{AccessToken: "access-2", RefreshToken: "refresh-2", UserID: testUser, Role: "officer"})
		case r.Header.Get("Authorization") != "Bearer access-2":
			apiError(w, 401, syncproto.CodeTokenExpired)
		default:
			emptyPull(w)
		}
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := signedIn(t, srv, Options{DigestEvery: -1})
	if _, err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"/api/v1/sync/pull", "/api/v1/auth/refresh", "/api/v1/sync/pull"}
	if got := s.paths(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("requests = %v, want %v", got, want)
	}
	if refreshBody.RefreshToken != "refresh-1" {
		t.Fatal("refresh did not present the stored refresh token")
	}
	m, _ := c.metaAll(context.Background())
	if m[metaAccessToken] != "access-2" || m[metaRefreshToken] != "refresh-2" {
		t.Fatal("the rotated pair was not stored")
	}
}

func TestRevokedDeviceSignsOut(t *testing.T) {
	for _, code := range []string{syncproto.CodeDeviceRevoked, syncproto.CodeRefreshReused, syncproto.CodeAccountDisabled} {
		t.Run(code, func(t *testing.T) {
			s := &scripted{handle: func(n int, r *recorded, w http.ResponseWriter) { apiError(w, 401, code) }}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c := signedIn(t, srv, Options{})
			seedHouseholds(t, c)
			if _, err := c.CreateVisit(context.Background(), VisitInput{HouseholdID: hh1, Outcome: syncproto.OutcomeVisited}); err != nil {
				t.Fatal(err)
			}
			_, err := c.Sync(context.Background())
			var so *SignedOutError
			if !errors.Is(err, ErrSignedOut) || !errors.As(err, &so) || so.Code != code {
				t.Fatalf("err = %v, want ErrSignedOut(%s)", err, code)
			}
			if len(s.paths()) != 1 {
				t.Fatalf("requests = %v, want one and stop", s.paths())
			}
			sess, _ := c.Session(context.Background())
			if sess.SignedIn {
				t.Fatal("tokens were not wiped")
			}
			want := 1 // signing out keeps the officer's work...
			if code == syncproto.CodeDeviceRevoked {
				want = 0 // ...except on a revoked (lost) phone, which is wiped
			}
			if n, _ := c.PendingCount(context.Background()); n != want {
				t.Fatalf("pending after %s = %d, want %d", code, n, want)
			}
			if so.Discarded != 1-want {
				t.Fatalf("discarded = %d, want %d", so.Discarded, 1-want)
			}
			if _, err := c.Sync(context.Background()); !errors.Is(err, ErrNotSignedIn) {
				t.Fatalf("sync after sign-out: %v", err)
			}
		})
	}
}

func TestRefusedRefreshSignsOut(t *testing.T) {
	s := &scripted{handle: func(n int, r *recorded, w http.ResponseWriter) {
		if r.Path == "/api/v1/auth/refresh" {
			apiError(w, 401, syncproto.CodeUnauthenticated)
			return
		}
		apiError(w, 401, syncproto.CodeTokenExpired)
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := signedIn(t, srv, Options{})
	_, err := c.Sync(context.Background())
	if !errors.Is(err, ErrSignedOut) {
		t.Fatalf("err = %v", err)
	}
	if got := len(s.paths()); got != 2 {
		t.Fatalf("requests = %v", s.paths())
	}
}

func TestWholePushRefusedIsolatesTheBadMutation(t *testing.T) {
	var bad string
	s := &scripted{handle: func(n int, r *recorded, w http.ResponseWriter) {
		if r.Path != "/api/v1/sync/push" {
			emptyPull(w)
			return
		}
		var req syncproto.PushRequest
		json.Unmarshal(r.Body, &req)
		resp := syncproto.PushResponse{ServerTime: time.Now().UTC(), Results: []syncproto.MutationResult{}}
		for _, m := range req.Mutations {
			if m.EntityID == bad {
				apiError(w, 400, syncproto.CodeInvalidRequest)
				return
			}
			resp.Results = append(resp.Results, syncproto.MutationResult{MutationID: m.MutationID, Seq: m.Seq, Status: syncproto.StatusAccepted, Version: 1})
		}
		writeJSON(w, 200, resp)
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := signedIn(t, srv, Options{DigestEvery: -1})
	seedHouseholds(t, c)
	ctx := context.Background()
	for i := 0; i < 7; i++ {
		id, err := c.CreateVisit(ctx, VisitInput{HouseholdID: hh1, Outcome: syncproto.OutcomeVisited})
		if err != nil {
			t.Fatal(err)
		}
		if i == 4 {
			bad = id
		}
	}
	rep, err := c.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accepted != 6 || rep.Rejected != 1 || rep.Pending != 0 {
		t.Fatalf("report = %+v", rep)
	}
	rj, _ := c.Rejections(ctx)
	if len(rj) != 1 || rj[0].EntityID != bad || rj[0].Source != "local" || rj[0].Fields["outcome"] == nil {
		t.Fatalf("rejections = %+v", rj)
	}
}

func TestWholePushRefusedForEveryoneIsNotBlamedOnAMutation(t *testing.T) {
	s := &scripted{handle: func(n int, r *recorded, w http.ResponseWriter) {
		apiError(w, 400, syncproto.CodeInvalidRequest)
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := signedIn(t, srv, Options{})
	seedHouseholds(t, c)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		c.CreateVisit(ctx, VisitInput{HouseholdID: hh1, Outcome: syncproto.OutcomeVisited})
	}
	if _, err := c.Sync(ctx); err == nil {
		t.Fatal("sync succeeded against a server that refuses every push")
	}
	if n, _ := c.PendingCount(ctx); n != 3 {
		t.Fatalf("outbox = %d: mutations were blamed for a request-level refusal", n)
	}
	if rj, _ := c.Rejections(ctx); len(rj) != 0 {
		t.Fatalf("rejections = %d", len(rj))
	}
}

func TestEmptyAnswerLabelledGzip(t *testing.T) {
	s := &scripted{handle: func(n int, r *recorded, w http.ResponseWriter) {
		w.Header().Set("Content-Encoding", "gzip")
		w.WriteHeader(http.StatusNoContent)
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := signedIn(t, srv, Options{})
	if err := c.Logout(context.Background()); err != nil {
		t.Fatalf("logout: %v", err)
	}
	if p := s.paths(); len(p) != 1 || p[0] != "/api/v1/auth/logout" {
		t.Fatalf("requests = %v, want one logout", p)
	}
	if sess, _ := c.Session(context.Background()); sess.SignedIn {
		t.Fatal("tokens survived logout")
	}
}

func TestLogsCarryNoSecrets(t *testing.T) {
	var logs strings.Builder
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := &scripted{handle: func(n int, r *recorded, w http.ResponseWriter) {
		switch r.Path {
		case "/api/v1/auth/login":
			writeJSON(w, 200, syncproto.TokenResponse{AccessToken: "access-SECRET-1", RefreshToken: "refresh-SECRET-1", UserID: testUser, Role: "officer"})
		case "/api/v1/auth/refresh":
			writeJSON(w, 200, syncproto.TokenResponse{AccessToken: "access-SECRET-2", RefreshToken: "refresh-SECRET-2", UserID: testUser, Role: "officer"})
		default:
			if n == 2 {
				apiError(w, 401, syncproto.CodeTokenExpired)
				return
			}
			if n == 4 {
				apiError(w, 503, syncproto.CodeUnavailable)
				return
			}
			emptyPull(w)
		}
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, err := Open(context.Background(), t.TempDir(), Options{BaseURL: srv.URL, Log: log, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(context.Background(), "officer1", "pass-SECRET-word", "phone"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "retrying") {
		t.Fatalf("the test did not exercise the retry log:\n%s", out)
	}
	if strings.Contains(out, "SECRET") {
		t.Fatalf("a secret reached the log:\n%s", out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
