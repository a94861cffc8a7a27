package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// ConflictQuery pages through the conflict log, newest first.
type ConflictQuery struct {
	Kind  string // "", ConflictField or ConflictRejection
	Limit int
	// Before is the keyset position: rows strictly older than
	// (BeforeAt, BeforeID) in (created_at, id) descending order.
	BeforeAt time.Time
	BeforeID string
}

// scopeConflicts restricts q to the conflicts the actor answers for:
// supervisors see the outlets of their subtree, branch managers their
// branch, admins everything. Officers and unknown roles see nothing here
// (their own verdicts reach them through sync).
func (a Actor) scopeConflicts(q *gorm.DB) *gorm.DB {
	switch a.Role {
	case RoleAdmin:
		return q
	case RoleBranchManager:
		return q.Where("branch_id = ?", a.BranchID)
	case RoleSupervisor:
		return q.Where("branch_id = ? AND outlet_id IN (SELECT id FROM org_units WHERE path LIKE ?)", a.BranchID, a.OrgPath+"%")
	default:
		return q.Where("1 = 0")
	}
}

// ListConflicts returns up to q.Limit conflict-log rows in the actor's scope.
func (db *DB) ListConflicts(ctx context.Context, a Actor, q ConflictQuery) ([]Conflict, error) {
	var out []Conflict
	g := a.scopeConflicts(db.gorm.WithContext(ctx).Model(&Conflict{}))
	if q.Kind != "" {
		g = g.Where("kind = ?", q.Kind)
	}
	if q.BeforeID != "" {
		g = g.Where("(created_at < ? OR (created_at = ? AND id < ?))", q.BeforeAt, q.BeforeAt, q.BeforeID)
	}
	if err := g.Order("created_at DESC, id DESC").Limit(q.Limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list conflicts: %w", err)
	}
	return out, nil
}
