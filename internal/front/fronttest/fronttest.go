// Package fronttest checks that a handler answers the same bytes through internal/front as through net/http alone:
// raw requests go to both over TCP, and what a client reads back (status, framing, headers less Date, body) must
// not differ. Each response also says which loop served it, so that a case meant for the
// front's loop cannot pass by being handed to net/http.
package fronttest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/front"
)

// Case is raw bytes sent on one connection.
type Case struct {
	Name string
	Raw  string
	// Methods are the requests' methods in order (a HEAD response is read without a body); GET when left out.
	Methods []string
	// Loops are the servers of the front's responses in order, "front" or "net/http". When set, that many responses
	// are read and the connection is left open, as a client leaves it; when nil, the connection is half-closed after
	// Raw and read to its end. (net/http cancels a request's context when its client half-closes, which a
	// handler that reads the database shows as a 500.)
	Loops []string
}

// LoopHeader is the response header that names the loop that served a request.
const LoopHeader = "X-Fronttest-Loop"

// Pair is one handler behind net/http alone and behind a front.
type Pair struct {
	Plain, Front string // addresses
	Server       *front.Server
}

// NewPair serves h both ways until the test ends; configure, if not nil, adjusts both http.Servers.
func NewPair(t testing.TB, h http.Handler, fast func(string) bool, configure func(*http.Server)) *Pair {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	marked := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// net/http's ResponseWriter can be hijacked; the loop's cannot.
		if _, ok := w.(http.Hijacker); ok {
			w.Header().Set(LoopHeader, "net/http")
		} else {
			w.Header().Set(LoopHeader, "front")
		}
		h.ServeHTTP(w, r)
	})
	mk := func() *http.Server {
		s := &http.Server{Handler: marked, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
			ErrorLog: slog.NewLogLogger(quiet.Handler(), slog.LevelError)}
		if configure != nil {
			configure(s)
		}
		return s
	}
	plainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	frontLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	plain := mk()
	f := front.New(mk(), fast, quiet)
	go plain.Serve(plainLn)
	go f.Serve(frontLn)
	t.Cleanup(func() { plain.Close(); f.Close() })
	return &Pair{Plain: plainLn.Addr().String(), Front: frontLn.Addr().String(), Server: f}
}

// Run runs every case against both servers, as parallel subtests.
func (p *Pair) Run(t *testing.T, cases []Case) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			want, _ := Exchange(t, p.Plain, tc)
			got, loops := Exchange(t, p.Front, tc)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("net/http (-) and the front (+) differ:\n%s", diff)
			}
			if tc.Loops != nil && !slices.Equal(loops, tc.Loops) {
				t.Errorf("served by %q, want %q", loops, tc.Loops)
			}
		})
	}
}

// Exchange sends a case's bytes on a new connection and returns the transcript of what a client reads back: each
// response's status, framing, headers (less a generated Date and the loop header, whose values it returns apart)
// and body, and anything left unreadable.
func Exchange(t testing.TB, addr string, tc Case) (string, []string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, tc.Raw); err != nil {
		t.Fatal(err)
	}
	var br *bufio.Reader
	if tc.Loops == nil {
		c.(*net.TCPConn).CloseWrite()
		out, err := io.ReadAll(c)
		if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
			t.Fatalf("reading the answer: %v", err)
		}
		br = bufio.NewReader(bytes.NewReader(out))
	} else {
		br = bufio.NewReader(c)
	}
	var b strings.Builder
	var loops []string
	for i := 0; tc.Loops == nil || i < len(tc.Loops); i++ {
		if _, err := br.Peek(1); err != nil {
			if tc.Loops != nil {
				fmt.Fprintf(&b, "connection ended: %v\n", err)
			}
			break
		}
		method := http.MethodGet
		if i < len(tc.Methods) {
			method = tc.Methods[i]
		}
		res, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			rest, _ := io.ReadAll(br)
			fmt.Fprintf(&b, "unreadable response: %v\n%q\n", err, rest)
			break
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		loops = append(loops, res.Header.Get(LoopHeader))
		res.Header.Del(LoopHeader)
		if d, err := http.ParseTime(res.Header.Get("Date")); err == nil && time.Since(d) < time.Hour {
			res.Header.Del("Date") // the server's clock, not the handler's
		}
		fmt.Fprintf(&b, "%s %s\nContent-Length=%d chunked=%v close=%v\n", res.Proto, res.Status, res.ContentLength,
			slices.Contains(res.TransferEncoding, "chunked"), res.Close)
		keys := make([]string, 0, len(res.Header))
		for k := range res.Header {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "%s: %q\n", k, res.Header[k])
		}
		fmt.Fprintf(&b, "body (%d bytes, err %v): %.300q\n\n", len(body), err, body)
	}
	return b.String(), loops
}
