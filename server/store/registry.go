package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"gorm.io/gorm"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// The registry's storage: service areas (which outlet serves which township
// or village), moving households between outlets and officers with their
// assignment history and sync changes, and the helpers the import, progress
// and plan queries share. Authorization is decided here, inside the
// transaction that does the work.

// Assignment end reasons.
const (
	EndReassigned  = "reassigned"
	EndAreaChanged = "area_changed"
	EndRemoved     = "removed_from_list"
)

// Household entity name in the change log.
const entityHousehold = syncproto.EntityHousehold

var (
	errImportForbidden = apperr.New(syncproto.CodeForbidden,
		"只有管理员和分行经理可以导入监测名单", "only admins and branch managers may import the monitoring list")
	errAreasForbidden = apperr.New(syncproto.CodeForbidden,
		"只有管理员可以维护服务区域", "only admins may maintain service areas")
)

// managesBranch reports whether the actor may import the list of, and map the
// areas of, the branch: an admin anywhere, a branch manager in their branch.
func managesBranch(a Actor, branchID string) bool {
	return a.Role == RoleAdmin || (a.Role == RoleBranchManager && a.BranchID == branchID)
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func nullArg(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// --- Branches -----------------------------------------------------------------

// ResolveBranch finds the branch an operation is about: the given branch code
// or id, or else the actor's own branch. Only admins may name another branch.
func (db *DB) ResolveBranch(ctx context.Context, a Actor, codeOrID string) (OrgUnit, error) {
	var u OrgUnit
	q := db.gorm.WithContext(ctx).Where("kind = ?", KindBranch)
	switch {
	case codeOrID != "":
		q = q.Where("code = ? OR id = ?", codeOrID, codeOrID)
	case a.BranchID != "":
		q = q.Where("id = ?", a.BranchID)
	default:
		var all []OrgUnit
		if err := db.gorm.WithContext(ctx).Where("kind = ?", KindBranch).Order("code").Find(&all).Error; err != nil {
			return u, fmt.Errorf("list branches: %w", err)
		}
		if len(all) == 1 {
			return all[0], nil
		}
		codes := make([]string, len(all))
		for i, b := range all {
			codes[i] = b.Code
		}
		return u, apperr.Invalid("branch", "请指定分行代码", "name the branch by its code").With("branches", codes)
	}
	err := q.Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return u, apperr.New(syncproto.CodeNotFound, "分行不存在", "no such branch").With("branch", codeOrID)
	}
	if err != nil {
		return u, fmt.Errorf("resolve branch: %w", err)
	}
	if a.Role != "" && a.Role != RoleAdmin && u.ID != a.BranchID {
		return u, apperr.NotFound
	}
	return u, nil
}

// --- Service areas ------------------------------------------------------------

// AreaMapping says which outlet, and so which county sub-branch, serves a
// township (Village "") or a single village.
type AreaMapping struct {
	County     string
	Township   string
	Village    string
	OutletID   string
	OutletCode string
	OutletName string
	CountyID   string // the outlet's parent
}

// AreaMappings lists a branch's service areas with their outlets.
func (db *DB) AreaMappings(ctx context.Context, branchID string) ([]AreaMapping, error) {
	return areaMappings(db.gorm.WithContext(ctx), branchID)
}

func areaMappings(q *gorm.DB, branchID string) ([]AreaMapping, error) {
	var out []AreaMapping
	err := q.Raw(`SELECT s.county, s.township, s.village, s.outlet_id, o.code AS outlet_code, o.name AS outlet_name,
			COALESCE(o.parent_id, '') AS county_id
		FROM service_areas s JOIN org_units o ON o.id = s.outlet_id
		WHERE s.branch_id = ? ORDER BY s.county, s.township, s.village`, branchID).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("load service areas: %w", err)
	}
	return out, nil
}

// AreaKey names a township or village.
type AreaKey struct{ County, Township, Village string }

