package syncsvc

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// ConflictFilter selects a page of the conflict log.
type ConflictFilter struct {
	Kind   string // "", "conflict" or "rejection"
	Limit  int    // default 50, at most 200
	Cursor string // from the previous page's next_cursor
}

// Conflict is one row of the conflict log as staff see it: both versions,
// the rule applied and the winner. Phone numbers in it are masked.
type Conflict struct {
	ID          string          `json:"id"`
	Kind        string          `json:"kind"`
	UserID      string          `json:"user_id"`
	DeviceID    string          `json:"device_id"`
	MutationID  string          `json:"mutation_id"`
	Entity      string          `json:"entity"`
	EntityID    string          `json:"entity_id"`
	HouseholdID string          `json:"household_id,omitempty"`
	OutletID    string          `json:"outlet_id,omitempty"`
	Field       string          `json:"field,omitempty"`
	Rule        string          `json:"rule"`
	Code        string          `json:"code,omitempty"`
	Message     string          `json:"message,omitempty"`
	DeviceValue json.RawMessage `json:"device_value,omitempty"`
	ServerValue json.RawMessage `json:"server_value,omitempty"`
	Winner      string          `json:"winner"`
	CreatedAt   time.Time       `json:"created_at"`
}

// ConflictPage is one page of the conflict log, newest first.
type ConflictPage struct {
	Items      []Conflict `json:"items"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

const (
	defaultConflictLimit = 50
	maxConflictLimit     = 200
)

var errBadConflictCursor = apperr.New(syncproto.CodeInvalidCursor, "分页位置无效", "invalid cursor")

// ListConflicts pages through the conflicts and rejections in the actor's
// scope: supervisors see their org subtree's outlets, branch managers their
// branch, admins everything. Officers learn their verdicts through sync.
func (s *Service) ListConflicts(ctx context.Context, a store.Actor, f ConflictFilter) (ConflictPage, error) {
	if !a.IsStaff() {
		return ConflictPage{}, errStaffOnly
	}
	switch f.Kind {
	case "", store.ConflictField, store.ConflictRejection:
	default:
		return ConflictPage{}, apperr.Invalid("kind", "kind 应为 conflict 或 rejection", "kind must be conflict or rejection")
	}
	switch {
	case f.Limit == 0:
		f.Limit = defaultConflictLimit
	case f.Limit < 0 || f.Limit > maxConflictLimit:
		return ConflictPage{}, apperr.Invalid("limit", "limit 应在 1 到 200 之间", "limit must be from 1 to 200").With("max", maxConflictLimit)
	}
	q := store.ConflictQuery{Kind: f.Kind, Limit: f.Limit + 1}
	if f.Cursor != "" {
		at, id, ok := decodeConflictCursor(f.Cursor)
		if !ok {
			return ConflictPage{}, errBadConflictCursor
		}
		q.BeforeAt, q.BeforeID = at, id
	}
	rows, err := s.db.ListConflicts(ctx, a, q)
	if err != nil {
		return ConflictPage{}, err
	}
	page := ConflictPage{Items: []Conflict{}}
	if len(rows) > f.Limit {
		rows = rows[:f.Limit]
		last := rows[len(rows)-1]
		page.NextCursor = encodeConflictCursor(last.CreatedAt, last.ID)
	}
	for _, r := range rows {
		page.Items = append(page.Items, Conflict{
			ID: r.ID, Kind: r.Kind, UserID: r.UserID, DeviceID: r.DeviceID, MutationID: r.MutationID, Entity: r.Entity,
			EntityID: r.EntityID, HouseholdID: deref(r.HouseholdID), OutletID: deref(r.OutletID), Field: r.Field,
			Rule: r.Rule, Code: r.Code, Message: r.Message, DeviceValue: rawOrNil(r.DeviceValue),
			ServerValue: rawOrNil(r.ServerValue), Winner: r.Winner, CreatedAt: r.CreatedAt.UTC(),
		})
	}
	return page, nil
}

func rawOrNil(s *string) json.RawMessage {
	if s == nil || *s == "" {
		return nil
	}
	return json.RawMessage(*s)
}

func encodeConflictCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UTC().UnixMicro(), 10) + "|" + id))
}

func decodeConflictCursor(s string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", false
	}
	us, id, ok := strings.Cut(string(b), "|")
	if !ok || !safeID.MatchString(id) {
		return time.Time{}, "", false
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil {
		return time.Time{}, "", false
	}
	return time.UnixMicro(n).UTC(), id, true
}
