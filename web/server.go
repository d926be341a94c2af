package web

import (
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"touchpoint/matcher"
	"touchpoint/store"
)

// Options configure a Server.
type Options struct {
	Store         *store.Store
	Logger        *slog.Logger
	Version       string
	SystemAddress string
	// MaxBodyBytes bounds JSON request bodies; default 1 MiB.
	MaxBodyBytes int64
	// MaxMessageBytes bounds raw messages posted to /messages; default 25 MiB.
	MaxMessageBytes int64
	// Ingester stores posted raw messages; nil answers 503.
	Ingester Ingester
	// Mailboxes reports the IMAP pollers for GET /api/v1/mailboxes; nil
	// lists none.
	Mailboxes MailboxStatuser
	// HealthChecks are asked at every GET /healthz; any reason they give
	// makes the status "degraded". Mailboxes whose last poll failed are
	// reported without one.
	HealthChecks []HealthCheck
	// Registry receives the HTTP metrics and is served on /metrics; nil
	// makes a fresh one.
	Registry *prometheus.Registry
	Now      func() time.Time
	// CSRFKey signs the web forms' CSRF cookie (32 bytes). Nil: a key kept
	// in the database, made on first start.
	CSRFKey []byte
	// Matcher holds the address rules campaign recipients are matched
	// with (as mail is); nil means SystemAddress, the default free-mail
	// domains, plus-tag folding and no internal domains.
	Matcher *matcher.Config
	// MaxCampaignBodyBytes bounds a campaign report's body; default 32 MiB
	// (200,000 recipients of average length fit in about 6 MiB).
	MaxCampaignBodyBytes int64
	// Sender sends the campaigns admins compose; nil means sending is not
	// available in this server.
	Sender CampaignSender
	// TimeZone is the zone the web UI shows times in and reads the
	// interaction form's date and time in; nil means UTC.
	TimeZone *time.Location
}

// Server holds the handlers' dependencies.
type Server struct {
	opts    Options
	store   *store.Store
	log     *slog.Logger
	now     func() time.Time
	metrics *httpMetrics
	engine  *gin.Engine

	// The web UI.
	ui        *uiAssets
	csrf      *csrfGuard
	limiter   *loginLimiter // failed sign-ins per account
	ipLimiter *loginLimiter // failed sign-ins per client address
	loc       *time.Location
}

func init() {
	// gin's mode is process-wide; Touchpoint logs through slog instead.
	gin.SetMode(gin.ReleaseMode)
}

// New builds the router.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 25 << 20
	}
	if opts.MaxCampaignBodyBytes <= 0 {
		opts.MaxCampaignBodyBytes = 32 << 20
	}
	if opts.Matcher == nil {
		opts.Matcher = &matcher.Config{
			SystemAddress:   strings.ToLower(opts.SystemAddress),
			FreemailDomains: matcher.DefaultFreemailDomains(),
			FoldPlusTags:    true,
		}
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TimeZone == nil {
		opts.TimeZone = time.UTC
	}
	s := &Server{opts: opts, store: opts.Store, log: opts.Logger, now: opts.Now, loc: opts.TimeZone}
	s.metrics = newHTTPMetrics(opts.Registry)
	s.initUI()
	s.engine = s.routes()
	return s
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.engine }

