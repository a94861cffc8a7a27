package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// With every slot taken, a request waits at most QueueWait and then gets 503
// with Retry-After; health checks are never queued.
func TestAdmissionShedsWithRetryAfter(t *testing.T) {
	env := testenv.New(t, dbtest.NewSQLite(t), testenv.WithConfig(func(c *config.Config) {
		c.MaxInFlight = 1
		c.QueueWait = 0
	}))
	pr, pw := io.Pipe()
	held := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", env.URL+"/api/v1/auth/login", pr)
		req.Header.Set("Content-Type", "application/json")
		resp, err := env.Client.Do(req)
		if err != nil {
			held <- 0
			return
		}
		resp.Body.Close()
		held <- resp.StatusCode
	}()
	pw.Write([]byte(`{"username":`)) // the handler now sits reading the body, holding the slot
	for !strings.Contains(string(env.DoStatus(t, 200, "GET", "/metrics", "", nil)), "doorstep_http_in_flight 1") {
	}
	resp, body := env.Do(t, "POST", "/api/v1/auth/login", "", map[string]string{"username": "x"})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("with no free slot: %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if e := testenv.ErrorOf(t, body); e.Code != syncproto.CodeUnavailable {
		t.Fatalf("code %q", e.Code)
	}
	env.DoStatus(t, 200, "GET", "/healthz", "", nil)
	pw.Write([]byte(`"officer1"}`))
	pw.Close()
	if got := <-held; got != http.StatusBadRequest {
		t.Fatalf("held request finished with %d, want 400 (incomplete login)", got)
	}
	if !strings.Contains(string(env.DoStatus(t, 200, "GET", "/metrics", "", nil)), "doorstep_http_shed_total 1") {
		t.Error("shed counter did not count the refused request")
	}
}
