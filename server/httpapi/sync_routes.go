package httpapi

import "github.com/gin-gonic/gin"

// syncRoutes: push, pull, conflicts. Owned by the sync work.
func (s *Server) syncRoutes(api *gin.RouterGroup) {}
