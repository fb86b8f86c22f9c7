package main

import (
	"context"
	"fmt"
	"log/slog"
	neturl "net/url"
	"os"
	"path/filepath"
	"time"

	"wharf/internal/audit"
	"wharf/internal/blob"
	"wharf/internal/config"
	"wharf/internal/critical"
	"wharf/internal/notify"
	"wharf/internal/policy"
	"wharf/internal/publishing"
	"wharf/internal/store"
	"wharf/internal/tokens"
)

// app is the state every command opens: configuration, database, blob store and keys.
type app struct {
	cfg    config.Config
	db     *store.DB
	blobs  blob.Store
	key    []byte // the server secret: signs API tokens and invitation links
	minter *tokens.Minter
}

// open prepares the data directory and connects to everything the configuration names.
func open(ctx context.Context, cfg config.Config, migrate bool) (*app, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if migrate {
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	blobs, err := openBlobs(ctx, cfg)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("blob storage: %w", err)
	}
	key, err := cfg.LoadSecretKey()
	if err != nil {
		db.Close()
		return nil, err
	}
	minter, err := tokens.NewMinter(key)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &app{cfg: cfg, db: db, blobs: blobs, key: key, minter: minter}, nil
}

func (a *app) Close() error { return a.db.Close() }

// newMailer sends mail through SMTP when WHARF_SMTP_URL is set and writes it into <data-dir>/outbox otherwise.
func newMailer(cfg config.Config, now func() time.Time, logger *slog.Logger) (notify.Mailer, error) {
	if cfg.SMTPURL != "" {
		m, err := notify.NewSMTP(cfg.SMTPURL, cfg.MailFrom)
		if err != nil {
			return nil, err
		}
		logger.Info("mail goes through SMTP", "relay", m.String())
		return m, nil
	}
	dir := filepath.Join(cfg.DataDir, "outbox")
	m, err := notify.NewOutbox(dir, cfg.MailFrom, now)
	if err != nil {
		return nil, err
	}
	logger.Info("mail goes to the outbox folder (set WHARF_SMTP_URL to send it)", "dir", dir)
	return m, nil
}

// newDesignator builds the critical-project designation, which mails the collaborators of each new one.
func newDesignator(cfg config.Config, a *app, rec critical.Recorder, mailer notify.Mailer, now func() time.Time, logger *slog.Logger) (*critical.Designator, error) {
	letters, err := notify.NewTemplates(cfg.SiteName, cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	return critical.NewDesignator(a.db, rec, mailer, letters, now, logger), nil
}

// mandateOf is the global 2FA mandate the configuration sets.
func mandateOf(cfg config.Config) (policy.Mandate, error) {
	m := policy.Mandate{Notice: cfg.MandateNotice, Restrict: cfg.MandateRestrict, Enforce: cfg.MandateEnforce,
		Restricted: policy.DefaultRestricted, EnforceAccountsFrom: cfg.MandateEnforceAccountsFrom}
	if cfg.MandateRestricted != "" {
		acts, err := policy.ParseActions(cfg.MandateRestricted)
		if err != nil {
			return policy.Mandate{}, fmt.Errorf("WHARF_MANDATE_RESTRICTED: %w", err)
		}
		m.Restricted = acts
	}
	brownouts, err := policy.ParseWindows(cfg.MandateBrownouts)
	if err != nil {
		return policy.Mandate{}, fmt.Errorf("WHARF_MANDATE_BROWNOUTS: %w", err)
	}
	m.Brownouts = brownouts
	if err := m.Validate(); err != nil {
		return policy.Mandate{}, fmt.Errorf("WHARF_MANDATE_NOTICE / _RESTRICT / _ENFORCE: %w", err)
	}
	return m, nil
}

// newPublishing builds Trusted Publishing: the built-in issuers the configuration keeps, and the audience, which
// is the base URL's host unless configured (after serve has settled the base URL's port).
func newPublishing(cfg config.Config, a *app, decisions *policy.Engine, log *audit.Log, now func() time.Time) *publishing.Service {
	builtin := map[string]string{}
	for url, kind := range map[string]string{cfg.GitHubIssuer: publishing.GitHub, cfg.GitLabIssuer: publishing.GitLab,
		cfg.GoogleIssuer: publishing.Google} {
		if url != "" {
			builtin[url] = kind
		}
	}
	audience := cfg.OIDCAudience
	if audience == "" {
		if u, err := neturl.Parse(cfg.BaseURL); err == nil {
			audience = u.Host
		}
	}
	return publishing.New(a.db, decisions, a.minter, log, now, publishing.Options{Audience: audience, Builtin: builtin,
		PendingTTL: cfg.PendingPublisherTTL})
}

// openBlobs opens the file store the storage URL names: a local directory, or an S3 bucket.
func openBlobs(ctx context.Context, cfg config.Config) (blob.Store, error) {
	if o, ok := cfg.S3(); ok {
		return blob.NewS3(ctx, o)
	}
	return blob.NewDisk(cfg.StoragePath())
}
