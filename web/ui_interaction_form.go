package web

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// iaForm is the interaction form as typed.
type iaForm struct {
	ID         store.ID
	ContactIDs []store.ID
	Type       string
	CustomType string
	Actions    []string
	NewActions string
	Title      string
	Details    string
	OccurredAt string
	Duration   string
	OwnerIDs   []store.ID
	Location   string
	Address    string
	Return     string
	// tooMany names the id fields that listed more than their limit (the
	// first ones are kept), with what to say next to them.
	tooMany formErrors
}

type iaFormPage struct {
	view
	F         iaForm
	Errs      formErrors
	Types     []string
	ActionSet []string
	Locations []string
	Users     []*store.User
	Picked    []*store.Contact
	Found     []*store.Contact
	ContactQ  string
	Action    string
	Cancel    string
}

// The form reads and shows times in the server's zone (UTC by default).
const dtLocalLayout = "2006-01-02T15:04"

func (s *Server) parseLocal(v string) (time.Time, error) {
	for _, layout := range []string{dtLocalLayout, "2006-01-02T15:04:05", "2006-01-02 15:04", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, strings.TrimSpace(v), s.loc); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("bad date")
}

// formIDs reads the ids of a multi-valued field, each once, in order, at
// most limit of them. With more, it keeps the first limit and returns what
// to say next to the field (what names the things the ids are).
func formIDs(vals []string, limit int, what string) (ids []store.ID, tooMany string) {
	seen := make(map[store.ID]bool, min(len(vals), limit))
	for _, v := range vals {
		id, err := store.ParseID(strings.TrimSpace(v))
		if err != nil || seen[id] {
			continue
		}
		if len(ids) == limit {
			return ids, "Choose at most " + strconv.Itoa(limit) + " " + what + "."
		}
		seen[id] = true
		ids = append(ids, id)
	}
	return ids, ""
}

// ids reads an id field of the form, noting in f.tooMany when it lists
// more than limit.
func (f *iaForm) ids(field string, vals []string, limit int, what string) []store.ID {
	ids, msg := formIDs(vals, limit, what)
	if msg != "" {
		if f.tooMany == nil {
			f.tooMany = formErrors{}
		}
		f.tooMany[field] = msg
	}
	return ids
}

func (s *Server) interactionNew(c *gin.Context) {
	u := currentUser(c)
	f := iaForm{
		OccurredAt: s.now().In(s.loc).Format(dtLocalLayout),
		OwnerIDs:   []store.ID{u.ID},
		Type:       c.Query("type"),
		Return:     localPath(c.Query("return"), ""),
	}
	f.ContactIDs = f.ids("contact_ids", c.QueryArray("contact"), store.MaxContactsPer, "contacts")
	s.renderIAForm(c, http.StatusOK, f, f.tooMany, "")
}

func (s *Server) interactionEdit(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	ia, err := s.store.GetInteraction(id)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	if !who(c).mayEdit(ia) {
		s.uiFail(c, errForbidden)
		return
	}
	f := iaForm{
		ID: ia.ID, ContactIDs: ia.ContactIDs, Type: ia.Type, Actions: ia.Actions, Title: ia.Title, Details: ia.Details,
		OccurredAt: s.inZone(ia.OccurredAt).Format(dtLocalLayout), OwnerIDs: ia.OwnerIDs, Location: ia.Location,
		Address: ia.Address, Return: localPath(c.Query("return"), ""),
	}
	if ia.DurationMinutes > 0 {
		f.Duration = strconv.Itoa(ia.DurationMinutes)
	}
	s.renderIAForm(c, http.StatusOK, f, nil, "")
}

func readIAForm(c *gin.Context) iaForm {
	f := iaForm{
		Type:       strings.TrimSpace(c.PostForm("type")),
		CustomType: strings.TrimSpace(c.PostForm("custom_type")),
		Actions:    c.PostFormArray("actions"),
		NewActions: c.PostForm("new_actions"),
		Title:      c.PostForm("title"),
		Details:    c.PostForm("details"),
		OccurredAt: c.PostForm("occurred_at"),
		Duration:   strings.TrimSpace(c.PostForm("duration_minutes")),
		Location:   c.PostForm("location"),
		Address:    c.PostForm("address"),
		Return:     localPath(c.PostForm("return"), ""),
	}
	f.ContactIDs = f.ids("contact_ids", c.PostFormArray("contact_ids"), store.MaxContactsPer, "contacts")
	f.OwnerIDs = f.ids("owner_ids", c.PostFormArray("owner_ids"), store.MaxListLen, "owners")
	return f
}

