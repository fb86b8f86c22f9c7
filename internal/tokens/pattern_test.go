package tokens_test

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"wharf/internal/tokens"
)

// scannerPattern reads the regular expression docs/tokens.md gives secret scanners: the line of its code block
// that starts with the prefix.
func scannerPattern(t *testing.T) *regexp.Regexp {
	t.Helper()
	f, err := os.Open("../../docs/tokens.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, tokens.Prefix+"A[") {
			return regexp.MustCompile(line)
		}
	}
	t.Fatal("docs/tokens.md gives no pattern")
	return nil
}

// TestScannerPattern checks that the pattern docs/tokens.md gives scanners finds every shape of token wharf mints,
// whole, in surrounding text, and nothing shorter than the shortest token (K8, K9).
func TestScannerPattern(t *testing.T) {
	pattern := scannerPattern(t)
	m, err := tokens.NewMinter([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	shapes := map[string]tokens.Caveats{
		"the shortest: a one-digit user": {UserID: 7},
		"a large user id":                {UserID: 1 << 62},
		"projects and a window": {UserID: 12345, Projects: []string{"demo", "sampleproject"},
			NotBefore: t0, Expires: t0.Add(90 * 24 * time.Hour)},
	}
	shortest := 0
	check := func(name, tok string) {
		t.Helper()
		for _, text := range []string{tok, `password = "` + tok + `"`, "TWINE_PASSWORD=" + tok + "\n", "<" + tok + ">"} {
			if got := pattern.FindString(text); got != tok {
				t.Errorf("%s: in %q the pattern finds %q, want the whole token", name, text, got)
			}
		}
	}
	for name, c := range shapes {
		// Many tokens of each shape: the character after "wharf-A" depends on the random id.
		for range 200 {
			tok, _, err := m.Mint(c)
			if err != nil {
				t.Fatal(err)
			}
			check(name, tok)
			if shortest == 0 || len(tok) < shortest {
				shortest = len(tok)
			}
			narrowed, err := tokens.Attenuate(tok, tokens.Caveats{Projects: []string{"demo"}, Expires: t0})
			if err != nil {
				t.Fatal(err)
			}
			check(name+", narrowed", narrowed)
		}
	}
	if shortest != 86 {
		t.Errorf("the shortest token has %d characters; docs/tokens.md says 86", shortest)
	}
	for _, s := range []string{
		tokens.Prefix + "AQ" + strings.Repeat("a", 77), // one character short of the shortest token
		tokens.Prefix + "AA" + strings.Repeat("a", 90), // not version 1
		tokens.Prefix + "Ag" + strings.Repeat("a", 90),
		"pypi-AgEIcHlwaS5vcmc" + strings.Repeat("a", 90),
	} {
		if pattern.MatchString(s) {
			t.Errorf("the pattern matches %q", s)
		}
	}
}
