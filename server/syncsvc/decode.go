package syncsvc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/doorstep-dev/doorstep/server/apperr"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// DecodePush reads a push body strictly: one JSON object of the documented
// shape, no unknown fields, right types, at most MaxMutationsPerPush
// mutations, each with a UUID mutation_id and a positive seq. A body that
// fails here is refused whole (400/413): without a mutation id and seq a
// mutation cannot be acknowledged exactly once. Everything else about a
// mutation is judged one by one and comes back as a per-mutation rejection.
func DecodePush(body []byte) (syncproto.PushRequest, error) {
	var req syncproto.PushRequest
	if err := decodeStrict(body, &req); err != nil {
		return req, err
	}
	if len(req.Mutations) > syncproto.MaxMutationsPerPush {
		return req, apperr.New(syncproto.CodeTooManyMutations,
			fmt.Sprintf("一次最多推送 %d 条修改，请分批推送", syncproto.MaxMutationsPerPush),
			fmt.Sprintf("at most %d mutations per push; split the batch", syncproto.MaxMutationsPerPush)).
			With("max", syncproto.MaxMutationsPerPush).With("got", len(req.Mutations))
	}
	if req.DeviceTime.IsZero() {
		return req, apperr.Invalid("device_time", "缺少设备时间 device_time", "device_time is required")
	}
	if req.PendingCount < 0 {
		return req, apperr.Invalid("pending_count", "pending_count 不能为负数", "pending_count may not be negative")
	}
	if len(req.AppVersion) > 64 {
		return req, apperr.Invalid("app_version", "app_version 过长", "app_version is longer than 64 bytes")
	}
	for i := range req.Mutations {
		m := &req.Mutations[i]
		if len(m.MutationID) != 36 {
			return req, badMutation(i, "mutation_id", "mutation_id 必须是 UUID", "mutation_id must be a UUID")
		}
		if _, err := uuid.Parse(m.MutationID); err != nil {
			return req, badMutation(i, "mutation_id", "mutation_id 必须是 UUID", "mutation_id must be a UUID")
		}
		if m.Seq < 1 {
			return req, badMutation(i, "seq", "seq 必须是正整数", "seq must be a positive integer")
		}
	}
	return req, nil
}

func badMutation(i int, field, zh, en string) error {
	return apperr.New(syncproto.CodeInvalidRequest,
		"第 "+strconv.Itoa(i+1)+" 条修改："+zh, "mutation "+strconv.Itoa(i)+": "+en).
		With("index", i).With("field", field)
}

// DecodePull reads a pull body strictly and applies the default page size.
func DecodePull(body []byte) (syncproto.PullRequest, error) {
	var req syncproto.PullRequest
	if err := decodeStrict(body, &req); err != nil {
		return req, err
	}
	switch {
	case req.Limit == 0:
		req.Limit = syncproto.DefaultPullLimit
	case req.Limit < 0 || req.Limit > syncproto.MaxPullLimit:
		return req, apperr.New(syncproto.CodeInvalidRequest,
			fmt.Sprintf("limit 应在 1 到 %d 之间", syncproto.MaxPullLimit),
			fmt.Sprintf("limit must be from 1 to %d", syncproto.MaxPullLimit)).
			With("field", "limit").With("max", syncproto.MaxPullLimit)
	}
	if req.PendingCount < 0 {
		return req, apperr.Invalid("pending_count", "pending_count 不能为负数", "pending_count may not be negative")
	}
	if len(req.AppVersion) > 64 {
		return req, apperr.Invalid("app_version", "app_version 过长", "app_version is longer than 64 bytes")
	}
	if len(req.Cursor) > 4096 {
		return req, errInvalidCursor
	}
	return req, nil
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
	if _, err := dec.Token(); err != io.EOF {
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
		field := printable(typ.Field)
		return apperr.New(syncproto.CodeInvalidRequest,
			fmt.Sprintf("字段 %s 类型错误，应为 %s", field, typ.Type.String()),
			fmt.Sprintf("field %s has the wrong type, want %s", field, typ.Type.String())).
			With("field", field).With("expected", typ.Type.String())
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.New(syncproto.CodeInvalidRequest, "JSON 不完整", "truncated JSON")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name, uerr := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		if uerr != nil {
			name = strings.TrimPrefix(err.Error(), "json: unknown field ")
		}
		name = printable(name)
		return apperr.New(syncproto.CodeInvalidRequest, "未知字段 "+name, "unknown field "+name).With("field", name)
	default:
		msg := err.Error()
		if len(msg) > 200 {
			msg = msg[:200]
		}
		msg = strconv.QuoteToASCII(msg)
		return apperr.New(syncproto.CodeInvalidRequest, "请求内容无法解析: "+msg, "could not decode the request: "+msg)
	}
}
