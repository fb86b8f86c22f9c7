package simple

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/pages"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

func forEachEngine(t *testing.T, fn func(t *testing.T, fx *fixture)) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) { fn(t, newFixture(t, e)) })
	}
}

func gunzip(t testing.TB, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func wantStatus(t testing.TB, w interface{ Result() *http.Response }, want int) {
	t.Helper()
	if got := w.Result().StatusCode; got != want {
		t.Fatalf("status %d, want %d", got, want)
	}
}

func TestGolden(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		for _, tc := range []struct {
			file, target string
			headers      []string
		}{
			{"root.html", "/simple/", nil},
			{"root.json", "/simple/", []string{"Accept: " + mimeV1JSON}},
			{"project.html", "/simple/demo-pkg/", nil},
			{"project.json", "/simple/demo-pkg/", []string{"Accept: " + mimeV1JSON}},
			{"api-project.json", "/pypi/demo-pkg/json", nil},
			{"api-release.json", "/pypi/demo-pkg/1.0/json", nil},
		} {
			t.Run(tc.file, func(t *testing.T) {
				w := fx.get(t, tc.target, tc.headers...)
				wantStatus(t, w, http.StatusOK)
				body := w.Body.Bytes()
				if strings.HasSuffix(tc.file, ".json") {
					if !json.Valid(body) {
						t.Fatalf("invalid JSON: %s", body)
					}
					// Indented in the golden file so that a diff is readable.
					var buf bytes.Buffer
					json.Indent(&buf, body, "", "  ")
					buf.WriteByte('\n')
					body = buf.Bytes()
				}
				golden(t, tc.file, body)
				if tc.target == "/simple/" || strings.HasPrefix(tc.target, "/simple/") {
					// The gzip form holds the same bytes.
					zw := fx.get(t, tc.target, append(tc.headers, "Accept-Encoding: gzip")...)
					wantStatus(t, zw, http.StatusOK)
					if got := zw.Header().Get("Content-Encoding"); got != "gzip" {
						t.Fatalf("Content-Encoding %q", got)
					}
					if !bytes.Equal(gunzip(t, zw.Body.Bytes()), w.Body.Bytes()) {
						t.Error("gzip body differs from identity body")
					}
				}
			})
		}
	})
}

func TestProjectPageAttributes(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		w := fx.get(t, "/simple/demo-pkg/")
		wantStatus(t, w, http.StatusOK)
		as := anchors(t, w.Body.String())
		var names []string
		byName := map[string]anchor{}
		for _, a := range as {
			names = append(names, a.text)
			byName[a.text] = a
		}
		// PEP 440 order of releases (0.9 < 1.0 < 1.2 < 1.10 < 2.0rc1), then filename.
		wantOrder := []string{
			"demo_pkg-0.9-py3-none-any.whl", "demo_pkg-1.0-py3-none-any.whl", "demo_pkg-1.0.tar.gz",
			"demo_pkg-1.2-py3-none-any.whl", "demo_pkg-1.10-py3-none-any.whl", "demo_pkg-2.0rc1-py3-none-any.whl",
		}
		if diff := cmp.Diff(wantOrder, names); diff != "" {
			t.Errorf("file order (-want +got):\n%s", diff)
		}
		yanked := byName["demo_pkg-0.9-py3-none-any.whl"]
		if got, ok := yanked.attrs["data-yanked"]; !ok || got != `broken <build> & "quoted"` {
			t.Errorf("data-yanked = %q, %v", got, ok)
		}
		if _, ok := byName["demo_pkg-1.0.tar.gz"].attrs["data-yanked"]; ok {
			t.Error("a release that is not yanked has data-yanked")
		}
		w110 := byName["demo_pkg-1.10-py3-none-any.whl"]
		if got := w110.attrs["data-requires-python"]; got != ">=3.9,<4" {
			t.Errorf("data-requires-python = %q", got)
		}
		if !strings.Contains(w.Body.String(), `data-requires-python="&gt;=3.9,&lt;4"`) {
			t.Error("requires-python is not HTML-escaped in the markup")
		}
		metaSum := fx.blobs.put(fx.metadata["demo_pkg-1.10-py3-none-any.whl"])
		for _, attr := range []string{"data-core-metadata", "data-dist-info-metadata"} {
			if got := w110.attrs[attr]; got != "sha256="+metaSum {
				t.Errorf("%s = %q, want sha256=%s", attr, got, metaSum)
			}
			if _, ok := byName["demo_pkg-1.0.tar.gz"].attrs[attr]; ok {
				t.Errorf("%s on a file without core metadata", attr)
			}
		}
		if _, ok := byName["demo_pkg-1.2-py3-none-any.whl"].attrs["data-requires-python"]; ok {
			t.Error("data-requires-python on a file without Requires-Python")
		}
		for _, h := range []string{"Vary", "Etag", "X-Pypi-Last-Serial", "Content-Type"} {
			if w.Header().Get(h) == "" {
				t.Errorf("missing header %s", h)
			}
		}
		p, _ := fx.db.ProjectByName(context.Background(), "demo-pkg")
		if got := w.Header().Get("X-Pypi-Last-Serial"); got != fmt.Sprint(p.LastSerial) {
			t.Errorf("X-PyPI-Last-Serial %s, want %d", got, p.LastSerial)
		}
		if !strings.HasSuffix(w.Body.String(), fmt.Sprintf("<!--SERIAL %d-->\n", p.LastSerial)) {
			t.Error("no SERIAL trailer")
		}
	})
}