// build checks what the store cannot (the date's format, a number) and
// fills ia; every problem is reported at once.
func (s *Server) buildInteraction(f *iaForm, ia *store.Interaction, isNew bool) formErrors {
	errs := formErrors{}
	maps.Copy(errs, f.tooMany)
	if len(f.ContactIDs) == 0 {
		errs["contact_ids"] = "Choose at least one contact."
	}
	typ := f.Type
	if f.CustomType != "" {
		typ = f.CustomType
	}
	if typ == "" {
		errs["type"] = "Choose a type, or type a new one."
	}
	actions := slices.Clone(f.Actions)
	for _, a := range splitList(f.NewActions) {
		if a = strings.TrimSpace(a); a != "" {
			actions = append(actions, a)
		}
	}
	var when time.Time
	switch strings.TrimSpace(f.OccurredAt) {
	case "":
		if isNew {
			when = s.now().UTC()
		} else {
			errs["occurred_at"] = "Give the date and time."
		}
	default:
		t, err := s.parseLocal(f.OccurredAt)
		if err != nil {
			errs["occurred_at"] = "Use a date and time like 2026-05-01 14:30."
		}
		when = t
	}
	duration := 0
	if f.Duration != "" {
		n, err := strconv.Atoi(f.Duration)
		if err != nil || n < 0 {
			errs["duration_minutes"] = "Give the duration as a whole number of minutes."
		}
		duration = n
	}
	if len(errs) > 0 {
		return errs
	}
	ia.ContactIDs = f.ContactIDs
	ia.Type = typ
	ia.Actions = actions
	ia.Title = f.Title
	ia.Details = f.Details
	ia.OccurredAt = when
	ia.DurationMinutes = duration
	ia.OwnerIDs = f.OwnerIDs
	ia.Location = f.Location
	ia.Address = f.Address
	return nil
}

func (s *Server) interactionCreate(c *gin.Context) {
	f := readIAForm(c)
	if c.PostForm("op") == "search" {
		s.renderIAForm(c, http.StatusOK, f, f.tooMany, c.PostForm("contact_q"))
		return
	}
	u := currentUser(c)
	ia := store.Interaction{Source: store.SourceManual, CreatedBy: u.ID}
	if errs := s.buildInteraction(&f, &ia, true); errs != nil {
		s.renderIAForm(c, http.StatusBadRequest, f, errs, "")
		return
	}
	if err := s.store.CreateInteraction(c.Request.Context(), &ia); err != nil {
		s.iaSaveFailed(c, f, err)
		return
	}
	msg := "Interaction saved."
	if n := len(ia.ContactIDs); n > 1 {
		msg = "Interaction saved on " + strconv.Itoa(n) + " contacts."
	}
	redirect(c, localPath(f.Return, "/contacts/"+ia.ContactIDs[0].String()), msg)
}

func (s *Server) interactionUpdate(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	f := readIAForm(c)
	f.ID = id
	if c.PostForm("op") == "search" {
		s.renderIAForm(c, http.StatusOK, f, f.tooMany, c.PostForm("contact_q"))
		return
	}
	var draft store.Interaction
	if errs := s.buildInteraction(&f, &draft, false); errs != nil {
		s.renderIAForm(c, http.StatusBadRequest, f, errs, "")
		return
	}
	ia, err := s.store.UpdateInteraction(c.Request.Context(), id, who(c).checkEdit, func(ia *store.Interaction) error {
		ia.ContactIDs, ia.Type, ia.Actions = draft.ContactIDs, draft.Type, draft.Actions
		ia.Title, ia.Details, ia.OccurredAt = draft.Title, draft.Details, draft.OccurredAt
		ia.DurationMinutes, ia.OwnerIDs = draft.DurationMinutes, draft.OwnerIDs
		ia.Location, ia.Address = draft.Location, draft.Address
		return nil
	})
	if err != nil {
		s.iaSaveFailed(c, f, err)
		return
	}
	redirect(c, localPath(f.Return, "/contacts/"+ia.ContactIDs[0].String()), "Changes saved.")
}

