package console

import (
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/registry/importfile"
)

// CSP is the Content-Security-Policy of every console response. The console
// has no script at all; script-src 'self' leaves room for a script file
// served from the binary and still forbids inline script and inline event
// handlers. Styles come from the one stylesheet, never from style attributes.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func (cs *Console) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if !strings.HasPrefix(c.Request.URL.Path, Base+"/static/") {
		// Pages show personal data: keep them out of shared caches and the
		// back-forward cache of a borrowed tablet.
		h.Set("Cache-Control", "no-store")
	}
	if cs.secure(c) {
		h.Set("Strict-Transport-Security", "max-age=31536000")
	}
	c.Next()
}

// Form bodies are small except for an uploaded list.
const (
	maxFormBytes   = 1 << 20
	maxUploadBytes = importfile.DefaultMaxBytes + 1<<20 // as the API's import route
)

func (cs *Console) limitForm(c *gin.Context) {
	if c.Request.Method == http.MethodPost {
		limit := int64(maxFormBytes)
		if strings.HasPrefix(c.GetHeader("Content-Type"), "multipart/form-data") {
			limit = maxUploadBytes
		}
		if c.Request.ContentLength > limit {
			cs.renderError(c, http.StatusRequestEntityTooLarge, msgTooLarge)
			return
		}
		c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	}
	c.Next()
}

// secure reports whether the browser reached us over https: directly over
// TLS, through a configured trusted proxy that says so in
// X-Forwarded-Proto, or when the configured public URL is https.
func (cs *Console) secure(c *gin.Context) bool {
	if c.Request.TLS != nil || cs.httpsUR {
		return true
	}
	if len(cs.proxies) == 0 {
		return false
	}
	peer, err := netip.ParseAddrPort(c.Request.RemoteAddr)
	if err != nil {
		return false
	}
	addr := peer.Addr().Unmap()
	for _, p := range cs.proxies {
		if p.Contains(addr) {
			return strings.EqualFold(strings.TrimSpace(c.GetHeader("X-Forwarded-Proto")), "https")
		}
	}
	return false
}
