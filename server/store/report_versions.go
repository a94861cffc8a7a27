package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Month close, restatements and the frozen versions of the monthly report.

// Errors of the month close a client may see.
var (
	ErrReportCloseForbidden = apperr.New(syncproto.CodeForbidden,
		"只有该分行的分行经理或管理员可以关账", "only the branch's manager or an admin may close a month")
	ErrReportAlreadyClosed = apperr.New(syncproto.CodeConflict,
		"该月份已关账，已关账的版本不能更改", "this month is already closed; a closed version never changes")
	ErrReportMonthNotOver = apperr.New(syncproto.CodeInvalidRequest,
		"只能对已经结束的月份关账", "only a month that has ended can be closed")
)

// ReportCloseMonth freezes a month's figures as version 1. Pending changes
// are taken in first, under the branch's worker lock, so that version 1
// holds everything synced before the close. scheduled marks the close made
// by the schedule, which needs no actor and treats an existing version 1 as
// done (ok false) instead of a conflict.
func (db *DB) ReportCloseMonth(ctx context.Context, a Actor, branchID, month string, clk ReportClock, scheduled bool) (v ReportVersion, ok bool, err error) {
	if _, _, err := ReportMonthBounds(month, clk.Loc); err != nil {
		return v, false, err
	}
	if month >= clk.CurrentMonth() {
		return v, false, ErrReportMonthNotOver.With("month", month)
	}
	err = db.Transact(ctx, func(tx *Tx) error {
		ok = false
		if !scheduled && !(a.Role == RoleAdmin || (a.Role == RoleBranchManager && a.BranchID == branchID)) {
			return ErrReportCloseForbidden
		}
		cur, created, err := tx.waitReportCursor(branchID, clk)
		if err != nil {
			return err
		}
		if err := tx.reportDrain(branchID, cur, created, clk); err != nil {
			return err
		}
		opened, err := tx.reportMonthOpened(branchID, month)
		if err != nil {
			return err
		}
		if !opened {
			if err := tx.rebuildMonth(branchID, month, clk); err != nil {
				return err
			}
		}
		var through int64
		if err := tx.Raw(`SELECT last_seq FROM report_cursors WHERE branch_id = ?`, branchID).Scan(&through).Error; err != nil {
			return fmt.Errorf("report: close: %w", err)
		}
		by := ""
		if !scheduled {
			by = a.UserID
		}
		v = ReportVersion{BranchID: branchID, Month: month, Version: 1, Kind: VersionClose, CreatedBy: by, ThroughSeq: through, CreatedAt: clk.now()}
		if scheduled {
			v.Reason = "schedule"
		}
		n, err := tx.reportExec(`INSERT INTO report_versions (branch_id, month, version, kind, created_by, reason, through_seq, late_records, created_at)
			VALUES (@b, @m, 1, @k, @by, @r, @seq, 0, @now) ON CONFLICT (branch_id, month, version) DO NOTHING`,
			map[string]any{"b": branchID, "m": month, "k": VersionClose, "by": by, "r": v.Reason, "seq": through, "now": v.CreatedAt})
		if err != nil {
			return fmt.Errorf("report: close: %w", err)
		}
		if n == 0 {
			if scheduled {
				return nil
			}
			return ErrReportAlreadyClosed.With("month", month)
		}
		if err := tx.reportCopyVersion(branchID, month, 1); err != nil {
			return err
		}
		if err := tx.reportClearPending(branchID, month); err != nil {
			return err
		}
		ok = true
		actor := a
		if scheduled {
			actor = Actor{Role: "system", BranchID: branchID}
		}
		return tx.Audit(actor, "report.close", "report_month", branchID+"/"+month, map[string]any{"version": 1, "through_seq": through})
	})
	return v, ok, err
}

