package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Coverage: the monthly ledger of who was visited, exemptions, sign-offs and
// the branch settings they use. The classification of a household's month
// lives in package coverage; the store only gathers the facts, in one
// set-based query, scoped by the acting user.

// ErrCoverageConflict marks a coverage write that contradicts the current
// state (an exemption that exists, a sign-off that must reference the
// current one); the message says why.
var ErrCoverageConflict = errors.New("coverage conflict")

func coverageConflictf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrCoverageConflict}, args...)...)
}

// CoverageScope is the part of the organisation a ledger covers: an org unit
// subtree (outlet, county or branch) or one officer.
type CoverageScope struct {
	BranchID  string
	Kind      string // outlet, county, branch or officer
	ID        string // org unit id or officer user id
	Code      string // org unit code or username
	Name      string
	UnitIDs   []string // the subtree's org unit ids; empty for an officer
	OfficerID string
}

// ResolveCoverageScope turns an org unit id or an officer id into a scope
// the actor reaches. Either may be empty; with both empty the actor's home
// unit is used. Anything outside the actor's reach is ErrNotFound, so that
// other subtrees look the same whether they exist or not.
func (db *DB) ResolveCoverageScope(ctx context.Context, a Actor, orgID, officerID string) (CoverageScope, error) {
	return resolveCoverageScope(db.gorm.WithContext(ctx), a, orgID, officerID)
}

// ResolveCoverageScope is the in-transaction form.
func (tx *Tx) ResolveCoverageScope(a Actor, orgID, officerID string) (CoverageScope, error) {
	return resolveCoverageScope(tx.DB, a, orgID, officerID)
}

func resolveCoverageScope(g *gorm.DB, a Actor, orgID, officerID string) (CoverageScope, error) {
	if officerID != "" {
		var u User
		if err := g.Where("id = ? AND role = ?", officerID, RoleOfficer).Take(&u).Error; err != nil {
			return CoverageScope{}, notFoundOr(err, "load officer")
		}
		var unit OrgUnit
		if err := g.Where("id = ?", u.OrgUnitID).Take(&unit).Error; err != nil {
			return CoverageScope{}, notFoundOr(err, "load officer unit")
		}
		if !a.IsStaff() || !a.ReachesUser(u, unit) {
			return CoverageScope{}, ErrNotFound
		}
		name := u.DisplayName
		if name == "" {
			name = u.Username
		}
		return CoverageScope{BranchID: u.BranchID, Kind: "officer", ID: u.ID, Code: u.Username, Name: name, OfficerID: u.ID}, nil
	}
	if orgID == "" {
		orgID = a.OrgUnitID
	}
	if orgID == "" {
		return CoverageScope{}, ErrNotFound
	}
	var unit OrgUnit
	if err := g.Where("id = ?", orgID).Take(&unit).Error; err != nil {
		return CoverageScope{}, notFoundOr(err, "load org unit")
	}
	if !a.ReachesOrgUnit(unit) {
		return CoverageScope{}, ErrNotFound
	}
	var ids []string
	if err := g.Model(&OrgUnit{}).Where("branch_id = ? AND path LIKE ?", unit.BranchID, unit.Path+"%").Order("path").Pluck("id", &ids).Error; err != nil {
		return CoverageScope{}, fmt.Errorf("load org subtree: %w", err)
	}
	return CoverageScope{BranchID: unit.BranchID, Kind: unit.Kind, ID: unit.ID, Code: unit.Code, Name: unit.Name, UnitIDs: ids}, nil
}

func notFoundOr(err error, op string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ErrNotFound
	}
	return fmt.Errorf("%s: %w", op, err)
}

