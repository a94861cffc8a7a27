package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Input bounds. A password longer than maxPasswordBytes is refused before
// hashing, so nobody can make the server spend argon2 on megabytes.
const (
	maxUsernameBytes   = 64
	maxPasswordBytes   = 1024
	maxDeviceIDBytes   = 128
	maxDeviceNameBytes = 128
	maxAppVersionBytes = 64
)

// Login checks the password, registers the device on first use and starts
// a session. clientIP is the address gin derived from the connection and the
// trusted proxies only.
func (s *Service) Login(ctx context.Context, req syncproto.LoginRequest, clientIP string) (syncproto.TokenResponse, error) {
	req.Username = strings.TrimSpace(req.Username)
	req.DeviceID = strings.TrimSpace(req.DeviceID)
	req.DeviceName = strings.TrimSpace(req.DeviceName)
	req.AppVersion = strings.TrimSpace(req.AppVersion)
	if err := validateLogin(req); err != nil {
		return syncproto.TokenResponse{}, err
	}
	v, err := s.CheckPassword(ctx, req.Username, req.Password, clientIP)
	if err != nil {
		return syncproto.TokenResponse{}, err
	}
	u := v.User
	if u.Status != store.UserActive {
		s.log.InfoContext(ctx, "auth.login_failed", "reason", "account_disabled", "user_id", u.ID, "client_ip", clientIP)
		return syncproto.TokenResponse{}, ErrAccountDisabled
	}

	now := s.now()
	refresh := newRefreshToken()
	sess, err := s.db.StartSession(ctx, store.SessionStart{
		UserID: u.ID, ClientDeviceID: req.DeviceID, DeviceName: req.DeviceName, AppVersion: req.AppVersion,
		Token: store.RefreshToken{
			ID: store.NewID(), FamilyID: store.NewID(), TokenHash: hashToken(refresh),
			IssuedAt: now, ExpiresAt: now.Add(s.opts.RefreshTTL),
		},
		ClearFailuresKey: v.ThrottleKey,
	})
	switch {
	case errors.Is(err, store.ErrDeviceRevoked):
		s.log.InfoContext(ctx, "auth.login_failed", "reason", "device_revoked", "user_id", u.ID, "client_ip", clientIP)
		return syncproto.TokenResponse{}, ErrDeviceRevoked
	case errors.Is(err, store.ErrUserDisabled):
		s.log.InfoContext(ctx, "auth.login_failed", "reason", "account_disabled", "user_id", u.ID, "client_ip", clientIP)
		return syncproto.TokenResponse{}, ErrAccountDisabled
	case err != nil:
		return syncproto.TokenResponse{}, fmt.Errorf("login: %w", err)
	}
	resp, err := s.tokenResponse(sess, refresh, now)
	if err != nil {
		return resp, err
	}
	s.log.InfoContext(ctx, "auth.login", "user_id", u.ID, "role", u.Role, "device_id", sess.Device.ID,
		"session_id", sess.Token.FamilyID, "client_ip", clientIP)
	return resp, nil
}

// Verified is a user whose password was right.
type Verified struct {
	User store.User // in any status: what the user may open is the caller's to decide
	// ThrottleKey names the failures that a sign-in completed with this
	// check clears (store.SessionStart and store.ConsoleSessionStart).
	ThrottleKey string
}

// CheckPassword checks a username and password under the login throttle,
// for every way of signing in (the app's login and the web console): it
// refuses while the account's or the client address's budget of failures
// is spent, spends as much time on an unknown name as on a wrong password,
// and records each failure against both, so that all ways share one budget
// across instances. clientIP is the address gin derived from the connection
// and the trusted proxies only.
func (s *Service) CheckPassword(ctx context.Context, username, password, clientIP string) (Verified, error) {
	username = strings.TrimSpace(username)
	if err := validateCredentials(username, password); err != nil {
		return Verified{}, err
	}
	now := s.now()
	acctKey, addrKey := accountKey(username), addressKey(clientIP)
	if err := s.checkThrottle(ctx, now, acctKey, addrKey); err != nil {
		if e, ok := apperr.As(err); ok && e.Code == syncproto.CodeTooManyAttempts {
			s.log.WarnContext(ctx, "auth.login_throttled", "account_key", acctKey, "client_ip", clientIP)
		}
		return Verified{}, err
	}

	u, err := s.db.UserByUsername(ctx, username)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Verified{}, fmt.Errorf("check password: %w", err)
	}
	hash := u.PasswordHash
	if !known {
		// Spend the same argon2 work on unknown names, so timing does not
		// tell which accounts exist.
		hash = s.dummy()
	}
	ok, verr := VerifyPassword(hash, password)
	if known && ok {
		return Verified{User: u, ThrottleKey: acctKey}, nil
	}
	if known && verr != nil {
		s.log.ErrorContext(ctx, "auth.password_hash_unreadable", "user_id", u.ID, "err", verr)
	}
	if err := s.db.RecordLoginFailure(ctx, []string{acctKey, addrKey}, now, now.Add(-s.opts.FailureWindow)); err != nil {
		return Verified{}, fmt.Errorf("check password: %w", err)
	}
	if rand.IntN(100) == 0 {
		if err := s.db.PruneLoginAttempts(ctx, now.Add(-s.opts.FailureWindow)); err != nil {
			s.log.WarnContext(ctx, "auth.prune_login_attempts", "err", err)
		}
	}
	// The account is named by its key only: people type passwords into
	// the username field, and those must not reach the logs.
	s.log.InfoContext(ctx, "auth.login_failed", "reason", "invalid_credentials",
		"user_id", u.ID, "account_key", acctKey, "client_ip", clientIP)
	return Verified{}, ErrInvalidCredentials
}