// reportDrain takes in every pending change of the branch; the cursor is locked.
func (tx *Tx) reportDrain(branchID string, cur ReportCursor, created bool, clk ReportClock) error {
	for i := 0; ; i++ {
		var b ReportBatch
		if err := tx.reportBatch(branchID, cur, created && i == 0, clk, ReportTuning{}.withDefaults(), &b); err != nil {
			return err
		}
		cur.LastSeq, cur.AsOfDate = b.ThroughSeq, clk.Today()
		if b.Changes == 0 {
			return nil
		}
	}
}

func (tx *Tx) reportMonthOpened(branchID, month string) (bool, error) {
	var n int64
	if err := tx.Model(&ReportMonth{}).Where("branch_id = ? AND month = ?", branchID, month).Count(&n).Error; err != nil {
		return false, fmt.Errorf("report: month state: %w", err)
	}
	return n > 0, nil
}

func (tx *Tx) reportCopyVersion(branchID, month string, version int) error {
	cols := "level, county_id, outlet_id, officer_id, " + reportFigureColumns("")
	_, err := tx.reportExec(`INSERT INTO report_version_rows (branch_id, month, version, `+cols+`)
		SELECT branch_id, month, @v, `+cols+` FROM report_rows WHERE branch_id = @b AND month = @m`,
		map[string]any{"b": branchID, "m": month, "v": version})
	if err != nil {
		return fmt.Errorf("report: freeze version: %w", err)
	}
	return nil
}

func (tx *Tx) reportClearPending(branchID, month string) error {
	_, err := tx.reportExec(`UPDATE report_months SET restate_pending = FALSE, pending_since = NULL WHERE branch_id = @b AND month = @m`,
		map[string]any{"b": branchID, "m": month})
	if err != nil {
		return fmt.Errorf("report: clear pending: %w", err)
	}
	return nil
}

// ReportPending is a closed month with data that arrived after its latest version.
type ReportPending struct {
	BranchID     string
	Month        string
	PendingSince time.Time
}

// ReportPendingRestatements lists closed months whose late data has been
// quiet since before the given time.
func (db *DB) ReportPendingRestatements(ctx context.Context, quietSince time.Time) ([]ReportPending, error) {
	var out []ReportPending
	err := db.gorm.WithContext(ctx).Model(&ReportMonth{}).Select("branch_id, month, pending_since").
		Where("restate_pending = ? AND pending_since <= ?", true, quietSince.UTC()).Order("branch_id, month").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("report: pending restatements: %w", err)
	}
	return out, nil
}

// ReportRestate issues the next version of a closed month when late data has
// changed its figures or brought records in since the latest version. It
// returns ok false when there was nothing to restate.
func (db *DB) ReportRestate(ctx context.Context, branchID, month string, clk ReportClock) (v ReportVersion, ok bool, err error) {
	err = db.Transact(ctx, func(tx *Tx) error {
		ok = false
		cur, created, err := tx.waitReportCursor(branchID, clk)
		if err != nil {
			return err
		}
		if err := tx.reportDrain(branchID, cur, created, clk); err != nil {
			return err
		}
		var latest ReportVersion
		err = tx.Where("branch_id = ? AND month = ?", branchID, month).Order("version DESC").Limit(1).Take(&latest).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return tx.reportClearPending(branchID, month)
		}
		if err != nil {
			return fmt.Errorf("report: restate: %w", err)
		}
		var late int64
		if err := tx.Model(&ReportLateRecord{}).Where("branch_id = ? AND month = ? AND version IS NULL", branchID, month).Count(&late).Error; err != nil {
			return fmt.Errorf("report: restate: %w", err)
		}
		differ, err := tx.reportRowsDiffer(branchID, month, latest.Version)
		if err != nil {
			return err
		}
		if late == 0 && !differ {
			return tx.reportClearPending(branchID, month)
		}
		var through int64
		if err := tx.Raw(`SELECT last_seq FROM report_cursors WHERE branch_id = ?`, branchID).Scan(&through).Error; err != nil {
			return fmt.Errorf("report: restate: %w", err)
		}
		v = ReportVersion{BranchID: branchID, Month: month, Version: latest.Version + 1, Kind: VersionRestatement,
			Reason: "late data", ThroughSeq: through, LateRecords: int(late), CreatedAt: clk.now()}
		if err := tx.Create(&v).Error; err != nil {
			if IsUniqueViolation(err) {
				return nil // another instance issued it
			}
			return fmt.Errorf("report: restate: %w", err)
		}
		if err := tx.reportCopyVersion(branchID, month, v.Version); err != nil {
			return err
		}
		if err := tx.Model(&ReportLateRecord{}).Where("branch_id = ? AND month = ? AND version IS NULL", branchID, month).
			Update("version", v.Version).Error; err != nil {
			return fmt.Errorf("report: restate: attach late records: %w", err)
		}
		if err := tx.reportClearPending(branchID, month); err != nil {
			return err
		}
		ok = true
		return tx.Audit(Actor{Role: "system", BranchID: branchID}, "report.restate", "report_month", branchID+"/"+month,
			map[string]any{"version": v.Version, "late_records": late})
	})
	return v, ok, err
}

