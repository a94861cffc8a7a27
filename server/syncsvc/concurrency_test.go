package syncsvc_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Gap-freedom under load on Postgres, where transactions commit out of
// order: eight writers on two engine instances with separate connection
// pools (two servers over one database) create and edit visits in batches of
// random size while a puller follows the change log with small pages. After
// the writers stop and the puller catches up, the puller must hold every
// committed visit at exactly its committed version, its cursor must never
// have gone backwards, and no record may ever have gone back to an older
// version on it.
func TestPullIsGapFreeUnderConcurrentWriters(t *testing.T) {
	url := dbtest.NewPostgresURL(t)
	ctx := context.Background()
	open := func() *store.DB {
		db, err := store.Open(ctx, store.Config{URL: url, MaxOpenConns: 12})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	dbA, dbB := open(), open()
	f := newFx(t, dbA)
	svcB := syncsvc.New(dbB, syncsvc.Options{PII: f.codec})
	services := []*syncsvc.Service{f.svc, svcB}

	const writers, rounds = 8, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		a := f.actor("officer1", fmt.Sprintf("writer-%d", w))
		wg.Add(1)
		go func(w int, a store.Actor) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			svc := services[w%2]
			d := &device{f: f, a: a}
			var mine []string
			versions := map[string]int64{}
			for r := 0; r < rounds; r++ {
				var ms []syncproto.Mutation
				for i, n := 0, 1+rng.IntN(15); i < n; i++ {
					if len(mine) > 0 && rng.IntN(3) == 0 {
						id := mine[rng.IntN(len(mine))]
						d.seq++
						ms = append(ms, d.mm(mut{entity: syncproto.EntityVisit, op: syncproto.OpUpdate, id: id, base: versions[id], seq: d.seq,
							fields: map[string]any{"notes": fmt.Sprintf("w%d r%d i%d", w, r, i)}}))
						continue
					}
					id := newID()
					mine = append(mine, id)
					d.seq++
					ms = append(ms, d.mm(mut{entity: syncproto.EntityVisit, op: syncproto.OpCreate, id: id, seq: d.seq, fields: visitFields(f.hh1[rng.IntN(len(f.hh1))])}))
				}
				resp, err := svc.Push(ctx, a, syncproto.PushRequest{DeviceTime: time.Now().UTC(), Mutations: ms})
				if err != nil {
					errs <- err
					return
				}
				for i, res := range resp.Results {
					if res.Status == syncproto.StatusRejected {
						errs <- fmt.Errorf("writer %d: %s rejected: %+v", w, ms[i].EntityID, res.Rejection)
						return
					}
					versions[ms[i].EntityID] = res.Version
				}
			}
		}(w, a)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	puller := f.actor("officer1", "puller")
	held := map[string]int64{}
	cursor := ""
	lastPos := int64(-1)
	pull := func(i int) bool {
		resp, err := services[i%2].Pull(ctx, puller, syncproto.PullRequest{Cursor: cursor, Limit: 7})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range resp.Changes {
			if c.Entity != syncproto.EntityVisit {
				continue
			}
			if c.Version < held[c.ID] {
				t.Fatalf("visit %s went back from version %d to %d", c.ID, held[c.ID], c.Version)
			}
			held[c.ID] = c.Version
		}
		if phase, pos := cursorPosition(t, resp.Cursor); phase == "l" {
			if pos < lastPos {
				t.Fatalf("cursor went backwards: %d after %d", pos, lastPos)
			}
			lastPos = pos
		}
		cursor = resp.Cursor
		return resp.HasMore
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
	if err := dbA.Gorm(ctx).Table("visits").Select("id, version").Scan(&rows).Error; err != nil {
		t.Fatal(err)
	}
	if len(rows) == 0 {
		t.Fatal("no visits written")
	}
	for _, r := range rows {
		if held[r.ID] != r.Version {
			t.Fatalf("visit %s: puller holds version %d, committed %d", r.ID, held[r.ID], r.Version)
		}
	}
	if len(held) != len(rows) {
		t.Fatalf("puller holds %d visits, %d committed", len(held), len(rows))
	}
	t.Logf("%d visits, %d pulls while writing", len(rows), pulls)
}
