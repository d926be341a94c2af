package config

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateReportsEveryError(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.SMTP.MaxMessageBytes = 0
	c.Log.Level = "verbose"
	c.HTTP.Addr = "localhost" // no port
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want 3 errors")
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate() error is %T, want errors.Join result", err)
	}
	if n := len(joined.Unwrap()); n != 3 {
		t.Errorf("got %d errors, want 3:\n%v", n, err)
	}
	for _, want := range []string{
		"smtp.max_message_bytes: must be > 0",
		"log.level: ",
		"http.addr: ",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q:\n%v", want, err)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	certDir := t.TempDir()
	cert := writeFile(t, "cert.pem", "cert")
	key := writeFile(t, "key.pem", "key")
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantKey string // "" means valid
	}{
		{name: "defaults", mutate: func(*Config) {}},
		{name: "empty data_dir", mutate: func(c *Config) { c.DataDir = " " }, wantKey: "data_dir"},
		{name: "system_address no at", mutate: func(c *Config) { c.SystemAddress = "log" }, wantKey: "system_address"},
		{name: "system_address display name", mutate: func(c *Config) { c.SystemAddress = "Log <log@example.com>" }, wantKey: "system_address"},
		{name: "system_address ok", mutate: func(c *Config) { c.SystemAddress = "crm+log@example.com" }},
		{name: "internal domain ok", mutate: func(c *Config) { c.InternalDomains = []string{"ex-ample.co.uk", "x1.io"} }},
		{name: "internal domain space", mutate: func(c *Config) { c.InternalDomains = []string{"exa mple.com"} }, wantKey: "internal_domains"},
		{name: "internal domain at", mutate: func(c *Config) { c.InternalDomains = []string{"@example.com"} }, wantKey: "internal_domains"},
		{name: "internal domain double dot", mutate: func(c *Config) { c.InternalDomains = []string{"example..com"} }, wantKey: "internal_domains"},
		{name: "freemail domain bad", mutate: func(c *Config) { c.FreemailDomains = []string{"gmail_com"} }, wantKey: "freemail_domains"},
		{name: "log level", mutate: func(c *Config) { c.Log.Level = "trace" }, wantKey: "log.level"},
		{name: "log format", mutate: func(c *Config) { c.Log.Format = "xml" }, wantKey: "log.format"},
		{name: "http addr all interfaces", mutate: func(c *Config) { c.HTTP.Addr = ":8080" }},
		{name: "http addr port 0", mutate: func(c *Config) { c.HTTP.Addr = "127.0.0.1:0" }},
		{name: "http addr ipv6", mutate: func(c *Config) { c.HTTP.Addr = "[::1]:8080" }},
		{name: "http addr port too big", mutate: func(c *Config) { c.HTTP.Addr = "127.0.0.1:65536" }, wantKey: "http.addr"},
		{name: "http addr named port", mutate: func(c *Config) { c.HTTP.Addr = "127.0.0.1:http" }, wantKey: "http.addr"},
		{name: "http addr off", mutate: func(c *Config) { c.HTTP.Addr = "off" }, wantKey: "http.addr"},
		{name: "http read_timeout", mutate: func(c *Config) { c.HTTP.ReadTimeout = 0 }, wantKey: "http.read_timeout"},
		{name: "http write_timeout", mutate: func(c *Config) { c.HTTP.WriteTimeout = -1 }, wantKey: "http.write_timeout"},
		{name: "http idle_timeout", mutate: func(c *Config) { c.HTTP.IdleTimeout = 0 }, wantKey: "http.idle_timeout"},
		{name: "http shutdown_timeout", mutate: func(c *Config) { c.HTTP.ShutdownTimeout = 0 }, wantKey: "http.shutdown_timeout"},
		{name: "http max_body_bytes", mutate: func(c *Config) { c.HTTP.MaxBodyBytes = 0 }, wantKey: "http.max_body_bytes"},
		{name: "public_url ok", mutate: func(c *Config) { c.HTTP.PublicURL = "https://crm.example.com/touchpoint" }},
		{name: "public_url relative", mutate: func(c *Config) { c.HTTP.PublicURL = "/touchpoint" }, wantKey: "http.public_url"},
		{name: "public_url ftp", mutate: func(c *Config) { c.HTTP.PublicURL = "ftp://example.com" }, wantKey: "http.public_url"},
		{name: "public_url no host", mutate: func(c *Config) { c.HTTP.PublicURL = "https://" }, wantKey: "http.public_url"},
		{name: "public_url unparsable", mutate: func(c *Config) { c.HTTP.PublicURL = "http://[::1" }, wantKey: "http.public_url"},
		{name: "smtp addr off", mutate: func(c *Config) { c.SMTP.Addr = "off" }},
		{name: "smtp addr empty", mutate: func(c *Config) { c.SMTP.Addr = "" }, wantKey: "smtp.addr"},
		{name: "smtp addr bad", mutate: func(c *Config) { c.SMTP.Addr = "2525" }, wantKey: "smtp.addr"},
		{name: "smtp hostname empty", mutate: func(c *Config) { c.SMTP.Hostname = "" }, wantKey: "smtp.hostname"},
		{name: "smtp hostname space", mutate: func(c *Config) { c.SMTP.Hostname = "mail host" }, wantKey: "smtp.hostname"},
		{name: "smtp max_message_bytes", mutate: func(c *Config) { c.SMTP.MaxMessageBytes = -5 }, wantKey: "smtp.max_message_bytes"},
		{name: "smtp max_recipients", mutate: func(c *Config) { c.SMTP.MaxRecipients = 0 }, wantKey: "smtp.max_recipients"},
		{name: "smtp max_line_length small", mutate: func(c *Config) { c.SMTP.MaxLineLength = 999 }, wantKey: "smtp.max_line_length"},
		{name: "smtp max_line_length 1000", mutate: func(c *Config) { c.SMTP.MaxLineLength = 1000 }},
		{name: "smtp read_timeout", mutate: func(c *Config) { c.SMTP.ReadTimeout = 0 }, wantKey: "smtp.read_timeout"},
		{name: "smtp write_timeout", mutate: func(c *Config) { c.SMTP.WriteTimeout = 0 }, wantKey: "smtp.write_timeout"},
		{name: "smtp session_timeout", mutate: func(c *Config) { c.SMTP.SessionTimeout = 0 }, wantKey: "smtp.session_timeout"},
		{name: "smtp max_connections", mutate: func(c *Config) { c.SMTP.MaxConnections = 0 }, wantKey: "smtp.max_connections"},
		{name: "smtp max_connections_per_ip", mutate: func(c *Config) { c.SMTP.MaxConnectionsPerIP = 0 }, wantKey: "smtp.max_connections_per_ip"},
		{name: "smtp tls both", mutate: func(c *Config) { c.SMTP.TLSCertFile, c.SMTP.TLSKeyFile = cert, key }},
		{name: "smtp tls cert only", mutate: func(c *Config) { c.SMTP.TLSCertFile = cert }, wantKey: "smtp.tls_key_file"},
		{name: "smtp tls key only", mutate: func(c *Config) { c.SMTP.TLSKeyFile = key }, wantKey: "smtp.tls_cert_file"},
		{name: "smtp tls cert missing", mutate: func(c *Config) {
			c.SMTP.TLSCertFile, c.SMTP.TLSKeyFile = filepath.Join(certDir, "missing.pem"), key
		}, wantKey: "smtp.tls_cert_file"},
		{name: "smtp tls key is dir", mutate: func(c *Config) { c.SMTP.TLSCertFile, c.SMTP.TLSKeyFile = cert, certDir }, wantKey: "smtp.tls_key_file"},
		{name: "admin email", mutate: func(c *Config) { c.Admin.Email = "admin" }, wantKey: "admin.email"},
		{name: "backup schedule set", mutate: func(c *Config) { c.Backup.Schedule, c.Backup.Dir = "@daily", "/backups" }},
		{name: "backup schedule blank", mutate: func(c *Config) { c.Backup.Schedule, c.Backup.Dir = "  ", "/backups" }, wantKey: "backup.schedule"},
		{name: "backup dir missing", mutate: func(c *Config) { c.Backup.Schedule = "@daily" }, wantKey: "backup.dir"},
		{name: "backup keep", mutate: func(c *Config) { c.Backup.Keep = 0 }, wantKey: "backup.keep"},
		{name: "health min free zero", mutate: func(c *Config) { c.Health.MinFreeBytes = 0 }},
		{name: "health min free negative", mutate: func(c *Config) { c.Health.MinFreeBytes = -1 }, wantKey: "health.min_free_bytes"},
		{name: "mailbox error is prefixed", mutate: func(c *Config) {
			m := validMailbox()
			m.Host = ""
			c.IMAP.Mailboxes = []Mailbox{m}
		}, wantKey: "imap.mailbox[0].host"},
		{name: "mailbox names unique", mutate: func(c *Config) {
			c.IMAP.Mailboxes = []Mailbox{validMailbox(), validMailbox()}
		}, wantKey: "imap.mailbox[1].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := Defaults()
			tt.mutate(c)
			err := c.Validate()
			if tt.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error for %s", tt.wantKey)
			}
			if n := len(unwrapAll(err)); n != 1 {
				t.Errorf("got %d errors, want 1:\n%v", n, err)
			}
			if !strings.HasPrefix(err.Error(), tt.wantKey+": ") {
				t.Errorf("Validate() = %q, want it to start with %q", err, tt.wantKey+": ")
			}
		})
	}
}

func TestValidateDoesNotLeakAdminPassword(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.Admin.Password = "hunter2-secret"
	c.Admin.Email = "nope"
	err := c.Validate()
	if err == nil || strings.Contains(err.Error(), "hunter2-secret") {
		t.Fatalf("Validate() = %v", err)
	}
}

func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
