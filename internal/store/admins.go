package store

import (
	"context"
	"fmt"
)

// AdminAddresses are the verified email addresses of the administrators whose accounts are active: where a
// report of a project is mailed.
func (db *DB) AdminAddresses(ctx context.Context) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT email FROM users
		WHERE is_admin = $1 AND disabled = $2 AND email_verified_at IS NOT NULL ORDER BY id`, true, false)
	if err != nil {
		return nil, fmt.Errorf("administrators' addresses: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var email string
		if err := rows.Scan(&email); err != nil {
			return nil, fmt.Errorf("administrators' addresses: %w", err)
		}
		out = append(out, email)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("administrators' addresses: %w", err)
	}
	return out, nil
}
