package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// Actor is who is acting: the authenticated user, their role and the org unit
// subtree they answer for. Every query on household data takes one.
type Actor struct {
	UserID    string
	Username  string
	Role      string
	BranchID  string
	OrgUnitID string
	OrgPath   string // materialised path of the home org unit, e.g. /b/c/o/
	DeviceID  string // the device row, for device-bound tokens
	RequestID string
}

// Roles.
const (
	RoleOfficer       = "officer"
	RoleSupervisor    = "supervisor"
	RoleBranchManager = "branch_manager"
	RoleAdmin         = "admin"
)

// Roles lists every role, for validation.
var Roles = []string{RoleOfficer, RoleSupervisor, RoleBranchManager, RoleAdmin}

// This is the one place where reach is decided:
//   - an officer reaches only the households assigned to them;
//   - a supervisor reaches the households of their org unit subtree;
//   - a branch manager reaches their branch;
//   - an admin reaches everything.

// ScopeHouseholds restricts q, which selects from households under alias, to
// the households the actor may reach.
func (a Actor) ScopeHouseholds(q *gorm.DB, alias string) *gorm.DB {
	col := func(c string) string { return alias + "." + c }
	switch a.Role {
	case RoleAdmin:
		return q
	case RoleBranchManager:
		return q.Where(col("branch_id")+" = ?", a.BranchID)
	case RoleSupervisor:
		sub := "SELECT id FROM org_units WHERE path LIKE ?"
		prefix := a.OrgPath + "%"
		return q.Where(col("branch_id")+" = ? AND ("+col("outlet_id")+" IN ("+sub+") OR "+col("county_id")+" IN ("+sub+"))",
			a.BranchID, prefix, prefix)
	case RoleOfficer:
		return q.Where(col("branch_id")+" = ? AND "+col("officer_id")+" = ?", a.BranchID, a.UserID)
	default:
		return q.Where("1 = 0")
	}
}

// ReachesOrgUnit reports whether the actor's subtree contains the unit.
func (a Actor) ReachesOrgUnit(u OrgUnit) bool {
	switch a.Role {
	case RoleAdmin:
		return true
	case RoleBranchManager:
		return u.BranchID == a.BranchID
	case RoleSupervisor:
		return u.BranchID == a.BranchID && strings.HasPrefix(u.Path, a.OrgPath)
	default:
		return false
	}
}

// ReachesUser reports whether the actor may manage or see the given user:
// themselves, or anyone in their org subtree (supervisors up).
func (a Actor) ReachesUser(u User, unit OrgUnit) bool {
	if u.ID == a.UserID {
		return true
	}
	return a.ReachesOrgUnit(unit)
}

// IsStaff reports whether the role supervises (everything but officer).
func (a Actor) IsStaff() bool { return a.Role != RoleOfficer && a.Role != "" }

// Audit appends an entry to the audit log within the transaction.
func (tx *Tx) Audit(a Actor, action, targetType, targetID string, details any) error {
	e, err := auditEntry(a, action, targetType, targetID, details)
	if err != nil {
		return err
	}
	if err := tx.Create(&e).Error; err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

// AuditTarget is one target of AuditMany and what is recorded about it.
type AuditTarget struct {
	ID      string
	Details any
}

var auditInsert = bulkStmt{
	table: "audit_log",
	cols: []syncColumn{{"branch_id", "text"}, {"actor_id", "text"}, {"actor_role", "text"}, {"action", "text"},
		{"target_type", "text"}, {"target_id", "text"}, {"details", "jsonb"}, {"request_id", "text"}, {"created_at", "timestamptz"}},
}

// AuditMany appends one entry per target, all by the same actor and action,
// in one statement per chunk: for the system's own findings about a whole
// batch of records.
func (tx *Tx) AuditMany(a Actor, action, targetType string, targets []AuditTarget) error {
	rows := make([][]any, 0, len(targets))
	for _, t := range targets {
		e, err := auditEntry(a, action, targetType, t.ID, t.Details)
		if err != nil {
			return err
		}
		rows = append(rows, []any{e.BranchID, e.ActorID, e.ActorRole, e.Action, e.TargetType, e.TargetID, e.Details, e.RequestID, e.CreatedAt})
	}
	if _, err := tx.bulkExec(auditInsert, rows); err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

func auditEntry(a Actor, action, targetType, targetID string, details any) (AuditEntry, error) {
	body := "{}"
	if details != nil {
		b, err := json.Marshal(details)
		if err != nil {
			return AuditEntry{}, fmt.Errorf("audit: %w", err)
		}
		body = string(b)
	}
	return AuditEntry{
		BranchID: a.BranchID, ActorID: a.UserID, ActorRole: a.Role, Action: action,
		TargetType: targetType, TargetID: targetID, Details: body, RequestID: a.RequestID, CreatedAt: Now(),
	}, nil
}

// OrgUnit loads one org unit by id.
func (db *DB) OrgUnit(ctx context.Context, id string) (OrgUnit, error) {
	var u OrgUnit
	err := db.gorm.WithContext(ctx).Where("id = ?", id).Take(&u).Error
	if err == gorm.ErrRecordNotFound {
		return u, ErrNotFound
	}
	return u, err
}
