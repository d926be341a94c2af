package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

type campaignsPage struct {
	view
	Items []*store.Campaign
	Next  string
	Paged bool
}

// campaignList shows the reported campaigns, newest first.
func (s *Server) campaignList(c *gin.Context) {
	cursor := c.Query("cursor")
	items, next, err := s.store.Campaigns(store.DefaultLimit, cursor)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	s.render(c, http.StatusOK, "campaigns", &campaignsPage{view: view{Title: "Campaigns", Nav: "campaigns"},
		Items: items, Next: next, Paged: cursor != ""})
}

// recipientRow is one recorded recipient with its contact, when it has one.
type recipientRow struct {
	store.CampaignRecipient
	Contact *store.Contact
}

type campaignPage struct {
	view
	Campaign *store.Campaign
	Rows     []recipientRow
	Next     string
	After    string
}

// campaignShow shows a campaign's counts and its recipients, page by page,
// each linked to its contact and the interaction logged there.
func (s *Server) campaignShow(c *gin.Context) {
	id, err := store.ParseID(c.Param("id"))
	if err != nil {
		s.uiFail(c, err)
		return
	}
	camp, err := s.store.GetCampaign(id)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	if cs, err := s.store.SendOf(id); err == nil {
		s.campaignSendShow(c, camp, cs)
		return
	}
	after := c.Query("after")
	rcpts, next, err := s.store.CampaignRecipients(id, after, 100)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	l := s.recordLookups()
	rows := make([]recipientRow, len(rcpts))
	for i, r := range rcpts {
		rows[i] = recipientRow{CampaignRecipient: r}
		if r.ContactID != 0 {
			rows[i].Contact = l.contact(r.ContactID)
		}
	}
	s.render(c, http.StatusOK, "campaign", &campaignPage{view: view{Title: camp.Name, Nav: "campaigns"},
		Campaign: camp, Rows: rows, Next: next, After: after})
}
