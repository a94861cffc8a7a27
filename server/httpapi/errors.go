package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/server/store"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// statusOf is the one table from error code to HTTP status.
var statusOf = map[string]int{
	syncproto.CodeInvalidRequest:      http.StatusBadRequest,
	syncproto.CodeInvalidCursor:       http.StatusBadRequest,
	syncproto.CodeBodyTooLarge:        http.StatusRequestEntityTooLarge,
	syncproto.CodeTooManyMutations:    http.StatusRequestEntityTooLarge,
	syncproto.CodeUnauthenticated:     http.StatusUnauthorized,
	syncproto.CodeTokenExpired:        http.StatusUnauthorized,
	syncproto.CodeDeviceRevoked:       http.StatusUnauthorized,
	syncproto.CodeRefreshReused:       http.StatusUnauthorized,
	syncproto.CodeInvalidCredentials:  http.StatusUnauthorized,
	syncproto.CodeAccountDisabled:     http.StatusUnauthorized,
	syncproto.CodeTooManyAttempts:     http.StatusTooManyRequests,
	syncproto.CodeForbidden:           http.StatusForbidden,
	syncproto.CodeNotFound:            http.StatusNotFound,
	syncproto.CodeMethodNotAllowed:    http.StatusMethodNotAllowed,
	syncproto.CodeConflict:            http.StatusConflict,
	syncproto.CodeUnsupportedProtocol: http.StatusUpgradeRequired,
	syncproto.CodeInternal:            http.StatusInternalServerError,
	syncproto.CodeUnavailable:         http.StatusServiceUnavailable,
}

// StatusOf returns the HTTP status for an error code (500 when unknown).
func StatusOf(code string) int {
	if s, ok := statusOf[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// English reports whether the client asked for English messages, by
// ?lang=en or an Accept-Language that prefers English. Chinese is the default.
func English(c *gin.Context) bool {
	if l := c.Query("lang"); l != "" {
		return strings.HasPrefix(strings.ToLower(l), "en")
	}
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(c.GetHeader("Accept-Language"))), "en")
}

// writeError maps err to {code, message, details} and the right status. An
// error that is not an *apperr.Error is internal: it is logged with the
// request id and the client sees only a generic message.
func (s *Server) writeError(c *gin.Context, err error) {
	e, ok := apperr.As(err)
	if !ok {
		if errors.Is(err, store.ErrNotFound) {
			e = apperr.NotFound
		} else {
			e = apperr.Internal.Wrap(err)
		}
	}
	status := StatusOf(e.Code)
	if status >= 500 {
		s.log.ErrorContext(c.Request.Context(), "request failed", "request_id", requestID(c), "code", e.Code, "err", e.Error())
	} else if e.Cause != nil {
		s.log.InfoContext(c.Request.Context(), "request refused", "request_id", requestID(c), "code", e.Code, "err", e.Cause.Error())
	}
	msg := e.Message
	if English(c) || msg == "" {
		msg = e.MessageEN
	}
	c.AbortWithStatusJSON(status, syncproto.Error{Code: e.Code, Message: msg, Details: e.Details})
}

func (s *Server) fail(c *gin.Context, code, zh, en string) {
	s.writeError(c, apperr.New(code, zh, en))
}

func logAttrsUser(c *gin.Context) slog.Attr {
	if a, ok := actorOf(c); ok {
		return slog.String("user_id", a.UserID)
	}
	return slog.String("user_id", "")
}
