package ingest

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
	"golang.org/x/text/encoding/charmap"

	"touchpoint/matcher"
	"touchpoint/store"
)

// Limits bound the parser's work on hostile input.
type Limits struct {
	MaxParts  int // MIME parts in total, attached messages included (default 1000)
	MaxDepth  int // nesting of multiparts and attached messages (default 100)
	MaxHeader int // bytes of header per part (default 1 MiB)
	// MaxText is the number of characters of body text kept; longer text
	// is truncated. It is at most store.MaxDetailsLen (the default).
	MaxText int
}

// DefaultLimits returns the limits Touchpoint runs with.
func DefaultLimits() Limits {
	return Limits{MaxParts: 1000, MaxDepth: 100, MaxHeader: 1 << 20, MaxText: store.MaxDetailsLen}
}

// withDefaults fills unset limits and caps MaxText at what the store takes.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxParts <= 0 {
		l.MaxParts = d.MaxParts
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	if l.MaxHeader <= 0 {
		l.MaxHeader = d.MaxHeader
	}
	if l.MaxText <= 0 || l.MaxText > store.MaxDetailsLen {
		l.MaxText = store.MaxDetailsLen
	}
	return l
}

// ErrLimit is wrapped by the error Parse returns when a message exceeds
// one of its Limits (other than MaxText, which truncates).
var ErrLimit = errors.New("ingest: message exceeds a parser limit")

var errNoHeader = errors.New("ingest: message has no header fields")

// Bounds on decoded header strings, matching what the store accepts.
const (
	maxSubject  = store.MaxTitleLen
	maxName     = store.MaxNameLen
	maxFilename = 255
	maxListID   = 1000
	maxIDLen    = 998 // a Message-ID longer than a header line is junk
)

// Parse reads a raw RFC 5322 message. It never panics; on input it cannot
// make sense of it returns an error (the caller keeps the raw message as
// unparseable). Exceeding a limit is an error wrapping ErrLimit, except
// MaxText, which truncates.
func Parse(raw []byte, lim Limits) (m *matcher.Message, err error) {
	defer func() {
		// A parser bug must cost one message, not the SMTP session; the
		// fuzz test calls parse directly so that such bugs still show.
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("ingest: parser panic: %v", r)
		}
	}()
	return parse(raw, lim)
}

func parse(raw []byte, lim Limits) (*matcher.Message, error) {
	p := &parser{lim: lim.withDefaults(), addr: newAddressParser()}
	return p.message(bytes.NewReader(stripMboxFrom(raw)), 0)
}

// stripMboxFrom drops the "From sender date" line an mbox or an MTA pipe
// may put before the header.
func stripMboxFrom(raw []byte) []byte {
	if !bytes.HasPrefix(raw, []byte("From ")) {
		return raw
	}
	if i := bytes.IndexByte(raw, '\n'); i >= 0 {
		return raw[i+1:]
	}
	return nil
}

// DedupeKey identifies a message across deliveries: "mid:" and the
// normalised Message-ID when it has one, else "hash:" and the hex SHA-256
// of its From, Date and Subject header values and its body bytes (line
// endings normalised), so that the same message sent again has the same
// key. A Message-ID too long for the store's key is hashed ("midhash:").
// m may be nil (an unparseable message).
func DedupeKey(raw []byte, m *matcher.Message) string {
	raw = stripMboxFrom(raw)
	hdr, body := splitHeader(raw)
	var id string
	if m != nil {
		id = m.MessageID
	} else if ids := msgIDs(rawHeaderValue(hdr, "Message-Id")); len(ids) > 0 {
		id = ids[0]
	}
	if id != "" {
		if len("mid:")+len(id) > store.MaxDedupeKeyLen {
			// Near the 998-byte header line limit an id would not fit
			// the store's key; the same long id still gives the same key.
			sum := sha256.Sum256([]byte(id))
			return "midhash:" + hex.EncodeToString(sum[:])
		}
		return "mid:" + id
	}
	h := sha256.New()
	for _, k := range []string{"From", "Date", "Subject"} {
		io.WriteString(h, strings.Join(strings.Fields(rawHeaderValue(hdr, k)), " "))
		h.Write([]byte{0})
	}
	// CRLF (SMTP) and LF (pipe, some IMAP servers) copies hash the same.
	body = bytes.TrimRight(body, "\r\n")
	for len(body) > 0 {
		i := bytes.Index(body, []byte("\r\n"))
		if i < 0 {
			h.Write(body)
			break
		}
		h.Write(body[:i])
		h.Write([]byte{'\n'})
		body = body[i+2:]
	}
	return "hash:" + hex.EncodeToString(h.Sum(nil))
}

// splitHeader cuts raw at its first empty line.
func splitHeader(raw []byte) (hdr, body []byte) {
	end := -1
	for _, sep := range []string{"\n\n", "\n\r\n"} {
		if i := bytes.Index(raw, []byte(sep)); i >= 0 && (end < 0 || i < end) {
			end = i
		}
	}
	if end < 0 {
		return raw, nil
	}
	rest := raw[end+1:]
	if rest[0] == '\r' {
		rest = rest[1:]
	}
	return raw[:end+1], rest[1:]
}

