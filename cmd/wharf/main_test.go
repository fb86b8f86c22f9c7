package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
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
		ID       int64
		Username string
	}
	if code != 0 || json.Unmarshal([]byte(out), &user) != nil || user.Username != "alice" || user.ID == 0 {
		t.Fatalf("user create: %d %q %q", code, out, errOut)
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
