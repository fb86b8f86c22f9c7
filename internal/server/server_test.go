package server

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
	"net/http/httptest"
	"strings"
	"testing"

	"wharf/internal/httperror"
	"wharf/internal/policy"
)

type fakeIndex struct{}

func (fakeIndex) ServeRoot(w http.ResponseWriter, r *http.Request) error {
	io.WriteString(w, "root")
	return nil
}
func (fakeIndex) ServeProject(w http.ResponseWriter, r *http.Request) error {
	return httperror.New(http.StatusNotFound, "Not Found")
}
func (fakeIndex) ServeProjectJSON(w http.ResponseWriter, r *http.Request) error {
	return httperror.New(http.StatusNotFound, "Not Found")
}
func (fakeIndex) ServeReleaseJSON(w http.ResponseWriter, r *http.Request) error {
	return errors.New("database exploded: secret detail")
}
func (fakeIndex) ServeFile(w http.ResponseWriter, r *http.Request) error { panic("boom") }

type fakeUploads struct{ err error }

func (f fakeUploads) ServeUpload(w http.ResponseWriter, r *http.Request) error {
	io.Copy(io.Discard, io.LimitReader(r.Body, 10))
	if f.err != nil {
		return f.err
	}
	io.WriteString(w, "OK\n")
	return nil
}

type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

