package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Progress levels, and the household column each groups by.
var levelColumn = map[string]string{
	"officer": "h.officer_id",
	"outlet":  "h.outlet_id",
	"county":  "h.county_id",
	"branch":  "h.branch_id",
}

// ProgressRow is one unit's progress (定进度).
type ProgressRow struct {
	UnitID    string `json:"unit_id"`
	UnitName  string `json:"unit_name"`
	Assigned  int64  `json:"assigned"`   // active households the unit answers for
	Visited   int64  `json:"visited"`    // of those, visited since the period start
	Overdue   int64  `json:"overdue"`    // not visited and past their deadline
	NoOfficer int64  `json:"no_officer"` // not yet given to an officer (always 0 per officer)
}

// ProgressQuery asks for progress at one level.
type ProgressQuery struct {
	Level string
	OrgID string    // only units under this org unit; "" for all the actor reaches
	Since time.Time // visits from this instant count
	Today string    // YYYY-MM-DD, for deadlines
}

// effectiveDue is the earlier of the officer's and the outlet's deadline,
// ignoring the one not set: missing either is overdue.
const effectiveDue = `CASE WHEN COALESCE(s.officer_due_on, '') = '' THEN COALESCE(s.outlet_due_on, '')
	WHEN COALESCE(s.outlet_due_on, '') = '' THEN s.officer_due_on
	WHEN s.officer_due_on < s.outlet_due_on THEN s.officer_due_on ELSE s.outlet_due_on END`

// visitedSince selects the households with a completed visit (outcome
// visited) since a time; refusals and absences do not count.
const visitedSince = `SELECT DISTINCT branch_id, household_id FROM visits
	WHERE deleted_at IS NULL AND outcome = 'visited' AND visited_at >= ?`

// Progress rolls up assigned, visited and overdue households per officer,
// outlet, county sub-branch or branch, over the households the actor reaches.
func (db *DB) Progress(ctx context.Context, a Actor, pq ProgressQuery) ([]ProgressRow, error) {
	col, ok := levelColumn[pq.Level]
	if !ok {
		return nil, apperr.Invalid("level", "level 应为 officer、outlet、county 或 branch", "level must be officer, outlet, county or branch")
	}
	if a.Role == RoleOfficer && pq.Level != "officer" {
		return nil, apperr.New(syncproto.CodeForbidden, "客户经理只能查看自己的进度", "officers see their own progress only")
	}
	g := db.gorm.WithContext(ctx)
	q := g.Table("households h").
		Joins("LEFT JOIN assignments s ON s.branch_id = h.branch_id AND s.household_id = h.id AND s.ended_at IS NULL").
		Joins("LEFT JOIN ("+visitedSince+") v ON v.branch_id = h.branch_id AND v.household_id = h.id", pq.Since)
	q = a.ScopeHouseholds(q, "h").Where("h.list_status = 'active' AND " + col + " IS NOT NULL")
	if pq.OrgID != "" {
		unit, err := db.OrgUnit(ctx, pq.OrgID)
		if errors.Is(err, ErrNotFound) || (err == nil && !a.ReachesOrgUnit(unit) && a.Role != RoleOfficer) {
			return nil, apperr.Invalid("org", "机构不存在或不在您的管辖范围内", "no such org unit within your reach")
		}
		if err != nil {
			return nil, err
		}
		sub := "SELECT id FROM org_units WHERE path LIKE ?"
		q = q.Where("(h.outlet_id IN ("+sub+") OR h.county_id IN ("+sub+") OR h.branch_id = ?)", unit.Path+"%", unit.Path+"%", unit.ID)
	}
	var rows []ProgressRow
	err := q.Select(col+` AS unit_id, COUNT(*) AS assigned,
			SUM(CASE WHEN v.household_id IS NOT NULL THEN 1 ELSE 0 END) AS visited,
			SUM(CASE WHEN v.household_id IS NULL AND `+effectiveDue+` <> '' AND `+effectiveDue+` < ? THEN 1 ELSE 0 END) AS overdue,
			SUM(CASE WHEN h.officer_id IS NULL THEN 1 ELSE 0 END) AS no_officer`, pq.Today).
		Group(col).Order(col).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("progress: %w", err)
	}
	if err := db.nameUnits(ctx, pq.Level, rows); err != nil {
		return nil, err
	}
	return rows, nil
}

