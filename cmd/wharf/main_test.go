package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"wharf/internal/store"
)

// cli runs a command in-process against a data directory, as a user would from a shell.
func runCLI(t *testing.T, dataDir, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut, getenv: func(k string) string {
		if k == "WHARF_DATA_DIR" {
			return dataDir
		}
		return ""
	}}
	code := run(context.Background(), e, args)
	return code, out.String(), errOut.String()
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCLI(t, dir, "", "migrate"); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate: %d %q %q", code, out, errOut)
	}
	code, out, errOut := runCLI(t, dir, "a long passphrase\n", "user", "create", "alice", "--email", "alice@example.com", "--json")
	var user struct {
		ID            int64
		Username      string
		EmailVerified bool `json:"email_verified"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &user) != nil || user.Username != "alice" || user.ID == 0 || !user.EmailVerified {
		t.Fatalf("user create: %d %q %q", code, out, errOut)
	}
	// The administrator vouches for the address unless told not to; the database says so, not only the output.
	code, out, errOut = runCLI(t, dir, "a long passphrase\n", "user", "create", "carol", "--email", "carol@example.com", "--unverified", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &user) != nil || user.EmailVerified {
		t.Fatalf("user create --unverified: %d %q %q", code, out, errOut)
	}
	for name, want := range map[string]bool{"alice": true, "carol": false} {
		if got := emailVerified(t, dir, name); got != want {
			t.Errorf("%s: email verified = %v, want %v", name, got, want)
		}
	}
	if code, _, errOut := runCLI(t, dir, "a long passphrase\n", "user", "create", "ALICE", "--email", "a@example.com"); code != 1 || !strings.Contains(errOut, "already being used") {
		t.Errorf("duplicate user: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, dir, "short\n", "user", "create", "bob", "--email", "bob@example.com"); code != 1 || !strings.Contains(errOut, "too short") {
		t.Errorf("short password: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, dir, "", "user", "create", "bob", "--email", "bob@example.com"); code != 1 || !strings.Contains(errOut, "no password") {
		t.Errorf("no password: %d %q", code, errOut)
	}

	code, out, errOut = runCLI(t, dir, "", "token", "create", "--user", "alice", "--project", "Demo_Pkg", "--expires", "24h", "--json")
	var tok struct {
		Token, ID, Expires string
		Projects           []string
	}
	if code != 0 || json.Unmarshal([]byte(out), &tok) != nil || !strings.HasPrefix(tok.Token, "wharf-") ||
		len(tok.Projects) != 1 || tok.Projects[0] != "demo-pkg" || tok.Expires == "" {
		t.Fatalf("token create: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCLI(t, dir, "", "token", "create", "--user", "alice"); code != 0 || !strings.HasPrefix(out, "wharf-") || strings.Count(out, "\n") != 1 {
		t.Errorf("plain token create prints the token alone: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, dir, "", "token", "create", "--user", "nobody"); code != 1 || !strings.Contains(errOut, `no user "nobody"`) {
		t.Errorf("token for a missing user: %d %q", code, errOut)
	}
	if code, out, _ := runCLI(t, dir, "", "fsck"); code != 0 || !strings.Contains(out, "ok:") {
		t.Errorf("fsck of an empty index: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, dir, "", "serve", "--max-file-size", "lots"); code == 0 || !strings.Contains(errOut, "max-file-size") {
		t.Errorf("bad flag: %d %q", code, errOut)
	}
	if code, _, _ := runCLI(t, dir, "", "nonsense"); code != 2 {
		t.Errorf("unknown command: %d", code)
	}
	if code, out, _ := runCLI(t, dir, "", "version"); code != 0 || !strings.HasPrefix(out, "wharf ") {
		t.Errorf("version: %d %q", code, out)
	}
}

// emailVerified reads the account from the data directory's database.
func emailVerified(t *testing.T, dataDir, name string) bool {
	t.Helper()
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dataDir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	acct, err := db.AccountByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return !acct.EmailVerifiedAt.IsZero()
}
