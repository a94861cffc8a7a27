package console

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pageSet holds one template per page, each the layout plus the page.
type pageSet struct {
	byName map[string]*template.Template
}

var funcs = template.FuncMap{
	"yuan": yuan,
	"pct": func(part, whole int64) string {
		if whole == 0 {
			return "—"
		}
		return strconv.FormatFloat(float64(part)*100/float64(whole), 'f', 1, 64) + "%"
	},
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
	"add": func(a, b int) int { return a + b },
	"th": func(list listState, key, label string) any {
		return struct {
			List       listState
			Key, Label string
		}{list, key, label}
	},
	"pg": func(l lang, p pager) any {
		return struct {
			pager
			L lang
		}{p, l}
	},
	"srch": func(l lang, list listState, action, hint string) any {
		return struct {
			L            lang
			List         listState
			Action, Hint string
		}{l, list, action, hint}
	},
	"scopeForm": func(l lang, action, month, org string, orgs []orgChoice, extra ...string) any {
		var ex [][2]string
		for i := 0; i+1 < len(extra); i += 2 {
			ex = append(ex, [2]string{extra[i], extra[i+1]})
		}
		return struct {
			L                  lang
			Action, Month, Org string
			Orgs               []orgChoice
			Extra              [][2]string
		}{l, action, month, org, orgs, ex}
	},
	"figs": func(l lang, s coverage.Summary) any {
		return struct {
			L lang
			S coverage.Summary
		}{l, s}
	},
	"visitCard": func(v view, it coverage.ReviewItem) any {
		d, _ := v.Data.(reviewView)
		return visitCardView{L: v.Lang, V: it, CSRF: v.CSRF, Back: d.Back, May: d.MayReview, view: v}
	},
	"upper": strings.ToUpper,
	"figLabel": func(l lang, f report.FigureInfo) string {
		if l.EN() {
			return f.LabelEN
		}
		return f.LabelZH
	},
	"figValue": func(f report.FigureInfo, v float64) string {
		switch f.Unit {
		case store.UnitFen:
			return "¥" + yuan(int64(v))
		case store.UnitRate:
			return strconv.FormatFloat(v*100, 'f', 1, 64) + "%"
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	},
	"mul100": func(f float64) float64 { return f * 100 },
	"derefF": func(f *float64) float64 {
		if f == nil {
			return 0
		}
		return *f
	},
	// Evidence is shown without ids and raw coordinates, which say nothing
	// to a person; a missing value is left out.
	"evShown": func(k string, v any) bool {
		return v != nil && !strings.HasSuffix(k, "_id") && !strings.HasSuffix(k, "lat") && !strings.HasSuffix(k, "lng")
	},
	"showURL": func(s listState, show string) string {
		return s.url(func(v url.Values) {
			v.Set("show", show)
			v.Del("page")
		})
	},
}

// yuan shows integer fen as yuan with two decimals and thousands separators.
func yuan(fen int64) string {
	sign := ""
	if fen < 0 {
		sign, fen = "-", -fen
	}
	return fmt.Sprintf("%s%s.%02d", sign, groupThousands(fen/100), fen%100)
}

func groupThousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func loadPages() (*pageSet, error) {
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	ps := &pageSet{byName: map[string]*template.Template{}}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" || name == "parts" {
			continue
		}
		t, err := base.Clone()
		if err != nil {
			return nil, err
		}
		if _, err := t.ParseFS(templateFS, f); err != nil {
			return nil, fmt.Errorf("console template %s: %w", name, err)
		}
		ps.byName[name] = t
	}
	return ps, nil
}

// visitCardView is what one visit card of the review pages receives.
type visitCardView struct {
	view
	L    lang
	V    coverage.ReviewItem
	CSRF string
	Back string
	May  bool
}

// view is what every page template receives.
type view struct {
	Lang  lang
	CSRF  string
	Title string
	Nav   string
	Me    *me
	Path  string // the current path, for the language switch
	Flash string
	Data  any
	loc   *time.Location
}

type me struct {
	Name     string
	Username string
	Role     string
	Unit     string
}

// Time shows a timestamp in the configured time zone.
func (v view) Time(t any) string {
	var tt time.Time
	switch x := t.(type) {
	case time.Time:
		tt = x
	case *time.Time:
		if x == nil {
			return "—"
		}
		tt = *x
	case store.Time:
		if !x.Valid {
			return "—"
		}
		tt = x.Time
	default:
		return ""
	}
	if tt.IsZero() {
		return "—"
	}
	loc := v.loc
	if loc == nil {
		loc = time.UTC
	}
	return tt.In(loc).Format("2006-01-02 15:04")
}

