package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Web console sessions and the console's read-only listings. The console
// builds a store.Actor from its session exactly as the API builds one from
// an access token, and every listing of household data goes through
// Actor.ScopeHouseholds, so reach is decided in the one place it always is.

// Why a console session is no longer usable.
var (
	ErrConsoleSessionEnded = errors.New("console session ended")
)

// Reasons a console session ended, kept in end_reason.
const (
	ConsoleEndSignOut = "sign_out"
	ConsoleEndExpired = "expired"
	ConsoleEndIdle    = "idle"
	ConsoleEndAccount = "account_changed"
)

// ConsoleSessionStart opens a console session for a user whose password the
// caller has verified.
type ConsoleSessionStart struct {
	IDHash    string
	CSRFToken string
	UserID    string
	Now       time.Time
	TTL       time.Duration // absolute lifetime
	// ClearFailuresKey names the login-attempt key whose failures a
	// successful sign-in clears.
	ClearFailuresKey string
	RequestID        string
}

// ConsoleIdentity is who a live console session belongs to.
type ConsoleIdentity struct {
	Session     ConsoleSession
	Actor       Actor
	DisplayName string
	UnitName    string
}

// StartConsoleSession re-checks, in one transaction, that the account is
// active and may use the console, stores the session and audits the sign-in.
// Officers are refused with ErrForbiddenRole: they use the app.
func (db *DB) StartConsoleSession(ctx context.Context, s ConsoleSessionStart) (ConsoleIdentity, error) {
	var out ConsoleIdentity
	err := db.Transact(ctx, func(tx *Tx) error {
		u, path, err := tx.userWithPath(s.UserID)
		if err != nil {
			return err
		}
		if u.Status != UserActive {
			return ErrUserDisabled
		}
		if u.Role == RoleOfficer {
			return ErrForbiddenRole
		}
		sess := ConsoleSession{
			IDHash: s.IDHash, BranchID: u.BranchID, UserID: u.ID, CSRFToken: s.CSRFToken,
			CreatedAt: s.Now, LastSeenAt: s.Now, ExpiresAt: s.Now.Add(s.TTL),
		}
		if err := tx.Create(&sess).Error; err != nil {
			return fmt.Errorf("store console session: %w", err)
		}
		if s.ClearFailuresKey != "" {
			if err := tx.Where("key = ?", s.ClearFailuresKey).Delete(&LoginAttempt{}).Error; err != nil {
				return fmt.Errorf("clear login failures: %w", err)
			}
		}
		// Sessions that ended long ago are of no further use.
		if err := tx.Where("expires_at < ?", s.Now.Add(-7*24*time.Hour)).Delete(&ConsoleSession{}).Error; err != nil {
			return fmt.Errorf("prune console sessions: %w", err)
		}
		var unitName string
		if err := tx.Raw(`SELECT name FROM org_units WHERE id = ?`, u.OrgUnitID).Scan(&unitName).Error; err != nil {
			return fmt.Errorf("load org unit: %w", err)
		}
		a := Actor{
			UserID: u.ID, Username: u.Username, Role: u.Role, BranchID: u.BranchID,
			OrgUnitID: u.OrgUnitID, OrgPath: path, RequestID: s.RequestID,
		}
		if err := tx.Audit(a, "console.sign_in", "user", u.ID, nil); err != nil {
			return err
		}
		out = ConsoleIdentity{Session: sess, Actor: a, DisplayName: u.DisplayName, UnitName: unitName}
		return nil
	})
	return out, err
}

// ErrForbiddenRole refuses a role that may not use what it asked for.
var ErrForbiddenRole = errors.New("role not allowed")

type consoleSessionRow struct {
	IDHash      string
	CSRFToken   string `gorm:"column:csrf_token"`
	CreatedAt   time.Time
	LastSeenAt  time.Time
	ExpiresAt   time.Time
	RevokedAt   *time.Time
	UserID      string
	Username    string
	DisplayName string
	Role        string
	UserStatus  string
	BranchID    string
	OrgUnitID   string
	UserUpdated time.Time
	OrgPath     string
	UnitName    string
}

