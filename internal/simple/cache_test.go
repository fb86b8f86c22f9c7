package simple

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func testPage(name string, serial int64, body []byte) *page {
	return newPage(name, serial, repHTML, body, makeETag("p", serial, "h"))
}

// checkShards verifies the invariants of every shard against what the test believes is cached: each page is
// found under its name, the counts match the slots, and the bytes match the pages' sizes.
func checkShards(t *testing.T, c *pageCache, want map[string]*page) {
	t.Helper()
	var pages int
	for i := range c.shards {
		s := &c.shards[i]
		tab := s.table.Load()
		live, dead, empty := 0, 0, 0
		var bytes int64
		for j := range tab.slots {
			switch p := tab.slots[j].Load(); p {
			case nil:
				empty++
			case tombstone:
				dead++
			default:
				live++
				bytes += p.size
				if got := tab.lookup(p.hash, p.name); got != p {
					t.Fatalf("page %q in slot %d is not found by its name", p.name, j)
				}
			}
		}
		if live != s.live || dead != s.dead || bytes != s.bytes {
			t.Fatalf("shard %d: %d pages, %d tombstones, %d bytes in the table; counted %d, %d, %d",
				i, live, dead, bytes, s.live, s.dead, s.bytes)
		}
		if empty == 0 {
			t.Fatalf("shard %d: no empty slot left to end a probe", i)
		}
		pages += live
	}
	for name, p := range want {
		if got := c.get(name); got != p {
			t.Fatalf("%s: cached %p, want %p", name, got, p)
		}
	}
	if pages < len(want) {
		t.Fatalf("%d pages in the tables, fewer than the %d expected", pages, len(want))
	}
}

// TestCacheTable runs random puts, drops and lookups against a model, with a budget small enough that pages are
// evicted and tables grow, shrink and fill with tombstones.
func TestCacheTable(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 200)
	c := newPageCache(256 << 10)
	rng := rand.New(rand.NewPCG(1, 2))
	present := map[string]*page{} // pages the model knows were put and not dropped since; eviction may remove them
	for i := range 50000 {
		name := fmt.Sprintf("n%d", rng.IntN(3000))
		switch op := rng.IntN(10); {
		case op < 6:
			p := testPage(name, int64(i), body)
			if got := c.put(p, c.generation(name)); got != p {
				t.Fatalf("put %s: got %p, want the new page", name, got)
			}
			present[name] = p
		case op < 8:
			c.drop(name)
			delete(present, name)
			if c.get(name) != nil {
				t.Fatalf("%s found after drop", name)
			}
		default:
			if got := c.get(name); got != nil && got != present[name] {
				t.Fatalf("%s: lookup found a page that is not the last one put", name)
			}
		}
		if i%5000 == 0 {
			checkShards(t, c, nil)
		}
	}
	checkShards(t, c, nil)
	for name, p := range present {
		if got := c.get(name); got != nil && got != p {
			t.Fatalf("%s: stale page", name)
		}
	}
	if _, size := c.stats(); size > 256<<10 {
		t.Errorf("%d bytes cached, over the 256 KiB budget", size)
	}
	if c.evictions.Load() == 0 {
		t.Error("nothing was evicted: the test does not exercise eviction")
	}
}

// TestCacheWorkingSet is the bench's Zipf puzzle in small: after a scan of many pages read once has filled the
// cache, a working set that fits is read again and again; from its third round on it must be served from the
// cache entirely.
func TestCacheWorkingSet(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 1000)
	const limit = 4 << 20
	c := newPageCache(limit)
	fill := func(name string) {
		if c.get(name) == nil {
			c.put(testPage(name, 1, body), c.generation(name))
		}
	}
	for i := range 20000 { // several times what fits
		fill(fmt.Sprintf("scan-%d", i))
	}
	per := testPage("x", 1, body).size
	working := int(limit / per / 2)
	for round := range 5 {
		before := c.misses.Load()
		for i := range working {
			fill(fmt.Sprintf("hot-%d", i))
		}
		if misses := c.misses.Load() - before; round >= 2 && misses > 0 {
			t.Errorf("round %d: %d misses in a working set of %d pages, half of the cache", round, misses, working)
		}
	}
}

