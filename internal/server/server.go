// Package server is wharf's HTTP surface: the one route table and the middleware chain. Handlers translate HTTP
// into calls of the domain packages and return errors that one function here turns into responses.
package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"wharf/internal/httperror"
	"wharf/internal/web"
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
	storage Pinger    // the file store, for the readiness check; nil checks the database alone
	web     *web.Site // nil serves no pages but a placeholder home
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler // mux with the middleware around it
	// crossOrigin refuses state-changing browser requests that another site started. It lets through requests
	// that carry neither Origin nor Sec-Fetch-Site (non-browser clients, such as twine), which is why it guards
	// only the pages, and why the upload and index routes never read session cookies.
	crossOrigin *http.CrossOriginProtection

	metrics *prometheus.Registry // what /metrics serves, with the requests' own metrics; nil leaves the route out
	// accessLog writes a line per request; nil writes none.
	accessLog *slog.Logger
	// disclosure takes leaked-token reports from secret scanners; nil answers them 404.
	disclosure Discloser
	// minter exchanges CI jobs' OIDC tokens for upload tokens; nil answers that Trusted Publishing is off.
	minter Minter
	// loopback sends pages opened through the wrong loopback name to the base URL; nil redirects nothing.
	loopback *loopbackSite
}

// Option configures a Server.
type Option func(*Server)

// WithWeb serves the HTML pages and account flows of site.
func WithWeb(site *web.Site) Option { return func(s *Server) { s.web = site } }

// WithStorage makes the readiness check ask the file store too.
func WithStorage(p Pinger) Option { return func(s *Server) { s.storage = p } }

// WithMetrics serves the metrics of reg at /metrics, in Prometheus's text format, and adds the requests' own
// (observe.go) to it.
func WithMetrics(reg *prometheus.Registry) Option { return func(s *Server) { s.metrics = reg } }

// WithAccessLog writes one line per request to log (observe.go says what, and what never).
func WithAccessLog(log *slog.Logger) Option { return func(s *Server) { s.accessLog = log } }

