package httpapi

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"path"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	mobiledocs "github.com/doorstep-dev/doorstep/mobile-api-docs"
	"github.com/doorstep-dev/doorstep/server/syncsvc"
	"github.com/doorstep-dev/doorstep/syncproto"
)

// referenceSlug is the generated endpoint reference among the guides;
// conflictRulesSlug is the guide that gets the engine's rule tables.
const (
	referenceSlug     = "reference"
	conflictRulesSlug = "conflict-rules"
)

// docsRoutes serves the mobile API documentation: /docs (the guides and an
// endpoint reference, rendered here as plain HTML with inline CSS, so they
// read with no network at all) and /openapi.yaml (the raw spec). Pages are
// rendered once, when the router is built.
func (s *Server) docsRoutes(e *gin.Engine) {
	site := buildDocsSite()
	if site.err != nil {
		s.log.Error("docs: the embedded API spec does not load; /docs/reference shows the error", "err", site.err)
	}
	serve := func(slug string) gin.HandlerFunc {
		return func(c *gin.Context) {
			page, ok := site.pages[slug]
			if !ok {
				s.fail(c, syncproto.CodeNotFound, "没有这个文档页面", "no such documentation page")
				return
			}
			docsHeaders(c)
			c.Data(http.StatusOK, "text/html; charset=utf-8", page)
		}
	}
	e.GET("/docs", serve(""))
	e.GET("/docs/:page", func(c *gin.Context) {
		slug := strings.TrimSuffix(c.Param("page"), ".md")
		if slug == "README" || slug == "index" {
			slug = ""
		}
		serve(strings.ToLower(slug))(c)
	})
	e.GET("/openapi.yaml", func(c *gin.Context) {
		c.Header("Cache-Control", "no-cache")
		c.Header("X-Content-Type-Options", "nosniff")
		c.Data(http.StatusOK, "application/yaml; charset=utf-8", mobiledocs.Spec())
	})
}

// docsHeaders forbid the pages from loading anything from anywhere: the CSS
// is inline and there is no script, so offline and online read the same.
func docsHeaders(c *gin.Context) {
	c.Header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Cache-Control", "no-cache")
}

type docsSite struct {
	pages map[string][]byte
	err   error // the spec failed to load
}

func buildDocsSite() docsSite {
	site := docsSite{pages: map[string][]byte{}}
	for _, g := range mobiledocs.Guides {
		src, err := mobiledocs.FS.ReadFile(g.File)
		if err != nil {
			src = []byte("# " + g.Title + "\n\nThis guide is missing from the build.")
		}
		md := string(src)
		if g.Slug == conflictRulesSlug {
			md += "\n\n" + rulesMarkdown()
		}
		site.pages[g.Slug] = docsPage(g.Title, g.Slug, renderMarkdown(md, docsLink))
	}
	body, err := renderReference()
	if err != nil {
		site.err = err
		body = "<h1>API reference</h1>\n<p>The embedded spec does not load: " + html.EscapeString(err.Error()) + "</p>\n"
	}
	site.pages[referenceSlug] = docsPage("API reference", referenceSlug, body)
	return site
}

// docsLink maps a guide's link target to a served URL. Links between guides
// (foo.md#bar) become /docs/foo#bar; links to the spec go to /openapi.yaml;
// anything on another host is shown as text, so no page points off the
// server.
func docsLink(target string) string {
	lower := strings.ToLower(target)
	switch {
	case strings.HasPrefix(target, "#"):
		return target
	case strings.Contains(lower, "://") || strings.HasPrefix(lower, "//") || strings.HasPrefix(lower, "mailto:") ||
		strings.HasPrefix(lower, "javascript:") || strings.HasPrefix(lower, "data:"):
		return ""
	}
	file, frag, _ := strings.Cut(target, "#")
	if frag != "" {
		frag = "#" + frag
	}
	base := path.Base(file)
	if base == mobiledocs.SpecFile {
		return "/openapi.yaml"
	}
	for _, g := range mobiledocs.Guides {
		if strings.EqualFold(base, g.File) {
			if g.Slug == "" {
				return "/docs" + frag
			}
			return "/docs/" + g.Slug + frag
		}
	}
	if strings.HasPrefix(file, "/") {
		return target // a path on this server, e.g. /openapi.yaml
	}
	return ""
}

