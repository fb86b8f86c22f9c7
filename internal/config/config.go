// Package config reads wharf's configuration once at start-up: defaults, then WHARF_* environment variables, then
// flags, validated before anything starts so a bad value stops the process with a message that names it.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"wharf/internal/blob"
	"wharf/internal/ratelimit"
)

// Config is everything the server and the CLI need from the environment.
type Config struct {
	Listen      string
	DataDir     string
	DatabaseURL string // sqlite:PATH or postgres://...
	StorageURL  string // file:PATH or s3://BUCKET?endpoint=...&region=...&prefix=...
	BaseURL     string
	// BaseURLFromListen says BaseURL was derived from Listen, so the server may correct it to the port it got.
	BaseURLFromListen bool
	SecretKey         []byte
	SecretKeyFile     string
	Migrate           bool // apply migrations when the server starts

	MaxFileSize    int64 // one uploaded file
	MaxProjectSize int64 // all files of one project
	// MaxUnpackedSize bounds the real inflated bytes of one uploaded archive (decompression bombs, U7).
	MaxUnpackedSize int64
	// PageLogSize bounds the disk the index's log of pages served takes (simple.Options.PageLogBytes).
	PageLogSize int64
	ReadOnly    bool
	// RateLimits are the limits on logins, second factors, mail and project creation (WHARF_RATE_LIMITS changes
	// them by name).
	RateLimits ratelimit.Rules
	// CriticalPercent of all projects, the most downloaded over CriticalWindow, are designated critical.
	CriticalPercent float64
	CriticalWindow  time.Duration
	// CriticalRequireKeys holds every critical project's collaborators to security keys or passkeys: an
	// authenticator app's codes can be phished.
	CriticalRequireKeys bool
	// CriticalTrustedPublishingOnly makes every critical project accept uploads only from its Trusted Publishers:
	// no user's API token, which can leak, publishes to it.
	CriticalTrustedPublishingOnly bool
	// Trusted Publishing: the audience the CI jobs' OIDC tokens must carry (default: the base URL's host, so a
	// token minted for another index is useless here), the issuer URL of each built-in kind of publisher ("off"
	// turns one off; a GitHub Enterprise Server or a self-managed GitLab has its own), and how long a pending
	// publisher holds the name of the project it will create.
	OIDCAudience                             string
	GitHubIssuer, GitLabIssuer, GoogleIssuer string
	PendingPublisherTTL                      time.Duration
	// OrgApproval makes a user's new organization wait for an administrator's approval (PyPI's way); by
	// default a user with a second factor creates one at once.
	OrgApproval bool
	// The global 2FA mandate: when its notice, restrict and enforce phases begin (zero: never), the actions the
	// restrict phase refuses (comma-separated policy action names; empty: the policy's default list), and the date
	// from which new accounts are under enforce at once.
	MandateNotice, MandateRestrict, MandateEnforce time.Time
	MandateRestricted                              string
	MandateEnforceAccountsFrom                     time.Time
	// MandateBrownouts are the windows (START/END, comma-separated) in which the enforce phase applies early.
	MandateBrownouts string
	// PolicyFile is a TOML file with the mandate and the critical projects' requirement; the settings above,
	// when set, win over it.
	PolicyFile string

	// ShutdownTimeout is how long a stopping server lets the requests in flight, uploads included, finish; what
	// is still running then is cut off.
	ShutdownTimeout time.Duration
	// Metrics serves the 2FA adoption figures and the process's metrics at /metrics, for Prometheus.
	Metrics bool
	// AccessLog writes one structured line per request to the log (stderr): method, path without its query, route,
	// status, bytes, duration, peer address and user agent; never a header, a cookie or a token.
	AccessLog bool

	// SMTPURL sends mail through a relay (smtp://, smtps:// or smtp+starttls://); empty writes it to the folder
	// outbox in DataDir.
	// It is read from the environment only, because it may hold a password and flags show in process lists.
	SMTPURL string
	// RedisURL shares rate limits between instances; empty keeps them in process.
	RedisURL string
	MailFrom string // the sender of every mail
	SiteName string // the name pages and mails call the index
	// DisclosureKeysURL is where the secret scanner's public signing keys are fetched (GitHub's is
	// https://api.github.com/meta/public_keys/secret_scanning); empty turns POST /_/secrets/disclose-token off (K9).
	DisclosureKeysURL string
}

