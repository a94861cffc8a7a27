package console

import (
	"net/http"
	"sort"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/store"
)

type householdsView struct {
	List   listState
	Rows   []store.HouseholdListItem
	Pager  pager
	Status string
}

// householdsPage lists the households in the actor's reach.
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
	Kind  string // visit, need, loan
	At    time.Time
	Visit *store.ArchiveVisit
	Need  *store.FinancingNeed
	Loan  *store.ArchiveLoan
}

type householdView struct {
	A        store.HouseholdArchive
	Timeline []tlItem
	Revealed *revealed
}

type revealed struct {
	IDNumber string
	Phone    string
}

func timeline(a store.HouseholdArchive) []tlItem {
	var out []tlItem
	for i := range a.Visits {
		out = append(out, tlItem{Kind: "visit", At: a.Visits[i].VisitedAt, Visit: &a.Visits[i]})
	}
	for i := range a.Needs {
		out = append(out, tlItem{Kind: "need", At: a.Needs[i].CreatedAt, Need: &a.Needs[i]})
	}
	for i := range a.Applications {
		out = append(out, tlItem{Kind: "loan", At: a.Applications[i].CreatedAt, Loan: &a.Applications[i]})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.After(out[j].At) })
	return out
}

// householdPage shows one household's visit archive (走访档案).
func (cs *Console) householdPage(c *gin.Context) {
	a, err := cs.d.DB.ConsoleHouseholdArchive(c.Request.Context(), actor(c), c.Param("id"))
	if err != nil {
		cs.fail(c, err)
		return
	}
	v := cs.page(c, "households", "hh.archive", householdView{A: a, Timeline: timeline(a)})
	v.Title = a.Household.HeadName + " · " + v.Title
	cs.render(c, http.StatusOK, "household", v)
}
