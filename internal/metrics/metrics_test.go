package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"wharf/internal/blob"
	"wharf/internal/metrics"
	"wharf/internal/simple"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// source counts its readings and answers with figures or err.
type source struct {
	mu      sync.Mutex
	figures store.Adoption
	err     error
	reads   int
}

func (s *source) Current(context.Context) (store.Adoption, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	return s.figures, s.err
}

func (s *source) set(a store.Adoption, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.figures, s.err = a, err
}

func (s *source) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reads
}

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var figures = store.Adoption{Maintainers: 120, MaintainersWith2FA: 80, MaintainersWithWebAuthn: 30, CriticalProjects: 4,
	CriticalMaintainers: 9, CriticalMaintainersWith2FA: 8, CriticalMaintainersWithWebAuthn: 5, Uploads: 50, UploadsWith2FA: 35}

const exposition = `
# HELP wharf_critical_maintainers Accounts with an Owner or Maintainer role on at least one critical project.
# TYPE wharf_critical_maintainers gauge
wharf_critical_maintainers 9
# HELP wharf_critical_maintainers_with_2fa Maintainers of critical projects (wharf_critical_maintainers) with a second factor.
# TYPE wharf_critical_maintainers_with_2fa gauge
wharf_critical_maintainers_with_2fa 8
# HELP wharf_critical_maintainers_with_webauthn Maintainers of critical projects (wharf_critical_maintainers) with a security key or passkey (WebAuthn).
# TYPE wharf_critical_maintainers_with_webauthn gauge
wharf_critical_maintainers_with_webauthn 5
# HELP wharf_critical_projects Projects designated critical.
# TYPE wharf_critical_projects gauge
wharf_critical_projects 4
# HELP wharf_maintainers Accounts with an Owner or Maintainer role on at least one project.
# TYPE wharf_maintainers gauge
wharf_maintainers 120
# HELP wharf_maintainers_with_2fa Maintainers (wharf_maintainers) with a second factor: an authenticator app, a security key or a passkey.
# TYPE wharf_maintainers_with_2fa gauge
wharf_maintainers_with_2fa 80
# HELP wharf_maintainers_with_webauthn Maintainers (wharf_maintainers) with a security key or passkey (WebAuthn).
# TYPE wharf_maintainers_with_webauthn gauge
wharf_maintainers_with_webauthn 30
# HELP wharf_uploads_24h Files uploaded in the last 24 hours (deleted ones included), by whether the uploading account had a second factor without a break since before the upload (two_factor="yes") or not ("no"; an account that has since removed its last factor counts here).
# TYPE wharf_uploads_24h gauge
wharf_uploads_24h{two_factor="no"} 15
wharf_uploads_24h{two_factor="yes"} 35
`

// TestCollector: every figure is a gauge with its help text, and the uploads are split by second factor.
func TestCollector(t *testing.T) {
	src := &source{figures: figures}
	c := metrics.NewCollector(src, (&clock{now: time.Unix(1e9, 0)}).Now, quiet)
	if err := testutil.CollectAndCompare(c, strings.NewReader(exposition)); err != nil {
		t.Error(err)
	}
	if problems, err := testutil.CollectAndLint(c); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// TestCollectorCaches: scrapes within CacheFor read the database once, however many and however concurrent; a
// failure is reported and tried again after a few seconds, not after CacheFor.
func TestCollectorCaches(t *testing.T) {
	src := &source{figures: figures}
	clk := &clock{now: time.Unix(1e9, 0)}
	c := metrics.NewCollector(src, clk.Now, quiet)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { testutil.CollectAndCount(c) })
	}
	wg.Wait()
	if n := src.count(); n != 1 {
		t.Fatalf("20 concurrent scrapes read the figures %d times, want once", n)
	}
	src.set(store.Adoption{Maintainers: 1}, nil)
	clk.Advance(metrics.CacheFor - time.Second)
	if err := testutil.CollectAndCompare(c, strings.NewReader(maintainersAre(120)), "wharf_maintainers"); err != nil {
		t.Errorf("within CacheFor, want the cached figures: %v", err)
	}
	clk.Advance(time.Second)
	if err := testutil.CollectAndCompare(c, strings.NewReader(maintainersAre(1)), "wharf_maintainers"); err != nil {
		t.Errorf("after CacheFor, want the new figures: %v", err)
	}
	if n := src.count(); n != 2 {
		t.Errorf("%d readings, want 2", n)
	}

	src.set(store.Adoption{}, errors.New("database away"))
	clk.Advance(metrics.CacheFor)
	if err := testutil.CollectAndCompare(c, strings.NewReader("")); err == nil || !strings.Contains(err.Error(), "database away") {
		t.Errorf("a failed reading: %v, want the error reported", err)
	}
	src.set(figures, nil)
	clk.Advance(5 * time.Second)
	if err := testutil.CollectAndCompare(c, strings.NewReader(exposition)); err != nil {
		t.Errorf("five seconds after a failure: %v", err)
	}
}

func maintainersAre(n int) string {
	return fmt.Sprintf(`
# HELP wharf_maintainers Accounts with an Owner or Maintainer role on at least one project.
# TYPE wharf_maintainers gauge
wharf_maintainers %d
`, n)
}

// TestRegistry: the registry holds the figures, the Go runtime's and the process's metrics, the page files', the
// connection pools' and the file store's failures, and writes valid text exposition format.
func TestRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	metrics.Register(reg, &source{figures: figures}, time.Now, quiet)
	db := storetest.OpenSQLite(t)
	metrics.Operations(reg, func() simple.FileStats { return simple.FileStats{Misses: 17, Failures: 2} }, db.Pools())
	dir := t.TempDir()
	disk, err := blob.NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	blobs := metrics.CountBlobErrors(reg, disk)
	// A missing object is an answer, not a failure; a store whose directory went away fails.
	if _, err := blobs.Open(t.Context(), strings.Repeat("a", 64)); !errors.Is(err, blob.ErrNotFound) {
		t.Fatalf("Open of a missing object: %v", err)
	}
	os.RemoveAll(dir)
	if _, err := blobs.NewWriter(t.Context()); err == nil {
		t.Fatal("NewWriter succeeded without its directory")
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	parsed, err := parser.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("the exposition does not parse: %v", err)
	}
	for _, name := range []string{"wharf_maintainers", "wharf_uploads_24h", "go_goroutines", "process_start_time_seconds"} {
		if _, ok := parsed[name]; !ok {
			t.Errorf("no %s among %d families", name, len(parsed))
		}
	}
	if got := parsed["wharf_critical_projects"].GetMetric()[0].GetGauge().GetValue(); got != 4 {
		t.Errorf("wharf_critical_projects = %v, want 4", got)
	}
	if got := parsed["wharf_page_file_misses_total"].GetMetric()[0].GetCounter().GetValue(); got != 17 {
		t.Errorf("wharf_page_file_misses_total = %v, want 17", got)
	}
	pools := map[string]bool{}
	for _, m := range parsed["go_sql_max_open_connections"].GetMetric() {
		for _, l := range m.GetLabel() {
			pools[l.GetValue()] = true
		}
	}
	if !pools["main"] || !pools["reads"] {
		t.Errorf("go_sql_max_open_connections for %v, want main and reads", pools)
	}
	errs := parsed["wharf_blob_errors_total"].GetMetric()
	if len(errs) != 1 || errs[0].GetLabel()[0].GetValue() != "write" || errs[0].GetCounter().GetValue() != 1 {
		t.Errorf("wharf_blob_errors_total = %v, want one failed write", errs)
	}
}
