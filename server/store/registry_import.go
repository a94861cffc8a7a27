package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Import of the monitoring list, in two steps. A dry run reads the branch's
// list state (ListState), and the registry computes the difference and stores
// it as a preview (SavePreview). CommitPreview later applies exactly that
// preview in one transaction with set-based statements, provided the branch's
// list has not moved on since and the file had no row errors.

// previewTTL is how long an uncommitted preview stays committable; older ones
// are discarded, and their staged rows deleted, when the next preview is saved.
const previewTTL = 24 * time.Hour

// HouseholdState is what a dry run compares a list row with.
type HouseholdState struct {
	ID             string
	HouseholdNo    string
	ListStatus     string
	ContentHash    string
	CountyID       *string
	OutletID       *string
	OfficerID      *string
	Province       string
	City           string
	County         string
	Township       string
	Village        string
	HeadName       string
	IDNumberBidx   string `gorm:"column:id_number_bidx"`
	IDNumberMasked string `gorm:"column:id_number_masked"`
	PhoneMasked    string
	ListPhoneBidx  string
	FamilySize     int
	Category       string
	RiskType       string
	ListHasLabor   bool
	RiskEliminated bool
	IdentifiedOn   string
}

// ListVersion is the branch's last committed list version, 0 before the first.
func (db *DB) ListVersion(ctx context.Context, branchID string) (int, error) {
	return listVersion(db.gorm.WithContext(ctx), branchID)
}

func listVersion(q *gorm.DB, branchID string) (int, error) {
	var v int
	err := q.Raw(`SELECT COALESCE(MAX(version), 0) FROM list_snapshots WHERE branch_id = ? AND status = 'committed'`, branchID).Scan(&v).Error
	if err != nil {
		return 0, fmt.Errorf("list version: %w", err)
	}
	return v, nil
}

// ListState returns the branch's committed list version and all its
// households, active and removed. The version is read first: should a commit
// slip in between, the preview built on this state names the older version
// and its own commit is refused.
func (db *DB) ListState(ctx context.Context, a Actor, branchID string) (int, []HouseholdState, error) {
	if !managesBranch(a, branchID) {
		return 0, nil, errImportForbidden
	}
	v, err := db.ListVersion(ctx, branchID)
	if err != nil {
		return 0, nil, err
	}
	var out []HouseholdState
	err = db.gorm.WithContext(ctx).Raw(`SELECT id, household_no, list_status, content_hash, county_id, outlet_id, officer_id,
			province, city, county, township, village, head_name, id_number_bidx, id_number_masked, phone_masked,
			list_phone_bidx, family_size, category, risk_type, list_has_labor, risk_eliminated, identified_on
		FROM households WHERE branch_id = ?`, branchID).Scan(&out).Error
	if err != nil {
		return 0, nil, fmt.Errorf("load list state: %w", err)
	}
	return v, out, nil
}

// NewPreview is a computed dry run to store.
type NewPreview struct {
	Snapshot Snapshot // ID, BranchID, BaseVersion, FileName, FileSHA256, Summary, ErrorCount, ChangeCount
	Rows     []ImportRow
	Problems []ImportProblem
}

var importRowCols = []string{"branch_id text", "preview_id text", "household_no text", "line int", "action text",
	"household_id text", "reassign boolean", "assignment_id text", "county_id text", "outlet_id text", "officer_id text",
	"province text", "city text", "county text", "township text", "village text", "head_name text",
	"id_number_enc bytea", "id_number_bidx text", "id_number_masked text", "phone_enc bytea", "phone_bidx text", "phone_masked text",
	"family_size int", "category text", "risk_type text", "has_labor boolean", "risk_eliminated boolean", "identified_on text",
	"content_hash text", "set_phone boolean", "set_has_labor boolean", "changed boolean", "newly_eliminated boolean", "fields jsonb"}

func blob(b []byte) any {
	if b == nil {
		return nil
	}
	return b
}

