package registry

import (
	"context"
	"fmt"

	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/store"
)

// RekeyResult says what Rekey did.
type RekeyResult struct {
	Households int // households read
	Resealed   int // households whose numbers were re-sealed or re-indexed
	Previews   int // pending previews discarded
}

// Rekey re-seals every stored ID and phone number under the newest data key
// and rebuilds their blind indexes with the current blind-index key, so that
// older keys can be dropped from the secrets file. Pending previews are
// discarded (upload the file again). It is safe to run again, and to stop:
// each batch commits on its own.
func (s *Service) Rekey(ctx context.Context, a store.Actor, progress func(done int)) (RekeyResult, error) {
	var res RekeyResult
	if s.codecErr != nil {
		return res, s.codecErr
	}
	if a.Role != store.RoleAdmin {
		return res, forbidden("只有管理员可以轮换密钥", "only admins may rotate keys")
	}
	n, err := s.db.DiscardPendingPreviews(ctx)
	if err != nil {
		return res, err
	}
	res.Previews = n
	afterB, afterID := "", ""
	for {
		rows, err := s.db.SealedHouseholds(ctx, afterB, afterID, 1000)
		if err != nil {
			return res, err
		}
		if len(rows) == 0 {
			return res, nil
		}
		var changed []store.SealedHousehold
		for _, r := range rows {
			nr, ok, err := s.reseal(r)
			if err != nil {
				return res, fmt.Errorf("household %s: %w", r.ID, err)
			}
			if ok {
				changed = append(changed, nr)
			}
		}
		if err := s.db.ResealHouseholds(ctx, a, changed); err != nil {
			return res, err
		}
		res.Households += len(rows)
		res.Resealed += len(changed)
		afterB, afterID = rows[len(rows)-1].BranchID, rows[len(rows)-1].ID
		if progress != nil {
			progress(res.Households)
		}
	}
}

func (s *Service) reseal(r store.SealedHousehold) (store.SealedHousehold, bool, error) {
	id, err := s.codec.Open(pii.IDNumber, r.IDNumberEnc)
	if err != nil {
		return r, false, err
	}
	phone, err := s.codec.Open(pii.Phone, r.PhoneEnc)
	if err != nil {
		return r, false, err
	}
	out := r
	if s.codec.NeedsRotation(r.IDNumberEnc) {
		if out.IDNumberEnc, err = s.codec.Seal(pii.IDNumber, id); err != nil {
			return r, false, err
		}
	}
	if s.codec.NeedsRotation(r.PhoneEnc) {
		if out.PhoneEnc, err = s.codec.Seal(pii.Phone, phone); err != nil {
			return r, false, err
		}
	}
	out.IDNumberBidx, out.IDNumberMasked = s.codec.BlindIndex(pii.IDNumber, id), pii.Mask(pii.IDNumber, id)
	out.PhoneBidx, out.PhoneMasked = s.codec.BlindIndex(pii.Phone, phone), pii.Mask(pii.Phone, phone)
	// The list's own phone is known only by its index; when the officer has
	// not changed the phone it is the same number, re-indexed with it.
	if r.ListPhoneBidx == r.PhoneBidx {
		out.ListPhoneBidx = out.PhoneBidx
	}
	changed := string(out.IDNumberEnc) != string(r.IDNumberEnc) || string(out.PhoneEnc) != string(r.PhoneEnc) ||
		out.IDNumberBidx != r.IDNumberBidx || out.PhoneBidx != r.PhoneBidx || out.ListPhoneBidx != r.ListPhoneBidx ||
		out.IDNumberMasked != r.IDNumberMasked || out.PhoneMasked != r.PhoneMasked
	return out, changed, nil
}
