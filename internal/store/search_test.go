package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"wharf/internal/pypkg"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

func searchNames(t testing.TB, db *store.DB, q store.SearchQuery) []string {
	t.Helper()
	if q.Limit == 0 {
		q.Limit = 20
	}
	res, err := db.SearchProjects(context.Background(), q)
	if err != nil {
		t.Fatalf("SearchProjects(%+v): %v", q, err)
	}
	var out []string
	for _, p := range res.Projects {
		out = append(out, p.Name)
	}
	return out
}

// TestMigrationFillsSearch checks migration 0021 on projects stored before it: every project gets its search rows
// from its latest release in one statement per table, whatever that release's metadata holds.
func TestMigrationFillsSearch(t *testing.T) {
	ctx := context.Background()
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			db := openAt(t, e, 20)
			for _, name := range []string{"Flask", "twice", "no-release", "broken", "null"} {
				n := pypkg.NormalizeName(name)
				if err := db.Exec(ctx, `INSERT INTO projects (name, normalized_name, ultranormalized_name, created_at) VALUES ('`+
					name+`', '`+n+`', '`+n+`', 0)`); err != nil {
					t.Fatal(err)
				}
			}
			for _, r := range []struct{ project, version, meta string }{
				{"flask", "1.0", `{"summary": "The micro framework", "keywords": "web,wsgi",
					"classifiers": ["Framework :: Flask", "Framework :: Flask", "Programming Language :: Python :: 3"]}`},
				{"twice", "1.0", `{"summary": "Old words", "classifiers": ["Framework :: Django"]}`},
				{"twice", "2.0", `{"summary": "Fresh words", "classifiers": ["Programming Language :: Python :: 3"]}`},
				{"broken", "1.0", `{"summary": "never read`},
				{"null", "1.0", `null`},
			} {
				if err := db.Exec(ctx, `INSERT INTO releases (project_id, version, canonical_version, metadata, created_at)
					VALUES ((SELECT id FROM projects WHERE normalized_name = '`+r.project+`'), '`+r.version+`', '`+
					r.version+`', '`+r.meta+`', 0)`); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				q    store.SearchQuery
				want []string
			}{
				{store.SearchQuery{Text: "micro wsgi"}, []string{"Flask"}},
				{store.SearchQuery{Text: "words"}, []string{"twice"}},
				{store.SearchQuery{Text: "old"}, nil},
				{store.SearchQuery{Text: "read"}, nil},
				{store.SearchQuery{Text: "no_release"}, []string{"no-release"}},
				{store.SearchQuery{Text: "null"}, []string{"null"}},
				{store.SearchQuery{Classifiers: []string{"Programming Language :: Python :: 3"}}, []string{"Flask", "twice"}},
				{store.SearchQuery{Classifiers: []string{"Framework :: Django"}}, nil},
				{store.SearchQuery{Text: "framework", Classifiers: []string{"Framework :: Flask"}}, []string{"Flask"}},
			} {
				if diff := cmp.Diff(tc.want, searchNames(t, db, tc.q), cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("after the migration, search %+v (-want +got):\n%s", tc.q, diff)
				}
			}
			// The rows the migration wrote are the ones writes keep up to date.
			p, err := db.ProjectByName(ctx, "twice")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.DeleteRelease(ctx, p.ID, "2.0", 0, time.Unix(1, 0)); err != nil {
				t.Fatal(err)
			}
			if got := searchNames(t, db, store.SearchQuery{Text: "old words"}); !slices.Equal(got, []string{"twice"}) {
				t.Errorf("after deleting the latest release: %v; want twice", got)
			}
		})
	}
}

