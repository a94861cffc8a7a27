// Package auth signs in users and devices: password hashing, access tokens
// (JWT, pinned algorithm), refresh-token rotation with reuse detection,
// device registration and revocation, and login throttling.
package auth

import (
	"context"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
)

// Service is the auth service.
type Service struct {
	db *store.DB
}

// Authenticate verifies an access token and returns the actor it names.
func (s *Service) Authenticate(ctx context.Context, token string) (store.Actor, error) {
	return store.Actor{}, apperr.Unauthenticated
}
