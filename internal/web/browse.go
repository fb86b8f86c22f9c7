package web

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"wharf/internal/httperror"
	indexpages "wharf/internal/pages"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/simple"
	"wharf/internal/store"
	"wharf/internal/tokens"
)

var errNotFound = httperror.New(http.StatusNotFound, "There is no page at this address.")

// Bounds of the lists: a page of results, not the whole index.
const (
	maxQuery       = 100
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

// metadata is the part of a release's core metadata the pages show.
type metadata struct {
	Summary                string            `json:"summary"`
	Description            string            `json:"description"`
	DescriptionContentType string            `json:"description_content_type"`
	License                string            `json:"license"`
	LicenseExpression      string            `json:"license_expression"`
	RequiresPython         string            `json:"requires_python"`
	Author                 string            `json:"author"`
	AuthorEmail            string            `json:"author_email"`
	Maintainer             string            `json:"maintainer"`
	MaintainerEmail        string            `json:"maintainer_email"`
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
	// Uploader is the account that uploaded the file ("" when unknown or a Trusted Publisher's upload), and Token
	// the name of the API token it used ("" when no record names one); TokenGone says the record names a token
	// that no longer exists.
	Uploader, Token string
	TokenGone       bool
}

// classifier is a Trove classifier with the search for the projects that declare it.
type classifier struct{ Text, URL string }

// contact is a person of the core metadata (Author, Maintainer): a name, an address, or both. Email is set only
// for an address that parses, and only then is it a mailto: link.
type contact struct{ Name, Email string }

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
	Classifiers []classifier
	// Authors and MetaMaintainers are the core metadata's Author and Maintainer with their addresses: who made
	// the release, as opposed to Maintainers, who may change the project on this index.
	Authors, MetaMaintainers []contact
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
	uploaders, withFactor, err := s.db.UploaderCounts(r.Context(), pi.Project.ID)
	if err != nil {
		return err
	}
	p.Critical, p.FullyProtected = prot.Critical(), policy.FullyProtectedCounts(uploaders, withFactor)
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
		p.Classifiers = classifiers(p.Meta.Classifiers)
		p.Authors = contacts(p.Meta.Author, p.Meta.AuthorEmail)
		p.MetaMaintainers = contacts(p.Meta.Maintainer, p.Meta.MaintainerEmail)
		uploads, err := s.db.ReleaseUploads(r.Context(), rel.ID)
		if err != nil {
			return err
		}
		for _, f := range pi.Files {
			if f.ReleaseID == rel.ID {
				p.Files = append(p.Files, uploadedFile(f, uploads[f.Filename]))
			}
		}
		slices.SortFunc(p.Files, func(a, b fileRow) int { return cmp.Compare(a.Filename, b.Filename) })
		p.Install = "pip install --index-url " + s.baseURL + "/simple/ " + pi.Project.Name
		if !p.IsLatest {
			p.Install += "==" + rel.Version
		}
	}
	title := p.Name
	if version != "" {
		title = "Release " + p.Version + " of " + p.Name
	}
	return s.render(w, r, http.StatusOK, "project", title, p, "")
}

// sortReleases orders releases by PEP 440 version, oldest first, as the simple pages do.
func sortReleases(in []store.Release) []store.Release {
	out := make([]store.Release, len(in))
	for r, i := range indexpages.Order(len(in), func(i int) string { return in[i].Version }) {
		out[r] = in[i]
	}
	return out
}

// uploadedFile is a file of the release page with who uploaded it and with what credential.
func uploadedFile(f store.File, u store.Upload) fileRow {
	row := fileRow{File: f, URL: indexpages.FileURL(f.SHA256, f.Filename), Uploader: u.Uploader}
	switch {
	case u.PublisherIdentity != "":
		var id map[string]string
		if json.Unmarshal([]byte(u.PublisherIdentity), &id) != nil {
			id = nil // an unreadable record still says a Trusted Publisher uploaded the file
		}
		row.PublishedBy = tokens.DescribeIdentity(id)
	case u.WithToken:
		row.Token, row.TokenGone = u.TokenName, !u.TokenExists
	}
	return row
}

