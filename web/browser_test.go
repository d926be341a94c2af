package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-rod/rod"
	"github.com/go-rod/rod/lib/launcher"
	"github.com/go-rod/rod/lib/proto"

	"touchpoint/store"
)

// The browser tests drive the real pages in headless Chromium (Debian's
// /usr/bin/chromium; `make test` installs it; nothing is downloaded). They
// find fields by their visible labels, as SPEC §7 promises outside tests.
//
// TOUCHPOINT_SCREENSHOTS=DIR saves screenshots of the main pages there
// (docs/screenshots is made that way).

const chromiumPath = "/usr/bin/chromium"

func startBrowser(t *testing.T) *rod.Browser {
	t.Helper()
	if testing.Short() {
		t.Skip("browser tests skipped in -short mode")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("browser tests need %s (install it with ./scripts/install-test-deps.sh or `make deps`): %v", chromiumPath, err)
	}
	l := launcher.New().Bin(chromiumPath).Leakless(false).Headless(true).NoSandbox(true).
		Set("disable-gpu").Set("disable-quic").Set("no-first-run").Set("disable-background-networking").
		Set("disable-component-update").Set("disable-sync").UserDataDir(t.TempDir())
	u, err := l.Launch()
	if err != nil {
		t.Fatalf("launch %s: %v", chromiumPath, err)
	}
	b := rod.New().ControlURL(u)
	if err := b.Connect(); err != nil {
		l.Kill()
		t.Fatalf("connect to chromium: %v", err)
	}
	t.Cleanup(func() {
		b.Close()
		l.Kill()
		l.Cleanup()
	})
	return b
}

// tab is a page with helpers that find things as a user does.
type tab struct {
	t    *testing.T
	p    *rod.Page
	base string
	shot string
}

func newTab(t *testing.T, b *rod.Browser, base string) *tab {
	// A backstop: no step may hang the suite.
	p := b.MustPage("").Timeout(2 * time.Minute)
	p.MustSetViewport(1280, 860, 1, false)
	return &tab{t: t, p: p, base: base, shot: os.Getenv("TOUCHPOINT_SCREENSHOTS")}
}

func (tb *tab) open(path string) {
	tb.p.MustNavigate(tb.base + path).MustWaitLoad()
}

// submit clicks el and waits for the page it leads to.
func (tb *tab) submit(el *rod.Element) {
	tb.t.Helper()
	tb.p.MustEval(`() => { window.__tpOld = true }`)
	el.MustClick()
	err := rod.Try(func() {
		tb.p.Timeout(15 * time.Second).MustWait(`() => !window.__tpOld && document.readyState === "complete"`)
	})
	if err != nil {
		tb.t.Fatalf("%s: no new page after the click: %v", tb.p.MustInfo().URL, err)
	}
}

// find waits a little for an element whose text matches; a miss fails
// the test with the page's text rather than waiting for long.
func (tb *tab) find(sel, text string) *rod.Element {
	tb.t.Helper()
	var el *rod.Element
	err := rod.Try(func() {
		re := strings.ReplaceAll(regexp.QuoteMeta(text), " ", "\\s+")
		el = tb.p.Timeout(5*time.Second).MustElementR(sel, "^\\s*"+re+"\\s*$").CancelTimeout()
	})
	if err != nil {
		tb.t.Fatalf("%s: no <%s> %q: %v\n%s", tb.p.MustInfo().URL, sel, text, err, tb.text())
	}
	return el
}

// field finds an input by the text of its <label for=…>.
func (tb *tab) field(label string) *rod.Element {
	tb.t.Helper()
	l := tb.find("label", label)
	id := l.MustAttribute("for")
	if id == nil {
		tb.t.Fatalf("label %q has no for=", label)
	}
	return tb.p.MustElement("#" + *id)
}

// check ticks the checkbox wrapped in the label with this text.
func (tb *tab) check(label string) {
	tb.t.Helper()
	tb.find("label", label).MustElement("input[type=checkbox]").MustClick()
}

func (tb *tab) button(text string) *rod.Element {
	tb.t.Helper()
	return tb.find("button", text)
}