func TestNegotiation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		const (
			html   = "text/html; charset=utf-8"
			v1html = mimeV1HTML
			v1json = mimeV1JSON
		)
		for _, tc := range []struct {
			name, query string
			accept      []string
			want        string // Content-Type, or "" for 406
		}{
			{"no header", "", nil, html},
			{"empty header", "", []string{""}, html},
			{"browser", "", []string{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}, html},
			{"anything", "", []string{"*/*"}, html},
			{"pip", "", []string{"application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"}, v1json},
			{"uv", "", []string{"application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"}, v1json},
			{"v1 html only", "", []string{v1html}, v1html},
			{"latest json", "", []string{"application/vnd.pypi.simple.latest+json"}, v1json},
			{"latest html", "", []string{"application/vnd.pypi.simple.latest+html"}, v1html},
			{"case and spaces", "", []string{" Application/VND.PyPI.Simple.V1+JSON ; Q=1 "}, v1json},
			{"html preferred by q", "", []string{"application/vnd.pypi.simple.v1+json;q=0.5, text/html;q=0.9"}, html},
			{"equal q: PyPI's order", "", []string{"application/vnd.pypi.simple.v1+json, text/html"}, html},
			{"application wildcard", "", []string{"application/*"}, v1html},
			{"specific beats wildcard", "", []string{"application/*;q=0.9, application/vnd.pypi.simple.v1+html;q=0"}, v1json},
			{"text refused, rest any", "", []string{"text/html;q=0, */*;q=0.1"}, v1html},
			{"two header lines", "", []string{"text/plain", "application/vnd.pypi.simple.v1+json"}, v1json},
			{"unsupported", "", []string{"application/xml"}, ""},
			{"v2 unsupported", "", []string{"application/vnd.pypi.simple.v2+json"}, ""},
			{"all refused", "", []string{"*/*;q=0"}, ""},
			{"format overrides accept", "?format=" + "application/vnd.pypi.simple.v1%2Bjson", []string{"text/html"}, v1json},
			{"format html", "?format=text/html", []string{v1json}, html},
			{"format unsupported", "?format=application/xml", nil, ""},
			{"other query ignored", "?x=1", []string{v1json}, v1json},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, target := range []string{"/simple/", "/simple/demo-pkg/"} {
					var headers []string
					for _, a := range tc.accept {
						headers = append(headers, "Accept: "+a)
					}
					w := fx.get(t, target+tc.query, headers...)
					if tc.want == "" {
						wantStatus(t, w, http.StatusNotAcceptable)
						continue
					}
					wantStatus(t, w, http.StatusOK)
					if got := w.Header().Get("Content-Type"); got != tc.want {
						t.Errorf("%s: Content-Type %q, want %q", target, got, tc.want)
					}
					if got := w.Header().Get("Vary"); got != "Accept, Accept-Encoding" {
						t.Errorf("%s: Vary %q", target, got)
					}
					isJSON := json.Valid(w.Body.Bytes())
					if isJSON != (tc.want == v1json) {
						t.Errorf("%s: body is JSON: %v, want %v", target, isJSON, tc.want == v1json)
					}
				}
			})
		}
	})
}

// TestContentLength goes through a real server: net/http adds the length of small bodies itself.
func TestContentLength(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		srv := httptest.NewServer(fx.mux)
		defer srv.Close()
		for _, target := range []string{"/simple/", "/simple/demo-pkg/", "/simple/other/"} {
			for _, enc := range []string{"identity", "gzip"} {
				for _, method := range []string{http.MethodGet, http.MethodHead} {
					req, _ := http.NewRequest(method, srv.URL+target, nil)
					req.Header.Set("Accept-Encoding", enc) // set by hand: the client leaves the body compressed
					resp, err := srv.Client().Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					id := method + " " + target + " " + enc
					if len(resp.TransferEncoding) > 0 {
						t.Errorf("%s: Transfer-Encoding %v", id, resp.TransferEncoding)
					}
					if method == http.MethodGet && resp.ContentLength != int64(len(body)) {
						t.Errorf("%s: Content-Length %d, body %d bytes", id, resp.ContentLength, len(body))
					}
					if method == http.MethodHead && resp.ContentLength <= 0 {
						t.Errorf("%s: Content-Length %d", id, resp.ContentLength)
					}
				}
			}
		}
	})
}

func TestAcceptsGzip(t *testing.T) {
	for _, tc := range []struct {
		header []string
		want   bool
	}{
		{nil, false},
		{[]string{"gzip"}, true},
		{[]string{"gzip, deflate"}, true},
		{[]string{"deflate, br"}, false},
		{[]string{"GZIP;q=0.5"}, true},
		{[]string{"gzip;q=0"}, false},
		{[]string{"*"}, true},
		{[]string{"*;q=0"}, false},
		{[]string{"*, gzip;q=0"}, false},
		{[]string{"identity", "x-gzip"}, true},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		for _, h := range tc.header {
			r.Header.Add("Accept-Encoding", h)
		}
		if got := acceptsGzip(r); got != tc.want {
			t.Errorf("Accept-Encoding %q: %v, want %v", tc.header, got, tc.want)
		}
	}
}

