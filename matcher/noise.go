package matcher

import "strings"

// autoReplySubjects start the subjects of common auto-replies (compared
// case-insensitively, after leading spaces).
var autoReplySubjects = [...]string{
	"out of office",
	"automatic reply",
	"auto:",
	"autoreply",
	"auto-reply",
	"abwesenheitsnotiz",
}

// NoiseReason classifies m as delivered by d: ReasonBounce, ReasonAutoReply
// or ReasonList, in that order, or "" when it is not noise. It reads only
// the message and the delivery.
func NoiseReason(m *Message, d Delivery) string {
	switch {
	case isBounce(m, d):
		return ReasonBounce
	case isAutoReply(m):
		return ReasonAutoReply
	case isList(m):
		return ReasonList
	}
	return ""
}

func isBounce(m *Message, d Delivery) bool {
	if d.IsNullSender || m.Report || daemonAddress(d.MailFrom) {
		return true
	}
	for _, a := range m.From {
		if daemonAddress(a.Email) {
			return true
		}
	}
	return false
}

// daemonAddress reports whether addr is mailer-daemon@ or postmaster@.
func daemonAddress(addr string) bool {
	a, ok := NormalizeAddress(addr)
	if !ok {
		return false
	}
	local, _ := splitAddress(a)
	return local == "mailer-daemon" || local == "postmaster"
}

func isAutoReply(m *Message) bool {
	// Auto-Submitted may carry parameters: "auto-replied; owner-email=...".
	as, _, _ := strings.Cut(m.AutoSubmitted, ";")
	if as = strings.ToLower(strings.TrimSpace(as)); as != "" && as != "no" {
		return true
	}
	if m.AutoReplyHeaders || strings.ToLower(strings.TrimSpace(m.Precedence)) == "auto_reply" {
		return true
	}
	subject := strings.TrimLeft(m.Subject, " \t")
	for _, p := range autoReplySubjects {
		if len(subject) >= len(p) && strings.EqualFold(subject[:len(p)], p) {
			return true
		}
	}
	return false
}

func isList(m *Message) bool {
	if strings.TrimSpace(m.ListID) != "" || m.ListUnsubscribe {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(m.Precedence)) {
	case "bulk", "list", "junk":
		return true
	}
	return false
}