// SavePreview stores a dry run so that it can be shown, downloaded and
// committed. Previews of the branch older than a day are discarded on the way.
func (db *DB) SavePreview(ctx context.Context, a Actor, p NewPreview) error {
	s := p.Snapshot
	if !managesBranch(a, s.BranchID) {
		return errImportForbidden
	}
	return db.Transact(ctx, func(tx *Tx) error {
		if err := tx.discardStalePreviews(s.BranchID); err != nil {
			return err
		}
		s.Status, s.Version, s.CreatedAt, s.CommittedAt = SnapshotPreviewed, 0, Now(), nil
		s.CreatedBy = strPtr(a.UserID)
		if s.Summary == "" {
			s.Summary = "{}"
		}
		if err := tx.Create(&s).Error; err != nil {
			return fmt.Errorf("save preview: %w", err)
		}
		rows := p.Rows
		if err := tx.insertBatched("import_rows", importRowCols, len(rows), func(i int, v []any) {
			r := &rows[i]
			fields := r.Fields
			if fields == "" {
				fields = "{}"
			}
			v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = s.BranchID, s.ID, r.HouseholdNo, r.Line, r.Action, r.HouseholdID, r.Reassign, r.AssignmentID
			v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15], v[16] = nullArg(r.CountyID), nullArg(r.OutletID), nullArg(r.OfficerID), r.Province, r.City, r.County, r.Township, r.Village, r.HeadName
			v[17], v[18], v[19], v[20], v[21], v[22] = blob(r.IDNumberEnc), r.IDNumberBidx, r.IDNumberMasked, blob(r.PhoneEnc), r.PhoneBidx, r.PhoneMasked
			v[23], v[24], v[25], v[26], v[27], v[28], v[29] = r.FamilySize, r.Category, r.RiskType, r.HasLabor, r.RiskEliminated, r.IdentifiedOn, r.ContentHash
			v[30], v[31], v[32], v[33], v[34] = r.SetPhone, r.SetHasLabor, r.Changed, r.NewlyEliminated, fields
		}); err != nil {
			return err
		}
		probs := p.Problems
		cols := []string{"branch_id text", "preview_id text", "ord int", "line int", "col text", "code text", "severity text",
			"message text", "message_en text"}
		return tx.insertBatched("import_problems", cols, len(probs), func(i int, v []any) {
			q := &probs[i]
			v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8] = s.BranchID, s.ID, i, q.Line, q.Col, q.Code, q.Severity, q.Message, q.MessageEN
		})
	})
}

func (tx *Tx) discardStalePreviews(branchID string) error {
	cutoff := Now().Add(-previewTTL)
	var ids []string
	if err := tx.Raw(`SELECT id FROM list_snapshots WHERE branch_id = ? AND status = 'previewed' AND created_at < ?`, branchID, cutoff).Scan(&ids).Error; err != nil {
		return fmt.Errorf("find stale previews: %w", err)
	}
	return tx.discardPreviews(branchID, ids)
}

func (tx *Tx) discardPreviews(branchID string, ids []string) error {
	for _, id := range ids {
		if _, err := tx.exec(`DELETE FROM import_rows WHERE branch_id = ? AND preview_id = ?`, branchID, id); err != nil {
			return fmt.Errorf("discard preview: %w", err)
		}
		if _, err := tx.exec(`UPDATE list_snapshots SET status = 'discarded' WHERE id = ? AND status = 'previewed'`, id); err != nil {
			return fmt.Errorf("discard preview: %w", err)
		}
	}
	return nil
}

// Snapshot loads a preview or committed snapshot the actor may see.
func (db *DB) Snapshot(ctx context.Context, a Actor, id string) (Snapshot, error) {
	return snapshotFor(db.gorm.WithContext(ctx), a, id)
}

func snapshotFor(q *gorm.DB, a Actor, id string) (Snapshot, error) {
	var s Snapshot
	err := q.Where("id = ?", id).Take(&s).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return s, ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("load snapshot: %w", err)
	}
	if !managesBranch(a, s.BranchID) {
		// Do not confirm that another branch's import exists.
		if a.Role == RoleAdmin || a.BranchID == s.BranchID {
			return s, errImportForbidden
		}
		return s, ErrNotFound
	}
	return s, nil
}

// Snapshots lists a branch's imports, newest first.
func (db *DB) Snapshots(ctx context.Context, a Actor, branchID string, limit int) ([]Snapshot, error) {
	out, _, err := db.SnapshotsPage(ctx, a, branchID, ListPage{Sort: "created", Desc: true, Limit: limit})
	return out, err
}

// SnapshotSorts is the allow-list of sort keys for a branch's imports.
var SnapshotSorts = map[string]string{
	"created": "created_at",
	"file":    "file_name",
	"status":  "status",
	"version": "version",
}

