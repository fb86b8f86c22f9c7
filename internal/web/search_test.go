package web_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// attrOf is the attribute of the first node that sel matches, "" when none does.
func attrOf(p *page, sel, key string) string {
	if n := p.find(sel); n != nil {
		return attr(n, key)
	}
	return ""
}

// resultNames are the projects a search page lists, in its order.
func resultNames(p *page) []string {
	var out []string
	for _, n := range findAll(p.doc, "ul.project-list span.name") {
		out = append(out, textOf(n))
	}
	return out
}

// TestSearchRanking: the exact name first, then the names that start with the query, then the names that have its
// words, then text matches by relevance; the page shows each project's version, summary and date.
func TestSearchRanking(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		a := fx.user("alice")
		for _, p := range []struct{ name, summary, keywords string }{
			{"pytest-flask", "Fixtures for tests", ""},
			{"flask_admin", "Admin pages", ""},
			{"Flask", "The micro framework", ""},
			{"zeta", "Works well with flask", "flask, orm"},
			{"alpha", "Mentions flask once among many other words", ""},
			{"web", "Nothing to do with it", ""},
			{"other", "Nothing either", ""},
		} {
			fx.addRelease(t, a, p.name, "1.0", map[string]any{"summary": p.summary, "keywords": p.keywords})
			fx.clock.Advance(time.Hour)
		}
		b := fx.browser("b")
		s := b.get("/search/?q=flask")
		wantStatus(t, s, 200, "search")
		if diff := cmp.Diff([]string{"Flask", "flask_admin", "pytest-flask", "zeta", "alpha"}, resultNames(s)); diff != "" {
			t.Errorf("search flask (-want +got):\n%s", diff)
		}
		if got := s.text("#result-count"); got != "1-5 of 5 projects matching “flask”" {
			t.Errorf("count %q", got)
		}
		first := []string{s.text("ul.project-list li .name"), s.text("ul.project-list li .version"),
			s.text("ul.project-list li .date"), s.text("ul.project-list li .summary")}
		if diff := cmp.Diff([]string{"Flask", "1.0", "2026-05-06", "The micro framework"}, first); diff != "" {
			t.Errorf("the first result's name, version, date and summary (-want +got):\n%s", diff)
		}
		if v := attrOf(s, `main form.search input[name=q]`, "value"); v != "flask" {
			t.Errorf("the search box holds %q; want the query", v)
		}
		if s.find("nav.pager") != nil {
			t.Error("one page of results has page links")
		}
		if got := resultNames(b.get("/search/?q=" + url.QueryEscape("Flask.Admin"))); len(got) == 0 || got[0] != "flask_admin" {
			t.Errorf("search Flask.Admin: %v; want flask_admin first, as PEP 503 normalises names", got)
		}
		if diff := cmp.Diff([]string{"zeta"}, resultNames(b.get("/search/?q=orm+flask"))); diff != "" {
			t.Errorf("two words find only what has both (-want +got):\n%s", diff)
		}
	})
}