// rawHeaderValue returns the unfolded value of the first field named key
// in a raw header block.
func rawHeaderValue(hdr []byte, key string) string {
	var val []byte
	found := false
	for line := range bytes.Lines(hdr) {
		line = bytes.TrimRight(line, "\r\n")
		cont := len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
		if found {
			if !cont {
				break
			}
			val = append(append(val, ' '), bytes.TrimSpace(line)...)
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok && !cont && strings.EqualFold(string(bytes.TrimSpace(k)), key) {
			found = true
			val = append(val, bytes.TrimSpace(v)...)
		}
	}
	return string(val)
}

// parser holds the state of one Parse call: the limits and the number of
// parts seen so far, over the whole message and its attached messages.
type parser struct {
	lim   Limits
	parts int
	addr  *mail.AddressParser
}

func newAddressParser() *mail.AddressParser {
	return &mail.AddressParser{WordDecoder: &wordDecoder}
}

// partContent collects what the walk over a message's MIME tree finds.
type partContent struct {
	plain, html textBuf
	atts        []store.Attachment
	fwd         *matcher.Message
}

type textBuf struct {
	parts []string
	runes int
}

func (t *textBuf) add(s string) {
	t.parts = append(t.parts, s)
	t.runes += utf8.RuneCountInString(s) + 2
}

func (t *textBuf) String() string { return strings.Join(t.parts, "\n\n") }

// message parses a header and its body from r: the whole message, or an
// attached message/rfc822 at depth.
func (p *parser) message(r io.Reader, depth int) (*matcher.Message, error) {
	g := p.newGate(r)
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(g)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	h, err := p.readHeader(g, br)
	if err != nil {
		return nil, err
	}
	m := p.headerMessage(h)
	var c partContent
	if err := p.entity(h, br, depth, "text/plain", &c); err != nil {
		return nil, err
	}
	mt, _ := mediaType(h.Get("Content-Type"), "text/plain")
	m.Report = mt == "multipart/report"
	// Plain text wins; HTML only when the plain parts say nothing.
	text := strings.TrimSpace(c.plain.String())
	if text == "" {
		text = strings.TrimSpace(c.html.String())
	}
	m.Text = clipRunes(text, p.lim.MaxText)
	m.Attachments = c.atts
	m.Forwarded = c.fwd
	if m.Forwarded == nil {
		m.Forwarded = p.inlineForward(m.Subject, m.Text)
	}
	return m, nil
}

// readHeader reads a header block through the gate. A malformed line
// after at least one good field is skipped rather than fatal: broken
// folding is common in real mail and the rest of the header is still
// worth having. A header without any field is an error.
func (p *parser) readHeader(g *gate, br *bufio.Reader) (textproto.Header, error) {
	g.start()
	defer func() { g.on = false }()
	h, err := textproto.ReadHeader(br)
	if err != nil && h.Len() > 0 && !g.tripped {
		raws := rawFields(h, nil)
		for err != nil && !g.tripped {
			before := g.seen - br.Buffered()
			h, err = textproto.ReadHeader(br)
			raws = rawFields(h, raws)
			if g.seen-br.Buffered() == before {
				break // no progress: a sticky read error
			}
		}
		h = textproto.Header{}
		for i := len(raws) - 1; i >= 0; i-- {
			h.AddRaw(raws[i]) // AddRaw inserts at the top
		}
	}
	switch {
	case g.tripped:
		return h, fmt.Errorf("%w: header over %d bytes", ErrLimit, p.lim.MaxHeader)
	case err != nil:
		return h, fmt.Errorf("ingest: read header: %w", err)
	case h.Len() == 0:
		return h, errNoHeader
	}
	return h, p.checkHeader(h)
}

// rawFields appends the raw fields of h, in order, to raws.
func rawFields(h textproto.Header, raws [][]byte) [][]byte {
	for f := h.Fields(); f.Next(); {
		if b, err := f.Raw(); err == nil && bytes.IndexByte(b, ':') >= 0 {
			raws = append(raws, b)
		}
	}
	return raws
}

// checkHeader applies MaxHeader exactly (the gate is only a coarse guard).
func (p *parser) checkHeader(h textproto.Header) error {
	n := 0
	for f := h.Fields(); f.Next(); {
		b, _ := f.Raw()
		n += len(b)
	}
	if n > p.lim.MaxHeader {
		return fmt.Errorf("%w: header of %d bytes, over %d", ErrLimit, n, p.lim.MaxHeader)
	}
	return nil
}

// gate counts the bytes and lines read through it while on, and fails
// reads past a budget. It is on only while a header is being read, so
// that a hostile header cannot make go-message allocate without bound: its
// header reader keeps every field (a few hundred bytes each, however short
// the line) and has no limit of its own inside a multipart.
type gate struct {
	r              io.Reader
	on, tripped    bool
	n, lines, seen int
	maxN, maxLines int
}

func (p *parser) newGate(r io.Reader) *gate {
	// The slack covers a preamble, a boundary line and bufio's read-ahead
	// of up to 4 KiB into the body (every byte of which may be a newline).
	return &gate{r: r, maxN: p.lim.MaxHeader + 64<<10, maxLines: p.lim.MaxHeader/32 + 8<<10}
}

func (g *gate) Read(b []byte) (int, error) {
	if g.tripped {
		return 0, ErrLimit
	}
	n, err := g.r.Read(b)
	g.seen += n
	if g.on {
		g.n += n
		g.lines += bytes.Count(b[:n], []byte("\n"))
		if g.n > g.maxN || g.lines > g.maxLines {
			g.tripped = true
			return n, ErrLimit
		}
	}
	return n, err
}

// start begins counting a new header.
func (g *gate) start() { g.on, g.n, g.lines = true, 0, 0 }

// entity handles one MIME part (the message itself at the top) and its
// body. Only limit errors are returned: a broken part ends the walk of its
// multipart, and what was found so far is kept.
func (p *parser) entity(h textproto.Header, body io.Reader, depth int, defType string, c *partContent) error {
	p.parts++
	if p.parts > p.lim.MaxParts {
		return fmt.Errorf("%w: more than %d MIME parts", ErrLimit, p.lim.MaxParts)
	}
	if depth > p.lim.MaxDepth {
		return fmt.Errorf("%w: nested deeper than %d", ErrLimit, p.lim.MaxDepth)
	}
	mt, params := mediaType(h.Get("Content-Type"), defType)
	disp, dparams := mediaType(h.Get("Content-Disposition"), "")
	name := params["name"]
	if f := dparams["filename"]; f != "" {
		name = f
	}
	name = cleanFilename(decodeWords(name))
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		return p.multipart(body, mt, params["boundary"], depth, c)
	case mt == "message/rfc822" || mt == "message/global":
		cte := cteReader(h.Get("Content-Transfer-Encoding"), body)
		defer releaseCTE(cte)
		cnt := &countReader{r: cte}
		if c.fwd == nil {
			fm, err := p.message(cnt, depth+1)
			if errors.Is(err, ErrLimit) {
				return err
			}
			c.fwd = fm
		}
		io.Copy(io.Discard, cnt)
		c.atts = append(c.atts, store.Attachment{Name: name, ContentType: mt, Size: cnt.n})
	case (mt == "text/plain" || mt == "text/html") && disp != "attachment" && name == "":
		p.text(h, mt, params, body, c)
	default:
		c.atts = append(c.atts, store.Attachment{Name: name, ContentType: mt, Size: decodedSize(h.Get("Content-Transfer-Encoding"), body)})
	}
	return nil
}

