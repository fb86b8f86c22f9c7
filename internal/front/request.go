package front

import (
	"bytes"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// headEnd returns the length of the request head at the start of buf, through the empty line that ends it, or 0
// when buf holds no whole head yet. ok is false when the head is not one the loop reads (a line ending in a bare
// LF, or an empty first line): net/http takes such a connection at once, rather than after a wait for a CRLF that
// may never come.
func headEnd(buf []byte) (n int, ok bool) {
	start := 0
	for {
		i := bytes.IndexByte(buf[start:], '\n')
		if i < 0 {
			return 0, true
		}
		end := start + i
		if end == 0 || buf[end-1] != '\r' {
			return 0, false
		}
		if end-1 == start {
			if start == 0 {
				return 0, false
			}
			return end + 1, true
		}
		start = end + 1
	}
}

// requestBuffers are what a connection reuses from one request to the next: the request, its URL, its header map
// and the slice its header values lie in. The loop serves the read API, whose handlers answer and return and keep
// nothing of a request, so a request needs none of them anew. Made anew, they were 900 bytes a request: at 130,000
// requests a second on one core the collector ran three times a second, and each cycle added a millisecond or two
// to the requests in flight, which set the p99 of a hot page (bench/README.md). Each is emptied or written whole
// before it is used again: behind a proxy, the next request of a connection may be another user's
// (docs/security.md, F7).
type requestBuffers struct {
	req    http.Request
	url    url.URL
	header http.Header
	values []string
}

// parseHead reads a request head (through the CRLF of its last header line, without the empty line) into b's
// request, which it returns, or returns nil when the loop does not serve it: see the package comment for what it
// takes. The request's strings all share the one allocation of head.
func (b *requestBuffers) parseHead(head string) *http.Request {
	line, rest, _ := strings.Cut(head, "\r\n")
	method, line, _ := strings.Cut(line, " ")
	target, version, _ := strings.Cut(line, " ")
	switch {
	case method != http.MethodGet && method != http.MethodHead,
		version != "HTTP/1.1",
		!validTarget(target),
		!parseTarget(target, &b.url):
		return nil
	}
	if b.header == nil {
		b.header = make(http.Header, 8)
	} else {
		clear(b.header)
	}
	h := b.header
	values := b.values[:0]
	for rest != "" {
		line, rest, _ = strings.Cut(rest, "\r\n")
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			return nil // a folded line (obsolete syntax)
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !httpguts.ValidHeaderFieldName(name) {
			return nil
		}
		value = strings.Trim(value, " \t")
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		switch key {
		case "Content-Length", "Transfer-Encoding", "Expect", "Upgrade":
			return nil // a body, or a protocol change: net/http's to handle
		}
		if vs := h[key]; vs != nil {
			h[key] = append(vs, value) // a second field of the name: a slice of its own, rare
		} else {
			// A value's slice has a capacity of one, so that appending to it never writes over the next value.
			values = append(values, value)
			h[key] = values[len(values)-1 : len(values) : len(values)]
		}
	}
	// The values' slice grows, when a head has more fields than any before it, into a new array, which the earlier
	// values' slices keep pointing at: each still reads its own value.
	b.values = values
	hosts := h["Host"]
	if len(hosts) != 1 || !httpguts.ValidHostHeader(hosts[0]) {
		return nil
	}
	host := hosts[0]
	delete(h, "Host")
	// As net/http does: an HTTP/1.0 cache's "Pragma: no-cache" stands for Cache-Control.
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" && h["Cache-Control"] == nil {
		h["Cache-Control"] = []string{"no-cache"}
	}
	b.req = http.Request{
		Method:     method,
		URL:        &b.url,
		Proto:      version,
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
		Host:       host,
		RequestURI: target,
		Close:      httpguts.HeaderValuesContainsToken(h["Connection"], "close"),
	}
	return &b.req
}

// parseTarget reads an origin-form target into u as url.ParseRequestURI does, and reports whether it could. A
// target whose path has no byte that a URL escapes (installers' requests) is read without allocating; any other is
// read by url.ParseRequestURI itself. FuzzParse holds the two to agree.
func parseTarget(target string, u *url.URL) bool {
	path, query, hasQuery := strings.Cut(target, "?")
	for i := 0; i < len(path); i++ {
		if !pathByte[path[i]] {
			parsed, err := url.ParseRequestURI(target)
			if err != nil {
				return false
			}
			*u = *parsed
			return true
		}
	}
	// ParseRequestURI keeps a lone "?" at the end as ForceQuery, and "??" as a query of "?".
	*u = url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}
	return true
}

// pathByte holds the bytes a URL's path carries as they are (RFC 3986's unreserved characters and the reserved
// ones a path may hold): a path of only these is its own escaped form, so url.URL has no RawPath for it.
var pathByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-_.~$&+,/:;=@", byte(c)) >= 0
	}
	return t
}()

// validTarget accepts an origin-form request target of visible ASCII characters.
func validTarget(t string) bool {
	if t == "" || t[0] != '/' {
		return false
	}
	for i := 0; i < len(t); i++ {
		if t[i] <= ' ' || t[i] >= 0x7f {
			return false
		}
	}
	return true
}

// parse reads the head of length n in the buffer and consumes it, or leaves it there and returns nil when the loop
// does not serve the request.
func (c *conn) parse(n int) *http.Request {
	buf, _ := c.br.Peek(n)
	req := c.request.parseHead(string(buf[:n-2]))
	if req == nil || !c.s.fast(req.URL.Path) {
		return nil
	}
	c.br.Discard(n)
	req.RemoteAddr = c.remote
	return req
}