// ConsoleSessionActor loads the session with the given id hash and the actor
// it stands for, re-reading the account on every request so that disabling
// it, changing its password or role, or signing out takes effect at once. A
// session is over when it was revoked, has passed its expiry, has been idle
// longer than idle, or was opened before the account last changed; it is
// then ErrConsoleSessionEnded. An unknown hash is ErrNotFound.
func (db *DB) ConsoleSessionActor(ctx context.Context, idHash string, now time.Time, idle time.Duration) (ConsoleIdentity, error) {
	var rows []consoleSessionRow
	err := db.gorm.WithContext(ctx).Raw(`
		SELECT s.id_hash, s.csrf_token, s.created_at, s.last_seen_at, s.expires_at, s.revoked_at,
		       u.id AS user_id, u.username, u.display_name, u.role, u.status AS user_status,
		       u.branch_id, u.org_unit_id, u.updated_at AS user_updated, o.path AS org_path, o.name AS unit_name
		FROM console_sessions s
		JOIN users u ON u.id = s.user_id
		JOIN org_units o ON o.id = u.org_unit_id
		WHERE s.id_hash = ?`, idHash).Scan(&rows).Error
	if err != nil {
		return ConsoleIdentity{}, fmt.Errorf("load console session: %w", err)
	}
	if len(rows) == 0 {
		return ConsoleIdentity{}, ErrNotFound
	}
	r := rows[0]
	reason := ""
	switch {
	case r.RevokedAt != nil:
		return ConsoleIdentity{}, ErrConsoleSessionEnded
	case !now.Before(r.ExpiresAt):
		reason = ConsoleEndExpired
	case idle > 0 && now.Sub(r.LastSeenAt) > idle:
		reason = ConsoleEndIdle
	case r.UserStatus != UserActive || r.Role == RoleOfficer || r.UserUpdated.After(r.CreatedAt):
		reason = ConsoleEndAccount
	}
	if reason != "" {
		if err := db.EndConsoleSession(ctx, Actor{}, idHash, reason); err != nil && !errors.Is(err, ErrNotFound) {
			return ConsoleIdentity{}, err
		}
		return ConsoleIdentity{}, ErrConsoleSessionEnded
	}
	// Touch at most once a minute: the idle limit needs no finer grain, and
	// a page view should not always cost a write.
	if now.Sub(r.LastSeenAt) > time.Minute {
		err := db.gorm.WithContext(ctx).Model(&ConsoleSession{}).
			Where("id_hash = ? AND revoked_at IS NULL", idHash).Update("last_seen_at", now).Error
		if err != nil {
			return ConsoleIdentity{}, fmt.Errorf("touch console session: %w", err)
		}
		r.LastSeenAt = now
	}
	sess := ConsoleSession{
		IDHash: r.IDHash, BranchID: r.BranchID, UserID: r.UserID, CSRFToken: r.CSRFToken,
		CreatedAt: r.CreatedAt, LastSeenAt: r.LastSeenAt, ExpiresAt: r.ExpiresAt,
	}
	a := Actor{
		UserID: r.UserID, Username: r.Username, Role: r.Role, BranchID: r.BranchID,
		OrgUnitID: r.OrgUnitID, OrgPath: r.OrgPath,
	}
	return ConsoleIdentity{Session: sess, Actor: a, DisplayName: r.DisplayName, UnitName: r.UnitName}, nil
}

// EndConsoleSession revokes a session. With a non-empty actor (sign-out) the
// end is audited. Ending an ended session changes nothing.
func (db *DB) EndConsoleSession(ctx context.Context, a Actor, idHash, reason string) error {
	return db.Transact(ctx, func(tx *Tx) error {
		upd := tx.Model(&ConsoleSession{}).Where("id_hash = ? AND revoked_at IS NULL", idHash).
			Updates(map[string]any{"revoked_at": Now(), "end_reason": reason})
		if upd.Error != nil {
			return fmt.Errorf("end console session: %w", upd.Error)
		}
		if upd.RowsAffected == 0 {
			var n int64
			if err := tx.Model(&ConsoleSession{}).Where("id_hash = ?", idHash).Count(&n).Error; err != nil {
				return fmt.Errorf("end console session: %w", err)
			}
			if n == 0 {
				return ErrNotFound
			}
			return nil
		}
		if a.UserID == "" {
			return nil
		}
		return tx.Audit(a, "console.sign_out", "user", a.UserID, map[string]string{"reason": reason})
	})
}

