// Package server is wharf's HTTP surface: the one route table and the middleware chain. Handlers translate HTTP
// into calls of the domain packages and return errors that one function here turns into responses.
package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"wharf/internal/httperror"
)

// Index serves the package-index read protocols.
type Index interface {
	ServeRoot(w http.ResponseWriter, r *http.Request) error
	ServeProject(w http.ResponseWriter, r *http.Request) error
	ServeProjectJSON(w http.ResponseWriter, r *http.Request) error
	ServeReleaseJSON(w http.ResponseWriter, r *http.Request) error
	ServeFile(w http.ResponseWriter, r *http.Request) error
}

// Uploads serves the legacy upload API.
type Uploads interface {
	ServeUpload(w http.ResponseWriter, r *http.Request) error
}

// Pinger reports whether a dependency answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server holds the handlers and the route table.
type Server struct {
	index   Index
	uploads Uploads
	db      Pinger
	log     *slog.Logger
	mux     *http.ServeMux
}

// New builds the server and its routes.
func New(index Index, uploads Uploads, db Pinger, log *slog.Logger) *Server {
	s := &Server{index: index, uploads: uploads, db: db, log: log, mux: http.NewServeMux()}
	s.routes()
	return s
}

// routes is the single route table, in the shape of PyPI's URLs.
func (s *Server) routes() {
	m := s.mux
	m.Handle("GET /simple/{$}", s.handle(s.index.ServeRoot))
	m.Handle("GET /simple/{project}/{$}", s.handle(s.index.ServeProject))
	m.Handle("GET /simple/{project}", s.handle(addSlash))
	m.Handle("GET /pypi/{project}/json", s.handle(s.index.ServeProjectJSON))
	m.Handle("GET /pypi/{project}/{version}/json", s.handle(s.index.ServeReleaseJSON))
	m.Handle("GET /packages/{path...}", s.handle(s.index.ServeFile))
	m.Handle("POST /legacy/{$}", s.handleUpload(s.uploads.ServeUpload))
	m.Handle("POST /legacy", s.handleUpload(s.uploads.ServeUpload))
	m.Handle("GET /_/health", s.handle(s.health))
	m.Handle("GET /{$}", s.handle(home))
	m.Handle("GET /", s.handle(func(http.ResponseWriter, *http.Request) error {
		return httperror.New(http.StatusNotFound, "Not Found")
	}))
}

// Handler is the whole server with its middleware.
func (s *Server) Handler() http.Handler {
	return s.recoverPanics(securityHeaders(s.mux))
}

func addSlash(w http.ResponseWriter, r *http.Request) error {
	u := *r.URL
	u.Path += "/"
	http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
	return nil
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		return httperror.Wrap(err, http.StatusServiceUnavailable, "database unavailable")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, "ok\n")
	return nil
}

func home(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>wharf</title></head>
<body><h1>wharf</h1><p>A Python package index. Install with <code>pip install --index-url &lt;this site&gt;/simple/ NAME</code>; browse the <a href="/simple/">simple index</a>.</p></body></html>
`)
	return nil
}

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "strict-origin-when-cross-origin")
		h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				http.Error(w, "500 Internal Server Error", http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}
