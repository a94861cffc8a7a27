package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// NewUser describes an account to create.
type NewUser struct {
	Username     string
	DisplayName  string
	Role         string
	OrgUnitCode  string
	PasswordHash string
}

// Where each role may sit in the org tree.
var roleUnitKinds = map[string][]string{
	RoleOfficer:       {KindOutlet},
	RoleSupervisor:    {KindOutlet, KindCounty},
	RoleBranchManager: {KindBranch},
	RoleAdmin:         {KindBranch},
}

// CreateUser adds an account in its home org unit.
func (tx *Tx) CreateUser(n NewUser) (User, error) {
	n.Username = strings.TrimSpace(n.Username)
	if n.Username == "" || len(n.Username) > 64 || strings.ContainsAny(n.Username, " \t\r\n") {
		return User{}, invalidf("username must be 1-64 characters without spaces")
	}
	kinds, ok := roleUnitKinds[n.Role]
	if !ok {
		return User{}, invalidf("role %q: want officer, supervisor, branch_manager or admin", n.Role)
	}
	var unit OrgUnit
	err := tx.Where("code = ?", n.OrgUnitCode).Take(&unit).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return User{}, invalidf("org unit %q does not exist", n.OrgUnitCode)
	}
	if err != nil {
		return User{}, fmt.Errorf("create user: %w", err)
	}
	okKind := false
	for _, k := range kinds {
		okKind = okKind || unit.Kind == k
	}
	if !okKind {
		return User{}, invalidf("a %s belongs to a unit of kind %s, not %s", n.Role, strings.Join(kinds, " or "), unit.Kind)
	}
	now := Now()
	u := User{
		ID: NewID(), BranchID: unit.BranchID, OrgUnitID: unit.ID, Username: n.Username, DisplayName: n.DisplayName,
		Role: n.Role, Status: UserActive, PasswordHash: n.PasswordHash, CreatedAt: now, UpdatedAt: now,
	}
	if err := tx.Create(&u).Error; err != nil {
		if IsUniqueViolation(err) {
			return User{}, invalidf("username %q is taken", n.Username)
		}
		return User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// UserByUsername loads an account.
func (db *DB) UserByUsername(ctx context.Context, username string) (User, error) {
	var u User
	err := db.gorm.WithContext(ctx).Where("username = ?", username).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return u, ErrNotFound
	}
	return u, err
}

// UserWithUnit is a user and their home org unit.
type UserWithUnit struct {
	User
	UnitCode string
	UnitName string
	UnitPath string
}

// ListUsers lists the accounts the actor reaches; an empty actor (operator
// command line) sees all.
func (db *DB) ListUsers(ctx context.Context, a Actor) ([]UserWithUnit, error) {
	q := db.gorm.WithContext(ctx).Table("users u").
		Select("u.*, o.code AS unit_code, o.name AS unit_name, o.path AS unit_path").
		Joins("JOIN org_units o ON o.id = u.org_unit_id")
	switch a.Role {
	case "", RoleAdmin:
	case RoleBranchManager:
		q = q.Where("u.branch_id = ?", a.BranchID)
	case RoleSupervisor:
		q = q.Where("u.branch_id = ? AND o.path LIKE ?", a.BranchID, a.OrgPath+"%")
	default:
		q = q.Where("u.id = ?", a.UserID)
	}
	var out []UserWithUnit
	err := q.Order("o.path, u.username").Scan(&out).Error
	return out, err
}

// CountUsers counts accounts; the server warns at start when there are none.
func (db *DB) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := db.gorm.WithContext(ctx).Model(&User{}).Count(&n).Error
	return n, err
}

// SetUserStatus enables or disables an account. Disabling ends every
// session of the account's devices.
func (tx *Tx) SetUserStatus(username, status string) (User, error) {
	if status != UserActive && status != UserDisabled {
		return User{}, invalidf("status %q", status)
	}
	return tx.updateUser(username, map[string]any{"status": status, "updated_at": Now()}, status == UserDisabled)
}

// SetPasswordHash replaces an account's password and ends its sessions.
func (tx *Tx) SetPasswordHash(username, hash string) (User, error) {
	return tx.updateUser(username, map[string]any{"password_hash": hash, "updated_at": Now()}, true)
}

func (tx *Tx) updateUser(username string, fields map[string]any, endSessions bool) (User, error) {
	var u User
	err := tx.Where("username = ?", username).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return u, ErrNotFound
	}
	if err != nil {
		return u, fmt.Errorf("update user: %w", err)
	}
	if err := tx.Model(&User{}).Where("id = ?", u.ID).Updates(fields).Error; err != nil {
		return u, fmt.Errorf("update user: %w", err)
	}
	if endSessions {
		err := tx.Exec(`UPDATE refresh_tokens SET status = ? WHERE status = ? AND device_id IN (SELECT id FROM devices WHERE user_id = ?)`,
			TokenRevoked, TokenActive, u.ID).Error
		if err != nil {
			return u, fmt.Errorf("end sessions: %w", err)
		}
	}
	return u, tx.Where("id = ?", u.ID).Take(&u).Error
}
