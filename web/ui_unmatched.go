package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"touchpoint/matcher"
	"touchpoint/store"
)

// The unmatched queue's tabs. "attention" is pending mail that is not
// noise; noise (auto-replies, bounces, lists) is one click away.
var unmatchedTabs = []struct{ Key, Label string }{
	{"attention", "Needs attention"}, {"noise", "Noise"}, {"resolved", "Resolved"}, {"discarded", "Discarded"},
}

var noiseReasons = []string{matcher.ReasonAutoReply, matcher.ReasonBounce, matcher.ReasonList}

type unmatchedRow struct {
	*store.Unmatched
	From, Subject, Excerpt string
	Noise                  bool
	Checked                bool
}

type unmatchedListPage struct {
	view
	Tab      string
	Tabs     []struct{ Key, Label string }
	Rows     []unmatchedRow
	Next     string
	Paged    bool
	Pending  bool
	Errs     formErrors
	Contact  string
	Selected []store.ID
}

func viewRow(u *store.Unmatched) unmatchedRow {
	r := unmatchedRow{Unmatched: u, Noise: matcher.Noise(u.Reason), Excerpt: excerpt(u.Draft.Details, 160)}
	if m := u.Draft.Email; m != nil {
		r.From, r.Subject = m.From, m.Subject
	}
	if r.Subject == "" {
		r.Subject = u.Draft.Title
	}
	return r
}

// pageUnmatched returns one page of the tab. The store filters by status
// and by an allow-list of reasons; "not noise" is filtered here, reading
// store pages until this page is full, and the cursor is that of the last
// store page read whole.
func (s *Server) pageUnmatched(tab, cursor string) ([]unmatchedRow, string, error) {
	var f store.UnmatchedFilter
	switch tab {
	case "noise":
		f = store.UnmatchedFilter{Statuses: []string{store.StatusPending}, Reasons: noiseReasons}
	case "resolved":
		f.Statuses = []string{store.StatusResolved}
	case "discarded":
		f.Statuses = []string{store.StatusDiscarded}
	default:
		f.Statuses = []string{store.StatusPending}
	}
	var rows []unmatchedRow
	for range 20 {
		items, next, err := s.store.ListUnmatched(f, uiPageSize, cursor)
		if err != nil {
			return nil, "", err
		}
		for _, u := range items {
			if tab == "attention" && matcher.Noise(u.Reason) {
				continue
			}
			rows = append(rows, viewRow(u))
		}
		cursor = next
		if next == "" || len(rows) >= uiPageSize {
			break
		}
	}
	return rows, cursor, nil
}

func unmatchedTab(v string) string {
	for _, t := range unmatchedTabs {
		if t.Key == v {
			return v
		}
	}
	return "attention"
}

func (s *Server) unmatchedList(c *gin.Context) {
	s.renderUnmatchedList(c, http.StatusOK, unmatchedTab(c.Query("tab")), c.Query("cursor"), nil, "", nil)
}

func (s *Server) renderUnmatchedList(c *gin.Context, status int, tab, cursor string, errs formErrors, contact string, selected []store.ID) {
	rows, next, err := s.pageUnmatched(tab, cursor)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	for i := range rows {
		rows[i].Checked = containsID(selected, rows[i].ID)
	}
	s.render(c, status, "unmatched", &unmatchedListPage{view: view{Title: "Unmatched mail", Nav: "unmatched"},
		Tab: tab, Tabs: unmatchedTabs, Rows: rows, Next: next, Paged: cursor != "",
		Pending: tab == "attention" || tab == "noise", Errs: errs, Contact: contact, Selected: selected})
}

// unmatchedBulk assigns or discards the selected messages.
func (s *Server) unmatchedBulk(c *gin.Context) {
	tab := unmatchedTab(c.PostForm("tab"))
	ids, tooMany := formIDs(c.PostFormArray("ids"), store.MaxLimit, "messages")
	op := c.PostForm("op")
	contact := strings.TrimSpace(c.PostForm("contact"))
	if len(ids) == 0 {
		tooMany = "Select at least one message first."
	}
	if tooMany != "" {
		s.renderUnmatchedList(c, http.StatusBadRequest, tab, "", formErrors{"ids": tooMany}, contact, ids)
		return
	}
	p := who(c)
	ctx := c.Request.Context()
	var failed []string
	done := 0
	switch op {
	case "discard":
		for _, id := range ids {
			if err := s.store.DiscardUnmatched(ctx, id, p.UserID); err != nil {
				failed = append(failed, bulkFailure(id, err))
				continue
			}
			done++
		}
		s.flashBulk(c, tab, "Discarded", done, failed)
	case "assign":
		cid, msg := s.oneContact(contact)
		if msg != "" {
			s.renderUnmatchedList(c, http.StatusBadRequest, tab, "", formErrors{"contact": msg}, contact, ids)
			return
		}
		for _, id := range ids {
			_, _, err := s.store.AssignUnmatched(ctx, id, store.Assignment{ContactIDs: []store.ID{cid}, By: p.UserID})
			if err != nil {
				failed = append(failed, bulkFailure(id, err))
				continue
			}
			done++
		}
		s.flashBulk(c, tab, "Assigned", done, failed)
	default:
		s.errorPage(c, http.StatusBadRequest, "Choose Assign or Discard.")
	}
}

