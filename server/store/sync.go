package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// The queries of the sync engine's push: bulk loads of the rows a batch of
// mutations touches, and bulk writes of the result. The engine decides in
// memory; these methods only read and write, a few statements per batch
// whatever its size. Every loader is restricted to the actor's branch;
// households are restricted to the actor's scope (ScopeHouseholds), and the
// engine accepts a record only when its household came back from
// HouseholdsInScope in the same transaction.

// ErrWriteRace means a row changed between the transaction's read and its
// write (a concurrent insert of the same id, or an unlocked row on a dialect
// without row locks). The caller reruns the whole transaction.
var ErrWriteRace = errors.New("row changed concurrently; retry")

// ErrDeviceUnknown means the actor's device row is missing, revoked or not
// theirs.
var ErrDeviceUnknown = errors.New("device unknown or revoked")

func (tx *Tx) locked(q *gorm.DB, lock bool) *gorm.DB {
	if lock && tx.Dialect() == Postgres {
		return q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	return q
}

// CustomPlans makes Postgres plan each statement of the transaction for its
// actual parameters. The sync engine's statements carry long IN lists whose
// length repeats from batch to batch, so pgx's prepared statements are
// reused; after five executions Postgres may switch such a statement to a
// generic plan, which for `mutation_id IN ($3, …, $502)` filters the whole
// index range instead of probing it (measured on a 20,000-row mutation log:
// 5 ms with custom plans, 300–600 ms with the generic one). SET LOCAL lasts
// until the transaction ends. No-op on SQLite.
func (tx *Tx) CustomPlans() error {
	if tx.Dialect() != Postgres {
		return nil
	}
	if err := tx.Exec(`SET LOCAL plan_cache_mode = force_custom_plan`).Error; err != nil {
		return fmt.Errorf("plan cache mode: %w", err)
	}
	return nil
}

// SyncDevice loads the actor's device and locks its row until commit, so two
// pushes from one device run one after the other and see each other's
// mutation log.
func (tx *Tx) SyncDevice(a Actor) (Device, error) {
	var d Device
	q := tx.locked(tx.Where("id = ? AND user_id = ? AND branch_id = ?", a.DeviceID, a.UserID, a.BranchID), true)
	err := q.Take(&d).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return d, ErrDeviceUnknown
	}
	if err != nil {
		return d, fmt.Errorf("load device: %w", err)
	}
	if d.Status != DeviceActive {
		return d, ErrDeviceUnknown
	}
	return d, nil
}

// LastLoggedSeq is the highest seq in the device's mutation log, 0 if none.
func (tx *Tx) LastLoggedSeq(branchID, deviceID string) (int64, error) {
	// ORDER BY … LIMIT 1 rather than max(): a read of one index entry
	// whatever the table's statistics say; max() was planned as a scan of
	// the device's whole log while the table was still unanalysed.
	var last []int64
	err := tx.Raw(`SELECT seq FROM device_mutations WHERE branch_id = ? AND device_id = ? ORDER BY seq DESC LIMIT 1`, branchID, deviceID).Scan(&last).Error
	if err != nil {
		return 0, fmt.Errorf("load mutation log: %w", err)
	}
	if len(last) == 0 {
		return 0, nil
	}
	return last[0], nil
}

// LoggedMutations returns the device's mutation-log rows whose mutation id
// is among ids or whose seq is among seqs. The two lookups are separate
// statements so each uses its own unique index; a single OR of two long IN
// lists makes Postgres scan the device's whole log.
func (tx *Tx) LoggedMutations(branchID, deviceID string, ids []string, seqs []int64) ([]DeviceMutation, error) {
	var out []DeviceMutation
	if len(ids) > 0 {
		if err := tx.Where("branch_id = ? AND device_id = ? AND mutation_id IN ?", branchID, deviceID, ids).Find(&out).Error; err != nil {
			return nil, fmt.Errorf("load mutation log: %w", err)
		}
	}
	if len(seqs) == 0 {
		return out, nil
	}
	var bySeq []DeviceMutation
	if err := tx.Where("branch_id = ? AND device_id = ? AND seq IN ?", branchID, deviceID, seqs).Find(&bySeq).Error; err != nil {
		return nil, fmt.Errorf("load mutation log: %w", err)
	}
	seen := make(map[string]bool, len(out))
	for _, m := range out {
		seen[m.MutationID] = true
	}
	for _, m := range bySeq {
		if !seen[m.MutationID] {
			out = append(out, m)
		}
	}
	return out, nil
}

