package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// Supervisor review of visits: the review queue, confirmation, "has issues"
// with a task for the officer, the officer's correction coming back, spot
// check candidates and device health. Every query reaches households through
// Actor.ScopeHouseholds, in the same transaction as the write.

// Review queue filters.
const (
	ReviewFlagged   = "flagged"   // recorded, with at least one automatic flag
	ReviewRecorded  = "recorded"  // awaiting review
	ReviewConfirmed = "confirmed" // confirmed by a supervisor
	ReviewHasIssues = "has_issues"
	ReviewCorrected = "corrected" // recorded, answering an open task: the officer's correction or revisit
	ReviewAll       = "all"
)

// ReviewFilter narrows the review queue.
type ReviewFilter struct {
	Scope  CoverageScope
	Status string
	From   time.Time // visited_at bounds; zero for none
	To     time.Time
	Limit  int // 0 for all
	Offset int
}

// ReviewVisit is a visit with what a reviewer needs beside it.
type ReviewVisit struct {
	Visit
	HouseholdNo     string
	HeadName        string
	Village         string
	PhoneMasked     string
	OfficerUsername string
	OfficerName     string
	OpenTaskID      *string
	OpenTaskKind    *string
}

const openTaskOfVisit = `(t.status = 'open' AND ((t.visit_id = v.id) OR
	(t.kind = 'revisit' AND t.household_id = v.household_id AND t.created_at < v.created_at)))`

// ReviewVisits lists the visits in scope that match the filter, newest first.
func (db *DB) ReviewVisits(ctx context.Context, a Actor, f ReviewFilter) ([]ReviewVisit, error) {
	q := db.gorm.WithContext(ctx).Table("visits v").
		Select(`v.*, h.household_no, h.head_name, h.village, h.phone_masked,
			u.username AS officer_username, u.display_name AS officer_name,
			(SELECT t.id FROM tasks t WHERE t.branch_id = v.branch_id AND `+openTaskOfVisit+` ORDER BY t.created_at, t.id LIMIT 1) AS open_task_id,
			(SELECT t.kind FROM tasks t WHERE t.branch_id = v.branch_id AND `+openTaskOfVisit+` ORDER BY t.created_at, t.id LIMIT 1) AS open_task_kind`).
		Joins("JOIN households h ON h.branch_id = v.branch_id AND h.id = v.household_id").
		Joins("JOIN users u ON u.id = v.officer_id").
		Where("v.branch_id = ? AND v.deleted_at IS NULL", f.Scope.BranchID)
	if f.Scope.Kind == "officer" {
		q = q.Where("v.officer_id = ?", f.Scope.OfficerID)
	} else {
		where, args := f.Scope.householdScopeSQL("h")
		q = q.Where(where, args...)
	}
	q = a.ScopeHouseholds(q, "h")
	if !f.From.IsZero() {
		q = q.Where("v.visited_at >= ? AND v.visited_at < ?", f.From, f.To)
	}
	switch f.Status {
	case ReviewFlagged:
		q = q.Where("v.status = ? AND EXISTS (SELECT 1 FROM visit_flags vf WHERE vf.branch_id = v.branch_id AND vf.visit_id = v.id)", "recorded")
	case ReviewRecorded, ReviewConfirmed, ReviewHasIssues:
		q = q.Where("v.status = ?", f.Status)
	case ReviewCorrected:
		q = q.Where("v.status = 'recorded' AND EXISTS (SELECT 1 FROM tasks t WHERE t.branch_id = v.branch_id AND " + openTaskOfVisit + ")")
	case ReviewAll, "":
	default:
		return nil, invalidf("review status %q", f.Status)
	}
	q = q.Order("v.visited_at DESC, v.id DESC")
	if f.Limit > 0 {
		q = q.Limit(f.Limit).Offset(f.Offset)
	}
	var out []ReviewVisit
	if err := q.Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("review visits: %w", err)
	}
	return out, nil
}

