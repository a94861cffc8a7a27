package console

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/store"
)

type reportsView struct {
	Month     string
	Org       string // org unit code, as the report service names units
	Orgs      []orgChoice
	Monthly   report.MonthlyView
	List      listState
	Lines     []report.Line
	Pager     pager
	MayClose  bool
	MonthOver bool

	// The branch's frozen versions of every month, paged in the store.
	VersionList  listState
	Versions     []report.MonthVersion
	VersionPager pager
}

// reportOrg is the org unit code a report page looks at: the one asked for,
// or the actor's own unit; an admin starts with the first branch.
func reportOrg(c *gin.Context, a store.Actor, units []store.OrgUnit) string {
	if org := c.Query("org"); org != "" {
		return org
	}
	for _, u := range units {
		if u.ID == a.OrgUnitID && a.Role != store.RoleAdmin {
			return u.Code
		}
	}
	for _, u := range units {
		if u.Kind == store.KindBranch {
			return u.Code
		}
	}
	return ""
}

func (cs *Console) previousMonth() string {
	now := cs.d.Now().In(cs.d.Report.Location())
	return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, now.Location()).AddDate(0, -1, 0).Format("2006-01")
}

// reportsPage shows a month's figures for a scope, its frozen versions with
// their files, and the close button; everything through the report service,
// which decides who may see and do what.
func (cs *Console) reportsPage(c *gin.Context) {
	ctx, a := c.Request.Context(), actor(c)
	orgs, units, err := cs.orgChoices(ctx, a)
	if err != nil {
		cs.fail(c, err)
		return
	}
	allowed := map[string]string{"name": "", "level": ""}
	for _, f := range report.Figures() {
		allowed[f.Code] = ""
	}
	ls := parseList(c, allowed, "level", false, "month", "org")
	month := ls.Filter("month")
	if month == "" {
		month = cs.previousMonth()
		ls.filters.Set("month", month)
	}
	org := reportOrg(c, a, units)
	ls.filters.Set("org", org)
	m, err := cs.d.Report.Monthly(ctx, a, month, org)
	if err != nil {
		cs.fail(c, err)
		return
	}
	v := reportsView{Month: m.Month, Org: org, Orgs: orgs, Monthly: m, List: ls,
		MayClose:  report.MayClose(a) && m.Org.Kind == store.KindBranch,
		MonthOver: m.Month < cs.d.Now().In(cs.d.Report.Location()).Format("2006-01")}
	// Versions are searched by month (from its start, "2026" or "2026-03")
	// or by the maker's username.
	v.VersionList = parseSubList(c, "v", "versions", store.ReportVersionSorts, "month", true)
	vl, err := cs.d.Report.VersionsPage(ctx, a, org, v.VersionList.storePage())
	if err != nil {
		cs.fail(c, err)
		return
	}
	v.Versions, v.VersionPager = vl.Versions, v.VersionList.pager(vl.Total)
	q := strings.ToLower(ls.Q)
	lines := make([]report.Line, 0, len(m.Lines))
	for _, l := range m.Lines {
		if q != "" && !strings.Contains(strings.ToLower(l.Name), q) && !strings.HasPrefix(strings.ToLower(l.Code), q) {
			continue
		}
		lines = append(lines, l)
	}
	if ls.Sort != "level" {
		slices.SortStableFunc(lines, func(x, y report.Line) int {
			var r int
			if ls.Sort == "name" {
				r = cmp.Compare(x.Name, y.Name)
			} else {
				r = cmp.Compare(x.Figures[ls.Sort], y.Figures[ls.Sort])
			}
			if ls.Desc {
				return -r
			}
			return r
		})
	} else if ls.Desc {
		slices.Reverse(lines)
	}
	v.Lines, v.Pager = pageOf(lines, ls.Page), ls.pager(int64(len(lines)))
	cs.render(c, http.StatusOK, "reports", cs.page(c, "reports", "nav.reports", v))
}

func (cs *Console) reportClose(c *gin.Context) {
	month, org := c.Param("month"), c.PostForm("org")
	if _, err := cs.d.Report.Close(c.Request.Context(), actor(c), month, org); err != nil {
		cs.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, Base+"/reports?"+url.Values{"month": {month}, "org": {org}, "ok": {"rep.ok.closed"}}.Encode())
}

func versionOf(c *gin.Context) (int, bool) {
	n, err := strconv.Atoi(c.Param("version"))
	return n, err == nil && n >= 1 && n <= 1_000_000
}

