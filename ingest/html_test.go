package ingest

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHTMLToText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		{"plain text", "hello", "hello"},
		{"paragraphs and breaks", "<p>one</p><p>two<br>three<br><br>four</p>", "one\n\ntwo\nthree\n\nfour"},
		{"head, style and script dropped", "<html><head><title>T</title><style>p{}</style></head><body><script>alert(1)</script><p>text</p></body></html>", "text"},
		{"head left open", "<head><title>T</title><body>visible", "visible"},
		{"self-closed script still dropped", "<script/>var x = '<p>no</p>';</script>yes", "yes"},
		{"nested dropped svg", "a<svg><svg><text>no</text></svg><text>no</text></svg>b", "ab"},
		{"links keep their text", `see <a href="https://x.example/?a=1&amp;b=2">the page</a>.`, "see the page."},
		{"entities", "&lt;b&gt; &amp; &eacute; &#x5D0; &euro;&nbsp;5", "<b> & é א € 5"},
		{"white space collapsed", "  a \n\t b   <span> c </span>  ", "a b c"},
		{"pre kept", "<pre>a  b\n  c</pre>d", "a  b\n  c\n\nd"},
		{"lists", "<ul><li>one</li><li> two </li></ul>after", "- one\n- two\n\nafter"},
		{"tables", "<table><tr><td>a</td><td>b</td></tr><tr><th>c</th><td>d</td></tr></table>", "a b\nc d"},
		{"divs", "<div>a</div><div><div>b</div></div>c", "a\nb\nc"},
		{"comments and conditional comments", "a<!-- b --><!--[if mso]><p>mso</p><![endif]-->c", "ac"},
		{"unclosed tags", "<p>a<b>b<i>c", "abc"},
		{"markup in text is text", "&lt;script&gt;alert(1)&lt;/script&gt;", "<script>alert(1)</script>"},
		{"attributes never leak", `<img alt="x" src="javascript:alert(1)"><p title="<b>">t</p>`, "t"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		if got := htmlToText(strings.NewReader(tt.in), 1000); got != tt.want {
			t.Errorf("%s: htmlToText(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestHTMLToTextLimits(t *testing.T) {
	t.Parallel()
	// Output stops at the limit, on a character boundary.
	got := htmlToText(strings.NewReader("<p>"+strings.Repeat("שלום ", 1000)+"</p>"), 7)
	if got != "שלום של" {
		t.Errorf("htmlToText clipped = %q, want %q", got, "שלום של")
	}
	// A token over maxHTMLToken ends the conversion, keeping what came before.
	huge := "<p>before</p><p title=\"" + strings.Repeat("x", maxHTMLToken+10) + "\">after</p>"
	if got := htmlToText(strings.NewReader(huge), 1000); got != "before" {
		t.Errorf("htmlToText(huge attribute) = %q, want %q", got, "before")
	}
	// Deep nesting costs nothing: there is no tree.
	deep := strings.Repeat("<div>", 100_000) + "deep" + strings.Repeat("</div>", 100_000)
	if got := htmlToText(strings.NewReader(deep), 1000); got != "deep" {
		t.Errorf("htmlToText(deep) = %q", got)
	}
	// Invalid UTF-8 goes through to cleanText, which replaces it.
	if got := cleanText(htmlToText(strings.NewReader("a\xffb"), 10)); !utf8.ValidString(got) || got != "a\uFFFDb" {
		t.Errorf("htmlToText(invalid UTF-8) = %q", got)
	}
}
