package apitest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"

	"github.com/doorstep-dev/doorstep/server/httpapi"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// fileTypes are the media types of downloads and uploads.
var fileTypes = map[string]bool{
	"text/csv": true, "application/octet-stream": true,
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": true,
}

// ErrorSchemaRef is the schema every error response must use.
const ErrorSchemaRef = "#/components/schemas/Error"

// LintSpec loads, validates and lints a spec, returning every problem found.
// It is what scripts/lint-openapi.sh and the test suite run.
func LintSpec(data []byte) []string {
	// YAML lets a repeated key silently replace the first: a second
	// "/api/v1/imports:" would drop the operations of the first.
	if dups := duplicateKeys(data); len(dups) > 0 {
		return dups
	}
	doc, err := LoadSpec(data)
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		problems = append(problems, "kin-openapi validation: "+err.Error())
	}
	return append(problems, Lint(doc)...)
}

// Lint applies the project's rules to a loaded document:
//   - it declares OpenAPI 3.1;
//   - every operation has a unique operationId, a summary, and security,
//     its own or the document's (an explicit `security: []` for none);
//   - every 4xx and 5xx response is JSON with the shared Error schema, and
//     its examples carry codes whose status (httpapi's table) is that status;
//   - an operation behind bearer auth documents 401, one with a body
//     documents 400 and 413, one that takes Doorstep-Protocol documents 426;
//   - every JSON request body and 2xx JSON response has an example, and every
//     example validates against its schema.
func Lint(doc *openapi3.T) []string {
	var p problems
	if !doc.IsOpenAPI31OrLater() {
		p.add("openapi: want 3.1.x, have %q", doc.OpenAPI)
	}
	seenIDs := map[string]string{}
	for _, path := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(path)
		for method, op := range item.Operations() {
			where := method + " " + path
			lintOperation(&p, doc, where, op, seenIDs)
		}
	}
	sort.Strings(p)
	return p
}

type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func lintOperation(p *problems, doc *openapi3.T, where string, op *openapi3.Operation, seenIDs map[string]string) {
	if op.OperationID == "" {
		p.add("%s: no operationId", where)
	} else if other, dup := seenIDs[op.OperationID]; dup {
		p.add("%s: operationId %q is also used by %s", where, op.OperationID, other)
	} else {
		seenIDs[op.OperationID] = where
	}
	if strings.TrimSpace(op.Summary) == "" {
		p.add("%s: no summary", where)
	}
	security := op.Security
	if security == nil {
		if len(doc.Security) == 0 {
			p.add("%s: no security; say `security: []` if it needs none", where)
		}
		security = &doc.Security
	}
	bearer := false
	for _, req := range *security {
		for name := range req {
			ref := doc.Components.SecuritySchemes[name]
			if ref == nil || ref.Value == nil {
				p.add("%s: security scheme %q is not defined", where, name)
				continue
			}
			if ref.Value.Type == "http" && strings.EqualFold(ref.Value.Scheme, "bearer") {
				bearer = true
			}
		}
	}
	if op.Responses == nil || op.Responses.Len() == 0 {
		p.add("%s: no responses", where)
		return
	}
	if op.Responses.Default() != nil {
		p.add("%s: a default response hides undocumented statuses; list them", where)
	}
	need := map[int]string{http.StatusInternalServerError: "every operation can fail"}
	if bearer {
		need[http.StatusUnauthorized] = "it needs a bearer token"
	}
	if op.RequestBody != nil {
		need[http.StatusBadRequest] = "it takes a body"
		need[http.StatusRequestEntityTooLarge] = "it takes a body"
		lintRequestBody(p, where, op.RequestBody)
	}
	for _, prm := range op.Parameters {
		if prm.Value != nil && prm.Value.In == "header" && strings.EqualFold(prm.Value.Name, syncproto.HeaderProtocol) {
			need[http.StatusUpgradeRequired] = "it takes " + syncproto.HeaderProtocol
		}
	}
	for status, why := range need {
		if op.Responses.Status(status) == nil {
			if status == http.StatusInternalServerError && strings.HasPrefix(where, "GET /healthz") {
				continue // answered by the process alone, no failure path
			}
			if status == http.StatusInternalServerError && strings.HasPrefix(where, "GET /readyz") {
				continue // reports failure as 503
			}
			p.add("%s: no %d response, but %s", where, status, why)
		}
	}
	for code, ref := range op.Responses.Map() {
		lintResponse(p, where, code, ref)
	}
}