func TestRedirects(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		for _, tc := range []struct{ target, want string }{
			{"/simple/Demo_Pkg/", "/simple/demo-pkg/"},
			{"/simple/demo.pkg/?format=text/html", "/simple/demo-pkg/?format=text/html"},
			{"/simple/DEMO--PKG/", "/simple/demo-pkg/"},
			{"/simple/Unknown_Thing/", "/simple/unknown-thing/"},
			{"/pypi/Demo_Pkg/json", "/pypi/demo-pkg/json"},
			{"/pypi/Demo.Pkg/1.0/json", "/pypi/demo-pkg/1.0/json"},
		} {
			w := fx.get(t, tc.target)
			if w.Code != http.StatusMovedPermanently {
				t.Errorf("%s: status %d, want 301", tc.target, w.Code)
				continue
			}
			if got := w.Header().Get("Location"); got != tc.want {
				t.Errorf("%s: Location %q, want %q", tc.target, got, tc.want)
			}
		}
	})
}

func TestNotFound(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		sha := fx.blobs.put(fx.content["demo_pkg-1.0.tar.gz"])
		good := "/packages/" + sha[:2] + "/" + sha[2:4] + "/" + sha[4:] + "/demo_pkg-1.0.tar.gz"
		for _, target := range []string{
			"/simple/no-such-project/",
			"/pypi/no-such-project/json",
			"/pypi/demo-pkg/9.9/json",
			"/pypi/demo-pkg/not%20a%20version/json",
			"/packages/00/00/" + sha[4:] + "/demo_pkg-1.0.tar.gz",                         // wrong hash parts
			"/packages/" + sha[:2] + "/" + sha[2:4] + "/" + sha[4:] + "/other-3.0.tar.gz", // another file's name
			"/packages/" + sha[:2] + "/" + sha[2:4] + "/" + sha[4:] + "/nothing.whl",
			good + ".metadata", // the sdist has no core metadata file
			"/packages/" + sha[:2] + "/" + sha[2:4] + "/demo_pkg-1.0.tar.gz",
		} {
			if w := fx.get(t, target); w.Code != http.StatusNotFound {
				t.Errorf("%s: status %d, want 404", target, w.Code)
			}
		}
		if w := fx.get(t, good); w.Code != http.StatusOK {
			t.Errorf("%s: status %d, want 200", good, w.Code)
		}
	})
}

func TestETags(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		seen := map[string]string{}
		for _, target := range []string{"/simple/", "/simple/demo-pkg/", "/pypi/demo-pkg/json", "/pypi/demo-pkg/1.0/json", "/pypi/demo-pkg/1.2/json"} {
			for _, accept := range []string{"text/html", mimeV1JSON} {
				for _, enc := range []string{"identity", "gzip"} {
					w := fx.get(t, target, "Accept: "+accept, "Accept-Encoding: "+enc)
					wantStatus(t, w, http.StatusOK)
					etag := w.Header().Get("Etag")
					if !strings.HasPrefix(etag, `"`) || !strings.HasSuffix(etag, `"`) {
						t.Fatalf("%s: ETag %q is not a quoted strong tag", target, etag)
					}
					id := fmt.Sprintf("%s %s %s", target, accept, enc)
					if prev, dup := seen[etag]; dup && !strings.HasPrefix(target, "/pypi/") {
						t.Errorf("%s and %s share ETag %s", id, prev, etag)
					}
					seen[etag] = id
					for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
						w304 := fx.get(t, target, "Accept: "+accept, "Accept-Encoding: "+enc, "If-None-Match: "+inm)
						if w304.Code != http.StatusNotModified || w304.Body.Len() != 0 {
							t.Errorf("%s If-None-Match %s: status %d, %d bytes", id, inm, w304.Code, w304.Body.Len())
						}
					}
					if w := fx.get(t, target, "Accept: "+accept, "Accept-Encoding: "+enc, `If-None-Match: "stale"`); w.Code != http.StatusOK {
						t.Errorf("%s: stale If-None-Match: status %d", id, w.Code)
					}
				}
			}
		}
		// A change of the project changes its tag.
		before := fx.get(t, "/simple/demo-pkg/").Header().Get("Etag")
		fx.upload(t, demoFile{"Demo_Pkg", "3.0", "demo_pkg-3.0.tar.gz", "", "{}", false}, t0.Add(2*time.Hour))
		fx.ix.Invalidate("demo-pkg")
		w := fx.get(t, "/simple/demo-pkg/", "If-None-Match: "+before)
		wantStatus(t, w, http.StatusOK)
		if w.Header().Get("Etag") == before {
			t.Error("ETag unchanged after an upload")
		}
	})
}

