// Package store holds all of wharf's SQL. The same statements run on SQLite (the embedded default) and PostgreSQL;
// only the DDL in migrations/ differs between the engines.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Sentinel errors; callers test them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// Engine names the SQL engine behind a DB.
type Engine string

const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

//go:embed migrations
var migrations embed.FS

// DB is the store: one handle for both engines.
type DB struct {
	sql    *sql.DB
	engine Engine
	// reads serves the read API's hot queries (prepared): a pool of its own, as small as the CPUs allow.
	reads *sql.DB
	stmts sync.Map // query -> *sql.Stmt on reads, for the statements of the read hot path
	// documents are the JSON API's document queries, written for the engine.
	documents documentQueries
}

type stmtQuerier interface {
	QueryContext(ctx context.Context, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, args ...any) *sql.Row
}

// prepared returns a prepared statement for a hot query. Parsing is a large share of a small query's cost on
// SQLite; database/sql keeps one prepared copy per connection. Should preparing fail (say, before migration), the
// statement is prepared again on the next call rather than remembered broken.
func (db *DB) prepared(ctx context.Context, query string) stmtQuerier {
	if st, ok := db.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	st, err := db.reads.PrepareContext(ctx, query)
	if err != nil {
		return unprepared{db.reads, query}
	}
	if prev, loaded := db.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	return st
}

type unprepared struct {
	db    *sql.DB
	query string
}

func (u unprepared) QueryContext(ctx context.Context, args ...any) (*sql.Rows, error) {
	return u.db.QueryContext(ctx, u.query, args...)
}

func (u unprepared) QueryRowContext(ctx context.Context, args ...any) *sql.Row {
	return u.db.QueryRowContext(ctx, u.query, args...)
}

// Open connects to "sqlite:PATH" or "postgres://...". It does not migrate.
func Open(ctx context.Context, dsn string) (*DB, error) {
	var db *DB
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("open store: %w", err)
			}
		}
		// Pragmas are per connection, so they go in the DSN. Immediate transactions take the write lock up front:
		// with deferred ones, concurrent writers fail with SQLITE_BUSY instead of waiting.
		q := url.Values{}
		// No mmap: each connection of the pool maps the file on its own, so a large database's pages counted in the
		// server's RSS once per connection (5 GB of a 7 GB peak with the bench's 2.3 GB database), for a tenth of
		// the CPU of a page-cache miss. 8 MiB of page cache a connection holds the interior pages of the simple
		// pages' table and the project names' index at PyPI's size, so that reading a page reads little more than
		// its leaf. The driver's SQLite is built with SQLITE_ENABLE_MEMORY_MANAGEMENT, so the connections' caches
		// are one least-recently-used list as long as their sizes together: a connection that reads past its
		// share (the fill's scan) takes the idle ones' pages, and one left with none may then keep none until the
		// other is closed (bench/README.md, "SQLite's page caches are one").
		for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(FULL)",
			"mmap_size(0)", "cache_size(-8192)"} {
			q.Add("_pragma", p)
		}
		// The read API's queries get a pool of their own, of one connection per CPU (at least two, at most eight).
		// Reads are CPU work once the file is in the operating system's cache, so more connections than CPUs
		// only split the hot pages among more private caches: with two instead of eight on one CPU, a Zipf mix at
		// 128 connections served a fifth more, and under the JSON API's Zipf mix the server's RSS fell from 298 to
		// 205 MB (bench/README.md). In their own pool, they never wait behind writers that hold connections
		// through a commit's fsync.
		readQ := maps.Clone(q)
		readQ.Add("_pragma", "query_only(1)")
		q.Set("_txlock", "immediate")
		conn, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		conn.SetMaxOpenConns(8)
		conn.SetMaxIdleConns(8)
		reads, err := openReadPool("sqlite", "file:"+path+"?"+readQ.Encode())
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
		db = &DB{sql: conn, reads: reads, engine: SQLite, documents: newDocumentQueries(SQLite)}
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		conn, err := sql.Open("pgx", dsn)
		if err != nil {
			return nil, fmt.Errorf("open store: %w", err)
		}
		conn.SetMaxOpenConns(32)
		conn.SetMaxIdleConns(16)
		conn.SetConnMaxIdleTime(5 * time.Minute)
		// The read API's queries get a small pool of their own here too. Each connection is a server process:
		// with 32 of them busy on the machine's two cores, a Zipf mix served 5.7k requests a second with a p99 of
		// 750 ms, mostly the kernel switching between them; with two, 23.8k and 12 ms (bench/README.md).
		reads, err := openReadPool("pgx", dsn)
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("open store: %w", err)
		}
		reads.SetConnMaxIdleTime(5 * time.Minute)
		db = &DB{sql: conn, reads: reads, engine: Postgres, documents: newDocumentQueries(Postgres)}
	default:
		return nil, fmt.Errorf("open store: unsupported database URL %q", dsn)
	}
	if err := db.sql.PingContext(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("open store: %w", err)
	}
	return db, nil
}