func bulkFailure(id store.ID, err error) string {
	if fe, ok := asFieldError(err, nil); ok {
		return fmt.Sprintf("#%d: %s", id, strings.ToLower(firstMessage(fe)))
	}
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Sprintf("#%d: not found", id)
	}
	return fmt.Sprintf("#%d: failed", id)
}

func (s *Server) flashBulk(c *gin.Context, tab, verb string, done int, failed []string) {
	msg := fmt.Sprintf("%s %d message(s).", verb, done)
	if len(failed) > 0 {
		msg += " Not done: " + strings.Join(failed, "; ") + "."
	}
	redirect(c, "/unmatched?tab="+tab, msg)
}

// oneContact resolves what was typed in a contact field (a name, an
// address or an id) to exactly one contact, through the filter parser's
// resolver; the message says why not.
func (s *Server) oneContact(v string) (store.ID, string) {
	if v == "" {
		return 0, "Name the contact to assign to (a name, an address or an id)."
	}
	q := &store.Query{}
	err := q.Add("contact", "contact", v)
	var f store.Filter
	if err == nil {
		f, err = s.store.Resolve(q)
	}
	if err != nil {
		return 0, fieldMessage(err)
	}
	if n := len(f.ContactIDs); n != 1 {
		return 0, fmt.Sprintf("%d contacts match “%s”; type the full name or the address.", n, v)
	}
	return f.ContactIDs[0], ""
}

type unmatchedPage struct {
	view
	U         *store.Unmatched
	Mail      *store.Email
	Subject   string
	Noise     bool
	Pending   bool
	Errs      formErrors // the assign form
	CErrs     formErrors // the create-contact form
	Picked    []*store.Contact
	Found     []*store.Contact
	ContactQ  string
	Remember  bool
	NewName   string
	NewKind   string
	NewAddr   string
	NewRemind bool
	Resolved  *store.Interaction
}

func (s *Server) loadUnmatched(c *gin.Context) (*store.Unmatched, bool) {
	id, ok := s.uiID(c)
	if !ok {
		return nil, false
	}
	u, err := s.store.GetUnmatched(id)
	if err != nil {
		s.uiFail(c, err)
		return nil, false
	}
	return u, true
}

func (s *Server) unmatchedShow(c *gin.Context) {
	u, ok := s.loadUnmatched(c)
	if !ok {
		return
	}
	page := s.newUnmatchedPage(u)
	page.NewName = s.senderName(u)
	page.NewRemind = true
	if len(u.Unknown) > 0 {
		page.NewAddr = u.Unknown[0]
	}
	s.render(c, http.StatusOK, "unmatched_show", page)
}

func (s *Server) newUnmatchedPage(u *store.Unmatched) *unmatchedPage {
	page := &unmatchedPage{view: view{Title: "Unmatched message", Nav: "unmatched"}, U: u, Mail: u.Draft.Email,
		Noise: matcher.Noise(u.Reason), Pending: u.Status == store.StatusPending, NewKind: store.KindPerson}
	if page.Mail == nil {
		page.Mail = &store.Email{}
	}
	page.Subject = page.Mail.Subject
	if page.Subject == "" {
		page.Subject = u.Draft.Title
	}
	if u.InteractionID != 0 {
		page.Resolved, _ = s.store.GetInteraction(u.InteractionID)
	}
	return page
}

// senderName guesses a new contact's name from the raw From header's
// display name, else the address's local part.
func (s *Server) senderName(u *store.Unmatched) string {
	if m := u.Draft.Email; m != nil && m.RawID != 0 {
		// The header is at the start: a large message is not read whole.
		if raw, err := s.store.RawHead(m.RawID, 256<<10); err == nil {
			if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
				if a, err := (&mail.AddressParser{}).Parse(msg.Header.Get("From")); err == nil && strings.TrimSpace(a.Name) != "" {
					return strings.TrimSpace(a.Name)
				}
			}
		}
	}
	if len(u.Unknown) > 0 {
		local, _, _ := strings.Cut(u.Unknown[0], "@")
		return local
	}
	return ""
}

