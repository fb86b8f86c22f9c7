package front_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"wharf/internal/front"
	"wharf/internal/front/fronttest"
)

// testHandler answers in every way the read API's handlers do.
func testHandler(t *testing.T) http.Handler {
	file := filepath.Join(t.TempDir(), "file.bin")
	if err := os.WriteFile(file, bytes.Repeat([]byte("0123456789abcdef"), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	modified := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := http.NewServeMux()
	m.HandleFunc("GET /fast/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "method=%s host=%s uri=%s path=%q raw=%q query=%q proto=%s close=%v remote=%v len=%d\n",
			r.Method, r.Host, r.RequestURI, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Proto, r.Close,
			r.RemoteAddr != "", r.ContentLength)
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range r.Header {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(w, "%s=%q\n", k, r.Header[k])
		}
		body, err := io.ReadAll(r.Body)
		fmt.Fprintf(w, "body=%q err=%v\n", body, err)
	})
	m.HandleFunc("GET /fast/sniff", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<!DOCTYPE html><p>no type set</p>")
	})
	m.HandleFunc("GET /fast/empty", func(w http.ResponseWriter, r *http.Request) {})
	m.HandleFunc("GET /fast/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		for i := range 300 {
			fmt.Fprintf(w, "line %d of a body longer than what is held back\n", i)
		}
	})
	m.HandleFunc("GET /fast/length", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Length", "5000")
		w.Write(bytes.Repeat([]byte("x"), 5000))
	})
	m.HandleFunc("GET /fast/short", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "ten bytes!")
	})
	m.HandleFunc("GET /fast/too-long", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "4")
		_, err := io.WriteString(w, "more than four")
		w.Header().Set("X-Err", fmt.Sprint(err)) // too late to be sent: shows the snapshot too
	})
	m.HandleFunc("GET /fast/not-modified", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html")
		h.Set("Etag", `"p1-1-h"`)
		h.Set("Vary", "Accept, Accept-Encoding")
		w.WriteHeader(http.StatusNotModified)
		_, err := io.WriteString(w, "not sent")
		if !errors.Is(err, http.ErrBodyNotAllowed) {
			panic(err)
		}
	})
	m.HandleFunc("GET /fast/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/fast/echo?x=1", http.StatusMovedPermanently)
	})
	m.HandleFunc("GET /fast/error", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "404 Not Found", http.StatusNotFound)
	})
	m.HandleFunc("GET /fast/odd-headers", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Split"] = []string{"a\r\nInjected: yes"}
		h["Bad Name"] = []string{"dropped"}
		h["X-Many"] = []string{"one", "two"}
		h["Date"] = []string{"Thu, 01 Jan 2026 00:00:00 GMT"}
		io.WriteString(w, "odd")
	})
	m.HandleFunc("GET /fast/file", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(file)
		if err != nil {
			panic(err)
		}
		defer f.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "file.bin", modified, f)
	})
	m.HandleFunc("GET /fast/file-sniffed", func(w http.ResponseWriter, r *http.Request) {
		f, err := os.Open(file)
		if err != nil {
			panic(err)
		}
		defer f.Close()
		w.Header().Set("Content-Length", "65536")
		io.Copy(w, f)
	})
	m.HandleFunc("GET /fast/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	m.HandleFunc("GET /fast/panic", func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	})
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %q\n", r.Method, r.URL.Path, body)
	})
	return m
}

func fastPath(p string) bool { return strings.HasPrefix(p, "/fast/") }

const host = "Host: index.example\r\n"

