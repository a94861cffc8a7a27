package httpapi

import (
	"compress/gzip"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

const (
	ctxRequestID = "doorstep.request_id"
	ctxActor     = "doorstep.actor"
)

// Only UUID-shaped request ids are taken from clients: a free-form id could
// smuggle a phone or ID number into the logs.
var requestIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// withRequestID takes a UUID X-Request-ID from the client or makes one, and
// echoes it back.
func withRequestID(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !requestIDPattern.MatchString(id) {
		var b [12]byte
		rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	c.Set(ctxRequestID, id)
	c.Header("X-Request-ID", id)
	c.Next()
}

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// accessLog writes one structured line per request. It logs the route
// pattern, never the raw path or query, so identifiers in URLs stay out of logs.
func (s *Server) accessLog(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	level := slog.LevelInfo
	if c.Writer.Status() >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(c.Request.Context(), level, "http request",
		slog.String("request_id", requestID(c)),
		slog.String("method", c.Request.Method),
		slog.String("route", route),
		slog.Int("status", c.Writer.Status()),
		slog.Int64("duration_ms", time.Since(start).Milliseconds()),
		slog.String("client_ip", c.ClientIP()),
		logAttrsUser(c),
	)
}

// metrics records request counts and latencies by route.
func (s *Server) metrics(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := strconv.Itoa(c.Writer.Status())
	s.m.requests.WithLabelValues(c.Request.Method, route, status).Inc()
	s.m.duration.WithLabelValues(c.Request.Method, route).Observe(time.Since(start).Seconds())
}

// recovery turns a panic into a logged 500 with a JSON body.
func (s *Server) recovery(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			if r == http.ErrAbortHandler {
				panic(r)
			}
			s.log.ErrorContext(c.Request.Context(), "panic", "request_id", requestID(c), "panic", r)
			s.writeError(c, apperr.Internal)
		}
	}()
	c.Next()
}

// admit lets at most MaxInFlight API requests run at once. The others wait
// for a slot up to QueueWait and then get 503 with Retry-After, which devices
// honour with backoff.
func (s *Server) admit(c *gin.Context) {
	select {
	case s.slots <- struct{}{}:
	default:
		t := time.NewTimer(s.cfg.QueueWait)
		select {
		case s.slots <- struct{}{}:
			t.Stop()
		case <-t.C:
			s.m.shed.Inc()
			c.Header("Retry-After", "2")
			s.fail(c, syncproto.CodeUnavailable, "服务器繁忙，请稍后自动重试", "server busy; retry after the Retry-After delay")
			return
		case <-c.Request.Context().Done():
			c.Abort()
			return
		}
	}
	s.m.inFlight.Inc()
	defer func() {
		s.m.inFlight.Dec()
		<-s.slots
	}()
	c.Next()
}

var (
	errBodyTooLarge         = apperr.New(syncproto.CodeBodyTooLarge, "请求内容过大", "the request body is too large")
	errDecompressedTooLarge = errors.New("decompressed body exceeds the cap")
)

// limitBody caps the body before anything buffers it. A gzip-encoded body is
// decompressed on the fly, and the decompressed size is capped too.
func (s *Server) limitBody(c *gin.Context) {
	max := s.bodyCapFor(c)
	if c.Request.ContentLength > max {
		s.writeError(c, errBodyTooLarge.With("max_bytes", max))
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, max)
	switch strings.ToLower(strings.TrimSpace(c.GetHeader("Content-Encoding"))) {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(c.Request.Body)
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.writeError(c, errBodyTooLarge.With("max_bytes", max))
				return
			}
			s.writeError(c, apperr.New(syncproto.CodeInvalidRequest, "gzip 压缩内容无效", "invalid gzip body"))
			return
		}
		c.Request.Body = &cappedReader{r: zr, left: max, closer: c.Request.Body}
		c.Request.Header.Del("Content-Encoding")
		c.Request.ContentLength = -1
	default:
		s.writeError(c, apperr.New(syncproto.CodeInvalidRequest, "不支持的内容编码", "unsupported Content-Encoding; use gzip or none"))
		return
	}
	c.Next()
}

type cappedReader struct {
	r      io.Reader
	left   int64
	closer io.Closer
}

func (r *cappedReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		// Probe one byte: exactly at the cap is fine, beyond it is not.
		var one [1]byte
		n, err := r.r.Read(one[:])
		if n > 0 {
			return 0, errDecompressedTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.r.Read(p)
	r.left -= int64(n)
	return n, err
}

func (r *cappedReader) Close() error { return r.closer.Close() }

// requireAuth authenticates the bearer token and puts the actor in the context.
func (s *Server) requireAuth(c *gin.Context) {
	h := c.GetHeader("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		s.writeError(c, apperr.Unauthenticated)
		return
	}
	actor, err := s.auth.Authenticate(c.Request.Context(), token)
	if err != nil {
		s.writeError(c, err)
		return
	}
	actor.RequestID = requestID(c)
	c.Set(ctxActor, actor)
	c.Next()
}

// requireRole admits only the listed roles; it runs after requireAuth.
func (s *Server) requireRole(roles ...string) gin.HandlerFunc {
	return func(c *gin.Context) {
		a, _ := actorOf(c)
		for _, r := range roles {
			if a.Role == r {
				c.Next()
				return
			}
		}
		s.writeError(c, apperr.Forbidden)
	}
}

// requireMay admits only actors whose role a service's own predicate
// admits (coverage.MayReview, registry.MayImport); the web console asks the
// same predicates, so each of those rules is written once.
func (s *Server) requireMay(may func(store.Actor) bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if a, _ := actorOf(c); may(a) {
			c.Next()
			return
		}
		s.writeError(c, apperr.Forbidden)
	}
}

func actorOf(c *gin.Context) (store.Actor, bool) {
	v, ok := c.Get(ctxActor)
	if !ok {
		return store.Actor{}, false
	}
	a, ok := v.(store.Actor)
	return a, ok
}

// actor returns the authenticated actor; only for routes behind requireAuth.
func actor(c *gin.Context) store.Actor {
	a, _ := actorOf(c)
	return a
}

// requireProtocol enforces the Doorstep-Protocol header on sync routes.
func (s *Server) requireProtocol(c *gin.Context) {
	v, err := strconv.Atoi(c.GetHeader(syncproto.HeaderProtocol))
	if err != nil || v < syncproto.MinProtocol || v > syncproto.MaxProtocol {
		s.writeError(c, apperr.New(syncproto.CodeUnsupportedProtocol,
			"不支持的同步协议版本，请升级应用", "unsupported or missing Doorstep-Protocol version").
			With("min", syncproto.MinProtocol).With("max", syncproto.MaxProtocol).With("header", syncproto.HeaderProtocol))
		return
	}
	c.Header(syncproto.HeaderProtocol, strconv.Itoa(v))
	c.Next()
}