// Defaults are what a new user gets with no configuration at all.
func Defaults() Config {
	return Config{
		Listen:          "127.0.0.1:8080",
		DataDir:         "./wharf-data",
		Migrate:         true,
		MaxFileSize:     100 << 20,
		MaxProjectSize:  10 << 30,
		MaxUnpackedSize: 512 << 20,
		PageLogSize:     4 << 30,
		RateLimits:      ratelimit.DefaultRules(),
		CriticalPercent: 1,
		CriticalWindow:  180 * 24 * time.Hour,
		GitHubIssuer:    "https://token.actions.githubusercontent.com",
		GitLabIssuer:    "https://gitlab.com",
		GoogleIssuer:    "https://accounts.google.com",
		// PyPI keeps a pending publisher until the name is taken; a bound keeps a forgotten one from holding a
		// name for ever.
		PendingPublisherTTL: 30 * 24 * time.Hour,
		ShutdownTimeout:     20 * time.Second,
		Metrics:             true,
		MailFrom:            "wharf <noreply@localhost>",
		SiteName:            "wharf",
	}
}

// Load builds the configuration for a subcommand from args and the environment (getenv), in the order
// defaults < environment < flags, and returns the positional arguments. Flags that the caller wants to add are
// registered on fs before Load parses it; flags may come before or after positional arguments.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, []string, error) {
	c := Defaults()
	var errs []error
	env := func(name string, apply func(string) error) {
		if v := getenv(name); v != "" {
			if err := apply(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	}
	str := func(dst *string) func(string) error { return func(v string) error { *dst = v; return nil } }
	env("WHARF_LISTEN", str(&c.Listen))
	env("WHARF_DATA_DIR", str(&c.DataDir))
	env("WHARF_DATABASE_URL", str(&c.DatabaseURL))
	env("WHARF_STORAGE_URL", str(&c.StorageURL))
	env("WHARF_BASE_URL", str(&c.BaseURL))
	env("WHARF_SECRET_KEY_FILE", str(&c.SecretKeyFile))
	env("WHARF_SECRET_KEY", func(v string) error { c.SecretKey = []byte(v); return nil })
	env("WHARF_MIGRATE", boolInto(&c.Migrate))
	env("WHARF_READ_ONLY", boolInto(&c.ReadOnly))
	env("WHARF_METRICS", boolInto(&c.Metrics))
	env("WHARF_ACCESS_LOG", boolInto(&c.AccessLog))
	env("WHARF_SHUTDOWN_TIMEOUT", durationInto(&c.ShutdownTimeout))
	env("WHARF_MAX_FILE_SIZE", sizeInto(&c.MaxFileSize))
	env("WHARF_MAX_PROJECT_SIZE", sizeInto(&c.MaxProjectSize))
	env("WHARF_MAX_UNPACKED_SIZE", sizeInto(&c.MaxUnpackedSize))
	env("WHARF_PAGE_LOG_SIZE", sizeInto(&c.PageLogSize))
	env("WHARF_RATE_LIMITS", c.RateLimits.Set)
	env("WHARF_CRITICAL_PERCENT", floatInto(&c.CriticalPercent))
	env("WHARF_CRITICAL_WINDOW", daysInto(&c.CriticalWindow))
	env("WHARF_CRITICAL_REQUIRE_KEYS", boolInto(&c.CriticalRequireKeys))
	env("WHARF_CRITICAL_TRUSTED_PUBLISHING_ONLY", boolInto(&c.CriticalTrustedPublishingOnly))
	env("WHARF_OIDC_AUDIENCE", str(&c.OIDCAudience))
	env("WHARF_OIDC_GITHUB_ISSUER", str(&c.GitHubIssuer))
	env("WHARF_OIDC_GITLAB_ISSUER", str(&c.GitLabIssuer))
	env("WHARF_OIDC_GOOGLE_ISSUER", str(&c.GoogleIssuer))
	env("WHARF_PENDING_PUBLISHER_TTL", daysInto(&c.PendingPublisherTTL))
	env("WHARF_ORG_APPROVAL", boolInto(&c.OrgApproval))
	env("WHARF_MANDATE_NOTICE", dateInto(&c.MandateNotice))
	env("WHARF_MANDATE_RESTRICT", dateInto(&c.MandateRestrict))
	env("WHARF_MANDATE_ENFORCE", dateInto(&c.MandateEnforce))
	env("WHARF_MANDATE_RESTRICTED", str(&c.MandateRestricted))
	env("WHARF_MANDATE_ENFORCE_ACCOUNTS_FROM", dateInto(&c.MandateEnforceAccountsFrom))
	env("WHARF_MANDATE_BROWNOUTS", str(&c.MandateBrownouts))
	env("WHARF_POLICY_FILE", str(&c.PolicyFile))
	env("WHARF_SMTP_URL", str(&c.SMTPURL))
	env("WHARF_REDIS_URL", str(&c.RedisURL))
	env("WHARF_MAIL_FROM", str(&c.MailFrom))
	env("WHARF_SITE_NAME", str(&c.SiteName))
	env("WHARF_DISCLOSURE_KEYS_URL", str(&c.DisclosureKeysURL))
	if len(errs) > 0 {
		return c, nil, errors.Join(errs...)
	}

	fs.StringVar(&c.Listen, "listen", c.Listen, "address to listen on (WHARF_LISTEN)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "data directory (WHARF_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", c.DatabaseURL, "sqlite:PATH or postgres://... (WHARF_DATABASE_URL)")
	fs.StringVar(&c.StorageURL, "storage-url", c.StorageURL, "file:PATH or s3://[KEY:SECRET@]BUCKET?endpoint=URL&region=R&prefix=P (WHARF_STORAGE_URL)")
	fs.StringVar(&c.BaseURL, "base-url", c.BaseURL, "public URL of this index (WHARF_BASE_URL)")
	fs.BoolVar(&c.Migrate, "migrate", c.Migrate, "apply database migrations on start (WHARF_MIGRATE)")
	fs.BoolVar(&c.ReadOnly, "read-only", c.ReadOnly, "refuse every write (WHARF_READ_ONLY)")
	fs.BoolVar(&c.Metrics, "metrics", c.Metrics, "serve Prometheus metrics at /metrics (WHARF_METRICS)")
	fs.BoolVar(&c.AccessLog, "access-log", c.AccessLog, "log one line per request to stderr (WHARF_ACCESS_LOG)")
	fs.Func("shutdown-timeout", "how long requests in flight may finish when the server stops, e.g. 20s (WHARF_SHUTDOWN_TIMEOUT)", durationInto(&c.ShutdownTimeout))
	fs.Func("max-file-size", "largest accepted upload, e.g. 100MiB (WHARF_MAX_FILE_SIZE)", sizeInto(&c.MaxFileSize))
	fs.StringVar(&c.RedisURL, "redis-url", c.RedisURL, "redis://... to share rate limits between instances (WHARF_REDIS_URL)")
	fs.StringVar(&c.MailFrom, "mail-from", c.MailFrom, "sender address of mail (WHARF_MAIL_FROM)")
	fs.StringVar(&c.SiteName, "site-name", c.SiteName, "name of this index in pages and mail (WHARF_SITE_NAME)")
	fs.StringVar(&c.DisclosureKeysURL, "disclosure-keys-url", c.DisclosureKeysURL, "URL of the secret scanner's public keys; turns on leaked-token reports (WHARF_DISCLOSURE_KEYS_URL)")
	fs.Func("max-project-size", "largest total size of one project (WHARF_MAX_PROJECT_SIZE)", sizeInto(&c.MaxProjectSize))
	fs.Func("max-unpacked-size", "largest unpacked size of one uploaded archive, e.g. 512MiB (WHARF_MAX_UNPACKED_SIZE)", sizeInto(&c.MaxUnpackedSize))
	fs.Func("page-log-size", "most disk the log of pages served takes, e.g. 4GiB (WHARF_PAGE_LOG_SIZE)", sizeInto(&c.PageLogSize))
	fs.Func("critical-percent", "share of projects, by downloads, designated critical, e.g. 1 (WHARF_CRITICAL_PERCENT)", floatInto(&c.CriticalPercent))
	fs.Func("critical-window", "the downloads that count for critical projects, e.g. 180d (WHARF_CRITICAL_WINDOW)", daysInto(&c.CriticalWindow))
	fs.BoolVar(&c.CriticalRequireKeys, "critical-require-keys", c.CriticalRequireKeys, "require security keys or passkeys, not authenticator apps, of critical projects' collaborators (WHARF_CRITICAL_REQUIRE_KEYS)")
	fs.BoolVar(&c.CriticalTrustedPublishingOnly, "critical-trusted-publishing-only", c.CriticalTrustedPublishingOnly, "accept uploads to critical projects only from their Trusted Publishers (WHARF_CRITICAL_TRUSTED_PUBLISHING_ONLY)")
	fs.BoolVar(&c.OrgApproval, "org-approval", c.OrgApproval, "new organizations wait for an administrator's approval (WHARF_ORG_APPROVAL)")
	fs.StringVar(&c.OIDCAudience, "oidc-audience", c.OIDCAudience, "the audience of Trusted Publishing's OIDC tokens; default: the base URL's host (WHARF_OIDC_AUDIENCE)")
	fs.Func("mandate-notice", "when the 2FA mandate's notice phase begins, e.g. 2027-01-01 (WHARF_MANDATE_NOTICE)", dateInto(&c.MandateNotice))
	fs.Func("mandate-restrict", "when its restrict phase begins (WHARF_MANDATE_RESTRICT)", dateInto(&c.MandateRestrict))
	fs.Func("mandate-enforce", "when its enforce phase begins (WHARF_MANDATE_ENFORCE)", dateInto(&c.MandateEnforce))
	fs.StringVar(&c.MandateRestricted, "mandate-restricted", c.MandateRestricted, "actions the restrict phase refuses, e.g. create-project,manage-roles,create-token (WHARF_MANDATE_RESTRICTED)")
	fs.StringVar(&c.MandateBrownouts, "mandate-brownouts", c.MandateBrownouts, "windows in which enforce applies early, START/END,... (WHARF_MANDATE_BROWNOUTS)")
	fs.StringVar(&c.PolicyFile, "policy-file", c.PolicyFile, "TOML file with the mandate and critical settings (WHARF_POLICY_FILE)")
	fs.Func("mandate-enforce-accounts-from", "accounts created from this date are under enforce at once (WHARF_MANDATE_ENFORCE_ACCOUNTS_FROM)", dateInto(&c.MandateEnforceAccountsFrom))
	fs.Func("rate-limits", "change rate limits by name, e.g. project-create-user=200/1h,login-ip=30/5m (WHARF_RATE_LIMITS)", c.RateLimits.Set)
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return c, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if c.PolicyFile != "" {
		if err := c.applyPolicyFile(c.PolicyFile); err != nil {
			return c, nil, err
		}
	}
	return c, positional, c.resolve()
}

// resolve fills the values derived from the data directory and validates the whole.
func (c *Config) resolve() error {
	if c.DataDir == "" {
		return errors.New("WHARF_DATA_DIR: must not be empty")
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = "sqlite:" + filepath.Join(c.DataDir, "wharf.db")
	}
	if c.StorageURL == "" {
		c.StorageURL = "file:" + filepath.Join(c.DataDir, "files")
	}
	if c.SecretKeyFile == "" && len(c.SecretKey) == 0 {
		c.SecretKeyFile = filepath.Join(c.DataDir, "secret.key")
	}
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return fmt.Errorf("WHARF_LISTEN: %q is not host:port: %w", c.Listen, err)
	}
	if !strings.HasPrefix(c.DatabaseURL, "sqlite:") && !strings.HasPrefix(c.DatabaseURL, "postgres://") &&
		!strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return fmt.Errorf("WHARF_DATABASE_URL: %q must start with sqlite: or postgres://", c.DatabaseURL)
	}
	if err := CheckStorageURL(c.StorageURL); err != nil {
		return fmt.Errorf("WHARF_STORAGE_URL: %w", err)
	}
	if c.BaseURL == "" {
		c.BaseURL, c.BaseURLFromListen = "http://"+c.Listen, true
	}
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("WHARF_BASE_URL: %q must be an absolute http(s) URL", c.BaseURL)
	}
	c.BaseURL = strings.TrimSuffix(c.BaseURL, "/")
	if c.MaxFileSize <= 0 || c.MaxProjectSize < c.MaxFileSize {
		return errors.New("WHARF_MAX_FILE_SIZE / WHARF_MAX_PROJECT_SIZE: the file limit must be positive and at most the project limit")
	}
	if c.MaxUnpackedSize <= 0 {
		return errors.New("WHARF_MAX_UNPACKED_SIZE: must be positive")
	}
	// The most is simple.MaxPageLogBytes: the ring of the log's segments is numbered in 12 bits.
	if c.PageLogSize < 1<<20 || c.PageLogSize > 128<<30 {
		return errors.New("WHARF_PAGE_LOG_SIZE: must be at least 1MiB and at most 128GiB")
	}
	if !(c.CriticalPercent > 0 && c.CriticalPercent <= 100) {
		return fmt.Errorf("WHARF_CRITICAL_PERCENT: %v must be above 0 and at most 100", c.CriticalPercent)
	}
	if c.CriticalWindow < 24*time.Hour {
		return errors.New("WHARF_CRITICAL_WINDOW: must be at least a day (1d)")
	}
	if a, err := mail.ParseAddress(c.MailFrom); err != nil || strings.ContainsAny(c.MailFrom, "\r\n") {
		return fmt.Errorf("WHARF_MAIL_FROM: %q is not a mail address", c.MailFrom)
	} else if a.Address == "" {
		return fmt.Errorf("WHARF_MAIL_FROM: %q has no address", c.MailFrom)
	}
	if strings.TrimSpace(c.SiteName) == "" || len(c.SiteName) > 100 || strings.ContainsFunc(c.SiteName, unicode.IsControl) {
		return errors.New("WHARF_SITE_NAME: must be 1-100 characters without control characters")
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return errors.New("WHARF_REDIS_URL: must be redis://HOST:PORT/DB or rediss://HOST:PORT/DB")
		}
	}
	if c.SMTPURL != "" {
		if u, err := url.Parse(c.SMTPURL); err != nil || u.Host == "" {
			// The URL may hold a password: never repeat it.
			return errors.New("WHARF_SMTP_URL: not a valid URL (expected smtp://, smtps:// or smtp+starttls://HOST:PORT)")
		}
	}
	for name, issuer := range map[string]*string{"WHARF_OIDC_GITHUB_ISSUER": &c.GitHubIssuer,
		"WHARF_OIDC_GITLAB_ISSUER": &c.GitLabIssuer, "WHARF_OIDC_GOOGLE_ISSUER": &c.GoogleIssuer} {
		if *issuer == "off" {
			*issuer = ""
		}
		if err := CheckIssuerURL(*issuer); *issuer != "" && err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if c.PendingPublisherTTL < 24*time.Hour {
		return errors.New("WHARF_PENDING_PUBLISHER_TTL: must be at least a day (1d)")
	}
	if c.DisclosureKeysURL != "" && !keysURL(c.DisclosureKeysURL) {
		// The value is not repeated: a URL with a password in it is one of the refusals.
		return errors.New("WHARF_DISCLOSURE_KEYS_URL: must be an https:// URL without credentials (http:// only on a loopback address)")
	}
	if len(c.SecretKey) > 0 && len(c.SecretKey) < 32 {
		return errors.New("WHARF_SECRET_KEY: must be at least 32 bytes")
	}
	return nil
}

