package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"wharf/internal/audit"
	"wharf/internal/config"
	"wharf/internal/critical"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

const criticalUsage = `usage: wharf critical recompute [--percent P] [--window 180d] [--dry-run] [--json]
       wharf critical list [--json]
       wharf critical mark NAME --reason R
       wharf critical release NAME --reason R`

// runCritical designates critical projects on demand (the server also does it daily), lists them, and marks or
// releases one at an administrator's word, in the security history.
func runCritical(ctx context.Context, e *env, args []string) error {
	c := newCLI(e, "critical")
	dryRun := c.fs.Bool("dry-run", false, "say what recompute would designate, and change nothing")
	reason := c.fs.String("reason", "", "why a project is marked or released (mark, release)")
	// --percent and --window are the server's --critical-percent and --critical-window, shorter.
	var percent *float64
	var window time.Duration
	c.fs.Func("percent", "share of projects designated, e.g. 1 (default: WHARF_CRITICAL_PERCENT)", func(v string) error {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", v)
		}
		percent = &p
		return nil
	})
	c.fs.Func("window", "the downloads that count, e.g. 180d (default: WHARF_CRITICAL_WINDOW)", func(v string) error {
		var err error
		window, err = config.ParseDays(v)
		return err
	})
	cfg, pos, err := config.Load(c.fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New(criticalUsage)
	}
	o := critical.Options{Percent: cfg.CriticalPercent, Window: cfg.CriticalWindow}
	if percent != nil {
		o.Percent = *percent
	}
	if window != 0 {
		o.Window = window
	}
	// The server's window is the one whose totals the store keeps; another --window is summed from the daily counts.
	o.Maintained = o.Window == cfg.CriticalWindow
	a, err := open(ctx, cfg, cfg.Migrate)
	if err != nil {
		return err
	}
	defer a.Close()
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	mailer, err := newMailer(cfg, time.Now, logger)
	if err != nil {
		return err
	}
	d, err := newDesignator(cfg, a, audit.New(a.db, time.Now, logger), mailer, time.Now, logger)
	if err != nil {
		return err
	}
	from := audit.Request{UserAgent: "wharf command line"}
	switch {
	case pos[0] == "recompute" && len(pos) == 1:
		res, err := d.Recompute(ctx, o, *dryRun)
		if err != nil {
			return err
		}
		verb := "designated"
		if *dryRun {
			verb = "would designate"
		}
		var text strings.Builder
		fmt.Fprintf(&text, "top %d of %d projects by downloads since %s; %s %d:\n", res.Size, res.Projects,
			res.Since.Format(time.DateOnly), verb, len(res.Designated))
		for _, p := range res.Designated {
			fmt.Fprintf(&text, "  %s (%d downloads)\n", p.Name, p.Downloads)
		}
		c.print(e, map[string]any{"projects": res.Projects, "size": res.Size, "since": res.Since.Format(time.DateOnly),
			"dry_run": *dryRun, "top": downloadedJSON(res.Top), "designated": downloadedJSON(res.Designated)}, text.String())
		return nil
	case pos[0] == "list" && len(pos) == 1:
		list, err := a.db.CriticalProjects(ctx, time.Now().Add(-o.Window))
		if err != nil {
			return err
		}
		var text strings.Builder
		fmt.Fprintf(&text, "%d critical projects\n", len(list))
		for _, p := range list {
			fmt.Fprintf(&text, "  %s, critical since %s, %d downloads in %d days\n", p.Name,
				p.CriticalSince.Format(time.DateOnly), p.Downloads, int(o.Window.Hours()/24))
		}
		c.print(e, downloadedJSON(list), text.String())
		return nil
	case (pos[0] == "mark" || pos[0] == "release") && len(pos) == 2:
		if !pypkg.ValidProjectName(pos[1]) {
			return fmt.Errorf("%q is not a valid project name", pos[1])
		}
		name := pypkg.NormalizeName(pos[1])
		do, done, already := d.Mark, "is now critical", "was critical already"
		if pos[0] == "release" {
			do, done, already = d.Release, "is no longer critical", "was not critical"
		}
		changed, err := do(ctx, 0, name, *reason, from)
		if errors.Is(err, audit.ErrReason) {
			return errReasonFlag
		}
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no project %q", pos[1])
		}
		if err != nil {
			return err
		}
		text := fmt.Sprintf("%s %s\n", name, done)
		if !changed {
			text = fmt.Sprintf("%s %s\n", name, already)
		}
		c.print(e, map[string]any{"project": name, "changed": changed, "action": pos[0]}, text)
		return nil
	}
	return errors.New(criticalUsage)
}

func downloadedJSON(ps []store.Downloaded) []map[string]any {
	out := []map[string]any{}
	for _, p := range ps {
		m := map[string]any{"name": p.Name, "downloads": p.Downloads}
		if !p.CriticalSince.IsZero() {
			m["critical_since"] = p.CriticalSince.UTC().Format(time.RFC3339)
		}
		out = append(out, m)
	}
	return out
}
