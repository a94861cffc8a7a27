package httpapi

import (
	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/console"
)

// consoleRoutes mounts the web console at /console. It hands the console
// the very services the API uses, the API's request ids and its one table
// from error code to status, so a page and an endpoint can never disagree.
func (s *Server) consoleRoutes(e *gin.Engine) error {
	c, err := console.New(console.Deps{
		Config: s.cfg, DB: s.db, Log: s.log, Auth: s.auth, Sync: s.sync, Registry: s.registry,
		Coverage: s.coverage, Report: s.report,
		RequestID: requestID, StatusOf: StatusOf,
	})
	if err != nil {
		return err
	}
	c.Mount(e.Group(console.Base))
	return nil
}
