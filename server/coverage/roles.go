package coverage

import (
	"slices"

	"github.com/doorstep-dev/doorstep/server/store"
)

// reviewerRoles certify coverage and judge visits: exemptions, sign-offs,
// confirmation and "has issues". That is supervision work, for supervisors
// and branch managers; the technical admin reads but does not certify.
// Which outlet or visit a reviewer reaches is the store's to decide.
var reviewerRoles = []string{store.RoleSupervisor, store.RoleBranchManager}

// MayReview reports whether the actor's role may certify coverage and judge
// visits. The API's route guard and the console both ask here, and the
// service's own methods (Exempt, SignOff, Confirm, MarkIssues) ask again,
// so that no new caller can forget.
func MayReview(a store.Actor) bool { return slices.Contains(reviewerRoles, a.Role) }
