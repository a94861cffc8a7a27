package report

import (
	"context"
	"sort"
	"time"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Org names an org unit in a view.
type Org struct {
	ID   string `json:"id"`
	Code string `json:"code"`
	Name string `json:"name"`
	Kind string `json:"kind"`
}

// FigureInfo describes a figure column of the views.
type FigureInfo struct {
	Code    string `json:"code"`
	LabelZH string `json:"label_zh"`
	LabelEN string `json:"label_en"`
	Unit    string `json:"unit"`
	Derived bool   `json:"derived,omitempty"`
	Basis   bool   `json:"basis,omitempty"`
}

// Figures lists every figure definition for the views.
func Figures() []FigureInfo {
	out := make([]FigureInfo, 0, len(store.ReportFigureDefs))
	for _, f := range store.ReportFigureDefs {
		out = append(out, FigureInfo{Code: f.Code, LabelZH: f.LabelZH, LabelEN: f.LabelEN, Unit: f.Unit, Derived: !f.Stored(), Basis: f.Basis})
	}
	return out
}

// Line is one row of a report: a unit's or an officer's figures.
type Line struct {
	Level      string             `json:"level"`
	CountyID   string             `json:"county_id,omitempty"`
	OutletID   string             `json:"outlet_id,omitempty"`
	OfficerID  string             `json:"officer_id,omitempty"`
	Code       string             `json:"code"` // org unit code, or the officer's username
	Name       string             `json:"name"`
	CountyName string             `json:"county_name,omitempty"`
	OutletName string             `json:"outlet_name,omitempty"`
	Figures    map[string]float64 `json:"figures"`
	raw        store.ReportFigures
	key        store.ReportKey
	countyCode string
	outletCode string
}

// MonthlyView is the current figures of a month for a scope.
type MonthlyView struct {
	Month              string       `json:"month"`
	Org                Org          `json:"org"`
	OfficerID          string       `json:"officer_id,omitempty"`
	Status             string       `json:"status"` // open or closed
	LatestVersion      int          `json:"latest_version,omitempty"`
	RestatementPending bool         `json:"restatement_pending"`
	UpdatedAt          *time.Time   `json:"updated_at,omitempty"`
	Figures            []FigureInfo `json:"figures"`
	Lines              []Line       `json:"lines"`
}

// names resolves ids to display names for the lines of a branch.
type names struct {
	units  map[string]store.OrgUnit
	people map[string]store.ReportPerson
}

func (s *Service) names(ctx context.Context, branchID string) (names, error) {
	us, err := s.db.ReportUnits(ctx, branchID)
	if err != nil {
		return names{}, err
	}
	ps, err := s.db.ReportPeople(ctx, branchID)
	if err != nil {
		return names{}, err
	}
	n := names{units: map[string]store.OrgUnit{}, people: ps}
	for _, u := range us {
		n.units[u.ID] = u
	}
	return n, nil
}

// noOfficer names the officer rows of households nobody is assigned to.
const noOfficerZH, noOfficerEN = "（未分配客户经理）", "(no officer assigned)"

func (n names) line(k store.ReportKey, f store.ReportFigures) Line {
	l := Line{Level: k.Level, CountyID: k.CountyID, OutletID: k.OutletID, OfficerID: k.OfficerID, raw: f, key: k}
	if c, ok := n.units[k.CountyID]; ok {
		l.CountyName, l.countyCode = c.Name, c.Code
	}
	if o, ok := n.units[k.OutletID]; ok {
		l.OutletName, l.outletCode = o.Name, o.Code
	}
	switch k.Level {
	case store.LevelOfficer:
		if k.OfficerID == "" {
			l.Name = noOfficerZH
		} else if p, ok := n.people[k.OfficerID]; ok {
			l.Code, l.Name = p.Username, p.DisplayName
			if l.Name == "" {
				l.Name = p.Username
			}
		} else {
			l.Code, l.Name = k.OfficerID, k.OfficerID
		}
	case store.LevelBranch:
		for _, u := range n.units {
			if u.Kind == store.KindBranch {
				l.Code, l.Name = u.Code, u.Name
			}
		}
	case store.LevelCounty:
		l.Code, l.Name = l.countyCode, l.CountyName
	case store.LevelOutlet:
		l.Code, l.Name = l.outletCode, l.OutletName
	}
	l.Figures = figureMap(f)
	return l
}

func figureMap(f store.ReportFigures) map[string]float64 {
	m := make(map[string]float64, len(store.ReportFigureDefs))
	for _, d := range store.ReportFigureDefs {
		m[d.Code] = d.Value(f)
	}
	return m
}

var levelOrder = map[string]int{store.LevelBranch: 0, store.LevelCounty: 1, store.LevelOutlet: 2, store.LevelOfficer: 3}

// sortLines orders lines branch, counties, outlets, officers, each by code.
func sortLines(ls []Line) {
	sort.SliceStable(ls, func(i, j int) bool {
		a, b := ls[i], ls[j]
		if levelOrder[a.Level] != levelOrder[b.Level] {
			return levelOrder[a.Level] < levelOrder[b.Level]
		}
		if a.countyCode != b.countyCode {
			return a.countyCode < b.countyCode
		}
		if a.outletCode != b.outletCode {
			return a.outletCode < b.outletCode
		}
		return a.Code < b.Code
	})
}

func orgOf(u store.OrgUnit) Org { return Org{ID: u.ID, Code: u.Code, Name: u.Name, Kind: u.Kind} }

// Monthly returns the current figures of a month for the actor's scope.
// They are read from the report tables, never computed per request.
func (s *Service) Monthly(ctx context.Context, a store.Actor, month, org string) (MonthlyView, error) {
	m, err := s.month(month)
	if err != nil {
		return MonthlyView{}, err
	}
	sc, err := s.resolve(ctx, a, org)
	if err != nil {
		return MonthlyView{}, err
	}
	return s.monthly(ctx, sc, m)
}

func (s *Service) monthly(ctx context.Context, sc Scope, m string) (MonthlyView, error) {
	rows, err := s.db.ReportRows(ctx, sc.Branch.ID, m)
	if err != nil {
		return MonthlyView{}, err
	}
	n, err := s.names(ctx, sc.Branch.ID)
	if err != nil {
		return MonthlyView{}, err
	}
	v := MonthlyView{Month: m, Org: orgOf(sc.Unit), OfficerID: sc.OfficerID, Status: "open", Figures: Figures(), Lines: []Line{}}
	for _, r := range rows {
		if !sc.contains(r.ReportKey) {
			continue
		}
		v.Lines = append(v.Lines, n.line(r.ReportKey, r.ReportFigures))
		if v.UpdatedAt == nil || r.UpdatedAt.After(*v.UpdatedAt) {
			t := r.UpdatedAt.UTC()
			v.UpdatedAt = &t
		}
	}
	sortLines(v.Lines)
	vs, err := s.db.ReportVersions(ctx, sc.Branch.ID, m)
	if err != nil {
		return v, err
	}
	if len(vs) > 0 {
		v.Status, v.LatestVersion = "closed", vs[len(vs)-1].Version
	}
	st, ok, err := s.db.ReportMonthState(ctx, sc.Branch.ID, m)
	if err != nil {
		return v, err
	}
	v.RestatementPending = ok && st.RestatePending
	return v, nil
}

// VersionInfo describes one frozen version.
type VersionInfo struct {
	Version     int        `json:"version"`
	Kind        string     `json:"kind"` // close or restatement
	CreatedAt   time.Time  `json:"created_at"`
	CreatedBy   string     `json:"created_by,omitempty"` // username; empty for the schedule
	Reason      string     `json:"reason,omitempty"`
	LateRecords int        `json:"late_records"`
	Files       []FileInfo `json:"files,omitempty"`
}

// FileInfo describes a stored report file.
type FileInfo struct {
	Format    string    `json:"format"`
	Lang      string    `json:"lang"`
	FileName  string    `json:"file_name"`
	SizeBytes int64     `json:"size_bytes"`
	SHA256    string    `json:"sha256"`
	CreatedAt time.Time `json:"created_at"`
}

// VersionsView lists a month's versions.
type VersionsView struct {
	Month    string        `json:"month"`
	Org      Org           `json:"org"`
	Versions []VersionInfo `json:"versions"`
}

// Versions lists the frozen versions of a month. Staff only: a version is
// the branch's report.
func (s *Service) Versions(ctx context.Context, a store.Actor, month, org string) (VersionsView, error) {
	m, err := s.month(month)
	if err != nil {
		return VersionsView{}, err
	}
	sc, err := s.resolve(ctx, a, org)
	if err != nil {
		return VersionsView{}, err
	}
	vs, err := s.db.ReportVersions(ctx, sc.Branch.ID, m)
	if err != nil {
		return VersionsView{}, err
	}
	out := VersionsView{Month: m, Org: orgOf(sc.Unit), Versions: []VersionInfo{}}
	infos, err := s.versionInfos(ctx, a, sc.Branch.ID, vs)
	if err != nil {
		return out, err
	}
	out.Versions = append(out.Versions, infos...)
	return out, nil
}

// VersionList is one page of a branch's versions of every month.
type VersionList struct {
	Org      Org            `json:"org"`
	Versions []MonthVersion `json:"versions"`
	Total    int64          `json:"total"`
}

// MonthVersion is a version with its month.
type MonthVersion struct {
	Month string `json:"month"`
	VersionInfo
}

// VersionsPage pages through the frozen versions of every month of the
// branch the org unit belongs to (sort keys in store.ReportVersionSorts; the
// search matches the month from its start or the maker's username).
func (s *Service) VersionsPage(ctx context.Context, a store.Actor, org string, p store.ListPage) (VersionList, error) {
	sc, err := s.resolve(ctx, a, org)
	if err != nil {
		return VersionList{}, err
	}
	vs, total, err := s.db.ReportVersionsPage(ctx, sc.Branch.ID, p)
	if err != nil {
		return VersionList{}, err
	}
	infos, err := s.versionInfos(ctx, a, sc.Branch.ID, vs)
	if err != nil {
		return VersionList{}, err
	}
	out := VersionList{Org: orgOf(sc.Unit), Versions: make([]MonthVersion, len(vs)), Total: total}
	for i, v := range vs {
		out.Versions[i] = MonthVersion{Month: v.Month, VersionInfo: infos[i]}
	}
	return out, nil
}

// versionInfos describes versions, with their files for those who may
// download them.
func (s *Service) versionInfos(ctx context.Context, a store.Actor, branchID string, vs []store.ReportVersion) ([]VersionInfo, error) {
	people, err := s.db.ReportPeople(ctx, branchID)
	if err != nil {
		return nil, err
	}
	out := make([]VersionInfo, 0, len(vs))
	for _, v := range vs {
		vi := versionInfo(v, people)
		if MayReadFiles(a) {
			fs, err := s.db.ReportFiles(ctx, branchID, v.Month, v.Version)
			if err != nil {
				return nil, err
			}
			vi.Files = fileInfos(fs)
		}
		out = append(out, vi)
	}
	return out, nil
}

func versionInfo(v store.ReportVersion, people map[string]store.ReportPerson) VersionInfo {
	vi := VersionInfo{Version: v.Version, Kind: v.Kind, CreatedAt: v.CreatedAt.UTC(), Reason: v.Reason, LateRecords: v.LateRecords}
	if p, ok := people[v.CreatedBy]; ok {
		vi.CreatedBy = p.Username
	}
	return vi
}

func fileInfos(fs []store.ReportFile) []FileInfo {
	out := make([]FileInfo, 0, len(fs))
	for _, f := range fs {
		out = append(out, FileInfo{Format: f.Format, Lang: f.Lang, FileName: f.FileName, SizeBytes: f.SizeBytes, SHA256: f.SHA256, CreatedAt: f.CreatedAt.UTC()})
	}
	return out
}

// VersionView is one frozen version's figures for a scope.
type VersionView struct {
	Month   string       `json:"month"`
	Org     Org          `json:"org"`
	Version VersionInfo  `json:"version"`
	Figures []FigureInfo `json:"figures"`
	Lines   []Line       `json:"lines"`
}

var errNoVersion = apperr.New(syncproto.CodeNotFound, "该月份没有这个版本", "this month has no such version")

// Version returns a frozen version's figures.
func (s *Service) Version(ctx context.Context, a store.Actor, month string, version int, org string) (VersionView, error) {
	m, err := s.month(month)
	if err != nil {
		return VersionView{}, err
	}
	sc, err := s.resolve(ctx, a, org)
	if err != nil {
		return VersionView{}, err
	}
	return s.version(ctx, sc, m, version)
}

func (s *Service) version(ctx context.Context, sc Scope, m string, version int) (VersionView, error) {
	v, rows, err := s.db.ReportVersionRows(ctx, sc.Branch.ID, m, version)
	if err == store.ErrNotFound {
		return VersionView{}, errNoVersion.With("version", version)
	}
	if err != nil {
		return VersionView{}, err
	}
	n, err := s.names(ctx, sc.Branch.ID)
	if err != nil {
		return VersionView{}, err
	}
	out := VersionView{Month: m, Org: orgOf(sc.Unit), Version: versionInfo(v, n.people), Figures: Figures(), Lines: []Line{}}
	for _, r := range rows {
		if sc.contains(r.ReportKey) {
			out.Lines = append(out.Lines, n.line(r.ReportKey, r.ReportFigures))
		}
	}
	sortLines(out.Lines)
	return out, nil
}

// DiffLine is one row that a restatement changed.
type DiffLine struct {
	Level     string        `json:"level"`
	CountyID  string        `json:"county_id,omitempty"`
	OutletID  string        `json:"outlet_id,omitempty"`
	OfficerID string        `json:"officer_id,omitempty"`
	Code      string        `json:"code"`
	Name      string        `json:"name"`
	Change    string        `json:"change"` // changed, added or removed
	Figures   []FigureDelta `json:"figures"`
}

// FigureDelta is one figure that moved between two versions.
type FigureDelta struct {
	Code   string  `json:"code"`
	Before float64 `json:"before"`
	After  float64 `json:"after"`
	Delta  float64 `json:"delta"`
}

// LateRecord is a record that arrived after the month was closed.
type LateRecord struct {
	Entity      string    `json:"entity"`
	EntityID    string    `json:"entity_id"`
	HouseholdID string    `json:"household_id"`
	HouseholdNo string    `json:"household_no,omitempty"`
	Officer     string    `json:"officer,omitempty"` // username
	OutletID    string    `json:"outlet_id,omitempty"`
	ArrivedAt   time.Time `json:"arrived_at"`
	ChangeSeq   int64     `json:"change_seq"`
}

// DiffView is the line-by-line difference of a version from the one
// before, with the late records behind it.
type DiffView struct {
	Month       string       `json:"month"`
	Org         Org          `json:"org"`
	From        int          `json:"from_version"`
	To          int          `json:"to_version"`
	Lines       []DiffLine   `json:"lines"`
	LateRecords []LateRecord `json:"late_records"`
}

// Diff compares version n with version n-1 (version 1 has nothing before it).
func (s *Service) Diff(ctx context.Context, a store.Actor, month string, version int, org string) (DiffView, error) {
	m, err := s.month(month)
	if err != nil {
		return DiffView{}, err
	}
	sc, err := s.resolve(ctx, a, org)
	if err != nil {
		return DiffView{}, err
	}
	return s.diff(ctx, sc, m, version)
}

func (s *Service) diff(ctx context.Context, sc Scope, m string, version int) (DiffView, error) {
	if version < 2 {
		return DiffView{}, apperr.Invalid("version", "版本 1 是关账版本，没有可比较的前一版本", "version 1 is the close; there is no earlier version to compare with").With("version", version)
	}
	after, err := s.version(ctx, sc, m, version)
	if err != nil {
		return DiffView{}, err
	}
	before, err := s.version(ctx, sc, m, version-1)
	if err != nil {
		return DiffView{}, err
	}
	out := DiffView{Month: m, Org: orgOf(sc.Unit), From: version - 1, To: version, Lines: []DiffLine{}, LateRecords: []LateRecord{}}
	prev := map[store.ReportKey]Line{}
	for _, l := range before.Lines {
		prev[l.key] = l
	}
	seen := map[store.ReportKey]bool{}
	for _, l := range after.Lines {
		seen[l.key] = true
		p, ok := prev[l.key]
		change := "changed"
		if !ok {
			change = "added"
		}
		if d := deltas(p.raw, l.raw); len(d) > 0 {
			out.Lines = append(out.Lines, DiffLine{Level: l.Level, CountyID: l.CountyID, OutletID: l.OutletID, OfficerID: l.OfficerID,
				Code: l.Code, Name: l.Name, Change: change, Figures: d})
		}
	}
	for _, l := range before.Lines {
		if !seen[l.key] {
			if d := deltas(l.raw, store.ReportFigures{}); len(d) > 0 {
				out.Lines = append(out.Lines, DiffLine{Level: l.Level, CountyID: l.CountyID, OutletID: l.OutletID, OfficerID: l.OfficerID,
					Code: l.Code, Name: l.Name, Change: "removed", Figures: d})
			}
		}
	}
	sort.SliceStable(out.Lines, func(i, j int) bool { return levelOrder[out.Lines[i].Level] < levelOrder[out.Lines[j].Level] })
	recs, err := s.db.ReportLateRecords(ctx, sc.Branch.ID, m, version)
	if err != nil {
		return out, err
	}
	var hids []string
	for _, r := range recs {
		hids = append(hids, r.HouseholdID)
	}
	nos, err := s.db.ReportHouseholdNos(ctx, sc.Branch.ID, hids)
	if err != nil {
		return out, err
	}
	people, err := s.db.ReportPeople(ctx, sc.Branch.ID)
	if err != nil {
		return out, err
	}
	for _, r := range recs {
		k := store.ReportKey{Level: store.LevelOfficer, CountyID: r.CountyID, OutletID: r.OutletID, OfficerID: r.OfficerID}
		if !sc.contains(k) {
			continue
		}
		out.LateRecords = append(out.LateRecords, LateRecord{Entity: r.Entity, EntityID: r.EntityID, HouseholdID: r.HouseholdID,
			HouseholdNo: nos[r.HouseholdID], Officer: people[r.OfficerID].Username, OutletID: r.OutletID, ArrivedAt: r.ArrivedAt.UTC(), ChangeSeq: r.ChangeSeq})
	}
	return out, nil
}

func deltas(a, b store.ReportFigures) []FigureDelta {
	var out []FigureDelta
	for _, f := range store.ReportFigureDefs {
		x, y := f.Value(a), f.Value(b)
		if x != y {
			out = append(out, FigureDelta{Code: f.Code, Before: x, After: y, Delta: y - x})
		}
	}
	return out
}

// Close closes a month for a branch as version 1 and stores its files.
func (s *Service) Close(ctx context.Context, a store.Actor, month, org string) (VersionInfo, error) {
	m, err := ParseMonth(month)
	if err != nil {
		return VersionInfo{}, err
	}
	if !MayClose(a) {
		return VersionInfo{}, store.ErrReportCloseForbidden
	}
	sc, err := s.resolve(ctx, a, org)
	if err != nil {
		return VersionInfo{}, err
	}
	if sc.Unit.Kind != store.KindBranch {
		return VersionInfo{}, errNotBranch.With("org", sc.Unit.Code)
	}
	v, _, err := s.db.ReportCloseMonth(ctx, a, sc.Branch.ID, m, s.clock(), false)
	if err != nil {
		return VersionInfo{}, err
	}
	if err := s.storeFiles(ctx, v); err != nil {
		// The schedule's next tick stores them; the close itself stands.
		s.log.ErrorContext(ctx, "report files not stored yet", "branch_id", v.BranchID, "month", v.Month, "version", v.Version, "err", err)
	}
	people, _ := s.db.ReportPeople(ctx, sc.Branch.ID)
	vi := versionInfo(v, people)
	fs, err := s.db.ReportFiles(ctx, sc.Branch.ID, m, v.Version)
	if err == nil {
		vi.Files = fileInfos(fs)
	}
	return vi, nil
}

// File returns a stored file of a version. Branch managers and admins only.
func (s *Service) File(ctx context.Context, a store.Actor, month string, version int, format, lang, org string) (store.ReportFile, error) {
	m, err := s.month(month)
	if err != nil {
		return store.ReportFile{}, err
	}
	if !MayReadFiles(a) {
		return store.ReportFile{}, errFilesStaff
	}
	if format != FormatXLSX && format != FormatCSV {
		return store.ReportFile{}, apperr.Invalid("format", "格式应为 xlsx 或 csv", "format must be xlsx or csv").With("value", clip(format, 16))
	}
	if lang != "zh" && lang != "en" {
		return store.ReportFile{}, apperr.Invalid("lang", "语言应为 zh 或 en", "lang must be zh or en").With("value", clip(lang, 16))
	}
	sc, err := s.resolve(ctx, a, org)
	if err != nil {
		return store.ReportFile{}, err
	}
	f, err := s.db.ReportFileContent(ctx, sc.Branch.ID, m, version, format, lang)
	if err == store.ErrNotFound {
		return f, apperr.New(syncproto.CodeNotFound, "没有这个报表文件", "no such report file").With("version", version).With("format", format)
	}
	return f, err
}

// VersionFiles lists the stored files of a version. Branch managers and admins only.
func (s *Service) VersionFiles(ctx context.Context, a store.Actor, month string, version int, org string) ([]FileInfo, error) {
	m, err := s.month(month)
	if err != nil {
		return nil, err
	}
	if !MayReadFiles(a) {
		return nil, errFilesStaff
	}
	sc, err := s.resolve(ctx, a, org)
	if err != nil {
		return nil, err
	}
	vs, err := s.db.ReportVersions(ctx, sc.Branch.ID, m)
	if err != nil {
		return nil, err
	}
	if version > len(vs) {
		return nil, errNoVersion.With("version", version)
	}
	fs, err := s.db.ReportFiles(ctx, sc.Branch.ID, m, version)
	if err != nil {
		return nil, err
	}
	return fileInfos(fs), nil
}

// CloseAsOperator closes a branch's month from the command line, as the
// schedule would (no acting user); an already closed month is a conflict.
func (s *Service) CloseAsOperator(ctx context.Context, month, org string) (VersionInfo, error) {
	m, err := ParseMonth(month)
	if err != nil {
		return VersionInfo{}, err
	}
	sc, err := s.operatorScope(ctx, org)
	if err != nil {
		return VersionInfo{}, err
	}
	if sc.Unit.Kind != store.KindBranch {
		return VersionInfo{}, errNotBranch.With("org", sc.Unit.Code)
	}
	v, ok, err := s.db.ReportCloseMonth(ctx, store.Actor{}, sc.Branch.ID, m, s.clock(), true)
	if err != nil {
		return VersionInfo{}, err
	}
	if !ok {
		return VersionInfo{}, store.ErrReportAlreadyClosed.With("month", m)
	}
	if err := s.storeFiles(ctx, v); err != nil {
		return VersionInfo{}, err
	}
	vi := versionInfo(v, nil)
	fs, err := s.db.ReportFiles(ctx, sc.Branch.ID, m, v.Version)
	if err != nil {
		return vi, err
	}
	vi.Files = fileInfos(fs)
	return vi, nil
}