// householdScopeSQL is the predicate, on households aliased alias, that
// selects the scope's households (not yet the actor's reach).
func (s CoverageScope) householdScopeSQL(alias string) (string, []any) {
	col := func(c string) string { return alias + "." + c }
	if s.Kind == "officer" {
		return col("branch_id") + " = ? AND " + col("officer_id") + " = ?", []any{s.BranchID, s.OfficerID}
	}
	if s.Kind == KindBranch {
		return col("branch_id") + " = ?", []any{s.BranchID}
	}
	return col("branch_id") + " = ? AND (" + col("outlet_id") + " IN ? OR " + col("county_id") + " IN ?)", []any{s.BranchID, s.UnitIDs, s.UnitIDs}
}

// LedgerFacts are one household's facts for a month: what the list says and
// what the month's visits recorded. Visits a supervisor marked has_issues do
// not count until corrected.
type LedgerFacts struct {
	HouseholdID     string
	HouseholdNo     string
	HeadName        string
	Township        string
	Village         string
	OutletID        string
	OfficerID       string
	RiskEliminated  bool
	Visited         int
	Refused         int
	Absent          int
	Moved           int
	Needs           int
	ExemptionReason *string
}

// CoverageLedger gathers the month's facts of every active household in
// scope that the actor reaches, ordered by officer and household number.
// from and to bound the month in UTC.
func (db *DB) CoverageLedger(ctx context.Context, a Actor, s CoverageScope, month string, from, to time.Time) ([]LedgerFacts, error) {
	return coverageLedger(db.gorm.WithContext(ctx), a, s, month, from, to)
}

// CoverageLedger is the in-transaction form, used by sign-offs so that the
// figures signed are the figures checked.
func (tx *Tx) CoverageLedger(a Actor, s CoverageScope, month string, from, to time.Time) ([]LedgerFacts, error) {
	return coverageLedger(tx.DB, a, s, month, from, to)
}

