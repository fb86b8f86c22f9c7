package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
)

// RunAccounts is the conformance suite for accounts, sessions and email links.
func RunAccounts(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()

	t.Run("account state", func(t *testing.T) {
		db := open(t)
		u, err := db.CreateUser(ctx, store.User{Username: "Alice", Email: "Alice@Example.com", PasswordHash: "h0", CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		want := store.Account{User: u, PasswordChangedAt: t0}
		for name, get := range map[string]func() (store.Account, error){
			"by id":             func() (store.Account, error) { return db.AccountByID(ctx, u.ID) },
			"by name, any case": func() (store.Account, error) { return db.AccountByName(ctx, "ALICE") },
			"by email any case": func() (store.Account, error) { return db.AccountByEmail(ctx, "alice@example.COM") },
		} {
			got, err := get()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", name, diff)
			}
		}
		for name, get := range map[string]func() (store.Account, error){
			"missing id":    func() (store.Account, error) { return db.AccountByID(ctx, u.ID+100) },
			"missing name":  func() (store.Account, error) { return db.AccountByName(ctx, "bob") },
			"missing email": func() (store.Account, error) { return db.AccountByEmail(ctx, "bob@example.com") },
		} {
			if _, err := get(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: got %v, want ErrNotFound", name, err)
			}
		}
		if _, err := db.CreateUser(ctx, store.User{Username: "other", Email: "ALICE@example.com", PasswordHash: "h"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second account with the same address in another case: got %v, want ErrConflict", err)
		}

		t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
		steps := []struct {
			name string
			do   func() error
		}{
			{"set password", func() error { return db.SetPassword(ctx, u.ID, "h1", t1) }},
			{"verify the current address", func() error { return db.SetEmailVerified(ctx, u.ID, "alice@EXAMPLE.com", t1) }},
			{"verifying again keeps the first time", func() error { return db.SetEmailVerified(ctx, u.ID, "alice@example.com", t2) }},
			{"grant admin", func() error { return db.SetAdmin(ctx, u.ID, true) }},
		}
		for _, s := range steps {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		want.PasswordHash, want.PasswordChangedAt, want.EmailVerifiedAt, want.IsAdmin = "h1", t1, t1, true
		got, err := db.AccountByID(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("after updates (-want +got):\n%s", diff)
		}

		if err := db.SetEmailVerified(ctx, u.ID, "old@example.com", t2); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("verifying an address that is not the user's: got %v, want ErrNotFound", err)
		}
		bob := MustUser(t, db, "bob")
		if err := db.SetEmail(ctx, u.ID, "BOB@example.com", t2); !errors.Is(err, store.ErrConflict) {
			t.Errorf("taking another account's address: got %v, want ErrConflict", err)
		}
		if err := db.SetEmail(ctx, u.ID, "new@example.com", t2); err != nil {
			t.Fatal(err)
		}
		got, _ = db.AccountByID(ctx, u.ID)
		if got.Email != "new@example.com" || !got.EmailVerifiedAt.IsZero() {
			t.Errorf("after an address change: email %q verified %v; want the new address, unverified", got.Email, got.EmailVerifiedAt)
		}
		for name, err := range map[string]error{
			"set password":  db.SetPassword(ctx, bob.ID+100, "h", t1),
			"set verified":  db.SetEmailVerified(ctx, bob.ID+100, "x@example.com", t1),
			"set email":     db.SetEmail(ctx, bob.ID+100, "y@example.com", t1),
			"set admin":     db.SetAdmin(ctx, bob.ID+100, true),
			"set disabled":  db.SetUserDisabled(ctx, bob.ID+100, true, t1),
			"set and close": db.SetPasswordAndRevoke(ctx, bob.ID+100, "h", t1, ""),
		} {
			if !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s of a missing user: got %v, want ErrNotFound", name, err)
			}
		}
	})

	// One key (ident.Key) decides which spellings of a name or an address are one account, for lookups and for
	// uniqueness alike, on every engine: SQLite's lower() folds ASCII only, so the key cannot be left to SQL.
	t.Run("spellings of a name or an address", func(t *testing.T) {
		db := open(t)
		kim, err := db.CreateUser(ctx, store.User{Username: "kim", Email: "kim@example.com", PasswordHash: "h", CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name, spelling string
			same           bool
		}{
			{"as registered", "kim", true},
			{"upper case", "KIM", true},
			{"full-width letters", "ＫＩＭ", true},
			{"Kelvin sign", "\u212AIM", true},
			{"trailing space", "kim ", true},
			{"capital I with dot above", "kİm", false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantErr := error(nil)
				if !tc.same {
					wantErr = store.ErrNotFound
				}
				address := tc.spelling + "@example.com"
				if tc.spelling == "kim " {
					address = " kim@example.com "
				}
				for what, found := range map[string]func() (int64, error){
					"UserByName":     func() (int64, error) { u, err := db.UserByName(ctx, tc.spelling); return u.ID, err },
					"AccountByName":  func() (int64, error) { a, err := db.AccountByName(ctx, tc.spelling); return a.ID, err },
					"AccountByEmail": func() (int64, error) { a, err := db.AccountByEmail(ctx, address); return a.ID, err },
				} {
					id, err := found()
					if !errors.Is(err, wantErr) || (tc.same && id != kim.ID) {
						t.Errorf("%s(%q) = %d, %v; want %d, %v", what, tc.spelling, id, err, kim.ID, wantErr)
					}
				}
				if !tc.same {
					return
				}
				// Store-level uniqueness holds even for spellings the username rule would refuse first.
				if _, err := db.CreateUser(ctx, store.User{Username: tc.spelling, Email: "other@example.org", PasswordHash: "h"}); !errors.Is(err, store.ErrConflict) {
					t.Errorf("a second account named %q: got %v, want ErrConflict", tc.spelling, err)
				}
				if _, err := db.CreateUser(ctx, store.User{Username: "other", Email: address, PasswordHash: "h"}); !errors.Is(err, store.ErrConflict) {
					t.Errorf("a second account with the address %q: got %v, want ErrConflict", address, err)
				}
			})
		}

		// kİm is another name, and kİm@example.com another address: both may be registered.
		dotted, err := db.CreateUser(ctx, store.User{Username: "kİm", Email: "kİm@example.com", PasswordHash: "h"})
		if err != nil {
			t.Fatalf("kİm next to kim: %v", err)
		}
		if a, err := db.AccountByEmail(ctx, "KİM@EXAMPLE.COM"); err != nil || a.ID != dotted.ID {
			t.Errorf("kİm's address in upper case: %d, %v; want %d", a.ID, err, dotted.ID)
		}
		if err := db.SetEmail(ctx, dotted.ID, "ＫＩＭ@example.com", t0); !errors.Is(err, store.ErrConflict) {
			t.Errorf("taking kim's address in full-width letters: got %v, want ErrConflict", err)
		}
		if err := db.SetEmailVerified(ctx, kim.ID, "\u212AIM@EXAMPLE.COM", t0); err != nil {
			t.Errorf("verifying kim's address written with the Kelvin sign: %v", err)
		}

		// A non-ASCII address is found in every case, which SQL's lower() does not give on SQLite.
		umlaut, err := db.CreateUser(ctx, store.User{Username: "jorg", Email: "JÖRG@Example.com", PasswordHash: "h"})
		if err != nil {
			t.Fatal(err)
		}
		for _, spelling := range []string{"jörg@example.com", "JÖRG@EXAMPLE.COM", "jo\u0308rg@example.com"} {
			if a, err := db.AccountByEmail(ctx, spelling); err != nil || a.ID != umlaut.ID {
				t.Errorf("AccountByEmail(%q) = %d, %v; want %d", spelling, a.ID, err, umlaut.ID)
			}
		}
		found, err := db.AdminAccounts(ctx, store.ListQuery{Prefix: "ＪÖＲＧ@", Limit: 10})
		if err != nil || len(found.Rows) != 1 || found.Rows[0].ID != umlaut.ID {
			t.Errorf("AdminAccounts in full-width letters: %v, %v; want jorg alone", found.Rows, err)
		}
	})

	session := func(id string, userID int64) store.Session {
		return store.Session{ID: id, UserID: userID, AuthLevel: "full", CreatedAt: t0, LastSeenAt: t0,
			ExpiresAt: t0.Add(12 * time.Hour), IP: "192.0.2.1", UserAgent: "test", CSRFSecret: "c-" + id}
	}

	t.Run("sessions", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		s := session("s1", alice.ID)
		s.AuthLevel = "password"
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateSession(ctx, s); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate session id: got %v, want ErrConflict", err)
		}
		got, err := db.SessionByHash(ctx, "s1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(s, got); diff != "" {
			t.Errorf("SessionByHash (-want +got):\n%s", diff)
		}
		bad := session("s-bad", alice.ID)
		bad.AuthLevel = "admin"
		if err := db.CreateSession(ctx, bad); err == nil {
			t.Error("a session with an unknown auth level was stored")
		}

		if err := db.TouchSession(ctx, "s1", t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := db.TouchSession(ctx, "s1", t0.Add(30*time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := db.SetSessionReauth(ctx, "s1", t0.Add(2*time.Minute), false); err != nil {
			t.Fatal(err)
		}
		got, _ = db.SessionByHash(ctx, "s1")
		if !got.LastSeenAt.Equal(t0.Add(time.Minute)) || !got.ReauthAt.Equal(t0.Add(2*time.Minute)) || !got.KeyAt.IsZero() {
			t.Errorf("after touches: last seen %v, reauth %v, key %v; want %v (never moved back), %v, never",
				got.LastSeenAt, got.ReauthAt, got.KeyAt, t0.Add(time.Minute), t0.Add(2*time.Minute))
		}
		// A re-authentication with a key records it; a later one without a key keeps that proof.
		if err := db.SetSessionReauth(ctx, "s1", t0.Add(3*time.Minute), true); err != nil {
			t.Fatal(err)
		}
		if err := db.SetSessionReauth(ctx, "s1", t0.Add(4*time.Minute), false); err != nil {
			t.Fatal(err)
		}
		got, _ = db.SessionByHash(ctx, "s1")
		if !got.ReauthAt.Equal(t0.Add(4*time.Minute)) || !got.KeyAt.Equal(t0.Add(3*time.Minute)) {
			t.Errorf("after re-authentications with and without a key: reauth %v, key %v; want %v, %v",
				got.ReauthAt, got.KeyAt, t0.Add(4*time.Minute), t0.Add(3*time.Minute))
		}

		next := session("s2", alice.ID)
		next.KeyAt = t0.Add(5 * time.Minute)
		if err := db.RotateSession(ctx, "s1", next); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SessionByHash(ctx, "s1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("old session after rotation: got %v, want ErrNotFound", err)
		}
		if got, err := db.SessionByHash(ctx, "s2"); err != nil || got.AuthLevel != "full" || !got.KeyAt.Equal(next.KeyAt) {
			t.Errorf("new session after rotation: %+v, %v; want a full session that proved a key at %v", got, err, next.KeyAt)
		}
		if err := db.RotateSession(ctx, "s1", session("s3", alice.ID)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("rotating a dead session: got %v, want ErrNotFound", err)
		}
		if _, err := db.SessionByHash(ctx, "s3"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a failed rotation left its new session: %v", err)
		}
		if err := db.RotateSession(ctx, "s2", session("s2", alice.ID)); err != nil {
			t.Errorf("rotation onto the same id (delete first, then insert): %v", err)
		}

		for _, id := range []string{"a3", "a4"} {
			if err := db.CreateSession(ctx, session(id, alice.ID)); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.CreateSession(ctx, session("b1", bob.ID)); err != nil {
			t.Fatal(err)
		}
		list, err := db.SessionsForUser(ctx, alice.ID)
		if err != nil || len(list) != 3 {
			t.Errorf("SessionsForUser = %d sessions, %v; want 3", len(list), err)
		}
		n, err := db.DeleteUserSessions(ctx, alice.ID, "a4")
		if err != nil || n != 2 {
			t.Errorf("DeleteUserSessions = %d, %v; want 2", n, err)
		}
		for id, want := range map[string]error{"s2": store.ErrNotFound, "a3": store.ErrNotFound, "a4": nil, "b1": nil} {
			if _, err := db.SessionByHash(ctx, id); !errors.Is(err, want) {
				t.Errorf("session %s after sign-out elsewhere: got %v, want %v", id, err, want)
			}
		}
		if err := db.DeleteSession(ctx, "a4"); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteSession(ctx, "a4"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second delete: got %v, want ErrNotFound", err)
		}
		if n, err := db.DeleteUserSessions(ctx, bob.ID, ""); err != nil || n != 1 {
			t.Errorf("DeleteUserSessions(all) = %d, %v; want 1", n, err)
		}
	})

	t.Run("stale sessions", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		expired, idle, live := session("expired", alice.ID), session("idle", alice.ID), session("live", alice.ID)
		expired.ExpiresAt = t0.Add(time.Hour)
		live.LastSeenAt = t0.Add(3 * time.Hour)
		for _, s := range []store.Session{expired, idle, live} {
			if err := db.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		n, err := db.DeleteStaleSessions(ctx, t0.Add(time.Hour), t0.Add(time.Hour))
		if err != nil || n != 2 {
			t.Errorf("DeleteStaleSessions = %d, %v; want 2", n, err)
		}
		if _, err := db.SessionByHash(ctx, "live"); err != nil {
			t.Errorf("live session: %v", err)
		}
	})

	t.Run("password change ends sessions and reset links", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		for _, s := range []store.Session{session("keep", alice.ID), session("other", alice.ID), session("bob", bob.ID)} {
			if err := db.CreateSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		for _, tok := range []store.EmailToken{
			emailToken("reset", alice.ID, store.PurposeResetPassword),
			emailToken("verify", alice.ID, store.PurposeVerifyEmail),
			emailToken("bob-reset", bob.ID, store.PurposeResetPassword),
		} {
			if err := db.CreateEmailToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		now := t0.Add(time.Minute)
		if err := db.SetPasswordAndRevoke(ctx, alice.ID, "new-hash", now, "keep"); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]error{"keep": nil, "other": store.ErrNotFound, "bob": nil} {
			if _, err := db.SessionByHash(ctx, id); !errors.Is(err, want) {
				t.Errorf("session %s: got %v, want %v", id, err, want)
			}
		}
		for _, tc := range []struct {
			hash, purpose string
			want          error
		}{
			{"reset", store.PurposeResetPassword, store.ErrNotFound},
			{"verify", store.PurposeVerifyEmail, nil},
			{"bob-reset", store.PurposeResetPassword, nil},
		} {
			if _, err := db.UseEmailToken(ctx, tc.hash, tc.purpose, now); !errors.Is(err, tc.want) {
				t.Errorf("link %s after the change: got %v, want %v", tc.hash, err, tc.want)
			}
		}
		a, _ := db.AccountByID(ctx, alice.ID)
		if a.PasswordHash != "new-hash" || !a.PasswordChangedAt.Equal(now) {
			t.Errorf("account after change: hash %q changed %v", a.PasswordHash, a.PasswordChangedAt)
		}
	})

	t.Run("disabling ends sessions, links and tokens", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		if err := db.CreateSession(ctx, session("s", alice.ID)); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateEmailToken(ctx, emailToken("r", alice.ID, store.PurposeResetPassword)); err != nil {
			t.Fatal(err)
		}
		now, earlier := t0.Add(time.Hour), t0.Add(time.Minute)
		for _, tok := range []store.Token{
			{ID: "live", UserID: alice.ID, Name: "ci", CreatedAt: t0},
			{ID: "live-expiring", UserID: alice.ID, Name: "ci", CreatedAt: t0, ExpiresAt: now.Add(time.Hour)},
			{ID: "expired", UserID: alice.ID, Name: "ci", CreatedAt: t0, ExpiresAt: now},
			{ID: "revoked", UserID: alice.ID, Name: "ci", CreatedAt: t0},
			{ID: "bobs", UserID: bob.ID, Name: "ci", CreatedAt: t0},
		} {
			if err := db.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.RevokeToken(ctx, alice.ID, "revoked", earlier); err != nil {
			t.Fatal(err)
		}
		revoked, err := db.DisableUser(ctx, alice.ID, now)
		if err != nil || revoked != 2 {
			t.Fatalf("DisableUser = %d, %v; want the 2 live tokens revoked", revoked, err)
		}
		if a, _ := db.AccountByID(ctx, alice.ID); !a.Disabled {
			t.Error("account not disabled")
		}
		if _, err := db.SessionByHash(ctx, "s"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session of a disabled user: got %v, want ErrNotFound", err)
		}
		if _, err := db.UseEmailToken(ctx, "r", store.PurposeResetPassword, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("link of a disabled user: got %v, want ErrNotFound", err)
		}
		if _, err := db.DisableUser(ctx, bob.ID+100, now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("disabling a missing user: got %v, want ErrNotFound", err)
		}

		if err := db.SetUserDisabled(ctx, alice.ID, false, now); err != nil {
			t.Fatal(err)
		}
		if a, _ := db.AccountByID(ctx, alice.ID); a.Disabled {
			t.Error("account still disabled after enabling")
		}
		// Lifting the ban brings no token back; a token revoked before keeps its time, one that had expired is
		// left expired, and another user's is untouched.
		revokedAt := func() map[string]time.Time {
			out := map[string]time.Time{}
			for _, id := range []string{"live", "live-expiring", "expired", "revoked", "bobs", "after"} {
				if tok, err := db.TokenByID(ctx, id); err == nil {
					out[id] = tok.RevokedAt
				}
			}
			return out
		}
		want := map[string]time.Time{"live": now, "live-expiring": now, "expired": {}, "revoked": earlier, "bobs": {}}
		if diff := cmp.Diff(want, revokedAt()); diff != "" {
			t.Errorf("revoked_at after disable and enable (-want +got):\n%s", diff)
		}

		// SetUserDisabled, which older callers use, disables the same way.
		if err := db.CreateToken(ctx, store.Token{ID: "after", UserID: alice.ID, Name: "ci", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		later := now.Add(time.Minute)
		if err := db.SetUserDisabled(ctx, alice.ID, true, later); err != nil {
			t.Fatal(err)
		}
		want["after"] = later
		if diff := cmp.Diff(want, revokedAt()); diff != "" {
			t.Errorf("revoked_at after SetUserDisabled (-want +got):\n%s", diff)
		}
	})

	t.Run("email tokens", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		tok := emailToken("t1", alice.ID, store.PurposeResetPassword)
		if err := db.CreateEmailToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateEmailToken(ctx, tok); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate token: got %v, want ErrConflict", err)
		}
		bad := emailToken("t-bad", alice.ID, "login")
		if err := db.CreateEmailToken(ctx, bad); err == nil {
			t.Error("a token with an unknown purpose was stored")
		}
		peek, err := db.EmailTokenByHash(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tok, peek); diff != "" {
			t.Errorf("EmailTokenByHash (-want +got):\n%s", diff)
		}
		for _, tc := range []struct {
			name, hash, purpose string
			at                  time.Time
			want                error
		}{
			{"other purpose", "t1", store.PurposeVerifyEmail, t0, store.ErrNotFound},
			{"unknown token", "nope", store.PurposeResetPassword, t0, store.ErrNotFound},
			{"at the expiry instant", "t1", store.PurposeResetPassword, tok.ExpiresAt, store.ErrNotFound},
			{"in time", "t1", store.PurposeResetPassword, t0.Add(time.Minute), nil},
			{"second use", "t1", store.PurposeResetPassword, t0.Add(2 * time.Minute), store.ErrNotFound},
		} {
			got, err := db.UseEmailToken(ctx, tc.hash, tc.purpose, tc.at)
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
				continue
			}
			if err == nil {
				want := tok
				want.UsedAt = tc.at
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s (-want +got):\n%s", tc.name, diff)
				}
			}
		}

		for _, tok := range []store.EmailToken{
			emailToken("v1", alice.ID, store.PurposeVerifyEmail),
			emailToken("v2", alice.ID, store.PurposeVerifyEmail),
			emailToken("r2", alice.ID, store.PurposeResetPassword),
		} {
			if err := db.CreateEmailToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := db.InvalidateEmailTokens(ctx, alice.ID, store.PurposeVerifyEmail, t0); err != nil || n != 2 {
			t.Errorf("InvalidateEmailTokens = %d, %v; want 2", n, err)
		}
		if _, err := db.UseEmailToken(ctx, "v1", store.PurposeVerifyEmail, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("invalidated token: got %v, want ErrNotFound", err)
		}
		if _, err := db.UseEmailToken(ctx, "r2", store.PurposeResetPassword, t0); err != nil {
			t.Errorf("a token of the other purpose was invalidated: %v", err)
		}
		if err := db.SetEmail(ctx, alice.ID, "alice2@example.com", t0); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateEmailToken(ctx, emailToken("old", alice.ID, store.PurposeVerifyEmail)); err != nil {
			t.Fatal(err)
		}
		if n, err := db.DeleteExpiredEmailTokens(ctx, t0.Add(2*time.Hour)); err != nil || n != 5 {
			t.Errorf("DeleteExpiredEmailTokens = %d, %v; want 5", n, err)
		}
		if _, err := db.EmailTokenByHash(ctx, "t1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired token still there: %v", err)
		}
	})

	t.Run("address change spends links", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		if err := db.CreateEmailToken(ctx, emailToken("v", alice.ID, store.PurposeVerifyEmail)); err != nil {
			t.Fatal(err)
		}
		if err := db.SetEmail(ctx, alice.ID, "alice2@example.com", t0); err != nil {
			t.Fatal(err)
		}
		if _, err := db.UseEmailToken(ctx, "v", store.PurposeVerifyEmail, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("link sent to the old address: got %v, want ErrNotFound", err)
		}
	})

	t.Run("one email token used concurrently", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		if err := db.CreateEmailToken(ctx, emailToken("race", alice.ID, store.PurposeResetPassword)); err != nil {
			t.Fatal(err)
		}
		var wins, losses atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, err := db.UseEmailToken(ctx, "race", store.PurposeResetPassword, t0.Add(time.Minute))
				switch {
				case err == nil:
					wins.Add(1)
				case errors.Is(err, store.ErrNotFound):
					losses.Add(1)
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || losses.Load() != 19 {
			t.Errorf("%d uses succeeded and %d were refused; want 1 and 19", wins.Load(), losses.Load())
		}
	})

	t.Run("one session rotated concurrently", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		if err := db.CreateSession(ctx, session("old", alice.ID)); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := db.RotateSession(ctx, "old", session(fmt.Sprintf("new%d", i), alice.ID))
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, store.ErrNotFound):
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		close(start)
		wg.Wait()
		list, err := db.SessionsForUser(ctx, alice.ID)
		if wins.Load() != 1 || err != nil || len(list) != 1 {
			t.Errorf("%d rotations won, %d sessions left (%v); want 1 and 1", wins.Load(), len(list), err)
		}
	})
}

func emailToken(hash string, userID int64, purpose string) store.EmailToken {
	return store.EmailToken{Hash: hash, UserID: userID, Purpose: purpose, Email: "x@example.com",
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
}
