package web

import (
	"bufio"
	"strings"
	"unicode"
	"unicode/utf8"
)

// csvWriter writes RFC 4180 rows (CRLF) exactly as encoding/csv with
// UseCRLF does, but lets a row mix text cells, which are scanned and quoted
// when needed, with cells the exporter knows need no quoting (dates, ids,
// numbers), which are written as they are. encoding/csv scans every field
// and wants strings: for the export that was a third of the writer's time.
type csvWriter struct {
	w       *bufio.Writer
	started bool // a cell was written on this row
}

// text writes s as one cell, quoted when encoding/csv would quote it.
func (c *csvWriter) text(s string) {
	c.sep()
	if !csvNeedsQuotes(s) {
		c.w.WriteString(s)
		return
	}
	c.w.WriteByte('"')
	for len(s) > 0 {
		i := strings.IndexAny(s, "\"\r\n")
		if i < 0 {
			c.w.WriteString(s)
			break
		}
		c.w.WriteString(s[:i])
		switch s[i] {
		case '"':
			c.w.WriteString(`""`)
		case '\n':
			c.w.WriteString("\r\n") // a bare CR is dropped, as UseCRLF does
		}
		s = s[i+1:]
	}
	c.w.WriteByte('"')
}

// plain writes b as one cell without any check: only for cells that cannot
// hold a comma, a quote, a line break or a leading space.
func (c *csvWriter) plain(b []byte) {
	c.sep()
	c.w.Write(b)
}

// end finishes the row.
func (c *csvWriter) end() {
	c.w.WriteString("\r\n")
	c.started = false
}

func (c *csvWriter) sep() {
	if c.started {
		c.w.WriteByte(',')
	}
	c.started = true
}

// csvNeedsQuotes is encoding/csv's rule for the comma ','.
func csvNeedsQuotes(s string) bool {
	if s == "" {
		return false
	}
	// Four IndexByte scans (vectorised) beat one ContainsAny over the
	// long text cells.
	if s == `\.` || strings.IndexByte(s, ',') >= 0 || strings.IndexByte(s, '"') >= 0 ||
		strings.IndexByte(s, '\n') >= 0 || strings.IndexByte(s, '\r') >= 0 {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}
