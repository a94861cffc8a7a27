package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/server/registry/importfile"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Warning codes. Warnings are reported next to the row errors but do not
// block a commit.
const (
	// The row's county is not one the branch serves (no service area names
	// it): the row is left out. Provincial lists carry every county.
	WarnCountyNotServed = "county_not_served"
	// A new household's township and village map to no outlet: it is
	// imported with its county sub-branch but no outlet until an admin maps
	// the area, which then hands it over.
	WarnNoOutlet = "no_outlet"
)

// ImportInput is one uploaded list.
type ImportInput struct {
	Branch   string // branch code or id; "" means the actor's branch
	FileName string
	Data     io.Reader
	// Progress, if set, hears how far the work is: phase "read" counts rows
	// read (total 0 while unknown), then "compare", "save" and "commit".
	Progress func(phase string, done, total int)
	// Parse bounds; zero values take importfile's defaults.
	Limits importfile.Options
}

// Summary is what a dry run found, in counts.
type Summary struct {
	Format   string `json:"format"`
	Encoding string `json:"encoding"`
	Sheet    string `json:"sheet,omitempty"`
	DataRows int    `json:"data_rows"` // non-blank rows below the header
	// Rows of the branch's counties, by what the commit would do with them.
	New            int `json:"new"`
	Changed        int `json:"changed"`
	RiskEliminated int `json:"risk_eliminated"`
	Returned       int `json:"returned"`
	Removed        int `json:"removed"`
	Unchanged      int `json:"unchanged"`
	// New households whose village maps to no outlet.
	NoOutlet int `json:"no_outlet"`
	// Rows left out because the branch does not serve their county, by county.
	OtherCounties   map[string]int `json:"other_counties"`
	OtherCountyRows int            `json:"other_county_rows"`
	// Problems found in rows of counties the branch does not serve; reported
	// as warnings, they do not block the commit.
	OtherCountyErrors int      `json:"other_county_errors"`
	Errors            int      `json:"errors"`     // problems that block the commit
	ErrorRows         int      `json:"error_rows"` // rows with at least one
	Warnings          int      `json:"warnings"`
	CountiesInFile    []string `json:"counties_in_file"` // served counties the file covers; removals are limited to them
	BaseVersion       int      `json:"base_version"`
	Committable       bool     `json:"committable"`
	ChangeCount       int      `json:"change_count"`
	ParseMillis       int64    `json:"parse_ms"`
	CompareMillis     int64    `json:"compare_ms"`
	ProblemsTruncate  bool     `json:"problems_truncated,omitempty"`
}

// Preview is a stored dry run, or the committed snapshot it became.
type Preview struct {
	ID          string     `json:"id"`
	BranchID    string     `json:"branch_id"`
	Status      string     `json:"status"` // previewed, committed, discarded
	Version     int        `json:"version,omitempty"`
	BaseVersion int        `json:"base_version"`
	FileName    string     `json:"file_name"`
	FileSHA256  string     `json:"file_sha256"`
	Summary     Summary    `json:"summary"`
	CreatedAt   time.Time  `json:"created_at"`
	CommittedAt *time.Time `json:"committed_at,omitempty"`
}

// DryRun is a computed, not yet stored, import.
type DryRun struct {
	Branch   store.OrgUnit
	Summary  Summary
	Problems []importfile.Problem // errors and warnings, in row order
	warnSev  []bool               // parallel to Problems: true for warnings
	rows     []store.ImportRow
	sha      string
	fileName string
}

// IsWarning reports whether Problems[i] is a warning, which does not block
// the commit.
func (d *DryRun) IsWarning(i int) bool { return d.warnSev[i] }

// FileName is the uploaded file's name.
func (d *DryRun) FileName() string { return d.fileName }

// Committable reports whether the dry run may be applied: no row errors.
func (d *DryRun) Committable() bool { return d.Summary.Errors == 0 }

