package registry

import (
	"slices"

	"github.com/doorstep-dev/doorstep/server/store"
)

// importerRoles may import the monitoring list and read its imports: the
// branch's managers and the admins. Supervisors work with the list, they do
// not replace it. Which branch an importer reaches is the store's to decide.
var importerRoles = []string{store.RoleBranchManager, store.RoleAdmin}

// MayImport reports whether the actor's role may import the monitoring
// list. The service, the API's route guard and the console all ask here.
func MayImport(a store.Actor) bool { return slices.Contains(importerRoles, a.Role) }
