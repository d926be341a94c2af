package main

import (
	"context"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/robfig/cron/v3"

	"touchpoint/config"
	"touchpoint/outbound"
	"touchpoint/store"
)

// senderTick is how often the scheduler wakes the campaign sender, besides
// the wake-ups it schedules itself (send times, retries) and the one a
// newly composed campaign gives it.
const senderTick = "@every 15s"

// campaignSender runs the outbound sender and the cron job that kicks it.
type campaignSender struct {
	*outbound.Sender
	cron   *cron.Cron
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// relayConfig maps the [relay] table to the sender's configuration. The
// password is read from the environment or the file at each connection.
func relayConfig(cfg *config.Config, env map[string]string, observe func(state string)) outbound.Config {
	r := cfg.Relay
	oc := outbound.Config{
		Host: r.Host, Port: r.EffectivePort(), TLS: r.TLS, Username: r.Username,
		Password: func() (string, error) { return r.Password(env) },
		From:     r.From, FromName: r.FromName, HeloName: cfg.SMTP.Hostname,
		RatePerSecond: r.RatePerSecond, MaxAttempts: r.MaxAttempts, RetryDelay: r.RetryDelay.Std(),
		Observe: observe,
	}
	if !r.Configured() {
		oc.Host = ""
		oc.Unconfigured = "no SMTP relay is configured: set host and from in the [relay] table of the configuration file (or TOUCHPOINT_RELAY_HOST and TOUCHPOINT_RELAY_FROM)"
	}
	return oc
}

// startSender recovers what a stopped daemon left mid-send and starts
// sending. Stop it before the store closes.
func startSender(cfg *config.Config, env map[string]string, st *store.Store, observe func(state string), log *slog.Logger) *campaignSender {
	cs := &campaignSender{Sender: outbound.New(relayConfig(cfg, env, observe), st, log)}
	if ok, why := cs.Available(); ok {
		log.Info("campaign relay configured", "relay", cfg.Relay.String(), "rate_per_second", cfg.Relay.RatePerSecond)
	} else {
		log.Info("campaigns cannot be sent", "reason", why)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cs.cancel = cancel
	cs.wg.Go(func() {
		defer func() {
			if p := recover(); p != nil {
				log.Error("campaign sender crashed", "panic", p, "stack", string(debug.Stack()))
			}
		}()
		cs.Run(ctx)
	})
	cs.cron = cron.New(cron.WithChain(cron.Recover(cronLogger{log})), cron.WithLogger(cronLogger{log}))
	cs.cron.AddFunc(senderTick, cs.Kick)
	cs.cron.Start()
	return cs
}

// stop ends the schedule and the sender, after the message in flight (its
// outcome is committed).
func (cs *campaignSender) stop() {
	<-cs.cron.Stop().Done()
	cs.cancel()
	cs.wg.Wait()
}
