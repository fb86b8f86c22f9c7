package storetest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
)

// RunWebAuthn is the conformance suite for WebAuthn challenges, user handles and credentials.
func RunWebAuthn(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()

	t.Run("challenges", func(t *testing.T) {
		db := open(t)
		u := MustUser(t, db, "alice")
		ch := func(binding, purpose string, session string, at time.Time) store.WebAuthnChallenge {
			return store.WebAuthnChallenge{Binding: binding, Purpose: purpose, UserID: u.ID, Session: []byte(session),
				CreatedAt: at, ExpiresAt: at.Add(5 * time.Minute)}
		}
		put := func(c store.WebAuthnChallenge) {
			t.Helper()
			if err := db.PutWebAuthnChallenge(ctx, c); err != nil {
				t.Fatal(err)
			}
		}

		first := ch("s1", "login", "first", t0)
		put(first)
		got, err := db.TakeWebAuthnChallenge(ctx, "s1", "login", t0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(first, got); diff != "" {
			t.Errorf("taken (-want +got):\n%s", diff)
		}
		if _, err := db.TakeWebAuthnChallenge(ctx, "s1", "login", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second take: got %v, want ErrNotFound", err)
		}

		put(ch("s1", "login", "old", t0))
		put(ch("s1", "login", "new", t0))
		put(ch("s1", "register", "register", t0))
		for _, c := range []struct {
			name, binding, purpose string
			at                     time.Time
			want                   string // "" = ErrNotFound
		}{
			{"another binding", "s2", "login", t0, ""},
			{"another purpose", "s1", "passkey", t0, ""},
			{"the latest of two", "s1", "login", t0, "new"},
			{"the replaced one", "s1", "login", t0, ""},
			{"another purpose of the same binding", "s1", "register", t0.Add(5*time.Minute - time.Microsecond), "register"},
		} {
			got, err := db.TakeWebAuthnChallenge(ctx, c.binding, c.purpose, c.at)
			switch {
			case c.want == "" && !errors.Is(err, store.ErrNotFound):
				t.Errorf("%s: got %q, %v; want ErrNotFound", c.name, got.Session, err)
			case c.want != "" && (err != nil || string(got.Session) != c.want):
				t.Errorf("%s: got %q, %v; want %q", c.name, got.Session, err, c.want)
			}
		}

		put(ch("s1", "login", "lapses", t0))
		if _, err := db.TakeWebAuthnChallenge(ctx, "s1", "login", t0.Add(5*time.Minute)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("at expiry: got %v, want ErrNotFound", err)
		}
		if _, err := db.TakeWebAuthnChallenge(ctx, "s1", "login", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a lapsed challenge is gone once taken: got %v, want ErrNotFound", err)
		}

		// A passkey login has no user yet; a later Put clears lapsed challenges of every binding.
		anon := store.WebAuthnChallenge{Binding: "pre", Purpose: "passkey", Session: []byte("p"), CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}
		put(anon)
		put(ch("other", "login", "x", t0.Add(time.Hour)))
		if _, err := db.TakeWebAuthnChallenge(ctx, "pre", "passkey", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("lapsed challenge of another binding after a Put: got %v, want ErrNotFound (purged)", err)
		}
		put(anon)
		if got, err := db.TakeWebAuthnChallenge(ctx, "pre", "passkey", t0); err != nil || !cmp.Equal(anon, got) {
			t.Errorf("passkey challenge = %+v, %v; want %+v", got, err, anon)
		}
	})

	t.Run("one challenge, 20 parallel finishes", func(t *testing.T) {
		db := open(t)
		u := MustUser(t, db, "alice")
		if err := db.PutWebAuthnChallenge(ctx, store.WebAuthnChallenge{Binding: "s", Purpose: "login", UserID: u.ID,
			Session: []byte("x"), CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		var ok, gone atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				switch _, err := db.TakeWebAuthnChallenge(ctx, "s", "login", t0); {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, store.ErrNotFound):
					gone.Add(1)
				default:
					t.Errorf("take: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || gone.Load() != 19 {
			t.Errorf("%d took it, %d did not; want 1 and 19", ok.Load(), gone.Load())
		}
	})

	t.Run("user handles", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		h1, h2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
		if _, err := db.WebAuthnUserHandle(ctx, alice.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("before any: got %v, want ErrNotFound", err)
		}
		if got, err := db.EnsureWebAuthnUserHandle(ctx, alice.ID, h1, t0); err != nil || !bytes.Equal(got, h1) {
			t.Errorf("first ensure = %x, %v; want %x", got, err, h1)
		}
		if got, err := db.EnsureWebAuthnUserHandle(ctx, alice.ID, h2, t0); err != nil || !bytes.Equal(got, h1) {
			t.Errorf("second ensure = %x, %v; want the first handle %x kept", got, err, h1)
		}
		if _, err := db.EnsureWebAuthnUserHandle(ctx, bob.ID, h1, t0); !errors.Is(err, store.ErrConflict) {
			t.Errorf("another user's handle: got %v, want ErrConflict", err)
		}
		if got, err := db.UserByWebAuthnHandle(ctx, h1); err != nil || got != alice.ID {
			t.Errorf("user by handle = %d, %v; want %d", got, err, alice.ID)
		}
		if _, err := db.UserByWebAuthnHandle(ctx, h2); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown handle: got %v, want ErrNotFound", err)
		}
		if _, err := db.EnsureWebAuthnUserHandle(ctx, bob.ID, []byte("short"), t0); err == nil {
			t.Error("a handle of 5 bytes was stored; want it refused (32 bytes)")
		}
	})

	t.Run("credentials", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		key := func(user int64, id string, label string, at time.Time) store.WebAuthnCredential {
			return store.WebAuthnCredential{UserID: user, CredentialID: []byte(id), PublicKey: []byte("cose " + id),
				SignCount: 7, AAGUID: make([]byte, 16), Transports: []string{"usb", "nfc"}, AttestationFormat: "none",
				BackupEligible: true, BackupState: true, Discoverable: true, Label: label, CreatedAt: at}
		}
		add := func(c store.WebAuthnCredential) store.WebAuthnCredential {
			t.Helper()
			got, err := db.AddWebAuthnCredential(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			return got
		}
		if got, err := db.WebAuthnCredentials(ctx, alice.ID); err != nil || len(got) != 0 {
			t.Errorf("before any = %v, %v; want none", got, err)
		}
		k1 := add(key(alice.ID, "k1", "yubikey", t0))
		k2 := key(alice.ID, "k2", "phone", t0.Add(time.Hour))
		k2.Transports, k2.BackupEligible, k2.BackupState, k2.Discoverable, k2.SignCount = nil, false, false, false, 0
		k2 = add(k2)
		add(key(bob.ID, "b1", "bob's", t0))
		if k1.ID == 0 || k1.ID == k2.ID {
			t.Fatalf("ids %d and %d", k1.ID, k2.ID)
		}
		got, err := db.WebAuthnCredentials(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]store.WebAuthnCredential{k1, k2}, got); diff != "" {
			t.Errorf("alice's keys, oldest first (-want +got):\n%s", diff)
		}
		if got, err := db.WebAuthnCredentialByCredentialID(ctx, []byte("k2")); err != nil || !cmp.Equal(k2, got) {
			t.Errorf("by credential id = %+v, %v; want %+v", got, err, k2)
		}
		if _, err := db.WebAuthnCredentialByCredentialID(ctx, []byte("nope")); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown credential id: got %v, want ErrNotFound", err)
		}

		for _, c := range []struct {
			name string
			cred store.WebAuthnCredential
			want error
		}{
			{"a new id", key(alice.ID, "k4", "new", t0), nil},
			{"the same user's id again", key(alice.ID, "k1", "again", t0), store.ErrConflict},
			{"another user's id", key(bob.ID, "k1", "stolen", t0), store.ErrConflict},
		} {
			if _, err := db.AddWebAuthnCredential(ctx, c.cred); !errors.Is(err, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			}
		}
		for _, n := range []int{1023, 1024} {
			_, err := db.AddWebAuthnCredential(ctx, key(bob.ID, string(bytes.Repeat([]byte{byte(n)}, n)), "long", t0))
			if n <= 1023 && err != nil {
				t.Errorf("credential id of %d bytes: %v", n, err)
			}
			if n > 1023 && err == nil {
				t.Errorf("credential id of %d bytes stored; want it refused", n)
			}
		}

		if _, err := db.RemoveFactor(ctx, bob.ID, store.FactorWebAuthn, k1.ID, false); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("delete by another user: got %v, want ErrNotFound", err)
		}
		want := store.Factor{Kind: store.FactorWebAuthn, ID: k1.ID, Label: k1.Label, Discoverable: k1.Discoverable, CreatedAt: k1.CreatedAt}
		if got, err := db.RemoveFactor(ctx, alice.ID, store.FactorWebAuthn, k1.ID, false); err != nil || !cmp.Equal(want, got) {
			t.Errorf("delete = %+v, %v; want %+v", got, err, want)
		}
		if _, err := db.RemoveFactor(ctx, alice.ID, store.FactorWebAuthn, k1.ID, false); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second delete: got %v, want ErrNotFound", err)
		}
		if got, err := db.WebAuthnCredentials(ctx, alice.ID); err != nil || len(got) != 2 {
			t.Errorf("after delete: %d keys, %v; want 2 (k2 and k4 untouched)", len(got), err)
		}
		if _, err := db.AddWebAuthnCredential(ctx, key(bob.ID, "k1", "freed", t0)); err != nil {
			t.Errorf("a removed credential id can be registered again: %v", err)
		}
	})

	// The account carries its factors and since when it has been protected without a break, which decides
	// whether an API token was made while the account had no second factor.
	t.Run("two-factor since", func(t *testing.T) {
		db := open(t)
		u := MustUser(t, db, "alice")
		t1, t2, t3 := t0.Add(time.Hour), t0.Add(2*time.Hour), t0.Add(3*time.Hour)
		state := func(what string, totp, keys bool, since time.Time) {
			t.Helper()
			a, err := db.AccountByID(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if a.HasTOTP != totp || a.HasWebAuthn != keys || !a.TwoFactorSince.Equal(since) {
				t.Errorf("%s: totp %v, keys %v, since %v; want %v, %v, %v", what, a.HasTOTP, a.HasWebAuthn, a.TwoFactorSince, totp, keys, since)
			}
		}
		state("no factor", false, false, time.Time{})
		if err := db.PutTOTPPending(ctx, store.TOTPPending{UserID: u.ID, Sealed: []byte("s"), CreatedAt: t1, ExpiresAt: t2}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ActivateTOTP(ctx, u.ID, []byte("s"), 1, t1); err != nil {
			t.Fatal(err)
		}
		state("an app", true, false, t1)
		key, err := db.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: u.ID, CredentialID: []byte("k1"), PublicKey: []byte("pk"), AAGUID: []byte{}, CreatedAt: t2})
		if err != nil {
			t.Fatal(err)
		}
		state("an app and a key", true, true, t1)
		if _, err := db.RemoveFactor(ctx, u.ID, store.FactorTOTP, 0, true); err != nil {
			t.Fatal(err)
		}
		state("the key kept the account protected", false, true, t1)
		if _, err := db.RemoveFactor(ctx, u.ID, store.FactorWebAuthn, key.ID, false); err != nil {
			t.Fatal(err)
		}
		state("the last factor removed", false, false, time.Time{})
		if _, err := db.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: u.ID, CredentialID: []byte("k2"), PublicKey: []byte("pk"), AAGUID: []byte{}, CreatedAt: t3}); err != nil {
			t.Fatal(err)
		}
		state("a new period", false, true, t3)
	})

	t.Run("sign counts only rise", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		counted, err := db.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: alice.ID, CredentialID: []byte("c"),
			PublicKey: []byte("pk"), SignCount: 5, AAGUID: make([]byte, 16), BackupEligible: true, Label: "c", CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		uncounted, err := db.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: alice.ID, CredentialID: []byte("u"),
			PublicKey: []byte("pk"), AAGUID: make([]byte, 16), Label: "u", CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name  string
			user  int64
			id    int64
			count uint32
			want  error
		}{
			{"another user's key", bob.ID, counted.ID, 6, store.ErrNotFound},
			{"the stored count", alice.ID, counted.ID, 5, store.ErrNotFound},
			{"below it", alice.ID, counted.ID, 4, store.ErrNotFound},
			{"zero after a count", alice.ID, counted.ID, 0, store.ErrNotFound},
			{"one above", alice.ID, counted.ID, 6, nil},
			{"the same again", alice.ID, counted.ID, 6, store.ErrNotFound},
			{"a jump", alice.ID, counted.ID, 4000000000, nil},
			{"no counter", alice.ID, uncounted.ID, 0, nil},
			{"no counter again", alice.ID, uncounted.ID, 0, nil},
			{"a counter appears", alice.ID, uncounted.ID, 1, nil},
			{"and goes back to zero", alice.ID, uncounted.ID, 0, store.ErrNotFound},
		} {
			if err := db.UseWebAuthnCredential(ctx, c.user, c.id, c.count, true, t0.Add(time.Minute)); !errors.Is(err, c.want) {
				t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			}
		}
		got, err := db.WebAuthnCredentialByCredentialID(ctx, []byte("c"))
		if err != nil {
			t.Fatal(err)
		}
		if got.SignCount != 4000000000 || !got.BackupState || !got.LastUsedAt.Equal(t0.Add(time.Minute)) {
			t.Errorf("after use: count %d, backup state %v, used %v; want 4000000000, true, %v",
				got.SignCount, got.BackupState, got.LastUsedAt, t0.Add(time.Minute))
		}
	})

	t.Run("one sign count, 20 parallel assertions", func(t *testing.T) {
		db := open(t)
		u := MustUser(t, db, "alice")
		c, err := db.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: u.ID, CredentialID: []byte("c"),
			PublicKey: []byte("pk"), SignCount: 5, AAGUID: make([]byte, 16), Label: "c", CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		var ok, refused atomic.Int32
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				switch err := db.UseWebAuthnCredential(ctx, u.ID, c.ID, 6, false, t0); {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, store.ErrNotFound):
					refused.Add(1)
				default:
					t.Errorf("use: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || refused.Load() != 19 {
			t.Errorf("%d accepted, %d refused; want 1 and 19", ok.Load(), refused.Load())
		}
	})

	t.Run("one credential id, 10 parallel registrations", func(t *testing.T) {
		db := open(t)
		var users []store.User
		for _, name := range []string{"alice", "bob"} {
			users = append(users, MustUser(t, db, name))
		}
		var ok, conflict atomic.Int32
		var wg sync.WaitGroup
		for i := range 10 {
			wg.Go(func() {
				_, err := db.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: users[i%2].ID, CredentialID: []byte("same"),
					PublicKey: []byte("pk"), AAGUID: make([]byte, 16), Label: "k", CreatedAt: t0})
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, store.ErrConflict):
					conflict.Add(1)
				default:
					t.Errorf("add: %v", err)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 || conflict.Load() != 9 {
			t.Errorf("%d stored, %d refused; want 1 and 9", ok.Load(), conflict.Load())
		}
	})
}
