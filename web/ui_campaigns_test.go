package web

import (
	"context"
	"fmt"
	"testing"
	"time"

	"touchpoint/matcher"
	"touchpoint/store"
)

func TestUICampaigns(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	yossi := e.contact(store.Contact{Name: "Yossi", Emails: []string{"yossi@acme.com"}})
	res, err := e.s.ReportCampaign(context.Background(), store.CampaignReport{
		ExternalID: "mc-<1>", Name: "May <script>alert(1)</script>", Subject: "Shavuot & classes",
		SentAt: time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC), Recipients: []string{"yossi@acme.com", "stranger@nowhere.example"},
	}, matcher.NewRecipients(matcher.Config{}).Match)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Campaign.ID
	b := e.signedIn(e.staff)
	list := b.get("/campaigns", 200)
	list.has(t, ">Campaigns</a>", fmt.Sprintf(`href="/campaigns/%d"`, id), "May &lt;script&gt;", "Shavuot &amp; classes")
	list.hasNot(t, "<script>alert")
	show := b.get(fmt.Sprintf("/campaigns/%d", id), 200)
	show.has(t, "stranger@nowhere.example", "no contact", fmt.Sprintf(`href="/contacts/%d#ia-`, yossi.ID), "1 interactions", "mc-&lt;1&gt;")
	show.hasNot(t, "<script>alert")
	profile := b.get(fmt.Sprintf("/contacts/%d", yossi.ID), 200)
	profile.has(t, fmt.Sprintf(`class="tag tag-campaign" href="/campaigns/%d"`, id), "Shavuot &amp; classes")
	b.get("/campaigns/99", 404)
	e.browser().get("/campaigns", 303)
}
