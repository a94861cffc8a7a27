package httpapi

import (
	"fmt"
	"html"
	"regexp"
	"strings"
	"unicode"
)

// A small Markdown renderer for the guides in mobile-api-docs: the subset
// they use (ATX headings, paragraphs, nested lists, fenced code, pipe tables,
// block quotes, rules; code spans, strong, emphasis, links). Everything is
// HTML-escaped; raw HTML in the source is shown as text. It exists so the
// docs render on the server with no script and no network: a guide that
// needs more than this should say it more simply.

// mdLinker rewrites link targets; it returns the href to use, or "" to show
// the link as plain text.
type mdLinker func(target string) string

type mdRenderer struct {
	out  strings.Builder
	link mdLinker
	ids  map[string]int
}

func renderMarkdown(src string, link mdLinker) string {
	r := &mdRenderer{link: link, ids: map[string]int{}}
	src = strings.ReplaceAll(strings.ReplaceAll(src, "\r\n", "\n"), "\t", "    ")
	lines := strings.Split(src, "\n")
	r.blocks(lines)
	return r.out.String()
}

var (
	reHeading = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	reFence   = regexp.MustCompile("^(```+|~~~+)\\s*([\\w+-]*)\\s*$")
	reBullet  = regexp.MustCompile(`^( *)([-*+]) +(.*)$`)
	reOrdered = regexp.MustCompile(`^( *)(\d{1,9})[.)] +(.*)$`)
	reRule    = regexp.MustCompile(`^ {0,3}(?:(?:- *){3,}|(?:\* *){3,}|(?:_ *){3,})$`)
	reTableSp = regexp.MustCompile(`^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$`)
)

func blank(s string) bool { return strings.TrimSpace(s) == "" }

// blocks renders a sequence of lines at the top level or inside a list
// item or quote.
func (r *mdRenderer) blocks(lines []string) {
	for i := 0; i < len(lines); {
		line := lines[i]
		switch {
		case blank(line):
			i++
		case reFence.MatchString(strings.TrimLeft(line, " ")):
			i = r.fence(lines, i)
		case reHeading.MatchString(line):
			m := reHeading.FindStringSubmatch(line)
			level := len(m[1])
			id := r.anchor(m[2])
			fmt.Fprintf(&r.out, "<h%d id=\"%s\">%s <a class=\"anchor\" href=\"#%s\">#</a></h%d>\n", level, id, r.inline(m[2]), id, level)
			i++
		case reRule.MatchString(line):
			r.out.WriteString("<hr>\n")
			i++
		case strings.HasPrefix(strings.TrimLeft(line, " "), ">"):
			var inner []string
			for i < len(lines) && strings.HasPrefix(strings.TrimLeft(lines[i], " "), ">") {
				l := strings.TrimPrefix(strings.TrimLeft(lines[i], " "), ">")
				inner = append(inner, strings.TrimPrefix(l, " "))
				i++
			}
			r.out.WriteString("<blockquote>\n")
			r.blocks(inner)
			r.out.WriteString("</blockquote>\n")
		case reBullet.MatchString(line) || reOrdered.MatchString(line):
			i = r.list(lines, i)
		case strings.Contains(line, "|") && i+1 < len(lines) && reTableSp.MatchString(lines[i+1]):
			i = r.table(lines, i)
		case strings.HasPrefix(line, "    "):
			// Indented code block.
			var code []string
			for i < len(lines) && (strings.HasPrefix(lines[i], "    ") || blank(lines[i])) {
				code = append(code, strings.TrimPrefix(lines[i], "    "))
				i++
			}
			for len(code) > 0 && blank(code[len(code)-1]) {
				code = code[:len(code)-1]
			}
			r.out.WriteString("<pre><code>" + html.EscapeString(strings.Join(code, "\n")) + "</code></pre>\n")
		default:
			i = r.paragraph(lines, i)
		}
	}
}