// visitForReview loads a live visit the actor reaches, locked for the rest of
// the transaction on Postgres (SQLite transactions already hold the write lock).
func (tx *Tx) visitForReview(a Actor, visitID string) (Visit, Household, error) {
	var v Visit
	q := tx.Table("visits v").Select("v.*").
		Joins("JOIN households h ON h.branch_id = v.branch_id AND h.id = v.household_id").
		Where("v.id = ? AND v.deleted_at IS NULL", visitID)
	if err := a.ScopeHouseholds(q, "h").Take(&v).Error; err != nil {
		return v, Household{}, notFoundOr(err, "load visit")
	}
	if tx.Dialect() == Postgres {
		if err := tx.Raw(`SELECT * FROM visits WHERE branch_id = ? AND id = ? FOR UPDATE`, v.BranchID, v.ID).Scan(&v).Error; err != nil {
			return v, Household{}, fmt.Errorf("lock visit: %w", err)
		}
	}
	var h Household
	if err := tx.Where("branch_id = ? AND id = ?", v.BranchID, v.HouseholdID).Take(&h).Error; err != nil {
		return v, h, notFoundOr(err, "load household")
	}
	return v, h, nil
}

// ConfirmResult says what a confirmation changed.
type ConfirmResult struct {
	Visit            Visit
	AlreadyConfirmed bool
	LocationSet      bool   // the household had no location and now has the visit's
	ClosedTasks      []Task // tasks this confirmation answered
}

// ConfirmVisit marks a visit confirmed. It answers the open tasks about the
// visit (a correction) and the household's open revisit tasks created before
// this visit arrived; a household with no registered location takes the
// visit's. Confirming a confirmed visit changes nothing.
func (tx *Tx) ConfirmVisit(a Actor, visitID, note string) (ConfirmResult, error) {
	v, h, err := tx.visitForReview(a, visitID)
	if err != nil {
		return ConfirmResult{}, err
	}
	if v.Status == "confirmed" {
		return ConfirmResult{Visit: v, AlreadyConfirmed: true}, nil
	}
	now := Now()
	err = tx.Model(&Visit{}).Where("branch_id = ? AND id = ?", v.BranchID, v.ID).Updates(map[string]any{
		"status": "confirmed", "reviewed_by": a.UserID, "reviewed_at": now, "review_note": note,
		"version": gorm.Expr("version + 1"), "updated_at": now,
	}).Error
	if err != nil {
		return ConfirmResult{}, fmt.Errorf("confirm visit: %w", err)
	}
	tx.RecordChange(Change{BranchID: v.BranchID, Entity: "visit", EntityID: v.ID, Op: OpUpsert, HouseholdID: v.HouseholdID})
	res := ConfirmResult{}
	if h.Lat == nil && v.Lat != nil && v.Lng != nil {
		err := tx.Model(&Household{}).Where("branch_id = ? AND id = ? AND lat IS NULL", h.BranchID, h.ID).Updates(map[string]any{
			"lat": *v.Lat, "lng": *v.Lng, "location_source": "visit", "version": gorm.Expr("version + 1"), "updated_at": now,
		}).Error
		if err != nil {
			return res, fmt.Errorf("set household location: %w", err)
		}
		tx.RecordChange(Change{BranchID: h.BranchID, Entity: "household", EntityID: h.ID, Op: OpUpsert, HouseholdID: h.ID})
		res.LocationSet = true
	}
	var open []Task
	err = tx.Table("tasks t").Select("t.*").
		Joins("JOIN visits v ON v.branch_id = t.branch_id AND v.id = ?", v.ID).
		Where("t.branch_id = ? AND "+openTaskOfVisit, v.BranchID).Order("t.created_at, t.id").Scan(&open).Error
	if err != nil {
		return res, fmt.Errorf("load answered tasks: %w", err)
	}
	for _, t := range open {
		if err := tx.Model(&Task{}).Where("branch_id = ? AND id = ?", t.BranchID, t.ID).Updates(map[string]any{
			"status": "done", "version": gorm.Expr("version + 1"), "updated_at": now,
		}).Error; err != nil {
			return res, fmt.Errorf("close task: %w", err)
		}
		tx.RecordChange(taskChange(t))
		if err := tx.Audit(a, "task.done", "task", t.ID, map[string]any{"visit_id": v.ID, "kind": t.Kind}); err != nil {
			return res, err
		}
		t.Status, t.Version, t.UpdatedAt = "done", t.Version+1, now
		res.ClosedTasks = append(res.ClosedTasks, t)
	}
	if err := tx.Audit(a, "visit.confirm", "visit", v.ID, map[string]any{
		"household_id": v.HouseholdID, "previous_status": v.Status, "note": note, "location_set": res.LocationSet,
	}); err != nil {
		return res, err
	}
	if err := tx.Where("branch_id = ? AND id = ?", v.BranchID, v.ID).Take(&res.Visit).Error; err != nil {
		return res, fmt.Errorf("reload visit: %w", err)
	}
	return res, nil
}