func coverageLedger(g *gorm.DB, a Actor, s CoverageScope, month string, from, to time.Time) ([]LedgerFacts, error) {
	if s.Kind != "officer" && s.Kind != KindBranch && len(s.UnitIDs) == 0 {
		return nil, nil
	}
	rows, err := coverageLedgerQuery(g, a, s, month, from, to).Rows()
	if err != nil {
		return nil, fmt.Errorf("coverage ledger: %w", err)
	}
	defer rows.Close()
	// Scanned by hand: a county's ledger is tens of thousands of rows, and
	// reflection per row would cost more than the query.
	got := make([]LedgerFacts, 0, 1024)
	for rows.Next() {
		var f LedgerFacts
		var reason sql.NullString
		if err := rows.Scan(&f.HouseholdID, &f.HouseholdNo, &f.HeadName, &f.Township, &f.Village, &f.OutletID, &f.OfficerID,
			&f.RiskEliminated, &f.Visited, &f.Refused, &f.Absent, &f.Moved, &f.Needs, &reason); err != nil {
			return nil, fmt.Errorf("coverage ledger: %w", err)
		}
		if reason.Valid {
			f.ExemptionReason = &reason.String
		}
		got = append(got, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("coverage ledger: %w", err)
	}
	// Sorted here rather than in SQL, where a sort of wide rows spills to
	// disk in the default work_mem; an index is sorted, not the wide rows.
	idx := make([]int32, len(got))
	for i := range idx {
		idx[i] = int32(i)
	}
	slices.SortFunc(idx, func(a, b int32) int {
		x, y := &got[a], &got[b]
		if c := strings.Compare(x.OfficerID, y.OfficerID); c != 0 {
			return c
		}
		return strings.Compare(x.HouseholdNo, y.HouseholdNo)
	})
	out := make([]LedgerFacts, len(got))
	for i, j := range idx {
		out[i] = got[j]
	}
	return out, nil
}

func coverageLedgerQuery(g *gorm.DB, a Actor, s CoverageScope, month string, from, to time.Time) *gorm.DB {
	where, wArgs := s.householdScopeSQL("h")
	scoped := func(q *gorm.DB) *gorm.DB {
		return a.ScopeHouseholds(q.Where(where, wArgs...).Where("h.list_status = ?", ListActive), "h")
	}
	// The ids of the scope's households the actor reaches, read once for
	// the month's visits and needs; a narrow set that stays in memory.
	ids := scoped(g.Table("households h").Select("h.id"))
	ledger := scoped(g.Table("households h").
		Select(`h.id AS household_id, h.household_no, h.head_name, h.township, h.village,
			COALESCE(h.outlet_id, '') AS outlet_id, COALESCE(h.officer_id, '') AS officer_id, h.risk_eliminated,
			COALESCE(v.visited, 0) AS visited, COALESCE(v.refused, 0) AS refused,
			COALESCE(v.absent, 0) AS absent, COALESCE(v.moved, 0) AS moved,
			COALESCE(n.needs, 0) AS needs, e.reason AS exemption_reason`).
		Joins("LEFT JOIN v ON v.household_id = h.id").
		Joins("LEFT JOIN n ON n.household_id = h.id").
		Joins("LEFT JOIN coverage_exemptions e ON e.branch_id = h.branch_id AND e.household_id = h.id AND e.month = ?", month))
	// A need counts for the month when it was recorded in it, or arrived
	// later with one of the month's visits; either way it arrived after the
	// month began, which keeps this to an index range of recent needs.
	return g.Raw(`WITH s AS (?),
		v AS (
			SELECT vv.household_id,
				COUNT(CASE WHEN vv.outcome = 'visited' THEN 1 END) AS visited,
				COUNT(CASE WHEN vv.outcome = 'refused' THEN 1 END) AS refused,
				COUNT(CASE WHEN vv.outcome = 'absent' THEN 1 END) AS absent,
				COUNT(CASE WHEN vv.outcome = 'moved' THEN 1 END) AS moved
			FROM visits vv JOIN s ON s.id = vv.household_id
			WHERE vv.branch_id = ? AND vv.visited_at >= ? AND vv.visited_at < ?
				AND vv.deleted_at IS NULL AND vv.status <> 'has_issues'
			GROUP BY vv.household_id),
		n AS (
			SELECT fn.household_id, COUNT(*) AS needs
			FROM financing_needs fn JOIN s ON s.id = fn.household_id
			WHERE fn.branch_id = ? AND fn.created_at >= ? AND fn.deleted_at IS NULL
				AND (fn.created_at < ? OR EXISTS (
					SELECT 1 FROM visits nv WHERE nv.branch_id = fn.branch_id AND nv.id = fn.visit_id
						AND nv.visited_at >= ? AND nv.visited_at < ? AND nv.deleted_at IS NULL AND nv.status <> 'has_issues'))
			GROUP BY fn.household_id)
		?`,
		ids, s.BranchID, from, to, s.BranchID, from, to, from, to, ledger)
}

// ExplainCoverageLedger returns Postgres' executed plan of the ledger query
// (EXPLAIN ANALYZE), for the benchmark and for operators tuning indexes.
func (db *DB) ExplainCoverageLedger(ctx context.Context, a Actor, s CoverageScope, month string, from, to time.Time) (string, error) {
	if db.dialect != Postgres {
		return "", errors.New("explain: Postgres only")
	}
	// A dry run builds the statement (with $n placeholders and its values)
	// without sending it; the values then travel as bound parameters.
	dry := db.gorm.WithContext(ctx).Session(&gorm.Session{DryRun: true})
	var out []LedgerFacts
	stmt := coverageLedgerQuery(dry, a, s, month, from, to).Scan(&out).Statement
	rows, err := db.sql.QueryContext(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+stmt.SQL.String(), stmt.Vars...)
	if err != nil {
		return "", fmt.Errorf("explain ledger: %w", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			return "", fmt.Errorf("explain ledger: %w", err)
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n"), rows.Err()
}

// UserNames maps user ids to username and display name, for labelling
// ledger and review rows.
func (db *DB) UserNames(ctx context.Context, ids []string) (map[string]User, error) {
	out := map[string]User{}
	if len(ids) == 0 {
		return out, nil
	}
	var us []User
	if err := db.gorm.WithContext(ctx).Select("id, branch_id, org_unit_id, username, display_name, role").Where("id IN ?", ids).Find(&us).Error; err != nil {
		return nil, fmt.Errorf("load user names: %w", err)
	}
	for _, u := range us {
		out[u.ID] = u
	}
	return out, nil
}

// --- Settings -----------------------------------------------------------

// CoverageSettingsOf returns the branch's settings, or the defaults when the
// branch has set none. The spot-check seed is empty until first used.
func (db *DB) CoverageSettingsOf(ctx context.Context, branchID string) (CoverageSettings, error) {
	return coverageSettingsOf(db.gorm.WithContext(ctx), branchID)
}

// CoverageSettingsOf is the in-transaction form.
func (tx *Tx) CoverageSettingsOf(branchID string) (CoverageSettings, error) {
	return coverageSettingsOf(tx.DB, branchID)
}

func coverageSettingsOf(g *gorm.DB, branchID string) (CoverageSettings, error) {
	var s CoverageSettings
	err := g.Where("branch_id = ?", branchID).Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return DefaultCoverageSettings(branchID), nil
	}
	if err != nil {
		return s, fmt.Errorf("load coverage settings: %w", err)
	}
	return s, nil
}

// EnsureCoverageSettings returns the branch's settings, storing the defaults
// and a fresh spot-check seed the first time. Concurrent first uses agree on
// one seed: the insert does nothing when another transaction got there first.
func (tx *Tx) EnsureCoverageSettings(branchID string) (CoverageSettings, error) {
	s, err := tx.CoverageSettingsOf(branchID)
	if err != nil || s.SpotCheckSeed != "" {
		return s, err
	}
	s.SpotCheckSeed = newSeed()
	s.UpdatedAt = Now()
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&s).Error; err != nil {
		return s, fmt.Errorf("store coverage settings: %w", err)
	}
	return tx.CoverageSettingsOf(branchID)
}

func newSeed() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// UpdateCoverageSettings replaces a branch's thresholds; only its branch
// manager or an admin may. The seed is kept.
func (tx *Tx) UpdateCoverageSettings(a Actor, s CoverageSettings) (CoverageSettings, error) {
	if !(a.Role == RoleAdmin || (a.Role == RoleBranchManager && a.BranchID == s.BranchID)) {
		return CoverageSettings{}, ErrNotFound
	}
	var n int64
	if err := tx.Model(&OrgUnit{}).Where("id = ? AND kind = ?", s.BranchID, KindBranch).Count(&n).Error; err != nil {
		return CoverageSettings{}, fmt.Errorf("update coverage settings: %w", err)
	}
	if n == 0 {
		return CoverageSettings{}, ErrNotFound
	}
	cur, err := tx.EnsureCoverageSettings(s.BranchID)
	if err != nil {
		return cur, err
	}
	s.SpotCheckSeed, s.UpdatedBy, s.UpdatedAt = cur.SpotCheckSeed, a.UserID, Now()
	err = tx.Model(&CoverageSettings{}).Where("branch_id = ?", s.BranchID).Updates(map[string]any{
		"absent_attempts": s.AbsentAttempts, "distance_threshold_m": s.DistanceThresholdM, "low_accuracy_m": s.LowAccuracyM,
		"max_speed_kmh": s.MaxSpeedKMH, "min_duration_s": s.MinDurationS, "max_clock_offset_s": s.MaxClockOffsetS,
		"spot_check_size": s.SpotCheckSize, "updated_by": s.UpdatedBy, "updated_at": s.UpdatedAt,
	}).Error
	if err != nil {
		return s, fmt.Errorf("update coverage settings: %w", err)
	}
	return s, tx.Audit(a, "coverage.settings", "branch", s.BranchID, map[string]any{
		"absent_attempts": s.AbsentAttempts, "distance_threshold_m": s.DistanceThresholdM, "low_accuracy_m": s.LowAccuracyM,
		"max_speed_kmh": s.MaxSpeedKMH, "min_duration_s": s.MinDurationS, "max_clock_offset_s": s.MaxClockOffsetS,
		"spot_check_size": s.SpotCheckSize,
	})
}

// --- Exemptions ---------------------------------------------------------

// CreateCoverageExemption excuses a household the actor reaches from a
// month's visit. A household outside reach, or no longer on the active list,
// is ErrNotFound; a second exemption for the same month is a conflict.
func (tx *Tx) CreateCoverageExemption(a Actor, householdID, month, reason string) (CoverageExemption, error) {
	var h Household
	q := tx.Table("households h").Select("h.id, h.branch_id, h.outlet_id").
		Where("h.id = ? AND h.list_status = ?", householdID, ListActive)
	if err := a.ScopeHouseholds(q, "h").Take(&h).Error; err != nil {
		return CoverageExemption{}, notFoundOr(err, "load household")
	}
	e := CoverageExemption{
		ID: NewID(), BranchID: h.BranchID, HouseholdID: h.ID, Month: month, OutletID: h.OutletID,
		Reason: reason, CreatedBy: a.UserID, CreatedAt: Now(),
	}
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&e)
	if res.Error != nil {
		return e, fmt.Errorf("create exemption: %w", res.Error)
	}
	if res.RowsAffected == 0 {
		return e, coverageConflictf("household already exempted for %s", month)
	}
	return e, tx.Audit(a, "coverage.exemption", "household", h.ID, map[string]any{"month": month, "reason": reason, "exemption_id": e.ID})
}

