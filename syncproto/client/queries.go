package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// record decodes the app's view of one record into out.
func (c *Client) record(ctx context.Context, entity, id string, out any) (bool, error) {
	var data sql.NullString
	err := c.db.QueryRowContext(ctx, `SELECT data FROM records WHERE entity = ? AND id = ?`, entity, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && !data.Valid) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", entity, err)
	}
	if err := json.Unmarshal([]byte(data.String), out); err != nil {
		return false, fmt.Errorf("decode %s %s: %w", entity, id, err)
	}
	return true, nil
}

// list decodes every visible record of an entity, optionally of one household.
func list[T any](ctx context.Context, c *Client, entity, householdID string) ([]T, error) {
	q := `SELECT data FROM records WHERE entity = ? AND data IS NOT NULL`
	args := []any{entity}
	if householdID != "" {
		q += ` AND household_id = ?`
		args = append(args, householdID)
	}
	rows, err := c.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", entity, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		var v T
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			return nil, fmt.Errorf("decode %s: %w", entity, err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Households lists the households on this device, by household number.
func (c *Client) Households(ctx context.Context) ([]syncproto.Household, error) {
	hs, err := list[syncproto.Household](ctx, c, syncproto.EntityHousehold, "")
	sort.SliceStable(hs, func(i, j int) bool { return hs[i].HouseholdNo < hs[j].HouseholdNo })
	return hs, err
}

// Household returns one household.
func (c *Client) Household(ctx context.Context, id string) (syncproto.Household, bool, error) {
	var h syncproto.Household
	ok, err := c.record(ctx, syncproto.EntityHousehold, id, &h)
	return h, ok, err
}

// Visits lists the visits of a household ("" for all), newest first.
func (c *Client) Visits(ctx context.Context, householdID string) ([]syncproto.Visit, error) {
	vs, err := list[syncproto.Visit](ctx, c, syncproto.EntityVisit, householdID)
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].StartedAt.After(vs[j].StartedAt) })
	return vs, err
}

// Visit returns one visit.
func (c *Client) Visit(ctx context.Context, id string) (syncproto.Visit, bool, error) {
	var v syncproto.Visit
	ok, err := c.record(ctx, syncproto.EntityVisit, id, &v)
	return v, ok, err
}

// Needs lists the financing needs of a household ("" for all).
func (c *Client) Needs(ctx context.Context, householdID string) ([]syncproto.FinancingNeed, error) {
	return list[syncproto.FinancingNeed](ctx, c, syncproto.EntityNeed, householdID)
}

// Loans lists the loan applications of a household ("" for all).
func (c *Client) Loans(ctx context.Context, householdID string) ([]syncproto.LoanApplication, error) {
	return list[syncproto.LoanApplication](ctx, c, syncproto.EntityLoan, householdID)
}

// Loan returns one loan application.
func (c *Client) Loan(ctx context.Context, id string) (syncproto.LoanApplication, bool, error) {
	var l syncproto.LoanApplication
	ok, err := c.record(ctx, syncproto.EntityLoan, id, &l)
	return l, ok, err
}

// Plans lists visit plans of a household ("" for all), by date.
func (c *Client) Plans(ctx context.Context, householdID string) ([]syncproto.VisitPlan, error) {
	ps, err := list[syncproto.VisitPlan](ctx, c, syncproto.EntityVisitPlan, householdID)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].PlannedOn < ps[j].PlannedOn })
	return ps, err
}

// Tasks lists tasks addressed to the officer.
func (c *Client) Tasks(ctx context.Context) ([]syncproto.Task, error) {
	return list[syncproto.Task](ctx, c, syncproto.EntityTask, "")
}

// Products lists loan products.
func (c *Client) Products(ctx context.Context) ([]syncproto.LoanProduct, error) {
	ps, err := list[syncproto.LoanProduct](ctx, c, syncproto.EntityLoanProduct, "")
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Code < ps[j].Code })
	return ps, err
}

