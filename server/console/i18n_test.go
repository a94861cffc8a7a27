package console

import (
	"io/fs"
	"regexp"
	"strings"
	"testing"
)

var keyUse = regexp.MustCompile(`\.(?:T|F) "([a-z0-9_.]+)"`)

// TestCatalogCoversTemplates: every label a template asks for exists in
// both languages, so no page ever shows a raw key.
func TestCatalogCoversTemplates(t *testing.T) {
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, path)
		if err != nil {
			return err
		}
		for _, m := range keyUse.FindAllStringSubmatch(string(b), -1) {
			if _, ok := catalog[m[1]]; !ok {
				t.Errorf("%s uses %q, which the catalog lacks", path, m[1])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, m := range catalog {
		if strings.TrimSpace(m.zh) == "" || strings.TrimSpace(m.en) == "" {
			t.Errorf("catalog key %q lacks a language", k)
		}
	}
	for _, k := range []string{"cov.ok.exempted", "cov.ok.signed", "rev.ok.confirmed", "rev.ok.already", "rev.ok.issues",
		"dev.ok.revoked", "dev.ok.already", "rep.ok.closed", "imp.ok.committed", "imp.ok.nochange", "imp.ok.discarded",
		"asg.ok.assigned", "asg.ok.deadline", "login.bye"} {
		if _, ok := catalog[k]; !ok {
			t.Errorf("flash key %q missing from the catalog", k)
		}
	}
}
