package apitest_test

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	mobiledocs "github.com/doorstep-dev/doorstep/mobile-api-docs"
	"github.com/doorstep-dev/doorstep/server/apitest"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

// get fetches a path from the real server and returns status, headers, body.
func get(t *testing.T, env *testenv.Env, path string) (*http.Response, []byte) {
	t.Helper()
	resp, err := env.Client.Get(env.URL + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp, body
}

var (
	reAttr = regexp.MustCompile(`(?i)\s(?:src|href|action|srcset|poster|data)\s*=\s*"([^"]*)"`)
	reID   = regexp.MustCompile(`\sid="([^"]*)"`)
)

func docPaths() []string {
	paths := []string{"/docs/reference"}
	for _, g := range mobiledocs.Guides {
		if g.Slug == "" {
			paths = append(paths, "/docs")
		} else {
			paths = append(paths, "/docs/"+g.Slug)
		}
	}
	return paths
}

// The documentation is served through the real router, reads offline (no
// reference to another host, no script, a CSP that forbids loading
// anything), and every link between pages lands on a page and an anchor
// that exist.
func TestDocsServedOffline(t *testing.T) {
	// The pages do not depend on the database; one dialect is enough.
	env := newEnv(t, dbtest.NewSQLite(t), testenv.WithoutSeed())
	pages := map[string][]byte{}
	for _, p := range docPaths() {
		resp, body := get(t, env, p)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", p, resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Errorf("GET %s: Content-Type %q", p, ct)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
			t.Errorf("GET %s: CSP %q does not forbid remote loads", p, csp)
		}
		if !bytes.HasPrefix(body, []byte("<!DOCTYPE html>")) || !bytes.Contains(body, []byte(`<meta charset="utf-8">`)) {
			t.Errorf("GET %s: not a complete UTF-8 HTML page", p)
		}
		if bytes.Contains(bytes.ToLower(body), []byte("<script")) {
			t.Errorf("GET %s: contains a script", p)
		}
		for _, m := range reAttr.FindAllSubmatch(body, -1) {
			ref := strings.ToLower(string(m[1]))
			if strings.HasPrefix(ref, "http:") || strings.HasPrefix(ref, "https:") || strings.HasPrefix(ref, "//") {
				t.Errorf("GET %s: references another host: %s", p, m[0])
			}
		}
		if bytes.Contains(body, []byte("@import")) || bytes.Contains(body, []byte("url(")) {
			t.Errorf("GET %s: CSS loads something", p)
		}
		pages[p] = body
	}

	ids := map[string]map[string]bool{}
	for p, body := range pages {
		ids[p] = map[string]bool{}
		for _, m := range reID.FindAllSubmatch(body, -1) {
			ids[p][string(m[1])] = true
		}
	}
	for p, body := range pages {
		for _, m := range reAttr.FindAllSubmatch(body, -1) {
			ref := string(m[1])
			target, frag, _ := strings.Cut(ref, "#")
			if target == "" {
				target = p
			}
			if target == "/openapi.yaml" {
				continue
			}
			if !strings.HasPrefix(target, "/") {
				t.Errorf("GET %s: relative or odd link %q", p, ref)
				continue
			}
			if _, ok := pages[target]; !ok {
				t.Errorf("GET %s: link %q to a page that is not served", p, ref)
				continue
			}
			if frag != "" && !ids[target][frag] {
				t.Errorf("GET %s: link %q to an anchor that does not exist", p, ref)
			}
		}
	}

	// Each guide shows its own content, and the reference has every operation.
	for _, g := range mobiledocs.Guides {
		p := "/docs"
		if g.Slug != "" {
			p += "/" + g.Slug
		}
		if !bytes.Contains(pages[p], []byte("<title>"+g.Title)) {
			t.Errorf("%s: title %q missing", p, g.Title)
		}
		if !bytes.Contains(pages[p], []byte("<h1 ")) {
			t.Errorf("%s: no heading rendered", p)
		}
	}
	// The conflict rules page carries the engine's own rule tables.
	for _, r := range syncsvc.Rules {
		if !bytes.Contains(pages["/docs/conflict-rules"], []byte(`<h3 id="`+strings.ReplaceAll(r.Entity, "_", "-")+`"`)) {
			t.Errorf("conflict rules: no table for %s", r.Entity)
		}
		for _, f := range r.Fields {
			if !bytes.Contains(pages["/docs/conflict-rules"], []byte("<td><code>"+f.Field+"</code></td>")) {
				t.Errorf("conflict rules: %s.%s missing", r.Entity, f.Field)
			}
		}
	}
	v, err := apitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	for path, item := range v.Doc().Paths.Map() {
		for method, op := range item.Operations() {
			if !bytes.Contains(pages["/docs/reference"], []byte(`id="op-`+strings.ToLower(op.OperationID)+`"`)) {
				t.Errorf("reference: %s %s (%s) missing", method, path, op.OperationID)
			}
		}
	}
	for name := range v.Doc().Components.Schemas {
		if !bytes.Contains(pages["/docs/reference"], []byte(`id="schema-`+strings.ToLower(name)+`"`)) {
			t.Errorf("reference: schema %s missing", name)
		}
	}
}

