package store_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
)

// A bulk write stores every row as given, whether a column varies from row
// to row or holds one value throughout (sent once on Postgres, from
// foldFrom rows up), NULLs included.
func TestWriteVisitsStoresEachRowAsGiven(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		prov, err := db.ProvisionSim(ctx, store.SimProvision{Prefix: "bulk-", Officers: 1, HouseholdsPerOfficer: 3, PasswordHash: "x"})
		if err != nil {
			t.Fatal(err)
		}
		var u store.User
		if err := db.Gorm(ctx).Where("username = ?", prov.Usernames[0]).Take(&u).Error; err != nil {
			t.Fatal(err)
		}
		var hh []store.Household
		if err := db.Gorm(ctx).Where("officer_id = ?", u.ID).Order("id").Find(&hh).Error; err != nil || len(hh) != 3 {
			t.Fatalf("households: %v %d", err, len(hh))
		}
		at := time.Date(2026, 11, 5, 9, 0, 0, 0, time.UTC)
		lat, lng := 28.45, 108.99
		note := "复查"
		rows := make([]store.Visit, 40)
		for i := range rows {
			h := hh[i%len(hh)]
			rows[i] = store.Visit{ID: store.NewID(), BranchID: u.BranchID, HouseholdID: h.ID, OfficerID: u.ID, OutletID: h.OutletID,
				Outcome: "visited", Notes: fmt.Sprintf("第 %d 次", i), StartedAt: at.Add(time.Duration(i) * time.Hour),
				VisitedAt: at.Add(time.Duration(i) * time.Hour), ReceivedAt: at, Status: "recorded", Flags: `["gps_missing"]`, FieldTimes: `{"*": 1}`,
				Version: 1, CreatedAt: at, UpdatedAt: at}
		}
		rows[1].Lat, rows[1].Lng = &lat, &lng // a pointer column, NULL in the other rows
		rows[2].ReviewedBy, rows[2].ReviewNote = &note, "'; DROP TABLE visits; --"
		if err := db.Transact(ctx, func(tx *store.Tx) error { return tx.WriteVisits(rows) }); err != nil {
			t.Fatal(err)
		}
		for _, want := range rows {
			var got store.Visit
			if err := db.Gorm(ctx).Where("branch_id = ? AND id = ?", want.BranchID, want.ID).Take(&got).Error; err != nil {
				t.Fatal(err)
			}
			type key struct {
				Household, Notes, Note string
				Flags, FieldTimes      string
				Lat, Lng               *float64
				ReviewedBy             *string
				Started, Received      time.Time
				Version                int64
			}
			k := func(v store.Visit) key {
				return key{v.HouseholdID, v.Notes, v.ReviewNote, v.Flags, v.FieldTimes, v.Lat, v.Lng, v.ReviewedBy, v.StartedAt.UTC(), v.ReceivedAt.UTC(), v.Version}
			}
			if g, w := k(got), k(want); !reflect.DeepEqual(g, w) {
				t.Fatalf("stored %+v, wrote %+v", g, w)
			}
		}
	})
}
