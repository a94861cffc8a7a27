package console

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/doorstep-dev/doorstep/server/store"
)

const perPage = 50

// listState is a list's query string: search, sort key (checked against the
// list's allow-list), direction, page, and the list's own filters.
type listState struct {
	path    string
	Q       string
	Sort    string
	Desc    bool
	Page    int
	filters url.Values
	allowed map[string]string
}

func parseList(c *gin.Context, allowed map[string]string, defSort string, defDesc bool, filterKeys ...string) listState {
	s := listState{path: c.Request.URL.Path, Q: strings.TrimSpace(c.Query("q")), Sort: c.Query("sort"), Page: 1, filters: url.Values{}, allowed: allowed}
	if len(s.Q) > 100 {
		s.Q = s.Q[:100]
	}
	if _, ok := allowed[s.Sort]; !ok {
		s.Sort, s.Desc = defSort, defDesc
	} else {
		s.Desc = c.Query("dir") == "desc"
	}
	if p, err := strconv.Atoi(c.Query("page")); err == nil && p > 0 && p < 1_000_000 {
		s.Page = p
	}
	for _, k := range filterKeys {
		if v := strings.TrimSpace(c.Query(k)); v != "" {
			s.filters.Set(k, v)
		}
	}
	return s
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
		v.Set("q", s.Q)
	}
	v.Set("sort", s.Sort)
	if s.Desc {
		v.Set("dir", "desc")
	}
	if s.Page > 1 {
		v.Set("page", strconv.Itoa(s.Page))
	}
	if mod != nil {
		mod(v)
	}
	return s.path + "?" + v.Encode()
}

// SortURL is the link of a column header: sort by key, flipping direction
// when it already sorts by key; back to page one.
func (s listState) SortURL(key string) string {
	return s.url(func(v url.Values) {
		v.Set("sort", key)
		v.Del("page")
		v.Del("dir")
		if s.Sort == key && !s.Desc {
			v.Set("dir", "desc")
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
	for k, vs := range s.filters {
		for _, v := range vs {
			out = append(out, [2]string{k, v})
		}
	}
	out = append(out, [2]string{"sort", s.Sort})
	if s.Desc {
		out = append(out, [2]string{"dir", "desc"})
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
		p.Prev = s.url(func(v url.Values) { v.Set("page", strconv.Itoa(s.Page-1)) })
	}
	if s.Page < pages {
		p.Next = s.url(func(v url.Values) { v.Set("page", strconv.Itoa(s.Page+1)) })
	}
	return p
}

func intQuery(c *gin.Context, key string) int {
	n, err := strconv.Atoi(c.Query(key))
	if err != nil || n < 1 || n > 1_000_000 {
		return 0
	}
	return n
}

// problemPager pages the problems of an import under their own parameter,
// so that paging them keeps the household list where it is.
func problemPager(c *gin.Context, page int, total int64) pager {
	pages := int((total + perPage - 1) / perPage)
	if pages < 1 {
		pages = 1
	}
	p := pager{Page: page, Pages: pages, Total: total}
	link := func(n int) string {
		q := c.Request.URL.Query()
		q.Set("ppage", strconv.Itoa(n))
		q.Del("ok")
		return c.Request.URL.Path + "?" + q.Encode()
	}
	if page > 1 {
		p.Prev = link(page - 1)
	}
	if page < pages {
		p.Next = link(page + 1)
	}
	return p
}
