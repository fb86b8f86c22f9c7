package accounts

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/audit"
	"wharf/internal/store"
)

var from = audit.Request{IP: "192.0.2.1", UserAgent: "test"}

func TestRegister(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, engines(t)[0].Open)
	acct, err := f.users.Register(ctx, "Alice", "alice@example.com", "tangerine-umbrella-47", from)
	if err != nil {
		t.Fatal(err)
	}
	if !acct.EmailVerifiedAt.IsZero() || acct.IsAdmin || acct.Disabled || !acct.PasswordChangedAt.Equal(t0) {
		t.Errorf("new account %+v: want unverified, not admin, enabled, password dated now", acct)
	}
	if diff := cmp.Diff([]event{{Registered, acct.ID, "registered"}}, f.rec.take()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	for _, tc := range []struct {
		name, username, email, password string
		want                            error
	}{
		{"username taken in another case", "ALICE", "other@example.com", "tangerine-umbrella-47", ErrUsernameTaken},
		{"address taken in another case", "carol", "Alice@Example.com", "tangerine-umbrella-47", ErrEmailTaken},
		{"common password", "carol", "carol@example.com", "Password1", ErrPasswordCommon},
		{"password with the username", "carolyn", "c@example.com", "carolyn-rocks-1999", ErrPasswordHasUsername},
		{"password with the address", "dave", "carol.smith@example.com", "x-carol.smith-x", ErrPasswordHasEmail},
		{"too short", "carol", "carol@example.com", "short", ErrPasswordTooShort},
		{"bad username", "__token__", "t@example.com", "tangerine-umbrella-47", ErrInvalidUsername},
		{"bad address", "carol", "Carol <carol@example.com>", "tangerine-umbrella-47", ErrInvalidEmail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.users.Register(ctx, tc.username, tc.email, tc.password, from); !errors.Is(err, tc.want) {
				t.Errorf("Register = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestLoginPaths proves R4 without timing: every path answers alike and costs exactly one argon2 verification.
func TestLoginPaths(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			alice, banned := f.user("alice"), f.user("banned")
			if err := f.users.Disable(ctx, 0, banned.ID, from); err != nil {
				t.Fatal(err)
			}
			f.rec.take()
			for _, tc := range []struct {
				name, username, password string
				wantErr                  error
				wantEvent                event
			}{
				{"right password", "alice", testPassword, nil, event{LoginSucceeded, alice.ID, "password"}},
				{"username in another case", " ALICE ", testPassword, nil, event{LoginSucceeded, alice.ID, "password"}},
				{"wrong password", "alice", "tangerine-umbrella-48", ErrBadCredentials, event{LoginFailed, alice.ID, "wrong password"}},
				{"unknown user", "mallory", testPassword, ErrBadCredentials, event{LoginFailed, 0, "no such account"}},
				{"disabled user, right password", "banned", testPassword, ErrBadCredentials, event{LoginFailed, banned.ID, "account disabled"}},
				{"disabled user, wrong password", "banned", "nope-nope-nope", ErrBadCredentials, event{LoginFailed, banned.ID, "wrong password"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					f.verifies.Store(0)
					got, err := f.users.Login(ctx, tc.username, tc.password, from)
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("Login = %v, want %v", err, tc.wantErr)
					}
					if err != nil && err.Error() != ErrBadCredentials.Error() {
						t.Errorf("refusal %q differs from the others'", err)
					}
					if err == nil && got.ID != alice.ID {
						t.Errorf("logged in as %d, want %d", got.ID, alice.ID)
					}
					if n := f.verifies.Load(); n != 1 {
						t.Errorf("%d argon2 verifications, want exactly 1 on every path", n)
					}
					if diff := cmp.Diff([]event{tc.wantEvent}, f.rec.take()); diff != "" {
						t.Errorf("events (-want +got):\n%s", diff)
					}
				})
			}
		})
	}
}

func TestLoginUnicodeAndUnverified(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, engines(t)[0].Open)
	nfc, nfd := "caf\u00e9-au-lait-42", "cafe\u0301-au-lait-42"
	acct, err := f.users.Register(ctx, "zoe", "zoe@example.com", nfc, from)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.users.Login(ctx, "zoe", nfd, from)
	if err != nil || got.ID != acct.ID {
		t.Errorf("NFD form of an NFC password: %v", err)
	}
	if !got.EmailVerifiedAt.IsZero() {
		t.Error("login verified the address")
	}
}