// LoggedRejections returns rejection rows of the conflict log for the
// device's mutations with the given code. Mutations rejected for reusing a
// seq cannot enter the mutation log (seq is unique there), so their verdict
// is found again here.
func (tx *Tx) LoggedRejections(branchID, deviceID, code string, mutationIDs []string) ([]Conflict, error) {
	var out []Conflict
	if len(mutationIDs) == 0 {
		return out, nil
	}
	err := tx.Where("branch_id = ? AND device_id = ? AND kind = ? AND code = ? AND mutation_id IN ?",
		branchID, deviceID, ConflictRejection, code, mutationIDs).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("load rejections: %w", err)
	}
	return out, nil
}

// HouseholdsInScope loads those of ids that the actor reaches, locked for
// update when lock is set. A household missing from the result is outside
// the actor's scope or does not exist; callers must not tell the two apart
// to the client.
func (tx *Tx) HouseholdsInScope(a Actor, ids []string, lock bool) ([]Household, error) {
	var out []Household
	if len(ids) == 0 {
		return out, nil
	}
	q := a.ScopeHouseholds(tx.Table("households AS h").Select("h.*"), "h").Where("h.id IN ?", ids)
	if err := tx.locked(q, lock).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("load households: %w", err)
	}
	return out, nil
}

// HouseholdRef is what a push needs of a household that its mutations only
// refer to (a visit's or a need's household): that the officer reaches it,
// and its outlet.
type HouseholdRef struct {
	ID       string
	OutletID *string
}

// HouseholdRefsInScope is HouseholdsInScope for references: two columns
// instead of the whole row, which a push of 500 visits would otherwise read
// and decode 500 times over.
func (tx *Tx) HouseholdRefsInScope(a Actor, ids []string) ([]HouseholdRef, error) {
	var out []HouseholdRef
	if len(ids) == 0 {
		return out, nil
	}
	q := a.ScopeHouseholds(tx.Table("households AS h").Select("h.id, h.outlet_id"), "h").Where("h.id IN ?", ids)
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("load households: %w", err)
	}
	return out, nil
}

// AssignmentTerms is what a device is told of a household's open
// assignment: since when it is the officer's, and by when it is due.
type AssignmentTerms struct {
	HouseholdID  string
	AssignedAt   time.Time
	OfficerDueOn string
}

// CurrentAssignments returns the terms of each household's open assignment.
func (tx *Tx) CurrentAssignments(branchID string, householdIDs []string) ([]AssignmentTerms, error) {
	var out []AssignmentTerms
	if len(householdIDs) == 0 {
		return out, nil
	}
	err := tx.Table("assignments").Select("household_id, assigned_at, officer_due_on").
		Where("branch_id = ? AND household_id IN ? AND ended_at IS NULL", branchID, householdIDs).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("load assignments: %w", err)
	}
	return out, nil
}

func loadByID[T any](tx *Tx, what, branchID string, ids []string, lock bool) ([]T, error) {
	var out []T
	if len(ids) == 0 {
		return out, nil
	}
	q := tx.locked(tx.Where("branch_id = ? AND id IN ?", branchID, ids), lock)
	if err := q.Find(&out).Error; err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	return out, nil
}

// VisitsByID loads visits of the actor's branch, deleted ones included; the
// caller checks that their households are in scope.
func (tx *Tx) VisitsByID(a Actor, ids []string, lock bool) ([]Visit, error) {
	return loadByID[Visit](tx, "visits", a.BranchID, ids, lock)
}

// VisitPlansByID loads visit plans of the actor's branch.
func (tx *Tx) VisitPlansByID(a Actor, ids []string, lock bool) ([]VisitPlan, error) {
	return loadByID[VisitPlan](tx, "visit plans", a.BranchID, ids, lock)
}

// NeedsByID loads financing needs of the actor's branch.
func (tx *Tx) NeedsByID(a Actor, ids []string, lock bool) ([]FinancingNeed, error) {
	return loadByID[FinancingNeed](tx, "financing needs", a.BranchID, ids, lock)
}

// LoansByID loads loan applications of the actor's branch.
func (tx *Tx) LoansByID(a Actor, ids []string, lock bool) ([]LoanApplication, error) {
	return loadByID[LoanApplication](tx, "loan applications", a.BranchID, ids, lock)
}

