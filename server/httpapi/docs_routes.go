package httpapi

import "github.com/gin-gonic/gin"

// docsRoutes: /docs and /openapi.yaml. Owned by the docs work.
func (s *Server) docsRoutes(e *gin.Engine) {}
