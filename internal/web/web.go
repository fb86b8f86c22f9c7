// Package web is wharf's HTML interface: the pages people browse (home, search, projects, releases, profiles) and
// the account flows (registration with a verified address, login and logout, re-authentication, password reset,
// the account and API-token pages, administration). Pages are rendered on the server from embedded templates and
// work without JavaScript: only security keys need it, and copy buttons appear when it runs.
//
// Handlers translate HTTP into calls of accounts, tokens and the store and return errors that internal/server maps
// to responses; the rules themselves (passwords, sessions, links, token caveats) live in those packages. What this
// package adds is what only HTTP has: cookies, CSRF tokens in forms, rate limits keyed by address and IP, and the
// decision of which response reveals what.
package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/audit"
	"wharf/internal/mandate"
	"wharf/internal/mfa"
	"wharf/internal/notify"
	"wharf/internal/orgs"
	"wharf/internal/policy"
	"wharf/internal/projects"
	"wharf/internal/publishing"
	"wharf/internal/ratelimit"
	"wharf/internal/store"
	"wharf/internal/tokens"
)

// Store is what the pages read and the few writes that belong to no domain service; *store.DB satisfies it.
type Store interface {
	AccountByID(ctx context.Context, id int64) (store.Account, error)
	AccountByName(ctx context.Context, username string) (store.Account, error)
	CriticalNames(ctx context.Context) ([]store.CriticalName, error)
	ProjectIndex(ctx context.Context, normalized string) (store.ProjectIndex, error)
	ReleaseMetadata(ctx context.Context, releaseID int64) ([]byte, error)
	Collaborators(ctx context.Context, projectID int64) ([]store.Collaborator, error)
	UploaderCounts(ctx context.Context, projectID int64) (uploaders, withSecondFactor int, err error)
	SearchProjects(ctx context.Context, q store.SearchQuery) (store.SearchResult, error)
	RecentProjects(ctx context.Context, limit int) ([]store.ProjectSummary, error)
	ProjectsOfUser(ctx context.Context, userID int64) ([]store.ProjectSummary, error)
	Stats(ctx context.Context) (store.IndexStats, error)
	Events(ctx context.Context, userID, projectID int64, limit int) ([]store.Event, error)
	TokensForUser(ctx context.Context, userID int64) ([]store.Token, error)
	ReserveName(ctx context.Context, normalized, reason string, now time.Time) error
	ReservedNames(ctx context.Context, limit int) ([]store.ReservedName, error)
	// The administrators' lists (admin.go).
	AdminAccounts(ctx context.Context, q store.ListQuery) (store.ListPage[store.AdminAccount], error)
	AdminProjects(ctx context.Context, q store.ListQuery) (store.ListPage[store.AdminProject], error)
	UnreserveName(ctx context.Context, normalized string) (bool, error)
	ProjectByName(ctx context.Context, normalized string) (store.Project, error)
	ProjectProtection(ctx context.Context, projectID int64) (store.Protection, error)
	// Trusted Publishing (publishing.go): the registered issuers.
	Issuers(ctx context.Context) ([]store.Issuer, error)
	// The release page (browse.go): who uploaded a release's files, with which token or Trusted Publisher.
	ReleaseUploads(ctx context.Context, releaseID int64) (map[string]store.Upload, error)
	// Reports of projects (report.go): the administrators to mail, and the reports they read.
	AdminAddresses(ctx context.Context) ([]string, error)
	EventsOfKind(ctx context.Context, kind string, before int64, limit int) ([]store.Event, error)
	// The security-key offer (offer.go).
	CriticalProjectsOf(ctx context.Context, userID int64) ([]string, error)
	PromoCodeOf(ctx context.Context, userID int64) (store.PromoCode, error)
	ClaimPromoCode(ctx context.Context, userID int64, now time.Time) (store.PromoCode, bool, error)
	PromoCounts(ctx context.Context) (store.PromoCounts, error)
	// The organizations' public pages (orgs.go): what an organization holds.
	OrgProjects(ctx context.Context, orgID int64) ([]store.Project, error)
	// The RSS feeds (rss.go).
	LatestReleases(ctx context.Context, limit int) ([]store.FeedRelease, error)
	LatestReleasesOf(ctx context.Context, normalized string, limit int) (store.Project, []store.FeedRelease, error)
	NewestProjects(ctx context.Context, limit int) ([]store.ProjectSummary, error)
}