func (s *Server) unmatchedAssign(c *gin.Context) {
	u, ok := s.loadUnmatched(c)
	if !ok {
		return
	}
	page := s.newUnmatchedPage(u)
	ids, tooMany := formIDs(c.PostFormArray("contact_ids"), store.MaxContactsPer, "contacts")
	if tooMany != "" {
		page.Errs = formErrors{"contact_ids": tooMany}
	}
	page.Remember = c.PostForm("remember") == "on"
	for _, id := range ids {
		if ct, err := s.store.GetContact(id); err == nil {
			page.Picked = append(page.Picked, ct)
		}
	}
	page.NewName, page.NewRemind = s.senderName(u), true
	if len(u.Unknown) > 0 {
		page.NewAddr = u.Unknown[0]
	}
	if c.PostForm("op") == "search" {
		page.ContactQ = strings.TrimSpace(c.PostForm("contact_q"))
		if page.ContactQ != "" {
			found, _, err := s.store.SearchContacts(page.ContactQ, 20, "")
			if err != nil {
				s.uiFail(c, err)
				return
			}
			for _, ct := range found {
				if !slices.Contains(ids, ct.ID) {
					page.Found = append(page.Found, ct)
				}
			}
		}
		s.render(c, http.StatusOK, "unmatched_show", page)
		return
	}
	if len(ids) == 0 {
		page.Errs = formErrors{"contact_ids": "Choose at least one contact."}
	}
	if page.Errs != nil {
		s.render(c, http.StatusBadRequest, "unmatched_show", page)
		return
	}
	p := who(c)
	ia, also, err := s.store.AssignUnmatched(c.Request.Context(), u.ID, store.Assignment{ContactIDs: ids, Remember: page.Remember, By: p.UserID})
	if err != nil {
		errs, ok := asFieldError(err, map[string]string{"status": ""})
		if !ok {
			s.uiFail(c, err)
			return
		}
		page.Errs = errs
		status := http.StatusBadRequest
		if errors.Is(err, store.ErrConflict) {
			status = http.StatusConflict
		}
		s.render(c, status, "unmatched_show", page)
		return
	}
	s.logFor(c).Info("unmatched message assigned", "unmatched", u.ID, "interaction", ia.ID, "also", len(also), "by", p.Name)
	redirect(c, "/unmatched", assignedMessage(len(ia.ContactIDs), len(also)))
}

func assignedMessage(contacts, also int) string {
	msg := "Message logged on " + strconv.Itoa(contacts) + " contact(s)."
	if contacts == 1 {
		msg = "Message logged on the contact."
	}
	if also > 0 {
		msg += fmt.Sprintf(" %d other pending message(s) from the same address were logged too.", also)
	}
	return msg
}

func (s *Server) unmatchedCreateContact(c *gin.Context) {
	u, ok := s.loadUnmatched(c)
	if !ok {
		return
	}
	page := s.newUnmatchedPage(u)
	page.NewName = strings.TrimSpace(c.PostForm("name"))
	page.NewKind = c.PostForm("kind")
	page.NewAddr = strings.TrimSpace(c.PostForm("address"))
	page.NewRemind = c.PostForm("remember") == "on"
	ct := &store.Contact{Kind: page.NewKind, Name: page.NewName}
	// Remembering adds the message's unknown addresses to the new contact
	// and logs other pending mail from them; otherwise only the address
	// chosen goes on the contact.
	if !page.NewRemind && page.NewAddr != "" {
		ct.Emails = []string{page.NewAddr}
	}
	p := who(c)
	ia, also, err := s.store.AssignUnmatched(c.Request.Context(), u.ID, store.Assignment{NewContact: ct, Remember: page.NewRemind, By: p.UserID})
	if err != nil {
		errs, ok := asFieldError(err, map[string]string{"status": "", "emails": "address"})
		if !ok {
			s.uiFail(c, err)
			return
		}
		page.CErrs = errs
		s.render(c, http.StatusBadRequest, "unmatched_show", page)
		return
	}
	s.logFor(c).Info("unmatched message assigned to a new contact", "unmatched", u.ID, "interaction", ia.ID, "contact", ct.ID, "by", p.Name)
	msg := ct.Name + " was added and the message logged."
	if len(also) > 0 {
		msg += fmt.Sprintf(" %d other pending message(s) from the address were logged too.", len(also))
	}
	redirect(c, "/contacts/"+ct.ID.String(), msg)
}

func (s *Server) unmatchedDiscard(c *gin.Context) {
	u, ok := s.loadUnmatched(c)
	if !ok {
		return
	}
	if err := s.store.DiscardUnmatched(c.Request.Context(), u.ID, who(c).UserID); err != nil {
		if errs, ok := asFieldError(err, map[string]string{"status": ""}); ok {
			page := s.newUnmatchedPage(u)
			page.Errs = errs
			s.render(c, http.StatusConflict, "unmatched_show", page)
			return
		}
		s.uiFail(c, err)
		return
	}
	redirect(c, "/unmatched", "Message discarded. It stays under Discarded.")
}
