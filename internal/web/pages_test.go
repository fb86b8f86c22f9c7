package web_test

import (
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
)

// TestPageTitles: each page's title names the page (and the site), so that tabs, history and bookmarks tell them
// apart.
func TestPageTitles(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		fx.ownedProject(t, alice)
		anon := fx.browser("reader")
		a := fx.browser("alice")
		a.login("alice", testPassword)
		seen := map[string]string{}
		for _, c := range []struct {
			path  string
			b     *browser
			title string
		}{
			{"/", anon, "Test Index"},
			{"/project/demo-pkg/", anon, "demo-pkg · Test Index"},
			{"/project/demo-pkg/1.0/", anon, "Release 1.0 of demo-pkg · Test Index"},
			{"/user/alice/", anon, "Profile of alice · Test Index"},
			{"/help/", anon, "Help · Test Index"},
			{"/account/login/", anon, "Sign in · Test Index"},
			{"/account/register/", anon, "Create an account · Test Index"},
			{"/account/reset-password/", anon, "Reset your password · Test Index"},
			{"/no/such/page/", anon, "Not Found · Test Index"},
			{"/manage/account/", a, "Your account · Test Index"},
			{"/manage/account/token/", a, "API tokens · Test Index"},
			{"/manage/projects/", a, "Your projects · Test Index"},
			{"/manage/project/demo-pkg/collaboration/", a, "Collaborators of demo-pkg · Test Index"},
			{"/manage/project/demo-pkg/releases/", a, "Releases of demo-pkg · Test Index"},
			{"/manage/project/demo-pkg/history/", a, "Security history of demo-pkg · Test Index"},
		} {
			got := c.b.get(c.path).text("head title")
			if got != c.title {
				t.Errorf("%s: title %q, want %q", c.path, got, c.title)
			}
			if other, ok := seen[got]; ok {
				t.Errorf("%s and %s share the title %q", other, c.path, got)
			}
			seen[got] = c.path
		}
	})
}

// TestFavicon: the icon the pages link is an SVG served as one, and /favicon.ico, which browsers ask for anyway,
// answers with the same bytes.
func TestFavicon(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		b := fx.browser("reader")
		link := b.get("/").find(`head link[rel=icon]`)
		if link == nil || attr(link, "type") != "image/svg+xml" {
			t.Fatal("the layout links no SVG icon")
		}
		linked := b.get(attr(link, "href"))
		ico := b.get("/favicon.ico")
		for what, p := range map[string]*page{"the linked icon": linked, "/favicon.ico": ico} {
			wantStatus(t, p, http.StatusOK, what)
			if ct := p.header("Content-Type"); ct != "image/svg+xml" {
				t.Errorf("%s: Content-Type %q", what, ct)
			}
			var svg struct {
				XMLName xml.Name
			}
			if err := xml.Unmarshal([]byte(p.body), &svg); err != nil || svg.XMLName.Local != "svg" {
				t.Errorf("%s is not an SVG document: %v", what, err)
			}
		}
		if ico.body != linked.body || !strings.HasPrefix(ico.header("Cache-Control"), "public") {
			t.Errorf("/favicon.ico: other bytes than the linked icon, or not cacheable (%q)", ico.header("Cache-Control"))
		}
	})
}
