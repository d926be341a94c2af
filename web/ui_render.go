package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/csrf"

	"touchpoint/matcher"
	"touchpoint/store"
)

// The UI's templates and static files are compiled into the binary and
// parsed once, when the server is built: a broken template stops the start,
// not a page view.
//
//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// view is what every page shows around its content: the signed-in user, the
// active navigation entry, the CSRF token for its forms, a notice carried
// over a redirect.
type view struct {
	Title string
	Nav   string
	User  *store.User
	Admin bool
	CSRF  string
	Flash string
}

func (v *view) base() *view { return v }

// viewer is any page's data: a struct embedding view.
type viewer interface{ base() *view }

// simplePage is a page with nothing but a message (errors, notices).
type simplePage struct {
	view
	Heading string
	Message string
	Back    string
}

// formErrors maps a form field's name to what is wrong with it.
type formErrors map[string]string

// pages holds one parsed template set per page.
type pages map[string]*template.Template

// uiAssets are the parsed templates and the static files' cache key.
type uiAssets struct {
	pages      pages
	staticHash string
	static     fs.FS
}

func (s *Server) loadAssets() *uiAssets {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	h := sha256.New()
	fs.WalkDir(static, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(static, p)
			h.Write(b)
		}
		return nil
	})
	a := &uiAssets{pages: pages{}, staticHash: hex.EncodeToString(h.Sum(nil))[:12], static: static}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || base == "parts.html" {
			continue
		}
		t := template.New(base).Funcs(s.templateFuncs(a))
		t = template.Must(t.ParseFS(templateFS, "templates/layout.html", "templates/parts.html", n))
		a.pages[strings.TrimSuffix(base, ".html")] = t
	}
	return a
}

func (s *Server) templateFuncs(a *uiAssets) template.FuncMap {
	return template.FuncMap{
		"static": func(p string) string { return "/static/" + p + "?v=" + a.staticHash },
		"when":   func(t time.Time) string { return s.inZone(t).Format("2 Jan 2006, 15:04") },
		"date":   func(t time.Time) string { return s.inZone(t).Format("2 Jan 2006") },
		"isodate": func(t time.Time) string {
			return s.inZone(t).Format(time.DateOnly)
		},
		"dtlocal": func(t time.Time) string { return s.inZone(t).Format("2006-01-02T15:04") },
		"zone":    func() string { return s.loc.String() },
		"err": func(errs formErrors, field string) string {
			return errs[field]
		},
		"has": func(list []string, v string) bool {
			for _, x := range list {
				if strings.EqualFold(x, v) {
					return true
				}
			}
			return false
		},
		"hasID": containsID,
		"join":  strings.Join,
		"lines": func(v []string) string { return strings.Join(v, "\n") },
		"size":  humanSize,
		"add":   func(a, b int) int { return a + b },
		"query": func(kv ...string) template.URL {
			v := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] != "" {
					v.Set(kv[i], kv[i+1])
				}
			}
			return template.URL(v.Encode())
		},
		"idstr":      func(id store.ID) string { return id.String() },
		"noise":      matcher.Noise,
		"reasonText": reasonText,
	}
}

func (s *Server) inZone(t time.Time) time.Time { return t.In(s.loc) }

func humanSize(n int64) string {
	switch {
	case n < 1024:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1024*1024:
		return fmt.Sprintf("%.0f KB", float64(n)/1024)
	default:
		return fmt.Sprintf("%.1f MB", float64(n)/(1024*1024))
	}
}