// TestViewsAgree is F6 (docs/security.md): the HTML page, the JSON page and the JSON API list the files and hashes the
// database has.
func TestViewsAgree(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		pi, err := fx.db.ProjectIndex(context.Background(), "demo-pkg")
		if err != nil {
			t.Fatal(err)
		}
		type fileView struct{ URL, SHA256, Metadata string }
		want := map[string]fileView{}
		for _, f := range pi.Files {
			want[f.Filename] = fileView{
				URL:    "/packages/" + f.SHA256[:2] + "/" + f.SHA256[2:4] + "/" + f.SHA256[4:] + "/" + f.Filename,
				SHA256: f.SHA256, Metadata: f.MetadataSHA256,
			}
		}

		fromHTML := map[string]fileView{}
		for _, a := range anchors(t, fx.get(t, "/simple/demo-pkg/").Body.String()) {
			u, frag, _ := strings.Cut(a.attrs["href"], "#sha256=")
			fromHTML[a.text] = fileView{u, frag, strings.TrimPrefix(a.attrs["data-core-metadata"], "sha256=")}
		}

		var page struct {
			Files []struct {
				Filename     string
				URL          string
				Hashes       map[string]string
				CoreMetadata any `json:"core-metadata"`
			}
		}
		if err := json.Unmarshal(fx.get(t, "/simple/demo-pkg/", "Accept: "+mimeV1JSON).Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		fromJSON := map[string]fileView{}
		for _, f := range page.Files {
			fv := fileView{URL: f.URL, SHA256: f.Hashes["sha256"]}
			if m, ok := f.CoreMetadata.(map[string]any); ok {
				fv.Metadata, _ = m["sha256"].(string)
			}
			fromJSON[f.Filename] = fv
		}

		var api struct {
			Releases map[string][]struct {
				Filename string
				URL      string
				Digests  map[string]string
			}
		}
		if err := json.Unmarshal(fx.get(t, "/pypi/demo-pkg/json").Body.Bytes(), &api); err != nil {
			t.Fatal(err)
		}
		fromAPI := map[string]fileView{}
		for _, files := range api.Releases {
			for _, f := range files {
				fromAPI[f.Filename] = fileView{URL: strings.TrimPrefix(f.URL, "https://wharf.example"), SHA256: f.Digests["sha256"],
					Metadata: want[f.Filename].Metadata} // the JSON API does not show core-metadata hashes
			}
		}
		for name, got := range map[string]map[string]fileView{"HTML page": fromHTML, "JSON page": fromJSON, "JSON API": fromAPI} {
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s disagrees with the database (-db +page):\n%s", name, diff)
			}
		}
		// And the bytes served under each URL hash to what the pages say (U4).
		for name, fv := range want {
			w := fx.get(t, fv.URL)
			wantStatus(t, w, http.StatusOK)
			if got := fx.blobs.put(w.Body.Bytes()); got != fv.SHA256 {
				t.Errorf("%s: served bytes hash to %s, index says %s", name, got, fv.SHA256)
			}
			if fv.Metadata != "" {
				w := fx.get(t, fv.URL+".metadata")
				wantStatus(t, w, http.StatusOK)
				if got := fx.blobs.put(w.Body.Bytes()); got != fv.Metadata {
					t.Errorf("%s.metadata: served bytes hash to %s, index says %s", name, got, fv.Metadata)
				}
			}
		}
	})
}

func TestJSONAPI(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		type doc struct {
			Info            map[string]any
			LastSerial      int64 `json:"last_serial"`
			Releases        map[string][]map[string]any
			URLs            []map[string]any
			Vulnerabilities []any
		}
		read := func(target string) doc {
			w := fx.get(t, target)
			wantStatus(t, w, http.StatusOK)
			if got := w.Header().Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			var d doc
			if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
				t.Fatal(err)
			}
			return d
		}
		d := read("/pypi/demo-pkg/json")
		// 2.0rc1 is a pre-release and 0.9 is yanked: the latest is 1.10.
		if d.Info["version"] != "1.10" || d.Info["name"] != "Demo_Pkg" {
			t.Errorf("info name %v version %v, want Demo_Pkg 1.10", d.Info["name"], d.Info["version"])
		}
		if d.Info["summary"] != "A demo <b>" || d.Info["author_email"] != "ann@example.com" || d.Info["license_expression"] != "MIT" {
			t.Errorf("metadata fields: %v", d.Info)
		}
		if d.Info["maintainer"] != nil || d.Info["requires_dist"] == nil {
			t.Errorf("maintainer %v, requires_dist %v", d.Info["maintainer"], d.Info["requires_dist"])
		}
		if d.Info["requires_python"] != ">=3.9,<4" {
			t.Errorf("requires_python %v", d.Info["requires_python"])
		}
		if d.Info["release_url"] != "https://wharf.example/project/Demo_Pkg/1.10/" {
			t.Errorf("release_url %v", d.Info["release_url"])
		}
		var versions []string
		for v := range d.Releases {
			versions = append(versions, v)
		}
		slices.Sort(versions)
		if diff := cmp.Diff([]string{"0.9", "1.0", "1.10", "1.2", "2.0rc1"}, versions); diff != "" {
			t.Errorf("releases (-want +got):\n%s", diff)
		}
		if len(d.URLs) != 1 || d.URLs[0]["filename"] != "demo_pkg-1.10-py3-none-any.whl" {
			t.Errorf("urls: %v", d.URLs)
		}
		if d.Vulnerabilities == nil || len(d.Vulnerabilities) != 0 {
			t.Errorf("vulnerabilities: %v", d.Vulnerabilities)
		}
		yanked := d.Releases["0.9"][0]
		if yanked["yanked"] != true || yanked["yanked_reason"] != `broken <build> & "quoted"` {
			t.Errorf("yanked file: %v", yanked)
		}

		// The release form: no "releases", the info of that release, and tolerance of metadata that is not JSON.
		r := read("/pypi/demo-pkg/0.9/json")
		if r.Releases != nil {
			t.Error("release document has releases")
		}
		if r.Info["version"] != "0.9" || r.Info["yanked"] != true || r.Info["summary"] != nil {
			t.Errorf("0.9 info: %v", r.Info)
		}
		if got := read("/pypi/demo-pkg/1.0.0/json").Info["version"]; got != "1.0" {
			t.Errorf("1.0.0 found version %v, want 1.0", got)
		}
		if got := read("/pypi/other/json").Info["classifiers"]; got == nil {
			t.Error("classifiers missing: PyPI always gives a list")
		}
	})
}

