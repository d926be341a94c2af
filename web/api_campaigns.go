package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"touchpoint/matcher"
	"touchpoint/store"
)

// campaignInput is the body of POST /campaigns (SPEC §7).
type campaignInput struct {
	ExternalID string   `json:"external_id"`
	Name       string   `json:"name"`
	Subject    string   `json:"subject"`
	SentAt     string   `json:"sent_at"`
	Recipients []string `json:"recipients"`
}

// recipientsInput is the body of POST /campaigns/{id}/recipients.
type recipientsInput struct {
	Recipients []string `json:"recipients"`
}

// campaignAnswer is what a report (or a chunk of recipients) did.
type campaignAnswer struct {
	ID             store.ID         `json:"id"`
	ExternalID     string           `json:"external_id"`
	Created        bool             `json:"created"`
	Logged         int              `json:"logged"`
	Duplicates     int              `json:"duplicates"`
	Unmatched      []string         `json:"unmatched"`
	UnmatchedCount int              `json:"unmatched_count"`
	Rejected       []store.Rejected `json:"rejected"`
	RejectedCount  int              `json:"rejected_count"`
	Campaign       *store.Campaign  `json:"campaign"`
}

func newCampaignAnswer(r *store.CampaignResult) campaignAnswer {
	a := campaignAnswer{
		ID: r.Campaign.ID, ExternalID: r.Campaign.ExternalID, Created: r.Created,
		Logged: r.Logged, Duplicates: r.Duplicates,
		Unmatched: r.Unmatched, UnmatchedCount: r.UnmatchedCount,
		Rejected: r.Rejected, RejectedCount: r.RejectedCount, Campaign: r.Campaign,
	}
	if a.Unmatched == nil {
		a.Unmatched = []string{}
	}
	if a.Rejected == nil {
		a.Rejected = []store.Rejected{}
	}
	return a
}

// recipientMatch matches recipients with the mail rules (package matcher).
func (s *Server) recipientMatch() store.MatchFunc {
	return matcher.NewRecipients(*s.opts.Matcher).Match
}

// reportCampaign records a send reported by campaign tooling: 201 for a new
// campaign, 200 when external_id was reported before (only recipients not
// yet recorded are logged).
func (s *Server) reportCampaign(c *gin.Context) {
	var in campaignInput
	if !s.bindJSONLimit(c, &in, s.opts.MaxCampaignBodyBytes) {
		return
	}
	if in.SentAt == "" {
		s.fail(c, &store.ValidationError{Field: "sent_at", Msg: "is required (RFC 3339, e.g. 2026-05-01T09:00:00Z)"})
		return
	}
	sent, err := parseWhen(in.SentAt)
	if err != nil {
		s.fail(c, &store.ValidationError{Field: "sent_at", Msg: err.Error()})
		return
	}
	p := who(c)
	res, err := s.store.ReportCampaign(c.Request.Context(), store.CampaignReport{
		ExternalID: in.ExternalID, Name: in.Name, Subject: in.Subject, SentAt: sent, Recipients: in.Recipients,
		CreatedBy: p.UserID, CreatedByToken: p.TokenID,
	}, s.recipientMatch())
	if err != nil {
		s.fail(c, err)
		return
	}
	s.CountCampaignSend(CampaignViaReport, res)
	status := http.StatusOK
	if res.Created {
		status = http.StatusCreated
	}
	c.JSON(status, newCampaignAnswer(res))
}

// addCampaignRecipients records another chunk of a campaign's recipients.
func (s *Server) addCampaignRecipients(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	var in recipientsInput
	if !s.bindJSONLimit(c, &in, s.opts.MaxCampaignBodyBytes) {
		return
	}
	p := who(c)
	res, err := s.store.AddCampaignRecipients(c.Request.Context(), id, in.Recipients, p.UserID, p.TokenID, s.recipientMatch())
	if err != nil {
		s.fail(c, err)
		return
	}
	s.CountCampaignSend(CampaignViaReport, res)
	c.JSON(http.StatusOK, newCampaignAnswer(res))
}

func (s *Server) listCampaigns(c *gin.Context) {
	limit, cursor, ok := pageParams(c)
	if !ok {
		return
	}
	items, next, err := s.store.Campaigns(limit, cursor)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, newList(items, next))
}

// listCampaignRecipients pages through the recorded recipients in address
// order; the cursor is the last address of the previous page.
func (s *Server) listCampaignRecipients(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	limit, cursor, ok := pageParams(c)
	if !ok {
		return
	}
	items, next, err := s.store.CampaignRecipients(id, cursor, limit)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, newList(items, next))
}