const docsCSS = `
*{box-sizing:border-box}
body{margin:0;font:16px/1.6 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;color:#1f2328;background:#fff}
.wrap{display:flex;min-height:100vh}
nav{flex:0 0 15rem;background:#f6f8fa;border-right:1px solid #d0d7de;padding:1.2rem 1rem;position:sticky;top:0;align-self:flex-start;max-height:100vh;overflow:auto}
nav .brand{font-weight:700;font-size:1.1rem;margin-bottom:.8rem;display:block;color:#1f2328;text-decoration:none}
nav ul{list-style:none;margin:0;padding:0}
nav li a{display:block;padding:.25rem .5rem;border-radius:6px;color:#0969da;text-decoration:none}
nav li a.here{background:#ddf4ff;font-weight:600}
main{flex:1;min-width:0;max-width:60rem;padding:1.5rem 2.5rem 4rem}
h1,h2,h3,h4{line-height:1.3;margin:1.6em 0 .6em}
h1{margin-top:.2em;font-size:1.9rem;border-bottom:1px solid #d0d7de;padding-bottom:.3em}
h2{font-size:1.45rem;border-bottom:1px solid #eaeef2;padding-bottom:.25em}
a.anchor{visibility:hidden;text-decoration:none;color:#8c959f;font-weight:400}
h1:hover a.anchor,h2:hover a.anchor,h3:hover a.anchor,h4:hover a.anchor{visibility:visible}
code{font:.88em/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eff1f3;padding:.1em .35em;border-radius:4px}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.8rem 1rem;overflow:auto}
pre code{background:none;padding:0}
table{border-collapse:collapse;margin:1em 0;display:block;overflow:auto}
th,td{border:1px solid #d0d7de;padding:.35rem .7rem;vertical-align:top;text-align:left}
th{background:#f6f8fa}
blockquote{margin:1em 0;padding:.2em 1em;border-left:4px solid #d0d7de;color:#57606a}
.op{border:1px solid #d0d7de;border-radius:8px;padding:0 1.2rem 1rem;margin:1.5rem 0}
.method{display:inline-block;min-width:4.2em;text-align:center;font:700 .8rem/1.8 ui-monospace,monospace;border-radius:4px;color:#fff;background:#57606a;margin-right:.5em}
.method.get{background:#1a7f37}.method.post{background:#0969da}.method.put,.method.patch{background:#9a6700}.method.delete{background:#cf222e}
.muted{color:#57606a}
details{margin:.4em 0}
summary{cursor:pointer;color:#0969da}
@media (max-width:50rem){.wrap{display:block}nav{position:static;max-height:none;border-right:0;border-bottom:1px solid #d0d7de}main{padding:1rem}}
`

// docsPage wraps a rendered body in the page layout with navigation.
func docsPage(title, slug, body string) []byte {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	b.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
	b.WriteString("<title>" + html.EscapeString(title) + " · Doorstep mobile API</title>\n")
	b.WriteString("<style>" + docsCSS + "</style>\n</head>\n<body>\n<div class=\"wrap\">\n<nav>\n")
	b.WriteString("<a class=\"brand\" href=\"/docs\">Doorstep mobile API</a>\n<ul>\n")
	item := func(href, label string, here bool) {
		class := ""
		if here {
			class = ` class="here"`
		}
		b.WriteString(`<li><a` + class + ` href="` + href + `">` + html.EscapeString(label) + "</a></li>\n")
	}
	for _, g := range mobiledocs.Guides {
		href := "/docs"
		if g.Slug != "" {
			href += "/" + g.Slug
		}
		item(href, g.Title, g.Slug == slug)
		if g.Slug == "" {
			item("/docs/"+referenceSlug, "API reference", slug == referenceSlug)
		}
	}
	item("/openapi.yaml", "openapi.yaml (raw)", false)
	b.WriteString("</ul>\n</nav>\n<main>\n")
	b.WriteString(body)
	b.WriteString("</main>\n</div>\n</body>\n</html>\n")
	return []byte(b.String())
}

