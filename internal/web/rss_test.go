package web_test

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"wharf/internal/store"
)

// feed is what a reader parses of an RSS 2.0 document.
type feed struct {
	XMLName xml.Name `xml:"rss"`
	Version string   `xml:"version,attr"`
	Channel struct {
		Title       string     `xml:"title"`
		Link        string     `xml:"link"`
		Description string     `xml:"description"`
		Items       []feedItem `xml:"item"`
	} `xml:"channel"`
}

type feedItem struct {
	Title       string `xml:"title"`
	Link        string `xml:"link"`
	Description string `xml:"description"`
	PubDate     string `xml:"pubDate"`
	GUID        string `xml:"guid"`
}

// getFeed fetches a feed and parses it, failing the test unless it is a well-formed RSS 2.0 document served as one.
func (b *browser) getFeed(path string) feed {
	b.t.Helper()
	p := b.get(path)
	wantStatus(b.t, p, http.StatusOK, path)
	if ct := p.header("Content-Type"); ct != "application/rss+xml; charset=utf-8" {
		b.t.Errorf("%s: Content-Type %q", path, ct)
	}
	if cc := p.header("Cache-Control"); cc != "public, max-age=60" {
		b.t.Errorf("%s: Cache-Control %q", path, cc)
	}
	var f feed
	if err := xml.Unmarshal([]byte(p.body), &f); err != nil {
		b.t.Fatalf("%s does not parse: %v\n%s", path, err, p.body)
	}
	if f.Version != "2.0" {
		b.t.Errorf("%s: RSS version %q", path, f.Version)
	}
	return f
}

// itemTitles lists a feed's items by title, in order.
func itemTitles(f feed) []string {
	var out []string
	for _, it := range f.Channel.Items {
		out = append(out, it.Title)
	}
	return out
}

// hostile is a summary written to break a feed built by hand: markup, entities, a CDATA end and a control
// character that XML cannot hold.
const hostile = `<script>alert(1)</script> & "quoted" ]]> <![CDATA[x]]> ` + "\x01"

func TestFeeds(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice := fx.user("alice")
		start := fx.clock.Now()
		fx.addRelease(t, alice, "Alpha_Pkg", "1.0", map[string]any{"summary": "first alpha"})
		fx.clock.Advance(time.Minute)
		fx.addRelease(t, alice, "beta", "1.0", map[string]any{"summary": hostile})
		fx.clock.Advance(time.Minute)
		fx.addRelease(t, alice, "Alpha_Pkg", "2.0", map[string]any{"summary": "second alpha"})
		alpha, err := fx.db.ProjectByName(ctx, "alpha-pkg")
		if err != nil {
			t.Fatal(err)
		}
		// A yanked release stays in the feeds, as on PyPI; a staged one is on no page of the index.
		if err := fx.db.YankRelease(ctx, alpha.ID, "2.0", true, "broken", alice.ID, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := fx.db.StageFile(ctx, store.NewFile{ProjectName: "Alpha_Pkg", NormalizedName: "alpha-pkg",
			UltraName: "a1pha-pkg", UploaderID: alice.ID, Version: "3.0", CanonicalVersion: "3.0",
			ReleaseMetadata: []byte(`{"summary":"staged"}`), Filename: "alpha_pkg-3.0-py3-none-any.whl",
			PackageType: "bdist_wheel", PythonVersion: "py3", Size: 10, SHA256: strings.Repeat("3", 64),
			MD5: strings.Repeat("0", 32), Blake2b256: strings.Repeat("4", 64), Now: fx.clock.Now()}); err != nil {
			t.Fatal(err)
		}
		b := fx.browser("reader")

		updates := b.getFeed("/rss/updates.xml")
		if got, want := strings.Join(itemTitles(updates), ", "), "Alpha_Pkg 2.0, beta 1.0, Alpha_Pkg 1.0"; got != want {
			t.Errorf("updates: %s, want %s", got, want)
		}
		if updates.Channel.Link != fx.base+"/" || !strings.Contains(updates.Channel.Title, "Test Index") {
			t.Errorf("updates channel: %+v", updates.Channel)
		}
		first := updates.Channel.Items[0]
		if want := fx.base + "/project/Alpha_Pkg/2.0/"; first.Link != want || first.GUID != want || first.Description != "second alpha" {
			t.Errorf("newest update: %+v, want link and guid %s", first, want)
		}
		for i, it := range updates.Channel.Items {
			at, err := time.Parse(time.RFC1123Z, it.PubDate)
			if want := start.Add(time.Duration(2-i) * time.Minute); err != nil || !at.Equal(want) {
				t.Errorf("%s: pubDate %q (%v), want %s", it.Title, it.PubDate, err, want.Format(time.RFC1123Z))
			}
		}
		// The hostile summary comes back as text: escaped, and the character XML cannot hold replaced.
		if got, want := updates.Channel.Items[1].Description, strings.TrimSuffix(hostile, "\x01")+"\uFFFD"; got != want {
			t.Errorf("hostile summary read back as %q, want %q", got, want)
		}
		if raw := b.get("/rss/updates.xml").body; strings.Contains(raw, "<script>") || strings.Contains(raw, "staged") {
			t.Errorf("the feed holds raw markup or the staged release:\n%s", raw)
		}

		packages := b.getFeed("/rss/packages.xml")
		if got, want := strings.Join(itemTitles(packages), ", "), "beta added to Test Index, Alpha_Pkg added to Test Index"; got != want {
			t.Errorf("packages: %s, want %s", got, want)
		}
		alphaItem := packages.Channel.Items[1]
		if alphaItem.Link != fx.base+"/project/Alpha_Pkg/" || alphaItem.Description != "second alpha" || alphaItem.PubDate != start.Format(time.RFC1123Z) {
			t.Errorf("Alpha_Pkg's item %+v: want its page, its latest summary and its creation", alphaItem)
		}

		project := b.getFeed("/rss/project/alpha-pkg/releases.xml")
		if got, want := strings.Join(itemTitles(project), ", "), "Alpha_Pkg 2.0, Alpha_Pkg 1.0"; got != want {
			t.Errorf("project feed: %s, want %s", got, want)
		}
		if project.Channel.Link != fx.base+"/project/Alpha_Pkg/" {
			t.Errorf("project feed's link %q", project.Channel.Link)
		}
		wantRedirect301(t, b.get("/rss/project/Alpha_Pkg/releases.xml"), "/rss/project/alpha-pkg/releases.xml")
		wantStatus(t, b.get("/rss/project/nothing-here/releases.xml"), http.StatusNotFound, "an unknown project's feed")
		wantStatus(t, b.get("/rss/project/-bad-/releases.xml"), http.StatusNotFound, "a name no project can have")

		// Approved, the staged release is the newest update.
		if _, err := fx.db.ApproveStaged(ctx, alpha.ID, "3.0", alice.ID, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if got := b.getFeed("/rss/updates.xml").Channel.Items[0].Title; got != "Alpha_Pkg 3.0" {
			t.Errorf("after the approval the newest update is %q", got)
		}
	})
}