// Decider is the policy engine; *policy.Engine satisfies it.
type Decider interface {
	Decide(ctx context.Context, actor policy.Actor, action policy.Action, target policy.Target) error
	// Offers is Decide without a record in the history, for choosing which forms a page shows.
	Offers(ctx context.Context, actor policy.Actor, action policy.Action, target policy.Target) error
	MandateFor(ctx context.Context, actor policy.Actor) (policy.MandateStatus, error)
	// RequiresKeys says whether a project is held to security keys and passkeys.
	RequiresKeys(prot store.Protection) bool
	// TrustedPublishingOnly says whether a project takes uploads only from its Trusted Publishers.
	TrustedPublishingOnly(prot store.Protection) bool
}

// Deps are the services the pages call.
type Deps struct {
	Store    Store
	Users    *accounts.Users
	Sessions *accounts.Sessions
	Tokens   *tokens.Service
	Limiter  ratelimit.Limiter
	Mailer   notify.Mailer
	Audit    *audit.Log
	// Policy decides who may do what; every page that changes something, or shows what only some may see, asks it.
	Policy Decider
	// Projects serves the management pages; nil leaves them out (they answer 404).
	Projects *projects.Manager
	// Publishing serves the Trusted Publishing pages; nil leaves them out (they answer 404).
	Publishing *publishing.Service
	// Orgs serves the organizations' pages; nil leaves them out (they answer 404).
	Orgs *orgs.Service
	// TOTP and Recovery serve the second factors; nil leaves them out (their pages answer 404 and login needs
	// only the password).
	TOTP     *mfa.TOTP
	Recovery *mfa.Recovery
	// WebAuthn serves security keys and passkeys and Factors removes factors under the policy; both go with TOTP.
	WebAuthn *mfa.WebAuthn
	Factors  *mfa.Factors
	// Adoption serves the administrators' 2FA adoption dashboard; nil leaves it out (it answers 404).
	Adoption Adoption
	// Early and Critical serve the administrators' two-factor policy page; nil leaves it out (it answers 404).
	Early    *mandate.Early
	Critical CriticalAdmin
}

// Options configure a Site.
type Options struct {
	BaseURL  string // the public URL (WHARF_BASE_URL), for mailed links and the cookie's security
	SiteName string
	ReadOnly bool
	Now      func() time.Time // default time.Now
	Log      *slog.Logger     // default slog.Default()
	// SudoWindow is how long a re-authentication unlocks sensitive actions (default 30 minutes, S8).
	SudoWindow time.Duration
	// MinPasswordLength is the accounts' floor (accounts.Hasher.MinLength), shown in the forms; default 8.
	MinPasswordLength int
	// Rules are the rate limits the pages apply; the zero value means ratelimit.DefaultRules.
	Rules ratelimit.Rules
}

// Site serves the pages. Build it with New and keep Run running for its mail.
type Site struct {
	db       Store
	users    *accounts.Users
	sessions *accounts.Sessions
	tokens   *tokens.Service
	limiter  ratelimit.Limiter
	rules    ratelimit.Rules
	policy   Decider
	audit    *audit.Log
	projects *projects.Manager
	publish  *publishing.Service
	orgs     *orgs.Service
	totp     *mfa.TOTP
	recovery *mfa.Recovery
	webauthn *mfa.WebAuthn
	factors  *mfa.Factors
	early    *mandate.Early
	critical CriticalAdmin
	adoption Adoption
	letters  *notify.Templates
	mail     *mailQueue

	baseURL     string
	siteName    string
	readOnly    bool
	now         func() time.Time
	log         *slog.Logger
	sudoWindow  time.Duration
	minPassword int

	cookieName   string
	cookieSecure bool

	pages       pages
	description *describer
	statsCache  statsCache
}

