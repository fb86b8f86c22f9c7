package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"wharf/internal/httperror"
)

// lockedBuffer is an access log's destination that the test reads while the server may still write.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func observedServer(t *testing.T, uploadErr error) (*httptest.Server, *prometheus.Registry, *lockedBuffer) {
	reg := prometheus.NewRegistry()
	var logs lockedBuffer
	s := New(fakeIndex{}, fakeUploads{uploadErr}, pinger{}, slog.New(slog.NewTextHandler(io.Discard, nil)),
		WithMetrics(reg), WithAccessLog(slog.New(slog.NewJSONHandler(&logs, nil))))
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return ts, reg, &logs
}

// TestRequestMetrics: requests are counted by the route table's pattern and their status, the 500 of a panic and
// the status of an upload refusal written on the hijacked connection included, and accepted uploads are measured.
func TestRequestMetrics(t *testing.T) {
	ts, reg, _ := observedServer(t, nil)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) {
		resp, err := client.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("/simple/")
	get("/simple/")
	get("/simple/demo")
	get("/pypi/demo/json")
	get("/packages/aa/bb/cc/x.whl") // the handler panics
	get("/nowhere")
	resp, err := http.Post(ts.URL+"/legacy/", "text/plain", strings.NewReader(strings.Repeat("x", 1000)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	refusing, reg2, _ := observedServer(t, httperror.New(http.StatusBadRequest, "File already exists."))
	resp, err = http.Post(refusing.URL+"/legacy/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Status != "400 File already exists." {
		t.Errorf("the refusal's status line is %q: the observer hid the connection from writeReasonPhrase", resp.Status)
	}

	requests := func(reg *prometheus.Registry, route, code string) float64 {
		t.Helper()
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			if f.GetName() != "wharf_http_requests_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["route"] == route && labels["code"] == code {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	for _, c := range []struct {
		reg         *prometheus.Registry
		route, code string
		want        float64
	}{
		{reg, "GET /simple/{$}", "200", 2},
		{reg, "GET /simple/{project}", "301", 1},
		{reg, "GET /pypi/{project}/json", "404", 1},
		{reg, "GET /packages/{path...}", "500", 1},
		{reg, "GET /", "404", 1},
		{reg, "POST /legacy/{$}", "200", 1},
		{reg2, "POST /legacy/{$}", "400", 1},
	} {
		// A refusal written on the hijacked connection reaches the client before its handler returns and the
		// observer counts it: wait a little for the count.
		got := requests(c.reg, c.route, c.code)
		for deadline := time.Now().Add(5 * time.Second); got != c.want && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
			got = requests(c.reg, c.route, c.code)
		}
		if got != c.want {
			t.Errorf("wharf_http_requests_total{route=%q,code=%q} = %v, want %v", c.route, c.code, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(reg, "wharf_http_request_duration_seconds"); n != 6 {
		t.Errorf("%d latency histograms, want one per route asked (6)", n)
	}
	upload, err := testutil.GatherAndCount(reg, "wharf_upload_bytes")
	if err != nil || upload != 1 {
		t.Errorf("wharf_upload_bytes: %d series, %v", upload, err)
	}
	if n := testutil.CollectAndCount(reg2, "wharf_upload_bytes"); n != 1 {
		t.Errorf("wharf_upload_bytes of the refusing server: %d series", n)
	}
}

// TestAccessLog: one JSON line per request, with the path but not its query (a reset or verification link carries
// its token there), and no header: not Authorization, not Cookie.
func TestAccessLog(t *testing.T) {
	ts, _, logs := observedServer(t, nil)
	req, _ := http.NewRequest("GET", ts.URL+"/simple/?token=query-secret", nil)
	req.Header.Set("Authorization", "Basic header-secret")
	req.Header.Set("Cookie", "session=cookie-secret")
	req.Header.Set("User-Agent", "pip/24.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ts.Close() // the handler has returned, and logged, once the server is closed

	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d access log lines, want 1:\n%s", len(lines), logs)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{"msg": "request", "method": "GET", "path": "/simple/", "route": "GET /simple/{$}",
		"status": 200.0, "bytes": 4.0, "user_agent": "pip/24.0"} {
		if rec[k] != want {
			t.Errorf("%s = %v, want %v (%s)", k, rec[k], want, lines[0])
		}
	}
	for _, secret := range []string{"query-secret", "header-secret", "cookie-secret"} {
		if strings.Contains(lines[0], secret) {
			t.Errorf("the access log has %s: %s", secret, lines[0])
		}
	}
}

// BenchmarkObserver is what counting, timing and logging add to a request that costs nothing else (the root of the
// fake index): the read path's overhead when metrics are on (the default) and the access log off.
func BenchmarkObserver(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"off", nil},
		{"metrics", []Option{WithMetrics(prometheus.NewRegistry())}},
		{"metrics+log", []Option{WithMetrics(prometheus.NewRegistry()), WithAccessLog(slog.New(slog.NewJSONHandler(io.Discard, nil)))}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			h := New(fakeIndex{}, fakeUploads{}, pinger{}, quiet, tc.opts...).Handler()
			r := httptest.NewRequest("GET", "/simple/", nil)
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		})
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
