package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/csrf"

	"touchpoint/store"
)

// sessionCookie carries the web session's id. HttpOnly (scripts never see
// it), SameSite=Lax (not sent with cross-site posts), Secure over HTTPS.
const sessionCookie = "touchpoint_session"

const ctxUser = "touchpoint.user"

// currentUser is the signed-in user of a page request, or nil.
func currentUser(c *gin.Context) *store.User {
	if v, ok := c.Get(ctxUser); ok {
		return v.(*store.User)
	}
	return nil
}

// isHTTPS says whether the browser talks HTTPS to us: directly, or through
// a proxy that says so. (A client that lies about X-Forwarded-Proto only
// gets Secure cookies it cannot send back over plain HTTP.)
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// sessionUser resolves the session cookie to an active user; nil, nil when
// there is no valid session.
func (s *Server) sessionUser(ctx context.Context, r *http.Request) (*store.User, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	ss, err := s.store.SessionByID(ctx, ck.Value)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(ss.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, nil
	}
	return u, err
}

func setSessionCookie(c *gin.Context, value string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: isHTTPS(c.Request), SameSite: http.SameSiteLaxMode,
	})
}

// uiAuth lets a page request through only with a session. Without one, a
// GET is sent to the sign-in page (and back afterwards); anything else is
// refused, since a form cannot be replayed after signing in.
func (s *Server) uiAuth(c *gin.Context) {
	u, err := s.sessionUser(c.Request.Context(), c.Request)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	if u == nil {
		if c.Request.Method == http.MethodGet || c.Request.Method == http.MethodHead {
			c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(c.Request.URL.RequestURI()))
			c.Abort()
			return
		}
		s.errorPage(c, http.StatusUnauthorized, "Your session has ended. Sign in again, then repeat what you were doing.")
		return
	}
	c.Set(ctxUser, u)
	c.Set(ctxPrincipal, &principal{UserID: u.ID, Role: u.Role, Name: u.Name, Session: true})
	c.Next()
}

// uiAdmin refuses page requests from anyone but an admin.
func (s *Server) uiAdmin(c *gin.Context) {
	if u := currentUser(c); u == nil || u.Role != store.RoleAdmin {
		s.errorPage(c, http.StatusForbidden, "This page is for admins.")
		return
	}
	c.Next()
}

// csrfGuard wraps gorilla/csrf for gin: every unsafe request must carry the
// token from the form (or the X-CSRF-Token header) matching its cookie,
// and, when it has an Origin, come from this site. Two instances differ
// only in the cookie's Secure flag, chosen per request.
type csrfGuard struct {
	tls, plain func(http.Handler) http.Handler
}

const csrfField = "csrf_token"

func newCSRFGuard(key []byte, s *Server) *csrfGuard {
	fail := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Context().Value(ginKey{}).(*gin.Context)
		s.logFor(c).Info("csrf check failed", "reason", csrf.FailureReason(r), "path", r.URL.Path)
		if c == nil {
			http.Error(w, "forbidden: the form expired or came from another site", http.StatusForbidden)
			return
		}
		c.Request = r
		s.errorPage(c, http.StatusForbidden, "This form expired or was sent from another site. Go back, reload the page and try again.")
	})
	opts := []csrf.Option{csrf.FieldName(csrfField), csrf.Path("/"), csrf.SameSite(csrf.SameSiteLaxMode),
		csrf.HttpOnly(true), csrf.ErrorHandler(fail), csrf.CookieName("touchpoint_csrf")}
	return &csrfGuard{
		tls:   csrf.Protect(key, append(opts, csrf.Secure(true))...),
		plain: csrf.Protect(key, append(opts, csrf.Secure(false))...),
	}
}

type ginKey struct{}

func (g *csrfGuard) handle(c *gin.Context) {
	r := c.Request.WithContext(context.WithValue(c.Request.Context(), ginKey{}, c))
	protect := g.tls
	if !isHTTPS(r) {
		r = csrf.PlaintextHTTPRequest(r)
		protect = g.plain
	}
	passed := false
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		passed = true
		c.Request = r
		c.Next()
	})
	protect(next).ServeHTTP(c.Writer, r)
	if !passed {
		c.Abort()
	}
}

// loginLimiter counts failed sign-ins per key (an account, a client
// address) over a sliding window; past the limit, sign-in is refused before
// any password is checked.
type loginLimiter struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	fails  map[string][]time.Time
	now    func() time.Time
}

func newLoginLimiter(max int, window time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{window: window, max: max, fails: map[string][]time.Time{}, now: now}
}

