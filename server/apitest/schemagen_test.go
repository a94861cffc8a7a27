package apitest_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/doorstep-dev/doorstep/server/apitest"
)

type genInner struct {
	N int `json:"n"`
}

type genEmbedded struct {
	E string `json:"e"`
}

type genOuter struct {
	genEmbedded
	ID      string            `json:"id"`
	Opt     string            `json:"opt,omitempty"`
	At      time.Time         `json:"at"`
	Maybe   *time.Time        `json:"maybe"`
	Gone    *int              `json:"gone,omitempty"`
	Raw     json.RawMessage   `json:"raw"`
	Inner   genInner          `json:"inner"`
	List    []genInner        `json:"list"`
	ByKey   map[string]string `json:"by_key"`
	Skipped string            `json:"-"`
	hidden  string
}

func TestSchemaYAML(t *testing.T) {
	got := apitest.SchemaYAML(map[reflect.Type]string{reflect.TypeFor[genOuter](): "Outer"}, reflect.TypeFor[genOuter]())
	for _, want := range []string{
		"    Outer:\n      type: object\n      required: [e, id, at, maybe, raw, inner, list, by_key]\n      additionalProperties: false\n",
		"        e: {type: string}\n",
		"        opt: {type: string}\n",
		"        at: {type: string, format: date-time}\n",
		`        maybe: {anyOf: [{type: string, format: date-time}, {type: "null"}]}` + "\n",
		"        gone: {type: integer}\n",
		"        raw: {}\n",
		`        inner: {$ref: "#/components/schemas/genInner"}` + "\n",
		`        list: {type: array, items: {$ref: "#/components/schemas/genInner"}}` + "\n",
		"        by_key: {type: object, additionalProperties: {type: string}}\n",
		"    genInner:\n      type: object\n      required: [n]\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("want %q in:\n%s", want, got)
		}
	}
	for _, not := range []string{"Skipped", "hidden", "genEmbedded"} {
		if strings.Contains(got, not) {
			t.Errorf("%s leaked into:\n%s", not, got)
		}
	}
}
