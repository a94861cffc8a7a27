package registry

import (
	"context"
	"strings"

	"github.com/doorstep-dev/doorstep/server/store"
)

// MaxAssignBatch caps one bulk assignment; a whole township fits.
const MaxAssignBatch = 5000

// AssignInput is POST /api/v1/assignments.
type AssignInput struct {
	HouseholdIDs []string `json:"household_ids"`
	OfficerID    string   `json:"officer_id"`
	DueOn        string   `json:"due_on"` // YYYY-MM-DD; empty keeps the outlet's current deadline
}

// Assign hands households to an officer with a deadline.
func (s *Service) Assign(ctx context.Context, a store.Actor, in AssignInput) (store.AssignResult, error) {
	ids, err := cleanIDs(in.HouseholdIDs, MaxAssignBatch)
	if err != nil {
		return store.AssignResult{}, err
	}
	in.OfficerID = strings.TrimSpace(in.OfficerID)
	if in.OfficerID == "" {
		return store.AssignResult{}, invalid("officer_id", "请指定客户经理", "officer_id is required")
	}
	if err := s.checkDue("due_on", in.DueOn); err != nil {
		return store.AssignResult{}, err
	}
	return s.db.AssignHouseholds(ctx, a, store.AssignRequest{HouseholdIDs: ids, OfficerID: in.OfficerID, DueOn: in.DueOn})
}

// OutletDeadlineInput is POST /api/v1/outlet-deadlines.
type OutletDeadlineInput struct {
	OutletID string `json:"outlet_id"` // id or code
	DueOn    string `json:"due_on"`
}

// SetOutletDeadline sets the deadline of an outlet's current households.
func (s *Service) SetOutletDeadline(ctx context.Context, a store.Actor, in OutletDeadlineInput) (int64, error) {
	if strings.TrimSpace(in.OutletID) == "" {
		return 0, invalid("outlet_id", "请指定网点", "outlet_id is required")
	}
	if in.DueOn == "" {
		return 0, invalid("due_on", "请填写期限", "due_on is required")
	}
	if err := s.checkDue("due_on", in.DueOn); err != nil {
		return 0, err
	}
	return s.db.SetOutletDeadline(ctx, a, strings.TrimSpace(in.OutletID), in.DueOn)
}

// checkDue accepts "" or a real date that is not already past.
func (s *Service) checkDue(field, due string) error {
	if due == "" {
		return nil
	}
	if !validDate(due) {
		return invalid(field, "日期格式应为 YYYY-MM-DD", "dates are written YYYY-MM-DD")
	}
	if due < s.today() {
		return invalid(field, "期限不能早于今天", "the deadline cannot be in the past")
	}
	return nil
}

// cleanIDs trims, drops duplicates and bounds a list of ids.
func cleanIDs(ids []string, limit int) ([]string, error) {
	if len(ids) == 0 {
		return nil, invalid("household_ids", "请至少选择一户", "household_ids must name at least one household")
	}
	if len(ids) > limit {
		return nil, invalid("household_ids", "一次最多分配 5000 户", "at most 5000 households per request")
	}
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		id = strings.TrimSpace(id)
		if id == "" || len(id) > 64 {
			return nil, invalid("household_ids", "农户编号无效", "a household id is empty or too long")
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}

// AssignmentHistory lists who was responsible for a household when.
func (s *Service) AssignmentHistory(ctx context.Context, a store.Actor, householdID string) ([]store.AssignmentRecord, error) {
	return s.db.AssignmentHistory(ctx, a, householdID)
}
