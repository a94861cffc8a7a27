package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Monthly report storage: the report tables are kept current from the change
// log by the worker in report_worker.go; this file recomputes officer rows
// from the base tables with set-based SQL, rolls them up to outlets,
// counties and the branch, and rebuilds whole months. Months are 'YYYY-MM'
// strings in the configured time zone; they sort as strings.

// ReportClock is the time and zone the report computations run at. Tests
// pass a fixed clock; the service passes store.Now and the configured zone.
type ReportClock struct {
	Now time.Time
	Loc *time.Location
}

func (c ReportClock) now() time.Time { return c.Now.UTC().Truncate(time.Microsecond) }

// Today is the local date, YYYY-MM-DD.
func (c ReportClock) Today() string { return c.Now.In(c.Loc).Format(time.DateOnly) }

// CurrentMonth is the local month now.
func (c ReportClock) CurrentMonth() string { return ReportMonthOf(c.Now, c.Loc) }

// ReportMonthOf is the local month t falls in.
func ReportMonthOf(t time.Time, loc *time.Location) string { return t.In(loc).Format("2006-01") }

// ReportMonthBounds are the month's first instant and the next month's first
// instant, in UTC. A visit counts in the month when from <= visited_at < to.
func ReportMonthBounds(month string, loc *time.Location) (from, to time.Time, err error) {
	t, err := time.ParseInLocation("2006-01", month, loc)
	if err != nil || t.Format("2006-01") != month {
		return time.Time{}, time.Time{}, invalidf("month %q: want YYYY-MM", month)
	}
	return t.UTC(), t.AddDate(0, 1, 0).UTC(), nil
}

// reportNextMonth is the month after m.
func reportNextMonth(m string) string {
	t, _ := time.Parse("2006-01", m)
	return t.AddDate(0, 1, 0).Format("2006-01")
}

// reportMonthsBetween lists the months from a to b inclusive (none if a > b).
func reportMonthsBetween(a, b string) []string {
	var out []string
	for m := a; m <= b && len(out) < 1200; m = reportNextMonth(m) {
		out = append(out, m)
	}
	return out
}

// asOfDate is the local date overdue is judged at for a month: today for
// the current month, the first day of the next month for a past month.
func (c ReportClock) asOfDate(month string) string {
	next := reportNextMonth(month) + "-01"
	if t := c.Today(); t < next {
		return t
	}
	return next
}

// reportSQL expands @name parameters into positional ones; a []string value
// becomes a comma-separated list of parameters (for IN lists).
func reportSQL(q string, args map[string]any) (string, []any) {
	var b strings.Builder
	var vals []any
	for i := 0; i < len(q); i++ {
		if q[i] != '@' {
			b.WriteByte(q[i])
			continue
		}
		j := i + 1
		for j < len(q) && (q[j] == '_' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= '0' && q[j] <= '9') {
			j++
		}
		name := q[i+1 : j]
		v, ok := args[name]
		if !ok {
			panic("report SQL: no value for @" + name)
		}
		if ss, ok := v.([]string); ok {
			for k, s := range ss {
				if k > 0 {
					b.WriteString(", ")
				}
				b.WriteByte('?')
				vals = append(vals, s)
			}
		} else {
			b.WriteByte('?')
			vals = append(vals, v)
		}
		i = j - 1
	}
	return b.String(), vals
}

func (tx *Tx) reportExec(q string, args map[string]any) (int64, error) {
	s, vals := reportSQL(q, args)
	res, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, tx.db.rebind(s), vals...)
	if err != nil {
		return 0, err
	}
	n, _ := res.RowsAffected()
	return n, nil
}

func (tx *Tx) reportScan(dest any, q string, args map[string]any) error {
	s, vals := reportSQL(q, args)
	return tx.Raw(s, vals...).Scan(dest).Error
}