// ActorForUser builds the actor for an active account, as requireAuth does
// from a token: role, branch, home org unit and its path.
func (db *DB) ActorForUser(ctx context.Context, userID string) (Actor, error) {
	var u User
	err := db.gorm.WithContext(ctx).Where("id = ?", userID).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return Actor{}, ErrNotFound
	}
	if err != nil {
		return Actor{}, fmt.Errorf("load user: %w", err)
	}
	if u.Status != UserActive {
		return Actor{}, ErrUserDisabled
	}
	var path string
	if err := db.gorm.WithContext(ctx).Raw(`SELECT path FROM org_units WHERE id = ?`, u.OrgUnitID).Scan(&path).Error; err != nil {
		return Actor{}, fmt.Errorf("load org unit: %w", err)
	}
	return Actor{UserID: u.ID, Username: u.Username, Role: u.Role, BranchID: u.BranchID, OrgUnitID: u.OrgUnitID, OrgPath: path}, nil
}

// --- Listings -------------------------------------------------------------------

// ListPage asks for one page of a listing: a search text, a sort key from
// the listing's allow-list (anything else falls back to the default) and
// the window.
type ListPage struct {
	Q      string
	Sort   string
	Desc   bool
	Limit  int
	Offset int
}

func (p ListPage) window() (limit, offset int) {
	limit, offset = p.Limit, p.Offset
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	if offset < 0 {
		offset = 0
	}
	return limit, offset
}

// order turns a sort key into an ORDER BY clause through the allow-list; a
// user-supplied key never reaches the SQL text.
func (p ListPage) order(allowed map[string]string, def string, tiebreak string) string {
	col, ok := allowed[p.Sort]
	if !ok {
		col = allowed[def]
	}
	dir := " ASC"
	if p.Desc {
		dir = " DESC"
	}
	// A key of several terms takes the direction on each of them.
	return strings.ReplaceAll(col, ", ", dir+", ") + dir + ", " + tiebreak
}

// likeEscape makes user text safe inside a LIKE pattern (ESCAPE '\').
func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// Time is a timestamp read from an expression (an aggregate or subquery),
// where SQLite no longer knows the column's type and hands back text.
type Time struct {
	Time  time.Time
	Valid bool
}

var sqliteTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
}

// Scan implements sql.Scanner.
func (t *Time) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		*t = Time{}
		return nil
	case time.Time:
		*t = Time{Time: x.UTC(), Valid: true}
		return nil
	case []byte:
		return t.Scan(string(x))
	case string:
		for _, l := range sqliteTimeLayouts {
			if p, err := time.Parse(l, x); err == nil {
				*t = Time{Time: p.UTC(), Valid: true}
				return nil
			}
		}
		return fmt.Errorf("unreadable time %q", x)
	default:
		return fmt.Errorf("cannot scan %T into a time", v)
	}
}

// Value implements driver.Valuer, so gorm treats Time as a column.
func (t Time) Value() (driver.Value, error) {
	if !t.Valid {
		return nil, nil
	}
	return t.Time, nil
}

// Ptr returns the time or nil.
func (t Time) Ptr() *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
}

// HouseholdListItem is one row of the console's household list. Personal
// numbers appear only masked.
type HouseholdListItem struct {
	ID             string
	HouseholdNo    string
	HeadName       string
	IDNumberMasked string `gorm:"column:id_number_masked"`
	PhoneMasked    string
	County         string
	Township       string
	Village        string
	ListStatus     string
	OutletID       *string
	OutletName     string
	OfficerID      *string
	OfficerName    string
	OfficerDueOn   string
	LastVisit      Time
}

// HouseholdSorts is the allow-list of sort keys for households.
var HouseholdSorts = map[string]string{
	"household_no": "h.household_no",
	"head_name":    "h.head_name",
	"village":      "h.township || h.village",
	"outlet":       "o.name",
	"officer":      "u.display_name",
	"due_on":       "a.officer_due_on",
	"last_visit":   "last_visit",
}

// HouseholdFilter narrows the household list.
type HouseholdFilter struct {
	OutletID  string
	OfficerID string
	Status    string // active (default), removed, or all
	// Unassigned keeps only households with no officer.
	Unassigned bool
}

