package httpapi

import (
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/registry/importfile"
	"github.com/doorstep-dev/doorstep/server/store"
)

// importRoute is where monitoring lists are uploaded. Lists are bigger than
// API requests, so the route has its own body cap (see bodyCapFor).
const importRoute = "/api/v1/imports"

// importBodyCap leaves room for multipart framing around the largest list
// importfile accepts.
const importBodyCap = importfile.DefaultMaxBytes + 1<<20

// bodyCapFor is the body cap of the request's route.
func (s *Server) bodyCapFor(c *gin.Context) int64 {
	if c.Request.Method == http.MethodPost && c.FullPath() == importRoute {
		return max(s.cfg.MaxBodyBytes, importBodyCap)
	}
	return s.cfg.MaxBodyBytes
}

// registryRoutes: imports, households, assignments, plans, progress and
// service areas. Reach is decided by the registry's store queries; the role
// groups here only turn away whole roles early.
func (s *Server) registryRoutes(api *gin.RouterGroup) {
	if s.registry == nil {
		return
	}
	importers := api.Group("", s.requireMay(registry.MayImport))
	importers.POST("/imports", s.createImport)
	importers.GET("/imports", s.listImports)
	importers.GET("/imports/:id", s.getImport)
	importers.GET("/imports/:id/items", s.importItems)
	importers.GET("/imports/:id/errors", s.importErrors)
	importers.POST("/imports/:id/commit", s.commitImport)
	importers.DELETE("/imports/:id", s.discardImport)

	api.GET("/households", s.listHouseholds)
	api.GET("/households/unvisited", s.unvisitedHouseholds)
	api.GET("/households/:id", s.getHousehold)
	api.GET("/progress", s.progress)
	api.GET("/plans/overdue", s.overduePlans)

	staff := api.Group("", s.requireRole(store.RoleSupervisor, store.RoleBranchManager, store.RoleAdmin))
	staff.GET("/households/:id/assignments", s.householdAssignments)
	staff.POST("/households/:id/reveal", s.revealHousehold)
	staff.POST("/assignments", s.assign)
	staff.POST("/outlet-deadlines", s.outletDeadline)
	staff.POST("/plans", s.createPlan)
	staff.GET("/service-areas", s.serviceAreas)

	admins := api.Group("", s.requireRole(store.RoleAdmin))
	admins.PUT("/service-areas", s.replaceServiceAreas)
}

// --- Imports -------------------------------------------------------------------

// importResponse is a preview with a first look at each kind of change and
// at the problems; the full lists page through /items and /errors.
type importResponse struct {
	Import   registry.Preview           `json:"import"`
	Applied  *bool                      `json:"applied,omitempty"`
	Items    map[string][]registry.Item `json:"items"`
	Problems []problemJSON              `json:"problems"`
}

type problemJSON struct {
	Row      int    `json:"row,omitempty"`
	Column   string `json:"column,omitempty"`
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Message  string `json:"message"`
}

const (
	sampleItems    = 20
	sampleProblems = 100
)

var itemKinds = []string{store.ChangeAdded, store.ChangeChanged, store.ChangeRiskEliminated, store.ChangeReturned, store.ChangeRemoved}

func (s *Server) importView(ctx context.Context, c *gin.Context, p registry.Preview) (importResponse, error) {
	out := importResponse{Import: p, Items: map[string][]registry.Item{}, Problems: []problemJSON{}}
	if p.Status != store.SnapshotDiscarded {
		for _, k := range itemKinds {
			items, _, err := s.registry.ImportItems(ctx, actor(c), p.ID, k, 0, sampleItems)
			if err != nil {
				return out, err
			}
			if items == nil {
				items = []registry.Item{}
			}
			out.Items[k] = items
		}
	}
	probs, err := s.registry.ImportProblems(ctx, actor(c), p.ID)
	if err != nil {
		return out, err
	}
	en := English(c)
	for i, q := range probs {
		if i == sampleProblems {
			break
		}
		pj := problemJSON{Row: q.Line, Column: q.Column, Code: q.Code, Severity: q.Severity, Message: q.Message}
		if en {
			pj.Message = q.MessageEN
		}
		out.Problems = append(out.Problems, pj)
	}
	return out, nil
}