// --- Sign-offs ----------------------------------------------------------

// SignoffRow is a sign-off with its signer's name and the sign-off that
// superseded it, if any.
type SignoffRow struct {
	CoverageSignoff
	SignerUsername string
	SignerName     string
	OutletCode     string
	OutletName     string
	SupersededBy   *string
}

// CurrentCoverageSignoff is the outlet's month sign-off that nothing has
// superseded, or nil.
func (tx *Tx) CurrentCoverageSignoff(branchID, outletID, month string) (*CoverageSignoff, error) {
	var s CoverageSignoff
	err := tx.Table("coverage_signoffs s").Select("s.*").
		Where("s.branch_id = ? AND s.outlet_id = ? AND s.month = ?", branchID, outletID, month).
		Where("NOT EXISTS (SELECT 1 FROM coverage_signoffs n WHERE n.branch_id = s.branch_id AND n.supersedes_id = s.id)").
		Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load current sign-off: %w", err)
	}
	return &s, nil
}

// CreateCoverageSignoff stores a sign-off. The caller has checked, in this
// transaction, that the month is complete; here the chain is checked: the
// first sign-off of an outlet's month supersedes nothing, a later one must
// supersede the current one. Concurrent sign-offs collide on the partial
// unique indexes and the loser gets a conflict.
func (tx *Tx) CreateCoverageSignoff(a Actor, s CoverageSignoff) (CoverageSignoff, error) {
	var unit OrgUnit
	if err := tx.Where("id = ?", s.OutletID).Take(&unit).Error; err != nil {
		return s, notFoundOr(err, "load outlet")
	}
	if !a.ReachesOrgUnit(unit) || unit.Kind != KindOutlet {
		return s, ErrNotFound
	}
	cur, err := tx.CurrentCoverageSignoff(unit.BranchID, unit.ID, s.Month)
	if err != nil {
		return s, err
	}
	switch {
	case cur == nil && s.SupersedesID != nil:
		return s, coverageConflictf("there is no sign-off of %s to correct", s.Month)
	case cur != nil && s.SupersedesID == nil:
		return s, coverageConflictf("%s is already signed off (%s); a correction must supersede it", s.Month, cur.ID)
	case cur != nil && *s.SupersedesID != cur.ID:
		return s, coverageConflictf("a correction must supersede the current sign-off %s", cur.ID)
	}
	s.ID, s.BranchID, s.SignedBy, s.SignedAt = NewID(), unit.BranchID, a.UserID, Now()
	if err := tx.Create(&s).Error; err != nil {
		if IsUniqueViolation(err) {
			return s, coverageConflictf("another sign-off of %s was stored meanwhile", s.Month)
		}
		return s, fmt.Errorf("create sign-off: %w", err)
	}
	details := map[string]any{"outlet_id": s.OutletID, "month": s.Month}
	if s.SupersedesID != nil {
		details["supersedes_id"] = *s.SupersedesID
	}
	return s, tx.Audit(a, "coverage.signoff", "coverage_signoff", s.ID, details)
}

