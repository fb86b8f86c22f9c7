package accounts

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/audit"
	"wharf/internal/tokens"
)

// TestDisableRevokesTokens proves S6 for API tokens: a ban revokes them for good, so that lifting it does not bring
// them back, and the event says how many went.
func TestDisableRevokesTokens(t *testing.T) {
	ctx := context.Background()
	for _, e := range engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			admin, alice := f.user("root-admin"), f.user("alice")
			minter, err := tokens.NewMinter(bytes.Repeat([]byte{7}, 32))
			if err != nil {
				t.Fatal(err)
			}
			svc := tokens.NewService(minter, f.db, audit.New(f.db, f.clock.Now, slog.New(slog.NewTextHandler(io.Discard, nil))), f.clock.Now)
			var minted []string
			for _, name := range []string{"ci", "laptop"} {
				tok, _, err := svc.Create(ctx, alice.User, name, nil, time.Time{}, from)
				if err != nil {
					t.Fatal(err)
				}
				minted = append(minted, tok)
			}
			verify := func() []string {
				var out []string
				for _, tok := range minted {
					if _, err := svc.Verify(ctx, tok); err != nil {
						out = append(out, err.Error())
					} else {
						out = append(out, "ok")
					}
				}
				return out
			}
			if diff := cmp.Diff([]string{"ok", "ok"}, verify()); diff != "" {
				t.Fatalf("tokens before the ban (-want +got):\n%s", diff)
			}
			f.rec.take()

			f.clock.Advance(time.Minute)
			if err := f.users.Disable(ctx, admin.ID, alice.ID, from); err != nil {
				t.Fatal(err)
			}
			want := []event{{UserDisabled, alice.ID, fmt.Sprintf("by user %d; API tokens revoked: 2", admin.ID)}}
			if diff := cmp.Diff(want, f.rec.take()); diff != "" {
				t.Errorf("events of the ban (-want +got):\n%s", diff)
			}
			f.clock.Advance(time.Minute)
			if err := f.users.Enable(ctx, admin.ID, alice.ID, from); err != nil {
				t.Fatal(err)
			}
			for i, got := range verify() {
				if !strings.Contains(got, "the token was revoked") {
					t.Errorf("token %d after disable and enable: %q; want it refused as revoked", i, got)
				}
			}
			if _, err := f.users.Login(ctx, "alice", testPassword, from); err != nil {
				t.Errorf("the password works again after enable, tokens do not: %v", err)
			}
		})
	}
}