// LoanProductsByID loads loan products of the actor's branch.
func (tx *Tx) LoanProductsByID(a Actor, ids []string) ([]LoanProduct, error) {
	return loadByID[LoanProduct](tx, "loan products", a.BranchID, ids, false)
}

// --- Bulk writes ----------------------------------------------------------

var (
	visitCols = syncCols(`id text, branch_id text, household_id text, officer_id text, outlet_id text, device_id text,
		outcome text, situation text, notes text, lat float8, lng float8, accuracy_m float8, started_at timestamptz,
		ended_at timestamptz, visited_at timestamptz, received_at timestamptz, clock_suspect bool, status text,
		reviewed_by text, reviewed_at timestamptz, review_note text, flags jsonb, after_close bool, field_times jsonb,
		version int8, created_at timestamptz, updated_at timestamptz, deleted_at timestamptz`)
	// Review fields belong to supervisors and are never written back by the sync path.
	visitUpsert = upsertStmt("visits", visitCols, []string{"outcome", "situation", "notes", "lat", "lng", "accuracy_m",
		"started_at", "ended_at", "visited_at", "clock_suspect", "field_times", "version", "updated_at", "deleted_at"})

	planCols = syncCols(`id text, branch_id text, household_id text, officer_id text, planned_on text, window_end text,
		notes text, status text, created_by text, field_times jsonb, version int8, created_at timestamptz,
		updated_at timestamptz, deleted_at timestamptz`)
	planUpsert = upsertStmt("visit_plans", planCols, []string{"planned_on", "window_end", "notes", "status", "field_times", "version", "updated_at", "deleted_at"})

	needCols = syncCols(`id text, branch_id text, household_id text, visit_id text, officer_id text, purpose text,
		amount_fen int8, status text, notes text, field_times jsonb, version int8, created_at timestamptz,
		updated_at timestamptz, deleted_at timestamptz`)
	needUpsert = upsertStmt("financing_needs", needCols, []string{"visit_id", "purpose", "amount_fen", "status", "notes", "field_times", "version", "updated_at", "deleted_at"})

	loanCols = syncCols(`id text, branch_id text, household_id text, need_id text, product_id text, officer_id text,
		amount_fen int8, term_months int4, purpose text, status text, submitted_at timestamptz, decided_by text,
		decided_at timestamptz, decision_note text, disbursed_at timestamptz, field_times jsonb, version int8,
		created_at timestamptz, updated_at timestamptz, deleted_at timestamptz`)
	// Decision fields belong to the bank (DecideLoan) and are never written back by the sync path.
	loanUpsert = upsertStmt("loan_applications", loanCols, []string{"need_id", "product_id", "amount_fen", "term_months",
		"purpose", "status", "submitted_at", "field_times", "version", "updated_at", "deleted_at"})

	householdCols = syncCols(`id text, branch_id text, county_id text, outlet_id text, officer_id text, household_no text,
		head_name text, id_number_enc bytea, id_number_bidx text, id_number_masked text, phone_enc bytea,
		phone_bidx text, phone_masked text, province text, city text, county text, township text, village text,
		family_size int4, category text, risk_type text, has_labor bool, risk_eliminated bool, identified_on text,
		lat float8, lng float8, location_source text, situation_notes text, field_times jsonb, list_status text,
		snapshot_id text, content_hash text, version int8, created_at timestamptz, updated_at timestamptz,
		removed_at timestamptz`)
	// Only the fields an officer observes; the government-list fields are never written by sync.
	householdUpsert = upsertStmt("households", householdCols, []string{"phone_enc", "phone_bidx", "phone_masked",
		"has_labor", "lat", "lng", "location_source", "situation_notes", "field_times", "version", "updated_at"})

	deviceMutationInsert = insertStmt("device_mutations", syncCols(`branch_id text, device_id text, mutation_id text,
		seq int8, entity text, entity_id text, status text, result jsonb, received_at timestamptz`))
	conflictInsert = insertStmt("conflicts", syncCols(`id text, branch_id text, kind text, user_id text, device_id text,
		mutation_id text, entity text, entity_id text, household_id text, outlet_id text, field text, rule text,
		code text, message text, device_value jsonb, server_value jsonb, winner text, created_at timestamptz`))
)

func orJSON(s, empty string) string {
	if s == "" {
		return empty
	}
	return s
}

