package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"touchpoint/store"
)

// principal is who a request acts for: a user (through a session or a token
// tied to them) or a bare API token.
type principal struct {
	UserID  store.ID
	TokenID store.ID
	Role    string
	Name    string
	// Session is set when the request is authenticated by the web
	// session cookie rather than a bearer token.
	Session bool
}

func (p *principal) admin() bool { return p.Role == store.RoleAdmin }

const ctxPrincipal = "touchpoint.principal"

func who(c *gin.Context) *principal { return c.MustGet(ctxPrincipal).(*principal) }

// authenticate resolves the credentials of a request: a bearer token, or
// else the web session; nil without any.
func (s *Server) authenticate(r *http.Request) (*principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		u, err := s.sessionUser(r.Context(), r)
		if u == nil || err != nil {
			return nil, err
		}
		return &principal{UserID: u.ID, Role: u.Role, Name: u.Name, Session: true}, nil
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, errors.New("use Authorization: Bearer TOKEN")
	}
	t, err := s.store.TokenByPlaintext(strings.TrimSpace(tok))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errors.New("invalid or revoked token")
	}
	if err != nil {
		return nil, err
	}
	p := &principal{TokenID: t.ID, Role: t.Role, Name: "token " + t.Name}
	if t.UserID != 0 {
		u, err := s.store.GetUser(t.UserID)
		if err != nil || u.Disabled {
			return nil, errors.New("the token's user is disabled")
		}
		p.UserID, p.Name = u.ID, u.Name
		if u.Role != store.RoleAdmin {
			p.Role = store.RoleStaff // a token never lifts its user's role
		}
	}
	return p, nil
}

// requireAuth answers 401 unless the request carries valid credentials.
func (s *Server) requireAuth(c *gin.Context) {
	p, err := s.authenticate(c.Request)
	if err == nil && p == nil {
		err = errors.New("authentication required: Authorization: Bearer TOKEN")
	}
	if err != nil {
		c.Header("WWW-Authenticate", `Bearer realm="touchpoint"`)
		apiError(c, http.StatusUnauthorized, err.Error())
		return
	}
	if p.Session && c.Request.Method == http.MethodPost && !sessionSafeType(c.ContentType()) {
		// A cookie rides along with cross-site form posts; a JSON or
		// message body cannot be sent cross-site without a CORS preflight,
		// which this server never grants. So a session may post only those.
		apiError(c, http.StatusForbidden, "with the web session, POST needs Content-Type: application/json")
		return
	}
	c.Set(ctxPrincipal, p)
	c.Next()
}

// sessionSafeType lists the request types no cross-site form can send.
func sessionSafeType(ct string) bool {
	return ct == "application/json" || ct == "message/rfc822"
}

// requireAdmin answers 403 to anyone but an admin.
func requireAdmin(c *gin.Context) {
	if !who(c).admin() {
		apiError(c, http.StatusForbidden, "forbidden: admins only")
		return
	}
	c.Next()
}

// mayEdit says whether p may change or delete ia: admins any, staff the
// interactions they wrote or own, a token the ones it wrote.
func (p *principal) mayEdit(ia *store.Interaction) bool {
	if p.admin() {
		return true
	}
	if p.UserID != 0 && (ia.CreatedBy == p.UserID || containsID(ia.OwnerIDs, p.UserID)) {
		return true
	}
	return p.TokenID != 0 && ia.CreatedByToken == p.TokenID
}

func containsID(ids []store.ID, id store.ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
