package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

const uiPageSize = 50

type contactRow struct {
	*store.Contact
	OrgName string
}

type contactListPage struct {
	view
	Q     string
	Rows  []contactRow
	Next  string
	Paged bool
}

func (s *Server) contactList(c *gin.Context) {
	q := strings.TrimSpace(c.Query("q"))
	cursor := c.Query("cursor")
	items, next, err := s.store.SearchContacts(q, uiPageSize, cursor)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	orgs := map[store.ID]string{}
	rows := make([]contactRow, len(items))
	for i, ct := range items {
		rows[i] = contactRow{Contact: ct}
		if id := ct.OrganizationID; id != 0 {
			if _, ok := orgs[id]; !ok {
				if org, err := s.store.GetContact(id); err == nil {
					orgs[id] = org.Name
				}
			}
			rows[i].OrgName = orgs[id]
		}
	}
	s.render(c, http.StatusOK, "contacts", &contactListPage{view: view{Title: "Contacts", Nav: "contacts"},
		Q: q, Rows: rows, Next: next, Paged: cursor != ""})
}

// contactForm is the contact form as typed: lists one entry a line (or
// separated by commas), the organisation by name.
type contactForm struct {
	ID           store.ID
	Kind         string
	Name         string
	Emails       string
	Domains      string
	Phones       string
	Organization string
	Address      string
}

type contactFormPage struct {
	view
	F    contactForm
	Errs formErrors
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' || r == ';' })
}

func (s *Server) contactNew(c *gin.Context) {
	kind := store.KindPerson
	if c.Query("kind") == store.KindOrganization {
		kind = store.KindOrganization
	}
	s.render(c, http.StatusOK, "contact_form", &contactFormPage{view: view{Title: "New contact", Nav: "contacts"},
		F: contactForm{Kind: kind, Name: c.Query("name"), Emails: c.Query("email")}})
}

func (s *Server) contactEdit(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	ct, err := s.store.GetContact(id)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	f := contactForm{ID: ct.ID, Kind: ct.Kind, Name: ct.Name, Emails: strings.Join(ct.Emails, "\n"),
		Domains: strings.Join(ct.Domains, "\n"), Phones: strings.Join(ct.Phones, "\n"), Address: ct.Address}
	if ct.OrganizationID != 0 {
		if org, err := s.store.GetContact(ct.OrganizationID); err == nil {
			f.Organization = org.Name
		}
	}
	s.render(c, http.StatusOK, "contact_form", &contactFormPage{view: view{Title: "Edit " + ct.Name, Nav: "contacts"}, F: f})
}

func readContactForm(c *gin.Context) contactForm {
	return contactForm{
		Kind: c.PostForm("kind"), Name: c.PostForm("name"), Emails: c.PostForm("emails"),
		Domains: c.PostForm("domains"), Phones: c.PostForm("phones"),
		Organization: strings.TrimSpace(c.PostForm("organization")), Address: c.PostForm("address"),
	}
}

// orgID resolves the form's organisation (by name) before any write.
func (s *Server) orgID(f *contactForm) (store.ID, formErrors) {
	if f.Kind != store.KindPerson || f.Organization == "" {
		return 0, nil
	}
	id, msg := s.findOrganization(f.Organization)
	if msg != "" {
		return 0, formErrors{"organization": msg}
	}
	return id, nil
}

// apply copies the form onto a contact.
func (f *contactForm) apply(ct *store.Contact, org store.ID) {
	ct.Kind = f.Kind
	ct.Name = f.Name
	ct.Emails = splitList(f.Emails)
	ct.Domains = splitList(f.Domains)
	ct.Phones = splitList(f.Phones)
	ct.Address = f.Address
	ct.OrganizationID = org
}

// findOrganization resolves what was typed in the organisation field: an
// exact name (any case), a unique partial match, or an id.
func (s *Server) findOrganization(v string) (store.ID, string) {
	if id, err := store.ParseID(v); err == nil {
		if ct, err := s.store.GetContact(id); err == nil && ct.Kind == store.KindOrganization {
			return id, ""
		}
	}
	items, _, err := s.store.SearchContacts(v, 100, "")
	if err != nil {
		return 0, "Could not look up organisations; try again."
	}
	var orgs []*store.Contact
	for _, ct := range items {
		if ct.Kind != store.KindOrganization {
			continue
		}
		if strings.EqualFold(ct.Name, v) {
			return ct.ID, ""
		}
		orgs = append(orgs, ct)
	}
	switch len(orgs) {
	case 0:
		return 0, "No organisation is called “" + v + "”. Create it first, or leave this empty."
	case 1:
		return orgs[0].ID, ""
	}
	names := make([]string, 0, 5)
	for i, o := range orgs {
		if i == 5 {
			names = append(names, "…")
			break
		}
		names = append(names, o.Name)
	}
	return 0, "Several organisations match: " + strings.Join(names, ", ") + ". Type the full name."
}

