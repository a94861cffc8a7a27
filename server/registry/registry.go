// Package registry holds monitored households: import of the government
// list, distribution to outlets and officers, assignments and visit plans.
//
// The import runs in two steps. A dry run parses the file (importfile),
// compares it with the branch's households and stores the result as a
// preview: new, changed field by field, gone from the list, back on it, risk
// eliminated, unchanged, and every problem found. A commit applies exactly
// that preview, whole, or refuses. Personal numbers are sealed and indexed by
// package pii before anything is stored.
package registry

import (
	"log/slog"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/secrets"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Options tune the registry.
type Options struct {
	Log *slog.Logger
	// Location is where "today" is decided for deadlines; default Asia/Shanghai.
	Location *time.Location
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Service is the registry service.
type Service struct {
	db       *store.DB
	sec      *secrets.Secrets
	codec    *pii.Codec
	codecErr error
	opts     Options
}

// New builds the service.
func New(db *store.DB, sec *secrets.Secrets, opts Options) *Service {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Location == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			loc = time.FixedZone("CST", 8*60*60)
		}
		opts.Location = loc
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Service{db: db, sec: sec, opts: opts}
	s.codec, s.codecErr = pii.New(sec)
	return s
}

// Codec is the personal-number codec, for the sync engine's device records.
func (s *Service) Codec() (*pii.Codec, error) {
	if s.codecErr != nil {
		return nil, apperr.Internal.Wrap(s.codecErr)
	}
	return s.codec, nil
}

// today is the calendar date in the service's time zone, YYYY-MM-DD.
func (s *Service) today() string {
	return s.opts.Now().In(s.opts.Location).Format(time.DateOnly)
}

func invalid(field, zh, en string) error { return apperr.Invalid(field, zh, en) }

func forbidden(zh, en string) error { return apperr.New(syncproto.CodeForbidden, zh, en) }

// validDate checks a YYYY-MM-DD date.
func validDate(s string) bool {
	if len(s) != 10 {
		return false
	}
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}
