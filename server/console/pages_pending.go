package console

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// Pages whose service is not in the tree yet render what they can and name
// what is missing; each moves to its own file once its service lands.

type pendingView struct{ What string }

func (cs *Console) pending(nav, titleKey, what string) gin.HandlerFunc {
	return func(c *gin.Context) {
		cs.render(c, http.StatusOK, "pending", cs.page(c, nav, titleKey, pendingView{What: what}))
	}
}

func (cs *Console) overview(c *gin.Context) {
	cs.pending("overview", "nav.overview", "coverage")(c)
}
func (cs *Console) coveragePage(c *gin.Context) {
	cs.pending("coverage", "nav.coverage", "coverage")(c)
}
func (cs *Console) reviewsPage(c *gin.Context) {
	cs.pending("reviews", "nav.reviews", "coverage")(c)
}
func (cs *Console) conflictsPage(c *gin.Context) {
	cs.pending("conflicts", "nav.conflicts", "syncsvc")(c)
}
func (cs *Console) importsPage(c *gin.Context) {
	cs.pending("imports", "nav.imports", "registry")(c)
}
func (cs *Console) assignmentsPage(c *gin.Context) {
	cs.pending("assignments", "nav.assignments", "registry")(c)
}
func (cs *Console) reportsPage(c *gin.Context) {
	cs.pending("reports", "nav.reports", "report")(c)
}

func (cs *Console) householdReveal(c *gin.Context) {
	cs.renderError(c, http.StatusNotImplemented, msgUnavailable)
}
