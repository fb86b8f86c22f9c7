// Package mandate reminds the maintainers that the global 2FA mandate concerns, by mail, at a bounded rate: the
// banner reaches those who sign in, the upload warning those who read twine's output, and the reminder everyone
// else before the enforce phase locks them out.
package mandate

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"wharf/internal/notify"
	"wharf/internal/policy"
	"wharf/internal/store"
)

// Every is the shortest time between two reminders to one account.
const Every = 7 * 24 * time.Hour

// Store is what the reminders read and claim; *store.DB satisfies it.
type Store interface {
	UnprotectedMaintainers(ctx context.Context) ([]store.Account, error)
	ClaimReminder(ctx context.Context, userID int64, now time.Time, every time.Duration) (bool, error)
}

// Policy says where the mandate stands for an account; *policy.Engine satisfies it.
type Policy interface {
	MandateFor(ctx context.Context, actor policy.Actor) (policy.MandateStatus, error)
}

// Reminder mails the accounts the mandate concerns.
type Reminder struct {
	db      Store
	policy  Policy
	mailer  notify.Mailer
	letters *notify.Templates
	now     func() time.Time
	log     *slog.Logger
}

// NewReminder builds a Reminder.
func NewReminder(db Store, pol Policy, mailer notify.Mailer, letters *notify.Templates, now func() time.Time, log *slog.Logger) *Reminder {
	return &Reminder{db: db, policy: pol, mailer: mailer, letters: letters, now: now, log: log}
}

// RemindAll mails every account the mandate concerns now and that was not reminded in the last week, and says how
// many it mailed. An account is claimed before its mail is sent, so that several instances never mail it twice;
// a mail that then fails waits for the next week rather than risk a flood.
func (r *Reminder) RemindAll(ctx context.Context) (int, error) {
	accounts, err := r.db.UnprotectedMaintainers(ctx)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, acct := range accounts {
		st, err := r.policy.MandateFor(ctx, policy.AccountActor(acct))
		if err != nil {
			return sent, err
		}
		if !st.Concerned || st.Phase == policy.PhaseNone {
			continue
		}
		now := r.now()
		ok, err := r.db.ClaimReminder(ctx, acct.ID, now, Every)
		if err != nil {
			return sent, err
		}
		if !ok {
			continue
		}
		schedule, refused := st.Explain(now)
		m, err := r.letters.MandateReminder(acct.Email, acct.Username, schedule, refused)
		if err != nil {
			return sent, err
		}
		if err := r.mailer.Send(ctx, m); err != nil {
			r.log.Error("mandate reminder not sent", "user", acct.ID, "err", err)
			continue
		}
		sent++
	}
	return sent, nil
}

// Run reminds every interval for as long as ctx lives.
func (r *Reminder) Run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if n, err := r.RemindAll(ctx); err != nil {
			r.log.Error("mandate reminders", "err", fmt.Errorf("after %d mails: %w", n, err))
		} else if n > 0 {
			r.log.Info("mandate reminders sent", "mails", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