// EvValue shows one value of a flag's evidence; times, which the evidence
// carries in UTC, in the configured time zone.
func (v view) EvValue(x any) string {
	switch y := x.(type) {
	case float64:
		return strconv.FormatFloat(y, 'f', -1, 64)
	case string:
		if t, err := time.Parse(time.RFC3339Nano, y); err == nil {
			return v.Time(t)
		}
		return y
	}
	return fmt.Sprint(x)
}

// page builds the view of a signed-in page.
func (cs *Console) page(c *gin.Context, nav, titleKey string, data any) view {
	l := cs.lang(c)
	id := identity(c)
	v := view{
		Lang: l, CSRF: id.Session.CSRFToken, Title: l.T(titleKey), Nav: nav, Data: data,
		Path: c.Request.URL.Path, loc: cs.loc,
	}
	if id.Actor.UserID != "" {
		name := id.DisplayName
		if name == "" {
			name = id.Actor.Username
		}
		v.Me = &me{Name: name, Username: id.Actor.Username, Role: l.T("role." + id.Actor.Role), Unit: id.UnitName}
	}
	if k := c.Query("ok"); k != "" {
		if _, known := catalog[k]; known && strings.Contains(k, ".ok.") {
			v.Flash = l.T(k)
		}
	}
	return v
}

// render executes a page into a buffer first, so that a template error is
// a clean 500 rather than half a page.
func (cs *Console) render(c *gin.Context, status int, name string, v view) {
	if v.loc == nil {
		v.loc = cs.loc
	}
	t, ok := cs.pages.byName[name]
	if !ok {
		cs.log.ErrorContext(c.Request.Context(), "console: no such template", "template", name)
		c.AbortWithStatus(http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		cs.log.ErrorContext(c.Request.Context(), "console: render failed", "request_id", cs.d.RequestID(c), "template", name, "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error"))
		c.Abort()
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

type errorView struct {
	Message string
	Code    string
	Back    string
}

func (cs *Console) renderError(c *gin.Context, status int, m message) {
	cs.renderErrorText(c, status, cs.lang(c).pick(m), "")
}

func (cs *Console) renderErrorText(c *gin.Context, status int, msg, code string) {
	v := cs.page(c, "", "error.title", errorView{Message: msg, Code: code, Back: backTarget(c)})
	cs.render(c, status, "error", v)
	c.Abort()
}

func backTarget(c *gin.Context) string {
	if r := c.GetHeader("Referer"); r != "" {
		if i := strings.Index(r, Base+"/"); i >= 0 {
			return safeNext(r[i:])
		}
	}
	return Base + "/overview"
}

// fail shows an error from a service or the store: its message in the
// page's language and the status of the API's table. Anything that is not
// an apperr is internal: logged with the request id, never shown.
func (cs *Console) fail(c *gin.Context, err error) {
	l := cs.lang(c)
	e, ok := apperr.As(err)
	if !ok {
		switch {
		case errors.Is(err, store.ErrNotFound):
			cs.renderErrorText(c, http.StatusNotFound, l.pick(msgNotFound), "not_found")
			return
		case errors.Is(err, store.ErrForbiddenRole):
			cs.renderErrorText(c, http.StatusForbidden, l.pick(msgForbidden), "forbidden")
			return
		case errors.Is(err, store.ErrInvalid):
			cs.renderErrorText(c, http.StatusBadRequest, strings.TrimPrefix(err.Error(), store.ErrInvalid.Error()+": "), "invalid_request")
			return
		}
		cs.log.ErrorContext(c.Request.Context(), "console request failed", "request_id", cs.d.RequestID(c), "err", err)
		cs.renderErrorText(c, http.StatusInternalServerError, l.pick(msgInternal), "internal")
		return
	}
	status := cs.d.StatusOf(e.Code)
	if status >= 500 {
		cs.log.ErrorContext(c.Request.Context(), "console request failed", "request_id", cs.d.RequestID(c), "code", e.Code, "err", e.Error())
	}
	msg := e.Message
	if l.EN() || msg == "" {
		msg = e.MessageEN
	}
	if l.EN() && msg == "" {
		msg = e.Message
	}
	cs.renderErrorText(c, status, msg, e.Code)
}

func (cs *Console) static(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("file"), "/")
	if name == "" || strings.Contains(name, "..") {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	b, err := staticFS.ReadFile("static/" + name)
	if err != nil {
		c.AbortWithStatus(http.StatusNotFound)
		return
	}
	ct := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	case ".png":
		ct = "image/png"
	}
	c.Header("Cache-Control", "public, max-age=3600")
	c.Data(http.StatusOK, ct, b)
}
