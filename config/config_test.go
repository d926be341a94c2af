package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// writeFile writes content to a fresh file in t.TempDir and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDefaultsValidate(t *testing.T) {
	t.Parallel()
	if err := Defaults().Validate(); err != nil {
		t.Fatalf("Defaults().Validate() = %v, want nil", err)
	}
	c, err := Load("", nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Load(\"\", nil).Validate() = %v, want nil", err)
	}
}

func TestDefaultsValues(t *testing.T) {
	t.Parallel()
	c := Defaults()
	tests := []struct {
		name string
		got  any
		want any
	}{
		{name: "data_dir", got: c.DataDir, want: "./data"},
		{name: "system_address", got: c.SystemAddress, want: "log@localhost"},
		{name: "internal_domains", got: len(c.InternalDomains), want: 0},
		{name: "freemail_domains has gmail", got: slices.Contains(c.FreemailDomains, "gmail.com"), want: true},
		{name: "freemail_domains count", got: len(c.FreemailDomains), want: 26},
		{name: "log.level", got: c.Log.Level, want: "info"},
		{name: "log.format", got: c.Log.Format, want: "text"},
		{name: "http.addr", got: c.HTTP.Addr, want: "127.0.0.1:8080"},
		{name: "http.read_timeout", got: c.HTTP.ReadTimeout.Std(), want: 30 * time.Second},
		{name: "http.write_timeout", got: c.HTTP.WriteTimeout.Std(), want: 5 * time.Minute},
		{name: "http.idle_timeout", got: c.HTTP.IdleTimeout.Std(), want: 2 * time.Minute},
		{name: "http.shutdown_timeout", got: c.HTTP.ShutdownTimeout.Std(), want: 30 * time.Second},
		{name: "http.max_body_bytes", got: c.HTTP.MaxBodyBytes, want: int64(1048576)},
		{name: "smtp.addr", got: c.SMTP.Addr, want: "127.0.0.1:2525"},
		{name: "smtp.hostname", got: c.SMTP.Hostname, want: "localhost"},
		{name: "smtp.max_message_bytes", got: c.SMTP.MaxMessageBytes, want: int64(26214400)},
		{name: "smtp.max_recipients", got: c.SMTP.MaxRecipients, want: 100},
		{name: "smtp.max_line_length", got: c.SMTP.MaxLineLength, want: 65536},
		{name: "smtp.read_timeout", got: c.SMTP.ReadTimeout.Std(), want: time.Minute},
		{name: "smtp.write_timeout", got: c.SMTP.WriteTimeout.Std(), want: time.Minute},
		{name: "smtp.session_timeout", got: c.SMTP.SessionTimeout.Std(), want: 10 * time.Minute},
		{name: "smtp.max_connections", got: c.SMTP.MaxConnections, want: 1000},
		{name: "smtp.max_connections_per_ip", got: c.SMTP.MaxConnectionsPerIP, want: 50},
		{name: "admin.email", got: c.Admin.Email, want: "admin@localhost"},
		{name: "admin.name", got: c.Admin.Name, want: "Administrator"},
		{name: "admin.password", got: c.Admin.Password, want: ""},
		{name: "backup.schedule", got: c.Backup.Schedule, want: ""},
		{name: "backup.keep", got: c.Backup.Keep, want: 7},
		{name: "SMTPEnabled", got: c.SMTPEnabled(), want: true},
		{name: "DBPath", got: c.DBPath(), want: filepath.Join("data", "touchpoint.db")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestDefaultsAreIndependent(t *testing.T) {
	t.Parallel()
	a := Defaults()
	a.FreemailDomains[0] = "changed.example"
	if b := Defaults(); b.FreemailDomains[0] == "changed.example" {
		t.Fatal("Defaults() shares slices between calls")
	}
}

func TestSMTPEnabled(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		addr string
		want bool
	}{
		{name: "default", addr: "127.0.0.1:2525", want: true},
		{name: "off", addr: "off", want: false},
		{name: "all interfaces", addr: ":25", want: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults()
			c.SMTP.Addr = tt.addr
			if got := c.SMTPEnabled(); got != tt.want {
				t.Errorf("SMTPEnabled() = %v, want %v", got, tt.want)
			}
		})
	}
	c := Defaults()
	c.SMTP.Addr = SMTPOff
	if err := c.Validate(); err != nil {
		t.Errorf("smtp.addr = off: Validate() = %v, want nil", err)
	}
}

func TestSecretsNotPrinted(t *testing.T) {
	t.Parallel()
	const secret = "hunter2-very-secret"
	c := Defaults()
	c.Admin.Password = secret
	for _, s := range []string{
		c.String(),
		fmt.Sprint(c),
		fmt.Sprintf("%v", *c),
		fmt.Sprintf("%+v", *c),
		fmt.Sprintf("%#v", *c),
		fmt.Sprintf("%v %+v %#v %s", c.Admin, c.Admin, c.Admin, c.Admin),
	} {
		if strings.Contains(s, secret) {
			t.Errorf("output leaks the admin password: %s", s)
		}
	}
	if !strings.Contains(c.String(), "REDACTED") {
		t.Errorf("String() does not mark the password as redacted:\n%s", c.String())
	}
	if c.Admin.Password != secret {
		t.Error("String() modified the config")
	}
}

func TestStringRoundTrips(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.InternalDomains = []string{"example.com"}
	path := writeFile(t, "dump.toml", c.String())
	got, err := Load(path, nil)
	if err != nil {
		t.Fatalf("loading String() output: %v\n%s", err, c.String())
	}
	if got.String() != c.String() {
		t.Errorf("round trip differs:\n got %s\nwant %s", got, c)
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{name: "seconds", in: "30s", want: 30 * time.Second},
		{name: "compound", in: "1h30m", want: 90 * time.Minute},
		{name: "spaces", in: " 5m ", want: 5 * time.Minute},
		{name: "no unit", in: "30", wantErr: true},
		{name: "garbage", in: "soon", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var d Duration
			err := d.UnmarshalText([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("UnmarshalText(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if err == nil && d.Std() != tt.want {
				t.Errorf("UnmarshalText(%q) = %v, want %v", tt.in, d, tt.want)
			}
			if err == nil {
				text, _ := d.MarshalText()
				var back Duration
				if err := back.UnmarshalText(text); err != nil || back != d {
					t.Errorf("MarshalText round trip: %q -> %v, %v", text, back, err)
				}
			}
		})
	}
}

func TestExampleTOMLIsACopy(t *testing.T) {
	t.Parallel()
	b := ExampleTOML()
	b[0] = 'X'
	if ExampleTOML()[0] == 'X' {
		t.Fatal("ExampleTOML returns shared memory")
	}
}
