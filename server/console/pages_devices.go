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

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// deviceSorts is the allow-list of sort keys for devices. The list comes
// whole from auth.Service.Devices (a branch has hundreds of phones, not
// millions), so it is searched, sorted and paged here.
var deviceSorts = map[string]string{"user": "", "unit": "", "last_sync": "", "pending": "", "status": ""}

type devicesView struct {
	List      listState
	Rows      []syncproto.DeviceInfo
	Pager     pager
	Status    string
	StaleDays int
}

// devicesPage lists the devices of the users in the actor's reach; with
// stale=N only active ones not synced for N days or holding unsynced work.
func (cs *Console) devicesPage(c *gin.Context) {
	ls := parseList(c, deviceSorts, "user", false, "status", "stale")
	status := ls.Filter("status")
	if status != store.DeviceActive && status != store.DeviceRevoked {
		status = ""
	}
	all, err := cs.d.Auth.Devices(c.Request.Context(), actor(c), store.DeviceFilter{Status: status})
	if err != nil {
		cs.fail(c, err)
		return
	}
	days, _ := strconv.Atoi(ls.Filter("stale"))
	if days < 0 || days > 365 {
		days = 0
	}
	rows := filterDevices(all, ls.Q, days, cs.d.Now())
	sortDevices(rows, ls.Sort, ls.Desc)
	cs.render(c, http.StatusOK, "devices", cs.page(c, "devices", "dev.title",
		devicesView{List: ls, Rows: pageOf(rows, ls.Page), Pager: ls.pager(int64(len(rows))), Status: status, StaleDays: days}))
}

// Stale reports whether an active device has not synced for days, or holds
// work it has not synced.
func Stale(d syncproto.DeviceInfo, days int, now time.Time) bool {
	if d.Status != store.DeviceActive {
		return false
	}
	if d.PendingChanges > 0 {
		return true
	}
	return d.LastSyncAt == nil || d.LastSyncAt.Before(now.AddDate(0, 0, -days))
}

func filterDevices(all []syncproto.DeviceInfo, q string, staleDays int, now time.Time) []syncproto.DeviceInfo {
	q = strings.ToLower(q)
	out := all[:0:0]
	for _, d := range all {
		if q != "" && !strings.Contains(strings.ToLower(d.Username), q) && !strings.Contains(strings.ToLower(d.DisplayName), q) &&
			!strings.Contains(strings.ToLower(d.Name), q) {
			continue
		}
		if staleDays > 0 && !Stale(d, staleDays, now) {
			continue
		}
		out = append(out, d)
	}
	return out
}

func sortDevices(ds []syncproto.DeviceInfo, key string, desc bool) {
	syncAt := func(d syncproto.DeviceInfo) int64 {
		if d.LastSyncAt == nil {
			return 0
		}
		return d.LastSyncAt.UnixMicro()
	}
	slices.SortStableFunc(ds, func(a, b syncproto.DeviceInfo) int {
		var r int
		switch key {
		case "unit":
			r = cmp.Compare(a.OrgUnitName, b.OrgUnitName)
		case "last_sync":
			r = cmp.Compare(syncAt(a), syncAt(b))
		case "pending":
			r = cmp.Compare(a.PendingChanges, b.PendingChanges)
		case "status":
			r = cmp.Compare(a.Status, b.Status)
		}
		if r == 0 {
			r = cmp.Or(cmp.Compare(a.Username, b.Username), cmp.Compare(a.ID, b.ID))
		}
		if desc {
			return -r
		}
		return r
	})
}

func pageOf[T any](rows []T, page int) []T {
	from := (page - 1) * perPage
	if from >= len(rows) {
		return nil
	}
	return rows[from:min(from+perPage, len(rows))]
}

// deviceRevoke revokes a lost phone through the same service call as the
// API; the store checks reach inside the transaction and audits it.
func (cs *Console) deviceRevoke(c *gin.Context) {
	before, err := cs.d.Auth.RevokeDevice(c.Request.Context(), actor(c), c.Param("id"))
	if err != nil {
		cs.fail(c, err)
		return
	}
	ok := "dev.ok.revoked"
	if before.RevokedBy != "" && before.RevokedBy != actor(c).UserID {
		ok = "dev.ok.already"
	}
	c.Redirect(http.StatusSeeOther, Base+"/devices?"+url.Values{"ok": {ok}}.Encode())
}
