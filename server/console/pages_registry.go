package console

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/store"
)

// --- Imports ----------------------------------------------------------------

var itemKinds = []string{store.ChangeAdded, store.ChangeChanged, store.ChangeRiskEliminated, store.ChangeReturned, store.ChangeRemoved}

type importsView struct {
	Imports  []registry.Preview
	List     listState
	Pager    pager
	Branch   string
	Branches []orgChoice
}

// importsPage lists the branch's imports and takes a new list. The list
// pages in the store; its search matches the uploaded file's name.
func (cs *Console) importsPage(c *gin.Context) {
	ctx, a := c.Request.Context(), actor(c)
	orgs, _, err := cs.orgChoices(ctx, a)
	if err != nil {
		cs.fail(c, err)
		return
	}
	var branches []orgChoice
	for _, o := range orgs {
		if o.Kind == store.KindBranch {
			branches = append(branches, o)
		}
	}
	ls := parseList(c, store.SnapshotSorts, "created", true, "branch")
	branch := ls.Filter("branch")
	list, total, err := cs.d.Registry.ImportsPage(ctx, a, branch, ls.storePage())
	if err != nil {
		cs.fail(c, err)
		return
	}
	cs.render(c, http.StatusOK, "imports", cs.page(c, "imports", "nav.imports",
		importsView{Imports: list, List: ls, Pager: ls.pager(total), Branch: branch, Branches: branches}))
}

// importUpload previews an uploaded list: nothing changes until it is
// committed.
func (cs *Console) importUpload(c *gin.Context) {
	fh, err := c.FormFile("file")
	if err != nil {
		cs.renderError(c, http.StatusBadRequest, msgNoFile)
		return
	}
	f, err := fh.Open()
	if err != nil {
		cs.fail(c, err)
		return
	}
	defer f.Close()
	p, err := cs.d.Registry.PreviewImport(c.Request.Context(), actor(c), registry.ImportInput{
		Branch: c.PostForm("branch"), FileName: fh.Filename, Data: f,
	})
	if err != nil {
		cs.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, Base+"/imports/"+url.PathEscape(p.ID))
}

var importSorts = map[string]string{"row": "", "household_no": "", "head_name": "", "village": ""}

type importView struct {
	P        registry.Preview
	Kind     string
	Kinds    []string
	Counts   map[string]int64
	List     listState
	Items    []registry.Item
	Pager    pager
	Problems []registry.Problem
	ProbList listState
	ProbPage pager
	CanAct   bool
}

// importPage shows a preview: its summary, the households by kind of
// change, and the row-level errors and warnings.
func (cs *Console) importPage(c *gin.Context) {
	ctx, a, id := c.Request.Context(), actor(c), c.Param("id")
	p, err := cs.d.Registry.GetImport(ctx, a, id)
	if err != nil {
		cs.fail(c, err)
		return
	}
	ls := parseList(c, importSorts, "row", false, "kind")
	kind := ls.Filter("kind")
	if !slices.Contains(itemKinds, kind) {
		kind = store.ChangeAdded
	}
	v := importView{P: p, Kind: kind, Kinds: itemKinds, Counts: map[string]int64{}, List: ls, CanAct: p.Status == store.SnapshotPreviewed}
	if p.Status != store.SnapshotDiscarded {
		for _, k := range itemKinds {
			_, n, err := cs.d.Registry.ImportItems(ctx, a, id, k, 0, 1)
			if err != nil {
				cs.fail(c, err)
				return
			}
			v.Counts[k] = n
		}
		// A kind is read whole (a county list is thousands of rows, not
		// millions) so that it can be searched and sorted here.
		all, _, err := cs.d.Registry.ImportItems(ctx, a, id, kind, 0, 1_000_000)
		if err != nil {
			cs.fail(c, err)
			return
		}
		q := strings.ToLower(ls.Q)
		items := all[:0:0]
		for _, it := range all {
			if q != "" && !strings.HasPrefix(strings.ToLower(it.HouseholdNo), q) && !strings.Contains(strings.ToLower(it.HeadName), q) {
				continue
			}
			items = append(items, it)
		}
		slices.SortStableFunc(items, func(x, y registry.Item) int {
			var r int
			switch ls.Sort {
			case "household_no":
				r = cmp.Compare(x.HouseholdNo, y.HouseholdNo)
			case "head_name":
				r = cmp.Compare(x.HeadName, y.HeadName)
			case "village":
				r = cmp.Compare(x.Township+x.Village, y.Township+y.Village)
			default:
				r = cmp.Compare(x.Row, y.Row)
			}
			if r == 0 {
				r = cmp.Compare(x.HouseholdNo, y.HouseholdNo)
			}
			if ls.Desc {
				return -r
			}
			return r
		})
		v.Items, v.Pager = pageOf(items, ls.Page), ls.pager(int64(len(items)))
	}
	// The findings page in the store under their own parameters, so that
	// paging them keeps the household list where it is; their search
	// matches a row number, the column or the message.
	v.ProbList = parseSubList(c, "p", "problems", store.ImportProblemSorts, "row", false)
	probs, total, err := cs.d.Registry.ImportProblemsPage(ctx, a, id, v.ProbList.storePage())
	if err != nil {
		cs.fail(c, err)
		return
	}
	v.Problems, v.ProbPage = probs, v.ProbList.pager(total)
	cs.render(c, http.StatusOK, "import", cs.page(c, "imports", "imp.preview", v))
}

