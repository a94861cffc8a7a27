package console

import (
	"cmp"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/store"
)

const perPage = 50

// listState is a list's query string: search, sort key (checked against the
// list's allow-list), direction, page, and the list's own filters.
//
// A page has one main list, whose parameters are q, sort, dir and page, and
// may have further lists whose parameters carry a prefix (sq, ssort, sdir,
// spage for the prefix "s"), so that each list is searched, sorted and paged
// on its own. A further list's links keep the rest of the page's query, so
// paging it leaves the main list where it is.
type listState struct {
	path    string
	prefix  string
	anchor  string
	Q       string
	Sort    string
	Desc    bool
	Page    int
	filters url.Values
	allowed map[string]string
}

// parseList reads the page's main list.
func parseList(c *gin.Context, allowed map[string]string, defSort string, defDesc bool, filterKeys ...string) listState {
	s := readList(c, "", allowed, defSort, defDesc)
	for _, k := range filterKeys {
		if v := strings.TrimSpace(c.Query(k)); v != "" {
			s.filters.Set(k, v)
		}
	}
	return s
}

// parseSubList reads a further list of a page, whose parameters carry
// prefix; its links return to the element with id anchor.
func parseSubList(c *gin.Context, prefix, anchor string, allowed map[string]string, defSort string, defDesc bool) listState {
	s := readList(c, prefix, allowed, defSort, defDesc)
	s.anchor = anchor
	for k, vs := range c.Request.URL.Query() {
		switch k {
		case "ok", s.Param("q"), s.Param("sort"), s.Param("dir"), s.Param("page"):
			continue
		}
		s.filters[k] = vs
	}
	return s
}

func readList(c *gin.Context, prefix string, allowed map[string]string, defSort string, defDesc bool) listState {
	s := listState{path: c.Request.URL.Path, prefix: prefix, Page: 1, filters: url.Values{}, allowed: allowed}
	s.Q = strings.TrimSpace(c.Query(s.Param("q")))
	if len(s.Q) > 100 {
		s.Q = s.Q[:100]
	}
	s.Sort = c.Query(s.Param("sort"))
	if _, ok := allowed[s.Sort]; !ok {
		s.Sort, s.Desc = defSort, defDesc
	} else {
		s.Desc = c.Query(s.Param("dir")) == "desc"
	}
	if p, err := strconv.Atoi(c.Query(s.Param("page"))); err == nil && p > 0 && p < 1_000_000 {
		s.Page = p
	}
	return s
}

// Param is the name of one of the list's query parameters.
func (s listState) Param(name string) string { return s.prefix + name }

// ID makes an element id unique to the list on its page.
func (s listState) ID(base string) string {
	if s.prefix == "" {
		return base
	}
	return base + "-" + s.prefix
}

// Filter returns a filter's value.
func (s listState) Filter(k string) string { return s.filters.Get(k) }

func (s listState) storePage() store.ListPage {
	return store.ListPage{Q: s.Q, Sort: s.Sort, Desc: s.Desc, Limit: perPage, Offset: (s.Page - 1) * perPage}
}

func (s listState) url(mod func(v url.Values)) string {
	v := url.Values{}
	for k, vs := range s.filters {
		v[k] = vs
	}
	if s.Q != "" {
		v.Set(s.Param("q"), s.Q)
	}
	v.Set(s.Param("sort"), s.Sort)
	if s.Desc {
		v.Set(s.Param("dir"), "desc")
	}
	if s.Page > 1 {
		v.Set(s.Param("page"), strconv.Itoa(s.Page))
	}
	if mod != nil {
		mod(v)
	}
	u := s.path + "?" + v.Encode()
	if s.anchor != "" {
		u += "#" + s.anchor
	}
	return u
}

// SortURL is the link of a column header: sort by key, flipping direction
// when it already sorts by key; back to page one.
func (s listState) SortURL(key string) string {
	return s.url(func(v url.Values) {
		v.Set(s.Param("sort"), key)
		v.Del(s.Param("page"))
		v.Del(s.Param("dir"))
		if s.Sort == key && !s.Desc {
			v.Set(s.Param("dir"), "desc")
		}
	})
}

// SortMark shows the direction on the sorted column.
func (s listState) SortMark(key string) string {
	if s.Sort != key {
		return ""
	}
	if s.Desc {
		return " ▼"
	}
	return " ▲"
}

// Hidden are the fields a search form must carry to keep filters and sort.
func (s listState) Hidden() [][2]string {
	var out [][2]string
	keys := make([]string, 0, len(s.filters))
	for k := range s.filters {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range s.filters[k] {
			out = append(out, [2]string{k, v})
		}
	}
	out = append(out, [2]string{s.Param("sort"), s.Sort})
	if s.Desc {
		out = append(out, [2]string{s.Param("dir"), "desc"})
	}
	return out
}

// pager is the navigation under a list.
type pager struct {
	Page, Pages int
	Total       int64
	Prev, Next  string
}

func (s listState) pager(total int64) pager {
	pages := int((total + perPage - 1) / perPage)
	if pages < 1 {
		pages = 1
	}
	p := pager{Page: s.Page, Pages: pages, Total: total}
	if s.Page > 1 {
		p.Prev = s.url(func(v url.Values) { v.Set(s.Param("page"), strconv.Itoa(s.Page-1)) })
	}
	if s.Page < pages {
		p.Next = s.url(func(v url.Values) { v.Set(s.Param("page"), strconv.Itoa(s.Page+1)) })
	}
	return p
}

// memSorts are the sort keys of a list the console holds whole (because a
// service computes it rather than reads it from a table), each with its
// comparison; the keys are the list's allow-list.
type memSorts[T any] map[string]func(a, b T) int

func (m memSorts[T]) allowed() map[string]string {
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = ""
	}
	return out
}

// pageMem searches, sorts and pages a list held whole: match sees the
// lower-cased search text; tie orders rows the sort key leaves equal, so
// that pages never overlap.
func pageMem[T any](s listState, rows []T, match func(row T, q string) bool, sorts memSorts[T], tie func(a, b T) int) ([]T, pager) {
	q := strings.ToLower(s.Q)
	kept := make([]T, 0, len(rows))
	for _, r := range rows {
		if q == "" || match(r, q) {
			kept = append(kept, r)
		}
	}
	by := sorts[s.Sort]
	slices.SortStableFunc(kept, func(a, b T) int {
		r := 0
		if by != nil {
			r = by(a, b)
		}
		r = cmp.Or(r, tie(a, b))
		if s.Desc {
			return -r
		}
		return r
	})
	return pageOf(kept, s.Page), s.pager(int64(len(kept)))
}

func pageOf[T any](rows []T, page int) []T {
	from := (page - 1) * perPage
	if from >= len(rows) {
		return nil
	}
	return rows[from:min(from+perPage, len(rows))]
}

// has reports whether text contains the lower-cased search q.
func has(text, q string) bool { return strings.Contains(strings.ToLower(text), q) }

// prefixed reports whether text starts with the lower-cased search q.
func prefixed(text, q string) bool { return strings.HasPrefix(strings.ToLower(text), q) }
