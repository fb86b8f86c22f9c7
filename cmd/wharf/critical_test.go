package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wharf/internal/store"
)

// TestCriticalCommands: an administrator designates the top projects on demand (dry run first), lists them, and
// marks and releases one with a reason; each newly critical project's collaborators get a mail in the outbox.
func TestCriticalCommands(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, dir, "a long passphrase\n", "user", "create", "alice", "--email", "alice@example.com"); code != 0 {
		t.Fatalf("user create: %d %q", code, errOut)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	alice, err := db.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for i := range 3 {
		name := fmt.Sprintf("pkg-%d", i)
		res, err := db.AddFile(ctx, store.NewFile{ProjectName: name, NormalizedName: name, UltraName: name, CreateProject: true,
			UploaderID: alice.ID, Version: "1.0", CanonicalVersion: "1.0", ReleaseMetadata: []byte("{}"),
			Filename: name + "-1.0.tar.gz", PackageType: "sdist", PythonVersion: "source", Size: 1,
			SHA256: "sha-" + name, Blake2b256: "b2-" + name, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.AddDownloads(ctx, now.Format(time.DateOnly), map[int64]int64{res.Project.ID: int64(10 * (i + 1))}); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	var res struct {
		Size       int
		DryRun     bool `json:"dry_run"`
		Designated []struct{ Name string }
	}
	code, out, errOut := runCLI(t, dir, "", "critical", "recompute", "--dry-run", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &res) != nil || !res.DryRun || len(res.Designated) != 1 || res.Designated[0].Name != "pkg-2" {
		t.Fatalf("dry run: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCLI(t, dir, "", "critical", "list"); code != 0 || !strings.HasPrefix(out, "0 critical projects") {
		t.Fatalf("a dry run designated: %q", out)
	}
	code, out, errOut = runCLI(t, dir, "", "critical", "recompute", "--percent", "50")
	if code != 0 || !strings.Contains(out, "designated 1:\n  pkg-2 (30 downloads)") {
		t.Fatalf("recompute: %d %q %q", code, out, errOut)
	}
	mails, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
	if len(mails) != 1 {
		t.Fatalf("%d mails in the outbox, want one to alice", len(mails))
	}
	if b, _ := os.ReadFile(mails[0]); !strings.Contains(string(b), "pkg-2 is now a critical project") {
		t.Errorf("the mail says:\n%s", b)
	}

	if code, out, _ := runCLI(t, dir, "", "critical", "mark", "PKG_0", "--reason", "everything depends on it"); code != 0 || out != "pkg-0 is now critical\n" {
		t.Errorf("mark: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, dir, "", "critical", "release", "pkg-2"); code != 1 || !strings.Contains(errOut, "--reason") {
		t.Errorf("release without a reason: %d %q", code, errOut)
	}
	if code, out, _ := runCLI(t, dir, "", "critical", "release", "pkg-2", "--reason", "archived"); code != 0 || out != "pkg-2 is no longer critical\n" {
		t.Errorf("release: %d %q", code, out)
	}
	var list []struct {
		Name          string
		CriticalSince string `json:"critical_since"`
	}
	code, out, _ = runCLI(t, dir, "", "critical", "list", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0].Name != "pkg-0" || list[0].CriticalSince == "" {
		t.Errorf("list: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, dir, "", "critical", "mark", "nothing-here", "--reason", "x"); code != 1 || !strings.Contains(errOut, `no project "nothing-here"`) {
		t.Errorf("mark a missing project: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, dir, "", "critical", "recompute", "--percent", "0"); code != 1 || !strings.Contains(errOut, "percent") {
		t.Errorf("a zero share: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, dir, "", "critical"); code != 1 || !strings.Contains(errOut, "usage") {
		t.Errorf("no action: %d %q", code, errOut)
	}
}

// TestPolicyShow: the mandate's phase follows the configured dates, and a bad list of actions stops the command
// with the variable's name.
func TestPolicyShow(t *testing.T) {
	dir := t.TempDir()
	show := func(vars map[string]string, args ...string) (int, string, string) {
		var out, errOut strings.Builder
		e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(k string) string {
			if k == "WHARF_DATA_DIR" {
				return dir
			}
			return vars[k]
		}}
		code := run(context.Background(), e, append([]string{"policy", "show"}, args...))
		return code, out.String(), errOut.String()
	}
	if code, out, errOut := show(nil); code != 0 || !strings.HasPrefix(out, "phase in force: none\n") || !strings.Contains(out, "nothing") {
		t.Errorf("no mandate: %d %q %q", code, out, errOut)
	}
	past := time.Now().AddDate(0, -1, 0).Format(time.DateOnly)
	future := time.Now().AddDate(0, 1, 0).Format(time.DateOnly)
	code, out, errOut := show(map[string]string{"WHARF_MANDATE_NOTICE": past, "WHARF_MANDATE_RESTRICT": past,
		"WHARF_MANDATE_ENFORCE": future, "WHARF_MANDATE_RESTRICTED": "create-project,upload"})
	if code != 0 || !strings.HasPrefix(out, "phase in force: restrict\n") || !strings.Contains(out, "now: create-project, upload") {
		t.Errorf("restrict: %d %q %q", code, out, errOut)
	}
	var js struct {
		Phase      string
		Restricted []string
		Enforce    string
	}
	code, out, _ = show(map[string]string{"WHARF_MANDATE_ENFORCE": past}, "--json")
	if code != 0 || json.Unmarshal([]byte(out), &js) != nil || js.Phase != "enforce" || len(js.Restricted) != 3 || js.Enforce == "" {
		t.Errorf("enforce, as JSON: %d %q", code, out)
	}
	if code, _, errOut := show(map[string]string{"WHARF_MANDATE_RESTRICTED": "create-project,fly"}); code != 1 || !strings.Contains(errOut, "WHARF_MANDATE_RESTRICTED") {
		t.Errorf("an unknown action: %d %q", code, errOut)
	}
	if code, _, errOut := show(map[string]string{"WHARF_MANDATE_RESTRICT": future, "WHARF_MANDATE_ENFORCE": past}); code != 1 || !strings.Contains(errOut, "WHARF_MANDATE") {
		t.Errorf("dates out of order: %d %q", code, errOut)
	}
	// A brown-out in force is the enforce phase, and the policy file's settings are shown.
	policyFile := filepath.Join(dir, "policy.toml")
	if err := os.WriteFile(policyFile, []byte(fmt.Sprintf("[mandate]\nnotice = %s\nbrownouts = [{ start = %s, end = %s }]\n[critical]\nrequire_keys = true\n",
		past, past, future)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = show(map[string]string{"WHARF_POLICY_FILE": policyFile})
	if code != 0 || !strings.HasPrefix(out, "phase in force: enforce\n") || !strings.Contains(out, "(now)") ||
		!strings.Contains(out, "critical projects require security keys: true") {
		t.Errorf("a brown-out from the policy file: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := show(map[string]string{"WHARF_MANDATE_BROWNOUTS": future + "/" + past}); code != 1 || !strings.Contains(errOut, "WHARF_MANDATE_BROWNOUTS") {
		t.Errorf("a brown-out that ends before it starts: %d %q", code, errOut)
	}

	// An administrator places one account under enforce early, in the history.
	if code, _, errOut := runCLI(t, dir, "a long passphrase\n", "user", "create", "erin", "--email", "erin@example.com"); code != 0 {
		t.Fatalf("user create: %q", errOut)
	}
	if code, out, errOut := runCLI(t, dir, "", "policy", "enforce-early", "--user", "ERIN", "--reason", "maintains the build tools"); code != 0 || out != "user erin is under enforce now\n" {
		t.Errorf("enforce-early: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCLI(t, dir, "", "policy", "enforce-early", "--user", "erin", "--reason", "again"); code != 0 || !strings.Contains(out, "already") {
		t.Errorf("twice: %d %q", code, out)
	}
	if code, out, _ := show(nil); code != 0 || !strings.Contains(out, "under enforce early: user erin, since ") {
		t.Errorf("show lists it: %q", out)
	}
	for _, args := range [][]string{{"--user", "nobody", "--reason", "x"}, {"--user", "erin", "--project", "p", "--reason", "x"}, {"--user", "erin"}} {
		if code, _, errOut := runCLI(t, dir, "", append([]string{"policy", "enforce-early"}, args...)...); code != 1 || errOut == "" {
			t.Errorf("enforce-early %v: %d %q", args, code, errOut)
		}
	}
	if code, out, errOut := runCLI(t, dir, "", "policy", "lift-early", "--user", "erin", "--reason", "has a key now"); code != 0 || out != "user erin is no longer under enforce early\n" {
		t.Errorf("lift-early: %d %q %q", code, out, errOut)
	}
	if code, out, _ := show(nil); code != 0 || strings.Contains(out, "under enforce early") {
		t.Errorf("show after the lift: %q", out)
	}
	if code, out, _ := runCLI(t, dir, "", "policy", "lift-early", "--user", "erin", "--reason", "again"); code != 0 || !strings.Contains(out, "was not under enforce early") {
		t.Errorf("lifting twice: %d %q", code, out)
	}
}