func TestLatestRelease(t *testing.T) {
	rel := func(v string, yanked bool) store.Release { return store.Release{Version: v, Yanked: yanked} }
	for _, tc := range []struct {
		releases []store.Release
		want     string
	}{
		{[]store.Release{rel("1.0", false), rel("2.0", false)}, "2.0"},
		{[]store.Release{rel("1.0", false), rel("2.0b1", false)}, "1.0"},
		{[]store.Release{rel("1.0", false), rel("2.0", true)}, "1.0"},
		{[]store.Release{rel("1.0", true), rel("2.0b1", false)}, "2.0b1"},
		{[]store.Release{rel("1.0", true), rel("2.0", true)}, "2.0"},
	} {
		if got := tc.releases[LatestRelease(tc.releases)].Version; got != tc.want {
			t.Errorf("%v: latest %s, want %s", tc.releases, got, tc.want)
		}
	}
}

func TestInvalidate(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		const newFile = "demo_pkg-3.0-py3-none-any.whl"
		pages := func() []string {
			var out []string
			out = append(out, fx.get(t, "/simple/demo-pkg/").Body.String())
			out = append(out, fx.get(t, "/simple/demo-pkg/", "Accept: "+mimeV1JSON).Body.String())
			out = append(out, string(gunzip(t, fx.get(t, "/simple/demo-pkg/", "Accept-Encoding: gzip").Body.Bytes())))
			return out
		}
		for _, p := range pages() {
			if strings.Contains(p, newFile) {
				t.Fatal("new file listed before its upload")
			}
		}
		fx.upload(t, demoFile{"Demo_Pkg", "3.0", newFile, "", "{}", true}, t0.Add(2*time.Hour))
		// Served from the cache: the database is not asked again until told.
		for _, p := range pages() {
			if strings.Contains(p, newFile) {
				t.Fatal("cached page changed without an invalidation: the cache is not used")
			}
		}
		// Another instance on the same database, which had not read the page, reads the new one: the page was
		// stored by the upload's own transaction.
		other := testMux(New(fx.db, fx.blobs, nil, Options{Dir: t.TempDir()}))
		if w := serve(other, http.MethodGet, "/simple/demo-pkg/"); !strings.Contains(w.Body.String(), newFile) {
			t.Error("another instance does not list the new file")
		}
		fx.ix.Invalidate("demo-pkg")
		for i, p := range pages() {
			if !strings.Contains(p, newFile) {
				t.Errorf("representation %d does not list the new file after Invalidate", i)
			}
		}
	})
}

func TestSerialPoll(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		var p poller
		if err := fx.ix.poll(ctx, &p); err != nil {
			t.Fatal(err)
		}
		fx.get(t, "/simple/demo-pkg/")
		fx.get(t, "/simple/other/")
		if w := fx.get(t, "/simple/late-project/"); w.Code != http.StatusNotFound {
			t.Fatalf("late-project: %d", w.Code)
		}
		// Another instance writes: nobody calls Invalidate here.
		fx.upload(t, demoFile{"Demo_Pkg", "3.0", "demo_pkg-3.0.tar.gz", "", "{}", false}, t0.Add(2*time.Hour))
		fx.upload(t, demoFile{"late_project", "1.0", "late_project-1.0.tar.gz", "", "{}", false}, t0.Add(2*time.Hour))
		fx.clock.advance(time.Second)
		if err := fx.ix.poll(ctx, &p); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(fx.get(t, "/simple/demo-pkg/").Body.String(), "demo_pkg-3.0.tar.gz") {
			t.Error("changed page still served from the cache after the poll")
		}
		if w := fx.get(t, "/simple/late-project/"); w.Code != http.StatusOK {
			t.Errorf("project created elsewhere: status %d after the poll", w.Code)
		}
		if !fx.keeps("other", pages.HTML) {
			t.Error("the poll forgot a page that did not change")
		}
	})
}

// TestNotFoundIsNotCached: a project created right after a 404 for its name is there at once, on this instance and
// without an invalidation (another instance created it): unknown names are not remembered, since asking the store
// costs one key lookup.
func TestNotFoundIsNotCached(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		if w := fx.get(t, "/simple/newcomer/"); w.Code != http.StatusNotFound {
			t.Fatalf("status %d", w.Code)
		}
		fx.upload(t, demoFile{"newcomer", "1.0", "newcomer-1.0.tar.gz", "", "{}", false}, t0)
		if w := fx.get(t, "/simple/newcomer/"); w.Code != http.StatusOK {
			t.Errorf("created after a 404: status %d", w.Code)
		}
	})
}

// TestRootFileGone: a root whose plain file was removed under the server answers 500 with no length of the file,
// and the gzip form, served from memory, still answers.
func TestRootFileGone(t *testing.T) {
	fx := newFixture(t, storetest.Engine{Name: "sqlite", Open: storetest.OpenSQLite})
	wantStatus(t, fx.get(t, "/simple/"), http.StatusOK)
	if err := os.Remove(fx.ix.root.Load().files[pages.HTML].path); err != nil {
		t.Fatal(err)
	}
	w := fx.get(t, "/simple/")
	wantStatus(t, w, http.StatusInternalServerError)
	if cl := w.Header().Get("Content-Length"); cl != "" && cl != fmt.Sprint(w.Body.Len()) {
		t.Errorf("Content-Length %s for a body of %d bytes", cl, w.Body.Len())
	}
	wantStatus(t, fx.get(t, "/simple/", "Accept-Encoding: gzip"), http.StatusOK)
}