// wellKnownLinks are the Project-URL labels that PyPI recognises (PEP 753), by their normalised spelling, with
// the text they show; they come first, in the order of linkOrder.
var wellKnownLinks = map[string]string{
	"homepage": "Homepage", "source": "Source", "repository": "Source", "sourcecode": "Source", "github": "Source",
	"documentation": "Documentation", "docs": "Documentation", "issues": "Issues", "issue": "Issues",
	"bugs": "Issues", "tracker": "Issues", "issuetracker": "Issues", "bugtracker": "Issues",
	"changelog": "Changelog", "changes": "Changelog", "whatsnew": "Changelog", "history": "Changelog",
	"releasenotes": "Release notes", "download": "Download", "funding": "Funding", "sponsor": "Funding",
	"donate": "Funding", "donation": "Funding",
}

var linkOrder = []string{"Homepage", "Source", "Documentation", "Issues", "Changelog", "Release notes", "Download", "Funding"}

// normalizeLabel is PEP 753's spelling of a label for comparison: lower case, without punctuation or spaces.
func normalizeLabel(label string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsSpace(r) {
			return -1
		}
		return unicode.ToLower(r)
	}, label)
}

// projectLinks are the metadata's links that are web addresses: the labels PyPI recognises first, in their order
// and under their usual text ("Bug Tracker" shows as "Issues"), then the others by label. Anything else
// (javascript:, data:) is left out rather than escaped: it is never a link a reader wants. An address given twice
// shows once, under its first label.
func projectLinks(m metadata) []link {
	type ranked struct {
		link
		rank int
	}
	var all []ranked
	add := func(label, u string) {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return
		}
		rank := len(linkOrder)
		if known, ok := wellKnownLinks[normalizeLabel(label)]; ok {
			label, rank = known, slices.Index(linkOrder, known)
		}
		all = append(all, ranked{link{Label: label, URL: p.String()}, rank})
	}
	if m.HomePage != "" {
		add("Homepage", m.HomePage)
	}
	for l, u := range m.ProjectURLs {
		add(strings.TrimSpace(l), u)
	}
	slices.SortStableFunc(all, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.Label, b.Label), cmp.Compare(a.URL, b.URL))
	})
	var out []link
	seen := map[string]bool{}
	for _, l := range all {
		if !seen[l.URL] {
			seen[l.URL] = true
			out = append(out, l.link)
		}
	}
	return out
}

// classifiers are the release's Trove classifiers, each with the search for the projects that declare it.
func classifiers(cs []string) []classifier {
	out := make([]classifier, 0, len(cs))
	for _, c := range cs {
		out = append(out, classifier{Text: c, URL: "/search/?c=" + url.QueryEscape(c)})
	}
	return out
}

// contacts reads a person field of the core metadata (Author or Maintainer) with its address field, which holds
// one address or a list of them, each possibly with a name ("Jane Doe <jane@example.org>"). A lone address takes
// the name field's name; text that is not a list of addresses shows as it is, never as a link.
func contacts(name, emails string) []contact {
	name, emails = strings.TrimSpace(name), strings.TrimSpace(emails)
	var out []contact
	if list, err := mail.ParseAddressList(emails); emails != "" && err == nil {
		for _, a := range list {
			out = append(out, contact{Name: a.Name, Email: a.Address})
		}
		if len(out) == 1 && out[0].Name == "" && name != "" {
			out[0].Name, name = name, ""
		}
	} else if emails != "" {
		out = append(out, contact{Name: emails})
	}
	if name != "" && !slices.ContainsFunc(out, func(c contact) bool { return c.Name == name }) {
		out = append([]contact{{Name: name}}, out...)
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
	return s.render(w, r, http.StatusOK, "profile", "Profile of "+acct.Username, struct {
		Username string
		Joined   time.Time
		Projects []listed
	}{acct.Username, acct.CreatedAt, listProjects(projects)}, "")
}
