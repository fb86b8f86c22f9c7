package web_test

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"wharf/internal/store/storetest"
)

var update = flag.Bool("update", false, "rewrite the golden files of the rendered pages (testdata/golden) from this run")

// TestGoldenPages renders a fixed set of pages from a fixed state and clock and compares them with the files in
// testdata/golden, so that every change to what a page says or how it is built is seen in review. After an intended
// change, run `go test ./internal/web -run TestGoldenPages -update` and read the diff.
func TestGoldenPages(t *testing.T) {
	fx := newFixture(t, storetest.Engines(t)[0])
	alice := fx.user("alice")
	fx.ownedProject(t, alice)
	// The session that minted the upload token and the page's own are listed by time: a minute apart, in one order.
	fx.clock.Advance(time.Minute)
	anon := fx.browser("golden")
	a := fx.browser("golden")
	a.login("alice", testPassword)

	// What changes from run to run: the test server's port, the session's CSRF token, tokens in links.
	// and the random ids of tokens and sessions. The static files' version changes with the stylesheet, which is not
	// the page.
	csrf := regexp.MustCompile(`name="csrf_token" value="[^"]*"`)
	staticVersion := regexp.MustCompile(`\?v=[0-9a-f]{12}"`)
	randomID := regexp.MustCompile(`\b[0-9a-f]{32,}\b`)
	normalize := func(body string) string {
		body = strings.ReplaceAll(body, fx.base, "https://index.test")
		body = strings.ReplaceAll(body, strings.TrimPrefix(fx.base, "https://"), "index.test")
		body = randomID.ReplaceAllString(body, "ID")
		body = staticVersion.ReplaceAllString(body, `?v=VERSION"`)
		return csrf.ReplaceAllString(body, `name="csrf_token" value="CSRF"`)
	}
	for _, c := range []struct {
		name, path string
		b          *browser
	}{
		{"home", "/", anon},
		{"project", "/project/demo-pkg/", anon},
		{"release", "/project/demo-pkg/1.0/", anon},
		{"search", "/search/?q=demo", anon},
		{"login", "/account/login/", anon},
		{"register", "/account/register/", anon},
		{"not-found", "/no/such/page/", anon},
		{"account", "/manage/account/", a},
		{"tokens", "/manage/account/token/", a},
		{"collaboration", "/manage/project/demo-pkg/collaboration/", a},
		{"releases", "/manage/project/demo-pkg/releases/", a},
	} {
		got := normalize(c.b.get(c.path).body)
		file := filepath.Join("testdata", "golden", c.name+".html")
		if *update {
			if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%s: %v (run with -update to create it)", c.path, err)
		}
		if got != string(want) {
			t.Errorf("%s differs from %s: run `go test ./internal/web -run TestGoldenPages -update` and read the diff\n%s",
				c.path, file, firstDifference(string(want), got))
		}
	}
}

// firstDifference shows the first line where two pages differ.
func firstDifference(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + wl + "\n  got:  " + gl
		}
	}
	return ""
}