// SnapshotsPage pages through a branch's imports with their total. The
// search matches the uploaded file's name, which is how people tell one
// list from another.
func (db *DB) SnapshotsPage(ctx context.Context, a Actor, branchID string, p ListPage) ([]Snapshot, int64, error) {
	if !managesBranch(a, branchID) {
		return nil, 0, errImportForbidden
	}
	q := db.gorm.WithContext(ctx).Model(&Snapshot{}).Where("branch_id = ?", branchID)
	if s := strings.TrimSpace(p.Q); s != "" {
		q = q.Where(`LOWER(file_name) LIKE ? ESCAPE '\'`, "%"+likeEscape(strings.ToLower(s))+"%")
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count imports: %w", err)
	}
	limit, offset := p.window()
	var out []Snapshot
	if err := q.Order(p.order(SnapshotSorts, "created", "id DESC")).Limit(limit).Offset(offset).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list imports: %w", err)
	}
	return out, total, nil
}

// DiscardPreview drops an uncommitted preview and its staged rows.
func (db *DB) DiscardPreview(ctx context.Context, a Actor, id string) error {
	return db.Transact(ctx, func(tx *Tx) error {
		s, err := snapshotFor(tx.DB, a, id)
		if err != nil {
			return err
		}
		if s.Status != SnapshotPreviewed {
			return errNotPending(s)
		}
		if err := tx.discardPreviews(s.BranchID, []string{s.ID}); err != nil {
			return err
		}
		return tx.Audit(a, "import.discard", "list_snapshot", s.ID, nil)
	})
}

// ImportProblems lists a preview's findings in row order.
func (db *DB) ImportProblems(ctx context.Context, a Actor, id string) ([]ImportProblem, error) {
	s, err := db.Snapshot(ctx, a, id)
	if err != nil {
		return nil, err
	}
	var out []ImportProblem
	err = db.gorm.WithContext(ctx).Where("branch_id = ? AND preview_id = ?", s.BranchID, s.ID).Order("ord").Find(&out).Error
	return out, err
}

// ImportProblemSorts is the allow-list of sort keys for a preview's findings.
var ImportProblemSorts = map[string]string{
	"row":      "line",
	"column":   "col",
	"severity": "severity",
}

// ImportProblemsPage pages through a preview's findings with their total.
// The search matches the column's name or the message (which names the
// household number where the row has one), or a row number exactly.
func (db *DB) ImportProblemsPage(ctx context.Context, a Actor, id string, p ListPage) ([]ImportProblem, int64, error) {
	s, err := db.Snapshot(ctx, a, id)
	if err != nil {
		return nil, 0, err
	}
	q := db.gorm.WithContext(ctx).Model(&ImportProblem{}).Where("branch_id = ? AND preview_id = ?", s.BranchID, s.ID)
	if t := strings.TrimSpace(p.Q); t != "" {
		like := "%" + likeEscape(strings.ToLower(t)) + "%"
		line, err := strconv.Atoi(t)
		if err != nil || line < 1 {
			line = -1
		}
		q = q.Where(`(line = ? OR LOWER(col) LIKE ? ESCAPE '\' OR LOWER(message) LIKE ? ESCAPE '\' OR LOWER(message_en) LIKE ? ESCAPE '\')`,
			line, like, like, like)
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count import problems: %w", err)
	}
	limit, offset := p.window()
	var out []ImportProblem
	if err := q.Order(p.order(ImportProblemSorts, "row", "ord")).Limit(limit).Offset(offset).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list import problems: %w", err)
	}
	return out, total, nil
}

// PreviewItem is one household in a preview or a committed change report.
type PreviewItem struct {
	Kind           string
	Line           int
	HouseholdNo    string
	HouseholdID    string
	HeadName       string
	County         string
	Township       string
	Village        string
	IDNumberMasked string `gorm:"column:id_number_masked"`
	PhoneMasked    string
	OutletID       *string
	Fields         string
}

// Which staged rows, or which committed changes, make up each kind.
var previewKindWhere = map[string]string{
	ChangeAdded:          "r.action = 'add'",
	ChangeReturned:       "r.action = 'return'",
	ChangeRemoved:        "r.action = 'remove'",
	ChangeChanged:        "r.changed",
	ChangeRiskEliminated: "r.newly_eliminated",
}