func TestRunRebuildsRoot(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			fx := newFixture(t, e)
			counting := &countingStore{Store: fx.db}
			ix := New(counting, fx.blobs, nil, Options{RootInterval: 200 * time.Millisecond, PollInterval: 20 * time.Millisecond})
			mux := testMux(ix)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { ix.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			root := func() string { return serve(mux, "GET", "/simple/").Body.String() }
			if !strings.Contains(root(), `<a href="/simple/demo-pkg/">demo-pkg</a>`) {
				t.Fatal("root lacks demo-pkg")
			}
			serve(mux, "GET", "/simple/other/")
			for i := range 10 {
				fx.upload(t, demoFile{fmt.Sprintf("burst-%d", i), "1.0", fmt.Sprintf("burst_%d-1.0.tar.gz", i), "", "{}", false}, t0)
				time.Sleep(10 * time.Millisecond)
			}
			fx.upload(t, demoFile{"Demo_Pkg", "3.0", "demo_pkg-3.0.tar.gz", "", "{}", false}, t0)
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(root(), `<a href="/simple/burst-9/">`) ||
				!strings.Contains(serve(mux, "GET", "/simple/demo-pkg/").Body.String(), "demo_pkg-3.0.tar.gz") {
				if time.Now().After(deadline) {
					t.Fatal("root or project page not rebuilt within 10 s")
				}
				time.Sleep(10 * time.Millisecond)
			}
			// Eleven writes must not mean eleven rebuilds of the whole root; how many the debounce allows depends on
			// the wall clock, so only the coalescing itself is asserted.
			if builds := counting.names.Load(); builds >= 12 {
				t.Errorf("%d root builds for 11 writes: the rebuilds were not coalesced", builds)
			}
		})
	}
}

// TestRootListsChangesAtOnce: the root lists a project another instance created as soon as this one hears of the
// change: nothing else would rebuild it (the poll's turn is an hour away, and the root has no timer of its own).
func TestRootListsChangesAtOnce(t *testing.T) {
	fx := newFixture(t, storetest.Engine{Name: "sqlite", Open: storetest.OpenSQLite})
	ix := New(fx.db, fx.blobs, nil, Options{Dir: t.TempDir(), RootInterval: 50 * time.Millisecond, PollInterval: time.Hour})
	mux := testMux(ix)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ix.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "the first build", func() bool { return ix.root.Load() != nil })

	fx.upload(t, demoFile{"newcomer", "1.0", "newcomer-1.0.tar.gz", "", "{}", false}, t0)
	ix.Changed()
	waitFor(t, "the newcomer on the root", func() bool {
		return strings.Contains(serve(mux, "GET", "/simple/").Body.String(), `<a href="/simple/newcomer/">newcomer</a>`)
	})
}

// TestOtherInstanceSeesChanges: an instance that cached a project's pages serves what another instance changed once
// it is told of the change (Changed, which store.ListenJournal calls on PostgreSQL) without waiting for its poll's
// turn: a new file, and a deleted project, which has no row left to say it changed.
func TestOtherInstanceSeesChanges(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.upload(t, demoFile{"doomed", "1.0", "doomed-1.0.tar.gz", "", "{}", false}, t0)
		fx.upload(t, demoFile{"kept", "1.0", "kept-1.0.tar.gz", "", "{}", false}, t0)
		if _, err := fx.db.AddWebAuthnCredential(t.Context(), store.WebAuthnCredential{UserID: fx.user.ID, CredentialID: []byte("k"),
			PublicKey: []byte("pk"), AAGUID: []byte{}, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		counting := &countingStore{Store: fx.db}
		other := New(counting, fx.blobs, nil, Options{Dir: t.TempDir(), PollInterval: time.Hour})
		mux := testMux(other)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { other.Run(ctx); close(done) }()
		defer func() { cancel(); <-done }()
		// The poll takes the epoch and the serial it starts from as soon as it runs, before the pages below are cached;
		// the fill starts once it has.
		waitFor(t, "the first poll", func() bool { return counting.fills.Load() >= 1 })

		if w := serve(mux, "GET", "/simple/doomed/"); w.Code != http.StatusOK {
			t.Fatalf("doomed: %d", w.Code)
		}
		if strings.Contains(serve(mux, "GET", "/simple/demo-pkg/").Body.String(), "demo_pkg-3.0.tar.gz") {
			t.Fatal("listed before its upload")
		}
		fullyProtected := func() any {
			var d struct{ Info map[string]any }
			if err := json.Unmarshal(serve(mux, "GET", "/pypi/kept/json").Body.Bytes(), &d); err != nil {
				t.Fatal(err)
			}
			return d.Info["fully_protected"]
		}
		if got := fullyProtected(); got != true {
			t.Fatalf("fully_protected %v with its only maintainer on a key", got)
		}
		fx.upload(t, demoFile{"Demo_Pkg", "3.0", "demo_pkg-3.0.tar.gz", "", "{}", false}, t0)
		// A maintainer without a second factor joins: a role change, which the document's fully_protected shows.
		kept, err := fx.db.ProjectByName(t.Context(), "kept")
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.db.AddRole(t.Context(), kept.ID, storetest.MustUser(t, fx.db, "bob").ID, store.RoleMaintainer, t0); err != nil {
			t.Fatal(err)
		}
		p, err := fx.db.ProjectIndex(t.Context(), "doomed")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := fx.db.DeleteProject(t.Context(), p.Project.ID, fx.user.ID, t0, ""); err != nil {
			t.Fatal(err)
		}
		// Cached: without being told, this instance serves what it read (its poll's turn is an hour away).
		if serve(mux, "GET", "/simple/doomed/").Code != http.StatusOK || fullyProtected() != true {
			t.Fatal("the deleted project's page or the role change's document is not served from the cache: the test proves nothing")
		}
		other.Changed()
		waitFor(t, "the changes", func() bool {
			return serve(mux, "GET", "/simple/doomed/").Code == http.StatusNotFound &&
				strings.Contains(serve(mux, "GET", "/simple/demo-pkg/").Body.String(), "demo_pkg-3.0.tar.gz") &&
				fullyProtected() == false
		})
	})
}

