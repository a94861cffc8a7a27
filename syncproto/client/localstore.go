package client

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// The local schema. Times are RFC 3339 text in UTC; JSON is text.
const localSchemaVersion = 1

var localSchema = []string{
	`CREATE TABLE IF NOT EXISTS meta (
		key   TEXT PRIMARY KEY,
		value TEXT NOT NULL
	)`,
	// base: the server's last known state (NULL if the server has never
	// confirmed the record); data: what the app shows, base plus pending
	// edits (NULL if deleted locally).
	`CREATE TABLE IF NOT EXISTS records (
		entity       TEXT NOT NULL,
		id           TEXT NOT NULL,
		household_id TEXT NOT NULL DEFAULT '',
		version      INTEGER NOT NULL DEFAULT 0,
		base         TEXT,
		data         TEXT,
		PRIMARY KEY (entity, id)
	)`,
	`CREATE INDEX IF NOT EXISTS records_household ON records (household_id, entity)`,
	`CREATE TABLE IF NOT EXISTS outbox (
		seq          INTEGER PRIMARY KEY AUTOINCREMENT,
		mutation_id  TEXT NOT NULL UNIQUE,
		entity       TEXT NOT NULL,
		entity_id    TEXT NOT NULL,
		op           TEXT NOT NULL,
		base_version INTEGER NOT NULL,
		device_time  TEXT NOT NULL,
		fields       TEXT NOT NULL,
		state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent')),
		attempts     INTEGER NOT NULL DEFAULT 0
	)`,
	`CREATE INDEX IF NOT EXISTS outbox_record ON outbox (entity, entity_id)`,
	`CREATE TABLE IF NOT EXISTS rejections (
		mutation_id  TEXT PRIMARY KEY,
		rejection_id TEXT NOT NULL DEFAULT '',
		entity       TEXT NOT NULL,
		entity_id    TEXT NOT NULL,
		code         TEXT NOT NULL,
		field        TEXT NOT NULL DEFAULT '',
		message      TEXT NOT NULL DEFAULT '',
		fields       TEXT,
		current      TEXT,
		source       TEXT NOT NULL,
		created_at   TEXT NOT NULL,
		acknowledged INTEGER NOT NULL DEFAULT 0
	)`,
	`CREATE TABLE IF NOT EXISTS conflicts (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		mutation_id  TEXT NOT NULL,
		entity       TEXT NOT NULL,
		entity_id    TEXT NOT NULL,
		field        TEXT NOT NULL,
		rule         TEXT NOT NULL,
		device_value TEXT,
		server_value TEXT,
		winner       TEXT NOT NULL,
		created_at   TEXT NOT NULL,
		acknowledged INTEGER NOT NULL DEFAULT 0,
		UNIQUE (mutation_id, field)
	)`,
}

func (c *Client) migrate(ctx context.Context) error {
	return c.tx(ctx, func(tx *sql.Tx) error {
		for _, s := range localSchema {
			if _, err := tx.Exec(s); err != nil {
				return fmt.Errorf("create local schema: %w", err)
			}
		}
		var v int
		if err := tx.QueryRow(`PRAGMA user_version`).Scan(&v); err != nil {
			return fmt.Errorf("read local schema version: %w", err)
		}
		if v > localSchemaVersion {
			return fmt.Errorf("device store was written by a newer app (schema %d > %d)", v, localSchemaVersion)
		}
		_, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, localSchemaVersion))
		return err
	})
}

// tx runs fn in a local transaction. It is never held across a network call.
func (c *Client) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("local store: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("local store commit: %w", err)
	}
	return nil
}

type execer interface {
	Exec(query string, args ...any) (sql.Result, error)
	Query(query string, args ...any) (*sql.Rows, error)
	QueryRow(query string, args ...any) *sql.Row
}

