package report

import (
	"slices"

	"github.com/doorstep-dev/doorstep/server/store"
)

// managerRoles close a branch's month and download the frozen files: the
// branch's managers and the admins. Which branch they reach is decided when
// the org parameter is resolved, and again by the store inside the close.
var managerRoles = []string{store.RoleBranchManager, store.RoleAdmin}

// MayClose reports whether the actor's role may close a month. The service
// and the console both ask here.
func MayClose(a store.Actor) bool { return slices.Contains(managerRoles, a.Role) }

// MayReadFiles reports whether the actor's role may list and download a
// version's files.
func MayReadFiles(a store.Actor) bool { return slices.Contains(managerRoles, a.Role) }