// multipart walks the parts of a multipart body. go-message's entity
// reader is not used here because it hides the reader a part's header is
// read from, which the gate must wrap.
func (p *parser) multipart(body io.Reader, mt, boundary string, depth int, c *partContent) error {
	if boundary == "" {
		return nil
	}
	defType := "text/plain"
	if mt == "multipart/digest" {
		defType = "message/rfc822"
	}
	g := p.newGate(body)
	mr := textproto.NewMultipartReader(g, boundary)
	for {
		g.start()
		part, err := mr.NextPart()
		g.on = false
		if g.tripped {
			return fmt.Errorf("%w: part header over %d bytes", ErrLimit, p.lim.MaxHeader)
		}
		if err != nil {
			return nil // io.EOF, or a broken multipart: keep what we have
		}
		if err := p.checkHeader(part.Header); err != nil {
			return err
		}
		if err := p.entity(part.Header, part, depth+1, defType, c); err != nil {
			return err
		}
		// Drain it here, with the gate off, not inside NextPart.
		io.Copy(io.Discard, part)
	}
}

// text decodes a text/plain or text/html body part into c.
func (p *parser) text(h textproto.Header, mt string, params map[string]string, body io.Reader, c *partContent) {
	buf := &c.plain
	if mt == "text/html" {
		if c.plain.runes > 0 {
			return // plain text wins (see parse), so this HTML would go unread
		}
		buf = &c.html
	}
	left := p.lim.MaxText - buf.runes
	if left <= 0 {
		return
	}
	cte := cteReader(h.Get("Content-Transfer-Encoding"), body)
	defer releaseCTE(cte)
	r := charsetReader(params["charset"], cte)
	var s string
	if mt == "text/html" {
		s = htmlToText(r, left)
	} else {
		// Read errors (broken base64, a bad charset sequence) end the
		// text; what decoded before them is kept.
		b := getBuf()
		b.ReadFrom(io.LimitReader(r, int64(4*left+4)))
		s = b.String()
		putBuf(b)
		if strings.EqualFold(params["format"], "flowed") {
			s = unflow(cleanText(s), strings.EqualFold(params["delsp"], "yes"))
		}
	}
	if s = strings.TrimSpace(clipRunes(cleanText(s), left)); s != "" {
		buf.add(s)
	}
}

// unflow joins the soft line breaks of format=flowed text (RFC 3676).
func unflow(s string, delsp bool) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		line = strings.TrimSuffix(line, "\n")
		line = strings.TrimPrefix(line, " ") // space-stuffing
		if line != "-- " && strings.HasSuffix(line, " ") {
			if delsp {
				line = line[:len(line)-1]
			}
			b.WriteString(line)
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n += int64(n)
	return n, err
}