// blocked reports whether key is over the limit, and for how long still.
func (l *loginLimiter) blocked(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	recent := l.prune(key, now)
	if len(recent) < l.max {
		return false, 0
	}
	return true, recent[0].Add(l.window).Sub(now)
}

func (l *loginLimiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.fails) > 50_000 {
		// A flood from many addresses: drop the stale entries, and if
		// that is not enough start over rather than grow without bound.
		for k := range l.fails {
			l.prune(k, now)
		}
		if len(l.fails) > 50_000 {
			clear(l.fails)
		}
	}
	l.fails[key] = append(l.prune(key, now), now)
}

func (l *loginLimiter) reset(key string) {
	l.mu.Lock()
	delete(l.fails, key)
	l.mu.Unlock()
}

func (l *loginLimiter) prune(key string, now time.Time) []time.Time {
	v := l.fails[key]
	i := 0
	for i < len(v) && now.Sub(v[i]) >= l.window {
		i++
	}
	v = v[i:]
	if len(v) == 0 {
		delete(l.fails, key)
		return nil
	}
	l.fails[key] = v
	return v
}

// Sign-in limits: failures per account and per client address per minute.
// The address limit is higher because an office may share one.
const (
	loginFailuresPerAccount = 5
	loginFailuresPerIP      = 20
	loginWindow             = time.Minute
)

type loginPage struct {
	view
	Email string
	Next  string
	Error string
}

func (s *Server) loginForm(c *gin.Context) {
	next := localPath(c.Query("next"), "/")
	if u, _ := s.sessionUser(c.Request.Context(), c.Request); u != nil {
		c.Redirect(http.StatusSeeOther, next)
		return
	}
	s.render(c, http.StatusOK, "login", &loginPage{view: view{Title: "Sign in"}, Next: next})
}

func (s *Server) login(c *gin.Context) {
	email := strings.TrimSpace(c.PostForm("email"))
	password := c.PostForm("password")
	next := localPath(c.PostForm("next"), "/")
	page := &loginPage{view: view{Title: "Sign in"}, Email: email, Next: next}
	ip := "ip:" + c.RemoteIP()
	type limit struct {
		l   *loginLimiter
		key string
	}
	limits := []limit{{s.ipLimiter, ip}}
	// No account has an address longer than MaxEmailLen: such a sign-in
	// fails, and its email never becomes a limiter key.
	acct := ""
	if len(email) <= store.MaxEmailLen {
		acct = "acct:" + strings.ToLower(email)
		limits = append([]limit{{s.limiter, acct}}, limits...)
	}
	for _, lim := range limits {
		if over, wait := lim.l.blocked(lim.key); over {
			secs := int(wait.Seconds()) + 1
			c.Header("Retry-After", strconv.Itoa(secs))
			page.Error = "Too many failed sign-in attempts. Wait " + strconv.Itoa(secs) + " seconds and try again."
			s.render(c, http.StatusTooManyRequests, "login", page)
			return
		}
	}
	if email == "" || password == "" {
		page.Error = "Enter your email address and your password."
		s.render(c, http.StatusBadRequest, "login", page)
		return
	}
	var u *store.User
	err := store.ErrBadCredentials
	if acct != "" {
		u, err = s.store.Authenticate(email, password)
	}
	if errors.Is(err, store.ErrBadCredentials) {
		if acct != "" {
			s.limiter.fail(acct)
		}
		s.ipLimiter.fail(ip)
		s.logFor(c).Info("sign-in failed", "remote", c.RemoteIP())
		page.Error = "Wrong email address or password."
		s.render(c, http.StatusUnauthorized, "login", page)
		return
	}
	if err != nil {
		s.uiFail(c, err)
		return
	}
	s.limiter.reset(acct)
	// A new id at every sign-in: an id planted before sign-in (session
	// fixation) is worth nothing after it.
	if ck, err := c.Request.Cookie(sessionCookie); err == nil {
		s.store.DeleteSession(c.Request.Context(), ck.Value)
	}
	plain, _, err := s.store.CreateSession(c.Request.Context(), u.ID)
	if err != nil {
		s.uiFail(c, err)
		return
	}
	setSessionCookie(c, plain, int(store.SessionMaxAge/time.Second))
	s.logFor(c).Info("signed in", "user", u.ID, "remote", c.RemoteIP())
	c.Redirect(http.StatusSeeOther, next)
}

func (s *Server) logout(c *gin.Context) {
	if ck, err := c.Request.Cookie(sessionCookie); err == nil {
		if err := s.store.DeleteSession(c.Request.Context(), ck.Value); err != nil {
			s.uiFail(c, err)
			return
		}
	}
	setSessionCookie(c, "", -1)
	redirect(c, "/login", "You are signed out.")
}
