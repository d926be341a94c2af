package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// sendInput is the body of POST /api/v1/sends: a campaign for Touchpoint
// to send.
type sendInput struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Body    string `json:"body"`
	Filter  string `json:"filter"`
	SendAt  string `json:"send_at"` // omitted: now
}

// sendAnswer is a sent campaign and its progress.
type sendAnswer struct {
	Campaign  *store.Campaign     `json:"campaign"`
	Send      *store.CampaignSend `json:"send"`
	Available bool                `json:"sending_available"`
	Reason    string              `json:"unavailable_reason,omitempty"`
}

func (s *Server) newSendAnswer(camp *store.Campaign, cs *store.CampaignSend) sendAnswer {
	ok, why := s.sendAvailable()
	return sendAnswer{Campaign: camp, Send: cs, Available: ok, Reason: why}
}

// createSend composes a campaign and queues it: 201, or 503 when no relay
// can send it.
func (s *Server) createSend(c *gin.Context) {
	var in sendInput
	if !s.bindJSONLimit(c, &in, maxComposeBytes) {
		return
	}
	if ok, why := s.sendAvailable(); !ok {
		apiError(c, http.StatusServiceUnavailable, "sending is unavailable: "+why)
		return
	}
	si := store.SendInput{Name: in.Name, Subject: in.Subject, Body: in.Body, Filter: in.Filter, CreatedBy: who(c).UserID}
	if in.SendAt != "" {
		t, err := parseWhen(in.SendAt)
		if err != nil {
			s.fail(c, &store.ValidationError{Field: "send_at", Msg: err.Error()})
			return
		}
		si.SendAt = t
	}
	camp, cs, err := s.queueSend(c, si)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, s.newSendAnswer(camp, cs))
}

// previewSend answers who a filter selects: {count, no_address, recipients}
// with the first recipients.
func (s *Server) previewSend(c *gin.Context) {
	var in struct {
		Filter string `json:"filter"`
	}
	if !s.bindJSON(c, &in) {
		return
	}
	sel, err := s.previewRecipients(in.Filter)
	if err != nil {
		s.fail(c, err)
		return
	}
	type rcpt struct {
		ID    store.ID `json:"contact_id"`
		Name  string   `json:"name"`
		Email string   `json:"email"`
	}
	out := make([]rcpt, len(sel.Contacts))
	for i, ct := range sel.Contacts {
		out[i] = rcpt{ct.ID, ct.Name, ct.Emails[0]}
	}
	c.JSON(http.StatusOK, gin.H{"count": sel.Count, "no_address": sel.NoAddress, "recipients": out})
}

// getSend answers a sent campaign's status and counts.
func (s *Server) getSend(c *gin.Context) {
	if id, ok := s.pathID(c); ok {
		cs, err := s.store.SendOf(id)
		s.renderSend(c, cs, err)
	}
}

// renderSend answers with a send and its campaign, or err.
func (s *Server) renderSend(c *gin.Context, cs *store.CampaignSend, err error) {
	var camp *store.Campaign
	if err == nil {
		camp, err = s.store.GetCampaign(cs.CampaignID)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, s.newSendAnswer(camp, cs))
}

// listSendRecipients pages through a send's recipients in address order,
// optionally only those in one state.
func (s *Server) listSendRecipients(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	limit, cursor, ok := pageParams(c)
	if !ok {
		return
	}
	items, next, err := s.store.SendRecipients(id, c.Query("state"), cursor, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, newList(items, next))
}

// cancelSend stops a send; recipients not yet sent never are.
func (s *Server) cancelSend(c *gin.Context) {
	if id, ok := s.pathID(c); ok {
		cs, err := s.store.CancelSend(c.Request.Context(), id)
		if err == nil {
			s.logFor(c).Info("campaign cancelled", "campaign", id, "by", who(c).Name)
		}
		s.renderSend(c, cs, err)
	}
}
