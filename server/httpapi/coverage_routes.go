package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// coverageRoutes: the coverage ledger, exemptions, sign-offs, the review
// queue, confirmation and "has issues", spot checks, device health and the
// coverage settings. Officers get 403 on every one; what lies outside a
// supervisor's subtree answers 404 from the service.
func (s *Server) coverageRoutes(api *gin.RouterGroup) {
	if s.coverage == nil {
		return
	}
	staff := api.Group("", s.requireRole(store.RoleSupervisor, store.RoleBranchManager, store.RoleAdmin))
	staff.GET("/coverage/ledger", s.coverageLedger)
	staff.GET("/coverage/signoffs", s.coverageSignoffs)
	staff.GET("/coverage/spot-checks", s.coverageSpotChecks)
	staff.GET("/coverage/device-health", s.coverageDeviceHealth)
	staff.GET("/coverage/settings", s.coverageSettings)
	staff.GET("/visits/review", s.reviewVisits)

	// Certifying coverage and judging visits is supervision work: the
	// supervisors and branch managers, not the technical admin.
	reviewers := api.Group("", s.requireMay(coverage.MayReview))
	reviewers.POST("/coverage/exemptions", s.createExemption)
	reviewers.POST("/coverage/signoffs", s.createSignoff)
	reviewers.POST("/visits/:id/confirm", s.confirmVisit)
	reviewers.POST("/visits/:id/issues", s.visitIssues)

	managers := api.Group("", s.requireRole(store.RoleBranchManager, store.RoleAdmin))
	managers.PUT("/coverage/settings", s.updateCoverageSettings)
}

func (s *Server) coverageLedger(c *gin.Context) {
	l, err := s.coverage.Ledger(c.Request.Context(), actor(c), coverage.LedgerRequest{
		Month: c.Query("month"), OrgID: c.Query("org"), OfficerID: c.Query("officer"), Rows: c.Query("rows"),
	})
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, l)
}

func (s *Server) createExemption(c *gin.Context) {
	var req coverage.ExemptionRequest
	if err := bindJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	e, err := s.coverage.Exempt(c.Request.Context(), actor(c), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, e)
}

func (s *Server) createSignoff(c *gin.Context) {
	var req coverage.SignoffRequest
	if err := bindJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	so, err := s.coverage.SignOff(c.Request.Context(), actor(c), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, so)
}

func (s *Server) coverageSignoffs(c *gin.Context) {
	list, err := s.coverage.Signoffs(c.Request.Context(), actor(c), coverage.SignoffsRequest{Month: c.Query("month"), OrgID: c.Query("org")})
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"signoffs": list})
}

func (s *Server) reviewVisits(c *gin.Context) {
	page, err := s.coverage.Review(c.Request.Context(), actor(c), coverage.ReviewRequest{
		Status: c.Query("status"), Month: c.Query("month"), OrgID: c.Query("org"), OfficerID: c.Query("officer"),
		Limit: c.Query("limit"), Offset: c.Query("offset"),
	})
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, page)
}

func (s *Server) confirmVisit(c *gin.Context) {
	var req coverage.ConfirmRequest
	if err := bindOptionalJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	res, err := s.coverage.Confirm(c.Request.Context(), actor(c), c.Param("id"), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (s *Server) visitIssues(c *gin.Context) {
	var req coverage.IssuesRequest
	if err := bindJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	res, err := s.coverage.MarkIssues(c.Request.Context(), actor(c), c.Param("id"), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (s *Server) coverageSpotChecks(c *gin.Context) {
	res, err := s.coverage.SpotChecks(c.Request.Context(), actor(c), coverage.SpotCheckRequest{
		Month: c.Query("month"), OfficerID: c.Query("officer"), OrgID: c.Query("org"), Size: c.Query("size"),
	})
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (s *Server) coverageDeviceHealth(c *gin.Context) {
	res, err := s.coverage.DeviceHealth(c.Request.Context(), actor(c), c.Query("org"), c.Query("officer"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (s *Server) coverageSettings(c *gin.Context) {
	res, err := s.coverage.SettingsOf(c.Request.Context(), actor(c), c.Query("branch"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (s *Server) updateCoverageSettings(c *gin.Context) {
	var req coverage.SettingsUpdate
	if err := bindJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	res, err := s.coverage.UpdateSettings(c.Request.Context(), actor(c), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

// bindOptionalJSON is bindJSON for bodies that may be left out: no body, or
// only whitespace, leaves v as it is.
func bindOptionalJSON(c *gin.Context, v any) error {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, errDecompressedTooLarge) {
			return errBodyTooLarge
		}
		return apperr.New(syncproto.CodeInvalidRequest, "无法读取请求内容", "could not read the request body").Wrap(err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	return decodeStrict(body, v)
}