func taskChange(t Task) Change {
	hh := ""
	if t.HouseholdID != nil {
		hh = *t.HouseholdID
	}
	return Change{BranchID: t.BranchID, Entity: "task", EntityID: t.ID, Op: OpUpsert, HouseholdID: hh, AudienceUserID: t.OfficerID}
}

// MarkVisitIssues marks a visit has_issues with the reviewer's reason and
// addresses a task to the officer: correct goes to the officer who recorded
// the visit, revisit to the household's current officer. Both reach the
// officer's device at the next pull. A visit with an open task already is a
// conflict.
func (tx *Tx) MarkVisitIssues(a Actor, visitID, kind, reason string) (Visit, Task, error) {
	if kind != "revisit" && kind != "correct" {
		return Visit{}, Task{}, invalidf("task kind %q", kind)
	}
	v, h, err := tx.visitForReview(a, visitID)
	if err != nil {
		return v, Task{}, err
	}
	var n int64
	if err := tx.Model(&Task{}).Where("branch_id = ? AND visit_id = ? AND status = 'open'", v.BranchID, v.ID).Count(&n).Error; err != nil {
		return v, Task{}, fmt.Errorf("check open tasks: %w", err)
	}
	if n > 0 {
		return v, Task{}, coverageConflictf("the visit already has an open task")
	}
	now := Now()
	err = tx.Model(&Visit{}).Where("branch_id = ? AND id = ?", v.BranchID, v.ID).Updates(map[string]any{
		"status": "has_issues", "reviewed_by": a.UserID, "reviewed_at": now, "review_note": reason,
		"version": gorm.Expr("version + 1"), "updated_at": now,
	}).Error
	if err != nil {
		return v, Task{}, fmt.Errorf("mark visit: %w", err)
	}
	tx.RecordChange(Change{BranchID: v.BranchID, Entity: "visit", EntityID: v.ID, Op: OpUpsert, HouseholdID: v.HouseholdID})
	officer := v.OfficerID
	if kind == "revisit" && h.OfficerID != nil && *h.OfficerID != "" {
		officer = *h.OfficerID
	}
	t := Task{
		ID: NewID(), BranchID: v.BranchID, OfficerID: officer, HouseholdID: &v.HouseholdID, VisitID: &v.ID,
		Kind: kind, Reason: reason, Status: "open", CreatedBy: a.UserID, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	if err := tx.Create(&t).Error; err != nil {
		return v, t, fmt.Errorf("create task: %w", err)
	}
	tx.RecordChange(taskChange(t))
	if err := tx.Audit(a, "visit.has_issues", "visit", v.ID, map[string]any{
		"household_id": v.HouseholdID, "previous_status": v.Status, "kind": kind, "reason": reason, "task_id": t.ID,
	}); err != nil {
		return v, t, err
	}
	if err := tx.Audit(a, "task.create", "task", t.ID, map[string]any{"visit_id": v.ID, "kind": kind, "officer_id": officer}); err != nil {
		return v, t, err
	}
	if err := tx.Where("branch_id = ? AND id = ?", v.BranchID, v.ID).Take(&v).Error; err != nil {
		return v, t, fmt.Errorf("reload visit: %w", err)
	}
	return v, t, nil
}

// ReopenCorrectedVisits is called when devices' edits of visits have been
// applied: a has_issues visit with an open correct task returns to
// recorded, back in the supervisor's queue as corrected. The task stays open
// until the supervisor confirms the visit.
func (tx *Tx) ReopenCorrectedVisits(branchID string, visitIDs []string) ([]string, error) {
	var reopened []string
	for _, c := range covChunks(covUniq(visitIDs)) {
		var ids []string
		err := tx.Table("visits v").Where("v.branch_id = ? AND v.id IN ? AND v.status = 'has_issues' AND v.deleted_at IS NULL", branchID, c).
			Where("EXISTS (SELECT 1 FROM tasks t WHERE t.branch_id = v.branch_id AND t.visit_id = v.id AND t.kind = 'correct' AND t.status = 'open')").
			Order("v.id").Pluck("v.id", &ids).Error
		if err != nil {
			return nil, fmt.Errorf("find corrected visits: %w", err)
		}
		reopened = append(reopened, ids...)
	}
	now := Now()
	for _, id := range reopened {
		var v Visit
		if err := tx.Where("branch_id = ? AND id = ?", branchID, id).Take(&v).Error; err != nil {
			return nil, fmt.Errorf("load corrected visit: %w", err)
		}
		if err := tx.Model(&Visit{}).Where("branch_id = ? AND id = ?", branchID, id).Updates(map[string]any{
			"status": "recorded", "version": gorm.Expr("version + 1"), "updated_at": now,
		}).Error; err != nil {
			return nil, fmt.Errorf("reopen corrected visit: %w", err)
		}
		tx.RecordChange(Change{BranchID: branchID, Entity: "visit", EntityID: id, Op: OpUpsert, HouseholdID: v.HouseholdID})
		sys := Actor{Role: "system", BranchID: branchID, UserID: v.OfficerID}
		if err := tx.Audit(sys, "visit.correction_received", "visit", id, map[string]any{"household_id": v.HouseholdID}); err != nil {
			return nil, err
		}
	}
	return reopened, nil
}

// OfficerDevice is one officer's device as the last sync left it; officers
// with no device yet appear once with the device fields empty.
type OfficerDevice struct {
	OfficerID      string
	Username       string
	DisplayName    string
	OrgUnitID      string
	OrgUnitCode    string
	OrgUnitName    string
	DeviceID       *string
	DeviceName     *string
	DeviceStatus   *string
	AppVersion     *string
	LastSeenAt     *time.Time
	LastSyncAt     *time.Time
	ClockOffsetMS  *int64 `gorm:"column:clock_offset_ms"`
	PendingChanges *int
}

// OfficerDeviceHealth lists the scope's active officers and their devices.
func (db *DB) OfficerDeviceHealth(ctx context.Context, a Actor, s CoverageScope) ([]OfficerDevice, error) {
	q := db.gorm.WithContext(ctx).Table("users u").
		Select(`u.id AS officer_id, u.username, u.display_name, o.id AS org_unit_id, o.code AS org_unit_code, o.name AS org_unit_name,
			d.id AS device_id, d.name AS device_name, d.status AS device_status, d.app_version, d.last_seen_at, d.last_sync_at,
			d.clock_offset_ms, d.pending_changes`).
		Joins("JOIN org_units o ON o.id = u.org_unit_id").
		Joins("LEFT JOIN devices d ON d.user_id = u.id").
		Where("u.role = ? AND u.status = ? AND u.branch_id = ?", RoleOfficer, UserActive, s.BranchID)
	switch s.Kind {
	case "officer":
		q = q.Where("u.id = ?", s.OfficerID)
	case KindBranch:
	default:
		q = q.Where("u.org_unit_id IN ?", s.UnitIDs)
	}
	switch a.Role {
	case RoleAdmin:
	case RoleBranchManager:
		q = q.Where("u.branch_id = ?", a.BranchID)
	case RoleSupervisor:
		q = q.Where("u.branch_id = ? AND o.path LIKE ?", a.BranchID, a.OrgPath+"%")
	default:
		q = q.Where("1 = 0")
	}
	var out []OfficerDevice
	if err := q.Order("o.code, u.username, d.created_at, d.id").Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("device health: %w", err)
	}
	return out, nil
}

// ReviewVisitByID loads a visit the actor reaches.
func (db *DB) ReviewVisitByID(ctx context.Context, a Actor, id string) (Visit, error) {
	var v Visit
	q := db.gorm.WithContext(ctx).Table("visits v").Select("v.*").
		Joins("JOIN households h ON h.branch_id = v.branch_id AND h.id = v.household_id").
		Where("v.id = ?", id)
	err := a.ScopeHouseholds(q, "h").Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return v, ErrNotFound
	}
	return v, err
}
