package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/testenv"
	"github.com/doorstep-dev/doorstep/syncproto/client"
)

// The monthly cycle end to end, through the real server and the reference
// device client: October's list is imported and a supervisor hands whole
// villages to officer1; November's list adds, removes and changes
// households; after one sync officer1's phone holds exactly the households
// the server says are theirs — the new ones of their villages included, the
// removed ones gone — with phones in clear and ID numbers masked.
func TestMonthlyListReachesTheOfficersDevice(t *testing.T) {
	testenv.ForEachDB(t, func(t *testing.T, env *testenv.Env) {
		ctx := context.Background()
		mgr := env.Login(t, testenv.Manager1, testenv.Password, "mgr").AccessToken
		sup := env.Login(t, testenv.Supervisor1, testenv.Password, "sup").AccessToken
		officer1 := env.User(t, testenv.Officer1)
		importAndCommit := func(name string, data []byte) {
			_, body := upload(t, env, mgr, name, data)
			p := decode[importJSON](t, body)
			if !p.Import.Summary.Committable {
				t.Fatalf("%s: %+v", name, p.Import.Summary)
			}
			env.DoStatus(t, http.StatusOK, http.MethodPost, "/api/v1/imports/"+p.Import.ID+"/commit", mgr, nil)
		}
		importAndCommit("oct.csv", regCleaned(t, regSample(t, "monitoring-list-2026-10.csv")))

		// The supervisor gives officer1 every household of 梅江镇 and 隘口镇.
		var ids []string
		if err := env.DB.Gorm(ctx).Raw(`SELECT id FROM households WHERE township IN ('梅江镇', '隘口镇') AND list_status = 'active'`).Scan(&ids).Error; err != nil || len(ids) == 0 {
			t.Fatalf("fixture households: %d %v", len(ids), err)
		}
		env.DoStatus(t, http.StatusOK, http.MethodPost, "/api/v1/assignments", sup,
			map[string]any{"household_ids": ids, "officer_id": officer1.ID, "due_on": "2099-12-31"})

		phone, err := client.Open(ctx, t.TempDir(), client.Options{BaseURL: env.URL})
		if err != nil {
			t.Fatal(err)
		}
		defer phone.Close()
		if _, err := phone.Login(ctx, testenv.Officer1, testenv.Password, "officer1 phone"); err != nil {
			t.Fatal(err)
		}
		if _, err := phone.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		held := deviceHouseholds(t, phone)
		if len(held) != len(ids) {
			t.Fatalf("officer1's phone holds %d households, want %d", len(held), len(ids))
		}

		importAndCommit("nov.csv", regCleaned(t, regSample(t, "monitoring-list-2026-11.csv")))
		var want []string
		env.DB.Gorm(ctx).Raw(`SELECT id FROM households WHERE officer_id = ? AND list_status = 'active'`, officer1.ID).Scan(&want)
		var fresh int64
		env.DB.Gorm(ctx).Raw(`SELECT COUNT(*) FROM households h JOIN list_snapshots s ON s.id = h.snapshot_id
			WHERE h.officer_id = ? AND s.version = 2 AND h.version = 1`, officer1.ID).Scan(&fresh)
		var gone int64
		env.DB.Gorm(ctx).Raw(`SELECT COUNT(*) FROM assignments WHERE officer_id = ? AND end_reason = 'removed_from_list'`, officer1.ID).Scan(&gone)
		if fresh == 0 || gone == 0 {
			t.Fatalf("the November list should bring officer1 new households (%d) and take some away (%d)", fresh, gone)
		}

		rep, err := phone.SyncWith(ctx, client.SyncOptions{Digest: true})
		if err != nil || rep.Diverged {
			t.Fatalf("sync after November: %+v %v", rep, err)
		}
		held = deviceHouseholds(t, phone)
		if len(held) != len(want) {
			t.Fatalf("officer1's phone holds %d households after November, the server says %d", len(held), len(want))
		}
		for _, id := range want {
			h, ok := held[id]
			if !ok {
				t.Fatalf("household %s is officer1's but not on the phone", id)
			}
			if !strings.Contains(h.IDNumberMasked, "********") || (h.Phone != "" && strings.Contains(h.Phone, "*")) {
				t.Fatalf("device household %s: id %q phone %q; want ID masked, phone in clear", id, h.IDNumberMasked, h.Phone)
			}
		}
	}, testenv.WithConfig(func(c *config.Config) { c.ReportClose = "off" }))
}

func deviceHouseholds(t *testing.T, c *client.Client) map[string]struct{ IDNumberMasked, Phone string } {
	t.Helper()
	hs, err := c.Households(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]struct{ IDNumberMasked, Phone string }{}
	for _, h := range hs {
		out[h.ID] = struct{ IDNumberMasked, Phone string }{h.IDNumberMasked, h.Phone}
	}
	return out
}
