// Package report is the monthly visit report (按月报送): figures kept current
// from the change log by a background worker, month close into frozen
// versions, restatements when late data arrives, the JSON views per scope,
// the Excel and CSV files, and each household's visit archive (走访档案).
//
// The figures are defined once, in store.ReportFigureDefs; docs/REPORTS.md
// is generated from that table by FiguresMarkdown.
package report

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Options tune the service. Zero values take the defaults noted.
type Options struct {
	Loc *time.Location // months and schedules; default Asia/Shanghai
	Log *slog.Logger
	Now func() time.Time // default store.Now; tests move it

	Poll         time.Duration // how often the worker looks at the change log; default 5s
	BatchChanges int           // change-log rows per worker transaction; 0 takes store.ReportTuning's default (30,000)
	// WholeMonthAt: a month with at least this many officers touched in one
	// batch (and a third of its officers or more) is recomputed whole; default 64.
	WholeMonthAt int
	// Close is when the schedule closes the previous month, local time:
	// "DAY HH:MM" with DAY 1-28, or "off". Default "1 00:30".
	Close string
	// RestateAfter is how long late data for a closed month must be quiet
	// before its restatement is issued; default 1h. Zero uses the default;
	// a negative value issues at the next tick.
	RestateAfter time.Duration
}

// Service is the report service.
type Service struct {
	db   *store.DB
	opts Options
	log  *slog.Logger
	loc  *time.Location

	closeOn                  bool
	closeDay, closeH, closeM int
}

