package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// The report worker's storage side. One batch, in one transaction under the
// branch's cursor lock: read the change log after the cursor, find the
// households the changes touch, compare what feeds the figures now with the
// facts stored last time, recompute exactly the officer-months that changed,
// roll them up, and advance the cursor.

// Fact entities besides the synced ones.
const (
	reportFactHousehold  = "household"
	reportFactAssignment = "assignment"
	reportFactVisit      = "visit"
	reportFactNeed       = "financing_need"
	reportFactLoan       = "loan_application"
)

// ReportBatch says what one worker batch did.
type ReportBatch struct {
	Busy       bool  // another instance holds the branch
	Changes    int   // change-log rows read
	ThroughSeq int64 // the cursor after the batch
	Keys       int   // officer-months recomputed
	Rebuilt    []string
	Late       int // late records written
}

type reportChange struct {
	Seq         int64
	Ord         int
	Entity      string
	EntityID    string
	HouseholdID *string
	CreatedAt   time.Time
}

// ReportTuning sizes the worker's batches.
type ReportTuning struct {
	// MaxChanges is about how many change-log rows a batch reads (whole
	// transactions only); default 30000. A 5 s poll under a stream of
	// pushes should take everything that arrived in one batch: each batch
	// recomputes every officer-month it touches.
	MaxChanges int
	// WholeMonthAt: when at least this many officers of a month are touched,
	// and they are a third or more of the month's officers, the month is
	// recomputed whole, which is cheaper than officer by officer; default 64.
	WholeMonthAt int
}

func (t ReportTuning) withDefaults() ReportTuning {
	if t.MaxChanges <= 0 {
		t.MaxChanges = 30000
	}
	if t.WholeMonthAt <= 0 {
		t.WholeMonthAt = 64
	}
	return t
}

// ReportProcessBatch runs one batch for a branch. With wait false a branch
// whose cursor another transaction holds is left alone (Busy); with wait
// true the batch waits for it, so that a caller who must see the tables
// current (the command line, a test) is not answered by a pass that may
// yet roll back.
func (db *DB) ReportProcessBatch(ctx context.Context, branchID string, clk ReportClock, tune ReportTuning, wait bool) (ReportBatch, error) {
	var out ReportBatch
	err := db.Transact(ctx, func(tx *Tx) error {
		out = ReportBatch{}
		var cur ReportCursor
		var created bool
		var err error
		if wait {
			cur, created, err = tx.waitReportCursor(branchID, clk)
		} else {
			var ok bool
			cur, created, ok, err = tx.lockReportCursor(branchID, clk)
			if err == nil && !ok {
				out.Busy = true
				return nil
			}
		}
		if err != nil {
			return err
		}
		return tx.reportBatch(branchID, cur, created, clk, tune.withDefaults(), &out)
	})
	return out, err
}

