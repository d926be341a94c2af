package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

func (s *Server) listUsers(c *gin.Context) {
	users, err := s.store.Users()
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, newList(users, ""))
}

type userInput struct {
	Name     *string   `json:"name"`
	Emails   *[]string `json:"emails"`
	Role     *string   `json:"role"`
	Color    *string   `json:"color"`
	Initials *string   `json:"initials"`
	Disabled *bool     `json:"disabled"`
	Password *string   `json:"password"`
}

func (in *userInput) apply(u *store.User) {
	set(&u.Name, in.Name)
	set(&u.Emails, in.Emails)
	set(&u.Role, in.Role)
	set(&u.Color, in.Color)
	set(&u.Initials, in.Initials)
	set(&u.Disabled, in.Disabled)
}

func (s *Server) createUser(c *gin.Context) {
	var in userInput
	if !s.bindJSON(c, &in) {
		return
	}
	var u store.User
	in.apply(&u)
	pw := ""
	set(&pw, in.Password)
	if err := s.store.CreateUser(c.Request.Context(), &u, pw); err != nil {
		s.fail(c, err)
		return
	}
	s.logFor(c).Info("user created", "user", u.ID, "role", u.Role, "by", who(c).Name)
	c.JSON(http.StatusCreated, u)
}

func (s *Server) updateUser(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	var in userInput
	if !s.bindJSON(c, &in) {
		return
	}
	u, err := s.store.UpdateUser(c.Request.Context(), id, func(u *store.User) error {
		in.apply(u)
		return nil
	})
	if err == nil && in.Password != nil {
		err = s.store.SetPassword(c.Request.Context(), id, *in.Password)
	}
	if err == nil {
		err = s.signOutAfterEdit(c.Request.Context(), u, in.Password != nil, id == who(c).UserID)
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	s.logFor(c).Info("user updated", "user", id, "by", who(c).Name)
	c.JSON(http.StatusOK, u)
}

func (s *Server) listTokens(c *gin.Context) {
	tokens, err := s.store.Tokens()
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, newList(tokens, ""))
}

type tokenInput struct {
	Name   string   `json:"name"`
	Role   string   `json:"role"`
	UserID store.ID `json:"user_id"`
}

// createdToken is the one answer that carries a token's plaintext.
type createdToken struct {
	*store.Token
	Secret string `json:"token"`
}

func (s *Server) createToken(c *gin.Context) {
	var in tokenInput
	if !s.bindJSON(c, &in) {
		return
	}
	plain, t, err := s.store.CreateToken(c.Request.Context(), in.Name, in.Role, in.UserID)
	if err != nil {
		s.fail(c, err)
		return
	}
	s.logFor(c).Info("token created", "token", t.ID, "role", t.Role, "by", who(c).Name)
	c.JSON(http.StatusCreated, createdToken{t, plain})
}

func (s *Server) revokeToken(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	if err := s.store.RevokeToken(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	s.logFor(c).Info("token revoked", "token", id, "by", who(c).Name)
	c.Status(http.StatusNoContent)
}

// vocabKinds maps the URL's plural to the store's kinds.
var vocabKinds = map[string]string{"types": store.VocabType, "actions": store.VocabAction, "locations": store.VocabLocation}

func (s *Server) vocabulary(c *gin.Context) {
	out := gin.H{}
	for plural, kind := range vocabKinds {
		names, err := s.store.Vocab(kind)
		if err != nil {
			s.fail(c, err)
			return
		}
		if names == nil {
			names = []string{}
		}
		out[plural] = names
	}
	c.JSON(http.StatusOK, out)
}

// vocabKind reads :kind; staff may add types and actions (the lists grow as
// the team works), only admins locations.
func vocabKind(c *gin.Context) (string, bool) {
	kind, ok := vocabKinds[c.Param("kind")]
	if !ok {
		apiError(c, http.StatusNotFound, "no such list; use types, actions or locations")
		return "", false
	}
	return kind, true
}

func (s *Server) addVocabulary(c *gin.Context) {
	kind, ok := vocabKind(c)
	if !ok {
		return
	}
	if kind == store.VocabLocation && !who(c).admin() {
		apiError(c, http.StatusForbidden, "forbidden: admins keep the locations")
		return
	}
	var in struct {
		Name string `json:"name"`
	}
	if !s.bindJSON(c, &in) {
		return
	}
	if err := s.store.AddVocab(c.Request.Context(), kind, in.Name); err != nil {
		s.fail(c, err)
		return
	}
	names, err := s.store.Vocab(kind)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{c.Param("kind"): names})
}

func (s *Server) removeVocabulary(c *gin.Context) {
	kind, ok := vocabKind(c)
	if !ok {
		return
	}
	if err := s.store.RemoveVocab(c.Request.Context(), kind, c.Param("name")); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
