package ingest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"touchpoint/store"
)

// dkimKeys signs mail as several domains and answers the DNS queries for
// their public keys, as the verifier's resolver.
type dkimKeys struct {
	t    *testing.T
	keys map[string]ed25519.PrivateKey // domain → key (selector "s1")
}

func newDKIMKeys(t *testing.T, domains ...string) *dkimKeys {
	k := &dkimKeys{t: t, keys: map[string]ed25519.PrivateKey{}}
	for _, d := range domains {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k.keys[d] = priv
	}
	return k
}

func (k *dkimKeys) lookupTXT(name string) ([]string, error) {
	d, ok := strings.CutPrefix(name, "s1._domainkey.")
	priv, known := k.keys[d]
	if !ok || !known {
		return nil, fmt.Errorf("lookup %s: no such host", name)
	}
	pub := priv.Public().(ed25519.PublicKey)
	return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
}

// sign returns msg with a DKIM-Signature of domain d.
func (k *dkimKeys) sign(d, msg string) string {
	var out bytes.Buffer
	err := dkim.Sign(&out, strings.NewReader(msg), &dkim.SignOptions{
		Domain: d, Selector: "s1", Signer: k.keys[d],
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"},
	})
	if err != nil {
		k.t.Fatal(err)
	}
	return out.String()
}

// TestSMTPStaffSenderNeedsDKIM: with verification on, mail claiming a staff
// sender is logged only when a DKIM signature aligned with the staff domain
// (or the per-user secret address) vouches for it; the rest waits in the
// queue as "unverified". Mail from contacts needs no proof.
func TestSMTPStaffSenderNeedsDKIM(t *testing.T) {
	t.Parallel()
	keys := newDKIMKeys(t, "org.org", "attacker.example")
	e := newSMTPEnv(t, nil, func(p *Pipeline) { p.VerifyStaff = &DKIMVerifier{LookupTXT: keys.lookupTXT} })
	mail := func(id, from, to string) string {
		return "From: " + from + "\r\nTo: " + to + "\r\nSubject: test " + id + "\r\n" +
			"Date: Tue, 05 May 2026 10:00:00 +0000\r\nMessage-ID: <" + id + "@org.org>\r\n\r\nSee you Thursday.\r\n"
	}
	staff := func(id string) string { return mail(id, "Sarah Cohen <sarah@org.org>", "Yossi <yossi@example.com>") }
	tampered := strings.Replace(keys.sign("org.org", staff("tampered")), "See you Thursday.", "Send the money.", 1)
	subdomain := strings.Replace(staff("sub"), "sarah@org.org", "sarah@mail.org.org", 1)
	if _, err := e.s.UpdateUser(t.Context(), e.sarah.ID, func(u *store.User) error {
		u.Emails = append(u.Emails, "sarah@mail.org.org")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, rcpt, msg string
		logged          bool
	}{
		{"signed by the staff domain", "log@org.org", keys.sign("org.org", staff("signed")), true},
		{"signed by the organisational domain of a subdomain sender", "log@org.org", keys.sign("org.org", subdomain), true},
		{"no signature", "log@org.org", staff("unsigned"), false},
		{"valid signature of another domain", "log@org.org", keys.sign("attacker.example", staff("other")), false},
		{"body changed after signing", "log@org.org", tampered, false},
		{"unsigned, through the per-user secret address", "log+" + e.sarah.AddressToken + "@org.org", staff("token"), true},
		{"unsigned, from a contact to staff", "log@org.org", mail("inbound", "Yossi <yossi@example.com>", "sarah@org.org"), true},
	}
	for _, tc := range tests {
		if err := e.send("sarah@org.org", []string{tc.rcpt}, tc.msg); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
	logged := map[string]bool{}
	items, _, err := e.s.ListInteractions(store.Filter{}, 50, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, ia := range items {
		logged[ia.Title] = true
	}
	unverified := map[string]bool{}
	queue, _, err := e.s.ListUnmatched(store.UnmatchedFilter{}, 50, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range queue {
		if u.Reason != "unverified" {
			t.Errorf("queued %q with reason %q", u.Draft.Title, u.Reason)
		}
		unverified[u.Draft.Title] = true
	}
	for i, tc := range tests {
		title := strings.SplitN(strings.SplitN(tc.msg, "Subject: ", 2)[1], "\r\n", 2)[0]
		if logged[title] != tc.logged || unverified[title] == tc.logged {
			t.Errorf("%d %s: logged=%v unverified=%v, want logged=%v", i, tc.name, logged[title], unverified[title], tc.logged)
		}
	}
}

func TestAligned(t *testing.T) {
	t.Parallel()
	tests := []struct {
		signer, from string
		want         bool
	}{
		{"org.org", "org.org", true},
		{"ORG.org.", "org.org", true},
		{"org.org", "mail.org.org", true},
		{"mail.org.org", "org.org", true},
		{"example.co.uk", "mail.example.co.uk", true},
		{"co.uk", "example.co.uk", false},
		{"other.co.uk", "example.co.uk", false},
		{"notorg.org", "org.org", false},
		{"", "org.org", false},
		{"localhost", "localhost", true},
	}
	for _, tc := range tests {
		if got := aligned(tc.signer, tc.from); got != tc.want {
			t.Errorf("aligned(%q, %q) = %v, want %v", tc.signer, tc.from, got, tc.want)
		}
	}
}

// TestDKIMTemporaryFailureIsRetried: a key lookup that fails for now gets
// the message a 451 (the sender retries), not a verdict; a signature that
// cannot align with the From domain costs no DNS query at all.
func TestDKIMTemporaryFailureIsRetried(t *testing.T) {
	t.Parallel()
	keys := newDKIMKeys(t, "org.org", "attacker.example")
	var mu sync.Mutex
	queried := map[string]int{}
	down := true
	lookup := func(name string) ([]string, error) {
		mu.Lock()
		defer mu.Unlock()
		queried[name]++
		if down {
			return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
		}
		return keys.lookupTXT(name)
	}
	e := newSMTPEnv(t, nil, func(p *Pipeline) { p.VerifyStaff = &DKIMVerifier{LookupTXT: lookup} })
	signed := keys.sign("org.org", bccMail)
	if err := e.send("sarah@org.org", []string{"log@org.org"}, signed); smtpCode(err) != 451 {
		t.Fatalf("DNS down: %v, want 451", err)
	}
	if n, _ := e.s.CountInteractions(); n != 0 {
		t.Fatalf("%d interactions stored while the key could not be fetched", n)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	if err := e.send("sarah@org.org", []string{"log@org.org"}, signed); err != nil {
		t.Fatalf("DNS back: %v", err)
	}
	if n, _ := e.s.CountInteractions(); n != 1 {
		t.Fatalf("%d interactions after the retry, want 1", n)
	}
	other := keys.sign("attacker.example", strings.Replace(bccMail, "bcc-1", "bcc-9", 1))
	if err := e.send("sarah@org.org", []string{"log@org.org"}, other); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if n := queried["s1._domainkey.attacker.example"]; n != 0 {
		t.Errorf("the unaligned signature's key was looked up %d times", n)
	}
}
