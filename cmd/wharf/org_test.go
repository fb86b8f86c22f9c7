package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestOrgCommands: an administrator creates an organization for a user, adds members, lists and shows it; names
// of users and other organizations, unknown users and roles are refused.
func TestOrgCommands(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{"alice", "bob"} {
		if code, out, errOut := runCLI(t, dir, "correct horse battery staple\n", "user", "create", u, "--email", u+"@example.com"); code != 0 {
			t.Fatalf("user create: %q %q", out, errOut)
		}
	}
	if code, out, errOut := runCLI(t, dir, "", "org", "create", "Acme", "--owner", "alice", "--display-name", "Acme Corp"); code != 0 || !strings.Contains(out, "created organization Acme, owned by alice") {
		t.Fatalf("org create: %d %q %q", code, out, errOut)
	}
	for _, bad := range [][]string{
		{"org", "create", "acme", "--owner", "bob"},
		{"org", "create", "bob", "--owner", "alice"},
		{"org", "create", "other", "--owner", "nobody"},
		{"org", "create", "other"},
		{"org", "add-member", "acme", "nobody", "--role", "Member"},
		{"org", "add-member", "acme", "bob", "--role", "Boss"},
		{"org", "add-member", "nothing", "bob", "--role", "Member"},
	} {
		if code, _, errOut := runCLI(t, dir, "", bad...); code == 0 || errOut == "" {
			t.Errorf("%v was accepted", bad)
		}
	}
	if code, out, errOut := runCLI(t, dir, "", "org", "add-member", "acme", "bob", "--role", "Manager"); code != 0 || !strings.Contains(out, "bob is a member of acme as Manager") {
		t.Fatalf("add-member: %d %q %q", code, out, errOut)
	}
	code, out, _ := runCLI(t, dir, "", "org", "show", "ACME", "--json")
	var show struct {
		Name        string `json:"name"`
		DisplayName string `json:"display_name"`
		Members     []struct{ Username, Role string }
	}
	if code != 0 || json.Unmarshal([]byte(out), &show) != nil || show.DisplayName != "Acme Corp" || len(show.Members) != 2 ||
		show.Members[0].Username != "alice" || show.Members[0].Role != "Owner" || show.Members[1].Role != "Manager" {
		t.Fatalf("org show: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, dir, "", "org", "list"); code != 0 || out != "Acme\tAcme Corp\n" {
		t.Errorf("org list: %d %q", code, out)
	}
	// Where administrators approve new organizations, one waits until approved.
	if code, out, errOut := runCLI(t, dir, "", "org", "approve", "acme"); code == 0 || !strings.Contains(errOut, "approved already") {
		t.Errorf("approving an approved organization: %d %q %q", code, out, errOut)
	}
	// A user cannot take an organization's name either.
	if code, _, errOut := runCLI(t, dir, "correct horse battery staple\n", "user", "create", "acme", "--email", "acme@example.com"); code == 0 {
		t.Errorf("a user took an organization's name: %q", errOut)
	}
}
