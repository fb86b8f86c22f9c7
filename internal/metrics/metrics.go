// Package metrics gives Prometheus the 2FA adoption figures (internal/adoption) as gauges, beside the Go runtime's
// and the process's standard metrics. The figures are aggregates with no personal data; a scrape reads them from
// a copy at most CacheFor old, so that however often /metrics is asked, the database counts at most once per
// CacheFor. internal/server serves the registry at /metrics.
package metrics

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"wharf/internal/store"
)

// CacheFor is how long a reading of the figures serves scrapes; a failed reading is tried again after retryAfter.
const (
	CacheFor   = 30 * time.Second
	retryAfter = 5 * time.Second
	// readTimeout bounds one reading: a scrape carries no context of its own.
	readTimeout = 10 * time.Second
)

// Source reads the figures now; *adoption.Tracker satisfies it.
type Source interface {
	Current(ctx context.Context) (store.Adoption, error)
}

// Collector is a prometheus.Collector of the adoption figures.
type Collector struct {
	src Source
	now func() time.Time
	log *slog.Logger

	// mu is held across a reading, so that concurrent scrapes wait for one query rather than each making one.
	mu      sync.Mutex
	figures store.Adoption
	err     error
	until   time.Time // when the reading (figures or err) stops serving
}

var (
	maintainers = prometheus.NewDesc("wharf_maintainers",
		"Accounts with an Owner or Maintainer role on at least one project.", nil, nil)
	maintainers2FA = prometheus.NewDesc("wharf_maintainers_with_2fa",
		"Maintainers (wharf_maintainers) with a second factor: an authenticator app, a security key or a passkey.", nil, nil)
	maintainersWebAuthn = prometheus.NewDesc("wharf_maintainers_with_webauthn",
		"Maintainers (wharf_maintainers) with a security key or passkey (WebAuthn).", nil, nil)
	criticalProjects = prometheus.NewDesc("wharf_critical_projects",
		"Projects designated critical.", nil, nil)
	criticalMaintainers = prometheus.NewDesc("wharf_critical_maintainers",
		"Accounts with an Owner or Maintainer role on at least one critical project.", nil, nil)
	criticalMaintainers2FA = prometheus.NewDesc("wharf_critical_maintainers_with_2fa",
		"Maintainers of critical projects (wharf_critical_maintainers) with a second factor.", nil, nil)
	criticalMaintainersWebAuthn = prometheus.NewDesc("wharf_critical_maintainers_with_webauthn",
		"Maintainers of critical projects (wharf_critical_maintainers) with a security key or passkey (WebAuthn).", nil, nil)
	recentUploads = prometheus.NewDesc("wharf_uploads_24h",
		`Files uploaded in the last 24 hours (deleted ones included), by whether the uploading account had a second factor without a break since before the upload (two_factor="yes") or not ("no"; an account that has since removed its last factor counts here).`,
		[]string{"two_factor"}, nil)
)

// NewCollector builds a Collector that reads src.
func NewCollector(src Source, now func() time.Time, log *slog.Logger) *Collector {
	return &Collector{src: src, now: now, log: log}
}

// Describe sends the descriptions of every metric the collector sends.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{maintainers, maintainers2FA, maintainersWebAuthn, criticalProjects,
		criticalMaintainers, criticalMaintainers2FA, criticalMaintainersWebAuthn, recentUploads} {
		ch <- d
	}
}

// Collect sends the figures, read now or at most CacheFor ago. When they cannot be read it sends an invalid metric
// with the error, which the handler reports while it still serves the other collectors' metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	a, err := c.read()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(maintainers, err)
		return
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	gauge(maintainers, a.Maintainers)
	gauge(maintainers2FA, a.MaintainersWith2FA)
	gauge(maintainersWebAuthn, a.MaintainersWithWebAuthn)
	gauge(criticalProjects, a.CriticalProjects)
	gauge(criticalMaintainers, a.CriticalMaintainers)
	gauge(criticalMaintainers2FA, a.CriticalMaintainersWith2FA)
	gauge(criticalMaintainersWebAuthn, a.CriticalMaintainersWithWebAuthn)
	gauge(recentUploads, a.UploadsWith2FA, "yes")
	gauge(recentUploads, a.Uploads-a.UploadsWith2FA, "no")
}

func (c *Collector) read() (store.Adoption, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if now.Before(c.until) {
		return c.figures, c.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), readTimeout)
	defer cancel()
	c.figures, c.err = c.src.Current(ctx)
	if c.err != nil {
		c.log.Warn("adoption figures not read for /metrics", "err", c.err)
		c.until = now.Add(retryAfter)
	} else {
		c.until = now.Add(CacheFor)
	}
	return c.figures, c.err
}

// Register adds the adoption figures of src and the Go runtime's and the process's standard metrics to reg, for
// promhttp to serve.
func Register(reg prometheus.Registerer, src Source, now func() time.Time, log *slog.Logger) {
	reg.MustRegister(NewCollector(src, now, log), collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
}
