package config

import (
	"encoding"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load builds a Config from Defaults(), then the TOML file at path (skipped
// when path is empty; a missing file is an error), then the environment
// overrides in env (see EnvPrefix; pass EnvMap(os.Environ()) in production).
// A variable that is present overrides its key even when empty; lists are
// comma-separated. Finally it normalises domain lists and fills derived
// defaults (mailbox port/tls/folder/schedule/after, backup.dir).
//
// Unknown keys in the file and unparsable environment values are errors.
// Load does not call Validate.
func Load(path string, env map[string]string) (*Config, error) {
	c := Defaults()
	if path != "" {
		if err := decodeFile(path, c); err != nil {
			return nil, err
		}
	}
	if err := applyEnv(c, env); err != nil {
		return nil, err
	}
	c.normalize()
	return c, nil
}

// decodeFile decodes the TOML file at path over c, rejecting unknown keys.
func decodeFile(path string, c *Config) error {
	md, err := toml.DecodeFile(path, c)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			// ErrorWithPosition includes the line and a caret; keep the cause.
			return fmt.Errorf("config file %s: %s", path, strings.TrimSpace(perr.ErrorWithPosition()))
		}
		return fmt.Errorf("config file %s: %w", path, err)
	}
	if unknown := unknownKeys(md.Undecoded()); len(unknown) > 0 {
		return fmt.Errorf("config file %s: unknown keys: %s", path, strings.Join(unknown, ", "))
	}
	return nil
}

// unknownKeys renders undecoded keys, omitting keys below an already
// reported unknown table (so "[foo] bar=1" reports just "foo").
func unknownKeys(keys []toml.Key) []string {
	seen := make(map[string]bool, len(keys))
	var out []string
	for _, k := range keys {
		s := k.String()
		seen[s] = true
		parentUnknown := false
		for i := 1; i < len(k); i++ {
			if seen[k[:i].String()] {
				parentUnknown = true
				break
			}
		}
		if !parentUnknown {
			out = append(out, s)
		}
	}
	return out
}

// EnvMap turns os.Environ()-style "KEY=VALUE" strings into a map. Entries
// without "=" or with an empty key are ignored; for a duplicated key the
// first entry wins, as with os.Getenv.
func EnvMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if _, dup := m[k]; !dup {
			m[k] = v
		}
	}
	return m
}

// UnknownEnv returns, sorted, the names in env that start with EnvPrefix but
// override no key, typically typos worth a warning. Callers should ignore
// variables they use themselves (such as one naming the config file).
func UnknownEnv(env map[string]string) []string {
	known := make(map[string]bool)
	for _, b := range envBindings(Defaults()) {
		known[b.env] = true
	}
	var out []string
	for name := range env {
		if strings.HasPrefix(name, EnvPrefix) && !known[name] {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// binding ties one scalar configuration key to its environment variable and
// to the settable field in a particular Config.
type binding struct {
	key   string // TOML key path, e.g. "smtp.max_message_bytes"
	env   string // e.g. "TOUCHPOINT_SMTP_MAX_MESSAGE_BYTES"
	field reflect.Value
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// envBindings walks c by reflection and returns a binding for every scalar
// key, in struct order. Nested structs recurse; slices of structs are
// skipped. It panics on a field type it cannot set from a string, which is
// a programming error caught by the tests.
func envBindings(c *Config) []binding {
	return appendBindings(nil, reflect.ValueOf(c).Elem(), "")
}

func appendBindings(out []binding, v reflect.Value, prefix string) []binding {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("toml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		key := prefix + name
		f := v.Field(i)
		switch {
		case reflect.PointerTo(f.Type()).Implements(textUnmarshalerType):
			// Scalar with its own text form, e.g. Duration.
		case f.Kind() == reflect.Struct:
			out = appendBindings(out, f, key+".")
			continue
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
			continue // tables such as [[imap.mailbox]] are file-only
		case isScalarKind(f.Type()):
		default:
			panic(fmt.Sprintf("config: key %s has unsupported type %s", key, f.Type()))
		}
		env := EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
		out = append(out, binding{key: key, env: env, field: f})
	}
	return out
}

func isScalarKind(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	}
	return false
}

// applyEnv sets every key whose environment variable is present in env and
// reports all bad values at once.
func applyEnv(c *Config, env map[string]string) error {
	var errs []error
	for _, b := range envBindings(c) {
		val, ok := env[b.env]
		if !ok {
			continue
		}
		if err := setFromString(b.field, val); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s (key %s): %w", b.env, b.key, err))
		}
	}
	return errors.Join(errs...)
}

// setFromString parses s into f, which must be a scalar accepted by
// appendBindings.
func setFromString(f reflect.Value, s string) error {
	if u, ok := f.Addr().Interface().(encoding.TextUnmarshaler); ok {
		return u.UnmarshalText([]byte(s))
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		v, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid boolean %q (want true or false)", s)
		}
		f.SetBool(v)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v, err := strconv.ParseInt(strings.TrimSpace(s), 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid integer %q: %w", s, numErrCause(err))
		}
		f.SetInt(v)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v, err := strconv.ParseUint(strings.TrimSpace(s), 10, f.Type().Bits())
		if err != nil {
			return fmt.Errorf("invalid unsigned integer %q: %w", s, numErrCause(err))
		}
		f.SetUint(v)
	case reflect.Slice: // []string, by appendBindings
		f.Set(reflect.ValueOf(splitList(s)))
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

// numErrCause strips strconv's "strconv.ParseInt: parsing ..." wrapper.
func numErrCause(err error) error {
	if ne, ok := errors.AsType[*strconv.NumError](err); ok {
		return ne.Err
	}
	return err
}

// splitList splits a comma-separated list, trimming items and dropping
// empty ones. It never returns nil.
func splitList(s string) []string {
	out := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// normalize canonicalises values after file and environment are applied and
// fills defaults that depend on other keys.
func (c *Config) normalize() {
	c.InternalDomains = normalizeDomains(c.InternalDomains)
	c.FreemailDomains = normalizeDomains(c.FreemailDomains)
	c.Log.Level = strings.ToLower(strings.TrimSpace(c.Log.Level))
	c.Log.Format = strings.ToLower(strings.TrimSpace(c.Log.Format))
	if c.Backup.Dir == "" && c.Backup.Schedule != "" {
		c.Backup.Dir = filepath.Join(c.DataDir, "backups")
	}
	for i := range c.IMAP.Mailboxes {
		c.IMAP.Mailboxes[i].applyDefaults()
	}
	c.Relay.applyDefaults()
}

// normalizeDomains trims and lowercases domains, dropping empty entries and
// duplicates while keeping order. It never returns nil.
func normalizeDomains(in []string) []string {
	out := make([]string, 0, len(in))
	for _, d := range in {
		d = strings.ToLower(strings.TrimSpace(d))
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}
