package simple

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"wharf/internal/pages"
	"wharf/internal/store/storetest"
)

// scanStore counts the pages read one by one, and runs during once the fill's scan has read its first project,
// before the fill has it: a change that commits in the middle of a chunk.
type scanStore struct {
	Store
	lookups atomic.Int64
	during  func(name string)
	scanned chan struct{} // when set, told of each chunk read and handed to the fill
}

func (s *scanStore) SimplePage(ctx context.Context, name string, json bool) (int64, []byte, error) {
	s.lookups.Add(1)
	return s.Store.SimplePage(ctx, name, json)
}

func (s *scanStore) SimplePages(ctx context.Context, after string, limit int,
	fn func(name string, serial int64, htmlGz, jsonGz []byte) error) error {
	err := s.Store.SimplePages(ctx, after, limit, func(name string, serial int64, htmlGz, jsonGz []byte) error {
		if s.during != nil {
			s.during(name)
			s.during = nil
		}
		return fn(name, serial, htmlGz, jsonGz)
	})
	if s.scanned != nil {
		s.scanned <- struct{}{}
	}
	return err
}

// filled returns an Index over s whose log the fill has filled, after the first poll as Run does.
func filled(t *testing.T, fx *fixture, s Store, opts Options) *Index {
	t.Helper()
	opts.Dir, opts.Now = t.TempDir(), fx.clock.now
	ix := New(s, fx.blobs, nil, opts)
	t.Cleanup(ix.served.close)
	var p poller
	if err := ix.poll(context.Background(), &p); err != nil {
		t.Fatal(err)
	}
	ix.fill(context.Background())
	return ix
}

// pageRequests are the ways clients ask for a project's page: pip and uv's gzip, both formats, and the plain forms
// of curl and older tools.
var pageRequests = [][]string{
	{"Accept-Encoding: gzip"},
	{"Accept-Encoding: gzip", "Accept: " + mimeV1JSON},
	nil,
	{"Accept: " + mimeV1JSON},
}

