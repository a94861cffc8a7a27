package store

import (
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
)

// The automatic checks of arriving visits need, for each visit, the
// officer's visits around it, the household's visits of the same day, the
// household's registered location, its assignment history and the officer's
// devices. FlagContext loads all of that for a batch of visits in a handful
// of set-based queries, so a push of a thousand visits costs the same few
// round trips as a push of one.

// FlagContext is the data the checks of a batch of visits read.
type FlagContext struct {
	Targets     []Visit                 // the visits asked about, deleted ones included
	Window      []Visit                 // live neighbours of the targets (neighbourColumns only): see LoadFlagContext
	Households  map[string]Household    // the targets' households by id: location fields only
	Assignments map[string][]Assignment // the targets' households' history by household id, oldest first
	Devices     map[string][]string     // the targets' officers: officer id → device row ids
	StoredFlags map[string]string       // visit id → visits.flags as stored
}

// FlagWindow is how far around a visit's time its neighbours are loaded.
// Travel between visits more than this apart is never judged impossible.
const FlagWindow = 48 * time.Hour

// targetColumns are the columns of a visit to flag the checks read.
const targetColumns = "id, branch_id, household_id, officer_id, device_id, outcome, lat, lng, accuracy_m," +
	" started_at, ended_at, visited_at, clock_suspect, flags, deleted_at"

// dayStart is the start of t's calendar day in loc.
func dayStart(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, loc)
}

// neighbourColumns are the columns of a neighbouring visit the checks read.
const neighbourColumns = "id, branch_id, officer_id, household_id, visited_at, lat, lng, outcome"

const covInChunk = 500