// HasChanges reports whether applying it would change anything.
func (d *DryRun) HasChanges() bool { return len(d.rows) > 0 }

// FileError turns a file-level parse failure into the API error: nothing is
// stored, the message says what is wrong with the file.
func fileError(fe *importfile.FileError) error {
	return apperr.New(syncproto.CodeInvalidRequest, fe.Message, fe.MessageEN).
		With("reason", "unreadable_file").With("file_error", fe.Code).Wrap(fe)
}

// Compute runs a dry run: parse, validate, compare with the branch's list.
// It writes nothing.
func (s *Service) Compute(ctx context.Context, a store.Actor, in ImportInput) (*DryRun, error) {
	if s.codecErr != nil {
		return nil, apperr.Internal.Wrap(s.codecErr)
	}
	if !MayImport(a) {
		return nil, forbidden("只有管理员和分行经理可以导入监测名单", "only admins and branch managers may import the monitoring list")
	}
	branch, err := s.db.ResolveBranch(ctx, a, in.Branch)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	opts := in.Limits
	if in.Progress != nil {
		opts.Progress = func(done, total int) { in.Progress("read", done, total) }
	}
	t0 := time.Now()
	res, err := importfile.Parse(io.TeeReader(in.Data, h), opts)
	if err != nil {
		var fe *importfile.FileError
		if errors.As(err, &fe) {
			return nil, fileError(fe)
		}
		return nil, fmt.Errorf("read import: %w", err)
	}
	parsed := time.Since(t0)
	if in.Progress != nil {
		in.Progress("compare", 0, len(res.Rows))
	}
	areas, err := s.db.AreaMappings(ctx, branch.ID)
	if err != nil {
		return nil, err
	}
	version, state, err := s.db.ListState(ctx, a, branch.ID)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	d, err := s.diff(branch, res, store.NewAreaIndex(areas), version, state)
	if err != nil {
		return nil, err
	}
	d.sha, d.fileName = hex.EncodeToString(h.Sum(nil)), in.FileName
	d.Summary.ParseMillis, d.Summary.CompareMillis = parsed.Milliseconds(), time.Since(t1).Milliseconds()
	if in.Progress != nil {
		in.Progress("compare", len(res.Rows), len(res.Rows))
	}
	return d, nil
}

// listHash fingerprints the list fields of a row, keyed because it covers
// the ID and phone numbers.
func (s *Service) listHash(r *importfile.Row, identified string) string {
	return s.codec.Keyed("household-list/v1",
		r.Province, r.City, r.County, r.Township, r.Village, r.HeadName, pii.Normalize(pii.IDNumber, r.IDNumber),
		strconv.Itoa(r.FamilySize), r.Category, r.RiskType, strconv.FormatBool(r.HasLabor),
		pii.Normalize(pii.Phone, r.Phone), identified, strconv.FormatBool(r.RiskEliminated))
}

// FieldChange is one field's old and new value; personal numbers are masked.
type FieldChange struct {
	Old any `json:"old"`
	New any `json:"new"`
}