// mediaType parses a Content-Type or Content-Disposition value: the
// lowercase type (def when missing or unusable) and its parameters, RFC
// 2231 values decoded in any charset (mime.ParseMediaType knows only
// UTF-8 and ASCII, and gives up on the whole field for one bad parameter).
func mediaType(v, def string) (string, map[string]string) {
	if strings.TrimSpace(v) == "" {
		return def, map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil || strings.Contains(v, "*") {
		lmt, lparams, extended := looseParams(v)
		if err != nil {
			mt, params = lmt, lparams
		} else {
			for k := range extended {
				params[k] = lparams[k]
			}
		}
	}
	if def != "" && !strings.Contains(mt, "/") {
		mt = def // RFC 2045 5.2: an invalid Content-Type means the default
	}
	for k, v := range params {
		if k != "boundary" {
			params[k] = cleanText(v)
		}
	}
	return mt, params
}

// looseParams splits "type; k=v; k*=cs'lang'%xx; k*0*=..." without giving
// up on errors. extended lists the keys that came in RFC 2231 form.
func looseParams(v string) (mt string, params map[string]string, extended map[string]bool) {
	fields := splitQuoted(v, ';')
	mt = strings.ToLower(strings.TrimSpace(fields[0]))
	type seg struct {
		idx int // -1 without a section number
		enc bool
		val string
	}
	segs := map[string][]seg{}
	for _, f := range fields[1:] {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = unquoteParam(strings.TrimSpace(val))
		s := seg{idx: -1}
		if strings.HasSuffix(k, "*") {
			s.enc, k = true, k[:len(k)-1]
		}
		if base, num, ok := strings.Cut(k, "*"); ok {
			n, err := strconv.Atoi(num)
			if err != nil || n < 0 || n > 999 {
				continue
			}
			s.idx, k = n, base
		}
		if k != "" {
			s.val = val
			segs[k] = append(segs[k], s)
		}
	}
	params, extended = map[string]string{}, map[string]bool{}
	for k, ss := range segs {
		// The RFC 2231 form wins over a plain fallback value, and "k*="
		// over sections "k*0*=".
		if slices.ContainsFunc(ss, func(s seg) bool { return s.enc || s.idx >= 0 }) {
			extended[k] = true
			ss = slices.DeleteFunc(ss, func(s seg) bool { return !s.enc && s.idx < 0 })
			if j := slices.IndexFunc(ss, func(s seg) bool { return s.idx < 0 }); j >= 0 {
				ss = ss[j : j+1]
			}
		}
		slices.SortStableFunc(ss, func(a, b seg) int { return a.idx - b.idx })
		if !extended[k] {
			params[k] = ss[len(ss)-1].val
			continue
		}
		var cs string
		var b []byte
		for i, s := range ss {
			val := s.val
			if s.enc {
				if i == 0 {
					if c, rest, ok := strings.Cut(val, "'"); ok {
						if _, rest, ok := strings.Cut(rest, "'"); ok {
							cs, val = c, rest
						}
					}
				}
				b = append(b, percentDecode(val)...)
			} else {
				b = append(b, val...)
			}
		}
		params[k] = decodeCharset(cs, b)
	}
	return mt, params, extended
}

// splitQuoted splits s at sep outside double quotes; a quote left open is
// taken for a stray character (a few times; then quotes are ignored).
func splitQuoted(s string, sep byte) []string {
	for range 4 {
		out, open := splitQuotedOnce(s, sep)
		if open < 0 {
			return out
		}
		s = s[:open] + s[open+1:]
	}
	return strings.Split(s, string(sep))
}

// splitQuotedOnce does the work of splitQuoted; open is the position of a
// quote never closed, or -1.
func splitQuotedOnce(s string, sep byte) (out []string, open int) {
	start := 0
	open = -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && open >= 0:
			i++
		case c == '"' && open >= 0:
			open = -1
		case c == '"':
			open = i
		case c == sep && open < 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:]), open
}

func unquoteParam(s string) string {
	if len(s) < 2 || s[0] != '"' {
		return s
	}
	s = strings.TrimSuffix(s[1:], `"`)
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func percentDecode(s string) []byte {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return b
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// cleanFilename keeps the base name of a decoded filename on one line.
func cleanFilename(s string) string {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	return oneLine(s, maxFilename)
}

// Charsets.

// wordDecoder decodes RFC 2047 encoded words in any charset go-message's
// charset package knows; a word in an unknown charset keeps its bytes
// (made valid UTF-8 later) instead of failing the whole header.
var wordDecoder = mime.WordDecoder{CharsetReader: func(cs string, r io.Reader) (io.Reader, error) {
	// Decoded here and handed back as a bytes.Reader, a WriterTo: the
	// decoder io.Copies the result into a strings.Builder, which would
	// otherwise cost a 32 KiB buffer per encoded word.
	b, _ := io.ReadAll(charsetReader(cs, r))
	return bytes.NewReader(b), nil
}}

// charsetReader converts r from charset cs to UTF-8; unknown charsets and
// UTF-8 pass through unchanged.
func charsetReader(cs string, r io.Reader) io.Reader {
	switch cs = strings.ToLower(strings.Trim(cs, ` "'`)); cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return r
	case "iso-8859-1", "latin1", "latin-1":
		// What is labelled Latin-1 is windows-1252 in practice (HTML5).
		cs = "windows-1252"
	}
	if cr, err := charset.Reader(cs, r); err == nil {
		return cr
	}
	return r
}

func decodeCharset(cs string, b []byte) string {
	out, _ := io.ReadAll(charsetReader(cs, bytes.NewReader(b)))
	return string(out)
}

// decodeWords decodes the RFC 2047 encoded words of a header value.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// Transfer encodings. go-message decodes these with the standard library,
// whose quoted-printable reader fails on lines over 4 KiB and on control
// bytes, and whose base64 reader stops at the first bad byte; mail in the
// wild needs both to be lenient.

func cteReader(enc string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		return &b64Reader{r: r}
	case "quoted-printable":
		br := readerPool.Get().(*bufio.Reader)
		br.Reset(r)
		return &qpReader{br: br}
	}
	return r
}

