package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestIssuerAndPublisherCommands: an administrator registers an issuer with an open and a fixed claim, refuses one
// that would let every job of its CI publish, adds a publisher of it to a project, lists and removes both.
func TestIssuerAndPublisherCommands(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCLI(t, dir, "", "issuer", "add", "forgejo", "https://forgejo.example.org/api/actions",
		"--claim", "repository", "--claim", "runner_environment=self-hosted"); code != 0 || !strings.Contains(out, "registered issuer forgejo") {
		t.Fatalf("issuer add: %d %q %q", code, out, errOut)
	}
	for _, bad := range [][]string{
		{"issuer", "add", "closed", "https://ci.example.org", "--claim", "runner=x"},
		{"issuer", "add", "plain", "http://ci.example.org", "--claim", "repository"},
		{"issuer", "add", "forgejo", "https://other.example.org", "--claim", "repository"},
		{"issuer", "add", "github", "https://token.actions.githubusercontent.com", "--claim", "repository"},
	} {
		if code, _, errOut := runCLI(t, dir, "", bad...); code == 0 || errOut == "" {
			t.Errorf("%v was accepted", bad)
		}
	}
	code, out, _ := runCLI(t, dir, "", "issuer", "list", "--json")
	var issuers []struct {
		Name   string
		Claims map[string]string
	}
	if code != 0 || json.Unmarshal([]byte(out), &issuers) != nil || len(issuers) != 1 || issuers[0].Claims["runner_environment"] != "self-hosted" {
		t.Fatalf("issuer list: %d %q", code, out)
	}

	if code, _, errOut := runCLI(t, dir, "", "publisher", "add", "nothing", "github", "--field", "owner=o"); code == 0 || !strings.Contains(errOut, `no project "nothing"`) {
		t.Errorf("a publisher of a missing project: %d %q", code, errOut)
	}
	if code, out, errOut := runCLI(t, dir, "correct horse battery staple\n", "user", "create", "alice", "--email", "alice@example.com"); code != 0 {
		t.Fatalf("user create: %q %q", out, errOut)
	}
	code, out, errOut := runCLI(t, dir, "", "publisher", "add", "fresh", "oidc", "--issuer", "forgejo", "--pending", "--owner", "alice",
		"--field", "repository=team/fresh", "--json")
	var pub struct {
		ID          int64
		Pending     bool
		Description string
	}
	if code != 0 || json.Unmarshal([]byte(out), &pub) != nil || !pub.Pending || !strings.Contains(pub.Description, "repository=team/fresh") {
		t.Fatalf("pending publisher: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, dir, "", "publisher", "add", "fresh2", "oidc", "--issuer", "forgejo", "--pending", "--owner", "alice",
		"--field", "repository=team/x", "--field", "runner_environment=cloud"); code == 0 || !strings.Contains(errOut, "no field") {
		t.Errorf("a fixed claim given as a field: %d %q", code, errOut)
	}
	if code, out, _ := runCLI(t, dir, "", "publisher", "list"); code != 0 || !strings.Contains(out, "fresh (pending, expires") {
		t.Errorf("publisher list: %d %q", code, out)
	}
	if code, out, errOut := runCLI(t, dir, "", "issuer", "remove", "forgejo"); code != 0 || !strings.Contains(out, "removed issuer forgejo") {
		t.Fatalf("issuer remove: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCLI(t, dir, "", "publisher", "list"); code != 0 || out != "no publishers\n" {
		t.Errorf("the issuer's publishers outlived it: %q", out)
	}
}
