// Package adoption measures how far second factors have spread among the people who publish: how many maintainers
// have one (and a security key or passkey in particular), the same among the maintainers of critical projects,
// and how many uploads came from accounts that had one. The administrators' dashboard and /metrics read the
// figures now; `wharf serve` records them once a day, so that the dashboard can draw them over time.
//
// The figures are counts, never names, except the list of critical projects' unprotected maintainers that the
// dashboard shows to administrators.
package adoption

import (
	"context"
	"log/slog"
	"math"
	"time"

	"wharf/internal/store"
)

// Store is what the figures are read from and recorded in; *store.DB satisfies it.
type Store interface {
	Adoption(ctx context.Context, from, to time.Time) (store.Adoption, error)
	RecordAdoptionDay(ctx context.Context, d store.AdoptionDay) error
	AdoptionHistory(ctx context.Context, since time.Time) ([]store.AdoptionDay, error)
	CriticalCoverages(ctx context.Context) ([]store.CriticalCoverage, error)
}

// RecentUploads is how far back the current figures count uploads.
const RecentUploads = 24 * time.Hour

// Job is the name under which the daily snapshot leases its day (daily.Runner).
const Job = "adoption-snapshot"

// Tracker reads the figures and records the daily snapshot.
type Tracker struct {
	db  Store
	now func() time.Time
	log *slog.Logger
}

// New builds a Tracker.
func New(db Store, now func() time.Time, log *slog.Logger) *Tracker {
	return &Tracker{db: db, now: now, log: log}
}

// Current is the figures now, with the uploads of the last RecentUploads.
func (t *Tracker) Current(ctx context.Context) (store.Adoption, error) {
	now := t.now().UTC()
	return t.db.Adoption(ctx, now.Add(-RecentUploads), now)
}

// History is the recorded days of the last days days (today's not yet among them), oldest first.
func (t *Tracker) History(ctx context.Context, days int) ([]store.AdoptionDay, error) {
	return t.db.AdoptionHistory(ctx, today(t.now()).AddDate(0, 0, -days))
}

// Critical lists the critical projects with their maintainers who have no second factor, the most exposed first.
func (t *Tracker) Critical(ctx context.Context) ([]store.CriticalCoverage, error) {
	return t.db.CriticalCoverages(ctx)
}

// Snapshot records the figures of the UTC day before today: the maintainers and their factors as they are now,
// shortly after that day ended, and the uploads made during it.
func (t *Tracker) Snapshot(ctx context.Context) (store.AdoptionDay, error) {
	now := t.now().UTC()
	end := today(now)
	day := end.AddDate(0, 0, -1)
	a, err := t.db.Adoption(ctx, day, end)
	if err != nil {
		return store.AdoptionDay{}, err
	}
	d := store.AdoptionDay{Day: day, TakenAt: now, Adoption: a}
	if err := t.db.RecordAdoptionDay(ctx, d); err != nil {
		return store.AdoptionDay{}, err
	}
	return d, nil
}

// DailySnapshot takes the snapshot, for a daily.Runner to run once a day across every instance, shortly after
// midnight (UTC). Taken again the same day, it writes the same day's figures again.
func (t *Tracker) DailySnapshot(ctx context.Context) error {
	d, err := t.Snapshot(ctx)
	if err != nil {
		return err
	}
	t.log.Info("adoption snapshot recorded", "day", d.Day.Format(time.DateOnly), "maintainers", d.Maintainers,
		"with_2fa", d.MaintainersWith2FA, "uploads", d.Uploads)
	return nil
}

// Share is n as a percentage of of, 0 to 100; NaN when of is 0, where there is no share to speak of.
func Share(n, of int64) float64 {
	if of <= 0 {
		return math.NaN()
	}
	return 100 * float64(n) / float64(of)
}

func today(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
