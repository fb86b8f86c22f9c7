package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"wharf/internal/httperror"
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

func newTestServer(t *testing.T, uploadErr, pingErr error) *httptest.Server {
	s := New(fakeIndex{}, fakeUploads{uploadErr}, pinger{pingErr}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts
}

// TestUploadRefusalInStatusLine checks that twine's user sees the reason: like PyPI, the message is the HTTP reason
// phrase, and the body says it again.
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
