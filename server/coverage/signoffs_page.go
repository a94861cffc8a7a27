package coverage

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/doorstep-dev/doorstep/server/store"
)

// SignoffsPage pages through the sign-offs of the scope's outlets (sort keys
// in store.SignoffSorts; the search matches the outlet's code or name or the
// signer) with their total.
func (s *Service) SignoffsPage(ctx context.Context, a store.Actor, req SignoffsRequest, p store.ListPage) ([]Signoff, int64, error) {
	sc, month, err := s.signoffScope(ctx, a, req)
	if err != nil {
		return nil, 0, err
	}
	rows, total, err := s.db.CoverageSignoffsPage(ctx, a, sc, month, p)
	if err != nil {
		return nil, 0, err
	}
	out, err := signoffsOf(rows)
	return out, total, err
}

// signoffScope reads a sign-off listing's month (empty for every month) and
// scope.
func (s *Service) signoffScope(ctx context.Context, a store.Actor, req SignoffsRequest) (store.CoverageScope, string, error) {
	month := ""
	if req.Month != "" {
		m, err := s.parseMonthParam(req.Month, true)
		if err != nil {
			return store.CoverageScope{}, "", err
		}
		month = m.String()
	}
	sc, err := s.scopeOf(ctx, a, req.OrgID, "")
	return sc, month, err
}

func signoffsOf(rows []store.SignoffRow) ([]Signoff, error) {
	out := make([]Signoff, 0, len(rows))
	for _, r := range rows {
		so := Signoff{ID: r.ID, OutletID: r.OutletID, OutletCode: r.OutletCode, OutletName: r.OutletName, Month: r.Month,
			SignedBy: r.SignedBy, SignerName: r.SignerName, SignedAt: r.SignedAt, Note: r.Note, Current: r.SupersededBy == nil}
		if so.SignerName == "" {
			so.SignerName = r.SignerUsername
		}
		if r.SupersedesID != nil {
			so.SupersedesID = *r.SupersedesID
		}
		if r.SupersededBy != nil {
			so.SupersededBy = *r.SupersededBy
		}
		if err := json.Unmarshal([]byte(r.Figures), &so.Figures); err != nil {
			return nil, fmt.Errorf("decode sign-off figures: %w", err)
		}
		out = append(out, so)
	}
	return out, nil
}