// TestSearchUsesIndexes checks the plans of the three ways into a search: the name's prefix (the projects' unique
// index on the normalised name), the words (the full-text index) and the classifiers (the classifier's key), and
// that nothing reads a whole table.
func TestSearchUsesIndexes(t *testing.T) {
	ctx := context.Background()
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			db := e.Open(t)
			if err := db.SeedFiles(ctx, searchSeed(500, nil)); err != nil {
				t.Fatal(err)
			}
			// Each is what a line of the plans holds: the index's use, and on what.
			want := map[store.Engine][][2]string{
				store.SQLite: {
					{"SCAN project_search VIRTUAL TABLE INDEX 0:M", ""},
					{"SEARCH projects USING COVERING INDEX", "(normalized_name>? AND normalized_name<?)"},
					{"SEARCH project_classifiers USING PRIMARY KEY", "(classifier=?)"},
					{"SEARCH c EXISTS USING COVERING INDEX project_classifiers_project", "(project_id=? AND classifier=?)"},
				},
				store.Postgres: {
					{"Index Cond: (document @@ ", "'w1'"},
					{"Index Cond: ((normalized_name >= ", "(normalized_name < 'w2'::text)"},
					{"Index Cond: ", "classifier = 'Framework :: Django'::text"},
					{"Index Cond: ", "classifier = 'Environment :: Web Environment'::text"},
				},
			}[db.Engine()]
			var plans []string
			for _, q := range []store.SearchQuery{
				{Text: "w1", Classifiers: []string{"Environment :: Web Environment"}, Limit: 20},
				{Classifiers: []string{"Framework :: Django", "Environment :: Web Environment"}, Limit: 20},
			} {
				plan, err := db.SearchPlan(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				plans = append(plans, plan)
				for _, line := range strings.Split(plan, "\n") {
					line = strings.TrimSpace(line)
					// SQLite scans only what the statement itself made: the hits, the ranked rows, the page.
					if strings.HasPrefix(line, "SCAN ") && !strings.HasPrefix(line, "SCAN project_search VIRTUAL TABLE") &&
						!slices.Contains([]string{"SCAN h", "SCAN matched", "SCAN pg"}, line) &&
						!strings.HasPrefix(line, "SCAN (subquery-") || strings.Contains(line, "Seq Scan") {
						t.Errorf("search %+v reads a table whole: %s\n%s", q, line, plan)
					}
				}
			}
			all := strings.Join(plans, "\n")
			for _, w := range want {
				if !slices.ContainsFunc(strings.Split(all, "\n"), func(line string) bool {
					return strings.Contains(line, w[0]) && strings.Contains(line, w[1])
				}) {
					t.Errorf("no line with %q and %q in the plans:\n%s", w[0], w[1], all)
				}
			}
		})
	}
}

// searchClassifiers are the seed's classifiers, the most common first.
var searchClassifiers = []string{
	"Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License", "Operating System :: OS Independent",
	"Intended Audience :: Developers", "Topic :: Software Development :: Libraries", "Development Status :: 4 - Beta",
	"Framework :: Django", "Environment :: Web Environment", "Topic :: Scientific/Engineering", "Framework :: Flask",
	"Typing :: Typed", "Natural Language :: English",
}

