package web

import (
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// iaView is an interaction as a card or a table row shows it.
type iaView struct {
	*store.Interaction
	Owners   []*store.User
	Contacts []*store.Contact
	// Campaign is the send the interaction was logged for, if any.
	Campaign *store.Campaign
	CanEdit  bool
	// Return is the page to come back to after Edit or Delete.
	Return string
	// Long texts show their start, and the rest on request.
	Long  bool
	Short string
}

const shortText = 600

// lookups caches the users and contacts one page refers to.
type lookups struct {
	s         *Server
	users     map[store.ID]*store.User
	contacts  map[store.ID]*store.Contact
	campaigns map[store.ID]*store.Campaign
}

// newLookups reads every user up front, for pages that show owners.
func (s *Server) newLookups() (*lookups, error) {
	users, err := s.store.Users()
	if err != nil {
		return nil, err
	}
	l := s.recordLookups()
	l.users = make(map[store.ID]*store.User, len(users))
	for _, u := range users {
		l.users[u.ID] = u
	}
	return l, nil
}

// recordLookups caches contacts and campaigns as they are asked for, and
// knows no users: for a page that shows no owners.
func (s *Server) recordLookups() *lookups {
	return &lookups{s: s, contacts: map[store.ID]*store.Contact{}, campaigns: map[store.ID]*store.Campaign{}}
}

func (l *lookups) contact(id store.ID) *store.Contact {
	if ct, ok := l.contacts[id]; ok {
		return ct
	}
	ct, err := l.s.store.GetContact(id)
	if err != nil {
		ct = nil
	}
	l.contacts[id] = ct
	return ct
}

func (l *lookups) campaign(id store.ID) *store.Campaign {
	if cp, ok := l.campaigns[id]; ok {
		return cp
	}
	cp, err := l.s.store.GetCampaign(id)
	if err != nil {
		cp = nil
	}
	l.campaigns[id] = cp
	return cp
}

func (l *lookups) views(p *principal, items []*store.Interaction, withContacts bool, ret string) []iaView {
	out := make([]iaView, len(items))
	for i, ia := range items {
		v := iaView{Interaction: ia, CanEdit: p.mayEdit(ia), Return: ret}
		if ia.CampaignID != 0 {
			v.Campaign = l.campaign(ia.CampaignID)
		}
		for _, o := range ia.OwnerIDs {
			if u := l.users[o]; u != nil {
				v.Owners = append(v.Owners, u)
			}
		}
		if withContacts {
			for _, id := range ia.ContactIDs {
				if ct := l.contact(id); ct != nil {
					v.Contacts = append(v.Contacts, ct)
				}
			}
		}
		if utf8.RuneCountInString(ia.Details) > shortText+200 {
			v.Long = true
			v.Short = string([]rune(ia.Details)[:shortText]) + "…"
		}
		out[i] = v
	}
	return out
}

type profilePage struct {
	view
	Contact     *store.Contact
	Org         *store.Contact
	Members     []*store.Contact
	SystemAddr  string
	MyAddr      string
	Q           string
	QErr        string
	Items       []iaView
	Next        string
	Paged       bool
	Chart       *chartView
	ReturnHere  string
	CanDelete   bool
	TotalShown  int
	HasAnything bool
}

// textQuery makes a filter of words typed in a search box: each word must
// occur (in the title, the text, the addresses...), through the one parser.
func textQuery(text string) (*store.Query, error) {
	var b strings.Builder
	for _, w := range strings.Fields(text) {
		b.WriteString(`"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(w) + `" `)
	}
	return store.ParseQuery(b.String())
}

func (s *Server) contactShow(c *gin.Context) {
	id, ok := s.uiID(c)
	if !ok {
		return
	}
	ct, err := s.store.GetContact(id)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	u := currentUser(c)
	page := &profilePage{view: view{Title: ct.Name, Nav: "contacts"}, Contact: ct,
		SystemAddr: s.opts.SystemAddress, MyAddr: userAddress(s.opts.SystemAddress, u.AddressToken),
		Q: strings.TrimSpace(c.Query("q")), Paged: c.Query("cursor") != "", CanDelete: u.Role == store.RoleAdmin}
	page.ReturnHere = c.Request.URL.RequestURI()
	if ct.OrganizationID != 0 {
		page.Org, _ = s.store.GetContact(ct.OrganizationID)
	}
	if ct.Kind == store.KindOrganization {
		if page.Members, err = s.store.Members(ct.ID); err != nil {
			s.uiFail(c, err)
			return
		}
	}
	q, err := textQuery(page.Q)
	if err == nil {
		err = q.Add("contact", "contact", ct.ID.String())
	}
	var f store.Filter
	if err == nil {
		f, err = s.store.Resolve(q)
	}
	status := http.StatusOK
	if err != nil {
		if fe, ok := asFieldError(err, nil); ok {
			page.QErr = firstMessage(fe)
			status = http.StatusBadRequest
		} else {
			s.uiFail(c, err)
			return
		}
	} else {
		items, next, err := s.store.ListInteractions(f, 20, c.Query("cursor"))
		if err != nil {
			s.uiFail(c, err)
			return
		}
		l, err := s.newLookups()
		if err != nil {
			s.uiFail(c, err)
			return
		}
		page.Items = l.views(who(c), items, false, page.ReturnHere)
		page.Next = next
		page.HasAnything = len(items) > 0 || page.Q != "" || page.Paged
		if !page.HasAnything {
			// Nothing at all: no chart to draw.
		} else if page.Chart, err = s.weeklyChart(store.Filter{ContactIDs: []store.ID{ct.ID}}, "Interactions per week with "+ct.Name); err != nil {
			s.uiFail(c, err)
			return
		}
	}
	s.render(c, status, "contact", page)
}

func firstMessage(fe formErrors) string {
	for _, m := range fe {
		return m
	}
	return ""
}

// addInteractionURL opens the interaction form for contacts, coming back
// to ret.
func addInteractionURL(ret string, ids ...store.ID) string {
	v := url.Values{}
	for _, id := range ids {
		v.Add("contact", id.String())
	}
	if ret != "" {
		v.Set("return", ret)
	}
	return "/interactions/new?" + v.Encode()
}