func getMeta(q execer, key string) (string, error) {
	var v string
	err := q.QueryRow(`SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read %s: %w", key, err)
	}
	return v, nil
}

func setMeta(q execer, key, value string) error {
	_, err := q.Exec(`INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

func delMeta(q execer, keys ...string) error {
	for _, k := range keys {
		if _, err := q.Exec(`DELETE FROM meta WHERE key = ?`, k); err != nil {
			return fmt.Errorf("clear %s: %w", k, err)
		}
	}
	return nil
}

func (c *Client) metaAll(ctx context.Context) (map[string]string, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT key, value FROM meta`)
	if err != nil {
		return nil, fmt.Errorf("read meta: %w", err)
	}
	defer rows.Close()
	m := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		m[k] = v
	}
	return m, rows.Err()
}

func (c *Client) meta(ctx context.Context, key string) (string, error) {
	return getMeta(c.db, key)
}

func timeText(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// --- records -----------------------------------------------------------------

// object is a record as a JSON object, field by field.
type object map[string]json.RawMessage

func parseObject(raw []byte) (object, error) {
	o := object{}
	if len(raw) == 0 || string(raw) == "null" {
		return o, nil
	}
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("record is not a JSON object: %w", err)
	}
	if o == nil {
		o = object{}
	}
	return o, nil
}

func (o object) str(key string) string {
	var s string
	if raw, ok := o[key]; ok {
		json.Unmarshal(raw, &s)
	}
	return s
}

func (o object) int(key string) int64 {
	var n int64
	if raw, ok := o[key]; ok {
		json.Unmarshal(raw, &n)
	}
	return n
}

func (o object) marshal() string {
	b, _ := json.Marshal(map[string]json.RawMessage(o))
	return string(b)
}

// localRecord is one row of records.
type localRecord struct {
	Entity      string
	ID          string
	HouseholdID string
	Version     int64
	Base        *string
	Data        *string
}

func loadRecord(q execer, entity, id string) (localRecord, bool, error) {
	r := localRecord{Entity: entity, ID: id}
	var base, data sql.NullString
	err := q.QueryRow(`SELECT household_id, version, base, data FROM records WHERE entity = ? AND id = ?`, entity, id).
		Scan(&r.HouseholdID, &r.Version, &base, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("read %s record: %w", entity, err)
	}
	if base.Valid {
		r.Base = &base.String
	}
	if data.Valid {
		r.Data = &data.String
	}
	return r, true, nil
}

func saveRecord(q execer, r localRecord) error {
	if r.Base == nil && r.Data == nil {
		_, err := q.Exec(`DELETE FROM records WHERE entity = ? AND id = ?`, r.Entity, r.ID)
		return err
	}
	_, err := q.Exec(`INSERT INTO records (entity, id, household_id, version, base, data) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (entity, id) DO UPDATE SET household_id = excluded.household_id, version = excluded.version,
			base = excluded.base, data = excluded.data`,
		r.Entity, r.ID, r.HouseholdID, r.Version, nullString(r.Base), nullString(r.Data))
	if err != nil {
		return fmt.Errorf("write %s record: %w", r.Entity, err)
	}
	return nil
}

func nullString(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// householdOf says which household a record hangs under, for dropping
// everything under a household that leaves the device's scope. Tasks and
// reference data are the officer's, not the household's: they leave only
// when the server says so.
func householdOf(entity, id string, o object) string {
	switch entity {
	case syncproto.EntityHousehold:
		return id
	case syncproto.EntityVisit, syncproto.EntityVisitPlan, syncproto.EntityNeed, syncproto.EntityLoan:
		return o.str("household_id")
	}
	return ""
}

// pendingOp is one outbox row.
type pendingOp struct {
	Seq         int64
	MutationID  string
	Entity      string
	EntityID    string
	Op          string
	BaseVersion int64
	DeviceTime  string
	Fields      string
	State       string
}

func pendingFor(q execer, entity, id string) ([]pendingOp, error) {
	rows, err := q.Query(`SELECT seq, mutation_id, op, fields FROM outbox WHERE entity = ? AND entity_id = ? ORDER BY seq`, entity, id)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	var ops []pendingOp
	for rows.Next() {
		p := pendingOp{Entity: entity, EntityID: id}
		if err := rows.Scan(&p.Seq, &p.MutationID, &p.Op, &p.Fields); err != nil {
			return nil, err
		}
		ops = append(ops, p)
	}
	return ops, rows.Err()
}

// rebase rebuilds a record's data from its base and the pending outbox edits,
// and saves it. A record the server has never confirmed exists locally only
// while a pending create names it.
func (c *Client) rebase(q execer, entity, id string, base *string, version int64, userID string) error {
	ops, err := pendingFor(q, entity, id)
	if err != nil {
		return err
	}
	var view object
	present := base != nil
	if present {
		if view, err = parseObject([]byte(*base)); err != nil {
			return err
		}
	}
	for _, op := range ops {
		fields, err := parseObject([]byte(op.Fields))
		if err != nil {
			return err
		}
		switch op.Op {
		case syncproto.OpCreate:
			if !present {
				view = defaults(entity, id, userID)
				present = true
			}
			for k, v := range fields {
				view[k] = v
			}
		case syncproto.OpUpdate:
			if present {
				for k, v := range fields {
					view[k] = v
				}
			}
		case syncproto.OpDelete:
			present = false
			view = nil
		}
	}
	r := localRecord{Entity: entity, ID: id, Version: version, Base: base}
	hh := ""
	if base != nil {
		b, _ := parseObject([]byte(*base))
		hh = householdOf(entity, id, b)
	}
	if present {
		s := view.marshal()
		r.Data = &s
		hh = householdOf(entity, id, view)
	}
	r.HouseholdID = hh
	return saveRecord(q, r)
}

// defaults is what the app shows for a record created on the device before the
// server has confirmed it: the server-owned fields at their initial values.
// They never travel in a mutation.
func defaults(entity, id, userID string) object {
	o := object{}
	set := func(k string, v any) {
		b, _ := json.Marshal(v)
		o[k] = b
	}
	set("id", id)
	set("version", 0)
	switch entity {
	case syncproto.EntityVisit:
		set("officer_id", userID)
		set("status", syncproto.VisitRecorded)
		set("situation", "")
		set("notes", "")
	case syncproto.EntityVisitPlan:
		set("officer_id", userID)
		set("status", syncproto.PlanPlanned)
		set("notes", "")
	case syncproto.EntityNeed:
		set("status", syncproto.NeedRecorded)
		set("notes", "")
	case syncproto.EntityLoan:
		set("status", syncproto.LoanDraft)
		set("purpose", "")
	}
	return o
}

// wipeRecords drops every downloaded record and the cursor, keeps the outbox,
// and rebuilds the records that pending creates name.
func (c *Client) wipeRecords(tx *sql.Tx, userID string) error {
	if _, err := tx.Exec(`DELETE FROM records`); err != nil {
		return fmt.Errorf("wipe records: %w", err)
	}
	if err := delMeta(tx, metaCursor); err != nil {
		return err
	}
	return c.rebaseAllPending(tx, userID)
}

func (c *Client) rebaseAllPending(tx *sql.Tx, userID string) error {
	rows, err := tx.Query(`SELECT DISTINCT entity, entity_id FROM outbox`)
	if err != nil {
		return fmt.Errorf("read outbox: %w", err)
	}
	type key struct{ entity, id string }
	var keys []key
	for rows.Next() {
		var k key
		if err := rows.Scan(&k.entity, &k.id); err != nil {
			rows.Close()
			return err
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		r, _, err := loadRecord(tx, k.entity, k.id)
		if err != nil {
			return err
		}
		if err := c.rebase(tx, k.entity, k.id, r.Base, r.Version, userID); err != nil {
			return err
		}
	}
	return nil
}

// digestItems lists what the device holds from the server.
func digestItems(q execer) ([]syncproto.DigestItem, error) {
	rows, err := q.Query(`SELECT entity, id, version FROM records WHERE base IS NOT NULL AND version > 0`)
	if err != nil {
		return nil, fmt.Errorf("read records: %w", err)
	}
	defer rows.Close()
	var items []syncproto.DigestItem
	for rows.Next() {
		var it syncproto.DigestItem
		if err := rows.Scan(&it.Entity, &it.ID, &it.Version); err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, rows.Err()
}

// Digest is syncproto.Digest over the records the device holds from the server.
func (c *Client) Digest(ctx context.Context) (string, error) {
	items, err := digestItems(c.db)
	if err != nil {
		return "", err
	}
	return syncproto.Digest(items), nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
