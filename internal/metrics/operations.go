package metrics

import (
	"context"
	"database/sql"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"wharf/internal/blob"
	"wharf/internal/simple"
)

// Operations registers what an operator watches besides the requests (which internal/server counts) and the file
// store's failures (CountBlobErrors): the page cache and the database's connection pools, by name.
func Operations(reg prometheus.Registerer, cache func() simple.CacheStats, pools map[string]*sql.DB) {
	reg.MustRegister(pageCacheCollector{cache})
	for name, db := range pools {
		reg.MustRegister(collectors.NewDBStatsCollector(db, name))
	}
}

// CountBlobErrors returns blobs with its failures counted in reg, by operation.
func CountBlobErrors(reg prometheus.Registerer, blobs blob.Store) blob.Store {
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wharf_blob_errors_total",
		Help: "Failed operations of the file store (disk or S3), by operation; a missing object and a canceled request are not failures.",
	}, []string{"op"})
	reg.MustRegister(errs)
	return &countedBlobs{Store: blobs, errs: errs}
}

var (
	cacheMisses = prometheus.NewDesc("wharf_page_cache_misses_total",
		"Requests for a project page or JSON API document that the page cache did not hold (hits are the requests of those routes, in wharf_http_requests_total, less these).", nil, nil)
	cacheEvictions = prometheus.NewDesc("wharf_page_cache_evictions_total",
		"Projects dropped from the page cache to make room.", nil, nil)
	cacheBytes = prometheus.NewDesc("wharf_page_cache_bytes",
		"What the page cache holds, in bytes (bounded by WHARF_CACHE_SIZE).", nil, nil)
	cacheProjects = prometheus.NewDesc("wharf_page_cache_projects",
		"Projects with something in the page cache.", nil, nil)
)

type pageCacheCollector struct{ stats func() simple.CacheStats }

func (c pageCacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cacheMisses, cacheEvictions, cacheBytes, cacheProjects} {
		ch <- d
	}
}

func (c pageCacheCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(cacheMisses, prometheus.CounterValue, float64(st.Misses))
	ch <- prometheus.MustNewConstMetric(cacheEvictions, prometheus.CounterValue, float64(st.Evictions))
	ch <- prometheus.MustNewConstMetric(cacheBytes, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(cacheProjects, prometheus.GaugeValue, float64(st.Projects))
}

// countedBlobs counts the failures of a store's operations.
type countedBlobs struct {
	blob.Store
	errs *prometheus.CounterVec
}

// failed counts err under op when it is a failure of the store, and returns it.
func (c *countedBlobs) failed(op string, err error) error {
	if err != nil && !errors.Is(err, blob.ErrNotFound) && !errors.Is(err, blob.ErrInvalidKey) &&
		!errors.Is(err, context.Canceled) {
		c.errs.WithLabelValues(op).Inc()
	}
	return err
}

func (c *countedBlobs) NewWriter(ctx context.Context) (blob.Writer, error) {
	w, err := c.Store.NewWriter(ctx)
	if err != nil {
		return nil, c.failed("write", err)
	}
	return &countedWriter{Writer: w, c: c}, nil
}

func (c *countedBlobs) Open(ctx context.Context, key string) (blob.Object, error) {
	o, err := c.Store.Open(ctx, key)
	return o, c.failed("open", err)
}

func (c *countedBlobs) Stat(ctx context.Context, key string) (blob.Info, error) {
	i, err := c.Store.Stat(ctx, key)
	return i, c.failed("stat", err)
}

func (c *countedBlobs) Delete(ctx context.Context, key string) error {
	return c.failed("delete", c.Store.Delete(ctx, key))
}

type countedWriter struct {
	blob.Writer
	c *countedBlobs
}

func (w *countedWriter) Write(p []byte) (int, error) {
	n, err := w.Writer.Write(p)
	return n, w.c.failed("write", err)
}

func (w *countedWriter) Commit(ctx context.Context) (blob.Info, error) {
	i, err := w.Writer.Commit(ctx)
	if errors.Is(err, blob.ErrClosed) {
		return i, err // the caller's mistake, not the store's
	}
	return i, w.c.failed("commit", err)
}
