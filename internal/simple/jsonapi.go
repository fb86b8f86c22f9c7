package simple

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"wharf/internal/pages"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// ServeProjectJSON serves GET /pypi/{project}/json: PyPI's JSON API for the project's latest release, with every
// release's files.
func (ix *Index) ServeProjectJSON(w http.ResponseWriter, r *http.Request) error {
	return ix.serveAPI(w, r, false)
}

// ServeReleaseJSON serves GET /pypi/{project}/{version}/json: PyPI's JSON API for one release.
func (ix *Index) ServeReleaseJSON(w http.ResponseWriter, r *http.Request) error {
	return ix.serveAPI(w, r, true)
}

func (ix *Index) serveAPI(w http.ResponseWriter, r *http.Request, oneRelease bool) error {
	name, ok := normalizedName(r.PathValue("project"))
	if name == "" {
		return notFound(store.ErrNotFound)
	}
	version := r.PathValue("version")
	if !ok {
		if oneRelease {
			redirectNormalized(w, r, name, 1, "/"+url.PathEscape(version)+"/json")
		} else {
			redirectNormalized(w, r, name, 0, "/json")
		}
		return nil
	}
	if !oneRelease {
		version = ""
	}
	now := ix.now().UnixNano()
	e := ix.pages.getDoc(name, version, now)
	if e == nil {
		gen := ix.pages.generation(name)
		var err error
		if e, err = ix.buildDocument(r.Context(), name, version, oneRelease); err != nil {
			if isNotFound(err) {
				return notFound(err)
			}
			return err
		}
		e.expires = now + ix.documentTTL.Nanoseconds()
		ix.pages.putDoc(name, version, e, gen)
	}
	h := w.Header()
	h["Content-Type"] = jsonTypeHeader
	h["Access-Control-Allow-Origin"] = anyOrigin
	h["Etag"] = e.etag[:]
	h["X-Pypi-Last-Serial"] = e.serialHdr[:]
	if noneMatch(r, e.etag[0]) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h["Content-Length"] = e.length[:]
	if r.Method != http.MethodHead {
		w.Write(e.body)
	}
	return nil
}

// buildDocument reads what a JSON API document shows and encodes it: the project's latest release, or the release
// named by version when oneRelease.
func (ix *Index) buildDocument(ctx context.Context, name, version string, oneRelease bool) (*entry, error) {
	pi, err := ix.db.ProjectIndex(ctx, name)
	if err != nil {
		return nil, err
	}
	si := sortIndex(pi)
	var shown int
	if oneRelease {
		if shown = FindRelease(si.Releases, version); shown < 0 {
			return nil, store.ErrNotFound
		}
	} else if shown = LatestRelease(si.Releases); shown < 0 {
		// A project without releases has nothing to describe; PyPI answers 404 too.
		return nil, store.ErrNotFound
	}
	rel := si.Releases[shown]
	suffix := "a"
	if oneRelease {
		// One ETag per release: the serial alone would give two releases' documents the same tag.
		suffix = "a" + strconv.FormatInt(rel.ID, 10)
	}
	// The protection changes without a new serial (a designation, a maintainer's new factor): the tag carries it.
	prot, err := ix.db.ProjectProtection(ctx, pi.Project.ID)
	if err != nil {
		return nil, err
	}
	cs, err := ix.db.Collaborators(ctx, pi.Project.ID)
	if err != nil {
		return nil, err
	}
	critical, protected := prot.Critical(), policy.FullyProtected(cs)
	if critical {
		suffix += "c"
	}
	if protected {
		suffix += "p"
	}
	meta, err := ix.db.ReleaseMetadata(ctx, rel.ID)
	if err != nil {
		return nil, err
	}
	si.Releases[shown].Metadata = meta
	doc := ix.apiDocument(si, shown, oneRelease)
	// wharf's own fields: whether the project is critical, and whether every maintainer has a second factor.
	doc.Info["critical"], doc.Info["fully_protected"] = critical, protected
	serial := pi.Project.LastSerial
	return newEntry(makeETag("j", serial, suffix), serial, pages.AppendJSON(nil, doc)), nil
}

