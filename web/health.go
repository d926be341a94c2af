package web

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"touchpoint/store"
)

// HealthCheck is one probe of /healthz: it returns why the service is
// degraded, in words an operator can act on, or "" when all is well.
type HealthCheck func() string

// Health statuses in GET /healthz.
const (
	HealthOK       = "ok"
	HealthDegraded = "degraded"
	HealthError    = "error"
)

// healthz answers 200 while the database can be read, 503 otherwise. It
// needs no credentials and shows no personal data, for load balancers and
// probes. A running daemon with a problem an operator must fix (low disk,
// a mailbox that cannot be polled) still answers 200, with status
// "degraded" and the reasons: it is serving, and restarting it would not
// help.
func (s *Server) healthz(c *gin.Context) {
	if _, err := s.store.CountUsers(); err != nil {
		s.logFor(c).Error("health check failed", "err", err)
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": HealthError, "error": "database unavailable"})
		return
	}
	reasons := []string{}
	for _, check := range s.opts.HealthChecks {
		if r := check(); r != "" {
			reasons = append(reasons, r)
		}
	}
	if s.opts.Mailboxes != nil {
		for _, m := range s.opts.Mailboxes.MailboxStatus() {
			if m.LastError != "" {
				reasons = append(reasons, fmt.Sprintf("IMAP mailbox %s: last poll failed: %s", m.Name, m.LastError))
			}
		}
	}
	status := HealthOK
	if len(reasons) > 0 {
		status = HealthDegraded
	}
	c.JSON(http.StatusOK, gin.H{"status": status, "reasons": reasons, "version": s.opts.Version})
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// Campaign sends and their recipients (see Server.CountCampaignSend).
	campaignSends      *prometheus.CounterVec
	campaignRecipients *prometheus.CounterVec
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
		campaignSends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "touchpoint_campaign_sends_total",
			Help: "Campaign sends recorded, by how they arrived (report: POST /api/v1/campaigns).",
		}, []string{"via"}),
		campaignRecipients: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "touchpoint_campaign_recipients_total",
			Help: "Campaign recipients recorded, by outcome (logged, duplicate, unmatched, rejected).",
		}, []string{"outcome"}),
	}
	for _, o := range []string{"logged", "duplicate", "unmatched", "rejected"} {
		m.campaignRecipients.WithLabelValues(o)
	}
	m.campaignSends.WithLabelValues(CampaignViaReport)
	reg.MustRegister(m.requests, m.duration, m.campaignSends, m.campaignRecipients)
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

// CampaignViaReport labels sends reported by outside tools through the API.
const CampaignViaReport = "report"

// CountCampaignSend records a campaign send in /metrics: one more send
// (touchpoint_campaign_sends_total{via}) when res created the campaign,
// and its recipients by outcome. The API calls it for reported sends;
// code that sends campaigns itself calls it with its own via label
// (e.g. "send") once the store has recorded the send.
func (s *Server) CountCampaignSend(via string, res *store.CampaignResult) {
	m := s.metrics
	if res.Created {
		m.campaignSends.WithLabelValues(via).Inc()
	}
	m.campaignRecipients.WithLabelValues("logged").Add(float64(res.Logged))
	m.campaignRecipients.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	m.campaignRecipients.WithLabelValues("unmatched").Add(float64(res.UnmatchedCount))
	m.campaignRecipients.WithLabelValues("rejected").Add(float64(res.RejectedCount))
}

// metricsHandler serves the Prometheus text format. The metrics are counts
// and latencies, no personal data, so the endpoint is open like /healthz;
// bind the HTTP address to a private interface or filter it at the proxy.
func (s *Server) metricsHandler() gin.HandlerFunc {
	h := promhttp.HandlerFor(s.opts.Registry, promhttp.HandlerOpts{ErrorLog: nil})
	return gin.WrapH(h)
}