// PreviewItems pages through the households of one kind in a snapshot: from
// the staged rows while it is a preview, from the change report once committed.
func (db *DB) PreviewItems(ctx context.Context, a Actor, id, kind string, offset, limit int) ([]PreviewItem, int64, error) {
	s, err := db.Snapshot(ctx, a, id)
	if err != nil {
		return nil, 0, err
	}
	where, ok := previewKindWhere[kind]
	if !ok {
		return nil, 0, apperr.Invalid("kind", "kind 应为 added、changed、removed、returned 或 risk_eliminated",
			"kind must be added, changed, removed, returned or risk_eliminated")
	}
	g := db.gorm.WithContext(ctx)
	var (
		out   []PreviewItem
		total int64
	)
	switch s.Status {
	case SnapshotPreviewed:
		q := g.Table("import_rows r").Where("r.branch_id = ? AND r.preview_id = ? AND "+where, s.BranchID, s.ID)
		if err := q.Count(&total).Error; err != nil {
			return nil, 0, fmt.Errorf("preview items: %w", err)
		}
		err = q.Select(`? AS kind, r.line, r.household_no, r.household_id, r.head_name, r.county, r.township, r.village,
				r.id_number_masked, r.phone_masked, r.outlet_id, r.fields`, kind).
			Order("r.line, r.household_no").Offset(offset).Limit(limit).Scan(&out).Error
	case SnapshotCommitted:
		q := g.Table("snapshot_changes c").Joins("JOIN households h ON h.branch_id = c.branch_id AND h.id = c.household_id").
			Where("c.branch_id = ? AND c.snapshot_id = ? AND c.kind = ?", s.BranchID, s.ID, kind)
		if err := q.Count(&total).Error; err != nil {
			return nil, 0, fmt.Errorf("change report: %w", err)
		}
		err = q.Select(`c.kind, 0 AS line, c.household_no, c.household_id, h.head_name, h.county, h.township, h.village,
				h.id_number_masked, h.phone_masked, h.outlet_id, c.fields`).
			Order("c.household_no").Offset(offset).Limit(limit).Scan(&out).Error
	default:
		return nil, 0, errNotPending(s)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("preview items: %w", err)
	}
	return out, total, nil
}

func errNotPending(s Snapshot) error {
	zh, en := "该预览已作废，请重新上传文件", "this preview was discarded; upload the file again"
	if s.Status == SnapshotCommitted {
		zh, en = fmt.Sprintf("该预览已提交为第 %d 版名单", s.Version), fmt.Sprintf("this preview was already committed as list version %d", s.Version)
	}
	return apperr.New(syncproto.CodeConflict, zh, en).With("reason", "preview_"+s.Status).With("status", s.Status)
}

// CommitResult says what a commit did.
type CommitResult struct {
	Snapshot Snapshot
	// Applied is false when the preview held no change: nothing was written
	// and the list version did not move.
	Applied bool
}

// CommitPreview applies exactly the stored preview, whole or not at all. It
// is refused when the file had row errors, when the preview is no longer
// pending, and when another commit has changed the branch's list since the
// preview was computed.
func (db *DB) CommitPreview(ctx context.Context, a Actor, id string) (CommitResult, error) {
	var res CommitResult
	err := db.Transact(ctx, func(tx *Tx) error {
		res = CommitResult{}
		s, err := snapshotFor(tx.DB, a, id)
		if err != nil {
			return err
		}
		if db.dialect == Postgres {
			// Serialise commits of one branch on its org unit row.
			if err := tx.Exec(`SELECT id FROM org_units WHERE id = ? FOR UPDATE`, s.BranchID).Error; err != nil {
				return fmt.Errorf("lock branch: %w", err)
			}
			if err := tx.Raw(`SELECT * FROM list_snapshots WHERE id = ? FOR UPDATE`, s.ID).Scan(&s).Error; err != nil {
				return fmt.Errorf("lock preview: %w", err)
			}
		}
		if s.Status != SnapshotPreviewed {
			return errNotPending(s)
		}
		if s.ErrorCount > 0 {
			return apperr.New(syncproto.CodeConflict,
				fmt.Sprintf("文件有 %d 处错误，整份文件不能导入；请下载错误报告，修正后重新上传", s.ErrorCount),
				fmt.Sprintf("the file has %d errors, so none of it can be imported; download the error report, fix the file and upload it again", s.ErrorCount)).
				With("reason", "file_has_errors").With("error_count", s.ErrorCount)
		}
		cur, err := listVersion(tx.DB, s.BranchID)
		if err != nil {
			return err
		}
		if cur != s.BaseVersion {
			return apperr.New(syncproto.CodeConflict,
				"预览之后名单已被另一次导入更新，请重新上传文件生成新的预览",
				"the list changed after this preview was computed; upload the file again for a fresh preview").
				With("reason", "list_changed").With("base_version", s.BaseVersion).With("current_version", cur)
		}
		res.Snapshot = s
		if s.ChangeCount == 0 {
			return nil
		}
		if err := tx.applyPreview(a, &s); err != nil {
			return err
		}
		res.Snapshot, res.Applied = s, true
		return tx.Audit(a, "import.commit", "list_snapshot", s.ID, map[string]any{"version": s.Version, "file_sha256": s.FileSHA256})
	})
	return res, err
}

