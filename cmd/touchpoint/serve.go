package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"touchpoint/config"
	"touchpoint/ingest"
	"touchpoint/store"
	"touchpoint/web"
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT says otherwise.
const defaultMemoryLimit = 192 << 20

// seedMemoryLimit is seed's soft memory limit: its index positions
// (about 130 MB at 1M interactions) are held until one transaction writes
// them, which holds every page it writes. Measured at 1M interactions:
// 11.6–11.9 s and 637 MB peak RSS under 512 MiB, 11.3–12.2 s and 1,090 MB
// under 1 GiB (the collector uses whatever the limit allows).
const seedMemoryLimit = 512 << 20

// tuneGC sets the collector for the daemon unless GOGC or GOMEMLIMIT in
// env (the runtime read them at start) say otherwise.
func tuneGC(env map[string]string) { tuneGCWith(env, defaultMemoryLimit) }

// tuneGCWith is tuneGC with another soft memory limit.
func tuneGCWith(env map[string]string, limit int64) {
	if _, set := env["GOGC"]; !set {
		// The live heap is small (tens of MB) and mail ingest allocates
		// briskly: collecting less often buys CPU for little memory.
		debug.SetGCPercent(400)
	}
	if _, set := env["GOMEMLIMIT"]; !set {
		// GC percent 400 lets the heap reach five times what is live; a
		// big first IMAP poll holds 20-40 MiB live. The soft limit makes
		// the collector run sooner instead once the heap nears it.
		debug.SetMemoryLimit(limit)
	}
}

func (c *cli) serve(ctx context.Context, args []string) (retErr error) {
	fs, path := c.flags("serve")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	cfg, err := c.loadConfig(*path)
	if err != nil {
		return err
	}
	log := newLogger(cfg, c.stderr)
	tuneGC(c.env)
	for _, name := range config.UnknownEnv(c.env) {
		if name != "TOUCHPOINT_CONFIG" {
			log.Warn("environment variable is not a Touchpoint setting", "name", name)
		}
	}

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	st, err := store.Open(cfg.DBPath(), store.Options{Logger: log.With("component", "store"), NoJournal: !cfg.SMTP.Journal})
	if err != nil {
		return err
	}
	defer func() {
		err := st.Close()
		if err != nil {
			log.Error("close database", "err", err)
		}
		// The last line: operators and tests look for it.
		if err != nil || retErr != nil {
			log.Error("stopped with errors", "err", cmp.Or(retErr, err))
			return
		}
		log.Info("stopped cleanly")
	}()
	if err := c.ensureAdmin(ctx, cfg, st, log); err != nil {
		return err
	}

	stopCron, err := startScheduler(cfg, st, log.With("component", "cron"))
	if err != nil {
		return err
	}
	defer stopCron() // before the store closes (defers run last-in first-out)
	reg := prometheus.NewRegistry()
	sender := startSender(cfg, c.env, st, newCampaignMessageCounter(reg), log.With("component", "outbound"))
	defer sender.stop()

	mm := newMailMetrics(reg)
	// One free-space probe for the SMTP listener, /healthz and /metrics.
	disk := &ingest.DiskSpace{Dir: cfg.DataDir}
	pipe := newPipeline(cfg, st, log.With("component", "ingest"))
	pipe.Observe = mm.observe
	// The IMAP pollers start now and stop before the scheduler and the
	// store (defers run last-in first-out), after the servers.
	imapPollers, err := startPollers(cfg, c.env, pipe, newIMAPMetrics(reg), log.With("component", "imap"))
	if err != nil {
		return err
	}
	defer imapPollers.stop(cfg.HTTP.ShutdownTimeout.Std())
	srv := web.New(web.Options{
		Store: st, Logger: log.With("component", "web"), Version: version,
		SystemAddress: cfg.SystemAddress, MaxBodyBytes: cfg.HTTP.MaxBodyBytes, Registry: reg,
		MaxMessageBytes: cfg.SMTP.MaxMessageBytes, Ingester: pipe, Matcher: &pipe.Matcher, Mailboxes: imapPollers,
		HealthChecks: []web.HealthCheck{diskHealth(cfg, disk), journalHealth(st)},
		Sender:       sender,
	})
	httpLn, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s (http.addr): %w", cfg.HTTP.Addr, err)
	}
	ctlLn, err := listenCtl(ctlPath(cfg))
	if err != nil {
		httpLn.Close()
		return err
	}
	defer os.Remove(ctlPath(cfg))

	var smtpSrv *ingest.SMTPServer
	var smtpLn net.Listener
	if cfg.SMTPEnabled() {
		sc, err := smtpConfig(cfg)
		sc.Disk = disk
		if err != nil {
			httpLn.Close()
			ctlLn.Close()
			return err
		}
		// No TCP keep-alive: SMTP sessions are short and have their own
		// timeouts, and enabling it costs several syscalls per connection.
		lc := net.ListenConfig{KeepAlive: -1}
		if smtpLn, err = lc.Listen(context.Background(), "tcp", cfg.SMTP.Addr); err != nil {
			httpLn.Close()
			ctlLn.Close()
			return fmt.Errorf("listen on %s (smtp.addr): %w", cfg.SMTP.Addr, err)
		}
		smtpSrv = ingest.NewSMTPServer(sc, pipe, log.With("component", "smtp"))
		smtpSrv.OnConn = func(ev string) { mm.conns.WithLabelValues(ev).Inc() }
	}
	registerDaemonGauges(reg, cfg, st, disk, smtpSrv)
	smtpAddr := "off"
	if smtpLn != nil {
		smtpAddr = smtpLn.Addr().String()
	}
	log.Info("touchpoint started", "version", version, "http", httpLn.Addr().String(), "smtp", smtpAddr,
		"imap_mailboxes", len(cfg.IMAP.Mailboxes), "data", cfg.DBPath(), "system_address", cfg.SystemAddress)

	// Ordered shutdown: when ctx ends (SIGTERM, SIGINT) the servers stop
	// accepting and finish what is in flight within http.shutdown_timeout
	// (the SMTP listener refuses new transactions and closes idle
	// sessions); then (defers) the IMAP pollers stop, the scheduler stops,
	// and the store closes last.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	grace := cfg.HTTP.ShutdownTimeout.Std()
	errc := make(chan error, 3)
	servers := 2
	go func() {
		hs := srv.HTTPServer(cfg.HTTP.ReadTimeout.Std(), cfg.HTTP.WriteTimeout.Std(), cfg.HTTP.IdleTimeout.Std())
		errc <- serveUntil(ctx, func() error { return hs.Serve(httpLn) }, hs.Shutdown, grace)
	}()
	go func() {
		cs := &http.Server{Handler: ctlServer(localAdmin{st, pipe}, cfg.SMTP.MaxMessageBytes, log.With("component", "ctl")), ReadHeaderTimeout: 10 * time.Second}
		errc <- serveUntil(ctx, func() error { return cs.Serve(ctlLn) }, cs.Shutdown, grace)
	}()
	if smtpSrv != nil {
		servers++
		go func() {
			errc <- serveUntil(ctx, func() error { return smtpSrv.Serve(smtpLn) }, smtpSrv.Shutdown, grace)
		}()
	}
	var first error
	stopping := ctx.Done()
	for done := 0; done < servers; {
		select {
		case <-stopping:
			log.Info("shutting down: finishing work in flight", "deadline", grace)
			stopping = nil
		case err := <-errc:
			done++
			if err != nil && !errors.Is(err, http.ErrServerClosed) && first == nil {
				first = err
				cancel() // one server failed: stop the others too
			}
		}
	}
	log.Info("servers stopped; stopping the IMAP pollers and the scheduler, then closing the database", "err", first)
	return first
}

