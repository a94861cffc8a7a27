package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Sign-in state: devices, refresh-token families and failed logins. The auth
// package decides policy (lifetimes, limits, what a client is told); these
// methods make each step atomic.

// Refusals the auth service maps to client errors.
var (
	ErrDeviceRevoked = errors.New("device revoked")
	ErrUserDisabled  = errors.New("account disabled")
)

// SessionStart turns a verified password into a session: the device is
// registered to the user on its first login, and a new token family begins.
type SessionStart struct {
	UserID         string
	ClientDeviceID string
	DeviceName     string
	AppVersion     string
	// Token is the family's first refresh token; DeviceID and BranchID are
	// filled here.
	Token RefreshToken
	// ClearFailuresKey names the login-attempt key whose failures a
	// successful login clears.
	ClearFailuresKey string
}

// Session is a signed-in device: who, which device, which refresh token.
type Session struct {
	User    User
	OrgPath string
	Device  Device
	Token   RefreshToken
}

// StartSession registers or reuses the device and opens a token family, in
// one transaction that re-checks the account is still active.
func (db *DB) StartSession(ctx context.Context, s SessionStart) (Session, error) {
	var out Session
	err := db.Transact(ctx, func(tx *Tx) error {
		u, path, err := tx.userWithPath(s.UserID)
		if err != nil {
			return err
		}
		if u.Status != UserActive {
			return ErrUserDisabled
		}
		now := s.Token.IssuedAt
		var d Device
		err = tx.Where("user_id = ? AND client_device_id = ?", u.ID, s.ClientDeviceID).Take(&d).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			d = Device{
				ID: NewID(), BranchID: u.BranchID, UserID: u.ID, ClientDeviceID: s.ClientDeviceID,
				Name: s.DeviceName, Status: DeviceActive, AppVersion: s.AppVersion, LastSeenAt: &now, CreatedAt: now,
			}
			if err := tx.Create(&d).Error; err != nil {
				return fmt.Errorf("register device: %w", err)
			}
		case err != nil:
			return fmt.Errorf("load device: %w", err)
		case d.Status != DeviceActive:
			return ErrDeviceRevoked
		default:
			d.Name, d.AppVersion, d.LastSeenAt = s.DeviceName, s.AppVersion, &now
			err := tx.Model(&Device{}).Where("id = ?", d.ID).
				Updates(map[string]any{"name": d.Name, "app_version": d.AppVersion, "last_seen_at": now}).Error
			if err != nil {
				return fmt.Errorf("update device: %w", err)
			}
		}
		t := s.Token
		t.DeviceID, t.BranchID, t.Status = d.ID, d.BranchID, TokenActive
		if err := tx.Create(&t).Error; err != nil {
			return fmt.Errorf("store refresh token: %w", err)
		}
		if s.ClearFailuresKey != "" {
			if err := tx.Where("key = ?", s.ClearFailuresKey).Delete(&LoginAttempt{}).Error; err != nil {
				return fmt.Errorf("clear login failures: %w", err)
			}
		}
		out = Session{User: u, OrgPath: path, Device: d, Token: t}
		return nil
	})
	return out, err
}

func (tx *Tx) userWithPath(userID string) (User, string, error) {
	var u User
	if err := tx.Where("id = ?", userID).Take(&u).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return u, "", ErrNotFound
		}
		return u, "", fmt.Errorf("load user: %w", err)
	}
	var path string
	if err := tx.Raw(`SELECT path FROM org_units WHERE id = ?`, u.OrgUnitID).Scan(&path).Error; err != nil {
		return u, "", fmt.Errorf("load org unit: %w", err)
	}
	return u, path, nil
}

// Outcomes of presenting a refresh token.
const (
	RefreshRotated  = "rotated"  // the token was active; a successor was issued
	RefreshReplayed = "replayed" // the token was just rotated; the same successor is returned
	RefreshReused   = "reused"   // a rotated token came back: the family and the device's sessions are revoked
	RefreshExpired  = "expired"
	RefreshRevoked  = "revoked" // the family had already ended (logout, reuse, revocation)
	RefreshUnknown  = "unknown"
)

