package ingest

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
)

// cleanTextReference is cleanText written the obvious way, one rune at a
// time: the oracle for the span-copying version.
func cleanTextReference(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteRune(utf8.RuneError)
		case r == '\r':
			if i >= len(s) || s[i] != '\n' {
				b.WriteByte('\n')
			}
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r >= 0x80 && r <= 0x9f:
			if w := charmap.Windows1252.DecodeByte(byte(r)); !unicode.IsControl(w) {
				b.WriteRune(w)
			}
		case unicode.IsControl(r) || r == '\uFEFF':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

var cleanCases = []string{
	"", "plain", "a\r\nb\r\n", "a\rb", "end\r", "\r\r\n", "tab\tok\n",
	"bad\xffbyte", "\xe2\x82", "c1 \u0080\u0085\u0099\u009f", "bom\uFEFFhere",
	"nul\x00del\x7f", "h\u00e9llo w\u00f6rld \u05e9\u05dc\u05d5\u05dd \U0001F600",
	"\u2028line sep", "mixed\r\n\xc3(\u0093x\u0093\r",
}

func TestCleanTextMatchesReference(t *testing.T) {
	for _, s := range cleanCases {
		if got, want := cleanText(s), cleanTextReference(s); got != want {
			t.Errorf("cleanText(%q) = %q, want %q", s, got, want)
		}
	}
}

func FuzzCleanText(f *testing.F) {
	for _, s := range cleanCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := cleanText(s)
		if want := cleanTextReference(s); got != want {
			t.Fatalf("cleanText(%q) = %q, want %q", s, got, want)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("cleanText(%q) = %q: not valid UTF-8", s, got)
		}
	})
}