// render executes a page into a buffer first, so that a template error is a
// clean 500 rather than half a page.
func (s *Server) render(c *gin.Context, status int, name string, data viewer) {
	v := data.base()
	if u := currentUser(c); u != nil {
		v.User = u
		v.Admin = u.Role == store.RoleAdmin
	}
	v.CSRF = csrf.Token(c.Request)
	if v.Flash == "" {
		v.Flash = takeFlash(c)
	}
	t, ok := s.ui.pages[name]
	if !ok {
		panic("web: no page template " + name)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", data); err != nil {
		s.logFor(c).Error("render page", "page", name, "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error while showing this page"))
		c.Abort()
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// errorPage answers with a page that says what went wrong.
func (s *Server) errorPage(c *gin.Context, status int, msg string) {
	heading := http.StatusText(status)
	switch status {
	case http.StatusNotFound:
		heading = "Not found"
		if msg == "" {
			msg = "This page or record does not exist (any more)."
		}
	case http.StatusForbidden:
		heading = "Not allowed"
		if msg == "" {
			msg = "Your role does not allow this. Ask an admin if you need it."
		}
	}
	s.render(c, status, "message", &simplePage{view: view{Title: heading}, Heading: heading, Message: msg, Back: "/"})
	c.Abort()
}

// uiFail shows a store error as a page: 404, 403, or a logged 500.
func (s *Server) uiFail(c *gin.Context, err error) {
	var ve *store.ValidationError
	var ce *store.ConflictError
	switch {
	case errors.Is(err, store.ErrNotFound):
		s.errorPage(c, http.StatusNotFound, "")
	case errors.Is(err, errForbidden):
		s.errorPage(c, http.StatusForbidden, "You may change only the interactions you wrote or take part in.")
	case errors.As(err, &ve):
		s.errorPage(c, http.StatusBadRequest, ve.Error())
	case errors.As(err, &ce):
		s.errorPage(c, http.StatusConflict, ce.Error())
	case errors.Is(err, store.ErrBadCursor):
		s.errorPage(c, http.StatusBadRequest, "This page link is not valid any more; start again from the first page.")
	default:
		s.logFor(c).Error("page failed", "err", err, "method", c.Request.Method, "path", c.FullPath())
		s.errorPage(c, http.StatusInternalServerError, "Something went wrong on the server; nothing was changed. Try again, and tell an admin if it keeps happening.")
	}
}

// asFieldError turns a store validation or conflict error into a message
// for one form field; ok is false for other errors. rename maps the store's
// field names to the form's where they differ.
func asFieldError(err error, rename map[string]string) (formErrors, bool) {
	var ve *store.ValidationError
	var ce *store.ConflictError
	var field, msg string
	switch {
	case errors.As(err, &ve):
		field, msg = ve.Field, ve.Msg
	case errors.As(err, &ce):
		field, msg = ce.Field, ce.Msg
	default:
		return nil, false
	}
	if r, ok := rename[field]; ok {
		field = r
	}
	return formErrors{field: sentence(msg)}, true
}

// sentence capitalises a message's first letter for display.
func sentence(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Flash notices survive one redirect in a short-lived cookie.
const flashCookie = "touchpoint_flash"

func setFlash(c *gin.Context, msg string) {
	http.SetCookie(c.Writer, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(msg), Path: "/", MaxAge: 60,
		HttpOnly: true, Secure: isHTTPS(c.Request), SameSite: http.SameSiteLaxMode})
}

func takeFlash(c *gin.Context) string {
	ck, err := c.Request.Cookie(flashCookie)
	if err != nil || ck.Value == "" {
		return ""
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: isHTTPS(c.Request), SameSite: http.SameSiteLaxMode})
	msg, _ := url.QueryUnescape(ck.Value)
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}

// redirect answers a form post with 303 See Other and an optional notice.
func redirect(c *gin.Context, to, flash string) {
	if flash != "" {
		setFlash(c, flash)
	}
	c.Redirect(http.StatusSeeOther, to)
	c.Abort()
}

// localPath accepts a return address only when it is a path on this site
// (no scheme, no host, no "//" or "/\" that a browser would read as a host).
func localPath(p, fallback string) string {
	if p == "" || !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") ||
		strings.ContainsAny(p, "\r\n\t") {
		return fallback
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return fallback
	}
	return p
}

// securityHeaders are sent with every page: no framing, no inline scripts,
// no sniffing, no referrer leaving the site.
func securityHeaders(c *gin.Context) {
	setSecurityHeaders(c)
	c.Next()
}

func setSecurityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
}

// serveStatic serves the embedded CSS, script and icon. The URL carries a
// hash of the files, so they may be cached for long.
func (s *Server) serveStatic(c *gin.Context) {
	name := strings.TrimPrefix(c.Param("path"), "/")
	b, err := fs.ReadFile(s.ui.static, name)
	if err != nil || name == "" {
		c.Data(http.StatusNotFound, "text/plain; charset=utf-8", []byte("not found"))
		return
	}
	ct := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	case ".svg":
		ct = "image/svg+xml"
	}
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Cache-Control", "public, max-age=86400")
	c.Data(http.StatusOK, ct, b)
}

// reasonText says in words why a message was not logged.
func reasonText(r string) string {
	switch r {
	case matcher.ReasonNoContact:
		return "no contact matched"
	case matcher.ReasonNoStaff:
		return "no staff took part"
	case matcher.ReasonUnparseable:
		return "unreadable"
	case matcher.ReasonAutoReply:
		return "auto-reply"
	case matcher.ReasonBounce:
		return "bounce"
	case matcher.ReasonList:
		return "mailing list"
	case matcher.ReasonUnverified:
		return "sender not verified"
	}
	return r
}
