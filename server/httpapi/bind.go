package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// bindJSON decodes the body strictly into v: one JSON object, no unknown
// fields, right types. The body has already been capped by the middleware.
func bindJSON(c *gin.Context, v any) error {
	body, err := io.ReadAll(c.Request.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, errDecompressedTooLarge) {
			return errBodyTooLarge
		}
		return apperr.New(syncproto.CodeInvalidRequest, "无法读取请求内容", "could not read the request body").Wrap(err)
	}
	return decodeStrict(body, v)
}

func decodeStrict(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return apperr.New(syncproto.CodeInvalidRequest, "请求内容为空", "the request body is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return apperr.New(syncproto.CodeInvalidRequest, "请求内容只能包含一个 JSON 对象", "the body must hold exactly one JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return apperr.New(syncproto.CodeInvalidRequest, "JSON 格式错误", "malformed JSON").With("offset", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		return apperr.New(syncproto.CodeInvalidRequest,
			fmt.Sprintf("字段 %s 类型错误，应为 %s", field, typ.Type.String()),
			fmt.Sprintf("field %s has the wrong type, want %s", field, typ.Type.String())).
			With("field", field).With("expected", typ.Type.String())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.New(syncproto.CodeInvalidRequest, "JSON 不完整", "truncated JSON")
	default:
		var msg = err.Error()
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return apperr.New(syncproto.CodeInvalidRequest, "请求内容无法解析: "+msg, "could not decode the request: "+msg)
	}
}
