package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRelayValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*RelayConfig)
		want string // "" for valid
	}{
		{name: "no relay", edit: func(r *RelayConfig) {}},
		{name: "relay without auth", edit: func(r *RelayConfig) { r.Host, r.From = "smtp.example.org", "office@example.org" }},
		{name: "relay with auth", edit: func(r *RelayConfig) {
			r.Host, r.From, r.Username, r.PasswordEnv = "smtp.example.org", "office@example.org", "office", "RELAY_PW"
		}},
		{name: "no from", edit: func(r *RelayConfig) { r.Host = "smtp.example.org" }, want: "relay.from"},
		{name: "bad tls", edit: func(r *RelayConfig) { r.Host, r.From, r.TLS = "h", "a@b.org", "ssl" }, want: "relay.tls"},
		{name: "user without password", edit: func(r *RelayConfig) { r.Host, r.From, r.Username = "h", "a@b.org", "u" }, want: "password_env or password_file"},
		{name: "both secrets", edit: func(r *RelayConfig) {
			r.Host, r.From, r.Username, r.PasswordEnv, r.PasswordFile = "h", "a@b.org", "u", "X", "/f"
		}, want: "only one"},
		{name: "rate", edit: func(r *RelayConfig) { r.RatePerSecond = 0 }, want: "relay.rate_per_second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Defaults()
			tt.edit(&c.Relay)
			err := c.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("Validate() = %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

func TestRelayPasswordAndPort(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := RelayConfig{Host: "h", PasswordFile: file, TLS: TLSImplicit}
	if pw, err := r.Password(nil); err != nil || pw != "s3cret" {
		t.Errorf("Password() = %q, %v", pw, err)
	}
	r = RelayConfig{PasswordEnv: "RELAY_PW"}
	if _, err := r.Password(map[string]string{}); err == nil || !strings.Contains(err.Error(), "RELAY_PW is not set") {
		t.Errorf("Password() without the variable: %v", err)
	}
	for tls, want := range map[string]int{TLSStartTLS: 587, TLSImplicit: 465, TLSNone: 25} {
		if got := (RelayConfig{TLS: tls}).EffectivePort(); got != want {
			t.Errorf("EffectivePort(%s) = %d, want %d", tls, got, want)
		}
	}
}
