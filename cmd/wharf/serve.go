package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"wharf/internal/accounts"
	"wharf/internal/adoption"
	"wharf/internal/audit"
	"wharf/internal/blob"
	"wharf/internal/config"
	"wharf/internal/critical"
	"wharf/internal/daily"
	"wharf/internal/disclosure"
	"wharf/internal/front"
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
	server.TuneGC()
	// The records of the start wait until the greeting is out: on a terminal, the address comes first.
	stderr := &heldWriter{w: e.stderr, held: &bytes.Buffer{}}
	defer stderr.release()
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
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
	// The index's files (the root, the pages served) go in the data folder, not in /tmp, which may be memory
	// (tmpfs). What an earlier process left there may predate changes made since.
	rootDir := filepath.Join(cfg.DataDir, "index")
	leftovers, err := emptyFolder(rootDir)
	if err != nil {
		return err
	}
	go func() {
		if err := os.RemoveAll(leftovers); err != nil {
			logger.Warn("could not remove the index's files of an earlier run", "folder", leftovers, "err", err)
		}
	}()
	// Prometheus's registry, when metrics are served: the file store's failures are counted from the start.
	var reg *prometheus.Registry
	blobs := a.blobs
	if cfg.Metrics {
		reg = prometheus.NewRegistry()
		blobs = metrics.CountBlobErrors(reg, blobs)
	}
	// With redirect=true in an S3 storage URL, downloads go to the bucket by a signed link.
	var links blob.Linker
	if o, ok := cfg.S3(); ok && o.Redirect {
		links, _ = a.blobs.(blob.Linker)
	}
	index := simple.New(a.db, blobs, downloads, simple.Options{BaseURL: cfg.BaseURL, Now: now,
		Log: logger, Dir: rootDir, Links: links, PageLogBytes: cfg.PageLogSize})
	tokenService := tokens.NewService(a.minter, a.db, auditLog, now, tokens.BaseURL(cfg.BaseURL))
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
	hello, err := greeting(cfg, ln.Addr().(*net.TCPAddr), mailer)
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
	uploads := upload.New(a.db, blobs, tokenService, decisions, index, auditLog, upload.Options{Limiter: limiter,
		Rules: cfg.RateLimits, MaxFileSize: cfg.MaxFileSize, MaxProjectSize: cfg.MaxProjectSize, Archive: archive,
		ReadOnly: cfg.ReadOnly, BaseURL: cfg.BaseURL, Announcer: site,
	}, now, logger)
	tracker := adoption.New(a.db, now, logger)
	serverOpts := []server.Option{server.WithWeb(site), server.WithPublishing(publishers), server.WithBaseURL(cfg.BaseURL),
		server.WithStorage(a.blobs)}
	if reg != nil {
		metrics.Register(reg, tracker, now, logger)
		metrics.Operations(reg, index.FileStats, a.db.Pools())
		serverOpts = append(serverOpts, server.WithMetrics(reg))
	}
	if cfg.AccessLog {
		serverOpts = append(serverOpts, server.WithAccessLog(logger))
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
		a.db.ListenJournal(bgCtx, index.Changed, func(err error) { logger.Warn("journal notifications", "err", err) })
	})
	jobs := daily.New(a.db, daily.Options{Now: now, Log: logger})
	background.Go(func() {
		jobs.Run(bgCtx, critical.Job, designator.DailyRecompute(critical.Options{Percent: cfg.CriticalPercent, Window: cfg.CriticalWindow}))
	})
	background.Go(func() { downloads.Run(bgCtx) })
	background.Go(func() { site.Run(bgCtx) })
	background.Go(func() { reminder.Run(bgCtx, time.Hour) })
	background.Go(func() { jobs.Run(bgCtx, adoption.Job, tracker.DailySnapshot) })

	io.WriteString(e.stdout, hello)
	stderr.release()
	logger.Info("listening", "addr", ln.Addr().String(), "base_url", cfg.BaseURL, "database", a.db.Engine(), "storage", redacted(cfg.StorageURL))

	// The read API's requests are served on front's loop; net/http gets every other connection.
	door := front.New(httpServer, server.ReadPath, logger)
	served := make(chan error, 1)
	go func() { served <- door.Serve(ln) }()
	select {
	case err := <-served:
		stopBackground()
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = door.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("the requests still running after WHARF_SHUTDOWN_TIMEOUT (%s) were cut off: %w", cfg.ShutdownTimeout, err)
	}
	// The background loops flush what they hold (download counts, queued mail) when they stop.
	stopBackground()
	background.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// heldWriter keeps what is written to it until release, then writes it out and passes everything through.
type heldWriter struct {
	mu   sync.Mutex
	w    io.Writer
	held *bytes.Buffer // nil once released
}

func (h *heldWriter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held != nil {
		return h.held.Write(p)
	}
	return h.w.Write(p)
}

func (h *heldWriter) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.held != nil {
		h.w.Write(h.held.Bytes())
		h.held = nil
	}
}