// AreaIndex answers which outlet serves a household's village: the village's
// own mapping first, then its township's.
type AreaIndex struct {
	byArea   map[AreaKey]AreaMapping
	counties map[string]string // county name -> county org unit id
}

// NewAreaIndex indexes mappings.
func NewAreaIndex(ms []AreaMapping) *AreaIndex {
	ix := &AreaIndex{byArea: make(map[AreaKey]AreaMapping, len(ms)), counties: map[string]string{}}
	for _, m := range ms {
		ix.byArea[AreaKey{m.County, m.Township, m.Village}] = m
		if _, ok := ix.counties[m.County]; !ok && m.CountyID != "" {
			ix.counties[m.County] = m.CountyID
		}
	}
	return ix
}

// Serves reports whether the branch serves the county at all, and the county
// sub-branch that does.
func (ix *AreaIndex) Serves(county string) (countyID string, ok bool) {
	countyID, ok = ix.counties[county]
	return countyID, ok
}

// Outlet returns the mapping that serves the village, if any.
func (ix *AreaIndex) Outlet(county, township, village string) (AreaMapping, bool) {
	if m, ok := ix.byArea[AreaKey{county, township, village}]; ok && village != "" {
		return m, true
	}
	m, ok := ix.byArea[AreaKey{county, township, ""}]
	return m, ok
}

// ServiceAreas lists the mapping of a branch the actor reaches.
func (db *DB) ServiceAreas(ctx context.Context, a Actor, branchID string) ([]AreaMapping, error) {
	if a.Role == RoleOfficer || (a.Role != RoleAdmin && a.BranchID != branchID) {
		return nil, apperr.Forbidden
	}
	return db.AreaMappings(ctx, branchID)
}

// AreaInput is one line of a service-area mapping to store.
type AreaInput struct {
	County, Township, Village string
	OutletID                  string // id or code of an outlet of the branch
}

// AreaChangeResult says what replacing the mapping did.
type AreaChangeResult struct {
	Areas    int `json:"areas"`    // mappings stored
	Moved    int `json:"moved"`    // active households now served by another outlet
	Assigned int `json:"assigned"` // active households that had no outlet and now have one
}