// TestCacheAccounting checks that what the cache counts against its budget is what its pages take on the heap, so
// that the budget bounds the memory and not just the bodies.
func TestCacheAccounting(t *testing.T) {
	const n = 20000
	c := newPageCache(1 << 30)
	bodies := make([][]byte, 7)
	for i := range bodies {
		bodies[i] = bytes.Repeat([]byte("y"), 900+i*150) // spread over several size classes
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		name := fmt.Sprintf("project-name-%d", i)
		c.put(testPage(name, int64(i+1), bodies[i%len(bodies)]), c.generation(name))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	_, accounted := c.stats()
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	if ratio := float64(heap) / float64(accounted); ratio < 0.85 || ratio > 1.15 {
		t.Errorf("%d pages take %d heap bytes, accounted as %d (ratio %.2f)", n, heap, accounted, ratio)
	}
	runtime.KeepAlive(c)
}

// TestCacheConcurrent reads while writers put, drop and evict; run with -race it checks that lookups without a
// lock see only whole pages.
func TestCacheConcurrent(t *testing.T) {
	body := bytes.Repeat([]byte("z"), 300)
	c := newPageCache(512 << 10)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 20000 {
				name := fmt.Sprintf("c%d", rng.IntN(2000))
				if rng.IntN(5) == 0 {
					c.drop(name)
					continue
				}
				p := c.put(testPage(name, int64(i), body), c.generation(name))
				if p != nil && p.rep(repHTML) == nil {
					t.Errorf("%s: cached page without its body", name)
					return
				}
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(3, 4))
			for range 100000 {
				name := fmt.Sprintf("c%d", rng.IntN(2000))
				if p := c.get(name); p != nil {
					r := p.rep(repHTML)
					if p.name != name || r == nil || len(r.body) != len(body) || r.length[0] != "300" {
						t.Errorf("%s: lookup returned %q with %v", name, p.name, r)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	checkShards(t, c, nil)
}

func TestCacheAddRep(t *testing.T) {
	c := newPageCache(1 << 20)
	p := c.put(testPage("a", 3, []byte("<html>")), c.generation("a"))
	_, before := c.stats()
	r := c.addRep(p, repHTMLGzip, []byte("zipped"), `"z"`)
	if p.rep(repHTMLGzip) != r || string(r.body) != "zipped" || r.etag[0] != `"z"` || r.length[0] != "6" {
		t.Fatalf("added rep %+v", r)
	}
	if _, after := c.stats(); after-before != r.cost() || p.size != c.shards[p.hash%cacheShards].bytes {
		t.Errorf("adding a rep of %d bytes moved the shard from %d to %d", r.cost(), before, after)
	}
	// A second rendering of the same form keeps the first.
	if again := c.addRep(p, repHTMLGzip, []byte("other"), `"o"`); again != r {
		t.Error("a rep was replaced")
	}
	// A page dropped meanwhile gets its rendering served once, not cached.
	c.drop("a")
	if r := c.addRep(p, repJSON, []byte("{}"), `"j"`); string(r.body) != "{}" || p.rep(repJSON) != nil {
		t.Error("a rep was added to a page no longer cached")
	}
	checkShards(t, c, nil)
}

// TestConcurrentFills requests every form of one project from several goroutines while uploads and invalidations
// change it, so that fills, added forms and merges of the same serial race (run with -race). Every response must be
// whole: its ETag, X-PyPI-Last-Serial, Content-Length and the serial inside the body agree.
func TestConcurrentFills(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		type form struct{ accept, encoding, suffix, serialMark string }
		forms := []form{
			{"text/html", "", "h", "<!--SERIAL %s-->"},
			{"text/html", "gzip", "hz", "<!--SERIAL %s-->"},
			{mimeV1JSON, "", "j", `"_last-serial":%s`},
			{mimeV1JSON, "gzip", "jz", `"_last-serial":%s`},
		}
		check := func(f form) error {
			w := fx.get(t, "/simple/demo-pkg/", "Accept: "+f.accept, "Accept-Encoding: "+f.encoding)
			if w.Code != http.StatusOK {
				return fmt.Errorf("%s %s: status %d", f.accept, f.encoding, w.Code)
			}
			serial := w.Header().Get("X-Pypi-Last-Serial")
			if want := `"p` + etagVersion + "-" + serial + "-" + f.suffix + `"`; w.Header().Get("Etag") != want {
				return fmt.Errorf("%s %s: ETag %s with serial %s", f.accept, f.encoding, w.Header().Get("Etag"), serial)
			}
			if cl := w.Header().Get("Content-Length"); cl != "" && cl != fmt.Sprint(w.Body.Len()) {
				return fmt.Errorf("%s %s: Content-Length %s for %d bytes", f.accept, f.encoding, cl, w.Body.Len())
			}
			body := w.Body.Bytes()
			if f.encoding == "gzip" {
				zr, err := gzip.NewReader(bytes.NewReader(body))
				if err != nil {
					return fmt.Errorf("%s gzip: %w", f.accept, err)
				}
				if body, err = io.ReadAll(zr); err != nil {
					return fmt.Errorf("%s gzip: %w", f.accept, err)
				}
			}
			if mark := fmt.Sprintf(f.serialMark, serial); !bytes.Contains(body, []byte(mark)) {
				return fmt.Errorf("%s %s: body lacks %s", f.accept, f.encoding, mark)
			}
			return nil
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := g; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := check(forms[i%len(forms)]); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		var last string
		for i := range 5 {
			last = fmt.Sprintf("demo_pkg-%d.0-py3-none-any.whl", 10+i)
			fx.upload(t, demoFile{"Demo_Pkg", fmt.Sprintf("%d.0", 10+i), last, "", "{}", true}, t0.Add(time.Duration(i+2)*time.Hour))
			fx.ix.Invalidate("demo-pkg")
			time.Sleep(5 * time.Millisecond)
		}
		close(stop)
		wg.Wait()
		for _, f := range forms {
			if err := check(f); err != nil {
				t.Error(err)
			}
			w := fx.get(t, "/simple/demo-pkg/", "Accept: "+f.accept)
			if !strings.Contains(w.Body.String(), last) {
				t.Errorf("%s: the last upload is not listed after its invalidation", f.accept)
			}
		}
	})
}