// TestSearchPages: 20 results a page, with the count, previous and next links, and a clear answer past the last
// page, beyond the last page that can be shown and for a page that is no number.
func TestSearchPages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		a := fx.user("alice")
		var all []string
		for i := range 45 {
			name := fmt.Sprintf("pkg%02d", i)
			all = append(all, name)
			fx.addRelease(t, a, name, "1.0", map[string]any{"summary": "A common summary"})
		}
		b := fx.browser("b")
		var seen []string
		for _, c := range []struct {
			page, count, prev, next string
		}{
			{"", "1-20 of 45 projects matching “common”", "", "/search/?page=2&q=common"},
			{"2", "21-40 of 45 projects matching “common”", "/search/?q=common", "/search/?page=3&q=common"},
			{"3", "41-45 of 45 projects matching “common”", "/search/?page=2&q=common", ""},
		} {
			path := "/search/?q=common"
			if c.page != "" {
				path += "&page=" + c.page
			}
			p := b.get(path)
			wantStatus(t, p, 200, path)
			seen = append(seen, resultNames(p)...)
			if got := p.text("#result-count"); got != c.count {
				t.Errorf("%s: count %q; want %q", path, got, c.count)
			}
			if got := attrOf(p, `nav.pager a[rel=prev]`, "href"); got != c.prev {
				t.Errorf("%s: previous page %q; want %q", path, got, c.prev)
			}
			if got := attrOf(p, `nav.pager a[rel=next]`, "href"); got != c.next {
				t.Errorf("%s: next page %q; want %q", path, got, c.next)
			}
		}
		if diff := cmp.Diff(all, seen); diff != "" {
			t.Errorf("the pages together (-want +got):\n%s", diff)
		}
		past := b.get("/search/?q=common&page=9")
		wantStatus(t, past, 200, "past the last page")
		if got := past.text("#result-count"); !strings.Contains(got, "past the last page of the 45 projects") ||
			attrOf(past, "#result-count a", "href") != "/search/?page=3&q=common" {
			t.Errorf("past the last page: %q", got)
		}
		for _, c := range []struct{ page, msg string }{
			{"501", "Only the first 500 pages of results can be shown"},
			{"0", "The page must be a number from 1 to 500."},
			{"two", "The page must be a number from 1 to 500."},
		} {
			p := b.get("/search/?q=common&page=" + c.page)
			wantStatus(t, p, 400, "page "+c.page)
			if !strings.Contains(p.text("p.error"), c.msg) || p.find("ul.project-list") != nil {
				t.Errorf("page %s: %q and results %v; want %q and none", c.page, p.text("p.error"), resultNames(p), c.msg)
			}
		}
	})
}

// TestSearchClassifiers: a link with classifiers (as the project page makes) lists the projects that have them
// all; each filter shows and can be removed, a new query keeps them, and the classifiers of the results narrow it.
func TestSearchClassifiers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		const (
			tools  = "Topic :: Software Development"
			django = "Framework :: Django"
			py3    = "Programming Language :: Python :: 3"
		)
		a := fx.user("alice")
		fx.addRelease(t, a, "both", "1.0", map[string]any{"summary": "Web helpers", "classifiers": []string{tools, django}})
		fx.addRelease(t, a, "tools-only", "1.0", map[string]any{"summary": "Web tools", "classifiers": []string{tools, py3}})
		fx.addRelease(t, a, "libs", "1.0", map[string]any{"summary": "Web libraries",
			"classifiers": []string{tools + " :: Libraries"}})
		b := fx.browser("b")
		p := b.get("/search/?c=Topic+%3A%3A+Software+Development")
		wantStatus(t, p, 200, "classifier link")
		if diff := cmp.Diff([]string{"both", "tools-only"}, resultNames(p)); diff != "" {
			t.Errorf("projects of the classifier (-want +got):\n%s", diff)
		}
		if got := p.text("#search-filters li"); got != tools+" Remove" {
			t.Errorf("filter shown as %q", got)
		}
		if got := attrOf(p, "#search-filters a.remove", "href"); got != "/search/" {
			t.Errorf("removing the only filter leads to %q", got)
		}
		if got := attrOf(p, `main form.search input[name=c]`, "value"); got != tools {
			t.Errorf("the search form keeps the filter as %q", got)
		}
		var facets []string
		for _, n := range findAll(p.doc, "section.facets li a") {
			facets = append(facets, textOf(n)+" "+attr(n, "href"))
		}
		wantFacets := []string{
			django + " /search/?c=Topic+%3A%3A+Software+Development&c=Framework+%3A%3A+Django",
			py3 + " /search/?c=Topic+%3A%3A+Software+Development&c=Programming+Language+%3A%3A+Python+%3A%3A+3",
		}
		if diff := cmp.Diff(wantFacets, facets); diff != "" {
			t.Errorf("classifiers to narrow by (-want +got):\n%s", diff)
		}
		both := b.get(wantFacets[0][len(django)+1:] + "&q=web")
		if diff := cmp.Diff([]string{"both"}, resultNames(both)); diff != "" {
			t.Errorf("two classifiers and a word (-want +got):\n%s", diff)
		}
		removes := map[string]string{}
		for _, li := range findAll(both.doc, "#search-filters li") {
			removes[textOf(li.FirstChild)] = attr(find(li, "a.remove"), "href")
		}
		wantRemoves := map[string]string{
			tools:  "/search/?c=Framework+%3A%3A+Django&q=web",
			django: "/search/?c=Topic+%3A%3A+Software+Development&q=web",
		}
		if diff := cmp.Diff(wantRemoves, removes); diff != "" {
			t.Errorf("each filter removable (-want +got):\n%s", diff)
		}
		none := b.get("/search/?q=web&c=" + url.QueryEscape(py3) + "&c=" + url.QueryEscape(django))
		if got := none.text("#no-results"); got != "No project matches “web” with all these classifiers. Remove a filter to widen the search." {
			t.Errorf("nothing matched: %q", got)
		}
		many := "/search/?q=web"
		for i := range 11 {
			many += "&c=Topic+" + fmt.Sprint(i)
		}
		wantStatus(t, b.get(many), 400, "eleven classifiers")
	})
}

