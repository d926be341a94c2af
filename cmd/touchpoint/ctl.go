package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"touchpoint/config"
	"touchpoint/ingest"
	"touchpoint/matcher"
	"touchpoint/store"
)

// The control socket lets admin commands reach a running daemon, which holds
// the database lock. It is a Unix socket in the data directory, mode 0600:
// whoever can open it can already read the database file, so it needs no
// other authentication.

func ctlPath(cfg *config.Config) string { return filepath.Join(cfg.DataDir, "touchpoint.sock") }

// admin is what the admin commands do, against a running daemon or, when
// none runs, against the database directly.
type admin interface {
	AddUser(ctx context.Context, u *store.User, password string) error
	CreateToken(ctx context.Context, name, role, userEmail string) (string, error)
	Backup(ctx context.Context, w io.Writer) error
	Ingest(ctx context.Context, raw []byte) (store.IngestResult, error)
	Check(ctx context.Context) error
	Close() error
}

func (a localAdmin) Check(context.Context) error { return a.s.Check() }

// localAdmin works on an open store.
type localAdmin struct {
	s *store.Store
	p *ingest.Pipeline
}

func (a localAdmin) Ingest(ctx context.Context, raw []byte) (store.IngestResult, error) {
	return a.p.Ingest(ctx, raw, matcher.Delivery{Source: store.SourcePipe})
}

func (a localAdmin) AddUser(ctx context.Context, u *store.User, password string) error {
	return a.s.CreateUser(ctx, u, password)
}

func (a localAdmin) CreateToken(ctx context.Context, name, role, userEmail string) (string, error) {
	var uid store.ID
	if userEmail != "" {
		u, err := a.s.UserByEmail(userEmail)
		if err != nil {
			return "", fmt.Errorf("no user with address %s", userEmail)
		}
		uid = u.ID
	}
	plain, _, err := a.s.CreateToken(ctx, name, role, uid)
	return plain, err
}

func (a localAdmin) Backup(_ context.Context, w io.Writer) error {
	_, err := a.s.Backup(w)
	return err
}

func (a localAdmin) Close() error { return a.s.Close() }

// withAdmin loads the configuration at path and runs fn against the running
// daemon, or the database when none runs.
func (c *cli) withAdmin(path string, fn func(cfg *config.Config, a admin) error) error {
	cfg, err := c.loadConfig(path)
	if err != nil {
		return err
	}
	a, err := c.openAdmin(cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	return fn(cfg, a)
}

// openAdmin connects to the running daemon's socket, or opens the database
// when no daemon answers.
func (c *cli) openAdmin(cfg *config.Config) (admin, error) {
	path := ctlPath(cfg)
	conn, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		conn.Close()
		return newCtlClient(path), nil
	}
	s, err := store.Open(cfg.DBPath(), store.Options{})
	if err != nil {
		return nil, err
	}
	return localAdmin{s, newPipeline(cfg, s, nil)}, nil
}

// ctlClient talks HTTP over the control socket.
type ctlClient struct{ hc *http.Client }

func newCtlClient(path string) *ctlClient {
	return &ctlClient{hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}}
}

// do sends one request over the socket.
func (cc *ctlClient) do(ctx context.Context, method, path string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://touchpoint"+path, body)
	if err != nil {
		return nil, err
	}
	resp, err := cc.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("talk to the running daemon: %w", err)
	}
	return resp, nil
}

