package critical

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"

	"wharf/internal/audit"
	"wharf/internal/notify"
	"wharf/internal/store"
)

// Audit events of the designation.
const (
	EventDesignated = "project:critical"
	EventReleased   = "project:critical-release"
)

// Store is what the designation reads and writes; *store.DB satisfies it.
type Store interface {
	ProjectCount(ctx context.Context) (int, error)
	TopDownloaded(ctx context.Context, since time.Time, limit int) ([]store.Downloaded, error)
	SlideDownloadWindow(ctx context.Context, since time.Time, head int) error
	MarkCritical(ctx context.Context, ids []int64, now time.Time) ([]int64, error)
	ReleaseCritical(ctx context.Context, projectID int64) (bool, error)
	ProjectByName(ctx context.Context, normalized string) (store.Project, error)
	Collaborators(ctx context.Context, projectID int64) ([]store.Collaborator, error)
	AccountByID(ctx context.Context, id int64) (store.Account, error)
}

// Recorder appends to the security history; *audit.Log satisfies it.
type Recorder interface {
	Record(ctx context.Context, kind string, userID, projectID int64, from audit.Request, detail string) error
}

// Options say which projects are critical: the top Percent of all projects by downloads over the trailing Window.
type Options struct {
	Percent float64
	Window  time.Duration
	// Maintained says that Window is the one whose per-project totals the store keeps (the server's window):
	// Recompute first moves the store's window to the window's first day (store.DB.SlideDownloadWindow) and reads
	// the top from those totals. Without it the top is summed from the daily counts, to the same result but in
	// 45 s rather than one at PyPI's scale, and the store's window stays where it is, so that a one-off recompute
	// over another window does not move it away from the server's.
	Maintained bool
}

// DefaultOptions are PyPI's: the top 1 % by downloads over the last 6 months, the window the store maintains.
func DefaultOptions() Options {
	return Options{Percent: 1, Window: 180 * 24 * time.Hour, Maintained: true}
}

// Validate refuses options that would designate nothing or everything by mistake.
func (o Options) Validate() error {
	if !(o.Percent > 0 && o.Percent <= 100) {
		return fmt.Errorf("the share of critical projects must be above 0 and at most 100 percent, not %v", o.Percent)
	}
	if o.Window < 24*time.Hour {
		return fmt.Errorf("the download window must be at least a day, not %v", o.Window)
	}
	return nil
}

// Designator designates critical projects and tells their collaborators.
type Designator struct {
	db      Store
	audit   Recorder
	mailer  notify.Mailer
	letters *notify.Templates
	now     func() time.Time
	log     *slog.Logger
}

// NewDesignator builds a Designator that mails through mailer with letters.
func NewDesignator(db Store, rec Recorder, mailer notify.Mailer, letters *notify.Templates, now func() time.Time, log *slog.Logger) *Designator {
	return &Designator{db: db, audit: rec, mailer: mailer, letters: letters, now: now, log: log}
}

// Result is what a recompute found and did.
type Result struct {
	Projects int                // projects in the index
	Size     int                // how many the top holds: Percent of Projects, at least one
	Since    time.Time          // the first day counted
	Top      []store.Downloaded // the top, most downloaded first (projects without downloads left out)
	// Designated are the projects of Top that were not critical before this recompute (with DryRun, those that
	// would have been).
	Designated []store.Downloaded
}

// Recompute designates the top of o as critical. Designation is sticky: a project that falls out of the top stays
// critical until an administrator releases it. Each newly critical project is audited and its Owners and
// Maintainers are mailed. With dryRun it designates nothing and says what it would do.
func (d *Designator) Recompute(ctx context.Context, o Options, dryRun bool) (Result, error) {
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	now := d.now().UTC()
	n, err := d.db.ProjectCount(ctx)
	if err != nil {
		return Result{}, err
	}
	res := Result{Projects: n, Since: now.Add(-o.Window).Truncate(24 * time.Hour)}
	// As many as the share says, rounded down, but once any project has downloads at least one: an index of 50
	// projects still protects its most used one.
	res.Size = max(1, int(math.Floor(float64(n)*o.Percent/100)))
	if o.Maintained {
		// Even for an empty index, so that the window keeps up with the days; twice the top's totals are made
		// exact, so that reading the top finds it among them. A dry run moves the window too: that changes no
		// result, only what reading it costs.
		if err := d.db.SlideDownloadWindow(ctx, res.Since, 2*res.Size); err != nil {
			return Result{}, err
		}
	}
	if n == 0 {
		return res, nil
	}
	if res.Top, err = d.db.TopDownloaded(ctx, res.Since, res.Size); err != nil {
		return Result{}, err
	}
	var candidates []int64
	for _, p := range res.Top {
		if p.CriticalSince.IsZero() {
			candidates = append(candidates, p.ID)
			if dryRun {
				res.Designated = append(res.Designated, p)
			}
		}
	}
	if dryRun {
		return res, nil
	}
	newly, err := d.db.MarkCritical(ctx, candidates, now)
	if err != nil {
		return Result{}, err
	}
	marked := make(map[int64]bool, len(newly))
	for _, id := range newly {
		marked[id] = true
	}
	why := fmt.Sprintf("it is among the top %s of projects by downloads over %d days.", percent(o.Percent), int(o.Window.Hours()/24))
	for _, p := range res.Top {
		if !marked[p.ID] {
			continue
		}
		p.CriticalSince = now
		res.Designated = append(res.Designated, p)
		d.record(ctx, EventDesignated, 0, p.ID, fmt.Sprintf("designated critical: %d downloads since %s, in the top %d of %d projects",
			p.Downloads, res.Since.Format(time.DateOnly), res.Size, res.Projects))
		d.tell(ctx, p.ID, p.Name, why)
	}
	return res, nil
}

