// Package config owns Touchpoint's runtime configuration: the Config type and
// its defaults, loading it from an optional TOML file plus TOUCHPOINT_*
// environment overrides, and validating the result.
//
// The package is a leaf: it depends only on the standard library and
// github.com/BurntSushi/toml, keeps no package-level mutable state and never
// reads the process environment itself; callers pass the environment in as a
// map (see EnvMap) so that loading is deterministic and testable.
//
// touchpoint.example.toml in this directory documents every key, its default
// and its environment variable; ExampleTOML returns it.
package config

import (
	_ "embed"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// EnvPrefix starts the name of every environment variable that overrides a
// configuration key: the key path is uppercased and "." becomes "_", so
// smtp.max_message_bytes is TOUCHPOINT_SMTP_MAX_MESSAGE_BYTES.
const EnvPrefix = "TOUCHPOINT_"

// SMTPOff is the value of smtp.addr that disables the SMTP listener.
const SMTPOff = "off"

// Log levels and formats accepted in the [log] table.
const (
	LogLevelDebug = "debug"
	LogLevelInfo  = "info"
	LogLevelWarn  = "warn"
	LogLevelError = "error"

	LogFormatText = "text"
	LogFormatJSON = "json"
)

// Config is the complete Touchpoint configuration. The zero value is not
// useful; start from Defaults or Load.
type Config struct {
	// DataDir holds the bbolt database (see DBPath) and, by default, backups.
	DataDir string `toml:"data_dir"`
	// SystemAddress is the addr-spec Touchpoint logs mail under, e.g. the
	// address users Bcc to record an interaction.
	SystemAddress string `toml:"system_address"`
	// InternalDomains are the organisation's own mail domains (lowercase).
	InternalDomains []string `toml:"internal_domains"`
	// FreemailDomains are consumer mail providers whose domain does not
	// identify a company (lowercase).
	FreemailDomains []string `toml:"freemail_domains"`

	Log    LogConfig    `toml:"log"`
	HTTP   HTTPConfig   `toml:"http"`
	SMTP   SMTPConfig   `toml:"smtp"`
	Admin  AdminConfig  `toml:"admin"`
	Backup BackupConfig `toml:"backup"`
	Health HealthConfig `toml:"health"`
	IMAP   IMAPConfig   `toml:"imap"`
	Relay  RelayConfig  `toml:"relay"`
}

// LogConfig is the [log] table.
type LogConfig struct {
	Level  string `toml:"level"`  // debug, info, warn or error
	Format string `toml:"format"` // text or json
}

// HTTPConfig is the [http] table: the web UI and JSON API listener.
type HTTPConfig struct {
	Addr            string   `toml:"addr"`
	ReadTimeout     Duration `toml:"read_timeout"`
	WriteTimeout    Duration `toml:"write_timeout"`
	IdleTimeout     Duration `toml:"idle_timeout"`
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	// MaxBodyBytes caps JSON request bodies.
	MaxBodyBytes int64 `toml:"max_body_bytes"`
	// PublicURL is the optional absolute http(s) URL used when building
	// links; empty means links are relative.
	PublicURL string `toml:"public_url"`
}

// SMTPConfig is the [smtp] table: the inbound SMTP listener.
type SMTPConfig struct {
	// Addr is host:port, or SMTPOff to disable the listener.
	Addr                string   `toml:"addr"`
	Hostname            string   `toml:"hostname"`
	MaxMessageBytes     int64    `toml:"max_message_bytes"`
	MaxRecipients       int      `toml:"max_recipients"`
	MaxLineLength       int      `toml:"max_line_length"`
	ReadTimeout         Duration `toml:"read_timeout"`
	WriteTimeout        Duration `toml:"write_timeout"`
	SessionTimeout      Duration `toml:"session_timeout"`
	MaxConnections      int      `toml:"max_connections"`
	MaxConnectionsPerIP int      `toml:"max_connections_per_ip"`
	// TLSCertFile and TLSKeyFile enable STARTTLS; set both or neither.
	TLSCertFile string `toml:"tls_cert_file"`
	TLSKeyFile  string `toml:"tls_key_file"`
	// VerifyStaffDKIM trusts a From naming staff only with a DKIM
	// signature aligned with its domain, or through a per-user secret
	// address (every ingestion path, not only SMTP).
	VerifyStaffDKIM bool `toml:"verify_staff_dkim"`
	// Journal answers 250 once a message is synced to the journal beside
	// the database (one sequential write), and writes it to the database
	// a few milliseconds later; false commits it to the database first.
	Journal bool `toml:"journal"`
}

// AdminConfig is the [admin] table: the bootstrap administrator account.
// Its String and GoString methods redact the password.
type AdminConfig struct {
	Email    string `toml:"email"`
	Password string `toml:"password"`
	Name     string `toml:"name"`
}

// BackupConfig is the [backup] table.
type BackupConfig struct {
	// Schedule is a robfig/cron spec; empty disables scheduled backups.
	Schedule string `toml:"schedule"`
	// Dir defaults to <data_dir>/backups when Schedule is set (Load fills it).
	Dir string `toml:"dir"`
	// Keep is how many backups to retain.
	Keep int `toml:"keep"`
}

// HealthConfig is the [health] table: when /healthz reports "degraded".
type HealthConfig struct {
	// MinFreeBytes is the free space in data_dir under which the service
	// is degraded. It is never less than the point where the SMTP listener
	// refuses mail (1.5 × smtp.max_message_bytes).
	MinFreeBytes int64 `toml:"min_free_bytes"`
}

// IMAPConfig is the [imap] table. Mailboxes come only from the file
// ([[imap.mailbox]]); they cannot be set from the environment.
type IMAPConfig struct {
	Mailboxes []Mailbox `toml:"mailbox"`
}

// defaultFreemailDomains is copied by Defaults; never hand it out directly.
var defaultFreemailDomains = [...]string{
	"gmail.com", "googlemail.com",
	"yahoo.com", "yahoo.co.uk",
	"hotmail.com", "outlook.com", "live.com", "msn.com",
	"aol.com",
	"icloud.com", "me.com", "mac.com",
	"proton.me", "protonmail.com",
	"gmx.com", "gmx.net", "gmx.de", "web.de",
	"mail.ru", "yandex.ru", "yandex.com",
	"zoho.com", "fastmail.com", "hey.com",
	"walla.co.il", "walla.com",
}

// Defaults returns a new Config holding the built-in defaults. Each call
// returns fresh slices, so callers may modify the result freely.
func Defaults() *Config {
	return &Config{
		DataDir:         "./data",
		SystemAddress:   "log@localhost",
		InternalDomains: []string{},
		FreemailDomains: slices.Clone(defaultFreemailDomains[:]),
		Log: LogConfig{
			Level:  LogLevelInfo,
			Format: LogFormatText,
		},
		HTTP: HTTPConfig{
			Addr:            "127.0.0.1:8080",
			ReadTimeout:     Duration(30 * time.Second),
			WriteTimeout:    Duration(5 * time.Minute), // CSV exports are long
			IdleTimeout:     Duration(2 * time.Minute),
			ShutdownTimeout: Duration(30 * time.Second),
			MaxBodyBytes:    1 << 20,
		},
		SMTP: SMTPConfig{
			Addr:                "127.0.0.1:2525",
			Hostname:            "localhost",
			MaxMessageBytes:     25 << 20,
			MaxRecipients:       100,
			MaxLineLength:       65536,
			ReadTimeout:         Duration(time.Minute),
			WriteTimeout:        Duration(time.Minute),
			SessionTimeout:      Duration(10 * time.Minute),
			MaxConnections:      1000,
			MaxConnectionsPerIP: 50,
			Journal:             true,
		},
		Admin: AdminConfig{
			Email: "admin@localhost",
			Name:  "Administrator",
		},
		Backup: BackupConfig{
			Keep: 7,
		},
		Health: HealthConfig{
			MinFreeBytes: 256 << 20,
		},
		Relay: RelayConfig{
			TLS:           TLSStartTLS,
			RatePerSecond: 5,
			MaxAttempts:   5,
			RetryDelay:    Duration(time.Minute),
		},
	}
}

// DBPath returns the path of the bbolt database inside DataDir.
func (c *Config) DBPath() string {
	return filepath.Join(c.DataDir, "touchpoint.db")
}

// SMTPEnabled reports whether the SMTP listener should run, i.e. smtp.addr is
// not SMTPOff.
func (c *Config) SMTPEnabled() bool {
	return c.SMTP.Addr != SMTPOff
}

// String renders the configuration as TOML with secrets redacted, suitable
// for logging or a "show effective config" command.
func (c *Config) String() string {
	cp := *c
	cp.Admin.Password = redact(cp.Admin.Password)
	var b strings.Builder
	if err := toml.NewEncoder(&b).Encode(cp); err != nil {
		return fmt.Sprintf("config: cannot render: %v", err)
	}
	return b.String()
}

// SlogLevel maps Level to a slog.Level; unknown values map to slog.LevelInfo
// (Validate rejects them).
func (l LogConfig) SlogLevel() slog.Level {
	switch l.Level {
	case LogLevelDebug:
		return slog.LevelDebug
	case LogLevelWarn:
		return slog.LevelWarn
	case LogLevelError:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// String implements fmt.Stringer without revealing the password.
func (a AdminConfig) String() string {
	return fmt.Sprintf("{Email:%s Name:%s Password:%s}", a.Email, a.Name, redact(a.Password))
}

// GoString implements fmt.GoStringer so that %#v does not reveal the password.
func (a AdminConfig) GoString() string {
	return fmt.Sprintf("config.AdminConfig{Email:%q, Name:%q, Password:%q}", a.Email, a.Name, redact(a.Password))
}

func redact(secret string) string {
	if secret == "" {
		return ""
	}
	return "REDACTED"
}

//go:embed touchpoint.example.toml
var exampleTOML []byte

// ExampleTOML returns the annotated example configuration file
// (touchpoint.example.toml), e.g. for a "print example config" command.
func ExampleTOML() []byte {
	return slices.Clone(exampleTOML)
}