func lintRequestBody(p *problems, where string, rb *openapi3.RequestBodyRef) {
	if rb.Value == nil {
		p.add("%s: request body is not resolved", where)
		return
	}
	mt := rb.Value.Content.Get("application/json")
	if mt == nil {
		// Uploads: a form or the file itself.
		for ct := range rb.Value.Content {
			if ct != "multipart/form-data" && !fileTypes[ct] {
				p.add("%s: request body is application/json, a form or a file, not %s", where, ct)
			}
		}
		return
	}
	lintMediaExamples(p, where+" request", mt, true)
}

func lintResponse(p *problems, where, code string, ref *openapi3.ResponseRef) {
	at := where + " " + code
	status, err := strconv.Atoi(code)
	if err != nil {
		p.add("%s: response key %q is not a status code", at, code)
		return
	}
	if ref.Value == nil {
		p.add("%s: response is not resolved", at)
		return
	}
	mt := ref.Value.Content.Get("application/json")
	switch {
	case status >= 400:
		if mt == nil || mt.Schema == nil || mt.Schema.Ref != ErrorSchemaRef {
			p.add("%s: an error response must be application/json with schema %s", at, ErrorSchemaRef)
			return
		}
		lintMediaExamples(p, at, mt, true)
		for name, ex := range mt.Examples {
			if ex.Value == nil {
				continue
			}
			var e syncproto.Error
			if err := remarshal(ex.Value.Value, &e); err != nil {
				p.add("%s example %q: %v", at, name, err)
				continue
			}
			if want := httpapi.StatusOf(e.Code); want != status {
				p.add("%s example %q: code %q has status %d in httpapi's table", at, name, e.Code, want)
			}
		}
	case status >= 200 && status < 300:
		if status == http.StatusNoContent {
			if len(ref.Value.Content) != 0 {
				p.add("%s: a 204 has no content", at)
			}
			return
		}
		if mt == nil {
			// Files (CSV, XLSX) are fine; anything else should be JSON.
			for ct := range ref.Value.Content {
				if !fileTypes[ct] {
					p.add("%s: a success response is application/json or a file, not %s", at, ct)
				}
			}
			if len(ref.Value.Content) == 0 {
				p.add("%s: a success response other than 204 has content", at)
			}
			return
		}
		lintMediaExamples(p, at, mt, true)
	}
}

// lintMediaExamples requires examples and validates each against the schema
// as a JSON value (kin-openapi's document validation also does, but an
// explicit pass names the failing example).
func lintMediaExamples(p *problems, at string, mt *openapi3.MediaType, required bool) {
	if mt.Schema == nil {
		p.add("%s: no schema", at)
		return
	}
	if required && len(mt.Examples) == 0 {
		p.add("%s: no examples", at)
	}
	if mt.Example != nil {
		p.add("%s: use named `examples`, not `example`", at)
	}
	for name, ex := range mt.Examples {
		if ex.Value == nil {
			p.add("%s example %q is not resolved", at, name)
			continue
		}
		var v any
		if err := remarshal(ex.Value.Value, &v); err != nil {
			p.add("%s example %q: %v", at, name, err)
			continue
		}
		if err := mt.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
			p.add("%s example %q does not match its schema: %v", at, name, err)
		}
	}
}

// remarshal turns a YAML-decoded value into what JSON decoding gives.
func remarshal(in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

// duplicateKeys lists mapping keys that appear twice in one mapping.
func duplicateKeys(data []byte) []string {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return []string{"yaml: " + err.Error()}
	}
	var out []string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			seen := map[string]int{}
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				if first, dup := seen[k.Value]; dup {
					out = append(out, fmt.Sprintf("line %d: key %q repeats the one on line %d (under %s)", k.Line, k.Value, first, path))
				} else {
					seen[k.Value] = k.Line
				}
				walk(n.Content[i+1], path+"/"+k.Value)
			}
		}
	}
	walk(&root, "")
	return out
}