type diffView struct {
	D       report.DiffView
	Labels  map[string]string
	Org     string
	Figures []report.FigureInfo

	LineList  listState
	Lines     []report.DiffLine
	LinePager pager
	LateList  listState
	Late      []report.LateRecord
	LatePager pager
}

var levelOrder = map[string]int{store.LevelBranch: 0, store.LevelCounty: 1, store.LevelOutlet: 2, store.LevelOfficer: 3}

// diffLineSorts: the lines a restatement changed, searched by the unit's
// or officer's name or code.
var diffLineSorts = memSorts[report.DiffLine]{
	"level":  func(a, b report.DiffLine) int { return cmp.Compare(levelOrder[a.Level], levelOrder[b.Level]) },
	"name":   func(a, b report.DiffLine) int { return cmp.Compare(a.Name, b.Name) },
	"change": func(a, b report.DiffLine) int { return cmp.Compare(a.Change, b.Change) },
}

func diffLineMatch(l report.DiffLine, q string) bool { return has(l.Name, q) || prefixed(l.Code, q) }

func diffLineTie(a, b report.DiffLine) int {
	return cmp.Or(cmp.Compare(levelOrder[a.Level], levelOrder[b.Level]), cmp.Compare(a.Code, b.Code),
		cmp.Compare(a.CountyID+a.OutletID+a.OfficerID, b.CountyID+b.OutletID+b.OfficerID))
}

// lateSorts: the late records behind a restatement, searched by household
// number, officer or kind of record.
var lateSorts = memSorts[report.LateRecord]{
	"arrived":      func(a, b report.LateRecord) int { return a.ArrivedAt.Compare(b.ArrivedAt) },
	"household_no": func(a, b report.LateRecord) int { return cmp.Compare(a.HouseholdNo, b.HouseholdNo) },
	"officer":      func(a, b report.LateRecord) int { return cmp.Compare(a.Officer, b.Officer) },
}

func lateMatch(r report.LateRecord, q string) bool {
	return prefixed(r.HouseholdNo, q) || has(r.Officer, q) || has(r.Entity, q)
}

func lateTie(a, b report.LateRecord) int {
	return cmp.Or(cmp.Compare(a.ChangeSeq, b.ChangeSeq), cmp.Compare(a.Entity, b.Entity), cmp.Compare(a.EntityID, b.EntityID))
}

// reportDiff shows what a restatement changed from the version it replaces.
func (cs *Console) reportDiff(c *gin.Context) {
	n, ok := versionOf(c)
	if !ok {
		cs.renderError(c, http.StatusBadRequest, msgBadVersion)
		return
	}
	org := c.Query("org")
	d, err := cs.d.Report.Diff(c.Request.Context(), actor(c), c.Param("month"), n, org)
	if err != nil {
		cs.fail(c, err)
		return
	}
	l := cs.lang(c)
	labels := map[string]string{}
	for _, f := range report.Figures() {
		labels[f.Code] = f.LabelZH
		if l.EN() {
			labels[f.Code] = f.LabelEN
		}
	}
	v := diffView{D: d, Labels: labels, Org: org}
	// Both lists come whole from the report service, which computes the
	// difference, so they are searched, sorted and paged here.
	v.LineList = parseList(c, diffLineSorts.allowed(), "level", false, "org")
	v.Lines, v.LinePager = pageMem(v.LineList, d.Lines, diffLineMatch, diffLineSorts, diffLineTie)
	v.LateList = parseSubList(c, "l", "late", lateSorts.allowed(), "arrived", false)
	v.Late, v.LatePager = pageMem(v.LateList, d.LateRecords, lateMatch, lateSorts, lateTie)
	cs.render(c, http.StatusOK, "reportdiff", cs.page(c, "reports", "rep.diff", v))
}

// reportFile downloads a stored XLSX or CSV of a version.
func (cs *Console) reportFile(c *gin.Context) {
	n, ok := versionOf(c)
	if !ok {
		cs.renderError(c, http.StatusBadRequest, msgBadVersion)
		return
	}
	lang := c.DefaultQuery("lang", "zh")
	f, err := cs.d.Report.File(c.Request.Context(), actor(c), c.Param("month"), n, c.Param("format"), lang, c.Query("org"))
	if err != nil {
		cs.fail(c, err)
		return
	}
	ct := "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	if f.Format == report.FormatCSV {
		ct = "text/csv; charset=utf-8"
	}
	c.Header("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(f.FileName))
	c.Header("X-Content-SHA256", f.SHA256)
	c.Data(http.StatusOK, ct, f.Content)
}
