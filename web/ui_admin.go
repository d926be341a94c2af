package web

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// userForm is the add/edit user form as typed.
type userForm struct {
	ID       store.ID
	Name     string
	Emails   string
	Role     string
	Color    string
	Initials string
	Disabled bool
	Password string
}

type adminUsersPage struct {
	view
	Users []*store.User
	F     userForm
	Errs  formErrors
}

func (s *Server) adminUsers(c *gin.Context) {
	s.renderAdminUsers(c, http.StatusOK, userForm{Role: store.RoleStaff}, nil)
}

func (s *Server) renderAdminUsers(c *gin.Context, status int, f userForm, errs formErrors) {
	users, err := s.store.Users()
	if err != nil {
		s.uiFail(c, err)
		return
	}
	f.Password = "" // never echoed back
	s.render(c, status, "admin_users", &adminUsersPage{view: view{Title: "Users", Nav: "admin"}, Users: users, F: f, Errs: errs})
}

func readUserForm(c *gin.Context) userForm {
	return userForm{
		Name: strings.TrimSpace(c.PostForm("name")), Emails: c.PostForm("emails"), Role: c.PostForm("role"),
		Color: strings.TrimSpace(c.PostForm("color")), Initials: strings.TrimSpace(c.PostForm("initials")),
		Disabled: c.PostForm("disabled") == "on", Password: c.PostForm("password"),
	}
}

func (s *Server) adminUserCreate(c *gin.Context) {
	f := readUserForm(c)
	u := &store.User{Name: f.Name, Emails: splitList(f.Emails), Role: f.Role, Color: f.Color, Initials: f.Initials}
	if err := s.store.CreateUser(c.Request.Context(), u, f.Password); err != nil {
		errs, ok := asFieldError(err, nil)
		if !ok {
			s.uiFail(c, err)
			return
		}
		s.renderAdminUsers(c, http.StatusBadRequest, f, errs)
		return
	}
	s.logFor(c).Info("user created", "user", u.ID, "role", u.Role, "by", who(c).Name)
	redirect(c, "/admin/users", u.Name+" can now sign in.")
}

type adminUserPage struct {
	view
	F    userForm
	Errs formErrors
	Self bool
}

func (s *Server) adminUser(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	u, err := s.store.GetUser(id)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	f := userForm{ID: u.ID, Name: u.Name, Emails: strings.Join(u.Emails, "\n"), Role: u.Role, Color: u.Color,
		Initials: u.Initials, Disabled: u.Disabled}
	s.render(c, http.StatusOK, "admin_user", &adminUserPage{view: view{Title: u.Name, Nav: "admin"}, F: f, Self: u.ID == currentUser(c).ID})
}

func (s *Server) adminUserUpdate(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	f := readUserForm(c)
	f.ID = id
	self := id == currentUser(c).ID
	fail := func(err error) {
		errs, ok := asFieldError(err, map[string]string{"password": "password"})
		if !ok {
			s.uiFail(c, err)
			return
		}
		f.Password = ""
		s.render(c, http.StatusBadRequest, "admin_user", &adminUserPage{view: view{Title: "Edit user", Nav: "admin"}, F: f, Errs: errs, Self: self})
	}
	if f.Password != "" && (len(f.Password) < store.MinPasswordLen || len(f.Password) > store.MaxPasswordLen) {
		fail(&store.ValidationError{Field: "password", Msg: "must have 8 to 72 characters"})
		return
	}
	ctx := c.Request.Context()
	u, err := s.store.UpdateUser(ctx, id, func(u *store.User) error {
		u.Name, u.Emails, u.Role, u.Color, u.Initials, u.Disabled = f.Name, splitList(f.Emails), f.Role, f.Color, f.Initials, f.Disabled
		return nil
	})
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.uiFail(c, err)
			return
		}
		fail(err)
		return
	}
	if f.Password != "" {
		if err := s.store.SetPassword(ctx, id, f.Password); err != nil {
			fail(err)
			return
		}
	}
	if err := s.signOutAfterEdit(ctx, u, f.Password != "", self); err != nil {
		s.uiFail(c, err)
		return
	}
	s.logFor(c).Info("user updated", "user", id, "by", who(c).Name)
	msg := "Changes to " + u.Name + " saved."
	if f.Password != "" {
		msg += " The new password works now."
	}
	redirect(c, "/admin/users", msg)
}

// vocabForms names the three lists in URLs and forms.
var vocabForms = []struct{ Plural, Kind, Label, Hint string }{
	{"types", store.VocabType, "Types", "Offered in the Type list. New types typed in a form are added here."},
	{"actions", store.VocabAction, "Actions", "One checkbox each on the interaction form. Staff may add new ones there."},
	{"locations", store.VocabLocation, "Locations", "Offered in the Location list. Only admins keep this one."},
}

type vocabList struct {
	Plural, Kind, Label, Hint string
	Names                     []string
	Err, Value                string
}

type adminListsPage struct {
	view
	Lists []vocabList
}

func (s *Server) adminLists(c *gin.Context) { s.renderAdminLists(c, http.StatusOK, "", "", "") }