// TestSameAsNetHTTP sends the same bytes to net/http alone and to the front, and requires the same responses; the
// cases name which of them the loop answers itself.
func TestSameAsNetHTTP(t *testing.T) {
	t.Parallel()
	p := fronttest.NewPair(t, testHandler(t), fastPath, nil)
	get := func(path string, headers ...string) string {
		return "GET " + path + " HTTP/1.1\r\n" + host + strings.Join(headers, "") + "\r\n"
	}
	c := func(name, raw string, methods, loops []string) fronttest.Case {
		return fronttest.Case{Name: name, Raw: raw, Methods: methods, Loops: loops}
	}
	p.Run(t, []fronttest.Case{
		c("plain GET", get("/fast/echo", "Accept: text/html\r\n", "Accept-Encoding: gzip, deflate\r\n", "User-Agent: pip/24.0\r\n"), nil, []string{"front"}),
		c("HEAD", "HEAD /fast/echo HTTP/1.1\r\n"+host+"\r\n", []string{"HEAD"}, []string{"front"}),
		c("query and escapes", get("/fast/echo?format=application%2Fvnd.pypi.simple.v1%2Bjson&a=b"), nil, []string{"front"}),
		c("escaped path", get("/fast/%65cho"), nil, []string{"front"}),
		c("repeated headers", get("/fast/echo", "Accept: text/html\r\n", "Accept: application/json;q=0.5\r\n", "X-Empty:\r\n", "x-lower-case: v\r\n"), nil, []string{"front"}),
		c("tabs and spaces around values", get("/fast/echo", "Accept:\t text/html \t\r\n"), nil, []string{"front"}),
		c("pragma no-cache", get("/fast/echo", "Pragma: no-cache\r\n"), nil, []string{"front"}),
		c("connection close", get("/fast/echo", "Connection: close\r\n")+get("/fast/echo"), nil, []string{"front"}),
		c("connection keep-alive, close token in a list", get("/fast/echo", "Connection: keep-alive, Close\r\n"), nil, []string{"front"}),
		c("pipelined", get("/fast/echo")+"HEAD /fast/big HTTP/1.1\r\n"+host+"\r\n"+get("/fast/big")+get("/fast/length"), []string{"GET", "HEAD", "GET", "GET"}, []string{"front", "front", "front", "front"}),
		c("sniffed content type", get("/fast/sniff"), nil, []string{"front"}),
		c("empty body", get("/fast/empty")+"HEAD /fast/empty HTTP/1.1\r\n"+host+"\r\n", []string{"GET", "HEAD"}, []string{"front", "front"}),
		c("chunked when long", get("/fast/big"), nil, []string{"front"}),
		c("content length set", get("/fast/length")+"HEAD /fast/length HTTP/1.1\r\n"+host+"\r\n", []string{"GET", "HEAD"}, []string{"front", "front"}),
		c("short body closes", get("/fast/short")+get("/fast/echo"), nil, []string{"front"}),
		c("long body refused", get("/fast/too-long"), nil, []string{"front"}),
		c("not modified", get("/fast/not-modified"), nil, []string{"front"}),
		c("redirect", get("/fast/redirect"), nil, []string{"front"}),
		c("error", get("/fast/error"), nil, []string{"front"}),
		c("header sanitising", get("/fast/odd-headers"), nil, []string{"front"}),
		c("file", get("/fast/file"), nil, []string{"front"}),
		c("file range", get("/fast/file", "Range: bytes=10-29\r\n"), nil, []string{"front"}),
		c("file conditional", get("/fast/file", "If-Modified-Since: Fri, 02 Jan 2026 03:04:05 GMT\r\n"), nil, []string{"front"}),
		c("file sniffed", get("/fast/file-sniffed"), nil, []string{"front"}),
		c("handler asks to close", get("/fast/close")+get("/fast/echo"), nil, []string{"front"}),
		c("handler aborts", get("/fast/panic"), nil, nil),
		c("mux redirect of an unclean path", get("/fast/../fast/echo"), nil, []string{"front"}),
		c("mux 405", "HEAD /fast/sniff HTTP/1.1\r\n"+host+"\r\n", []string{"HEAD"}, []string{"front"}),

		// Everything below goes to net/http, whole; the connection stays there.
		c("not a fast path", get("/other"), nil, []string{"net/http"}),
		c("fast path after another", get("/other")+get("/fast/echo"), nil, []string{"net/http", "net/http"}),
		c("fast then slow then fast", get("/fast/echo")+get("/other")+get("/fast/echo"), nil, []string{"front", "net/http", "net/http"}),
		c("POST with a body", "POST /fast/echo HTTP/1.1\r\n"+host+"Content-Length: 5\r\n\r\nhello"+get("/fast/echo"), nil, []string{"net/http", "net/http"}),
		c("GET with a body", get("/fast/echo", "Content-Length: 5\r\n")+"hello", nil, []string{"net/http"}),
		c("GET with a zero length", get("/fast/echo", "Content-Length: 0\r\n"), nil, []string{"net/http"}),
		c("chunked GET", get("/fast/echo", "Transfer-Encoding: chunked\r\n")+"5\r\nhello\r\n0\r\n\r\n", nil, []string{"net/http"}),
		c("smuggling attempt", get("/fast/echo", "Content-Length: 44\r\n", "Transfer-Encoding: chunked\r\n")+"0\r\n\r\n"+get("/fast/echo"), nil, nil),
		c("expect", get("/fast/echo", "Expect: 100-continue\r\n"), nil, []string{"net/http"}),
		c("upgrade", get("/fast/echo", "Upgrade: websocket\r\n", "Connection: upgrade\r\n"), nil, []string{"net/http"}),
		c("HTTP/1.0", "GET /fast/echo HTTP/1.0\r\n"+host+"\r\n", nil, []string{"net/http"}),
		c("HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", nil, nil),
		c("lower-case method", "get /fast/echo HTTP/1.1\r\n"+host+"\r\n", nil, nil),
		c("OPTIONS", "OPTIONS /fast/echo HTTP/1.1\r\n"+host+"\r\n", nil, []string{"net/http"}),
		c("absolute form", "GET http://index.example/fast/echo HTTP/1.1\r\n"+host+"\r\n", nil, []string{"net/http"}),
		c("no Host", "GET /fast/echo HTTP/1.1\r\n\r\n", nil, nil),
		c("two Hosts", get("/fast/echo", host), nil, nil),
		c("bad Host", "GET /fast/echo HTTP/1.1\r\nHost: a b\r\n\r\n", nil, nil),
		c("space before colon", get("/fast/echo", "Accept : text/html\r\n"), nil, nil),
		c("folded header", get("/fast/echo", "Accept: text/html,\r\n application/json\r\n"), nil, nil),
		c("control character in a value", get("/fast/echo", "Accept: a\x01b\r\n"), nil, nil),
		c("bare LF", "GET /fast/echo HTTP/1.1\n"+host+"\n", nil, nil),
		c("bare CR", get("/fast/echo", "Accept: a\rb\r\n"), nil, nil),
		c("leading empty line", "\r\n"+get("/fast/echo"), nil, nil),
		c("non-ASCII target", get("/fast/\xc3\xa9"), nil, []string{"net/http"}),
		c("double space", "GET  /fast/echo HTTP/1.1\r\n"+host+"\r\n", nil, nil),
		c("head larger than the buffer", get("/fast/echo", "X-Big: "+strings.Repeat("b", 5000)+"\r\n"), nil, []string{"net/http"}),
		c("incomplete head", "GET /fast/echo HTTP/1.1\r\n"+host, nil, nil),
		c("garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", nil, nil),
	})
}

