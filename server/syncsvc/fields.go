package syncsvc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/doorstep-dev/doorstep/server/pii"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// value is one validated field value.
type value struct {
	null bool
	s    string // text, enum, date, id, phone
	b    bool
	f    float64
	i    int64
	t    time.Time
}

// checked is a mutation that passed every check that needs no database.
type checked struct {
	m      *syncproto.Mutation
	rule   *EntityRule
	fields map[string]value
	names  []string // field names, sorted
}

func (c *checked) has(f string) bool { _, ok := c.fields[f]; return ok }

// safeID accepts record ids: 1 to 64 of [0-9A-Za-z_-], starting with a
// letter or digit. safeName accepts names worth echoing unquoted.
var (
	safeID   = charset{first: "alnum", rest: "_-"}
	safeName = charset{first: "alnum_", rest: "_.-"}
)

// charset is a hand-written matcher for the two patterns above; it runs for
// every id and field of every mutation, where a regexp costs too much.
type charset struct{ first, rest string }

func (c charset) MatchString(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		alnum := b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
		switch {
		case alnum:
		case i == 0 && c.first == "alnum_" && b == '_':
		case i > 0 && strings.IndexByte(c.rest, b) >= 0:
		default:
			return false
		}
	}
	return true
}

// isUUID accepts the canonical 36-character form only, so that the device
// and the server always spell an id the same way.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	u, err := uuid.Parse(s)
	return err == nil && (u.String() == s || strings.ToUpper(u.String()) == s)
}

// Check validates one mutation without the database: entity and operation,
// ids, and every field against the entity's rule table. A nil rejection
// means the mutation may go to the engine.
func Check(m *syncproto.Mutation) (*checked, *syncproto.Rejection) {
	rule, ok := rulesByEntity[m.Entity]
	if !ok {
		switch m.Entity {
		case syncproto.EntityTask, syncproto.EntityLoanProduct, syncproto.EntityRejection:
			return nil, rejectf(syncproto.RejectUnsupported, "entity", "设备不能修改%s", "devices cannot change %s records", m.Entity)
		}
		return nil, rejectf(syncproto.RejectInvalidMutation, "entity", "未知的记录类型 %s", "unknown entity %s", printable(m.Entity))
	}
	switch m.Op {
	case syncproto.OpCreate, syncproto.OpUpdate, syncproto.OpDelete:
	default:
		return nil, rejectf(syncproto.RejectInvalidMutation, "op", "未知的操作 %s", "unknown operation %s", printable(m.Op))
	}
	if !rule.allows(m.Op) {
		return nil, rejectf(syncproto.RejectUnsupported, "op", "设备不能对%s执行 %s", "devices cannot %[2]s a %[1]s", m.Entity, m.Op)
	}
	if m.Op == syncproto.OpCreate && !isUUID(m.EntityID) {
		return nil, reject(syncproto.RejectInvalidMutation, "entity_id", "新记录的编号必须是 UUID", "a new record's id must be a UUID")
	}
	if !safeID.MatchString(m.EntityID) {
		return nil, reject(syncproto.RejectInvalidMutation, "entity_id", "记录编号无效", "invalid record id")
	}
	if m.BaseVersion < 0 {
		return nil, reject(syncproto.RejectInvalidMutation, "base_version", "base_version 不能为负数", "base_version may not be negative")
	}
	if m.DeviceTime.IsZero() {
		return nil, reject(syncproto.RejectInvalidMutation, "device_time", "缺少设备时间", "device_time is missing")
	}
	c := &checked{m: m, rule: rule}
	if m.Op == syncproto.OpDelete {
		return c, nil
	}
	c.fields = make(map[string]value, len(m.Fields))
	c.names = make([]string, 0, len(m.Fields))
	for name := range m.Fields {
		c.names = append(c.names, name)
	}
	sort.Strings(c.names)
	for _, name := range c.names {
		if rule.serverOwned(name) {
			return nil, rejectf(syncproto.RejectServerOwned, name, "字段 %s 由服务器维护，设备不能修改", "field %s is owned by the server", printable(name))
		}
		fr := rule.field(name)
		if fr == nil {
			return nil, rejectf(syncproto.RejectUnknownField, name, "未知字段 %s", "unknown field %s", printable(name))
		}
		v, zh, en := parseValue(fr, m.Fields[name])
		if zh != "" {
			return nil, reject(syncproto.RejectInvalidField, name, "字段 "+name+" 无效："+zh, "field "+name+" is invalid: "+en)
		}
		c.fields[name] = v
	}
	if m.Op == syncproto.OpCreate {
		for _, fr := range rule.Fields {
			if v, ok := c.fields[fr.Field]; fr.Required && (!ok || v.null) {
				return nil, rejectf(syncproto.RejectInvalidField, fr.Field, "缺少必填字段 %s", "required field %s is missing", fr.Field)
			}
		}
	}
	return c, nil
}

