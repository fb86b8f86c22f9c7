package simple

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"wharf/internal/store"
)

// metadataSuffix marks the PEP 658 core-metadata file of a distribution: its URL is the file's URL plus this.
const metadataSuffix = ".metadata"

// Header values of file responses.
var (
	immutableHeader = []string{"public, max-age=31536000, immutable"}
	binaryHeader    = []string{"application/octet-stream"}
)

// ServeFile serves GET /packages/{h1}/{h2}/{rest}/{filename} (the route's {path...}): a distribution file, or with
// ".metadata" appended its core metadata, found by filename and checked against the hash in the path, with Range
// support; or, with Options.Links, a redirect to the file in the store. Each full download of a distribution is
// counted for its project.
func (ix *Index) ServeFile(w http.ResponseWriter, r *http.Request) error {
	p := r.PathValue("path")
	if p == "" {
		p = strings.TrimPrefix(r.URL.Path, "/packages/")
	}
	parts := strings.Split(p, "/")
	if len(parts) != 4 || parts[3] == "" {
		return notFound(store.ErrNotFound)
	}
	filename, metadata := strings.CutSuffix(parts[3], metadataSuffix)
	f, err := ix.db.FileByFilename(r.Context(), filename)
	if err != nil {
		if isNotFound(err) {
			return notFound(err)
		}
		return err
	}
	// The path names the content; a path with the right filename and other hash parts is not this file's URL.
	if len(f.SHA256) != 64 || parts[0] != f.SHA256[:2] || parts[1] != f.SHA256[2:4] || parts[2] != f.SHA256[4:] {
		return notFound(store.ErrNotFound)
	}
	key := f.SHA256
	if metadata {
		if key = f.MetadataSHA256; key == "" {
			return notFound(store.ErrNotFound)
		}
	}
	etag := `"` + key + `"`
	download := !metadata && r.Method == http.MethodGet && countsAsDownload(r, etag)
	if ix.links != nil {
		if err := ix.redirectToLink(w, r, key, parts[3]); err != nil {
			return err
		}
		if download {
			ix.downloads.Add(f.ProjectID)
		}
		return nil
	}
	h := w.Header()
	h["Cache-Control"] = immutableHeader
	h.Set("Etag", etag)
	// The key is the content's hash, so a client holding this ETag holds these bytes: the store is not asked (a
	// round trip to the bucket, with S3).
	if noneMatch(r, etag) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	obj, err := ix.blobs.Open(r.Context(), key)
	if err != nil {
		// The database lists the file, so its bytes must exist: a missing blob is the server's fault, not a 404.
		return fmt.Errorf("serve %s: %w", parts[3], err)
	}
	defer obj.Close()
	if download {
		ix.downloads.Add(f.ProjectID)
	}
	h["Content-Type"] = binaryHeader
	http.ServeContent(w, r, parts[3], f.UploadedAt, obj)
	return nil
}

// Links to the store are signed for linkLifetime; a cache may keep the redirect to one for a sixth of it, so that
// the link it hands out still has most of its life.
const (
	linkLifetime = time.Hour
	redirectAge  = "public, max-age=600"
)

// redirectToLink answers with a redirect to a link to the file in the store, which serves it with the headers the
// index would have sent (binaryHeader, immutableHeader) under the filename in the URL.
func (ix *Index) redirectToLink(w http.ResponseWriter, r *http.Request, key, filename string) error {
	link, err := ix.links.Link(r.Context(), key, filename, immutableHeader[0], linkLifetime)
	if err != nil {
		return fmt.Errorf("link to %s: %w", filename, err)
	}
	w.Header().Set("Cache-Control", redirectAge)
	http.Redirect(w, r, link, http.StatusFound)
	return nil
}

// countsAsDownload tells a download from a revalidation (304) and from the later parts of a download resumed
// with Range; each download then counts once, whatever its number of requests.
func countsAsDownload(r *http.Request, etag string) bool {
	if noneMatch(r, etag) {
		return false
	}
	rng := r.Header.Get("Range")
	return rng == "" || strings.HasPrefix(strings.TrimSpace(rng), "bytes=0-")
}
