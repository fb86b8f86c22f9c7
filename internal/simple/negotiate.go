package simple

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// format is a representation of a simple-API page that a client can ask for (PEP 691).
type format uint8

const (
	formatNone   format = iota // nothing acceptable: 406
	formatHTML                 // text/html, what browsers and old installers get
	formatV1HTML               // application/vnd.pypi.simple.v1+html
	formatV1JSON               // application/vnd.pypi.simple.v1+json
)

// The versioned media types of PEP 691.
const (
	mimeV1HTML = "application/vnd.pypi.simple.v1+html"
	mimeV1JSON = "application/vnd.pypi.simple.v1+json"
)

// offers are tried in PyPI's order of preference, which decides between offers of equal quality: a client that
// accepts anything gets HTML, as old installers expect. A "latest" alias is the client's way to ask for the newest
// version the server has; the answer names the concrete version.
var offers = [...]struct {
	f            format
	typ, subtype string
	alias        string // the subtype's "latest" form
}{
	{formatHTML, "text", "html", ""},
	{formatV1HTML, "application", "vnd.pypi.simple.v1+html", "vnd.pypi.simple.latest+html"},
	{formatV1JSON, "application", "vnd.pypi.simple.v1+json", "vnd.pypi.simple.latest+json"},
}

// contentTypes are the Content-Type header values of each format, shared by every response.
var contentTypes = [...][]string{
	formatHTML:   {"text/html; charset=utf-8"},
	formatV1HTML: {mimeV1HTML},
	formatV1JSON: {mimeV1JSON},
}

// negotiate picks the representation for a request: "?format=" overrides the Accept header (as on PyPI, which lets
// a browser look at the JSON); no Accept header at all means HTML.
func (m *acceptMemo) negotiate(r *http.Request) format {
	if r.URL.RawQuery != "" {
		if v := r.URL.Query().Get("format"); v != "" {
			return selectFormat([]string{v})
		}
	}
	accept := r.Header["Accept"]
	switch {
	case len(accept) == 0:
		return formatHTML
	case len(accept) > 1 || len(accept[0]) > maxMemoHeader:
		return selectFormat(accept)
	}
	slot := &m.slots[memoSlot(accept[0])]
	if e := slot.Load(); e != nil && e.header == accept[0] {
		return e.f
	}
	f := selectFormat(accept)
	slot.Store(&memoEntry{header: accept[0], f: f})
	return f
}

// acceptMemo remembers the formats chosen for the last few Accept headers: an installer sends the same long header
// with every request, and parsing it costs more than the rest of serving a cached page.
type acceptMemo struct {
	slots [8]atomic.Pointer[memoEntry]
}

type memoEntry struct {
	header string
	f      format
}

// maxMemoHeader keeps odd, long headers from being remembered.
const maxMemoHeader = 256

func memoSlot(h string) int {
	if h == "" {
		return 0
	}
	return (len(h) + int(h[len(h)-1]) + int(h[len(h)/2])) & 7
}

// selectFormat applies RFC 9110 content negotiation to the Accept header values: each offer takes the quality of
// the most specific media range that matches it; the best quality above zero wins, ties go to the earlier offer.
// It allocates nothing: pip sends this header with every request.
func selectFormat(accept []string) format {
	empty := true
	best, bestQ := formatNone, 0.0
	for _, o := range offers {
		q, spec := 0.0, 0
		eachElement(accept, func(elem string) {
			empty = false
			mr, params, _ := strings.Cut(elem, ";")
			typ, sub, ok := strings.Cut(strings.TrimSpace(mr), "/")
			if !ok {
				return
			}
			typ, sub = strings.TrimSpace(typ), strings.TrimSpace(sub)
			s := 0
			switch {
			case typ == "*" && sub == "*":
				s = 1
			case !strings.EqualFold(typ, o.typ):
				return
			case sub == "*":
				s = 2
			case strings.EqualFold(sub, o.subtype) || o.alias != "" && strings.EqualFold(sub, o.alias):
				s = 3
			default:
				return
			}
			if s > spec {
				spec, q = s, qValue(params)
			}
		})
		if q > bestQ {
			best, bestQ = o.f, q
		}
	}
	if empty {
		// An empty Accept header says nothing, like a missing one.
		return formatHTML
	}
	return best
}

// eachElement calls fn with every non-empty element of comma-separated header values.
func eachElement(values []string, fn func(string)) {
	for _, v := range values {
		for v != "" {
			var elem string
			elem, v, _ = strings.Cut(v, ",")
			if elem = strings.TrimSpace(elem); elem != "" {
				fn(elem)
			}
		}
	}
}

// qValue reads the "q" parameter of a list element; a missing or malformed one counts as 1, like most servers do.
func qValue(params string) float64 {
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		name, val, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil || q > 1 {
			return 1
		}
		if q < 0 {
			return 0
		}
		return q
	}
	return 1
}

// acceptsGzip reports whether the client takes a gzip-encoded answer (RFC 9110 section 12.5.3): "gzip" or
// "x-gzip" with a quality above zero, or "*" unless gzip is refused by name.
func acceptsGzip(r *http.Request) bool {
	ae := r.Header["Accept-Encoding"]
	if len(ae) == 0 {
		return false
	}
	named, star := -1.0, -1.0
	eachElement(ae, func(elem string) {
		coding, params, _ := strings.Cut(elem, ";")
		coding = strings.TrimSpace(coding)
		switch {
		case strings.EqualFold(coding, "gzip") || strings.EqualFold(coding, "x-gzip"):
			named = max(named, qValue(params))
		case coding == "*":
			star = qValue(params)
		}
	})
	if named >= 0 {
		return named > 0
	}
	return star > 0
}
