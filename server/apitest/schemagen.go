package apitest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// SchemaYAML writes OpenAPI 3.1 component schemas for Go types, the way
// encoding/json encodes them: properties from the json tags (embedded
// structs flattened), required = the fields without omitempty, no other
// properties, time.Time as a date-time string, json.RawMessage and
// interfaces as any value, a pointer without omitempty as nullable, and
// named struct types as references to their own components (written too).
// names maps types to component names; unnamed nested types get the name of
// their Go type. It is a drafting aid for openapi.yaml — the golden tests
// then hold the spec to the types.
func SchemaYAML(names map[reflect.Type]string, roots ...reflect.Type) string {
	g := &schemaGen{names: names, done: map[reflect.Type]bool{}}
	for _, t := range roots {
		g.queue = append(g.queue, t)
	}
	var b strings.Builder
	for len(g.queue) > 0 {
		t := g.queue[0]
		g.queue = g.queue[1:]
		if g.done[t] {
			continue
		}
		g.done[t] = true
		fmt.Fprintf(&b, "    %s:\n", g.name(t))
		g.object(&b, t, 6)
	}
	return b.String()
}

type schemaGen struct {
	names map[reflect.Type]string
	done  map[reflect.Type]bool
	queue []reflect.Type
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

func (g *schemaGen) name(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	return t.Name()
}

type genField struct {
	name      string
	typ       reflect.Type
	omitempty bool
}

func jsonFieldsOf(t reflect.Type) []genField {
	var out []genField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				out = append(out, jsonFieldsOf(et)...)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, genField{name: name, typ: f.Type, omitempty: strings.Contains(opts, "omitempty")})
	}
	return out
}

func (g *schemaGen) object(b *strings.Builder, t reflect.Type, indent int) {
	pad := strings.Repeat(" ", indent)
	fields := jsonFieldsOf(t)
	var req []string
	for _, f := range fields {
		if !f.omitempty {
			req = append(req, f.name)
		}
	}
	fmt.Fprintf(b, "%stype: object\n", pad)
	if len(req) > 0 {
		fmt.Fprintf(b, "%srequired: [%s]\n", pad, strings.Join(req, ", "))
	}
	fmt.Fprintf(b, "%sadditionalProperties: false\n%sproperties:\n", pad, pad)
	for _, f := range fields {
		fmt.Fprintf(b, "%s  %s: %s\n", pad, f.name, g.inline(f.typ, !f.omitempty))
	}
}

// inline is a one-line flow schema for t; nullable marks a pointer that is
// written as null when nil.
func (g *schemaGen) inline(t reflect.Type, nullable bool) string {
	null := func(s string) string { return s }
	if t.Kind() == reflect.Pointer {
		if nullable {
			inner := g.inline(t.Elem(), false)
			return "{anyOf: [" + inner + ", {type: \"null\"}]}"
		}
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return null("{type: string, format: date-time}")
	case t == rawType:
		return "{}"
	}
	switch t.Kind() {
	case reflect.String:
		return "{type: string}"
	case reflect.Bool:
		return "{type: boolean}"
	case reflect.Int64, reflect.Uint64:
		return "{type: integer, format: int64}"
	case reflect.Int, reflect.Int32, reflect.Int16, reflect.Int8, reflect.Uint, reflect.Uint32, reflect.Uint16, reflect.Uint8:
		return "{type: integer}"
	case reflect.Float32, reflect.Float64:
		return "{type: number}"
	case reflect.Interface:
		return "{}"
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return "{type: string, contentEncoding: base64}"
		}
		return "{type: array, items: " + g.inline(t.Elem(), false) + "}"
	case reflect.Map:
		return "{type: object, additionalProperties: " + g.inline(t.Elem(), false) + "}"
	case reflect.Struct:
		if !g.done[t] {
			g.queue = append(g.queue, t)
		}
		return "{$ref: \"#/components/schemas/" + g.name(t) + "\"}"
	}
	return "{}"
}