// TestFill: after the fill, every form of every project's page is served without a query, gzip from the fill's
// records and plain decompressed from them, each exactly as an index that read the store answers.
func TestFill(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		for i := range 30 { // more than one chunk's worth of names would be slow; several shards' worth is not
			fx.upload(t, demoFile{project: fmt.Sprintf("proj-%02d", i), version: "1.0",
				filename: fmt.Sprintf("proj_%02d-1.0.tar.gz", i), metadata: "{}"}, t0)
		}
		s := &scanStore{Store: fx.db}
		ix := filled(t, fx, s, Options{})
		mux := testMux(ix)
		for _, name := range []string{"demo-pkg", "other", "proj-00", "proj-29"} {
			for _, headers := range pageRequests {
				for range 2 { // the plain form's second request reads the record its first made
					got := serve(mux, http.MethodGet, "/simple/"+name+"/", headers...)
					want := fx.get(t, "/simple/"+name+"/", headers...)
					wantStatus(t, got, http.StatusOK)
					for _, h := range []string{"Content-Type", "Content-Encoding", "Etag", "X-Pypi-Last-Serial"} {
						if got.Header().Get(h) != want.Header().Get(h) {
							t.Errorf("%s %q: %s %q, want %q", name, headers, h, got.Header().Get(h), want.Header().Get(h))
						}
					}
					if got.Body.String() != want.Body.String() {
						t.Errorf("%s %q: the filled page differs from the store's", name, headers)
					}
				}
			}
		}
		if n := s.lookups.Load(); n != 0 {
			t.Errorf("%d pages read from the store after the fill, want none", n)
		}
		if st := ix.FileStats(); st.Failures != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

// TestRunFills: Run fills the log after its first poll, so that the first request for a page is not a query.
func TestRunFills(t *testing.T) {
	fx := newFixture(t, storetest.Engine{Name: "sqlite", Open: storetest.OpenSQLite})
	s := &scanStore{Store: fx.db, scanned: make(chan struct{})}
	ix := New(s, fx.blobs, nil, Options{Dir: t.TempDir(), Now: fx.clock.now})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ix.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select { // the fixture's projects are one chunk
	case <-s.scanned:
	case <-time.After(time.Minute):
		t.Fatal("Run did not fill the page log")
	}
	w := serve(testMux(ix), http.MethodGet, "/simple/demo-pkg/", "Accept-Encoding: gzip")
	wantStatus(t, w, http.StatusOK)
	if n := s.lookups.Load(); n != 0 {
		t.Errorf("%d pages read from the store after Run filled the log, want none", n)
	}
}

// TestFillBounded: the fill takes at most half the log, so that it never pushes out its own records, and the
// projects past it are read on first request.
func TestFillBounded(t *testing.T) {
	fx := newFixture(t, storetest.Engine{Name: "sqlite", Open: storetest.OpenSQLite})
	for i := range 40 {
		fx.upload(t, demoFile{project: fmt.Sprintf("proj-%02d", i), version: "1.0",
			filename: fmt.Sprintf("proj_%02d-1.0.tar.gz", i), metadata: "{}"}, t0)
	}
	s := &scanStore{Store: fx.db}
	ix := filled(t, fx, s, Options{PageLogBytes: 16 << 10})
	kept := 0
	for i := range 40 {
		name := fmt.Sprintf("proj-%02d", i)
		c, _, fresh := ix.served.find(name, pageSlots[pages.HTMLGzip], 0)
		c.close()
		if fresh {
			kept++
		}
	}
	if kept == 0 || kept == 40 {
		t.Fatalf("the fill kept %d of 40 projects in a log of %d bytes: want some, not all", kept, ix.served.capacity())
	}
	ix.served.mu.Lock()
	written := (ix.served.next-1)*ix.served.segmentSize + ix.served.used
	retired := len(ix.served.live) < int(ix.served.next)
	ix.served.mu.Unlock()
	if written > ix.served.capacity()/2+4<<10 || retired {
		t.Errorf("the fill wrote %d bytes of a log of %d (a segment retired: %v)", written, ix.served.capacity(), retired)
	}
	wantStatus(t, serve(testMux(ix), http.MethodGet, "/simple/proj-39/", "Accept-Encoding: gzip"), http.StatusOK)
	if n := s.lookups.Load(); n != 1 {
		t.Errorf("%d pages read from the store for a project past the fill, want 1", n)
	}
}

// TestFillNeverStale: a project the fill's scan read before a change committed is not kept from the scan, whether
// the change was made here (Invalidate) or by another instance (the poll): its first request reads the change.
func TestFillNeverStale(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		for _, remote := range []bool{false, true} {
			var ix *Index
			var p poller
			version := 3
			if remote {
				version = 4
			}
			newFile := fmt.Sprintf("demo_pkg-%d.0-py3-none-any.whl", version)
			s := &scanStore{Store: fx.db}
			s.during = func(name string) {
				if name != "demo-pkg" {
					t.Fatalf("the scan began with %s", name)
				}
				fx.upload(t, demoFile{project: "Demo_Pkg", version: fmt.Sprintf("%d.0", version), filename: newFile}, t0)
				if !remote {
					ix.Invalidate("demo-pkg")
					return
				}
				fx.clock.advance(time.Second)
				if err := ix.poll(context.Background(), &p); err != nil {
					t.Fatal(err)
				}
			}
			ix = New(s, fx.blobs, nil, Options{Dir: t.TempDir(), Now: fx.clock.now})
			t.Cleanup(ix.served.close)
			if err := ix.poll(context.Background(), &p); err != nil {
				t.Fatal(err)
			}
			ix.fill(context.Background())
			mux := testMux(ix)
			for _, headers := range pageRequests {
				w := serve(mux, http.MethodGet, "/simple/demo-pkg/", headers...)
				body := w.Body.String()
				if w.Header().Get("Content-Encoding") == "gzip" {
					body = string(gunzip(t, w.Body.Bytes()))
				}
				if !strings.Contains(body, newFile) {
					t.Errorf("remote %v, %q: the page the fill read before the change was served", remote, headers)
				}
			}
		}
	})
}
