// Package auth signs in users and devices: password hashing, access tokens
// (JWT, pinned algorithm), refresh-token rotation with reuse detection,
// device registration and revocation, and login throttling.
package auth

import (
	"context"
	"log/slog"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
)

// Options configure token lifetimes and claims.
type Options struct {
	Issuer       string
	Audience     string
	AccessTTL    time.Duration
	RefreshTTL   time.Duration
	RefreshGrace time.Duration
	Log          *slog.Logger
}

// Service is the auth service.
type Service struct {
	db   *store.DB
	sec  *secrets.Secrets
	opts Options
}

// New builds the service.
func New(db *store.DB, sec *secrets.Secrets, opts Options) *Service {
	return &Service{db: db, sec: sec, opts: opts}
}

// Authenticate verifies an access token and returns the actor it names.
func (s *Service) Authenticate(ctx context.Context, token string) (store.Actor, error) {
	return store.Actor{}, apperr.Unauthenticated
}