// reportBatch does the work of a batch; the cursor is locked.
func (tx *Tx) reportBatch(branchID string, cur ReportCursor, created bool, clk ReportClock, tune ReportTuning, out *ReportBatch) error {
	current := clk.CurrentMonth()
	today := clk.Today()
	dirty := reportDirty{}
	ensure := map[string]bool{current: true}
	if !created && cur.AsOfDate != today && cur.AsOfDate != "" {
		if err := tx.reportDueRollover(branchID, cur.AsOfDate, today, current, dirty, ensure); err != nil {
			return err
		}
	}

	var upper int64
	err := tx.Raw(`SELECT COALESCE(MAX(seq), 0) FROM (SELECT seq FROM changes WHERE branch_id = ? AND seq > ? ORDER BY seq, ord LIMIT ?) w`,
		branchID, cur.LastSeq, tune.MaxChanges).Scan(&upper).Error
	if err != nil {
		return fmt.Errorf("report: read change log: %w", err)
	}
	var changes []reportChange
	if upper > cur.LastSeq {
		err = tx.Raw(`SELECT seq, ord, entity, entity_id, household_id, created_at FROM changes
			WHERE branch_id = ? AND seq > ? AND seq <= ? ORDER BY seq, ord`, branchID, cur.LastSeq, upper).Scan(&changes).Error
		if err != nil {
			return fmt.Errorf("report: read change log: %w", err)
		}
	} else {
		upper = cur.LastSeq
	}
	out.Changes = len(changes)
	out.ThroughSeq = upper
	if len(changes) == 0 && !created && cur.AsOfDate == today && len(dirty) == 0 {
		// Nothing new and the same day: leave everything, the cursor row
		// included, untouched, so an idle poll writes nothing.
		if open, err := tx.reportMonthOpened(branchID, current); err != nil || open {
			return err
		}
	}

	closed, err := tx.reportClosedMonths(branchID)
	if err != nil {
		return err
	}
	if len(changes) > 0 {
		n, err := tx.reportApplyChanges(branchID, changes, clk, closed, dirty)
		if err != nil {
			return err
		}
		out.Late = n
	}

	var opened []string
	if err := tx.Model(&ReportMonth{}).Where("branch_id = ?", branchID).Pluck("month", &opened).Error; err != nil {
		return fmt.Errorf("report: opened months: %w", err)
	}
	isOpen := map[string]bool{}
	for _, m := range opened {
		isOpen[m] = true
	}
	months := map[string]bool{}
	for m := range dirty {
		months[m] = true
	}
	for m := range ensure {
		if !isOpen[m] {
			months[m] = true
		}
	}
	var restate []string
	for _, m := range reportSortedKeys(months) {
		if m > current {
			continue
		}
		whole := !isOpen[m]
		if !whole && len(dirty[m]) >= tune.WholeMonthAt {
			var rows int64
			if err := tx.Model(&ReportRow{}).Where("branch_id = ? AND month = ? AND level = ?", branchID, m, LevelOfficer).Count(&rows).Error; err != nil {
				return fmt.Errorf("report: month size: %w", err)
			}
			whole = int64(len(dirty[m]))*3 >= rows
		}
		if whole {
			if err := tx.rebuildMonth(branchID, m, clk); err != nil {
				return err
			}
			out.Rebuilt = append(out.Rebuilt, m)
		} else {
			officers := reportSortedKeys(dirty[m])
			if err := tx.recomputeOfficers(branchID, m, officers, clk); err != nil {
				return err
			}
			if err := tx.rollUp(branchID, m, clk); err != nil {
				return err
			}
			out.Keys += len(officers)
		}
		if closed[m] {
			restate = append(restate, m)
		}
	}
	if err := tx.markRestatePending(branchID, restate, clk); err != nil {
		return err
	}
	err = tx.Model(&ReportCursor{}).Where("branch_id = ?", branchID).
		Updates(map[string]any{"last_seq": upper, "as_of_date": today, "updated_at": clk.now()}).Error
	if err != nil {
		return fmt.Errorf("report: advance cursor: %w", err)
	}
	return nil
}

// reportDirty is the set of officer-months to recompute: month → officer ids.
type reportDirty map[string]map[string]bool

func (d reportDirty) add(month, officer string) {
	if d[month] == nil {
		d[month] = map[string]bool{}
	}
	d[month][officer] = true
}

// reportDueRollover: the overdue figures depend on the date. When the date
// moves from one day to another, the officers with deadlines in between
// are recomputed for the months whose judging date moved.
func (tx *Tx) reportDueRollover(branchID, was, today, current string, dirty reportDirty, ensure map[string]bool) error {
	lo, hi := was, today
	if lo > hi {
		lo, hi = hi, lo
	}
	var officers []string
	err := tx.Raw(`SELECT DISTINCT officer_id FROM assignments WHERE branch_id = ? AND officer_id IS NOT NULL
		AND officer_due_on >= ? AND officer_due_on < ?`, branchID, lo, hi).Scan(&officers).Error
	if err != nil {
		return fmt.Errorf("report: deadlines passed: %w", err)
	}
	last := hi[:7]
	if last > current {
		last = current
	}
	for _, m := range reportMonthsBetween(lo[:7], last) {
		ensure[m] = true
		for _, o := range officers {
			dirty.add(m, o)
		}
	}
	return nil
}