// CheckIssuerURL accepts the URL of an OIDC issuer: https, or http on a loopback address (a CI system on the same
// machine, and tests), without a query or fragment, since the URL is compared with tokens' iss exactly.
func CheckIssuerURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return fmt.Errorf("%q is not an issuer URL such as https://ci.example.org", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("%q must use https (http only on a loopback address)", raw)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// keysURL says whether u may serve the secret scanner's signing keys: they decide whose reports revoke tokens, so
// they come over TLS, or, in tests, from the machine itself.
func keysURL(u string) bool {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" || p.User != nil || p.Fragment != "" {
		return false
	}
	switch p.Scheme {
	case "https":
		return true
	case "http":
		host := p.Hostname()
		ip := net.ParseIP(host)
		return host == "localhost" || ip != nil && ip.IsLoopback()
	}
	return false
}

// CheckStorageURL says what is wrong with a storage URL: file:PATH, or s3://BUCKET with its settings.
func CheckStorageURL(u string) error {
	switch {
	case strings.HasPrefix(u, "s3:"):
		_, err := blob.ParseS3URL(u)
		return err
	case strings.HasPrefix(u, "file:") && len(u) > len("file:"):
		return nil
	}
	return fmt.Errorf("%q must be file:PATH or s3://BUCKET", u)
}

