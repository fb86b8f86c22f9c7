// Command seed loads a wharf database with PyPI's ~886,000 project names for the read-path benchmarks: each project
// gets the three wheels of the shared bench's static pages (versions 1.0, 1.1 and 2.0, with core metadata), written
// through the store in large transactions instead of 2.6 million uploads. The files have no bytes behind them:
// the simple pages, the root and the JSON API work; downloads and fsck do not.
//
//	go run ./bench/seed -database-url sqlite:/var/tmp/wharf-bench/wharf/wharf.db
//
// The database is migrated first. Projects already present are skipped, so an interrupted seed can be run again.
package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/blake2b"

	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// versions are the releases of every seeded project, as in the bench's gen-static.py.
var versions = []string{"1.0", "1.1", "2.0"}

// releaseKey is a version's key as the upload path stores it.
func releaseKey(version string) string {
	v, err := pypkg.ParseVersion(version)
	if err != nil {
		panic(err)
	}
	return v.ReleaseKey()
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "seed:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	dsn := fs.String("database-url", getenv("WHARF_DATABASE_URL"), "database to seed (default $WHARF_DATABASE_URL)")
	projects := fs.String("projects", defaultProjects(getenv), "gzip TSV of project names (name, download_rank)")
	batch := fs.Int("batch", 50000, "projects per transaction")
	limit := fs.Int("limit", 0, "seed at most this many projects (0: all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dsn == "" {
		return errors.New("no database: set -database-url or WHARF_DATABASE_URL")
	}
	if *batch < 1 {
		return errors.New("-batch must be at least 1")
	}
	f, err := os.Open(*projects)
	if err != nil {
		return err
	}
	defer f.Close()
	names, err := readNames(f, *limit)
	if err != nil {
		return fmt.Errorf("%s: %w", *projects, err)
	}

	db, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	start := time.Now()
	now := start.UTC()
	for i := 0; i < len(names); i += *batch {
		chunk := names[i:min(i+*batch, len(names))]
		var files []store.NewFile
		for _, n := range chunk {
			files = append(files, projectFiles(n, now)...)
		}
		if err := db.SeedFiles(ctx, files); err != nil {
			return err
		}
		fmt.Fprintf(out, "%d/%d projects (%.0f s)\n", i+len(chunk), len(names), time.Since(start).Seconds())
	}
	serial, err := db.LastSerial(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "seeded %d projects, %d files in %.0f s; last serial %d\n",
		len(names), len(names)*len(versions), time.Since(start).Seconds(), serial)
	return nil
}

// defaultProjects is the shared bench data, found from $PROJECTS_TSV as the bench scripts do, else next to them.
func defaultProjects(getenv func(string) string) string {
	if p := getenv("PROJECTS_TSV"); p != "" {
		return p
	}
	return filepath.Join("/work/shared/data", "pypi-projects.tsv.gz")
}

// name is a project to seed: its display name (the first spelling in the list) and normalised name.
type name struct {
	display, normalized string
}

// readNames reads the gzip TSV (header line, then name TAB download_rank) and keeps the first spelling of each
// normalised name, in file order.
func readNames(r io.Reader, limit int) ([]name, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(zr)
	seen := map[string]bool{}
	var out []name
	for first := true; sc.Scan(); first = false {
		if first {
			continue // the header
		}
		display, _, _ := strings.Cut(sc.Text(), "\t")
		n := pypkg.NormalizeName(display)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		out = append(out, name{display, n})
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, sc.Err()
}

func hexSHA256(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// projectFiles are the three wheels of a project, shaped like gen-static.py's: the sha256 of a file is that of
// its filename and the core-metadata hash that of "meta" + name + version, so every hash is distinct.
func projectFiles(n name, now time.Time) []store.NewFile {
	wheel := strings.ReplaceAll(n.normalized, "-", "_")
	files := make([]store.NewFile, len(versions))
	for i, v := range versions {
		fn := wheel + "-" + v + "-py3-none-any.whl"
		md := md5.Sum([]byte(fn))
		b2 := blake2b.Sum256([]byte(fn))
		files[i] = store.NewFile{
			ProjectName: n.display, NormalizedName: n.normalized, UltraName: pypkg.UltraNormalizeName(n.normalized),
			Version: v, CanonicalVersion: releaseKey(v), RequiresPython: ">=3.8",
			ReleaseMetadata: []byte(`{"summary":"Seeded for the wharf benchmarks","requires_python":">=3.8"}`),
			Filename:        fn, PackageType: "bdist_wheel", PythonVersion: "py3", Size: 1000 + int64(len(fn)),
			SHA256: hexSHA256(fn), MD5: hex.EncodeToString(md[:]), Blake2b256: hex.EncodeToString(b2[:]),
			MetadataSHA256: hexSHA256("meta" + n.normalized + v),
			Now:            now,
		}
	}
	return files
}
