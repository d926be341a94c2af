package web

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// contactInput is the body of POST and PATCH /contacts. Absent fields are
// left as they are on PATCH; organization_id 0 removes the link.
type contactInput struct {
	Kind           *string   `json:"kind"`
	Name           *string   `json:"name"`
	Emails         *[]string `json:"emails"`
	Domains        *[]string `json:"domains"`
	Phones         *[]string `json:"phones"`
	OrganizationID *store.ID `json:"organization_id"`
	Address        *string   `json:"address"`
}

func (in *contactInput) apply(c *store.Contact) {
	set(&c.Kind, in.Kind)
	set(&c.Name, in.Name)
	set(&c.Emails, in.Emails)
	set(&c.Domains, in.Domains)
	set(&c.Phones, in.Phones)
	set(&c.OrganizationID, in.OrganizationID)
	set(&c.Address, in.Address)
}

// set copies a PATCH field when it was given.
func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

// pathID reads the :id parameter; a malformed id is a 404 like an unknown one.
func (s *Server) pathID(c *gin.Context) (store.ID, bool) {
	id, err := store.ParseID(c.Param("id"))
	if err != nil {
		apiError(c, http.StatusNotFound, "not found")
		return 0, false
	}
	return id, true
}

// getByID serves GET …/:id for any record: the store's getter, 404 for an
// unknown or malformed id, the record as JSON.
func getByID[T any](s *Server, get func(store.ID) (T, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := s.pathID(c)
		if !ok {
			return
		}
		v, err := get(id)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, v)
	}
}

// pageParams reads limit and cursor.
func pageParams(c *gin.Context) (int, string, bool) {
	limit := 0
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxLimit {
			c.AbortWithStatusJSON(http.StatusBadRequest, errorBody{Error: "limit: must be a number from 1 to " + strconv.Itoa(store.MaxLimit), Field: "limit"})
			return 0, "", false
		}
		limit = n
	}
	return limit, c.Query("cursor"), true
}

func (s *Server) listContacts(c *gin.Context) {
	limit, cursor, ok := pageParams(c)
	if !ok {
		return
	}
	items, next, err := s.store.SearchContacts(c.Query("q"), limit, cursor)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, newList(items, next))
}

func (s *Server) createContact(c *gin.Context) {
	var in contactInput
	if !s.bindJSON(c, &in) {
		return
	}
	var ct store.Contact
	in.apply(&ct)
	if err := s.store.CreateContact(c.Request.Context(), &ct); err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/api/v1/contacts/"+ct.ID.String())
	c.JSON(http.StatusCreated, ct)
}

func (s *Server) updateContact(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	var in contactInput
	if !s.bindJSON(c, &in) {
		return
	}
	ct, err := s.store.UpdateContact(c.Request.Context(), id, func(ct *store.Contact) error {
		in.apply(ct)
		return nil
	})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, ct)
}

func (s *Server) deleteContact(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	if err := s.store.DeleteContact(c.Request.Context(), id); err != nil {
		s.fail(c, err)
		return
	}
	s.logFor(c).Info("contact deleted", "contact", id, "by", who(c).Name)
	c.Status(http.StatusNoContent)
}

func (s *Server) contactTimeline(c *gin.Context) {
	id, ok := s.pathID(c)
	if !ok {
		return
	}
	limit, cursor, ok := pageParams(c)
	if !ok {
		return
	}
	if _, err := s.store.GetContact(id); err != nil {
		s.fail(c, err)
		return
	}
	items, next, err := s.store.Timeline(id, limit, cursor)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, newList(items, next))
}
