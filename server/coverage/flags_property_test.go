package coverage_test

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/store/dbtest"
	"github.com/doorstep-dev/doorstep/server/testenv"
)

// TestFlagsDoNotDependOnArrival checks that a visit's flags are a function
// of the rows alone: visits of two officers at four households over two
// days arrive in random order and random batches, each batch written and
// checked in its own transaction as a push does; then all are checked at
// once, and that must change nothing. The checks load only a narrow
// neighbourhood of each batch (the officers' previous and next visits, the
// households' same-day visits); this is what keeps that honest.
func TestFlagsDoNotDependOnArrival(t *testing.T) {
	dbtest.Dialects(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		officers := []string{testenv.Officer1, testenv.Officer2}
		run := 0
		rapid.Check(t, func(rt *rapid.T) {
			run++
			// Each run has its own fortnight, far beyond the 48-hour
			// neighbourhood of any other run's visits.
			base := time.Date(2027, 1, 1, 0, 0, 0, 0, shanghai).AddDate(0, 0, 14*run)
			var hs []store.Household
			for i := range 4 {
				hs = append(hs, f.household("XS-01", officers[i%2]))
			}
			places := [][2]float64{{28.45, 108.99}, {28.46, 108.99}, {28.99, 109.00}}
			n := rapid.IntRange(1, 18).Draw(rt, "visits")
			var vs []store.Visit
			for i := range n {
				h := hs[rapid.IntRange(0, len(hs)-1).Draw(rt, fmt.Sprint("household", i))]
				officer := officers[rapid.IntRange(0, 1).Draw(rt, fmt.Sprint("officer", i))]
				// Up to 40 hours in steps of 20 minutes: same days, ties
				// and near-ties are all likely.
				at := base.Add(time.Duration(rapid.IntRange(0, 120).Draw(rt, fmt.Sprint("at", i))) * 20 * time.Minute)
				outcome := rapid.SampledFrom([]string{"visited", "absent", "refused"}).Draw(rt, fmt.Sprint("outcome", i))
				place := rapid.IntRange(-1, len(places)-1).Draw(rt, fmt.Sprint("place", i))
				minutes := rapid.SampledFrom([]int{1, 10}).Draw(rt, fmt.Sprint("minutes", i))
				vs = append(vs, f.newVisit(h, officer, outcome, at, func(v *store.Visit) {
					v.Lat, v.Lng = nil, nil
					if place >= 0 {
						v.Lat, v.Lng = ptr(places[place][0]), ptr(places[place][1])
					}
					e := at.Add(time.Duration(minutes) * time.Minute)
					v.EndedAt = &e
				}))
			}
			order := rapid.Permutation(vs).Draw(rt, "order")
			for len(order) > 0 {
				k := rapid.IntRange(1, len(order)).Draw(rt, "batch")
				batch := order[:k]
				order = order[k:]
				f.tx(func(tx *store.Tx) error {
					for i := range batch {
						if err := tx.Create(&batch[i]).Error; err != nil {
							return err
						}
					}
					return coverage.FlagVisits(tx, shanghai, batch[0].BranchID, visitIDs(batch))
				})
			}
			arrived := map[string]string{}
			for _, v := range vs {
				arrived[v.ID] = normalFlags(f.reload(v).Flags)
			}
			f.tx(func(tx *store.Tx) error { return coverage.FlagVisits(tx, shanghai, vs[0].BranchID, visitIDs(vs)) })
			for _, v := range vs {
				if all := normalFlags(f.reload(v).Flags); all != arrived[v.ID] {
					rt.Fatalf("visit at %s by %s: flags on arrival %s, all at once %s",
						v.VisitedAt.In(shanghai).Format("Jan 2 15:04"), v.OfficerID, arrived[v.ID], all)
				}
			}
		})
	})
}

// newVisit is visit without writing it.
func (f *fx) newVisit(h store.Household, officer, outcome string, at time.Time, mods ...func(*store.Visit)) store.Visit {
	end := at.Add(10 * time.Minute)
	dev := f.device(officer)
	v := store.Visit{
		ID: store.NewID(), BranchID: h.BranchID, HouseholdID: h.ID, OfficerID: f.users[officer].ID, OutletID: h.OutletID, DeviceID: &dev,
		Outcome: outcome, Lat: h.Lat, Lng: h.Lng, AccuracyM: ptr(10.0), StartedAt: at, EndedAt: &end, VisitedAt: at,
		ReceivedAt: at, Status: "recorded", Flags: "[]", FieldTimes: "{}", Version: 1, CreatedAt: store.Now(), UpdatedAt: store.Now(),
	}
	for _, m := range mods {
		m(&v)
	}
	return v
}

func visitIDs(vs []store.Visit) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.ID
	}
	return out
}

// normalFlags is visits.flags with JSON spacing and key order settled.
func normalFlags(raw string) string {
	return fmt.Sprintf("%v", coverage.DecodeFlags(raw))
}