// RecordCount counts the visible records of an entity.
func (c *Client) RecordCount(ctx context.Context, entity string) (int, error) {
	var n int
	err := c.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM records WHERE entity = ? AND data IS NOT NULL`, entity).Scan(&n)
	return n, err
}

// PendingMutation is an edit waiting in the outbox.
type PendingMutation struct {
	Seq         int64
	MutationID  string
	Entity      string
	EntityID    string
	Op          string
	BaseVersion int64
	DeviceTime  time.Time
	Fields      map[string]json.RawMessage
	Sent        bool // sent at least once, result not yet stored
}

// Pending lists the outbox in the order it will be sent.
func (c *Client) Pending(ctx context.Context) ([]PendingMutation, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT seq, mutation_id, entity, entity_id, op, base_version, device_time, fields, state
		FROM outbox ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var out []PendingMutation
	for rows.Next() {
		var p PendingMutation
		var dt, fields, state string
		if err := rows.Scan(&p.Seq, &p.MutationID, &p.Entity, &p.EntityID, &p.Op, &p.BaseVersion, &dt, &fields, &state); err != nil {
			return nil, err
		}
		p.DeviceTime, _ = time.Parse(time.RFC3339Nano, dt)
		json.Unmarshal([]byte(fields), &p.Fields)
		p.Sent = state == "sent"
		out = append(out, p)
	}
	return out, rows.Err()
}

// PendingCount is the number of edits in the outbox.
func (c *Client) PendingCount(ctx context.Context) (int, error) {
	return countOutbox(ctx, c.db)
}

func countOutbox(ctx context.Context, db *sql.DB) (int, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
}

// RejectionInfo is an edit the server refused. Fields keeps what the officer
// entered, so it can be corrected and entered again.
type RejectionInfo struct {
	MutationID   string
	RejectionID  string // the server's id when delivered on pull
	Entity       string
	EntityID     string
	Code         string
	Field        string
	Message      string // from the server, in the requested language
	Fields       map[string]json.RawMessage
	Current      json.RawMessage // the server's record, when it sent one
	Source       string          // "push", "pull" or "local"
	CreatedAt    time.Time
	Acknowledged bool
}

// Rejections lists refused edits, newest first, including acknowledged ones.
func (c *Client) Rejections(ctx context.Context) ([]RejectionInfo, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT mutation_id, rejection_id, entity, entity_id, code, field, message,
		fields, current, source, created_at, acknowledged FROM rejections ORDER BY created_at DESC, mutation_id`)
	if err != nil {
		return nil, fmt.Errorf("read rejections: %w", err)
	}
	defer rows.Close()
	var out []RejectionInfo
	for rows.Next() {
		var r RejectionInfo
		var fields, current sql.NullString
		var created string
		if err := rows.Scan(&r.MutationID, &r.RejectionID, &r.Entity, &r.EntityID, &r.Code, &r.Field, &r.Message,
			&fields, &current, &r.Source, &created, &r.Acknowledged); err != nil {
			return nil, err
		}
		if fields.Valid {
			json.Unmarshal([]byte(fields.String), &r.Fields)
		}
		if current.Valid {
			r.Current = json.RawMessage(current.String)
		}
		r.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
		out = append(out, r)
	}
	return out, rows.Err()
}

// AckRejection marks a rejection as seen by the officer.
func (c *Client) AckRejection(ctx context.Context, mutationID string) error {
	_, err := c.db.ExecContext(ctx, `UPDATE rejections SET acknowledged = 1 WHERE mutation_id = ?`, mutationID)
	return err
}

// ConflictInfo is a field where the server kept another value than the
// device's (Winner "server"), or where the device's value won over a
// different server value (Winner "device").
type ConflictInfo struct {
	MutationID  string
	Entity      string
	EntityID    string
	Field       string
	Rule        string
	DeviceValue json.RawMessage
	ServerValue json.RawMessage
	Winner      string
	CreatedAt   time.Time
}

// Conflicts lists field conflicts reported by the server, newest first.
func (c *Client) Conflicts(ctx context.Context) ([]ConflictInfo, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT mutation_id, entity, entity_id, field, rule, device_value, server_value, winner, created_at
		FROM conflicts ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("read conflicts: %w", err)
	}
	defer rows.Close()
	var out []ConflictInfo
	for rows.Next() {
		var f ConflictInfo
		var dv, sv sql.NullString
		var created string
		if err := rows.Scan(&f.MutationID, &f.Entity, &f.EntityID, &f.Field, &f.Rule, &dv, &sv, &f.Winner, &created); err != nil {
			return nil, err
		}
		if dv.Valid {
			f.DeviceValue = json.RawMessage(dv.String)
		}
		if sv.Valid {
			f.ServerValue = json.RawMessage(sv.String)
		}
		f.CreatedAt, _ = time.Parse(time.RFC3339Nano, created)
		out = append(out, f)
	}
	return out, rows.Err()
}