func newTestServer(t *testing.T, uploadErr, pingErr error, opts ...Option) *httptest.Server {
	s := New(fakeIndex{}, fakeUploads{uploadErr}, pinger{pingErr}, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// TestUploadRefusalInStatusLine checks that twine's user sees the reason: like PyPI, the message is the HTTP reason
// phrase, and the body says it again.
// TestReadiness: /readyz names the first dependency this instance cannot reach, and /healthz, which restarts an
// instance when it fails, never depends on them.
func TestReadiness(t *testing.T) {
	for _, tc := range []struct {
		name        string
		db, storage error
		ready       int
		readyBody   string
	}{
		{"all up", nil, nil, 200, "ok\n"},
		{"storage down", nil, errors.New("no bucket"), 503, "503 file storage unavailable"},
		{"database down", errors.New("down"), errors.New("no bucket"), 503, "503 database unavailable"},
	} {
		ts := newTestServer(t, nil, tc.db, WithStorage(pinger{tc.storage}))
		for _, c := range []struct {
			path string
			code int
			body string
		}{{"/readyz", tc.ready, tc.readyBody}, {"/_/health", tc.ready, tc.readyBody}, {"/healthz", 200, "ok\n"}} {
			resp, err := http.Get(ts.URL + c.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code || !strings.HasPrefix(string(body), c.body) || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: %s: %d %q (Cache-Control %q), want %d %q", tc.name, c.path, resp.StatusCode, body,
					resp.Header.Get("Cache-Control"), c.code, c.body)
			}
		}
	}
}

func TestUploadRefusalInStatusLine(t *testing.T) {
	msg := "File already exists ('demo-1.0.tar.gz', with blake2_256 hash 'abc')."
	ts := newTestServer(t, httperror.New(http.StatusBadRequest, "%s", msg+"\r\nInjected: header"), nil)
	resp, err := http.Post(ts.URL+"/legacy/", "multipart/form-data; boundary=x", strings.NewReader(strings.Repeat("x", 1<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.HasPrefix(resp.Status, "400 "+msg) {
		t.Errorf("status line %q, want it to carry the message", resp.Status)
	}
	if resp.Header.Get("Injected") != "" {
		t.Error("a CR/LF in the message injected a header")
	}
	if !strings.Contains(string(body), msg) || resp.Header.Get("Vary") != "Authorization" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("body %q, headers %v", body, resp.Header)
	}
}

func TestUploadRefusalKeepsRetryAfter(t *testing.T) {
	e := httperror.New(http.StatusTooManyRequests, "Too many new projects")
	e.Header = http.Header{"Retry-After": {"120"}}
	ts := newTestServer(t, e, nil)
	resp, err := http.Post(ts.URL+"/legacy/", "multipart/form-data; boundary=x", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "120" {
		t.Errorf("status %q, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
}

func TestUploadSuccessVariesByAuthorization(t *testing.T) {
	ts := newTestServer(t, nil, nil)
	resp, err := http.Post(ts.URL+"/legacy/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Vary") != "Authorization" {
		t.Errorf("upload: %d, Vary %q", resp.StatusCode, resp.Header.Get("Vary"))
	}
}

func TestRoutesAndErrors(t *testing.T) {
	ts := newTestServer(t, nil, errors.New("down"))
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/simple/", 200, "root"},
		{"GET", "/simple/demo", 301, ""},
		{"GET", "/pypi/demo/json", 404, `{"message":"Not Found"}`},
		{"GET", "/pypi/demo/1.0/json", 500, `{"message":"Internal Server Error"}`},
		{"GET", "/packages/aa/bb/cc/demo.whl", 500, "500 Internal Server Error"},
		{"GET", "/_/health", 503, "503 database unavailable"},
		{"GET", "/readyz", 503, "503 database unavailable"},
		{"GET", "/healthz", 200, "ok"},
		{"POST", "/simple/", 405, ""},
		{"GET", "/legacy/", 404, ""},
		{"GET", "/nowhere", 404, "404 Not Found"},
	} {
		req, _ := http.NewRequest(tc.method, ts.URL+tc.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.body) {
			t.Errorf("%s %s: %d %q, want %d with %q", tc.method, tc.path, resp.StatusCode, body, tc.code, tc.body)
		}
		if strings.Contains(string(body), "secret detail") {
			t.Errorf("%s %s: an internal error's cause reached the client", tc.method, tc.path)
		}
		for _, h := range []string{"X-Content-Type-Options", "Content-Security-Policy", "Referrer-Policy"} {
			if resp.Header.Get(h) == "" {
				t.Errorf("%s %s: no %s header", tc.method, tc.path, h)
			}
		}
	}
	resp, err := client.Get(ts.URL + "/simple/demo?format=json")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "/simple/demo/?format=json" {
		t.Errorf("redirect to %q", loc)
	}
}

// limitedUploads refuses every body over one MiB as the upload handler does: by reading through a size limit.
type limitedUploads struct{}

func (limitedUploads) ServeUpload(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return httperror.New(http.StatusRequestEntityTooLarge, "File too large. Limit for a file is 1 MiB.")
	}
	return nil
}

// TestOversizeUploadAnswered: a client that sends its whole body before reading, as twine does, gets the 413 and
// its reason, not a reset connection, both when the size was declared and when the body was streamed (chunked).
func TestOversizeUploadAnswered(t *testing.T) {
	s := New(fakeIndex{}, limitedUploads{}, pinger{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	body := bytes.Repeat([]byte("x"), 48<<20)
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprintf("chunked=%v", chunked), func(t *testing.T) {
			conn, err := net.Dial("tcp", ts.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			head := "POST /legacy/ HTTP/1.1\r\nHost: wharf\r\nContent-Type: multipart/form-data; boundary=x\r\n"
			w := bufio.NewWriter(conn)
			if chunked {
				fmt.Fprintf(w, "%sTransfer-Encoding: chunked\r\n\r\n", head)
				for b := body; len(b) > 0; b = b[min(len(b), 1<<16):] {
					fmt.Fprintf(w, "%x\r\n", min(len(b), 1<<16))
					w.Write(b[:min(len(b), 1<<16)])
					w.WriteString("\r\n")
				}
				w.WriteString("0\r\n\r\n")
			} else {
				fmt.Fprintf(w, "%sContent-Length: %d\r\n\r\n", head, len(body))
				w.Write(body)
			}
			if err := w.Flush(); err != nil {
				t.Fatalf("sending the body: %v (the server closed the connection on a client still sending)", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 413 || !strings.Contains(resp.Status, "File too large") {
				t.Errorf("status %q, want 413 with the reason", resp.Status)
			}
		})
	}
}

// TestPolicyDenialIsForbiddenWithItsReason: the one mapping turns the policy's refusals into a 403 that carries the
// reason, in the status line twine shows.
func TestPolicyDenialIsForbiddenWithItsReason(t *testing.T) {
	reason := "The user 'alice' isn't allowed to upload to project 'demo'. Only its Owners and Maintainers may upload."
	ts := newTestServer(t, fmt.Errorf("upload: %w", &policy.Denied{Reason: reason}), nil)
	resp, err := http.Post(ts.URL+"/legacy/", "multipart/form-data; boundary=x", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || resp.Status != "403 "+reason || !strings.Contains(string(body), reason) {
		t.Errorf("got %q with body %q, want a 403 carrying the reason", resp.Status, body)
	}
}
