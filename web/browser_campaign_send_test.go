package web

import (
	"testing"

	"touchpoint/store"
)

// TestBrowserComposeCampaign composes a campaign in headless Chromium,
// previews it, sends it through a relay on loopback and watches the
// campaign page fill in.
func TestBrowserComposeCampaign(t *testing.T) {
	t.Parallel()
	b := startBrowser(t)
	e, snd, relay := newSendUIEnv(t)
	e.contact(store.Contact{Name: "Stranger", Emails: []string{"s@example.net"}})
	tb := newTab(t, b, e.srv.URL)

	tb.signIn("ada@org.org")
	tb.submit(tb.link("Campaigns"))
	tb.submit(tb.link("New campaign"))
	tb.field("Subject").MustInput("Shavuot classes")
	tb.field("Message").MustInput("Shalom {{first_name}},\nclasses start Sunday.")
	tb.field("Recipients").MustInput(`org:"Acme"`)
	tb.submit(tb.button("Preview recipients"))
	tb.see("2 recipients", "Dana Cohen", "yossi@acme.com")
	if v := tb.field("Message").MustProperty("value").String(); v != "Shalom {{first_name}},\nclasses start Sunday." {
		t.Errorf("the preview lost the message: %q", v)
	}
	tb.screenshot("campaign-compose")
	tb.submit(tb.button("Send campaign"))
	tb.see("2 recipients queued", "Queued")

	runSender(t, snd)
	tb.p.MustReload().MustWaitLoad()
	tb.see("done", "Sent", "yossi@acme.com", "On the timeline")
	if got := tb.p.MustElement("#count-sent").MustText(); got != "2" {
		t.Errorf("Sent shows %q, want 2", got)
	}
	tb.screenshot("campaign-progress")
	if n := len(relay.Messages()); n != 2 {
		t.Errorf("relay got %d messages, want 2", n)
	}
}
