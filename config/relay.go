package config

import (
	"fmt"
	"strings"
)

// RelayConfig is the [relay] table: the SMTP relay that campaigns composed
// in Touchpoint are sent through. Host empty means no relay: composing
// works, sending waits and the UI says why.
type RelayConfig struct {
	Host string `toml:"host"`
	// Port 0 means the usual one for TLS (see EffectivePort).
	Port int `toml:"port"`
	// TLS is TLSStartTLS (default), TLSImplicit or TLSNone.
	TLS string `toml:"tls"`
	// Username enables AUTH PLAIN; the password comes from PasswordEnv or
	// PasswordFile (see Password), never from this file.
	Username     string `toml:"username"`
	PasswordEnv  string `toml:"password_env"`
	PasswordFile string `toml:"password_file"`
	// From is the sender address (local@domain); FromName its display name.
	From     string `toml:"from"`
	FromName string `toml:"from_name"`
	// RatePerSecond caps the messages handed to the relay per second.
	RatePerSecond int `toml:"rate_per_second"`
	// MaxAttempts per recipient for temporary failures (4xx, no connection).
	MaxAttempts int `toml:"max_attempts"`
	// RetryDelay is the wait before the first retry; it doubles each time,
	// up to an hour.
	RetryDelay Duration `toml:"retry_delay"`
}

// Configured reports whether a relay is set up.
func (r RelayConfig) Configured() bool { return strings.TrimSpace(r.Host) != "" }

func (r *RelayConfig) applyDefaults() {
	r.TLS = strings.ToLower(strings.TrimSpace(r.TLS))
	if r.TLS == "" {
		r.TLS = TLSStartTLS
	}
}

// EffectivePort is Port, or when it is 0 the usual port for TLS: 587 for
// STARTTLS (submission), 465 for implicit TLS, 25 without TLS.
func (r RelayConfig) EffectivePort() int {
	switch {
	case r.Port != 0:
		return r.Port
	case r.TLS == TLSImplicit:
		return 465
	case r.TLS == TLSNone:
		return 25
	}
	return 587
}

// validate checks the table when a host is set.
func (r RelayConfig) validate(p *problems) {
	if r.RatePerSecond < 1 {
		p.add("relay.rate_per_second", "must be >= 1, got %d", r.RatePerSecond)
	}
	if r.MaxAttempts < 1 {
		p.add("relay.max_attempts", "must be >= 1, got %d", r.MaxAttempts)
	}
	checkPositive(p, "relay.retry_delay", int64(r.RetryDelay))
	if !r.Configured() {
		return
	}
	if r.Port < 0 || r.Port > 65535 {
		p.add("relay.port", "must be between 1 and 65535 (0: the usual port for tls), got %d", r.Port)
	}
	switch r.TLS {
	case TLSImplicit, TLSStartTLS, TLSNone:
	default:
		p.add("relay.tls", "must be %q, %q or %q, got %q", TLSStartTLS, TLSImplicit, TLSNone, r.TLS)
	}
	checkAddrSpec(p, "relay.from", r.From)
	hasEnv := strings.TrimSpace(r.PasswordEnv) != ""
	hasFile := strings.TrimSpace(r.PasswordFile) != ""
	switch {
	case hasEnv && hasFile:
		p.add("relay", "set only one of password_env and password_file")
	case strings.TrimSpace(r.Username) != "" && !hasEnv && !hasFile:
		p.add("relay", "username is set: set password_env or password_file too")
	case strings.TrimSpace(r.Username) == "" && (hasEnv || hasFile):
		p.add("relay.username", "must be set with a password")
	}
}

// Password reads the relay password from the variable PasswordEnv names
// (in env) or from PasswordFile. Errors never contain the password.
func (r RelayConfig) Password(env map[string]string) (string, error) {
	return readSecret("relay", r.PasswordEnv, r.PasswordFile, env)
}

// String describes the relay for logs, without the password.
func (r RelayConfig) String() string {
	if !r.Configured() {
		return "none"
	}
	who := ""
	if r.Username != "" {
		who = " as " + r.Username
	}
	return fmt.Sprintf("%s:%d (%s)%s from %s", r.Host, r.EffectivePort(), r.TLS, who, r.From)
}
