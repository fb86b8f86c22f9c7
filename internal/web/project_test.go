package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/accounts"
	"wharf/internal/store"
)

// TestProjectPageFiles: each file of a release says who uploaded it (linked) and with which API token, by the
// name the history of its upload gives, or that the token is gone; its three hashes open from a disclosure; the
// table stacks on a phone; and the install command has a copy button that shows only with the script.
func TestProjectPageFiles(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice := fx.user("alice")
		fx.ownedProject(t, alice) // uploads demo-pkg 1.0 with a token named "t"
		// A file whose history names a token that no longer exists, and one of whose upload nothing is recorded.
		fx.addRelease(t, alice, "demo-pkg", "1.0rc1", nil)
		pi, err := fx.db.ProjectIndex(ctx, "demo-pkg")
		if err != nil {
			t.Fatal(err)
		}
		var uploaded, gone store.File
		for _, f := range pi.Files {
			if f.Version == "1.0" {
				uploaded = f
			} else {
				gone = f
			}
		}
		if err := fx.db.AddEvent(ctx, store.Event{CreatedAt: fx.clock.Now(), Kind: "file:upload", UserID: alice.ID,
			ProjectID: pi.Project.ID, Detail: gone.Filename + " with token 00000000000000000000000000000000"}); err != nil {
			t.Fatal(err)
		}

		p := fx.browser("reader").get("/project/demo-pkg/")
		wantStatus(t, p, http.StatusOK, "project page")
		row := `table.files tr[data-filename="` + uploaded.Filename + `"]`
		if got := p.text(row + " .uploaded-by"); got != "Uploaded by alice with the API token “t”" {
			t.Errorf("uploaded by %q", got)
		}
		if n := p.find(row + " .uploaded-by a"); n == nil || attr(n, "href") != "/user/alice/" {
			t.Error("the uploader is not linked to the profile")
		}
		var labels []string
		for _, dt := range findAll(p.doc, row+" details.hashes dt") {
			labels = append(labels, textOf(dt))
		}
		hashes := []string{p.text(row + " details.hashes dd code.sha256"), p.text(row + " details.hashes dd code.md5"),
			p.text(row + " details.hashes dd code.blake2b-256")}
		if diff := cmp.Diff([]string{"SHA256", "MD5", "BLAKE2b-256"}, labels); diff != "" {
			t.Errorf("hash labels (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{uploaded.SHA256, uploaded.MD5, uploaded.Blake2b256}, hashes); diff != "" {
			t.Errorf("hashes (-want +got):\n%s", diff)
		}
		if p.text(row+" details.hashes summary") != "View hashes" || p.find(row+" details.hashes[open]") != nil {
			t.Error("the hashes do not open from a closed View hashes disclosure")
		}
		if len(findAll(p.doc, row+" dd code")) != 3 {
			t.Error("each hash is not in a code element")
		}
		if p.find("div.table-wrap table.files") == nil {
			t.Error("the files table is not wrapped")
		}
		for _, td := range findAll(p.doc, "table.files td") {
			if attr(td, "data-label") == "" {
				t.Errorf("a cell without data-label: %q", textOf(td))
			}
		}
		button := p.find(`.install button.copy[data-copy="#install-command"]`)
		if button == nil || !hasAttr(button, "hidden") || attr(button, "type") != "button" || p.find("#install-command") == nil {
			t.Error("the install command has no hidden copy button for #install-command")
		}
		script := p.find("head script")
		if script == nil || !strings.HasPrefix(attr(script, "src"), "/static/copy.js?v=") {
			t.Fatal("the page does not load copy.js")
		}
		js := fx.browser("reader").get(attr(script, "src"))
		if js.status() != http.StatusOK || !strings.Contains(js.body, `"Copied"`) || !strings.Contains(js.body, "hidden = false") {
			t.Errorf("copy.js: %d", js.status())
		}

		rel := fx.browser("reader").get("/project/demo-pkg/1.0rc1/")
		if got := rel.text(`table.files tr[data-filename="` + gone.Filename + `"] .uploaded-by`); got != "Uploaded by alice with an API token since deleted" {
			t.Errorf("a deleted token: %q", got)
		}

		// Revoking the token keeps its name: it still made the upload.
		toks, err := fx.db.TokensForUser(ctx, alice.ID)
		if err != nil || len(toks) != 1 {
			t.Fatalf("tokens %v %v", toks, err)
		}
		if err := fx.db.RevokeToken(ctx, alice.ID, toks[0].ID, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if got := fx.browser("reader").get("/project/demo-pkg/1.0/").text(row + " .uploaded-by"); got != "Uploaded by alice with the API token “t”" {
			t.Errorf("after revoking the token: %q", got)
		}
	})
}

