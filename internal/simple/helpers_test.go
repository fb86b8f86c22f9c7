package simple

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/blake2b"

	"wharf/internal/blob"
	"wharf/internal/critical"
	"wharf/internal/httperror"
	"wharf/internal/pages"
	"wharf/internal/pypkg"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

// memBlobs is a blob store in memory.
type memBlobs struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (b *memBlobs) put(data []byte) string {
	sum := sha256.Sum256(data)
	key := hex.EncodeToString(sum[:])
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string][]byte{}
	}
	b.m[key] = data
	return key
}

func (b *memBlobs) Open(_ context.Context, key string) (blob.Object, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, ok := b.m[key]
	if !ok {
		return nil, blob.ErrNotFound
	}
	return &memObject{Reader: bytes.NewReader(data), info: blob.Info{Key: key, Size: int64(len(data)), ModTime: t0}}, nil
}

type memObject struct {
	*bytes.Reader
	info blob.Info
}

func (o *memObject) Close() error    { return nil }
func (o *memObject) Info() blob.Info { return o.info }

// memSink collects flushed download counts.
type memSink struct {
	mu  sync.Mutex
	got map[int64]int64
}

func (s *memSink) AddDownloads(_ context.Context, _ string, counts map[int64]int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.got == nil {
		s.got = map[int64]int64{}
	}
	for id, n := range counts {
		s.got[id] += n
	}
	return nil
}

// fixture is a database with two projects, the blobs of their files, and an Index over both.
type fixture struct {
	db        *store.DB
	blobs     *memBlobs
	ix        *Index
	mux       *http.ServeMux
	sink      *memSink
	downloads *critical.Counter
	user      store.User
	content   map[string][]byte // filename -> bytes
	metadata  map[string][]byte // filename -> core metadata bytes
	clock     *clock
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type demoFile struct {
	project, version, filename, requiresPython, metadata string
	withCoreMetadata                                     bool
}

// demoFiles are uploaded in this order: not the order of their versions, so that sorting shows.
var demoFiles = []demoFile{
	{"Demo_Pkg", "1.0", "demo_pkg-1.0.tar.gz", ">=3.8", `{"summary":"A demo","author":"Ann"}`, false},
	{"Demo_Pkg", "1.0", "demo_pkg-1.0-py3-none-any.whl", ">=3.8", "", true},
	{"Demo_Pkg", "1.10", "demo_pkg-1.10-py3-none-any.whl", ">=3.9,<4",
		`{"summary":"A demo <b>","author":"Ann","author_email":"ann@example.com","classifiers":["Programming Language :: Python :: 3"],` +
			`"requires_dist":["requests>=2"],"project_urls":{"Homepage":"https://example.com"},"license_expression":"MIT","name":"evil","version":"6.6.6"}`,
		true},
	{"Demo_Pkg", "1.2", "demo_pkg-1.2-py3-none-any.whl", "", `{"summary":"A demo"}`, true},
	{"Demo_Pkg", "2.0rc1", "demo_pkg-2.0rc1-py3-none-any.whl", ">=3.10", `{"summary":"A demo, next"}`, true},
	{"Demo_Pkg", "0.9", "demo_pkg-0.9-py3-none-any.whl", "", `not json`, false},
	{"other", "3.0", "other-3.0.tar.gz", "", `{}`, false},
}

func newFixture(t testing.TB, e storetest.Engine) *fixture {
	t.Helper()
	ctx := context.Background()
	fx := &fixture{
		db: e.Open(t), blobs: &memBlobs{}, sink: &memSink{},
		content: map[string][]byte{}, metadata: map[string][]byte{},
		clock: &clock{t: t0},
	}
	fx.user = storetest.MustUser(t, fx.db, "alice")
	for i, df := range demoFiles {
		fx.upload(t, df, t0.Add(time.Duration(i)*time.Minute))
	}
	p, err := fx.db.ProjectByName(ctx, "demo-pkg")
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.db.YankRelease(ctx, p.ID, "0.9", true, `broken <build> & "quoted"`, fx.user.ID, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	fx.downloads = critical.NewCounter(fx.sink, critical.CounterOptions{Now: fx.clock.now})
	fx.ix = New(fx.db, fx.blobs, fx.downloads, Options{BaseURL: "https://wharf.example/", Now: fx.clock.now, Dir: t.TempDir()})
	fx.mux = testMux(fx.ix)
	return fx
}

func (fx *fixture) upload(t testing.TB, df demoFile, now time.Time) {
	t.Helper()
	content := []byte("content of " + df.filename)
	v, err := pypkg.ParseVersion(df.version)
	if err != nil {
		t.Fatal(err)
	}
	nf := store.NewFile{
		ProjectName: df.project, NormalizedName: pypkg.NormalizeName(df.project),
		UltraName: pypkg.UltraNormalizeName(df.project), UploaderID: fx.user.ID,
		Version: df.version, CanonicalVersion: v.ReleaseKey(), RequiresPython: df.requiresPython,
		ReleaseMetadata: []byte(df.metadata), Filename: df.filename, PackageType: "bdist_wheel", PythonVersion: "py3",
		Size: int64(len(content)), SHA256: fx.blobs.put(content), Now: now,
	}
	if strings.HasSuffix(df.filename, ".tar.gz") {
		nf.PackageType, nf.PythonVersion = "sdist", "source"
	}
	if nf.ReleaseMetadata == nil {
		nf.ReleaseMetadata = []byte("{}")
	}
	m := md5.Sum(content)
	b := blake2b.Sum256(content)
	nf.MD5, nf.Blake2b256 = hex.EncodeToString(m[:]), hex.EncodeToString(b[:])
	if df.withCoreMetadata {
		meta := []byte("Metadata-Version: 2.1\nName: " + df.project + "\nVersion: " + df.version + "\n")
		nf.MetadataSHA256 = fx.blobs.put(meta)
		fx.metadata[df.filename] = meta
	}
	_, err = fx.db.ProjectByName(context.Background(), nf.NormalizedName)
	nf.CreateProject = errors.Is(err, store.ErrNotFound)
	if _, err := fx.db.AddFile(context.Background(), nf); err != nil {
		t.Fatalf("add %s: %v", df.filename, err)
	}
	fx.content[df.filename] = content
}

// testMux mounts the handlers on the routes internal/server gives them, with a minimal error mapping.
func testMux(ix *Index) *http.ServeMux {
	m := http.NewServeMux()
	m.Handle("GET /simple/{$}", handle(ix.ServeRoot))
	m.Handle("GET /simple/{project}/{$}", handle(ix.ServeProject))
	m.Handle("GET /pypi/{project}/json", handle(ix.ServeProjectJSON))
	m.Handle("GET /pypi/{project}/{version}/json", handle(ix.ServeReleaseJSON))
	m.Handle("GET /packages/{path...}", handle(ix.ServeFile))
	return m
}

func handle(h httperror.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		code := http.StatusInternalServerError
		var he *httperror.Error
		switch {
		case errors.As(err, &he):
			code = he.Status
		case errors.Is(err, store.ErrNotFound):
			code = http.StatusNotFound
		}
		http.Error(w, http.StatusText(code), code)
	})
}

