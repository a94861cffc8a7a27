package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// AssignRequest hands households to an officer with a deadline.
type AssignRequest struct {
	HouseholdIDs []string
	OfficerID    string
	DueOn        string // YYYY-MM-DD; "" keeps the deadline the household had in its outlet
}

// AssignResult counts what an assignment did.
type AssignResult struct {
	Assigned   int `json:"assigned"`    // households that moved to the officer
	DueChanged int `json:"due_changed"` // already the officer's; only the deadline changed
	Unchanged  int `json:"unchanged"`
}

// openAssignment is the current assignment of a household.
type openAssignment struct {
	ID           string
	HouseholdID  string
	OutletID     string
	OfficerID    *string
	OutletDueOn  string
	OfficerDueOn string
}

// officerFor loads an officer the actor may hand work to: an active officer
// whose outlet lies in the actor's subtree.
func (tx *Tx) officerFor(a Actor, officerID string) (User, OrgUnit, error) {
	var u User
	err := tx.Where("id = ?", officerID).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return u, OrgUnit{}, apperr.Invalid("officer_id", "客户经理不存在", "no such officer")
	}
	if err != nil {
		return u, OrgUnit{}, fmt.Errorf("load officer: %w", err)
	}
	var unit OrgUnit
	if err := tx.Where("id = ?", u.OrgUnitID).Take(&unit).Error; err != nil {
		return u, unit, fmt.Errorf("load officer's unit: %w", err)
	}
	if !a.ReachesOrgUnit(unit) {
		if a.Role == RoleAdmin || unit.BranchID == a.BranchID {
			return u, unit, apperr.New(syncproto.CodeForbidden, "该客户经理不在您管辖的机构内", "that officer is outside your part of the organisation").With("field", "officer_id")
		}
		return u, unit, apperr.Invalid("officer_id", "客户经理不存在", "no such officer")
	}
	if u.Role != RoleOfficer || unit.Kind != KindOutlet {
		return u, unit, apperr.Invalid("officer_id", "只能分配给网点的客户经理", "households can only be assigned to an outlet's loan officer")
	}
	if u.Status != UserActive {
		return u, unit, apperr.Invalid("officer_id", "该客户经理账号已停用", "that officer's account is disabled")
	}
	return u, unit, nil
}

