package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validMailbox returns a mailbox that passes validation after applyDefaults.
func validMailbox() Mailbox {
	m := Mailbox{
		Name:        "sales",
		Host:        "imap.example.com",
		Username:    "sales@example.com",
		PasswordEnv: "SALES_PW",
	}
	m.applyDefaults()
	return m
}

func TestMailboxDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       Mailbox
		wantPort int
		wantTLS  string
	}{
		{name: "implicit by default", in: Mailbox{}, wantPort: 993, wantTLS: TLSImplicit},
		{name: "starttls", in: Mailbox{TLS: "starttls"}, wantPort: 143, wantTLS: TLSStartTLS},
		{name: "none uppercase", in: Mailbox{TLS: "NONE"}, wantPort: 143, wantTLS: TLSNone},
		{name: "explicit port kept", in: Mailbox{TLS: "implicit", Port: 1993}, wantPort: 1993, wantTLS: TLSImplicit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := tt.in
			m.applyDefaults()
			if m.Port != tt.wantPort || m.TLS != tt.wantTLS {
				t.Errorf("got port %d tls %q, want %d %q", m.Port, m.TLS, tt.wantPort, tt.wantTLS)
			}
			if m.Folder != "INBOX" || m.Schedule != "@every 1m" || m.After != AfterSeen {
				t.Errorf("got folder %q schedule %q after %q", m.Folder, m.Schedule, m.After)
			}
		})
	}
}

func TestMailboxValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mutate   func(m *Mailbox)
		wantKeys []string // nil means valid
	}{
		{name: "valid env", mutate: func(*Mailbox) {}},
		{name: "valid file", mutate: func(m *Mailbox) { m.PasswordEnv, m.PasswordFile = "", "/run/secrets/pw" }},
		{name: "after delete", mutate: func(m *Mailbox) { m.After = "delete" }},
		{name: "after move", mutate: func(m *Mailbox) { m.After = "move:Archive/Logged" }},
		{name: "tls none", mutate: func(m *Mailbox) { m.TLS = TLSNone }},
		{name: "empty name", mutate: func(m *Mailbox) { m.Name = "" }, wantKeys: []string{"imap.mailbox[0].name"}},
		{name: "blank host", mutate: func(m *Mailbox) { m.Host = " " }, wantKeys: []string{"imap.mailbox[0].host"}},
		{name: "empty username", mutate: func(m *Mailbox) { m.Username = "" }, wantKeys: []string{"imap.mailbox[0].username"}},
		{name: "no password source", mutate: func(m *Mailbox) { m.PasswordEnv = "" }, wantKeys: []string{"imap.mailbox[0]: exactly one"}},
		{name: "both password sources", mutate: func(m *Mailbox) { m.PasswordFile = "/run/secrets/pw" }, wantKeys: []string{"imap.mailbox[0]: exactly one"}},
		{name: "bad tls", mutate: func(m *Mailbox) { m.TLS = "ssl" }, wantKeys: []string{"imap.mailbox[0].tls"}},
		{name: "port zero", mutate: func(m *Mailbox) { m.Port = 0 }, wantKeys: []string{"imap.mailbox[0].port"}},
		{name: "port too big", mutate: func(m *Mailbox) { m.Port = 70000 }, wantKeys: []string{"imap.mailbox[0].port"}},
		{name: "bad after", mutate: func(m *Mailbox) { m.After = "archive" }, wantKeys: []string{"imap.mailbox[0].after"}},
		{name: "move without folder", mutate: func(m *Mailbox) { m.After = "move:" }, wantKeys: []string{"imap.mailbox[0].after"}},
		{name: "move blank folder", mutate: func(m *Mailbox) { m.After = "move:  " }, wantKeys: []string{"imap.mailbox[0].after"}},
		{name: "empty folder", mutate: func(m *Mailbox) { m.Folder = "" }, wantKeys: []string{"imap.mailbox[0].folder"}},
		{name: "empty schedule", mutate: func(m *Mailbox) { m.Schedule = "" }, wantKeys: []string{"imap.mailbox[0].schedule"}},
		{name: "command timeout too short", mutate: func(m *Mailbox) { m.CommandTimeout = Duration(time.Millisecond) }, wantKeys: []string{"imap.mailbox[0].command_timeout"}},
		{name: "command timeout too long", mutate: func(m *Mailbox) { m.CommandTimeout = Duration(2 * time.Hour) }, wantKeys: []string{"imap.mailbox[0].command_timeout"}},
		{name: "several at once", mutate: func(m *Mailbox) { m.Host, m.Username, m.TLS = "", "", "tls" },
			wantKeys: []string{"imap.mailbox[0].host", "imap.mailbox[0].username", "imap.mailbox[0].tls"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := validMailbox()
			tt.mutate(&m)
			c := Defaults()
			c.IMAP.Mailboxes = []Mailbox{m}
			err := c.Validate()
			if tt.wantKeys == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors %q", tt.wantKeys)
			}
			errs := unwrapAll(err)
			if len(errs) != len(tt.wantKeys) {
				t.Errorf("got %d errors, want %d:\n%v", len(errs), len(tt.wantKeys), err)
			}
			for _, k := range tt.wantKeys {
				if !strings.Contains(err.Error(), k) {
					t.Errorf("error does not mention %q:\n%v", k, err)
				}
			}
		})
	}
}