// openReadPool opens the pool of the read API's prepared queries: one connection per CPU, at least two, at most
// eight (see Open for why so few).
func openReadPool(driver, dsn string) (*sql.DB, error) {
	reads, err := sql.Open(driver, dsn)
	if err != nil {
		return nil, err
	}
	n := min(8, max(2, runtime.GOMAXPROCS(0)))
	reads.SetMaxOpenConns(n)
	reads.SetMaxIdleConns(n)
	return reads, nil
}

// Engine reports which SQL engine is behind db.
func (db *DB) Engine() Engine { return db.engine }

// Close releases the connections.
func (db *DB) Close() error {
	db.stmts.Range(func(_, st any) bool { st.(*sql.Stmt).Close(); return true })
	if db.reads != db.sql {
		db.reads.Close()
	}
	return db.sql.Close()
}

// Ping checks that the database answers, for health checks.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

// Pools returns the connection pools by name, for their statistics: "main" for everything but the read API's
// queries, which have "reads".
func (db *DB) Pools() map[string]*sql.DB {
	return map[string]*sql.DB{"main": db.sql, "reads": db.reads}
}

// Migrate applies every migration newer than the database's version, each in its own transaction.
func (db *DB) Migrate(ctx context.Context) error { return db.migrate(ctx, math.MaxInt) }

// afterMigration holds the steps a migration needs that SQL cannot do, by version. Each runs right after its
// migration's SQL, in the same transaction, so that the version is recorded only once both are done.
var afterMigration = map[int]func(context.Context, *sql.Tx, Engine) error{
	6: rekeyUsers,
	// 22 made simple_pages and 23 the documents' tables: pages and documents are rendered together, once both exist.
	23: renderAllPages,
}

// migrate applies the migrations newer than the database's version, up to and including version upTo.
func (db *DB) migrate(ctx context.Context, upTo int) error {
	// Under the lock too: PostgreSQL's CREATE TABLE IF NOT EXISTS is not safe against itself, and servers starting
	// together on a new database would fail on its catalogue's unique index.
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	dir := "migrations/" + string(db.engine)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	for _, e := range entries {
		version, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migrate: bad migration name %s", e.Name())
		}
		if version > upTo {
			break
		}
		body, err := fs.ReadFile(migrations, dir+"/"+e.Name())
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		err = db.tx(ctx, func(tx *sql.Tx) error {
			if err := db.lockMigrations(ctx, tx); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("%s: %w", e.Name(), err)
			}
			if step := afterMigration[version]; step != nil {
				if err := step(ctx, tx, db.engine); err != nil {
					return fmt.Errorf("%s: %w", e.Name(), err)
				}
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
				version, micros(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	return nil
}

// lockMigrations makes tx the only migrating transaction on PostgreSQL until it ends: several servers may start at
// once, and the first migrates while the others wait and then see it done. (SQLite's writers take turns anyway.)
func (db *DB) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if db.engine != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7275726166)`)
	return err
}

// tx runs fn in a transaction and commits it when fn returns nil.
func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// isUniqueViolation tells a lost race on a unique key from any other failure, on both engines.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// Exec runs one administrative statement (tests create and drop databases with it).
func (db *DB) Exec(ctx context.Context, stmt string) error {
	_, err := db.sql.ExecContext(ctx, stmt)
	return err
}