// StoragePath is the directory of a file: storage URL.
func (c Config) StoragePath() string { return strings.TrimPrefix(c.StorageURL, "file:") }

// S3 returns the bucket of an s3:// storage URL, with uploads staged in the data directory before they are put;
// ok is false for a file: URL.
func (c Config) S3() (o blob.S3Options, ok bool) {
	if !strings.HasPrefix(c.StorageURL, "s3:") {
		return blob.S3Options{}, false
	}
	o, _ = blob.ParseS3URL(c.StorageURL) // resolve checked it
	o.StagingDir = filepath.Join(c.DataDir, "staging")
	return o, true
}

// LoadSecretKey returns the configured key, or reads the key file, creating it with a fresh random key when it does
// not exist yet so that a first start needs no setup.
func (c *Config) LoadSecretKey() ([]byte, error) {
	if len(c.SecretKey) > 0 {
		return c.SecretKey, nil
	}
	b, err := os.ReadFile(c.SecretKeyFile)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(c.SecretKeyFile), 0o700); err != nil {
			return nil, fmt.Errorf("create secret key: %w", err)
		}
		key := make([]byte, 32)
		if _, err := io.ReadFull(rand.Reader, key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(c.SecretKeyFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return c.LoadSecretKey() // another process created it first
		}
		if err != nil {
			return nil, fmt.Errorf("create secret key: %w", err)
		}
		_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("write secret key: %w", err)
		}
		c.SecretKey = key
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("WHARF_SECRET_KEY_FILE: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if key, err := hex.DecodeString(s); err == nil && len(key) >= 32 {
		c.SecretKey = key
		return key, nil
	}
	if len(s) < 32 {
		return nil, fmt.Errorf("WHARF_SECRET_KEY_FILE: %s holds fewer than 32 bytes", c.SecretKeyFile)
	}
	c.SecretKey = []byte(s)
	return c.SecretKey, nil
}

