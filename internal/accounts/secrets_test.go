package accounts

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"wharf/internal/audit"
)

// TestNoSecretsRecorded runs every flow of the package through the real audit log and then searches every
// recorded event, every log line and every returned error for the passwords, tokens and CSRF values used (A2).
func TestNoSecretsRecorded(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, engines(t)[0].Open)
	var logs bytes.Buffer
	log := audit.New(f.db, f.clock.Now, slog.New(slog.NewTextHandler(&logs, nil)))
	users := NewUsers(f.db, f.hasher, f.clock.Now, WithRecorder(log))
	sessions := NewSessions(f.db, log, f.clock.Now, SessionConfig{})

	var secrets, errs []string
	secret := func(s string) string { secrets = append(secrets, s); return s }
	check := func(err error) {
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	from := audit.Request{IP: "198.51.100.7", UserAgent: "flow-test"}

	first, second, third := secret("Opal-lantern-River-73"), secret("second-Quartz-harbour-58"), secret("third-Willow-compass-21")
	acct, err := users.Register(ctx, "alice", "alice@example.com", first, from)
	must(err)
	_, err = users.Register(ctx, "bob", "bob@example.com", secret("qwerty123"), from)
	check(err)

	_, err = users.Login(ctx, "alice", secret("Opal-lantern-River-74"), from)
	check(err)
	_, err = users.Login(ctx, secret("typed-password-as-username-1"), "whatever-it-is-99", from)
	check(err)
	_, err = users.Login(ctx, "nobody", secret("password-of-nobody-12"), from)
	check(err)
	_, err = users.Login(ctx, "alice", first, from)
	must(err)
	half, hs, err := sessions.Create(ctx, acct.ID, LevelPassword, WithoutKey, from.IP, from.UserAgent)
	must(err)
	secret(half)
	secret(hs.CSRFToken())
	full, fs, err := sessions.Rotate(ctx, half, LevelFull, WithoutKey)
	must(err)
	secret(full)
	secret(fs.CSRFToken())
	row, err := f.db.SessionByHash(ctx, fs.ID)
	must(err)
	secret(row.CSRFSecret)

	_, link, err := users.StartVerification(ctx, acct.ID, from)
	must(err)
	secret(link)
	_, err = users.Verify(ctx, link, from)
	must(err)
	_, err = users.Verify(ctx, link, from)
	check(err)

	check(users.ConfirmPassword(ctx, acct.ID, secret("not-my-password-55"), from))
	must(users.ConfirmPassword(ctx, acct.ID, first, from))
	_, err = sessions.Reauthenticate(ctx, full, WithoutKey)
	must(err)

	check(users.ChangePassword(ctx, acct.ID, secret("wrong-current-pass-66"), second, full, from))
	check(users.ChangePassword(ctx, acct.ID, first, secret("Password1!"), full, from))
	must(users.ChangePassword(ctx, acct.ID, first, second, full, from))

	_, reset, _, err := users.StartReset(ctx, "alice@example.com", from)
	must(err)
	secret(reset)
	_, _, _, err = users.StartReset(ctx, secret("typed-password-in-reset-7"), from)
	check(err)
	_, err = users.FinishReset(ctx, reset, secret("iloveyou1"), from)
	check(err)
	_, err = users.FinishReset(ctx, reset, third, from)
	must(err)
	_, err = users.FinishReset(ctx, reset, third, from)
	check(err)
	_, err = sessions.Lookup(ctx, full)
	check(err)

	again, _, err := sessions.Create(ctx, acct.ID, LevelFull, WithoutKey, from.IP, from.UserAgent)
	must(err)
	secret(again)
	_, err = sessions.LogoutEverywhere(ctx, acct.ID, again, from)
	must(err)
	must(sessions.Logout(ctx, again, from))
	must(users.Disable(ctx, 0, acct.ID, from))

	events, err := f.db.Events(ctx, 0, 0, 1000)
	must(err)
	kinds := map[string]bool{}
	var haystack []string
	for _, e := range events {
		kinds[e.Kind] = true
		haystack = append(haystack, e.Kind, e.IP, e.UserAgent, e.Detail)
	}
	for _, k := range []string{Registered, LoginFailed, LoginSucceeded, EmailVerifyStarted, EmailVerified, ReauthFailed,
		Reauthenticated, PasswordChangeFailed, PasswordChanged, PasswordResetStarted, PasswordReset, LoggedOutEverywhere,
		LoggedOut, UserDisabled} {
		if !kinds[k] {
			t.Errorf("the flow recorded no %q event", k)
		}
	}
	if len(errs) < 8 {
		t.Errorf("only %d refusals were collected: the flow did not exercise its error paths", len(errs))
	}
	haystack = append(haystack, errs...)
	haystack = append(haystack, logs.String())
	for _, s := range secrets {
		for _, h := range haystack {
			if strings.Contains(h, s) {
				t.Errorf("secret %q found in %q", s, h)
			}
		}
	}
}
