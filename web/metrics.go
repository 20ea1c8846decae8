package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// httpMetrics are the API's Prometheus series.
type httpMetrics struct {
	calls       *prometheus.CounterVec
	callSeconds *prometheus.HistogramVec
	requests    *prometheus.CounterVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chobi_trpc_calls_total", Help: "tRPC procedure calls by procedure and result code.",
		}, []string{"procedure", "code"}),
		callSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chobi_trpc_call_duration_seconds", Help: "tRPC procedure call latency.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"procedure"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chobi_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "status"}),
	}
	if reg != nil {
		reg.MustRegister(m.calls, m.callSeconds, m.requests)
	}
	return m
}

// observeCall is the tRPC router's Observe hook. It is only told of
// registered procedures, so a scanner cannot blow up the series count.
func (m *httpMetrics) observeCall(path, code string, d time.Duration) {
	m.calls.WithLabelValues(path, code).Inc()
	m.callSeconds.WithLabelValues(path).Observe(d.Seconds())
}

func (m *httpMetrics) observeHTTP(r *http.Request, status int, _ time.Duration) {
	route := "other"
	switch p := r.URL.Path; {
	case strings.HasPrefix(p, "/api/trpc/"):
		route = "trpc"
	case p == "/ws":
		route = "ws"
	case p == "/healthz" || p == "/readyz" || p == "/metrics":
		route = p[1:]
	case p == "/" || strings.HasPrefix(p, "/static/"):
		route = "page"
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
}
