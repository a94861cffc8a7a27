package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// HouseholdSearch narrows a household listing. Empty fields do not filter.
type HouseholdSearch struct {
	IDNumberBidx string // blind index of an ID number
	PhoneBidx    string // blind index of a phone number
	HouseholdNo  string
	OfficerID    string
	OutletID     string
	CountyID     string
	Township     string
	Village      string
	Status       string // "active" (default), "removed" or "all"
	Unassigned   bool   // only households without an officer
	Offset       int
	Limit        int
}

// HouseholdView is a household as staff screens show it: personal numbers
// masked, never sealed bytes, with its current assignment.
type HouseholdView struct {
	ID             string
	BranchID       string
	HouseholdNo    string
	HeadName       string
	IDNumberMasked string `gorm:"column:id_number_masked"`
	PhoneMasked    string
	Province       string
	City           string
	County         string
	Township       string
	Village        string
	FamilySize     int
	Category       string
	RiskType       string
	HasLabor       bool
	RiskEliminated bool
	IdentifiedOn   string
	ListStatus     string
	RemovedAt      *time.Time
	CountyID       *string
	OutletID       *string
	OfficerID      *string
	OutletName     string
	OfficerName    string
	OutletDueOn    string
	OfficerDueOn   string
	AssignedAt     *time.Time
	Version        int64
	UpdatedAt      time.Time
}

const householdViewCols = `h.id, h.branch_id, h.household_no, h.head_name, h.id_number_masked, h.phone_masked, h.province, h.city,
	h.county, h.township, h.village, h.family_size, h.category, h.risk_type, h.has_labor, h.risk_eliminated,
	h.identified_on, h.list_status, h.removed_at, h.county_id, h.outlet_id, h.officer_id,
	COALESCE(o.name, '') AS outlet_name, COALESCE(NULLIF(u.display_name, ''), u.username, '') AS officer_name,
	COALESCE(s.outlet_due_on, '') AS outlet_due_on, COALESCE(s.officer_due_on, '') AS officer_due_on,
	s.assigned_at, h.version, h.updated_at`

func householdViewQuery(q *gorm.DB, a Actor) *gorm.DB {
	q = q.Table("households h").
		Joins("LEFT JOIN org_units o ON o.id = h.outlet_id").
		Joins("LEFT JOIN users u ON u.id = h.officer_id").
		Joins("LEFT JOIN assignments s ON s.branch_id = h.branch_id AND s.household_id = h.id AND s.ended_at IS NULL")
	return a.ScopeHouseholds(q, "h")
}

// ListHouseholds lists the households the actor reaches that match f, with
// the total count for paging.
func (db *DB) ListHouseholds(ctx context.Context, a Actor, f HouseholdSearch) ([]HouseholdView, int64, error) {
	q := householdViewQuery(db.gorm.WithContext(ctx), a)
	switch f.Status {
	case "", ListActive:
		q = q.Where("h.list_status = 'active'")
	case ListRemoved:
		q = q.Where("h.list_status = 'removed'")
	case "all":
	default:
		return nil, 0, apperr.Invalid("status", "status 应为 active、removed 或 all", "status must be active, removed or all")
	}
	// The blind-index lookups lead with branch_id where the actor has one,
	// so they use the (branch_id, *_bidx) indexes.
	if f.IDNumberBidx != "" {
		q = q.Where("h.id_number_bidx = ?", f.IDNumberBidx)
	}
	if f.PhoneBidx != "" {
		q = q.Where("h.phone_bidx = ?", f.PhoneBidx)
	}
	for col, v := range map[string]string{"h.household_no": f.HouseholdNo, "h.officer_id": f.OfficerID, "h.outlet_id": f.OutletID,
		"h.county_id": f.CountyID, "h.township": f.Township, "h.village": f.Village} {
		if v != "" {
			q = q.Where(col+" = ?", v)
		}
	}
	if f.Unassigned {
		q = q.Where("h.officer_id IS NULL")
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count households: %w", err)
	}
	var out []HouseholdView
	err := q.Select(householdViewCols).Order("h.county, h.township, h.village, h.household_no").
		Offset(f.Offset).Limit(f.Limit).Scan(&out).Error
	if err != nil {
		return nil, 0, fmt.Errorf("list households: %w", err)
	}
	return out, total, nil
}

// HouseholdView loads one household the actor reaches, masked.
func (db *DB) HouseholdView(ctx context.Context, a Actor, id string) (HouseholdView, error) {
	var out []HouseholdView
	err := householdViewQuery(db.gorm.WithContext(ctx), a).Select(householdViewCols).Where("h.id = ?", id).Limit(1).Scan(&out).Error
	if err != nil {
		return HouseholdView{}, fmt.Errorf("load household: %w", err)
	}
	if len(out) == 0 {
		return HouseholdView{}, ErrNotFound
	}
	return out[0], nil
}

// Revealable fields.
const (
	RevealIDNumber = "id_number"
	RevealPhone    = "phone"
)

// RevealHousehold lets staff above the officer read a household's personal
// numbers in clear, for a stated reason. The reveal is written to the audit
// log (who, which household, which fields, why; never the values) in the same
// transaction as open, which decrypts: if open fails nothing is logged.
func (db *DB) RevealHousehold(ctx context.Context, a Actor, id string, fields []string, reason string, open func(Household) error) error {
	if a.Role != RoleSupervisor && a.Role != RoleBranchManager && a.Role != RoleAdmin {
		return apperr.New(syncproto.CodeForbidden, "只有主管、分行经理和管理员可以查看完整证件号码和电话",
			"only supervisors, branch managers and admins may see full ID and phone numbers")
	}
	return db.Transact(ctx, func(tx *Tx) error {
		var h Household
		err := a.ScopeHouseholds(tx.Table("households h"), "h").Select("h.*").Where("h.id = ?", id).Take(&h).Error
		if err == gorm.ErrRecordNotFound {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("load household: %w", err)
		}
		if err := open(h); err != nil {
			return err
		}
		return tx.Audit(a, "household.reveal", "household", h.ID, map[string]any{
			"fields": strings.Join(fields, ","), "reason": reason, "household_no": h.HouseholdNo,
		})
	})
}
