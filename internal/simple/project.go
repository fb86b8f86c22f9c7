package simple

import (
	"fmt"
	"net/http"

	"wharf/internal/pages"
	"wharf/internal/store"
)

// ServeProject serves GET /simple/{project}/: the PEP 503 HTML or PEP 691 JSON page of one project, as the store
// rendered it when the project last changed, decompressed for a client that does not take gzip.
func (ix *Index) ServeProject(w http.ResponseWriter, r *http.Request) error {
	name, ok := normalizedName(r.PathValue("project"))
	if name == "" {
		return notFound(store.ErrNotFound)
	}
	if !ok {
		redirectNormalized(w, r, name, 0, "/")
		return nil
	}
	f := ix.accept.negotiate(r)
	if f == formatNone {
		return errNotAcceptable
	}
	gz := acceptsGzip(r)
	k := pages.KindOf(f == formatV1JSON, gz)
	c, _, fresh := ix.served.read(name, pageSlots[k], 0)
	defer c.close()
	if !fresh {
		gen := ix.served.generation(name)
		serial, body, err := ix.db.SimplePage(r.Context(), name, f == formatV1JSON)
		if err != nil {
			if isNotFound(err) {
				return notFound(err)
			}
			return err
		}
		if !gz {
			if body, err = pages.Gunzip(body); err != nil {
				return fmt.Errorf("simple page %q: %w", name, err)
			}
		}
		c = newCached(serial, makeETag("p", serial, etagSuffixes[k]), body)
		ix.served.write(name, pageSlots[k], &c, gen)
	}
	h := w.Header()
	h["Content-Type"] = contentTypes[f]
	h["Vary"] = varyHeader
	c.setHeaders(h)
	if noneMatch(r, c.etag()) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	if gz {
		h["Content-Encoding"] = gzipHeader
	}
	c.send(w, r, false)
	return nil
}

// etagSuffixes tell the forms of one serial apart in ETags.
var etagSuffixes = [pages.NumKinds]string{"h", "hz", "j", "jz"}
