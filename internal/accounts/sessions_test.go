package accounts

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"wharf/internal/audit"
	"wharf/internal/store"
)

func TestSessionToken(t *testing.T) {
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			alice := f.user("alice")
			tok, s, err := f.sessions.Create(context.Background(), alice.ID, LevelFull, WithoutKey, "192.0.2.1", "agent\nwith newline")
			if err != nil {
				t.Fatal(err)
			}
			raw, err := base64.RawURLEncoding.DecodeString(tok)
			if err != nil || len(raw)*8 < 128 {
				t.Errorf("token %d bits (%v); want at least 128 from base64url", len(raw)*8, err)
			}
			if s.ID != hashOf(tok) || s.ID == tok {
				t.Errorf("session id %q is not the SHA-256 of the token", s.ID)
			}
			if _, err := f.db.SessionByHash(context.Background(), tok); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the raw token is a database key: %v", err)
			}
			row, err := f.db.SessionByHash(context.Background(), s.ID)
			if err != nil {
				t.Fatal(err)
			}
			if row.UserAgent != `agent\nwith newline` {
				t.Errorf("stored user agent %q: control characters must be encoded", row.UserAgent)
			}
			other, _, err := f.sessions.Create(context.Background(), alice.ID, LevelFull, WithoutKey, "", "")
			if err != nil || other == tok {
				t.Errorf("two sessions got the same token (%v)", err)
			}
		})
	}
}

func TestSessionLifetime(t *testing.T) {
	ctx := context.Background()
	type step struct {
		advance time.Duration
		want    error
	}
	for _, tc := range []struct {
		name  string
		level Level
		steps []step
	}{
		{"used within the idle limit", LevelFull, []step{{time.Hour, nil}, {time.Hour + 59*time.Minute, nil}}},
		{"idle for the idle limit", LevelFull, []step{{2 * time.Hour, ErrSessionExpired}, {0, ErrNoSession}}},
		{"busy until the absolute limit", LevelFull, []step{
			{90 * time.Minute, nil}, {90 * time.Minute, nil}, {90 * time.Minute, nil}, {90 * time.Minute, nil},
			{90 * time.Minute, nil}, {90 * time.Minute, nil}, {90 * time.Minute, nil}, {89 * time.Minute, nil},
			{time.Minute, ErrSessionExpired}}},
		{"half-logged-in within its limit", LevelPassword, []step{{9 * time.Minute, nil}}},
		{"half-logged-in past its limit", LevelPassword, []step{{5 * time.Minute, nil}, {5 * time.Minute, ErrSessionExpired}}},
	} {
		for _, e := range engines(t) {
			t.Run(tc.name+"/"+e.Name, func(t *testing.T) {
				f := newFixture(t, e.Open)
				tok, _, err := f.sessions.Create(ctx, f.user("alice").ID, tc.level, WithoutKey, "", "")
				if err != nil {
					t.Fatal(err)
				}
				for i, s := range tc.steps {
					f.clock.Advance(s.advance)
					got, err := f.sessions.Lookup(ctx, tok)
					if !errors.Is(err, s.want) {
						t.Fatalf("step %d (+%v): got %v, want %v", i, s.advance, err, s.want)
					}
					if err == nil && got.Level != tc.level {
						t.Errorf("step %d: level %q, want %q", i, got.Level, tc.level)
					}
				}
			})
		}
	}
}

func TestSessionTouchThrottled(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			tok, s, err := f.sessions.Create(ctx, f.user("alice").ID, LevelFull, WithoutKey, "", "")
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				advance time.Duration
				want    time.Time
			}{
				{30 * time.Second, t0},
				{29 * time.Second, t0},
				{time.Second, t0.Add(time.Minute)},
				{10 * time.Second, t0.Add(time.Minute)},
			} {
				f.clock.Advance(tc.advance)
				if _, err := f.sessions.Lookup(ctx, tok); err != nil {
					t.Fatal(err)
				}
				row, err := f.db.SessionByHash(ctx, s.ID)
				if err != nil {
					t.Fatal(err)
				}
				if !row.LastSeenAt.Equal(tc.want) {
					t.Errorf("at %v: stored last_seen_at %v, want %v", f.clock.Now().Sub(t0), row.LastSeenAt, tc.want)
				}
			}
		})
	}
}

func TestLookupRefusesGarbage(t *testing.T) {
	f := newFixture(t, engines(t)[0].Open)
	tok := f.session(f.user("alice").ID)
	for _, tc := range []struct{ name, token string }{
		{"empty", ""},
		{"short", "abc"},
		{"not base64url", strings.Repeat("*", len(tok))},
		{"the session id instead of the token", hashOf(tok)},
		{"one character changed", tok[:len(tok)-1] + string(tok[len(tok)-1]^1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.sessions.Lookup(context.Background(), tc.token); !errors.Is(err, ErrNoSession) {
				t.Errorf("Lookup = %v, want ErrNoSession", err)
			}
		})
	}
}

