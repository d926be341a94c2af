package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// initUI parses the templates (a broken one panics here, at start) and
// prepares sign-in and CSRF protection.
func (s *Server) initUI() {
	s.ui = s.loadAssets()
	key := s.opts.CSRFKey
	if len(key) != 32 && s.store != nil {
		k, err := s.store.Secret(context.Background(), "csrf")
		if err != nil {
			s.log.Warn("no CSRF key in the database; forms open across a restart will need a reload", "err", err)
		}
		key = k
	}
	if len(key) != 32 {
		key = make([]byte, 32)
		rand.Read(key)
	}
	s.csrf = newCSRFGuard(key, s)
	s.limiter = newLoginLimiter(loginFailuresPerAccount, loginWindow, s.now)
	s.ipLimiter = newLoginLimiter(loginFailuresPerIP, loginWindow, s.now)
}

// uiRoutes registers the server-rendered pages. Every page but sign-in
// needs a session; admin pages check the role here, on the server. Every
// page, safe or not, goes through the CSRF guard, which sets the token the
// page's forms carry.
func (s *Server) uiRoutes(r *gin.Engine) {
	r.GET("/static/*path", s.serveStatic)
	r.GET("/favicon.ico", func(c *gin.Context) { c.Redirect(http.StatusMovedPermanently, "/static/favicon.svg") })

	pub := r.Group("", securityHeaders, s.limitForms, s.csrf.handle)
	pub.GET("/login", s.loginForm)
	pub.POST("/login", s.login)
	pub.POST("/logout", s.logout) // works with an expired session too

	ui := pub.Group("", s.uiAuth)
	ui.GET("/", func(c *gin.Context) { c.Redirect(http.StatusSeeOther, "/contacts") })

	ui.GET("/contacts", s.contactList)
	ui.GET("/contacts/new", s.contactNew)
	ui.POST("/contacts", s.contactCreate)
	ui.GET("/contacts/:id", s.contactShow)
	ui.GET("/contacts/:id/edit", s.contactEdit)
	ui.POST("/contacts/:id", s.contactUpdate)
	ui.GET("/contacts/:id/delete", s.uiAdmin, s.contactDeleteConfirm)
	ui.POST("/contacts/:id/delete", s.uiAdmin, s.contactDelete)
	ui.GET("/contacts/:id/erase", s.uiAdmin, s.contactEraseConfirm)
	ui.POST("/contacts/:id/erase", s.uiAdmin, s.contactErase)

	ui.GET("/interactions", s.globalView)
	ui.GET("/interactions/export.csv", s.globalExport)
	ui.GET("/interactions/new", s.interactionNew)
	ui.POST("/interactions", s.interactionCreate)
	ui.GET("/interactions/:id/edit", s.interactionEdit)
	ui.POST("/interactions/:id", s.interactionUpdate)
	ui.GET("/interactions/:id/delete", s.interactionDeleteConfirm)
	ui.POST("/interactions/:id/delete", s.interactionDelete)
	ui.GET("/interactions/:id/raw", s.interactionRaw)
	ui.GET("/interactions/:id/attachments/:n", s.interactionAttachment)

	ui.GET("/campaigns", s.campaignList)
	ui.GET("/campaigns/new", s.uiAdmin, s.campaignCompose)
	ui.POST("/campaigns/new", s.uiAdmin, s.campaignComposePost)
	ui.GET("/campaigns/:id", s.campaignShow)
	ui.POST("/campaigns/:id/cancel", s.uiAdmin, s.campaignCancel)

	adm := ui.Group("", s.uiAdmin)
	adm.GET("/unmatched", s.unmatchedList)
	adm.POST("/unmatched/bulk", s.unmatchedBulk)
	adm.GET("/unmatched/:id", s.unmatchedShow)
	adm.POST("/unmatched/:id/assign", s.unmatchedAssign)
	adm.POST("/unmatched/:id/create-contact", s.unmatchedCreateContact)
	adm.POST("/unmatched/:id/discard", s.unmatchedDiscard)
	adm.GET("/unmatched/:id/raw", s.unmatchedRaw)

	adm.GET("/admin", func(c *gin.Context) { c.Redirect(http.StatusSeeOther, "/admin/users") })
	adm.GET("/admin/users", s.adminUsers)
	adm.POST("/admin/users", s.adminUserCreate)
	adm.GET("/admin/users/:id", s.adminUser)
	adm.POST("/admin/users/:id", s.adminUserUpdate)
	adm.GET("/admin/lists", s.adminLists)
	adm.POST("/admin/lists/:kind", s.adminListAdd)
	adm.POST("/admin/lists/:kind/remove", s.adminListRemove)
	adm.GET("/admin/tokens", s.adminTokens)
	adm.POST("/admin/tokens", s.adminTokenCreate)
	adm.POST("/admin/tokens/:id/revoke", s.adminTokenRevoke)
	adm.GET("/admin/mailboxes", s.adminMailboxes)
	adm.GET("/admin/audit", s.adminAudit)
}

// noRoute answers unknown paths: a page for a browser outside /api, JSON
// for everything else.
func (s *Server) noRoute(c *gin.Context) {
	if strings.HasPrefix(c.Request.URL.Path, "/api/") || !strings.Contains(c.GetHeader("Accept"), "text/html") {
		apiError(c, http.StatusNotFound, "no such route")
		return
	}
	setSecurityHeaders(c)
	s.render(c, http.StatusNotFound, "message", &simplePage{view: view{Title: "Not found"}, Heading: "Not found",
		Message: "There is no page at this address.", Back: "/"})
}

// maxBytesPerChar is the most bytes one character of text takes in a
// request body: 4 in UTF-8, 12 once percent-encoded in a form (%F0%9F%98%80)
// or escaped as a surrogate pair in JSON.
const maxBytesPerChar = 12

// maxPageFormBytes bounds a page form's body: the interaction form's
// details at their limit, at the worst bytes per character, and room for
// the other fields (title, address, lists of ids).
const maxPageFormBytes = maxBytesPerChar*store.MaxDetailsLen + 256<<10

// limitForms bounds every page request body before the CSRF guard parses
// the form: the largest form a page sends (maxPageFormBytes, the
// composer's maxComposeBytes) or MaxBodyBytes if larger. A body over it is
// refused with 413: at once when its length is declared; a body that hides
// its length (chunked, which browsers do not send for forms) is read up to
// the limit first, as parsing the form would have read it anyway.
func (s *Server) limitForms(c *gin.Context) {
	limit := max(s.opts.MaxBodyBytes, maxComposeBytes, maxPageFormBytes)
	tooLarge := func() {
		s.errorPage(c, http.StatusRequestEntityTooLarge, "This form is too large to send. Shorten the text and try again.")
	}
	switch body := c.Request.Body; {
	case c.Request.ContentLength > limit:
		tooLarge()
		return
	case body == nil || body == http.NoBody:
	case c.Request.ContentLength < 0:
		data, err := io.ReadAll(io.LimitReader(body, limit+1))
		if err != nil {
			s.errorPage(c, http.StatusBadRequest, "The form did not arrive whole. Try again.")
			return
		}
		if int64(len(data)) > limit {
			tooLarge()
			return
		}
		c.Request.Body = io.NopCloser(bytes.NewReader(data))
	default:
		c.Request.Body = http.MaxBytesReader(c.Writer, body, limit)
	}
	c.Next()
}
