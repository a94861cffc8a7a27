package console

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

type devicesView struct {
	List      listState
	Rows      []syncproto.DeviceInfo
	Pager     pager
	Status    string
	StaleDays int
}

// devicesPage lists the devices of the users in the actor's reach, paged
// in the store and searched by username, user's name or device name; with
// stale=N only active ones not synced for N days or holding unsynced work.
func (cs *Console) devicesPage(c *gin.Context) {
	ls := parseList(c, store.DeviceSorts, "user", false, "status", "stale")
	f := store.DeviceFilter{Status: ls.Filter("status")}
	if f.Status != store.DeviceActive && f.Status != store.DeviceRevoked {
		f.Status = ""
	}
	days, _ := strconv.Atoi(ls.Filter("stale"))
	if days < 0 || days > 365 {
		days = 0
	}
	if days > 0 {
		f.StaleBefore = cs.d.Now().AddDate(0, 0, -days)
	}
	rows, total, err := cs.d.Auth.DevicesPage(c.Request.Context(), actor(c), f, ls.storePage())
	if err != nil {
		cs.fail(c, err)
		return
	}
	cs.render(c, http.StatusOK, "devices", cs.page(c, "devices", "dev.title",
		devicesView{List: ls, Rows: rows, Pager: ls.pager(total), Status: f.Status, StaleDays: days}))
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
