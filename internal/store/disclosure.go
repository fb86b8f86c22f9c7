package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RevokeTokenByID revokes the token with this id, whoever owns it, and returns its record as it is afterwards.
// changed is false when the token was revoked already: its first revocation time stays, and the caller has nothing
// more to do. An expired token is revoked like a live one. A missing id is ErrNotFound.
//
// The id alone is not a secret (the token pages show it): only a caller that has proved it holds the token itself
// (tokens.Minter.Authenticate, for a reported leak) may revoke by id without the owner (K9). The conditional update
// decides concurrent reports of one token: exactly one of them changes the record.
func (db *DB) RevokeTokenByID(ctx context.Context, id string, now time.Time) (t Token, changed bool, err error) {
	t, err = scanToken(db.sql.QueryRowContext(ctx,
		`UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING `+tokenColumns,
		micros(now), id))
	if err == nil {
		return t, true, nil
	}
	if !errors.Is(err, ErrNotFound) {
		return Token{}, false, fmt.Errorf("revoke token by id: %w", err)
	}
	// No row changed: the token is either revoked already or missing.
	t, err = scanToken(db.sql.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens WHERE id = $1`, id))
	if err != nil {
		return Token{}, false, fmt.Errorf("revoke token by id: %w", err)
	}
	return t, false, nil
}
