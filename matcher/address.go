package matcher

import (
	"strings"

	"touchpoint/store"
)

// NormalizeAddress lowercases and trims an address (angle brackets
// allowed); ok is false when s is not an address. The store normalises
// campaign recipients with the same function.
func NormalizeAddress(s string) (string, bool) {
	return store.NormalizeAddress(s)
}

// UserToken returns TOKEN when addr is a local+TOKEN@domain variant of the
// system address. The token is lowercase, as addresses are.
func UserToken(cfg Config, addr string) (string, bool) {
	sys, ok := systemParts(cfg)
	if !ok {
		return "", false
	}
	a, ok := NormalizeAddress(addr)
	if !ok {
		return "", false
	}
	return sys.token(a)
}

// DefaultFreemailDomains returns common free-mail domains, a starting point
// for Config.FreemailDomains. Each call returns a new slice.
func DefaultFreemailDomains() []string {
	return []string{
		"aol.com", "gmail.com", "googlemail.com", "gmx.com", "gmx.de", "gmx.net",
		"hotmail.co.uk", "hotmail.com", "hotmail.fr", "icloud.com", "live.com",
		"mac.com", "mail.com", "mail.ru", "me.com", "msn.com", "outlook.com",
		"proton.me", "protonmail.com", "t-online.de", "web.de", "yahoo.co.uk",
		"yahoo.com", "yahoo.fr", "yandex.ru", "zoho.com",
	}
}

type sysAddr struct{ local, domain string }

func systemParts(cfg Config) (sysAddr, bool) {
	a, ok := NormalizeAddress(cfg.SystemAddress)
	if !ok {
		return sysAddr{}, false
	}
	local, domain := splitAddress(a)
	return sysAddr{local, domain}, true
}

// isSystem reports whether a normalised address is the system address or
// one of its local+anything variants, known token or not.
func (s sysAddr) isSystem(addr string) bool {
	if s.local == "" {
		return false
	}
	local, domain := splitAddress(addr)
	return domain == s.domain && (local == s.local || strings.HasPrefix(local, s.local+"+"))
}

// token returns TOKEN of a normalised local+TOKEN@domain variant.
func (s sysAddr) token(addr string) (string, bool) {
	if s.local == "" {
		return "", false
	}
	local, domain := splitAddress(addr)
	if domain != s.domain {
		return "", false
	}
	tok, found := strings.CutPrefix(local, s.local+"+")
	if !found || tok == "" {
		return "", false
	}
	return tok, true
}

// splitAddress splits a normalised address at its last '@'.
func splitAddress(addr string) (local, domain string) {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return addr, ""
	}
	return addr[:at], addr[at+1:]
}

// foldPlusTag removes a +tag from the local part: "a+b@x" → "a@x". ok is
// false when there is no tag to remove.
func foldPlusTag(addr string) (string, bool) {
	local, domain := splitAddress(addr)
	plus := strings.IndexByte(local, '+')
	if plus <= 0 {
		return "", false
	}
	return local[:plus] + "@" + domain, true
}

// domainSet matches a domain and its subdomains against a configured list.
type domainSet []string

func newDomainSet(list []string) domainSet {
	out := make(domainSet, 0, len(list))
	for _, d := range list {
		d = strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(d)), "@"), ".")
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}

func (s domainSet) has(domain string) bool {
	for _, d := range s {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}
