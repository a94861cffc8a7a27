// Package syncsvc is the sync engine: idempotent push with per-entity
// conflict rules, gap-free scoped pull, and the conflict log.
//
// The rules themselves are declared in rules.go. Push (push.go) judges a
// batch of device mutations in memory against rows bulk-loaded in one
// transaction and writes the outcome with a few multi-row statements. Pull
// (pull.go) first pages through the officer's whole scope, then follows the
// branch change log, whose numbers are allocated in commit order
// (store.Tx.RecordChange), so no late-committing change is ever skipped.
package syncsvc

import (
	"log/slog"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Options tune the engine.
type Options struct {
	Log *slog.Logger
	// PII opens household phone numbers for the officer's device and seals
	// the ones devices send. Without it devices get masked phones and phone
	// edits are rejected; it also keys the pull-cursor MAC, so every
	// instance sharing a database must share the secrets file.
	PII *pii.Codec
	// OnVisitsApplied runs inside the push transaction, after the batch's
	// records are written, with the visits the push created or changed as
	// written, and for those it moved in time their visited_at before the
	// push (coverage flags them, rechecks the visits that followed a moved
	// one, and reopens corrected ones). An error rolls the push back.
	OnVisitsApplied func(tx *store.Tx, branchID string, visits []store.Visit, movedFrom map[string]time.Time) error
}

// Service is the sync service.
type Service struct {
	db   *store.DB
	opts Options
	log  *slog.Logger
}

// New builds the service.
func New(db *store.DB, opts Options) *Service {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, opts: opts, log: log}
}

var (
	errOfficersOnly = apperr.New(syncproto.CodeForbidden, "只有客户经理的设备可以同步", "only loan officers' devices sync")
	errDeviceBound  = apperr.New(syncproto.CodeForbidden, "同步需要绑定设备的登录凭证", "sync needs a device-bound token")
	errDeviceGone   = apperr.New(syncproto.CodeDeviceRevoked, "此设备已被停用，请重新登录", "this device was revoked; sign in again")
	errStaffOnly    = apperr.New(syncproto.CodeForbidden, "只有主管、分行经理和管理员可以查看", "only supervisors, branch managers and admins may do this")
)

func checkSyncActor(a store.Actor) error {
	if a.Role != store.RoleOfficer {
		return errOfficersOnly
	}
	if a.DeviceID == "" || a.BranchID == "" || a.UserID == "" {
		return errDeviceBound
	}
	return nil
}