// Base rows the facts are computed from.
type reportHousehold struct {
	ID         string
	CountyID   *string
	ListStatus string
	CreatedAt  time.Time
	RemovedAt  *time.Time
}

type reportAssignment struct {
	ID           string
	HouseholdID  string
	OutletID     string
	OfficerID    *string
	OfficerDueOn string
	AssignedAt   time.Time
	EndedAt      *time.Time
}

type reportVisit struct {
	ID          string
	HouseholdID string
	OfficerID   string
	OutletID    *string
	Outcome     string
	Status      string
	Flags       string
	VisitedAt   time.Time
	DeletedAt   *time.Time
}

type reportNeed struct {
	ID          string
	HouseholdID string
	VisitID     *string
	AmountFen   int64
	CreatedAt   time.Time
	DeletedAt   *time.Time
}

type reportLoan struct {
	ID          string
	HouseholdID string
	Status      string
	AmountFen   int64
	SubmittedAt *time.Time
	DecidedAt   *time.Time
	DisbursedAt *time.Time
	DeletedAt   *time.Time
}

type reportFactKey struct{ entity, id string }

// reportApplyChanges turns change-log rows into dirty officer-months, and
// writes the new facts, the late records of closed months and the visits'
// after_close marks. It returns the number of late records.
func (tx *Tx) reportApplyChanges(branchID string, changes []reportChange, clk ReportClock, closed map[string]bool, dirty reportDirty) (int, error) {
	households := map[string]bool{}
	lastSeen := map[string]reportChange{} // household → its latest change
	named := map[string]map[string]bool{reportFactVisit: {}, reportFactNeed: {}, reportFactLoan: {}}
	var orphans []string // records named without a household id
	for _, c := range changes {
		if ids, ok := named[c.Entity]; ok {
			ids[c.EntityID] = true
		}
		if c.HouseholdID != nil && *c.HouseholdID != "" {
			households[*c.HouseholdID] = true
			lastSeen[*c.HouseholdID] = c
		} else if named[c.Entity] != nil {
			orphans = append(orphans, c.EntityID)
		}
	}
	batchLast := changes[len(changes)-1]
	if len(orphans) > 0 {
		found, err := tx.reportHouseholdsOf(branchID, orphans)
		if err != nil {
			return 0, err
		}
		for _, h := range found {
			households[h] = true
		}
	}

	// New facts of the records the changes name (and of the needs linked to
	// named visits, whose month follows the visit), and of every touched
	// household and its assignments; old facts of the same. Only these can
	// have changed: a record's fact changes only with a change-log row for
	// it, and the other records of a household are read from the stored
	// facts below.
	oldFacts := map[reportFactKey]ReportFact{}
	newFacts := map[reportFactKey]ReportFact{}
	ef, err := tx.reportEntityFacts(branchID, reportSortedKeys(named[reportFactVisit]), reportSortedKeys(named[reportFactNeed]),
		reportSortedKeys(named[reportFactLoan]), clk.Loc)
	if err != nil {
		return 0, err
	}
	var entityIDs []string
	for k, f := range ef {
		newFacts[k] = f
		households[f.HouseholdID] = true
	}
	for _, m := range named {
		for id := range m {
			entityIDs = append(entityIDs, id)
		}
	}
	for k := range ef {
		if !named[k.entity][k.id] {
			entityIDs = append(entityIDs, k.id)
		}
	}
	for _, part := range reportChunk(entityIDs, 1000) {
		var of []ReportFact
		if err := tx.Where("branch_id = ? AND entity IN ? AND entity_id IN ?", branchID,
			[]string{reportFactVisit, reportFactNeed, reportFactLoan}, part).Find(&of).Error; err != nil {
			return 0, fmt.Errorf("report: read facts: %w", err)
		}
		for _, f := range of {
			oldFacts[reportFactKey{f.Entity, f.EntityID}] = f
			// A record that moved from another household changes that
			// household's figures too.
			households[f.HouseholdID] = true
		}
	}
	all := reportSortedKeys(households)
	for _, part := range reportChunk(all, 500) {
		nf, err := tx.reportHouseholdFacts(branchID, part, clk.Loc)
		if err != nil {
			return 0, err
		}
		for k, f := range nf {
			newFacts[k] = f
		}
		var of []ReportFact
		if err := tx.Where("branch_id = ? AND entity IN ? AND household_id IN ?", branchID,
			[]string{reportFactHousehold, reportFactAssignment}, part).Find(&of).Error; err != nil {
			return 0, fmt.Errorf("report: read facts: %w", err)
		}
		for _, f := range of {
			oldFacts[reportFactKey{f.Entity, f.EntityID}] = f
		}
	}

	current := clk.CurrentMonth()
	parents, err := tx.reportOrgParents(branchID)
	if err != nil {
		return 0, err
	}
	from := map[string]string{} // household → first month touched
	touch := func(h, m string) {
		if m == "" || h == "" {
			return
		}
		if f, ok := from[h]; !ok || m < f {
			from[h] = m
		}
	}
	keys := map[reportFactKey]bool{}
	for k := range oldFacts {
		keys[k] = true
	}
	for k := range newFacts {
		keys[k] = true
	}
	var upserts []ReportFact
	var deletes []reportFactKey
	var late []ReportLateRecord
	var afterClose []string
	for _, k := range reportSortedFactKeys(keys) {
		o, hadOld := oldFacts[k]
		n, hasNew := newFacts[k]
		if hadOld && hasNew && o == n {
			continue
		}
		var op, np *ReportFact
		if hadOld {
			op = &o
		}
		if hasNew {
			np = &n
			upserts = append(upserts, n)
		} else {
			deletes = append(deletes, k)
		}
		m0 := reportAffectedFrom(op, np)
		if op != nil {
			touch(op.HouseholdID, m0)
		}
		if np != nil {
			touch(np.HouseholdID, m0)
		}
		if k.entity == reportFactHousehold {
			continue
		}
		// Late data: a record that changes a closed month.
		ref := np
		if ref == nil {
			ref = op
		}
		lateMonths := map[string]bool{}
		for _, f := range []*ReportFact{op, np} {
			if f == nil {
				continue
			}
			for _, m := range reportFactMonths(*f) {
				if closed[m] {
					lateMonths[m] = true
				}
			}
		}
		if len(lateMonths) == 0 {
			continue
		}
		if k.entity == reportFactVisit && np != nil {
			afterClose = append(afterClose, k.id)
		}
		c, ok := lastSeen[ref.HouseholdID]
		if !ok {
			c = batchLast
		}
		for _, m := range reportSortedKeys(lateMonths) {
			late = append(late, ReportLateRecord{
				ID: NewID(), BranchID: branchID, Month: m, Entity: k.entity, EntityID: k.id, HouseholdID: ref.HouseholdID,
				OfficerID: ref.OfficerID, OutletID: ref.OutletID, CountyID: parents[ref.OutletID], ChangeSeq: c.Seq, ArrivedAt: c.CreatedAt.UTC(),
			})
		}
	}

	// Officer-months touched: every month from the first one a change
	// reaches to now, for whoever answered for the household in it before
	// or after the change, and for the officers of the household's visits.
	// Who answered for a household is read from the old facts and the new
	// ones separately: a change of responsibility touches both officers.
	oldBy, newBy := map[string][]ReportFact{}, map[string][]ReportFact{}
	for _, f := range oldFacts {
		oldBy[f.HouseholdID] = append(oldBy[f.HouseholdID], f)
	}
	for _, f := range newFacts {
		newBy[f.HouseholdID] = append(newBy[f.HouseholdID], f)
	}
	for h, m0 := range from {
		if m0 > current {
			continue
		}
		for _, m := range reportMonthsBetween(m0, current) {
			for _, facts := range [][]ReportFact{oldBy[h], newBy[h]} {
				if len(facts) == 0 {
					continue // the household was not there before (or is gone now)
				}
				for _, o := range reportResponsible(facts, m) {
					dirty.add(m, o)
				}
			}
		}
		for _, facts := range [][]ReportFact{oldBy[h], newBy[h]} {
			for _, f := range facts {
				if f.Entity == reportFactVisit && f.Month >= m0 && f.Month <= current {
					dirty.add(f.Month, f.OfficerID)
				}
			}
		}
	}
	// The household's other visits from the first month touched on: a new
	// earliest visit turns a later "first visit" into a repeat one.
	if err := tx.reportVisitOfficers(branchID, from, current, dirty); err != nil {
		return 0, err
	}

	if err := tx.reportWriteFacts(branchID, upserts, deletes); err != nil {
		return 0, err
	}
	if len(late) > 0 {
		if err := tx.CreateInBatches(late, 500).Error; err != nil {
			return 0, fmt.Errorf("report: write late records: %w", err)
		}
	}
	for _, part := range reportChunk(afterClose, 500) {
		err := tx.Exec(`UPDATE visits SET after_close = TRUE WHERE branch_id = ? AND id IN ? AND after_close = FALSE`, branchID, part).Error
		if err != nil {
			return 0, fmt.Errorf("report: mark visits after close: %w", err)
		}
	}
	return len(late), nil
}