// FindRelease finds the release a URL names: by its exact text, else by PEP 440 equality ("1.0.0" finds "1.0").
func FindRelease(releases []store.Release, version string) int {
	for i, r := range releases {
		if r.Version == version {
			return i
		}
	}
	want, err := pypkg.ParseVersion(version)
	if err != nil {
		return -1
	}
	for i := len(releases) - 1; i >= 0; i-- {
		if v, err := pypkg.ParseVersion(releases[i].Version); err == nil && v.Compare(want) == 0 {
			return i
		}
	}
	return -1
}

// LatestRelease picks the release a project page or document shows, as PyPI does: the highest final release that is
// not yanked, else the highest release that is not yanked, else the highest. releases are in ascending order.
func LatestRelease(releases []store.Release) int {
	best := [3]int{-1, -1, -1}
	for i, r := range releases {
		v, err := pypkg.ParseVersion(r.Version)
		pre := err != nil || v.IsPrerelease()
		if !r.Yanked && !pre {
			best[0] = i
		}
		if !r.Yanked {
			best[1] = i
		}
		best[2] = i
	}
	for _, i := range best {
		if i >= 0 {
			return i
		}
	}
	return -1
}

// apiDocument is the top level of PyPI's JSON API.
type apiDocument struct {
	Info            map[string]any       `json:"info"`
	LastSerial      int64                `json:"last_serial"`
	Releases        map[string][]apiFile `json:"releases,omitempty"`
	URLs            []apiFile            `json:"urls"`
	Vulnerabilities []any                `json:"vulnerabilities"`
}

type apiDigests struct {
	Blake2b256 string `json:"blake2b_256"`
	MD5        string `json:"md5"`
	SHA256     string `json:"sha256"`
}

// apiFile is a file in PyPI's JSON API, keys in PyPI's order.
type apiFile struct {
	CommentText       string     `json:"comment_text"`
	Digests           apiDigests `json:"digests"`
	Downloads         int        `json:"downloads"`
	Filename          string     `json:"filename"`
	HasSig            bool       `json:"has_sig"`
	MD5Digest         string     `json:"md5_digest"`
	PackageType       string     `json:"packagetype"`
	PythonVersion     string     `json:"python_version"`
	RequiresPython    *string    `json:"requires_python"`
	Size              int64      `json:"size"`
	UploadTime        string     `json:"upload_time"`
	UploadTimeISO8601 string     `json:"upload_time_iso_8601"`
	URL               string     `json:"url"`
	Yanked            bool       `json:"yanked"`
	YankedReason      *string    `json:"yanked_reason"`
}

func (ix *Index) apiFile(f store.File) apiFile {
	af := apiFile{
		Digests:   apiDigests{Blake2b256: f.Blake2b256, MD5: f.MD5, SHA256: f.SHA256},
		Downloads: -1, Filename: f.Filename, MD5Digest: f.MD5, PackageType: f.PackageType,
		PythonVersion: f.PythonVersion, Size: f.Size,
		UploadTime:        f.UploadedAt.UTC().Format("2006-01-02T15:04:05"),
		UploadTimeISO8601: f.UploadedAt.UTC().Format(pages.UploadTimeLayout),
		URL:               ix.baseURL + pages.FileURL(f.SHA256, f.Filename),
		Yanked:            f.Yanked,
	}
	if f.RequiresPython != "" {
		af.RequiresPython = &f.RequiresPython
	}
	if f.Yanked {
		af.YankedReason = &f.YankedReason
	}
	return af
}

