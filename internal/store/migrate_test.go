package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// openAt opens a fresh database of engine e migrated up to version only, as an older release left it.
func openAt(t *testing.T, e storetest.Engine, version int) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, e.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.MigrateTo(ctx, version); err != nil {
		t.Fatal(err)
	}
	return db
}

// insertUsers writes rows as release 5 did, with the keys it computed (lower()), bypassing today's CreateUser.
func insertUsers(t *testing.T, db *store.DB, rows ...[2]string) {
	t.Helper()
	for _, r := range rows {
		name, email := r[0], r[1]
		stmt := `INSERT INTO users (username, username_key, email, password_hash, created_at) VALUES ('` +
			name + `', lower('` + name + `'), '` + email + `', 'h', 0)`
		if err := db.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("insert %s: %v", name, err)
		}
	}
}

// TestMigrationKeysAddresses checks migration 0006 on rows written before it: every address ends up under
// ident.Key, non-ASCII ones included (which lower() alone would leave wrong), and two addresses that the key makes
// one stop the migration, with nothing applied, until an administrator changes one.
func TestMigrationKeysAddresses(t *testing.T) {
	ctx := context.Background()
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			db := openAt(t, e, 5)
			insertUsers(t, db, [2]string{"Kim", "Kim@Example.com"}, [2]string{"jorg", "JÖRG@Example.com"},
				[2]string{"ann", "ＡＮＮ@example.com"}, [2]string{"ＢＯＢ", "bob@example.com"})
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct{ name, email string }{
				{"Kim", "kim@example.com"}, {"jorg", "jörg@EXAMPLE.com"}, {"ann", "ann@example.com"}, {"ＢＯＢ", "BOB@example.com"},
			} {
				a, err := db.AccountByEmail(ctx, tc.email)
				if err != nil || a.Username != tc.name {
					t.Errorf("AccountByEmail(%q) = %q, %v; want %s", tc.email, a.Username, err, tc.name)
				}
				if b, err := db.AccountByName(ctx, strings.ToUpper(tc.name)); err != nil || b.ID != a.ID {
					t.Errorf("AccountByName(%q) = %d, %v; want %d", strings.ToUpper(tc.name), b.ID, err, a.ID)
				}
			}
			if _, err := db.CreateUser(ctx, store.User{Username: "ann2", Email: "Ann@example.com", PasswordHash: "h"}); !errors.Is(err, store.ErrConflict) {
				t.Errorf("registering ann's address after the migration: got %v, want ErrConflict", err)
			}
		})
		t.Run(e.Name+"/collision", func(t *testing.T) {
			db := openAt(t, e, 5)
			insertUsers(t, db, [2]string{"ann", "ann@example.com"}, [2]string{"ann2", "ＡＮＮ@example.com"})
			err := db.Migrate(ctx)
			if err == nil || !strings.Contains(err.Error(), "accounts 1 and 2 have email addresses that are the same") {
				t.Fatalf("Migrate = %v; want it to stop and name accounts 1 and 2", err)
			}
			// Nothing of 0006 stayed: once the address is changed, the whole migration runs again from the start.
			if err := db.Exec(ctx, `UPDATE users SET email = 'ann2@example.com' WHERE id = 2`); err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatalf("Migrate after the fix: %v", err)
			}
			if a, err := db.AccountByEmail(ctx, "ANN2@example.com"); err != nil || a.ID != 2 {
				t.Errorf("AccountByEmail after the fix = %d, %v; want 2", a.ID, err)
			}
		})
	}
}

// TestMigrationRendersDocuments checks migration 0023 on a project written before it: its pages and JSON API
// documents are rendered by the migration, so an index upgraded in place serves them at once.
func TestMigrationRendersDocuments(t *testing.T) {
	ctx := context.Background()
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			db := openAt(t, e, 22)
			for _, stmt := range []string{
				`INSERT INTO projects (name, normalized_name, ultranormalized_name, created_at, last_serial)
					VALUES ('Old_Pkg', 'old-pkg', 'oldpkg', 0, 7)`,
				`INSERT INTO releases (project_id, version, canonical_version, metadata, created_at)
					SELECT id, '1.0', '1', '{"summary":"from before"}', 0 FROM projects`,
				`INSERT INTO files (release_id, project_id, filename, packagetype, python_version, size, sha256, md5,
					blake2_256, uploaded_at) SELECT id, project_id, 'old_pkg-1.0.tar.gz', 'sdist', 'source', 10,
					'` + strings.Repeat("a", 64) + `', 'm', 'b', 0 FROM releases`,
			} {
				if err := db.Exec(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if _, gz, err := db.SimplePage(ctx, "old-pkg", false); err != nil || len(gz) == 0 {
				t.Errorf("page after the migration: %d bytes, %v", len(gz), err)
			}
			d, err := db.ProjectDocument(ctx, "old-pkg")
			if err != nil || d.Serial != 7 || !strings.Contains(string(d.Body), `"summary":"from before"`) {
				t.Errorf("project document after the migration: serial %d, %v:\n%s", d.Serial, err, d.Body)
			}
			if d, err := db.ReleaseDocument(ctx, "old-pkg", "1.0.0", "1"); err != nil || d.ReleaseID == 0 {
				t.Errorf("release document after the migration: release %d, %v", d.ReleaseID, err)
			}
		})
	}
}

// TestConcurrentMigrations: servers started at the same moment on a new database migrate it once between them,
// and none fails (PostgreSQL's CREATE TABLE IF NOT EXISTS races itself without the lock).
func TestConcurrentMigrations(t *testing.T) {
	ctx := context.Background()
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			url := e.URL(t)
			var dbs []*store.DB
			for range 4 {
				db, err := store.Open(ctx, url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				dbs = append(dbs, db)
			}
			var wg sync.WaitGroup
			for _, db := range dbs {
				wg.Go(func() {
					if err := db.Migrate(ctx); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if _, err := dbs[0].LastSerial(ctx); err != nil {
				t.Errorf("the migrated database: %v", err)
			}
		})
	}
}
