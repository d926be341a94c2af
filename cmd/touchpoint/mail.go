package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"touchpoint/config"
	"touchpoint/ingest"
	"touchpoint/matcher"
	"touchpoint/store"
)

// newPipeline wires the ingest pipeline from the configuration.
func newPipeline(cfg *config.Config, st *store.Store, log *slog.Logger) *ingest.Pipeline {
	var verify *ingest.DKIMVerifier
	if cfg.SMTP.VerifyStaffDKIM {
		verify = &ingest.DKIMVerifier{}
	}
	return &ingest.Pipeline{
		VerifyStaff: verify,
		Store:       st,
		Matcher: matcher.Config{
			SystemAddress:   strings.ToLower(cfg.SystemAddress),
			InternalDomains: cfg.InternalDomains,
			FreemailDomains: cfg.FreemailDomains,
			FoldPlusTags:    true,
		},
		Limits: ingest.DefaultLimits(),
		Log:    log,
	}
}

// smtpConfig maps the configuration to the listener's.
func smtpConfig(cfg *config.Config) (ingest.SMTPConfig, error) {
	sc := ingest.SMTPConfig{
		Hostname:         cfg.SMTP.Hostname,
		MaxMessageBytes:  cfg.SMTP.MaxMessageBytes,
		MaxRecipients:    cfg.SMTP.MaxRecipients,
		MaxLineLength:    cfg.SMTP.MaxLineLength,
		ReadTimeout:      cfg.SMTP.ReadTimeout.Std(),
		WriteTimeout:     cfg.SMTP.WriteTimeout.Std(),
		SessionTimeout:   cfg.SMTP.SessionTimeout.Std(),
		MaxConnections:   cfg.SMTP.MaxConnections,
		MaxConnectionsIP: cfg.SMTP.MaxConnectionsPerIP,
		DataDir:          cfg.DataDir,
	}
	if cfg.SMTP.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.SMTP.TLSCertFile, cfg.SMTP.TLSKeyFile)
		if err != nil {
			return sc, fmt.Errorf("smtp.tls_cert_file / smtp.tls_key_file: %w", err)
		}
		sc.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return sc, nil
}

func (c *cli) ingest(ctx context.Context, args []string) error {
	fs, path := c.flags("ingest")
	if err := parse(fs, args); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	err := c.withAdmin(*path, func(cfg *config.Config, a admin) error {
		failed, temporary := 0, 0
		for _, f := range files {
			raw, err := c.readMessage(f, cfg.SMTP.MaxMessageBytes)
			var res store.IngestResult
			if err == nil {
				if res, err = a.Ingest(ctx, raw); err != nil {
					temporary++
				}
			}
			if err != nil {
				failed++
				fmt.Fprintf(c.stderr, "%s: not stored: %v\n", f, err)
				continue
			}
			id := res.InteractionID
			if id == 0 {
				id = res.UnmatchedID
			}
			fmt.Fprintf(c.stdout, "%s: %s %d\n", f, res.Status, id)
		}
		if failed > 0 {
			err := fmt.Errorf("%d of %d messages not stored", failed, len(files))
			if temporary > 0 {
				return tempFailure{err}
			}
			return err
		}
		return nil
	})
	// A database held by another process (a backup, a compaction) is
	// busy, not broken.
	if errors.Is(err, store.ErrLocked) {
		return tempFailure{err}
	}
	return err
}

func (c *cli) readMessage(name string, max int64) ([]byte, error) {
	var r io.Reader = c.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) > max {
		return nil, fmt.Errorf("larger than %d bytes (smtp.max_message_bytes)", max)
	}
	if len(raw) == 0 {
		return nil, errors.New("empty message")
	}
	return raw, nil
}