// reportRowsDiffer compares the current rows of a month with a version's.
func (tx *Tx) reportRowsDiffer(branchID, month string, version int) (bool, error) {
	cols := "level, county_id, outlet_id, officer_id, " + reportFigureColumns("")
	var n int64
	err := tx.Raw(`SELECT COUNT(*) FROM (
		SELECT `+cols+` FROM report_rows WHERE branch_id = ? AND month = ?
		EXCEPT SELECT `+cols+` FROM report_version_rows WHERE branch_id = ? AND month = ? AND version = ?) d`,
		branchID, month, branchID, month, version).Scan(&n).Error
	if err != nil {
		return false, fmt.Errorf("report: compare version: %w", err)
	}
	if n > 0 {
		return true, nil
	}
	err = tx.Raw(`SELECT COUNT(*) FROM (
		SELECT `+cols+` FROM report_version_rows WHERE branch_id = ? AND month = ? AND version = ?
		EXCEPT SELECT `+cols+` FROM report_rows WHERE branch_id = ? AND month = ?) d`,
		branchID, month, version, branchID, month).Scan(&n).Error
	if err != nil {
		return false, fmt.Errorf("report: compare version: %w", err)
	}
	return n > 0, nil
}

// ReportVersions lists a branch's versions of a month, oldest first.
func (db *DB) ReportVersions(ctx context.Context, branchID, month string) ([]ReportVersion, error) {
	var out []ReportVersion
	err := db.gorm.WithContext(ctx).Where("branch_id = ? AND month = ?", branchID, month).Order("version").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("report: versions: %w", err)
	}
	return out, nil
}

// ReportVersionSorts is the allow-list of sort keys for a branch's versions.
var ReportVersionSorts = map[string]string{
	"month":   "v.month",
	"version": "v.version",
	"created": "v.created_at",
	"late":    "v.late_records",
}

// ReportVersionsPage pages through a branch's versions of every month with
// their total. The search matches the month from its start ("2026" or
// "2026-03") or the username of whoever made the version.
func (db *DB) ReportVersionsPage(ctx context.Context, branchID string, p ListPage) ([]ReportVersion, int64, error) {
	q := db.gorm.WithContext(ctx).Table("report_versions v").Where("v.branch_id = ?", branchID)
	if t := strings.TrimSpace(p.Q); t != "" {
		q = q.Where(`(v.month LIKE ? ESCAPE '\' OR v.created_by IN (SELECT u.id FROM users u WHERE LOWER(u.username) LIKE ? ESCAPE '\'))`,
			likeEscape(t)+"%", "%"+likeEscape(strings.ToLower(t))+"%")
	}
	var total int64
	if err := q.Session(&gorm.Session{}).Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("report: count versions: %w", err)
	}
	limit, offset := p.window()
	var out []ReportVersion
	err := q.Select("v.*").Order(p.order(ReportVersionSorts, "month", "v.month DESC, v.version DESC")).
		Limit(limit).Offset(offset).Scan(&out).Error
	if err != nil {
		return nil, 0, fmt.Errorf("report: versions: %w", err)
	}
	return out, total, nil
}

