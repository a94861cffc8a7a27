// Package console is the web console at /console for supervisors, branch
// managers and administrators: server-rendered HTML (html/template) with
// its templates and stylesheet embedded in the binary and no script at all,
// so it works in a branch with no outside access and under a
// Content-Security-Policy that forbids inline script.
//
// Sign-in checks the password with auth.Service.CheckPassword, under the
// same throttle as the API's login, and opens a server-side session
// (store.StartConsoleSession); the browser holds only a random id in an
// HttpOnly, SameSite=Lax cookie, marked Secure when the console is served
// over TLS, behind a trusted proxy that says https, or under an https://
// public URL. Every form carries the session's CSRF token,
// checked on every POST. Sign-out revokes the session on the server.
//
// The console holds no rule of its own: each request builds a store.Actor
// from the session the way the API builds one from a token, every page
// calls the same services and scoped store methods the API calls, and the
// role rules it checks before calling them are the services' predicates
// that the API's route guards ask too.
package console

import (
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/auth"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
)

// Base is where the console is mounted.
const Base = "/console"

// Deps are what the console needs; the HTTP layer passes its own.
type Deps struct {
	Config   config.Config
	DB       *store.DB
	Log      *slog.Logger
	Auth     *auth.Service
	Sync     *syncsvc.Service
	Registry *registry.Service
	Coverage *coverage.Service
	Report   *report.Service

	// RequestID returns the request id the HTTP layer assigned.
	RequestID func(c *gin.Context) string
	// StatusOf maps an error code to its HTTP status (the API's one table).
	StatusOf func(code string) int

	// SessionTTL is a session's absolute lifetime (default 12h); IdleTimeout
	// ends a session nobody used for that long (default 30m).
	SessionTTL  time.Duration
	IdleTimeout time.Duration
	// Now is the clock (default store.Now).
	Now func() time.Time
}

// Console serves the pages.
type Console struct {
	d       Deps
	log     *slog.Logger
	pages   *pageSet
	proxies []netip.Prefix
	httpsUR bool
	loc     *time.Location
}

// New builds the console. It parses the embedded templates once.
func New(d Deps) (*Console, error) {
	if d.SessionTTL <= 0 {
		d.SessionTTL = 12 * time.Hour
	}
	if d.IdleTimeout <= 0 {
		d.IdleTimeout = 30 * time.Minute
	}
	if d.Now == nil {
		d.Now = store.Now
	}
	if d.RequestID == nil {
		d.RequestID = func(c *gin.Context) string { return c.Writer.Header().Get("X-Request-ID") }
	}
	if d.StatusOf == nil {
		d.StatusOf = func(string) int { return http.StatusInternalServerError }
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pages, err := loadPages()
	if err != nil {
		return nil, err
	}
	c := &Console{
		d: d, log: log, pages: pages, loc: d.Config.Location(),
		httpsUR: strings.HasPrefix(strings.ToLower(d.Config.PublicURL), "https://"),
	}
	for _, p := range d.Config.TrustedProxies {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			c.proxies = append(c.proxies, pfx)
		} else if a, err := netip.ParseAddr(p); err == nil {
			c.proxies = append(c.proxies, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return c, nil
}

// Mount registers the console's routes on g, which is rooted at Base.
func (cs *Console) Mount(g *gin.RouterGroup) {
	g.Use(cs.securityHeaders, cs.limitForm)
	g.GET("/static/*file", cs.static)
	g.GET("/login", cs.loginPage)
	g.POST("/login", cs.loginSubmit)

	in := g.Group("", cs.requireSession, cs.checkCSRF)
	in.GET("", cs.home)
	in.GET("/", cs.home)
	in.POST("/logout", cs.logout)
	in.GET("/overview", cs.overview)
	in.GET("/coverage", cs.coveragePage)
	in.POST("/coverage/exempt", cs.requireMay(coverage.MayReview), cs.exemptSubmit)
	in.POST("/coverage/signoff", cs.requireMay(coverage.MayReview), cs.signoffSubmit)
	in.GET("/reviews", cs.reviewsPage)
	in.POST("/reviews/:id/confirm", cs.requireMay(coverage.MayReview), cs.reviewConfirm)
	in.POST("/reviews/:id/issues", cs.requireMay(coverage.MayReview), cs.reviewIssues)
	in.GET("/conflicts", cs.conflictsPage)
	in.GET("/households", cs.householdsPage)
	in.GET("/households/:id", cs.householdPage)
	in.POST("/households/:id/reveal", cs.householdReveal)
	in.GET("/households/:id/archive/:format", cs.householdArchiveFile)
	in.GET("/imports", cs.requireMay(registry.MayImport), cs.importsPage)
	in.POST("/imports", cs.requireMay(registry.MayImport), cs.importUpload)
	in.GET("/imports/:id", cs.requireMay(registry.MayImport), cs.importPage)
	in.POST("/imports/:id/commit", cs.requireMay(registry.MayImport), cs.importCommit)
	in.POST("/imports/:id/discard", cs.requireMay(registry.MayImport), cs.importDiscard)
	in.GET("/assignments", cs.assignmentsPage)
	in.POST("/assignments", cs.assignSubmit)
	in.POST("/assignments/deadline", cs.outletDeadlineSubmit)
	in.GET("/reports", cs.reportsPage)
	in.POST("/reports/:month/close", cs.reportClose)
	in.GET("/reports/:month/versions/:version/diff", cs.reportDiff)
	in.GET("/reports/:month/versions/:version/files/:format", cs.reportFile)
	in.GET("/devices", cs.devicesPage)
	in.POST("/devices/:id/revoke", cs.deviceRevoke)
	in.GET("/audit", cs.auditPage)
}

func (cs *Console) home(c *gin.Context) {
	c.Redirect(http.StatusSeeOther, Base+"/overview")
}