var (
	minTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// parseValue reads one field. On failure it returns the reason in Chinese
// and English.
func parseValue(fr *FieldRule, raw json.RawMessage) (v value, zh, en string) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return v, "缺少值", "no value"
	}
	if string(raw) == "null" {
		if fr.Nullable {
			return value{null: true}, "", ""
		}
		return v, "不能为空", "may not be null"
	}
	switch fr.Type {
	case TypeText, TypeEnum, TypeDate, TypeTime, TypeID, TypePhone:
		if raw[0] != '"' {
			return v, "应为字符串", "want a string"
		}
		if s, ok := plainJSONString(raw); ok {
			v.s = s
		} else if err := json.Unmarshal(raw, &v.s); err != nil {
			return v, "字符串格式错误", "malformed string"
		}
		if len(v.s) > syncproto.MaxFieldBytes {
			return v, fmt.Sprintf("超过 %d 字节", syncproto.MaxFieldBytes), fmt.Sprintf("longer than %d bytes", syncproto.MaxFieldBytes)
		}
		if strings.IndexByte(v.s, 0) >= 0 || !utf8.ValidString(v.s) {
			return v, "含有不允许的字符", "contains characters that are not allowed"
		}
	case TypeBool:
		if err := json.Unmarshal(raw, &v.b); err != nil || (raw[0] != 't' && raw[0] != 'f') {
			return v, "应为 true 或 false", "want true or false"
		}
		return v, "", ""
	case TypeNumber:
		if !isJSONNumber(raw) {
			return v, "应为数字", "want a number"
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < fr.Min || f > fr.Max {
			return v, fmt.Sprintf("应在 %g 到 %g 之间", fr.Min, fr.Max), fmt.Sprintf("want a number from %g to %g", fr.Min, fr.Max)
		}
		v.f = f
		return v, "", ""
	case TypeInteger:
		if !isJSONNumber(raw) {
			return v, "应为整数", "want an integer"
		}
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return v, "应为整数", "want an integer"
		}
		if float64(n) < fr.Min || float64(n) > fr.Max {
			return v, fmt.Sprintf("应在 %.0f 到 %.0f 之间", fr.Min, fr.Max), fmt.Sprintf("want an integer from %.0f to %.0f", fr.Min, fr.Max)
		}
		v.i = n
		return v, "", ""
	default:
		return v, "无法识别的字段类型", "unknown field type"
	}
	// String-based types.
	switch fr.Type {
	case TypeEnum:
		for _, ok := range fr.Values {
			if v.s == ok {
				return v, "", ""
			}
		}
		return v, "取值应为 " + strings.Join(fr.Values, "、"), "want one of " + strings.Join(fr.Values, ", ")
	case TypeDate:
		if v.s == "" && fr.Nullable {
			return value{null: true}, "", ""
		}
		d, err := time.Parse(time.DateOnly, v.s)
		if err != nil || d.Year() < 2000 || d.Year() > 2099 {
			return v, "应为 2000 至 2099 年间真实存在的日期 YYYY-MM-DD", "want a real date YYYY-MM-DD in 2000..2099"
		}
	case TypeTime:
		t, err := time.Parse(time.RFC3339Nano, v.s)
		if err != nil || t.Before(minTime) || !t.Before(maxTime) {
			return v, "应为带时区的 RFC 3339 时间", "want an RFC 3339 time with an offset"
		}
		v.t = t.UTC().Truncate(time.Microsecond)
	case TypeID:
		if !safeID.MatchString(v.s) {
			return v, "记录编号无效", "invalid record id"
		}
	case TypePhone:
		if v.s == "" {
			return v, "", ""
		}
		n := pii.Normalize(pii.Phone, v.s)
		digits := 0
		for i, r := range n {
			switch {
			case r >= '0' && r <= '9':
				digits++
			case r == '+' && i == 0:
			default:
				return v, "电话号码只能包含数字", "a phone number may hold digits only"
			}
		}
		if digits < 5 || digits > 20 {
			return v, "电话号码应为 5 到 20 位数字", "a phone number has 5 to 20 digits"
		}
		v.s = n
	}
	return v, "", ""
}

// plainJSONString reads a JSON string that holds no escape, no control
// character and only valid UTF-8, which is what devices send almost always:
// its text is the bytes between the quotes, with no decoder needed. Any
// other string is left to encoding/json.
func plainJSONString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	for _, c := range inner {
		if c < 0x20 || c == '"' || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(inner) {
		return "", false
	}
	return string(inner), true
}

func isJSONNumber(raw []byte) bool {
	return len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'))
}

// printable makes a client-supplied name safe to echo in a message and to
// store in a JSON column: short, and quoted when it holds anything unusual.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	if safeName.MatchString(s) || s == "" {
		return s
	}
	return strconv.QuoteToASCII(s)
}

// reject builds a rejection with a bilingual message.
func reject(code, field, zh, en string) *syncproto.Rejection {
	return &syncproto.Rejection{Code: code, Field: printable(field), Message: zh + "（" + en + "）"}
}

// rejectf formats both messages with the same arguments; the English format
// may use explicit argument indexes.
func rejectf(code, field, zh, en string, args ...any) *syncproto.Rejection {
	return reject(code, field, fmt.Sprintf(zh, args...), fmt.Sprintf(en, args...))
}
