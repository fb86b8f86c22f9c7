package web

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// feedItems is how many items a feed holds, as on PyPI.
const feedItems = 40

// feedLink is a feed a page announces to browsers and feed readers with <link rel="alternate">.
type feedLink struct{ Title, URL string }

// The paths of the feeds, PyPI's.
const (
	updatesFeed  = "/rss/updates.xml"
	packagesFeed = "/rss/packages.xml"
)

func projectFeed(normalized string) string {
	return "/rss/project/" + url.PathEscape(normalized) + "/releases.xml"
}

// FeedURL is the address of the feed of the project's releases, which its pages link.
func (p projectPage) FeedURL() string { return projectFeed(pypkg.NormalizeName(p.Name)) }

// pageFeeds are the feeds a page announces: the index's on the front page, a project's on its pages.
func pageFeeds(page string, data any) []feedLink {
	switch page {
	case "home":
		return []feedLink{{"Recent updates", updatesFeed}, {"Newest projects", packagesFeed}}
	case "project":
		if p, ok := data.(projectPage); ok {
			return []feedLink{{"Releases of " + p.Name, p.FeedURL()}}
		}
	}
	return nil
}

// rssDoc is an RSS 2.0 document.
type rssDoc struct {
	XMLName xml.Name   `xml:"rss"`
	Version string     `xml:"version,attr"`
	Channel rssChannel `xml:"channel"`
}

type rssChannel struct {
	Title       string    `xml:"title"`
	Link        string    `xml:"link"`
	Description string    `xml:"description"`
	Language    string    `xml:"language"`
	Items       []rssItem `xml:"item"`
}

type rssItem struct {
	Title       string `xml:"title"`
	Link        string `xml:"link"`
	Description string `xml:"description"`
	PubDate     string `xml:"pubDate"`
	GUID        string `xml:"guid"` // the link: a permalink, unique to the item
}

// writeFeed writes a feed. encoding/xml escapes every name and summary and replaces characters XML cannot hold,
// so text from uploads cannot break the document. Feeds are public and change at most with an upload: caches may
// keep them a minute.
func writeFeed(w http.ResponseWriter, title, link, description string, items []rssItem) error {
	doc := rssDoc{Version: "2.0", Channel: rssChannel{Title: title, Link: link, Description: description, Language: "en",
		Items: items}}
	b, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	b = append([]byte(xml.Header), b...)
	h := w.Header()
	h.Set("Content-Type", "application/rss+xml; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=60")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, err = w.Write(b)
	return err
}

// summaryOf reads the summary from a release's core metadata JSON; metadata that does not parse has none.
func summaryOf(meta []byte) string {
	var m struct {
		Summary string `json:"summary"`
	}
	if len(meta) > 0 {
		_ = json.Unmarshal(meta, &m)
	}
	return m.Summary
}

func rssDate(t time.Time) string { return t.UTC().Format(time.RFC1123Z) }

func (s *Site) releaseItems(releases []store.FeedRelease) []rssItem {
	items := make([]rssItem, 0, len(releases))
	for _, r := range releases {
		link := s.baseURL + "/project/" + url.PathEscape(r.Project) + "/" + url.PathEscape(r.Version) + "/"
		items = append(items, rssItem{Title: r.Project + " " + r.Version, Link: link, Description: summaryOf(r.Metadata),
			PubDate: rssDate(r.CreatedAt), GUID: link})
	}
	return items
}

// UpdatesFeed is /rss/updates.xml: the latest releases of the whole index.
func (s *Site) UpdatesFeed(w http.ResponseWriter, r *http.Request) error {
	releases, err := s.db.LatestReleases(r.Context(), feedItems)
	if err != nil {
		return err
	}
	return writeFeed(w, s.siteName+" recent updates", s.baseURL+"/",
		"Recent updates to "+s.siteName, s.releaseItems(releases))
}

// PackagesFeed is /rss/packages.xml: the newest projects.
func (s *Site) PackagesFeed(w http.ResponseWriter, r *http.Request) error {
	projects, err := s.db.NewestProjects(r.Context(), feedItems)
	if err != nil {
		return err
	}
	items := make([]rssItem, 0, len(projects))
	for _, p := range projects {
		link := s.baseURL + "/project/" + url.PathEscape(p.Name) + "/"
		items = append(items, rssItem{Title: p.Name + " added to " + s.siteName, Link: link,
			Description: summaryOf(p.Metadata), PubDate: rssDate(p.CreatedAt), GUID: link})
	}
	return writeFeed(w, s.siteName+" newest projects", s.baseURL+"/",
		"Newest projects on "+s.siteName, items)
}

// ProjectReleasesFeed is /rss/project/<name>/releases.xml: one project's latest releases.
func (s *Site) ProjectReleasesFeed(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	if !pypkg.ValidProjectName(name) {
		return errNotFound
	}
	p, releases, err := s.db.LatestReleasesOf(r.Context(), pypkg.NormalizeName(name), feedItems)
	if err != nil {
		return err // store.ErrNotFound becomes a 404
	}
	if name != p.NormalizedName {
		// One address per feed, so that readers subscribed under two spellings do not fetch it twice.
		http.Redirect(w, r, projectFeed(p.NormalizedName), http.StatusMovedPermanently)
		return nil
	}
	return writeFeed(w, s.siteName+" recent updates for "+p.Name,
		s.baseURL+"/project/"+url.PathEscape(p.Name)+"/", "Recent updates to "+s.siteName+" for "+p.Name,
		s.releaseItems(releases))
}
