package main

import (
	"context"
	"fmt"
	"os"

	"wharf/internal/blob"
	"wharf/internal/config"
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
	blobs, err := blob.NewDisk(cfg.StoragePath())
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
