package store

import (
	"encoding/json"
	"time"
)

// FieldStamp says who last set one field of a record and when. It is what
// the field_times column of households, visits, visit plans, financing needs
// and loan applications holds per field, and it is all the per-field merge
// needs:
//
//   - T is the corrected event time of the edit (device clock plus the
//     device's measured offset, or the server clock for staff edits).
//   - V is the record version the edit produced. A device whose base_version
//     is at least V had seen the value when it made its own edit.
//   - D and S name the device row and its mutation seq; empty for edits made
//     on the server (imports, staff). Two edits from the same device are
//     ordered by S, the device's own order, not by clocks.
type FieldStamp struct {
	T time.Time `json:"t"`
	V int64     `json:"v"`
	D string    `json:"d,omitempty"`
	S int64     `json:"s,omitempty"`
}

// FieldTimes maps a field name to its stamp. The key "*" is the stamp of
// the record's creation and covers every field without its own entry, so a
// freshly created record stores one stamp, not one per field.
type FieldTimes map[string]FieldStamp

// FieldTimesAll is the key of the creation stamp.
const FieldTimesAll = "*"

// ParseFieldTimes reads a field_times column. Unreadable or legacy content
// (a bare time per field) is tolerated: a bare time becomes a stamp with
// version 0, and garbage yields an empty map, which makes devices win.
func ParseFieldTimes(s string) FieldTimes {
	ft := FieldTimes{}
	if s == "" || s == "{}" {
		return ft
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &raw); err != nil {
		return ft
	}
	for k, v := range raw {
		var st FieldStamp
		if err := json.Unmarshal(v, &st); err == nil {
			ft[k] = st
			continue
		}
		var t time.Time
		if err := json.Unmarshal(v, &t); err == nil {
			ft[k] = FieldStamp{T: t}
		}
	}
	return ft
}

// Get returns the stamp of a field, falling back to the creation stamp.
func (ft FieldTimes) Get(field string) (FieldStamp, bool) {
	if st, ok := ft[field]; ok {
		return st, true
	}
	st, ok := ft[FieldTimesAll]
	return st, ok
}

// String is the column value.
func (ft FieldTimes) String() string {
	if len(ft) == 0 {
		return "{}"
	}
	b, err := json.Marshal(map[string]FieldStamp(ft))
	if err != nil {
		return "{}"
	}
	return string(b)
}