// ReplaceServiceAreas replaces a branch's whole township/village → outlet
// mapping and applies it: every active household whose village now maps to
// another outlet moves there (its officer's device drops it), and households
// that had no outlet get one. A village whose mapping disappears keeps its
// households where they are: taking work away needs an explicit new mapping.
func (db *DB) ReplaceServiceAreas(ctx context.Context, a Actor, branchID string, in []AreaInput) (AreaChangeResult, error) {
	var res AreaChangeResult
	if a.Role != RoleAdmin {
		return res, errAreasForbidden
	}
	err := db.Transact(ctx, func(tx *Tx) error {
		res = AreaChangeResult{}
		var outlets []OrgUnit
		if err := tx.Where("branch_id = ? AND kind = ?", branchID, KindOutlet).Find(&outlets).Error; err != nil {
			return fmt.Errorf("load outlets: %w", err)
		}
		byRef := map[string]OrgUnit{}
		for _, o := range outlets {
			byRef[o.ID], byRef[o.Code] = o, o
		}
		seen := map[AreaKey]int{}
		rows := make([]ServiceArea, 0, len(in))
		now := Now()
		for i, ar := range in {
			k := AreaKey{strings.TrimSpace(ar.County), strings.TrimSpace(ar.Township), strings.TrimSpace(ar.Village)}
			if k.County == "" || k.Township == "" {
				return apperr.Invalid("areas", fmt.Sprintf("第 %d 条：县和乡镇不能为空", i+1), fmt.Sprintf("area %d: county and township are required", i+1)).With("index", i)
			}
			if len(k.County) > 100 || len(k.Township) > 100 || len(k.Village) > 100 {
				return apperr.Invalid("areas", fmt.Sprintf("第 %d 条：名称过长", i+1), fmt.Sprintf("area %d: a name is too long", i+1)).With("index", i)
			}
			o, ok := byRef[strings.TrimSpace(ar.OutletID)]
			if !ok {
				return apperr.Invalid("areas", fmt.Sprintf("第 %d 条：网点 %q 不是本分行的网点", i+1, ar.OutletID),
					fmt.Sprintf("area %d: %q is not an outlet of this branch", i+1, ar.OutletID)).With("index", i)
			}
			if j, dup := seen[k]; dup {
				return apperr.Invalid("areas", fmt.Sprintf("第 %d 条与第 %d 条是同一区域", i+1, j+1),
					fmt.Sprintf("areas %d and %d name the same place", j+1, i+1)).With("index", i)
			}
			seen[k] = i
			rows = append(rows, ServiceArea{BranchID: branchID, County: k.County, Township: k.Township, Village: k.Village, OutletID: o.ID, CreatedAt: now})
		}
		if err := tx.Where("branch_id = ?", branchID).Delete(&ServiceArea{}).Error; err != nil {
			return fmt.Errorf("replace service areas: %w", err)
		}
		if err := tx.CreateInBatches(rows, 500).Error; err != nil {
			return fmt.Errorf("replace service areas: %w", err)
		}
		res.Areas = len(rows)
		ms, err := areaMappings(tx.DB, branchID)
		if err != nil {
			return err
		}
		ix := NewAreaIndex(ms)
		var hs []struct {
			ID, County, Township, Village string
			OutletID, OfficerID           *string
		}
		if err := tx.Raw(`SELECT id, county, township, village, outlet_id, officer_id FROM households
			WHERE branch_id = ? AND list_status = 'active'`, branchID).Scan(&hs).Error; err != nil {
			return fmt.Errorf("load households: %w", err)
		}
		officers, err := tx.villageOfficers(branchID)
		if err != nil {
			return err
		}
		var moves []householdMove
		for _, h := range hs {
			m, ok := ix.Outlet(h.County, h.Township, h.Village)
			if !ok || deref(h.OutletID) == m.OutletID {
				continue
			}
			if h.OutletID == nil {
				res.Assigned++
			} else {
				res.Moved++
			}
			mv := householdMove{HouseholdID: h.ID, FromOfficer: deref(h.OfficerID), ToOutlet: m.OutletID, ToCounty: m.CountyID}
			mv.ToOfficer = officers[villageKey{m.OutletID, AreaKey{h.County, h.Township, h.Village}}]
			moves = append(moves, mv)
		}
		if err := tx.moveHouseholds(branchID, a, moves, EndAreaChanged); err != nil {
			return err
		}
		return tx.Audit(a, "service_areas.replace", "org_unit", branchID, map[string]int{"areas": res.Areas, "moved": res.Moved, "assigned": res.Assigned})
	})
	return res, err
}

// --- Moving households ----------------------------------------------------------

// householdMove hands a household to an outlet and (optionally) an officer.
type householdMove struct {
	HouseholdID string
	FromOfficer string
	ToOutlet    string
	ToCounty    string
	ToOfficer   string // "" leaves the household with the outlet, unassigned
	OutletDue   string
	OfficerDue  string
}

