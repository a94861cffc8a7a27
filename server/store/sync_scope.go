package store

import (
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// RecordScopeChange notes in the change log that a household moved from one
// officer to another, in the transaction that changes households.officer_id:
//
//   - scope_remove, addressed to the old officer: their devices drop the
//     household and everything under it on their next pull;
//   - scope_add, addressed to the new officer: their devices receive the
//     whole household (household, visits, plans, needs, loan applications).
//
// Either officer id may be empty (a household without an officer). Nothing is
// recorded when they are equal. The registry calls this from its own
// assignment code; ReassignHousehold below is a complete reassignment built on
// it.
func (tx *Tx) RecordScopeChange(branchID, householdID, fromOfficerID, toOfficerID string) {
	if fromOfficerID == toOfficerID {
		return
	}
	if fromOfficerID != "" {
		tx.RecordChange(Change{BranchID: branchID, Entity: syncproto.EntityHousehold, EntityID: householdID,
			Op: OpScopeRemove, HouseholdID: householdID, AudienceUserID: fromOfficerID})
	}
	if toOfficerID != "" {
		tx.RecordChange(Change{BranchID: branchID, Entity: syncproto.EntityHousehold, EntityID: householdID,
			Op: OpScopeAdd, HouseholdID: householdID, AudienceUserID: toOfficerID})
	}
}

// Reassignment moves one household to an outlet and officer.
type Reassignment struct {
	HouseholdID string
	OutletID    string // empty keeps the household's outlet
	OfficerID   string // empty leaves the household without an officer
	DueOn       string // the officer's deadline, YYYY-MM-DD or empty
	Reason      string // why the previous assignment ended
}

// ReassignHousehold ends the household's current assignment, opens a new
// one, points the household at the new outlet and officer, and records the
// scope change for both officers' devices. The actor must be staff reaching
// the household and the new outlet; the new officer must be an active
// officer whose home unit is that outlet. Returns ErrNotFound when the
// household is outside the actor's reach, ErrInvalid for a bad target.
func (tx *Tx) ReassignHousehold(a Actor, r Reassignment) (Household, error) {
	if !a.IsStaff() {
		return Household{}, ErrNotFound
	}
	hs, err := tx.HouseholdsInScope(a, []string{r.HouseholdID}, true)
	if err != nil {
		return Household{}, err
	}
	if len(hs) == 0 {
		return Household{}, ErrNotFound
	}
	h := hs[0]
	outletID := r.OutletID
	if outletID == "" && h.OutletID != nil {
		outletID = *h.OutletID
	}
	if outletID == "" {
		return h, invalidf("the household has no outlet; name one")
	}
	var outlet OrgUnit
	if err := tx.Where("id = ?", outletID).Take(&outlet).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return h, invalidf("outlet does not exist")
		}
		return h, fmt.Errorf("reassign: %w", err)
	}
	if outlet.Kind != KindOutlet || outlet.BranchID != h.BranchID || !a.ReachesOrgUnit(outlet) {
		return h, invalidf("the target must be an outlet of the household's branch within your reach")
	}
	if r.OfficerID != "" {
		var u User
		err := tx.Where("id = ?", r.OfficerID).Take(&u).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return h, invalidf("officer does not exist")
		}
		if err != nil {
			return h, fmt.Errorf("reassign: %w", err)
		}
		if u.Role != RoleOfficer || u.Status != UserActive || u.BranchID != h.BranchID || u.OrgUnitID != outlet.ID {
			return h, invalidf("the officer must be an active loan officer of the target outlet")
		}
	}
	oldOfficer := ""
	if h.OfficerID != nil {
		oldOfficer = *h.OfficerID
	}
	oldOutlet := ""
	if h.OutletID != nil {
		oldOutlet = *h.OutletID
	}
	if oldOfficer == r.OfficerID && oldOutlet == outletID {
		return h, nil
	}
	now := Now()
	var cur []Assignment
	if err := tx.Where("branch_id = ? AND household_id = ? AND ended_at IS NULL", h.BranchID, h.ID).Find(&cur).Error; err != nil {
		return h, fmt.Errorf("reassign: %w", err)
	}
	outletDue := ""
	reason := r.Reason
	if reason == "" {
		reason = "reassigned"
	}
	for _, c := range cur {
		if c.OutletID == outletID {
			outletDue = c.OutletDueOn
		}
		err := tx.Model(&Assignment{}).Where("branch_id = ? AND id = ?", c.BranchID, c.ID).
			Updates(map[string]any{"ended_at": now, "end_reason": reason}).Error
		if err != nil {
			return h, fmt.Errorf("reassign: end assignment: %w", err)
		}
	}
	asg := Assignment{ID: NewID(), BranchID: h.BranchID, HouseholdID: h.ID, OutletID: outletID,
		OutletDueOn: outletDue, OfficerDueOn: r.DueOn, AssignedBy: nullable(a.UserID), AssignedAt: now}
	if r.OfficerID != "" {
		asg.OfficerID = &r.OfficerID
	}
	if err := tx.Create(&asg).Error; err != nil {
		return h, fmt.Errorf("reassign: open assignment: %w", err)
	}
	h.OutletID, h.CountyID, h.OfficerID = &outletID, outlet.ParentID, asg.OfficerID
	h.Version++
	h.UpdatedAt = now
	res := tx.Model(&Household{}).Where("branch_id = ? AND id = ? AND version = ?", h.BranchID, h.ID, h.Version-1).
		Updates(map[string]any{"outlet_id": h.OutletID, "county_id": h.CountyID, "officer_id": h.OfficerID,
			"version": h.Version, "updated_at": now})
	if res.Error != nil {
		return h, fmt.Errorf("reassign: %w", res.Error)
	}
	if res.RowsAffected != 1 {
		return h, fmt.Errorf("reassign: %w", ErrWriteRace)
	}
	tx.RecordChange(Change{BranchID: h.BranchID, Entity: syncproto.EntityHousehold, EntityID: h.ID, Op: OpUpsert, HouseholdID: h.ID})
	tx.RecordScopeChange(h.BranchID, h.ID, oldOfficer, r.OfficerID)
	return h, tx.Audit(a, "household.reassign", "household", h.ID, map[string]string{
		"from_officer": oldOfficer, "to_officer": r.OfficerID, "from_outlet": oldOutlet, "to_outlet": outletID,
	})
}