// waitFor waits up to ten seconds for cond, which another goroutine makes true.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

// fakeLinks links to a made-up store, noting what it was asked.
type fakeLinks struct {
	mu    sync.Mutex
	asked []string
}

func (f *fakeLinks) Link(_ context.Context, key, filename, cacheControl string, expires time.Duration) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, fmt.Sprintf("%s %s %s %s", key, filename, cacheControl, expires))
	return "https://bucket.example/" + key + "?signature=s", nil
}

// TestFilesRedirect: with links to the store, a download is a redirect to its object's link, which carries the
// index's caching header for the bucket to send; the redirect itself is kept a short while, less than the link
// lives; it counts as the download it leads to.
func TestFilesRedirect(t *testing.T) {
	fx := newFixture(t, storetest.Engine{Name: "sqlite", Open: storetest.OpenSQLite})
	links := &fakeLinks{}
	mux := testMux(New(fx.db, fx.blobs, fx.downloads, Options{Dir: t.TempDir(), Links: links}))
	const name = "demo_pkg-1.10-py3-none-any.whl"
	sha := fx.blobs.put(fx.content[name])
	url := "/packages/" + sha[:2] + "/" + sha[2:4] + "/" + sha[4:] + "/" + name
	w := serve(mux, http.MethodGet, url)
	wantStatus(t, w, http.StatusFound)
	if got := w.Header().Get("Location"); got != "https://bucket.example/"+sha+"?signature=s" {
		t.Errorf("Location %q", got)
	}
	if got := w.Header().Get("Cache-Control"); got != "public, max-age=600" {
		t.Errorf("Cache-Control of the redirect %q", got)
	}
	wantStatus(t, serve(mux, http.MethodGet, url+".metadata"), http.StatusFound)
	if diff := cmp.Diff([]string{
		sha + " " + name + " public, max-age=31536000, immutable 1h0m0s",
		fx.blobs.put(fx.metadata[name]) + " " + name + ".metadata public, max-age=31536000, immutable 1h0m0s",
	}, links.asked); diff != "" {
		t.Errorf("links asked for (-want +got):\n%s", diff)
	}
	if err := fx.downloads.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, _ := fx.db.ProjectByName(context.Background(), "demo-pkg")
	if diff := cmp.Diff(map[int64]int64{p.ID: 1}, fx.sink.got); diff != "" {
		t.Errorf("download counts (-want +got):\n%s", diff)
	}
}

func TestFiles(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		const name = "demo_pkg-1.10-py3-none-any.whl"
		content := fx.content[name]
		sha := fx.blobs.put(content)
		url := "/packages/" + sha[:2] + "/" + sha[2:4] + "/" + sha[4:] + "/" + name

		w := fx.get(t, url)
		wantStatus(t, w, http.StatusOK)
		if !bytes.Equal(w.Body.Bytes(), content) {
			t.Errorf("body %q, want %q", w.Body.Bytes(), content)
		}
		for h, want := range map[string]string{
			"Content-Type":   "application/octet-stream",
			"Cache-Control":  "public, max-age=31536000, immutable",
			"Etag":           `"` + sha + `"`,
			"Content-Length": fmt.Sprint(len(content)),
			"Accept-Ranges":  "bytes",
		} {
			if got := w.Header().Get(h); got != want {
				t.Errorf("%s: %q, want %q", h, got, want)
			}
		}

		w = fx.get(t, url, "Range: bytes=3-9")
		wantStatus(t, w, http.StatusPartialContent)
		if !bytes.Equal(w.Body.Bytes(), content[3:10]) {
			t.Errorf("range body %q, want %q", w.Body.Bytes(), content[3:10])
		}
		if got, want := w.Header().Get("Content-Range"), fmt.Sprintf("bytes 3-9/%d", len(content)); got != want {
			t.Errorf("Content-Range %q, want %q", got, want)
		}
		w = fx.get(t, url, "Range: bytes=-4")
		wantStatus(t, w, http.StatusPartialContent)
		if !bytes.Equal(w.Body.Bytes(), content[len(content)-4:]) {
			t.Errorf("suffix range body %q", w.Body.Bytes())
		}
		if w := fx.get(t, url, `If-None-Match: "`+sha+`"`); w.Code != http.StatusNotModified {
			t.Errorf("If-None-Match: status %d", w.Code)
		}
		// A revalidation is answered without the store: it holds for an object the store no longer has.
		fx.blobs.mu.Lock()
		kept := fx.blobs.m[sha]
		delete(fx.blobs.m, sha)
		fx.blobs.mu.Unlock()
		if w := fx.get(t, url, `If-None-Match: "`+sha+`"`); w.Code != http.StatusNotModified || w.Header().Get("Etag") != `"`+sha+`"` {
			t.Errorf("If-None-Match without asking the store: status %d, Etag %q", w.Code, w.Header().Get("Etag"))
		}
		fx.blobs.put(kept)

		w = fx.get(t, url+".metadata")
		wantStatus(t, w, http.StatusOK)
		if !bytes.Equal(w.Body.Bytes(), fx.metadata[name]) {
			t.Errorf("metadata body %q", w.Body.Bytes())
		}
		if serve(fx.mux, http.MethodHead, url).Code != http.StatusOK {
			t.Error("HEAD failed")
		}

		// Counted: the first GET and "bytes=0-"; not the other ranges, the 304, the metadata or the HEAD.
		fx.get(t, url, "Range: bytes=0-")
		if err := fx.downloads.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		p, _ := fx.db.ProjectByName(context.Background(), "demo-pkg")
		if diff := cmp.Diff(map[int64]int64{p.ID: 2}, fx.sink.got); diff != "" {
			t.Errorf("download counts (-want +got):\n%s", diff)
		}

		// A file listed in the database whose bytes are missing is the server's fault.
		delete(fx.blobs.m, sha)
		if w := fx.get(t, url); w.Code != http.StatusInternalServerError {
			t.Errorf("missing blob: status %d, want 500", w.Code)
		}
	})
}

