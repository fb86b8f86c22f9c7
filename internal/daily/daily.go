// Package daily runs the jobs that must happen once a day (UTC) across every instance sharing one database: the
// critical projects' recompute and the adoption snapshot. An instance runs a day's job under a lease taken in the
// database (store.DB.LeaseDay), renews it while the job runs and marks the day done when the job has finished. An
// instance that dies in the middle leaves a lease that ends; the next instance to ask takes the day over. A job
// must therefore be safe to run again after a partial run, which both are: each writes its day's result whole.
package daily

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Leases is the database's record of which instance runs which job's day.
type Leases interface {
	LeaseDay(ctx context.Context, job, day, holder string, now, until time.Time) (bool, error)
	RenewLease(ctx context.Context, job, day, holder string, until time.Time) (bool, error)
	FinishDay(ctx context.Context, job, day, holder string) (bool, error)
}

// Options tune a Runner; the zero value is the server's.
type Options struct {
	// Every is how often an instance asks for the day's run (default an hour): how late after midnight a day's job
	// may start, and how soon after a dead instance's lease ends another takes the day over.
	Every time.Duration
	// Lease is how long a lease holds without being renewed (default ten minutes); a running job renews it every
	// third of that.
	Lease time.Duration
	// Holder names this instance in its leases (default: host name, process id and a random suffix).
	Holder string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives each run's failure (default slog.Default()).
	Log *slog.Logger
}

// Runner runs daily jobs for one instance.
type Runner struct {
	leases Leases
	o      Options
}

// New returns a Runner that takes its leases from leases.
func New(leases Leases, o Options) *Runner {
	if o.Every <= 0 {
		o.Every = time.Hour
	}
	if o.Lease <= 0 {
		o.Lease = 10 * time.Minute
	}
	if o.Holder == "" {
		host, _ := os.Hostname()
		o.Holder = fmt.Sprintf("%s/%d/%s", host, os.Getpid(), rand.Text()[:8])
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	return &Runner{leases: leases, o: o}
}

// Run asks for job's day at once and then every Every for as long as ctx lives, and runs fn when given the day.
// A run that fails is logged and its lease left to end, so that the day is tried again at a later turn, by
// whichever instance asks first.
func (r *Runner) Run(ctx context.Context, job string, fn func(context.Context) error) {
	tick := time.NewTicker(r.o.Every)
	defer tick.Stop()
	for {
		if _, err := r.Turn(ctx, job, fn); err != nil && ctx.Err() == nil {
			r.o.Log.Error("daily job failed", "job", job, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Turn is one turn of Run: it runs fn if this instance is given today's lease of job, and reports whether it ran.
// fn's context ends if the lease is lost meanwhile (it was not renewed in time and another instance took the day).
func (r *Runner) Turn(ctx context.Context, job string, fn func(context.Context) error) (bool, error) {
	now := r.o.Now()
	day := now.UTC().Format(time.DateOnly)
	ok, err := r.leases.LeaseDay(ctx, job, day, r.o.Holder, now, now.Add(r.o.Lease))
	if err != nil || !ok {
		return false, err
	}
	jobCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	finished := make(chan struct{})
	var renewing sync.WaitGroup
	renewing.Go(func() { r.renew(jobCtx, cancel, job, day, finished) })
	err = fn(jobCtx)
	close(finished)
	renewing.Wait()
	if err != nil {
		return true, fmt.Errorf("%s for %s: %w", job, day, err)
	}
	if ok, err := r.leases.FinishDay(ctx, job, day, r.o.Holder); err != nil {
		return true, err
	} else if !ok {
		return true, fmt.Errorf("%s for %s: finished after its lease was lost; another instance ran it too", job, day)
	}
	return true, nil
}

// renew keeps the lease of job's day until finished closes; if the lease is lost it cancels the job.
func (r *Runner) renew(ctx context.Context, cancel context.CancelFunc, job, day string, finished <-chan struct{}) {
	tick := time.NewTicker(r.o.Lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-finished:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ok, err := r.leases.RenewLease(ctx, job, day, r.o.Holder, r.o.Now().Add(r.o.Lease))
		switch {
		case err != nil:
			// The next renewal may get through before the lease ends.
			r.o.Log.Warn("daily job's lease not renewed", "job", job, "day", day, "err", err)
		case !ok:
			r.o.Log.Error("daily job's lease lost: stopping it", "job", job, "day", day)
			cancel()
			return
		}
	}
}