// readerPool recycles the 4 KiB read buffers of a message's header and of
// quoted-printable parts.
var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// releaseCTE gives back what cteReader took from readerPool, once r is
// read; r must not be used after.
func releaseCTE(r io.Reader) {
	if q, ok := r.(*qpReader); ok && q.br != nil {
		q.br.Reset(nil)
		readerPool.Put(q.br)
		q.br = nil
	}
}

// b64Reader decodes base64, skipping bytes outside the alphabet and
// treating "=" as the end of a quantum (some encoders concatenate padded
// chunks); a trailing partial quantum yields the bytes it holds.
type b64Reader struct {
	r    io.Reader
	in   [4096]byte
	buf  [4096/4*3 + 4]byte // what one read of in decodes to, at most
	out  []byte             // the undelivered part of buf
	q    [4]byte
	nq   int
	done bool
	err  error
}

var b64Values = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" {
		t[c] = byte(i)
	}
	return t
}()

func (d *b64Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.done {
			return 0, d.err
		}
		n, err := d.r.Read(d.in[:])
		d.out = d.buf[:0]
		for _, c := range d.in[:n] {
			if v := b64Values[c]; v != 0xff {
				d.q[d.nq] = v
				if d.nq++; d.nq == 4 {
					d.flush()
				}
			} else if c == '=' {
				d.flush()
			}
		}
		if err != nil {
			d.flush()
			d.done, d.err = true, err
		}
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// flush appends the bytes of the pending quantum.
func (d *b64Reader) flush() {
	q := d.q
	switch d.nq {
	case 4:
		d.out = append(d.out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2, q[2]<<6|q[3])
	case 3:
		d.out = append(d.out, q[0]<<2|q[1]>>4, q[1]<<4|q[2]>>2)
	case 2:
		d.out = append(d.out, q[0]<<2|q[1]>>4)
	}
	d.nq = 0
}

// decodedSize is how many bytes cteReader(enc, r) would yield, found
// without decoding base64 (the common attachment) into a buffer.
func decodedSize(enc string, r io.Reader) int64 {
	if !strings.EqualFold(strings.TrimSpace(enc), "base64") {
		cte := cteReader(enc, r)
		defer releaseCTE(cte)
		cnt := &countReader{r: cte}
		io.Copy(io.Discard, cnt)
		return cnt.n
	}
	in := make([]byte, 4096)
	var size int64
	nq := 0
	quantum := [5]int64{0, 0, 1, 2, 3} // bytes a quantum of n characters yields (b64Reader.flush)
	for {
		n, err := r.Read(in)
		for _, c := range in[:n] {
			if b64Values[c] != 0xff {
				if nq++; nq == 4 {
					size, nq = size+3, 0
				}
			} else if c == '=' {
				size, nq = size+quantum[nq], 0
			}
		}
		if err != nil {
			return size + quantum[nq]
		}
	}
}

// qpReader decodes quoted-printable of any line length; an "=" that
// starts neither an escape nor a soft line break is kept as it is.
type qpReader struct {
	br *bufio.Reader
}

func (q *qpReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := q.br.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if c == '=' {
			if h, _ := q.br.Peek(2); len(h) == 2 && isHex(h[0]) && isHex(h[1]) {
				c = unhex(h[0])<<4 | unhex(h[1])
				q.br.Discard(2)
			} else if q.softBreak() {
				continue
			}
		}
		p[n] = c
		n++
	}
	return n, nil
}

// softBreak consumes the rest of a soft line break ("=", optional
// whitespace, then a line ending or the end of input) when one follows.
func (q *qpReader) softBreak() bool {
	for k := 1; k <= 80; k++ {
		b, _ := q.br.Peek(k)
		if len(b) < k { // end of input
			q.br.Discard(len(b))
			return strings.TrimLeft(string(b), " \t\r") == ""
		}
		switch b[k-1] {
		case ' ', '\t', '\r':
		case '\n':
			q.br.Discard(k)
			return true
		default:
			return false
		}
	}
	return false
}

// Text clean-up.

// cleanText makes s valid UTF-8 text the store accepts: invalid bytes
// become U+FFFD, line endings LF, C1 controls their windows-1252
// characters (mislabelled Latin-1), other controls but tab and LF go.
func cleanText(s string) string {
	var b strings.Builder // untouched until the first change
	kept := 0             // s[kept:i] is clean and not yet copied
	for i := 0; i < len(s); {
		c := s[i]
		if c >= ' ' && c < 0x7f || c == '\n' || c == '\t' {
			i++
			continue
		}
		r, size := rune(c), 1
		if c >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		var repl rune = -1 // -1: drop the character
		switch {
		case r == utf8.RuneError && size == 1:
			repl = utf8.RuneError
		case r == '\r':
			if i+1 == len(s) || s[i+1] != '\n' {
				repl = '\n'
			}
		case r >= 0x80 && r <= 0x9f:
			if w := charmap.Windows1252.DecodeByte(byte(r)); !unicode.IsControl(w) {
				repl = w
			}
		case unicode.IsControl(r) || r == '\uFEFF':
		default:
			i += size
			continue
		}
		if b.Cap() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[kept:i])
		if repl >= 0 {
			b.WriteRune(repl)
		}
		i += size
		kept = i
	}
	if b.Cap() == 0 {
		return s
	}
	b.WriteString(s[kept:])
	return b.String()
}