// moveHouseholds ends each household's open assignment and opens a new one,
// points the household at its new outlet and officer, and records the sync
// changes: the old officer's device drops the household, the new officer's
// device receives all of it. Work is done in set-based batches.
func (tx *Tx) moveHouseholds(branchID string, a Actor, moves []householdMove, reason string) error {
	if len(moves) == 0 {
		return nil
	}
	now := Now()
	ids := make([]string, len(moves))
	for i, m := range moves {
		ids[i] = m.HouseholdID
	}
	if err := chunks(ids, 1000, func(part []string) error {
		_, err := tx.exec(`UPDATE assignments SET ended_at = ?, end_reason = ?
			WHERE branch_id = ? AND ended_at IS NULL AND household_id IN (`+placeholders(len(part))+`)`,
			append([]any{now, reason, branchID}, toAny(part)...)...)
		return err
	}); err != nil {
		return fmt.Errorf("end assignments: %w", err)
	}
	var by any
	if a.UserID != "" {
		by = a.UserID
	}
	cols := []string{"id text", "branch_id text", "household_id text", "outlet_id text", "officer_id text", "outlet_due_on text",
		"officer_due_on text", "assigned_by text", "assigned_at timestamptz"}
	if err := tx.insertBatched("assignments", cols, len(moves), func(i int, v []any) {
		m := moves[i]
		var off any
		if m.ToOfficer != "" {
			off = m.ToOfficer
		}
		v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8] = NewID(), branchID, m.HouseholdID, m.ToOutlet, off, m.OutletDue, m.OfficerDue, by, now
	}); err != nil {
		return err
	}
	// One UPDATE per destination, each over at most 1000 households.
	type dest struct{ outlet, county, officer string }
	groups := map[dest][]string{}
	var order []dest
	for _, m := range moves {
		d := dest{m.ToOutlet, m.ToCounty, m.ToOfficer}
		if _, ok := groups[d]; !ok {
			order = append(order, d)
		}
		groups[d] = append(groups[d], m.HouseholdID)
	}
	for _, d := range order {
		var off, county any
		if d.officer != "" {
			off = d.officer
		}
		if d.county != "" {
			county = d.county
		}
		if err := chunks(groups[d], 1000, func(part []string) error {
			_, err := tx.exec(`UPDATE households SET outlet_id = ?, county_id = COALESCE(?, county_id), officer_id = ?,
				version = version + 1, updated_at = ?
				WHERE branch_id = ? AND id IN (`+placeholders(len(part))+`)`,
				append([]any{d.outlet, county, off, now, branchID}, toAny(part)...)...)
			return err
		}); err != nil {
			return fmt.Errorf("move households: %w", err)
		}
	}
	for _, m := range moves {
		tx.RecordChange(Change{BranchID: branchID, Entity: entityHousehold, EntityID: m.HouseholdID, Op: OpUpsert, HouseholdID: m.HouseholdID})
		tx.RecordScopeChange(branchID, m.HouseholdID, m.FromOfficer, m.ToOfficer)
	}
	return nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// villageKey is a village within an outlet.
type villageKey struct {
	Outlet string
	Area   AreaKey
}

// villageOfficers decides who a household new to a village goes to: the
// active officer of the village's outlet who already holds the most active
// households in that village (ties go to the lower user id, so the choice is
// stable). A village nobody works yet has no officer; its new households wait
// at the outlet for the supervisor.
func (tx *Tx) villageOfficers(branchID string) (map[villageKey]string, error) {
	var rows []struct {
		OutletID, County, Township, Village, OfficerID string
		N                                              int
	}
	err := tx.Raw(`SELECT h.outlet_id, h.county, h.township, h.village, h.officer_id, COUNT(*) AS n
		FROM households h JOIN users u ON u.id = h.officer_id
		WHERE h.branch_id = ? AND h.list_status = 'active' AND h.outlet_id IS NOT NULL
		  AND u.status = 'active' AND u.role = 'officer' AND u.org_unit_id = h.outlet_id
		GROUP BY h.outlet_id, h.county, h.township, h.village, h.officer_id`, branchID).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("village officers: %w", err)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].N != rows[j].N {
			return rows[i].N > rows[j].N
		}
		return rows[i].OfficerID < rows[j].OfficerID
	})
	out := map[villageKey]string{}
	for _, r := range rows {
		k := villageKey{r.OutletID, AreaKey{r.County, r.Township, r.Village}}
		if _, ok := out[k]; !ok {
			out[k] = r.OfficerID
		}
	}
	return out, nil
}