func TestSpecServedRaw(t *testing.T) {
	env := newEnv(t, dbtest.NewSQLite(t), testenv.WithoutSeed())
	resp, body := get(t, env, "/openapi.yaml")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/yaml") {
		t.Errorf("Content-Type %q", ct)
	}
	if !bytes.Equal(body, mobiledocs.Spec()) {
		t.Errorf("served spec differs from mobile-api-docs/openapi.yaml")
	}
	if _, err := apitest.LoadSpec(body); err != nil {
		t.Errorf("served spec does not load: %v", err)
	}
}

func TestDocsUnknownPage(t *testing.T) {
	env := newEnv(t, dbtest.NewSQLite(t), testenv.WithoutSeed())
	for _, p := range []string{"/docs/no-such-guide", "/docs/..%2f..%2fgo.mod", "/docs/embed.go"} {
		resp, body := get(t, env, p)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", p, resp.StatusCode)
			continue
		}
		if e := testenv.ErrorOf(t, body); e.Code != "not_found" {
			t.Errorf("GET %s: code %q", p, e.Code)
		}
	}
	// Guides are also reachable by their file name.
	resp, body := get(t, env, "/docs/sync-protocol.md")
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("<title>The sync protocol")) {
		t.Errorf("GET /docs/sync-protocol.md: %d", resp.StatusCode)
	}
}

// newEnv starts the real server with the monthly report schedule off: these
// tests look at the API, and a background close would only add noise.
func newEnv(t *testing.T, db *store.DB, opts ...testenv.Option) *testenv.Env {
	t.Helper()
	opts = append(opts, testenv.WithConfig(func(c *config.Config) { c.ReportClose = "off" }))
	return testenv.New(t, db, opts...)
}

// Every route the server registers for devices and integrating systems is in
// the spec, and every operation in the spec is a route the server has: the
// spec neither misses an endpoint nor documents a fiction. The console
// (server-rendered HTML), /metrics and the docs themselves are not part of
// the API contract.
func TestSpecCoversEveryRoute(t *testing.T) {
	env := newEnv(t, dbtest.NewSQLite(t), testenv.WithoutSeed())
	engine, ok := env.App.HTTP.Handler().(*gin.Engine)
	if !ok {
		t.Fatalf("the handler is a %T, not a gin engine", env.App.HTTP.Handler())
	}
	v, err := apitest.Load()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for p, item := range v.Doc().Paths.Map() {
		for m := range item.Operations() {
			documented[m+" "+p] = true
		}
	}
	served := map[string]bool{}
	for _, r := range engine.Routes() {
		if !strings.HasPrefix(r.Path, "/api/") && r.Path != "/healthz" && r.Path != "/readyz" {
			continue
		}
		segs := strings.Split(r.Path, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
				segs[i] = "{" + s[1:] + "}"
			}
		}
		key := r.Method + " " + strings.Join(segs, "/")
		served[key] = true
		if !documented[key] {
			t.Errorf("%s is served but not in openapi.yaml", key)
		}
	}
	if len(served) < 40 || len(documented) < 40 {
		t.Fatalf("only %d routes served and %d documented: the walk is broken", len(served), len(documented))
	}
	for key := range documented {
		if !served[key] {
			t.Errorf("%s is in openapi.yaml but the server has no such route", key)
		}
	}
}
