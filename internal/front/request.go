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

// parseHead reads a request head (through the CRLF of its last header line, without the empty line) into a
// request, or returns nil when the loop does not serve it: see the package comment for what it takes. The
// request's strings all share the one allocation of head.
func parseHead(head string) *http.Request {
	line, rest, _ := strings.Cut(head, "\r\n")
	method, line, _ := strings.Cut(line, " ")
	target, version, _ := strings.Cut(line, " ")
	switch {
	case method != http.MethodGet && method != http.MethodHead,
		version != "HTTP/1.1",
		!validTarget(target):
		return nil
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil
	}
	n := strings.Count(rest, "\r\n")
	h := make(http.Header, n)
	values := make([]string, n)
	for i := 0; rest != ""; i++ {
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
		values[i] = value
		if vs := h[key]; vs != nil {
			h[key] = append(vs, value)
		} else {
			h[key] = values[i : i+1 : i+1]
		}
	}
	hosts := h["Host"]
	if len(hosts) != 1 || !httpguts.ValidHostHeader(hosts[0]) {
		return nil
	}
	delete(h, "Host")
	// As net/http does: an HTTP/1.0 cache's "Pragma: no-cache" stands for Cache-Control.
	if p := h["Pragma"]; len(p) > 0 && p[0] == "no-cache" && h["Cache-Control"] == nil {
		h["Cache-Control"] = []string{"no-cache"}
	}
	return &http.Request{
		Method:     method,
		URL:        u,
		Proto:      version,
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
		Host:       hosts[0],
		RequestURI: target,
		Close:      httpguts.HeaderValuesContainsToken(h["Connection"], "close"),
	}
}

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
	req := parseHead(string(buf[:n-2]))
	if req == nil || !c.s.fast(req.URL.Path) {
		return nil
	}
	c.br.Discard(n)
	req.RemoteAddr = c.remote
	return req
}
