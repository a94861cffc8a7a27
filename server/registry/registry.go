// Package registry holds monitored households: import of the government
// list, distribution to outlets and officers, assignments and visit plans.
package registry

import (
	"log/slog"

	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
)

// Options tune the registry.
type Options struct {
	Log *slog.Logger
}

// Service is the registry service.
type Service struct {
	db   *store.DB
	sec  *secrets.Secrets
	opts Options
}

// New builds the service.
func New(db *store.DB, sec *secrets.Secrets, opts Options) *Service {
	return &Service{db: db, sec: sec, opts: opts}
}