// Core-metadata fields of the info object, by the JSON type PyPI gives them when the metadata lacks them.
var (
	infoNullable = []string{
		"author", "author_email", "description", "description_content_type", "download_url", "dynamic",
		"home_page", "keywords", "license", "license_expression", "license_files", "maintainer", "maintainer_email",
		"platform", "project_urls", "provides_extra", "requires_dist", "summary",
	}
	infoLists = []string{"classifiers"}
)

func (ix *Index) apiDocument(si store.ProjectIndex, shown int, oneRelease bool) apiDocument {
	rel := si.Releases[shown]
	doc := apiDocument{
		Info:            ix.apiInfo(si.Project, rel),
		LastSerial:      si.Project.LastSerial,
		URLs:            []apiFile{},
		Vulnerabilities: []any{},
	}
	if !oneRelease {
		doc.Releases = make(map[string][]apiFile, len(si.Releases))
		for _, r := range si.Releases {
			doc.Releases[r.Version] = []apiFile{}
		}
	}
	byRelease := make(map[int64]string, len(si.Releases))
	for _, r := range si.Releases {
		byRelease[r.ID] = r.Version
	}
	for _, f := range si.Files {
		af := ix.apiFile(f)
		if f.ReleaseID == rel.ID {
			doc.URLs = append(doc.URLs, af)
		}
		if doc.Releases != nil {
			v := byRelease[f.ReleaseID]
			doc.Releases[v] = append(doc.Releases[v], af)
		}
	}
	return doc
}

// apiInfo is the info object: the release's core metadata, as the upload path stored it, and wharf's own fields.
// Metadata keys outside PyPI's set are left out (they must not override name or version), a missing key reads as
// PyPI shows it, and metadata that is not a JSON object reads as empty.
func (ix *Index) apiInfo(p store.Project, rel store.Release) map[string]any {
	var meta map[string]json.RawMessage
	if err := json.Unmarshal(rel.Metadata, &meta); err != nil {
		meta = nil
	}
	info := make(map[string]any, 40)
	for _, k := range infoNullable {
		info[k] = nil
	}
	for _, k := range infoLists {
		info[k] = []string{}
	}
	for k, v := range meta {
		if _, known := info[k]; known && string(v) != "null" {
			info[k] = v
		}
	}
	requiresPython := rel.RequiresPython
	if v, ok := meta["requires_python"]; ok {
		var s string
		if json.Unmarshal(v, &s) == nil && s != "" {
			requiresPython = s
		}
	}
	projectURL := ix.baseURL + "/project/" + url.PathEscape(p.Name) + "/"
	info["requires_python"] = requiresPython
	info["name"] = p.Name
	info["version"] = rel.Version
	info["yanked"] = rel.Yanked
	info["yanked_reason"] = nil
	if rel.Yanked {
		info["yanked_reason"] = rel.YankedReason
	}
	info["package_url"] = projectURL
	info["project_url"] = projectURL
	info["release_url"] = projectURL + url.PathEscape(rel.Version) + "/"
	info["bugtrack_url"] = nil
	info["docs_url"] = nil
	info["downloads"] = map[string]int{"last_day": -1, "last_month": -1, "last_week": -1}
	return info
}

// sortIndex puts a project's releases and files in PyPI's order: releases by PEP 440 version, files by release and
// then filename.
func sortIndex(pi store.ProjectIndex) store.ProjectIndex {
	order := pages.Order(len(pi.Releases), func(i int) string { return pi.Releases[i].Version })
	rank := make(map[int64]int, len(order))
	out := pi
	out.Releases = make([]store.Release, len(order))
	for r, i := range order {
		rank[pi.Releases[i].ID] = r
		out.Releases[r] = pi.Releases[i]
	}
	out.Files = slices.Clone(pi.Files)
	slices.SortStableFunc(out.Files, func(a, b store.File) int {
		if c := cmp.Compare(rank[a.ReleaseID], rank[b.ReleaseID]); c != 0 {
			return c
		}
		return cmp.Compare(a.Filename, b.Filename)
	})
	return out
}