func (cs *Console) importCommit(c *gin.Context) {
	id := c.Param("id")
	_, applied, err := cs.d.Registry.CommitImport(c.Request.Context(), actor(c), id)
	if err != nil {
		cs.fail(c, err)
		return
	}
	ok := "imp.ok.committed"
	if !applied {
		ok = "imp.ok.nochange"
	}
	c.Redirect(http.StatusSeeOther, Base+"/imports/"+url.PathEscape(id)+"?"+url.Values{"ok": {ok}}.Encode())
}

func (cs *Console) importDiscard(c *gin.Context) {
	if err := cs.d.Registry.DiscardImport(c.Request.Context(), actor(c), c.Param("id")); err != nil {
		cs.fail(c, err)
		return
	}
	c.Redirect(http.StatusSeeOther, Base+"/imports?"+url.Values{"ok": {"imp.ok.discarded"}}.Encode())
}

// --- Assignments --------------------------------------------------------------

type assignView struct {
	List     listState
	Rows     []store.HouseholdListItem
	Pager    pager
	Officers []store.UserWithUnit
	Outlets  []orgChoice
	Outlet   string
	Officer  string
	Only     string
	Back     string
	Today    string
}

// assignmentsPage lists households with their officer and deadline, to
// assign in bulk or reassign.
func (cs *Console) assignmentsPage(c *gin.Context) {
	ctx, a := c.Request.Context(), actor(c)
	ls := parseList(c, store.HouseholdSorts, "household_no", false, "outlet", "officer", "only")
	f := store.HouseholdFilter{OutletID: ls.Filter("outlet"), OfficerID: ls.Filter("officer"), Unassigned: ls.Filter("only") == "unassigned"}
	rows, total, err := cs.d.DB.ConsoleHouseholds(ctx, a, f, ls.storePage())
	if err != nil {
		cs.fail(c, err)
		return
	}
	users, err := cs.d.DB.ListUsers(ctx, a)
	if err != nil {
		cs.fail(c, err)
		return
	}
	var officers []store.UserWithUnit
	for _, u := range users {
		if u.Role == store.RoleOfficer && u.Status == store.UserActive {
			officers = append(officers, u)
		}
	}
	orgs, _, err := cs.orgChoices(ctx, a)
	if err != nil {
		cs.fail(c, err)
		return
	}
	var outlets []orgChoice
	for _, o := range orgs {
		if o.Kind == store.KindOutlet {
			outlets = append(outlets, o)
		}
	}
	cs.render(c, http.StatusOK, "assignments", cs.page(c, "assignments", "nav.assignments", assignView{
		List: ls, Rows: rows, Pager: ls.pager(total), Officers: officers, Outlets: outlets,
		Outlet: f.OutletID, Officer: f.OfficerID, Only: ls.Filter("only"), Back: c.Request.URL.RequestURI(), Today: cs.today(),
	}))
}

// assignSubmit hands the ticked households to an officer with a deadline
// through the registry, which checks reach and records the history.
func (cs *Console) assignSubmit(c *gin.Context) {
	_, err := cs.d.Registry.Assign(c.Request.Context(), actor(c), registry.AssignInput{
		HouseholdIDs: c.PostFormArray("household_id"), OfficerID: c.PostForm("officer_id"), DueOn: c.PostForm("due_on"),
	})
	if err != nil {
		cs.fail(c, err)
		return
	}
	back(c, Base+"/assignments", "asg.ok.assigned")
}

// outletDeadlineSubmit sets the deadline of an outlet's households.
func (cs *Console) outletDeadlineSubmit(c *gin.Context) {
	_, err := cs.d.Registry.SetOutletDeadline(c.Request.Context(), actor(c), registry.OutletDeadlineInput{
		OutletID: c.PostForm("outlet_id"), DueOn: c.PostForm("due_on"),
	})
	if err != nil {
		cs.fail(c, err)
		return
	}
	back(c, Base+"/assignments", "asg.ok.deadline")
}