// reportResponsible lists who answered for a household at the end of month
// m, by its assignment facts: the officers of the assignments covering that
// instant, or ” when none does. A household that did not exist yet has
// nobody.
func reportResponsible(facts []ReportFact, m string) []string {
	created := ""
	for _, f := range facts {
		if f.Entity == reportFactHousehold && (created == "" || f.Month < created) {
			created = f.Month
		}
	}
	if created != "" && m < created {
		return nil
	}
	seen := map[string]bool{}
	var out []string
	covered := false
	for _, f := range facts {
		if f.Entity != reportFactAssignment || f.Month > m || (f.EndMonth != "" && f.EndMonth <= m) {
			continue
		}
		covered = true
		if !seen[f.OfficerID] {
			seen[f.OfficerID] = true
			out = append(out, f.OfficerID)
		}
	}
	if !covered && !seen[""] {
		out = append(out, "")
	}
	return out
}

// reportAffectedFrom is the first month whose figures a change of fact can
// move (old or new may be nil for a record that appeared or went).
func reportAffectedFrom(o, n *ReportFact) string {
	if o == nil {
		return n.Month
	}
	if n == nil {
		return o.Month
	}
	first := min(o.Month, n.Month)
	sameButEnd := o.Month == n.Month && o.OfficerID == n.OfficerID && o.OutletID == n.OutletID &&
		o.Digest == n.Digest && o.HouseholdID == n.HouseholdID
	if !sameButEnd {
		return first
	}
	switch o.Entity {
	case reportFactHousehold, reportFactAssignment:
		// Only the end moved (a removal from the list, an assignment that
		// ended): the months before the earlier end are untouched.
		ends := []string{}
		for _, e := range []string{o.EndMonth, n.EndMonth} {
			if e == "" {
				continue
			}
			if e == "removed" {
				return first
			}
			ends = append(ends, e)
		}
		if len(ends) == 0 {
			return first
		}
		return max(first, min(ends[0], ends[len(ends)-1]))
	}
	return first
}