// ConsoleHouseholds lists the households the actor reaches, searchable by
// household number or head's name.
func (db *DB) ConsoleHouseholds(ctx context.Context, a Actor, f HouseholdFilter, p ListPage) ([]HouseholdListItem, int64, error) {
	q := a.ScopeHouseholds(db.gorm.WithContext(ctx).Table("households h"), "h").
		Joins("LEFT JOIN org_units o ON o.id = h.outlet_id").
		Joins("LEFT JOIN users u ON u.id = h.officer_id").
		Joins("LEFT JOIN assignments a ON a.branch_id = h.branch_id AND a.household_id = h.id AND a.ended_at IS NULL")
	switch f.Status {
	case "all":
	case ListRemoved:
		q = q.Where("h.list_status = ?", ListRemoved)
	default:
		q = q.Where("h.list_status = ?", ListActive)
	}
	if f.OutletID != "" {
		q = q.Where("h.outlet_id = ?", f.OutletID)
	}
	if f.OfficerID != "" {
		q = q.Where("h.officer_id = ?", f.OfficerID)
	}
	if f.Unassigned {
		q = q.Where("h.officer_id IS NULL")
	}
	if s := strings.TrimSpace(p.Q); s != "" {
		q = q.Where(`(h.household_no LIKE ? ESCAPE '\' OR h.head_name LIKE ? ESCAPE '\')`, likeEscape(s)+"%", "%"+likeEscape(s)+"%")
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count households: %w", err)
	}
	limit, offset := p.window()
	var out []HouseholdListItem
	err := q.Select(`h.id, h.household_no, h.head_name, h.id_number_masked, h.phone_masked, h.county, h.township,
			h.village, h.list_status, h.outlet_id, o.name AS outlet_name, h.officer_id,
			COALESCE(u.display_name, '') AS officer_name, COALESCE(a.officer_due_on, '') AS officer_due_on,
			(SELECT MAX(v.visited_at) FROM visits v WHERE v.branch_id = h.branch_id AND v.household_id = h.id
			   AND v.deleted_at IS NULL) AS last_visit`).
		Order(p.order(HouseholdSorts, "household_no", "h.household_no, h.id")).
		Limit(limit).Offset(offset).Scan(&out).Error
	if err != nil {
		return nil, 0, fmt.Errorf("list households: %w", err)
	}
	return out, total, nil
}

// AuditItem is one audit-log entry with the actor's name.
type AuditItem struct {
	AuditEntry
	ActorName string
}

// AuditSorts is the allow-list of sort keys for the audit log.
var AuditSorts = map[string]string{
	"time":   "l.created_at",
	"action": "l.action",
	"actor":  "u.username",
	"target": "l.target_type",
}

// ConsoleAudit lists audit entries: an admin sees all, a branch manager their
// branch, a supervisor what the users of their org subtree did; officers
// see nothing. The search matches the action, the target id or the actor's
// username.
func (db *DB) ConsoleAudit(ctx context.Context, a Actor, p ListPage) ([]AuditItem, int64, error) {
	q := db.gorm.WithContext(ctx).Table("audit_log l").
		Joins("LEFT JOIN users u ON u.id = l.actor_id").
		Joins("LEFT JOIN org_units o ON o.id = u.org_unit_id")
	switch a.Role {
	case RoleAdmin:
	case RoleBranchManager:
		q = q.Where("l.branch_id = ?", a.BranchID)
	case RoleSupervisor:
		q = q.Where("l.branch_id = ? AND o.path LIKE ?", a.BranchID, a.OrgPath+"%")
	default:
		q = q.Where("1 = 0")
	}
	if s := strings.TrimSpace(p.Q); s != "" {
		like := "%" + likeEscape(s) + "%"
		q = q.Where(`(l.action LIKE ? ESCAPE '\' OR l.target_id = ? OR u.username LIKE ? ESCAPE '\')`, like, s, like)
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count audit log: %w", err)
	}
	limit, offset := p.window()
	if p.Sort == "" {
		p.Sort, p.Desc = "time", true
	}
	var out []AuditItem
	err := q.Select("l.*, COALESCE(u.username, '') AS actor_name").
		Order(p.order(AuditSorts, "time", "l.id DESC")).Limit(limit).Offset(offset).Scan(&out).Error
	if err != nil {
		return nil, 0, fmt.Errorf("list audit log: %w", err)
	}
	return out, total, nil
}

// HouseholdLabel names a household on a page.
type HouseholdLabel struct {
	ID          string
	HouseholdNo string
	HeadName    string
}

// ConsoleHouseholdLabels returns the number and head's name of each of the
// given households the actor reaches.
func (db *DB) ConsoleHouseholdLabels(ctx context.Context, a Actor, ids []string) (map[string]HouseholdLabel, error) {
	out := make(map[string]HouseholdLabel, len(ids))
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		chunk := ids[:n]
		ids = ids[n:]
		var rows []HouseholdLabel
		err := a.ScopeHouseholds(db.gorm.WithContext(ctx).Table("households h"), "h").
			Where("h.id IN ?", chunk).Select("h.id, h.household_no, h.head_name").Scan(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("load household labels: %w", err)
		}
		for _, r := range rows {
			out[r.ID] = r
		}
	}
	return out, nil
}