func (s *Service) diff(branch store.OrgUnit, res *importfile.Result, ix *store.AreaIndex, version int, state []store.HouseholdState) (*DryRun, error) {
	d := &DryRun{Branch: branch}
	sum := &d.Summary
	sum.Format, sum.Encoding, sum.Sheet, sum.DataRows, sum.BaseVersion = res.Format, res.Encoding, res.Sheet, res.DataRows, version
	sum.OtherCounties = map[string]int{}

	byNo := make(map[string]*store.HouseholdState, len(state))
	for i := range state {
		byNo[state[i].HouseholdNo] = &state[i]
	}
	// Row errors block the commit, except in rows of counties the branch
	// does not serve: those rows are left out anyway, and the branch cannot
	// fix another county's data. They stay in the report, as warnings. A
	// county counts as another county only if the file itself shows it to
	// be one (valid rows name it); an unreadable or garbage county cell is an
	// error like any other.
	fileCounties := map[string]bool{}
	for i := range res.Rows {
		fileCounties[res.Rows[i].County] = true
	}
	problems := make([]importfile.Problem, 0, len(res.Problems))
	warn := make([]bool, 0, len(res.Problems))
	errLines, otherLines := map[int]bool{}, map[int]string{}
	for _, p := range res.Problems {
		_, served := ix.Serves(p.County)
		other := p.County != "" && !served && fileCounties[p.County]
		problems = append(problems, p)
		warn = append(warn, other)
		if other {
			otherLines[p.Line] = p.County
			sum.Warnings++
			sum.OtherCountyErrors++
		} else {
			errLines[p.Line] = true
			sum.Errors++
		}
	}
	for _, c := range otherLines {
		sum.OtherCounties[c]++
		sum.OtherCountyRows++
	}
	sum.ErrorRows = len(errLines)
	addWarn := func(p importfile.Problem) {
		problems = append(problems, p)
		warn = append(warn, true)
		sum.Warnings++
	}

	// The fingerprints first, on every core: they decide what is unchanged.
	identified := make([]string, len(res.Rows))
	hashes := make([]string, len(res.Rows))
	parallel(len(res.Rows), func(i int) {
		r := &res.Rows[i]
		if !r.IdentifiedAt.IsZero() {
			identified[i] = r.IdentifiedAt.Format(time.DateOnly)
		}
		hashes[i] = s.listHash(r, identified[i])
	})
	seen := make(map[string]bool, len(res.Rows))
	counties := map[string]bool{}
	var sealFrom []int // the source row of each staged row, for sealing below
	for i := range res.Rows {
		r := &res.Rows[i]
		countyID, served := ix.Serves(r.County)
		if !served {
			sum.OtherCounties[r.County]++
			sum.OtherCountyRows++
			addWarn(importfile.Problem{Line: r.Line, Column: importfile.Columns[2], Code: WarnCountyNotServed,
				Message:   fmt.Sprintf("本分行不服务“%s”，该行未导入", r.County),
				MessageEN: fmt.Sprintf("this branch does not serve %s; the row is not imported", r.County)})
			continue
		}
		counties[r.County] = true
		seen[r.HouseholdNo] = true
		hash := hashes[i]
		old := byNo[r.HouseholdNo]
		if old != nil && old.ListStatus == store.ListActive && old.ContentHash == hash {
			sum.Unchanged++
			continue
		}
		row := store.ImportRow{
			HouseholdNo: r.HouseholdNo, Line: r.Line, Province: r.Province, City: r.City, County: r.County,
			Township: r.Township, Village: r.Village, HeadName: r.HeadName,
			IDNumberBidx: s.codec.BlindIndex(pii.IDNumber, r.IDNumber), IDNumberMasked: pii.Mask(pii.IDNumber, r.IDNumber),
			PhoneBidx: s.codec.BlindIndex(pii.Phone, r.Phone), PhoneMasked: pii.Mask(pii.Phone, r.Phone),
			FamilySize: r.FamilySize, Category: r.Category, RiskType: r.RiskType, HasLabor: r.HasLabor,
			RiskEliminated: r.RiskEliminated, IdentifiedOn: identified[i], ContentHash: hash, Fields: "{}",
		}
		m, mapped := ix.Outlet(r.County, r.Township, r.Village)
		switch {
		case old == nil:
			row.Action, row.HouseholdID, row.CountyID = store.ImportAdd, store.NewID(), &countyID
			row.AssignmentID = store.NewID()
			row.SetPhone, row.SetHasLabor = true, true
			if mapped {
				row.OutletID, row.CountyID = &m.OutletID, strOr(m.CountyID, countyID)
			} else {
				sum.NoOutlet++
				addWarn(importfile.Problem{Line: r.Line, Column: importfile.Columns[4], Code: WarnNoOutlet,
					Message:   fmt.Sprintf("%s%s%s 没有对应的网点，该户将先归属县支行，待管理员维护服务区域后分配", r.County, r.Township, r.Village),
					MessageEN: fmt.Sprintf("no outlet serves %s %s %s; the household goes to its county sub-branch until an admin maps the area", r.County, r.Township, r.Village)})
			}
			sum.New++
		default:
			row.HouseholdID = old.ID
			row.SetPhone = row.PhoneBidx != old.ListPhoneBidx
			row.SetHasLabor = r.HasLabor != old.ListHasLabor
			fields := changedFields(old, &row)
			row.NewlyEliminated = r.RiskEliminated && !old.RiskEliminated
			row.Changed = len(fields) > 0
			if b, err := json.Marshal(fields); err == nil {
				row.Fields = string(b)
			}
			if old.ListStatus == store.ListRemoved {
				row.Action, row.Reassign, row.AssignmentID = store.ImportReturn, true, store.NewID()
				row.OutletID, row.CountyID = old.OutletID, strOr(deref(old.CountyID), countyID)
				if mapped {
					row.OutletID, row.CountyID = &m.OutletID, strOr(m.CountyID, countyID)
				}
				sum.Returned++
			} else {
				row.Action = store.ImportChange
				if mapped && m.OutletID != deref(old.OutletID) {
					row.Reassign, row.AssignmentID = true, store.NewID()
					row.OutletID, row.CountyID = &m.OutletID, strOr(m.CountyID, countyID)
				}
				if !row.Changed && !row.NewlyEliminated && !row.Reassign {
					// The fingerprint differs but no field does: a household
					// written by other means, or a rotated index key. Nothing
					// to apply.
					sum.Unchanged++
					continue
				}
				if row.Changed {
					sum.Changed++
				}
				if row.NewlyEliminated {
					sum.RiskEliminated++
				}
			}
		}
		d.rows = append(d.rows, row)
		sealFrom = append(sealFrom, i)
	}
	// Seal the personal numbers of the staged rows, on every core.
	var sealErr atomic.Value
	parallel(len(sealFrom), func(k int) {
		r, row := &res.Rows[sealFrom[k]], &d.rows[k]
		var err error
		if row.IDNumberEnc, err = s.codec.Seal(pii.IDNumber, pii.Normalize(pii.IDNumber, r.IDNumber)); err == nil {
			row.PhoneEnc, err = s.codec.Seal(pii.Phone, pii.Normalize(pii.Phone, r.Phone))
		}
		if err != nil {
			sealErr.Store(err)
		}
	})
	if err, _ := sealErr.Load().(error); err != nil {
		return nil, fmt.Errorf("seal personal numbers: %w", err)
	}
	for c := range counties {
		sum.CountiesInFile = append(sum.CountiesInFile, c)
	}
	sort.Strings(sum.CountiesInFile)

	// Households of the counties this file covers that it no longer lists.
	var gone []*store.HouseholdState
	for i := range state {
		h := &state[i]
		if h.ListStatus == store.ListActive && counties[h.County] && !seen[h.HouseholdNo] {
			gone = append(gone, h)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].HouseholdNo < gone[j].HouseholdNo })
	for _, h := range gone {
		d.rows = append(d.rows, store.ImportRow{
			HouseholdNo: h.HouseholdNo, Action: store.ImportRemove, HouseholdID: h.ID,
			County: h.County, Township: h.Township, Village: h.Village, HeadName: h.HeadName,
			IDNumberMasked: h.IDNumberMasked, PhoneMasked: h.PhoneMasked, OutletID: h.OutletID, Fields: "{}",
		})
		sum.Removed++
	}

	// Problems in row order, warnings after the errors of the same row.
	idx := make([]int, len(problems))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return problems[idx[i]].Line < problems[idx[j]].Line })
	d.Problems = make([]importfile.Problem, len(idx))
	d.warnSev = make([]bool, len(idx))
	for i, k := range idx {
		d.Problems[i], d.warnSev[i] = problems[k], warn[k]
	}
	sum.ChangeCount = len(d.rows)
	sum.Committable = sum.Errors == 0
	return d, nil
}

