// Command apidocs writes PyPI's JSON API documents of a seeded wharf database as static files, so that nginx can
// serve the same bytes beside wharf (bench/compare.sh's api and api-release scenarios), and the request mixes for
// them: every project named in the shared bench's Zipf mix gets pypi/NAME/json and pypi/NAME/1.1/json under the
// docroot, and the mixes are the Zipf samples, the hot project and every such project once, as paths relative to
// /pypi/.
//
//	go run ./bench/apidocs -database-url sqlite:$BENCH_DATA/wharf/wharf.db -static $BENCH_DATA/static
//
// The documents come from wharf's own handler, in process.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"wharf/internal/simple"
	"wharf/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "apidocs:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("apidocs", flag.ContinueOnError)
	dsn := fs.String("database-url", os.Getenv("WHARF_DATABASE_URL"), "seeded database")
	static := fs.String("static", "", "the static tree of gen-static.py (its paths/ are read, pypi/ is written)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := store.Open(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	// Each document is asked for once; the files the index keeps of them go with this folder.
	dir, err := os.MkdirTemp("", "apidocs-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ix := simple.New(db, nil, nil, simple.Options{Dir: dir})
	mux := http.NewServeMux()
	mux.Handle("GET /pypi/{project}/json", handler(ix.ServeProjectJSON))
	mux.Handle("GET /pypi/{project}/{version}/json", handler(ix.ServeReleaseJSON))

	samples, err := readLines(filepath.Join(*static, "paths", "zipf.txt"))
	if err != nil {
		return err
	}
	hot, err := readLines(filepath.Join(*static, "paths", "hot.txt"))
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var names []string
	for _, p := range append(hot, samples...) {
		if name := strings.TrimSuffix(p, "/"); !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	for i, name := range names {
		for _, doc := range []string{name + "/json", name + "/1.1/json"} {
			r := httptest.NewRequest(http.MethodGet, "/pypi/"+doc, nil)
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				return fmt.Errorf("/pypi/%s: status %d", doc, w.Code)
			}
			path := filepath.Join(*static, "pypi", filepath.FromSlash(doc))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(path, w.Body.Bytes(), 0o644); err != nil {
				return err
			}
		}
		if (i+1)%50000 == 0 {
			fmt.Printf("%d/%d projects\n", i+1, len(names))
		}
	}
	// Mixes for simple-load.sh, whose scenarios read hot.txt, uniform.txt and zipf.txt of a paths folder.
	for dir, suffix := range map[string]string{"api": "json", "api-release": "1.1/json"} {
		out := filepath.Join(*static, "paths-"+dir)
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		for file, list := range map[string][]string{"hot.txt": hot, "zipf.txt": samples, "uniform.txt": names} {
			var b strings.Builder
			for _, p := range list {
				b.WriteString(strings.TrimSuffix(p, "/") + "/" + suffix + "\n")
			}
			if err := os.WriteFile(filepath.Join(out, file), []byte(b.String()), 0o644); err != nil {
				return err
			}
		}
	}
	fmt.Printf("%d projects' documents written under %s/pypi\n", len(names), *static)
	return nil
}

func handler(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, line)
		}
	}
	return out, sc.Err()
}
