// Package syncsvc is the sync engine: idempotent push with per-entity
// conflict rules, gap-free scoped pull, and the conflict log.
package syncsvc

import (
	"log/slog"

	"github.com/doorstep-dev/doorstep/server/store"
)

// Options tune the engine.
type Options struct {
	Log *slog.Logger
}

// Service is the sync service.
type Service struct {
	db   *store.DB
	opts Options
}

// New builds the service.
func New(db *store.DB, opts Options) *Service { return &Service{db: db, opts: opts} }
