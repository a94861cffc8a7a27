package httpapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// authRoutes: login, refresh, logout, the caller, devices.
func (s *Server) authRoutes(api *gin.RouterGroup) {
	api.POST("/auth/login", s.login)
	api.POST("/auth/refresh", s.refresh)
	api.POST("/auth/logout", s.logout)

	authed := api.Group("", s.requireAuth)
	authed.GET("/me", s.me)
	authed.GET("/devices", s.listDevices)
	authed.POST("/devices/:id/revoke", s.revokeDevice)
}

func (s *Server) login(c *gin.Context) {
	var req syncproto.LoginRequest
	if err := bindJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	resp, err := s.auth.Login(c.Request.Context(), req, c.ClientIP())
	if err != nil {
		s.writeAuthError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

func (s *Server) refresh(c *gin.Context) {
	var req syncproto.RefreshRequest
	if err := bindJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	resp, err := s.auth.Refresh(c.Request.Context(), req.RefreshToken, c.ClientIP())
	if err != nil {
		s.writeAuthError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, resp)
}

func (s *Server) logout(c *gin.Context) {
	var req syncproto.RefreshRequest
	if err := bindJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	if err := s.auth.Logout(c.Request.Context(), req.RefreshToken, c.ClientIP()); err != nil {
		s.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// writeAuthError adds Retry-After to a throttled login.
func (s *Server) writeAuthError(c *gin.Context, err error) {
	if e, ok := apperr.As(err); ok && e.Code == syncproto.CodeTooManyAttempts {
		if secs, ok := e.Details["retry_after_seconds"].(int); ok {
			c.Header("Retry-After", strconv.Itoa(secs))
		}
	}
	s.writeError(c, err)
}

func (s *Server) me(c *gin.Context) {
	me, err := s.auth.Me(c.Request.Context(), actor(c))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, me)
}

func (s *Server) listDevices(c *gin.Context) {
	f := store.DeviceFilter{UserID: c.Query("user_id"), Status: c.Query("status")}
	ds, err := s.auth.Devices(c.Request.Context(), actor(c), f)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, syncproto.DeviceList{Devices: ds})
}

func (s *Server) revokeDevice(c *gin.Context) {
	d, err := s.auth.RevokeDevice(c.Request.Context(), actor(c), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}