// --- The conflict rules, generated from the engine's tables ------------------

// rulesMarkdown renders syncsvc.Rules, the tables the sync engine enforces,
// so the guide can never describe other rules than the server applies.
func rulesMarkdown() string {
	var b strings.Builder
	b.WriteString("## Rule tables\n\nGenerated from the server's rule table (`server/syncsvc/rules.go`), which the sync engine enforces.\n")
	for _, r := range syncsvc.Rules {
		fmt.Fprintf(&b, "\n### %s\n\n", r.Entity)
		ops := make([]string, len(r.Operations))
		for i, o := range r.Operations {
			ops[i] = "`" + o + "`"
		}
		fmt.Fprintf(&b, "Devices may: %s.\n\n", strings.Join(ops, ", "))
		b.WriteString("| field | type | values | may be cleared | required on create | merge |\n| --- | --- | --- | --- | --- | --- |\n")
		for _, f := range r.Fields {
			values := strings.Join(f.Values, ", ")
			if f.Type == syncsvc.TypeNumber || f.Type == syncsvc.TypeInteger {
				values = fmt.Sprintf("%v to %v", f.Min, f.Max)
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | `%s` |\n", f.Field, f.Type, mdCell(values), yesNo(f.Nullable), yesNo(f.Required), f.Merge)
		}
		if len(r.ServerOwned) > 0 {
			owned := make([]string, len(r.ServerOwned))
			for i, f := range r.ServerOwned {
				owned[i] = "`" + f + "`"
			}
			fmt.Fprintf(&b, "\nServer-owned (rejected `server_owned_field`): %s.\n", strings.Join(owned, ", "))
		}
		if len(r.Transitions) > 0 {
			b.WriteString("\n| from | to | by |\n| --- | --- | --- |\n")
			for _, t := range r.Transitions {
				fmt.Fprintf(&b, "| `%s` | `%s` | %s |\n", t.From, t.To, t.By)
			}
		}
		b.WriteString("\n")
		for _, rule := range r.Rules {
			b.WriteString("- " + rule + "\n")
		}
	}
	return b.String()
}

func mdCell(s string) string {
	if s == "" {
		return "—"
	}
	return strings.ReplaceAll(s, "|", "\\|")
}

// --- The endpoint reference, generated from the spec -------------------------

var methodOrder = map[string]int{"GET": 0, "POST": 1, "PUT": 2, "PATCH": 3, "DELETE": 4}

type docOp struct {
	method, path string
	op           *openapi3.Operation
	item         *openapi3.PathItem
}

func renderReference() (string, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(mobiledocs.Spec())
	if err != nil {
		return "", fmt.Errorf("load spec: %w", err)
	}
	var b strings.Builder
	title, version := "API reference", ""
	if doc.Info != nil {
		title, version = doc.Info.Title, doc.Info.Version
	}
	fmt.Fprintf(&b, "<h1 id=\"top\">%s</h1>\n<p class=\"muted\">API version %s · OpenAPI %s · <a href=\"/openapi.yaml\">openapi.yaml</a></p>\n",
		html.EscapeString(title), html.EscapeString(version), html.EscapeString(doc.OpenAPI))
	if doc.Info != nil && doc.Info.Description != "" {
		b.WriteString(renderMarkdown(demoteHeadings(doc.Info.Description), docsLink))
	}

	byTag := map[string][]docOp{}
	for _, p := range doc.Paths.InMatchingOrder() {
		item := doc.Paths.Value(p)
		for m, op := range item.Operations() {
			tag := "other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			byTag[tag] = append(byTag[tag], docOp{method: m, path: p, op: op, item: item})
		}
	}
	var tags []*openapi3.Tag
	known := map[string]bool{}
	for _, t := range doc.Tags {
		tags = append(tags, t)
		known[t.Name] = true
	}
	var extra []string
	for t := range byTag {
		if !known[t] {
			extra = append(extra, t)
		}
	}
	sort.Strings(extra)
	for _, t := range extra {
		tags = append(tags, &openapi3.Tag{Name: t})
	}

	b.WriteString("<h2 id=\"endpoints\">Endpoints</h2>\n<ul>\n")
	for _, t := range tags {
		for _, o := range sortOps(byTag[t.Name]) {
			fmt.Fprintf(&b, "<li><a href=\"#%s\"><code>%s %s</code></a> — %s</li>\n",
				opAnchor(o), o.method, html.EscapeString(o.path), html.EscapeString(o.op.Summary))
		}
	}
	b.WriteString("</ul>\n")

	for _, t := range tags {
		ops := sortOps(byTag[t.Name])
		if len(ops) == 0 {
			continue
		}
		fmt.Fprintf(&b, "<h2 id=\"tag-%s\">%s</h2>\n", html.EscapeString(slugify(t.Name)), html.EscapeString(t.Name))
		if t.Description != "" {
			b.WriteString(renderMarkdown(t.Description, docsLink))
		}
		for _, o := range ops {
			renderOperation(&b, doc, o)
		}
	}

	b.WriteString("<h2 id=\"schemas\">Schemas</h2>\n")
	names := make([]string, 0, len(doc.Components.Schemas))
	for n := range doc.Components.Schemas {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		renderSchema(&b, n, doc.Components.Schemas[n].Value)
	}
	return b.String(), nil
}

func sortOps(ops []docOp) []docOp {
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].path != ops[j].path {
			return ops[i].path < ops[j].path
		}
		return methodOrder[ops[i].method] < methodOrder[ops[j].method]
	})
	return ops
}