func TestRotate(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			alice := f.user("alice")
			half, halfSession, err := f.sessions.Create(ctx, alice.ID, LevelPassword, WithoutKey, "192.0.2.7", "ua")
			if err != nil {
				t.Fatal(err)
			}
			if halfSession.Full() || halfSession.Sudo(f.clock.Now(), DefaultSudoWindow) {
				t.Error("a half-logged-in session counts as full or as re-authenticated")
			}
			oldCSRF := halfSession.CSRFToken()
			f.clock.Advance(time.Minute)
			full, s, err := f.sessions.Rotate(ctx, half, LevelFull, WithoutKey)
			if err != nil {
				t.Fatal(err)
			}
			want := Session{ID: hashOf(full), UserID: alice.ID, Level: LevelFull, CreatedAt: f.clock.Now(),
				LastSeenAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(DefaultAbsolute), ReauthAt: f.clock.Now(),
				IP: "192.0.2.7", UserAgent: "ua"}
			if diff := cmp.Diff(want, s, cmpopts.IgnoreUnexported(Session{})); diff != "" {
				t.Errorf("rotated session (-want +got):\n%s", diff)
			}
			if _, err := f.sessions.Lookup(ctx, half); !errors.Is(err, ErrNoSession) {
				t.Errorf("old token after rotation: got %v, want ErrNoSession", err)
			}
			if _, _, err := f.sessions.Rotate(ctx, half, LevelFull, WithoutKey); !errors.Is(err, ErrNoSession) {
				t.Errorf("rotating a dead token again: got %v, want ErrNoSession", err)
			}
			got, err := f.sessions.Lookup(ctx, full)
			if err != nil || !got.Full() {
				t.Fatalf("new token: %+v, %v", got, err)
			}
			if got.CheckCSRF(oldCSRF) {
				t.Error("a CSRF token of the session before rotation is accepted after it")
			}

			expiring, _, err := f.sessions.Create(ctx, alice.ID, LevelPassword, WithoutKey, "", "")
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(DefaultSecondStep)
			if _, _, err := f.sessions.Rotate(ctx, expiring, LevelFull, WithoutKey); !errors.Is(err, ErrSessionExpired) {
				t.Errorf("finishing the second step too late: got %v, want ErrSessionExpired", err)
			}
			if _, _, err := f.sessions.Rotate(ctx, full, Level("admin"), WithoutKey); err == nil {
				t.Error("rotation to an unknown level succeeded")
			}
		})
	}
}

