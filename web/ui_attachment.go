package web

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"strconv"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// interactionAttachment downloads the n-th attachment of an email
// interaction, cut from the stored raw message. It walks the MIME tree in
// the order the ingest parser listed the attachments and serves the part
// only when its type and decoded size are those recorded, so a message the
// two read differently gives a 404 (the raw message is still there), never
// the wrong file. The answer is always a download that browsers do not
// render.
func (s *Server) interactionAttachment(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	n, err := strconv.Atoi(c.Param("n"))
	if err != nil || n < 0 {
		s.errorPage(c, http.StatusNotFound, "")
		return
	}
	ia, err := s.store.GetInteraction(id)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	if ia.Email == nil || n >= len(ia.Email.Attachments) || ia.Email.RawID == 0 {
		s.errorPage(c, http.StatusNotFound, "This message has no such attachment.")
		return
	}
	raw, err := s.store.Raw(ia.Email.RawID)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	want := ia.Email.Attachments[n]
	data, ok := extractAttachment(raw, n, want)
	if !ok {
		s.errorPage(c, http.StatusNotFound, "This attachment could not be cut out of the message; download the raw message instead.")
		return
	}
	name := want.Name
	if name == "" {
		name = "attachment-" + strconv.Itoa(n+1)
	}
	c.Header("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": name}))
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Security-Policy", "sandbox")
	c.Data(http.StatusOK, "application/octet-stream", data)
}

// extractAttachment returns the decoded body of the n-th attachment of a
// raw message when it matches want's type and size.
func extractAttachment(raw []byte, n int, want store.Attachment) ([]byte, bool) {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, false
	}
	w := &attWalker{target: n}
	w.entity(h, br, 0, "text/plain")
	if !w.done || w.mt != strings.ToLower(want.ContentType) || int64(len(w.found)) != want.Size {
		return nil, false
	}
	return w.found, true
}

type attWalker struct {
	idx, target, parts int
	done               bool
	found              []byte
	mt                 string
}

func (w *attWalker) entity(h textproto.Header, body io.Reader, depth int, def string) {
	if w.done || depth > 100 || w.parts >= 1000 {
		return
	}
	w.parts++
	mt, params := partType(h.Get("Content-Type"), def)
	disp, dparams := partType(h.Get("Content-Disposition"), "")
	name := params["name"]
	if f := dparams["filename"]; f != "" {
		name = f
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		boundary := params["boundary"]
		if boundary == "" {
			return
		}
		d := "text/plain"
		if mt == "multipart/digest" {
			d = "message/rfc822"
		}
		mr := textproto.NewMultipartReader(body, boundary)
		for !w.done {
			p, err := mr.NextPart()
			if err != nil {
				return
			}
			w.entity(p.Header, p, depth+1, d)
		}
	case (mt == "text/plain" || mt == "text/html") && disp != "attachment" && strings.TrimSpace(name) == "":
		// Body text, not an attachment.
	default:
		if w.idx == w.target {
			w.found, _ = io.ReadAll(io.LimitReader(decodeCTE(h.Get("Content-Transfer-Encoding"), body), store.MaxRawBytes))
			w.mt, w.done = mt, true
		}
		w.idx++
	}
}

// partType reads a Content-Type or Content-Disposition; an invalid type
// means the default (RFC 2045 5.2).
func partType(v, def string) (string, map[string]string) {
	if strings.TrimSpace(v) == "" {
		return def, map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil && err != mime.ErrInvalidMediaParameter {
		mt, params = def, map[string]string{}
	}
	if def != "" && !strings.Contains(mt, "/") {
		mt = def
	}
	return strings.ToLower(mt), params
}

func decodeCTE(enc string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, &b64Filter{r: r})
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// b64Filter drops bytes outside the base64 alphabet (line breaks, stray
// spaces) before decoding.
type b64Filter struct{ r io.Reader }

func (f *b64Filter) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(p)
		j := 0
		for _, b := range p[:n] {
			if b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '=' {
				p[j] = b
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}
