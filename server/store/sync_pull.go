package store

import (
	"context"
	"database/sql"
	"fmt"

	"gorm.io/gorm"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// The queries of the sync engine's pull. An officer's sync scope is the
// households ScopeHouseholds gives them, everything under those households
// (visits, plans, needs, loan applications, whoever recorded them), the
// branch's active loan products and the open tasks addressed to them.

// ReadSnapshot runs fn in a read-only transaction that sees one snapshot of
// the database: REPEATABLE READ on Postgres, so the change log, the counter
// and the record tables agree with each other for the whole pull. (SQLite
// has one connection and one writer, so any transaction is a snapshot.)
func (db *DB) ReadSnapshot(ctx context.Context, fn func(tx *Tx) error) error {
	var opts []*sql.TxOptions
	if db.dialect == Postgres {
		opts = append(opts, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	}
	return db.gorm.WithContext(ctx).Transaction(func(g *gorm.DB) error {
		return fn(&Tx{DB: g, db: db})
	}, opts...)
}

// BranchHead is the branch's last committed change number, 0 before the
// first change.
func (tx *Tx) BranchHead(branchID string) (int64, error) {
	var seqs []int64
	if err := tx.Raw(`SELECT last_seq FROM change_counters WHERE branch_id = ?`, branchID).Scan(&seqs).Error; err != nil {
		return 0, fmt.Errorf("read change counter: %w", err)
	}
	if len(seqs) == 0 {
		return 0, nil
	}
	return seqs[0], nil
}

func (tx *Tx) scopeIDs(a Actor) *gorm.DB {
	return a.ScopeHouseholds(tx.Table("households AS h").Select("h.id"), "h")
}

// changesFor selects the change-log rows the actor may see: rows addressed
// to them, and unaddressed rows that are branch-wide (no household) or
// about a household now in their scope.
func (tx *Tx) changesFor(a Actor) *gorm.DB {
	return tx.Model(&ChangeRow{}).
		Where("branch_id = ?", a.BranchID).
		Where("(audience_user_id = ? OR (audience_user_id IS NULL AND (household_id IS NULL OR household_id IN (?))))",
			a.UserID, tx.scopeIDs(a))
}

// ChangesFor returns up to limit visible change-log rows with
// after < seq <= upTo, in (seq, ord) order.
func (tx *Tx) ChangesFor(a Actor, after, upTo int64, limit int) ([]ChangeRow, error) {
	var out []ChangeRow
	err := tx.changesFor(a).Where("seq > ? AND seq <= ?", after, upTo).Order("seq, ord").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	return out, nil
}

// ChangesAt returns every visible change-log row of one change number.
func (tx *Tx) ChangesAt(a Actor, seq int64) ([]ChangeRow, error) {
	var out []ChangeRow
	if err := tx.changesFor(a).Where("seq = ?", seq).Order("ord").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("read change log: %w", err)
	}
	return out, nil
}

// ScopeHouseholdIDs lists the ids of the households the actor reaches.
func (tx *Tx) ScopeHouseholdIDs(a Actor) ([]string, error) {
	var ids []string
	if err := tx.scopeIDs(a).Pluck("h.id", &ids).Error; err != nil {
		return nil, fmt.Errorf("read scope: %w", err)
	}
	return ids, nil
}

// --- Snapshot pages, in id order -------------------------------------------

// PageHouseholds returns the next households of the actor's scope after afterID.
func (tx *Tx) PageHouseholds(a Actor, afterID string, limit int) ([]Household, error) {
	var out []Household
	q := a.ScopeHouseholds(tx.Table("households AS h").Select("h.*"), "h").Where("h.id > ?", afterID).Order("h.id").Limit(limit)
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("page households: %w", err)
	}
	return out, nil
}

// PageLoanProducts returns the next active loan products of the branch.
func (tx *Tx) PageLoanProducts(a Actor, afterID string, limit int) ([]LoanProduct, error) {
	var out []LoanProduct
	err := tx.Where("branch_id = ? AND active = ? AND id > ?", a.BranchID, true, afterID).Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("page loan products: %w", err)
	}
	return out, nil
}

// Task statuses.
const (
	TaskOpen      = "open"
	TaskDone      = "done"
	TaskCancelled = "cancelled"
)

// PageTasks returns the next open tasks addressed to the actor.
func (tx *Tx) PageTasks(a Actor, afterID string, limit int) ([]Task, error) {
	var out []Task
	err := tx.Where("branch_id = ? AND officer_id = ? AND status = ? AND id > ?", a.BranchID, a.UserID, TaskOpen, afterID).
		Order("id").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("page tasks: %w", err)
	}
	return out, nil
}

// --- Loads by id and by household, for the change-log phase ----------------