func (r *mdRenderer) fence(lines []string, i int) int {
	indent := len(lines[i]) - len(strings.TrimLeft(lines[i], " "))
	m := reFence.FindStringSubmatch(strings.TrimLeft(lines[i], " "))
	marker, lang := m[1], m[2]
	var code []string
	i++
	for ; i < len(lines); i++ {
		t := strings.TrimLeft(lines[i], " ")
		if strings.HasPrefix(t, marker) && blank(strings.TrimLeft(t, marker[:1])) {
			i++
			break
		}
		l := lines[i]
		for k := 0; k < indent && strings.HasPrefix(l, " "); k++ {
			l = l[1:]
		}
		code = append(code, l)
	}
	class := ""
	if lang != "" {
		class = ` class="language-` + html.EscapeString(lang) + `"`
	}
	r.out.WriteString("<pre><code" + class + ">" + html.EscapeString(strings.Join(code, "\n")) + "</code></pre>\n")
	return i
}

func (r *mdRenderer) paragraph(lines []string, i int) int {
	var para []string
	for i < len(lines) {
		l := lines[i]
		if blank(l) || reHeading.MatchString(l) || reFence.MatchString(strings.TrimLeft(l, " ")) ||
			strings.HasPrefix(strings.TrimLeft(l, " "), ">") || reRule.MatchString(l) ||
			(len(para) > 0 && (reBullet.MatchString(l) || reOrdered.MatchString(l))) {
			break
		}
		para = append(para, strings.TrimSpace(l))
		i++
	}
	if len(para) == 0 {
		// A line no other rule takes; show it as text rather than loop.
		para = append(para, strings.TrimSpace(lines[i]))
		i++
	}
	r.out.WriteString("<p>" + r.inline(strings.Join(para, "\n")) + "</p>\n")
	return i
}

// list renders a bulleted or numbered list starting at lines[i]. Item
// continuation lines and nested blocks are indented past the marker.
func (r *mdRenderer) list(lines []string, i int) int {
	ordered := !reBullet.MatchString(lines[i])
	base := indentOf(lines[i])
	tag := "ul"
	start := ""
	if ordered {
		tag = "ol"
		if m := reOrdered.FindStringSubmatch(lines[i]); m[2] != "1" {
			start = ` start="` + m[2] + `"`
		}
	}
	r.out.WriteString("<" + tag + start + ">\n")
	for i < len(lines) {
		var m []string
		if ordered {
			m = reOrdered.FindStringSubmatch(lines[i])
		} else {
			m = reBullet.FindStringSubmatch(lines[i])
		}
		if m == nil || len(m[1]) != base {
			break
		}
		content := m[len(m)-1]
		width := len(lines[i]) - len(content) // indent, marker and its spaces
		item := []string{content}
		i++
		loose := false
		for i < len(lines) {
			l := lines[i]
			if blank(l) {
				// A blank line continues the item only if indented text follows.
				if i+1 < len(lines) && indentOf(lines[i+1]) > base && !blank(lines[i+1]) {
					item = append(item, "")
					loose = true
					i++
					continue
				}
				break
			}
			if indentOf(l) <= base {
				if reBullet.MatchString(l) || reOrdered.MatchString(l) || reHeading.MatchString(l) ||
					reFence.MatchString(strings.TrimLeft(l, " ")) || reRule.MatchString(l) {
					break
				}
				if loose {
					break
				}
			}
			item = append(item, dedent(l, width))
			i++
		}
		r.out.WriteString("<li>")
		if !loose && !hasBlock(item[1:]) {
			r.out.WriteString(r.inline(strings.Join(trimAll(item), "\n")))
		} else {
			// First line and its lazy continuation form a paragraph; the
			// rest are blocks.
			r.blocks(item)
		}
		r.out.WriteString("</li>\n")
		for i < len(lines) && blank(lines[i]) {
			// Blank lines between items of the same list.
			if i+1 < len(lines) && indentOf(lines[i+1]) == base && (reBullet.MatchString(lines[i+1]) || reOrdered.MatchString(lines[i+1])) {
				i++
				continue
			}
			break
		}
	}
	r.out.WriteString("</" + tag + ">\n")
	return i
}