func (tb *tab) link(text string) *rod.Element {
	tb.t.Helper()
	return tb.find("a", text)
}

func (tb *tab) text() string { return tb.p.MustElement("main").MustText() }

func (tb *tab) see(want ...string) {
	tb.t.Helper()
	txt := tb.text()
	for _, w := range want {
		if !strings.Contains(txt, w) {
			tb.t.Errorf("%s: page lacks %q\n%s", tb.p.MustInfo().URL, w, txt)
		}
	}
}

func (tb *tab) screenshot(name string) {
	if tb.shot == "" {
		return
	}
	if err := os.MkdirAll(tb.shot, 0o755); err != nil {
		tb.t.Fatal(err)
	}
	// Settle fonts and layout; capture the page down to its end, at most
	// two screens, so the README shows what matters.
	tb.p.MustEval(`() => { if (document.activeElement) document.activeElement.blur(); window.scrollTo(0, 0) }`)
	tb.p.MustWaitStable()
	h := tb.p.MustEval(`() => Math.min(document.documentElement.scrollHeight, 1700)`).Int()
	img, err := tb.p.Screenshot(false, &proto.PageCaptureScreenshot{
		Format:                proto.PageCaptureScreenshotFormatPng,
		Clip:                  &proto.PageViewport{X: 0, Y: 0, Width: 1280, Height: float64(h), Scale: 1},
		CaptureBeyondViewport: true,
	})
	if err != nil {
		tb.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tb.shot, name+".png"), img, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

func (tb *tab) signIn(email string) {
	tb.open("/login")
	tb.screenshot("sign-in")
	tb.field("Email").MustInput(email)
	tb.field("Password").MustInput(testPassword)
	tb.submit(tb.button("Sign in"))
}

func TestBrowserFlows(t *testing.T) {
	t.Parallel()
	b := startBrowser(t)
	e := newUIEnv(t)
	d := seedDemo(t, e)
	tb := newTab(t, b, e.srv.URL)

	// Sign in.
	tb.signIn("ada@org.org")
	tb.link("Contacts").MustVisible()
	for _, l := range []string{"Contacts", "Interactions", "Unmatched", "Admin"} {
		tb.link(l)
	}
	tb.screenshot("contacts")

	// A profile: add a Visit with an address and actions.
	tb.submit(tb.link("David Levi"))
	tb.see("log@org.org", "Timeline")
	tb.screenshot("profile")
	tb.submit(tb.button("Add an interaction"))
	if tb.field("Full address").MustVisible() {
		t.Error("Full address shown before the type is Visit")
	}
	tb.field("Type").MustSelect("Visit")
	addr := tb.field("Full address")
	if !addr.MustVisible() {
		t.Fatal("Full address not shown for a Visit")
	}
	addr.MustInput("12 Herzl St, Haifa")
	tb.check("Tefillin")
	tb.check("Neshek")
	// A new action added in place (the script turns it into a checkbox).
	tb.p.MustElement("#new_actions").MustInput("Mezuzah check")
	tb.button("Add").MustClick()
	if !tb.find("label", "Mezuzah check").MustElement("input").MustProperty("checked").Bool() {
		t.Error("the new action is not a ticked checkbox")
	}
	tb.field("Comment").MustInput("Put up a mezuzah <b>and</b> talked about the class")
	tb.field("Duration (minutes)").MustInput("40")
	if v := tb.field("Date and time").MustProperty("value").String(); !strings.HasPrefix(v, time.Now().UTC().Format("2006-01-02T")) {
		t.Errorf("Date and time defaults to %q, want now", v)
	}
	tb.screenshot("interaction-form")
	tb.submit(tb.button("Save"))

	// It is on top of the timeline.
	first := tb.p.MustElement(".timeline .ia-card")
	ft := first.MustText()
	for _, w := range []string{"Visit", "Tefillin", "Neshek", "Mezuzah check", "Put up a mezuzah <b>and</b> talked about the class", "12 Herzl St, Haifa", "40 min"} {
		if !strings.Contains(ft, w) {
			t.Errorf("first card lacks %q:\n%s", w, ft)
		}
	}
	tb.see("Interaction saved.")

	// Edit it: the form comes back filled in.
	tb.submit(first.MustElementR("a", "^Edit$"))
	if v := tb.field("Full address").MustProperty("value").String(); v != "12 Herzl St, Haifa" {
		t.Errorf("edit form address = %q", v)
	}
	if !tb.find("label", "Tefillin").MustElement("input").MustProperty("checked").Bool() {
		t.Error("edit form lost the Tefillin action")
	}
	c := tb.field("Comment")
	c.MustSelectAllText().MustInput("Mezuzah up; next visit after the holidays")
	tb.submit(tb.button("Save"))
	first = tb.p.MustElement(".timeline .ia-card")
	if !strings.Contains(first.MustText(), "next visit after the holidays") {
		t.Errorf("edit not shown: %s", first.MustText())
	}
	tb.see("Changes saved.")

	// Delete it, with confirmation.
	n := len(tb.p.MustElements(".timeline .ia-card"))
	tb.submit(first.MustElementR("button", "^Delete$"))
	tb.see("Delete this interaction?", "next visit after the holidays")
	tb.submit(tb.button("Delete"))
	tb.see("Interaction deleted.")
	if m := len(tb.p.MustElements(".timeline .ia-card")); m != n-1 {
		t.Errorf("%d cards after delete, want %d", m, n-1)
	}
	if strings.Contains(tb.text(), "next visit after the holidays") {
		t.Error("deleted interaction still shown")
	}

	// The global view: filter, see it in the URL, export exactly that.
	tb.submit(tb.link("Interactions"))
	tb.screenshot("interactions")
	tb.field("Type").MustSelect("Call")
	tb.field("Owner").MustSelect("Sarah Cohen")
	tb.submit(tb.button("Filter"))
	if u := tb.p.MustInfo().URL; !strings.Contains(u, "type=Call") || !strings.Contains(u, "owner=") {
		t.Errorf("filter not in the URL: %s", u)
	}
	rows := tb.p.MustElements("table tbody tr")
	if len(rows) == 0 {
		t.Fatal("filtered view is empty")
	}
	for _, r := range rows {
		if tds := r.MustElements("td"); tds[2].MustText() != "Call" {
			t.Errorf("row type %q in a Call filter", tds[2].MustText())
		}
	}
	href := *tb.link("Export").MustAttribute("href")
	body := tb.p.MustEval(`(u) => fetch(u).then(r => r.text())`, href).Str()
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatalf("export: %v\n%s", err, body)
	}
	want := 0
	for _, ia := range d.interactions {
		if ia.Type == "Call" && containsID(ia.OwnerIDs, d.sarah.ID) {
			want += len(ia.ContactIDs)
		}
	}
	if len(recs)-1 != want {
		t.Errorf("export has %d rows, want %d", len(recs)-1, want)
	}
	for _, r := range recs[1:] {
		if r[4] != "Call" || !strings.Contains(r[9], "Sarah Cohen") {
			t.Errorf("exported row outside the filter: %q", r)
		}
	}
	// The advanced expression, and a mistake shown next to it.
	tb.open("/interactions")
	tb.field("Filter expression").MustInput("tpye:Call")
	tb.submit(tb.button("Filter"))
	tb.see("Unknown filter")

	// Unmatched: open a message, find the contact, assign.
	tb.submit(tb.link("Unmatched"))
	tb.screenshot("unmatched")
	if strings.Contains(tb.text(), "Mail delivery failed") {
		t.Error("noise shown by default")
	}
	tb.submit(tb.link("Question about Sunday's class"))
	tb.screenshot("unmatched-message")
	tb.field("Find contacts").MustInput("David")
	tb.submit(tb.button("Search"))
	tb.check("David Levi david@example.org")
	tb.submit(tb.button("Assign"))
	tb.see("Message logged on the contact.")
	if u, _ := e.s.GetUnmatched(d.question); u.Status != store.StatusResolved {
		t.Errorf("unmatched message is %s", u.Status)
	}
	items, _, _ := e.s.Timeline(d.david.ID, 1, "")
	if len(items) == 0 || items[0].Title != "Question about Sunday's class" {
		t.Errorf("assigned message not on David's timeline: %+v", items)
	}
	// Noise is one click away.
	tb.submit(tb.link("Noise"))
	tb.see("Mail delivery failed")

	// Admin pages render (for the screenshots too).
	tb.submit(tb.link("Admin"))
	tb.screenshot("admin-users")
	tb.open("/admin/lists")
	tb.screenshot("admin-lists")

	// Sign out.
	tb.submit(tb.button("Sign out"))
	tb.see("You are signed out.")
}

