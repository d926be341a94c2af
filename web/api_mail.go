package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"touchpoint/matcher"
	"touchpoint/store"
)

// Ingester stores raw messages (the ingest pipeline, injected by cmd so
// that web does not depend on the transports).
type Ingester interface {
	Ingest(ctx context.Context, raw []byte, d matcher.Delivery) (store.IngestResult, error)
}

// unmatchedView is an unmatched message as the API shows it.
type unmatchedView struct {
	ID            store.ID           `json:"id"`
	ReceivedAt    time.Time          `json:"received_at"`
	From          string             `json:"from"`
	To            []string           `json:"to"`
	Cc            []string           `json:"cc"`
	Subject       string             `json:"subject"`
	MessageID     string             `json:"message_id"`
	Reason        string             `json:"reason"`
	Noise         bool               `json:"noise"`
	Status        string             `json:"status"`
	Source        string             `json:"source"`
	Unknown       []string           `json:"unknown_addresses"`
	Attachments   []store.Attachment `json:"attachments"`
	Excerpt       string             `json:"excerpt"`
	Text          *string            `json:"text,omitempty"`
	ResolvedAt    *time.Time         `json:"resolved_at,omitempty"`
	InteractionID store.ID           `json:"interaction_id,omitempty"`
}

func viewUnmatched(u *store.Unmatched, withText bool) unmatchedView {
	d := u.Draft
	m := d.Email
	if m == nil {
		m = &store.Email{}
	}
	v := unmatchedView{
		ID: u.ID, ReceivedAt: u.ReceivedAt, From: m.From, To: nonNil(m.To), Cc: nonNil(m.Cc), Subject: m.Subject,
		MessageID: m.MessageID, Reason: u.Reason, Noise: matcher.Noise(u.Reason), Status: u.Status, Source: d.Source,
		Unknown: nonNil(u.Unknown), Attachments: nonNil(m.Attachments), Excerpt: excerpt(d.Details, 300),
		InteractionID: u.InteractionID,
	}
	if withText {
		v.Text = &d.Details
	}
	if !u.ResolvedAt.IsZero() {
		v.ResolvedAt = &u.ResolvedAt
	}
	return v
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// excerpt is the start of a text on one line.
func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func (s *Server) listUnmatched(c *gin.Context) {
	limit, cursor, ok := pageParams(c)
	if !ok {
		return
	}
	var f store.UnmatchedFilter
	switch st := c.DefaultQuery("status", store.StatusPending); st {
	case "all":
	case store.StatusPending, store.StatusResolved, store.StatusDiscarded:
		f.Statuses = []string{st}
	default:
		c.AbortWithStatusJSON(http.StatusBadRequest, errorBody{Error: "status: must be pending, resolved, discarded or all", Field: "status"})
		return
	}
	f.Reasons = c.QueryArray("reason")
	items, next, err := s.store.ListUnmatched(f, limit, cursor)
	if err != nil {
		s.fail(c, err)
		return
	}
	views := make([]unmatchedView, len(items))
	for i, u := range items {
		views[i] = viewUnmatched(u, false)
	}
	c.JSON(http.StatusOK, newList(views, next))
}

func (s *Server) getUnmatched(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	u, err := s.store.GetUnmatched(id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, viewUnmatched(u, true))
}

func (s *Server) unmatchedRaw(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	u, err := s.store.GetUnmatched(id)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.sendRaw(c, u.Draft.Email, fmt.Sprintf("unmatched-%d.eml", id))
}

func (s *Server) interactionRaw(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	ia, err := s.store.GetInteraction(id)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.sendRaw(c, ia.Email, fmt.Sprintf("interaction-%d.eml", id))
}

// sendRaw downloads a stored message. It is always an attachment with a
// type browsers do not render, so a message's HTML never runs here.
func (s *Server) sendRaw(c *gin.Context, m *store.Email, name string) {
	if m == nil || m.RawID == 0 {
		apiError(c, http.StatusNotFound, "no raw message for this item")
		return
	}
	raw, err := s.store.Raw(m.RawID)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"`, name))
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Security-Policy", "sandbox")
	c.Data(http.StatusOK, "message/rfc822", raw)
}

// assignInput is the body of POST /unmatched/{id}/assign. Remember is true
// or false; Contact, when given, creates a contact and assigns to it too.
type assignInput struct {
	ContactIDs []store.ID    `json:"contact_ids"`
	Remember   bool          `json:"remember"`
	Contact    *contactInput `json:"contact"`
}

func (s *Server) assignUnmatched(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	var in assignInput
	if !s.bindJSON(c, &in) {
		return
	}
	p := who(c)
	a := store.Assignment{ContactIDs: in.ContactIDs, Remember: in.Remember, By: p.UserID, ByToken: p.TokenID}
	if in.Contact != nil {
		a.NewContact = &store.Contact{}
		in.Contact.apply(a.NewContact)
	}
	ia, also, err := s.store.AssignUnmatched(c.Request.Context(), id, a)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.logFor(c).Info("unmatched message assigned", "unmatched", id, "interaction", ia.ID, "also", len(also), "by", p.Name)
	c.JSON(http.StatusOK, gin.H{"interaction": ia, "also_resolved": nonNil(also), "contact": a.NewContact})
}

func (s *Server) discardUnmatched(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	p := who(c)
	if err := s.store.DiscardUnmatched(c.Request.Context(), id, p.UserID); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// postMessage takes a raw message (inbound-mail webhooks, touchpoint
// ingest) and answers once it is durable.
func (s *Server) postMessage(c *gin.Context) {
	if s.opts.Ingester == nil {
		apiError(c, http.StatusServiceUnavailable, "mail ingestion is not running")
		return
	}
	if ct := c.ContentType(); ct != "message/rfc822" {
		apiError(c, http.StatusUnsupportedMediaType, "Content-Type must be message/rfc822")
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, s.opts.MaxMessageBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		apiError(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("message larger than %d bytes", mbe.Limit))
		return
	case err != nil:
		apiError(c, http.StatusBadRequest, "could not read the body")
		return
	case len(raw) == 0:
		apiError(c, http.StatusBadRequest, "empty message")
		return
	}
	source := store.SourceAPI
	if v := c.Query("source"); v != "" {
		if !slices.Contains([]string{store.SourcePipe, store.SourceAPI}, v) {
			c.AbortWithStatusJSON(http.StatusBadRequest, errorBody{Error: "source: must be pipe or api", Field: "source"})
			return
		}
		source = v
	}
	res, err := s.opts.Ingester.Ingest(c.Request.Context(), raw, matcher.Delivery{Source: source})
	if err != nil {
		s.logFor(c).Error("message not stored", "err", err)
		apiError(c, http.StatusServiceUnavailable, "message not stored; try again")
		return
	}
	c.JSON(http.StatusAccepted, res)
}