// reportFactMonths lists the months a fact counts in, for late-data checks.
func reportFactMonths(f ReportFact) []string {
	switch f.Entity {
	case reportFactLoan:
		parts := strings.Split(f.Digest, "|")
		var out []string
		for _, p := range parts[min(2, len(parts)):] {
			if p != "" {
				out = append(out, p)
			}
		}
		return out
	case reportFactAssignment:
		return []string{f.Month}
	default:
		return []string{f.Month}
	}
}

// reportHouseholdFacts computes the household and assignment facts of some
// households from the base tables.
func (tx *Tx) reportHouseholdFacts(branchID string, households []string, loc *time.Location) (map[reportFactKey]ReportFact, error) {
	var hs []reportHousehold
	if err := tx.Raw(`SELECT id, county_id, list_status, created_at, removed_at FROM households WHERE branch_id = ? AND id IN ?`, branchID, households).Scan(&hs).Error; err != nil {
		return nil, fmt.Errorf("report: read households: %w", err)
	}
	var as []reportAssignment
	if err := tx.Raw(`SELECT id, household_id, outlet_id, officer_id, officer_due_on, assigned_at, ended_at FROM assignments WHERE branch_id = ? AND household_id IN ?`, branchID, households).Scan(&as).Error; err != nil {
		return nil, fmt.Errorf("report: read assignments: %w", err)
	}
	month := func(t time.Time) string { return ReportMonthOf(t, loc) }
	out := map[reportFactKey]ReportFact{}
	for _, h := range hs {
		end := ""
		switch {
		case h.RemovedAt != nil:
			end = month(*h.RemovedAt)
		case h.ListStatus == ListRemoved:
			end = "removed"
		}
		f := ReportFact{BranchID: branchID, Entity: reportFactHousehold, EntityID: h.ID, HouseholdID: h.ID, Month: month(h.CreatedAt), EndMonth: end, Digest: reportDeref(h.CountyID)}
		out[reportFactKey{f.Entity, f.EntityID}] = f
	}
	for _, a := range as {
		end := ""
		if a.EndedAt != nil {
			end = month(*a.EndedAt)
		}
		f := ReportFact{BranchID: branchID, Entity: reportFactAssignment, EntityID: a.ID, HouseholdID: a.HouseholdID, Month: month(a.AssignedAt), EndMonth: end,
			OfficerID: reportDeref(a.OfficerID), OutletID: a.OutletID, Digest: a.OfficerDueOn}
		out[reportFactKey{f.Entity, f.EntityID}] = f
	}
	return out, nil
}

