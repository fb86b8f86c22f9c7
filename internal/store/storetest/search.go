package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"wharf/internal/store"
)

// RunSearch is the conformance suite of project search: what matches, in which order, by page and by classifier,
// and that every write that changes a project's latest release changes what search finds at once.
func RunSearch(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	alice := func(t *testing.T, db *store.DB) store.User { return MustUser(t, db, "alice") }
	// release publishes version of project with the given core metadata (JSON, or anything else).
	release := func(t *testing.T, db *store.DB, u store.User, project, version, meta string) store.AddFileResult {
		t.Helper()
		_, err := db.ProjectByName(ctx, project)
		nf := newFile(project, version, project+"-"+version+".tar.gz", project+"-"+version, u.ID, err != nil)
		nf.ReleaseMetadata = []byte(meta)
		res, err := db.AddFile(ctx, nf)
		if err != nil {
			t.Fatalf("release %s %s: %v", project, version, err)
		}
		return res
	}
	meta := func(summary, keywords string, classifiers ...string) string {
		b, err := json.Marshal(map[string]any{"summary": summary, "keywords": keywords, "classifiers": classifiers})
		if err != nil {
			panic(err)
		}
		return string(b)
	}
	search := func(t *testing.T, db *store.DB, q store.SearchQuery) store.SearchResult {
		t.Helper()
		if q.Limit == 0 {
			q.Limit = 100
		}
		res, err := db.SearchProjects(ctx, q)
		if err != nil {
			t.Fatalf("SearchProjects(%+v): %v", q, err)
		}
		if len(res.Projects) > 0 && res.Total < q.Offset+len(res.Projects) {
			t.Errorf("SearchProjects(%+v): total %d below the %d projects up to this page", q, res.Total, q.Offset+len(res.Projects))
		}
		return res
	}
	names := func(t *testing.T, db *store.DB, text string, classifiers ...string) []string {
		t.Helper()
		var out []string
		for _, p := range search(t, db, store.SearchQuery{Text: text, Classifiers: classifiers}).Projects {
			out = append(out, p.Name)
		}
		return out
	}
	want := func(t *testing.T, db *store.DB, text string, classifiers []string, want ...string) {
		t.Helper()
		if diff := cmp.Diff(want, names(t, db, text, classifiers...), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("search %q %q (-want +got):\n%s", text, classifiers, diff)
		}
	}

	t.Run("ranking", func(t *testing.T) {
		db := open(t)
		u := alice(t, db)
		for _, p := range [][3]string{
			{"pytest-flask", "Fixtures for tests", ""},
			{"flasket", "A toolkit", ""},
			{"flask", "The micro framework", ""},
			{"zeta", "An ORM, said to work with flask", "orm flask"},
			{"flask-admin", "Admin pages", ""},
			{"alpha", "Mentions flask once among many other words here", ""},
			{"beta", "An orm of sorts", ""},
			{"bistro", "A café menu", ""},
			{"unrelated", "Nothing to see", "web"},
			{"other", "Another framework", "web"},
		} {
			release(t, db, u, p[0], "1.0", meta(p[1], p[2]))
		}
		// The exact name, the names that start with it, the names that have the word, then text by relevance: zeta
		// has the word in its keywords too, so it ranks above alpha, which only mentions it in a longer summary.
		want(t, db, "flask", nil, "flask", "flask-admin", "flasket", "pytest-flask", "zeta", "alpha")
		// Relevance beats name order among text matches.
		want(t, db, "orm", nil, "zeta", "beta")
		// Names compare as PEP 503 normalises them, whatever the query's case and separators.
		for _, q := range []string{"Flask_Admin", "flask.admin", "FLASK admin", "  flask--admin "} {
			if got := names(t, db, q); len(got) == 0 || got[0] != "flask-admin" {
				t.Errorf("search %q = %v; want flask-admin first", q, got)
			}
		}
		// A name's start finds it before any word is complete.
		want(t, db, "flas", nil, "flask", "flask-admin", "flasket")
		// Several words: a project must have all of them, in any field.
		want(t, db, "micro framework", nil, "flask")
		want(t, db, "flask orm", nil, "zeta")
		want(t, db, "web framework", nil, "other")
		want(t, db, "flask nothing", nil)
		// Words match whole, in any case; diacritics count.
		want(t, db, "MICRO", nil, "flask")
		want(t, db, "micr", nil)
		want(t, db, "CAFÉ", nil, "bistro")
		want(t, db, "cafe", nil)
	})

	t.Run("hostile queries", func(t *testing.T) {
		db := open(t)
		u := alice(t, db)
		release(t, db, u, "flask", "1.0", meta("The micro framework", "web"))
		release(t, db, u, "near", "1.0", meta("Close by", ""))
		for _, q := range []string{`"flask`, `flask"`, `NEAR(`, `NEAR(flask web)`, `a:*`, `flask*`, `-x`, `-flask`,
			`flask OR`, `OR`, `AND NOT`, `*`, `'`, `''`, `\`, `(`, `)`, `!`, `&`, `|`, `:`, `^flask`, `name:flask`,
			`{name}: flask`, `%`, `_`, `""`, `flask & !web`, `flask <-> web`, `'flask':*`, "\x00", "\xff\xfe", "ö",
			`'; DROP TABLE projects; --`, `$1`, `?`} {
			if _, err := db.SearchProjects(ctx, store.SearchQuery{Text: q, Limit: 10}); err != nil {
				t.Errorf("search %q: %v", q, err)
			}
			if _, err := db.SearchProjects(ctx, store.SearchQuery{Text: "flask", Classifiers: []string{q}, Limit: 10}); err != nil {
				t.Errorf("search with the classifier %q: %v", q, err)
			}
		}
		// Syntax is no syntax: the words around it are searched, and nothing is excluded or widened.
		want(t, db, `"flask`, nil, "flask")
		want(t, db, `-flask`, nil, "flask")
		want(t, db, `NEAR(flask web)`, nil)
		want(t, db, `NEAR(`, nil, "near")
		want(t, db, `flask*`, nil, "flask")
		want(t, db, `*`, nil)
		want(t, db, `%`, nil)
		want(t, db, `flask OR near`, nil)
	})

	t.Run("pages", func(t *testing.T) {
		db := open(t)
		u := alice(t, db)
		var all []string
		for i := range 25 {
			name := fmt.Sprintf("pkg%02d", i)
			all = append(all, name)
			release(t, db, u, name, "1.0", meta("A common summary", ""))
		}
		release(t, db, u, "other", "1.0", meta("Unlike the rest", ""))
		var got []string
		for _, offset := range []int{0, 10, 20} {
			res := search(t, db, store.SearchQuery{Text: "common", Offset: offset, Limit: 10})
			if res.Total != 25 {
				t.Errorf("offset %d: total %d, want 25", offset, res.Total)
			}
			for _, p := range res.Projects {
				got = append(got, p.Name)
			}
		}
		if diff := cmp.Diff(all, got); diff != "" {
			t.Errorf("pages (-want +got):\n%s", diff)
		}
		if res := search(t, db, store.SearchQuery{Text: "common", Offset: 40, Limit: 10}); len(res.Projects) != 0 || res.Total != 25 {
			t.Errorf("past the last page: %d projects, total %d; want none of 25", len(res.Projects), res.Total)
		}
		if res := search(t, db, store.SearchQuery{Text: "nothing", Offset: 20, Limit: 10}); len(res.Projects) != 0 || res.Total != 0 {
			t.Errorf("past the end of nothing: %d projects, total %d", len(res.Projects), res.Total)
		}
		if res := search(t, db, store.SearchQuery{Text: "  ", Limit: 10}); len(res.Projects) != 0 || res.Total != 0 {
			t.Errorf("an empty query found %d projects, total %d", len(res.Projects), res.Total)
		}
	})

	t.Run("classifiers", func(t *testing.T) {
		db := open(t)
		u := alice(t, db)
		const (
			django  = "Framework :: Django"
			py3     = "Programming Language :: Python :: 3"
			tools   = "Topic :: Software Development"
			tools2  = "Topic :: Software Development :: Libraries"
			license = "License :: OSI Approved :: MIT License"
		)
		release(t, db, u, "django-a", "1.0", meta("A web app", "", django, py3, tools))
		release(t, db, u, "django-b", "1.0", meta("A web thing", "", django, license))
		release(t, db, u, "plain", "1.0", meta("A web tool", "", py3, tools2, py3))
		release(t, db, u, "bare", "1.0", meta("A web page", ""))
		want(t, db, "web", []string{django}, "django-a", "django-b")
		want(t, db, "web", []string{django, py3}, "django-a")
		want(t, db, "web", []string{django, "Framework :: Flask"})
		// Classifiers alone list their projects by name; the strings are exact, not prefixes.
		want(t, db, "", []string{py3}, "django-a", "plain")
		want(t, db, "", []string{tools}, "django-a")
		want(t, db, "", []string{"Framework"})
		want(t, db, "   ", []string{django, license}, "django-b")
		res := search(t, db, store.SearchQuery{Text: "web", Classifiers: []string{py3}, Facets: 10})
		wantFacets := []store.ClassifierCount{{Classifier: django, Projects: 1}, {Classifier: tools, Projects: 1},
			{Classifier: tools2, Projects: 1}}
		if diff := cmp.Diff(wantFacets, res.Facets); diff != "" {
			t.Errorf("facets of the listed projects, but the filter's (-want +got):\n%s", diff)
		}
		res = search(t, db, store.SearchQuery{Text: "web", Facets: 2})
		wantFacets = []store.ClassifierCount{{Classifier: django, Projects: 2}, {Classifier: py3, Projects: 2}}
		if diff := cmp.Diff(wantFacets, res.Facets); diff != "" {
			t.Errorf("the two most common facets (-want +got):\n%s", diff)
		}
	})

	t.Run("metadata of any shape", func(t *testing.T) {
		db := open(t)
		u := alice(t, db)
		for name, m := range map[string]string{
			"not-json":    `{"summary": "broken`,
			"empty":       ``,
			"null":        `null`,
			"array":       `["summary"]`,
			"numbers":     `{"summary": 42, "keywords": 7, "classifiers": "Framework :: Django"}`,
			"lists":       `{"summary": "listed", "keywords": ["alpha", "beta,gamma"], "classifiers": [1, "Framework :: Django", null]}`,
			"nul":         `{"summary": "nul\u0000byte", "description": "x\u0000y"}`,
			"punctuation": `{"summary": "Wraps requests.Session; see https://example.com/docs or mail me@example.org (v1.2.3)"}`,
		} {
			release(t, db, u, name, "1.0", m)
		}
		want(t, db, "42", nil, "numbers")
		want(t, db, "gamma", nil, "lists")
		want(t, db, "alpha beta listed", nil, "lists")
		want(t, db, "", []string{"Framework :: Django"}, "lists")
		want(t, db, "broken", nil)
		want(t, db, "array", nil, "array") // by its name
		// Punctuation separates words: no address, host or version stays one word on either engine.
		want(t, db, "session", nil, "punctuation")
		want(t, db, "example docs", nil, "punctuation")
		want(t, db, "me", nil, "punctuation")
		want(t, db, "2", nil, "punctuation")
	})

	t.Run("writes keep search current", func(t *testing.T) {
		db := open(t)
		u := alice(t, db)
		first := release(t, db, u, "demo", "1.0", meta("Parses yaml", "", "Framework :: Django"))
		release(t, db, u, "keep", "1.0", meta("Parses yaml too", ""))
		want(t, db, "yaml", nil, "demo", "keep")
		// A new release is the latest: its words and classifiers replace the old ones.
		release(t, db, u, "demo", "2.0", meta("Parses toml", "", "Framework :: Flask"))
		want(t, db, "yaml", nil, "keep")
		want(t, db, "toml", nil, "demo")
		want(t, db, "", []string{"Framework :: Django"})
		want(t, db, "", []string{"Framework :: Flask"}, "demo")
		// Another file of the latest release changes nothing.
		nf := newFile("demo", "2.0", "demo-2.0-py3-none-any.whl", "demo-2.0-wheel", u.ID, false)
		nf.ReleaseMetadata = []byte(meta("Ignored", ""))
		if _, err := db.AddFile(ctx, nf); err != nil {
			t.Fatal(err)
		}
		want(t, db, "toml", nil, "demo")
		want(t, db, "ignored", nil)
		// Deleting the latest release makes the one before the latest again.
		if _, err := db.DeleteRelease(ctx, first.Project.ID, "2.0", u.ID, t0); err != nil {
			t.Fatal(err)
		}
		want(t, db, "toml", nil)
		want(t, db, "yaml", nil, "demo", "keep")
		want(t, db, "", []string{"Framework :: Django"}, "demo")
		// Without releases the project is found by its name only.
		if _, err := db.DeleteRelease(ctx, first.Project.ID, "1.0", u.ID, t0); err != nil {
			t.Fatal(err)
		}
		want(t, db, "yaml", nil, "keep")
		want(t, db, "demo", nil, "demo")
		want(t, db, "", []string{"Framework :: Django"})
		// A staged release counts only once approved.
		if err := db.SetStaging(ctx, first.Project.ID, store.StageTokens); err != nil {
			t.Fatal(err)
		}
		staged := newFile("demo", "3.0", "demo-3.0.tar.gz", "demo-3.0", u.ID, false)
		staged.ReleaseMetadata = []byte(meta("Reads ini files", "", "Framework :: Pyramid"))
		if _, _, err := db.StageFile(ctx, staged); err != nil {
			t.Fatal(err)
		}
		want(t, db, "ini", nil)
		if _, err := db.ApproveStaged(ctx, first.Project.ID, "3.0", u.ID, t0); err != nil {
			t.Fatal(err)
		}
		want(t, db, "ini", nil, "demo")
		want(t, db, "", []string{"Framework :: Pyramid"}, "demo")
		// A deleted project is gone from every search at once.
		if _, _, err := db.DeleteProject(ctx, first.Project.ID, u.ID, t0, ""); err != nil {
			t.Fatal(err)
		}
		want(t, db, "ini", nil)
		want(t, db, "demo", nil)
		want(t, db, "", []string{"Framework :: Pyramid"})
		want(t, db, "yaml", nil, "keep")
	})

	t.Run("seeded projects", func(t *testing.T) {
		db := open(t)
		u := alice(t, db)
		release(t, db, u, "before", "1.0", meta("Was here first", ""))
		var files []store.NewFile
		for _, p := range []string{"seeded-a", "seeded-b"} {
			nf := newFile(p, "1.0", p+"-1.0.tar.gz", p, 0, true)
			nf.ReleaseMetadata = []byte(meta("Bulk loaded", "", "Framework :: Django"))
			files = append(files, nf)
		}
		if err := db.SeedFiles(ctx, files); err != nil {
			t.Fatal(err)
		}
		want(t, db, "bulk", nil, "seeded-a", "seeded-b")
		want(t, db, "", []string{"Framework :: Django"}, "seeded-a", "seeded-b")
		want(t, db, "first", nil, "before")
	})
}