// TestSearchHostileQueries: no query is syntax to either engine's full-text search, and none fails.
func TestSearchHostileQueries(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		a := fx.user("alice")
		fx.addRelease(t, a, "flask", "1.0", map[string]any{"summary": "The micro framework"})
		b := fx.browser("b")
		for _, q := range []string{`"foo`, `NEAR(`, `a:*`, `-x`, `flask OR`, `*`, `'`, `\`, `(`, `)`, `^`, `{name}:x`,
			`name:flask`, `flask & !micro`, `'flask':*`, `"`, `%`, `_`, `''; DROP TABLE projects; --`, "\x00",
			strings.Repeat("é", 300)} {
			p := b.get("/search/?q=" + url.QueryEscape(q) + "&c=" + url.QueryEscape(q))
			wantStatus(t, p, 200, "search "+q)
		}
		for _, q := range []string{`"flask`, `-flask`, `flask*`, `(flask)`} {
			if diff := cmp.Diff([]string{"flask"}, resultNames(b.get("/search/?q="+url.QueryEscape(q)))); diff != "" {
				t.Errorf("search %s (-want +got):\n%s", q, diff)
			}
		}
		nothing := b.get("/search/?q=" + url.QueryEscape(`"`))
		if got := nothing.text("#no-results"); got != "No project matches “\"”. Check the spelling, or try fewer or other words." {
			t.Errorf("a query of no words: %q", got)
		}
		if v := attrOf(b.get("/search/?q="+url.QueryEscape(strings.Repeat("é", 300))), `main form.search input[name=q]`, "value"); v != strings.Repeat("é", 50) {
			t.Errorf("a long query is kept as %d bytes; want its first 100, whole characters", len(v))
		}
		if empty := b.get("/search/"); empty.find("ul.project-list") != nil || empty.find("#no-results") != nil {
			t.Error("the search page without a query lists or refuses something")
		}
	})
}

// TestSearchForgetsDeletedProjects: a project deleted by its Owner is gone from search at once, by name and by
// the words of its summary; one published through the upload path is found by them.
func TestSearchForgetsDeletedProjects(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		fx.ownedProject(t, alice)
		b := fx.browser("b")
		for _, q := range []string{"demo-pkg", "test distribution"} {
			if diff := cmp.Diff([]string{"demo-pkg"}, resultNames(b.get("/search/?q="+url.QueryEscape(q)))); diff != "" {
				t.Errorf("search %q after the upload (-want +got):\n%s", q, diff)
			}
		}
		a := fx.browser("alice")
		a.login("alice", testPassword)
		wantRedirect(t, a.submit(releases, "/manage/project/demo-pkg/delete/", url.Values{"confirm": {"demo-pkg"}}),
			"/manage/projects/?notice=project-deleted", "delete project")
		for _, q := range []string{"demo-pkg", "test distribution"} {
			if got := resultNames(b.get("/search/?q=" + url.QueryEscape(q))); len(got) != 0 {
				t.Errorf("search %q after the deletion: %v", q, got)
			}
		}
	})
}