// reportChunk splits ids into slices of at most n.
func reportChunk(ids []string, n int) [][]string {
	var out [][]string
	for len(ids) > n {
		out = append(out, ids[:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// recomputeOfficers recomputes the officer rows of the given officers (” is
// the households nobody is assigned to) for one branch and month.
func (tx *Tx) recomputeOfficers(branchID, month string, officers []string, clk ReportClock) error {
	from, to, err := ReportMonthBounds(month, clk.Loc)
	if err != nil {
		return err
	}
	if err := tx.reportNoJIT(); err != nil {
		return err
	}
	var named []string
	unassigned := false
	for _, o := range officers {
		if o == "" {
			unassigned = true
		} else {
			named = append(named, o)
		}
	}
	args := map[string]any{"b": branchID, "m": month, "s": from, "t": to, "asof": clk.asOfDate(month), "now": clk.now()}
	if unassigned {
		if _, err := tx.reportExec(`DELETE FROM report_rows WHERE branch_id = @b AND month = @m AND level = 'officer' AND officer_id = ''`, args); err != nil {
			return fmt.Errorf("report: clear unassigned rows: %w", err)
		}
		q := strings.NewReplacer("{{ASSIGNED}}", "a.officer_id IS NULL", "{{VISITORS}}", "1 = 0", "{{FIRSTS}}", "1 = 0").Replace(reportComputeSQL(tx.db.dialect, true))
		if _, err := tx.reportExec(q, args); err != nil {
			return fmt.Errorf("report: compute unassigned rows: %w", err)
		}
	}
	for _, part := range reportChunk(named, 400) {
		args["o"] = part
		if _, err := tx.reportExec(`DELETE FROM report_rows WHERE branch_id = @b AND month = @m AND level = 'officer' AND officer_id IN (@o)`, args); err != nil {
			return fmt.Errorf("report: clear officer rows: %w", err)
		}
		q := strings.NewReplacer("{{ASSIGNED}}", "a.officer_id IN (@o)", "{{VISITORS}}", "v.officer_id IN (@o)",
			"{{FIRSTS}}", "p.household_id IN (SELECT household_id FROM vm)").Replace(reportComputeSQL(tx.db.dialect, false))
		if _, err := tx.reportExec(q, args); err != nil {
			return fmt.Errorf("report: compute officer rows: %w", err)
		}
	}
	return nil
}

// rebuildMonth recomputes every officer row of the month from scratch.
func (tx *Tx) rebuildMonth(branchID, month string, clk ReportClock) error {
	from, to, err := ReportMonthBounds(month, clk.Loc)
	if err != nil {
		return err
	}
	if err := tx.reportNoJIT(); err != nil {
		return err
	}
	if tx.db.dialect == Postgres {
		// A whole month joins every visit of the branch: let the hashes and
		// sorts stay in memory for this transaction.
		if err := tx.Exec(`SET LOCAL work_mem = '128MB'`).Error; err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	args := map[string]any{"b": branchID, "m": month, "s": from, "t": to, "asof": clk.asOfDate(month), "now": clk.now()}
	if _, err := tx.reportExec(`DELETE FROM report_rows WHERE branch_id = @b AND month = @m`, args); err != nil {
		return fmt.Errorf("report: clear month: %w", err)
	}
	q := strings.NewReplacer("{{ASSIGNED}}", "1 = 1", "{{VISITORS}}", "1 = 1", "{{FIRSTS}}", "1 = 1").Replace(reportComputeSQL(tx.db.dialect, true))
	if _, err := tx.reportExec(q, args); err != nil {
		return fmt.Errorf("report: compute month: %w", err)
	}
	if err := tx.rollUp(branchID, month, clk); err != nil {
		return err
	}
	return tx.markOpened(branchID, month, clk)
}

// reportNoJIT turns PostgreSQL's JIT compilation off for the transaction:
// the planner overestimates the figure statements and would spend seconds
// compiling a statement that runs in milliseconds.
func (tx *Tx) reportNoJIT() error {
	if tx.db.dialect != Postgres {
		return nil
	}
	if err := tx.Exec(`SET LOCAL jit = off`).Error; err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func (tx *Tx) markOpened(branchID, month string, clk ReportClock) error {
	_, err := tx.reportExec(`INSERT INTO report_months (branch_id, month, opened_at, restate_pending)
		VALUES (@b, @m, @now, FALSE) ON CONFLICT (branch_id, month) DO NOTHING`,
		map[string]any{"b": branchID, "m": month, "now": clk.now()})
	if err != nil {
		return fmt.Errorf("report: open month: %w", err)
	}
	return nil
}

// rollUp replaces the outlet, county and branch rows of a month with the
// sums of its officer rows. Every outlet and county of the branch gets a
// row, zeros included, so that a frozen version lists every unit.
func (tx *Tx) rollUp(branchID, month string, clk ReportClock) error {
	args := map[string]any{"b": branchID, "m": month, "now": clk.now()}
	if _, err := tx.reportExec(`DELETE FROM report_rows WHERE branch_id = @b AND month = @m AND level <> 'officer'`, args); err != nil {
		return fmt.Errorf("report: clear roll-ups: %w", err)
	}
	var sums strings.Builder
	for _, f := range reportStored() {
		sums.WriteString(", COALESCE(SUM(x." + f.Code + "), 0)")
	}
	cols := "INSERT INTO report_rows (branch_id, month, level, county_id, outlet_id, officer_id, " + reportFigureColumns("") + ", updated_at) "
	stmts := []string{
		cols + `SELECT @b, @m, 'outlet', COALESCE(u.parent_id, ''), u.id, ''` + sums.String() + `, @now
		FROM org_units u LEFT JOIN report_rows x ON x.branch_id = @b AND x.month = @m AND x.level = 'officer' AND x.outlet_id = u.id
		WHERE u.branch_id = @b AND u.kind = 'outlet' GROUP BY u.parent_id, u.id`,
		cols + `SELECT @b, @m, 'county', u.id, '', ''` + sums.String() + `, @now
		FROM org_units u LEFT JOIN report_rows x ON x.branch_id = @b AND x.month = @m AND x.level = 'officer' AND x.county_id = u.id
		WHERE u.branch_id = @b AND u.kind = 'county' GROUP BY u.id`,
		cols + `SELECT @b, @m, 'branch', '', '', ''` + sums.String() + `, @now
		FROM report_rows x WHERE x.branch_id = @b AND x.month = @m AND x.level = 'officer'`,
	}
	for _, q := range stmts {
		if _, err := tx.reportExec(q, args); err != nil {
			return fmt.Errorf("report: roll up: %w", err)
		}
	}
	return nil
}

// lockReportCursor makes sure the branch has a cursor and locks it for the
// transaction. ok is false when another instance holds it (Postgres); on
// SQLite the write transaction already excludes every other writer.
func (tx *Tx) lockReportCursor(branchID string, clk ReportClock) (cur ReportCursor, created, ok bool, err error) {
	n, err := tx.reportExec(`INSERT INTO report_cursors (branch_id, last_seq, as_of_date, updated_at)
		VALUES (@b, 0, @d, @now) ON CONFLICT (branch_id) DO NOTHING`, map[string]any{"b": branchID, "d": clk.Today(), "now": clk.now()})
	if err != nil {
		return cur, false, false, fmt.Errorf("report: cursor: %w", err)
	}
	q := `SELECT * FROM report_cursors WHERE branch_id = ?`
	if tx.db.dialect == Postgres {
		q += ` FOR UPDATE SKIP LOCKED`
	}
	var rows []ReportCursor
	if err := tx.Raw(q, branchID).Scan(&rows).Error; err != nil {
		return cur, false, false, fmt.Errorf("report: lock cursor: %w", err)
	}
	if len(rows) == 0 {
		return cur, false, false, nil
	}
	return rows[0], n > 0, true, nil
}

// waitReportCursor locks the branch's cursor, waiting for another instance
// to finish; for operator commands and month close, which must not skip.
func (tx *Tx) waitReportCursor(branchID string, clk ReportClock) (ReportCursor, bool, error) {
	n, err := tx.reportExec(`INSERT INTO report_cursors (branch_id, last_seq, as_of_date, updated_at)
		VALUES (@b, 0, @d, @now) ON CONFLICT (branch_id) DO NOTHING`, map[string]any{"b": branchID, "d": clk.Today(), "now": clk.now()})
	if err != nil {
		return ReportCursor{}, false, fmt.Errorf("report: cursor: %w", err)
	}
	q := `SELECT * FROM report_cursors WHERE branch_id = ?`
	if tx.db.dialect == Postgres {
		q += ` FOR UPDATE`
	}
	var cur ReportCursor
	if err := tx.Raw(q, branchID).Scan(&cur).Error; err != nil {
		return cur, false, fmt.Errorf("report: lock cursor: %w", err)
	}
	return cur, n > 0, nil
}

// ReportBranches lists the ids of every branch.
func (db *DB) ReportBranches(ctx context.Context) ([]string, error) {
	var ids []string
	err := db.gorm.WithContext(ctx).Model(&OrgUnit{}).Where("kind = ?", KindBranch).Order("id").Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("report: list branches: %w", err)
	}
	return ids, nil
}

// ReportRebuildMonth recomputes a whole month of a branch from the base
// tables, under the branch's worker lock. A closed month's current figures
// are rebuilt too (its versions stay as they are); when they differ from the
// latest version a restatement follows.
func (db *DB) ReportRebuildMonth(ctx context.Context, branchID, month string, clk ReportClock) error {
	if _, _, err := ReportMonthBounds(month, clk.Loc); err != nil {
		return err
	}
	if month > clk.CurrentMonth() {
		return invalidf("month %s has not begun", month)
	}
	return db.Transact(ctx, func(tx *Tx) error {
		if _, _, err := tx.waitReportCursor(branchID, clk); err != nil {
			return err
		}
		if err := tx.rebuildMonth(branchID, month, clk); err != nil {
			return err
		}
		closed, err := tx.reportClosedMonths(branchID)
		if err != nil {
			return err
		}
		if closed[month] {
			return tx.markRestatePending(branchID, []string{month}, clk)
		}
		return nil
	})
}

// ReportRows reads the current rows of a branch's month, every level.
func (db *DB) ReportRows(ctx context.Context, branchID, month string) ([]ReportRow, error) {
	var rows []ReportRow
	err := db.gorm.WithContext(ctx).Where("branch_id = ? AND month = ?", branchID, month).
		Order("level, county_id, outlet_id, officer_id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("report: read rows: %w", err)
	}
	return rows, nil
}

// ReportMonthOpened reports whether a branch's month has materialised figures.
func (db *DB) ReportMonthOpened(ctx context.Context, branchID, month string) (bool, error) {
	var n int64
	err := db.gorm.WithContext(ctx).Model(&ReportMonth{}).Where("branch_id = ? AND month = ?", branchID, month).Count(&n).Error
	return n > 0, err
}

// ReportOpenedMonths lists the materialised months of a branch.
func (db *DB) ReportOpenedMonths(ctx context.Context, branchID string) ([]string, error) {
	var ms []string
	err := db.gorm.WithContext(ctx).Model(&ReportMonth{}).Where("branch_id = ?", branchID).Order("month").Pluck("month", &ms).Error
	return ms, err
}

func (tx *Tx) reportClosedMonths(branchID string) (map[string]bool, error) {
	var ms []string
	if err := tx.Model(&ReportVersion{}).Where("branch_id = ?", branchID).Distinct().Pluck("month", &ms).Error; err != nil {
		return nil, fmt.Errorf("report: closed months: %w", err)
	}
	out := make(map[string]bool, len(ms))
	for _, m := range ms {
		out[m] = true
	}
	return out, nil
}

func (tx *Tx) markRestatePending(branchID string, months []string, clk ReportClock) error {
	if len(months) == 0 {
		return nil
	}
	_, err := tx.reportExec(`UPDATE report_months SET restate_pending = TRUE, pending_since = COALESCE(pending_since, @now)
		WHERE branch_id = @b AND month IN (@ms)`, map[string]any{"b": branchID, "ms": months, "now": clk.now()})
	if err != nil {
		return fmt.Errorf("report: mark restatement pending: %w", err)
	}
	return nil
}

// reportSortedKeys returns a set's keys in order.
func reportSortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