// scopedHouseholds loads the households among ids the actor reaches.
func (tx *Tx) scopedHouseholds(a Actor, ids []string) (map[string]Household, error) {
	out := make(map[string]Household, len(ids))
	err := chunks(ids, 1000, func(part []string) error {
		var hs []Household
		q := a.ScopeHouseholds(tx.Table("households h"), "h").Select("h.*").Where("h.id IN ?", part)
		if err := q.Find(&hs).Error; err != nil {
			return err
		}
		for _, h := range hs {
			out[h.ID] = h
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load households: %w", err)
	}
	return out, nil
}

func (tx *Tx) openAssignments(branchID string, ids []string) (map[string]openAssignment, error) {
	out := make(map[string]openAssignment, len(ids))
	err := chunks(ids, 1000, func(part []string) error {
		var rows []openAssignment
		if err := tx.Raw(`SELECT id, household_id, outlet_id, officer_id, outlet_due_on, officer_due_on FROM assignments
			WHERE branch_id = ? AND ended_at IS NULL AND household_id IN ?`, branchID, part).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			out[r.HouseholdID] = r
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load assignments: %w", err)
	}
	return out, nil
}

// AssignHouseholds gives households to an officer, singly or in bulk. The
// supervisor must reach the officer and every household; a household of
// another outlet moves to the officer's outlet. Each change of hands ends the
// open assignment and opens a new one, so the history of who was responsible
// when is kept, and the sync log tells the old officer's device to drop the
// household and the new officer's device to fetch it. Nothing is written
// unless every household can be assigned.
func (db *DB) AssignHouseholds(ctx context.Context, a Actor, r AssignRequest) (AssignResult, error) {
	var res AssignResult
	if a.Role != RoleSupervisor && a.Role != RoleBranchManager && a.Role != RoleAdmin {
		return res, apperr.New(syncproto.CodeForbidden, "只有主管及以上可以分配走访任务", "only supervisors and above may assign households")
	}
	err := db.Transact(ctx, func(tx *Tx) error {
		res = AssignResult{}
		// Households first: what lies outside the actor's reach is not found.
		hs, err := tx.scopedHouseholds(a, r.HouseholdIDs)
		if err != nil {
			return err
		}
		var missing []string
		for _, id := range r.HouseholdIDs {
			if _, ok := hs[id]; !ok {
				missing = append(missing, id)
			}
		}
		if len(missing) > 0 {
			return apperr.NotFound.With("household_ids", firstN(missing, 20)).With("missing", len(missing))
		}
		officer, unit, err := tx.officerFor(a, r.OfficerID)
		if err != nil {
			return err
		}
		var removed, foreign []string
		for _, id := range r.HouseholdIDs {
			h := hs[id]
			switch {
			case h.BranchID != officer.BranchID:
				foreign = append(foreign, id)
			case h.ListStatus != ListActive:
				removed = append(removed, id)
			}
		}
		if len(foreign) > 0 {
			return apperr.Invalid("household_ids", "户与客户经理不属于同一分行", "the households and the officer belong to different branches").With("household_ids", firstN(foreign, 20))
		}
		if len(removed) > 0 {
			return apperr.New(syncproto.CodeConflict, "部分农户已不在监测名单中，不能分配", "some households are no longer on the monitoring list and cannot be assigned").
				With("reason", "removed_from_list").With("household_ids", firstN(removed, 20))
		}
		open, err := tx.openAssignments(officer.BranchID, r.HouseholdIDs)
		if err != nil {
			return err
		}
		var moves []householdMove
		var dueOnly []string
		for _, id := range r.HouseholdIDs {
			h := hs[id]
			cur, hasOpen := open[id]
			if deref(h.OfficerID) == officer.ID && deref(h.OutletID) == unit.ID && hasOpen {
				if r.DueOn == "" || r.DueOn == cur.OfficerDueOn {
					res.Unchanged++
				} else {
					dueOnly = append(dueOnly, id)
				}
				continue
			}
			mv := householdMove{HouseholdID: id, FromOfficer: deref(h.OfficerID), ToOutlet: unit.ID, ToCounty: deref(unit.ParentID), ToOfficer: officer.ID, OfficerDue: r.DueOn}
			if hasOpen && cur.OutletID == unit.ID {
				mv.OutletDue = cur.OutletDueOn
				if mv.OfficerDue == "" {
					mv.OfficerDue = cur.OfficerDueOn
				}
			}
			moves = append(moves, mv)
		}
		if err := tx.moveHouseholds(officer.BranchID, a, moves, EndReassigned); err != nil {
			return err
		}
		if err := tx.setOfficerDue(officer.BranchID, dueOnly, r.DueOn); err != nil {
			return err
		}
		res.Assigned, res.DueChanged = len(moves), len(dueOnly)
		if len(moves)+len(dueOnly) == 0 {
			return nil
		}
		return tx.Audit(a, "households.assign", "user", officer.ID, map[string]any{
			"due_on": r.DueOn, "assigned": res.Assigned, "due_changed": res.DueChanged, "household_ids": firstN(r.HouseholdIDs, 1000),
		})
	})
	return res, err
}

// setOfficerDue moves the officer's deadline of households that stay with
// their officer; the device shows the deadline, so the household is re-sent.
func (tx *Tx) setOfficerDue(branchID string, ids []string, due string) error {
	now := Now()
	err := chunks(ids, 1000, func(part []string) error {
		args := append([]any{due, branchID}, toAny(part)...)
		if _, err := tx.exec(`UPDATE assignments SET officer_due_on = ? WHERE branch_id = ? AND ended_at IS NULL
			AND household_id IN (`+placeholders(len(part))+`)`, args...); err != nil {
			return err
		}
		args = append([]any{now, branchID}, toAny(part)...)
		_, err := tx.exec(`UPDATE households SET version = version + 1, updated_at = ? WHERE branch_id = ?
			AND id IN (`+placeholders(len(part))+`)`, args...)
		return err
	})
	if err != nil {
		return fmt.Errorf("set deadline: %w", err)
	}
	for _, id := range ids {
		tx.RecordChange(Change{BranchID: branchID, Entity: entityHousehold, EntityID: id, Op: OpUpsert, HouseholdID: id})
	}
	return nil
}

func firstN(ids []string, n int) []string {
	if len(ids) <= n {
		return ids
	}
	return ids[:n]
}

// SetOutletDeadline sets the deadline by which an outlet must have visited
// all its current households. It is set from above the outlet: a county
// supervisor, the branch manager or an admin. It returns how many open
// assignments it covers.
func (db *DB) SetOutletDeadline(ctx context.Context, a Actor, outletID, due string) (int64, error) {
	var n int64
	err := db.Transact(ctx, func(tx *Tx) error {
		var unit OrgUnit
		err := tx.Where("id = ? OR code = ?", outletID, outletID).Take(&unit).Error
		if errors.Is(err, gorm.ErrRecordNotFound) || (err == nil && a.Role != RoleAdmin && a.BranchID != unit.BranchID) {
			return apperr.Invalid("outlet_id", "网点不存在", "no such outlet")
		}
		if err != nil {
			return fmt.Errorf("load outlet: %w", err)
		}
		if unit.Kind != KindOutlet {
			return apperr.Invalid("outlet_id", "只能为网点设置期限", "deadlines are set for outlets")
		}
		above := a.Role == RoleAdmin || (a.Role == RoleBranchManager && a.BranchID == unit.BranchID) ||
			(a.Role == RoleSupervisor && a.ReachesOrgUnit(unit) && a.OrgUnitID != unit.ID)
		if !above {
			return apperr.New(syncproto.CodeForbidden, "网点期限由上级机构设定", "an outlet's deadline is set by the level above it")
		}
		r, err := tx.exec(`UPDATE assignments SET outlet_due_on = ? WHERE branch_id = ? AND outlet_id = ? AND ended_at IS NULL`, due, unit.BranchID, unit.ID)
		if err != nil {
			return fmt.Errorf("set outlet deadline: %w", err)
		}
		n, _ = r.RowsAffected()
		return tx.Audit(a, "outlet.deadline", "org_unit", unit.ID, map[string]any{"due_on": due, "assignments": n})
	})
	return n, err
}

// AssignmentRecord is one period of responsibility for a household.
type AssignmentRecord struct {
	ID           string     `json:"id"`
	OutletID     string     `json:"outlet_id"`
	OutletName   string     `json:"outlet_name"`
	OfficerID    *string    `json:"officer_id,omitempty"`
	OfficerName  string     `json:"officer_name,omitempty"`
	OutletDueOn  string     `json:"outlet_due_on,omitempty"`
	OfficerDueOn string     `json:"officer_due_on,omitempty"`
	AssignedBy   *string    `json:"assigned_by,omitempty"`
	AssignedAt   time.Time  `json:"assigned_at"`
	EndedAt      *time.Time `json:"ended_at,omitempty"`
	EndReason    string     `json:"end_reason,omitempty"`
}

// AssignmentHistory lists who was responsible for a household when, oldest
// first. The actor must reach the household now.
func (db *DB) AssignmentHistory(ctx context.Context, a Actor, householdID string) ([]AssignmentRecord, error) {
	h, err := db.HouseholdFor(ctx, a, householdID)
	if err != nil {
		return nil, err
	}
	var out []AssignmentRecord
	err = db.gorm.WithContext(ctx).Raw(`SELECT s.id, s.outlet_id, o.name AS outlet_name, s.officer_id,
			COALESCE(NULLIF(u.display_name, ''), u.username, '') AS officer_name, s.outlet_due_on, s.officer_due_on,
			s.assigned_by, s.assigned_at, s.ended_at, s.end_reason
		FROM assignments s JOIN org_units o ON o.id = s.outlet_id LEFT JOIN users u ON u.id = s.officer_id
		WHERE s.branch_id = ? AND s.household_id = ?`, h.BranchID, h.ID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("assignment history: %w", err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].AssignedAt.Before(out[j].AssignedAt) })
	for i := range out {
		if strings.TrimSpace(out[i].OfficerName) == "" && out[i].OfficerID != nil {
			out[i].OfficerName = *out[i].OfficerID
		}
	}
	return out, nil
}

// HouseholdFor loads one household the actor reaches.
func (db *DB) HouseholdFor(ctx context.Context, a Actor, id string) (Household, error) {
	var h Household
	err := a.ScopeHouseholds(db.gorm.WithContext(ctx).Table("households h"), "h").Select("h.*").Where("h.id = ?", id).Take(&h).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return h, ErrNotFound
	}
	if err != nil {
		return h, fmt.Errorf("load household: %w", err)
	}
	return h, nil
}
