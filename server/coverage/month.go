package coverage

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
)

// Month is a calendar month in the configured time zone, written YYYY-MM.
type Month struct {
	Year  int
	Month time.Month
}

var monthPattern = regexp.MustCompile(`^([0-9]{4})-([0-9]{2})$`)

// ParseMonth reads YYYY-MM strictly: 2026-11, not 2026-1 or 2026-13.
func ParseMonth(s string) (Month, error) {
	m := monthPattern.FindStringSubmatch(s)
	if m == nil {
		return Month{}, fmt.Errorf("month %q: want YYYY-MM", s)
	}
	y, _ := strconv.Atoi(m[1])
	mo, _ := strconv.Atoi(m[2])
	if y < 2000 || y > 2999 || mo < 1 || mo > 12 {
		return Month{}, fmt.Errorf("month %q: no such month", s)
	}
	return Month{Year: y, Month: time.Month(mo)}, nil
}

// MonthOf is the month that t falls in, in loc.
func MonthOf(t time.Time, loc *time.Location) Month {
	l := t.In(loc)
	return Month{Year: l.Year(), Month: l.Month()}
}

func (m Month) String() string { return fmt.Sprintf("%04d-%02d", m.Year, int(m.Month)) }

// Bounds are the month's first instant and the next month's first instant in
// loc, as UTC: a visit counts in the month when from <= visited_at < to.
func (m Month) Bounds(loc *time.Location) (from, to time.Time) {
	start := time.Date(m.Year, m.Month, 1, 0, 0, 0, 0, loc)
	return start.UTC(), start.AddDate(0, 1, 0).UTC()
}

// After reports whether m is later than o.
func (m Month) After(o Month) bool {
	return m.Year > o.Year || (m.Year == o.Year && m.Month > o.Month)
}

// parseMonthParam reads a month from a request: empty means the current
// month; a future month is refused for writes (allowFuture false).
func (s *Service) parseMonthParam(raw string, allowFuture bool) (Month, error) {
	now := MonthOf(s.now(), s.loc)
	if raw == "" {
		return now, nil
	}
	m, err := ParseMonth(raw)
	if err != nil {
		return Month{}, apperr.Invalid("month", "月份格式应为 YYYY-MM（例如 2026-11），且必须是真实存在的月份",
			"month must be YYYY-MM (e.g. 2026-11) and a real month").With("value", clip(raw, 32)).Wrap(err)
	}
	if !allowFuture && m.After(now) {
		return Month{}, apperr.Invalid("month", "不能对未来的月份进行此操作", "this cannot be done for a future month").With("value", m.String())
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
