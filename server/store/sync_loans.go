package store

import (
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// LoanInScope loads a loan application whose household the actor reaches,
// and that household, both locked for update. ErrNotFound otherwise.
func (tx *Tx) LoanInScope(a Actor, id string) (LoanApplication, Household, error) {
	var l LoanApplication
	err := tx.locked(tx.Where("branch_id = ? AND id = ? AND deleted_at IS NULL", a.BranchID, id), true).Take(&l).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return l, Household{}, ErrNotFound
	}
	if err != nil {
		return l, Household{}, fmt.Errorf("load loan application: %w", err)
	}
	hs, err := tx.HouseholdsInScope(a, []string{l.HouseholdID}, true)
	if err != nil {
		return l, Household{}, err
	}
	if len(hs) == 0 {
		return LoanApplication{}, Household{}, ErrNotFound
	}
	return l, hs[0], nil
}

// SaveLoanDecision writes a bank-side transition of a loan application read
// with LoanInScope: status and the decision fields, with Version already
// bumped by one. The change is recorded so the officer's device learns it.
func (tx *Tx) SaveLoanDecision(l LoanApplication) error {
	res := tx.Model(&LoanApplication{}).Where("branch_id = ? AND id = ? AND version = ?", l.BranchID, l.ID, l.Version-1).
		Updates(map[string]any{
			"status": l.Status, "decided_by": l.DecidedBy, "decided_at": l.DecidedAt, "decision_note": l.DecisionNote,
			"disbursed_at": l.DisbursedAt, "version": l.Version, "updated_at": l.UpdatedAt,
		})
	if res.Error != nil {
		return fmt.Errorf("save loan decision: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("save loan decision: %w", ErrWriteRace)
	}
	tx.RecordChange(Change{BranchID: l.BranchID, Entity: syncproto.EntityLoan, EntityID: l.ID, Op: OpUpsert, HouseholdID: l.HouseholdID})
	return nil
}

// SaveLoanProduct inserts a loan product or replaces one (the caller bumps
// Version), and records the change: every officer of the branch receives
// active products, and an inactive one is withdrawn from their devices.
func (tx *Tx) SaveLoanProduct(p LoanProduct) error {
	if p.Version <= 1 {
		p.Version = 1
		if err := tx.Create(&p).Error; err != nil {
			return fmt.Errorf("save loan product: %w", err)
		}
	} else {
		res := tx.Model(&LoanProduct{}).Where("branch_id = ? AND id = ? AND version = ?", p.BranchID, p.ID, p.Version-1).
			Select("code", "name", "max_amount_fen", "max_term_months", "collateral_required", "government_guaranteed",
				"interest_subsidy", "active", "version", "updated_at").Updates(&p)
		if res.Error != nil {
			return fmt.Errorf("save loan product: %w", res.Error)
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("save loan product: %w", ErrWriteRace)
		}
	}
	tx.RecordChange(Change{BranchID: p.BranchID, Entity: syncproto.EntityLoanProduct, EntityID: p.ID, Op: OpUpsert})
	return nil
}
