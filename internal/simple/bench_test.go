package simple

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"wharf/internal/pages"

	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// discard is a ResponseWriter that keeps nothing, so that benchmarks measure the handler, not a recorder.
type discard struct {
	h    http.Header
	code int
	n    int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(code int)        { d.code = code }
func (d *discard) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

// seedProjects loads n projects shaped like the bench's pages (three wheels with core metadata each).
func seedProjects(tb testing.TB, db *store.DB, n int) []string {
	tb.Helper()
	hash := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	names := make([]string, n)
	var files []store.NewFile
	for i := range n {
		name := fmt.Sprintf("project-%d", i)
		names[i] = name
		for _, v := range []string{"1.0", "1.1", "2.0"} {
			fn := fmt.Sprintf("project_%d-%s-py3-none-any.whl", i, v)
			files = append(files, store.NewFile{
				ProjectName: name, NormalizedName: name, UltraName: name, Version: v, CanonicalVersion: v,
				RequiresPython: ">=3.8", ReleaseMetadata: []byte(`{"summary":"bench"}`), Filename: fn,
				PackageType: "bdist_wheel", PythonVersion: "py3", Size: 1000, SHA256: hash(fn), MD5: "m", Blake2b256: hash("b2" + fn),
				MetadataSHA256: hash("meta" + fn), Now: t0,
			})
		}
		if len(files) >= 30000 {
			if err := db.SeedFiles(context.Background(), files); err != nil {
				tb.Fatal(err)
			}
			files = files[:0]
		}
	}
	if err := db.SeedFiles(context.Background(), files); err != nil {
		tb.Fatal(err)
	}
	return names
}

type benchRequest struct {
	r *http.Request
	w *discard
}

func newBenchRequest(target string, headers ...string) benchRequest {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	return benchRequest{r, &discard{h: http.Header{}}}
}

func (br benchRequest) serve(b *testing.B, h http.Handler) {
	clear(br.w.h)
	br.w.code = 0
	h.ServeHTTP(br.w, br.r)
	if br.w.code != 0 && br.w.code != http.StatusOK {
		b.Fatalf("%s: status %d", br.r.URL, br.w.code)
	}
}

// pipAccept is what pip sends.
const pipAccept = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"

// BenchmarkProjectPageHot is one project page requested over and over: the cache hit path, through the mux.
func BenchmarkProjectPageHot(b *testing.B) {
	db := storetest.OpenSQLite(b)
	seedProjects(b, db, 1)
	ix := New(db, &memBlobs{}, nil, Options{})
	mux := testMux(ix)
	for _, tc := range []struct {
		name    string
		headers []string
	}{
		{"html", nil},
		{"html-gzip", []string{"Accept-Encoding", "gzip"}},
		{"pip-json-gzip", []string{"Accept", pipAccept, "Accept-Encoding", "gzip, deflate"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			br := newBenchRequest("/simple/project-0/", tc.headers...)
			br.serve(b, mux)
			b.ReportAllocs()
			for b.Loop() {
				br.serve(b, mux)
			}
		})
	}
}

// BenchmarkDocument is PyPI's JSON API for one project over and over: "hit" from the page log, "build" with the
// project dropped before each request, so that the document is read from the store, built and appended to the log
// each time, which is what a miss costs.
func BenchmarkDocument(b *testing.B) {
	db := storetest.OpenSQLite(b)
	seedProjects(b, db, 1)
	for _, build := range []bool{false, true} {
		ix := New(db, &memBlobs{}, nil, Options{Dir: b.TempDir()})
		mux := testMux(ix)
		for _, target := range []string{"/pypi/project-0/json", "/pypi/project-0/1.1/json"} {
			b.Run(map[bool]string{false: "hit", true: "build"}[build]+target, func(b *testing.B) {
				br := newBenchRequest(target)
				br.serve(b, mux)
				b.ReportAllocs()
				for b.Loop() {
					if build {
						ix.served.drop("project-0")
					}
					br.serve(b, mux)
				}
			})
		}
	}
}

// BenchmarkProjectPageUniform spreads requests evenly over thousands of projects: "log" once every page has its
// record, "store" with nothing kept, which is what the first request for a page costs (less appending it).
func BenchmarkProjectPageUniform(b *testing.B) {
	const n = 5000
	for _, e := range storetest.Engines(b) {
		b.Run(e.Name, func(b *testing.B) {
			db := e.Open(b)
			names := seedProjects(b, db, n)
			reqs := make([]benchRequest, n)
			for i, name := range names {
				reqs[i] = newBenchRequest("/simple/" + name + "/")
			}
			for _, kept := range []bool{true, false} {
				b.Run(map[bool]string{true: "log", false: "store"}[kept], func(b *testing.B) {
					ix := New(db, &memBlobs{}, nil, Options{Dir: b.TempDir()})
					if !kept {
						ix.served.dir = ""
					}
					mux := testMux(ix)
					for _, br := range reqs {
						br.serve(b, mux)
					}
					b.ReportAllocs()
					i := 0
					for b.Loop() {
						reqs[i%n].serve(b, mux)
						i += 7919 // a prime: visits every page, not in order
					}
				})
			}
		})
	}
}

// BenchmarkRootGzip serves the root of 100,000 projects to clients that accept gzip; BenchmarkRootBuild builds it.
func BenchmarkRootGzip(b *testing.B) {
	db := storetest.OpenSQLite(b)
	seedProjects(b, db, 100000)
	ix := New(db, &memBlobs{}, nil, Options{Dir: b.TempDir()})
	mux := testMux(ix)
	br := newBenchRequest("/simple/", "Accept-Encoding", "gzip")
	br.serve(b, mux)
	var sizes [pages.NumKinds]int64
	for k, f := range ix.root.Load().files {
		fi, err := os.Stat(f.path)
		if err != nil {
			b.Fatal(err)
		}
		sizes[k] = fi.Size()
	}
	b.Logf("root of 100,000 names: %d bytes HTML, %d gzip; JSON %d, %d gzip", sizes[pages.HTML],
		sizes[pages.HTMLGzip], sizes[pages.JSON], sizes[pages.JSONGzip])
	b.ReportAllocs()
	for b.Loop() {
		br.serve(b, mux)
	}
}

func BenchmarkRootBuild(b *testing.B) {
	db := storetest.OpenSQLite(b)
	seedProjects(b, db, 100000)
	ix := New(db, &memBlobs{}, nil, Options{Dir: b.TempDir()})
	b.ReportAllocs()
	for b.Loop() {
		ix.rootMu.Lock()
		root, err := ix.buildRoot(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		removeRoot(root)
		ix.rootMu.Unlock()
	}
}
