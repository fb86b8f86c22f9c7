package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"wharf/internal/audit"
	"wharf/internal/config"
	"wharf/internal/critical"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/server"
	"wharf/internal/simple"
	"wharf/internal/tokens"
	"wharf/internal/upload"
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
		cfg.BaseURL = "http://" + ln.Addr().String() // the port the system chose for --listen host:0
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
	uploads := upload.New(a.db, a.blobs, tokenService, policy.New(a.db), index, auditLog, upload.Options{
		MaxFileSize: cfg.MaxFileSize, MaxProjectSize: cfg.MaxProjectSize, Archive: pypkg.DefaultLimits(), ReadOnly: cfg.ReadOnly,
	}, now, logger)
	srv := server.New(index, uploads, a.db, logger)

	httpServer := &http.Server{
		Handler:           srv.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	background := make(chan struct{}, 2)
	go func() { index.Run(bgCtx); background <- struct{}{} }()
	go func() { downloads.Run(bgCtx); background <- struct{}{} }()

	fmt.Fprintf(e.stdout, "wharf %s listening on http://%s (data in %s)\n", version, ln.Addr(), cfg.DataDir)
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
	// The background loops flush what they hold (download counts) when they stop.
	stopBackground()
	<-background
	<-background
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