// TestKeepAlive checks that a client's connection serves many requests and that a connection handed to net/http
// keeps working, with Go's own client.
func TestKeepAlive(t *testing.T) {
	t.Parallel()
	p := fronttest.NewPair(t, testHandler(t), fastPath, nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	defer client.CloseIdleConnections()
	for i, path := range []string{"/fast/echo", "/fast/big", "/fast/length", "/fast/file", "/other", "/fast/echo"} {
		res, err := client.Get("http://" + p.Front + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK || len(body) == 0 {
			t.Fatalf("%s: %v, %d, %d bytes", path, err, res.StatusCode, len(body))
		}
		want := "front"
		if i >= 4 {
			want = "net/http" // the connection went to net/http with /other
		}
		if got := res.Header.Get(fronttest.LoopHeader); got != want {
			t.Errorf("%s: served by %s, want %s", path, got, want)
		}
	}
}

// TestTimeouts checks that an idle connection and a slow request head are closed, as net/http closes them.
func TestTimeouts(t *testing.T) {
	t.Parallel()
	p := fronttest.NewPair(t, testHandler(t), fastPath, func(s *http.Server) {
		s.IdleTimeout = 300 * time.Millisecond
		s.ReadHeaderTimeout = 300 * time.Millisecond
	})
	for name, raw := range map[string]string{
		"idle after a request": "GET /fast/echo HTTP/1.1\r\n" + host + "\r\n",
		"never a request":      "",
		"a head never ended":   "GET /fast/echo HTTP/1.1\r\n" + host,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", p.Front)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			start := time.Now()
			c.SetDeadline(start.Add(10 * time.Second))
			io.WriteString(c, raw)
			out, err := io.ReadAll(c) // until the server closes
			if err != nil {
				t.Fatalf("the server did not close the connection: %v", err)
			}
			if raw != "" && strings.HasSuffix(raw, "\r\n\r\n") != strings.HasPrefix(string(out), "HTTP/1.1 200 OK") {
				t.Errorf("answer %q", out)
			}
			// The loop keeps a deadline that ends at most an eighth of the timeout early rather than move it for
			// every request (extendDeadline), and it may have been set at accept, before start.
			if elapsed := time.Since(start); elapsed < 300*time.Millisecond*7/8 {
				t.Errorf("closed after %v, before the timeout", elapsed)
			}
		})
	}
}

