package simple

import (
	"context"
	"net/http"
	"strings"

	"wharf/internal/store"
)

// ServeProject serves GET /simple/{project}/: the PEP 503 HTML or PEP 691 JSON page of one project.
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
	k := kindOf(f, gz)

	p := ix.pages.get(name)
	if p != nil && p.missing {
		if ix.now().UnixNano() < p.expires {
			return notFound(store.ErrNotFound)
		}
		p = nil
	}
	var rp *rep
	if p != nil {
		rp = p.rep(k)
	}
	if rp == nil {
		var err error
		if p, rp, err = ix.fill(r.Context(), name, p, k); err != nil {
			return err
		}
	}
	writeRep(w, r, contentTypes[f], p.serialHdr[:], rp, gz)
	return nil
}

// fill renders the representation k of a page that the cache lacks, and caches it. cached is the page found in
// the cache (without that representation), or nil.
func (ix *Index) fill(ctx context.Context, name string, cached *page, k repKind) (*page, *rep, error) {
	gz := k == repHTMLGzip || k == repJSONGzip
	raw := k
	if gz {
		raw = k - 1
	}
	// The bodies are rendered into reused buffers: the cache keeps a copy of the exact size.
	var zbuf *[]byte
	if gz {
		zbuf = getBuffer()
		defer putBuffer(zbuf)
	}
	if cached != nil && gz {
		// The compressed form of a body already cached needs no database.
		if r := cached.rep(raw); r != nil {
			*zbuf = gzipPage((*zbuf)[:0], r.body)
			return cached, ix.pages.addRep(cached, k, *zbuf, makeETag("p", cached.serial, etagSuffixes[k])), nil
		}
	}
	gen := ix.pages.generation(name)
	pi, err := ix.db.ProjectIndex(ctx, name)
	if isNotFound(err) {
		ix.pages.put(newMissing(strings.Clone(name), ix.now().Add(ix.notFoundTTL).UnixNano()), gen)
		return nil, nil, notFound(err)
	}
	if err != nil {
		return nil, nil, err
	}
	serial := pi.Project.LastSerial
	buf := getBuffer()
	defer putBuffer(buf)
	si := sortIndex(pi)
	if raw == repHTML {
		*buf = renderHTML((*buf)[:0], si)
	} else {
		*buf = renderJSON((*buf)[:0], si)
	}
	rawTag := makeETag("p", serial, etagSuffixes[raw])
	var zTag string
	if gz {
		*zbuf = gzipPage((*zbuf)[:0], *buf)
		zTag = makeETag("p", serial, etagSuffixes[k])
	}
	if cached != nil && cached.serial == serial {
		rp := ix.pages.addRep(cached, raw, *buf, rawTag)
		if gz {
			rp = ix.pages.addRep(cached, k, *zbuf, zTag)
		}
		return cached, rp, nil
	}
	p := newPage(pi.Project.NormalizedName, serial, raw, *buf, rawTag)
	if gz {
		p.setRep(k, *zbuf, zTag)
	}
	if stored := ix.pages.put(p, gen); stored != nil && stored != p {
		// A page of this serial or a newer one got there first; serve what is cached now.
		if srp := stored.rep(k); srp != nil {
			return stored, srp, nil
		}
	}
	return p, p.rep(k), nil
}