// Rotation describes one refresh.
type Rotation struct {
	PresentedHash string
	// SuccessorHash is the hash of the successor token, which the caller
	// derives deterministically from the presented token.
	SuccessorHash string
	Now           time.Time
	Grace         time.Duration // a rotated token presented within this is a replay
	TTL           time.Duration // lifetime of the successor
}

// RotationResult is what became of a presented refresh token. Session is set
// for RefreshRotated and RefreshReplayed; its Token is the successor, and
// Rotated the presented row (whose RotatedAt is the successor's issue time).
type RotationResult struct {
	Outcome string
	Session Session
	Rotated RefreshToken
}

// RotateRefresh rotates a refresh token within its family. A rotated token
// presented again within the grace window, while its successor is still the
// family's active token, is a lost response being retried: the same
// successor is returned. Any other return of a rotated token is theft or a
// broken client: the family and every session of the device are revoked, and
// that revocation commits even though the caller refuses the request.
//
// A revoked device or disabled account is refused with ErrDeviceRevoked or
// ErrUserDisabled before anything changes.
func (db *DB) RotateRefresh(ctx context.Context, r Rotation) (RotationResult, error) {
	var res RotationResult
	err := db.Transact(ctx, func(tx *Tx) error {
		res = RotationResult{}
		var cur RefreshToken
		err := tx.Where("token_hash = ?", r.PresentedHash).Take(&cur).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			res.Outcome = RefreshUnknown
			return nil
		}
		if err != nil {
			return fmt.Errorf("load refresh token: %w", err)
		}
		var d Device
		if err := tx.Where("id = ?", cur.DeviceID).Take(&d).Error; err != nil {
			return fmt.Errorf("load device: %w", err)
		}
		if d.Status != DeviceActive {
			return ErrDeviceRevoked
		}
		u, path, err := tx.userWithPath(d.UserID)
		if err != nil {
			return err
		}
		if u.Status != UserActive {
			return ErrUserDisabled
		}
		sess := Session{User: u, OrgPath: path, Device: d}

		if cur.Status == TokenActive {
			if !r.Now.Before(cur.ExpiresAt) {
				res.Outcome = RefreshExpired
				return nil
			}
			// The status condition makes concurrent refreshes of one token
			// serialise: the loser sees the row rotated and replays.
			upd := tx.Model(&RefreshToken{}).Where("id = ? AND status = ?", cur.ID, TokenActive).
				Updates(map[string]any{"status": TokenRotated, "rotated_at": r.Now})
			if upd.Error != nil {
				return fmt.Errorf("rotate refresh token: %w", upd.Error)
			}
			if upd.RowsAffected == 1 {
				next := RefreshToken{
					ID: NewID(), BranchID: cur.BranchID, DeviceID: cur.DeviceID, FamilyID: cur.FamilyID,
					TokenHash: r.SuccessorHash, Status: TokenActive, IssuedAt: r.Now, ExpiresAt: r.Now.Add(r.TTL),
				}
				if err := tx.Create(&next).Error; err != nil {
					return fmt.Errorf("store successor token: %w", err)
				}
				if err := tx.Model(&Device{}).Where("id = ?", d.ID).Update("last_seen_at", r.Now).Error; err != nil {
					return fmt.Errorf("touch device: %w", err)
				}
				now := r.Now
				cur.Status, cur.RotatedAt = TokenRotated, &now
				sess.Token = next
				res = RotationResult{Outcome: RefreshRotated, Session: sess, Rotated: cur}
				return nil
			}
			if err := tx.Where("id = ?", cur.ID).Take(&cur).Error; err != nil {
				return fmt.Errorf("reload refresh token: %w", err)
			}
		}

		switch cur.Status {
		case TokenRevoked:
			res.Outcome = RefreshRevoked
			return nil
		case TokenRotated:
			var next RefreshToken
			err := tx.Where("token_hash = ?", r.SuccessorHash).Take(&next).Error
			if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
				return fmt.Errorf("load successor token: %w", err)
			}
			inGrace := cur.RotatedAt != nil && r.Now.Sub(*cur.RotatedAt) <= r.Grace
			if err == nil && next.FamilyID == cur.FamilyID && next.Status == TokenActive && inGrace {
				sess.Token = next
				res = RotationResult{Outcome: RefreshReplayed, Session: sess, Rotated: cur}
				return nil
			}
			err = tx.Model(&RefreshToken{}).
				Where("(family_id = ? OR device_id = ?) AND status <> ?", cur.FamilyID, cur.DeviceID, TokenRevoked).
				Update("status", TokenRevoked).Error
			if err != nil {
				return fmt.Errorf("revoke token family: %w", err)
			}
			res = RotationResult{Outcome: RefreshReused, Session: sess, Rotated: cur}
			return nil
		default:
			return fmt.Errorf("refresh token %s has status %q", cur.ID, cur.Status)
		}
	})
	return res, err
}

