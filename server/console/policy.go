package console

import (
	"slices"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/store"
)

// Which roles may use which console action. Reach (which outlet, which
// household) is always the services' and the store's to decide; this table
// only mirrors the API's route guards (requireRole in server/httpapi), which
// keep some work for some roles before any service is called — the technical
// admin does not certify coverage or judge visits. TestConsoleAgreesWithAPI
// checks, action by action, that the console refuses exactly what the API
// refuses.
var mayDo = map[string][]string{
	// coverage_routes.go: reviewers
	"coverage.review": {store.RoleSupervisor, store.RoleBranchManager},
	// registry_routes.go: importers
	"registry.import": {store.RoleBranchManager, store.RoleAdmin},
}

func may(a store.Actor, action string) bool { return slices.Contains(mayDo[action], a.Role) }

// requireMay refuses, before any service is called, an action the API's
// router would refuse to the actor's role.
func (cs *Console) requireMay(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !may(actor(c), action) {
			cs.renderError(c, 403, msgForbidden)
			return
		}
		c.Next()
	}
}
