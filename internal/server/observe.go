package server

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// observer counts every request by route and status, times it, measures accepted uploads, and writes the access
// log: what an operator of several instances watches. Each part is optional: without metrics or an access log the
// handler is not wrapped at all, so the read path pays for neither.
type observer struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	uploads   prometheus.Histogram
	accessLog *slog.Logger

	// byRoute holds each route's and status's counter and each route's histogram once resolved: resolving them
	// from their labels hashes the labels, a cost every request of the read path would pay.
	byRoute sync.Map // routeStatus -> *routeSeries
}

type routeStatus struct {
	route string
	code  int
}

type routeSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

func newObserver(reg prometheus.Registerer, accessLog *slog.Logger) *observer {
	o := &observer{accessLog: accessLog}
	if reg == nil {
		return o
	}
	o.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wharf_http_requests_total",
		Help: "HTTP requests answered, by route (the route table's pattern) and status code.",
	}, []string{"route", "code"})
	o.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "wharf_http_request_duration_seconds",
		Help: "Time from the request's head to the end of its handler, by route.",
		// From a cached page (tens of microseconds) to a large upload (tens of seconds).
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"route"})
	o.uploads = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "wharf_upload_bytes",
		Help:    "Size of the upload requests that were accepted (the form with its file).",
		Buckets: prometheus.ExponentialBuckets(16<<10, 4, 9), // 16 KiB to 1 GiB
	})
	reg.MustRegister(o.requests, o.latency, o.uploads)
	return o
}

// wrap returns next with the observer around it, or next itself when there is nothing to observe.
func (o *observer) wrap(next http.Handler) http.Handler {
	if o.requests == nil && o.accessLog == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := recorders.Get().(*recorder)
		rec.ResponseWriter, rec.code, rec.bytes = w, 0, 0
		next.ServeHTTP(rec, r)
		o.done(r, rec, time.Since(start))
		rec.ResponseWriter = nil
		recorders.Put(rec)
	})
}

func (o *observer) done(r *http.Request, rec *recorder, took time.Duration) {
	code := rec.code
	if code == 0 {
		code = http.StatusOK // a handler that wrote nothing answered 200
	}
	// The pattern the route table matched (ServeMux sets it on the request); the path itself is not a label: it
	// would make one series per project.
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	if o.requests != nil {
		s := o.series(route, code)
		s.requests.Inc()
		s.latency.Observe(took.Seconds())
		if route == "POST /legacy/{$}" || route == "POST /legacy" {
			if code == http.StatusOK && r.ContentLength > 0 {
				o.uploads.Observe(float64(r.ContentLength))
			}
		}
	}
	if o.accessLog != nil {
		// The path without its query: a query may carry a verification or reset token. No header is logged:
		// Authorization and Cookie carry credentials. A path holds a project's name, a version, a file's hash and
		// name, or a user's name, all of them public.
		o.accessLog.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("route", route),
			slog.Int("status", code), slog.Int64("bytes", rec.bytes), slog.Duration("duration", took),
			slog.String("remote", r.RemoteAddr), slog.String("user_agent", r.UserAgent()))
	}
}

func (o *observer) series(route string, code int) *routeSeries {
	key := routeStatus{route, code}
	if s, ok := o.byRoute.Load(key); ok {
		return s.(*routeSeries)
	}
	s := &routeSeries{requests: o.requests.WithLabelValues(route, strconv.Itoa(code)), latency: o.latency.WithLabelValues(route)}
	actual, _ := o.byRoute.LoadOrStore(key, s)
	return actual.(*routeSeries)
}

// recorder notes the status and the bytes of a response (writeReasonPhrase notes the status of what it writes on a
// hijacked connection). It keeps the writer's ReadFrom, through which the index
// root's files go out with sendfile, and Unwrap, through which http.ResponseController reaches the connection.
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int64
}

var recorders = sync.Pool{New: func() any { return new(recorder) }}

func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	var n int64
	var err error
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		n, err = rf.ReadFrom(src)
	} else {
		n, err = io.Copy(writerOnly{r.ResponseWriter}, src)
	}
	r.bytes += n
	return n, err
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack keeps the upload refusals' reason phrase (writeReasonPhrase), which is written on the connection itself.
func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := r.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	return hj.Hijack()
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// writerOnly hides ReadFrom, so that io.Copy goes through Write.
type writerOnly struct{ io.Writer }