func (db *DB) nameUnits(ctx context.Context, level string, rows []ProgressRow) error {
	if len(rows) == 0 {
		return nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.UnitID
	}
	var names []struct{ ID, Name string }
	q := db.gorm.WithContext(ctx)
	var err error
	if level == "officer" {
		err = q.Raw(`SELECT id, COALESCE(NULLIF(display_name, ''), username) AS name FROM users WHERE id IN ?`, ids).Scan(&names).Error
	} else {
		err = q.Raw(`SELECT id, name FROM org_units WHERE id IN ?`, ids).Scan(&names).Error
	}
	if err != nil {
		return fmt.Errorf("progress unit names: %w", err)
	}
	byID := map[string]string{}
	for _, n := range names {
		byID[n.ID] = n.Name
	}
	for i := range rows {
		rows[i].UnitName = byID[rows[i].UnitID]
	}
	return nil
}

// officerFilter decides whose lists an actor may read: an officer only their
// own; staff anyone they reach (the scope does the rest), or everyone in
// reach when officerID is "".
func officerFilter(a Actor, officerID string) (string, error) {
	if a.Role == RoleOfficer {
		if officerID != "" && officerID != a.UserID {
			return "", apperr.New(syncproto.CodeForbidden, "客户经理只能查看自己的计划", "officers see their own plans only")
		}
		return a.UserID, nil
	}
	return officerID, nil
}

// UnvisitedHouseholds lists active households in reach, with an officer,
// that have no completed visit since the given time (the zero time: ever).
func (db *DB) UnvisitedHouseholds(ctx context.Context, a Actor, officerID string, since time.Time, offset, limit int) ([]HouseholdView, int64, error) {
	officerID, err := officerFilter(a, officerID)
	if err != nil {
		return nil, 0, err
	}
	q := householdViewQuery(db.gorm.WithContext(ctx), a).
		Where("h.list_status = 'active' AND h.officer_id IS NOT NULL").
		Where(`NOT EXISTS (SELECT 1 FROM visits x WHERE x.branch_id = h.branch_id AND x.household_id = h.id
			AND x.deleted_at IS NULL AND x.outcome = 'visited' AND x.visited_at >= ?)`, since)
	if officerID != "" {
		q = q.Where("h.officer_id = ?", officerID)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count unvisited: %w", err)
	}
	var out []HouseholdView
	err = q.Select(householdViewCols).Order("h.officer_id, h.township, h.village, h.household_no").Offset(offset).Limit(limit).Scan(&out).Error
	if err != nil {
		return nil, 0, fmt.Errorf("unvisited households: %w", err)
	}
	return out, total, nil
}

// PlanView is a visit plan with the household it names.
type PlanView struct {
	ID          string `json:"id"`
	HouseholdID string `json:"household_id"`
	HouseholdNo string `json:"household_no"`
	HeadName    string `json:"head_name"`
	Township    string `json:"township"`
	Village     string `json:"village"`
	OfficerID   string `json:"officer_id"`
	OfficerName string `json:"officer_name"`
	PlannedOn   string `json:"planned_on"`
	WindowEnd   string `json:"window_end,omitempty"`
	Notes       string `json:"notes"`
	Status      string `json:"status"`
	CreatedBy   string `json:"created_by"`
	Version     int64  `json:"version"`
}

