package config

import (
	"errors"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "touchpoint.toml", `
data_dir = "/var/lib/touchpoint"
internal_domains = ["Example.COM", " example.org "]

[http]
addr = ":9000"
read_timeout = "45s"

[smtp]
max_recipients = 10
max_message_bytes = 1_000_000

[[imap.mailbox]]
name = "sales"
host = "imap.example.com"
tls = "starttls"
username = "sales@example.com"
password_env = "SALES_PW"
`)
	env := map[string]string{
		"TOUCHPOINT_HTTP_ADDR":                "127.0.0.1:9999",
		"TOUCHPOINT_SMTP_MAX_RECIPIENTS":      "20",
		"TOUCHPOINT_SMTP_WRITE_TIMEOUT":       "2m",
		"TOUCHPOINT_INTERNAL_DOMAINS":         " Acme.io, ,acme.co.uk,ACME.io",
		"TOUCHPOINT_ADMIN_PASSWORD":           "s3cret",
		"TOUCHPOINT_BACKUP_SCHEDULE":          "@daily",
		"UNRELATED":                           "x",
		"TOUCHPOINT_IMAP_MAILBOX":             "ignored: not a scalar key",
		"TOUCHPOINT_SMTP_MAX_CONNECTIONS_XYZ": "ignored: unknown",
	}
	c, err := Load(path, env)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{name: "file only", got: c.DataDir, want: "/var/lib/touchpoint"},
		{name: "file only duration", got: c.HTTP.ReadTimeout.Std(), want: 45 * time.Second},
		{name: "file only int64", got: c.SMTP.MaxMessageBytes, want: int64(1_000_000)},
		{name: "env wins over file", got: c.HTTP.Addr, want: "127.0.0.1:9999"},
		{name: "env wins over file int", got: c.SMTP.MaxRecipients, want: 20},
		{name: "env over default duration", got: c.SMTP.WriteTimeout.Std(), want: 2 * time.Minute},
		{name: "env string", got: c.Admin.Password, want: "s3cret"},
		{name: "default kept", got: c.SMTP.Hostname, want: "localhost"},
		{name: "env list normalised", got: strings.Join(c.InternalDomains, ","), want: "acme.io,acme.co.uk"},
		{name: "backup dir derived", got: c.Backup.Dir, want: filepath.Join("/var/lib/touchpoint", "backups")},
		{name: "mailbox count", got: len(c.IMAP.Mailboxes), want: 1},
		{name: "mailbox port default starttls", got: c.IMAP.Mailboxes[0].Port, want: 143},
		{name: "mailbox folder default", got: c.IMAP.Mailboxes[0].Folder, want: "INBOX"},
		{name: "mailbox schedule default", got: c.IMAP.Mailboxes[0].Schedule, want: "@every 1m"},
		{name: "mailbox after default", got: c.IMAP.Mailboxes[0].After, want: "seen"},
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

func TestLoadFileDomainsNormalised(t *testing.T) {
	t.Parallel()
	path := writeFile(t, "c.toml", `internal_domains = ["Example.COM", " example.org ", "", "example.com"]`)
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"example.com", "example.org"}; !slices.Equal(c.InternalDomains, want) {
		t.Errorf("InternalDomains = %q, want %q", c.InternalDomains, want)
	}
}

