package httpapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/apperr"
)

// reportRoutes: monthly reports, month close, frozen versions, their
// differences and files, and a household's visit archive. Who may see what
// is decided in the report service against the actor.
func (s *Server) reportRoutes(api *gin.RouterGroup) {
	r := api.Group("/reports")
	r.GET("/monthly", s.reportMonthly)
	r.POST("/:month/close", s.reportClose)
	r.GET("/:month/versions", s.reportVersions)
	r.GET("/:month/versions/:version", s.reportVersion)
	r.GET("/:month/versions/:version/diff", s.reportDiff)
	r.GET("/:month/versions/:version/files", s.reportFiles)
	r.GET("/:month/versions/:version/files/:format", s.reportFile)
	api.GET("/households/:id/archive", s.householdArchive)
}

func (s *Server) reportMonthly(c *gin.Context) {
	v, err := s.report.Monthly(c.Request.Context(), actor(c), c.Query("month"), c.Query("org"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (s *Server) reportClose(c *gin.Context) {
	v, err := s.report.Close(c.Request.Context(), actor(c), c.Param("month"), c.Query("org"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, v)
}

func (s *Server) reportVersions(c *gin.Context) {
	v, err := s.report.Versions(c.Request.Context(), actor(c), c.Param("month"), c.Query("org"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

// versionParam reads {version}: a positive integer.
func versionParam(c *gin.Context) (int, error) {
	raw := c.Param("version")
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > 1_000_000 {
		if len(raw) > 16 {
			raw = raw[:16]
		}
		return 0, apperr.Invalid("version", "版本号应为正整数", "version must be a positive integer").With("value", raw)
	}
	return n, nil
}

func (s *Server) reportVersion(c *gin.Context) {
	n, err := versionParam(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	v, err := s.report.Version(c.Request.Context(), actor(c), c.Param("month"), n, c.Query("org"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (s *Server) reportDiff(c *gin.Context) {
	n, err := versionParam(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	v, err := s.report.Diff(c.Request.Context(), actor(c), c.Param("month"), n, c.Query("org"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, v)
}

func (s *Server) reportFiles(c *gin.Context) {
	n, err := versionParam(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	v, err := s.report.VersionFiles(c.Request.Context(), actor(c), c.Param("month"), n, c.Query("org"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"month": c.Param("month"), "version": n, "files": v})
}

func (s *Server) reportFile(c *gin.Context) {
	n, err := versionParam(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	lang := c.DefaultQuery("lang", "zh")
	f, err := s.report.File(c.Request.Context(), actor(c), c.Param("month"), n, c.Param("format"), lang, c.Query("org"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(f.FileName))
	c.Header("X-Content-SHA256", f.SHA256)
	c.Data(http.StatusOK, contentTypeOf(f.Format), f.Content)
}

func contentTypeOf(format string) string {
	if format == "csv" {
		return "text/csv; charset=utf-8"
	}
	return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
}

func (s *Server) householdArchive(c *gin.Context) {
	lang := "zh"
	if English(c) {
		lang = "en"
	}
	body, ctype, name, err := s.report.HouseholdArchive(c.Request.Context(), actor(c), c.Param("id"), c.DefaultQuery("format", "json"), lang)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if ctype != "application/json; charset=utf-8" {
		c.Header("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(name))
	}
	c.Data(http.StatusOK, ctype, body)
}
