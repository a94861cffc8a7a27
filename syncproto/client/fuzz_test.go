package client

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// Pages and push answers come off the network. Whatever they hold, applying
// them must not panic, and a page that cannot be applied must leave the
// device exactly as it was: records, outbox and cursor.

func snapshotState(t *testing.T, c *Client) (string, string, int) {
	t.Helper()
	d, err := c.Digest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Session(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n, err := c.PendingCount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return d, s.Cursor, n
}

func FuzzApplyPage(f *testing.F) {
	seeds := []string{
		`{"cursor":"c2","has_more":false,"changes":[{"entity":"household","id":"h9","op":"upsert","version":2,"data":{"id":"h9","household_no":"H9","version":2}}]}`,
		`{"cursor":"c2","changes":[{"entity":"household","id":"` + hh1 + `","op":"remove","household_id":"` + hh1 + `"}]}`,
		`{"cursor":"c2","changes":[{"entity":"visit","id":"v1","op":"delete","household_id":"` + hh1 + `","version":3}]}`,
		`{"cursor":"c2","changes":[{"entity":"rejection","id":"r1","op":"upsert","data":{"id":"r1","mutation_id":"m1","entity":"visit","entity_id":"v1","rejection":{"code":"out_of_scope","message":"x"}}}]}`,
		`{"cursor":"c2","changes":[{"entity":"visit","id":"v2","op":"upsert","version":1}]}`,
		`{"cursor":"c2","changes":[{"entity":"visit","id":"v2","op":"upsert","version":1,"data":[1,2]}]}`,
		`{"cursor":"c2","changes":[{"entity":"visit","id":"v3","op":"frobnicate"}]}`,
		`{"cursor":"","changes":[{"entity":"rejection","id":"r2","op":"upsert","data":{"mutation_id":""}}]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var resp syncproto.PullResponse
		if json.Unmarshal(raw, &resp) != nil {
			return
		}
		c := openTest(t, t.TempDir())
		seedHouseholds(t, c)
		if _, err := c.CreateVisit(context.Background(), VisitInput{HouseholdID: hh1, Outcome: syncproto.OutcomeVisited}); err != nil {
			t.Fatal(err)
		}
		d0, cur0, n0 := snapshotState(t, c)
		var rep SyncReport
		err := c.applyPage(context.Background(), resp, &rep)
		d1, cur1, n1 := snapshotState(t, c)
		if err != nil {
			if d0 != d1 || cur0 != cur1 || n0 != n1 {
				t.Fatalf("a refused page changed the device: %v", err)
			}
			return
		}
		if resp.Cursor != "" && cur1 != resp.Cursor {
			t.Fatalf("cursor = %q after a page with %q", cur1, resp.Cursor)
		}
		if n1 > n0 {
			t.Fatal("a page grew the outbox")
		}
	})
}

func FuzzStoreResults(f *testing.F) {
	f.Add([]byte(`[{"mutation_id":"M0","status":"accepted","version":1,"current":{"id":"X","version":1}}]`))
	f.Add([]byte(`[{"mutation_id":"M0","status":"rejected","rejection":{"code":"not_found","message":"x"},"current":null}]`))
	f.Add([]byte(`[{"mutation_id":"M0","status":"merged","version":2,"conflicts":[{"field":"notes","rule":"r","device_value":1,"server_value":"s","winner":"server"}]}]`))
	f.Add([]byte(`[{"mutation_id":"M0","status":"weird"}]`))
	f.Add([]byte(`[{"mutation_id":"M0","status":"accepted","current":"not an object"}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		var results []syncproto.MutationResult
		if json.Unmarshal(raw, &results) != nil {
			return
		}
		c := openTest(t, t.TempDir())
		seedHouseholds(t, c)
		if _, err := c.CreateVisit(context.Background(), VisitInput{HouseholdID: hh1, Outcome: syncproto.OutcomeVisited}); err != nil {
			t.Fatal(err)
		}
		batch, err := c.loadBatch(context.Background(), 10)
		if err != nil || len(batch) != 1 {
			t.Fatalf("batch of %d: %v %+v", len(batch), err, batch)
		}
		// Aim the fuzzed results at the real mutation.
		for i := range results {
			if results[i].MutationID == "M0" {
				results[i].MutationID = batch[0].MutationID
			}
		}
		d0, cur0, n0 := snapshotState(t, c)
		var rep SyncReport
		n, err := c.storeResults(context.Background(), batch, results, &rep)
		d1, cur1, n1 := snapshotState(t, c)
		if err != nil {
			if d0 != d1 || cur0 != cur1 || n0 != n1 {
				t.Fatalf("refused results changed the device: %v", err)
			}
			return
		}
		if n1 != n0-n {
			t.Fatalf("outbox went from %d to %d with %d answered", n0, n1, n)
		}
	})
}
