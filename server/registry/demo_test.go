package registry_test

import (
	"context"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/registry/importfile"
	"github.com/doorstep-dev/doorstep/server/store"
)

func TestSeedDemoHouseholds(t *testing.T) {
	dbtestDialects(t, func(t *testing.T, w *world) {
		ctx := context.Background()
		now := func() time.Time { return time.Date(2026, 11, 18, 4, 0, 0, 0, time.UTC) }
		res, err := registry.SeedDemoHouseholds(ctx, w.db, w.sec, registry.DemoOptions{Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if !res.Seeded || res.Households != 500 || res.Visits == 0 || res.Plans == 0 {
			t.Fatalf("seed = %+v", res)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM households WHERE list_status = 'active' AND outlet_id IS NOT NULL"); n != 500 {
			t.Fatalf("households with an outlet = %d", n)
		}
		for _, o := range []store.Actor{w.officer1, w.officer2, w.officer3} {
			if n := w.count(t, "SELECT COUNT(*) FROM households WHERE officer_id = ?", o.UserID); n < 20 {
				t.Errorf("%s holds %d households", o.Username, n)
			}
			if n := w.count(t, "SELECT COUNT(*) FROM visits WHERE officer_id = ?", o.UserID); n == 0 {
				t.Errorf("%s has no visits", o.Username)
			}
		}
		// Valid but fictitious ID numbers, sealed; phones sealed too.
		var hs []store.Household
		w.db.Gorm(ctx).Find(&hs)
		codec, _ := w.svc.Codec()
		for _, h := range hs {
			id, err := codec.Open(pii.IDNumber, h.IDNumberEnc)
			if err != nil || !importfile.ValidIDNumber(id) {
				t.Fatalf("household %s: ID %q (%v)", h.HouseholdNo, pii.Mask(pii.IDNumber, id), err)
			}
			if len(h.PhoneEnc) == 0 || h.County == "" {
				t.Fatalf("household %s incomplete", h.HouseholdNo)
			}
		}
		p, err := w.svc.Progress(ctx, w.manager, registry.ProgressInput{Level: "officer", Since: "2026-11-01"})
		if err != nil || p.Total.Visited != int64(res.Visits) {
			t.Fatalf("progress = %+v, %v; want %d visited", p.Total, err, res.Visits)
		}
		again, err := registry.SeedDemoHouseholds(ctx, w.db, w.sec, registry.DemoOptions{Now: now})
		if err != nil || again.Seeded {
			t.Fatalf("second seed = %+v, %v", again, err)
		}
		if n := w.count(t, "SELECT COUNT(*) FROM households"); n != 500 {
			t.Fatalf("households after a second seed = %d", n)
		}
	})
}
