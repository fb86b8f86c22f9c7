package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"wharf/internal/store"
)

// TestCrawlWithoutBrokenLinks follows every link, stylesheet and script of the site from the home page and the
// account's pages, signed out and signed in as an Owner, a Maintainer and an administrator: no page may fail
// (5xx) and no link the site shows may lead nowhere (404, 405). Redirects are followed when they stay on the site.
func TestCrawlWithoutBrokenLinks(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice, bob, carol := fx.user("alice"), fx.user("bob"), fx.user("carol")
		fx.ownedProject(t, alice)
		p, err := fx.db.ProjectByName(ctx, "demo-pkg")
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.db.AddRole(ctx, p.ID, bob.ID, store.RoleMaintainer, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if err := fx.db.SetAdmin(ctx, carol.ID, true); err != nil {
			t.Fatal(err)
		}
		roles := []struct{ name, user string }{{"signed out", ""}, {"owner", "alice"}, {"maintainer", "bob"}, {"administrator", "carol"}}
		for _, role := range roles {
			b := fx.browser("crawler " + role.name)
			start := []string{"/", "/search/?q=demo", "/project/demo-pkg/1.0/"}
			if role.user != "" {
				b.login(role.user, testPassword)
				start = append(start, "/manage/account/", "/manage/projects/", "/manage/project/demo-pkg/releases/",
					"/manage/project/demo-pkg/collaboration/", "/manage/organizations/", "/admin/")
			}
			crawl(t, b, role.name, start, 400)
		}
	})
}

// crawl visits what start links to, breadth first, up to limit addresses.
func crawl(t *testing.T, b *browser, who string, start []string, limit int) {
	t.Helper()
	seen := map[string]string{} // address -> the page that linked it
	queue := []string{}
	add := func(href, from string) {
		u, err := url.Parse(href)
		if err != nil || u.Scheme != "" || u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			return // another site, or mailto:
		}
		u.Fragment = ""
		addr := u.String()
		if _, ok := seen[addr]; ok || len(seen) >= limit {
			return
		}
		seen[addr] = from
		queue = append(queue, addr)
	}
	for _, s := range start {
		add(s, "(start)")
	}
	for len(queue) > 0 {
		addr := queue[0]
		queue = queue[1:]
		p := b.get(addr)
		switch code := p.status(); {
		case code >= 500:
			t.Errorf("%s: GET %s (linked from %s): %d", who, addr, seen[addr], code)
			continue
		case code == http.StatusNotFound || code == http.StatusMethodNotAllowed:
			t.Errorf("%s: broken link %s on %s: %d", who, addr, seen[addr], code)
			continue
		case code >= 300 && code < 400:
			if loc := p.location(); loc != "" {
				add(strings.TrimPrefix(loc, b.fx.base), addr)
			}
			continue
		}
		if p.doc == nil || strings.HasPrefix(addr, "/packages/") || strings.HasPrefix(addr, "/simple/") {
			continue // files and the index for installers are fetched, not crawled
		}
		var walk func(n *html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode {
				switch n.Data {
				case "a", "link":
					if h, ok := attrOK(n, "href"); ok {
						add(h, addr)
					}
				case "script", "img":
					if h, ok := attrOK(n, "src"); ok {
						add(h, addr)
					}
				}
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(p.doc)
	}
	if len(seen) < 10 {
		t.Errorf("%s: the crawl reached only %d addresses: %v", who, len(seen), seen)
	}
}
