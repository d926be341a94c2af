package ingest

import (
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxHTMLToken bounds one token (a tag with its attributes, a text run) so
// that hostile HTML cannot make the tokenizer buffer without limit; the
// conversion stops at a longer one, keeping the text before it.
const maxHTMLToken = 1 << 20

// htmlToText renders HTML as plain text of at most max characters: the
// text of the document without head, scripts, styles and the like; block
// elements on lines of their own, list items with a dash, links as their
// text, entities decoded, white space collapsed (except in pre). It reads r
// only until it has limit characters. The result holds no markup, but it is
// not yet cleaned of control characters (see cleanText).
func htmlToText(r io.Reader, limit int) string {
	z := html.NewTokenizer(r)
	z.SetMaxBuf(maxHTMLToken)
	w := textWriter{max: limit}
	var skip atom.Atom // the element whose content is being dropped
	depth, pre := 0, 0
	for !w.full() {
		tt := z.Next()
		if tt == html.ErrorToken {
			break // io.EOF, a read error or an over-long token
		}
		var a atom.Atom
		if tt == html.StartTagToken || tt == html.EndTagToken || tt == html.SelfClosingTagToken {
			name, _ := z.TagName()
			a = atom.Lookup(name)
		}
		if skip != 0 {
			switch {
			case tt == html.StartTagToken && a == skip:
				depth++
			case tt == html.EndTagToken && a == skip:
				if depth--; depth == 0 {
					skip = 0
				}
			case tt == html.StartTagToken && a == atom.Body && skip == atom.Head:
				skip = 0 // a head left open
			}
			continue
		}
		switch tt {
		case html.TextToken:
			w.text(string(z.Text()), pre > 0)
		case html.StartTagToken, html.SelfClosingTagToken:
			switch {
			case dropped[a] && (tt == html.StartTagToken || rawText[a]):
				skip, depth = a, 1
			case a == atom.Br:
				w.lineBreak()
			case a == atom.Li:
				w.block(1)
				w.text("- ", true)
			case a == atom.Td || a == atom.Th:
				w.space()
			case a == atom.Pre:
				w.block(2)
				pre++
			case blocks[a] > 0:
				w.block(blocks[a])
			}
		case html.EndTagToken:
			switch {
			case a == atom.Pre:
				pre = max(pre-1, 0)
				w.block(2)
			case a == atom.Td || a == atom.Th:
				w.space()
			case blocks[a] > 0 || a == atom.Li:
				w.block(max(blocks[a], 1))
			}
		}
	}
	return w.b.String()
}

// dropped elements lose their content.
var dropped = map[atom.Atom]bool{
	atom.Head: true, atom.Script: true, atom.Style: true, atom.Title: true,
	atom.Template: true, atom.Noscript: true, atom.Iframe: true,
	atom.Noembed: true, atom.Noframes: true, atom.Object: true,
	atom.Svg: true, atom.Math: true,
}

// rawText elements: the tokenizer reads their content as text up to the
// end tag even when the start tag is written self-closing.
var rawText = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Title: true, atom.Noscript: true,
	atom.Iframe: true, atom.Noembed: true, atom.Noframes: true,
}

// blocks maps block elements to the line breaks around them: 2 puts them
// in a paragraph of their own.
var blocks = map[atom.Atom]int{
	atom.P: 2, atom.H1: 2, atom.H2: 2, atom.H3: 2, atom.H4: 2, atom.H5: 2, atom.H6: 2,
	atom.Ul: 2, atom.Ol: 2, atom.Dl: 2, atom.Table: 2, atom.Blockquote: 2,
	atom.Div: 1, atom.Tr: 1, atom.Dt: 1, atom.Dd: 1, atom.Hr: 1,
	atom.Section: 1, atom.Article: 1, atom.Header: 1, atom.Footer: 1,
	atom.Nav: 1, atom.Aside: 1, atom.Main: 1, atom.Address: 1,
	atom.Figure: 1, atom.Figcaption: 1, atom.Form: 1, atom.Fieldset: 1,
	atom.Center: 1, atom.Caption: 1, atom.Details: 1, atom.Summary: 1,
	atom.Body: 1, atom.Html: 1,
}

// textWriter collects text, collapsing white space and line breaks, up
// to max characters.
type textWriter struct {
	b      strings.Builder
	max, n int
	nl     int  // line breaks owed before the next text
	sp     bool // a space owed before the next text
}

func (w *textWriter) full() bool { return w.n >= w.max }

// block asks for n line breaks (at most) before the next text.
func (w *textWriter) block(n int) { w.nl = max(w.nl, n) }

// lineBreak adds one line break (br), up to one empty line.
func (w *textWriter) lineBreak() { w.nl = min(w.nl+1, 2) }

func (w *textWriter) space() { w.sp = true }

// text writes s, collapsing its white space unless verbatim.
func (w *textWriter) text(s string, verbatim bool) {
	if verbatim {
		w.flush()
		w.write(s)
		return
	}
	for s != "" && !w.full() {
		i := strings.IndexFunc(s, isHTMLSpace)
		if i < 0 {
			w.flush()
			w.write(s)
			return
		}
		if i > 0 {
			w.flush()
			w.write(s[:i])
		}
		w.sp = true
		j := strings.IndexFunc(s[i:], func(r rune) bool { return !isHTMLSpace(r) })
		if j < 0 {
			return
		}
		s = s[i+j:]
	}
}

// flush writes the line breaks or the space owed: none at the start, no
// space after a space or at the start of a line.
func (w *textWriter) flush() {
	s := w.b.String()
	switch {
	case s == "":
	case w.nl > 0:
		w.write(strings.Repeat("\n", w.nl))
	case w.sp && !strings.HasSuffix(s, " ") && !strings.HasSuffix(s, "\n"):
		w.write(" ")
	}
	w.nl, w.sp = 0, false
}

func (w *textWriter) write(s string) {
	if left := w.max - w.n; utf8.RuneCountInString(s) > left {
		s = clipRunes(s, left)
	}
	w.b.WriteString(s)
	w.n += utf8.RuneCountInString(s)
}

// isHTMLSpace is white space to collapse; no-break spaces included, which
// mail HTML uses for layout.
func isHTMLSpace(r rune) bool { return unicode.IsSpace(r) }
