// Package auth signs in users and devices: password hashing, access tokens
// (JWT, pinned algorithm), refresh-token rotation with reuse detection,
// device registration and revocation, and login throttling.
//
// Access tokens are EdDSA JWTs that name a device row and a token family;
// every request re-reads that device, its user and the family in one query,
// so revoking a device, disabling an account or ending a session takes
// effect on the very next request. Refresh tokens are opaque, stored only as
// SHA-256 hashes, and rotate within a family; a rotated token that comes back
// outside a short grace window revokes the family and the device's sessions.
package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Options configure token lifetimes, claims and login throttling. Zero
// values take the defaults noted.
type Options struct {
	Issuer       string        // default "doorstep"
	Audience     string        // default "doorstep-api"
	AccessTTL    time.Duration // default 10m, at most 15m
	RefreshTTL   time.Duration // default 30 days
	RefreshGrace time.Duration // 0 means no grace: every replay is reuse
	Log          *slog.Logger

	// Login throttling, counted in the database so that it holds across
	// instances: failures per account and per client address in Window.
	MaxFailuresPerAccount int           // default 5
	MaxFailuresPerAddress int           // default 20
	FailureWindow         time.Duration // default 15m

	// Now is the clock; tests move it. Default store.Now.
	Now func() time.Time
}

// Service is the auth service.
type Service struct {
	db      *store.DB
	sec     *secrets.Secrets
	opts    Options
	log     *slog.Logger
	verKeys map[string]ed25519.PublicKey

	dummyOnce sync.Once
	dummyHash string
}

// New builds the service.
func New(db *store.DB, sec *secrets.Secrets, opts Options) *Service {
	if opts.Issuer == "" {
		opts.Issuer = "doorstep"
	}
	if opts.Audience == "" {
		opts.Audience = "doorstep-api"
	}
	if opts.AccessTTL <= 0 || opts.AccessTTL > 15*time.Minute {
		opts.AccessTTL = 10 * time.Minute
	}
	if opts.RefreshTTL <= 0 {
		opts.RefreshTTL = 30 * 24 * time.Hour
	}
	if opts.RefreshGrace < 0 {
		opts.RefreshGrace = 0
	}
	if opts.MaxFailuresPerAccount <= 0 {
		opts.MaxFailuresPerAccount = 5
	}
	if opts.MaxFailuresPerAddress <= 0 {
		opts.MaxFailuresPerAddress = 20
	}
	if opts.FailureWindow <= 0 {
		opts.FailureWindow = 15 * time.Minute
	}
	if opts.Now == nil {
		opts.Now = store.Now
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{db: db, sec: sec, opts: opts, log: log, verKeys: map[string]ed25519.PublicKey{}}
	for _, k := range sec.SigningKeys {
		s.verKeys[k.KID] = k.Private().Public().(ed25519.PublicKey)
	}
	return s
}

func (s *Service) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// AccessTTL is the lifetime of access tokens.
func (s *Service) AccessTTL() time.Duration { return s.opts.AccessTTL }

// Errors a client sees. Unknown user and wrong password share one.
var (
	ErrInvalidCredentials = apperr.New(syncproto.CodeInvalidCredentials, "用户名或密码错误", "wrong username or password")
	ErrAccountDisabled    = apperr.New(syncproto.CodeAccountDisabled, "账号已停用，请联系管理员", "this account is disabled; contact your administrator")
	ErrDeviceRevoked      = apperr.New(syncproto.CodeDeviceRevoked, "此设备已被停用，请退出登录", "this device has been revoked; sign out")
	ErrTokenExpired       = apperr.New(syncproto.CodeTokenExpired, "登录已过期，请刷新令牌", "the access token has expired; refresh it")
	ErrRefreshReused      = apperr.New(syncproto.CodeRefreshReused, "登录凭证被重复使用，此设备的登录已全部失效，请重新登录", "a refresh token was reused; every session of this device has ended, sign in again")
	ErrSessionEnded       = apperr.New(syncproto.CodeUnauthenticated, "登录会话已结束，请重新登录", "this session has ended; sign in again")
	ErrInvalidToken       = apperr.New(syncproto.CodeUnauthenticated, "登录凭证无效，请重新登录", "invalid token; sign in again")
)

func tooManyAttempts(retryAfter time.Duration) *apperr.Error {
	secs := int((retryAfter + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return apperr.New(syncproto.CodeTooManyAttempts,
		"登录失败次数过多，请 "+strconv.Itoa(secs)+" 秒后再试",
		"too many failed sign-in attempts; try again in "+strconv.Itoa(secs)+" seconds").
		With("retry_after_seconds", secs)
}

// Authenticate verifies an access token and returns the actor it names,
// re-reading the device, user and session so that revocation is immediate.
func (s *Service) Authenticate(ctx context.Context, token string) (store.Actor, error) {
	c, err := s.verifyAccess(token)
	if err != nil {
		return store.Actor{}, err
	}
	p, err := s.db.PrincipalOf(ctx, c.DeviceID, c.SessionID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && p.UserID != c.Subject) {
		return store.Actor{}, ErrInvalidToken
	}
	if err != nil {
		return store.Actor{}, fmt.Errorf("authenticate: %w", err)
	}
	switch {
	case p.DeviceStatus != store.DeviceActive:
		return store.Actor{}, ErrDeviceRevoked
	case p.UserStatus != store.UserActive:
		return store.Actor{}, ErrAccountDisabled
	case !p.SessionLive:
		return store.Actor{}, ErrSessionEnded
	}
	return store.Actor{
		UserID: p.UserID, Username: p.Username, Role: p.Role, BranchID: p.BranchID,
		OrgUnitID: p.OrgUnitID, OrgPath: p.OrgPath, DeviceID: p.DeviceID,
	}, nil
}