// stagedRef is the light view of a staged row the change log needs.
type stagedRef struct {
	HouseholdID string
	Action      string
	Reassign    bool
	OfficerID   *string
}

func (tx *Tx) applyPreview(a Actor, s *Snapshot) error {
	now := Now()
	b, p := s.BranchID, s.ID
	stamp := now.Format(time.RFC3339Nano)
	ts, jsonParam := "?", "?"
	emptyJSON := "'{}'"
	if tx.db.dialect == Postgres {
		ts, jsonParam, emptyJSON = "CAST(? AS TIMESTAMPTZ)", "CAST(? AS JSONB)", "CAST('{}' AS JSONB)"
	}
	// A new household's creation stamp covers all its fields.
	created := FieldTimes{FieldTimesAll: FieldStamp{T: now, V: 1}}.String()
	var by any
	if a.UserID != "" {
		by = a.UserID
	}

	// Officers for households that start a new assignment, by the village rule.
	officers, err := tx.villageOfficers(b)
	if err != nil {
		return err
	}
	var villages []struct{ OutletID, County, Township, Village string }
	if err := tx.Raw(`SELECT DISTINCT outlet_id, county, township, village FROM import_rows
		WHERE branch_id = ? AND preview_id = ? AND (action = 'add' OR reassign) AND outlet_id IS NOT NULL`, b, p).Scan(&villages).Error; err != nil {
		return fmt.Errorf("staged villages: %w", err)
	}
	for _, v := range villages {
		off, ok := officers[villageKey{v.OutletID, AreaKey{v.County, v.Township, v.Village}}]
		if !ok {
			continue
		}
		if _, err := tx.exec(`UPDATE import_rows SET officer_id = ? WHERE branch_id = ? AND preview_id = ?
			AND (action = 'add' OR reassign) AND outlet_id = ? AND county = ? AND township = ? AND village = ?`,
			off, b, p, v.OutletID, v.County, v.Township, v.Village); err != nil {
			return fmt.Errorf("assign village officer: %w", err)
		}
	}

	// Who holds the households that leave the list or change outlet, before they move.
	var leaving []struct{ HouseholdID, OfficerID string }
	if err := tx.Raw(`SELECT r.household_id, h.officer_id FROM import_rows r
		JOIN households h ON h.branch_id = r.branch_id AND h.id = r.household_id
		WHERE r.branch_id = ? AND r.preview_id = ? AND (r.action = 'remove' OR r.reassign) AND h.officer_id IS NOT NULL`, b, p).Scan(&leaving).Error; err != nil {
		return fmt.Errorf("current officers: %w", err)
	}
	oldOfficer := make(map[string]string, len(leaving))
	for _, l := range leaving {
		oldOfficer[l.HouseholdID] = l.OfficerID
	}

	steps := []struct {
		name string
		sql  string
		args []any
	}{
		{"add households", `INSERT INTO households (id, branch_id, county_id, outlet_id, officer_id, household_no, head_name,
				id_number_enc, id_number_bidx, id_number_masked, phone_enc, phone_bidx, phone_masked, list_phone_bidx,
				province, city, county, township, village, family_size, category, risk_type, has_labor, list_has_labor,
				risk_eliminated, identified_on, field_times, list_status, snapshot_id, content_hash, version, created_at, updated_at)
			SELECT household_id, branch_id, county_id, outlet_id, officer_id, household_no, head_name,
				id_number_enc, id_number_bidx, id_number_masked, phone_enc, phone_bidx, phone_masked, phone_bidx,
				province, city, county, township, village, family_size, category, risk_type, has_labor, has_labor,
				risk_eliminated, identified_on, ` + jsonParam + `, 'active', ?, content_hash, 1, ` + ts + `, ` + ts + `
			FROM import_rows WHERE branch_id = ? AND preview_id = ? AND action = 'add'`,
			[]any{created, p, now, now, b, p}},
		{"end assignments of removed households", `UPDATE assignments SET ended_at = ?, end_reason = ?
			WHERE branch_id = ? AND ended_at IS NULL AND household_id IN
				(SELECT household_id FROM import_rows WHERE branch_id = ? AND preview_id = ? AND action = 'remove')`,
			[]any{now, EndRemoved, b, b, p}},
		{"end assignments of moved households", `UPDATE assignments SET ended_at = ?, end_reason = ?
			WHERE branch_id = ? AND ended_at IS NULL AND household_id IN
				(SELECT household_id FROM import_rows WHERE branch_id = ? AND preview_id = ? AND reassign)`,
			[]any{now, EndAreaChanged, b, b, p}},
		{"update households", `UPDATE households SET
				province = r.province, city = r.city, county = r.county, township = r.township, village = r.village,
				head_name = r.head_name, id_number_enc = r.id_number_enc, id_number_bidx = r.id_number_bidx,
				id_number_masked = r.id_number_masked,
				phone_enc = CASE WHEN r.set_phone THEN r.phone_enc ELSE households.phone_enc END,
				phone_bidx = CASE WHEN r.set_phone THEN r.phone_bidx ELSE households.phone_bidx END,
				phone_masked = CASE WHEN r.set_phone THEN r.phone_masked ELSE households.phone_masked END,
				has_labor = CASE WHEN r.set_has_labor THEN r.has_labor ELSE households.has_labor END,
				list_phone_bidx = r.phone_bidx, list_has_labor = r.has_labor,
				field_times = ` + tx.fieldTimesExpr() + `,
				family_size = r.family_size, category = r.category, risk_type = r.risk_type,
				risk_eliminated = r.risk_eliminated, identified_on = r.identified_on,
				content_hash = r.content_hash, snapshot_id = ?, list_status = 'active', removed_at = NULL,
				outlet_id = CASE WHEN r.reassign THEN r.outlet_id ELSE households.outlet_id END,
				county_id = CASE WHEN r.reassign THEN COALESCE(r.county_id, households.county_id) ELSE households.county_id END,
				officer_id = CASE WHEN r.reassign THEN r.officer_id ELSE households.officer_id END,
				version = households.version + 1, updated_at = ?
			FROM import_rows r
			WHERE r.branch_id = ? AND r.preview_id = ? AND r.action IN ('change', 'return')
				AND households.branch_id = r.branch_id AND households.id = r.household_id`,
			[]any{stamp, stamp, stamp, p, now, b, p}},
		{"remove households", `UPDATE households SET list_status = 'removed', removed_at = ?, officer_id = NULL,
				snapshot_id = ?, version = version + 1, updated_at = ?
			WHERE branch_id = ? AND id IN
				(SELECT household_id FROM import_rows WHERE branch_id = ? AND preview_id = ? AND action = 'remove')`,
			[]any{now, p, now, b, b, p}},
		{"open assignments", `INSERT INTO assignments (id, branch_id, household_id, outlet_id, officer_id, outlet_due_on, officer_due_on, assigned_by, assigned_at)
			SELECT assignment_id, branch_id, household_id, outlet_id, officer_id, '', '', ?, ` + ts + `
			FROM import_rows WHERE branch_id = ? AND preview_id = ? AND (action = 'add' OR reassign) AND outlet_id IS NOT NULL`,
			[]any{by, now, b, p}},
	}
	if tx.db.dialect == Postgres {
		// assigned_by is text; an untyped NULL parameter in a SELECT list needs a type.
		steps[len(steps)-1].sql = `INSERT INTO assignments (id, branch_id, household_id, outlet_id, officer_id, outlet_due_on, officer_due_on, assigned_by, assigned_at)
			SELECT assignment_id, branch_id, household_id, outlet_id, officer_id, '', '', CAST(? AS TEXT), ` + ts + `
			FROM import_rows WHERE branch_id = ? AND preview_id = ? AND (action = 'add' OR reassign) AND outlet_id IS NOT NULL`
	}
	for kind, where := range map[string]string{
		ChangeAdded: "action = 'add'", ChangeReturned: "action = 'return'", ChangeRemoved: "action = 'remove'",
		ChangeRiskEliminated: "newly_eliminated",
	} {
		steps = append(steps, struct {
			name string
			sql  string
			args []any
		}{"change report " + kind, `INSERT INTO snapshot_changes (branch_id, snapshot_id, household_no, household_id, kind, fields)
			SELECT branch_id, preview_id, household_no, household_id, '` + kind + `', ` + emptyJSON + `
			FROM import_rows WHERE branch_id = ? AND preview_id = ? AND ` + where, []any{b, p}})
	}
	steps = append(steps, struct {
		name string
		sql  string
		args []any
	}{"change report changed", `INSERT INTO snapshot_changes (branch_id, snapshot_id, household_no, household_id, kind, fields)
		SELECT branch_id, preview_id, household_no, household_id, 'changed', fields
		FROM import_rows WHERE branch_id = ? AND preview_id = ? AND changed`, []any{b, p}})
	for _, st := range steps {
		if _, err := tx.exec(st.sql, st.args...); err != nil {
			if IsUniqueViolation(err) {
				// Households were written by other means since the preview
				// (the same household number, a second open assignment).
				return apperr.New(syncproto.CodeConflict, "预览之后农户数据已有变化，请重新上传文件生成新的预览",
					"the households changed after this preview was computed; upload the file again for a fresh preview").
					With("reason", "list_changed").Wrap(fmt.Errorf("commit import: %s: %w", st.name, err))
			}
			return fmt.Errorf("commit import: %s: %w", st.name, err)
		}
	}

	// The change log: every touched household, and scope moves for devices.
	var refs []stagedRef
	if err := tx.Raw(`SELECT household_id, action, reassign, officer_id FROM import_rows
		WHERE branch_id = ? AND preview_id = ? ORDER BY line`, b, p).Scan(&refs).Error; err != nil {
		return fmt.Errorf("staged rows: %w", err)
	}
	for _, r := range refs {
		from, to := oldOfficer[r.HouseholdID], ""
		if r.Action == ImportAdd || r.Reassign {
			to = deref(r.OfficerID)
		}
		tx.RecordChange(Change{BranchID: b, Entity: entityHousehold, EntityID: r.HouseholdID, Op: OpUpsert, HouseholdID: r.HouseholdID})
		tx.RecordScopeChange(b, r.HouseholdID, from, to)
	}

	s.Version, s.Status = s.BaseVersion+1, SnapshotCommitted
	s.CommittedAt = &now
	if _, err := tx.exec(`UPDATE list_snapshots SET status = 'committed', version = ?, committed_at = ? WHERE id = ?`, s.Version, now, s.ID); err != nil {
		if IsUniqueViolation(err) {
			return apperr.New(syncproto.CodeConflict, "名单刚被另一次导入更新，请重新上传文件", "another import committed at the same moment; upload the file again").
				With("reason", "list_changed")
		}
		return fmt.Errorf("commit import: %w", err)
	}
	// The staged rows hold sealed personal numbers that now live in households.
	if _, err := tx.exec(`DELETE FROM import_rows WHERE branch_id = ? AND preview_id = ?`, b, p); err != nil {
		return fmt.Errorf("commit import: clear staged rows: %w", err)
	}
	return nil
}

// fieldTimesExpr stamps the observed fields a new list overwrote (see
// FieldStamp: server edits carry the time and the version they produce), so
// a device edit made before the list loses and one made after it wins.
func (tx *Tx) fieldTimesExpr() string {
	if tx.db.dialect == Postgres {
		stamp := `jsonb_build_object('t', CAST(? AS TEXT), 'v', households.version + 1)`
		withPhone := `CASE WHEN r.set_phone THEN jsonb_set(households.field_times, '{phone}', ` + stamp + `) ELSE households.field_times END`
		return `CASE WHEN r.set_has_labor THEN jsonb_set(` + withPhone + `, '{has_labor}', ` + stamp + `) ELSE ` + withPhone + ` END`
	}
	stamp := `json_object('t', ?, 'v', households.version + 1)`
	withPhone := `CASE WHEN r.set_phone THEN json_set(households.field_times, '$.phone', ` + stamp + `) ELSE households.field_times END`
	return `CASE WHEN r.set_has_labor THEN json_set(` + withPhone + `, '$.has_labor', ` + stamp + `) ELSE ` + withPhone + ` END`
}
