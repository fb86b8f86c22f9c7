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
// store's failures (CountBlobErrors): the pages' files and the database's connection pools, by name.
func Operations(reg prometheus.Registerer, files func() simple.FileStats, pools map[string]*sql.DB) {
	reg.MustRegister(pageFileCollector{files})
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
	fileMisses = prometheus.NewDesc("wharf_page_file_misses_total",
		"Requests for a project page or JSON API document that no record of this instance's page log answered, so the database did (hits are the requests of those routes, in wharf_http_requests_total, less these).", nil, nil)
	fileFailures = prometheus.NewDesc("wharf_page_file_failures_total",
		"Records of the page log that could not be read or written (the database answered instead); the log says why, at most once a minute.", nil, nil)
)

type pageFileCollector struct{ stats func() simple.FileStats }

func (c pageFileCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- fileMisses
	ch <- fileFailures
}

func (c pageFileCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.stats()
	ch <- prometheus.MustNewConstMetric(fileMisses, prometheus.CounterValue, float64(st.Misses))
	ch <- prometheus.MustNewConstMetric(fileFailures, prometheus.CounterValue, float64(st.Failures))
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
