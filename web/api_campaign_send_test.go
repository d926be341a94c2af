package web

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"touchpoint/outbound"
	"touchpoint/outbound/relaytest"
	"touchpoint/store"
)

// newSender is the real sender on the test's store, through a real relay
// on loopback.
func newSender(t *testing.T, s *store.Store) (*outbound.Sender, *relaytest.Relay) {
	t.Helper()
	relay := relaytest.New(t, relaytest.Options{})
	return outbound.New(outbound.Config{
		Host: relay.Host, Port: relay.Port, TLS: outbound.TLSNone, From: "office@org.org",
		RatePerSecond: 1000, MaxAttempts: 2, RetryDelay: time.Millisecond, Timeout: 5 * time.Second,
	}, s, nil), relay
}

// runSender sends everything due, retries included.
func runSender(t *testing.T, snd *outbound.Sender) {
	t.Helper()
	for range 20 {
		next, err := snd.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if next.IsZero() {
			return
		}
		time.Sleep(time.Until(next))
	}
	t.Fatal("the sender still has work after 20 rounds")
}

func TestSendAPI(t *testing.T) {
	t.Parallel()
	var snd *outbound.Sender
	var relay *relaytest.Relay
	e := newEnvWith(t, func(o *Options) {
		snd, relay = newSender(t, o.Store)
		o.Sender = snd
	})
	acme := e.contact(map[string]any{"kind": "organization", "name": "Acme", "domains": []string{"acme.com"}})
	yossi := e.contact(map[string]any{"name": "Yossi Levi", "emails": []string{"yossi@acme.com"}, "organization_id": acme.ID})
	e.contact(map[string]any{"name": "Dana Cohen", "emails": []string{"dana@acme.com"}, "organization_id": acme.ID})
	e.contact(map[string]any{"name": "Moshe", "organization_id": acme.ID})
	relay.Script("dana@acme.com", relaytest.Err(550, smtp.EnhancedCode{5, 1, 1}, "no such user"))

	var pv struct {
		Count      int `json:"count"`
		NoAddress  int `json:"no_address"`
		Recipients []struct {
			Name, Email string
		} `json:"recipients"`
	}
	e.must(e.adminTok, "POST", "/api/v1/sends/preview", map[string]any{"filter": `org:"Acme"`}, 200).json(t, &pv)
	if pv.Count != 2 || pv.NoAddress != 1 || len(pv.Recipients) != 2 || pv.Recipients[0].Email != "dana@acme.com" {
		t.Errorf("preview = %+v, want Dana and Yossi, 1 without address", pv)
	}
	if r := e.do(e.adminTok, "POST", "/api/v1/sends/preview", map[string]any{"filter": `org:Initech`}); r.code != 400 || r.errField() != "filter" {
		t.Errorf("preview of a bad filter = %d %s, want 400 on filter", r.code, r.body)
	}
	body := map[string]any{"subject": "Shavuot classes", "body": "Shalom {{first_name}}", "filter": `org:"Acme"`}
	e.must(e.staffTok, "POST", "/api/v1/sends", body, 403)
	for field, bad := range map[string]map[string]any{
		"body":    {"subject": "S", "body": "Hi {{surname}}", "filter": "org:acme"},
		"subject": {"subject": strings.Repeat("s", store.MaxSendSubjectLen+1), "body": "Hi", "filter": "org:acme"},
		"filter":  {"subject": "S", "body": "Hi", "filter": "colour:blue"},
		"send_at": {"subject": "S", "body": "Hi", "filter": "org:acme", "send_at": "tomorrow"},
	} {
		if r := e.do(e.adminTok, "POST", "/api/v1/sends", bad); r.code != 400 || r.errField() != field {
			t.Errorf("POST /sends with a bad %s = %d %s", field, r.code, r.body)
		}
	}
	var ans sendAnswer
	e.must(e.adminTok, "POST", "/api/v1/sends", body, 201).json(t, &ans)
	if ans.Send.Status != store.SendScheduled || ans.Send.Counts.Pending != 2 || !ans.Available {
		t.Fatalf("POST /sends = %+v", ans)
	}
	runSender(t, snd)
	path := fmt.Sprintf("/api/v1/sends/%d", ans.Campaign.ID)
	e.must(e.adminTok, "GET", path, nil, 200).json(t, &ans)
	if c := ans.Send.Counts; ans.Send.Status != store.SendDone || c.Sent != 1 || c.Failed != 1 {
		t.Errorf("after sending: %s %+v, want done, 1 sent, 1 failed", ans.Send.Status, c)
	}
	var failed list[store.SendRecipient]
	e.must(e.adminTok, "GET", path+"/recipients?state=failed", nil, 200).json(t, &failed)
	if len(failed.Items) != 1 || failed.Items[0].Address != "dana@acme.com" || failed.Items[0].Answer != "550 5.1.1 no such user" {
		t.Errorf("failed recipients = %+v", failed.Items)
	}
	var tl list[store.Interaction]
	e.must(e.adminTok, "GET", fmt.Sprintf("/api/v1/contacts/%d/interactions", yossi.ID), nil, 200).json(t, &tl)
	if len(tl.Items) != 1 || tl.Items[0].Source != "campaign" || tl.Items[0].Title != "Shavuot classes" ||
		tl.Items[0].CampaignID != ans.Campaign.ID || len(tl.Items[0].OwnerIDs) != 1 || tl.Items[0].OwnerIDs[0] != e.admin.ID {
		t.Errorf("Yossi's timeline = %+v, want the campaign logged once, owned by the admin", tl.Items)
	}
	if n := len(relay.Messages()); n != 1 {
		t.Errorf("relay accepted %d messages, want 1", n)
	}
	if r := e.do(e.adminTok, "POST", path+"/cancel", nil); r.code != 409 {
		t.Errorf("cancelling a finished send = %d %s, want 409", r.code, r.body)
	}
	e.must(e.adminTok, "GET", "/api/v1/sends/12345", nil, 404)
}

func TestSendWithoutRelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.contact(map[string]any{"name": "Yossi", "emails": []string{"yossi@acme.com"}})
	r := e.do(e.adminTok, "POST", "/api/v1/sends", map[string]any{"subject": "S", "body": "Hi", "filter": "yossi"})
	if r.code != 503 || !strings.Contains(string(r.body), "sending is unavailable") {
		t.Errorf("POST /sends without a sender = %d %s, want 503 saying why", r.code, r.body)
	}
	e.must(e.adminTok, "POST", "/api/v1/sends/preview", map[string]any{"filter": "yossi"}, 200)
}

// newSendUIEnv is a UI server with a sender and a relay, and Acme with two
// people, Yossi Levi and Dana Cohen.
func newSendUIEnv(t *testing.T) (*uiEnv, *outbound.Sender, *relaytest.Relay) {
	t.Helper()
	var snd *outbound.Sender
	var relay *relaytest.Relay
	e := newUIEnvWith(t, func(o *Options) {
		snd, relay = newSender(t, o.Store)
		o.Sender = snd
	})
	acme := e.contact(store.Contact{Kind: store.KindOrganization, Name: "Acme"})
	e.contact(store.Contact{Name: "Yossi Levi", Emails: []string{"yossi@acme.com"}, OrganizationID: acme.ID})
	e.contact(store.Contact{Name: "Dana Cohen", Emails: []string{"dana@acme.com"}, OrganizationID: acme.ID})
	return e, snd, relay
}

func TestUIComposeAndProgress(t *testing.T) {
	t.Parallel()
	e, snd, relay := newSendUIEnv(t)
	for range 2 {
		relay.Script("dana@acme.com", relaytest.Err(421, smtp.EnhancedCode{4, 7, 0}, "slow down"))
	}

	e.signedIn(e.staff).get("/campaigns/new", 403)
	b := e.signedIn(e.admin)
	b.get("/campaigns", 200).has(t, `href="/campaigns/new"`)
	compose := b.get("/campaigns/new", 200)
	compose.has(t, "Subject", "Message", "Recipients", "Send time", "{{first_name}}")
	compose.hasNot(t, "Sending is unavailable")
	form := url.Values{"subject": {"Shavuot classes"}, "body": {"Shalom {{first_name}}"}, "filter": {`org:"Acme"`}, "when": {"now"}}
	form.Set("action", "preview")
	b.post("/campaigns/new", form, 200).has(t, "2 recipients", "Yossi Levi", "dana@acme.com")
	form.Set("filter", "org:Initech")
	b.post("/campaigns/new", form, 400).has(t, "matches no organisation")
	form.Set("filter", `org:"Acme"`)
	form.Set("action", "send")
	form.Set("body", "Hi {{nmae}}")
	b.post("/campaigns/new", form, 400).has(t, "Unknown placeholder {{nmae}}")
	form.Set("body", "Shalom {{first_name}}")
	// Without the CSRF token the form is refused.
	bad := url.Values{}
	for k, v := range form {
		bad[k] = v
	}
	bad.Set("csrf_token", "forged")
	b.post("/campaigns/new", bad, 403)
	r := b.post("/campaigns/new", form, 303)
	page := b.get(r.loc, 200)
	page.has(t, "2 recipients queued", "scheduled", `http-equiv="refresh"`)
	runSender(t, snd)
	page = b.get(r.loc, 200)
	page.has(t, `id="count-sent">1<`, `id="count-failed">1<`, "gave up after 2 attempts: 421 4.7.0 slow down", "On the timeline")
	page.hasNot(t, `http-equiv="refresh"`, "Cancel the rest")
	failed := b.get(r.loc+"?state=failed", 200)
	failed.has(t, "dana@acme.com")
	failed.hasNot(t, "yossi@acme.com")
}

func TestUIComposeWithoutRelay(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t)
	b := e.signedIn(e.admin)
	b.get("/campaigns/new", 200).has(t, "Sending is unavailable: this server runs without a campaign sender")
}
