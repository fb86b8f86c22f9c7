package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wharf/internal/store"
)

// TestPromoCommands: an administrator loads the codes of the security-key offer from a file or standard input
// (comments and blank lines skipped, a code loaded twice counted once), the load is audited, and stats count the
// codes loaded, claimed and left.
func TestPromoCommands(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "codes.txt")
	if err := os.WriteFile(file, []byte("# Titan keys, spring batch\nAAAA-1111\n\n  BBBB-2222  \nCCCC-3333\nAAAA-1111\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, dir, "", "promo", "load", file, "--batch", "spring"); code != 0 || out != "loaded 3 codes (1 already present)\n" {
		t.Fatalf("load: %d %q %q", code, out, errOut)
	}
	code, out, errOut := runCLI(t, dir, "CCCC-3333\n# a comment\nDDDD-4444\n", "promo", "load", "-", "--json")
	var loaded struct{ Added, Present int }
	if code != 0 || json.Unmarshal([]byte(out), &loaded) != nil || loaded.Added != 1 || loaded.Present != 1 {
		t.Fatalf("load from stdin: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, dir, "EEEE\nbad\x1bcode\n", "promo", "load", "-"); code != 1 || !strings.Contains(errOut, "standard input, line 2") {
		t.Errorf("a control character: %d %q", code, errOut)
	}

	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := db.CreateUser(ctx, store.User{Username: "alice", Email: "alice@example.com", PasswordHash: "h", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if pc, _, err := db.ClaimPromoCode(ctx, u.ID, time.Now()); err != nil || pc.Code != "AAAA-1111" || pc.Batch != "spring" {
		t.Fatalf("claim: %+v, %v", pc, err)
	}
	if _, err := db.PromoCodeOf(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	events, err := db.Events(ctx, 0, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var loads []string
	for _, ev := range events {
		if ev.Kind == EventPromoLoad {
			loads = append(loads, ev.Detail)
		}
	}
	if len(loads) != 2 || !strings.Contains(strings.Join(loads, "|"), "loaded 3 security-key codes (1 already present) in batch spring") {
		t.Errorf("load events: %q", loads)
	}
	for _, d := range loads {
		if strings.Contains(d, "AAAA") {
			t.Errorf("a code is in the history: %q", d)
		}
	}

	if code, out, _ := runCLI(t, dir, "", "promo", "stats"); code != 0 || out != "4 codes loaded, 1 claimed, 3 left\n" {
		t.Errorf("stats: %d %q", code, out)
	}
	var stats struct{ Loaded, Claimed, Left int }
	if code, out, _ := runCLI(t, dir, "", "promo", "stats", "--json"); code != 0 || json.Unmarshal([]byte(out), &stats) != nil || stats != (struct{ Loaded, Claimed, Left int }{4, 1, 3}) {
		t.Errorf("stats --json: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, dir, "", "promo", "load", filepath.Join(dir, "missing.txt")); code != 1 || !strings.Contains(errOut, "missing.txt") {
		t.Errorf("a missing file: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, dir, "", "promo"); code != 1 || !strings.Contains(errOut, "usage: wharf promo load FILE") {
		t.Errorf("no action: %d %q", code, errOut)
	}
}