func TestSudo(t *testing.T) {
	at := t0.Add(time.Hour)
	for _, tc := range []struct {
		name string
		s    Session
		now  time.Time
		want bool
	}{
		{"just re-authenticated", Session{Level: LevelFull, ReauthAt: at}, at, true},
		{"29 minutes ago", Session{Level: LevelFull, ReauthAt: at}, at.Add(29 * time.Minute), true},
		{"30 minutes ago", Session{Level: LevelFull, ReauthAt: at}, at.Add(30 * time.Minute), false},
		{"never", Session{Level: LevelFull}, at, false},
		{"half-logged-in", Session{Level: LevelPassword, ReauthAt: at}, at, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Sudo(tc.now, DefaultSudoWindow); got != tc.want {
				t.Errorf("Sudo = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReauthenticate(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			alice := f.user("alice")
			tok := f.session(alice.ID)
			f.clock.Advance(45 * time.Minute)
			s, err := f.sessions.Lookup(ctx, tok)
			if err != nil || s.Sudo(f.clock.Now(), DefaultSudoWindow) {
				t.Fatalf("45 minutes after login: sudo=%v err=%v; want no sudo", s.Sudo(f.clock.Now(), DefaultSudoWindow), err)
			}
			if _, err := f.sessions.Reauthenticate(ctx, tok, WithoutKey); err != nil {
				t.Fatal(err)
			}
			s, err = f.sessions.Lookup(ctx, tok)
			if err != nil || !s.Sudo(f.clock.Now(), DefaultSudoWindow) || !s.ReauthAt.Equal(f.clock.Now()) {
				t.Errorf("after re-authentication: %+v, %v; want sudo", s, err)
			}
			half, _, err := f.sessions.Create(ctx, alice.ID, LevelPassword, WithoutKey, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.sessions.Reauthenticate(ctx, half, WithoutKey); !errors.Is(err, ErrSecondStepRequired) {
				t.Errorf("re-authenticating a half-logged-in session: got %v, want ErrSecondStepRequired", err)
			}
		})
	}
}

func TestLogout(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			alice, bob := f.user("alice"), f.user("bob")
			a1, a2, a3, b1 := f.session(alice.ID), f.session(alice.ID), f.session(alice.ID), f.session(bob.ID)
			from := audit.Request{IP: "192.0.2.9"}

			if err := f.sessions.Logout(ctx, a1, from); err != nil {
				t.Fatal(err)
			}
			if err := f.sessions.Logout(ctx, a1, from); err != nil {
				t.Errorf("second logout: %v", err)
			}
			n, err := f.sessions.LogoutEverywhere(ctx, alice.ID, a2, from)
			if err != nil || n != 1 {
				t.Errorf("LogoutEverywhere = %d, %v; want 1", n, err)
			}
			got := map[string]bool{"a1": f.alive(a1), "a2": f.alive(a2), "a3": f.alive(a3), "b1": f.alive(b1)}
			want := map[string]bool{"a1": false, "a2": true, "a3": false, "b1": true}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("alive sessions (-want +got):\n%s", diff)
			}
			wantEvents := []event{{LoggedOut, alice.ID, ""}, {LoggedOutEverywhere, alice.ID, "1 sessions ended"}}
			if diff := cmp.Diff(wantEvents, f.rec.take()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}

			list, err := f.sessions.List(ctx, alice.ID)
			if err != nil || len(list) != 1 || list[0].ID != hashOf(a2) {
				t.Fatalf("List = %+v, %v; want the one live session", list, err)
			}
			if err := f.sessions.End(ctx, bob.ID, list[0].ID, from); !errors.Is(err, ErrNoSession) {
				t.Errorf("ending another user's session: got %v, want ErrNoSession", err)
			}
			if err := f.sessions.End(ctx, alice.ID, list[0].ID, from); err != nil || f.alive(a2) {
				t.Errorf("ending one's own session: %v, alive=%v", err, f.alive(a2))
			}

			f.clock.Advance(DefaultIdle)
			if n, err := f.sessions.Prune(ctx); err != nil || n != 1 {
				t.Errorf("Prune = %d, %v; want bob's idle session", n, err)
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t, engines(t)[0].Open)
	ctx := context.Background()
	alice := f.user("alice")
	_, s, err := f.sessions.Create(ctx, alice.ID, LevelFull, WithoutKey, "", "")
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := f.sessions.Create(ctx, alice.ID, LevelFull, WithoutKey, "", "")
	if err != nil {
		t.Fatal(err)
	}
	tok := s.CSRFToken()
	if tok == s.CSRFToken() {
		t.Error("two CSRF tokens of one session are equal: they must be masked with a fresh nonce")
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	raw[len(raw)-1] ^= 1
	for _, tc := range []struct {
		name  string
		s     Session
		token string
		want  bool
	}{
		{"own token", s, tok, true},
		{"another fresh own token", s, s.CSRFToken(), true},
		{"another session's token", other, tok, false},
		{"tampered", s, base64.RawURLEncoding.EncodeToString(raw), false},
		{"empty", s, "", false},
		{"truncated", s, tok[:20], false},
		{"session without a secret", Session{ID: s.ID}, tok, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.CheckCSRF(tc.token); got != tc.want {
				t.Errorf("CheckCSRF = %v, want %v", got, tc.want)
			}
		})
	}
	looked, err := f.sessions.Lookup(ctx, f.session(alice.ID))
	if err != nil {
		t.Fatal(err)
	}
	if !looked.CheckCSRF(looked.CSRFToken()) {
		t.Error("a session read back from the database lost its CSRF secret")
	}
}

// TestSignedInWithKey: a session knows whether it proved a security key or passkey, at sign-in or at a later
// re-authentication, and keeps that proof through re-authentications without one (the rule of projects that
// require keys reads it).
func TestSignedInWithKey(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			alice := f.user("alice")
			lookup := func(tok string) Session {
				t.Helper()
				s, err := f.sessions.Lookup(ctx, tok)
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			half, _, err := f.sessions.Create(ctx, alice.ID, LevelPassword, WithoutKey, "", "")
			if err != nil {
				t.Fatal(err)
			}
			totp, _, err := f.sessions.Rotate(ctx, half, LevelFull, WithoutKey)
			if err != nil {
				t.Fatal(err)
			}
			if lookup(totp).SignedInWithKey() {
				t.Error("a session signed in with an authenticator app counts as signed in with a key")
			}
			f.clock.Advance(time.Minute)
			if _, err := f.sessions.Reauthenticate(ctx, totp, WithKey); err != nil {
				t.Fatal(err)
			}
			if s := lookup(totp); !s.SignedInWithKey() || !s.KeyAt.Equal(f.clock.Now()) {
				t.Errorf("after a re-authentication with a key: %+v; want a key session", s)
			}
			f.clock.Advance(time.Minute)
			if _, err := f.sessions.Reauthenticate(ctx, totp, WithoutKey); err != nil {
				t.Fatal(err)
			}
			if !lookup(totp).SignedInWithKey() {
				t.Error("a re-authentication without a key dropped the earlier proof of one")
			}

			half, _, err = f.sessions.Create(ctx, alice.ID, LevelPassword, WithoutKey, "", "")
			if err != nil {
				t.Fatal(err)
			}
			key, _, err := f.sessions.Rotate(ctx, half, LevelFull, WithKey)
			if err != nil {
				t.Fatal(err)
			}
			passkey, _, err := f.sessions.Create(ctx, alice.ID, LevelFull, WithKey, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if !lookup(key).SignedInWithKey() || !lookup(passkey).SignedInWithKey() {
				t.Error("a session signed in with a security key or a passkey does not know it")
			}
			pending, _, err := f.sessions.Create(ctx, alice.ID, LevelPassword, WithKey, "", "")
			if err != nil {
				t.Fatal(err)
			}
			if lookup(pending).SignedInWithKey() {
				t.Error("a half-logged-in session counts as signed in with a key")
			}
		})
	}
}