// New builds the service; it fails on a schedule it cannot read.
func New(db *store.DB, opts Options) (*Service, error) {
	if opts.Loc == nil {
		loc, err := time.LoadLocation("Asia/Shanghai")
		if err != nil {
			return nil, fmt.Errorf("report: time zone: %w", err)
		}
		opts.Loc = loc
	}
	if opts.Now == nil {
		opts.Now = store.Now
	}
	if opts.Poll <= 0 {
		opts.Poll = 5 * time.Second
	}
	if opts.Close == "" {
		opts.Close = "1 00:30"
	}
	if opts.RestateAfter == 0 {
		opts.RestateAfter = time.Hour
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{db: db, opts: opts, log: log, loc: opts.Loc}
	on, d, h, m, err := ParseCloseSchedule(opts.Close)
	if err != nil {
		return nil, err
	}
	s.closeOn, s.closeDay, s.closeH, s.closeM = on, d, h, m
	return s, nil
}

// ParseCloseSchedule reads "DAY HH:MM" (day 1-28, local time) or "off".
func ParseCloseSchedule(s string) (on bool, day, hour, minute int, err error) {
	return config.ParseReportClose(s)
}

func (s *Service) clock() store.ReportClock { return store.ReportClock{Now: s.opts.Now(), Loc: s.loc} }

// Location is the time zone months are counted in.
func (s *Service) Location() *time.Location { return s.loc }

// Errors a client sees.
var (
	errOrgUnknown = apperr.New(syncproto.CodeInvalidRequest, "机构编码不存在", "no org unit has this code")
	errOrgNeeded  = apperr.New(syncproto.CodeInvalidRequest, "请用 org 参数指定机构编码", "name the org unit with the org parameter")
	errOrgOutside = apperr.New(syncproto.CodeForbidden, "该机构不在您的管辖范围内", "this org unit is outside your scope")
	errOfficerOrg = apperr.New(syncproto.CodeForbidden, "客户经理只能查看本人的报表", "a loan officer may only see their own figures")
	errFilesStaff = apperr.New(syncproto.CodeForbidden, "只有分行经理和管理员可以下载报表文件", "only branch managers and admins may download report files")
	errNotBranch  = apperr.New(syncproto.CodeInvalidRequest, "关账须指定分行的机构编码", "a month is closed for a branch: give the branch's code")
)

var monthPattern = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}$`)

// ParseMonth reads YYYY-MM strictly (2026-10; not 2026-13, 2026-1 or 26-10).
func ParseMonth(raw string) (string, error) {
	bad := apperr.Invalid("month", "月份格式应为 YYYY-MM（例如 2026-10），且必须是真实存在的月份",
		"month must be YYYY-MM (e.g. 2026-10) and a real month").With("value", clip(raw, 32))
	if !monthPattern.MatchString(raw) {
		return "", bad
	}
	y, _ := strconv.Atoi(raw[:4])
	m, _ := strconv.Atoi(raw[5:])
	if y < 2000 || y > 2999 || m < 1 || m > 12 {
		return "", bad
	}
	return raw, nil
}

// month validates a month from a request and refuses months not yet begun.
func (s *Service) month(raw string) (string, error) {
	m, err := ParseMonth(raw)
	if err != nil {
		return "", err
	}
	if m > s.clock().CurrentMonth() {
		return "", apperr.Invalid("month", "该月份尚未开始", "this month has not begun").With("value", m)
	}
	return m, nil
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n])
	}
	return s
}

// Scope is what a request may see of a branch's month: the org unit (its
// subtree), or one officer's own rows.
type Scope struct {
	Branch    store.OrgUnit
	Unit      store.OrgUnit
	OfficerID string // set for an officer: only their own rows
}

// contains reports whether a row key lies within the scope.
func (sc Scope) contains(k store.ReportKey) bool {
	if sc.OfficerID != "" {
		return k.Level == store.LevelOfficer && k.OfficerID == sc.OfficerID
	}
	switch sc.Unit.Kind {
	case store.KindBranch:
		return true
	case store.KindCounty:
		return k.CountyID == sc.Unit.ID
	case store.KindOutlet:
		return (k.Level == store.LevelOutlet || k.Level == store.LevelOfficer) && k.OutletID == sc.Unit.ID
	}
	return false
}

// resolve turns the org parameter into a scope the actor may see. An unknown
// code and a unit of another branch answer alike, so that other branches
// stay invisible. An empty code means the actor's own unit.
func (s *Service) resolve(ctx context.Context, a store.Actor, code string) (Scope, error) {
	code = strings.TrimSpace(code)
	if a.Role == store.RoleOfficer {
		if code != "" {
			return Scope{}, errOfficerOrg
		}
		b, err := s.db.OrgUnit(ctx, a.BranchID)
		if err != nil {
			return Scope{}, fmt.Errorf("report: branch: %w", err)
		}
		u, err := s.db.OrgUnit(ctx, a.OrgUnitID)
		if err != nil {
			return Scope{}, fmt.Errorf("report: unit: %w", err)
		}
		return Scope{Branch: b, Unit: u, OfficerID: a.UserID}, nil
	}
	var u store.OrgUnit
	var err error
	switch {
	case code == "" && a.Role == store.RoleAdmin:
		return Scope{}, errOrgNeeded
	case code == "":
		u, err = s.db.OrgUnit(ctx, a.OrgUnitID)
	case len(code) > 64:
		return Scope{}, errOrgUnknown.With("field", "org").With("value", clip(code, 32))
	default:
		u, err = s.db.OrgUnitByCode(ctx, code)
	}
	if errors.Is(err, store.ErrNotFound) {
		return Scope{}, errOrgUnknown.With("field", "org").With("value", clip(code, 32))
	}
	if err != nil {
		return Scope{}, fmt.Errorf("report: org unit: %w", err)
	}
	if a.Role != store.RoleAdmin && u.BranchID != a.BranchID {
		return Scope{}, errOrgUnknown.With("field", "org").With("value", clip(code, 32))
	}
	if !a.ReachesOrgUnit(u) {
		return Scope{}, errOrgOutside.With("org", u.Code)
	}
	b := u
	if u.Kind != store.KindBranch {
		if b, err = s.db.OrgUnit(ctx, u.BranchID); err != nil {
			return Scope{}, fmt.Errorf("report: branch: %w", err)
		}
	}
	return Scope{Branch: b, Unit: u}, nil
}

// operatorScope is the whole branch of a unit, for operator commands.
func (s *Service) operatorScope(ctx context.Context, code string) (Scope, error) {
	u, err := s.db.OrgUnitByCode(ctx, code)
	if errors.Is(err, store.ErrNotFound) {
		return Scope{}, errOrgUnknown.With("field", "org").With("value", clip(code, 32))
	}
	if err != nil {
		return Scope{}, err
	}
	b := u
	if u.Kind != store.KindBranch {
		if b, err = s.db.OrgUnit(ctx, u.BranchID); err != nil {
			return Scope{}, err
		}
	}
	return Scope{Branch: b, Unit: u}, nil
}