func TestConfirmPassword(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, engines(t)[0].Open)
	alice, bob := f.user("alice"), f.user("bob")
	if err := f.db.SetPassword(ctx, bob.ID, mustHash(t, f.hasher, "bobs-own-password-1"), t0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, password string
		want           error
		wantEvent      event
	}{
		{"own password", testPassword, nil, event{Reauthenticated, alice.ID, "password"}},
		{"another user's password", "bobs-own-password-1", ErrWrongPassword, event{ReauthFailed, alice.ID, "wrong password"}},
		{"wrong password", "guess-guess-guess", ErrWrongPassword, event{ReauthFailed, alice.ID, "wrong password"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := f.users.ConfirmPassword(ctx, alice.ID, tc.password, from); !errors.Is(err, tc.want) {
				t.Errorf("ConfirmPassword = %v, want %v", err, tc.want)
			}
			if diff := cmp.Diff([]event{tc.wantEvent}, f.rec.take()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func mustHash(t *testing.T, h *Hasher, password string) string {
	t.Helper()
	hash, err := h.Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	return hash
}

func TestChangePassword(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			alice, bob := f.user("alice"), f.user("bob")
			if err := f.db.SetPassword(ctx, bob.ID, mustHash(t, f.hasher, "bobs-own-password-1"), t0); err != nil {
				t.Fatal(err)
			}
			current, other, bobs := f.session(alice.ID), f.session(alice.ID), f.session(bob.ID)
			_, link, found, err := f.users.StartReset(ctx, "alice", from)
			if err != nil || !found {
				t.Fatal(err)
			}
			f.rec.take()

			for _, tc := range []struct {
				name, current, next string
				want                error
			}{
				{"another user's password as the current one", "bobs-own-password-1", "brand-new-secret-9", ErrWrongPassword},
				{"wrong current password", "tangerine-umbrella-00", "brand-new-secret-9", ErrWrongPassword},
				{"common new password", testPassword, "qwerty123", ErrPasswordCommon},
				{"new password with the username", testPassword, "alice-in-chains", ErrPasswordHasUsername},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if err := f.users.ChangePassword(ctx, alice.ID, tc.current, tc.next, current, from); !errors.Is(err, tc.want) {
						t.Errorf("ChangePassword = %v, want %v", err, tc.want)
					}
				})
			}
			if !f.alive(other) {
				t.Fatal("a refused change ended a session")
			}
			f.rec.take()

			f.clock.Advance(time.Minute)
			if err := f.users.ChangePassword(ctx, alice.ID, testPassword, "brand-new-secret-9", current, from); err != nil {
				t.Fatal(err)
			}
			alive := map[string]bool{"current": f.alive(current), "other": f.alive(other), "bob's": f.alive(bobs)}
			if diff := cmp.Diff(map[string]bool{"current": true, "other": false, "bob's": true}, alive); diff != "" {
				t.Errorf("sessions after a change (-want +got):\n%s", diff)
			}
			if _, err := f.users.FinishReset(ctx, link, "another-new-secret-8", from); !errors.Is(err, ErrLinkInvalid) {
				t.Errorf("reset link from before the change: got %v, want ErrLinkInvalid", err)
			}
			if _, err := f.users.Login(ctx, "alice", testPassword, from); !errors.Is(err, ErrBadCredentials) {
				t.Errorf("old password after the change: got %v", err)
			}
			if _, err := f.users.Login(ctx, "alice", "brand-new-secret-9", from); err != nil {
				t.Errorf("new password after the change: %v", err)
			}
			acct, _ := f.db.AccountByID(ctx, alice.ID)
			if !acct.PasswordChangedAt.Equal(f.clock.Now()) {
				t.Errorf("password_changed_at = %v, want %v", acct.PasswordChangedAt, f.clock.Now())
			}
			wantEvents := []event{{PasswordChanged, alice.ID, "other sessions and reset links ended"},
				{LoginFailed, alice.ID, "wrong password"}, {LoginSucceeded, alice.ID, "password"}}
			if diff := cmp.Diff(wantEvents, f.rec.take()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStartResetPaths proves R4 for resets: every path returns the same shape when no link is sent, none costs an
// argon2 computation, and each writes exactly one event.
func TestStartResetPaths(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, engines(t)[0].Open)
	alice, banned := f.user("alice"), f.user("banned")
	if err := f.users.Disable(ctx, 0, banned.ID, from); err != nil {
		t.Fatal(err)
	}
	f.rec.take()
	for _, tc := range []struct {
		name, who string
		wantFound bool
		wantEvent event
	}{
		{"by username", "Alice", true, event{PasswordResetStarted, alice.ID, "link sent to alice@example.com"}},
		{"by address in another case", " ALICE@example.com ", true, event{PasswordResetStarted, alice.ID, "link sent to alice@example.com"}},
		{"unknown username", "mallory", false, event{PasswordResetStarted, 0, "no such account: no link sent"}},
		{"unknown address", "mallory@example.com", false, event{PasswordResetStarted, 0, "no such account: no link sent"}},
		{"disabled account", "banned", false, event{PasswordResetStarted, banned.ID, "account disabled: no link sent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.verifies.Store(0)
			acct, token, found, err := f.users.StartReset(ctx, tc.who, from)
			if err != nil || found != tc.wantFound {
				t.Fatalf("StartReset: found=%v err=%v; want found=%v", found, err, tc.wantFound)
			}
			if found && (acct.ID != alice.ID || len(token) != 43) {
				t.Errorf("found account %d with token of %d characters", acct.ID, len(token))
			}
			if !found && (acct != store.Account{} || token != "") {
				t.Errorf("no account, yet a result: %+v %q", acct, token)
			}
			if n := f.verifies.Load(); n != 0 {
				t.Errorf("%d argon2 verifications; want the same (none) on every path", n)
			}
			if diff := cmp.Diff([]event{tc.wantEvent}, f.rec.take()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFinishReset(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			alice := f.user("alice")
			s1, s2 := f.session(alice.ID), f.session(alice.ID)
			_, link, _, err := f.users.StartReset(ctx, "alice", from)
			if err != nil {
				t.Fatal(err)
			}
			_, otherLink, _, err := f.users.StartReset(ctx, "alice@example.com", from)
			if err != nil {
				t.Fatal(err)
			}
			_, verifyLink, err := f.users.StartVerification(ctx, alice.ID, from)
			if err != nil {
				t.Fatal(err)
			}
			f.rec.take()

			for _, tc := range []struct {
				name, token, password string
				want                  error
			}{
				{"garbage token", "not-a-token", "fresh-password-123x", ErrLinkInvalid},
				{"verification link used for a reset", verifyLink, "fresh-password-123x", ErrLinkInvalid},
				{"weak password keeps the link", link, "iloveyou", ErrPasswordCommon},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if _, err := f.users.FinishReset(ctx, tc.token, tc.password, from); !errors.Is(err, tc.want) {
						t.Errorf("FinishReset = %v, want %v", err, tc.want)
					}
				})
			}
			f.clock.Advance(30 * time.Minute)
			acct, err := f.users.FinishReset(ctx, link, "fresh-password-123x", from)
			if err != nil {
				t.Fatal(err)
			}
			if acct.EmailVerifiedAt.IsZero() {
				t.Error("following a reset link did not verify the address it was sent to")
			}
			for name, err := range map[string]error{
				"same link again": func() error { _, err := f.users.FinishReset(ctx, link, "other-password-456y", from); return err }(),
				"older link":      func() error { _, err := f.users.FinishReset(ctx, otherLink, "other-password-456y", from); return err }(),
			} {
				if !errors.Is(err, ErrLinkInvalid) {
					t.Errorf("%s: got %v, want ErrLinkInvalid", name, err)
				}
			}
			if f.alive(s1) || f.alive(s2) {
				t.Error("a session survived a password reset")
			}
			if _, err := f.users.Login(ctx, "alice", "fresh-password-123x", from); err != nil {
				t.Errorf("login with the new password: %v", err)
			}
			wantEvents := []event{{PasswordReset, alice.ID, "password reset by email link; all sessions ended"},
				{LoginSucceeded, alice.ID, "password"}}
			if diff := cmp.Diff(wantEvents, f.rec.take()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResetLinkLimits(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		before func(f *fixture, userID int64)
		want   error
	}{
		{"used just in time", func(f *fixture, _ int64) { f.clock.Advance(time.Hour - time.Second) }, nil},
		{"expired after an hour", func(f *fixture, _ int64) { f.clock.Advance(time.Hour) }, ErrLinkInvalid},
		{"address changed since", func(f *fixture, id int64) {
			if _, err := f.users.ChangeEmail(ctx, id, "new-alice@example.com", from); err != nil {
				f.t.Fatal(err)
			}
		}, ErrLinkInvalid},
		{"account disabled since", func(f *fixture, id int64) {
			if err := f.users.Disable(ctx, 0, id, from); err != nil {
				f.t.Fatal(err)
			}
		}, ErrLinkInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, engines(t)[0].Open)
			alice := f.user("alice")
			_, link, _, err := f.users.StartReset(ctx, "alice", from)
			if err != nil {
				t.Fatal(err)
			}
			tc.before(f, alice.ID)
			if _, err := f.users.FinishReset(ctx, link, "fresh-password-123x", from); !errors.Is(err, tc.want) {
				t.Errorf("FinishReset = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFinishResetConcurrently(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			f.user("alice")
			_, link, _, err := f.users.StartReset(ctx, "alice", from)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins, refused := 0, 0
			for range 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := f.users.FinishReset(ctx, link, "fresh-password-123x", from)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						wins++
					case errors.Is(err, ErrLinkInvalid):
						refused++
					default:
						t.Errorf("unexpected error: %v", err)
					}
				}()
			}
			wg.Wait()
			if wins != 1 || refused != 19 {
				t.Errorf("%d resets succeeded and %d were refused; want 1 and 19", wins, refused)
			}
		})
	}
}

func TestVerification(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			alice := f.user("alice")
			to, first, err := f.users.StartVerification(ctx, alice.ID, from)
			if err != nil || to != "alice@example.com" {
				t.Fatalf("StartVerification = %q, %v", to, err)
			}
			_, second, err := f.users.StartVerification(ctx, alice.ID, from)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.users.Verify(ctx, first, from); !errors.Is(err, ErrLinkInvalid) {
				t.Errorf("superseded link: got %v, want ErrLinkInvalid", err)
			}
			f.clock.Advance(23 * time.Hour)
			acct, err := f.users.Verify(ctx, second, from)
			if err != nil || !acct.EmailVerifiedAt.Equal(f.clock.Now()) {
				t.Fatalf("Verify = %+v, %v", acct, err)
			}
			if _, err := f.users.Verify(ctx, second, from); !errors.Is(err, ErrLinkInvalid) {
				t.Errorf("second use: got %v, want ErrLinkInvalid", err)
			}
			if _, _, err := f.users.StartVerification(ctx, alice.ID, from); !errors.Is(err, ErrAlreadyVerified) {
				t.Errorf("verifying a verified address: got %v, want ErrAlreadyVerified", err)
			}
			wantEvents := []event{{EmailVerifyStarted, alice.ID, "link sent to alice@example.com"},
				{EmailVerifyStarted, alice.ID, "link sent to alice@example.com"}, {EmailVerified, alice.ID, "alice@example.com"}}
			if diff := cmp.Diff(wantEvents, f.rec.take()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}

			acct, err = f.users.ChangeEmail(ctx, alice.ID, "alice@example.org", from)
			if err != nil || !acct.EmailVerifiedAt.IsZero() || acct.Email != "alice@example.org" {
				t.Fatalf("ChangeEmail = %+v, %v; want the new address, unverified", acct, err)
			}
			_, late, err := f.users.StartVerification(ctx, alice.ID, from)
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(DefaultVerifyLifetime)
			if _, err := f.users.Verify(ctx, late, from); !errors.Is(err, ErrLinkInvalid) {
				t.Errorf("link after 24 hours: got %v, want ErrLinkInvalid", err)
			}
			f.user("bob")
			if _, err := f.users.ChangeEmail(ctx, alice.ID, "BOB@example.com", from); !errors.Is(err, ErrEmailTaken) {
				t.Errorf("taking another account's address: got %v, want ErrEmailTaken", err)
			}
		})
	}
}

func TestVerificationLinkForOldAddress(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, engines(t)[0].Open)
	alice := f.user("alice")
	_, link, err := f.users.StartVerification(ctx, alice.ID, from)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.users.ChangeEmail(ctx, alice.ID, "alice@example.org", from); err != nil {
		t.Fatal(err)
	}
	if _, err := f.users.Verify(ctx, link, from); !errors.Is(err, ErrLinkInvalid) {
		t.Errorf("link sent to the replaced address: got %v, want ErrLinkInvalid", err)
	}
	if acct, _ := f.db.AccountByID(ctx, alice.ID); !acct.EmailVerifiedAt.IsZero() {
		t.Error("the new address became verified through a link sent to the old one")
	}
}

