package console

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/store"
)

// orgChoice is an org unit in the actor's reach, for the scope selector.
type orgChoice struct {
	ID, Code, Label, Kind string
}

func (cs *Console) orgChoices(ctx context.Context, a store.Actor) ([]orgChoice, []store.OrgUnit, error) {
	units, err := cs.d.DB.ListOrgUnits(ctx, a)
	if err != nil {
		return nil, nil, err
	}
	out := make([]orgChoice, 0, len(units))
	for _, u := range units {
		indent := ""
		switch u.Kind {
		case store.KindCounty:
			indent = "　"
		case store.KindOutlet:
			indent = "　　"
		}
		out = append(out, orgChoice{ID: u.ID, Code: u.Code, Label: indent + u.Name, Kind: u.Kind})
	}
	return out, units, nil
}

// scopeParam is the org unit a page looks at: the one asked for, or the
// actor's own; an admin, who has no unit of their own to look at, starts
// with the first branch.
func scopeParam(c *gin.Context, a store.Actor, units []store.OrgUnit) string {
	if org := c.Query("org"); org != "" {
		return org
	}
	if a.Role == store.RoleAdmin {
		for _, u := range units {
			if u.Kind == store.KindBranch {
				return u.ID
			}
		}
	}
	return ""
}

func (cs *Console) currentMonth() string {
	return coverage.MonthOf(cs.d.Now(), cs.d.Coverage.Location()).String()
}

// --- Overview ---------------------------------------------------------------

// bar is one outlet in the coverage chart, laid out in SVG user units.
type bar struct {
	Label             string
	OrgID             string
	Y, TextY, W       int
	Pct               string
	Covered, Required int
	Missing           int
}

const (
	chartLabelW = 170
	chartBarW   = 520
	chartRowH   = 34
)

type overviewView struct {
	Month   string
	Org     string
	Orgs    []orgChoice
	Summary coverage.Summary
	Bars    []bar
	ChartH  int
	ChartW  int
	BarX    int
	TrackW  int
	PctX    int
	// The overview's panels show the top of lists that live, paged,
	// sorted and searchable, on their own pages: stale phones on the
	// devices page, flagged visits in the review queue, overdue
	// assignments in the monthly report sorted by that figure.
	Stale       []coverage.OfficerHealth
	StaleMore   int
	StaleDays   int
	Flagged     []coverage.ReviewItem
	MoreFlags   bool
	Overdue     []report.Line
	OverdueMore int
	OverdueN    float64
	OverdueAt   *time.Time
	OverdueLink string
}

func (cs *Console) overview(c *gin.Context) {
	ctx, a := c.Request.Context(), actor(c)
	orgs, units, err := cs.orgChoices(ctx, a)
	if err != nil {
		cs.fail(c, err)
		return
	}
	month := c.DefaultQuery("month", cs.currentMonth())
	org := scopeParam(c, a, units)
	l, err := cs.d.Coverage.Ledger(ctx, a, coverage.LedgerRequest{Month: month, OrgID: org})
	if err != nil {
		cs.fail(c, err)
		return
	}
	v := overviewView{Month: l.Month, Org: org, Orgs: orgs, Summary: l.Summary, StaleDays: 3}
	v.Bars = outletBars(l, units)
	v.ChartW, v.BarX, v.TrackW, v.PctX = chartLabelW+chartBarW+110, chartLabelW, chartBarW, chartLabelW+chartBarW+8
	v.ChartH = len(v.Bars)*chartRowH + 16

	if d, err := strconv.Atoi(c.Query("stale")); err == nil && d >= 1 && d <= 90 {
		v.StaleDays = d
	}
	health, err := cs.d.Coverage.DeviceHealth(ctx, a, l.Scope.ID, "")
	if err != nil {
		cs.fail(c, err)
		return
	}
	cut := cs.d.Now().AddDate(0, 0, -v.StaleDays)
	for _, o := range health.Officers {
		if o.NeverSynced || o.PendingChanges > 0 || (o.LastSyncAt != nil && o.LastSyncAt.Before(cut)) {
			v.Stale = append(v.Stale, o)
		}
	}
	v.Stale, v.StaleMore = top(v.Stale)

	q, err := cs.d.Coverage.Review(ctx, a, coverage.ReviewRequest{Status: store.ReviewFlagged, OrgID: l.Scope.ID, Limit: strconv.Itoa(overviewTop)})
	if err != nil {
		cs.fail(c, err)
		return
	}
	v.Flagged, v.MoreFlags = q.Visits, q.HasMore

	if err := cs.overdue(c, a, units, l.Scope.ID, &v); err != nil {
		cs.fail(c, err)
		return
	}
	cs.render(c, http.StatusOK, "overview", cs.page(c, "overview", "nav.overview", v))
}

