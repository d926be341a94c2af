package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on every input. They are generous for people and small enough that
// no single request can bloat the database or a page.
const (
	MaxNameLen      = 200
	MaxLabelLen     = 64 // types, actions, locations
	MaxTitleLen     = 1000
	MaxDetailsLen   = 200_000
	MaxAddressLen   = 1000
	MaxPhoneLen     = 40
	MaxListLen      = 50  // emails, domains, phones, actions, owners
	MaxContactsPer  = 500 // contacts on one interaction
	MaxDuration     = 100_000
	MaxEmailLen     = 254 // bytes, as SMTP allows
	maxEmailLocal   = 64
	maxDomainLength = 253
)

func checkText(field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return invalid(field, "is required")
	}
	if !utf8.ValidString(s) {
		return invalid(field, "is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid(field, "is too long (%d characters, at most %d)", n, max)
	}
	for _, r := range s {
		if r == 0 || (unicode.IsControl(r) && r != '\n' && r != '\r' && r != '\t') {
			return invalid(field, "contains a control character")
		}
	}
	return nil
}

// checkLabel validates a one-line name: a type, an action, a location.
func checkLabel(field, s string) error {
	if err := checkText(field, s, MaxLabelLen, true); err != nil {
		return err
	}
	if strings.ContainsAny(s, "\r\n\t") {
		return invalid(field, "must be on one line")
	}
	return nil
}

// NormalizeEmail trims and lowercases an address and checks its shape
// (local@domain, no spaces or brackets). Matching is case-insensitive, so the
// lowercase form is the one stored and indexed.
func NormalizeEmail(s string) (string, bool) {
	s = strings.ToLower(strings.TrimSpace(s))
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at > maxEmailLocal || len(s) > MaxEmailLen {
		return "", false
	}
	for _, r := range s[:at] {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("<>()[]\\,;:\"@", r) {
			return "", false
		}
	}
	if !validHost(s[at+1:]) {
		return "", false
	}
	return s, true
}

// NormalizeAddress is NormalizeEmail for an address as mail headers and
// campaign tools write it: angle brackets around it are allowed.
func NormalizeAddress(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		s = s[1 : len(s)-1]
	}
	return NormalizeEmail(s)
}

// NormalizeDomain lowercases an organisation's mail domain ("@acme.com" is
// accepted) and checks that it is a host name with at least one dot.
func NormalizeDomain(s string) (string, bool) {
	s = strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "@"), ".")
	if !strings.Contains(s, ".") || !validHost(s) {
		return "", false
	}
	return s, true
}

// validHost checks a lowercase host name (single labels like localhost
// included).
func validHost(s string) bool {
	if s == "" || len(s) > maxDomainLength {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r >= 0x80 && unicode.IsLetter(r)) {
				return false
			}
		}
	}
	return true
}

// normList trims each element, drops empties and case-insensitive duplicates
// and applies norm (nil keeps the text), reporting the first bad element.
func normList(field string, in []string, norm func(string) (string, bool)) ([]string, error) {
	if len(in) > MaxListLen {
		return nil, invalid(field, "has %d entries, at most %d", len(in), MaxListLen)
	}
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, v := range in {
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		if norm != nil {
			n, ok := norm(v)
			if !ok {
				return nil, invalid(field, "%q is not valid", v)
			}
			v = n
		}
		k := strings.ToLower(v)
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func normPhone(s string) (string, bool) {
	if len(s) > MaxPhoneLen {
		return "", false
	}
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune("+-() ./x", r):
		default:
			return "", false
		}
	}
	return s, digits >= 3
}

// words splits a name into lowercase search words.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}
