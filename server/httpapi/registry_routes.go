package httpapi

import "github.com/gin-gonic/gin"

// registryRoutes: imports, households, assignments, plans. Owned by the registry work.
func (s *Server) registryRoutes(api *gin.RouterGroup) {}