// get runs one request through the mux; headers are "Name: value" strings.
func (fx *fixture) get(t testing.TB, target string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	return serve(fx.mux, http.MethodGet, target, headers...)
}

func serve(h http.Handler, method, target string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for _, hd := range headers {
		name, value, _ := strings.Cut(hd, ":")
		r.Header.Add(name, strings.TrimSpace(value))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, diff)
	}
}

// anchor is one <a> element of a page.
type anchor struct {
	attrs map[string]string
	text  string
}

// anchors reads the <a> elements of a simple-API page: a small tokenizer for the markup this package writes and
// PyPI's layout (double-quoted attributes, no nesting), which unescapes entities like a browser would.
func anchors(t testing.TB, page string) []anchor {
	t.Helper()
	var out []anchor
	for {
		i := strings.Index(page, "<a ")
		if i < 0 {
			return out
		}
		page = page[i+3:]
		end := strings.IndexByte(page, '>')
		if end < 0 {
			t.Fatalf("unterminated <a> in %q", page)
		}
		tag := page[:end]
		a := anchor{attrs: map[string]string{}}
		for tag = strings.TrimSpace(tag); tag != ""; tag = strings.TrimSpace(tag) {
			name, rest, ok := strings.Cut(tag, `="`)
			if !ok || strings.ContainsAny(name, ` "<`) {
				t.Fatalf("malformed attribute in %q", tag)
			}
			value, rest, ok := strings.Cut(rest, `"`)
			if !ok {
				t.Fatalf("unterminated attribute value in %q", tag)
			}
			if _, dup := a.attrs[name]; dup {
				t.Fatalf("duplicate attribute %s", name)
			}
			a.attrs[name] = html.UnescapeString(value)
			tag = rest
		}
		page = page[end+1:]
		close := strings.Index(page, "</a>")
		if close < 0 {
			t.Fatal("missing </a>")
		}
		a.text = html.UnescapeString(page[:close])
		page = page[close+4:]
		out = append(out, a)
	}
}

// keeps reports whether the Index keeps a record of name's page in form k.
func (fx *fixture) keeps(name string, k pages.Kind) bool {
	c, _, fresh := fx.ix.served.read(name, pageSlots[k], 0)
	c.close()
	return fresh
}
