package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// contactEraseConfirm says what erasing removes before the admin
// confirms.
func (s *Server) contactEraseConfirm(c *gin.Context) { s.contactConfirm(c, "contact_erase", "Erase") }

func (s *Server) contactErase(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	a, ok := s.erase(c, id, s.uiFail)
	if !ok {
		return
	}
	redirect(c, "/contacts", a.ContactName+" was erased: "+
		strconv.Itoa(a.Counts[store.EraseInteractionsDeleted])+" interaction(s) deleted, "+
		strconv.Itoa(a.Counts[store.EraseInteractionsDetached])+" shared one(s) kept for the others. See the audit log.")
}

type adminAuditPage struct {
	view
	Entries []*store.AuditEntry
	Next    string
}

// adminAudit shows the audit log, from the same store call as
// GET /api/v1/audit.
func (s *Server) adminAudit(c *gin.Context) {
	items, next, err := s.store.Audit(store.DefaultLimit, c.Query("cursor"))
	if err != nil {
		s.uiFail(c, err)
		return
	}
	s.render(c, http.StatusOK, "admin_audit", &adminAuditPage{view: view{Title: "Audit log", Nav: "admin"}, Entries: items, Next: next})
}
