package store

import (
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm/clause"
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
	Window      []Visit                 // live visits of the same officers or households around the targets' times
	Households  map[string]Household    // by id: location fields only
	Assignments map[string][]Assignment // by household id, oldest first
	Devices     map[string][]string     // officer id → device row ids
	StoredFlags map[string]string       // visit id → visits.flags as stored
}

// FlagWindow is how far around a visit's time its neighbours are loaded.
// Travel between visits more than this apart is never judged impossible.
const FlagWindow = 48 * time.Hour

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
func (tx *Tx) LoadFlagContext(branchID string, visitIDs []string) (FlagContext, error) {
	fc := FlagContext{
		Households: map[string]Household{}, Assignments: map[string][]Assignment{},
		Devices: map[string][]string{}, StoredFlags: map[string]string{},
	}
	for _, c := range covChunks(covUniq(visitIDs)) {
		var vs []Visit
		if err := tx.Where("branch_id = ? AND id IN ?", branchID, c).Find(&vs).Error; err != nil {
			return fc, fmt.Errorf("load visits to flag: %w", err)
		}
		fc.Targets = append(fc.Targets, vs...)
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
	load := func(col string, ids []string) error {
		for _, c := range covChunks(ids) {
			var vs []Visit
			err := tx.Where("branch_id = ? AND deleted_at IS NULL AND visited_at >= ? AND visited_at <= ? AND "+col+" IN ?",
				branchID, lo.Add(-FlagWindow), hi.Add(FlagWindow), c).Find(&vs).Error
			if err != nil {
				return fmt.Errorf("load neighbouring visits: %w", err)
			}
			for _, v := range vs {
				if !seen[v.ID] {
					seen[v.ID] = true
					fc.Window = append(fc.Window, v)
				}
			}
		}
		return nil
	}
	if err := load("officer_id", officers); err != nil {
		return fc, err
	}
	if err := load("household_id", households); err != nil {
		return fc, err
	}
	var allHouseholds []string
	for _, v := range fc.Window {
		allHouseholds = append(allHouseholds, v.HouseholdID)
		fc.StoredFlags[v.ID] = v.Flags
	}
	for _, v := range fc.Targets {
		fc.StoredFlags[v.ID] = v.Flags
	}
	allHouseholds = covUniq(append(allHouseholds, households...))
	for _, c := range covChunks(allHouseholds) {
		var hs []Household
		if err := tx.Select("id, branch_id, lat, lng, location_source, officer_id, outlet_id").
			Where("branch_id = ? AND id IN ?", branchID, c).Find(&hs).Error; err != nil {
			return fc, fmt.Errorf("load household locations: %w", err)
		}
		for _, h := range hs {
			fc.Households[h.ID] = h
		}
		var as []Assignment
		if err := tx.Where("branch_id = ? AND household_id IN ?", branchID, c).Order("assigned_at, id").Find(&as).Error; err != nil {
			return fc, fmt.Errorf("load assignments: %w", err)
		}
		for _, a := range as {
			fc.Assignments[a.HouseholdID] = append(fc.Assignments[a.HouseholdID], a)
		}
	}
	var allOfficers []string
	for _, v := range fc.Window {
		allOfficers = append(allOfficers, v.OfficerID)
	}
	allOfficers = covUniq(append(allOfficers, officers...))
	for _, c := range covChunks(allOfficers) {
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

// SaveVisitFlags replaces a visit's flags: the rows of visit_flags and the
// JSON copy in visits.flags. Flags are review data the device never sees, so
// the visit's version is not bumped and nothing is sent to devices. Rows are
// upserted and only codes no longer raised are deleted, so two pushes
// recomputing the same neighbour at once cannot collide on the key.
func (tx *Tx) SaveVisitFlags(branchID, visitID, flagsJSON string, flags []VisitFlag) error {
	codes := make([]string, len(flags))
	for i, f := range flags {
		codes[i] = f.Code
	}
	del := tx.Where("branch_id = ? AND visit_id = ?", branchID, visitID)
	if len(codes) > 0 {
		del = del.Where("code NOT IN ?", codes)
	}
	if err := del.Delete(&VisitFlag{}).Error; err != nil {
		return fmt.Errorf("clear visit flags: %w", err)
	}
	if len(flags) > 0 {
		err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "branch_id"}, {Name: "visit_id"}, {Name: "code"}},
			DoUpdates: clause.AssignmentColumns([]string{"evidence", "created_at"}),
		}).Create(&flags).Error
		if err != nil {
			return fmt.Errorf("store visit flags: %w", err)
		}
	}
	if err := tx.Model(&Visit{}).Where("branch_id = ? AND id = ?", branchID, visitID).UpdateColumn("flags", flagsJSON).Error; err != nil {
		return fmt.Errorf("store visit flags: %w", err)
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
