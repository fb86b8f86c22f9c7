package front

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/http/httpguts"
)

// FuzzParse holds that the loop reads every head it takes exactly as net/http's server would: the same method,
// target, URL, Host, header fields and connection handling, with no body. A head the loop does not take goes to
// net/http, so whatever the loop refuses is safe; what it takes must not differ.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"GET /simple/pip/ HTTP/1.1\r\nHost: index.example\r\nAccept: application/vnd.pypi.simple.v1+json, text/html;q=0.1\r\nAccept-Encoding: gzip, deflate\r\nUser-Agent: pip/24.0\r\nConnection: keep-alive\r\n\r\n",
		"HEAD /pypi/requests/json HTTP/1.1\r\nHost: [::1]:8080\r\nIf-None-Match: \"p1-5-jz\"\r\n\r\n",
		"GET /simple/?format=text/html HTTP/1.1\r\nhost: a\r\npragma: no-cache\r\nX:\r\n\r\n",
		"GET /a%2Fb/./c HTTP/1.1\r\nHost: a\r\nConnection: close, TE\r\nAccept:\ttext/html \r\n\r\n",
		"GET //x HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a? HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /a??b HTTP/1.1\r\nHost: a\r\nAccept: a\r\nAccept: b\r\n\r\n",
		"GET /simple/a!b(c)/ HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		"GET /x HTTP/1.1\r\nHost: a\r\n b\r\n\r\n",
		"GET /x HTTP/1.1\nHost: a\n\n",
	} {
		f.Add([]byte(seed))
	}
	// One set of buffers for every head, as a connection reuses them: what a head leaves there must not show in the
	// next one's request.
	var buffers requestBuffers
	f.Fuzz(func(t *testing.T, raw []byte) {
		n, ok := headEnd(raw)
		if n == 0 || !ok {
			return
		}
		got := buffers.parseHead(string(raw[:n-2]))
		if got == nil {
			return
		}
		want, err := serverReads(raw[:n])
		if err != nil {
			t.Fatalf("the loop takes a head net/http refuses (%v): %q", err, raw[:n])
		}
		type view struct {
			Method, RequestURI, Host, Proto string
			Path, RawPath, RawQuery, URL    string
			Header                          http.Header
			Close                           bool
			ContentLength                   int64
			NoBody                          bool
		}
		seen := func(r *http.Request) view {
			return view{r.Method, r.RequestURI, r.Host, r.Proto, r.URL.Path, r.URL.RawPath, r.URL.RawQuery,
				r.URL.String(), r.Header, r.Close, r.ContentLength, r.Body == http.NoBody}
		}
		if diff := cmp.Diff(seen(want), seen(got)); diff != "" {
			t.Fatalf("net/http (-) and the loop (+) read %q differently:\n%s", raw[:n], diff)
		}
	})
}

// serverReads reads a head as net/http's server does: http.ReadRequest, then the checks its connection loop adds.
func serverReads(head []byte) (*http.Request, error) {
	br := bufio.NewReader(bytes.NewReader(head))
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, err
	}
	if br.Buffered() != 0 {
		return nil, errLeftOver
	}
	// ReadRequest takes Host out of the header; the server checks the fields as they came.
	_, fields, _ := bytes.Cut(head, []byte("\r\n"))
	mh, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(fields))).ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	hosts := mh["Host"]
	switch {
	case len(hosts) > 1:
		return nil, errCheck("too many Host headers")
	case len(hosts) == 0:
		return nil, errCheck("missing Host")
	case !httpguts.ValidHostHeader(hosts[0]):
		return nil, errCheck("malformed Host")
	}
	for k, vs := range mh {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, errCheck("invalid header name")
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, errCheck("invalid header value")
			}
		}
	}
	return req, nil
}

type errCheck string

func (e errCheck) Error() string { return string(e) }

const errLeftOver = errCheck("bytes left after the head")

// TestParseAllocs holds the reading of an installer's request head to no allocation once a connection's buffers
// have grown: the head's string is then the one allocation of the loop per request.
func TestParseAllocs(t *testing.T) {
	const head = "GET /simple/pip/ HTTP/1.1\r\nHost: index.example\r\nUser-Agent: pip/24.0\r\n" +
		"Accept: application/vnd.pypi.simple.v1+json, text/html;q=0.1\r\nAccept-Encoding: gzip, deflate\r\n" +
		"Connection: keep-alive\r\n"
	var b requestBuffers
	if b.parseHead(head) == nil {
		t.Fatal("the loop does not take pip's request")
	}
	allocs := testing.AllocsPerRun(100, func() {
		if r := b.parseHead(head); r == nil || r.URL.Path != "/simple/pip/" || r.Header.Get("Accept-Encoding") == "" {
			t.Fatal("pip's request read wrong")
		}
	})
	if allocs != 0 {
		t.Errorf("reading a request head allocates %v times; want 0", allocs)
	}
}

func TestHeadEnd(t *testing.T) {
	for raw, want := range map[string]struct {
		n  int
		ok bool
	}{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET":  {27, true},
		"GET / HTTP/1.1\r\nHost: a\r\n":         {0, true},
		"GET / HTTP/1.1\r\nHost: a\r\n\r":       {0, true},
		"GET / HTTP/1.1\r\nHost: a\n\r\n":       {0, false},
		"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n": {0, false},
		"":                                      {0, true},
	} {
		if n, ok := headEnd([]byte(raw)); n != want.n || ok != want.ok {
			t.Errorf("headEnd(%q) = %d, %v; want %d, %v", raw, n, ok, want.n, want.ok)
		}
	}
}
