// Package syncsvc is the sync engine: idempotent push with per-entity
// conflict rules, gap-free scoped pull, and the conflict log.
package syncsvc

// Service is the sync service.
type Service struct{}
