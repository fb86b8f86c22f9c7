package tokens_test

import (
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"wharf/internal/audit"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
	"wharf/internal/tokens"
)

// TestRevokeLeaked checks the revocation of a reported token (K9): only a token this server signed, found by its
// id, whoever owns it and whether or not it expired; once; and recorded in the owner's history.
func TestRevokeLeaked(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			db := e.Open(t)
			now := t0
			clock := func() time.Time { return now }
			minter, err := tokens.NewMinter([]byte(strings.Repeat("k", 32)))
			if err != nil {
				t.Fatal(err)
			}
			svc := tokens.NewService(minter, db, audit.New(db, clock, slog.New(slog.NewTextHandler(io.Discard, nil))), clock)
			alice, bob := storetest.MustUser(t, db, "alice"), storetest.MustUser(t, db, "bob")
			aliceTok, aliceRec, err := svc.Create(ctx, alice, "ci", nil, t0.Add(time.Hour), audit.Request{})
			if err != nil {
				t.Fatal(err)
			}
			bobTok, bobRec, err := svc.Create(ctx, bob, "laptop", []string{"demo"}, time.Time{}, audit.Request{})
			if err != nil {
				t.Fatal(err)
			}
			unrecorded, _, err := minter.Mint(tokens.Caveats{UserID: alice.ID})
			if err != nil {
				t.Fatal(err)
			}
			other, err := tokens.NewMinter([]byte(strings.Repeat("o", 32)))
			if err != nil {
				t.Fatal(err)
			}
			foreign, _, err := other.Mint(tokens.Caveats{UserID: alice.ID})
			if err != nil {
				t.Fatal(err)
			}
			// What someone who saw alice's token id, but not the token, can write.
			raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(aliceTok, tokens.Prefix))
			if err != nil {
				t.Fatal(err)
			}
			raw[len(raw)-1] ^= 1
			forged := tokens.Prefix + base64.RawURLEncoding.EncodeToString(raw)
			from := audit.Request{IP: "192.0.2.1", UserAgent: "GitHub-Hookshot/test"}

			// Strings that are not live tokens of this server: nothing, and no error.
			for name, s := range map[string]string{"unrecorded": unrecorded, "another server's": foreign,
				"alice's id, forged": forged, "not a token": "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "empty": ""} {
				if rec, revoked, err := svc.RevokeLeaked(ctx, s, "https://example.com/x", from); err != nil || revoked || rec.ID != "" {
					t.Errorf("%s: RevokeLeaked = %+v, %v, %v; want nothing", name, rec, revoked, err)
				}
			}

			// An expired token of alice's, reported through a narrowed copy.
			now = t0.Add(2 * time.Hour)
			narrowed, err := tokens.Attenuate(aliceTok, tokens.Caveats{Projects: []string{"demo"}})
			if err != nil {
				t.Fatal(err)
			}
			rec, revoked, err := svc.RevokeLeaked(ctx, narrowed, "https://example.com/x", from)
			if err != nil || !revoked || rec.ID != aliceRec.ID || rec.UserID != alice.ID || !rec.RevokedAt.Equal(now) {
				t.Errorf("expired token: RevokeLeaked = %+v, %v, %v; want alice's record revoked now", rec, revoked, err)
			}
			// Reported again: the record is as it was, and nothing is recorded a second time.
			now = now.Add(time.Hour)
			rec, revoked, err = svc.RevokeLeaked(ctx, aliceTok, "https://example.com/y", from)
			if err != nil || revoked || !rec.RevokedAt.Equal(t0.Add(2*time.Hour)) {
				t.Errorf("again: RevokeLeaked = %+v, %v, %v; want not revoked again", rec, revoked, err)
			}

			// Bob's token, reported without an address; it was live and is dead now.
			if _, err := svc.Verify(ctx, bobTok); err != nil {
				t.Fatalf("bob's token before: %v", err)
			}
			if _, revoked, err := svc.RevokeLeaked(ctx, bobTok, "", from); err != nil || !revoked {
				t.Errorf("bob's token: revoked = %v, err = %v", revoked, err)
			}
			if _, err := svc.Verify(ctx, bobTok); err == nil {
				t.Error("bob's token still verifies")
			}

			for _, c := range []struct {
				user   store.User
				detail string
			}{
				{alice, `token ` + aliceRec.ID + ` "ci" found in public at https://example.com/x`},
				{bob, `token ` + bobRec.ID + ` "laptop" found in public at an address the reporter did not give`},
			} {
				evs, err := db.Events(ctx, c.user.ID, 0, 100)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, e := range evs {
					if e.Kind == audit.TokenLeaked {
						got = append(got, e.Detail)
						if e.IP != from.IP || e.UserAgent != from.UserAgent {
							t.Errorf("event from %q %q, want %q %q", e.IP, e.UserAgent, from.IP, from.UserAgent)
						}
					}
				}
				if len(got) != 1 || got[0] != c.detail {
					t.Errorf("%s's token:leaked events = %q, want [%q]", c.user.Username, got, c.detail)
				}
			}
		})
	}
}