// createImport takes the list as a multipart form (field "file") or as the
// raw body, and answers with the dry run: nothing is applied until
// POST /imports/{id}/commit.
func (s *Server) createImport(c *gin.Context) {
	ctx := c.Request.Context()
	in := registry.ImportInput{Branch: c.Query("branch"), FileName: c.Query("file_name")}
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if strings.HasPrefix(mt, "multipart/") {
		mr, err := c.Request.MultipartReader()
		if err != nil {
			s.writeError(c, apperr.Invalid("file", "无法读取上传的表单", "could not read the multipart form").Wrap(err))
			return
		}
		for {
			part, err := mr.NextPart()
			if err == io.EOF {
				s.writeError(c, apperr.Invalid("file", "表单中没有名为 file 的文件", "the form has no part named file"))
				return
			}
			if err != nil {
				s.writeError(c, uploadError(&uploadReadError{err}))
				return
			}
			if part.FormName() == "file" {
				in.Data = part
				if in.FileName == "" {
					in.FileName = part.FileName()
				}
				break
			}
		}
	} else {
		in.Data = c.Request.Body
	}
	in.Data = uploadReader{in.Data}
	p, err := s.registry.PreviewImport(ctx, actor(c), in)
	if err != nil {
		s.writeError(c, uploadError(err))
		return
	}
	out, err := s.importView(ctx, c, p)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, out)
}

// uploadReader marks failures to read the upload, which are the client's
// (a broken form, a cut connection), not the server's.
type uploadReader struct{ r io.Reader }

type uploadReadError struct{ err error }

func (e *uploadReadError) Error() string { return "read upload: " + e.err.Error() }
func (e *uploadReadError) Unwrap() error { return e.err }

func (u uploadReader) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	if err != nil && err != io.EOF {
		err = &uploadReadError{err}
	}
	return n, err
}

// uploadError turns a failure to read the upload into the right answer.
func uploadError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || errors.Is(err, errDecompressedTooLarge) {
		return errBodyTooLarge.With("max_bytes", importBodyCap)
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	var ure *uploadReadError
	if errors.As(err, &ure) || strings.Contains(err.Error(), "multipart") {
		return apperr.Invalid("file", "上传的内容不完整或格式有误", "the upload is incomplete or malformed").Wrap(err)
	}
	return err
}

func (s *Server) listImports(c *gin.Context) {
	list, err := s.registry.ListImports(c.Request.Context(), actor(c), c.Query("branch"), 50)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if list == nil {
		list = []registry.Preview{}
	}
	c.JSON(http.StatusOK, gin.H{"imports": list})
}

func (s *Server) getImport(c *gin.Context) {
	p, err := s.registry.GetImport(c.Request.Context(), actor(c), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	out, err := s.importView(c.Request.Context(), c, p)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, out)
}

