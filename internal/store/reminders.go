package store

import (
	"context"
	"fmt"
	"time"
)

// UnprotectedMaintainers lists the enabled accounts with a verified address that are an Owner or Maintainer of a
// project (by any grant) or a member of an organization and have no second factor: the accounts the 2FA mandate is about, in id order.
func (db *DB) UnprotectedMaintainers(ctx context.Context) ([]Account, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT `+accountColumns+` FROM users
		WHERE NOT disabled AND email_verified_at IS NOT NULL
		  AND (EXISTS (SELECT 1 FROM project_roles r WHERE r.user_id = users.id AND r.role IN ('Owner', 'Maintainer'))
		       OR EXISTS (SELECT 1 FROM org_members m WHERE m.user_id = users.id))
		  AND NOT EXISTS (SELECT 1 FROM totp_credentials t WHERE t.user_id = users.id)
		  AND NOT EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.user_id = users.id)
		ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("unprotected maintainers: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("unprotected maintainers: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ClaimReminder records that the user is reminded of the mandate at now, unless a reminder went out less than
// every ago; it reports whether this call may send one. Of several instances asking at once, one is told yes.
func (db *DB) ClaimReminder(ctx context.Context, userID int64, now time.Time, every time.Duration) (bool, error) {
	res, err := db.sql.ExecContext(ctx, `INSERT INTO mandate_reminders (user_id, sent_at) VALUES ($1, $2)
		ON CONFLICT (user_id) DO UPDATE SET sent_at = excluded.sent_at WHERE mandate_reminders.sent_at <= $3`,
		userID, micros(now), micros(now.Add(-every)))
	if err != nil {
		return false, fmt.Errorf("claim reminder: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim reminder: %w", err)
	}
	return n == 1, nil
}