// oneLine cleans s, puts it on one line with single spaces and clips it
// to limit characters.
func oneLine(s string, limit int) string {
	return clipRunes(strings.Join(strings.Fields(cleanText(s)), " "), limit)
}

// clipRunes cuts s after limit characters.
func clipRunes(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	n := 0
	for i := range s {
		if n == limit {
			return s[:i]
		}
		n++
	}
	return s
}

// Header fields.

// headerMessage extracts the header fields of the matcher's Message.
func (p *parser) headerMessage(h textproto.Header) *matcher.Message {
	m := &matcher.Message{
		From:            p.addresses(h.Values("From")),
		ReplyTo:         p.addresses(h.Values("Reply-To")),
		To:              p.addresses(h.Values("To")),
		Cc:              p.addresses(h.Values("Cc")),
		Subject:         oneLine(decodeWords(h.Get("Subject")), maxSubject),
		Date:            parseDate(h.Get("Date")),
		AutoSubmitted:   firstToken(h.Get("Auto-Submitted")),
		Precedence:      firstToken(h.Get("Precedence")),
		ListID:          oneLine(decodeWords(h.Get("List-Id")), maxListID),
		ListUnsubscribe: h.Has("List-Unsubscribe"),
		References:      msgIDs(strings.Join(h.Values("References"), " ")),
	}
	if ids := msgIDs(h.Get("Message-Id")); len(ids) > 0 {
		m.MessageID = ids[0]
	}
	if ids := msgIDs(h.Get("In-Reply-To")); len(ids) > 0 {
		m.InReplyTo = ids[0]
	}
	if s := p.addresses(h.Values("Sender")); len(s) > 0 {
		m.Sender = &s[0]
	}
	m.AutoReplyHeaders = h.Has("X-Autoreply") || h.Has("X-Autorespond") ||
		h.Has("X-MS-Exchange-Inbox-Rules-Loop") ||
		firstToken(h.Get("X-Autogenerated")) == "reply"
	for _, v := range strings.Split(strings.ToLower(h.Get("X-Auto-Response-Suppress")), ",") {
		switch strings.TrimSpace(v) {
		case "all", "oof", "autoreply":
			m.AutoReplyHeaders = true
		}
	}
	return m
}

// firstToken returns the first word of a structured value, lowercase, without
// comments or parameters: "Auto-Replied; owner=x" → "auto-replied".
func firstToken(v string) string {
	v, _, _ = strings.Cut(v, ";")
	v, _, _ = strings.Cut(v, "(")
	return oneLine(strings.ToLower(v), 64)
}

// parseDate parses a Date header; zero when missing, bad, or outside the
// years the store accepts.
func parseDate(v string) time.Time {
	t, err := mail.ParseDate(strings.TrimSpace(v))
	if err != nil || !plausibleDate(t) {
		return time.Time{}
	}
	return t
}

func plausibleDate(t time.Time) bool {
	return t.Year() >= 1900 && t.Year() < 2200
}

// msgIDs returns the normalised message IDs in a Message-ID, In-Reply-To
// or References value: "<id>" tokens, or bare words when there are none.
func msgIDs(v string) []string {
	var raw []string
	if strings.Contains(v, "<") {
		for {
			i := strings.IndexByte(v, '<')
			if i < 0 {
				break
			}
			j := strings.IndexByte(v[i:], '>')
			if j < 0 {
				break
			}
			raw = append(raw, v[i+1:i+j])
			v = v[i+j+1:]
		}
	} else {
		raw = strings.Fields(v)
	}
	var ids []string
	for _, id := range raw {
		if id = normalizeID(id); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// normalizeID strips angle brackets and space and lowercases the domain
// part (after the last "@"); "" when nothing usable is left.
func normalizeID(id string) string {
	id = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">"))
	if id == "" || len(id) > maxIDLen || !utf8.ValidString(id) ||
		strings.ContainsFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '<' || r == '>' }) {
		return ""
	}
	if at := strings.LastIndexByte(id, '@'); at >= 0 {
		id = id[:at+1] + strings.ToLower(id[at+1:])
	}
	return id
}

// Addresses.

// addresses parses address list header values. A list net/mail accepts
// whole is taken as is; otherwise each entry is tried alone and, failing
// that, picked apart leniently; entries with no usable address are skipped.
func (p *parser) addresses(values []string) []matcher.Address {
	var out []matcher.Address
	for _, v := range values {
		if strings.TrimSpace(v) == "" {
			continue
		}
		if list, err := p.addr.ParseList(v); err == nil {
			for _, a := range list {
				if ma, ok := mailboxAddress(a.Name, a.Address); ok {
					out = append(out, ma)
				}
			}
			continue
		}
		for _, entry := range splitAddressList(v) {
			if a, err := p.addr.Parse(entry); err == nil {
				if ma, ok := mailboxAddress(a.Name, a.Address); ok {
					out = append(out, ma)
				}
			} else if ma, ok := looseAddress(entry); ok {
				out = append(out, ma)
			}
		}
	}
	return out
}