func (s *Server) routes() *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash = false
	r.Use(s.requestID, s.recoverer, s.observe)
	r.NoRoute(s.noRoute)
	r.NoMethod(func(c *gin.Context) { apiError(c, http.StatusMethodNotAllowed, "method not allowed") })

	r.GET("/healthz", s.healthz)
	r.GET("/metrics", s.metricsHandler())

	api := r.Group("/api/v1", s.requireAuth)
	api.GET("/contacts", s.listContacts)
	api.POST("/contacts", s.createContact)
	api.GET("/contacts/:id", getByID(s, s.store.GetContact))
	api.PATCH("/contacts/:id", s.updateContact)
	api.DELETE("/contacts/:id", requireAdmin, s.deleteContact)
	api.POST("/contacts/:id/erase", requireAdmin, s.eraseContact)
	api.GET("/contacts/:id/interactions", s.contactTimeline)

	api.GET("/interactions", s.listInteractions)
	api.POST("/interactions", s.createInteraction)
	api.GET("/interactions/export.csv", s.exportInteractions)
	api.GET("/interactions/:id", getByID(s, s.store.GetInteraction))
	api.GET("/interactions/:id/raw", s.interactionRaw)
	api.PATCH("/interactions/:id", s.updateInteraction)
	api.DELETE("/interactions/:id", s.deleteInteraction)

	api.POST("/messages", s.postMessage)
	admin := api.Group("", requireAdmin)
	admin.GET("/unmatched", s.listUnmatched)
	admin.GET("/unmatched/:id", s.getUnmatched)
	admin.GET("/unmatched/:id/raw", s.unmatchedRaw)
	admin.POST("/unmatched/:id/assign", s.assignUnmatched)
	admin.POST("/unmatched/:id/discard", s.discardUnmatched)
	admin.GET("/mailboxes", s.listMailboxes)
	admin.GET("/audit", s.listAudit)
	admin.POST("/sends", s.createSend)
	admin.POST("/sends/preview", s.previewSend)
	admin.GET("/sends/:id", s.getSend)
	admin.GET("/sends/:id/recipients", s.listSendRecipients)
	admin.POST("/sends/:id/cancel", s.cancelSend)

	api.GET("/vocabulary", s.vocabulary)
	api.POST("/vocabulary/:kind", s.addVocabulary)
	api.DELETE("/vocabulary/:kind/:name", requireAdmin, s.removeVocabulary)

	api.GET("/campaigns", s.listCampaigns)
	api.POST("/campaigns", s.reportCampaign)
	api.GET("/campaigns/:id", getByID(s, s.store.GetCampaign))
	api.GET("/campaigns/:id/recipients", s.listCampaignRecipients)
	api.POST("/campaigns/:id/recipients", s.addCampaignRecipients)

	api.GET("/users", s.listUsers)
	api.POST("/users", requireAdmin, s.createUser)
	api.PATCH("/users/:id", requireAdmin, s.updateUser)
	api.GET("/tokens", requireAdmin, s.listTokens)
	api.POST("/tokens", requireAdmin, s.createToken)
	api.DELETE("/tokens/:id", requireAdmin, s.revokeToken)

	s.uiRoutes(r)
	return r
}

// requestIDHeader carries a request's id, in and out.
const requestIDHeader = "X-Request-Id"

// ctxLogger is the gin context key of the request's logger.
const ctxLogger = "touchpoint.log"

// requestID names each request with a short random id, echoed in the
// X-Request-Id answer header and carried by every log line about the
// request (attribute "req"). An id set by a proxy in front is kept when
// it is short and plain, so both logs tell the same request.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader(requestIDHeader)
	if !plainID(id) {
		id = strings.ToLower(rand.Text()[:12])
	}
	c.Header(requestIDHeader, id)
	c.Set(ctxLogger, s.log.With("req", id))
	c.Next()
}

// plainID accepts 1–64 letters, digits, '-', '_' or '.': nothing that
// could forge a log line.
func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// logFor is the logger of c's request (with its id), or the server's.
func (s *Server) logFor(c *gin.Context) *slog.Logger {
	if c != nil {
		if l, ok := c.Get(ctxLogger); ok {
			return l.(*slog.Logger)
		}
	}
	return s.log
}

// recoverer turns a panic in a handler into a 500 and a log line.
func (s *Server) recoverer(c *gin.Context) {
	defer func() {
		if p := recover(); p != nil {
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(p)
			}
			s.logFor(c).Error("panic in handler", "panic", p, "path", c.Request.URL.Path, "stack", string(debug.Stack()))
			if !c.Writer.Written() {
				apiError(c, http.StatusInternalServerError, "internal error")
			}
		}
	}()
	c.Next()
}

// observe logs each request and records its metrics. Query strings are not
// logged: they may hold names and addresses.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	d := time.Since(start)
	s.metrics.observe(c.Request.Method, route, c.Writer.Status(), d)
	lvl := slog.LevelDebug
	if c.Writer.Status() >= 500 {
		lvl = slog.LevelWarn
	}
	s.logFor(c).Log(c.Request.Context(), lvl, "http", "method", c.Request.Method, "route", route, "status", c.Writer.Status(), "dur", d, "remote", c.ClientIP())
}

// HTTPServer wraps the handler in a server with timeouts, for Serve.
func (s *Server) HTTPServer(readTimeout, writeTimeout, idleTimeout time.Duration) *http.Server {
	return &http.Server{
		Handler:           s.engine,
		ReadHeaderTimeout: min(readTimeout, 10*time.Second),
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}