func opAnchor(o docOp) string {
	if o.op.OperationID != "" {
		return "op-" + slugify(o.op.OperationID)
	}
	return "op-" + slugify(o.method+" "+o.path)
}

// demoteHeadings turns the headings of an embedded description into h3 and
// below, so they sit under the page's own headings.
func demoteHeadings(md string) string {
	lines := strings.Split(md, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "#") {
			lines[i] = "##" + l
		}
	}
	return strings.Join(lines, "\n")
}

func renderOperation(b *strings.Builder, doc *openapi3.T, o docOp) {
	op := o.op
	fmt.Fprintf(b, "<section class=\"op\">\n<h3 id=\"%s\"><span class=\"method %s\">%s</span><code>%s</code></h3>\n",
		opAnchor(o), strings.ToLower(o.method), o.method, html.EscapeString(o.path))
	fmt.Fprintf(b, "<p><strong>%s</strong> <span class=\"muted\">(operationId <code>%s</code>)</span></p>\n",
		html.EscapeString(op.Summary), html.EscapeString(op.OperationID))
	b.WriteString("<p>Auth: " + securityText(doc, op) + "</p>\n")
	if op.Description != "" {
		b.WriteString(renderMarkdown(op.Description, docsLink))
	}

	params := append(openapi3.Parameters{}, o.item.Parameters...)
	params = append(params, op.Parameters...)
	if len(params) > 0 {
		b.WriteString("<h4>Parameters</h4>\n<table>\n<thead><tr><th>name</th><th>in</th><th>type</th><th>required</th><th>description</th></tr></thead>\n<tbody>\n")
		for _, pr := range params {
			p := pr.Value
			if p == nil {
				continue
			}
			fmt.Fprintf(b, "<tr><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
				html.EscapeString(p.Name), p.In, typeText(p.Schema), yesNo(p.Required), inlineMarkdown(descriptionOf(p.Description, p.Schema)))
		}
		b.WriteString("</tbody>\n</table>\n")
	}

	if op.RequestBody != nil && op.RequestBody.Value != nil {
		b.WriteString("<h4>Request body</h4>\n")
		for _, ct := range sortedKeys(op.RequestBody.Value.Content) {
			mt := op.RequestBody.Value.Content[ct]
			fmt.Fprintf(b, "<p><code>%s</code>: %s</p>\n", html.EscapeString(ct), typeText(mt.Schema))
			renderExamples(b, "Request example", mt)
		}
	}

	b.WriteString("<h4>Responses</h4>\n<table>\n<thead><tr><th>status</th><th>body</th><th>meaning</th></tr></thead>\n<tbody>\n")
	codes := sortedKeys(op.Responses.Map())
	for _, code := range codes {
		r := op.Responses.Value(code).Value
		if r == nil {
			continue
		}
		body := "—"
		if mt := r.Content.Get("application/json"); mt != nil {
			body = typeText(mt.Schema)
		}
		desc := ""
		if r.Description != nil {
			desc = *r.Description
		}
		fmt.Fprintf(b, "<tr><td><strong>%s</strong></td><td>%s</td><td>%s</td></tr>\n",
			html.EscapeString(code), body, inlineMarkdown(desc))
	}
	b.WriteString("</tbody>\n</table>\n")
	for _, code := range codes {
		r := op.Responses.Value(code).Value
		if r == nil {
			continue
		}
		if mt := r.Content.Get("application/json"); mt != nil {
			renderExamples(b, "Response "+code, mt)
		}
	}
	b.WriteString("</section>\n")
}