func boolInto(dst *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not a boolean", v)
		}
		*dst = b
		return nil
	}
}

// ParseSize reads sizes such as "100MiB", "2GB", "512" (bytes).
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}

// dateInto reads a day ("2027-01-01", midnight UTC) or an RFC 3339 time.
func dateInto(dst *time.Time) func(string) error {
	return func(v string) error {
		v = strings.TrimSpace(v)
		if d, err := time.Parse(time.DateOnly, v); err == nil {
			*dst = d
			return nil
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fmt.Errorf("%q is not a date such as 2027-01-01 or 2027-01-01T12:00:00Z", v)
		}
		*dst = t.UTC()
		return nil
	}
}

func floatInto(dst *float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		*dst = f
		return nil
	}
}

// ParseDays reads a duration in days ("180d") or as Go writes durations ("4320h").
func ParseDays(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, fmt.Errorf("%q is not a number of days", v)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration such as 180d", v)
	}
	return d, nil
}

// durationInto reads a positive duration as Go writes them ("20s", "2m").
func durationInto(dst *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d <= 0 {
			return fmt.Errorf("%q is not a duration such as 20s", v)
		}
		*dst = d
		return nil
	}
}

func daysInto(dst *time.Duration) func(string) error {
	return func(v string) error {
		d, err := ParseDays(v)
		if err == nil {
			*dst = d
		}
		return err
	}
}

func sizeInto(dst *int64) func(string) error {
	return func(v string) error {
		n, err := ParseSize(v)
		if err != nil {
			return err
		}
		*dst = n
		return nil
	}
}
