package store

import (
	"fmt"
	"sort"
)

// Change-log operations.
const (
	OpUpsert      = "upsert"
	OpDelete      = "delete"
	OpScopeAdd    = "scope_add"    // a household entered the audience user's scope
	OpScopeRemove = "scope_remove" // a household left the audience user's scope
)

// Change notes that a record changed in this transaction. The record's state
// is read from its table when a device pulls.
type Change struct {
	BranchID       string
	Entity         string
	EntityID       string
	Op             string
	HouseholdID    string
	AudienceUserID string
}

type pendingChange = Change

// RecordChange buffers a change-log row. The rows are written, and their
// change number allocated, as the transaction's last step.
func (tx *Tx) RecordChange(c Change) {
	tx.changes = append(tx.changes, c)
}

// flushChanges allocates one change number per branch for this transaction and
// writes the buffered rows. The counter row stays locked until commit, so
// change numbers of a branch become visible in order: a reader that sees
// number n also sees every number below it. Branches are locked in sorted
// order so two transactions never deadlock on them.
func (tx *Tx) flushChanges() error {
	if len(tx.changes) == 0 {
		return nil
	}
	byBranch := map[string][]Change{}
	for _, c := range tx.changes {
		byBranch[c.BranchID] = append(byBranch[c.BranchID], c)
	}
	branches := make([]string, 0, len(byBranch))
	for b := range byBranch {
		branches = append(branches, b)
	}
	sort.Strings(branches)
	now := Now()
	for _, b := range branches {
		var seq int64
		err := tx.Raw(`INSERT INTO change_counters (branch_id, last_seq) VALUES (?, 1)
			ON CONFLICT (branch_id) DO UPDATE SET last_seq = change_counters.last_seq + 1
			RETURNING last_seq`, b).Scan(&seq).Error
		if err != nil {
			return fmt.Errorf("allocate change number: %w", err)
		}
		cs := byBranch[b]
		rows := make([][]any, len(cs))
		for i, c := range cs {
			rows[i] = []any{b, seq, i, c.Entity, c.EntityID, c.Op, nilIfEmpty(c.HouseholdID), nilIfEmpty(c.AudienceUserID), now}
		}
		if _, err := tx.bulkExec(changeInsert, rows); err != nil {
			return fmt.Errorf("write change log: %w", err)
		}
	}
	tx.changes = nil
	return nil
}

// changeInsert writes change-log rows (bulkExec: the branch, the change
// number and the time go once per statement).
var changeInsert = insertStmt("changes", syncCols(`branch_id text, seq int8, ord int4, entity text, entity_id text, op text,
	household_id text, audience_user_id text, created_at timestamptz`))

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
