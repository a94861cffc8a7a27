package registry_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"testing"

	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
)

// Rotating the data key: re-seal everything, drop the old key, and the
// numbers still open and are still found. Rotating the blind-index key:
// rebuild the indexes, and the same list re-imports as unchanged.
func TestRekeyAfterKeyRotation(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		oct := cleaned(t, readSample(t, "monitoring-list-2026-10.csv"))
		row := sampleHousehold(t, oct)
		w.commit(t, w.manager, w.preview(t, w.manager, "oct.csv", oct).ID)
		oldKey := w.sec.DataKeys[0].ID

		newKey := make([]byte, 32)
		rand.Read(newKey)
		rotated := *w.sec
		rotated.DataKeys = append([]secrets.DataKey{{ID: "k-new", Key: newKey}}, w.sec.DataKeys...)
		svc := registry.New(w.db, &rotated, registry.Options{Now: w.clock})
		if _, err := svc.Rekey(ctx, w.manager, nil); err == nil {
			t.Fatal("a branch manager rotated keys")
		}
		res, err := svc.Rekey(ctx, w.admin, nil)
		total := w.count(t, "SELECT COUNT(*) FROM households")
		if err != nil || int64(res.Households) != total || int64(res.Resealed) != total {
			t.Fatalf("rekey = %+v, %v; want all %d households re-sealed", res, err, total)
		}
		var hs []store.Household
		w.db.Gorm(ctx).Find(&hs)
		for _, h := range hs {
			if kid, _ := pii.KeyID(h.IDNumberEnc); kid != "k-new" {
				t.Fatalf("household %s still sealed under %q", h.HouseholdNo, kid)
			}
		}
		again, _ := svc.Rekey(ctx, w.admin, nil)
		if again.Resealed != 0 {
			t.Fatalf("second rekey re-sealed %d", again.Resealed)
		}

		// Drop the old key: everything still opens.
		onlyNew := rotated
		onlyNew.DataKeys = rotated.DataKeys[:1]
		if onlyNew.DataKeys[0].ID == oldKey {
			t.Fatal("test setup")
		}
		svc = registry.New(w.db, &onlyNew, registry.Options{Now: w.clock})
		found, _, err := svc.Households(ctx, w.manager, registry.HouseholdQuery{IDNumber: row.IDNumber})
		if err != nil || len(found) != 1 {
			t.Fatalf("lookup after rotation: %d, %v", len(found), err)
		}
		got, err := svc.Reveal(ctx, w.supWX01, found[0].ID, registry.RevealInput{Reason: "密钥轮换后核对"})
		if err != nil || got.IDNumber != row.IDNumber || got.Phone != row.Phone {
			t.Fatalf("reveal after dropping the old key: %+v %v", got, err)
		}

		// New blind-index key: indexes rebuilt, lookups work, the same list is unchanged.
		newIdx := onlyNew
		newIdx.BlindIndexKey = make([]byte, 32)
		rand.Read(newIdx.BlindIndexKey)
		svc = registry.New(w.db, &newIdx, registry.Options{Now: w.clock})
		if _, err := svc.Rekey(ctx, w.admin, nil); err != nil {
			t.Fatal(err)
		}
		found, _, _ = svc.Households(ctx, w.manager, registry.HouseholdQuery{Phone: row.Phone})
		if len(found) != 1 {
			t.Fatalf("phone lookup after index rotation found %d", len(found))
		}
		d, err := svc.Compute(ctx, w.manager, registry.ImportInput{Data: bytes.NewReader(oct)})
		if err != nil || d.HasChanges() || int64(d.Summary.Unchanged) != total {
			t.Fatalf("re-import after index rotation: %+v %v", d.Summary, err)
		}
	})
}