// New builds the server and its routes.
func New(index Index, uploads Uploads, db Pinger, log *slog.Logger, opts ...Option) *Server {
	s := &Server{index: index, uploads: uploads, db: db, log: log, mux: http.NewServeMux(),
		crossOrigin: http.NewCrossOriginProtection()}
	for _, o := range opts {
		o(s)
	}
	s.crossOrigin.SetDenyHandler(http.HandlerFunc(s.crossOriginDenied))
	s.routes()
	var reg prometheus.Registerer
	if s.metrics != nil {
		reg = s.metrics
	}
	s.handler = newObserver(reg, s.accessLog).wrap(s.recoverPanics(securityHeaders(s.loopback.redirect(s.mux))))
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
	// Liveness and readiness, for a load balancer or an orchestrator: /healthz says the process serves requests,
	// and asks nothing else, so that a database outage does not get every instance restarted; /readyz says this
	// instance can do its work, and sends traffic elsewhere while it cannot. /_/health is the older name of
	// /readyz.
	m.Handle("GET /healthz", s.handle(alive))
	m.Handle("GET /readyz", s.handle(s.ready))
	m.Handle("GET /_/health", s.handle(s.ready))
	m.Handle("GET /_/oidc/audience", s.handle(s.oidcAudience))
	m.Handle("POST /_/oidc/mint-token", s.handle(s.mintToken))
	m.Handle("POST /_/secrets/disclose-token", s.handle(s.discloseToken))
	if s.metrics != nil {
		// Aggregates without personal data, for the operator's Prometheus; the README asks operators to keep the
		// path off the public internet. A collector that fails is logged and left out; the others are served.
		m.Handle("GET /metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{
			ErrorLog:            slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
			ErrorHandling:       promhttp.ContinueOnError,
			MaxRequestsInFlight: 4,
			Timeout:             30 * time.Second,
		}))
	}
	if s.web == nil {
		m.Handle("GET /{$}", s.handle(home))
		m.Handle("GET /", s.handle(func(http.ResponseWriter, *http.Request) error {
			return httperror.New(http.StatusNotFound, "Not Found")
		}))
		return
	}

	// The pages. Every POST here changes state and passes the origin check, the session and a CSRF token; no GET
	// changes anything (a mailed link leads to a page with a button).
	w := s.web
	m.Handle("GET /static/{file}", s.handle(w.ServeStatic))
	m.Handle("GET /favicon.ico", s.handle(w.Favicon))
	// The feeds are public and the same for everyone: no session, so that caches may share them.
	m.Handle("GET /rss/updates.xml", s.handle(w.UpdatesFeed))
	m.Handle("GET /rss/packages.xml", s.handle(w.PackagesFeed))
	m.Handle("GET /rss/project/{name}/releases.xml", s.handle(w.ProjectReleasesFeed))
	m.Handle("GET /help", s.handle(addSlash))
	m.Handle("GET /help/{$}", s.page(w.Help))
	m.Handle("GET /{$}", s.page(w.Home))
	m.Handle("GET /search/{$}", s.page(w.Search))
	m.Handle("GET /project/{name}", s.handle(addSlash))
	m.Handle("GET /project/{name}/{$}", s.page(w.Project))
	m.Handle("GET /project/{name}/{version}/{$}", s.page(w.Release))
	s.pageForms("/project/{name}/report/", w.ReportForm, form{"", w.Report})
	m.Handle("GET /user/{username}/{$}", s.page(w.Profile))

	m.Handle("GET /account/register/{$}", s.page(w.RegisterForm))
	m.Handle("POST /account/register/{$}", s.page(w.Register))
	m.Handle("GET /account/verify-email/{$}", s.page(w.VerifyForm))
	m.Handle("POST /account/verify-email/{$}", s.page(w.Verify))
	m.Handle("GET /account/login/{$}", s.page(w.LoginForm))
	m.Handle("POST /account/login/{$}", s.page(w.Login))
	m.Handle("POST /account/logout/{$}", s.page(w.Logout))
	m.Handle("GET /account/reset-password/{$}", s.page(w.ResetForm))
	m.Handle("POST /account/reset-password/{$}", s.page(w.Reset))
	m.Handle("GET /account/two-factor/{$}", s.page(w.TwoFactorForm))
	m.Handle("POST /account/two-factor/{$}", s.page(w.TwoFactor))
	m.Handle("GET /account/reauthenticate/{$}", s.page(w.ReauthForm))
	m.Handle("POST /account/reauthenticate/{$}", s.page(w.Reauth))
	m.Handle("POST /account/two-factor/options/{$}", s.page(w.AssertionOptions))
	m.Handle("POST /account/passkey/options/{$}", s.page(w.PasskeyOptions))
	m.Handle("POST /account/passkey/{$}", s.page(w.PasskeyLogin))

	s.pageForms("/manage/account/", w.Account,
		form{"email/", w.ChangeEmail},
		form{"verify-email/", w.ResendVerification},
		form{"password/", w.ChangePassword},
		form{"sessions/end/", w.EndSession},
		form{"sessions/end-all/", w.EndOtherSessions},
		form{"key-offer/", w.ClaimKeyOffer},
		form{"recovery-codes/saved/", w.RecoveryCodesSaved})
	s.pageForms("/manage/account/totp/", w.TOTPPage,
		form{"begin/", w.BeginTOTP},
		form{"", w.ConfirmTOTP},
		form{"remove/", w.RemoveTOTP},
		form{"recovery/", w.RegenerateRecovery})
	s.pageForms("/manage/account/webauthn/", w.KeysPage,
		form{"remove/", w.RemoveKey})
	m.Handle("POST /manage/account/webauthn/options/{$}", s.page(w.RegistrationOptions))
	m.Handle("POST /manage/account/webauthn/{$}", s.page(w.AddKey))
	s.pageForms("/manage/account/token/", w.Tokens,
		form{"", w.CreateToken},
		form{"revoke/", w.RevokeToken})
	s.pageForms("/manage/account/publishing/", w.PendingPublishers,
		form{"add/", w.AddPendingPublisher},
		form{"remove/", w.RemovePendingPublisher})

	s.pageForms("/manage/projects/", w.MyProjects,
		form{"invitations/accept/", w.AcceptInvitation},
		form{"invitations/decline/", w.DeclineInvitation})
	m.Handle("GET /account/invitation/{$}", s.page(w.InvitationLink))
	m.Handle("POST /account/invitation/{$}", s.page(w.AcceptInvitationLink))
	s.pageForms("/manage/project/{name}/collaboration/", w.Collaboration,
		form{"invite/", w.Invite},
		form{"role/", w.ChangeRole},
		form{"remove/", w.RemoveRole},
		form{"leave/", w.LeaveProject},
		form{"transfer/", w.TransferOwnership},
		form{"revoke/", w.RevokeInvitation},
		form{"require-2fa/", w.Require2FA})
	s.pageForms("/manage/project/{name}/releases/", w.Releases,
		form{"yank/", w.Yank},
		form{"unyank/", w.Unyank},
		form{"delete-file/", w.DeleteFile},
		form{"delete-release/", w.DeleteRelease},
		form{"approve/", w.ApproveRelease},
		form{"discard/", w.DiscardRelease},
		form{"/manage/project/{name}/delete/", w.DeleteProject})
	m.Handle("GET /manage/project/{name}/history/{$}", s.page(w.ProjectHistory))
	s.pageForms("/manage/project/{name}/publishing/", w.Publishing,
		form{"add/", w.AddPublisher},
		form{"remove/", w.RemovePublisher},
		form{"trusted-only/", w.TrustedPublishingOnly},
		form{"staging/", w.SetStaging},
		form{"mail/", w.PublishMail})

	m.Handle("GET /org/{name}/{$}", s.page(w.OrgProfile))
	s.pageForms("/manage/organizations/", w.MyOrganizations,
		form{"create/", w.CreateOrganization},
		form{"answer/", w.AnswerOrgInvitation})
	s.pageForms("/manage/organization/{name}/", w.ManageOrganization,
		form{"settings/", w.OrgSettings},
		form{"invite/", w.OrgInvite},
		form{"role/", w.OrgChangeRole},
		form{"remove/", w.OrgRemoveMember},
		form{"leave/", w.OrgLeave},
		form{"teams/create/", w.OrgCreateTeam},
		form{"teams/delete/", w.OrgDeleteTeam},
		form{"teams/member/", w.OrgTeamMember},
		form{"teams/grant/", w.OrgTeamGrant},
		form{"projects/in/", w.OrgMoveIn},
		form{"projects/out/", w.OrgMoveOut},
		form{"publishers/add/", w.OrgAddPublishers},
		form{"publishers/pending/", w.OrgAddPendingPublisher})
	m.Handle("GET /manage/organization/{name}/history/{$}", s.page(w.OrgHistory))

	s.pageForms("/admin/", w.Admin,
		form{"names/", w.ReserveName},
		form{"names/unreserve/", w.UnreserveName},
		form{"organizations/approve/", w.ApproveOrganization})
	s.pageForms("/admin/users/", w.AdminUsers,
		form{"disable/", w.DisableUser},
		form{"enable/", w.EnableUser})
	m.Handle("GET /admin/projects/{$}", s.page(w.AdminProjects))
	m.Handle("GET /admin/dashboard/{$}", s.page(w.Dashboard))
	m.Handle("GET /admin/reports/{$}", s.page(w.AdminReports))
	s.pageForms("/admin/policy/", w.AdminPolicy,
		form{"early/", w.EnforceEarly},
		form{"critical/", w.CriticalProject})

	m.Handle("GET /", s.page(w.NotFound))
}