// mailboxAddress checks and normalises one parsed address.
func mailboxAddress(name, addr string) (matcher.Address, bool) {
	addr = strings.ToLower(strings.TrimSpace(addr))
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 || len(addr) > 254 || !utf8.ValidString(addr) ||
		strings.ContainsFunc(addr, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return matcher.Address{}, false
	}
	return matcher.Address{Name: oneLine(name, maxName), Email: addr}, true
}

// splitAddressList splits an address list at commas and semicolons outside
// quotes, comments and angle brackets, dropping group names ("Team:"). A
// quote left open is taken for a stray character, so that it does not
// swallow the rest of the list (a few times; then quotes are ignored).
func splitAddressList(v string) []string {
	for range 4 {
		out, open := splitAddresses(v)
		if open < 0 {
			return out
		}
		v = v[:open] + v[open+1:]
	}
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ';' })
}

// splitAddresses does the work of splitAddressList; open is the position
// of a quote that was never closed, or -1.
func splitAddresses(v string) (out []string, open int) {
	var cur strings.Builder
	quoted, angle, paren := false, false, 0
	open = -1
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quoted:
			if c == '\\' && i+1 < len(v) {
				cur.WriteByte(c)
				i++
				c = v[i]
			} else if c == '"' {
				quoted = false
			}
		case paren > 0:
			if c == '(' {
				paren++
			} else if c == ')' {
				paren--
			}
		case c == '"':
			quoted, open = true, i
		case c == '(':
			paren++
		case c == '<':
			angle = true
		case c == '>':
			angle = false
		case (c == ',' || c == ';') && !angle:
			out = append(out, cur.String())
			cur.Reset()
			continue
		case c == ':' && !angle && !strings.Contains(cur.String(), "@"):
			cur.Reset() // a group name
			continue
		}
		cur.WriteByte(c)
	}
	if !quoted {
		open = -1
	}
	out = append(out, cur.String())
	return slices.DeleteFunc(out, func(s string) bool { return strings.TrimSpace(s) == "" }), open
}

// looseAddress picks an address out of an entry net/mail refused:
// "Name <addr>", a bare addr, "Name [mailto:addr]", raw 8-bit names.
func looseAddress(entry string) (matcher.Address, bool) {
	entry = strings.TrimSpace(entry)
	var name, addr string
	if i := strings.LastIndexByte(entry, '<'); i >= 0 {
		rest := entry[i+1:]
		if j := strings.IndexByte(rest, '>'); j >= 0 {
			rest = rest[:j]
		}
		name, addr = entry[:i], rest
	} else {
		for _, f := range strings.Fields(entry) {
			if strings.Contains(f, "@") {
				addr = f
				break
			}
		}
	}
	addr = strings.TrimPrefix(strings.Trim(addr, ` "'()[]<>`), "mailto:")
	if strings.ContainsAny(addr, `<>()[],;:"\`) {
		return matcher.Address{}, false
	}
	name = strings.Trim(strings.TrimSpace(name), `"'`)
	return mailboxAddress(decodeWords(name), addr)
}

// Inline forwards.

var (
	// "---------- Forwarded message ---------", "-----Original Message-----"
	dashedTitle = regexp.MustCompile(`^-{3,}\s*([^-].*?)\s*-{3,}$`)
	fwdSubject  = regexp.MustCompile(`(?i)^\s*(fwd?|wg|tr|rv|enc|doorst|vs|vl|הועבר)\s*:`)
	reSubject   = regexp.MustCompile(`(?i)^\s*(re|aw|sv|antw|ref|r|השב)\s*:`)
)

// inlineForward finds a forwarded message quoted in the text: a Gmail,
// Thunderbird, Apple Mail or Outlook marker (or, in a message whose
// subject says it is a forward, a bare header block) followed by From:,
// Date:, Subject:, To: lines. Outlook uses the same "Original Message"
// marker for replies, so a reply's quoted message is not taken for a
// forward.
func (p *parser) inlineForward(subject, text string) *matcher.Message {
	if text == "" {
		return nil
	}
	fwd := fwdSubject.MatchString(subject)
	reply := reSubject.MatchString(subject) && !fwd
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		l := unquoteLine(line)
		switch {
		case strings.EqualFold(l, "Begin forwarded message:"):
		case dashedTitle.MatchString(l):
			if title := strings.ToLower(dashedTitle.FindStringSubmatch(l)[1]); !forwardTitle(title) && reply {
				continue
			}
		case len(l) >= 10 && strings.Trim(l, "_") == "": // Outlook's rule
			if !fwd {
				continue
			}
		default:
			continue
		}
		if m := p.headerBlock(lines[i+1:]); m != nil {
			return m
		}
	}
	if fwd {
		for i, line := range lines {
			if k, _, ok := strings.Cut(unquoteLine(line), ":"); ok && fieldKey(k) == "from" {
				if m := p.headerBlock(lines[i:]); m != nil {
					return m
				}
			}
		}
	}
	return nil
}