func (cs *Console) today() string {
	return cs.d.Now().In(cs.d.Coverage.Location()).Format(time.DateOnly)
}

// overdue fills the overdue assignments from this month's report, whose
// figure assignments_overdue is the one definition of "overdue": the
// officer's deadline has passed and no counted visit has met the household
// since it was assigned. The outlet and officer lines that have any are
// listed, outlets first.
func (cs *Console) overdue(c *gin.Context, a store.Actor, units []store.OrgUnit, orgID string, v *overviewView) error {
	code := ""
	for _, u := range units {
		if u.ID == orgID {
			code = u.Code
		}
	}
	month := cs.d.Now().In(cs.d.Report.Location()).Format("2006-01")
	m, err := cs.d.Report.Monthly(c.Request.Context(), a, month, code)
	if err != nil {
		return err
	}
	v.OverdueAt = m.UpdatedAt
	for _, l := range m.Lines {
		n := l.Figures[overdueFigure]
		if n <= 0 {
			continue
		}
		switch l.Level {
		case store.LevelBranch:
			v.OverdueN = n
		case store.LevelCounty:
			if m.Org.Kind == store.KindCounty {
				v.OverdueN = n
			}
		case store.LevelOutlet:
			if m.Org.Kind == store.KindOutlet {
				v.OverdueN = n
			}
			v.Overdue = append(v.Overdue, l)
		case store.LevelOfficer:
			v.Overdue = append(v.Overdue, l)
		}
	}
	slices.SortStableFunc(v.Overdue, func(x, y report.Line) int {
		return cmp.Or(cmp.Compare(levelRank(x.Level), levelRank(y.Level)), -cmp.Compare(x.Figures[overdueFigure], y.Figures[overdueFigure]))
	})
	v.Overdue, v.OverdueMore = top(v.Overdue)
	v.OverdueLink = Base + "/reports?" + url.Values{"month": {month}, "org": {code}, "sort": {overdueFigure}, "dir": {"desc"}}.Encode()
	return nil
}

// overviewTop is how many rows an overview panel shows.
const overviewTop = 10

// top keeps a panel's first rows and says how many it left out.
func top[T any](rows []T) ([]T, int) {
	if len(rows) <= overviewTop {
		return rows, 0
	}
	return rows[:overviewTop], len(rows) - overviewTop
}

const overdueFigure = "assignments_overdue"

func levelRank(level string) int {
	if level == store.LevelOutlet {
		return 0
	}
	return 1
}

