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
	web     *web.Site // nil serves no pages but a placeholder home
	log     *slog.Logger
	mux     *http.ServeMux
	// crossOrigin refuses state-changing browser requests that another site started. It lets through requests
	// that carry neither Origin nor Sec-Fetch-Site (non-browser clients, such as twine), which is why it guards
	// only the pages, and why the upload and index routes never read session cookies.
	crossOrigin *http.CrossOriginProtection

	metrics prometheus.Gatherer // what /metrics serves; nil leaves the route out
	// disclosure takes leaked-token reports from secret scanners; nil answers them 404.
	disclosure Discloser
	// minter exchanges CI jobs' OIDC tokens for upload tokens; nil answers that Trusted Publishing is off.
	minter Minter
}

// Option configures a Server.
type Option func(*Server)

// WithWeb serves the HTML pages and account flows of site.
func WithWeb(site *web.Site) Option { return func(s *Server) { s.web = site } }

// WithMetrics serves the metrics g gathers at /metrics, in Prometheus's text format.
func WithMetrics(g prometheus.Gatherer) Option { return func(s *Server) { s.metrics = g } }

// New builds the server and its routes.
func New(index Index, uploads Uploads, db Pinger, log *slog.Logger, opts ...Option) *Server {
	s := &Server{index: index, uploads: uploads, db: db, log: log, mux: http.NewServeMux(),
		crossOrigin: http.NewCrossOriginProtection()}
	for _, o := range opts {
		o(s)
	}
	s.crossOrigin.SetDenyHandler(http.HandlerFunc(s.crossOriginDenied))
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
	m.Handle("GET /{$}", s.page(w.Home))
	m.Handle("GET /search/{$}", s.page(w.Search))
	m.Handle("GET /project/{name}", s.handle(addSlash))
	m.Handle("GET /project/{name}/{$}", s.page(w.Project))
	m.Handle("GET /project/{name}/{version}/{$}", s.page(w.Release))
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

	m.Handle("GET /manage/account/{$}", s.page(w.Account))
	m.Handle("POST /manage/account/email/{$}", s.page(w.ChangeEmail))
	m.Handle("POST /manage/account/verify-email/{$}", s.page(w.ResendVerification))
	m.Handle("POST /manage/account/password/{$}", s.page(w.ChangePassword))
	m.Handle("POST /manage/account/sessions/end/{$}", s.page(w.EndSession))
	m.Handle("POST /manage/account/sessions/end-all/{$}", s.page(w.EndOtherSessions))
	m.Handle("GET /manage/account/totp/{$}", s.page(w.TOTPPage))
	m.Handle("POST /manage/account/totp/begin/{$}", s.page(w.BeginTOTP))
	m.Handle("POST /manage/account/totp/{$}", s.page(w.ConfirmTOTP))
	m.Handle("POST /manage/account/totp/remove/{$}", s.page(w.RemoveTOTP))
	m.Handle("POST /manage/account/totp/recovery/{$}", s.page(w.RegenerateRecovery))
	m.Handle("GET /manage/account/webauthn/{$}", s.page(w.KeysPage))
	m.Handle("POST /manage/account/webauthn/options/{$}", s.page(w.RegistrationOptions))
	m.Handle("POST /manage/account/webauthn/{$}", s.page(w.AddKey))
	m.Handle("POST /manage/account/webauthn/remove/{$}", s.page(w.RemoveKey))
	m.Handle("GET /manage/account/token/{$}", s.page(w.Tokens))
	m.Handle("POST /manage/account/token/{$}", s.page(w.CreateToken))
	m.Handle("POST /manage/account/token/revoke/{$}", s.page(w.RevokeToken))
	m.Handle("POST /manage/account/key-offer/{$}", s.page(w.ClaimKeyOffer))
	m.Handle("GET /manage/account/publishing/{$}", s.page(w.PendingPublishers))
	m.Handle("POST /manage/account/publishing/add/{$}", s.page(w.AddPendingPublisher))
	m.Handle("POST /manage/account/publishing/remove/{$}", s.page(w.RemovePendingPublisher))

	m.Handle("GET /manage/projects/{$}", s.page(w.MyProjects))
	m.Handle("POST /manage/projects/invitations/accept/{$}", s.page(w.AcceptInvitation))
	m.Handle("POST /manage/projects/invitations/decline/{$}", s.page(w.DeclineInvitation))
	m.Handle("GET /account/invitation/{$}", s.page(w.InvitationLink))
	m.Handle("POST /account/invitation/{$}", s.page(w.AcceptInvitationLink))
	m.Handle("GET /manage/project/{name}/collaboration/{$}", s.page(w.Collaboration))
	m.Handle("POST /manage/project/{name}/collaboration/invite/{$}", s.page(w.Invite))
	m.Handle("POST /manage/project/{name}/collaboration/role/{$}", s.page(w.ChangeRole))
	m.Handle("POST /manage/project/{name}/collaboration/remove/{$}", s.page(w.RemoveRole))
	m.Handle("POST /manage/project/{name}/collaboration/leave/{$}", s.page(w.LeaveProject))
	m.Handle("POST /manage/project/{name}/collaboration/transfer/{$}", s.page(w.TransferOwnership))
	m.Handle("POST /manage/project/{name}/collaboration/revoke/{$}", s.page(w.RevokeInvitation))
	m.Handle("POST /manage/project/{name}/collaboration/require-2fa/{$}", s.page(w.Require2FA))
	m.Handle("GET /manage/project/{name}/releases/{$}", s.page(w.Releases))
	m.Handle("POST /manage/project/{name}/releases/yank/{$}", s.page(w.Yank))
	m.Handle("POST /manage/project/{name}/releases/unyank/{$}", s.page(w.Unyank))
	m.Handle("POST /manage/project/{name}/releases/delete-file/{$}", s.page(w.DeleteFile))
	m.Handle("POST /manage/project/{name}/releases/delete-release/{$}", s.page(w.DeleteRelease))
	m.Handle("POST /manage/project/{name}/releases/approve/{$}", s.page(w.ApproveRelease))
	m.Handle("POST /manage/project/{name}/releases/discard/{$}", s.page(w.DiscardRelease))
	m.Handle("POST /manage/project/{name}/delete/{$}", s.page(w.DeleteProject))
	m.Handle("GET /manage/project/{name}/history/{$}", s.page(w.ProjectHistory))
	m.Handle("GET /manage/project/{name}/publishing/{$}", s.page(w.Publishing))
	m.Handle("POST /manage/project/{name}/publishing/add/{$}", s.page(w.AddPublisher))
	m.Handle("POST /manage/project/{name}/publishing/remove/{$}", s.page(w.RemovePublisher))
	m.Handle("POST /manage/project/{name}/publishing/trusted-only/{$}", s.page(w.TrustedPublishingOnly))
	m.Handle("POST /manage/project/{name}/publishing/staging/{$}", s.page(w.SetStaging))
	m.Handle("POST /manage/project/{name}/publishing/mail/{$}", s.page(w.PublishMail))

	m.Handle("GET /org/{name}/{$}", s.page(w.OrgProfile))
	m.Handle("GET /manage/organizations/{$}", s.page(w.MyOrganizations))
	m.Handle("POST /manage/organizations/create/{$}", s.page(w.CreateOrganization))
	m.Handle("POST /manage/organizations/answer/{$}", s.page(w.AnswerOrgInvitation))
	m.Handle("GET /manage/organization/{name}/{$}", s.page(w.ManageOrganization))
	m.Handle("GET /manage/organization/{name}/history/{$}", s.page(w.OrgHistory))
	m.Handle("POST /manage/organization/{name}/settings/{$}", s.page(w.OrgSettings))
	m.Handle("POST /manage/organization/{name}/invite/{$}", s.page(w.OrgInvite))
	m.Handle("POST /manage/organization/{name}/role/{$}", s.page(w.OrgChangeRole))
	m.Handle("POST /manage/organization/{name}/remove/{$}", s.page(w.OrgRemoveMember))
	m.Handle("POST /manage/organization/{name}/leave/{$}", s.page(w.OrgLeave))
	m.Handle("POST /manage/organization/{name}/teams/create/{$}", s.page(w.OrgCreateTeam))
	m.Handle("POST /manage/organization/{name}/teams/delete/{$}", s.page(w.OrgDeleteTeam))
	m.Handle("POST /manage/organization/{name}/teams/member/{$}", s.page(w.OrgTeamMember))
	m.Handle("POST /manage/organization/{name}/teams/grant/{$}", s.page(w.OrgTeamGrant))
	m.Handle("POST /manage/organization/{name}/projects/in/{$}", s.page(w.OrgMoveIn))
	m.Handle("POST /manage/organization/{name}/projects/out/{$}", s.page(w.OrgMoveOut))
	m.Handle("POST /manage/organization/{name}/publishers/add/{$}", s.page(w.OrgAddPublishers))
	m.Handle("POST /manage/organization/{name}/publishers/pending/{$}", s.page(w.OrgAddPendingPublisher))

	m.Handle("GET /admin/{$}", s.page(w.Admin))
	m.Handle("GET /admin/dashboard/{$}", s.page(w.Dashboard))
	m.Handle("POST /admin/users/disable/{$}", s.page(w.DisableUser))
	m.Handle("POST /admin/users/enable/{$}", s.page(w.EnableUser))
	m.Handle("POST /admin/names/{$}", s.page(w.ReserveName))
	m.Handle("POST /admin/organizations/approve/{$}", s.page(w.ApproveOrganization))
	m.Handle("GET /admin/policy/{$}", s.page(w.AdminPolicy))
	m.Handle("POST /admin/policy/early/{$}", s.page(w.EnforceEarly))
	m.Handle("POST /admin/policy/critical/{$}", s.page(w.CriticalProject))

	m.Handle("GET /", s.page(w.NotFound))
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

// page adapts a page handler: the origin check first, then the session, then the handler, whose errors become
// HTML pages through the same mapping as every other route.
func (s *Server) page(h httperror.Handler) http.Handler {
	return s.crossOrigin.Handler(s.web.WithSession(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		code, msg, hdr := status(err)
		s.logError(r, code, err)
		for k, v := range hdr {
			w.Header()[k] = v
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
