package httpapi

import "github.com/gin-gonic/gin"

// authRoutes: login, refresh, logout, devices. Owned by the auth work.
func (s *Server) authRoutes(api *gin.RouterGroup) {}