// outletBars groups the ledger's households by outlet and classifies each
// outlet's figures with coverage.Summarize, the one definition of a rate.
func outletBars(l coverage.Ledger, units []store.OrgUnit) []bar {
	name := map[string]string{}
	order := map[string]int{}
	for i, u := range units {
		name[u.ID], order[u.ID] = u.Name, i
	}
	byOutlet := map[string][]coverage.LedgerRow{}
	var ids []string
	for _, r := range l.Households {
		if _, ok := byOutlet[r.OutletID]; !ok {
			ids = append(ids, r.OutletID)
		}
		byOutlet[r.OutletID] = append(byOutlet[r.OutletID], r)
	}
	slices.SortFunc(ids, func(a, b string) int { return cmp.Compare(order[a], order[b]) })
	out := make([]bar, 0, len(ids))
	for i, id := range ids {
		s := coverage.Summarize(byOutlet[id])
		label := name[id]
		if label == "" {
			label = "—"
		}
		b := bar{
			Label: label, OrgID: id, Y: 8 + i*chartRowH, W: int(s.CoverageRate * chartBarW),
			Pct: strconv.FormatFloat(s.CoverageRate*100, 'f', 1, 64) + "%", Covered: s.Covered,
			Required: s.Households - s.Exempted, Missing: s.Missing,
		}
		b.TextY = b.Y + 17
		out = append(out, b)
	}
	return out
}

// --- Coverage ledger ----------------------------------------------------------

// ledgerSorts is the allow-list of sort keys for ledger households.
var ledgerSorts = map[string]string{"household_no": "", "head_name": "", "village": "", "officer": "", "outcome": "", "visits": ""}

type ledgerView struct {
	Month     string
	Org       string
	Officer   string
	Orgs      []orgChoice
	L         coverage.Ledger
	Show      string // missing, exempted, all
	List      listState
	Rows      []coverage.LedgerRow
	Pager     pager
	Names     map[string]string
	IsOutlet  bool
	CurrentID string
	MayReview bool
	Today     string

	// The page's further lists, each searched, sorted and paged on its own.
	OfficerList   listState
	OfficerRows   []coverage.OfficerLedger
	OfficerPager  pager
	ExemptList    listState
	Exemptions    []coverage.LedgerRow
	ExemptPager   pager
	ShowSignoffs  bool
	SignoffList   listState
	Signoffs      []coverage.Signoff
	SignoffsPager pager
}

// officerSorts: the ledger's officers, searched by name or username.
var officerSorts = memSorts[coverage.OfficerLedger]{
	"name":       func(a, b coverage.OfficerLedger) int { return cmp.Compare(a.Name, b.Name) },
	"households": func(a, b coverage.OfficerLedger) int { return cmp.Compare(a.Summary.Households, b.Summary.Households) },
	"covered":    func(a, b coverage.OfficerLedger) int { return cmp.Compare(a.Summary.Covered, b.Summary.Covered) },
	"missing":    func(a, b coverage.OfficerLedger) int { return cmp.Compare(a.Summary.Missing, b.Summary.Missing) },
	"rate": func(a, b coverage.OfficerLedger) int {
		return cmp.Compare(a.Summary.CoverageRate, b.Summary.CoverageRate)
	},
}

func officerMatch(o coverage.OfficerLedger, q string) bool {
	return has(o.Name, q) || has(o.Username, q)
}

func officerTie(a, b coverage.OfficerLedger) int {
	return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.OfficerID, b.OfficerID))
}

// exemptionSorts: exempted households, searched by number or head's name.
var exemptionSorts = memSorts[coverage.LedgerRow]{
	"household_no": func(a, b coverage.LedgerRow) int { return cmp.Compare(a.HouseholdNo, b.HouseholdNo) },
	"head_name":    func(a, b coverage.LedgerRow) int { return cmp.Compare(a.HeadName, b.HeadName) },
	"reason":       func(a, b coverage.LedgerRow) int { return cmp.Compare(a.ExemptionReason, b.ExemptionReason) },
}

func householdMatch(no, head, q string) bool { return prefixed(no, q) || has(head, q) }

func exemptionTie(a, b coverage.LedgerRow) int {
	return cmp.Or(cmp.Compare(a.HouseholdNo, b.HouseholdNo), cmp.Compare(a.HouseholdID, b.HouseholdID))
}