// greeting is what the person who started the server reads on stdout: the one address to open and what to do
// next, in sentences; the logs go to stderr. The address is the base URL: browsers, pip and twine all reach it, and
// security keys and passkeys work only under its name. The commands it shows are the ones that work with this
// server's data.
func greeting(cfg config.Config, listen *net.TCPAddr, mailer notify.Mailer) (string, error) {
	base, err := url.Parse(cfg.BaseURL)
	if err != nil {
		return "", err
	}
	w := &strings.Builder{}
	site := cfg.BaseURL + "/"
	fmt.Fprintf(w, "wharf %s is running at %s\n", version, site)
	if !leadsTo(base, listen) {
		fmt.Fprintf(w, "  Listening on %s (plain HTTP): WHARF_BASE_URL says the address above leads here.\n", listen)
	}

	dir := absolute(cfg.DataDir)
	ownDatabase := cfg.DatabaseURL == "sqlite:"+filepath.Join(cfg.DataDir, "wharf.db")
	files := absolute(cfg.StoragePath())
	if o, ok := cfg.S3(); ok {
		files = fmt.Sprintf("the S3 bucket %s", o.Bucket)
		if o.Prefix != "" {
			files += " under " + o.Prefix
		}
		if o.Endpoint != "" {
			files += " at " + o.Endpoint
		}
	}
	if ownDatabase && cfg.StorageURL == "file:"+filepath.Join(cfg.DataDir, "files") {
		fmt.Fprintf(w, "  Data: %s (SQLite database and files)\n", dir)
	} else {
		fmt.Fprintf(w, "  Data: %s; files in %s; database %s\n", dir, files, redacted(cfg.DatabaseURL))
	}
	if out, ok := mailer.(*notify.Outbox); ok {
		fmt.Fprintf(w, "  Mail: not sent; each message is a file in %s (set WHARF_SMTP_URL to send it)\n", absolute(out.Dir()))
	} else {
		fmt.Fprintf(w, "  Mail: sent through %s\n", mailer)
	}

	// The commands must open this server's data: they are given its data directory unless it is the default, and
	// told of its database when that is elsewhere, by name, since the URL may hold a password.
	flags := ""
	if cfg.DataDir != config.Defaults().DataDir {
		flags = " --data-dir " + shellQuote(dir)
	}
	how := "the password is read from standard input"
	if !ownDatabase {
		how = "with this server's WHARF_DATABASE_URL set; " + how
	}
	fmt.Fprintf(w, "  Next: register on the site at %saccount/register/ , or create the first administrator\n", site)
	fmt.Fprintf(w, "        (%s):\n", how)
	fmt.Fprintf(w, "        wharf user create NAME --email ADDRESS%s && wharf user admin NAME%s\n", flags, flags)
	fmt.Fprintf(w, "  Upload with twine:  twine upload --repository-url %slegacy/ -u __token__ dist/*\n", site)
	fmt.Fprintf(w, "                      (the password is an API token: make one on the site, or wharf token create --user NAME%s)\n", flags)
	trust := ""
	if base.Scheme == "http" && !isLoopback(base.Hostname()) {
		// pip refuses plain HTTP from any host but this machine unless told to trust it.
		trust = " --trusted-host " + base.Hostname()
	}
	fmt.Fprintf(w, "  Install with pip:   pip install --index-url %ssimple/%s NAME\n", site, trust)
	return w.String(), nil
}

// leadsTo reports whether the base URL reaches the listener without a proxy: plain HTTP on its port, under its
// address, a name of this machine for a loopback address, or any name for a listener on every address.
func leadsTo(base *url.URL, listen *net.TCPAddr) bool {
	port := base.Port()
	if port == "" {
		port = "80"
	}
	if base.Scheme != "http" || port != strconv.Itoa(listen.Port) {
		return false
	}
	host := base.Hostname()
	return listen.IP.IsUnspecified() || listen.IP.Equal(net.ParseIP(host)) || (listen.IP.IsLoopback() && isLoopback(host))
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return strings.EqualFold(host, "localhost") || (ip != nil && ip.IsLoopback())
}

func absolute(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// redacted is a database or storage URL without its password (or secret key), for the greeting and the log.
func redacted(rawURL string) string {
	if u, err := url.Parse(rawURL); err == nil && u.User != nil {
		return u.Redacted()
	}
	return rawURL
}

// shellQuote quotes a path for a POSIX shell when it holds anything but the characters that need no quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./:@%+=,-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
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

// emptyFolder makes dir a new, empty folder. What was there (up to a file per page of the index, millions at PyPI's
// size) is moved aside, with what a run stopped while removing such leftovers left, into the folder it returns, for
// the caller to remove in the background: a restart does not wait for it.
func emptyFolder(dir string) (leftovers string, err error) {
	parent, base := filepath.Split(dir)
	leftovers = filepath.Join(parent, "."+base+".old")
	if err := os.MkdirAll(leftovers, 0o700); err != nil {
		return "", err
	}
	aside := filepath.Join(leftovers, strconv.FormatInt(time.Now().UnixNano(), 10))
	if err := os.Rename(dir, aside); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	return leftovers, os.Mkdir(dir, 0o700)
}