// reportEntityFacts computes the facts of the named visits, needs and loan
// applications, and of the needs linked to the named visits.
func (tx *Tx) reportEntityFacts(branchID string, visitIDs, needIDs, loanIDs []string, loc *time.Location) (map[reportFactKey]ReportFact, error) {
	month := func(t time.Time) string { return ReportMonthOf(t, loc) }
	out := map[reportFactKey]ReportFact{}
	put := func(f ReportFact) {
		f.BranchID = branchID
		out[reportFactKey{f.Entity, f.EntityID}] = f
	}
	visitedAt := map[string]time.Time{}
	for _, part := range reportChunk(visitIDs, 500) {
		var vs []reportVisit
		if err := tx.Raw(`SELECT id, household_id, officer_id, outlet_id, outcome, status, flags, visited_at, deleted_at FROM visits WHERE branch_id = ? AND id IN ?`, branchID, part).Scan(&vs).Error; err != nil {
			return nil, fmt.Errorf("report: read visits: %w", err)
		}
		for _, v := range vs {
			visitedAt[v.ID] = v.VisitedAt
			if v.DeletedAt != nil {
				continue
			}
			flagged := v.Status == reportIssuesStatus || reportJSONArrayLen(v.Flags) > 0
			put(ReportFact{Entity: reportFactVisit, EntityID: v.ID, HouseholdID: v.HouseholdID, Month: month(v.VisitedAt),
				OfficerID: v.OfficerID, OutletID: reportDeref(v.OutletID), Digest: fmt.Sprintf("%s|%s|%t", v.Outcome, v.Status, flagged)})
		}
	}
	var ns []reportNeed
	for _, part := range reportChunk(needIDs, 500) {
		var got []reportNeed
		if err := tx.Raw(`SELECT id, household_id, visit_id, amount_fen, created_at, deleted_at FROM financing_needs WHERE branch_id = ? AND id IN ?`, branchID, part).Scan(&got).Error; err != nil {
			return nil, fmt.Errorf("report: read needs: %w", err)
		}
		ns = append(ns, got...)
	}
	for _, part := range reportChunk(visitIDs, 500) {
		var got []reportNeed
		if err := tx.Raw(`SELECT id, household_id, visit_id, amount_fen, created_at, deleted_at FROM financing_needs WHERE branch_id = ? AND visit_id IN ?`, branchID, part).Scan(&got).Error; err != nil {
			return nil, fmt.Errorf("report: read needs of visits: %w", err)
		}
		ns = append(ns, got...)
	}
	var linked []string
	for _, n := range ns {
		if n.VisitID != nil {
			if _, ok := visitedAt[*n.VisitID]; !ok {
				linked = append(linked, *n.VisitID)
			}
		}
	}
	for _, part := range reportChunk(linked, 500) {
		var fv []reportVisit
		if err := tx.Raw(`SELECT id, visited_at FROM visits WHERE branch_id = ? AND id IN ?`, branchID, part).Scan(&fv).Error; err != nil {
			return nil, fmt.Errorf("report: read linked visits: %w", err)
		}
		for _, v := range fv {
			visitedAt[v.ID] = v.VisitedAt
		}
	}
	for _, n := range ns {
		if n.DeletedAt != nil {
			continue
		}
		at := n.CreatedAt
		if n.VisitID != nil {
			if t, ok := visitedAt[*n.VisitID]; ok {
				at = t
			}
		}
		put(ReportFact{Entity: reportFactNeed, EntityID: n.ID, HouseholdID: n.HouseholdID, Month: month(at), Digest: fmt.Sprint(n.AmountFen)})
	}
	for _, part := range reportChunk(loanIDs, 500) {
		var ls []reportLoan
		if err := tx.Raw(`SELECT id, household_id, status, amount_fen, submitted_at, decided_at, disbursed_at, deleted_at FROM loan_applications WHERE branch_id = ? AND id IN ?`, branchID, part).Scan(&ls).Error; err != nil {
			return nil, fmt.Errorf("report: read loans: %w", err)
		}
		for _, l := range ls {
			if l.DeletedAt != nil {
				continue
			}
			ev := func(t *time.Time) string {
				if t == nil {
					return ""
				}
				return month(*t)
			}
			sub, dec, dis := ev(l.SubmittedAt), ev(l.DecidedAt), ev(l.DisbursedAt)
			var ms []string
			for _, m := range []string{sub, dec, dis} {
				if m != "" {
					ms = append(ms, m)
				}
			}
			if len(ms) == 0 {
				continue // a draft counts nowhere
			}
			sort.Strings(ms)
			put(ReportFact{Entity: reportFactLoan, EntityID: l.ID, HouseholdID: l.HouseholdID, Month: ms[0], EndMonth: ms[len(ms)-1],
				Digest: fmt.Sprintf("%s|%d|%s|%s|%s", l.Status, l.AmountFen, sub, dec, dis)})
		}
	}
	return out, nil
}