func (cs *Console) coveragePage(c *gin.Context) {
	ctx, a := c.Request.Context(), actor(c)
	orgs, units, err := cs.orgChoices(ctx, a)
	if err != nil {
		cs.fail(c, err)
		return
	}
	ls := parseList(c, ledgerSorts, "household_no", false, "month", "org", "officer", "show")
	month := ls.Filter("month")
	if month == "" {
		month = cs.currentMonth()
		ls.filters.Set("month", month)
	}
	org, officer := scopeParam(c, a, units), ls.Filter("officer")
	if officer != "" {
		org = ""
	}
	l, err := cs.d.Coverage.Ledger(ctx, a, coverage.LedgerRequest{Month: month, OrgID: org, OfficerID: officer})
	if err != nil {
		cs.fail(c, err)
		return
	}
	v := ledgerView{
		Month: l.Month, Org: org, Officer: officer, Orgs: orgs, L: l, Show: ls.Filter("show"), List: ls,
		Names: map[string]string{}, IsOutlet: l.Scope.Kind == store.KindOutlet, MayReview: coverage.MayReview(a),
		Today: cs.today(),
	}
	if v.Show != "exempted" && v.Show != "all" {
		v.Show = "missing"
	}
	for _, o := range l.Officers {
		v.Names[o.OfficerID] = o.Name
	}
	var rows, exemptions []coverage.LedgerRow
	q := strings.ToLower(ls.Q)
	for _, r := range l.Households {
		if r.Exempted && !r.Final {
			exemptions = append(exemptions, r)
		}
		switch {
		case v.Show == "missing" && r.Settled(), v.Show == "exempted" && !r.Exempted:
			continue
		}
		if q != "" && !householdMatch(r.HouseholdNo, r.HeadName, q) {
			continue
		}
		rows = append(rows, r)
	}
	sortLedger(rows, ls.Sort, ls.Desc, v.Names)
	v.Rows, v.Pager = pageOf(rows, ls.Page), ls.pager(int64(len(rows)))

	// The officers and the exemptions are parts of the ledger the coverage
	// service computed, so they are searched, sorted and paged here.
	v.OfficerList = parseSubList(c, "o", "officers", officerSorts.allowed(), "name", false)
	v.OfficerRows, v.OfficerPager = pageMem(v.OfficerList, l.Officers, officerMatch, officerSorts, officerTie)
	v.ExemptList = parseSubList(c, "e", "exemptions", exemptionSorts.allowed(), "household_no", false)
	v.Exemptions, v.ExemptPager = pageMem(v.ExemptList, exemptions,
		func(r coverage.LedgerRow, q string) bool { return householdMatch(r.HouseholdNo, r.HeadName, q) }, exemptionSorts, exemptionTie)

	// Sign-offs are read page by page from the store: every sign-off of
	// the scope's outlets this month, searched by outlet or signer.
	if officer == "" {
		v.ShowSignoffs = true
		v.SignoffList = parseSubList(c, "s", "signoffs", store.SignoffSorts, "signed_at", true)
		so, total, err := cs.d.Coverage.SignoffsPage(ctx, a, coverage.SignoffsRequest{Month: l.Month, OrgID: l.Scope.ID}, v.SignoffList.storePage())
		if err != nil {
			cs.fail(c, err)
			return
		}
		v.Signoffs, v.SignoffsPager = so, v.SignoffList.pager(total)
	}
	if v.IsOutlet {
		// The correction form names the current sign-off, wherever it
		// falls in the pages above.
		so, err := cs.d.Coverage.Signoffs(ctx, a, coverage.SignoffsRequest{Month: l.Month, OrgID: l.Scope.ID})
		if err != nil {
			cs.fail(c, err)
			return
		}
		for _, s := range so {
			if s.Current {
				v.CurrentID = s.ID
			}
		}
	}
	cs.render(c, http.StatusOK, "coverage", cs.page(c, "coverage", "nav.coverage", v))
}