func hasBlock(lines []string) bool {
	for _, l := range lines {
		t := strings.TrimLeft(l, " ")
		if reBullet.MatchString(l) || reOrdered.MatchString(l) || reFence.MatchString(t) || strings.HasPrefix(t, ">") {
			return true
		}
	}
	return false
}

func trimAll(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimSpace(l)
	}
	return out
}

func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

func dedent(s string, n int) string {
	for k := 0; k < n && strings.HasPrefix(s, " "); k++ {
		s = s[1:]
	}
	return s
}

func (r *mdRenderer) table(lines []string, i int) int {
	head := splitRow(lines[i])
	aligns := splitRow(lines[i+1])
	align := make([]string, len(aligns))
	for k, a := range aligns {
		switch {
		case strings.HasPrefix(a, ":") && strings.HasSuffix(a, ":"):
			align[k] = ` style="text-align:center"`
		case strings.HasSuffix(a, ":"):
			align[k] = ` style="text-align:right"`
		}
	}
	at := func(k int) string {
		if k < len(align) {
			return align[k]
		}
		return ""
	}
	r.out.WriteString("<table>\n<thead><tr>")
	for k, h := range head {
		r.out.WriteString("<th" + at(k) + ">" + r.inline(h) + "</th>")
	}
	r.out.WriteString("</tr></thead>\n<tbody>\n")
	i += 2
	for ; i < len(lines) && strings.Contains(lines[i], "|") && !blank(lines[i]); i++ {
		cells := splitRow(lines[i])
		r.out.WriteString("<tr>")
		for k := range head {
			c := ""
			if k < len(cells) {
				c = cells[k]
			}
			r.out.WriteString("<td" + at(k) + ">" + r.inline(c) + "</td>")
		}
		r.out.WriteString("</tr>\n")
	}
	r.out.WriteString("</tbody>\n</table>\n")
	return i
}

// splitRow splits a pipe-table row, leaving pipes inside code spans and
// escaped pipes alone.
func splitRow(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimPrefix(line, "|")
	if strings.HasSuffix(line, "|") && !strings.HasSuffix(line, `\|`) {
		line = line[:len(line)-1]
	}
	var cells []string
	var cur strings.Builder
	inCode := false
	for k := 0; k < len(line); k++ {
		ch := line[k]
		switch {
		case ch == '\\' && k+1 < len(line) && line[k+1] == '|':
			cur.WriteByte('|')
			k++
		case ch == '`':
			inCode = !inCode
			cur.WriteByte(ch)
		case ch == '|' && !inCode:
			cells = append(cells, strings.TrimSpace(cur.String()))
			cur.Reset()
		default:
			cur.WriteByte(ch)
		}
	}
	return append(cells, strings.TrimSpace(cur.String()))
}

// anchor makes a unique heading id: lower case, letters (any script) and
// digits kept, runs of anything else turned into one hyphen.
func (r *mdRenderer) anchor(text string) string {
	id := slugify(stripInline(text))
	if id == "" {
		id = "section"
	}
	n := r.ids[id]
	r.ids[id] = n + 1
	if n > 0 {
		id = fmt.Sprintf("%s-%d", id, n)
	}
	return id
}

func slugify(s string) string {
	var b strings.Builder
	dash := false
	for _, ch := range strings.ToLower(s) {
		if unicode.IsLetter(ch) || unicode.IsDigit(ch) {
			b.WriteRune(ch)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}

// Underscores stay: in ids like visit_plan they separate words.
var reInlineMarks = regexp.MustCompile("[`*]|\\[([^\\]]*)\\]\\([^)]*\\)")

func stripInline(s string) string {
	return reInlineMarks.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "[") {
			return m[1:strings.Index(m, "]")]
		}
		return ""
	})
}

