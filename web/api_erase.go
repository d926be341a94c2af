package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// actor is who a principal is, for the audit log.
func (p *principal) actor() store.Actor {
	return store.Actor{UserID: p.UserID, TokenID: p.TokenID, Name: p.Name}
}

// eraseContact answers a privacy request (admins): the contact and what is
// kept about them go, and the audit log says so. The answer is the audit
// entry with the counts.
func (s *Server) eraseContact(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	a, ok := s.erase(c, id, s.fail)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, a)
}

// erase runs an erasure for the API and the page alike and logs it (ids
// and counts only: the name stays in the audit log, not in the logs).
func (s *Server) erase(c *gin.Context, id store.ID, fail func(*gin.Context, error)) (*store.AuditEntry, bool) {
	a, err := s.store.EraseContact(c.Request.Context(), id, who(c).actor())
	if err != nil {
		fail(c, err)
		return nil, false
	}
	s.logFor(c).Info("contact erased", "contact", id, "audit", a.ID, "by", who(c).Name,
		"interactions_deleted", a.Counts[store.EraseInteractionsDeleted], "raw_messages_deleted", a.Counts[store.EraseRawMessages])
	return a, true
}

// listAudit pages through the audit log, newest first (admins).
func (s *Server) listAudit(c *gin.Context) {
	limit, cursor, ok := pageParams(c)
	if !ok {
		return
	}
	items, next, err := s.store.Audit(limit, cursor)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, newList(items, next))
}
