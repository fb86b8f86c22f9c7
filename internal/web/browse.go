package web

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"wharf/internal/httperror"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/simple"
	"wharf/internal/store"
)

var errNotFound = httperror.New(http.StatusNotFound, "There is no page at this address.")

// Bounds of the lists: a page of results, not the whole index.
const (
	maxQuery       = 100
	searchResults  = 50
	recentProjects = 12
)

// listed is a project in a list.
type listed struct {
	Name, Version, Summary string
	Updated                time.Time
	Role                   string
}

func listProjects(ps []store.ProjectSummary) []listed {
	out := make([]listed, 0, len(ps))
	for _, p := range ps {
		var m struct {
			Summary string `json:"summary"`
		}
		if len(p.Metadata) > 0 {
			_ = json.Unmarshal(p.Metadata, &m) // unreadable metadata lists without a summary
		}
		out = append(out, listed{Name: p.Name, Version: p.LatestVersion, Summary: m.Summary, Updated: p.UpdatedAt, Role: p.Role})
	}
	return out
}

// statsFor is how long the front page's counts are reused: four count(*) over tables of a million rows each would
// otherwise run for every visit of the most visited page.
const statsFor = time.Minute

// statsCache holds the front page's counts.
type statsCache struct {
	mu    sync.Mutex
	stats store.IndexStats
	at    time.Time
}

// indexStats returns the counts, at most statsFor old. Visitors who come while they are being counted wait for
// that count rather than start their own.
func (s *Site) indexStats(ctx context.Context) (store.IndexStats, error) {
	c := &s.statsCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := s.now(); c.at.IsZero() || now.Sub(c.at) >= statsFor || now.Before(c.at) {
		stats, err := s.db.Stats(ctx)
		if err != nil {
			return store.IndexStats{}, err
		}
		c.stats, c.at = stats, now
	}
	return c.stats, nil
}

// Home is the front page: search, what the index holds, what changed lately.
func (s *Site) Home(w http.ResponseWriter, r *http.Request) error {
	stats, err := s.indexStats(r.Context())
	if err != nil {
		return err
	}
	recent, err := s.db.RecentProjects(r.Context(), recentProjects)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "home", s.siteName, struct {
		Stats  store.IndexStats
		Recent []listed
	}{stats, listProjects(recent)}, "")
}

// searchTerm reduces a query to what a normalised project name can contain, so that "Flask_Login", "flask login"
// and "flask.login" all find flask-login, and nothing in it can act as a LIKE wildcard.
func searchTerm(q string) string {
	var b strings.Builder
	dash := false
	for _, c := range strings.ToLower(q) {
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(c)
		case c == '-' || c == '_' || c == '.' || c == ' ':
			dash = true
		}
		if b.Len() >= maxQuery {
			break
		}
	}
	return b.String()
}

// Search finds projects by name.
func (s *Site) Search(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query().Get("q")
	term := searchTerm(q)
	var results []listed
	if term != "" {
		found, err := s.db.SearchProjects(r.Context(), term, searchResults)
		if err != nil {
			return err
		}
		results = listProjects(found)
	}
	return s.render(w, r, http.StatusOK, "search", "Search", struct {
		Term    string
		Results []listed
		Limit   int
	}{term, results, searchResults}, "")
}

// metadata is the part of a release's core metadata the pages show.
type metadata struct {
	Summary                string            `json:"summary"`
	Description            string            `json:"description"`
	DescriptionContentType string            `json:"description_content_type"`
	License                string            `json:"license"`
	LicenseExpression      string            `json:"license_expression"`
	RequiresPython         string            `json:"requires_python"`
	Author                 string            `json:"author"`
	Maintainer             string            `json:"maintainer"`
	Keywords               string            `json:"keywords"`
	HomePage               string            `json:"home_page"`
	Classifiers            []string          `json:"classifiers"`
	ProjectURLs            map[string]string `json:"project_urls"`
	RequiresDist           []string          `json:"requires_dist"`
}

type link struct{ Label, URL string }

type releaseRow struct {
	Version string
	Date    time.Time
	Yanked  bool
	Pre     bool
	Current bool
}

type fileRow struct {
	store.File
	URL string
	// PublishedBy describes the CI job that uploaded the file with Trusted Publishing; "" for an upload with a
	// user's token.
	PublishedBy string
}

type projectPage struct {
	Name        string
	Version     string // of the release shown
	Latest      string
	IsLatest    bool
	Yanked      bool
	YankReason  string
	Released    time.Time
	Meta        metadata
	Description description
	Install     string
	Releases    []releaseRow // newest first
	Files       []fileRow
	Maintainers []store.Collaborator
	Links       []link
	// Critical and FullyProtected are the project's protection: designated critical, and every maintainer with a
	// second factor.
	Critical, FullyProtected bool
}

// Project is a project's page, showing its latest release.
func (s *Site) Project(w http.ResponseWriter, r *http.Request) error {
	return s.projectPage(w, r, "")
}

// Release is the page of one release.
func (s *Site) Release(w http.ResponseWriter, r *http.Request) error {
	v := r.PathValue("version")
	if v == "" {
		return errNotFound
	}
	return s.projectPage(w, r, v)
}

