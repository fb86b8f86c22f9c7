package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The security-key offer: administrators load codes, each good for one free hardware security key, and each
// Owner or Maintainer of a critical project without a key may claim one code, once. Who may claim is the policy's
// decision (policy.ClaimKeyOffer); this file keeps the codes and decides the races.

// ErrNoPromoCodes is a claim when every loaded code has been claimed.
var ErrNoPromoCodes = errors.New("every security-key code has been claimed")

// PromoCode is one code of the security-key offer.
type PromoCode struct {
	Code      string
	Batch     string
	LoadedAt  time.Time
	ClaimedBy int64     // 0 while free, and once the claimer's account is deleted
	ClaimedAt time.Time // zero while free
}

// PromoCounts are the offer's numbers: codes loaded, claimed, and left to claim.
type PromoCounts struct {
	Loaded, Claimed, Left int
}

// LoadPromoCodes adds codes under batch, in one transaction, and reports how many were new and how many were
// there already (loaded before, or twice in codes): a code loaded again counts once, and keeps its first batch
// and its claim.
func (db *DB) LoadPromoCodes(ctx context.Context, codes []string, batch string, now time.Time) (added, present int, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		added, present = 0, 0
		st, err := tx.PrepareContext(ctx, `INSERT INTO promo_codes (code, batch, loaded_at) VALUES ($1, $2, $3)
			ON CONFLICT (code) DO NOTHING`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, c := range codes {
			res, err := st.ExecContext(ctx, c, batch, micros(now))
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n == 1 {
				added++
			} else {
				present++
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("load promo codes: %w", err)
	}
	return added, present, nil
}

// claimAttempts bounds the retries of one claim. On SQLite a claim's transaction holds the write lock and never
// loses a race; on PostgreSQL a claim that lost the first free code to another account's tries the next, and every
// round of racing claims is won by one of them.
const claimAttempts = 1000

// ClaimPromoCode gives the user one free code (M9), the earliest loaded, and reports whether this call claimed it: an
// account that has a code already gets that same code again (claimed false), never a second one. Two accounts
// never get the same code; concurrent claims of one account end with one code for it. When no code is left it
// returns ErrNoPromoCodes.
func (db *DB) ClaimPromoCode(ctx context.Context, userID int64, now time.Time) (PromoCode, bool, error) {
	for range claimAttempts {
		var pc PromoCode
		var claimed, lost bool
		err := db.tx(ctx, func(tx *sql.Tx) error {
			claimed, lost = false, false
			var err error
			if pc, err = promoCodeOf(ctx, tx, userID); !errors.Is(err, ErrNotFound) {
				return err
			}
			// The row lock, and the check of claimed_at again once it is held, make a code go to one claim only;
			// the unique index on claimed_by gives one account one code.
			res, err := tx.ExecContext(ctx, `UPDATE promo_codes SET claimed_by = $1, claimed_at = $2
				WHERE id = (SELECT min(id) FROM promo_codes WHERE claimed_at IS NULL) AND claimed_at IS NULL`,
				userID, micros(now))
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n == 1 {
				claimed = true
				pc, err = promoCodeOf(ctx, tx, userID)
				return err
			}
			var left int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM promo_codes WHERE claimed_at IS NULL`).Scan(&left); err != nil {
				return err
			}
			if left == 0 {
				// None is free, so every claim has committed, a concurrent one of this account included: it holds
				// the code this account gets.
				if pc, err = promoCodeOf(ctx, tx, userID); errors.Is(err, ErrNotFound) {
					return ErrNoPromoCodes
				}
				return err
			}
			lost = true // another claim took the code first: try the next
			return nil
		})
		switch {
		case errors.Is(err, ErrNoPromoCodes):
			return PromoCode{}, false, ErrNoPromoCodes
		case err == nil && !lost:
			return pc, claimed, nil
		case err != nil && !isUniqueViolation(err):
			// A unique violation is a concurrent claim of the same account that committed first: the next round
			// finds its code.
			return PromoCode{}, false, fmt.Errorf("claim promo code: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return PromoCode{}, false, fmt.Errorf("claim promo code: %w", err)
		}
	}
	return PromoCode{}, false, fmt.Errorf("claim promo code: lost %d races in a row", claimAttempts)
}

// PromoCodeOf is the code the user claimed; ErrNotFound when they claimed none.
func (db *DB) PromoCodeOf(ctx context.Context, userID int64) (PromoCode, error) {
	pc, err := promoCodeOf(ctx, db.sql, userID)
	if err != nil {
		return PromoCode{}, fmt.Errorf("promo code of user %d: %w", userID, err)
	}
	return pc, nil
}

func promoCodeOf(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, userID int64) (PromoCode, error) {
	var pc PromoCode
	var loaded int64
	var by, at sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT code, batch, loaded_at, claimed_by, claimed_at FROM promo_codes WHERE claimed_by = $1`,
		userID).Scan(&pc.Code, &pc.Batch, &loaded, &by, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return PromoCode{}, ErrNotFound
	}
	if err != nil {
		return PromoCode{}, err
	}
	pc.LoadedAt, pc.ClaimedBy, pc.ClaimedAt = fromMicros(loaded), by.Int64, fromNullMicros(at)
	return pc, nil
}

// PromoCounts counts the codes loaded, claimed and left.
func (db *DB) PromoCounts(ctx context.Context) (PromoCounts, error) {
	var c PromoCounts
	if err := db.sql.QueryRowContext(ctx, `SELECT count(*), count(claimed_at) FROM promo_codes`).Scan(&c.Loaded, &c.Claimed); err != nil {
		return PromoCounts{}, fmt.Errorf("promo counts: %w", err)
	}
	c.Left = c.Loaded - c.Claimed
	return c, nil
}

// MaintainsCritical reports whether the user is an Owner or Maintainer of at least one critical project, read at
// decision time: the offer is for them.
func (db *DB) MaintainsCritical(ctx context.Context, userID int64) (bool, error) {
	var n int
	err := db.sql.QueryRowContext(ctx, `SELECT count(*) FROM project_roles r JOIN projects p ON p.id = r.project_id
		WHERE r.user_id = $1 AND r.role IN ($2, $3) AND p.critical_since IS NOT NULL`,
		userID, RoleOwner, RoleMaintainer).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("maintains critical: %w", err)
	}
	return n > 0, nil
}

// CriticalProjectsOf lists, by name, the critical projects the user is an Owner or Maintainer of.
func (db *DB) CriticalProjectsOf(ctx context.Context, userID int64) ([]string, error) {
	rows, err := db.sql.QueryContext(ctx, `SELECT DISTINCT p.name, p.normalized_name FROM project_roles r JOIN projects p ON p.id = r.project_id
		WHERE r.user_id = $1 AND r.role IN ($2, $3) AND p.critical_since IS NOT NULL ORDER BY p.normalized_name`,
		userID, RoleOwner, RoleMaintainer)
	if err != nil {
		return nil, fmt.Errorf("critical projects of user: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name, normalized string
		if err := rows.Scan(&name, &normalized); err != nil {
			return nil, fmt.Errorf("critical projects of user: %w", err)
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("critical projects of user: %w", err)
	}
	return out, nil
}