// TestProjectPageMetadata: the core metadata's authors and maintainers show with mailto: links for the addresses
// that parse only, beside the index's maintainers; the links PyPI recognises come first under their usual names;
// classifiers lead to the search for them.
func TestProjectPageMetadata(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		cls := []string{"Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License"}
		fx.addRelease(t, alice, "meta-demo", "1.0", map[string]any{
			"author": "Jane Doe", "author_email": "jane@example.org",
			"maintainer_email": `"Bob B." <bob@example.org>, Carol <carol@example.org>`,
			"classifiers":      cls,
			"home_page":        "https://home.example/",
			"project_urls": map[string]string{"Bug Tracker": "https://bugs.example/", "Repository": "https://src.example/",
				"Zeta": "https://z.example/", "Documentation": "https://docs.example/", "changelog": "https://changes.example/",
				"Funding": "https://fund.example/", "Evil": "javascript:alert(1)", "Mirror": "https://home.example/"},
		})
		fx.addRelease(t, alice, "odd-meta", "1.0", map[string]any{"author_email": "not an address <javascript:alert(1)>",
			"maintainer": "Team"})
		b := fx.browser("reader")
		p := b.get("/project/meta-demo/")
		wantStatus(t, p, http.StatusOK, "project page")
		type person struct{ Text, Href string }
		people := func(p *page, sel string) []person {
			var out []person
			for _, n := range findAll(p.doc, sel+" .contact") {
				out = append(out, person{textOf(n), attr(n, "href")})
			}
			return out
		}
		if diff := cmp.Diff([]person{{"Jane Doe", "mailto:jane@example.org"}}, people(p, "#authors")); diff != "" {
			t.Errorf("authors (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]person{{"Bob B.", "mailto:bob@example.org"}, {"Carol", "mailto:carol@example.org"}},
			people(p, "#meta-maintainers")); diff != "" {
			t.Errorf("metadata maintainers (-want +got):\n%s", diff)
		}
		if p.text("#maintainers") != "alice Owner" {
			t.Errorf("the index's maintainers: %q", p.text("#maintainers"))
		}
		odd := b.get("/project/odd-meta/")
		if diff := cmp.Diff([]person{{"not an address <javascript:alert(1)>", ""}}, people(odd, "#authors")); diff != "" {
			t.Errorf("an address that does not parse (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]person{{"Team", ""}}, people(odd, "#meta-maintainers")); diff != "" {
			t.Errorf("a name without an address (-want +got):\n%s", diff)
		}

		var links []person
		for _, n := range findAll(p.doc, "#project-links a") {
			links = append(links, person{textOf(n), attr(n, "href")})
		}
		if diff := cmp.Diff([]person{{"Homepage", "https://home.example/"}, {"Source", "https://src.example/"},
			{"Documentation", "https://docs.example/"}, {"Issues", "https://bugs.example/"},
			{"Changelog", "https://changes.example/"}, {"Funding", "https://fund.example/"}, {"Zeta", "https://z.example/"}},
			links); diff != "" {
			t.Errorf("links (-want +got):\n%s", diff)
		}

		var got []person
		for _, n := range findAll(p.doc, "#classifiers a") {
			got = append(got, person{textOf(n), attr(n, "href")})
		}
		var want []person
		for _, c := range cls {
			want = append(want, person{c, "/search/?c=" + url.QueryEscape(c)})
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("classifiers (-want +got):\n%s", diff)
		}
	})
}

// TestProjectHistorySaysWho: the project's history names the user behind each upload, yank, un-yank and role
// change, linked to the profile, and for an upload the API token by its name, as recorded when it happened.
func TestProjectHistorySaysWho(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice, bob := fx.user("alice"), fx.user("bob")
		fx.ownedProject(t, alice)
		p, err := fx.db.ProjectByName(ctx, "demo-pkg")
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.db.AddRole(ctx, p.ID, bob.ID, store.RoleMaintainer, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
		releases := "/manage/project/demo-pkg/releases/"
		wantRedirect(t, a.submit(releases, releases+"yank/", url.Values{"version": {"1.0"}, "reason": {"broken"}}), releases, "yank")
		wantRedirect(t, a.submit(releases, releases+"unyank/", url.Values{"version": {"1.0"}}), releases, "unyank")
		b := fx.sessionBrowser("bob", bob.ID, accounts.LevelFull, 0)
		collab := "/manage/project/demo-pkg/collaboration/"
		fx.withTOTP(bob) // an Owner must have a second factor
		wantRedirect(t, a.submit(collab, collab+"role/", url.Values{"username": {"bob"}, "role": {"Owner"}}), collab, "role change")
		// A report of the project is the administrators' and not in its Owners' history.
		wantRedirect(t, b.submit("/project/demo-pkg/report/", "/project/demo-pkg/report/",
			url.Values{"reason": {"other"}, "text": {"reported by a collaborator"}}), "/project/demo-pkg/", "report")

		h := a.get("/manage/project/demo-pkg/history/")
		wantStatus(t, h, http.StatusOK, "history")
		type row struct{ By, Href, Detail string }
		got := map[string]row{}
		for _, tr := range findAll(h.doc, "table.history tbody tr") {
			kind := attr(tr, "data-event-kind")
			by := find(tr, "td.by a")
			got[kind] = row{textOf(find(tr, "td.by")), attr(by, "href"), textOf(find(tr, `td[data-label="Detail"]`))}
		}
		toks, err := fx.db.TokensForUser(ctx, alice.ID)
		if err != nil || len(toks) != 1 {
			t.Fatalf("tokens %v %v", toks, err)
		}
		for kind, want := range map[string]row{
			"file:upload":    {"alice", "/user/alice/", "demo_pkg-1.0-py3-none-any.whl with token " + toks[0].ID + ` named "t"`},
			"release:yank":   {"alice", "/user/alice/", "release 1.0: broken"},
			"release:unyank": {"alice", "/user/alice/", "release 1.0"},
		} {
			if diff := cmp.Diff(want, got[kind]); diff != "" {
				t.Errorf("%s (-want +got):\n%s", kind, diff)
			}
		}
		if r := got["role:change"]; r.By != "alice" || r.Href != "/user/alice/" || !strings.Contains(r.Detail, "changed bob from Maintainer to Owner") {
			t.Errorf("role change: %+v", r)
		}
		if _, ok := got["project:report"]; ok || strings.Contains(h.body, "reported by a collaborator") {
			t.Error("the Owners' history shows a report")
		}
	})
}
