package coverage

import (
	"context"
	"strconv"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// ReviewItem is a visit in the supervisor's review queue.
type ReviewItem struct {
	ID           string     `json:"id"`
	HouseholdID  string     `json:"household_id"`
	HouseholdNo  string     `json:"household_no"`
	HeadName     string     `json:"head_name"`
	Village      string     `json:"village"`
	PhoneMasked  string     `json:"phone_masked,omitempty"`
	OfficerID    string     `json:"officer_id"`
	OfficerName  string     `json:"officer_name"`
	DeviceID     string     `json:"device_id,omitempty"`
	Outcome      string     `json:"outcome"`
	Situation    string     `json:"situation"`
	Notes        string     `json:"notes"`
	Lat          *float64   `json:"lat,omitempty"`
	Lng          *float64   `json:"lng,omitempty"`
	AccuracyM    *float64   `json:"accuracy_m,omitempty"`
	StartedAt    time.Time  `json:"started_at"`
	EndedAt      *time.Time `json:"ended_at,omitempty"`
	VisitedAt    time.Time  `json:"visited_at"`
	ReceivedAt   time.Time  `json:"received_at"`
	ClockSuspect bool       `json:"clock_suspect,omitempty"`
	Status       string     `json:"status"`
	ReviewedBy   string     `json:"reviewed_by,omitempty"`
	ReviewedAt   *time.Time `json:"reviewed_at,omitempty"`
	ReviewNote   string     `json:"review_note,omitempty"`
	Flags        []Flag     `json:"flags"`
	OpenTaskID   string     `json:"open_task_id,omitempty"`
	OpenTaskKind string     `json:"open_task_kind,omitempty"`
	Version      int64      `json:"version"`
}

func reviewItemOf(r store.ReviewVisit) ReviewItem {
	it := visitItem(r.Visit)
	it.HouseholdNo, it.HeadName, it.Village, it.PhoneMasked = r.HouseholdNo, r.HeadName, r.Village, r.PhoneMasked
	it.OfficerName = r.OfficerName
	if it.OfficerName == "" {
		it.OfficerName = r.OfficerUsername
	}
	if r.OpenTaskID != nil {
		it.OpenTaskID = *r.OpenTaskID
	}
	if r.OpenTaskKind != nil {
		it.OpenTaskKind = *r.OpenTaskKind
	}
	return it
}

func visitItem(v store.Visit) ReviewItem {
	it := ReviewItem{
		ID: v.ID, HouseholdID: v.HouseholdID, OfficerID: v.OfficerID, Outcome: v.Outcome, Situation: v.Situation, Notes: v.Notes,
		Lat: v.Lat, Lng: v.Lng, AccuracyM: v.AccuracyM, StartedAt: v.StartedAt, EndedAt: v.EndedAt, VisitedAt: v.VisitedAt,
		ReceivedAt: v.ReceivedAt, ClockSuspect: v.ClockSuspect, Status: v.Status, ReviewedAt: v.ReviewedAt,
		ReviewNote: v.ReviewNote, Flags: DecodeFlags(v.Flags), Version: v.Version,
	}
	if v.DeviceID != nil {
		it.DeviceID = *v.DeviceID
	}
	if v.ReviewedBy != nil {
		it.ReviewedBy = *v.ReviewedBy
	}
	return it
}

// Review list paging.
const (
	DefaultReviewLimit = 100
	MaxReviewLimit     = 500
)

// ReviewRequest filters the review queue.
type ReviewRequest struct {
	Status    string // flagged (default), recorded, corrected, has_issues, confirmed or all
	Month     string // empty: every month
	OrgID     string
	OfficerID string
	Limit     string
	Offset    string
}

// ReviewPage is one page of the queue.
type ReviewPage struct {
	Status  string       `json:"status"`
	Month   string       `json:"month,omitempty"`
	Limit   int          `json:"limit"`
	Offset  int          `json:"offset"`
	HasMore bool         `json:"has_more"`
	Visits  []ReviewItem `json:"visits"`
}

var reviewStatuses = map[string]bool{
	store.ReviewFlagged: true, store.ReviewRecorded: true, store.ReviewCorrected: true,
	store.ReviewHasIssues: true, store.ReviewConfirmed: true, store.ReviewAll: true,
}

func intParam(field, raw string, def, min, max int) (int, error) {
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < min || n > max {
		return 0, apperr.Invalid(field, field+" 应为 "+strconv.Itoa(min)+" 到 "+strconv.Itoa(max)+" 之间的整数",
			field+" must be an integer from "+strconv.Itoa(min)+" to "+strconv.Itoa(max))
	}
	return n, nil
}

// Review lists visits in the queue, newest first.
func (s *Service) Review(ctx context.Context, a store.Actor, req ReviewRequest) (ReviewPage, error) {
	if req.Status == "" {
		req.Status = store.ReviewFlagged
	}
	if !reviewStatuses[req.Status] {
		return ReviewPage{}, apperr.Invalid("status", "status 应为 flagged、recorded、corrected、has_issues、confirmed 或 all",
			"status must be flagged, recorded, corrected, has_issues, confirmed or all").With("value", clip(req.Status, 32))
	}
	limit, err := intParam("limit", req.Limit, DefaultReviewLimit, 1, MaxReviewLimit)
	if err != nil {
		return ReviewPage{}, err
	}
	offset, err := intParam("offset", req.Offset, 0, 0, 1_000_000)
	if err != nil {
		return ReviewPage{}, err
	}
	f := store.ReviewFilter{Status: req.Status, Limit: limit + 1, Offset: offset}
	page := ReviewPage{Status: req.Status, Limit: limit, Offset: offset, Visits: []ReviewItem{}}
	if req.Month != "" {
		m, err := s.parseMonthParam(req.Month, true)
		if err != nil {
			return ReviewPage{}, err
		}
		f.From, f.To = m.Bounds(s.loc)
		page.Month = m.String()
	}
	if f.Scope, err = s.scopeOf(ctx, a, req.OrgID, req.OfficerID); err != nil {
		return ReviewPage{}, err
	}
	rows, err := s.db.ReviewVisits(ctx, a, f)
	if err != nil {
		return ReviewPage{}, mapErr(err)
	}
	if len(rows) > limit {
		rows, page.HasMore = rows[:limit], true
	}
	for _, r := range rows {
		page.Visits = append(page.Visits, reviewItemOf(r))
	}
	return page, nil
}

// ConfirmRequest is the body of POST /visits/{id}/confirm.
type ConfirmRequest struct {
	Note string `json:"note,omitempty"`
}

// TaskInfo is a task as the supervisor sees it.
type TaskInfo struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	OfficerID   string    `json:"officer_id"`
	HouseholdID string    `json:"household_id,omitempty"`
	VisitID     string    `json:"visit_id,omitempty"`
	Reason      string    `json:"reason"`
	Status      string    `json:"status"`
	CreatedAt   time.Time `json:"created_at"`
	Version     int64     `json:"version"`
}