func (s *Server) renderAdminLists(c *gin.Context, status int, plural, value, msg string) {
	page := &adminListsPage{view: view{Title: "Lists", Nav: "admin"}}
	for _, v := range vocabForms {
		names, err := s.store.Vocab(v.Kind)
		if err != nil {
			s.uiFail(c, err)
			return
		}
		l := vocabList{Plural: v.Plural, Kind: v.Kind, Label: v.Label, Hint: v.Hint, Names: names}
		if v.Plural == plural {
			l.Err, l.Value = msg, value
		}
		page.Lists = append(page.Lists, l)
	}
	s.render(c, status, "admin_lists", page)
}

func vocabByPlural(p string) (string, bool) {
	for _, v := range vocabForms {
		if v.Plural == p {
			return v.Kind, true
		}
	}
	return "", false
}

func (s *Server) adminListAdd(c *gin.Context) {
	kind, ok := vocabByPlural(c.Param("kind"))
	if !ok {
		s.errorPage(c, http.StatusNotFound, "")
		return
	}
	name := strings.TrimSpace(c.PostForm("name"))
	if err := s.store.AddVocab(c.Request.Context(), kind, name); err != nil {
		if _, ok := asFieldError(err, nil); !ok {
			s.uiFail(c, err)
			return
		}
		s.renderAdminLists(c, http.StatusBadRequest, c.Param("kind"), name, fieldMessage(err))
		return
	}
	redirect(c, "/admin/lists", "“"+name+"” is on the list.")
}

func (s *Server) adminListRemove(c *gin.Context) {
	kind, ok := vocabByPlural(c.Param("kind"))
	if !ok {
		s.errorPage(c, http.StatusNotFound, "")
		return
	}
	name := c.PostForm("name")
	if err := s.store.RemoveVocab(c.Request.Context(), kind, name); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.uiFail(c, err)
		return
	}
	redirect(c, "/admin/lists", "“"+name+"” was removed from the list; interactions keep it.")
}

type tokenRow struct {
	*store.Token
	UserName string
}

type adminTokensPage struct {
	view
	Tokens  []tokenRow
	Users   []*store.User
	Name    string
	Role    string
	UserID  string
	Errs    formErrors
	Secret  string
	Created *store.Token
}

func (s *Server) adminTokens(c *gin.Context) {
	s.renderAdminTokens(c, http.StatusOK, &adminTokensPage{Role: store.RoleStaff})
}

func (s *Server) renderAdminTokens(c *gin.Context, status int, page *adminTokensPage) {
	page.view = view{Title: "API tokens", Nav: "admin"}
	tokens, err := s.store.Tokens()
	if err != nil {
		s.uiFail(c, err)
		return
	}
	if page.Users, err = s.store.Users(); err != nil {
		s.uiFail(c, err)
		return
	}
	names := map[store.ID]string{}
	for _, u := range page.Users {
		names[u.ID] = u.Name
	}
	for _, t := range tokens {
		page.Tokens = append(page.Tokens, tokenRow{Token: t, UserName: names[t.UserID]})
	}
	s.render(c, status, "admin_tokens", page)
}

func (s *Server) adminTokenCreate(c *gin.Context) {
	page := &adminTokensPage{Name: strings.TrimSpace(c.PostForm("name")), Role: c.PostForm("role"), UserID: c.PostForm("user_id")}
	var uid store.ID
	if page.UserID != "" {
		id, err := store.ParseID(page.UserID)
		if err != nil {
			page.Errs = formErrors{"user_id": "Choose a user from the list."}
			s.renderAdminTokens(c, http.StatusBadRequest, page)
			return
		}
		uid = id
	}
	plain, t, err := s.store.CreateToken(c.Request.Context(), page.Name, page.Role, uid)
	if err != nil {
		errs, ok := asFieldError(err, nil)
		if !ok {
			s.uiFail(c, err)
			return
		}
		page.Errs = errs
		s.renderAdminTokens(c, http.StatusBadRequest, page)
		return
	}
	s.logFor(c).Info("token created", "token", t.ID, "role", t.Role, "by", who(c).Name)
	// The one time the secret is shown: in this answer, never stored.
	s.renderAdminTokens(c, http.StatusCreated, &adminTokensPage{Role: store.RoleStaff, Secret: plain, Created: t})
}

func (s *Server) adminTokenRevoke(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	if err := s.store.RevokeToken(c.Request.Context(), id); err != nil {
		s.uiFail(c, err)
		return
	}
	s.logFor(c).Info("token revoked", "token", id, "by", who(c).Name)
	redirect(c, "/admin/tokens", "The token was revoked; it stops working at once.")
}

// signOutAfterEdit ends every session of a user just deactivated or given a
// new password (an admin changing their own password stays signed in): the
// page and the API both edit users through it.
func (s *Server) signOutAfterEdit(ctx context.Context, u *store.User, newPassword, self bool) error {
	if u.Disabled || (newPassword && !self) {
		_, err := s.store.DeleteUserSessions(ctx, u.ID)
		return err
	}
	return nil
}