// Mark designates one project critical at an administrator's request (actorID 0: the command line), for reason
// (audit.CheckReason); it reports whether the project was not critical before.
func (d *Designator) Mark(ctx context.Context, actorID int64, name, reason string, from audit.Request) (bool, error) {
	if err := audit.CheckReason(reason); err != nil {
		return false, err
	}
	p, err := d.db.ProjectByName(ctx, name)
	if err != nil {
		return false, err
	}
	newly, err := d.db.MarkCritical(ctx, []int64{p.ID}, d.now().UTC())
	if err != nil || len(newly) == 0 {
		return false, err
	}
	d.recordFrom(ctx, EventDesignated, actorID, p.ID, from, "designated critical by an administrator: "+reason)
	d.tell(ctx, p.ID, p.Name, "an administrator of the index designated it.")
	return true, nil
}

// Release ends a project's designation at an administrator's request, for reason (audit.CheckReason: the history
// must say why a project lost its protection); it reports whether the project was critical. The next recompute
// designates it again if it is still in the top.
func (d *Designator) Release(ctx context.Context, actorID int64, name, reason string, from audit.Request) (bool, error) {
	if err := audit.CheckReason(reason); err != nil {
		return false, err
	}
	p, err := d.db.ProjectByName(ctx, name)
	if err != nil {
		return false, err
	}
	released, err := d.db.ReleaseCritical(ctx, p.ID)
	if err != nil || !released {
		return false, err
	}
	d.recordFrom(ctx, EventReleased, actorID, p.ID, from, "released from critical by an administrator: "+reason)
	return true, nil
}

func (d *Designator) record(ctx context.Context, kind string, userID, projectID int64, detail string) {
	d.recordFrom(ctx, kind, userID, projectID, audit.Request{UserAgent: "wharf critical-project designation"}, detail)
}

func (d *Designator) recordFrom(ctx context.Context, kind string, userID, projectID int64, from audit.Request, detail string) {
	if err := d.audit.Record(ctx, kind, userID, projectID, from, detail); err != nil {
		d.log.Error("audit event not recorded", "kind", kind, "project", projectID, "err", err)
	}
}

// tell mails every Owner and Maintainer of a newly critical project what changes for them. A mail that cannot be
// sent is logged: the designation stands either way.
func (d *Designator) tell(ctx context.Context, projectID int64, name, why string) {
	cs, err := d.db.Collaborators(ctx, projectID)
	if err != nil {
		d.log.Error("collaborators of a critical project not read", "project", name, "err", err)
		return
	}
	for _, c := range cs {
		acct, err := d.db.AccountByID(ctx, c.UserID)
		if err != nil {
			d.log.Error("collaborator not read", "project", name, "user", c.UserID, "err", err)
			continue
		}
		m, err := d.letters.CriticalProject(acct.Email, name, c.Role, why, acct.HasTOTP || acct.HasWebAuthn)
		if err == nil {
			err = d.mailer.Send(ctx, m)
		}
		if err != nil {
			d.log.Error("critical-project mail not sent", "project", name, "user", acct.Username, "err", err)
		}
	}
}

// percent writes 1 as "1 %" and 0.5 as "0.5 %".
func percent(p float64) string { return fmt.Sprintf("%v %%", p) }

// Job is the name under which the daily recompute leases its day (daily.Runner).
const Job = "critical-recompute"

// DailyRecompute is the day's recompute, for a daily.Runner to run once a day across every instance: o.Window is
// the window whose totals the store maintains, and each day's recompute moves them forward by a day. Run again
// after a partial run, it designates what the first did not and mails no one twice (so the Owners of a project
// designated by a run that died before mailing them are not mailed).
func (d *Designator) DailyRecompute(o Options) func(context.Context) error {
	o.Maintained = true
	return func(ctx context.Context) error {
		res, err := d.Recompute(ctx, o, false)
		if err != nil {
			return err
		}
		d.log.Info("critical projects recomputed", "top", len(res.Top), "designated", len(res.Designated))
		return nil
	}
}