func sortLedger(rows []coverage.LedgerRow, key string, desc bool, names map[string]string) {
	slices.SortStableFunc(rows, func(a, b coverage.LedgerRow) int {
		var r int
		switch key {
		case "head_name":
			r = cmp.Compare(a.HeadName, b.HeadName)
		case "village":
			r = cmp.Compare(a.Township+a.Village, b.Township+b.Village)
		case "officer":
			r = cmp.Compare(names[a.OfficerID], names[b.OfficerID])
		case "outcome":
			r = cmp.Compare(string(a.Outcome), string(b.Outcome))
		case "visits":
			r = cmp.Compare(a.Visits, b.Visits)
		}
		if r == 0 {
			r = cmp.Compare(a.HouseholdNo, b.HouseholdNo)
		}
		if desc {
			return -r
		}
		return r
	})
}

// back returns to the page a form was posted from, with a flash key.
func back(c *gin.Context, fallback, ok string) {
	target := fallback
	if r := c.PostForm("back"); r != "" {
		target = safeNext(r)
	}
	u, err := url.Parse(target)
	if err != nil {
		u = &url.URL{Path: fallback}
	}
	q := u.Query()
	q.Set("ok", ok)
	u.RawQuery = q.Encode()
	c.Redirect(http.StatusSeeOther, u.String())
}

func (cs *Console) exemptSubmit(c *gin.Context) {
	_, err := cs.d.Coverage.Exempt(c.Request.Context(), actor(c), coverage.ExemptionRequest{
		HouseholdID: c.PostForm("household_id"), Month: c.PostForm("month"), Reason: c.PostForm("reason"),
	})
	if err != nil {
		cs.fail(c, err)
		return
	}
	back(c, Base+"/coverage", "cov.ok.exempted")
}

func (cs *Console) signoffSubmit(c *gin.Context) {
	_, err := cs.d.Coverage.SignOff(c.Request.Context(), actor(c), coverage.SignoffRequest{
		OutletID: c.PostForm("outlet_id"), Month: c.PostForm("month"), Note: c.PostForm("note"),
		SupersedesID: c.PostForm("supersedes_id"),
	})
	if err != nil {
		cs.fail(c, err)
		return
	}
	back(c, Base+"/coverage", "cov.ok.signed")
}

// --- Visit review -----------------------------------------------------------

var reviewSorts = map[string]string{"visited_at": "", "household_no": "", "officer": "", "flags": ""}

var reviewStatuses = []string{store.ReviewFlagged, store.ReviewRecorded, store.ReviewCorrected, store.ReviewHasIssues, store.ReviewConfirmed, store.ReviewAll}

type reviewView struct {
	Month     string
	Org       string
	Orgs      []orgChoice
	Status    string
	Statuses  []string
	List      listState
	Rows      []coverage.ReviewItem
	Pager     pager
	Truncated bool
	MayReview bool
	Back      string
	Spot      *coverage.SpotChecks
	SpotList  listState
	SpotRows  []coverage.SpotCheck
	SpotPager pager
}

// spotSorts: the officers of a spot check, searched by the officer's name
// or by the number or head's name of a sampled household.
var spotSorts = memSorts[coverage.SpotCheck]{
	"officer":    func(a, b coverage.SpotCheck) int { return cmp.Compare(a.OfficerName, b.OfficerName) },
	"population": func(a, b coverage.SpotCheck) int { return cmp.Compare(a.Population, b.Population) },
}

func spotMatch(s coverage.SpotCheck, q string) bool {
	if has(s.OfficerName, q) {
		return true
	}
	for _, v := range s.Visits {
		if householdMatch(v.HouseholdNo, v.HeadName, q) {
			return true
		}
	}
	return false
}

func spotTie(a, b coverage.SpotCheck) int {
	return cmp.Or(cmp.Compare(a.OfficerName, b.OfficerName), cmp.Compare(a.OfficerID, b.OfficerID))
}

// maxQueue caps how much of a queue one page view reads; a queue longer
// than this is worked through with filters.
const maxQueue = 5000