// CoverageSignoffs lists the sign-offs of the scope's outlets, newest first,
// optionally for one month.
func (db *DB) CoverageSignoffs(ctx context.Context, a Actor, s CoverageScope, month string) ([]SignoffRow, error) {
	if s.Kind == "officer" {
		return nil, nil
	}
	var out []SignoffRow
	if err := db.signoffsQuery(ctx, a, s, month).Order("s.month DESC, o.code, s.signed_at DESC").Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("list sign-offs: %w", err)
	}
	return out, nil
}

// SignoffSorts is the allow-list of sort keys for sign-offs.
var SignoffSorts = map[string]string{
	"signed_at": "s.signed_at",
	"month":     "s.month",
	"outlet":    "o.code",
	"signer":    "u.display_name",
}

// CoverageSignoffsPage pages through the sign-offs of the scope's outlets
// with their total. The search matches the outlet's code or name, or the
// signer's name or username.
func (db *DB) CoverageSignoffsPage(ctx context.Context, a Actor, s CoverageScope, month string, p ListPage) ([]SignoffRow, int64, error) {
	if s.Kind == "officer" {
		return nil, 0, nil
	}
	q := db.signoffsQuery(ctx, a, s, month)
	if t := strings.TrimSpace(p.Q); t != "" {
		like := "%" + likeEscape(strings.ToLower(t)) + "%"
		q = q.Where(`(LOWER(o.code) LIKE ? ESCAPE '\' OR o.name LIKE ? ESCAPE '\' OR u.display_name LIKE ? ESCAPE '\' OR LOWER(u.username) LIKE ? ESCAPE '\')`,
			likeEscape(strings.ToLower(t))+"%", like, like, like)
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count sign-offs: %w", err)
	}
	limit, offset := p.window()
	var out []SignoffRow
	err := q.Order(p.order(SignoffSorts, "signed_at", "s.signed_at DESC, s.id")).Limit(limit).Offset(offset).Scan(&out).Error
	if err != nil {
		return nil, 0, fmt.Errorf("list sign-offs: %w", err)
	}
	return out, total, nil
}

