// Package httpapi is the HTTP face of Doorstep: gin routes, middleware
// (request ids, logs, metrics, body caps, authentication) and the mapping of
// service errors to JSON {code, message, details}. Handlers bind, validate,
// call a service with the request context and write JSON; authorization lives
// in the services and the store, in the same transaction as the work.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-contrib/gzip"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/auth"
	"github.com/doorstep-dev/doorstep/server/config"
	"github.com/doorstep-dev/doorstep/server/coverage"
	"github.com/doorstep-dev/doorstep/server/registry"
	"github.com/doorstep-dev/doorstep/server/report"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// Deps are what the HTTP layer needs; main builds them once.
type Deps struct {
	Config   config.Config
	DB       *store.DB
	Log      *slog.Logger
	Metrics  *prometheus.Registry
	Auth     *auth.Service
	Sync     *syncsvc.Service
	Registry *registry.Service
	Coverage *coverage.Service
	Report   *report.Service
}

// Server holds the dependencies of the handlers.
type Server struct {
	cfg      config.Config
	db       *store.DB
	log      *slog.Logger
	auth     *auth.Service
	sync     *syncsvc.Service
	registry *registry.Service
	coverage *coverage.Service
	report   *report.Service
	m        httpMetrics
	promReg  *prometheus.Registry
	engine   *gin.Engine
	slots    chan struct{}
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	shed     prometheus.Counter
}

// New builds the router.
func New(d Deps) (*Server, error) {
	if d.Metrics == nil {
		d.Metrics = prometheus.NewRegistry()
	}
	s := &Server{cfg: d.Config, db: d.DB, log: d.Log, auth: d.Auth, sync: d.Sync, registry: d.Registry, promReg: d.Metrics}
	s.coverage = d.Coverage
	s.report = d.Report
	s.m = httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "doorstep_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "doorstep_http_request_duration_seconds", Help: "HTTP request latency by method and route.",
			Buckets: []float64{.005, .01, .025, .05, .1, .2, .3, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "doorstep_http_in_flight", Help: "API requests being served now.",
		}),
		shed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorstep_http_shed_total", Help: "API requests refused with 503 after queueing for a slot.",
		}),
	}
	for _, c := range []prometheus.Collector{s.m.requests, s.m.duration, s.m.inFlight, s.m.shed, collectors.NewDBStatsCollector(d.DB.SQL(), "doorstep")} {
		if err := d.Metrics.Register(c); err != nil {
			return nil, err
		}
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	// Only the configured proxies may set X-Forwarded-For; with none, the
	// client address is the TCP peer and the header is ignored.
	if err := e.SetTrustedProxies(d.Config.TrustedProxies); err != nil {
		return nil, err
	}
	if len(d.Config.TrustedProxies) == 0 {
		e.ForwardedByClientIP = false
	}
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	e.Use(withRequestID, s.recovery, s.accessLog, s.metrics)
	e.NoRoute(func(c *gin.Context) {
		s.fail(c, syncproto.CodeNotFound, "请求的地址不存在", "no such endpoint")
	})
	e.NoMethod(func(c *gin.Context) {
		s.fail(c, syncproto.CodeMethodNotAllowed, "该地址不支持此请求方法", "method not allowed on this endpoint")
	})

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{})))
	s.docsRoutes(e)

	// Admission first, so queued requests hold no body and no compressor.
	// BestSpeed: sync payloads are JSON, and CPU is the scarce resource.
	s.slots = make(chan struct{}, d.Config.MaxInFlight)
	api := e.Group("/api/v1", s.admit, s.limitBody, gzip.Gzip(gzip.BestSpeed, gzip.WithExcludedPaths([]string{"/api/v1/auth/logout"})))
	s.authRoutes(api)
	authed := api.Group("", s.requireAuth)
	s.syncRoutes(authed)
	s.registryRoutes(authed)
	s.coverageRoutes(authed)
	s.reportRoutes(authed)
	if err := s.consoleRoutes(e); err != nil {
		return nil, err
	}
	s.engine = e
	return s, nil
}

// Handler is the root http.Handler.
func (s *Server) Handler() http.Handler { return s.engine }

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz answers 200 when the database is reachable and the schema is current.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readyz: database unreachable", "err", err)
		s.fail(c, syncproto.CodeUnavailable, "数据库不可用", "database unreachable")
		return
	}
	n, err := s.db.Pending(ctx)
	if err != nil || n > 0 {
		s.writeError(c, apperr.New(syncproto.CodeUnavailable, "数据库结构需要升级，请运行 doorstep migrate up",
			"migrations pending; run doorstep migrate up").With("pending", n).Wrap(err))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "database": s.db.Dialect()})
}
