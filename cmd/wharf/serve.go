package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"wharf/internal/accounts"
	"wharf/internal/adoption"
	"wharf/internal/audit"
	"wharf/internal/config"
	"wharf/internal/critical"
	"wharf/internal/disclosure"
	"wharf/internal/mandate"
	"wharf/internal/metrics"
	"wharf/internal/mfa"
	"wharf/internal/notify"
	"wharf/internal/orgs"
	"wharf/internal/policy"
	"wharf/internal/projects"
	"wharf/internal/publishing"
	"wharf/internal/pypkg"
	"wharf/internal/ratelimit"
	"wharf/internal/server"
	"wharf/internal/simple"
	"wharf/internal/tokens"
	"wharf/internal/upload"
	"wharf/internal/web"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfg, _, err := config.Load(fs, args, e.getenv)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	if cfg.BaseURLFromListen {
		cfg.BaseURL = baseURLFor(ln.Addr().(*net.TCPAddr))
	}
	a, err := open(ctx, cfg, cfg.Migrate)
	if err != nil {
		return err
	}
	defer a.Close()

	now := time.Now
	auditLog := audit.New(a.db, now, logger)
	downloads := critical.NewCounter(a.db, critical.CounterOptions{Now: now, Log: logger})
	index := simple.New(a.db, a.blobs, downloads, simple.Options{BaseURL: cfg.BaseURL, CacheBytes: cfg.CacheSize, Now: now, Log: logger})
	tokenService := tokens.NewService(a.minter, a.db, auditLog, now)
	limiter, closeLimiter, err := newLimiter(cfg, now)
	if err != nil {
		return err
	}
	defer closeLimiter()
	plan, err := mandateOf(cfg)
	if err != nil {
		return err
	}
	decisions := policy.New(a.db, policy.ReadOnly(cfg.ReadOnly), policy.BaseURL(cfg.BaseURL), policy.Audit(auditLog),
		policy.Mandated(plan, now), policy.CriticalRequiresKeys(cfg.CriticalRequireKeys),
		policy.CriticalRequiresTrustedPublishing(cfg.CriticalTrustedPublishingOnly))
	archive := pypkg.DefaultLimits()
	archive.MaxTotalSize = cfg.MaxUnpackedSize
	manager, err := projects.New(a.db, decisions, auditLog, index, a.key, now, projects.Options{})
	if err != nil {
		return err
	}
	mailer, err := newMailer(cfg, now, logger)
	if err != nil {
		return err
	}
	designator, err := newDesignator(cfg, a, auditLog, mailer, now, logger)
	if err != nil {
		return err
	}
	letters, err := notify.NewTemplates(cfg.SiteName, cfg.BaseURL)
	if err != nil {
		return err
	}
	reminder := mandate.NewReminder(a.db, decisions, mailer, letters, now, logger)
	publishers := newPublishing(cfg, a, decisions, auditLog, now)
	organizations := orgs.New(a.db, decisions, auditLog, index, now, orgs.Options{RequireApproval: cfg.OrgApproval})
	site, err := newSite(cfg, a, auditLog, tokenService, manager, publishers, organizations, decisions, designator, limiter, mailer, now, logger)
	if err != nil {
		return err
	}
	organizations.Notify(site)
	// The site mails the Owners of every publish, through its mail queue, off the upload's path.
	uploads := upload.New(a.db, a.blobs, tokenService, decisions, index, auditLog, upload.Options{Limiter: limiter,
		Rules: cfg.RateLimits, MaxFileSize: cfg.MaxFileSize, MaxProjectSize: cfg.MaxProjectSize, Archive: archive,
		ReadOnly: cfg.ReadOnly, BaseURL: cfg.BaseURL, Announcer: site,
	}, now, logger)
	tracker := adoption.New(a.db, now, logger)
	serverOpts := []server.Option{server.WithWeb(site), server.WithPublishing(publishers)}
	if cfg.Metrics {
		serverOpts = append(serverOpts, server.WithMetrics(metrics.Registry(tracker, now, logger)))
	}
	if cfg.DisclosureKeysURL != "" {
		keys := disclosure.NewKeys(cfg.DisclosureKeysURL, disclosure.KeysOptions{Now: now, Log: logger})
		serverOpts = append(serverOpts, server.WithDisclosure(disclosure.New(keys, tokenService, a.db, mailer, letters, logger)))
		logger.Info("leaked-token reports are taken at /_/secrets/disclose-token", "keys", cfg.DisclosureKeysURL)
	}
	srv := server.New(index, uploads, a.db, logger, serverOpts...)

	httpServer := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var background sync.WaitGroup
	background.Go(func() { index.Run(bgCtx) })
	background.Go(func() {
		designator.RunDaily(bgCtx, critical.Options{Percent: cfg.CriticalPercent, Window: cfg.CriticalWindow}, time.Hour, a.db.ClaimDay)
	})
	background.Go(func() { downloads.Run(bgCtx) })
	background.Go(func() { site.Run(bgCtx) })
	background.Go(func() { reminder.Run(bgCtx, time.Hour) })
	background.Go(func() { tracker.RunDaily(bgCtx, time.Hour, a.db.ClaimDay) })

	fmt.Fprintf(e.stdout, "wharf %s listening on http://%s (site %s, data in %s)\n", version, ln.Addr(), cfg.BaseURL, cfg.DataDir)
	logger.Info("listening", "addr", ln.Addr().String(), "database", a.db.Engine(), "storage", cfg.StorageURL)

	served := make(chan error, 1)
	go func() { served <- httpServer.Serve(ln) }()
	select {
	case err := <-served:
		stopBackground()
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = httpServer.Shutdown(shutdownCtx)
	// The background loops flush what they hold (download counts, queued mail) when they stop.
	stopBackground()
	background.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// baseURLFor is the public URL of a server that was given only its address, with the port the system chose for
// host:0. Browsers accept no IP address as a WebAuthn relying party, so a loopback address is named localhost:
// security keys and passkeys then work on a developer's machine as they do in production.
func baseURLFor(addr *net.TCPAddr) string {
	if addr.IP.IsLoopback() {
		return "http://localhost:" + strconv.Itoa(addr.Port)
	}
	return "http://" + addr.String()
}

// newLimiter keeps rate limits in Redis when WHARF_REDIS_URL is set, so that several instances share them, and in
// process otherwise. The returned func closes what it opened, once the server has stopped.
func newLimiter(cfg config.Config, now func() time.Time) (ratelimit.Limiter, func(), error) {
	if cfg.RedisURL == "" {
		return ratelimit.NewMemory(now, 0), func() {}, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, errors.New("WHARF_REDIS_URL: not a valid redis:// or rediss:// URL")
	}
	client := redis.NewClient(opts)
	return ratelimit.NewRedis(client, now, ""), func() { client.Close() }, nil
}

// newSite builds the pages and the account services behind them.
func newSite(cfg config.Config, a *app, auditLog *audit.Log, tokenService *tokens.Service, manager *projects.Manager,
	publishers *publishing.Service, organizations *orgs.Service, decisions *policy.Engine, designator *critical.Designator, limiter ratelimit.Limiter, mailer notify.Mailer, now func() time.Time,
	logger *slog.Logger) (*web.Site, error) {
	hasher := accounts.NewHasher(2, 8)
	totp, err := mfa.NewTOTP(a.db, a.key, cfg.SiteName, auditLog, now)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	var keys *mfa.WebAuthn
	if net.ParseIP(base.Hostname()) != nil {
		// Browsers accept only a domain as a relying party: keys and passkeys stay off rather than fail in them.
		logger.Warn("security keys and passkeys are off: WHARF_BASE_URL names an IP address, and WebAuthn needs a domain", "base_url", cfg.BaseURL)
	} else if keys, err = mfa.NewWebAuthn(a.db, mfa.WebAuthnConfig{RPID: base.Hostname(), Origin: base.Scheme + "://" + base.Host, RPName: cfg.SiteName}, auditLog, now); err != nil {
		return nil, err
	}
	return web.New(web.Deps{
		Store:    a.db,
		Users:    accounts.NewUsers(a.db, hasher, now, accounts.WithRecorder(auditLog)),
		Sessions: accounts.NewSessions(a.db, auditLog, now, accounts.SessionConfig{}),
		Tokens:   tokenService,
		Limiter:  limiter,
		Mailer:   mailer,
		Audit:    auditLog,
		Projects: manager,
		TOTP:     totp,
		Recovery: mfa.NewRecovery(a.db, auditLog, now),
		WebAuthn: keys,
		Factors:  mfa.NewFactors(a.db, decisions, auditLog),
		Policy:   decisions,
		Adoption: adoption.New(a.db, now, logger),
		Early:    mandate.NewEarly(a.db, auditLog, now),
		Critical: designator,

		Publishing: publishers,
		Orgs:       organizations,
	}, web.Options{BaseURL: cfg.BaseURL, SiteName: cfg.SiteName, ReadOnly: cfg.ReadOnly, Now: now, Log: logger,
		MinPasswordLength: hasher.MinLength, Rules: cfg.RateLimits})
}