func forwardTitle(t string) bool {
	for _, w := range []string{"forward", "weitergeleitet", "transféré", "reenviado", "doorgestuurd", "inoltrato", "הועבר"} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

// unquoteLine strips "> " quoting and surrounding space.
func unquoteLine(l string) string {
	return strings.TrimSpace(strings.TrimLeft(l, "> "))
}

// fieldKey maps a header label of a quoted message, in the languages mail
// clients commonly write them in, to its English field name.
func fieldKey(k string) string {
	switch strings.ToLower(strings.Trim(strings.TrimSpace(k), "*")) {
	case "from", "von", "de", "van", "da", "från", "fra", "מאת":
		return "from"
	case "date", "sent", "datum", "gesendet", "envoyé", "verzonden", "enviado", "fecha", "data", "inviato", "תאריך", "נשלח":
		return "date"
	case "subject", "betreff", "objet", "onderwerp", "asunto", "oggetto", "assunto", "ämne", "emne", "נושא":
		return "subject"
	case "to", "an", "à", "a", "aan", "para", "till", "til", "אל":
		return "to"
	case "cc", "kopie":
		return "cc"
	case "reply-to", "antwort an":
		return "reply-to"
	}
	return ""
}

// headerBlock parses the quoted header lines at the top of lines (after
// at most two blank lines) into a Message; nil without a From address.
func (p *parser) headerBlock(lines []string) *matcher.Message {
	if len(lines) == 0 {
		return nil
	}
	i := 0
	for i < len(lines) && i < 2 && unquoteLine(lines[i]) == "" {
		i++
	}
	m := &matcher.Message{}
	start := min(i, len(lines)-1)
	for ; i < len(lines); i++ {
		k, v, ok := strings.Cut(unquoteLine(lines[i]), ":")
		key := fieldKey(k)
		if !ok || key == "" {
			break
		}
		v = strings.TrimSpace(v)
		switch key {
		case "from":
			if m.From != nil {
				return nil // a second From: is not one header block
			}
			m.From = p.addresses([]string{outlookMailto.ReplaceAllString(v, "<$1>")})
			if m.From == nil {
				return nil
			}
		case "date":
			m.Date = parseLooseDate(v)
		case "subject":
			m.Subject = oneLine(v, maxSubject)
		case "to":
			m.To = p.addresses([]string{outlookMailto.ReplaceAllString(v, "<$1>")})
		case "cc":
			m.Cc = p.addresses([]string{outlookMailto.ReplaceAllString(v, "<$1>")})
		}
	}
	if m.From == nil {
		return nil
	}
	// A block quoted with "> " (Apple Mail) has its body quoted too.
	rest := lines[i:]
	if depth := quoteDepth(lines[start]); depth > 0 {
		rest = slices.Clone(rest)
		for j, l := range rest {
			rest[j] = unquoteLevels(l, depth)
		}
	}
	m.Text = strings.TrimSpace(strings.Join(rest, "\n"))
	return m
}

// quoteDepth counts the ">" quote marks that start l.
func quoteDepth(l string) int {
	n := 0
	for _, c := range l {
		switch c {
		case '>':
			n++
		case ' ', '\t':
		default:
			return n
		}
	}
	return n
}

// unquoteLevels removes up to n levels of "> " from the start of l.
func unquoteLevels(l string, n int) string {
	for ; n > 0; n-- {
		t := strings.TrimLeft(l, " \t")
		if !strings.HasPrefix(t, ">") {
			break
		}
		l = strings.TrimPrefix(t[1:], " ")
	}
	return l
}

// outlookMailto matches Outlook's "Name [mailto:addr]".
var outlookMailto = regexp.MustCompile(`\[mailto:([^\]\s]+)\]`)

// Date layouts of quoted headers, after net/mail's RFC 5322 ones. Zones
// come as numeric offsets (parseLooseDate rewrites "GMT+2"); a time
// without one is taken as UTC.
var looseDateLayouts = []string{
	"Mon, Jan 2, 2006 at 3:04 PM",         // Gmail, en-US
	"Mon, 2 Jan 2006 at 15:04",            // Gmail, en-GB
	"Monday, January 2, 2006 3:04 PM",     // Outlook, en-US
	"Monday, January 2, 2006 at 3:04 PM",  // Outlook, newer
	"Monday, 2 January 2006 15:04",        // Outlook, en-GB
	"January 2, 2006 at 3:04:05 PM -0700", // Apple Mail, en-US
	"2 January 2006 at 15:04:05 -0700",    // Apple Mail, en-GB
	"January 2, 2006 at 3:04:05 PM",
	"2 January 2006 at 15:04:05",
	"2006-01-02 15:04",
}

// gmtOffset matches a trailing "GMT+2", "UTC-05:30" or a zone name.
var gmtOffset = regexp.MustCompile(`\s+(?:(?:GMT|UTC)(?:([+-])(\d{1,2})(?::?(\d{2}))?)?|[A-Z]{3,4})$`)

// parseLooseDate parses the Date: or Sent: line of a quoted header.
func parseLooseDate(v string) time.Time {
	v = strings.Join(strings.Fields(strings.NewReplacer("\u202f", " ", "\u00a0", " ").Replace(v)), " ")
	if t := parseDate(v); !t.IsZero() {
		return t
	}
	// time.Parse takes "GMT+2" for a name, keeping the clock reading as
	// UTC; a zone name (PST) it cannot place at all. Offsets become
	// numeric; names are dropped.
	if m := gmtOffset.FindStringSubmatch(v); m != nil {
		v = strings.TrimSpace(v[:len(v)-len(m[0])])
		if m[1] != "" {
			h, _ := strconv.Atoi(m[2])
			v += fmt.Sprintf(" %s%02d%s", m[1], h, cmp.Or(m[3], "00"))
		}
	}
	for _, layout := range looseDateLayouts {
		if t, err := time.Parse(layout, v); err == nil && plausibleDate(t) {
			return t
		}
	}
	return time.Time{}
}