// ReadPath reports the paths of the read API (the simple pages, the JSON API, the files), whose plain GET and HEAD
// requests internal/front serves on its own loop: their handlers use nothing of a ResponseWriter but writing, and
// keep nothing of a request once they return (the loop reuses it for the connection's next request).
func ReadPath(p string) bool {
	return strings.HasPrefix(p, "/simple/") || strings.HasPrefix(p, "/pypi/") || strings.HasPrefix(p, "/packages/")
}

// Handler is the whole server with its middleware.
func (s *Server) Handler() http.Handler { return s.handler }

func addSlash(w http.ResponseWriter, r *http.Request) error {
	u := *r.URL
	u.Path += "/"
	http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
	return nil
}

func alive(w http.ResponseWriter, r *http.Request) error {
	writeOK(w)
	return nil
}

// ready answers 503 naming what this instance cannot reach: the database, or the file store.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Ping(ctx); err != nil {
		return httperror.Wrap(err, http.StatusServiceUnavailable, "database unavailable")
	}
	if s.storage != nil {
		if err := s.storage.Ping(ctx); err != nil {
			return httperror.Wrap(err, http.StatusServiceUnavailable, "file storage unavailable")
		}
	}
	writeOK(w)
	return nil
}

func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	io.WriteString(w, "ok\n")
}