var contactFieldNames = map[string]string{"organization_id": "organization"}

func (s *Server) contactCreate(c *gin.Context) {
	f := readContactForm(c)
	var ct store.Contact
	org, errs := s.orgID(&f)
	if errs == nil {
		f.apply(&ct, org)
		err := s.store.CreateContact(c.Request.Context(), &ct)
		if err == nil {
			redirect(c, "/contacts/"+ct.ID.String(), ct.Name+" was added.")
			return
		}
		var ok bool
		if errs, ok = asFieldError(err, contactFieldNames); !ok {
			s.uiFail(c, err)
			return
		}
	}
	s.render(c, http.StatusBadRequest, "contact_form", &contactFormPage{view: view{Title: "New contact", Nav: "contacts"}, F: f, Errs: errs})
}

func (s *Server) contactUpdate(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	f := readContactForm(c)
	f.ID = id
	org, errs := s.orgID(&f)
	var ct *store.Contact
	err := errFormInvalid
	if errs == nil {
		ct, err = s.store.UpdateContact(c.Request.Context(), id, func(ct *store.Contact) error {
			f.apply(ct, org)
			return nil
		})
	}
	switch {
	case err == nil:
		redirect(c, "/contacts/"+ct.ID.String(), "Changes saved.")
		return
	case errors.Is(err, errFormInvalid):
	case errors.Is(err, store.ErrNotFound):
		s.uiFail(c, err)
		return
	default:
		var ok bool
		if errs, ok = asFieldError(err, contactFieldNames); !ok {
			s.uiFail(c, err)
			return
		}
	}
	s.render(c, http.StatusBadRequest, "contact_form", &contactFormPage{view: view{Title: "Edit contact", Nav: "contacts"}, F: f, Errs: errs})
}

// errFormInvalid stops a store edit when the form itself is wrong; the
// messages are in the handler's formErrors.
var errFormInvalid = errors.New("web: form invalid")

type contactDeletePage struct {
	view
	Contact *store.Contact
	Count   int
	More    bool
}

func (s *Server) contactDeleteConfirm(c *gin.Context) {
	s.contactConfirm(c, "contact_delete", "Delete")
}

// contactConfirm shows the page (tmpl) that asks before a contact is
// deleted or erased, with how many interactions are on it.
func (s *Server) contactConfirm(c *gin.Context, tmpl, verb string) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	ct, err := s.store.GetContact(id)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	items, next, err := s.store.Timeline(id, 100, "")
	if err != nil {
		s.uiFail(c, err)
		return
	}
	s.render(c, http.StatusOK, tmpl, &contactDeletePage{view: view{Title: verb + " " + ct.Name, Nav: "contacts"},
		Contact: ct, Count: len(items), More: next != ""})
}

func (s *Server) contactDelete(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	ct, err := s.store.GetContact(id)
	if err == nil {
		err = s.store.DeleteContact(c.Request.Context(), id)
	}
	if err != nil {
		s.uiFail(c, err)
		return
	}
	s.logFor(c).Info("contact deleted", "contact", id, "by", who(c).Name)
	redirect(c, "/contacts", ct.Name+" was deleted.")
}

// uiID reads the :id parameter; a malformed id is a 404 page.
func (s *Server) uiID(c *gin.Context) (store.ID, bool) {
	id, err := store.ParseID(c.Param("id"))
	if err != nil {
		s.errorPage(c, http.StatusNotFound, "")
		return 0, false
	}
	return id, true
}

// userAddress is a user's own BCC address: local+TOKEN@domain of the
// system address, which logs mail on their behalf.
func userAddress(system, token string) string {
	at := strings.LastIndexByte(system, '@')
	if at <= 0 || token == "" {
		return ""
	}
	return system[:at] + "+" + token + system[at:]
}