// ensureAdmin creates the first admin on a database without users: from
// admin.email / admin.password, or with a generated password printed once.
func (c *cli) ensureAdmin(ctx context.Context, cfg *config.Config, st *store.Store, log *slog.Logger) error {
	n, err := st.CountUsers()
	if err != nil {
		return err
	}
	if n > 0 {
		if cfg.Admin.Password != "" {
			log.Warn("admin.password is set but users exist: it is only used on the first start; unset it")
		}
		return nil
	}
	ctx = context.WithoutCancel(ctx) // a signal now must not leave a half-made first start
	pw := cfg.Admin.Password
	generated := pw == ""
	if generated {
		pw = rand.Text()
	}
	u := &store.User{Name: cfg.Admin.Name, Emails: []string{cfg.Admin.Email}, Role: store.RoleAdmin}
	if err := st.CreateUser(ctx, u, pw); err != nil {
		return fmt.Errorf("create the first admin (admin.email, admin.password): %w", err)
	}
	log.Info("created the first admin", "email", cfg.Admin.Email)
	if generated {
		// Straight to the terminal, never through the logger.
		fmt.Fprintf(c.stderr, "\n  First admin: %s\n  Password:    %s\n  (shown once; set TOUCHPOINT_ADMIN_PASSWORD to choose it)\n\n", cfg.Admin.Email, pw)
	}
	return nil
}

// serveUntil runs a server until ctx ends, then shuts it down: it stops
// accepting and lets work in flight (HTTP requests, a message in DATA)
// finish within grace. A server that stops on its own ends it early.
func serveUntil(ctx context.Context, serve func() error, shutdown func(context.Context) error, grace time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := shutdown(sctx)
	if e := <-errc; e != nil && !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}
