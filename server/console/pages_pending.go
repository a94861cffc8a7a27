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
