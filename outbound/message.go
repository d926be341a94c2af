package outbound

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"

	"touchpoint/store"
)

// MessageID is the Message-ID (without angle brackets) of a campaign's
// message to one address. It depends on nothing else, so every attempt at
// the same recipient carries the same id and a receiver (or an operator
// reading the relay's log) can tell a copy from a second message.
func MessageID(campaign store.ID, addr, domain string) string {
	h := sha256.Sum256([]byte(strings.ToLower(addr)))
	return fmt.Sprintf("tp-campaign-%d-%s@%s", campaign, hex.EncodeToString(h[:8]), domain)
}

// domainOf returns the domain of an address ("localhost" without one).
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i+1 < len(addr) {
		return addr[i+1:]
	}
	return "localhost"
}

// buildMessage renders one recipient's message: plain UTF-8 text, quoted-
// printable, CRLF line ends.
func buildMessage(from, fromName string, r *store.SendRecipient, subject, body, msgID string, campaign store.ID, date time.Time) []byte {
	var b bytes.Buffer
	hdr := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	hdr("From", (&mail.Address{Name: fromName, Address: from}).String())
	hdr("To", (&mail.Address{Name: r.Name, Address: r.Address}).String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", subject))
	hdr("Date", date.Format(time.RFC1123Z))
	hdr("Message-ID", "<"+msgID+">")
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", "text/plain; charset=utf-8")
	hdr("Content-Transfer-Encoding", "quoted-printable")
	hdr("Precedence", "bulk")
	hdr("X-Touchpoint-Campaign", campaign.String())
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(body))
	qp.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}
