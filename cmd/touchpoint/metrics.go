package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"touchpoint/config"
	"touchpoint/ingest"
	"touchpoint/store"
	"touchpoint/web"
)

// mailMetrics counts what the pipeline and the SMTP listener do.
type mailMetrics struct {
	received *prometheus.CounterVec
	messages *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	conns    *prometheus.CounterVec
}

// metricSources are the sources a message arrives by, made to exist at
// zero from the start so that rates and alerts work before the first one.
var metricSources = []string{store.SourceSMTP, store.SourceIMAP, store.SourceAPI, store.SourcePipe}

func newMailMetrics(reg *prometheus.Registry) *mailMetrics {
	m := &mailMetrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "touchpoint_messages_received_total",
			Help: "Messages received, by source (smtp, imap, api, pipe), stored or not.",
		}, []string{"source"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "touchpoint_messages_total",
			Help: "Messages received, by source and outcome: logged, unmatched, duplicate, or failed (not stored; the sender was told to retry).",
		}, []string{"source", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "touchpoint_ingest_duration_seconds",
			Help:    "Time from a complete message to its durable commit.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"source"}),
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "touchpoint_smtp_connections_total",
			Help: "SMTP connections accepted or refused (over a connection cap).",
		}, []string{"event"}),
	}
	for _, src := range metricSources {
		m.received.WithLabelValues(src)
		for _, st := range []string{store.IngestLogged, store.IngestUnmatched, store.IngestDuplicate, ingest.StatusFailed} {
			m.messages.WithLabelValues(src, st)
		}
	}
	m.conns.WithLabelValues("accepted")
	m.conns.WithLabelValues("refused")
	reg.MustRegister(m.received, m.messages, m.latency, m.conns)
	return m
}

func (m *mailMetrics) observe(source, status string, d time.Duration) {
	m.received.WithLabelValues(source).Inc()
	m.messages.WithLabelValues(source, status).Inc()
	if status != ingest.StatusFailed {
		m.latency.WithLabelValues(source).Observe(d.Seconds())
	}
}

// registerDaemonGauges adds the gauges read at each scrape: open SMTP
// sessions, the journal's backlog, the database file's size and the data
// directory's free space.
func registerDaemonGauges(reg *prometheus.Registry, cfg *config.Config, st *store.Store, disk *ingest.DiskSpace, smtpSrv *ingest.SMTPServer) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "touchpoint_journal_backlog",
			Help: "Acknowledged SMTP messages in the journal not yet written to the database.",
		}, func() float64 { return float64(st.JournalBacklog()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "touchpoint_smtp_connections",
			Help: "SMTP sessions open now.",
		}, func() float64 {
			if smtpSrv == nil {
				return 0
			}
			return float64(smtpSrv.Connected.Load())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "touchpoint_store_size_bytes",
			Help: "Size of the database file.",
		}, func() float64 {
			st, err := os.Stat(cfg.DBPath())
			if err != nil {
				return 0
			}
			return float64(st.Size())
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "touchpoint_data_dir_free_bytes",
			Help: "Free space in the data directory (the SMTP listener refuses mail below 1.5 × smtp.max_message_bytes).",
		}, func() float64 {
			free, err := disk.Free()
			if err != nil {
				return 0
			}
			return float64(free)
		}),
	)
}

// diskHealth degrades /healthz when the data directory has less free space
// than health.min_free_bytes, or than the SMTP listener needs to take mail.
func diskHealth(cfg *config.Config, disk *ingest.DiskSpace) web.HealthCheck {
	min := max(uint64(cfg.Health.MinFreeBytes), ingest.MinFreeBytes(cfg.SMTP.MaxMessageBytes))
	return func() string {
		free, err := disk.Free()
		if err != nil {
			return fmt.Sprintf("cannot read the free space in the data directory: %v", err)
		}
		if free < min {
			return fmt.Sprintf("low disk: %d bytes free in the data directory, want at least %d (health.min_free_bytes; mail is refused below %d)",
				free, min, ingest.MinFreeBytes(cfg.SMTP.MaxMessageBytes))
		}
		return ""
	}
}

// journalHealth reports mail the database keeps refusing (waiting in the
// journal) and mail set aside beside the journal (docs/OPERATIONS.md, "The
// journal").
func journalHealth(st *store.Store) web.HealthCheck {
	return func() string {
		js := st.JournalStatus()
		var why []string
		if js.Failing {
			why = append(why, fmt.Sprintf("%d received messages wait in the journal: the database refuses writes (see the log)", js.Backlog))
		}
		if n := len(js.SetAside); n > 0 {
			why = append(why, fmt.Sprintf("%d received messages could not be written to the database and were set aside in the data directory (%s...): report them (docs/OPERATIONS.md, \"The journal\")",
				n, filepath.Base(js.SetAside[0])))
		}
		return strings.Join(why, "; ")
	}
}

// newCampaignMessageCounter counts the campaign messages Touchpoint hands
// to the relay itself, by the state each attempt left its recipient in.
func newCampaignMessageCounter(reg *prometheus.Registry) func(state string) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "touchpoint_campaign_messages_total",
		Help: "Campaign messages sent through the relay, by the recipient's state after the attempt (sent, failed, unknown, pending: to be retried).",
	}, []string{"state"})
	for _, s := range []string{store.RcptSent, store.RcptFailed, store.RcptUnknown, store.RcptPending} {
		c.WithLabelValues(s)
	}
	reg.MustRegister(c)
	return func(state string) { c.WithLabelValues(state).Inc() }
}
