package httpapi

import (
	"strings"
	"testing"
)

func TestRenderMarkdown(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string // substrings of the output, in order
		not       []string
	}{
		{"heading with anchor", "## Push and pull\n", []string{`<h2 id="push-and-pull">Push and pull <a class="anchor" href="#push-and-pull">#</a></h2>`}, nil},
		{"chinese heading keeps its letters", "# 走访 visits\n", []string{`<h1 id="走访-visits">`}, nil},
		{"duplicate headings get distinct ids", "## A\n\n## A\n", []string{`id="a"`, `id="a-1"`}, nil},
		{"paragraph joins lines", "one\ntwo\n\nthree\n", []string{"<p>one\ntwo</p>", "<p>three</p>"}, nil},
		{"html is escaped", "a <script>x</script> & b\n", []string{"a &lt;script&gt;x&lt;/script&gt; &amp; b"}, []string{"<script>"}},
		{"code span keeps markup literal", "use `a*b*c` and `<x>`\n", []string{"<code>a*b*c</code>", "<code>&lt;x&gt;</code>"}, []string{"<em>"}},
		{"strong and emphasis", "**bold** and *it* and _also_\n", []string{"<strong>bold</strong>", "<em>it</em>", "<em>also</em>"}, nil},
		{"snake_case stays text", "mutation_id and base_version\n", []string{"mutation_id and base_version"}, []string{"<em>"}},
		{"bullets", "- one\n- two\n", []string{"<ul>\n<li>one</li>\n<li>two</li>\n</ul>"}, nil},
		{"numbered from 3", "3. c\n4. d\n", []string{`<ol start="3">`, "<li>c</li>"}, nil},
		{"nested list", "- a\n  - b\n- c\n", []string{"<ul>\n<li><p>a</p>\n<ul>\n<li>b</li>\n</ul>\n</li>\n<li>c</li>"}, nil},
		{"list item continuation", "1. **pushing** — take\n   edits in order\n2. pulling\n", []string{"<li><strong>pushing</strong> — take\nedits in order</li>"}, nil},
		{"fenced code", "```json\n{\"a\": \"<b>\"}\n```\n", []string{`<pre><code class="language-json">{&#34;a&#34;: &#34;&lt;b&gt;&#34;}</code></pre>`}, nil},
		{"fence inside list", "1. step\n\n   ```\n   code\n   ```\n", []string{"<li><p>step</p>\n<pre><code>code</code></pre>"}, nil},
		{"table", "| a | b |\n| --- | ---: |\n| `x|y` | 2 |\n", []string{"<th>a</th>", `<th style="text-align:right">b</th>`, "<td><code>x|y</code></td>", `<td style="text-align:right">2</td>`}, nil},
		{"quote", "> note\n> more\n", []string{"<blockquote>\n<p>note\nmore</p>\n</blockquote>"}, nil},
		{"rule", "a\n\n---\n\nb\n", []string{"<hr>"}, nil},
		{"guide link rewritten", "see [sync](sync-protocol.md#push)\n", []string{`<a href="/docs/sync-protocol#push">sync</a>`}, nil},
		{"index link", "[home](README.md)\n", []string{`<a href="/docs">home</a>`}, nil},
		{"spec link", "[spec](openapi.yaml)\n", []string{`<a href="/openapi.yaml">spec</a>`}, nil},
		{"external link becomes text", "[site](https://example.com/x)\n", []string{"site (https://example.com/x)"}, []string{"<a "}},
		{"javascript link becomes text", "[x](javascript:alert(1))\n", nil, []string{"<a "}},
		{"unclosed marks are text", "a * b ** c `d\n", []string{"a * b ** c `d"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := renderMarkdown(tc.src, docsLink)
			at := 0
			for _, w := range tc.want {
				i := strings.Index(got[at:], w)
				if i < 0 {
					t.Fatalf("want %q in order in:\n%s", w, got)
				}
				at += i + len(w)
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("did not want %q in:\n%s", n, got)
				}
			}
		})
	}
}

// Whatever the input, the renderer terminates and never lets markup through.
func FuzzRenderMarkdown(f *testing.F) {
	for _, s := range []string{"# h\n- a\n  - b\n", "| a |\n| - |\n", "```\nx", "[a](b", "**a*b_c_", "> > x\n>", "1. a\n\n   b\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		got := renderMarkdown(src, docsLink)
		if strings.Contains(got, "<script") || strings.Contains(got, "<img") || strings.Contains(got, "javascript:") && strings.Contains(got, "href=\"javascript:") {
			t.Fatalf("markup leaked: %q → %q", src, got)
		}
	})
}
