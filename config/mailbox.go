package config

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Mailbox TLS modes (the tls key).
const (
	TLSImplicit = "implicit" // TLS from the first byte, default port 993
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, default port 143
	TLSNone     = "none"     // no TLS at all, default port 143
)

// Mailbox post-processing actions (the after key). AfterMovePrefix is
// followed by the destination folder, e.g. "move:Archive".
const (
	AfterSeen       = "seen"
	AfterDelete     = "delete"
	AfterMovePrefix = "move:"
)

// Mailbox is one [[imap.mailbox]] entry: an IMAP folder polled for messages
// to log. The password is never stored in the configuration; it is read from
// an environment variable (PasswordEnv) or a file (PasswordFile) by Password.
type Mailbox struct {
	// Name identifies the mailbox in logs and must be unique.
	Name string `toml:"name"`
	Host string `toml:"host"`
	// Port defaults to 993 for TLSImplicit and 143 otherwise.
	Port int `toml:"port"`
	// TLS is TLSImplicit (default), TLSStartTLS or TLSNone.
	TLS      string `toml:"tls"`
	Username string `toml:"username"`
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string `toml:"password_env"`
	// PasswordFile is a file holding the password (trailing newline ignored).
	PasswordFile string `toml:"password_file"`
	// Folder defaults to "INBOX".
	Folder string `toml:"folder"`
	// Schedule is a robfig/cron spec; default "@every 1m".
	Schedule string `toml:"schedule"`
	// After is AfterSeen (default), AfterDelete or AfterMovePrefix+folder.
	After string `toml:"after"`
	// CommandTimeout is how long an IMAP command may go without a byte
	// from the server before the poll fails and is retried; default 2m.
	CommandTimeout Duration `toml:"command_timeout"`
}

// applyDefaults fills the zero-valued optional fields. Load calls it for
// every mailbox in the file.
func (m *Mailbox) applyDefaults() {
	m.TLS = strings.ToLower(strings.TrimSpace(m.TLS))
	if m.TLS == "" {
		m.TLS = TLSImplicit
	}
	if m.Port == 0 {
		if m.TLS == TLSImplicit {
			m.Port = 993
		} else {
			m.Port = 143
		}
	}
	if m.Folder == "" {
		m.Folder = "INBOX"
	}
	if m.Schedule == "" {
		m.Schedule = "@every 1m"
	}
	if m.After == "" {
		m.After = AfterSeen
	}
	if m.CommandTimeout == 0 {
		m.CommandTimeout = Duration(2 * time.Minute)
	}
}

// validate appends one error per problem, each prefixed with key (e.g.
// "imap.mailbox[0]"). Uniqueness of Name is checked by Config.Validate.
func (m Mailbox) validate(key string, p *problems) {
	if strings.TrimSpace(m.Name) == "" {
		p.add(key+".name", "must not be empty")
	}
	if strings.TrimSpace(m.Host) == "" {
		p.add(key+".host", "must not be empty")
	}
	if m.Port < 1 || m.Port > 65535 {
		p.add(key+".port", "must be between 1 and 65535, got %d", m.Port)
	}
	switch m.TLS {
	case TLSImplicit, TLSStartTLS, TLSNone:
	default:
		p.add(key+".tls", "must be %q, %q or %q, got %q", TLSImplicit, TLSStartTLS, TLSNone, m.TLS)
	}
	if strings.TrimSpace(m.Username) == "" {
		p.add(key+".username", "must not be empty")
	}
	hasEnv := strings.TrimSpace(m.PasswordEnv) != ""
	hasFile := strings.TrimSpace(m.PasswordFile) != ""
	if hasEnv == hasFile {
		p.add(key, "exactly one of password_env and password_file must be set")
	}
	if strings.TrimSpace(m.Folder) == "" {
		p.add(key+".folder", "must not be empty")
	}
	if strings.TrimSpace(m.Schedule) == "" {
		p.add(key+".schedule", "must not be empty")
	}
	if t := m.CommandTimeout.Std(); t < time.Second || t > time.Hour {
		p.add(key+".command_timeout", "must be between 1s and 1h, got %s", t)
	}
	if action, folder := m.AfterAction(); action == "" {
		p.add(key+".after", "must be %q, %q or %q followed by a folder, got %q", AfterSeen, AfterDelete, AfterMovePrefix, m.After)
	} else if action == "move" && strings.TrimSpace(folder) == "" {
		p.add(key+".after", "%q needs a folder name, e.g. %q", AfterMovePrefix, AfterMovePrefix+"Archive")
	}
}

// AfterAction splits After into an action ("seen", "delete" or "move") and,
// for "move", the destination folder. It returns "" for an invalid value.
func (m Mailbox) AfterAction() (action, folder string) {
	switch {
	case m.After == AfterSeen:
		return AfterSeen, ""
	case m.After == AfterDelete:
		return AfterDelete, ""
	case strings.HasPrefix(m.After, AfterMovePrefix):
		return "move", strings.TrimPrefix(m.After, AfterMovePrefix)
	default:
		return "", ""
	}
}

// Addr returns host:port for dialing the mailbox's server.
func (m Mailbox) Addr() string {
	return net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
}

// String describes the mailbox for logs. It never includes the password.
func (m Mailbox) String() string {
	return fmt.Sprintf("%s (%s as %s, folder %s)", m.Name, m.Addr(), m.Username, m.Folder)
}

// Password returns the mailbox password, read from the environment variable
// named by PasswordEnv (looked up in env, e.g. from EnvMap(os.Environ())) or
// from PasswordFile, whose trailing line break is removed. An unset or empty
// password is an error. Errors name the variable or file but never contain
// the password.
func (m Mailbox) Password(env map[string]string) (string, error) {
	return readSecret(fmt.Sprintf("mailbox %q", m.Name), m.PasswordEnv, m.PasswordFile, env)
}

// readSecret reads a password from the environment variable envName (looked
// up in env) or from file, whose trailing line break is removed; exactly
// one must be set. Errors start with what and name the variable or file,
// never the password.
func readSecret(what, envName, file string, env map[string]string) (string, error) {
	envName = strings.TrimSpace(envName)
	file = strings.TrimSpace(file)
	switch {
	case envName != "" && file != "":
		return "", fmt.Errorf("%s: both password_env and password_file are set", what)
	case envName != "":
		pw, ok := env[envName]
		if !ok {
			return "", fmt.Errorf("%s: password environment variable %s is not set", what, envName)
		}
		if pw == "" {
			return "", fmt.Errorf("%s: password environment variable %s is empty", what, envName)
		}
		return pw, nil
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			// *fs.PathError names the file and the cause, never the content.
			return "", fmt.Errorf("%s: reading password file: %w", what, err)
		}
		pw := strings.TrimSuffix(string(data), "\n")
		pw = strings.TrimSuffix(pw, "\r")
		if pw == "" {
			return "", fmt.Errorf("%s: password file %s is empty", what, file)
		}
		return pw, nil
	default:
		return "", fmt.Errorf("%s: neither password_env nor password_file is set", what)
	}
}
