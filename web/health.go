package web

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// healthz answers 200 while the database can be read, 503 otherwise. It
// needs no credentials and shows no data, for load balancers and probes.
func (s *Server) healthz(c *gin.Context) {
	if _, err := s.store.CountUsers(); err != nil {
		s.log.Error("health check failed", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "error", "error": "database unavailable"})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok", "version": s.opts.Version})
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "touchpoint_http_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "touchpoint_http_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	// The process and runtime collectors may already be registered by the
	// caller sharing the registry; that is fine.
	_ = reg.Register(collectors.NewGoCollector())
	_ = reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *httpMetrics) observe(method, route string, code int, d time.Duration) {
	m.requests.WithLabelValues(method, route, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(method, route).Observe(d.Seconds())
}

// metricsHandler serves the Prometheus text format. The metrics are counts
// and latencies, no personal data, so the endpoint is open like /healthz;
// bind the HTTP address to a private interface or filter it at the proxy.
func (s *Server) metricsHandler() gin.HandlerFunc {
	h := promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{ErrorLog: nil})
	return gin.WrapH(h)
}