// TestBrowserWithoutScript checks the forms work without the UI's script
// (its file is blocked): the Full address field still follows the type
// (CSS), saving and deleting work.
func TestBrowserWithoutScript(t *testing.T) {
	t.Parallel()
	b := startBrowser(t)
	e := newUIEnv(t)
	david := e.contact(store.Contact{Name: "David Levi", Emails: []string{"david@example.org"}})
	tb := newTab(t, b, e.srv.URL)
	if err := (proto.NetworkEnable{}).Call(tb.p); err != nil {
		t.Fatal(err)
	}
	if err := (proto.NetworkSetBlockedURLs{Urls: []string{"*/static/app.js*"}}).Call(tb.p); err != nil {
		t.Fatal(err)
	}
	tb.signIn("sarah@org.org")
	tb.open(fmt.Sprintf("/contacts/%d", david.ID))
	tb.submit(tb.button("Add an interaction"))
	if tb.field("Full address").MustVisible() {
		t.Error("Full address shown before the type is Visit")
	}
	tb.field("Type").MustSelect("Visit")
	if !tb.field("Full address").MustVisible() {
		t.Fatal("Full address hidden for a Visit without script")
	}
	if tb.button("Add").MustVisible() {
		t.Error("the script's Add button shows without the script")
	}
	tb.field("Full address").MustInput("3 Hagefen St")
	tb.check("Discussion")
	tb.submit(tb.button("Save"))
	first := tb.p.MustElement(".timeline .ia-card").MustText()
	if !strings.Contains(first, "3 Hagefen St") || !strings.Contains(first, "Discussion") {
		t.Errorf("first card: %s", first)
	}
	// Delete without a script dialog: the confirmation is a page.
	tb.submit(tb.p.MustElement(".timeline .ia-card").MustElementR("button", "^Delete$"))
	tb.submit(tb.button("Delete"))
	tb.see("Interaction deleted.", "No interactions yet.")
}

