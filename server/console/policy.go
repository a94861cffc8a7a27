package console

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/store"
)

// requireMay refuses, before any service is called, an action the actor's
// role may not take. The rule is the service package's own predicate
// (coverage.MayReview, registry.MayImport), the very one the API's route
// guards ask, so the console holds no copy of it; reach (which outlet,
// which household) stays the services' and the store's to decide.
func (cs *Console) requireMay(may func(store.Actor) bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !may(actor(c)) {
			cs.renderError(c, http.StatusForbidden, msgForbidden)
			return
		}
		c.Next()
	}
}
