package simple

import (
	"context"
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
		var err error
		if c, err = ix.readPage(r.Context(), name, k); err != nil {
			if isNotFound(err) {
				return notFound(err)
			}
			return err
		}
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

// readPage reads the form k of a page the log does not hold, and appends it to the log. A plain form is made from the
// gzip form's record when the log holds it (a decompression, not a query); otherwise the store has the gzip form.
func (ix *Index) readPage(ctx context.Context, name string, k pages.Kind) (cached, error) {
	json := k.JSON()
	gen := ix.served.generation(name)
	var (
		serial int64
		body   []byte
		err    error
	)
	if !k.Gzip() {
		serial, body = ix.plainFromLog(name, json)
	}
	if body == nil {
		if serial, body, err = ix.db.SimplePage(ctx, name, json); err != nil {
			return cached{}, err
		}
		if !k.Gzip() {
			body, err = pages.Gunzip(body)
		}
	}
	if err != nil {
		return cached{}, fmt.Errorf("simple page %q: %w", name, err)
	}
	c := newCached(serial, makeETag("p", serial, etagSuffixes[k]), body)
	ix.served.write(name, pageSlots[k], &c, gen)
	return c, nil
}

// plainFromLog decompresses the gzip form's record of a page, if the log holds it; body is nil when it does not, or
// the record cannot be read.
func (ix *Index) plainFromLog(name string, json bool) (serial int64, body []byte) {
	zc, _, fresh := ix.served.find(name, pageSlots[pages.KindOf(json, true)], 0)
	defer zc.close() // after the decompression: a small body lies in a pooled buffer
	if !fresh {
		return 0, nil
	}
	gz, err := zc.bytes()
	if err == nil {
		body, err = pages.Gunzip(gz)
	}
	if err != nil {
		ix.served.failed("read", err)
		return 0, nil
	}
	return zc.serial, body
}

// etagSuffixes tell the forms of one serial apart in ETags.
var etagSuffixes = [pages.NumKinds]string{"h", "hz", "j", "jz"}