// reportVisitOfficers adds, for each household, the officer-months of its
// stored visit facts from the household's first touched month on.
func (tx *Tx) reportVisitOfficers(branchID string, from map[string]string, current string, dirty reportDirty) error {
	var hs []string
	first := current
	for h, m := range from {
		if m <= current {
			hs = append(hs, h)
			first = min(first, m)
		}
	}
	sort.Strings(hs)
	for _, part := range reportChunk(hs, 500) {
		var rows []struct{ HouseholdID, Month, OfficerID string }
		err := tx.Raw(`SELECT household_id, month, officer_id FROM report_facts
			WHERE branch_id = ? AND entity = ? AND household_id IN ? AND month >= ? AND month <= ?
			GROUP BY household_id, month, officer_id`, branchID, reportFactVisit, part, first, current).Scan(&rows).Error
		if err != nil {
			return fmt.Errorf("report: visit officers: %w", err)
		}
		for _, r := range rows {
			if r.Month >= from[r.HouseholdID] {
				dirty.add(r.Month, r.OfficerID)
			}
		}
	}
	return nil
}

// reportHouseholdsOf finds the households of records named without one.
func (tx *Tx) reportHouseholdsOf(branchID string, ids []string) ([]string, error) {
	var out []string
	for _, part := range reportChunk(ids, 500) {
		var hs []string
		err := tx.Raw(`SELECT household_id FROM visits WHERE branch_id = ? AND id IN ?
			UNION SELECT household_id FROM financing_needs WHERE branch_id = ? AND id IN ?
			UNION SELECT household_id FROM loan_applications WHERE branch_id = ? AND id IN ?
			UNION SELECT household_id FROM report_facts WHERE branch_id = ? AND entity_id IN ?`,
			branchID, part, branchID, part, branchID, part, branchID, part).Scan(&hs).Error
		if err != nil {
			return nil, fmt.Errorf("report: households of records: %w", err)
		}
		out = append(out, hs...)
	}
	return out, nil
}