// searchSeed makes n projects with one release each, whose summaries (8 words), keywords (3) and classifiers (up to
// 4) are drawn from Zipf distributions: word wK is the K-th most common, so that a query can pick how many projects
// it matches. Names are the given ones, or w1-project... when names is nil. The same n gives the same seed.
func searchSeed(n int, names []string) []store.NewFile {
	rng := rand.New(rand.NewPCG(17, 42))
	words := rand.NewZipf(rng, 1.1, 2, 20000)
	classifiers := rand.NewZipf(rng, 1.3, 1, uint64(len(searchClassifiers)-1))
	draw := func(k int) string {
		w := make([]string, k)
		for i := range w {
			w[i] = "w" + strconv.FormatUint(words.Uint64()+1, 10)
		}
		return strings.Join(w, " ")
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	files := make([]store.NewFile, n)
	for i := range files {
		name := fmt.Sprintf("w%d-project-%d", i%50+1, i)
		if names != nil {
			name = names[i]
		}
		var cs []string
		for range rng.IntN(5) {
			if c := searchClassifiers[classifiers.Uint64()]; !slices.Contains(cs, c) {
				cs = append(cs, c)
			}
		}
		meta, err := json.Marshal(map[string]any{"summary": draw(8), "keywords": draw(3), "classifiers": cs,
			"description": strings.Repeat("A long description. ", 50)})
		if err != nil {
			panic(err)
		}
		norm := pypkg.NormalizeName(name)
		files[i] = store.NewFile{ProjectName: name, NormalizedName: norm, UltraName: pypkg.UltraNormalizeName(norm),
			Version: "1.0", CanonicalVersion: "1", ReleaseMetadata: meta, Filename: norm + "-1.0.tar.gz",
			PackageType: "sdist", PythonVersion: "source", Size: 1000, SHA256: fmt.Sprintf("%064x", i),
			MD5: "md5", Blake2b256: fmt.Sprintf("b2-%d", i), Now: now.Add(time.Duration(i) * time.Second)}
	}
	return files
}

// BenchmarkSearch measures SearchProjects on a seeded index, one op per search of the first page of 20 (of the
// 50th for "deep page"): an exact name, a name's prefix, a word in most projects, in a few and in none, two words,
// classifiers alone and with words. The projects are PyPI's names (every k-th of ../../../shared/data, for
// WHARF_BENCH_SEARCH_PROJECTS of them, 50,000 by default) with searchSeed's summaries, keywords and classifiers.
//
//	go test -run '^$' -bench Search -benchtime 200x ./internal/store/
func BenchmarkSearch(b *testing.B) {
	n := 50000
	if v := os.Getenv("WHARF_BENCH_SEARCH_PROJECTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("WHARF_BENCH_SEARCH_PROJECTS=%q is not a number of projects", v)
		}
	}
	all := scaleNames(b)
	var names []string
	for i := range min(n, len(all)) {
		names = append(names, all[i*len(all)/min(n, len(all))].Name)
	}
	ctx := context.Background()
	for _, e := range storetest.Engines(b) {
		b.Run(e.Name, func(b *testing.B) {
			db := e.Open(b)
			start := time.Now()
			if err := db.SeedFiles(ctx, searchSeed(len(names), names)); err != nil {
				b.Fatal(err)
			}
			b.Logf("%s: seeded %d projects in %s", e.Name, len(names), time.Since(start).Round(time.Millisecond))
			if db.Engine() == store.Postgres {
				if err := db.Exec(ctx, "ANALYZE"); err != nil {
					b.Fatal(err)
				}
			}
			for _, c := range []struct {
				name string
				q    store.SearchQuery
			}{
				{"exact name", store.SearchQuery{Text: names[len(names)/2]}},
				{"name prefix", store.SearchQuery{Text: "dj"}},
				{"common word", store.SearchQuery{Text: "w2"}},
				{"rare word", store.SearchQuery{Text: "w900"}},
				{"no match", store.SearchQuery{Text: "nothing"}},
				{"two words", store.SearchQuery{Text: "w3 w10"}},
				{"classifier", store.SearchQuery{Classifiers: []string{"Framework :: Django"}}},
				{"two classifiers", store.SearchQuery{Classifiers: []string{searchClassifiers[0], searchClassifiers[1]}}},
				{"words and classifier", store.SearchQuery{Text: "w5", Classifiers: []string{searchClassifiers[0]}}},
				{"deep page", store.SearchQuery{Text: "w2", Offset: 49 * 20}},
			} {
				c.q.Limit, c.q.Facets = 20, 12
				b.Run(c.name, func(b *testing.B) {
					var total int
					for b.Loop() {
						res, err := db.SearchProjects(ctx, c.q)
						if err != nil {
							b.Fatal(err)
						}
						total = res.Total
					}
					b.ReportMetric(float64(total), "matches")
				})
			}
		})
	}
}
