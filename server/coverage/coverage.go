// Package coverage is how supervisors show that no household was missed
// this month (一户不漏) and that the recorded visits really happened: the
// monthly coverage ledger and its one outcome classification, exemptions,
// immutable sign-offs, automatic verification flags computed for every
// arriving visit, reproducible spot-check samples, supervisor confirmation
// and "has issues" tasks, and device health.
//
// Reach is decided by store.Actor in the store's queries. Anything outside
// the actor's subtree — another outlet, county or branch — answers
// not_found (404), exactly as if it did not exist, so that ids cannot be
// probed; a role that may never use an endpoint (officers) gets forbidden
// (403) from the router before any lookup.
package coverage

import (
	"errors"
	"log/slog"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Options tune the service.
type Options struct {
	Log *slog.Logger
	// Location is the time zone months and days are counted in (default Asia/Shanghai).
	Location *time.Location
	// Now is the clock; tests move it. Default store.Now.
	Now func() time.Time
}

// Service is the coverage service.
type Service struct {
	db  *store.DB
	log *slog.Logger
	loc *time.Location
	now func() time.Time
}

// New builds the service.
func New(db *store.DB, opts Options) *Service {
	s := &Service{db: db, log: opts.Log, loc: opts.Location, now: opts.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.loc == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*3600)
		}
		s.loc = loc
	}
	if s.now == nil {
		s.now = store.Now
	}
	return s
}

// Location is the time zone months are counted in.
func (s *Service) Location() *time.Location { return s.loc }

// Limits on free text a supervisor writes.
const (
	MaxReasonRunes = 1000
	MaxNoteRunes   = 2000
	maxIDBytes     = 64
)

func conflict(zh, en string) *apperr.Error {
	return apperr.New(syncproto.CodeConflict, zh, en)
}

// mapErr turns store errors into errors a client may see.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return apperr.NotFound.Wrap(err)
	case errors.Is(err, store.ErrCoverageConflict):
		return conflict("操作与当前状态冲突："+err.Error(), "conflicts with the current state: "+err.Error()).Wrap(err)
	case errors.Is(err, store.ErrInvalid):
		return apperr.New(syncproto.CodeInvalidRequest, "请求无效："+err.Error(), "invalid request: "+err.Error()).Wrap(err)
	}
	return err
}

func validID(field, id string, required bool) error {
	if id == "" {
		if required {
			return apperr.Invalid(field, "缺少必填字段 "+field, field+" is required")
		}
		return nil
	}
	if len(id) > maxIDBytes {
		return apperr.Invalid(field, field+" 过长", field+" is too long")
	}
	return nil
}

func invalidBoth() error {
	return apperr.New(syncproto.CodeInvalidRequest, "org 与 officer 只能指定其一", "give either org or officer, not both").
		With("field", "org")
}

func needScope() error {
	return apperr.Invalid("org", "请指定机构 org 或客户经理 officer", "give an org unit (org) or an officer (officer)")
}
