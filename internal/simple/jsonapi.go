package simple

import (
	"context"
	"net/http"
	"net/url"
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
	slot := projectDocSlot
	if oneRelease {
		slot = releaseDocSlot(version)
	}
	// The epoch is read before the store is: a document read before a change the poll hears of later is checked
	// again then.
	epoch := ix.protection.Load()
	c, found, fresh := ix.served.read(name, slot, epoch)
	defer c.close()
	if !fresh {
		gen := ix.served.generation(name)
		if found && ix.documentCurrent(r.Context(), name, version, oneRelease, c.etag()) {
			// The record holds what the store does: it serves until the epoch moves again.
			ix.served.touch(name, slot, gen, epoch)
		} else {
			d, err := ix.loadDocument(r.Context(), name, version, oneRelease)
			if err != nil {
				if isNotFound(err) {
					return notFound(err)
				}
				return err
			}
			d.epoch = epoch
			ix.served.write(name, slot, &d, gen)
			c.close()
			c = d
		}
	}
	h := w.Header()
	h["Content-Type"] = jsonTypeHeader
	h["Access-Control-Allow-Origin"] = anyOrigin
	c.setHeaders(h)
	if noneMatch(r, c.etag()) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	c.send(w, r, true)
	return nil
}

// loadDocument reads a JSON API document stored with its project and fills it: the project's document, or with
// oneRelease the document of the release version names.
func (ix *Index) loadDocument(ctx context.Context, name, version string, oneRelease bool) (cached, error) {
	d, err := ix.readDocument(ctx, name, version, oneRelease, true)
	if err != nil {
		return cached{}, err
	}
	critical, protected := protection(d)
	body := d.Fill(pages.Values{BaseURL: ix.baseURL, Serial: d.Serial, Critical: critical, FullyProtected: protected})
	return newCached(d.Serial, documentETag(d, oneRelease), body), nil
}

// documentCurrent reports whether the document whose ETag is etag is still what the store would give, from the
// document's stamp: the store reads its serial and protection, not the document. An error says no: loadDocument
// then reads the document, and reports it.
func (ix *Index) documentCurrent(ctx context.Context, name, version string, oneRelease bool, etag string) bool {
	d, err := ix.readDocument(ctx, name, version, oneRelease, false)
	return err == nil && documentETag(d, oneRelease) == etag
}

// readDocument reads the project's document, or with oneRelease the release's: with its body, or only its stamp.
func (ix *Index) readDocument(ctx context.Context, name, version string, oneRelease, body bool) (store.Document, error) {
	switch {
	case oneRelease && body:
		return ix.db.ReleaseDocument(ctx, name, version, releaseKey(version))
	case oneRelease:
		return ix.db.ReleaseDocumentStamp(ctx, name, version, releaseKey(version))
	case body:
		return ix.db.ProjectDocument(ctx, name)
	default:
		return ix.db.ProjectDocumentStamp(ctx, name)
	}
}

// releaseKey is what the store finds a release by: PyPI finds "1.0.0" when the release is "1.0", and versions equal
// under PEP 440 share a release key.
func releaseKey(version string) string {
	if v, err := pypkg.ParseVersion(version); err == nil {
		return v.ReleaseKey()
	}
	return version
}

// protection is what a document says of its project's protection.
func protection(d store.Document) (critical, fullyProtected bool) {
	return d.Critical, policy.FullyProtectedCounts(d.Collaborators, d.TwoFactorCollaborators)
}

// documentETag is the ETag of a document: its serial, its release (the serial alone would give two releases'
// documents the same tag), and its protection, which changes without a new serial (a designation, a maintainer's
// new factor).
func documentETag(d store.Document, oneRelease bool) string {
	suffix := "a"
	if oneRelease {
		suffix = "a" + strconv.FormatInt(d.ReleaseID, 10)
	}
	critical, protected := protection(d)
	if critical {
		suffix += "c"
	}
	if protected {
		suffix += "p"
	}
	return makeETag("j", d.Serial, suffix)
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

// LatestRelease picks the release a project page shows, as the JSON API does (pages.Latest). releases are in
// ascending order.
func LatestRelease(releases []store.Release) int {
	return pages.Latest(len(releases), func(i int) string { return releases[i].Version },
		func(i int) bool { return releases[i].Yanked })
}
