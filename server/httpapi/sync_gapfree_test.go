package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/doorstep-dev/doorstep/server/app"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// secondServer builds another instance of the app over its own connection
// pool to the same database, sharing the first one's secrets file contents
// (as instances behind one load balancer do).
func secondServer(t *testing.T, env *testenv.Env, url string) string {
	t.Helper()
	db, err := store.Open(context.Background(), store.Config{URL: url, MaxOpenConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a, err := app.Build(env.Config, db, env.Secrets, app.NewLogger(io.Discard, env.Config))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.HTTP.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// post sends a sync request to one of the servers.
func post(t *testing.T, base, path, token string, body any) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, base+path, bytesReader(b))
	req.Header.Set(syncproto.HeaderProtocol, "1")
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

// The proof of gap-freedom, through the whole HTTP path: eight
// writers, each an officer device logged in for real, push batches of new and
// edited visits through two server instances over one Postgres database while
// a puller follows the change log with small pages, alternating between the
// instances. Afterwards the puller holds every committed visit at exactly its
// committed version, and its cursor never went backwards.
func TestSyncGapFreeThroughTwoServers(t *testing.T) {
	url := dbtest.NewPostgresURL(t)
	db, err := store.Open(context.Background(), store.Config{URL: url, MaxOpenConns: 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	env := testenv.New(t, db)
	servers := []string{env.URL, secondServer(t, env, url)}
	hh, err := db.CreateSimHouseholds(context.Background(), testenv.Officer1, "GF", 5)
	if err != nil {
		t.Fatal(err)
	}

	const writers, rounds = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		tok := env.Login(t, testenv.Officer1, testenv.Password, fmt.Sprintf("gf-writer-%d", w)).AccessToken
		wg.Add(1)
		go func(w int, tok string) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 11))
			base := servers[w%2]
			var mine []string
			versions := map[string]int64{}
			seq := int64(0)
			for r := 0; r < rounds; r++ {
				var ms []syncproto.Mutation
				for i, n := 0, 1+rng.IntN(20); i < n; i++ {
					seq++
					m := syncproto.Mutation{MutationID: uuid.NewString(), Seq: seq, Entity: syncproto.EntityVisit, DeviceTime: time.Now().UTC()}
					if len(mine) > 0 && rng.IntN(3) == 0 {
						m.Op, m.EntityID = syncproto.OpUpdate, mine[rng.IntN(len(mine))]
						m.BaseVersion = versions[m.EntityID]
						m.Fields = map[string]json.RawMessage{"notes": json.RawMessage(fmt.Sprintf(`"w%d r%d"`, w, r))}
					} else {
						m.Op, m.EntityID = syncproto.OpCreate, uuid.NewString()
						mine = append(mine, m.EntityID)
						m.Fields = map[string]json.RawMessage{
							"household_id": json.RawMessage(`"` + hh[rng.IntN(len(hh))] + `"`),
							"outcome":      json.RawMessage(`"visited"`),
							"started_at":   json.RawMessage(`"` + time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano) + `"`),
						}
					}
					ms = append(ms, m)
				}
				status, out := post(t, base, "/api/v1/sync/push", tok, syncproto.PushRequest{DeviceTime: time.Now().UTC(), Mutations: ms})
				if status != http.StatusOK {
					errs <- fmt.Errorf("writer %d push: %d %s", w, status, out)
					return
				}
				var resp syncproto.PushResponse
				if err := json.Unmarshal(out, &resp); err != nil {
					errs <- err
					return
				}
				for i, res := range resp.Results {
					if res.Status == syncproto.StatusRejected {
						errs <- fmt.Errorf("writer %d: rejected %+v", w, res.Rejection)
						return
					}
					versions[ms[i].EntityID] = res.Version
				}
			}
		}(w, tok)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	puller := env.Login(t, testenv.Officer1, testenv.Password, "gf-puller").AccessToken
	held := map[string]int64{}
	cursor := ""
	var lastPos int64 = -1
	pull := func(i int) bool {
		status, out := post(t, servers[i%2], "/api/v1/sync/pull", puller, syncproto.PullRequest{Cursor: cursor, Limit: 9, DeviceTime: time.Now().UTC()})
		if status != http.StatusOK {
			t.Fatalf("pull: %d %s", status, out)
		}
		var page syncproto.PullResponse
		if err := json.Unmarshal(out, &page); err != nil {
			t.Fatal(err)
		}
		for _, c := range page.Changes {
			if c.Entity == syncproto.EntityVisit {
				if c.Version < held[c.ID] {
					t.Fatalf("visit %s went back from %d to %d", c.ID, held[c.ID], c.Version)
				}
				held[c.ID] = c.Version
			}
		}
		if phase, pos := logPosition(t, page.Cursor); phase == "l" {
			if pos < lastPos {
				t.Fatalf("cursor went backwards: %d after %d", pos, lastPos)
			}
			lastPos = pos
		}
		cursor = page.Cursor
		return page.HasMore
	}
	pulls := 0
	for running := true; running; pulls++ {
		select {
		case <-done:
			running = false
		default:
			pull(pulls)
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for pull(pulls) {
		pulls++
	}
	var rows []struct {
		ID      string
		Version int64
	}
	if err := db.Gorm(context.Background()).Table("visits").Select("id, version").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 || len(held) != len(rows) {
		t.Fatalf("puller holds %d visits, %d committed", len(held), len(rows))
	}
	for _, r := range rows {
		if held[r.ID] != r.Version {
			t.Fatalf("visit %s: puller holds version %d, committed %d", r.ID, held[r.ID], r.Version)
		}
	}
	t.Logf("%d visits committed by %d writers; %d pulls while writing", len(rows), writers, pulls)
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// logPosition peeks into a cursor (opaque to devices) for its phase and
// change-log position.
func logPosition(t *testing.T, cursor string) (string, int64) {
	t.Helper()
	payload, _, _ := strings.Cut(cursor, ".")
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatalf("cursor %q: %v", cursor, err)
	}
	var c struct {
		P string `json:"p"`
		S int64  `json:"s"`
	}
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	return c.P, c.S
}
