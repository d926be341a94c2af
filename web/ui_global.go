package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// globalFilter is the global view's filter form. It is a GET form, so the
// whole view lives in the URL and can be bookmarked or shared; the Export
// link carries the same parameters.
type globalFilter struct {
	Contact, From, To, Type, Action, Owner, Source, Text, Q string
}

// globalFilterFields maps the form's fields to filter keys, in the order
// the form shows them.
var globalFilterFields = []struct{ field, key string }{
	{"contact", "contact"}, {"from", "from"}, {"to", "to"}, {"type", "type"},
	{"action", "action"}, {"owner", "owner"}, {"source", "source"},
}

func readGlobalFilter(c *gin.Context) globalFilter {
	g := func(k string) string { return strings.TrimSpace(c.Query(k)) }
	return globalFilter{Contact: g("contact"), From: g("from"), To: g("to"), Type: g("type"), Action: g("action"),
		Owner: g("owner"), Source: g("source"), Text: g("text"), Q: g("q")}
}

func (gf globalFilter) value(field string) string {
	switch field {
	case "contact":
		return gf.Contact
	case "from":
		return gf.From
	case "to":
		return gf.To
	case "type":
		return gf.Type
	case "action":
		return gf.Action
	case "owner":
		return gf.Owner
	case "source":
		return gf.Source
	}
	return ""
}

// values is the filter as URL parameters (empty ones left out).
func (gf globalFilter) values() url.Values {
	v := url.Values{}
	for _, p := range []struct{ k, v string }{{"contact", gf.Contact}, {"from", gf.From}, {"to", gf.To}, {"type", gf.Type},
		{"action", gf.Action}, {"owner", gf.Owner}, {"source", gf.Source}, {"text", gf.Text}, {"q", gf.Q}} {
		if p.v != "" {
			v.Set(p.k, p.v)
		}
	}
	return v
}

func (gf globalFilter) active() bool { return len(gf.values()) > 0 }

// filter turns the form into a store filter through the one parser: the
// advanced expression with store.ParseQuery, each field with Query.Add.
// Each field is also checked on its own, so that every mistake is shown
// next to its field at once.
func (s *Server) filter(gf globalFilter) (store.Filter, formErrors) {
	errs := formErrors{}
	q, err := store.ParseQuery(gf.Q)
	if err == nil {
		_, err = s.store.Resolve(q)
	}
	if err != nil {
		errs["q"] = fieldMessage(err)
		q = &store.Query{}
	}
	for _, ff := range globalFilterFields {
		v := gf.value(ff.field)
		if v == "" {
			continue
		}
		one := &store.Query{}
		err := one.Add(ff.field, ff.key, v)
		if err == nil {
			_, err = s.store.Resolve(one)
		}
		if err != nil {
			// "contact:bob: matches no contact" reads "Matches no contact"
			// next to the Contact field.
			msg := fieldMessage(err)
			if p := ff.key + ":" + v + ": "; len(msg) > len(p) && strings.EqualFold(msg[:len(p)], p) {
				msg = sentence(msg[len(p):])
			}
			errs[ff.field] = msg
			continue
		}
		q.Add(ff.field, ff.key, v)
	}
	if tq, err := textQuery(gf.Text); err != nil {
		errs["text"] = fieldMessage(err)
	} else {
		for _, t := range tq.Terms {
			t.Field = "text"
			q.Terms = append(q.Terms, t)
		}
	}
	if len(errs) > 0 {
		return store.Filter{}, errs
	}
	f, err := s.store.Resolve(q)
	if err != nil {
		return store.Filter{}, formErrors{"q": fieldMessage(err)}
	}
	return f, nil
}

// fieldMessage is an error's text for display next to its field: without
// the field name the store puts in front.
func fieldMessage(err error) string {
	if fe, ok := asFieldError(err, nil); ok {
		return firstMessage(fe)
	}
	return sentence(err.Error())
}

type globalPage struct {
	view
	F          globalFilter
	Errs       formErrors
	Items      []iaView
	Next       string
	Paged      bool
	Chart      *chartView
	Types      []string
	Actions    []string
	Users      []*store.User
	Sources    []string
	ExportURL  string
	NextURL    string
	FirstURL   string
	ReturnHere string
	NewURL     string
}

func (s *Server) globalView(c *gin.Context) {
	gf := readGlobalFilter(c)
	page := &globalPage{view: view{Title: "Interactions", Nav: "interactions"}, F: gf, Sources: store.Sources,
		Paged: c.Query("cursor") != ""}
	page.ReturnHere = c.Request.URL.RequestURI()
	vals := gf.values()
	page.ExportURL = "/interactions/export.csv"
	page.FirstURL = "/interactions"
	if len(vals) > 0 {
		page.ExportURL += "?" + vals.Encode()
		page.FirstURL += "?" + vals.Encode()
	}
	page.NewURL = addInteractionURL(page.ReturnHere)
	var err error
	if page.Types, err = s.store.Vocab(store.VocabType); err != nil {
		s.uiFail(c, err)
		return
	}
	if page.Actions, err = s.store.Vocab(store.VocabAction); err != nil {
		s.uiFail(c, err)
		return
	}
	l, err := s.newLookups()
	if err != nil {
		s.uiFail(c, err)
		return
	}
	if page.Users, err = s.store.Users(); err != nil {
		s.uiFail(c, err)
		return
	}
	f, errs := s.filter(gf)
	if errs != nil {
		page.Errs = errs
		s.render(c, http.StatusBadRequest, "interactions", page)
		return
	}
	items, next, err := s.store.ListInteractions(f, uiPageSize, c.Query("cursor"))
	if err != nil {
		s.uiFail(c, err)
		return
	}
	page.Items = l.views(who(c), items, true, page.ReturnHere)
	page.Next = next
	if next != "" {
		nv := gf.values()
		nv.Set("cursor", next)
		page.NextURL = "/interactions?" + nv.Encode()
	}
	if page.Chart, err = s.weeklyChart(f, "Interactions per week, by type"); err != nil {
		s.uiFail(c, err)
		return
	}
	s.render(c, http.StatusOK, "interactions", page)
}

// globalExport downloads exactly the set the global view shows (every
// page of it) through the API's exporter.
func (s *Server) globalExport(c *gin.Context) {
	f, errs := s.filter(readGlobalFilter(c))
	if errs != nil {
		// Show the view with the problems marked.
		c.Request.URL.Path = "/interactions"
		s.globalView(c)
		return
	}
	s.writeCSV(c, f)
}