// iaSaveFailed shows the store's objection next to its field, or a page
// for what the form cannot fix (gone, forbidden, internal).
func (s *Server) iaSaveFailed(c *gin.Context, f iaForm, err error) {
	if errs, ok := asFieldError(err, nil); ok {
		known := []string{"contact_ids", "type", "actions", "title", "details", "occurred_at", "duration_minutes", "owner_ids", "location", "address"}
		for k, v := range errs {
			if !slices.Contains(known, k) {
				errs = formErrors{"": v}
			}
		}
		s.renderIAForm(c, http.StatusBadRequest, f, errs, "")
		return
	}
	s.uiFail(c, err)
}

// renderIAForm shows the form with its lists; contactQ, when set, searches
// contacts to add.
func (s *Server) renderIAForm(c *gin.Context, status int, f iaForm, errs formErrors, contactQ string) {
	page := &iaFormPage{view: view{Title: "New interaction", Nav: "interactions"}, F: f, Errs: errs, ContactQ: strings.TrimSpace(contactQ),
		Action: "/interactions", Cancel: localPath(f.Return, "/interactions")}
	if f.ID != 0 {
		page.Title = "Edit interaction"
		page.Action = "/interactions/" + f.ID.String()
	} else if f.Return == "" && len(f.ContactIDs) > 0 {
		page.Cancel = "/contacts/" + f.ContactIDs[0].String()
	}
	var err error
	if page.Types, err = s.store.Vocab(store.VocabType); err != nil {
		s.uiFail(c, err)
		return
	}
	if f.Type != "" && !containsFold(page.Types, f.Type) {
		page.Types = append(page.Types, f.Type)
	}
	if page.ActionSet, err = s.store.Vocab(store.VocabAction); err != nil {
		s.uiFail(c, err)
		return
	}
	for _, a := range f.Actions {
		if !containsFold(page.ActionSet, a) {
			page.ActionSet = append(page.ActionSet, a)
		}
	}
	if page.Locations, err = s.store.Vocab(store.VocabLocation); err != nil {
		s.uiFail(c, err)
		return
	}
	if f.Location != "" && !containsFold(page.Locations, f.Location) {
		page.Locations = append(page.Locations, f.Location)
	}
	users, err := s.store.Users()
	if err != nil {
		s.uiFail(c, err)
		return
	}
	for _, u := range users {
		if !u.Disabled || containsID(f.OwnerIDs, u.ID) {
			page.Users = append(page.Users, u)
		}
	}
	for _, id := range f.ContactIDs {
		if ct, err := s.store.GetContact(id); err == nil {
			page.Picked = append(page.Picked, ct)
		}
	}
	if page.ContactQ != "" {
		found, _, err := s.store.SearchContacts(page.ContactQ, 20, "")
		if err != nil {
			s.uiFail(c, err)
			return
		}
		for _, ct := range found {
			if !containsID(f.ContactIDs, ct.ID) {
				page.Found = append(page.Found, ct)
			}
		}
	}
	s.render(c, status, "interaction_form", page)
}

func containsFold(list []string, v string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, v) })
}

type iaDeletePage struct {
	view
	Item   iaView
	Return string
}

func (s *Server) interactionDeleteConfirm(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	ia, err := s.store.GetInteraction(id)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	p := who(c)
	if !p.mayEdit(ia) {
		s.uiFail(c, errForbidden)
		return
	}
	l, err := s.newLookups()
	if err != nil {
		s.uiFail(c, err)
		return
	}
	v := l.views(p, []*store.Interaction{ia}, true, "")[0]
	v.CanEdit = false // no buttons on the card being confirmed
	ret := localPath(c.Query("return"), "/contacts/"+ia.ContactIDs[0].String())
	s.render(c, http.StatusOK, "interaction_delete", &iaDeletePage{view: view{Title: "Delete interaction", Nav: "interactions"}, Item: v, Return: ret})
}

func (s *Server) interactionDelete(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	var first store.ID
	err := s.store.DeleteInteraction(c.Request.Context(), id, func(ia *store.Interaction) error {
		first = ia.ContactIDs[0]
		return who(c).checkEdit(ia)
	})
	if err != nil {
		s.uiFail(c, err)
		return
	}
	redirect(c, localPath(c.PostForm("return"), "/contacts/"+first.String()), "Interaction deleted.")
}