func securityText(doc *openapi3.T, op *openapi3.Operation) string {
	sec := doc.Security
	if op.Security != nil {
		sec = *op.Security
	}
	if len(sec) == 0 {
		return "none"
	}
	var names []string
	for _, req := range sec {
		for name := range req {
			if s := doc.Components.SecuritySchemes[name]; s != nil && s.Value != nil && s.Value.Type == "http" {
				names = append(names, "<code>Authorization: "+html.EscapeString(strings.ToUpper(s.Value.Scheme[:1])+s.Value.Scheme[1:])+" &lt;access_token&gt;</code>")
				continue
			}
			names = append(names, html.EscapeString(name))
		}
	}
	return strings.Join(names, " or ")
}

func renderExamples(b *strings.Builder, label string, mt *openapi3.MediaType) {
	for _, name := range sortedKeys(mt.Examples) {
		ex := mt.Examples[name].Value
		if ex == nil {
			continue
		}
		pretty, err := json.MarshalIndent(ex.Value, "", "  ")
		if err != nil {
			continue
		}
		summary := label + ": " + name
		if ex.Summary != "" {
			summary += " — " + ex.Summary
		}
		fmt.Fprintf(b, "<details><summary>%s</summary>\n<pre><code class=\"language-json\">%s</code></pre>\n</details>\n",
			html.EscapeString(summary), html.EscapeString(string(pretty)))
	}
}