func TestAdministration(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, engines(t)[0].Open)
	admin, alice := f.user("root-admin"), f.user("alice")
	tok := f.session(alice.ID)
	by := fmt.Sprintf("by user %d", admin.ID)
	steps := []struct {
		name string
		do   func() error
		want event
	}{
		{"grant admin", func() error { return f.users.SetAdmin(ctx, admin.ID, alice.ID, true, from) }, event{AdminGranted, alice.ID, by}},
		{"revoke admin", func() error { return f.users.SetAdmin(ctx, admin.ID, alice.ID, false, from) }, event{AdminRevoked, alice.ID, by}},
		{"disable", func() error { return f.users.Disable(ctx, admin.ID, alice.ID, from) }, event{UserDisabled, alice.ID, by + "; API tokens revoked: 0"}},
		{"enable", func() error { return f.users.Enable(ctx, admin.ID, alice.ID, from) }, event{UserEnabled, alice.ID, by}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if diff := cmp.Diff([]event{s.want}, f.rec.take()); diff != "" {
			t.Errorf("%s: events (-want +got):\n%s", s.name, diff)
		}
	}
	if f.alive(tok) {
		t.Error("a session survived disabling the account (S6)")
	}
	if _, err := f.users.Login(ctx, "alice", testPassword, from); err != nil {
		t.Errorf("login after re-enabling: %v", err)
	}
	if err := f.users.Disable(ctx, admin.ID, 9999, from); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("disabling a missing user: got %v, want ErrNotFound", err)
	}
}