func (cs *Console) reviewsPage(c *gin.Context) {
	ctx, a := c.Request.Context(), actor(c)
	orgs, units, err := cs.orgChoices(ctx, a)
	if err != nil {
		cs.fail(c, err)
		return
	}
	ls := parseList(c, reviewSorts, "visited_at", true, "month", "org", "status", "tab")
	v := reviewView{Month: ls.Filter("month"), Org: scopeParam(c, a, units), Orgs: orgs, Status: ls.Filter("status"),
		Statuses: reviewStatuses, List: ls, MayReview: coverage.MayReview(a), Back: c.Request.URL.RequestURI()}
	if v.Status == "" {
		v.Status = store.ReviewFlagged
	}
	if ls.Filter("tab") == "spot" {
		month := v.Month
		if month == "" {
			month = cs.currentMonth()
		}
		sc, err := cs.d.Coverage.SpotChecks(ctx, a, coverage.SpotCheckRequest{Month: month, OrgID: v.Org})
		if err != nil {
			cs.fail(c, err)
			return
		}
		v.Month, v.Spot = sc.Month, &sc
		v.SpotList = parseSubList(c, "s", "spot", spotSorts.allowed(), "officer", false)
		v.SpotRows, v.SpotPager = pageMem(v.SpotList, sc.Officers, spotMatch, spotSorts, spotTie)
		cs.render(c, http.StatusOK, "reviews", cs.page(c, "reviews", "nav.reviews", v))
		return
	}
	var all []coverage.ReviewItem
	for offset := 0; ; offset += coverage.MaxReviewLimit {
		p, err := cs.d.Coverage.Review(ctx, a, coverage.ReviewRequest{
			Status: v.Status, Month: v.Month, OrgID: v.Org,
			Limit: strconv.Itoa(coverage.MaxReviewLimit), Offset: strconv.Itoa(offset),
		})
		if err != nil {
			cs.fail(c, err)
			return
		}
		all = append(all, p.Visits...)
		if !p.HasMore {
			break
		}
		if len(all) >= maxQueue {
			v.Truncated = true
			break
		}
	}
	q := strings.ToLower(ls.Q)
	rows := all[:0:0]
	for _, r := range all {
		if q != "" && !strings.HasPrefix(strings.ToLower(r.HouseholdNo), q) && !strings.Contains(strings.ToLower(r.HeadName), q) {
			continue
		}
		rows = append(rows, r)
	}
	slices.SortStableFunc(rows, func(x, y coverage.ReviewItem) int {
		var r int
		switch ls.Sort {
		case "household_no":
			r = cmp.Compare(x.HouseholdNo, y.HouseholdNo)
		case "officer":
			r = cmp.Compare(x.OfficerName, y.OfficerName)
		case "flags":
			r = cmp.Compare(len(x.Flags), len(y.Flags))
		default:
			r = x.VisitedAt.Compare(y.VisitedAt)
		}
		if r == 0 {
			r = cmp.Compare(x.ID, y.ID)
		}
		if ls.Desc {
			return -r
		}
		return r
	})
	v.Rows, v.Pager = pageOf(rows, ls.Page), ls.pager(int64(len(rows)))
	cs.render(c, http.StatusOK, "reviews", cs.page(c, "reviews", "nav.reviews", v))
}

func (cs *Console) reviewConfirm(c *gin.Context) {
	res, err := cs.d.Coverage.Confirm(c.Request.Context(), actor(c), c.Param("id"), coverage.ConfirmRequest{Note: c.PostForm("note")})
	if err != nil {
		cs.fail(c, err)
		return
	}
	ok := "rev.ok.confirmed"
	if res.AlreadyConfirmed {
		ok = "rev.ok.already"
	}
	back(c, Base+"/reviews", ok)
}

func (cs *Console) reviewIssues(c *gin.Context) {
	_, err := cs.d.Coverage.MarkIssues(c.Request.Context(), actor(c), c.Param("id"), coverage.IssuesRequest{
		Kind: c.PostForm("kind"), Reason: c.PostForm("reason"),
	})
	if err != nil {
		cs.fail(c, err)
		return
	}
	back(c, Base+"/reviews", "rev.ok.issues")
}