// TestShutdown checks that Shutdown lets a request in flight finish with "Connection: close", closes idle
// connections, and makes Serve return.
func TestShutdown(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	started := make(chan struct{})
	m := http.NewServeMux()
	m.HandleFunc("GET /fast/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	quiet := slog.New(slog.DiscardHandler)
	f := front.New(&http.Server{Handler: m, IdleTimeout: time.Minute}, fastPath, quiet)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- f.Serve(ln) }()

	idle, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busy.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(busy, "GET /fast/slow HTTP/1.1\r\n"+host+"\r\n")
	<-started

	shut := make(chan error, 1)
	go func() { shut <- f.Shutdown(context.Background()) }()
	idle.SetDeadline(time.Now().Add(10 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("idle connection: read %d, %v; want it closed", n, err)
	}
	close(release)
	res, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if string(body) != "finished" || !res.Close {
		t.Errorf("in-flight response: %q, close %v", body, res.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts")
	}
}

// TestShutdownCutsOff checks that a request still running when Shutdown's context ends loses its connection, so
// that its handler, blocked reading the body, returns (and may remove what it began writing) before Shutdown does;
// the client gets no answer.
func TestShutdownCutsOff(t *testing.T) {
	t.Parallel()
	reading := make(chan struct{})
	returned := make(chan error, 1)
	m := http.NewServeMux()
	m.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		_, err := io.ReadFull(r.Body, buf)
		if err != nil {
			panic(err)
		}
		close(reading)
		_, err = io.ReadAll(r.Body)
		returned <- err
	})
	quiet := slog.New(slog.DiscardHandler)
	f := front.New(&http.Server{Handler: m, IdleTimeout: time.Minute, ErrorLog: slog.NewLogLogger(quiet.Handler(), slog.LevelError)},
		fastPath, quiet)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go f.Serve(ln)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "POST /upload HTTP/1.1\r\n"+host+"Content-Length: 100\r\n\r\nfirst")
	<-reading

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v, want the context's error", err)
	}
	select {
	case err := <-returned:
		if err == nil {
			t.Error("the handler read the whole body of a request that was cut off")
		}
	default:
		t.Fatal("Shutdown returned before the handler of the request it cut off")
	}
	if out, _ := io.ReadAll(c); len(out) != 0 {
		t.Errorf("the client of the request cut off read %q", out)
	}
}