// signoffsQuery selects the sign-offs of the scope's outlets that the actor
// reaches, optionally of one month.
func (db *DB) signoffsQuery(ctx context.Context, a Actor, s CoverageScope, month string) *gorm.DB {
	q := db.gorm.WithContext(ctx).Table("coverage_signoffs s").
		Select(`s.*, u.username AS signer_username, u.display_name AS signer_name, o.code AS outlet_code, o.name AS outlet_name,
			(SELECT n.id FROM coverage_signoffs n WHERE n.branch_id = s.branch_id AND n.supersedes_id = s.id) AS superseded_by`).
		Joins("JOIN users u ON u.id = s.signed_by").
		Joins("JOIN org_units o ON o.id = s.outlet_id").
		Where("s.branch_id = ?", s.BranchID)
	if s.Kind != KindBranch {
		q = q.Where("s.outlet_id IN ?", s.UnitIDs)
	}
	// The actor's own reach, decided on the org tree as everywhere else.
	switch a.Role {
	case RoleAdmin:
	case RoleBranchManager:
		q = q.Where("s.branch_id = ?", a.BranchID)
	case RoleSupervisor:
		q = q.Where("s.branch_id = ? AND o.path LIKE ?", a.BranchID, a.OrgPath+"%")
	default:
		q = q.Where("1 = 0")
	}
	if month != "" {
		q = q.Where("s.month = ?", month)
	}
	return q
}