func (tx *Tx) reportWriteFacts(branchID string, upserts []ReportFact, deletes []reportFactKey) error {
	byEntity := map[string][]string{}
	for _, k := range deletes {
		byEntity[k.entity] = append(byEntity[k.entity], k.id)
	}
	for e, ids := range byEntity {
		for _, part := range reportChunk(ids, 500) {
			if err := tx.Exec(`DELETE FROM report_facts WHERE branch_id = ? AND entity = ? AND entity_id IN ?`, branchID, e, part).Error; err != nil {
				return fmt.Errorf("report: delete facts: %w", err)
			}
		}
	}
	const cols = 9
	for len(upserts) > 0 {
		n := min(len(upserts), 500)
		part := upserts[:n]
		upserts = upserts[n:]
		var b strings.Builder
		b.WriteString(`INSERT INTO report_facts (branch_id, entity, entity_id, household_id, month, end_month, officer_id, outlet_id, digest) VALUES `)
		vals := make([]any, 0, n*cols)
		for i, f := range part {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?)")
			vals = append(vals, branchID, f.Entity, f.EntityID, f.HouseholdID, f.Month, f.EndMonth, f.OfficerID, f.OutletID, f.Digest)
		}
		b.WriteString(` ON CONFLICT (branch_id, entity, entity_id) DO UPDATE SET household_id = excluded.household_id,
			month = excluded.month, end_month = excluded.end_month, officer_id = excluded.officer_id,
			outlet_id = excluded.outlet_id, digest = excluded.digest`)
		if _, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context, tx.db.rebind(b.String()), vals...); err != nil {
			return fmt.Errorf("report: write facts: %w", err)
		}
	}
	return nil
}

// reportOrgParents maps each org unit of the branch to its parent.
func (tx *Tx) reportOrgParents(branchID string) (map[string]string, error) {
	var us []OrgUnit
	if err := tx.Where("branch_id = ?", branchID).Find(&us).Error; err != nil {
		return nil, fmt.Errorf("report: org units: %w", err)
	}
	out := make(map[string]string, len(us))
	for _, u := range us {
		out[u.ID] = reportDeref(u.ParentID)
	}
	return out, nil
}

func reportSortedFactKeys(set map[reportFactKey]bool) []reportFactKey {
	out := make([]reportFactKey, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].entity != out[j].entity {
			return out[i].entity < out[j].entity
		}
		return out[i].id < out[j].id
	})
	return out
}

// reportJSONArrayLen is the length of a JSON array, 0 for anything else.
func reportJSONArrayLen(s string) int {
	var a []json.RawMessage
	if json.Unmarshal([]byte(s), &a) != nil {
		return 0
	}
	return len(a)
}

func reportDeref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
