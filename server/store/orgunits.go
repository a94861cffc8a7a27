package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"gorm.io/gorm"
)

// NewOrgUnit describes an org unit to create. ParentCode is empty for a branch.
type NewOrgUnit struct {
	Kind       string
	Code       string
	Name       string
	ParentCode string
}

var parentKind = map[string]string{KindCounty: KindBranch, KindOutlet: KindCounty}

// ErrInvalid marks input the store refuses; the message says why.
var ErrInvalid = errors.New("invalid")

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// CreateOrgUnit adds a branch, county sub-branch or outlet under its parent.
func (tx *Tx) CreateOrgUnit(n NewOrgUnit) (OrgUnit, error) {
	n.Code, n.Name = strings.TrimSpace(n.Code), strings.TrimSpace(n.Name)
	if n.Code == "" || n.Name == "" {
		return OrgUnit{}, invalidf("org unit needs a code and a name")
	}
	u := OrgUnit{ID: NewID(), Kind: n.Kind, Code: n.Code, Name: n.Name, CreatedAt: Now()}
	switch n.Kind {
	case KindBranch:
		if n.ParentCode != "" {
			return OrgUnit{}, invalidf("a branch has no parent")
		}
		u.BranchID = u.ID
		u.Path = "/" + u.ID + "/"
	case KindCounty, KindOutlet:
		var p OrgUnit
		err := tx.Where("code = ?", n.ParentCode).Take(&p).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return OrgUnit{}, invalidf("parent %q does not exist", n.ParentCode)
		}
		if err != nil {
			return OrgUnit{}, fmt.Errorf("create org unit: %w", err)
		}
		if p.Kind != parentKind[n.Kind] {
			return OrgUnit{}, invalidf("a %s must sit under a %s, not a %s", n.Kind, parentKind[n.Kind], p.Kind)
		}
		u.BranchID, u.ParentID, u.Path = p.BranchID, &p.ID, p.Path+u.ID+"/"
	default:
		return OrgUnit{}, invalidf("kind %q: want branch, county or outlet", n.Kind)
	}
	if err := tx.Create(&u).Error; err != nil {
		if IsUniqueViolation(err) {
			return OrgUnit{}, invalidf("org unit code %q already exists", n.Code)
		}
		return OrgUnit{}, fmt.Errorf("create org unit: %w", err)
	}
	return u, nil
}

// OrgUnitByCode finds an org unit by its code.
func (db *DB) OrgUnitByCode(ctx context.Context, code string) (OrgUnit, error) {
	var u OrgUnit
	err := db.gorm.WithContext(ctx).Where("code = ?", code).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return u, ErrNotFound
	}
	return u, err
}

// ListOrgUnits lists the org units the actor reaches, parents before children.
// An empty actor (operator command line) sees all.
func (db *DB) ListOrgUnits(ctx context.Context, a Actor) ([]OrgUnit, error) {
	q := db.gorm.WithContext(ctx).Model(&OrgUnit{})
	switch a.Role {
	case "", RoleAdmin:
	case RoleBranchManager:
		q = q.Where("branch_id = ?", a.BranchID)
	case RoleSupervisor:
		q = q.Where("branch_id = ? AND path LIKE ?", a.BranchID, a.OrgPath+"%")
	default:
		q = q.Where("id = ?", a.OrgUnitID)
	}
	var out []OrgUnit
	err := q.Order("path").Find(&out).Error
	return out, err
}