func taskInfo(t store.Task) TaskInfo {
	ti := TaskInfo{ID: t.ID, Kind: t.Kind, OfficerID: t.OfficerID, Reason: t.Reason, Status: t.Status, CreatedAt: t.CreatedAt, Version: t.Version}
	if t.HouseholdID != nil {
		ti.HouseholdID = *t.HouseholdID
	}
	if t.VisitID != nil {
		ti.VisitID = *t.VisitID
	}
	return ti
}

// ReviewResult answers a confirmation or a "has issues".
type ReviewResult struct {
	Visit            ReviewItem `json:"visit"`
	AlreadyConfirmed bool       `json:"already_confirmed,omitempty"`
	LocationSet      bool       `json:"household_location_set,omitempty"`
	Task             *TaskInfo  `json:"task,omitempty"`         // the task a "has issues" created
	ClosedTasks      []TaskInfo `json:"closed_tasks,omitempty"` // the tasks a confirmation answered
}

// Confirm confirms a visit. After it the officer's device can no longer edit
// the visit; the tasks the visit answers are done, and a household without a
// registered location takes the visit's.
func (s *Service) Confirm(ctx context.Context, a store.Actor, visitID string, req ConfirmRequest) (ReviewResult, error) {
	if !MayReview(a) {
		return ReviewResult{}, apperr.Forbidden
	}
	if err := validID("id", visitID, true); err != nil {
		return ReviewResult{}, err
	}
	note, err := text("note", req.Note, false, MaxNoteRunes)
	if err != nil {
		return ReviewResult{}, err
	}
	var res store.ConfirmResult
	err = s.db.Transact(ctx, func(tx *store.Tx) error {
		var err error
		res, err = tx.ConfirmVisit(a, visitID, note)
		if err != nil || res.AlreadyConfirmed {
			return err
		}
		// The household's location may have just been set: its visits,
		// measured against it from now on, are checked again.
		if !res.LocationSet {
			return nil
		}
		ids, err := tx.HouseholdVisitIDs(res.Visit.BranchID, res.Visit.HouseholdID)
		if err != nil {
			return err
		}
		return FlagVisits(tx, s.loc, res.Visit.BranchID, ids)
	})
	if err != nil {
		return ReviewResult{}, mapErr(err)
	}
	out := ReviewResult{Visit: visitItem(res.Visit), AlreadyConfirmed: res.AlreadyConfirmed, LocationSet: res.LocationSet}
	for _, t := range res.ClosedTasks {
		out.ClosedTasks = append(out.ClosedTasks, taskInfo(t))
	}
	if res.LocationSet {
		if v, err := s.db.ReviewVisitByID(ctx, a, visitID); err == nil {
			out.Visit = visitItem(v)
		}
	}
	return out, nil
}

// IssuesRequest is the body of POST /visits/{id}/issues.
type IssuesRequest struct {
	Kind   string `json:"kind"` // revisit or correct
	Reason string `json:"reason"`
}

// MarkIssues marks a visit has_issues and sends the officer a task: correct
// (edit this visit) or revisit (visit the household again). The visit stops
// counting in the ledger until the officer's answer is confirmed.
func (s *Service) MarkIssues(ctx context.Context, a store.Actor, visitID string, req IssuesRequest) (ReviewResult, error) {
	if !MayReview(a) {
		return ReviewResult{}, apperr.Forbidden
	}
	if err := validID("id", visitID, true); err != nil {
		return ReviewResult{}, err
	}
	if req.Kind != syncproto.TaskRevisit && req.Kind != syncproto.TaskCorrect {
		return ReviewResult{}, apperr.Invalid("kind", "kind 应为 revisit（重新走访）或 correct（更正记录）",
			"kind must be revisit or correct").With("value", clip(req.Kind, 32))
	}
	reason, err := text("reason", req.Reason, true, MaxReasonRunes)
	if err != nil {
		return ReviewResult{}, err
	}
	var (
		v store.Visit
		t store.Task
	)
	err = s.db.Transact(ctx, func(tx *store.Tx) error {
		var err error
		v, t, err = tx.MarkVisitIssues(a, visitID, req.Kind, reason)
		return err
	})
	if err != nil {
		if isConflict(err) {
			return ReviewResult{}, conflict("该走访已有未完成的整改任务", "the visit already has an open task").Wrap(err)
		}
		return ReviewResult{}, mapErr(err)
	}
	ti := taskInfo(t)
	return ReviewResult{Visit: visitItem(v), Task: &ti}, nil
}
