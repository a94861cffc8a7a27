package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/store"
)

type householdsView struct {
	List   listState
	Rows   []store.HouseholdListItem
	Pager  pager
	Status string
}

// householdsPage lists the households in the actor's reach, searchable by
// number or head's name (the registry's list has no name search).
func (cs *Console) householdsPage(c *gin.Context) {
	ls := parseList(c, store.HouseholdSorts, "household_no", false, "status", "outlet", "officer")
	f := store.HouseholdFilter{Status: ls.Filter("status"), OutletID: ls.Filter("outlet"), OfficerID: ls.Filter("officer")}
	rows, total, err := cs.d.DB.ConsoleHouseholds(c.Request.Context(), actor(c), f, ls.storePage())
	if err != nil {
		cs.fail(c, err)
		return
	}
	cs.render(c, http.StatusOK, "households", cs.page(c, "households", "hh.title",
		householdsView{List: ls, Rows: rows, Pager: ls.pager(total), Status: f.Status}))
}

// tlItem is one entry of a household's timeline.
type tlItem struct {
	Kind       string // visit, need, loan, assignment
	At         time.Time
	Visit      *store.ReportArchiveVisit
	Need       *store.ReportArchiveNeed
	Loan       *store.ReportArchiveLoan
	Assignment *store.ReportArchiveAssignment
}

type householdView struct {
	H        registry.Household
	A        report.Archive
	Timeline []tlItem
	Revealed *registry.Revealed
	Reason   string
}

func timeline(a report.Archive) []tlItem {
	var out []tlItem
	for i := range a.Visits {
		out = append(out, tlItem{Kind: "visit", At: a.Visits[i].VisitedAt, Visit: &a.Visits[i]})
	}
	for i := range a.Needs {
		out = append(out, tlItem{Kind: "need", At: a.Needs[i].CreatedAt, Need: &a.Needs[i]})
	}
	for i := range a.Loans {
		out = append(out, tlItem{Kind: "loan", At: a.Loans[i].CreatedAt, Loan: &a.Loans[i]})
	}
	for i := range a.Assignments {
		out = append(out, tlItem{Kind: "assignment", At: a.Assignments[i].AssignedAt, Assignment: &a.Assignments[i]})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out
}

// household loads what the household page shows: the registry's record
// (masked numbers, responsibility) and the report service's visit archive.
func (cs *Console) household(c *gin.Context) (householdView, bool) {
	ctx, a, id := c.Request.Context(), actor(c), c.Param("id")
	h, err := cs.d.Registry.Household(ctx, a, id)
	if err != nil {
		cs.fail(c, err)
		return householdView{}, false
	}
	lang := "zh"
	if cs.lang(c).EN() {
		lang = "en"
	}
	body, _, _, err := cs.d.Report.HouseholdArchive(ctx, a, id, "json", lang)
	if err != nil {
		cs.fail(c, err)
		return householdView{}, false
	}
	var ar report.Archive
	if err := json.Unmarshal(body, &ar); err != nil {
		cs.fail(c, fmt.Errorf("decode archive: %w", err))
		return householdView{}, false
	}
	return householdView{H: h, A: ar, Timeline: timeline(ar)}, true
}

// householdPage shows one household's visit archive (走访档案).
func (cs *Console) householdPage(c *gin.Context) {
	hv, ok := cs.household(c)
	if !ok {
		return
	}
	v := cs.page(c, "households", "hh.archive", hv)
	v.Title = hv.H.HeadName + " · " + v.Title
	cs.render(c, http.StatusOK, "household", v)
}

// householdReveal shows the clear ID and phone numbers through the
// registry, which decides who may and audits every reveal. The clear
// values appear in this one response only: never in a URL, a cookie or a log.
func (cs *Console) householdReveal(c *gin.Context) {
	hv, ok := cs.household(c)
	if !ok {
		return
	}
	r, err := cs.d.Registry.Reveal(c.Request.Context(), actor(c), c.Param("id"), registry.RevealInput{Reason: c.PostForm("reason")})
	if err != nil {
		cs.fail(c, err)
		return
	}
	hv.Revealed, hv.Reason = &r, c.PostForm("reason")
	v := cs.page(c, "households", "hh.archive", hv)
	v.Title = hv.H.HeadName + " · " + v.Title
	cs.render(c, http.StatusOK, "household", v)
}

// householdArchiveFile downloads the archive as XLSX or CSV.
func (cs *Console) householdArchiveFile(c *gin.Context) {
	lang := "zh"
	if cs.lang(c).EN() {
		lang = "en"
	}
	body, ct, name, err := cs.d.Report.HouseholdArchive(c.Request.Context(), actor(c), c.Param("id"), c.Param("format"), lang)
	if err != nil {
		cs.fail(c, err)
		return
	}
	c.Header("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(name))
	c.Data(http.StatusOK, ct, body)
}