func covChunks(ids []string) [][]string {
	var out [][]string
	for len(ids) > covInChunk {
		out = append(out, ids[:covInChunk])
		ids = ids[covInChunk:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

func covUniq(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// LoadFlagContext loads what the checks of the given visits need.
// The same-day check reads the calendar days of loc.
func (tx *Tx) LoadFlagContext(branchID string, loc *time.Location, visitIDs []string) (FlagContext, error) {
	var targets []Visit
	for _, c := range covChunks(covUniq(visitIDs)) {
		var vs []Visit
		if err := tx.Select(targetColumns).Where("branch_id = ? AND id IN ?", branchID, c).Find(&vs).Error; err != nil {
			return FlagContext{}, fmt.Errorf("load visits to flag: %w", err)
		}
		targets = append(targets, vs...)
	}
	return tx.LoadFlagContextOf(branchID, loc, targets)
}

// LoadFlagContextOf is LoadFlagContext for visits the caller holds as they
// stand in this transaction, such as those a push has just written: they
// are not read back. Each must be of branchID, one per id.
func (tx *Tx) LoadFlagContextOf(branchID string, loc *time.Location, targets []Visit) (FlagContext, error) {
	fc := FlagContext{
		Households: map[string]Household{}, Assignments: map[string][]Assignment{},
		Devices: map[string][]string{}, StoredFlags: map[string]string{},
		Targets: targets,
	}
	if len(fc.Targets) == 0 {
		return fc, nil
	}
	var officers, households []string
	lo, hi := fc.Targets[0].VisitedAt, fc.Targets[0].VisitedAt
	for _, v := range fc.Targets {
		officers = append(officers, v.OfficerID)
		households = append(households, v.HouseholdID)
		if v.VisitedAt.Before(lo) {
			lo = v.VisitedAt
		}
		if v.VisitedAt.After(hi) {
			hi = v.VisitedAt
		}
	}
	officers, households = covUniq(officers), covUniq(households)
	seen := map[string]bool{}
	keep := func(vs []Visit) {
		for _, v := range vs {
			if !seen[v.ID] {
				seen[v.ID] = true
				fc.Window = append(fc.Window, v)
			}
		}
	}
	// The checks read, of the officers' visits, those between the batch's
	// first and last (the batch's own among them), the latest earlier one
	// with coordinates (the first target's previous stop) and those after,
	// up to the first with coordinates (their previous stop may now be a
	// target); of the households' visits, those of the same days. Only the columns the checks read are
	// loaded: a dense day of an officer's visits must stay cheap.
	live := tx.Select(neighbourColumns).Where("branch_id = ? AND deleted_at IS NULL", branchID)
	for _, c := range covChunks(officers) {
		var in, before, after []Visit
		if err := live.Session(&gorm.Session{}).Where("officer_id IN ? AND visited_at >= ? AND visited_at <= ?", c, lo, hi).Find(&in).Error; err != nil {
			return fc, fmt.Errorf("load neighbouring visits: %w", err)
		}
		err := tx.Raw("SELECT "+neighbourColumns+" FROM (SELECT "+neighbourColumns+
			", ROW_NUMBER() OVER (PARTITION BY officer_id ORDER BY visited_at DESC, id DESC) AS rn FROM visits"+
			" WHERE branch_id = ? AND deleted_at IS NULL AND lat IS NOT NULL AND lng IS NOT NULL AND officer_id IN ? AND visited_at >= ? AND visited_at < ?) AS p WHERE rn = 1",
			branchID, c, lo.Add(-FlagWindow), lo).Scan(&before).Error
		if err != nil {
			return fc, fmt.Errorf("load previous visits: %w", err)
		}
		// After the batch: every visit up to the first with coordinates,
		// since each of them has a target as its previous stop.
		var firstFix []Visit
		err = tx.Raw("SELECT id, visited_at FROM (SELECT id, visited_at, ROW_NUMBER() OVER (PARTITION BY officer_id ORDER BY visited_at, id) AS rn FROM visits"+
			" WHERE branch_id = ? AND deleted_at IS NULL AND lat IS NOT NULL AND lng IS NOT NULL AND officer_id IN ? AND visited_at > ? AND visited_at <= ?) AS n WHERE rn = 1",
			branchID, c, hi, hi.Add(FlagWindow)).Scan(&firstFix).Error
		if err != nil {
			return fc, fmt.Errorf("load next visits: %w", err)
		}
		until := hi.Add(FlagWindow)
		if len(firstFix) == len(c) { // an officer without one is read to the end of the window
			until = firstFix[0].VisitedAt
			for _, v := range firstFix {
				if v.VisitedAt.After(until) {
					until = v.VisitedAt
				}
			}
		}
		if err := live.Session(&gorm.Session{}).Where("officer_id IN ? AND visited_at > ? AND visited_at <= ?", c, hi, until).Find(&after).Error; err != nil {
			return fc, fmt.Errorf("load next visits: %w", err)
		}
		keep(in)
		keep(before)
		keep(after)
	}
	for _, c := range covChunks(households) {
		var vs []Visit
		if err := live.Session(&gorm.Session{}).Where("household_id IN ? AND visited_at >= ? AND visited_at <= ?", c, dayStart(lo, loc), dayStart(hi, loc).AddDate(0, 0, 1)).Find(&vs).Error; err != nil {
			return fc, fmt.Errorf("load neighbouring visits: %w", err)
		}
		keep(vs)
	}
	for _, v := range fc.Targets {
		fc.StoredFlags[v.ID] = v.Flags
	}
	for _, c := range covChunks(households) {
		var hs []Household
		if err := tx.Select("id, branch_id, lat, lng, location_source, officer_id, outlet_id").
			Where("branch_id = ? AND id IN ?", branchID, c).Find(&hs).Error; err != nil {
			return fc, fmt.Errorf("load household locations: %w", err)
		}
		for _, h := range hs {
			fc.Households[h.ID] = h
		}
		var as []Assignment
		if err := tx.Select("id, branch_id, household_id, officer_id, outlet_due_on, officer_due_on, assigned_at, ended_at").
			Where("branch_id = ? AND household_id IN ?", branchID, c).Order("assigned_at, id").Find(&as).Error; err != nil {
			return fc, fmt.Errorf("load assignments: %w", err)
		}
		for _, a := range as {
			fc.Assignments[a.HouseholdID] = append(fc.Assignments[a.HouseholdID], a)
		}
	}
	for _, c := range covChunks(officers) {
		var ds []Device
		if err := tx.Select("id, user_id").Where("user_id IN ?", c).Order("id").Find(&ds).Error; err != nil {
			return fc, fmt.Errorf("load devices: %w", err)
		}
		for _, d := range ds {
			fc.Devices[d.UserID] = append(fc.Devices[d.UserID], d.ID)
		}
	}
	return fc, nil
}

// Merge adds another context's visits and lookups to fc, so that a batch
// whose dependants lie outside it loads only what it lacks.
func (fc *FlagContext) Merge(o FlagContext) {
	have := make(map[string]bool, len(fc.Targets)+len(fc.Window))
	for _, v := range fc.Targets {
		have["t"+v.ID] = true
	}
	for _, v := range fc.Window {
		have["w"+v.ID] = true
	}
	for _, v := range o.Targets {
		if !have["t"+v.ID] {
			fc.Targets = append(fc.Targets, v)
		}
	}
	for _, v := range o.Window {
		if !have["w"+v.ID] {
			fc.Window = append(fc.Window, v)
		}
	}
	for k, v := range o.Households {
		fc.Households[k] = v
	}
	for k, v := range o.Assignments {
		fc.Assignments[k] = v
	}
	for k, v := range o.Devices {
		fc.Devices[k] = v
	}
	for k, v := range o.StoredFlags {
		fc.StoredFlags[k] = v
	}
}

// VisitFlagUpdate is one visit's recomputed flags: the JSON copy for
// visits.flags and one row per flag.
type VisitFlagUpdate struct {
	VisitID string
	JSON    string
	Rows    []VisitFlag
}

var visitFlagsInsert = bulkStmt{
	table: "visit_flags",
	cols:  []syncColumn{{"branch_id", "text"}, {"visit_id", "text"}, {"code", "text"}, {"evidence", "jsonb"}, {"created_at", "timestamptz"}},
	tail:  " ON CONFLICT (branch_id, visit_id, code) DO UPDATE SET evidence = excluded.evidence, created_at = excluded.created_at",
}

// SaveVisitFlags replaces the flags of a batch of visits: the rows of
// visit_flags and the JSON copy in visits.flags. Flags are review data the
// device never sees, so the visits' versions are not bumped and nothing is
// sent to devices. It is a fixed handful of statements whatever the number
// of visits: one delete, one insert and one update per chunk. Rows are
// upserted, so two pushes recomputing the same neighbour at once cannot
// collide on the key.
func (tx *Tx) SaveVisitFlags(branchID string, ups []VisitFlagUpdate) error {
	if len(ups) == 0 {
		return nil
	}
	ids := make([]string, len(ups))
	var rows [][]any
	for i, u := range ups {
		ids[i] = u.VisitID
		for _, f := range u.Rows {
			rows = append(rows, []any{branchID, u.VisitID, f.Code, f.Evidence, f.CreatedAt})
		}
	}
	for _, c := range covChunks(ids) {
		if err := tx.Where("branch_id = ? AND visit_id IN ?", branchID, c).Delete(&VisitFlag{}).Error; err != nil {
			return fmt.Errorf("clear visit flags: %w", err)
		}
	}
	if _, err := tx.bulkExec(visitFlagsInsert, rows); err != nil {
		return fmt.Errorf("store visit flags: %w", err)
	}
	if tx.Dialect() == Postgres {
		for start := 0; start < len(ups); start += maxRowsUnnest {
			chunk := ups[start:min(start+maxRowsUnnest, len(ups))]
			vids, bodies := make([]string, len(chunk)), make([]string, len(chunk))
			for i, u := range chunk {
				vids[i], bodies[i] = u.VisitID, u.JSON
			}
			// Straight to the connection, as bulkExec does: gorm would
			// spread a slice into a list.
			_, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context,
				"UPDATE visits AS v SET flags = u.flags::jsonb FROM unnest($1::text[], $2::text[]) AS u(id, flags) WHERE v.branch_id = $3 AND v.id = u.id",
				vids, bodies, branchID)
			if err != nil {
				return fmt.Errorf("store visit flags: %w", err)
			}
		}
		return nil
	}
	// SQLite: one statement per visit; it is in-process, with no round trip
	// to save.
	for _, u := range ups {
		if err := tx.Model(&Visit{}).Where("branch_id = ? AND id = ?", branchID, u.VisitID).UpdateColumn("flags", u.JSON).Error; err != nil {
			return fmt.Errorf("store visit flags: %w", err)
		}
	}
	return nil
}

// HouseholdVisitIDs lists the live visits of a household, for rechecking
// them when its registered location changes.
func (tx *Tx) HouseholdVisitIDs(branchID, householdID string) ([]string, error) {
	var ids []string
	err := tx.Model(&Visit{}).Where("branch_id = ? AND household_id = ? AND deleted_at IS NULL", branchID, householdID).
		Order("visited_at, id").Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("household visits: %w", err)
	}
	return ids, nil
}
