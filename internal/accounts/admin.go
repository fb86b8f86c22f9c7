package accounts

import (
	"context"
	"fmt"

	"wharf/internal/audit"
)

// Disable bans an account: its sessions end and its mailed links die at once (S6), and Login refuses it like a
// wrong password. API tokens are refused by the token verifier, which checks the account.
func (u *Users) Disable(ctx context.Context, actorID, userID int64, from audit.Request) error {
	if err := u.db.SetUserDisabled(ctx, userID, true, u.now()); err != nil {
		return err
	}
	record(ctx, u.rec, UserDisabled, userID, from, fmt.Sprintf("by user %d", actorID))
	return nil
}

// Enable lifts a ban; the user signs in afresh.
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
