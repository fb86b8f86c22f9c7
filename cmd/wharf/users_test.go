package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestUserAndNameCommands(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, dir, "a long passphrase\n", "user", "create", "alice", "--email", "alice@example.com"); code != 0 {
		t.Fatalf("user create: %d %q", code, errOut)
	}
	var got struct {
		Username        string
		Admin, Disabled bool
	}
	code, out, errOut := runCLI(t, dir, "", "user", "admin", "ALICE", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || !got.Admin || got.Username != "alice" {
		t.Fatalf("user admin: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCLI(t, dir, "", "user", "admin", "alice", "--revoke"); code != 0 || !strings.Contains(out, "no longer") {
		t.Errorf("user admin --revoke: %d %q", code, out)
	}
	code, out, errOut = runCLI(t, dir, "", "user", "disable", "alice", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &got) != nil || !got.Disabled {
		t.Fatalf("user disable: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCLI(t, dir, "", "user", "enable", "alice"); code != 0 || !strings.Contains(out, "enabled user alice") {
		t.Errorf("user enable: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, dir, "", "user", "disable", "nobody"); code != 1 || !strings.Contains(errOut, `no user "nobody"`) {
		t.Errorf("disable a missing user: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, dir, "", "user", "frobnicate", "alice"); code != 1 || !strings.Contains(errOut, "usage") {
		t.Errorf("unknown user action: %d %q", code, errOut)
	}

	var name struct{ Name, Reason string }
	code, out, errOut = runCLI(t, dir, "", "name", "reserve", "Requests_Fork", "--reason", "typosquat of requests", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &name) != nil || name.Name != "requests-fork" || name.Reason != "typosquat of requests" {
		t.Fatalf("name reserve: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCLI(t, dir, "", "name", "reserve", "other"); code != 0 || out != "reserved other\n" {
		t.Errorf("name reserve: %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, dir, "", "name", "reserve", "not_a_name!"); code != 1 || !strings.Contains(errOut, "not a valid project name") {
		t.Errorf("invalid name: %d %q", code, errOut)
	}
}
