// Package apperr is the one error type that services return and the HTTP
// layer maps to a status: a stable code, a message in Chinese and English,
// optional details for the client, and an internal cause that is logged but
// never returned.
package apperr

import (
	"errors"
	"fmt"

	"github.com/doorstep-dev/doorstep/syncproto"
)

// Error is an error a client may see.
type Error struct {
	Code      string
	Message   string // Simplified Chinese, the default
	MessageEN string
	Details   map[string]any
	Cause     error // logged, never sent
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.MessageEN, e.Cause)
	}
	return e.Code + ": " + e.MessageEN
}

func (e *Error) Unwrap() error { return e.Cause }

// New makes an error with a code and both messages.
func New(code, zh, en string) *Error { return &Error{Code: code, Message: zh, MessageEN: en} }

// With returns a copy with a detail added.
func (e *Error) With(key string, value any) *Error {
	c := *e
	c.Details = make(map[string]any, len(e.Details)+1)
	for k, v := range e.Details {
		c.Details[k] = v
	}
	c.Details[key] = value
	return &c
}

// Wrap returns a copy that carries an internal cause.
func (e *Error) Wrap(cause error) *Error {
	c := *e
	c.Cause = cause
	return &c
}

// Invalid is a 400 for a bad field.
func Invalid(field, zh, en string) *Error {
	return New(syncproto.CodeInvalidRequest, zh, en).With("field", field)
}

// As extracts an *Error.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// Common errors.
var (
	NotFound        = New(syncproto.CodeNotFound, "记录不存在或不在您的权限范围内", "not found or outside your scope")
	Forbidden       = New(syncproto.CodeForbidden, "您无权执行此操作", "you are not allowed to do this")
	Unauthenticated = New(syncproto.CodeUnauthenticated, "请先登录", "authentication required")
	Internal        = New(syncproto.CodeInternal, "服务器内部错误，请稍后重试", "internal error, try again later")
)
