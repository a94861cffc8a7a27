package store

import (
	"context"
	"fmt"
)

// Re-sealing personal numbers after a key rotation. New values are sealed
// under the newest data key at once; the values already stored are re-sealed
// by walking the table in key order, a batch per transaction, so that an old
// key can be dropped once nothing uses it. The walk also rebuilds the blind
// indexes, which makes it the way to move to a new blind-index key.

// SealedHousehold is what re-sealing reads and writes of one household.
type SealedHousehold struct {
	BranchID       string
	ID             string
	IDNumberEnc    []byte `gorm:"column:id_number_enc"`
	IDNumberBidx   string `gorm:"column:id_number_bidx"`
	IDNumberMasked string `gorm:"column:id_number_masked"`
	PhoneEnc       []byte
	PhoneBidx      string
	PhoneMasked    string
	ListPhoneBidx  string
}

// SealedHouseholds returns up to limit households after (branchID, id) in
// key order; start with empty strings.
func (db *DB) SealedHouseholds(ctx context.Context, afterBranch, afterID string, limit int) ([]SealedHousehold, error) {
	var out []SealedHousehold
	err := db.gorm.WithContext(ctx).Raw(`SELECT branch_id, id, id_number_enc, id_number_bidx, id_number_masked,
			phone_enc, phone_bidx, phone_masked, list_phone_bidx
		FROM households WHERE branch_id > ? OR (branch_id = ? AND id > ?)
		ORDER BY branch_id, id LIMIT ?`, afterBranch, afterBranch, afterID, limit).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("read sealed households: %w", err)
	}
	return out, nil
}

// ResealHouseholds writes re-sealed numbers back. The record's content does
// not change, so neither its version nor the change log does; the audit log
// records the batch.
func (db *DB) ResealHouseholds(ctx context.Context, a Actor, rows []SealedHousehold) error {
	if len(rows) == 0 {
		return nil
	}
	return db.Transact(ctx, func(tx *Tx) error {
		for _, r := range rows {
			if _, err := tx.exec(`UPDATE households SET id_number_enc = ?, id_number_bidx = ?, id_number_masked = ?,
					phone_enc = ?, phone_bidx = ?, phone_masked = ?, list_phone_bidx = ?
				WHERE branch_id = ? AND id = ?`,
				blob(r.IDNumberEnc), r.IDNumberBidx, r.IDNumberMasked, blob(r.PhoneEnc), r.PhoneBidx, r.PhoneMasked, r.ListPhoneBidx,
				r.BranchID, r.ID); err != nil {
				return fmt.Errorf("reseal household: %w", err)
			}
		}
		return tx.Audit(a, "pii.reseal", "household", rows[0].ID, map[string]any{"households": len(rows), "last": rows[len(rows)-1].ID})
	})
}

// DiscardPendingPreviews discards every uncommitted preview, whose staged
// rows were sealed under whatever key was current; the files can simply be
// uploaded again.
func (db *DB) DiscardPendingPreviews(ctx context.Context) (int, error) {
	var n int
	err := db.Transact(ctx, func(tx *Tx) error {
		var ps []struct{ ID, BranchID string }
		if err := tx.Raw(`SELECT id, branch_id FROM list_snapshots WHERE status = 'previewed'`).Scan(&ps).Error; err != nil {
			return fmt.Errorf("pending previews: %w", err)
		}
		for _, p := range ps {
			if err := tx.discardPreviews(p.BranchID, []string{p.ID}); err != nil {
				return err
			}
		}
		n = len(ps)
		return nil
	})
	return n, err
}
