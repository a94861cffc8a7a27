package console

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
)

var conflictSorts = map[string]string{"time": "", "household_no": "", "kind": "", "officer": ""}

type conflictRow struct {
	syncsvc.Conflict
	HouseholdNo string
	HeadName    string
	Officer     string
}

type conflictsView struct {
	List      listState
	Kind      string
	Rows      []conflictRow
	Pager     pager
	Truncated bool
}

// conflictsPage lists the conflicts and rejections of the actor's scope,
// read through the sync service page by page (newest first).
func (cs *Console) conflictsPage(c *gin.Context) {
	ctx, a := c.Request.Context(), actor(c)
	ls := parseList(c, conflictSorts, "time", true, "kind")
	kind := ls.Filter("kind")
	if kind != store.ConflictField && kind != store.ConflictRejection {
		kind = ""
	}
	var all []syncsvc.Conflict
	truncated := false
	for cursor := ""; ; {
		p, err := cs.d.Sync.ListConflicts(ctx, a, syncsvc.ConflictFilter{Kind: kind, Limit: 200, Cursor: cursor})
		if err != nil {
			cs.fail(c, err)
			return
		}
		all = append(all, p.Items...)
		if p.NextCursor == "" {
			break
		}
		if len(all) >= maxQueue {
			truncated = true
			break
		}
		cursor = p.NextCursor
	}
	ids := make([]string, 0, len(all))
	for _, x := range all {
		if x.HouseholdID != "" {
			ids = append(ids, x.HouseholdID)
		}
	}
	labels, err := cs.d.DB.ConsoleHouseholdLabels(ctx, a, ids)
	if err != nil {
		cs.fail(c, err)
		return
	}
	users, err := cs.d.DB.ListUsers(ctx, a)
	if err != nil {
		cs.fail(c, err)
		return
	}
	names := make(map[string]string, len(users))
	for _, u := range users {
		names[u.ID] = cmp.Or(u.DisplayName, u.Username)
	}
	q := strings.ToLower(ls.Q)
	rows := make([]conflictRow, 0, len(all))
	for _, x := range all {
		l := labels[x.HouseholdID]
		if q != "" && !strings.HasPrefix(strings.ToLower(l.HouseholdNo), q) && !strings.Contains(strings.ToLower(l.HeadName), q) {
			continue
		}
		rows = append(rows, conflictRow{Conflict: x, HouseholdNo: l.HouseholdNo, HeadName: l.HeadName, Officer: names[x.UserID]})
	}
	slices.SortStableFunc(rows, func(x, y conflictRow) int {
		var r int
		switch ls.Sort {
		case "household_no":
			r = cmp.Compare(x.HouseholdNo, y.HouseholdNo)
		case "kind":
			r = cmp.Compare(x.Kind, y.Kind)
		case "officer":
			r = cmp.Compare(x.Officer, y.Officer)
		default:
			r = x.CreatedAt.Compare(y.CreatedAt)
		}
		if r == 0 {
			r = cmp.Compare(x.ID, y.ID)
		}
		if ls.Desc {
			return -r
		}
		return r
	})
	cs.render(c, http.StatusOK, "conflicts", cs.page(c, "conflicts", "nav.conflicts", conflictsView{
		List: ls, Kind: kind, Rows: pageOf(rows, ls.Page), Pager: ls.pager(int64(len(rows))), Truncated: truncated,
	}))
}