// tokenResponse signs the access token for a session whose refresh token was
// issued at iat. The jti is the refresh row's id, so the pair is a function
// of the row and re-signing it gives the same token.
func (s *Service) tokenResponse(sess store.Session, refresh string, iat time.Time) (syncproto.TokenResponse, error) {
	access, err := s.signAccess(s.accessClaims(sess.User.ID, sess.Device.ID, sess.Token.FamilyID, sess.User.Role, sess.Token.ID, iat))
	if err != nil {
		return syncproto.TokenResponse{}, err
	}
	return syncproto.TokenResponse{
		AccessToken: access, RefreshToken: refresh, TokenType: "Bearer",
		ExpiresIn: int(s.opts.AccessTTL / time.Second),
		UserID:    sess.User.ID, Role: sess.User.Role, DeviceID: sess.Device.ID,
	}, nil
}

func validateCredentials(username, password string) error {
	switch {
	case username == "":
		return apperr.Invalid("username", "请输入用户名", "username is required")
	case len(username) > maxUsernameBytes:
		return apperr.Invalid("username", "用户名过长", "username is too long")
	case password == "":
		return apperr.Invalid("password", "请输入密码", "password is required")
	case len(password) > maxPasswordBytes:
		return apperr.Invalid("password", "密码过长", "password is too long")
	}
	return nil
}

func validateLogin(r syncproto.LoginRequest) error {
	if err := validateCredentials(r.Username, r.Password); err != nil {
		return err
	}
	switch {
	case r.DeviceID == "":
		return apperr.Invalid("device_id", "缺少设备标识 device_id", "device_id is required")
	case len(r.DeviceID) > maxDeviceIDBytes || !printable(r.DeviceID):
		return apperr.Invalid("device_id", "设备标识无效", "device_id must be at most 128 printable characters")
	case len(r.DeviceName) > maxDeviceNameBytes || !printable(r.DeviceName):
		return apperr.Invalid("device_name", "设备名称无效", "device_name must be at most 128 printable characters")
	case len(r.AppVersion) > maxAppVersionBytes || !printable(r.AppVersion):
		return apperr.Invalid("app_version", "应用版本号无效", "app_version must be at most 64 printable characters")
	}
	return nil
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Throttle keys. The account key is a hash of the folded name, so that a
// password typed into the username field is stored nowhere in clear.
func accountKey(username string) string {
	h := sha256.Sum256([]byte(strings.ToLower(username)))
	return "user:" + hex.EncodeToString(h[:12])
}

func addressKey(ip string) string { return "ip:" + ip }

// checkThrottle refuses when either key has reached its limit within the
// window, saying how long until the oldest counted failure ages out.
func (s *Service) checkThrottle(ctx context.Context, now time.Time, acctKey, addrKey string) error {
	since := now.Add(-s.opts.FailureWindow)
	var wait time.Duration
	for _, k := range []struct {
		key   string
		limit int
	}{{acctKey, s.opts.MaxFailuresPerAccount}, {addrKey, s.opts.MaxFailuresPerAddress}} {
		at, err := s.db.RecentLoginFailures(ctx, k.key, since, k.limit)
		if err != nil {
			return fmt.Errorf("login throttle: %w", err)
		}
		if len(at) < k.limit {
			continue
		}
		// at is newest first; the limit-th newest must age out first.
		if w := at[k.limit-1].Add(s.opts.FailureWindow).Sub(now); w > wait {
			wait = w
		}
	}
	if wait > 0 {
		return tooManyAttempts(wait)
	}
	return nil
}

func (s *Service) dummy() string {
	s.dummyOnce.Do(func() {
		h, err := HashPassword(newRefreshToken())
		if err != nil {
			panic(err)
		}
		s.dummyHash = h
	})
	return s.dummyHash
}