// countingStore counts root builds, and the fill's reads: Run starts the fill once its first poll has read the
// protection epoch and the serial (counting calls of LastSerial would not tell: the root's loop reads it too).
type countingStore struct {
	Store
	names, fills atomic.Int64
}

func (s *countingStore) SimplePages(ctx context.Context, after string, limit int,
	fn func(normalized string, serial int64, htmlGz, jsonGz []byte) error) error {
	s.fills.Add(1)
	return s.Store.SimplePages(ctx, after, limit, fn)
}

func (s *countingStore) EachProjectName(ctx context.Context, fn func(string) error) error {
	s.names.Add(1)
	return s.Store.EachProjectName(ctx, fn)
}

// TestHotPathAllocs guards the path of a page served from the page log: two small allocations (the record's first
// line, the two header values), and few enough header entries that the
// server's own headers still fit the eight of a small Go map (see autoLengthMax).
func TestHotPathAllocs(t *testing.T) {
	fx := newFixture(t, storetest.Engine{Name: "sqlite", Open: storetest.OpenSQLite})
	for _, tc := range []struct {
		name, accept, encoding string
		maxHeaders             int
	}{
		{"html", "", "", 4},
		{"html gzip", "", "gzip", 5},
		{"pip", pipAccept, "gzip, deflate", 5},
	} {
		r := httptest.NewRequest(http.MethodGet, "/simple/other/", nil)
		r.SetPathValue("project", "other")
		if tc.accept != "" {
			r.Header.Set("Accept", tc.accept)
		}
		if tc.encoding != "" {
			r.Header.Set("Accept-Encoding", tc.encoding)
		}
		w := &discard{h: http.Header{}}
		if err := fx.ix.ServeProject(w, r); err != nil {
			t.Fatal(err)
		}
		if n := len(w.h); n > tc.maxHeaders {
			t.Errorf("%s: %d header entries, want at most %d: %v", tc.name, n, tc.maxHeaders, w.h)
		}
		if !fx.keeps("other", pages.KindOf(tc.accept != "", tc.encoding != "")) {
			t.Fatalf("%s: no record after the first request", tc.name)
		}
		misses := fx.ix.FileStats().Misses
		allocs := testing.AllocsPerRun(100, func() {
			clear(w.h)
			fx.ix.ServeProject(w, r)
		})
		if allocs > 2 {
			t.Errorf("%s: %.0f allocations per page served from the page log, want at most 2", tc.name, allocs)
		}
		if n := fx.ix.FileStats().Misses; n != misses {
			t.Errorf("%s: %d misses while serving from the page log", tc.name, n-misses)
		}
	}
}

// TestJSONAPIProtection: the JSON API says whether a project is critical and whether every maintainer has a second
// factor, and its ETag changes with them, though neither moves the project's serial: once the poll has seen the
// protection epoch move.
func TestJSONAPIProtection(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		read := func() (map[string]any, string) {
			w := fx.get(t, "/pypi/demo-pkg/json")
			wantStatus(t, w, http.StatusOK)
			var d struct{ Info map[string]any }
			if err := json.Unmarshal(w.Body.Bytes(), &d); err != nil {
				t.Fatal(err)
			}
			return d.Info, w.Header().Get("Etag")
		}
		info, before := read()
		if info["critical"] != false || info["fully_protected"] != false {
			t.Fatalf("a normal project: critical %v, fully protected %v", info["critical"], info["fully_protected"])
		}
		p, err := fx.db.ProjectByName(ctx, "demo-pkg")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.db.MarkCritical(ctx, []int64{p.ID}, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.db.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: fx.user.ID, CredentialID: []byte("k"),
			PublicKey: []byte("pk"), AAGUID: []byte{}, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		// Neither moves the serial: the kept document says so once the poll has seen the epoch move.
		if info, _ := read(); info["critical"] != false {
			t.Error("the kept document was not served until the poll")
		}
		var pl poller
		if err := fx.ix.poll(ctx, &pl); err != nil {
			t.Fatal(err)
		}
		info, after := read()
		if info["critical"] != true || info["fully_protected"] != true {
			t.Errorf("a critical project with its only maintainer on a key: critical %v, fully protected %v", info["critical"], info["fully_protected"])
		}
		if after == before {
			t.Errorf("the ETag %s did not change with the protection", after)
		}
		if w := fx.get(t, "/pypi/demo-pkg/json", "If-None-Match", before); w.Code != http.StatusOK {
			t.Errorf("the old ETag still matches: %d", w.Code)
		}
	})
}