func TestMailboxAfterAction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		after      string
		wantAction string
		wantFolder string
	}{
		{name: "seen", after: "seen", wantAction: "seen"},
		{name: "delete", after: "delete", wantAction: "delete"},
		{name: "move", after: "move:Done/CRM", wantAction: "move", wantFolder: "Done/CRM"},
		{name: "invalid", after: "Seen", wantAction: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			action, folder := Mailbox{After: tt.after}.AfterAction()
			if action != tt.wantAction || folder != tt.wantFolder {
				t.Errorf("AfterAction() = %q, %q, want %q, %q", action, folder, tt.wantAction, tt.wantFolder)
			}
		})
	}
}

func TestMailboxPassword(t *testing.T) {
	t.Parallel()
	const secret = "pa55-w0rd secret"
	tests := []struct {
		name    string
		mailbox Mailbox
		env     map[string]string
		want    string
		wantErr string // substring; "" means success
	}{
		{
			name:    "from env",
			mailbox: Mailbox{Name: "a", PasswordEnv: "PW"},
			env:     map[string]string{"PW": secret},
			want:    secret,
		},
		{
			name:    "env unset",
			mailbox: Mailbox{Name: "a", PasswordEnv: "PW"},
			env:     map[string]string{"OTHER": secret},
			wantErr: "PW is not set",
		},
		{
			name:    "env empty",
			mailbox: Mailbox{Name: "a", PasswordEnv: "PW"},
			env:     map[string]string{"PW": ""},
			wantErr: "PW is empty",
		},
		{
			name:    "from file with newline",
			mailbox: Mailbox{Name: "a", PasswordFile: writeFile(t, "pw", secret+"\n")},
			want:    secret,
		},
		{
			name:    "from file with crlf",
			mailbox: Mailbox{Name: "a", PasswordFile: writeFile(t, "pw", secret+"\r\n")},
			want:    secret,
		},
		{
			name:    "from file without newline keeps inner whitespace",
			mailbox: Mailbox{Name: "a", PasswordFile: writeFile(t, "pw", " "+secret)},
			want:    " " + secret,
		},
		{
			name:    "file missing",
			mailbox: Mailbox{Name: "a", PasswordFile: filepath.Join(t.TempDir(), "missing")},
			env:     map[string]string{"PW": secret},
			wantErr: "missing",
		},
		{
			name:    "file empty",
			mailbox: Mailbox{Name: "a", PasswordFile: writeFile(t, "pw", "\n")},
			wantErr: "is empty",
		},
		{
			name:    "both set",
			mailbox: Mailbox{Name: "a", PasswordEnv: "PW", PasswordFile: writeFile(t, "pw", secret)},
			env:     map[string]string{"PW": secret},
			wantErr: "both",
		},
		{
			name:    "neither set",
			mailbox: Mailbox{Name: "a"},
			env:     map[string]string{"PW": secret},
			wantErr: "neither",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.mailbox.Password(tt.env)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Password() error = %v", err)
				}
				if got != tt.want {
					t.Errorf("Password() = %q, want %q", got, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Password() = %q, want error containing %q", got, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Password() error = %q, want it to contain %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "pa55") {
				t.Errorf("Password() error leaks the password: %q", err)
			}
			if got != "" {
				t.Errorf("Password() returned %q with an error", got)
			}
		})
	}
	t.Run("missing file wraps fs.ErrNotExist", func(t *testing.T) {
		t.Parallel()
		_, err := Mailbox{Name: "a", PasswordFile: filepath.Join(t.TempDir(), "x")}.Password(nil)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("error = %v, want fs.ErrNotExist", err)
		}
	})
}

func TestMailboxString(t *testing.T) {
	t.Parallel()
	m := validMailbox()
	m.PasswordEnv = ""
	m.PasswordFile = "/run/secrets/pw"
	if got, want := m.String(), "sales (imap.example.com:993 as sales@example.com, folder INBOX)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}