// TestLinkRefusalsSayWhy checks that a refused link says what its holder can tell anyway (cut or changed on the
// way, used, expired), that checking a link spends nothing, and that every refusal is still ErrLinkInvalid.
func TestLinkRefusalsSayWhy(t *testing.T) {
	ctx := context.Background()
	type flow struct {
		name  string
		start func(f *fixture, id int64) string
		check func(f *fixture, token string) error
		use   func(f *fixture, token string) error
		ttl   time.Duration
	}
	flows := []flow{
		{"verification",
			func(f *fixture, id int64) string {
				_, token, err := f.users.StartVerification(ctx, id, from)
				if err != nil {
					f.t.Fatal(err)
				}
				return token
			},
			func(f *fixture, token string) error { return f.users.CheckVerifyLink(ctx, token) },
			func(f *fixture, token string) error { _, err := f.users.Verify(ctx, token, from); return err },
			DefaultVerifyLifetime},
		{"reset",
			func(f *fixture, _ int64) string {
				_, token, _, err := f.users.StartReset(ctx, "alice", from)
				if err != nil {
					f.t.Fatal(err)
				}
				return token
			},
			func(f *fixture, token string) error { return f.users.CheckResetLink(ctx, token) },
			func(f *fixture, token string) error {
				_, err := f.users.FinishReset(ctx, token, "fresh-password-123x", from)
				return err
			},
			DefaultResetLifetime},
	}
	// change alters one character of a token, as a mail client that rewrites a link might.
	change := func(token string) string {
		c := byte('A')
		if token[10] == 'A' {
			c = 'B'
		}
		return token[:10] + string(c) + token[11:]
	}
	for _, e := range engines(t) {
		for _, fl := range flows {
			for _, tc := range []struct {
				name   string
				mangle func(f *fixture, token string) string
				want   error
			}{
				{"cut", func(_ *fixture, token string) string { return token[:len(token)-5] }, ErrLinkAltered},
				{"one character changed", func(_ *fixture, token string) string { return change(token) }, ErrLinkAltered},
				{"empty", func(*fixture, string) string { return "" }, ErrLinkAltered},
				{"used", func(f *fixture, token string) string {
					if err := fl.use(f, token); err != nil {
						f.t.Fatal(err)
					}
					return token
				}, ErrLinkUsed},
				{"expired", func(f *fixture, token string) string { f.clock.Advance(fl.ttl); return token }, ErrLinkExpired},
			} {
				t.Run(e.Name+"/"+fl.name+"/"+tc.name, func(t *testing.T) {
					f := newFixture(t, e.Open)
					alice := f.user("alice") // unverified, so that a verification link can be sent
					token := tc.mangle(f, fl.start(f, alice.ID))
					if err := fl.check(f, token); err != tc.want {
						t.Errorf("check = %v, want %v", err, tc.want)
					}
					err := fl.use(f, token)
					if err != tc.want || !errors.Is(err, ErrLinkInvalid) {
						t.Errorf("use = %v, want %v, which is also ErrLinkInvalid", err, tc.want)
					}
				})
			}
		}
		t.Run(e.Name+"/a verification link used for a reset", func(t *testing.T) {
			f := newFixture(t, e.Open)
			alice := f.user("alice")
			token := flows[0].start(f, alice.ID)
			if err := f.users.CheckResetLink(ctx, token); err != ErrLinkAltered {
				t.Errorf("CheckResetLink = %v, want ErrLinkAltered", err)
			}
			if err := f.users.CheckVerifyLink(ctx, token); err != nil {
				t.Errorf("the check spent the link: CheckVerifyLink = %v", err)
			}
		})
	}
}
