// Package storetest opens real, migrated, throwaway databases for tests on both engines, and holds the
// conformance suite that every engine must pass.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"wharf/internal/store"
)

// Engine opens a fresh, migrated database of one engine for a test.
type Engine struct {
	Name string
	Open func(t testing.TB) *store.DB
	// URL creates a fresh, empty database and returns its URL, for tests that start the real server on it.
	URL func(t testing.TB) string
}

// Engines lists SQLite and, when WHARF_TEST_POSTGRES is set (or WHARF_TEST_REQUIRE says it must be), PostgreSQL.
func Engines(t testing.TB) []Engine {
	engines := []Engine{{Name: "sqlite", Open: OpenSQLite, URL: SQLiteURL}}
	if postgresBase(t) != "" {
		engines = append(engines, Engine{Name: "postgres", Open: OpenPostgres, URL: PostgresURL})
	}
	return engines
}

// Required reports whether tests must not skip for a missing service or client (set in CI by the test command).
func Required() bool { return os.Getenv("WHARF_TEST_REQUIRE") == "1" }

func postgresBase(t testing.TB) string {
	base := os.Getenv("WHARF_TEST_POSTGRES")
	if base == "" && Required() {
		t.Fatal("WHARF_TEST_POSTGRES is not set but WHARF_TEST_REQUIRE=1: PostgreSQL tests must run")
	}
	return base
}

// SQLiteURL returns the URL of a new SQLite file in the test's temporary directory.
func SQLiteURL(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "wharf.db")
}

// OpenSQLite opens and migrates a new SQLite database.
func OpenSQLite(t testing.TB) *store.DB { return openMigrated(t, SQLiteURL(t)) }

// PostgresURL creates a throwaway database on the server named by WHARF_TEST_POSTGRES and drops it after the test.
func PostgresURL(t testing.TB) string {
	base := postgresBase(t)
	if base == "" {
		t.Skip("WHARF_TEST_POSTGRES not set")
	}
	ctx := context.Background()
	admin, err := store.Open(ctx, base)
	if err != nil {
		if Required() {
			t.Fatalf("PostgreSQL at WHARF_TEST_POSTGRES: %v", err)
		}
		t.Skipf("PostgreSQL unavailable: %v", err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "wharf_test_" + hex.EncodeToString(b)
	if err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// OpenPostgres opens and migrates a throwaway PostgreSQL database.
func OpenPostgres(t testing.TB) *store.DB { return openMigrated(t, PostgresURL(t)) }

func openMigrated(t testing.TB, dsn string) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

// MustUser creates a user with a verified address (name@example.com) for a test.
func MustUser(t testing.TB, db *store.DB, name string) store.User {
	t.Helper()
	u := MustUnverifiedUser(t, db, name)
	if err := db.SetEmailVerified(context.Background(), u.ID, u.Email, time.Unix(1, 0)); err != nil {
		t.Fatalf("verify %s: %v", name, err)
	}
	return u
}

// MustUnverifiedUser creates a user who has not verified the address name@example.com.
func MustUnverifiedUser(t testing.TB, db *store.DB, name string) store.User {
	t.Helper()
	u, err := db.CreateUser(context.Background(), store.User{Username: name, Email: name + "@example.com", PasswordHash: "x"})
	if err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
	return u
}
