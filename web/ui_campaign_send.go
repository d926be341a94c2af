package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// CampaignSender is the engine that sends composed campaigns (package
// outbound), as the web layer sees it.
type CampaignSender interface {
	// Kick wakes the sender: a campaign was composed.
	Kick()
	// Available says whether campaigns can be sent now, and why not.
	Available() (ok bool, why string)
}

// sendAvailable asks the sender; without one, sending is off.
func (s *Server) sendAvailable() (bool, string) {
	if s.opts.Sender == nil {
		return false, "this server runs without a campaign sender"
	}
	return s.opts.Sender.Available()
}

// maxComposeBytes bounds a compose request's body: the message's limit at
// the worst bytes per character (maxBytesPerChar) and room for the other
// fields.
const maxComposeBytes = maxBytesPerChar*store.MaxSendBodyLen + 64<<10

// previewRows is how many recipients a preview lists.
const previewRows = 50

// composeForm is the compose form as typed.
type composeForm struct {
	Name, Subject, Body, Filter string
	When                        string // "now" or "later"
	SendAt                      string // datetime-local, when later
}

type composePage struct {
	view
	F             composeForm
	Errs          formErrors
	Preview       *store.ContactSelection
	CanSend       bool
	Why           string
	Placeholders  []string
	MaxRecipients int
	MaxSubject    int
	MaxBody       int
}

func (s *Server) renderCompose(c *gin.Context, status int, f composeForm, errs formErrors, preview *store.ContactSelection) {
	ok, why := s.sendAvailable()
	if f.When == "" {
		f.When = "now"
	}
	s.render(c, status, "campaign_compose", &composePage{
		view: view{Title: "New campaign", Nav: "campaigns"}, F: f, Errs: errs, Preview: preview,
		CanSend: ok, Why: why, Placeholders: store.Placeholders,
		MaxRecipients: store.MaxSendRecipients, MaxSubject: store.MaxSendSubjectLen, MaxBody: store.MaxSendBodyLen,
	})
}

// campaignCompose shows an empty compose form.
func (s *Server) campaignCompose(c *gin.Context) {
	s.renderCompose(c, http.StatusOK, composeForm{Filter: c.Query("filter")}, nil, nil)
}

// campaignComposePost previews the recipients (action=preview) or sends
// the campaign (action=send).
func (s *Server) campaignComposePost(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxComposeBytes)
	if err := c.Request.ParseForm(); err != nil {
		s.errorPage(c, http.StatusRequestEntityTooLarge, "The form is too large: a message may have at most "+strconv.Itoa(store.MaxSendBodyLen)+" characters.")
		return
	}
	f := composeForm{
		Name: c.PostForm("name"), Subject: c.PostForm("subject"), Body: c.PostForm("body"),
		Filter: c.PostForm("filter"), When: c.PostForm("when"), SendAt: c.PostForm("send_at"),
	}
	if c.PostForm("action") != "send" {
		sel, err := s.previewRecipients(f.Filter)
		if err != nil {
			s.composeFailed(c, f, err)
			return
		}
		s.renderCompose(c, http.StatusOK, f, nil, sel)
		return
	}
	if ok, why := s.sendAvailable(); !ok {
		s.renderCompose(c, http.StatusServiceUnavailable, f, formErrors{"": "Sending is unavailable: " + why + "."}, nil)
		return
	}
	in := store.SendInput{Name: f.Name, Subject: f.Subject, Body: f.Body, Filter: f.Filter, CreatedBy: currentUser(c).ID}
	if f.When == "later" {
		t, err := s.parseLocal(f.SendAt)
		if err != nil {
			s.renderCompose(c, http.StatusBadRequest, f, formErrors{"send_at": "Give the date and time to send it."}, nil)
			return
		}
		in.SendAt = t
	}
	camp, cs, err := s.queueSend(c, in)
	if err != nil {
		s.composeFailed(c, f, err)
		return
	}
	msg := strconv.Itoa(cs.Counts.Total()) + " recipients queued; sending now."
	if cs.SendAt.After(s.now()) {
		msg = strconv.Itoa(cs.Counts.Total()) + " recipients queued; sending starts " + s.inZone(cs.SendAt).Format("2 Jan 2006, 15:04") + "."
	}
	redirect(c, "/campaigns/"+camp.ID.String(), msg)
}

// queueSend composes a campaign and wakes the sender, for the compose page
// and the API alike. The caller has checked that sending is available.
func (s *Server) queueSend(c *gin.Context, in store.SendInput) (*store.Campaign, *store.CampaignSend, error) {
	camp, cs, err := s.store.CreateSend(c.Request.Context(), in)
	if err != nil {
		return nil, nil, err
	}
	s.opts.Sender.Kick()
	s.logFor(c).Info("campaign composed", "campaign", camp.ID, "recipients", cs.Counts.Total(), "send_at", cs.SendAt, "by", who(c).Name)
	return camp, cs, nil
}

// previewRecipients evaluates a contact filter for the preview.
func (s *Server) previewRecipients(filter string) (*store.ContactSelection, error) {
	if strings.TrimSpace(filter) == "" {
		return nil, &store.ValidationError{Field: "filter", Msg: "is required: say who gets it, e.g. org:\"Acme\" or kind:person"}
	}
	q, err := store.ParseContactQuery(filter)
	if err == nil {
		var sel *store.ContactSelection
		if sel, err = s.store.SelectContacts(q, previewRows); err == nil {
			return sel, nil
		}
	}
	// The parser names its errors "q"; here the field is the filter.
	if ve, ok := err.(*store.ValidationError); ok && ve.Field == "q" {
		ve.Field = "filter"
	}
	return nil, err
}

func (s *Server) composeFailed(c *gin.Context, f composeForm, err error) {
	errs, ok := asFieldError(err, nil)
	if !ok {
		s.uiFail(c, err)
		return
	}
	s.renderCompose(c, http.StatusBadRequest, f, errs, nil)
}

type sendPage struct {
	view
	Campaign *store.Campaign
	Send     *store.CampaignSend
	Rows     []*store.SendRecipient
	State    string
	States   []string
	Next     string
	After    string
	CanSend  bool
	Why      string
	Refresh  bool
}

// campaignSendShow is the page of a campaign Touchpoint sends: status,
// counts, and each recipient's state with the relay's answer.
func (s *Server) campaignSendShow(c *gin.Context, camp *store.Campaign, cs *store.CampaignSend) {
	state, after := c.Query("state"), c.Query("after")
	rows, next, err := s.store.SendRecipients(camp.ID, state, after, 100)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	ok, why := s.sendAvailable()
	s.render(c, http.StatusOK, "campaign_send", &sendPage{
		view: view{Title: camp.Name, Nav: "campaigns"}, Campaign: camp, Send: cs, Rows: rows,
		State: state, States: store.RcptStates, Next: next, After: after, CanSend: ok, Why: why,
		Refresh: cs.Active() && ok,
	})
}

// campaignCancel stops a send: recipients not sent yet are not sent.
func (s *Server) campaignCancel(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	cs, err := s.store.CancelSend(c.Request.Context(), id)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	s.logFor(c).Info("campaign cancelled", "campaign", id, "by", who(c).Name)
	redirect(c, "/campaigns/"+id.String(), strconv.Itoa(cs.Counts.Cancelled)+" recipients will not be sent the campaign.")
}