func home(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	io.WriteString(w, `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>wharf</title></head>
<body><h1>wharf</h1><p>A Python package index. Install with <code>pip install --index-url &lt;this site&gt;/simple/ NAME</code>; browse the <a href="/simple/">simple index</a>.</p></body></html>
`)
	return nil
}

// page adapts a page handler: the origin check first, then the session, then the handler, whose errors become
// HTML pages through the same mapping as every other route.
func (s *Server) page(h httperror.Handler) http.Handler {
	return s.crossOrigin.Handler(s.web.WithSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		code, msg := s.failed(w, r, err)
		s.web.RenderError(w, r, code, msg)
	})))
}

// form is one form of a page: the path it posts to (under the page's, or absolute), and its handler.
type form struct {
	path   string
	handle httperror.Handler
}

// pageForms registers a page (GET page) and the forms it holds (POST page+form.path). A form's refusal that the
// person can act on (a denial, a bad or conflicting input, a rate limit) shows the page again with the reason inside
// the refused form and the input kept, instead of an error page that loses what they were doing; anything else
// (an unknown project, a failure) is an error page as on every route.
func (s *Server) pageForms(page string, show httperror.Handler, forms ...form) {
	s.mux.Handle("GET "+page+"{$}", s.page(show))
	for _, f := range forms {
		path := f.path
		if !strings.HasPrefix(path, "/") {
			path = page + path
		}
		s.mux.Handle("POST "+path+"{$}", s.formOf(page, f.handle, show))
	}
}

// wildcard matches a path pattern's {name} segments.
var wildcard = regexp.MustCompile(`\{([a-z]+)\}`)

func (s *Server) formOf(page string, h, show httperror.Handler) http.Handler {
	return s.crossOrigin.Handler(s.web.WithSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		code, msg := s.failed(w, r, err)
		switch code {
		case http.StatusBadRequest, http.StatusForbidden, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusTooManyRequests:
			path := wildcard.ReplaceAllStringFunc(page, func(m string) string {
				return url.PathEscape(r.PathValue(m[1 : len(m)-1]))
			})
			showErr := show(w, s.web.Refused(r, path, code, msg))
			if showErr == nil {
				return
			}
			s.logError(r, http.StatusInternalServerError, showErr)
		}
		s.web.RenderError(w, r, code, msg)
	})))
}

func (s *Server) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	s.log.Info("cross-origin request refused", "method", r.Method, "path", r.URL.Path,
		"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"))
	s.web.RenderError(w, r, http.StatusForbidden, "This request came from another site and was refused. "+
		"If you submitted a form here, reload the page and try again.")
}

// securityHeaders sets the headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	// The values are shared by every response: Set would allocate three slices per request, a sixth of what
	// serving a cached index page allocates. Handlers replace them with Set and never write into them.
	nosniff := []string{"nosniff"}
	referrer := []string{"strict-origin-when-cross-origin"}
	csp := []string{"default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["X-Content-Type-Options"] = nosniff
		h["Referrer-Policy"] = referrer
		h["Content-Security-Policy"] = csp
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
