package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// problems collects validation errors, each prefixed with the key it is about.
type problems []error

func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
}

// Validate checks the whole configuration and reports every problem at once,
// joined with errors.Join, each naming its key, e.g.
// "smtp.max_message_bytes: must be > 0". It returns nil when c is valid.
// It checks that the SMTP TLS files exist but does not read mailbox
// passwords (see Mailbox.Password). No error contains a password.
func (c *Config) Validate() error {
	var p problems

	if strings.TrimSpace(c.DataDir) == "" {
		p.add("data_dir", "must not be empty")
	}
	checkAddrSpec(&p, "system_address", c.SystemAddress)
	checkDomains(&p, "internal_domains", c.InternalDomains)
	checkDomains(&p, "freemail_domains", c.FreemailDomains)

	switch c.Log.Level {
	case LogLevelDebug, LogLevelInfo, LogLevelWarn, LogLevelError:
	default:
		p.add("log.level", "must be %q, %q, %q or %q, got %q",
			LogLevelDebug, LogLevelInfo, LogLevelWarn, LogLevelError, c.Log.Level)
	}
	switch c.Log.Format {
	case LogFormatText, LogFormatJSON:
	default:
		p.add("log.format", "must be %q or %q, got %q", LogFormatText, LogFormatJSON, c.Log.Format)
	}

	c.validateHTTP(&p)
	c.validateSMTP(&p)

	checkAddrSpec(&p, "admin.email", c.Admin.Email)

	if c.Backup.Schedule != "" {
		if strings.TrimSpace(c.Backup.Schedule) == "" {
			p.add("backup.schedule", "must not be blank (leave it empty to disable backups)")
		}
		if strings.TrimSpace(c.Backup.Dir) == "" {
			p.add("backup.dir", "must not be empty when backup.schedule is set")
		}
	}
	if c.Backup.Keep < 1 {
		p.add("backup.keep", "must be >= 1, got %d", c.Backup.Keep)
	}

	if c.Health.MinFreeBytes < 0 {
		p.add("health.min_free_bytes", "must be >= 0, got %d", c.Health.MinFreeBytes)
	}
	c.Relay.validate(&p)

	names := make(map[string]int, len(c.IMAP.Mailboxes))
	for i, m := range c.IMAP.Mailboxes {
		key := fmt.Sprintf("imap.mailbox[%d]", i)
		m.validate(key, &p)
		if m.Name == "" {
			continue
		}
		if j, dup := names[m.Name]; dup {
			p.add(key+".name", "%q is already used by imap.mailbox[%d]", m.Name, j)
		} else {
			names[m.Name] = i
		}
	}

	return errors.Join(p...)
}

func (c *Config) validateHTTP(p *problems) {
	checkListenAddr(p, "http.addr", c.HTTP.Addr, "host:port")
	checkPositive(p, "http.read_timeout", int64(c.HTTP.ReadTimeout))
	checkPositive(p, "http.write_timeout", int64(c.HTTP.WriteTimeout))
	checkPositive(p, "http.idle_timeout", int64(c.HTTP.IdleTimeout))
	checkPositive(p, "http.shutdown_timeout", int64(c.HTTP.ShutdownTimeout))
	checkPositive(p, "http.max_body_bytes", c.HTTP.MaxBodyBytes)
	if c.HTTP.PublicURL != "" {
		u, err := url.Parse(c.HTTP.PublicURL)
		switch {
		case err != nil:
			p.add("http.public_url", "invalid URL %q: %v", c.HTTP.PublicURL, errors.Unwrap(err))
		case u.Scheme != "http" && u.Scheme != "https":
			p.add("http.public_url", "must be an absolute http:// or https:// URL, got %q", c.HTTP.PublicURL)
		case u.Host == "":
			p.add("http.public_url", "must include a host, got %q", c.HTTP.PublicURL)
		}
	}
}

func (c *Config) validateSMTP(p *problems) {
	if c.SMTPEnabled() {
		checkListenAddr(p, "smtp.addr", c.SMTP.Addr, `host:port or "off"`)
	}
	if h := c.SMTP.Hostname; strings.TrimSpace(h) == "" || strings.ContainsAny(h, " \t\r\n") {
		p.add("smtp.hostname", "must be a host name without spaces, got %q", h)
	}
	checkPositive(p, "smtp.max_message_bytes", c.SMTP.MaxMessageBytes)
	checkPositive(p, "smtp.max_recipients", int64(c.SMTP.MaxRecipients))
	if c.SMTP.MaxLineLength < 1000 {
		// RFC 5321 4.5.3.1.6: a text line may be 1000 octets including CRLF.
		p.add("smtp.max_line_length", "must be >= 1000, got %d", c.SMTP.MaxLineLength)
	}
	checkPositive(p, "smtp.read_timeout", int64(c.SMTP.ReadTimeout))
	checkPositive(p, "smtp.write_timeout", int64(c.SMTP.WriteTimeout))
	checkPositive(p, "smtp.session_timeout", int64(c.SMTP.SessionTimeout))
	checkPositive(p, "smtp.max_connections", int64(c.SMTP.MaxConnections))
	checkPositive(p, "smtp.max_connections_per_ip", int64(c.SMTP.MaxConnectionsPerIP))

	cert, key := c.SMTP.TLSCertFile, c.SMTP.TLSKeyFile
	switch {
	case cert == "" && key == "":
	case cert == "":
		p.add("smtp.tls_cert_file", "must be set when smtp.tls_key_file is set")
	case key == "":
		p.add("smtp.tls_key_file", "must be set when smtp.tls_cert_file is set")
	default:
		checkFile(p, "smtp.tls_cert_file", cert)
		checkFile(p, "smtp.tls_key_file", key)
	}
}

func checkPositive(p *problems, key string, v int64) {
	if v <= 0 {
		p.add(key, "must be > 0")
	}
}

// checkListenAddr accepts host:port with a numeric port 0-65535; the host may
// be empty (all interfaces). want describes the accepted forms.
func checkListenAddr(p *problems, key, addr, want string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(key, "must be %s, got %q", want, addr)
		return
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n > 65535 {
		p.add(key, "port must be a number between 0 and 65535, got %q", port)
	}
}

// checkAddrSpec accepts a bare addr-spec ("local@domain"), without display
// name or angle brackets.
func checkAddrSpec(p *problems, key, addr string) {
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Name != "" || a.Address != addr || !strings.Contains(addr, "@") {
		p.add(key, "must be an address of the form local@domain, got %q", addr)
	}
}

func checkDomains(p *problems, key string, domains []string) {
	for _, d := range domains {
		if !validDomain(d) {
			p.add(key, "invalid domain %q (use letters, digits, dots and hyphens)", d)
		}
	}
}

// validDomain reports whether d is made of dot-separated, non-empty labels of
// ASCII letters, digits and hyphens, with no label starting or ending with a
// hyphen.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// checkFile requires path to exist and not be a directory.
func checkFile(p *problems, key, path string) {
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		p.add(key, "%v", err)
	case fi.IsDir():
		p.add(key, "%s is a directory, want a file", path)
	}
}