// EndFamily revokes the family of the token with the given hash (logout).
// It reports the device whose session ended, or ErrNotFound.
func (db *DB) EndFamily(ctx context.Context, tokenHash string) (RefreshToken, error) {
	var cur RefreshToken
	err := db.Transact(ctx, func(tx *Tx) error {
		err := tx.Where("token_hash = ?", tokenHash).Take(&cur).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("load refresh token: %w", err)
		}
		err = tx.Model(&RefreshToken{}).Where("family_id = ? AND status <> ?", cur.FamilyID, TokenRevoked).
			Update("status", TokenRevoked).Error
		if err != nil {
			return fmt.Errorf("end token family: %w", err)
		}
		return nil
	})
	return cur, err
}

// Principal is what an access token's device row says about its bearer,
// read in one query on every authenticated request so that revocation and
// disabling take effect at once.
type Principal struct {
	DeviceID     string
	DeviceStatus string
	UserID       string
	Username     string
	Role         string
	UserStatus   string
	BranchID     string
	OrgUnitID    string
	OrgPath      string
	// SessionLive is false once the token family has no active token:
	// logout, refresh reuse, password reset or disabling ended it.
	SessionLive bool
}

// PrincipalOf loads the device, its user and the user's org path, and
// whether the token family is still live. ErrNotFound if the device is gone.
func (db *DB) PrincipalOf(ctx context.Context, deviceID, familyID string) (Principal, error) {
	var p Principal
	res := db.gorm.WithContext(ctx).Raw(`
		SELECT d.id AS device_id, d.status AS device_status, u.id AS user_id, u.username, u.role,
		       u.status AS user_status, u.branch_id, u.org_unit_id, o.path AS org_path,
		       EXISTS (SELECT 1 FROM refresh_tokens r
		               WHERE r.family_id = ? AND r.device_id = d.id AND r.status = ?) AS session_live
		FROM devices d
		JOIN users u ON u.id = d.user_id
		JOIN org_units o ON o.id = u.org_unit_id
		WHERE d.id = ?`, familyID, TokenActive, deviceID).Scan(&p)
	if res.Error != nil {
		return p, fmt.Errorf("load principal: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return p, ErrNotFound
	}
	return p, nil
}

// --- Login throttling ---------------------------------------------------------

// RecentLoginFailures returns the times of the key's failures since the
// given time, newest first, at most limit of them.
func (db *DB) RecentLoginFailures(ctx context.Context, key string, since time.Time, limit int) ([]time.Time, error) {
	var at []time.Time
	err := db.gorm.WithContext(ctx).Model(&LoginAttempt{}).Where("key = ? AND at >= ?", key, since).
		Order("at DESC").Limit(limit).Pluck("at", &at).Error
	if err != nil {
		return nil, fmt.Errorf("read login failures: %w", err)
	}
	return at, nil
}

// RecordLoginFailure notes one failed login under each key and forgets the
// keys' failures older than before, so the table stays small.
func (db *DB) RecordLoginFailure(ctx context.Context, keys []string, at, before time.Time) error {
	return db.Transact(ctx, func(tx *Tx) error {
		for _, k := range keys {
			if err := tx.Where("key = ? AND at < ?", k, before).Delete(&LoginAttempt{}).Error; err != nil {
				return fmt.Errorf("prune login failures: %w", err)
			}
			if err := tx.Create(&LoginAttempt{Key: k, At: at}).Error; err != nil {
				return fmt.Errorf("record login failure: %w", err)
			}
		}
		return nil
	})
}

// PruneLoginAttempts forgets every failure older than before.
func (db *DB) PruneLoginAttempts(ctx context.Context, before time.Time) error {
	err := db.gorm.WithContext(ctx).Where("at < ?", before).Delete(&LoginAttempt{}).Error
	if err != nil {
		return fmt.Errorf("prune login failures: %w", err)
	}
	return nil
}

// --- Devices ------------------------------------------------------------------

// DeviceInfo is a device with its user and the user's home org unit.
type DeviceInfo struct {
	Device
	Username        string
	UserDisplayName string
	UserRole        string
	OrgUnitID       string
	OrgUnitCode     string
	OrgUnitName     string
	OrgPath         string
}

// DeviceFilter narrows a device listing.
type DeviceFilter struct {
	UserID string // only this user's devices
	Status string // active or revoked; empty for both
	// StaleBefore, when set, keeps only the active devices that have not
	// synced since then (or never) or that hold work they have not synced.
	StaleBefore time.Time
}

func (f DeviceFilter) apply(q *gorm.DB) *gorm.DB {
	if f.UserID != "" {
		q = q.Where("d.user_id = ?", f.UserID)
	}
	if f.Status != "" {
		q = q.Where("d.status = ?", f.Status)
	}
	if !f.StaleBefore.IsZero() {
		q = q.Where("d.status = ? AND (d.pending_changes > 0 OR d.last_sync_at IS NULL OR d.last_sync_at < ?)",
			DeviceActive, f.StaleBefore.UTC())
	}
	return q
}

func devicesQuery(q *gorm.DB) *gorm.DB {
	return q.Table("devices d").
		Select(`d.*, u.username, u.display_name AS user_display_name, u.role AS user_role,
			o.id AS org_unit_id, o.code AS org_unit_code, o.name AS org_unit_name, o.path AS org_path`).
		Joins("JOIN users u ON u.id = d.user_id").
		Joins("JOIN org_units o ON o.id = u.org_unit_id")
}

// scopeDevices restricts a devices query (aliases d, u, o) to the devices of
// users the actor reaches: an admin all, a branch manager their branch, a
// supervisor the users of their org subtree, anyone else their own.
func (a Actor) scopeDevices(q *gorm.DB) *gorm.DB {
	switch a.Role {
	case RoleAdmin:
		return q
	case RoleBranchManager:
		return q.Where("d.branch_id = ?", a.BranchID)
	case RoleSupervisor:
		return q.Where("d.branch_id = ? AND o.path LIKE ?", a.BranchID, a.OrgPath+"%")
	case RoleOfficer:
		return q.Where("d.user_id = ?", a.UserID)
	default:
		return q.Where("1 = 0")
	}
}

// ListDevices lists the devices the actor reaches, by org unit, user and age.
func (db *DB) ListDevices(ctx context.Context, a Actor, f DeviceFilter) ([]DeviceInfo, error) {
	q := f.apply(a.scopeDevices(devicesQuery(db.gorm.WithContext(ctx))))
	var out []DeviceInfo
	if err := q.Order("o.path, u.username, d.created_at").Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}

// DeviceSorts is the allow-list of sort keys for devices.
var DeviceSorts = map[string]string{
	"user": "u.username",
	"unit": "o.name",
	// Never synced sorts as the oldest sync on both databases (their NULLs
	// sort at opposite ends).
	"last_sync": "d.last_sync_at IS NOT NULL, d.last_sync_at",
	"pending":   "d.pending_changes",
	"status":    "d.status",
}

// ListDevicesPage pages through the devices the actor reaches with their
// total. The search matches the user's username or name, or the device's
// name.
func (db *DB) ListDevicesPage(ctx context.Context, a Actor, f DeviceFilter, p ListPage) ([]DeviceInfo, int64, error) {
	q := f.apply(a.scopeDevices(devicesQuery(db.gorm.WithContext(ctx))))
	if t := strings.TrimSpace(p.Q); t != "" {
		like := "%" + likeEscape(strings.ToLower(t)) + "%"
		q = q.Where(`(LOWER(u.username) LIKE ? ESCAPE '\' OR LOWER(u.display_name) LIKE ? ESCAPE '\' OR LOWER(d.name) LIKE ? ESCAPE '\')`,
			like, like, like)
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count devices: %w", err)
	}
	limit, offset := p.window()
	var out []DeviceInfo
	if err := q.Order(p.order(DeviceSorts, "user", "u.username, d.id")).Limit(limit).Offset(offset).Scan(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list devices: %w", err)
	}
	return out, total, nil
}

// DeviceByID loads one device the actor reaches; ErrNotFound otherwise.
func (db *DB) DeviceByID(ctx context.Context, a Actor, id string) (DeviceInfo, error) {
	return deviceInScope(db.gorm.WithContext(ctx), a, id)
}

func deviceInScope(q *gorm.DB, a Actor, id string) (DeviceInfo, error) {
	var out []DeviceInfo
	if err := a.scopeDevices(devicesQuery(q)).Where("d.id = ?", id).Limit(1).Scan(&out).Error; err != nil {
		return DeviceInfo{}, fmt.Errorf("load device: %w", err)
	}
	if len(out) == 0 {
		return DeviceInfo{}, ErrNotFound
	}
	return out[0], nil
}

// RevokeDevice revokes a device the actor reaches and ends every token
// family on it, and writes the audit entry, in one transaction. Revoking a
// revoked device changes nothing and reports changed = false.
func (db *DB) RevokeDevice(ctx context.Context, a Actor, id string) (dev DeviceInfo, changed bool, err error) {
	err = db.Transact(ctx, func(tx *Tx) error {
		changed = false
		d, err := deviceInScope(tx.DB, a, id)
		if err != nil {
			return err
		}
		if d.Status == DeviceRevoked {
			dev = d
			return nil
		}
		now := Now()
		by := a.UserID
		upd := tx.Model(&Device{}).Where("id = ? AND status = ?", id, DeviceActive).
			Updates(map[string]any{"status": DeviceRevoked, "revoked_at": now, "revoked_by": by})
		if upd.Error != nil {
			return fmt.Errorf("revoke device: %w", upd.Error)
		}
		err = tx.Model(&RefreshToken{}).Where("device_id = ? AND status <> ?", id, TokenRevoked).
			Update("status", TokenRevoked).Error
		if err != nil {
			return fmt.Errorf("revoke device tokens: %w", err)
		}
		if err := tx.Audit(a, "device.revoke", "device", id, map[string]string{"user_id": d.UserID}); err != nil {
			return err
		}
		d.Status, d.RevokedAt, d.RevokedBy = DeviceRevoked, &now, &by
		dev, changed = d, upd.RowsAffected == 1
		return nil
	})
	return dev, changed, err
}

// Whoami is the acting user with their home org unit and current device.
type Whoami struct {
	User    User
	OrgUnit OrgUnit
	Device  Device
}

// WhoamiOf loads the actor's own account, org unit and device.
func (db *DB) WhoamiOf(ctx context.Context, a Actor) (Whoami, error) {
	var w Whoami
	g := db.gorm.WithContext(ctx)
	if err := g.Where("id = ?", a.UserID).Take(&w.User).Error; err != nil {
		return w, notFound(err, "load user")
	}
	if err := g.Where("id = ?", w.User.OrgUnitID).Take(&w.OrgUnit).Error; err != nil {
		return w, notFound(err, "load org unit")
	}
	if a.DeviceID != "" {
		if err := g.Where("id = ? AND user_id = ?", a.DeviceID, a.UserID).Take(&w.Device).Error; err != nil {
			return w, notFound(err, "load device")
		}
	}
	return w, nil
}

func notFound(err error, op string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return fmt.Errorf("%s: %w", op, err)
}