// writeVersioned writes rows whose version column sits at index vcol: rows
// at version 1 are new and go in with a plain INSERT (a row that exists
// after all fails it with a unique violation, which callers treat as a
// race); the others go through the version-checked upsert, and every one of
// them must be written: a row whose stored version is not the one read
// means someone else wrote it.
func (tx *Tx) writeVersioned(what string, st bulkStmt, vcol int, rows [][]any) error {
	var fresh, updates [][]any
	for _, r := range rows {
		if v, _ := r[vcol].(int64); v == 1 {
			fresh = append(fresh, r)
		} else {
			updates = append(updates, r)
		}
	}
	if _, err := tx.bulkExec(bulkStmt{table: st.table, cols: st.cols}, fresh); err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	n, err := tx.bulkExec(st, updates)
	if err != nil {
		return fmt.Errorf("write %s: %w", what, err)
	}
	if n != int64(len(updates)) {
		return fmt.Errorf("write %s: %d of %d rows: %w", what, n, len(updates), ErrWriteRace)
	}
	return nil
}

func indexOf(cs []syncColumn, name string) int {
	for i, c := range cs {
		if c.name == name {
			return i
		}
	}
	panic("no column " + name)
}

// WriteVisits inserts new visits and updates existing ones. Each row's
// Version must be the stored version plus one (1 for a new row).
func (tx *Tx) WriteVisits(rows []Visit) error {
	vals := make([][]any, len(rows))
	for i, v := range rows {
		vals[i] = []any{v.ID, v.BranchID, v.HouseholdID, v.OfficerID, v.OutletID, v.DeviceID, v.Outcome, v.Situation,
			v.Notes, v.Lat, v.Lng, v.AccuracyM, v.StartedAt, v.EndedAt, v.VisitedAt, v.ReceivedAt, v.ClockSuspect,
			v.Status, v.ReviewedBy, v.ReviewedAt, v.ReviewNote, orJSON(v.Flags, "[]"), v.AfterClose, orJSON(v.FieldTimes, "{}"), v.Version,
			v.CreatedAt, v.UpdatedAt, v.DeletedAt}
	}
	return tx.writeVersioned("visits", visitUpsert, indexOf(visitCols, "version"), vals)
}

// WriteVisitPlans inserts or updates visit plans (see WriteVisits).
func (tx *Tx) WriteVisitPlans(rows []VisitPlan) error {
	vals := make([][]any, len(rows))
	for i, p := range rows {
		vals[i] = []any{p.ID, p.BranchID, p.HouseholdID, p.OfficerID, p.PlannedOn, p.WindowEnd, p.Notes, p.Status,
			p.CreatedBy, orJSON(p.FieldTimes, "{}"), p.Version, p.CreatedAt, p.UpdatedAt, p.DeletedAt}
	}
	return tx.writeVersioned("visit plans", planUpsert, indexOf(planCols, "version"), vals)
}

// WriteNeeds inserts or updates financing needs (see WriteVisits).
func (tx *Tx) WriteNeeds(rows []FinancingNeed) error {
	vals := make([][]any, len(rows))
	for i, n := range rows {
		vals[i] = []any{n.ID, n.BranchID, n.HouseholdID, n.VisitID, n.OfficerID, n.Purpose, n.AmountFen, n.Status,
			n.Notes, orJSON(n.FieldTimes, "{}"), n.Version, n.CreatedAt, n.UpdatedAt, n.DeletedAt}
	}
	return tx.writeVersioned("financing needs", needUpsert, indexOf(needCols, "version"), vals)
}

// WriteLoans inserts or updates loan applications (see WriteVisits).
func (tx *Tx) WriteLoans(rows []LoanApplication) error {
	vals := make([][]any, len(rows))
	for i, l := range rows {
		vals[i] = []any{l.ID, l.BranchID, l.HouseholdID, l.NeedID, l.ProductID, l.OfficerID, l.AmountFen, l.TermMonths,
			l.Purpose, l.Status, l.SubmittedAt, l.DecidedBy, l.DecidedAt, l.DecisionNote, l.DisbursedAt,
			orJSON(l.FieldTimes, "{}"), l.Version, l.CreatedAt, l.UpdatedAt, l.DeletedAt}
	}
	return tx.writeVersioned("loan applications", loanUpsert, indexOf(loanCols, "version"), vals)
}

