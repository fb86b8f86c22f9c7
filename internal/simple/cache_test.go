package simple

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"wharf/internal/pages"
)

func testEntry(serial int64, size int) *entry {
	return newEntry(makeETag("p", serial, "h"), serial, bytes.Repeat([]byte("x"), size))
}

// itemCost is what an item's entries and name cost, computed afresh.
func itemCost(name string, it *item) int64 {
	n := int64(len(name)) + overhead
	for _, e := range it.forms {
		if e != nil {
			n += e.cost()
		}
	}
	for _, e := range it.docs {
		n += e.cost()
	}
	return n
}

// checkAccounting verifies that every item's and every shard's byte counts are the costs of what they hold.
func checkAccounting(t *testing.T, c *pageCache) {
	t.Helper()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		var cur, prev int64
		for name, it := range s.cur {
			if n := itemCost(name, it); n != it.bytes {
				t.Errorf("shard %d: %s holds %d bytes, counted %d", i, name, n, it.bytes)
			}
			cur += it.bytes
		}
		for name, it := range s.prev {
			if n := itemCost(name, it); n != it.bytes {
				t.Errorf("shard %d: %s holds %d bytes, counted %d", i, name, n, it.bytes)
			}
			prev += it.bytes
			if s.cur[name] != nil {
				t.Errorf("shard %d: %s in both generations", i, name)
			}
		}
		if cur != s.curBytes || prev != s.prevBytes {
			t.Errorf("shard %d: entries cost %d and %d bytes, counted %d and %d", i, cur, prev, s.curBytes, s.prevBytes)
		}
		if s.curBytes > c.limit || s.prevBytes > c.limit {
			t.Errorf("shard %d: generations of %d and %d bytes, limit %d", i, s.curBytes, s.prevBytes, c.limit)
		}
		s.mu.Unlock()
	}
}

// TestCacheBound fills a small cache with far more than it holds while one page is read all along.
func TestCacheBound(t *testing.T) {
	const limit = 1 << 20
	c := newPageCache(limit)
	for i := range 10000 {
		name := fmt.Sprintf("p%d", i)
		c.put(name, pages.HTML, testEntry(1, 1000), c.generation(name))
		if i%10 == 0 {
			if c.get("p0", pages.HTML) == nil && i > 0 {
				t.Fatalf("after %d pages, the page read all along was evicted", i)
			}
		}
	}
	st := (&Index{pages: c}).CacheStats()
	if st.Bytes > limit || st.Projects < limit/4/1400 {
		t.Errorf("%d pages in %d bytes, limit %d", st.Projects, st.Bytes, limit)
	}
	if st.Evictions == 0 {
		t.Error("no evictions counted")
	}
	if c.get("p9999", pages.HTML) == nil {
		t.Error("the page put last is not cached")
	}
	if c.get("p1", pages.HTML) != nil {
		t.Error("a page read once, thousands of pages ago, is still cached")
	}
	if c.get("p0", pages.JSON) != nil {
		t.Error("a form never put is cached")
	}
	checkAccounting(t, c)

	// A page too large for a generation is never cached.
	c.put("huge", pages.HTML, testEntry(1, limit), c.generation("huge"))
	if c.get("huge", pages.HTML) != nil {
		t.Error("a page of the whole cache's size was cached")
	}
}

// TestCacheInvalidation: a miss that read the store before an invalidation does not store what it read, a newer
// serial is never replaced by an older one, and the serial poll drops only older forms.
func TestCacheInvalidation(t *testing.T) {
	c := newPageCache(1 << 20)
	gen := c.generation("a")
	c.drop("a")
	c.put("a", pages.HTML, testEntry(1, 10), gen)
	if c.get("a", pages.HTML) != nil {
		t.Error("a page read before an invalidation was cached after it")
	}

	newer := testEntry(5, 10)
	c.put("b", pages.HTML, newer, c.generation("b"))
	c.put("b", pages.HTML, testEntry(4, 10), c.generation("b"))
	if got := c.get("b", pages.HTML); got != newer {
		t.Errorf("an older serial replaced a newer one: serial %d", got.serial)
	}

	c.put("b", pages.JSON, testEntry(3, 10), c.generation("b"))
	c.dropOlder("b", 5)
	if c.get("b", pages.JSON) != nil {
		t.Error("a form older than the serial polled survived")
	}
	if c.get("b", pages.HTML) != newer {
		t.Error("a form as new as the serial polled was dropped")
	}

	// JSON API documents: kept until they expire, dropped with the project's older forms.
	doc := testEntry(5, 10)
	doc.expires = 100
	c.putDoc("b", "", doc, c.generation("b"))
	old := testEntry(4, 10)
	old.expires = 100
	c.putDoc("b", "1.0", old, c.generation("b"))
	if c.getDoc("b", "", 99) != doc || c.getDoc("b", "", 100) != nil {
		t.Error("a document is not served until it expires, and only until then")
	}
	c.dropOlder("b", 5)
	if c.getDoc("b", "1.0", 0) != nil || c.getDoc("b", "", 0) != doc {
		t.Error("the serial poll did not drop exactly the older document")
	}
	checkAccounting(t, c)
	c.drop("b")
	for k := range pages.NumKinds {
		if c.get("b", k) != nil {
			t.Errorf("form %d survived drop", k)
		}
	}
	if c.getDoc("b", "", 0) != nil {
		t.Error("a document survived drop")
	}
	checkAccounting(t, c)
}

// TestCacheWorkingSet reads a set of popular pages between many pages read once, as a Zipf mix does: the popular
// ones must stay.
func TestCacheWorkingSet(t *testing.T) {
	c := newPageCache(4 << 20)
	rng := rand.New(rand.NewPCG(1, 2))
	// A popular page is read every 50 reads on average; a generation of a shard holds about 70 pages, and one turns
	// every 1,100 reads: a popular page goes unread that long about once in e^22.
	hot := make([]string, 50)
	for i := range hot {
		hot[i] = fmt.Sprintf("hot-%d", i)
	}
	misses := 0
	for i := range 100000 {
		name := fmt.Sprintf("once-%d", i)
		c.put(name, pages.HTML, testEntry(1, 1500), c.generation(name))
		h := hot[rng.IntN(len(hot))]
		if c.get(h, pages.HTML) == nil {
			misses++
			c.put(h, pages.HTML, testEntry(1, 1500), c.generation(h))
		}
	}
	// Each popular page misses once at first, and then only if a generation passes without a read of it.
	if misses > len(hot) {
		t.Errorf("%d misses on %d popular pages over 100,000 reads", misses, len(hot))
	}
	checkAccounting(t, c)
}

// TestCacheConcurrent puts, reads and drops from several goroutines (run with -race) and checks the accounting.
func TestCacheConcurrent(t *testing.T) {
	c := newPageCache(256 << 10)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 20000 {
				name := fmt.Sprintf("p%d", rng.IntN(500))
				k := pages.Kind(rng.IntN(int(pages.NumKinds)))
				switch rng.IntN(10) {
				case 0:
					c.drop(name)
				case 1:
					c.dropOlder(name, rng.Int64N(10))
				case 2:
					v := fmt.Sprint(rng.IntN(3))
					if c.getDoc(name, v, 0) == nil {
						e := testEntry(rng.Int64N(10), 100+rng.IntN(2000))
						e.expires = 1
						c.putDoc(name, v, e, c.generation(name))
					}
				default:
					if c.get(name, k) == nil {
						c.put(name, k, testEntry(rng.Int64N(10), 100+rng.IntN(2000)), c.generation(name))
					}
				}
			}
		})
	}
	wg.Wait()
	checkAccounting(t, c)
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
