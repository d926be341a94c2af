package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

type adminMailboxesPage struct {
	view
	Mailboxes []MailboxStatus
	Available bool
}

// adminMailboxes shows how the IMAP pollers are doing, from the same
// provider as GET /api/v1/mailboxes.
func (s *Server) adminMailboxes(c *gin.Context) {
	page := &adminMailboxesPage{view: view{Title: "Mailboxes", Nav: "admin"}}
	if s.opts.Mailboxes != nil {
		page.Available = true
		page.Mailboxes = s.opts.Mailboxes.MailboxStatus()
	}
	s.render(c, http.StatusOK, "admin_mailboxes", page)
}