// WriteHouseholdObservations writes the observed fields of households that
// were loaded (and locked) in this transaction; list fields are left alone.
func (tx *Tx) WriteHouseholdObservations(rows []Household) error {
	vals := make([][]any, len(rows))
	for i, h := range rows {
		vals[i] = []any{h.ID, h.BranchID, h.CountyID, h.OutletID, h.OfficerID, h.HouseholdNo, h.HeadName,
			h.IDNumberEnc, h.IDNumberBidx, h.IDNumberMasked, h.PhoneEnc, h.PhoneBidx, h.PhoneMasked, h.Province,
			h.City, h.County, h.Township, h.Village, h.FamilySize, h.Category, h.RiskType, h.HasLabor, h.RiskEliminated,
			h.IdentifiedOn, h.Lat, h.Lng, h.LocationSource, h.SituationNotes, orJSON(h.FieldTimes, "{}"), h.ListStatus, h.SnapshotID,
			h.ContentHash, h.Version, h.CreatedAt, h.UpdatedAt, h.RemovedAt}
	}
	return tx.writeVersioned("households", householdUpsert, indexOf(householdCols, "version"), vals)
}

// InsertDeviceMutations appends to the per-device mutation log.
func (tx *Tx) InsertDeviceMutations(rows []DeviceMutation) error {
	vals := make([][]any, len(rows))
	for i, m := range rows {
		vals[i] = []any{m.BranchID, m.DeviceID, m.MutationID, m.Seq, m.Entity, m.EntityID, m.Status, m.Result, m.ReceivedAt}
	}
	if _, err := tx.bulkExec(deviceMutationInsert, vals); err != nil {
		return fmt.Errorf("write mutation log: %w", err)
	}
	return nil
}

// Conflict kinds.
const (
	ConflictField     = "conflict"
	ConflictRejection = "rejection"
)

// InsertConflicts appends to the conflict log.
func (tx *Tx) InsertConflicts(rows []Conflict) error {
	vals := make([][]any, len(rows))
	for i, c := range rows {
		vals[i] = []any{c.ID, c.BranchID, c.Kind, c.UserID, c.DeviceID, c.MutationID, c.Entity, c.EntityID,
			c.HouseholdID, c.OutletID, c.Field, c.Rule, c.Code, c.Message, c.DeviceValue, c.ServerValue, c.Winner, c.CreatedAt}
	}
	if _, err := tx.bulkExec(conflictInsert, vals); err != nil {
		return fmt.Errorf("write conflict log: %w", err)
	}
	return nil
}

// DeviceSync is what a sync request tells about its device.
type DeviceSync struct {
	At             time.Time
	ClockOffsetMS  int64
	PendingChanges int
	AppVersion     string
}

func (s DeviceSync) fields() map[string]any {
	pending := s.PendingChanges
	if pending < 0 {
		pending = 0
	}
	if pending > 1<<30 {
		pending = 1 << 30
	}
	f := map[string]any{
		"last_sync_at": s.At, "last_seen_at": s.At, "clock_offset_ms": s.ClockOffsetMS, "pending_changes": pending,
	}
	if s.AppVersion != "" {
		f["app_version"] = s.AppVersion
	}
	return f
}

// TouchDevice records a sync on the device row.
func (tx *Tx) TouchDevice(deviceID string, s DeviceSync) error {
	if err := tx.Model(&Device{}).Where("id = ?", deviceID).Updates(s.fields()).Error; err != nil {
		return fmt.Errorf("record device sync: %w", err)
	}
	return nil
}

// TouchDevice records a sync on the device row outside a transaction (pulls
// only read, so they note the device separately). A device pulling page
// after page is noted at most once per `every`, unless what it reports
// (pending changes, app version) changed: the row is not rewritten, and
// the pull not made to wait for a commit, on every page.
func (db *DB) TouchDevice(ctx context.Context, a Actor, s DeviceSync, every time.Duration) error {
	q := db.gorm.WithContext(ctx).Model(&Device{}).Where("id = ? AND user_id = ?", a.DeviceID, a.UserID)
	if every > 0 {
		cond := "last_sync_at IS NULL OR last_sync_at < ? OR pending_changes <> ?"
		args := []any{s.At.Add(-every), s.fields()["pending_changes"]}
		if s.AppVersion != "" {
			cond += " OR app_version <> ?"
			args = append(args, s.AppVersion)
		}
		q = q.Where("("+cond+")", args...)
	}
	if err := q.Updates(s.fields()).Error; err != nil {
		return fmt.Errorf("record device sync: %w", err)
	}
	return nil
}