// New checks the options and builds the site. It logs a warning when the session cookie cannot be marked Secure.
func New(d Deps, o Options) (*Site, error) {
	if d.Store == nil || d.Users == nil || d.Sessions == nil || d.Tokens == nil || d.Limiter == nil || d.Mailer == nil || d.Audit == nil || d.Policy == nil {
		return nil, errors.New("web: every dependency is required")
	}
	if (d.TOTP == nil) != (d.Recovery == nil) || (d.TOTP == nil) != (d.Factors == nil) || (d.WebAuthn != nil && d.TOTP == nil) {
		return nil, errors.New("web: TOTP, Recovery and Factors go together, and WebAuthn needs them")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.SudoWindow <= 0 {
		o.SudoWindow = accounts.DefaultSudoWindow
	}
	if o.MinPasswordLength <= 0 {
		o.MinPasswordLength = 8
	}
	if o.Rules == (ratelimit.Rules{}) {
		o.Rules = ratelimit.DefaultRules()
	}
	if o.SiteName == "" {
		o.SiteName = "wharf"
	}
	base, err := url.Parse(o.BaseURL)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		return nil, fmt.Errorf("web: base URL %q must be an absolute http(s) URL", o.BaseURL)
	}
	letters, err := notify.NewTemplates(o.SiteName, o.BaseURL)
	if err != nil {
		return nil, err
	}
	pg, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Site{
		db: d.Store, users: d.Users, sessions: d.Sessions, tokens: d.Tokens, limiter: d.Limiter, rules: o.Rules, policy: d.Policy, audit: d.Audit, projects: d.Projects, publish: d.Publishing, orgs: d.Orgs,
		totp: d.TOTP, recovery: d.Recovery, webauthn: d.WebAuthn, factors: d.Factors, early: d.Early, critical: d.Critical, adoption: d.Adoption,
		letters: letters, mail: newMailQueue(d.Mailer, o.Log),
		baseURL: strings.TrimSuffix(o.BaseURL, "/"), siteName: o.SiteName, readOnly: o.ReadOnly,
		now: o.Now, log: o.Log, sudoWindow: o.SudoWindow, minPassword: o.MinPasswordLength,
		pages: pg, description: newDescriber(),
	}
	s.cookieName, s.cookieSecure = cookieFor(base)
	if !s.cookieSecure {
		o.Log.Warn("the session cookie is sent without Secure because WHARF_BASE_URL is plain http on a host other "+
			"than localhost: anyone on the network path can steal sessions. Serve wharf over https.",
			"base_url", o.BaseURL, "cookie", s.cookieName)
	}
	return s, nil
}

// cookieFor picks the session cookie. The __Host- prefix makes browsers refuse the cookie unless it is Secure,
// host-only and for the whole site, so a sibling subdomain cannot plant or shadow it; browsers treat localhost as
// a secure context, so it works there without TLS. A plain-http deployment on another host cannot use it.
func cookieFor(base *url.URL) (name string, secure bool) {
	h := base.Hostname()
	if base.Scheme == "https" || h == "localhost" || h == "127.0.0.1" || h == "::1" {
		return "__Host-wharf_session", true
	}
	return "wharf_session", false
}

// Run sends queued mail and prunes dead sessions until ctx ends; then it sends what is still queued.
func (s *Site) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() { s.mail.run(ctx); close(done) }()
	tick := time.NewTicker(10 * time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			<-done
			return
		case <-tick.C:
			if _, err := s.sessions.Prune(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("pruning sessions", "err", err)
			}
		}
	}
}

// WaitMail returns once every mail queued so far was handed to the mailer (or failed). Tests use it to read the
// outbox; Run must be running.
func (s *Site) WaitMail() { s.mail.wait() }

// offer asks the policy whether to show the form of action on project (with what target says of the change):
// true shows it (a missing confirmation is asked for when the form is posted); a refusal's reason is returned to
// show in its place.
func (s *Site) offer(ctx context.Context, actor policy.Actor, action policy.Action, project store.Project, target policy.Target) (bool, string, error) {
	target.Project, target.Name = &project, project.NormalizedName
	return offered(s.policy.Offers(ctx, actor, action, target))
}

// offered reads the policy's answer to Offers: a form shows when it is nil or only a confirmation is missing;
// otherwise the refusal's reason shows in its place.
func offered(err error) (bool, string, error) {
	var denied *policy.Denied
	switch {
	case err == nil || errors.Is(err, policy.ErrReauthRequired):
		return true, "", nil
	case errors.As(err, &denied):
		return false, denied.Reason, nil
	}
	return false, "", err
}
