package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestMetricsRoute: /metrics serves what the registry gathers in Prometheus's text format, and is absent unless
// the server is given a registry (WHARF_METRICS=false).
func TestMetricsRoute(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "wharf_test_gauge", Help: "A gauge for the test."})
	g.Set(42)
	reg.MustRegister(g)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	with := httptest.NewServer(New(fakeIndex{}, fakeUploads{}, pinger{}, logger, WithMetrics(reg)).Handler())
	t.Cleanup(with.Close)
	resp, err := http.Get(with.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || expfmt.ResponseFormat(resp.Header).FormatType() != expfmt.TypeTextPlain {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if f := families["wharf_test_gauge"]; f == nil || f.GetMetric()[0].GetGauge().GetValue() != 42 {
		t.Errorf("wharf_test_gauge = %v", f)
	}
	if resp, err := http.Post(with.URL+"/metrics", "text/plain", nil); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /metrics: %v %v", resp.StatusCode, err)
	}

	without := httptest.NewServer(New(fakeIndex{}, fakeUploads{}, pinger{}, logger).Handler())
	t.Cleanup(without.Close)
	resp, err = http.Get(without.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics without metrics: %d, want 404", resp.StatusCode)
	}
}