// TestFeedsHoldForty: each feed holds the 40 newest items, newest first.
func TestFeedsHoldForty(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		for i := 1; i <= 41; i++ {
			fx.addRelease(t, alice, "many", fmt.Sprintf("%d.0", i), nil)
			fx.addRelease(t, alice, fmt.Sprintf("p%d", i), "1.0", nil)
			fx.clock.Advance(time.Second)
		}
		b := fx.browser("reader")
		for path, want := range map[string][2]string{
			"/rss/updates.xml":               {"p41 1.0", "many 22.0"},
			"/rss/packages.xml":              {"p41 added to Test Index", "p2 added to Test Index"},
			"/rss/project/many/releases.xml": {"many 41.0", "many 2.0"},
		} {
			items := b.getFeed(path).Channel.Items
			if len(items) != 40 || items[0].Title != want[0] || items[39].Title != want[1] {
				t.Errorf("%s: %d items, first %q, last %q; want 40 from %q to %q", path, len(items),
					items[0].Title, items[len(items)-1].Title, want[0], want[1])
			}
		}
	})
}

// TestFeedLinks: the front page announces the index's feeds and a project's pages its own, which they also link
// visibly.
func TestFeedLinks(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.addRelease(t, fx.user("alice"), "Alpha_Pkg", "1.0", nil)
		b := fx.browser("reader")
		alternates := func(p *page) []string {
			var out []string
			for _, l := range findAll(p.doc, `head link[rel=alternate][type="application/rss+xml"]`) {
				out = append(out, attr(l, "href"))
			}
			return out
		}
		if got := strings.Join(alternates(b.get("/")), " "); got != "/rss/updates.xml /rss/packages.xml" {
			t.Errorf("the front page announces %q", got)
		}
		for _, path := range []string{"/project/Alpha_Pkg/", "/project/Alpha_Pkg/1.0/"} {
			p := b.get(path)
			if got := strings.Join(alternates(p), " "); got != "/rss/project/alpha-pkg/releases.xml" {
				t.Errorf("%s announces %q", path, got)
			}
			if a := p.find("a#releases-feed"); a == nil || attr(a, "href") != "/rss/project/alpha-pkg/releases.xml" || textOf(a) != "RSS" {
				t.Errorf("%s has no visible RSS link to its feed", path)
			}
			b.getFeed(attr(p.find("a#releases-feed"), "href"))
		}
		if got := alternates(b.get("/search/?q=alpha")); len(got) != 0 {
			t.Errorf("the search page announces feeds: %v", got)
		}
	})
}