// inline renders code spans, links, strong and emphasis; everything else is
// escaped text. Line breaks inside a paragraph stay soft.
func (r *mdRenderer) inline(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		ch := s[i]
		switch {
		case ch == '\\' && i+1 < len(s) && strings.IndexByte("\\`*_[]()#|<>!-.", s[i+1]) >= 0:
			b.WriteString(html.EscapeString(s[i+1 : i+2]))
			i += 2
		case ch == '`':
			n := 1
			for i+n < len(s) && s[i+n] == '`' {
				n++
			}
			fence := strings.Repeat("`", n)
			end := strings.Index(s[i+n:], fence)
			if end < 0 {
				b.WriteString(html.EscapeString(fence))
				i += n
				continue
			}
			code := strings.TrimSpace(strings.ReplaceAll(s[i+n:i+n+end], "\n", " "))
			b.WriteString("<code>" + html.EscapeString(code) + "</code>")
			i += n + end + n
		case ch == '[':
			text, target, n, ok := parseLink(s[i:])
			if !ok {
				b.WriteString("[")
				i++
				continue
			}
			href := target
			if r.link != nil {
				href = r.link(target)
			}
			if href == "" {
				b.WriteString(r.inline(text) + " (" + html.EscapeString(target) + ")")
			} else {
				b.WriteString(`<a href="` + html.EscapeString(href) + `">` + r.inline(text) + "</a>")
			}
			i += n
		case (ch == '*' || ch == '_') && i+1 < len(s) && s[i+1] == ch:
			end := strings.Index(s[i+2:], s[i:i+2])
			if end <= 0 {
				b.WriteString(html.EscapeString(s[i : i+2]))
				i += 2
				continue
			}
			b.WriteString("<strong>" + r.inline(s[i+2:i+2+end]) + "</strong>")
			i += 2 + end + 2
		case (ch == '*' || ch == '_') && emphasisOpens(s, i):
			end := closingEmphasis(s, i)
			if end < 0 {
				b.WriteString(html.EscapeString(s[i : i+1]))
				i++
				continue
			}
			b.WriteString("<em>" + r.inline(s[i+1:end]) + "</em>")
			i = end + 1
		default:
			j := i + 1
			for j < len(s) && strings.IndexByte("\\`[*_", s[j]) < 0 {
				j++
			}
			b.WriteString(html.EscapeString(s[i:j]))
			i = j
		}
	}
	return b.String()
}

// emphasisOpens: a single * or _ opens emphasis when followed by a non-space
// and, for _, not preceded by a letter or digit (snake_case stays text).
func emphasisOpens(s string, i int) bool {
	if i+1 >= len(s) || s[i+1] == ' ' || s[i+1] == '\n' {
		return false
	}
	if s[i] == '_' && i > 0 && isWordByte(s[i-1]) {
		return false
	}
	return true
}

func closingEmphasis(s string, i int) int {
	ch := s[i]
	for j := i + 2; j < len(s); j++ {
		if s[j] == '`' {
			// Skip code spans inside emphasis.
			if k := strings.IndexByte(s[j+1:], '`'); k >= 0 {
				j += k + 1
				continue
			}
		}
		if s[j] == ch && s[j-1] != ' ' && (j+1 >= len(s) || !(ch == '_' && isWordByte(s[j+1]))) && (j+1 >= len(s) || s[j+1] != ch) {
			return j
		}
	}
	return -1
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80
}

// parseLink reads [text](target) at the start of s.
func parseLink(s string) (text, target string, n int, ok bool) {
	depth := 0
	close := -1
	for k := 0; k < len(s); k++ {
		switch s[k] {
		case '[':
			depth++
		case ']':
			depth--
			if depth == 0 {
				close = k
			}
		case '`':
			if e := strings.IndexByte(s[k+1:], '`'); e >= 0 {
				k += e + 1
			}
		}
		if close >= 0 {
			break
		}
	}
	if close < 0 || close+1 >= len(s) || s[close+1] != '(' {
		return "", "", 0, false
	}
	end := strings.IndexByte(s[close+2:], ')')
	if end < 0 {
		return "", "", 0, false
	}
	return s[1:close], strings.TrimSpace(s[close+2 : close+2+end]), close + 2 + end + 1, true
}
