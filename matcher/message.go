package matcher

import (
	"time"

	"touchpoint/store"
)

// Address is one mailbox of a header. Email is lowercase; Name is the
// decoded display name.
type Address struct {
	Name  string
	Email string
}

// Message is what the parser (package ingest) extracts from a raw message:
// the matcher's whole input besides the delivery. Strings are decoded
// (RFC 2047, charsets) and bounded in size by the parser.
type Message struct {
	// MessageID is the normalised Message-ID: without angle brackets,
	// lowercase domain part; "" when the message has none.
	MessageID string
	From      []Address
	Sender    *Address // the Sender header, when present
	ReplyTo   []Address
	To, Cc    []Address
	Subject   string
	Date      time.Time // zero when missing or unparseable
	InReplyTo string
	// References lists the Message-IDs of the thread, oldest first.
	References []string

	// Noise signals, straight from the headers.
	AutoSubmitted   string // Auto-Submitted value, lowercase ("auto-replied", "no" ...)
	Precedence      string // Precedence value, lowercase ("bulk", "list", "junk")
	ListID          string // List-Id, when present
	ListUnsubscribe bool   // a List-Unsubscribe header is present
	// AutoReplyHeaders is true when a vendor auto-reply header says so
	// (X-Autoreply, X-Autorespond, X-Auto-Response-Suppress: All/OOF...,
	// X-MS-Exchange-Inbox-Rules-Loop...).
	AutoReplyHeaders bool
	// Report is true for multipart/report (delivery status notifications).
	Report bool

	// Text is the body as plain text (HTML converted), bounded.
	Text        string
	Attachments []store.Attachment

	// Forwarded is the message a staff member forwarded: from a
	// message/rfc822 part or an inline "Forwarded message" block. Its
	// From is who the mail is really about.
	Forwarded *Message
}

// Delivery is how a message reached Touchpoint.
type Delivery struct {
	// MailFrom is the SMTP envelope sender; "" for the null sender <>.
	// IsNullSender distinguishes <> from "unknown" (IMAP, pipe).
	MailFrom     string
	IsNullSender bool
	// Recipients are the envelope recipients Touchpoint accepted (the
	// system address and per-user variants); empty when unknown.
	Recipients []string
	Source     string // store.SourceSMTP, SourceIMAP, SourcePipe, SourceAPI
}
