package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wharf/internal/disclosure/disclosuretest"
	"wharf/internal/store"
	"wharf/internal/tokens"
)

// TestServeTakesDisclosures starts the real server with WHARF_DISCLOSURE_KEYS_URL and reports a token minted by
// `wharf token create` (K9): the wiring, from the setting to the revoked record.
func TestServeTakesDisclosures(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := runCLI(t, dir, "a long passphrase\n", "user", "create", "alice", "--email", "alice@example.com"); code != 0 {
		t.Fatalf("user create: %d %q %q", code, out, errOut)
	}
	code, out, errOut := runCLI(t, dir, "", "token", "create", "--user", "alice")
	if code != 0 {
		t.Fatalf("token create: %d %q %q", code, out, errOut)
	}
	tok := strings.TrimSpace(out)

	scanner := disclosuretest.New(t)
	scanner.Key(t, "k1")
	scanner.Publish("k1")

	stdout, w := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		e := &env{stdin: strings.NewReader(""), stdout: w, stderr: io.Discard, getenv: func(k string) string {
			return map[string]string{"WHARF_DATA_DIR": dir, "WHARF_LISTEN": "127.0.0.1:0",
				"WHARF_DISCLOSURE_KEYS_URL": scanner.URL, "WHARF_METRICS": "false"}[k]
		}}
		done <- run(ctx, e, []string{"serve"})
		w.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited with %d", code)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	go io.Copy(io.Discard, stdout)
	addr := runningAt.FindStringSubmatch(strings.TrimSpace(line))
	if addr == nil {
		t.Fatalf("serve printed %q", line)
	}

	body := disclosuretest.Body(disclosuretest.Report{Token: tok, Type: "wharf_api_token",
		URL: "https://github.com/octocat/hello/blob/1a2b3c/.pypirc", Source: "content"})
	req, err := http.NewRequest(http.MethodPost, addr[1]+"/_/secrets/disclose-token", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Github-Public-Key-Identifier", "k1")
	req.Header.Set("Github-Public-Key-Signature", scanner.Sign(t, "k1", body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204", resp.StatusCode)
	}

	id, err := tokens.ParseID(tok)
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec, err := db.TokenByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rec.RevokedAt.IsZero() {
		t.Error("the reported token was not revoked")
	}
	// Without WHARF_SMTP_URL the owner's mail is in the outbox folder.
	mails, err := filepath.Glob(filepath.Join(dir, "outbox", "*"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, name := range mails {
		if b, err := os.ReadFile(name); err == nil && bytes.Contains(b, []byte("X-Wharf-Kind: token-leaked")) &&
			bytes.Contains(b, []byte("alice@example.com")) {
			found = true
		}
	}
	if !found {
		t.Errorf("no token-leaked mail to alice among %q", mails)
	}
}
