package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestLoopbackRedirect(t *testing.T) {
	for _, tc := range []struct {
		name         string
		base         string
		method, host string
		target       string
		want         string // the Location of a 308; "" for no redirect
	}{
		{"a page on 127.0.0.1", "http://localhost:8080", "GET", "127.0.0.1:8080", "/", "http://localhost:8080/"},
		{"path and query kept", "http://localhost:8080", "GET", "127.0.0.1:8080",
			"/account/verify-email/?token=abc_-DEF&next=%2Fmanage%2F", "http://localhost:8080/account/verify-email/?token=abc_-DEF&next=%2Fmanage%2F"},
		{"an escaped path kept", "http://localhost:8080", "GET", "127.0.0.1:8080", "/project/a%2Fb/", "http://localhost:8080/project/a%2Fb/"},
		{"a page on [::1]", "http://localhost:8080", "GET", "[::1]:8080", "/account/login/", "http://localhost:8080/account/login/"},
		{"HEAD", "http://localhost:8080", "HEAD", "127.0.0.1:8080", "/project/demo/", "http://localhost:8080/project/demo/"},
		{"localhost in capitals is localhost", "http://localhost:8080", "GET", "LOCALHOST:8080", "/", ""},
		{"a base URL on 127.0.0.1 takes localhost there", "http://127.0.0.1:8080", "GET", "localhost:8080", "/", "http://127.0.0.1:8080/"},
		{"the default port", "http://localhost", "GET", "127.0.0.1", "/search/?q=x", "http://localhost/search/?q=x"},
		{"a path that looks like another host", "http://localhost:8080", "GET", "127.0.0.1:8080", "//evil.example/x", "http://localhost:8080//evil.example/x"},

		{"the base URL's own name", "http://localhost:8080", "GET", "localhost:8080", "/", ""},
		{"another port", "http://localhost:8080", "GET", "127.0.0.1:9090", "/", ""},
		{"another port by default", "http://localhost:8080", "GET", "127.0.0.1", "/", ""},
		{"a name that is not loopback", "http://localhost:8080", "GET", "evil.example:8080", "/", ""},
		{"a LAN address", "http://localhost:8080", "GET", "192.168.1.5:8080", "/", ""},
		{"a base URL that is not loopback", "https://pypi.example.org", "GET", "127.0.0.1:443", "/", ""},
		{"POST", "http://localhost:8080", "POST", "127.0.0.1:8080", "/account/login/", ""},
		{"the simple index", "http://localhost:8080", "GET", "127.0.0.1:8080", "/simple/", ""},
		{"a project's simple page", "http://localhost:8080", "GET", "[::1]:8080", "/simple/demo/", ""},
		{"the JSON API", "http://localhost:8080", "GET", "127.0.0.1:8080", "/pypi/demo/json", ""},
		{"a file", "http://localhost:8080", "HEAD", "127.0.0.1:8080", "/packages/ab/cd/demo-1.0.tar.gz", ""},
		{"an upload", "http://localhost:8080", "POST", "127.0.0.1:8080", "/legacy/", ""},
		{"the health check", "http://localhost:8080", "GET", "127.0.0.1:8080", "/_/health", ""},
		{"the OIDC audience", "http://localhost:8080", "GET", "127.0.0.1:8080", "/_/oidc/audience", ""},
		{"metrics", "http://localhost:8080", "GET", "127.0.0.1:8080", "/metrics", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New(fakeIndex{}, fakeUploads{}, pinger{}, slog.New(slog.NewTextHandler(io.Discard, nil)), WithBaseURL(tc.base))
			req := httptest.NewRequest(tc.method, "http://placeholder"+tc.target, strings.NewReader(""))
			req.Host = tc.host
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if tc.want == "" {
				if rec.Code == http.StatusPermanentRedirect {
					t.Fatalf("redirected to %q", rec.Header().Get("Location"))
				}
				return
			}
			if rec.Code != http.StatusPermanentRedirect || rec.Header().Get("Location") != tc.want {
				t.Fatalf("%d to %q, want 308 to %q", rec.Code, rec.Header().Get("Location"), tc.want)
			}
			if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q: a browser would keep the redirect after this server is gone", cc)
			}
			base, _ := url.Parse(tc.base)
			if loc, err := url.Parse(rec.Header().Get("Location")); err != nil || loc.Host != base.Host {
				t.Errorf("Location %q leaves the base URL's host %s", rec.Header().Get("Location"), base.Host)
			}
		})
	}
}

// TestLoopbackRedirectThroughTheServer makes real requests, as pip and a browser do, to a server that listens on
// 127.0.0.1 and is called localhost: pip's request is answered where it is, the browser's page is sent on.
func TestLoopbackRedirectThroughTheServer(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	local := strings.Replace("http://"+ts.Listener.Addr().String(), "127.0.0.1", "localhost", 1)
	ts.Config.Handler = New(fakeIndex{}, fakeUploads{}, pinger{}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		WithBaseURL(local)).Handler()
	ts.Start()
	t.Cleanup(ts.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	resp, err := client.Get(ts.URL + "/simple/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "root" {
		t.Errorf("pip's GET /simple/ on 127.0.0.1: %d %q, want the page", resp.StatusCode, body)
	}
	resp, err = client.Get(ts.URL + "/?q=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != local+"/?q=1" {
		t.Errorf("a browser's GET / on 127.0.0.1: %d to %q, want 308 to %s/?q=1", resp.StatusCode, resp.Header.Get("Location"), local)
	}
}
