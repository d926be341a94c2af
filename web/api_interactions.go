package web

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// interactionInput is the body of POST and PATCH /interactions.
type interactionInput struct {
	ContactIDs      *[]store.ID `json:"contact_ids"`
	Type            *string     `json:"type"`
	Actions         *[]string   `json:"actions"`
	Title           *string     `json:"title"`
	Details         *string     `json:"details"`
	OccurredAt      *string     `json:"occurred_at"`
	DurationMinutes *int        `json:"duration_minutes"`
	OwnerIDs        *[]store.ID `json:"owner_ids"`
	Location        *string     `json:"location"`
	Address         *string     `json:"address"`
}

func (in *interactionInput) apply(ia *store.Interaction) error {
	set(&ia.ContactIDs, in.ContactIDs)
	set(&ia.Type, in.Type)
	set(&ia.Actions, in.Actions)
	set(&ia.Title, in.Title)
	set(&ia.Details, in.Details)
	set(&ia.DurationMinutes, in.DurationMinutes)
	set(&ia.OwnerIDs, in.OwnerIDs)
	set(&ia.Location, in.Location)
	set(&ia.Address, in.Address)
	if in.OccurredAt != nil {
		t, err := parseWhen(*in.OccurredAt)
		if err != nil {
			return &store.ValidationError{Field: "occurred_at", Msg: err.Error()}
		}
		ia.OccurredAt = t
	}
	return nil
}

type whenError struct{}

func (whenError) Error() string {
	return "must be a date and time like 2026-05-01T14:30:00Z (RFC 3339), 2026-05-01T14:30 (UTC) or 2026-05-01"
}

// parseWhen reads RFC 3339, or a zoneless date-time or date taken as UTC.
// (Omit the field for "now"; an empty string is an error, so a PATCH cannot
// move an interaction to today by accident.)
func parseWhen(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, whenError{}
}

func (s *Server) createInteraction(c *gin.Context) {
	var in interactionInput
	if !s.bindJSON(c, &in) {
		return
	}
	p := who(c)
	ia := store.Interaction{Source: store.SourceAPI, CreatedBy: p.UserID, CreatedByToken: p.TokenID}
	if err := in.apply(&ia); err != nil {
		s.fail(c, err)
		return
	}
	if in.OwnerIDs == nil && p.UserID != 0 {
		ia.OwnerIDs = []store.ID{p.UserID} // the author owns it unless told otherwise
	}
	if err := s.store.CreateInteraction(c.Request.Context(), &ia); err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/api/v1/interactions/"+ia.ID.String())
	c.JSON(http.StatusCreated, ia)
}

func (s *Server) updateInteraction(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	var in interactionInput
	if !s.bindJSON(c, &in) {
		return
	}
	p := who(c)
	ia, err := s.store.UpdateInteraction(c.Request.Context(), id, p.checkEdit, in.apply)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, ia)
}

func (s *Server) deleteInteraction(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	p := who(c)
	if err := s.store.DeleteInteraction(c.Request.Context(), id, p.checkEdit); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// checkEdit is the store-side veto: it sees the interaction as stored in
// the same transaction as the write, so the check cannot go stale.
func (p *principal) checkEdit(ia *store.Interaction) error {
	if !p.mayEdit(ia) {
		return errForbidden
	}
	return nil
}

// filterParams maps the list and export query parameters to filter keys.
var filterParams = []struct{ param, key string }{
	{"contact_id", "contact"},
	{"type", "type"},
	{"action", "action"},
	{"owner_id", "owner"},
	{"source", "source"},
	{"from", "from"},
	{"to", "to"},
}

// requestFilter builds the filter of a list or export request: the q
// expression plus the separate parameters, all through the one parser.
func (s *Server) requestFilter(c *gin.Context) (store.Filter, bool) {
	q, err := store.ParseQuery(c.Query("q"))
	if err != nil {
		s.fail(c, err)
		return store.Filter{}, false
	}
	for _, fp := range filterParams {
		for _, v := range c.QueryArray(fp.param) {
			if err := q.Add(fp.param, fp.key, v); err != nil {
				s.fail(c, err)
				return store.Filter{}, false
			}
		}
	}
	f, err := s.store.Resolve(q)
	if err != nil {
		s.fail(c, err)
		return store.Filter{}, false
	}
	return f, true
}

func (s *Server) listInteractions(c *gin.Context) {
	limit, cursor, ok := pageParams(c)
	if !ok {
		return
	}
	f, ok := s.requestFilter(c)
	if !ok {
		return
	}
	items, next, err := s.store.ListInteractions(f, limit, cursor)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, newList(items, next))
}
