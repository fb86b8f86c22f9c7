package accounts

import (
	"context"
	"fmt"

	"wharf/internal/audit"
)

// Disable bans an account: its sessions end, its mailed links die and its API tokens are revoked, at once and for
// good (S6), and Login refuses it like a wrong password. The event says how many tokens were revoked, since the
// owner, once re-enabled, has to make new ones.
func (u *Users) Disable(ctx context.Context, actorID, userID int64, from audit.Request) error {
	revoked, err := u.db.DisableUser(ctx, userID, u.now())
	if err != nil {
		return err
	}
	record(ctx, u.rec, UserDisabled, userID, from, fmt.Sprintf("by user %d; API tokens revoked: %d", actorID, revoked))
	return nil
}

// Enable lifts a ban. Nothing the ban ended comes back: the user signs in afresh and makes new API tokens.
func (u *Users) Enable(ctx context.Context, actorID, userID int64, from audit.Request) error {
	if err := u.db.SetUserDisabled(ctx, userID, false, u.now()); err != nil {
		return err
	}
	record(ctx, u.rec, UserEnabled, userID, from, fmt.Sprintf("by user %d", actorID))
	return nil
}

// SetAdmin grants or withdraws administration of the index.
func (u *Users) SetAdmin(ctx context.Context, actorID, userID int64, admin bool, from audit.Request) error {
	if err := u.db.SetAdmin(ctx, userID, admin); err != nil {
		return err
	}
	kind := AdminRevoked
	if admin {
		kind = AdminGranted
	}
	record(ctx, u.rec, kind, userID, from, fmt.Sprintf("by user %d", actorID))
	return nil
}
