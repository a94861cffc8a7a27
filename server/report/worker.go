package report

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/doorstep-dev/doorstep/server/store"
)

// CatchUp brings every branch's report tables up to the end of the change
// log, synchronously: when it returns nil, every change committed before
// the call is in the tables. A branch another instance is working on is
// waited for. The command line and tests call it; the background worker
// polls with poll, which skips such a branch instead.
func (s *Service) CatchUp(ctx context.Context) error { return s.catchUp(ctx, true) }

// poll is one pass of the background worker: a branch another instance is
// working on is skipped, since that instance brings it up to date (and the
// next poll finds whatever a pass that rolled back left).
func (s *Service) poll(ctx context.Context) error { return s.catchUp(ctx, false) }

func (s *Service) catchUp(ctx context.Context, wait bool) error {
	branches, err := s.db.ReportBranches(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, b := range branches {
		if err := s.catchUpBranch(ctx, b, wait); err != nil {
			errs = append(errs, fmt.Errorf("branch %s: %w", b, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) catchUpBranch(ctx context.Context, branchID string, wait bool) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := s.db.ReportProcessBatch(ctx, branchID, s.clock(), store.ReportTuning{MaxChanges: s.opts.BatchChanges, WholeMonthAt: s.opts.WholeMonthAt}, wait)
		if err != nil {
			return err
		}
		if b.Busy || b.Changes == 0 {
			return nil
		}
	}
}

// Rebuild recomputes a month from the base tables for one branch (org is any
// unit of it) or, with org empty, for every branch. It must and does give the
// very tables the worker keeps incrementally.
func (s *Service) Rebuild(ctx context.Context, month, org string) error {
	m, err := s.month(month)
	if err != nil {
		return err
	}
	var branches []string
	if org == "" {
		if branches, err = s.db.ReportBranches(ctx); err != nil {
			return err
		}
	} else {
		sc, err := s.operatorScope(ctx, org)
		if err != nil {
			return err
		}
		branches = []string{sc.Branch.ID}
	}
	for _, b := range branches {
		if err := s.db.ReportRebuildMonth(ctx, b, m, s.clock()); err != nil {
			return fmt.Errorf("rebuild %s: %w", m, err)
		}
	}
	return nil
}

// Start runs the worker and the schedule in the background until ctx ends
// or stop is called; stop waits for the current pass to finish, so the
// database can be closed right after.
func (s *Service) Start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.opts.Poll)
		defer t.Stop()
		for {
			if err := s.poll(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("report worker: catching up failed; will retry", "err", err)
			}
			if err := s.Tick(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("report schedule: tick failed; will retry", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// Tick does the scheduled work that is due: closing the month just ended once
// the close time has passed, issuing restatements for closed months whose
// late data has been quiet long enough, and storing the files of versions
// that lack them. Every step is safe with several instances: the close is
// an insert-if-absent of version 1, a restatement runs under the branch's
// lock and a file is stored once.
func (s *Service) Tick(ctx context.Context) error {
	clk := s.clock()
	var errs []error
	if s.closeOn {
		local := clk.Now.In(s.loc)
		at := time.Date(local.Year(), local.Month(), s.closeDay, s.closeH, s.closeM, 0, 0, s.loc)
		if !local.Before(at) {
			prev := time.Date(local.Year(), local.Month(), 1, 0, 0, 0, 0, s.loc).AddDate(0, -1, 0).Format("2006-01")
			branches, err := s.db.ReportBranches(ctx)
			if err != nil {
				return err
			}
			for _, b := range branches {
				vs, err := s.db.ReportVersions(ctx, b, prev)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if len(vs) > 0 {
					continue
				}
				v, ok, err := s.db.ReportCloseMonth(ctx, store.Actor{}, b, prev, clk, true)
				if err != nil {
					errs = append(errs, fmt.Errorf("scheduled close %s: %w", prev, err))
					continue
				}
				if ok {
					s.log.Info("report month closed by schedule", "branch_id", b, "month", prev, "version", v.Version)
				}
			}
		}
	}
	quiet := clk.Now
	if s.opts.RestateAfter > 0 {
		quiet = quiet.Add(-s.opts.RestateAfter)
	}
	pending, err := s.db.ReportPendingRestatements(ctx, quiet)
	if err != nil {
		errs = append(errs, err)
	}
	for _, p := range pending {
		v, ok, err := s.db.ReportRestate(ctx, p.BranchID, p.Month, s.clock())
		if err != nil {
			errs = append(errs, fmt.Errorf("restate %s: %w", p.Month, err))
			continue
		}
		if ok {
			s.log.Info("report restated after late data", "branch_id", p.BranchID, "month", p.Month, "version", v.Version, "late_records", v.LateRecords)
		}
	}
	missing, err := s.db.ReportVersionsWithoutFiles(ctx, len(fileVariants))
	if err != nil {
		errs = append(errs, err)
	}
	for _, v := range missing {
		if err := s.storeFiles(ctx, v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fileVariants are the files stored for every version.
var fileVariants = []struct{ format, lang string }{
	{FormatXLSX, "zh"}, {FormatXLSX, "en"}, {FormatCSV, "zh"}, {FormatCSV, "en"},
}

// storeFiles renders and stores the files of a version that are missing.
func (s *Service) storeFiles(ctx context.Context, v store.ReportVersion) error {
	have, err := s.db.ReportFiles(ctx, v.BranchID, v.Month, v.Version)
	if err != nil {
		return err
	}
	got := map[string]bool{}
	for _, f := range have {
		got[f.Format+"/"+f.Lang] = true
	}
	b, err := s.db.OrgUnit(ctx, v.BranchID)
	if err != nil {
		return fmt.Errorf("report files: branch: %w", err)
	}
	sc := Scope{Branch: b, Unit: b}
	var doc *Document
	for _, fv := range fileVariants {
		if got[fv.format+"/"+fv.lang] {
			continue
		}
		if doc == nil {
			if doc, err = s.document(ctx, sc, v.Month, v.Version); err != nil {
				return err
			}
		}
		body, name, err := doc.Render(fv.format, fv.lang)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		err = s.db.ReportPutFile(ctx, store.ReportFile{
			BranchID: v.BranchID, Month: v.Month, Version: v.Version, Format: fv.format, Lang: fv.lang,
			FileName: name, Content: body, SHA256: hex.EncodeToString(sum[:]), SizeBytes: int64(len(body)), CreatedAt: s.clock().Now,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Render builds a report file for an org unit's subtree, for the command
// line: the current figures (version 0) or a frozen version.
func (s *Service) Render(ctx context.Context, month, org string, version int, format, lang string) ([]byte, string, error) {
	m, err := s.month(month)
	if err != nil {
		return nil, "", err
	}
	sc, err := s.operatorScope(ctx, org)
	if err != nil {
		return nil, "", err
	}
	doc, err := s.document(ctx, sc, m, version)
	if err != nil {
		return nil, "", err
	}
	return doc.Render(format, lang)
}