func (s *Server) importItems(c *gin.Context) {
	offset, limit, err := page(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	items, total, err := s.registry.ImportItems(c.Request.Context(), actor(c), c.Param("id"), c.Query("kind"), offset, limit)
	if err != nil {
		s.writeError(c, err)
		return
	}
	if items == nil {
		items = []registry.Item{}
	}
	c.JSON(http.StatusOK, gin.H{"items": items, "total": total, "offset": offset, "limit": limit})
}

// importErrors downloads the problem report, row,column,code,message with
// Excel row numbers, in Chinese unless lang=en.
func (s *Server) importErrors(c *gin.Context) {
	format := c.DefaultQuery("format", "csv")
	if format != "csv" && format != "xlsx" {
		s.writeError(c, apperr.Invalid("format", "format 应为 csv 或 xlsx", "format must be csv or xlsx"))
		return
	}
	probs, err := s.registry.ImportProblems(c.Request.Context(), actor(c), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	lang := "zh"
	if English(c) {
		lang = "en"
	}
	name := "import-errors-" + c.Param("id") + "." + format
	c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	if format == "csv" {
		c.Header("Content-Type", "text/csv; charset=utf-8")
		c.Status(http.StatusOK)
		if err := importfile.WriteReportCSV(c.Writer, registry.ReportRows(probs), lang); err != nil {
			s.log.ErrorContext(c.Request.Context(), "write import report", "request_id", requestID(c), "err", err)
		}
		return
	}
	c.Header("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	c.Status(http.StatusOK)
	if err := importfile.WriteReportXLSX(c.Writer, registry.ReportRows(probs), lang); err != nil {
		s.log.ErrorContext(c.Request.Context(), "write import report", "request_id", requestID(c), "err", err)
	}
}

func (s *Server) commitImport(c *gin.Context) {
	p, applied, err := s.registry.CommitImport(c.Request.Context(), actor(c), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, importResponse{Import: p, Applied: &applied, Items: map[string][]registry.Item{}, Problems: []problemJSON{}})
}

func (s *Server) discardImport(c *gin.Context) {
	if err := s.registry.DiscardImport(c.Request.Context(), actor(c), c.Param("id")); err != nil {
		s.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// --- Households ----------------------------------------------------------------

// page reads offset and limit.
func page(c *gin.Context) (offset, limit int, err error) {
	for _, p := range []struct {
		name string
		dst  *int
	}{{"offset", &offset}, {"limit", &limit}} {
		v := c.Query(p.name)
		if v == "" {
			continue
		}
		n, perr := strconv.Atoi(v)
		if perr != nil || n < 0 {
			return 0, 0, apperr.Invalid(p.name, p.name+" 应为非负整数", p.name+" must be a non-negative integer")
		}
		*p.dst = n
	}
	if limit == 0 {
		limit = registry.DefaultPageSize
	}
	return offset, min(limit, registry.MaxPageSize), nil
}

func boolQuery(c *gin.Context, name string) (bool, error) {
	switch c.Query(name) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, apperr.Invalid(name, name+" 应为 true 或 false", name+" must be true or false")
}

// listHouseholds searches the households in reach. id_number and phone are
// looked up by blind index and never logged (the access log records the
// route pattern, not the query).
func (s *Server) listHouseholds(c *gin.Context) {
	offset, limit, err := page(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	unassigned, err := boolQuery(c, "unassigned")
	if err != nil {
		s.writeError(c, err)
		return
	}
	q := registry.HouseholdQuery{
		IDNumber: c.Query("id_number"), Phone: c.Query("phone"), HouseholdNo: c.Query("household_no"),
		OfficerID: c.Query("officer_id"), OutletID: c.Query("outlet_id"), CountyID: c.Query("county_id"),
		Township: c.Query("township"), Village: c.Query("village"), Status: c.Query("status"),
		Unassigned: unassigned, Offset: offset, Limit: limit,
	}
	hs, total, err := s.registry.Households(c.Request.Context(), actor(c), q)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"households": hs, "total": total, "offset": offset, "limit": limit})
}

func (s *Server) getHousehold(c *gin.Context) {
	h, err := s.registry.Household(c.Request.Context(), actor(c), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, h)
}

func (s *Server) householdAssignments(c *gin.Context) {
	hist, err := s.registry.AssignmentHistory(c.Request.Context(), actor(c), c.Param("id"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	if hist == nil {
		hist = []store.AssignmentRecord{}
	}
	c.JSON(http.StatusOK, gin.H{"assignments": hist})
}

func (s *Server) revealHousehold(c *gin.Context) {
	var req registry.RevealInput
	if err := bindJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	out, err := s.registry.Reveal(c.Request.Context(), actor(c), c.Param("id"), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

func (s *Server) unvisitedHouseholds(c *gin.Context) {
	offset, limit, err := page(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	hs, total, err := s.registry.Unvisited(c.Request.Context(), actor(c), c.Query("officer_id"), c.Query("since"), offset, limit)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"households": hs, "total": total, "offset": offset, "limit": limit})
}

// --- Assignments, deadlines, plans, progress ---------------------------------------

func (s *Server) assign(c *gin.Context) {
	var req registry.AssignInput
	if err := bindJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	res, err := s.registry.Assign(c.Request.Context(), actor(c), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}

func (s *Server) outletDeadline(c *gin.Context) {
	var req registry.OutletDeadlineInput
	if err := bindJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	n, err := s.registry.SetOutletDeadline(c.Request.Context(), actor(c), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"assignments": n, "due_on": req.DueOn})
}

func (s *Server) createPlan(c *gin.Context) {
	var req registry.PlanInput
	if err := bindJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	p, err := s.registry.CreatePlan(c.Request.Context(), actor(c), req)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusCreated, p)
}

func (s *Server) overduePlans(c *gin.Context) {
	offset, limit, err := page(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	plans, total, err := s.registry.OverduePlans(c.Request.Context(), actor(c), c.Query("officer_id"), offset, limit)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"plans": plans, "total": total, "offset": offset, "limit": limit})
}

func (s *Server) progress(c *gin.Context) {
	p, err := s.registry.Progress(c.Request.Context(), actor(c), registry.ProgressInput{
		Level: c.DefaultQuery("level", "officer"), Org: c.Query("org"), Since: c.Query("since"),
	})
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, p)
}

// --- Service areas -----------------------------------------------------------------

type serviceAreaJSON struct {
	County     string `json:"county"`
	Township   string `json:"township"`
	Village    string `json:"village,omitempty"`
	OutletID   string `json:"outlet_id"`
	OutletCode string `json:"outlet_code,omitempty"`
	OutletName string `json:"outlet_name,omitempty"`
}

func (s *Server) serviceAreas(c *gin.Context) {
	ms, err := s.registry.ServiceAreas(c.Request.Context(), actor(c), c.Query("branch"))
	if err != nil {
		s.writeError(c, err)
		return
	}
	out := make([]serviceAreaJSON, len(ms))
	for i, m := range ms {
		out[i] = serviceAreaJSON{County: m.County, Township: m.Township, Village: m.Village, OutletID: m.OutletID, OutletCode: m.OutletCode, OutletName: m.OutletName}
	}
	c.JSON(http.StatusOK, gin.H{"areas": out})
}

// replaceServiceAreasRequest replaces the branch's whole mapping; outlet_id
// takes an outlet's id or code.
type replaceServiceAreasRequest struct {
	Areas []struct {
		County   string `json:"county"`
		Township string `json:"township"`
		Village  string `json:"village"`
		OutletID string `json:"outlet_id"`
	} `json:"areas"`
}

func (s *Server) replaceServiceAreas(c *gin.Context) {
	var req replaceServiceAreasRequest
	if err := bindJSON(c, &req); err != nil {
		s.writeError(c, err)
		return
	}
	if req.Areas == nil {
		s.writeError(c, apperr.Invalid("areas", "请提供 areas 列表", "areas is required"))
		return
	}
	in := make([]store.AreaInput, len(req.Areas))
	for i, a := range req.Areas {
		in[i] = store.AreaInput{County: a.County, Township: a.Township, Village: a.Village, OutletID: a.OutletID}
	}
	res, err := s.registry.ReplaceServiceAreas(c.Request.Context(), actor(c), c.Query("branch"), in)
	if err != nil {
		s.writeError(c, err)
		return
	}
	c.JSON(http.StatusOK, res)
}
