package simple

import (
	"context"
	"net/http"
	"strconv"
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
		rp = p.reps[k].Load()
	}
	if rp == nil {
		var err error
		if p, rp, err = ix.fill(r.Context(), name, p, k); err != nil {
			return err
		}
	}
	writeRep(w, r, contentTypes[f], p.serialHdr, rp, gz)
	return nil
}

// fill renders the representation k of a page that the cache lacks, and caches it. cached is the page found in
// the cache (without that representation), or nil.
func (ix *Index) fill(ctx context.Context, name string, cached *page, k repKind) (*page, *rep, error) {
	gz := k == repHTMLGzip || k == repJSONGzip
	if cached != nil && gz {
		// The compressed form of a body already cached needs no database.
		if raw := cached.reps[k-1].Load(); raw != nil {
			rp := newRep(gzipPage(raw.body), makeETag("p", cached.serial, etagSuffixes[k]))
			ix.pages.addRep(cached, k, rp)
			return cached, rp, nil
		}
	}
	gen := ix.pages.generation(name)
	pi, err := ix.db.ProjectIndex(ctx, name)
	if isNotFound(err) {
		ix.pages.put(&page{
			name: strings.Clone(name), missing: true, expires: ix.now().Add(ix.notFoundTTL).UnixNano(),
		}, gen)
		return nil, nil, notFound(err)
	}
	if err != nil {
		return nil, nil, err
	}
	serial := pi.Project.LastSerial
	p := cached
	if p == nil || p.serial != serial {
		p = &page{
			name:      pi.Project.NormalizedName,
			serial:    serial,
			serialHdr: []string{strconv.FormatInt(serial, 10)},
		}
	}
	raw := k
	if gz {
		raw = k - 1
	}
	si := sortIndex(pi)
	var body []byte
	if raw == repHTML {
		body = renderHTML(si)
	} else {
		body = renderJSON(si)
	}
	rawRep := newRep(body, makeETag("p", serial, etagSuffixes[raw]))
	rp := rawRep
	if gz {
		rp = newRep(gzipPage(body), makeETag("p", serial, etagSuffixes[k]))
	}
	if p == cached {
		ix.pages.addRep(p, raw, rawRep)
		if gz {
			ix.pages.addRep(p, k, rp)
		}
		return p, rp, nil
	}
	p.reps[raw].Store(rawRep)
	if gz {
		p.reps[k].Store(rp)
	}
	if stored := ix.pages.put(p, gen); stored != nil && stored != p {
		// A page of this serial or a newer one got there first; serve what is cached now.
		if srp := stored.reps[k].Load(); srp != nil {
			return stored, srp, nil
		}
	}
	return p, rp, nil
}
