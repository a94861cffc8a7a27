package console

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/store"
)

type auditView struct {
	List  listState
	Rows  []store.AuditItem
	Pager pager
}

// auditPage is the searchable audit log.
func (cs *Console) auditPage(c *gin.Context) {
	ls := parseList(c, store.AuditSorts, "time", true)
	rows, total, err := cs.d.DB.ConsoleAudit(c.Request.Context(), actor(c), ls.storePage())
	if err != nil {
		cs.fail(c, err)
		return
	}
	cs.render(c, http.StatusOK, "audit", cs.page(c, "audit", "audit.title", auditView{List: ls, Rows: rows, Pager: ls.pager(total)}))
}
