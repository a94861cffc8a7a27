package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/store/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// syncBuffer is a bytes.Buffer safe for a server goroutine and a test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runCmd(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb syncBuffer
	err := run(context.Background(), &cmdEnv{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}, args)
	return out.String(), errb.String(), err
}

// isolate points the operator commands at a fresh embedded database.
func isolate(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("DOORSTEP_DATA_DIR", filepath.Join(dir, "data"))
	t.Setenv("DOORSTEP_DATABASE_URL", "")
	return dir
}

func TestHelpEverywhere(t *testing.T) {
	isolate(t)
	cases := [][]string{
		{"--help"}, {"serve", "--help"}, {"migrate", "--help"}, {"migrate", "up", "--help"}, {"migrate", "status", "--help"},
		{"user", "--help"}, {"user", "add", "--help"}, {"user", "list", "--help"}, {"user", "disable", "--help"},
		{"user", "reset-password", "--help"}, {"orgunit", "--help"}, {"orgunit", "add", "--help"},
		{"orgunit", "list", "--help"}, {"orgunit", "import", "--help"},
	}
	for _, args := range cases {
		out, _, err := runCmd(t, "", args...)
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("%v: %v", args, err)
		}
		if !strings.Contains(out, "Usage: doorstep") {
			t.Errorf("%v printed no usage:\n%s", args, out)
		}
	}
	if _, _, err := runCmd(t, "", "frobnicate"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Errorf("unknown command: err = %v", err)
	}
}

func TestConfigMistakesAreReported(t *testing.T) {
	isolate(t)
	_, _, err := runCmd(t, "", "serve", "--listen", "nonsense", "--database-url", "mysql://x", "--log-level", "loud", "--access-ttl", "2h", "--data-dir", "/tmp/a?b")
	if err == nil {
		t.Fatal("bad configuration accepted")
	}
	for _, want := range []string{"--listen", "postgres://", "log level", "access token lifetime", "--data-dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestOperatorCommands(t *testing.T) {
	dir := isolate(t)
	if _, _, err := runCmd(t, "", "orgunit", "add", "--kind", "branch", "--code", "GZ", "--name", "贵州分行"); err != nil {
		t.Fatal(err)
	}
	csvPath := filepath.Join(dir, "units.csv")
	os.WriteFile(csvPath, []byte("kind,code,name,parent_code\ncounty,GZ-A,甲支行,GZ\noutlet,GZ-A1,甲网点,GZ-A\n"), 0o600)
	if _, _, err := runCmd(t, "", "orgunit", "import", csvPath); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("kind,code,name,parent_code\ncounty,GZ-B,乙支行,GZ\noutlet,GZ-B1,乙网点,NOPE\n"), 0o600)
	if _, _, err := runCmd(t, "", "orgunit", "import", bad); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("bad import: err = %v; want a line-3 error", err)
	}
	out, _, err := runCmd(t, "", "orgunit", "list")
	if err != nil || !strings.Contains(out, "GZ-A1") || strings.Contains(out, "GZ-B") {
		t.Fatalf("orgunit list (GZ-B must not exist: the bad file is all or nothing):\n%s %v", out, err)
	}
	if _, _, err := runCmd(t, "s3cret-password-1\n", "user", "add", "--username", "boss", "--role", "admin", "--org", "GZ", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, "short\n", "user", "add", "--username", "weak", "--role", "officer", "--org", "GZ-A1", "--password-stdin"); err == nil {
		t.Fatal("a short password was accepted")
	}
	if _, _, err := runCmd(t, "long-enough-pass\n", "user", "add", "--username", "o1", "--role", "officer", "--org", "GZ", "--password-stdin"); err == nil {
		t.Fatal("an officer was placed in a branch")
	}
	if _, _, err := runCmd(t, "", "user", "disable", "boss"); err != nil {
		t.Fatal(err)
	}
	out, _, err = runCmd(t, "", "user", "list")
	if err != nil || !regexp.MustCompile(`boss\s+admin\s+disabled`).MatchString(out) {
		t.Fatalf("user list:\n%s %v", out, err)
	}
	if _, _, err := runCmd(t, "another-password-2\n", "user", "reset-password", "boss", "--password-stdin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runCmd(t, "x-password-xx\n", "user", "reset-password", "ghost", "--password-stdin"); err == nil {
		t.Fatal("reset of an unknown account succeeded")
	}
	out, _, err = runCmd(t, "", "migrate", "status")
	if err != nil || !strings.Contains(out, "0001_init") || strings.Contains(out, "pending") {
		t.Fatalf("migrate status:\n%s %v", out, err)
	}
}

// serve starts `doorstep serve` in-process and returns its base URL and a stop
// function that cancels it and waits for a clean exit.
func serve(t *testing.T, args ...string) (string, *syncBuffer, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...))
	}()
	re := regexp.MustCompile(`listening on (http://[0-9.:]+)`)
	deadline := time.After(60 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], &out, func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve exited with %v", err)
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("serve exited early: %v\n%s", err, errb.String())
		case <-deadline:
			t.Fatalf("serve did not start:\n%s\n%s", out.String(), errb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func readyz(t *testing.T, base string) map[string]string {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz = %d %v", resp.StatusCode, body)
	}
	return body
}

func TestServeWithNoConfigurationUsesSQLite(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, k := range []string{"DOORSTEP_DATABASE_URL", "DOORSTEP_DATA_DIR", "DOORSTEP_SECRETS_FILE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	base, out, stop := serve(t)
	if got := readyz(t, base); got["database"] != "sqlite" {
		t.Fatalf("readyz = %v", got)
	}
	if !strings.Contains(out.String(), "No accounts exist yet") {
		t.Errorf("serve without --demo and without accounts must say how to create an admin:\n%s", out.String())
	}
	stop()
	fi, err := os.Stat(filepath.Join(dir, "doorstep-data", "secrets.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("generated secrets: %v, mode %v; want 0600", err, fi.Mode().Perm())
	}
}

func TestServeDemoOnPostgres(t *testing.T) {
	t.Setenv("DOORSTEP_DATABASE_URL", dbtest.NewPostgresURL(t))
	t.Setenv("DOORSTEP_DATA_DIR", t.TempDir())
	base, out, stop := serve(t, "--demo")
	defer stop()
	if got := readyz(t, base); got["database"] != "postgres" {
		t.Fatalf("readyz = %v", got)
	}
	for _, want := range []string{"officer1", "supervisor1", "manager1", "doorstep-demo", "/docs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo banner lacks %q", want)
		}
	}
}