// TasksByID loads tasks addressed to the actor.
func (tx *Tx) TasksByID(a Actor, ids []string) ([]Task, error) {
	var out []Task
	if len(ids) == 0 {
		return out, nil
	}
	if err := tx.Where("branch_id = ? AND officer_id = ? AND id IN ?", a.BranchID, a.UserID, ids).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("load tasks: %w", err)
	}
	return out, nil
}

// RejectionsByID loads rejection rows of the conflict log addressed to the actor.
func (tx *Tx) RejectionsByID(a Actor, ids []string) ([]Conflict, error) {
	var out []Conflict
	if len(ids) == 0 {
		return out, nil
	}
	err := tx.Where("branch_id = ? AND user_id = ? AND kind = ? AND id IN ?", a.BranchID, a.UserID, ConflictRejection, ids).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("load rejections: %w", err)
	}
	return out, nil
}

func underHouseholds[T any](tx *Tx, a Actor, what string, householdIDs []string) ([]T, error) {
	var out []T
	if len(householdIDs) == 0 {
		return out, nil
	}
	err := tx.Where("branch_id = ? AND deleted_at IS NULL AND household_id IN ?", a.BranchID, householdIDs).Order("id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	return out, nil
}

// Bundle is a household with everything under it, delivered when the
// household enters an officer's scope.
type Bundle struct {
	Households []Household
	Visits     []Visit
	Plans      []VisitPlan
	Needs      []FinancingNeed
	Loans      []LoanApplication
}

// RecordsUnder loads the live visits, plans, needs and loan applications
// of the given households, which the caller has from ScopeHouseholdIDs in
// the same transaction (Households stays empty).
func (tx *Tx) RecordsUnder(a Actor, householdIDs []string) (Bundle, error) {
	var b Bundle
	var err error
	if b.Visits, err = underHouseholds[Visit](tx, a, "visits", householdIDs); err != nil {
		return b, err
	}
	if b.Plans, err = underHouseholds[VisitPlan](tx, a, "visit plans", householdIDs); err != nil {
		return b, err
	}
	if b.Needs, err = underHouseholds[FinancingNeed](tx, a, "financing needs", householdIDs); err != nil {
		return b, err
	}
	b.Loans, err = underHouseholds[LoanApplication](tx, a, "loan applications", householdIDs)
	return b, err
}

// BundlesInScope loads whole households (live records only) among ids that
// the actor reaches.
func (tx *Tx) BundlesInScope(a Actor, householdIDs []string) (Bundle, error) {
	var b Bundle
	var err error
	if b.Households, err = tx.HouseholdsInScope(a, householdIDs, false); err != nil || len(b.Households) == 0 {
		return b, err
	}
	ids := make([]string, len(b.Households))
	for i, h := range b.Households {
		ids[i] = h.ID
	}
	under, err := tx.RecordsUnder(a, ids)
	under.Households = b.Households
	return under, err
}

// --- Digest ---------------------------------------------------------------

// RecordVersion names one record of a device's scope.
type RecordVersion struct {
	Entity  string
	ID      string
	Version int64
}

// ScopeVersions lists every record the actor's device should hold, with its
// version: the same sets the snapshot pages deliver.
func (tx *Tx) ScopeVersions(a Actor) ([]RecordVersion, error) {
	var out []RecordVersion
	add := func(entity string, q *gorm.DB) error {
		var rows []struct {
			ID      string
			Version int64
		}
		if err := q.Scan(&rows).Error; err != nil {
			return fmt.Errorf("digest %s: %w", entity, err)
		}
		for _, r := range rows {
			out = append(out, RecordVersion{Entity: entity, ID: r.ID, Version: r.Version})
		}
		return nil
	}
	under := func(table string) *gorm.DB {
		return tx.Table(table).Select("id, version").Where("branch_id = ? AND deleted_at IS NULL AND household_id IN (?)", a.BranchID, tx.scopeIDs(a))
	}
	steps := []struct {
		entity string
		q      *gorm.DB
	}{
		{syncproto.EntityHousehold, a.ScopeHouseholds(tx.Table("households AS h").Select("h.id, h.version"), "h")},
		{syncproto.EntityVisit, under("visits")},
		{syncproto.EntityVisitPlan, under("visit_plans")},
		{syncproto.EntityNeed, under("financing_needs")},
		{syncproto.EntityLoan, under("loan_applications")},
		{syncproto.EntityLoanProduct, tx.Table("loan_products").Select("id, version").Where("branch_id = ? AND active = ?", a.BranchID, true)},
		{syncproto.EntityTask, tx.Table("tasks").Select("id, version").Where("branch_id = ? AND officer_id = ? AND status = ?", a.BranchID, a.UserID, TaskOpen)},
	}
	for _, s := range steps {
		if err := add(s.entity, s.q); err != nil {
			return nil, err
		}
	}
	return out, nil
}