func (s *Site) projectPage(w http.ResponseWriter, r *http.Request, version string) error {
	name := r.PathValue("name")
	if !pypkg.ValidProjectName(name) {
		return errNotFound
	}
	pi, err := s.db.ProjectIndex(r.Context(), pypkg.NormalizeName(name))
	if err != nil {
		return err // store.ErrNotFound becomes a 404
	}
	if name != pi.Project.Name {
		// One address per page: other spellings of the name lead to the project's own.
		to := "/project/" + url.PathEscape(pi.Project.Name) + "/"
		if version != "" {
			to += url.PathEscape(version) + "/"
		}
		http.Redirect(w, r, to, http.StatusMovedPermanently)
		return nil
	}
	releases := sortReleases(pi.Releases)
	latest := simple.LatestRelease(releases)
	shown := latest
	if version != "" {
		if shown = simple.FindRelease(releases, version); shown < 0 {
			return errNotFound
		}
	}
	p := projectPage{Name: pi.Project.Name}
	if p.Maintainers, err = s.db.Collaborators(r.Context(), pi.Project.ID); err != nil {
		return err
	}
	prot, err := s.db.ProjectProtection(r.Context(), pi.Project.ID)
	if err != nil {
		return err
	}
	p.Critical, p.FullyProtected = prot.Critical(), policy.FullyProtected(p.Maintainers)
	for i := len(releases) - 1; i >= 0; i-- {
		rel := releases[i]
		v, verr := pypkg.ParseVersion(rel.Version)
		p.Releases = append(p.Releases, releaseRow{Version: rel.Version, Date: rel.CreatedAt, Yanked: rel.Yanked,
			Pre: verr == nil && v.IsPrerelease(), Current: i == shown})
	}
	if shown >= 0 {
		rel := releases[shown]
		p.Version, p.Yanked, p.YankReason, p.Released = rel.Version, rel.Yanked, rel.YankedReason, rel.CreatedAt
		p.Latest, p.IsLatest = releases[latest].Version, shown == latest
		meta, err := s.db.ReleaseMetadata(r.Context(), rel.ID)
		if err != nil {
			return err
		}
		_ = json.Unmarshal(meta, &p.Meta) // metadata that does not parse shows as empty
		if p.Meta.RequiresPython == "" {
			p.Meta.RequiresPython = rel.RequiresPython
		}
		p.Description = s.description.render(rel.ID, p.Meta.Description, p.Meta.DescriptionContentType)
		p.Links = projectLinks(p.Meta)
		for _, f := range pi.Files {
			if f.ReleaseID == rel.ID {
				p.Files = append(p.Files, fileRow{File: f, URL: fileURL(f)})
			}
		}
		slices.SortFunc(p.Files, func(a, b fileRow) int { return cmp.Compare(a.Filename, b.Filename) })
		by, err := s.publishedBy(r.Context(), rel.ID)
		if err != nil {
			return err
		}
		for i := range p.Files {
			p.Files[i].PublishedBy = by[p.Files[i].Filename]
		}
		p.Install = "pip install --index-url " + s.baseURL + "/simple/ " + pi.Project.Name
		if !p.IsLatest {
			p.Install += "==" + rel.Version
		}
	}
	title := p.Name
	if version != "" {
		title += " " + p.Version
	}
	return s.render(w, r, http.StatusOK, "project", title, p, "")
}

// sortReleases orders releases by PEP 440 version, oldest first; versions that do not parse sort first, by text.
func sortReleases(in []store.Release) []store.Release {
	type ranked struct {
		r  store.Release
		v  pypkg.Version
		ok bool
	}
	rs := make([]ranked, len(in))
	for i, r := range in {
		v, err := pypkg.ParseVersion(r.Version)
		rs[i] = ranked{r, v, err == nil}
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		switch {
		case a.ok && b.ok:
			if c := a.v.Compare(b.v); c != 0 {
				return c
			}
		case a.ok != b.ok:
			if a.ok {
				return 1
			}
			return -1
		}
		return cmp.Compare(a.r.Version, b.r.Version)
	})
	out := make([]store.Release, len(rs))
	for i, r := range rs {
		out[i] = r.r
	}
	return out
}

// fileURL is where the index serves a file: by content hash, as the simple pages link it.
func fileURL(f store.File) string {
	if len(f.SHA256) < 5 {
		return "/packages/" + url.PathEscape(f.Filename)
	}
	return "/packages/" + f.SHA256[:2] + "/" + f.SHA256[2:4] + "/" + f.SHA256[4:] + "/" + url.PathEscape(f.Filename)
}

// projectLinks are the metadata's links that are web addresses, by label. Anything else (javascript:, data:) is
// left out rather than escaped: it is never a link a reader wants.
func projectLinks(m metadata) []link {
	var out []link
	seen := map[string]bool{}
	add := func(label, u string) {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || seen[p.String()] {
			return
		}
		seen[p.String()] = true
		out = append(out, link{Label: label, URL: p.String()})
	}
	if m.HomePage != "" {
		add("Homepage", m.HomePage)
	}
	labels := make([]string, 0, len(m.ProjectURLs))
	for l := range m.ProjectURLs {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	for _, l := range labels {
		add(l, m.ProjectURLs[l])
	}
	return out
}

// Profile is a user's public page: who they are and what they maintain.
func (s *Site) Profile(w http.ResponseWriter, r *http.Request) error {
	acct, err := s.db.AccountByName(r.Context(), r.PathValue("username"))
	if err != nil {
		return err
	}
	projects, err := s.db.ProjectsOfUser(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "profile", acct.Username, struct {
		Username string
		Joined   time.Time
		Projects []listed
	}{acct.Username, acct.CreatedAt, listProjects(projects)}, "")
}