// demo is a small, realistic data set for the browser flows and the
// screenshots.
type demo struct {
	sarah, yossi *store.User
	david        *store.Contact
	interactions []*store.Interaction
	question     store.ID
}

func seedDemo(t *testing.T, e *uiEnv) *demo {
	t.Helper()
	ctx := context.Background()
	d := &demo{}
	// Rename the env's staff member; add one more.
	e.s.UpdateUser(ctx, e.staff.ID, func(u *store.User) error { u.Name = "Sarah Cohen"; u.Initials = ""; return nil })
	d.sarah, _ = e.s.GetUser(e.staff.ID)
	d.yossi = &store.User{Name: "Yossi Katz", Emails: []string{"yossi@org.org"}, Role: store.RoleStaff}
	if err := e.s.CreateUser(ctx, d.yossi, testPassword); err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"Main office", "Community hall"} {
		e.s.AddVocab(ctx, store.VocabLocation, l)
	}
	acme := e.contact(store.Contact{Kind: store.KindOrganization, Name: "Acme Ltd", Domains: []string{"acme.com"}, Phones: []string{"+972 3 555 0100"}, Address: "5 Rothschild Blvd\nTel Aviv"})
	d.david = e.contact(store.Contact{Name: "David Levi", Emails: []string{"david@example.org"}, Phones: []string{"+972 50 123 4567"},
		Address: "12 Herzl St\nHaifa", OrganizationID: acme.ID})
	people := []*store.Contact{d.david}
	for _, p := range []struct{ name, email string }{
		{"Rachel Green", "rachel@example.org"}, {"Moshe Friedman", "moshe@acme.com"}, {"Leah Stern", "leah.stern@example.net"},
		{"Daniel Weiss", "daniel@example.org"}, {"Miriam Azoulay", "miriam@example.org"}, {"Ariel Ben-David", "ariel@example.com"},
	} {
		people = append(people, e.contact(store.Contact{Name: p.name, Emails: []string{p.email}}))
	}
	e.contact(store.Contact{Kind: store.KindOrganization, Name: "Beit Chabad Haifa", Domains: []string{"chabad-haifa.org"}})
	owners := []store.ID{e.admin.ID, d.sarah.ID, d.yossi.ID}
	types := []string{"Call", "Visit", "Meeting", "Call", "Appointment", "Call", "Other", "Visit"}
	actions := [][]string{{"Tefillin"}, {"Discussion"}, nil, {"Tefillin", "Neshek"}, {"Discussion"}, nil, {"Neshek"}, {"Tefillin", "Discussion"}}
	notes := []string{"Talked about the weekly class; he will bring a friend.", "Visited with the new siddur.",
		"Planning the community dinner.", "Short call before Shabbat.", "Bar mitzvah lesson.", "Followed up on the donation receipt.",
		"Dropped off candles.", "Long talk about the trip to Israel."}
	now := time.Now().UTC()
	for i := range 46 {
		ia := &store.Interaction{
			ContactIDs: []store.ID{people[i%len(people)].ID}, Type: types[i%len(types)], Actions: actions[i%len(actions)],
			Details: notes[i%len(notes)], OccurredAt: now.Add(-time.Duration(i*41+3) * time.Hour),
			OwnerIDs: []store.ID{owners[i%len(owners)]}, CreatedBy: owners[i%len(owners)], DurationMinutes: (i % 4) * 15,
		}
		if ia.Type == "Visit" {
			ia.Address = people[i%len(people)].Address
			ia.Location = ""
		}
		if ia.Type == "Meeting" {
			ia.Location = "Main office"
			ia.ContactIDs = append(ia.ContactIDs, people[(i+1)%len(people)].ID)
		}
		if err := e.s.CreateInteraction(ctx, ia); err != nil {
			t.Fatal(err)
		}
		d.interactions = append(d.interactions, ia)
	}
	// An email on David's timeline, with an attachment.
	raw := "From: Sarah Cohen <sarah@org.org>\r\nTo: David Levi <david@example.org>\r\nBcc: log@org.org\r\nSubject: Sunday's class: the reading\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\n" +
		"Hi David,\r\n\r\nHere is the reading for Sunday. See you at 10!\r\n\r\nSarah\r\n" +
		"--BB\r\nContent-Type: application/pdf; name=\"reading.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--BB--\r\n"
	if _, err := e.s.Ingest(ctx, &store.Incoming{DedupeKey: "demo-mail", Raw: []byte(raw), Interaction: &store.Interaction{
		ContactIDs: []store.ID{d.david.ID}, Type: "Email", Title: "Sunday's class: the reading", Source: store.SourceSMTP,
		Details: "Hi David,\n\nHere is the reading for Sunday. See you at 10!\n\nSarah", OccurredAt: now.Add(-26 * time.Hour),
		OwnerIDs: []store.ID{d.sarah.ID},
		Email: &store.Email{From: "sarah@org.org", To: []string{"david@example.org"}, Subject: "Sunday's class: the reading", Direction: store.Outbound,
			Attachments: []store.Attachment{{Name: "reading.pdf", ContentType: "application/pdf", Size: 9}}},
	}}); err != nil {
		t.Fatal(err)
	}
	d.question = e.unmatched("q1", "dlevi.home@gmail.com", "Question about Sunday's class", "Hi,\n\nIs the class on Sunday at 10 or at 11?\nI'd like to bring my son.\n\nDavid", "no_contact")
	e.unmatched("q2", "newsletter@shop.example", "Our summer sale", "Everything must go", "no_staff")
	e.unmatched("q3", "someone@example.net", "Re: the dinner", "Count me in for two.", "no_contact")
	e.unmatched("n1", "mailer-daemon@example.org", "Mail delivery failed", "The message could not be delivered.", "bounce")
	e.unmatched("n2", "david@example.org", "Automatic reply: away", "I am away until Monday.", "auto_reply")
	return d
}
