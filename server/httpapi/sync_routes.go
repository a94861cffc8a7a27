package httpapi

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// syncRoutes: push, pull, conflicts and the bank's loan decisions. Owned by
// the sync work. Push and pull need the Doorstep-Protocol header. Roles are
// refused here before any body is read (officers sync; staff list conflicts
// and decide loans); syncsvc checks again and decides reach.
func (s *Server) syncRoutes(api *gin.RouterGroup) {
	sync := api.Group("/sync", s.requireProtocol, s.requireRole(store.RoleOfficer))
	sync.POST("/push", s.syncPush)
	sync.POST("/pull", s.syncPull)
	api.GET("/conflicts", s.requireRole(store.RoleSupervisor, store.RoleBranchManager, store.RoleAdmin), s.listConflicts)
	api.POST("/loans/:id/decision", s.requireRole(store.RoleSupervisor, store.RoleBranchManager), s.decideLoan)
}

// readBody reads the (already capped) request body.
func (s *Server) readBody(c *gin.Context) ([]byte, error) {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, errDecompressedTooLarge) {
			return nil, errBodyTooLarge.With("max_bytes", s.cfg.MaxBodyBytes)
		}
		return nil, apperr.New(syncproto.CodeInvalidRequest, "无法读取请求内容", "could not read the request body").Wrap(err)
	}
	return body, nil
}

func (s *Server) syncPush(c *gin.Context) {
	body, err := s.readBody(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	req, err := syncsvc.DecodePush(body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp, err := s.sync.Push(c.Request.Context(), actor(c), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

func (s *Server) syncPull(c *gin.Context) {
	body, err := s.readBody(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	req, err := syncsvc.DecodePull(body)
	if err != nil {
		s.writeError(c, err)
		return
	}
	resp, err := s.sync.Pull(c.Request.Context(), actor(c), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, resp)
}

func (s *Server) listConflicts(c *gin.Context) {
	limit := 0
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.writeError(c, apperr.Invalid("limit", "limit 应为整数", "limit must be an integer"))
			return
		}
		limit = n
	}
	page, err := s.sync.ListConflicts(c.Request.Context(), actor(c), syncsvc.ConflictFilter{
		Kind: c.Query("kind"), Limit: limit, Cursor: c.Query("cursor"),
	})
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, page)
}

// decisionRequest is the body of POST /api/v1/loans/{id}/decision.
type decisionRequest struct {
	Status string `json:"status"`
	Note   string `json:"note"`
}

func (s *Server) decideLoan(c *gin.Context) {
	var req decisionRequest
	if err := bindJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	loan, err := s.sync.DecideLoan(c.Request.Context(), actor(c), c.Param("id"), req.Status, req.Note)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, loan)
}