func renderSchema(b *strings.Builder, name string, s *openapi3.Schema) {
	if s == nil {
		return
	}
	fmt.Fprintf(b, "<h3 id=\"schema-%s\">%s</h3>\n", html.EscapeString(strings.ToLower(name)), html.EscapeString(name))
	if s.Description != "" {
		b.WriteString(renderMarkdown(s.Description, docsLink))
	}
	if len(s.Properties) == 0 {
		b.WriteString("<p>" + typeText(openapi3.NewSchemaRef("", s)) + "</p>\n")
		return
	}
	required := map[string]bool{}
	for _, r := range s.Required {
		required[r] = true
	}
	b.WriteString("<table>\n<thead><tr><th>field</th><th>type</th><th>required</th><th>description</th></tr></thead>\n<tbody>\n")
	for _, p := range sortedKeys(s.Properties) {
		ref := s.Properties[p]
		desc := ""
		if ref.Value != nil && ref.Ref == "" {
			desc = ref.Value.Description
		}
		fmt.Fprintf(b, "<tr><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			html.EscapeString(p), typeText(ref), yesNo(required[p]), inlineMarkdown(desc))
	}
	b.WriteString("</tbody>\n</table>\n")
	if s.AdditionalProperties.Has != nil && !*s.AdditionalProperties.Has {
		b.WriteString("<p class=\"muted\">No other fields.</p>\n")
	}
}

// typeText describes a schema in a few words, linking named schemas.
func typeText(ref *openapi3.SchemaRef) string {
	if ref == nil {
		return "any"
	}
	if ref.Ref != "" {
		name := path.Base(ref.Ref)
		return fmt.Sprintf(`<a href="#schema-%s">%s</a>`, html.EscapeString(strings.ToLower(name)), html.EscapeString(name))
	}
	s := ref.Value
	if s == nil {
		return "any"
	}
	var t string
	switch {
	case s.Type != nil && s.Type.Is("array"):
		t = "array of " + typeText(s.Items)
	case s.Type != nil && !s.Type.IsEmpty():
		t = html.EscapeString(strings.Join(s.Type.Slice(), " | "))
	case len(s.OneOf) > 0:
		var parts []string
		for _, o := range s.OneOf {
			parts = append(parts, typeText(o))
		}
		t = "one of " + strings.Join(parts, ", ")
	default:
		t = "any"
	}
	if s.Format != "" {
		t += " (" + html.EscapeString(s.Format) + ")"
	}
	if s.Const != nil {
		t += fmt.Sprintf(", always <code>%s</code>", html.EscapeString(fmt.Sprint(s.Const)))
	}
	if len(s.Enum) > 0 {
		var vals []string
		for _, v := range s.Enum {
			vals = append(vals, "<code>"+html.EscapeString(fmt.Sprint(v))+"</code>")
		}
		t += ", one of " + strings.Join(vals, " ")
	}
	var limits []string
	if s.Min != nil {
		limits = append(limits, fmt.Sprintf("≥ %v", *s.Min))
	}
	if s.Max != nil {
		limits = append(limits, fmt.Sprintf("≤ %v", *s.Max))
	}
	if s.MinLength > 0 {
		limits = append(limits, fmt.Sprintf("length ≥ %d", s.MinLength))
	}
	if s.MaxLength != nil {
		limits = append(limits, fmt.Sprintf("length ≤ %d", *s.MaxLength))
	}
	if s.MaxItems != nil {
		limits = append(limits, fmt.Sprintf("≤ %d items", *s.MaxItems))
	}
	if s.Pattern != "" {
		limits = append(limits, "pattern <code>"+html.EscapeString(s.Pattern)+"</code>")
	}
	if len(limits) > 0 {
		t += "; " + strings.Join(limits, ", ")
	}
	return t
}

func descriptionOf(desc string, ref *openapi3.SchemaRef) string {
	if desc != "" || ref == nil || ref.Value == nil || ref.Ref != "" {
		return desc
	}
	return ref.Value.Description
}

// inlineMarkdown renders a short description inside a table cell.
func inlineMarkdown(md string) string {
	out := renderMarkdown(md, docsLink)
	out = strings.TrimSpace(out)
	if strings.HasPrefix(out, "<p>") && strings.HasSuffix(out, "</p>") && strings.Count(out, "<p>") == 1 {
		out = strings.TrimSuffix(strings.TrimPrefix(out, "<p>"), "</p>")
	}
	return out
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
