package critical

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"wharf/internal/store"
)

const demoPath = "/packages/3f/a1/9c0e5b7d2a4f6e8c1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a2c4e6b8d1f3a5/demo_pkg-1.0-py3-none-any.whl"

func TestParse(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	demo := Download{Time: at("2026-10-10T20:55:36Z"), Filename: "demo_pkg-1.0-py3-none-any.whl"}
	for _, tc := range []struct {
		name    string
		line    string
		want    Download
		skip    Skip
		wantErr error
	}{
		{name: "common format",
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326`,
			want: demo},
		{name: "combined format",
			line: `192.0.2.7 - frank [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326 "https://example.org/simple/demo-pkg/" "pip/24.0 CPython/3.12.1"`,
			want: demo},
		{name: "IPv6 client",
			line: `2001:db8::8a2e:370:7334 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/2.0" 200 2326 "-" "pip/24.0"`,
			want: demo},
		{name: "Apache's escaped quotes in the agent",
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326 "-" "pip/24.0 {\"ci\":null,\"cpu\":\"x86_64\",\"implementation\":{\"name\":\"CPython\"}}"`,
			want: demo},
		{name: "nginx's escaped quotes in the agent",
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326 "-" "pip/24.0 {\x22ci\x22:null}"`,
			want: demo},
		{name: "a quote inside the agent, unescaped",
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326 "-" "curl "quoted" 8.5"`,
			want: demo},
		{name: "missing referrer",
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326 "-" "-"`,
			want: demo},
		{name: "fields appended after the agent",
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326 "-" "pip/24.0" files.example.org 0.004`,
			want: demo},
		{name: "a user name with a space",
			line: `192.0.2.7 - Jane Doe [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326`,
			want: demo},
		{name: "no size",
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 200`,
			want: demo},
		{name: "HTTP/0.9 request without protocol",
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + `" 200 2326`,
			want: demo},
		{name: "the offset moves the line to the next UTC day",
			line: `192.0.2.7 - - [31/Dec/2026:23:30:00 -0130] "GET ` + demoPath + ` HTTP/1.1" 200 2326`,
			want: Download{Time: at("2027-01-01T01:00:00Z"), Filename: demo.Filename}},
		{name: "a positive offset moves it to the day before",
			line: `192.0.2.7 - - [01/Mar/2028:03:00:00 +0530] "GET ` + demoPath + ` HTTP/1.1" 200 2326`,
			want: Download{Time: at("2028-02-29T21:30:00Z"), Filename: demo.Filename}},
		{name: "query string",
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + `?ref=ci&x=%2F HTTP/1.1" 200 2326`,
			want: demo},
		{name: "fragment",
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + `#sha256=3fa1 HTTP/1.1" 200 2326`,
			want: demo},
		{name: "percent-encoded filename",
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET /packages/3f/a1/9c0e/demo%5Fpkg-1.0%2Blocal.tar.gz HTTP/1.1" 200 2326`,
			want: Download{Time: demo.Time, Filename: "demo_pkg-1.0+local.tar.gz"}},
		{name: "absolute-form target of a proxy",
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET https://files.example.org` + demoPath + ` HTTP/1.1" 200 2326`,
			want: demo},
		{name: "a mirror's own path before the name",
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET /packages/cp312/d/demo_pkg-1.0-py3-none-any.whl HTTP/1.1" 200 2326`,
			want: demo},

		{name: "HEAD", skip: SkipMethod,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "HEAD ` + demoPath + ` HTTP/1.1" 200 0`},
		{name: "lower-case get", skip: SkipMethod,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "get ` + demoPath + ` HTTP/1.1" 200 2326`},
		{name: "partial content", skip: SkipStatus,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 206 1024`},
		{name: "not modified", skip: SkipStatus,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 304 0`},
		{name: "not found", skip: SkipStatus,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 404 9`},
		{name: "an index page", skip: SkipPath,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET /simple/demo-pkg/ HTTP/1.1" 200 812`},
		{name: "an upload", skip: SkipPath,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "POST /legacy/ HTTP/1.1" 200 0`},
		{name: "core metadata", skip: SkipPath,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + `.metadata HTTP/1.1" 200 1302`},
		{name: "a file without a directory", skip: SkipPath,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET /packages/demo_pkg-1.0.tar.gz HTTP/1.1" 200 2326`},
		{name: "a directory", skip: SkipPath,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET /packages/3f/a1/ HTTP/1.1" 200 2326`},
		{name: "packages not at the start", skip: SkipPath,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET /mirror/packages/3f/demo_pkg-1.0.tar.gz HTTP/1.1" 200 2326`},
		{name: "a bad percent-encoding", skip: SkipPath,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET /packages/3f/demo%zzpkg-1.0.tar.gz HTTP/1.1" 200 2326`},
		{name: "no request (nginx after a bad request)", skip: SkipPath,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "-" 400 0 "-" "-"`},
		{name: "TLS bytes sent to the plain port", skip: SkipPath,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" 400 157 "-" "-"`},

		{name: "empty", line: ``, wantErr: errNoClient},
		{name: "no timestamp", wantErr: errNoTime,
			line: `192.0.2.7 - - "GET ` + demoPath + ` HTTP/1.1" 200 2326`},
		{name: "unclosed timestamp", wantErr: errNoTime,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700 "GET ` + demoPath + ` HTTP/1.1" 200 2326`},
		{name: "ISO timestamp", wantErr: errBadTime,
			line: `192.0.2.7 - - [2026-10-10T13:55:36-07:00] "GET ` + demoPath + ` HTTP/1.1" 200 2326`},
		{name: "no zone", wantErr: errBadTime,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36] "GET ` + demoPath + ` HTTP/1.1" 200 2326`},
		{name: "milliseconds", wantErr: errBadTime,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36.123 -0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326`},
		{name: "unknown month", wantErr: errBadTime,
			line: `192.0.2.7 - - [10/Okt/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326`},
		{name: "31 February", wantErr: errBadTime,
			line: `192.0.2.7 - - [31/Feb/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326`},
		{name: "hour 24", wantErr: errBadTime,
			line: `192.0.2.7 - - [10/Oct/2026:24:00:00 -0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326`},
		{name: "day 0", wantErr: errBadTime,
			line: `192.0.2.7 - - [00/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326`},
		{name: "a sign-less zone", wantErr: errBadTime,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 0700] "GET ` + demoPath + ` HTTP/1.1" 200 2326`},
		{name: "unquoted request", wantErr: errNoRequest,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] GET ` + demoPath + ` HTTP/1.1 200 2326`},
		{name: "a request cut off", wantErr: errNoRequest,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath},
		{name: "an escaped quote does not end the request", wantErr: errNoRequest,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET /packages/3f/x.whl HTTP/1.1\" 200 2326`},
		{name: "no status", wantErr: errNoStatus,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1"`},
		{name: "a status of letters", wantErr: errNoStatus,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" OK 2326`},
		{name: "a four-digit status", wantErr: errNoStatus,
			line: `192.0.2.7 - - [10/Oct/2026:13:55:36 -0700] "GET ` + demoPath + ` HTTP/1.1" 2000 2326`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, skip, err := Parse([]byte(tc.line))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if skip != tc.skip {
				t.Errorf("skip = %d, want %d", skip, tc.skip)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("download (-want +got):\n%s", diff)
			}
		})
	}
}

// logStore is an in-memory LogStore with the database's rules: a digest counts once, a failed batch stores nothing.
type logStore struct {
	files   map[string]int64
	digests map[[16]byte]bool
	counts  map[string]map[int64]int64 // day -> project -> downloads
	lookups [][]string
	batches int
	failAt  int // fail the batch with this number (from 1), when not 0
}

func newLogStore(files map[string]int64) *logStore {
	return &logStore{files: files, digests: map[[16]byte]bool{}, counts: map[string]map[int64]int64{}}
}

func (s *logStore) ProjectsOfFiles(_ context.Context, names []string) (map[string]int64, error) {
	s.lookups = append(s.lookups, append([]string(nil), names...))
	out := map[string]int64{}
	for _, n := range names {
		if id, ok := s.files[n]; ok {
			out[n] = id
		}
	}
	return out, nil
}

func (s *logStore) ImportDownloads(_ context.Context, lines []store.DownloadLine) (map[int64]int64, error) {
	s.batches++
	if s.batches == s.failAt {
		return nil, errors.New("database unavailable")
	}
	added := map[int64]int64{}
	for _, l := range lines {
		if s.digests[l.Digest] {
			continue
		}
		s.digests[l.Digest] = true
		if s.counts[l.Day] == nil {
			s.counts[l.Day] = map[int64]int64{}
		}
		s.counts[l.Day][l.ProjectID]++
		added[l.ProjectID]++
	}
	return added, nil
}

// logLine writes a combined-format line of a GET of path answered with status on the given UTC day and second.
func logLine(client, day string, second int, method, path string, status int) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		panic(err)
	}
	t = t.Add(time.Duration(second) * time.Second).In(time.FixedZone("", -7*3600))
	return fmt.Sprintf(`%s - - [%s] "%s %s HTTP/1.1" %d 2326 "-" "pip/24.0 {\"ci\":null}"`+"\n",
		client, t.Format("02/Jan/2006:15:04:05 -0700"), method, path, status)
}

func filePath(name string) string { return "/packages/3f/a1/9c0e5b7d/" + name }

func importAll(t *testing.T, im *Importer, logs map[string]string) {
	t.Helper()
	for _, name := range []string{"access.log.1", "access.log"} {
		if err := im.Import(context.Background(), name, strings.NewReader(logs[name])); err != nil {
			t.Fatalf("import %s: %v", name, err)
		}
	}
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestImporter(t *testing.T) {
	ctx := context.Background()
	files := map[string]int64{"demo-1.0.tar.gz": 1, "demo-1.0-py3-none-any.whl": 1, "other-2.0.tar.gz": 2}
	var mixed strings.Builder
	mixed.WriteString(logLine("192.0.2.1", "2026-03-01", 10, "GET", filePath("demo-1.0.tar.gz"), 200))
	mixed.WriteString(logLine("192.0.2.2", "2026-03-01", 11, "GET", filePath("demo-1.0-py3-none-any.whl"), 200))
	mixed.WriteString(strings.TrimSuffix(logLine("192.0.2.3", "2026-03-01", 12, "GET", filePath("other-2.0.tar.gz"), 200), "\n") + "\r\n")
	mixed.WriteString(logLine("2001:db8::1", "2026-03-02", 5, "GET", filePath("other-2.0.tar.gz"), 200))
	mixed.WriteString(logLine("192.0.2.1", "2026-03-01", 10, "GET", filePath("demo-1.0.tar.gz"), 200)) // identical: counts once
	mixed.WriteString(logLine("192.0.2.4", "2026-03-01", 13, "GET", "/simple/demo/", 200))
	mixed.WriteString(logLine("192.0.2.4", "2026-03-01", 14, "GET", filePath("demo-1.0-py3-none-any.whl.metadata"), 200))
	mixed.WriteString(logLine("192.0.2.4", "2026-03-01", 15, "HEAD", filePath("demo-1.0.tar.gz"), 200))
	mixed.WriteString(logLine("192.0.2.4", "2026-03-01", 16, "GET", filePath("demo-1.0.tar.gz"), 304))
	mixed.WriteString(logLine("192.0.2.4", "2026-03-01", 17, "GET", filePath("gone-1.0.tar.gz"), 200))
	mixed.WriteString(logLine("192.0.2.5", "2026-03-01", 18, "GET", filePath("gone-1.0.tar.gz"), 200))
	mixed.WriteString("not a log line\n")
	mixed.WriteString("\n")
	mixed.WriteString(`192.0.2.6 - - [01/Mar/2026:00:00:00 +0000] "GET ` + filePath("x-1.whl") + ` HTTP/1.1" 200 1 "-" "` + strings.Repeat("A", maxLine) + "\"\n")
	mixed.WriteString(strings.TrimSuffix(logLine("192.0.2.7", "2026-03-02", 6, "GET", filePath("demo-1.0.tar.gz"), 200), "\n"))
	log := mixed.String()
	wantCounts := map[string]map[int64]int64{"2026-03-01": {1: 2, 2: 1}, "2026-03-02": {2: 1}}
	wantStats := ImportStats{Files: 1, Lines: 15, Downloads: 4, Projects: 2, AlreadyImported: 1, OtherPaths: 2,
		OtherMethods: 1, OtherStatuses: 1, UnknownFiles: 2, Unparseable: 4, FirstUnparseable: "access.log:12: " + errNoTime.Error()}

	t.Run("one log", func(t *testing.T) {
		s := newLogStore(files)
		im := NewImporter(s, ImportOptions{})
		if err := im.Import(ctx, "access.log", strings.NewReader(log)); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantStats, im.Stats()); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantCounts, s.counts); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}

		// Again, as another run would: nothing more counts, and the line cut off is still not counted.
		again := NewImporter(s, ImportOptions{})
		if err := again.Import(ctx, "access.log", strings.NewReader(log)); err != nil {
			t.Fatal(err)
		}
		if st := again.Stats(); st.Downloads != 0 || st.AlreadyImported != 5 || st.Projects != 0 {
			t.Errorf("second import: %+v; want 0 downloads, 5 already imported, 0 projects", st)
		}
		if diff := cmp.Diff(wantCounts, s.counts); diff != "" {
			t.Errorf("counts after a second import (-want +got):\n%s", diff)
		}

		// Once the line is complete, it counts.
		if err := again.Import(ctx, "access.log", strings.NewReader(log+"\n")); err != nil {
			t.Fatal(err)
		}
		if n := s.counts["2026-03-02"][1]; n != 1 {
			t.Errorf("the completed line: demo on 2026-03-02 = %d, want 1", n)
		}
	})

	t.Run("gzip, told by its bytes", func(t *testing.T) {
		s := newLogStore(files)
		im := NewImporter(s, ImportOptions{})
		if err := im.Import(ctx, "access.log", bytes.NewReader(gzipped(t, log))); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantStats, im.Stats()); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantCounts, s.counts); diff != "" {
			t.Errorf("counts (-want +got):\n%s", diff)
		}
	})

	t.Run("a broken gzip stream is an error after the lines before it", func(t *testing.T) {
		s := newLogStore(files)
		z := gzipped(t, log)
		err := NewImporter(s, ImportOptions{}).Import(ctx, "access.log.gz", bytes.NewReader(z[:len(z)-12]))
		if err == nil || !strings.Contains(err.Error(), "access.log.gz") {
			t.Fatalf("truncated gzip: %v, want an error naming the file", err)
		}
		if len(s.counts) == 0 {
			t.Error("the lines before the break were not counted")
		}
	})

	t.Run("overlapping logs", func(t *testing.T) {
		var rotated, current strings.Builder
		for i := range 10 {
			l := logLine("192.0.2.1", "2026-03-01", i, "GET", filePath("demo-1.0.tar.gz"), 200)
			if i < 7 {
				rotated.WriteString(l)
			}
			if i >= 5 {
				current.WriteString(l)
			}
		}
		s := newLogStore(files)
		im := NewImporter(s, ImportOptions{BatchSize: 3})
		importAll(t, im, map[string]string{"access.log.1": rotated.String(), "access.log": current.String()})
		if st := im.Stats(); st.Files != 2 || st.Lines != 12 || st.Downloads != 10 || st.AlreadyImported != 2 {
			t.Errorf("stats = %+v; want 2 files, 12 lines, 10 downloads, 2 already imported", st)
		}
		if n := s.counts["2026-03-01"][1]; n != 10 {
			t.Errorf("demo = %d, want 10", n)
		}
	})

	t.Run("batches and the filename cache", func(t *testing.T) {
		// Four batches: two known files, then an unknown one, then the two again, then the unknown one again.
		var b strings.Builder
		for i, names := range [][]string{{"demo-1.0.tar.gz", "other-2.0.tar.gz"}, {"gone-1.0.tar.gz"}, {"demo-1.0.tar.gz", "other-2.0.tar.gz"}, {"gone-1.0.tar.gz"}} {
			for j := range 100 {
				b.WriteString(logLine("192.0.2.1", "2026-03-01", 100*i+j, "GET", filePath(names[j%len(names)]), 200))
			}
		}
		s := newLogStore(files)
		im := NewImporter(s, ImportOptions{BatchSize: 100})
		if err := im.Import(ctx, "access.log", strings.NewReader(b.String())); err != nil {
			t.Fatal(err)
		}
		// A name is looked up once, the unknown one included.
		want := [][]string{{"demo-1.0.tar.gz", "other-2.0.tar.gz"}, {"gone-1.0.tar.gz"}}
		if diff := cmp.Diff(want, s.lookups, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" || s.batches != 4 {
			t.Errorf("lookups in %d batches (-want +got):\n%s", s.batches, diff)
		}
		if st := im.Stats(); st.Downloads != 200 || st.UnknownFiles != 200 {
			t.Errorf("stats = %+v; want 200 downloads, 200 unknown files", st)
		}

		// A cache of two names is emptied whenever a batch brings a third: names come back with a new lookup, and
		// the counts do not change.
		small := newLogStore(files)
		im = NewImporter(small, ImportOptions{BatchSize: 100, CacheSize: 2})
		if err := im.Import(ctx, "access.log", strings.NewReader(b.String())); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(append(want, want...), small.lookups, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
			t.Errorf("lookups with a cache of two (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(s.counts, small.counts); diff != "" {
			t.Errorf("counts with a small cache (-large +small):\n%s", diff)
		}
	})

	t.Run("a failed batch stops the import; a re-run completes it", func(t *testing.T) {
		var b strings.Builder
		for i := range 10 {
			b.WriteString(logLine("192.0.2.1", "2026-03-01", i, "GET", filePath("demo-1.0.tar.gz"), 200))
		}
		s := newLogStore(files)
		s.failAt = 2
		if err := NewImporter(s, ImportOptions{BatchSize: 4}).Import(ctx, "access.log", strings.NewReader(b.String())); err == nil {
			t.Fatal("no error from a failed batch")
		}
		if n := s.counts["2026-03-01"][1]; n != 4 {
			t.Errorf("after the failure: demo = %d, want the first batch's 4", n)
		}
		s.failAt = 0
		im := NewImporter(s, ImportOptions{BatchSize: 4})
		if err := im.Import(ctx, "access.log", strings.NewReader(b.String())); err != nil {
			t.Fatal(err)
		}
		if n, st := s.counts["2026-03-01"][1], im.Stats(); n != 10 || st.Downloads != 6 || st.AlreadyImported != 4 {
			t.Errorf("after the re-run: demo = %d, stats %+v; want 10, 6 new, 4 already imported", n, st)
		}
	})

	t.Run("progress and cancellation", func(t *testing.T) {
		var b strings.Builder
		for i := range 3*progressEvery + 5 {
			b.WriteString(logLine("192.0.2.1", "2026-03-01", i, "GET", "/simple/", 200))
		}
		var seen []int64
		im := NewImporter(newLogStore(files), ImportOptions{Progress: func(n int64) { seen = append(seen, n) }})
		if err := im.Import(ctx, "access.log", strings.NewReader(b.String())); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]int64{progressEvery, 2 * progressEvery, 3 * progressEvery, 3*progressEvery + 5}, seen); diff != "" {
			t.Errorf("progress calls (-want +got):\n%s", diff)
		}
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		err := NewImporter(newLogStore(files), ImportOptions{}).Import(cancelled, "access.log", strings.NewReader(b.String()))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled import: %v", err)
		}
	})
}
