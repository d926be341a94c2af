package ingest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"golang.org/x/net/publicsuffix"
)

// DKIMVerifier decides whether mail whose From names staff really comes
// from the organisation: it needs a valid DKIM signature whose domain is
// aligned with the From address's domain (relaxed alignment, as DMARC:
// the same organisational domain). Without it anyone could log mail "from"
// a staff member, on any contact's timeline.
type DKIMVerifier struct {
	// LookupTXT answers DNS TXT queries for public keys; nil uses the
	// system resolver, each query bounded by Timeout.
	LookupTXT func(domain string) ([]string, error)
	// Timeout bounds one DNS query (default 5 s).
	Timeout time.Duration
}

// maxDKIMSignatures bounds the signatures checked per message: each may
// cost a DNS query and an RSA verification.
const maxDKIMSignatures = 5

// Verify reports whether raw carries a valid DKIM signature aligned with
// from's domain; when it does not, why says what was found, in words. An
// error means no answer for now (a key lookup failed temporarily): the
// message must be retried, not judged.
func (v *DKIMVerifier) Verify(raw []byte, from string) (ok bool, why string, err error) {
	at := strings.LastIndexByte(from, '@')
	if at < 0 {
		return false, "the From address has no domain", nil
	}
	domain := strings.ToLower(from[at+1:])
	lookup := func(name string) ([]string, error) {
		// A signature that cannot align costs no DNS query: its
		// domain is the sender's choice, and so is how slowly it answers.
		if _, d, ok := strings.Cut(name, "._domainkey."); !ok || !aligned(d, domain) {
			return nil, fmt.Errorf("not aligned with %s, not looked up", domain)
		}
		return v.lookup(name)
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT:        lookup,
		MaxVerifications: maxDKIMSignatures,
	})
	if err != nil && len(verifs) == 0 {
		return false, "DKIM: " + err.Error(), nil
	}
	if len(verifs) == 0 {
		return false, "no DKIM signature", nil
	}
	var seen []string
	var temp error
	for _, vf := range verifs {
		switch {
		case vf.Err != nil && dkim.IsTempFail(vf.Err):
			temp = fmt.Errorf("DKIM key of %s: %w", vf.Domain, vf.Err)
		case vf.Err != nil:
			seen = append(seen, fmt.Sprintf("d=%s: %v", vf.Domain, vf.Err))
		case !aligned(vf.Domain, domain):
			seen = append(seen, fmt.Sprintf("d=%s: valid but not aligned with %s", vf.Domain, domain))
		default:
			return true, "", nil
		}
	}
	if temp != nil {
		return false, "", temp
	}
	return false, strings.Join(seen, "; "), nil
}

func (v *DKIMVerifier) lookup(domain string) ([]string, error) {
	if v.LookupTXT != nil {
		return v.LookupTXT(domain)
	}
	timeout := v.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return net.DefaultResolver.LookupTXT(ctx, domain)
}

// aligned reports whether a signing domain and a From domain share their
// organisational domain (RFC 7489 §3.1.1, relaxed mode).
func aligned(signer, from string) bool {
	signer = strings.TrimSuffix(strings.ToLower(signer), ".")
	return signer != "" && orgDomain(signer) == orgDomain(from)
}

// orgDomain is a domain's registrable part (example.co.uk for
// mail.example.co.uk), or the domain itself when it has none (localhost).
func orgDomain(d string) string {
	if o, err := publicsuffix.EffectiveTLDPlusOne(d); err == nil {
		return o
	}
	return d
}