// parallel runs fn for 0..n-1 on every core; small n run in place.
func parallel(n int, fn func(i int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 2048 || workers < 2 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += per {
		hi := min(n, lo+per)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

func strOr(s, fallback string) *string {
	if s == "" {
		s = fallback
	}
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

// changedFields compares a staged row with the household it updates. The
// officer-observed fields (phone, has_labor) are compared with what the
// previous list said, not with an officer's later edit.
func changedFields(old *store.HouseholdState, r *store.ImportRow) map[string]FieldChange {
	f := map[string]FieldChange{}
	str := func(name, o, n string) {
		if o != n {
			f[name] = FieldChange{o, n}
		}
	}
	str("province", old.Province, r.Province)
	str("city", old.City, r.City)
	str("county", old.County, r.County)
	str("township", old.Township, r.Township)
	str("village", old.Village, r.Village)
	str("head_name", old.HeadName, r.HeadName)
	if old.IDNumberBidx != r.IDNumberBidx {
		f["id_number"] = FieldChange{old.IDNumberMasked, r.IDNumberMasked}
	}
	if r.SetPhone {
		f["phone"] = FieldChange{old.PhoneMasked, r.PhoneMasked}
	}
	if old.FamilySize != r.FamilySize {
		f["family_size"] = FieldChange{old.FamilySize, r.FamilySize}
	}
	str("category", old.Category, r.Category)
	str("risk_type", old.RiskType, r.RiskType)
	if r.SetHasLabor {
		f["has_labor"] = FieldChange{old.ListHasLabor, r.HasLabor}
	}
	str("identified_on", old.IdentifiedOn, r.IdentifiedOn)
	// Risk eliminated is reported as its own kind; risk coming back is a change.
	if old.RiskEliminated && !r.RiskEliminated {
		f["risk_eliminated"] = FieldChange{true, false}
	}
	return f
}

// Save stores a dry run as a preview that can be shown and committed.
func (s *Service) Save(ctx context.Context, a store.Actor, d *DryRun) (Preview, error) {
	sum, err := json.Marshal(d.Summary)
	if err != nil {
		return Preview{}, fmt.Errorf("save preview: %w", err)
	}
	np := store.NewPreview{
		Snapshot: store.Snapshot{
			ID: store.NewID(), BranchID: d.Branch.ID, BaseVersion: d.Summary.BaseVersion, FileName: truncate(d.fileName, 255),
			FileSHA256: d.sha, Summary: string(sum), ErrorCount: d.Summary.Errors, ChangeCount: len(d.rows),
		},
		Rows:     d.rows,
		Problems: make([]store.ImportProblem, len(d.Problems)),
	}
	for i, p := range d.Problems {
		sev := store.SeverityError
		if d.warnSev[i] {
			sev = store.SeverityWarning
		}
		np.Problems[i] = store.ImportProblem{Line: p.Line, Col: p.Column, Code: p.Code, Severity: sev, Message: p.Message, MessageEN: p.MessageEN}
	}
	if err := s.db.SavePreview(ctx, a, np); err != nil {
		return Preview{}, err
	}
	return s.GetImport(ctx, a, np.Snapshot.ID)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 { // do not cut a UTF-8 sequence
		n--
	}
	return s[:n]
}

// PreviewImport is the API's dry run: compute and store.
func (s *Service) PreviewImport(ctx context.Context, a store.Actor, in ImportInput) (Preview, error) {
	d, err := s.Compute(ctx, a, in)
	if err != nil {
		return Preview{}, err
	}
	if in.Progress != nil {
		in.Progress("save", 0, len(d.rows))
	}
	p, err := s.Save(ctx, a, d)
	if err == nil {
		s.opts.Log.InfoContext(ctx, "import previewed", "request_id", a.RequestID, "user_id", a.UserID, "branch_id", d.Branch.ID,
			"preview_id", p.ID, "new", d.Summary.New, "changed", d.Summary.Changed, "removed", d.Summary.Removed, "errors", d.Summary.Errors)
	}
	return p, err
}

// CommitImport applies a stored preview. Applied is false when the preview
// held no change (the same list again): nothing was written.
func (s *Service) CommitImport(ctx context.Context, a store.Actor, id string) (Preview, bool, error) {
	res, err := s.db.CommitPreview(ctx, a, id)
	if err != nil {
		return Preview{}, false, err
	}
	p, err := toPreview(res.Snapshot)
	if err == nil && res.Applied {
		s.opts.Log.InfoContext(ctx, "import committed", "request_id", a.RequestID, "user_id", a.UserID, "branch_id", p.BranchID,
			"preview_id", p.ID, "version", p.Version)
		// A first import fills the tables from nothing; pushes against them
		// should not wait for autovacuum to learn they are no longer empty.
		// The import has committed either way, so a failure here is logged only.
		if aerr := s.db.RefreshStatistics(ctx, "households", "assignments"); aerr != nil {
			s.opts.Log.WarnContext(ctx, "refresh statistics after import", "request_id", a.RequestID, "error", aerr)
		}
	}
	return p, res.Applied, err
}

// DiscardImport drops an uncommitted preview.
func (s *Service) DiscardImport(ctx context.Context, a store.Actor, id string) error {
	return s.db.DiscardPreview(ctx, a, id)
}

// GetImport loads a preview or committed snapshot.
func (s *Service) GetImport(ctx context.Context, a store.Actor, id string) (Preview, error) {
	snap, err := s.db.Snapshot(ctx, a, id)
	if err != nil {
		return Preview{}, err
	}
	return toPreview(snap)
}

// ListImports lists a branch's imports, newest first.
func (s *Service) ListImports(ctx context.Context, a store.Actor, branch string, limit int) ([]Preview, error) {
	out, _, err := s.ImportsPage(ctx, a, branch, store.ListPage{Sort: "created", Desc: true, Limit: limit})
	return out, err
}

// ImportsPage pages through a branch's imports (sort keys in
// store.SnapshotSorts; the search matches the file name) with their total.
func (s *Service) ImportsPage(ctx context.Context, a store.Actor, branch string, p store.ListPage) ([]Preview, int64, error) {
	b, err := s.db.ResolveBranch(ctx, a, branch)
	if err != nil {
		return nil, 0, err
	}
	snaps, total, err := s.db.SnapshotsPage(ctx, a, b.ID, p)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Preview, 0, len(snaps))
	for _, sn := range snaps {
		p, err := toPreview(sn)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, p)
	}
	return out, total, nil
}

func toPreview(sn store.Snapshot) (Preview, error) {
	p := Preview{
		ID: sn.ID, BranchID: sn.BranchID, Status: sn.Status, Version: sn.Version, BaseVersion: sn.BaseVersion,
		FileName: sn.FileName, FileSHA256: sn.FileSHA256, CreatedAt: sn.CreatedAt, CommittedAt: sn.CommittedAt,
	}
	if sn.Summary != "" {
		if err := json.Unmarshal([]byte(sn.Summary), &p.Summary); err != nil {
			return p, fmt.Errorf("read preview summary: %w", err)
		}
	}
	if p.Summary.OtherCounties == nil {
		p.Summary.OtherCounties = map[string]int{}
	}
	return p, nil
}

// Item is one household of a preview or change report.
type Item struct {
	Kind           string                 `json:"kind"`
	Row            int                    `json:"row,omitempty"` // Excel row in the file
	HouseholdNo    string                 `json:"household_no"`
	HouseholdID    string                 `json:"household_id"`
	HeadName       string                 `json:"head_name"`
	County         string                 `json:"county"`
	Township       string                 `json:"township"`
	Village        string                 `json:"village"`
	IDNumberMasked string                 `json:"id_number_masked"`
	PhoneMasked    string                 `json:"phone_masked"`
	OutletID       string                 `json:"outlet_id,omitempty"`
	Fields         map[string]FieldChange `json:"fields,omitempty"`
}

// ImportItems pages through one kind of household in a preview or report.
func (s *Service) ImportItems(ctx context.Context, a store.Actor, id, kind string, offset, limit int) ([]Item, int64, error) {
	rows, total, err := s.db.PreviewItems(ctx, a, id, kind, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Item, len(rows))
	for i, r := range rows {
		it := Item{Kind: r.Kind, Row: r.Line, HouseholdNo: r.HouseholdNo, HouseholdID: r.HouseholdID, HeadName: r.HeadName,
			County: r.County, Township: r.Township, Village: r.Village, IDNumberMasked: r.IDNumberMasked,
			PhoneMasked: r.PhoneMasked, OutletID: deref(r.OutletID)}
		if r.Fields != "" && r.Fields != "{}" {
			if err := json.Unmarshal([]byte(r.Fields), &it.Fields); err != nil {
				return nil, 0, fmt.Errorf("read changed fields: %w", err)
			}
		}
		out[i] = it
	}
	return out, total, nil
}

// Problem is a finding of a dry run with its severity: errors block the
// commit, warnings do not.
type Problem struct {
	importfile.Problem
	Severity string // store.SeverityError or store.SeverityWarning
}

// ImportProblems returns a preview's errors and warnings in row order.
func (s *Service) ImportProblems(ctx context.Context, a store.Actor, id string) ([]Problem, error) {
	ps, err := s.db.ImportProblems(ctx, a, id)
	if err != nil {
		return nil, err
	}
	return problemsOf(ps), nil
}

// ImportProblemsPage pages through a preview's errors and warnings (sort
// keys in store.ImportProblemSorts; the search matches a row number, the
// column or the message) with their total.
func (s *Service) ImportProblemsPage(ctx context.Context, a store.Actor, id string, p store.ListPage) ([]Problem, int64, error) {
	ps, total, err := s.db.ImportProblemsPage(ctx, a, id, p)
	if err != nil {
		return nil, 0, err
	}
	return problemsOf(ps), total, nil
}

func problemsOf(ps []store.ImportProblem) []Problem {
	out := make([]Problem, len(ps))
	for i, p := range ps {
		out[i] = Problem{Problem: importfile.Problem{Line: p.Line, Column: p.Col, Code: p.Code, Message: p.Message, MessageEN: p.MessageEN}, Severity: p.Severity}
	}
	return out
}

// ReportRows strips the severities for importfile's report writers.
func ReportRows(ps []Problem) []importfile.Problem {
	out := make([]importfile.Problem, len(ps))
	for i, p := range ps {
		out[i] = p.Problem
	}
	return out
}

// Apply is the command line's import: a dry run and, when commit is set and
// the file is clean, its commit in the same call. A list identical to the
// current one writes nothing at all.
func (s *Service) Apply(ctx context.Context, a store.Actor, d *DryRun) (Preview, bool, error) {
	if !d.Committable() {
		return Preview{}, false, apperr.New(syncproto.CodeConflict,
			fmt.Sprintf("文件有 %d 处错误，整份文件不能导入", d.Summary.Errors),
			fmt.Sprintf("the file has %d errors, so none of it can be imported", d.Summary.Errors)).
			With("reason", "file_has_errors").With("error_count", d.Summary.Errors)
	}
	if !d.HasChanges() {
		return Preview{BranchID: d.Branch.ID, Status: store.SnapshotPreviewed, Version: d.Summary.BaseVersion,
			BaseVersion: d.Summary.BaseVersion, FileSHA256: d.sha, FileName: d.fileName, Summary: d.Summary}, false, nil
	}
	p, err := s.Save(ctx, a, d)
	if err != nil {
		return Preview{}, false, err
	}
	return s.CommitImport(ctx, a, p.ID)
}
