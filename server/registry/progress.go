package registry

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/doorstep-dev/doorstep/server/store"
)

// ProgressInput is GET /api/v1/progress.
type ProgressInput struct {
	Level string // officer, outlet, county or branch
	Org   string // org unit id; "" for everything the caller reaches
	Since string // YYYY-MM-DD; default the first day of the current month
}

// Progress is the answer: the period it covers and one row per unit.
type Progress struct {
	Level string              `json:"level"`
	Since string              `json:"since"`
	Today string              `json:"today"`
	Units []store.ProgressRow `json:"units"`
	Total store.ProgressRow   `json:"total"` // the units added up; unit_id and unit_name are empty
}

// Progress rolls up assigned, visited and overdue households.
func (s *Service) Progress(ctx context.Context, a store.Actor, in ProgressInput) (Progress, error) {
	now := s.opts.Now().In(s.opts.Location)
	since := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, s.opts.Location)
	if in.Since != "" {
		d, err := time.ParseInLocation(time.DateOnly, in.Since, s.opts.Location)
		if err != nil {
			return Progress{}, invalid("since", "日期格式应为 YYYY-MM-DD", "dates are written YYYY-MM-DD")
		}
		since = d
	}
	if in.Level == "" {
		in.Level = "officer"
	}
	rows, err := s.db.Progress(ctx, a, store.ProgressQuery{Level: in.Level, OrgID: in.Org, Since: since.UTC(), Today: s.today()})
	if err != nil {
		return Progress{}, err
	}
	p := Progress{Level: in.Level, Since: since.Format(time.DateOnly), Today: s.today(), Units: rows}
	if p.Units == nil {
		p.Units = []store.ProgressRow{}
	}
	for _, r := range rows {
		p.Total.Assigned += r.Assigned
		p.Total.Visited += r.Visited
		p.Total.Overdue += r.Overdue
		p.Total.NoOfficer += r.NoOfficer
	}
	return p, nil
}

// PlanInput is POST /api/v1/plans.
type PlanInput struct {
	HouseholdID string `json:"household_id"`
	OfficerID   string `json:"officer_id,omitempty"` // defaults to the household's officer
	PlannedOn   string `json:"planned_on"`
	WindowEnd   string `json:"window_end,omitempty"` // last day of a window starting on planned_on
	Notes       string `json:"notes,omitempty"`
}

// CreatePlan plans a visit for the officer who holds the household.
func (s *Service) CreatePlan(ctx context.Context, a store.Actor, in PlanInput) (store.PlanView, error) {
	in.HouseholdID = strings.TrimSpace(in.HouseholdID)
	if in.HouseholdID == "" {
		return store.PlanView{}, invalid("household_id", "请指定农户", "household_id is required")
	}
	if !validDate(in.PlannedOn) {
		return store.PlanView{}, invalid("planned_on", "计划日期格式应为 YYYY-MM-DD", "planned_on is a date, YYYY-MM-DD")
	}
	if in.PlannedOn < s.today() {
		return store.PlanView{}, invalid("planned_on", "计划日期不能早于今天", "planned_on cannot be in the past")
	}
	if in.WindowEnd != "" && (!validDate(in.WindowEnd) || in.WindowEnd < in.PlannedOn) {
		return store.PlanView{}, invalid("window_end", "结束日期应为不早于计划日期的 YYYY-MM-DD", "window_end is a date, YYYY-MM-DD, not before planned_on")
	}
	if utf8.RuneCountInString(in.Notes) > 2000 {
		return store.PlanView{}, invalid("notes", "备注不超过 2000 字", "notes are at most 2000 characters")
	}
	return s.db.CreatePlan(ctx, a, store.NewPlan{HouseholdID: in.HouseholdID, OfficerID: strings.TrimSpace(in.OfficerID),
		PlannedOn: in.PlannedOn, WindowEnd: in.WindowEnd, Notes: in.Notes})
}

// OverduePlans lists planned visits past their date or window.
func (s *Service) OverduePlans(ctx context.Context, a store.Actor, officerID string, offset, limit int) ([]store.PlanView, int64, error) {
	plans, total, err := s.db.OverduePlans(ctx, a, officerID, s.today(), max(0, offset), pageLimit(limit))
	if plans == nil {
		plans = []store.PlanView{}
	}
	return plans, total, err
}

// ServiceAreas lists a branch's township/village → outlet mapping.
func (s *Service) ServiceAreas(ctx context.Context, a store.Actor, branch string) ([]store.AreaMapping, error) {
	b, err := s.db.ResolveBranch(ctx, a, branch)
	if err != nil {
		return nil, err
	}
	return s.db.ServiceAreas(ctx, a, b.ID)
}

// MaxServiceAreas bounds one mapping.
const MaxServiceAreas = 20000

// ReplaceServiceAreas replaces a branch's mapping and hands households over.
func (s *Service) ReplaceServiceAreas(ctx context.Context, a store.Actor, branch string, areas []store.AreaInput) (store.AreaChangeResult, error) {
	if len(areas) > MaxServiceAreas {
		return store.AreaChangeResult{}, invalid("areas", "服务区域条目过多", "too many service areas in one mapping")
	}
	b, err := s.db.ResolveBranch(ctx, a, branch)
	if err != nil {
		return store.AreaChangeResult{}, err
	}
	return s.db.ReplaceServiceAreas(ctx, a, b.ID, areas)
}