// OverduePlans lists planned visits whose date or window has passed (before
// today) without being done or cancelled, for households in reach.
func (db *DB) OverduePlans(ctx context.Context, a Actor, officerID, today string, offset, limit int) ([]PlanView, int64, error) {
	officerID, err := officerFilter(a, officerID)
	if err != nil {
		return nil, 0, err
	}
	q := db.gorm.WithContext(ctx).Table("visit_plans p").
		Joins("JOIN households h ON h.branch_id = p.branch_id AND h.id = p.household_id").
		Joins("LEFT JOIN users u ON u.id = p.officer_id").
		Where("p.status = 'planned' AND p.deleted_at IS NULL AND h.list_status = 'active'").
		Where("(CASE WHEN p.window_end <> '' THEN p.window_end ELSE p.planned_on END) < ?", today)
	q = a.ScopeHouseholds(q, "h")
	if officerID != "" {
		q = q.Where("p.officer_id = ?", officerID)
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count overdue plans: %w", err)
	}
	var out []PlanView
	err = q.Select(`p.id, p.household_id, h.household_no, h.head_name, h.township, h.village, p.officer_id,
			COALESCE(NULLIF(u.display_name, ''), u.username, '') AS officer_name, p.planned_on, p.window_end, p.notes,
			p.status, p.created_by, p.version`).
		Order("p.officer_id, p.planned_on, h.household_no").Offset(offset).Limit(limit).Scan(&out).Error
	if err != nil {
		return nil, 0, fmt.Errorf("overdue plans: %w", err)
	}
	return out, total, nil
}

// NewPlan is a visit plan a supervisor makes for an officer.
type NewPlan struct {
	HouseholdID string
	OfficerID   string // "" means the household's officer
	PlannedOn   string
	WindowEnd   string
	Notes       string
}

// CreatePlan plans a visit for the officer who holds the household. Staff
// only: officers plan on their devices, through sync. The plan reaches the
// officer's device with the household's next pull.
func (db *DB) CreatePlan(ctx context.Context, a Actor, n NewPlan) (PlanView, error) {
	if !a.IsStaff() {
		return PlanView{}, apperr.New(syncproto.CodeForbidden, "客户经理请在手机上制定走访计划", "officers plan visits on their device")
	}
	var out PlanView
	err := db.Transact(ctx, func(tx *Tx) error {
		var h Household
		err := a.ScopeHouseholds(tx.Table("households h"), "h").Select("h.*").Where("h.id = ?", n.HouseholdID).Take(&h).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return apperr.NotFound.With("field", "household_id")
		}
		if err != nil {
			return fmt.Errorf("load household: %w", err)
		}
		if h.ListStatus != ListActive {
			return apperr.New(syncproto.CodeConflict, "该户已不在监测名单中", "the household is no longer on the monitoring list").With("reason", "removed_from_list")
		}
		if h.OfficerID == nil {
			return apperr.Invalid("household_id", "该户还没有分配客户经理，请先分配", "the household has no officer yet; assign one first")
		}
		if n.OfficerID != "" && n.OfficerID != *h.OfficerID {
			return apperr.Invalid("officer_id", "计划只能给负责该户的客户经理", "a plan goes to the officer who holds the household")
		}
		now := Now()
		p := VisitPlan{
			ID: NewID(), BranchID: h.BranchID, HouseholdID: h.ID, OfficerID: *h.OfficerID, PlannedOn: n.PlannedOn,
			WindowEnd: n.WindowEnd, Notes: n.Notes, Status: syncproto.PlanPlanned, CreatedBy: a.UserID,
			FieldTimes: FieldTimes{FieldTimesAll: FieldStamp{T: now, V: 1}}.String(), Version: 1, CreatedAt: now, UpdatedAt: now,
		}
		if err := tx.Create(&p).Error; err != nil {
			return fmt.Errorf("create plan: %w", err)
		}
		tx.RecordChange(Change{BranchID: h.BranchID, Entity: syncproto.EntityVisitPlan, EntityID: p.ID, Op: OpUpsert, HouseholdID: h.ID})
		out = PlanView{ID: p.ID, HouseholdID: h.ID, HouseholdNo: h.HouseholdNo, HeadName: h.HeadName, Township: h.Township,
			Village: h.Village, OfficerID: p.OfficerID, PlannedOn: p.PlannedOn, WindowEnd: p.WindowEnd, Notes: p.Notes,
			Status: p.Status, CreatedBy: p.CreatedBy, Version: p.Version}
		return tx.Audit(a, "plan.create", "visit_plan", p.ID, map[string]any{"household_id": h.ID, "officer_id": p.OfficerID, "planned_on": p.PlannedOn})
	})
	return out, err
}
