package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// errorBody is every API error: {"error": "..."}; field names the input at
// fault when there is one.
type errorBody struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

func apiError(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, errorBody{Error: msg})
}

// fail maps an error from the store (or from binding) to a status and a
// message a client can act on. Internal errors are logged, not shown.
func (s *Server) fail(c *gin.Context, err error) {
	var ve *store.ValidationError
	var ce *store.ConflictError
	switch {
	case errors.As(err, &ve):
		c.AbortWithStatusJSON(http.StatusBadRequest, errorBody{Error: ve.Error(), Field: ve.Field})
	case errors.As(err, &ce):
		c.AbortWithStatusJSON(http.StatusConflict, errorBody{Error: ce.Error(), Field: ce.Field})
	case errors.Is(err, store.ErrNotFound):
		apiError(c, http.StatusNotFound, "not found")
	case errors.Is(err, store.ErrBadCursor):
		c.AbortWithStatusJSON(http.StatusBadRequest, errorBody{Error: "cursor: not a cursor this server issued", Field: "cursor"})
	case errors.Is(err, errForbidden):
		apiError(c, http.StatusForbidden, "forbidden: "+err.Error())
	default:
		s.logFor(c).Error("request failed", "err", err, "method", c.Request.Method, "path", c.FullPath())
		apiError(c, http.StatusInternalServerError, "internal error; nothing was changed")
	}
}

var errForbidden = errors.New("your role may not do this")

// bindJSON decodes the request body into v, strictly: unknown fields, wrong
// types, trailing data and bodies over the limit are 400s naming the problem.
func (s *Server) bindJSON(c *gin.Context, v any) bool {
	return s.bindJSONLimit(c, v, s.opts.MaxBodyBytes)
}

// bindJSONLimit is bindJSON with its own body limit (campaign reports).
func (s *Server) bindJSONLimit(c *gin.Context, v any, limit int64) bool {
	// Strict: a cross-site page cannot send application/json without a
	// CORS preflight, so this also guards cookie-authenticated calls.
	if c.ContentType() != "application/json" {
		apiError(c, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return false
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the JSON object")
	}
	if err == nil {
		return true
	}
	var mbe *http.MaxBytesError
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &mbe):
		apiError(c, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", mbe.Limit))
	case errors.As(err, &ute):
		c.AbortWithStatusJSON(http.StatusBadRequest, errorBody{Error: fmt.Sprintf("%s: must be %s", ute.Field, jsonKind(ute.Type.Kind().String())), Field: ute.Field})
	case errors.As(err, &se):
		apiError(c, http.StatusBadRequest, fmt.Sprintf("malformed JSON at byte %d", se.Offset))
	case errors.Is(err, io.EOF):
		apiError(c, http.StatusBadRequest, "empty body: send a JSON object")
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		c.AbortWithStatusJSON(http.StatusBadRequest, errorBody{Error: f + ": unknown field", Field: f})
	default:
		apiError(c, http.StatusBadRequest, "bad JSON: "+err.Error())
	}
	return false
}

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "an array"
	case "string":
		return "a string"
	case "int", "int64", "uint64":
		return "a number"
	case "bool":
		return "true or false"
	}
	return "a " + k
}

// list is the shape of every paged answer.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func newList[T any](items []T, next string) list[T] {
	if items == nil {
		items = []T{}
	}
	return list[T]{Items: items, NextCursor: next}
}