// call posts in as JSON and decodes the answer into out.
func (cc *ctlClient) call(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	resp, err := cc.do(ctx, http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeCtl(resp, out)
}

func decodeCtl(resp *http.Response, out any) error {
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
		if e.Error == "" {
			e.Error = resp.Status
		}
		return errors.New(e.Error)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

type ctlUser struct {
	User     *store.User `json:"user"`
	Password string      `json:"password,omitempty"`
}

type ctlToken struct {
	Name  string `json:"name"`
	Role  string `json:"role"`
	User  string `json:"user"`
	Token string `json:"token,omitempty"`
}

func (cc *ctlClient) AddUser(ctx context.Context, u *store.User, password string) error {
	var out ctlUser
	if err := cc.call(ctx, "/user", ctlUser{User: u, Password: password}, &out); err != nil {
		return err
	}
	*u = *out.User
	return nil
}

func (cc *ctlClient) CreateToken(ctx context.Context, name, role, userEmail string) (string, error) {
	var out ctlToken
	err := cc.call(ctx, "/token", ctlToken{Name: name, Role: role, User: userEmail}, &out)
	return out.Token, err
}

func (cc *ctlClient) Backup(ctx context.Context, w io.Writer) error {
	resp, err := cc.do(ctx, http.MethodGet, "/backup", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := decodeCtl(resp, nil); err != nil {
		return err
	}
	n, err := io.Copy(w, resp.Body)
	if err == nil && resp.ContentLength >= 0 && n != resp.ContentLength {
		err = fmt.Errorf("backup cut short: %d of %d bytes", n, resp.ContentLength)
	}
	return err
}

func (cc *ctlClient) Ingest(ctx context.Context, raw []byte) (store.IngestResult, error) {
	resp, err := cc.do(ctx, http.MethodPost, "/ingest", bytes.NewReader(raw))
	if err != nil {
		return store.IngestResult{}, err
	}
	defer resp.Body.Close()
	var res store.IngestResult
	err = decodeCtl(resp, &res)
	return res, err
}

func (cc *ctlClient) Check(ctx context.Context) error {
	resp, err := cc.do(ctx, http.MethodGet, "/check", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return decodeCtl(resp, nil)
}

func (cc *ctlClient) Close() error { return nil }

// ctlServer serves the control socket for a running daemon.
func ctlServer(a localAdmin, maxMessage int64, log *slog.Logger) http.Handler {
	s := a.s
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, err error) {
		reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	}
	mux.HandleFunc("POST /user", func(w http.ResponseWriter, r *http.Request) {
		var in ctlUser
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil || in.User == nil {
			fail(w, errors.New("bad request"))
			return
		}
		if err := a.AddUser(r.Context(), in.User, in.Password); err != nil {
			fail(w, err)
			return
		}
		log.Info("user created", "user", in.User.ID, "role", in.User.Role, "by", "control socket")
		reply(w, http.StatusCreated, ctlUser{User: in.User})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		var in ctlToken
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in); err != nil {
			fail(w, errors.New("bad request"))
			return
		}
		plain, err := a.CreateToken(r.Context(), in.Name, in.Role, in.User)
		if err != nil {
			fail(w, err)
			return
		}
		log.Info("token created", "name", in.Name, "role", in.Role, "by", "control socket")
		reply(w, http.StatusCreated, ctlToken{Token: plain})
	})
	mux.HandleFunc("POST /ingest", func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMessage))
		if err != nil {
			fail(w, fmt.Errorf("read message: %w", err))
			return
		}
		res, err := a.Ingest(r.Context(), raw)
		if err != nil {
			log.Error("ingest over control socket failed", "err", err)
			reply(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		reply(w, http.StatusOK, res)
	})
	mux.HandleFunc("GET /check", func(w http.ResponseWriter, r *http.Request) {
		if err := a.Check(r.Context()); err != nil {
			reply(w, http.StatusConflict, map[string]string{"error": err.Error()})
			return
		}
		reply(w, http.StatusOK, map[string]bool{"ok": true})
	})
	mux.HandleFunc("GET /backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if _, err := s.Backup(w); err != nil {
			log.Error("backup over control socket failed", "err", err)
			panic(http.ErrAbortHandler)
		}
	})
	return mux
}

// listenCtl opens the control socket, replacing a stale one left by a crash
// (we hold the database lock, so no other daemon owns it).
func listenCtl(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale control socket: %w", err)
	}
	// Created 0600 from the start (umask), not chmod-ed after: no window
	// in which another user could connect. Serve runs this before any
	// other goroutine creates files.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listen on control socket %s: %w", path, err)
	}
	return ln, nil
}
