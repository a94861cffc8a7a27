package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
)

// Cookie names. The session cookie carries a random id whose SHA-256 is the
// session's key on the server; the login cookie carries the token that the
// sign-in form must echo, so that no other site can sign a browser in to an
// account of its choosing (login CSRF).
const (
	SessionCookie = "doorstep_console"
	loginCookie   = "doorstep_console_login"
	csrfField     = "csrf"
	ctxIdentity   = "doorstep.console.identity"
)

func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashSessionID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

func (cs *Console) setCookie(c *gin.Context, name, value string, maxAge int, sameSite http.SameSite) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: name, Value: value, Path: Base, MaxAge: maxAge,
		HttpOnly: true, Secure: cs.secure(c), SameSite: sameSite,
	})
}

func (cs *Console) clearCookie(c *gin.Context, name string) {
	cs.setCookie(c, name, "", -1, http.SameSiteLaxMode)
}

func identity(c *gin.Context) store.ConsoleIdentity {
	v, _ := c.Get(ctxIdentity)
	id, _ := v.(store.ConsoleIdentity)
	return id
}

// actor is the acting user of a signed-in request.
func actor(c *gin.Context) store.Actor { return identity(c).Actor }

// requireSession admits a request with a live session and puts its identity
// in the context; anyone else is sent to the sign-in page.
func (cs *Console) requireSession(c *gin.Context) {
	raw, err := c.Cookie(SessionCookie)
	if err != nil || raw == "" {
		cs.toLogin(c)
		return
	}
	id, err := cs.d.DB.ConsoleSessionActor(c.Request.Context(), hashSessionID(raw), cs.d.Now(), cs.d.IdleTimeout)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrConsoleSessionEnded) {
		cs.clearCookie(c, SessionCookie)
		cs.toLogin(c)
		return
	}
	if err != nil {
		cs.fail(c, err)
		return
	}
	id.Actor.RequestID = cs.d.RequestID(c)
	c.Set(ctxIdentity, id)
	c.Next()
}

func (cs *Console) toLogin(c *gin.Context) {
	target := Base + "/login"
	if c.Request.Method == http.MethodGet {
		target += "?next=" + url.QueryEscape(c.Request.URL.RequestURI())
	}
	c.Redirect(http.StatusSeeOther, target)
	c.Abort()
}

// checkCSRF refuses every POST whose form does not carry the session's token.
func (cs *Console) checkCSRF(c *gin.Context) {
	if c.Request.Method != http.MethodPost {
		c.Next()
		return
	}
	want := identity(c).Session.CSRFToken
	got := c.PostForm(csrfField)
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		cs.renderError(c, http.StatusForbidden, msgCSRF)
		return
	}
	c.Next()
}

// safeNext keeps a post-sign-in redirect inside the console.
func safeNext(next string) string {
	if !strings.HasPrefix(next, Base+"/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") ||
		strings.HasPrefix(next, Base+"/login") || strings.HasPrefix(next, Base+"/static/") {
		return Base + "/overview"
	}
	return next
}

type loginView struct {
	Next     string
	Username string
	Error    string
}

func (cs *Console) loginPage(c *gin.Context) {
	if raw, err := c.Cookie(SessionCookie); err == nil && raw != "" {
		if _, err := cs.d.DB.ConsoleSessionActor(c.Request.Context(), hashSessionID(raw), cs.d.Now(), cs.d.IdleTimeout); err == nil {
			c.Redirect(http.StatusSeeOther, safeNext(c.Query("next")))
			return
		}
	}
	var flash message
	if c.Query("bye") != "" {
		flash = catalog["login.bye"]
	}
	cs.renderLogin(c, http.StatusOK, loginView{Next: safeNext(c.Query("next"))}, message{}, flash)
}

func (cs *Console) renderLogin(c *gin.Context, status int, v loginView, msg message, flash ...message) {
	token := randomToken()
	cs.setCookie(c, loginCookie, token, 3600, http.SameSiteStrictMode)
	l := cs.lang(c)
	if msg.zh != "" {
		v.Error = l.pick(msg)
	}
	out := view{Lang: l, CSRF: token, Title: l.T("login.title"), Path: c.Request.URL.Path, Data: v}
	if len(flash) > 0 && flash[0].zh != "" {
		out.Flash = l.pick(flash[0])
	}
	cs.render(c, status, "login", out)
}

func (cs *Console) loginSubmit(c *gin.Context) {
	ctx := c.Request.Context()
	v := loginView{Next: safeNext(c.PostForm("next")), Username: strings.TrimSpace(c.PostForm("username"))}
	want, _ := c.Cookie(loginCookie)
	got := c.PostForm(csrfField)
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		cs.renderLogin(c, http.StatusForbidden, v, msgCSRF)
		return
	}
	password := c.PostForm("password")
	if v.Username == "" || password == "" {
		cs.renderLogin(c, http.StatusBadRequest, v, msgLoginMissing)
		return
	}
	// The API's own check: the same throttle budgets, under the same keys,
	// with every failure counted against the account and the address.
	ver, err := cs.d.Auth.CheckPassword(ctx, v.Username, password, c.ClientIP())
	if e, ok := apperr.As(err); ok {
		cs.renderLogin(c, cs.d.StatusOf(e.Code), v, message{e.Message, e.MessageEN})
		return
	}
	if err != nil {
		cs.fail(c, err)
		return
	}
	// Who may use the console (active staff, not officers) is decided by
	// the store, in the transaction that opens the session.
	sid := randomToken()
	_, err = cs.d.DB.StartConsoleSession(ctx, store.ConsoleSessionStart{
		IDHash: hashSessionID(sid), CSRFToken: randomToken(), UserID: ver.User.ID, Now: cs.d.Now(),
		TTL: cs.d.SessionTTL, ClearFailuresKey: ver.ThrottleKey, RequestID: cs.d.RequestID(c),
	})
	switch {
	case errors.Is(err, store.ErrForbiddenRole):
		cs.renderLogin(c, http.StatusForbidden, v, msgOfficer)
		return
	case errors.Is(err, store.ErrUserDisabled):
		cs.renderLogin(c, http.StatusForbidden, v, msgDisabled)
		return
	case err != nil:
		cs.fail(c, err)
		return
	}
	// A browser that signs in again leaves its previous session behind:
	// end it, so that one browser never holds two live sessions.
	if prev, err := c.Cookie(SessionCookie); err == nil && prev != "" {
		if err := cs.d.DB.EndConsoleSession(ctx, store.Actor{}, hashSessionID(prev), store.ConsoleEndSignOut); err != nil && !errors.Is(err, store.ErrNotFound) {
			cs.log.WarnContext(ctx, "console: end the previous session", "request_id", cs.d.RequestID(c), "err", err)
		}
	}
	cs.clearCookie(c, loginCookie)
	cs.setCookie(c, SessionCookie, sid, int(cs.d.SessionTTL/time.Second), http.SameSiteLaxMode)
	c.Redirect(http.StatusSeeOther, v.Next)
}

func (cs *Console) logout(c *gin.Context) {
	raw, _ := c.Cookie(SessionCookie)
	err := cs.d.DB.EndConsoleSession(c.Request.Context(), actor(c), hashSessionID(raw), store.ConsoleEndSignOut)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		cs.fail(c, err)
		return
	}
	cs.clearCookie(c, SessionCookie)
	c.Redirect(http.StatusSeeOther, Base+"/login?bye=1")
}