// ReportVersionsWithoutFiles lists versions that lack some of their files.
func (db *DB) ReportVersionsWithoutFiles(ctx context.Context, want int) ([]ReportVersion, error) {
	var out []ReportVersion
	err := db.gorm.WithContext(ctx).Raw(`SELECT v.* FROM report_versions v
		WHERE (SELECT COUNT(*) FROM report_files f WHERE f.branch_id = v.branch_id AND f.month = v.month AND f.version = v.version) < ?
		ORDER BY v.branch_id, v.month, v.version`, want).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("report: versions without files: %w", err)
	}
	return out, nil
}

// ReportVersionRows reads a frozen version's rows; ErrNotFound when there is no such version.
func (db *DB) ReportVersionRows(ctx context.Context, branchID, month string, version int) (ReportVersion, []ReportVersionRow, error) {
	var v ReportVersion
	err := db.gorm.WithContext(ctx).Where("branch_id = ? AND month = ? AND version = ?", branchID, month, version).Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return v, nil, ErrNotFound
	}
	if err != nil {
		return v, nil, fmt.Errorf("report: version: %w", err)
	}
	var rows []ReportVersionRow
	err = db.gorm.WithContext(ctx).Where("branch_id = ? AND month = ? AND version = ?", branchID, month, version).
		Order("level, county_id, outlet_id, officer_id").Find(&rows).Error
	if err != nil {
		return v, nil, fmt.Errorf("report: version rows: %w", err)
	}
	return v, rows, nil
}

// ReportLateRecords lists the late records a version took up (version > 0)
// or those still waiting for a restatement (version 0).
func (db *DB) ReportLateRecords(ctx context.Context, branchID, month string, version int) ([]ReportLateRecord, error) {
	q := db.gorm.WithContext(ctx).Where("branch_id = ? AND month = ?", branchID, month)
	if version > 0 {
		q = q.Where("version = ?", version)
	} else {
		q = q.Where("version IS NULL")
	}
	var out []ReportLateRecord
	if err := q.Order("change_seq, entity, entity_id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("report: late records: %w", err)
	}
	return out, nil
}

// ReportPutFile stores a generated file of a version once; a second store of
// the same file changes nothing.
func (db *DB) ReportPutFile(ctx context.Context, f ReportFile) error {
	_, err := db.sql.ExecContext(ctx, db.rebind(`INSERT INTO report_files (branch_id, month, version, format, lang, file_name, content, sha256, size_bytes, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (branch_id, month, version, format, lang) DO NOTHING`),
		f.BranchID, f.Month, f.Version, f.Format, f.Lang, f.FileName, f.Content, f.SHA256, f.SizeBytes, f.CreatedAt.UTC())
	if err != nil {
		return fmt.Errorf("report: store file: %w", err)
	}
	return nil
}

// ReportFiles lists a version's files without their content.
func (db *DB) ReportFiles(ctx context.Context, branchID, month string, version int) ([]ReportFile, error) {
	var out []ReportFile
	err := db.gorm.WithContext(ctx).Select("branch_id, month, version, format, lang, file_name, sha256, size_bytes, created_at").
		Where("branch_id = ? AND month = ? AND version = ?", branchID, month, version).Order("format, lang").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("report: files: %w", err)
	}
	return out, nil
}

// ReportFileContent loads one stored file; ErrNotFound when absent.
func (db *DB) ReportFileContent(ctx context.Context, branchID, month string, version int, format, lang string) (ReportFile, error) {
	var f ReportFile
	err := db.gorm.WithContext(ctx).Where("branch_id = ? AND month = ? AND version = ? AND format = ? AND lang = ?",
		branchID, month, version, format, lang).Take(&f).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return f, ErrNotFound
	}
	if err != nil {
		return f, fmt.Errorf("report: file: %w", err)
	}
	return f, nil
}