func TestLoadEnvEmptyValue(t *testing.T) {
	t.Parallel()
	c, err := Load("", map[string]string{
		"TOUCHPOINT_FREEMAIL_DOMAINS": "",
		"TOUCHPOINT_HTTP_PUBLIC_URL":  "",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.FreemailDomains == nil || len(c.FreemailDomains) != 0 {
		t.Errorf("FreemailDomains = %#v, want empty non-nil list", c.FreemailDomains)
	}
}

func TestLoadBadEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   map[string]string
		wants []string // substrings of the error
	}{
		{
			name:  "int",
			env:   map[string]string{"TOUCHPOINT_SMTP_MAX_RECIPIENTS": "abc"},
			wants: []string{"TOUCHPOINT_SMTP_MAX_RECIPIENTS", "smtp.max_recipients", `"abc"`},
		},
		{
			name:  "int64 overflow",
			env:   map[string]string{"TOUCHPOINT_SMTP_MAX_MESSAGE_BYTES": "99999999999999999999"},
			wants: []string{"TOUCHPOINT_SMTP_MAX_MESSAGE_BYTES", "smtp.max_message_bytes", "out of range"},
		},
		{
			name:  "duration",
			env:   map[string]string{"TOUCHPOINT_HTTP_READ_TIMEOUT": "30"},
			wants: []string{"TOUCHPOINT_HTTP_READ_TIMEOUT", "http.read_timeout", "duration"},
		},
		{
			name:  "empty int",
			env:   map[string]string{"TOUCHPOINT_BACKUP_KEEP": ""},
			wants: []string{"TOUCHPOINT_BACKUP_KEEP", "backup.keep"},
		},
		{
			name: "all reported",
			env: map[string]string{
				"TOUCHPOINT_SMTP_MAX_RECIPIENTS": "abc",
				"TOUCHPOINT_HTTP_IDLE_TIMEOUT":   "forever",
			},
			wants: []string{"TOUCHPOINT_SMTP_MAX_RECIPIENTS", "TOUCHPOINT_HTTP_IDLE_TIMEOUT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Load("", tt.env)
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		wants   []string
	}{
		{
			name:    "unknown top-level key",
			content: "data_dir = \"x\"\ndatadir = \"y\"\n",
			wants:   []string{"unknown keys", "datadir"},
		},
		{
			name:    "unknown nested key",
			content: "[smtp]\nmax_recipient = 5\n",
			wants:   []string{"unknown keys", "smtp.max_recipient"},
		},
		{
			name:    "unknown table reported once",
			content: "[smpt]\naddr = \"off\"\nhostname = \"x\"\n",
			wants:   []string{"unknown keys: smpt"},
		},
		{
			name:    "unknown mailbox key",
			content: "[[imap.mailbox]]\nname = \"a\"\npassword = \"nope\"\n",
			wants:   []string{"imap.mailbox.password"},
		},
		{
			name:    "syntax error",
			content: "data_dir = \n",
			wants:   []string{"line 1"},
		},
		{
			name:    "wrong type",
			content: "[smtp]\nmax_recipients = \"many\"\n",
			wants:   []string{"max_recipients"},
		},
		{
			name:    "bad duration",
			content: "[http]\nread_timeout = 30\n",
			wants:   []string{"read_timeout", "duration"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := writeFile(t, "c.toml", tt.content)
			_, err := Load(path, nil)
			if err == nil {
				t.Fatal("Load succeeded, want error")
			}
			for _, w := range append(tt.wants, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.toml")
	_, err := Load(path, nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing) error = %v, want fs.ErrNotExist", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestEnvMap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		environ []string
		want    map[string]string
	}{
		{name: "nil", environ: nil, want: map[string]string{}},
		{name: "simple", environ: []string{"A=1", "B="}, want: map[string]string{"A": "1", "B": ""}},
		{name: "value with equals", environ: []string{"A=x=y"}, want: map[string]string{"A": "x=y"}},
		{name: "no equals ignored", environ: []string{"A"}, want: map[string]string{}},
		{name: "empty key ignored", environ: []string{"=C:=C:\\"}, want: map[string]string{}},
		{name: "first wins", environ: []string{"A=1", "A=2"}, want: map[string]string{"A": "1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := EnvMap(tt.environ); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("EnvMap(%q) = %v, want %v", tt.environ, got, tt.want)
			}
		})
	}
}

func TestUnknownEnv(t *testing.T) {
	t.Parallel()
	got := UnknownEnv(map[string]string{
		"TOUCHPOINT_SMTP_ADRR": "x",
		"TOUCHPOINT_SMTP_ADDR": "x",
		"TOUCHPOINT_CONFIG":    "x",
		"HOME":                 "x",
	})
	if want := []string{"TOUCHPOINT_CONFIG", "TOUCHPOINT_SMTP_ADRR"}; !slices.Equal(got, want) {
		t.Errorf("UnknownEnv = %q, want %q", got, want)
	}
}

// TestEnvBindings checks the naming rule on a few keys and that every
// binding covers a distinct variable.
func TestEnvBindings(t *testing.T) {
	t.Parallel()
	byKey := map[string]string{}
	seenEnv := map[string]bool{}
	for _, b := range envBindings(Defaults()) {
		if seenEnv[b.env] {
			t.Errorf("environment variable %s bound twice", b.env)
		}
		seenEnv[b.env] = true
		byKey[b.key] = b.env
	}
	tests := []struct {
		name string
		key  string
		want string
	}{
		{name: "top level", key: "data_dir", want: "TOUCHPOINT_DATA_DIR"},
		{name: "list", key: "freemail_domains", want: "TOUCHPOINT_FREEMAIL_DOMAINS"},
		{name: "nested", key: "smtp.max_message_bytes", want: "TOUCHPOINT_SMTP_MAX_MESSAGE_BYTES"},
		{name: "duration", key: "http.shutdown_timeout", want: "TOUCHPOINT_HTTP_SHUTDOWN_TIMEOUT"},
		{name: "mailboxes skipped", key: "imap.mailbox", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := byKey[tt.key]; got != tt.want {
				t.Errorf("env for %s = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
	if len(byKey) != 45 {
		t.Errorf("got %d scalar keys, want 45 (update this test and the example file when adding keys)", len(byKey))
	}
}
