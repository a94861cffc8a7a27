package coverage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sort"

	"github.com/doorstep-dev/doorstep/server/store"
)

// A spot check is a random sample of each officer's visits in a month for
// the supervisor to verify by phone. It is reproducible: the sample is the
// visits with the smallest keyed hash of (month, officer, visit), keyed with
// the branch's stored seed, so the same visits always give the same sample,
// and a late-arriving visit can enter the sample but never reshuffle it.
// Officers cannot compute it in advance: the seed never leaves the server.

// SpotCheckRequest asks for samples of a month: one officer's, or every
// officer's in an org unit (or the actor's own unit).
type SpotCheckRequest struct {
	Month     string
	OfficerID string
	OrgID     string
	Size      string // visits per officer; default from settings, 1..50
}

// SpotCheck is one officer's sample.
type SpotCheck struct {
	OfficerID   string       `json:"officer_id"`
	OfficerName string       `json:"officer_name"`
	Population  int          `json:"population"` // the officer's visits in the month
	Visits      []ReviewItem `json:"visits"`
}

// SpotChecks answers GET /coverage/spot-checks.
type SpotChecks struct {
	Month    string      `json:"month"`
	Size     int         `json:"size"`
	Officers []SpotCheck `json:"officers"`
}

// sampleKey orders a visit within its officer's month.
func sampleKey(seed, month, officerID, visitID string) uint64 {
	m := hmac.New(sha256.New, []byte(seed))
	m.Write([]byte(month))
	m.Write([]byte{0})
	m.Write([]byte(officerID))
	m.Write([]byte{0})
	m.Write([]byte(visitID))
	return binary.BigEndian.Uint64(m.Sum(nil)[:8])
}

// Sample picks size visit ids out of ids for an officer's month. Its output
// depends only on its arguments, not on the order of ids.
func Sample(seed, month, officerID string, ids []string, size int) []string {
	type keyed struct {
		id  string
		key uint64
	}
	ks := make([]keyed, len(ids))
	for i, id := range ids {
		ks[i] = keyed{id, sampleKey(seed, month, officerID, id)}
	}
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].key != ks[j].key {
			return ks[i].key < ks[j].key
		}
		return ks[i].id < ks[j].id
	})
	if size > len(ks) {
		size = len(ks)
	}
	out := make([]string, size)
	for i := range out {
		out[i] = ks[i].id
	}
	return out
}

// SpotChecks samples each officer's visits of the month.
func (s *Service) SpotChecks(ctx context.Context, a store.Actor, req SpotCheckRequest) (SpotChecks, error) {
	m, err := s.parseMonthParam(req.Month, true)
	if err != nil {
		return SpotChecks{}, err
	}
	sc, err := s.scopeOf(ctx, a, req.OrgID, req.OfficerID)
	if err != nil {
		return SpotChecks{}, err
	}
	var set store.CoverageSettings
	err = s.db.Transact(ctx, func(tx *store.Tx) error {
		set, err = tx.EnsureCoverageSettings(sc.BranchID)
		return err
	})
	if err != nil {
		return SpotChecks{}, err
	}
	size, err := intParam("size", req.Size, set.SpotCheckSize, 1, 50)
	if err != nil {
		return SpotChecks{}, err
	}
	from, to := m.Bounds(s.loc)
	rows, err := s.db.ReviewVisits(ctx, a, store.ReviewFilter{Scope: sc, Status: store.ReviewAll, From: from, To: to})
	if err != nil {
		return SpotChecks{}, mapErr(err)
	}
	byOfficer := map[string][]store.ReviewVisit{}
	var officers []string
	for _, r := range rows {
		if _, ok := byOfficer[r.OfficerID]; !ok {
			officers = append(officers, r.OfficerID)
		}
		byOfficer[r.OfficerID] = append(byOfficer[r.OfficerID], r)
	}
	sort.Strings(officers)
	out := SpotChecks{Month: m.String(), Size: size, Officers: []SpotCheck{}}
	for _, o := range officers {
		vs := byOfficer[o]
		ids := make([]string, len(vs))
		byID := map[string]store.ReviewVisit{}
		for i, v := range vs {
			ids[i] = v.ID
			byID[v.ID] = v
		}
		check := SpotCheck{OfficerID: o, Population: len(vs), Visits: []ReviewItem{}}
		for _, id := range Sample(set.SpotCheckSeed, m.String(), o, ids, size) {
			it := reviewItemOf(byID[id])
			check.OfficerName = it.OfficerName
			check.Visits = append(check.Visits, it)
		}
		out.Officers = append(out.Officers, check)
	}
	return out, nil
}
