package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"wharf/internal/audit"
	"wharf/internal/config"
	"wharf/internal/mandate"
	"wharf/internal/policy"
	"wharf/internal/store"
)

// runPolicy shows the global 2FA mandate as the configuration sets it: the phase in force and what it refuses to
// accounts that maintain projects without a second factor.
func runPolicy(ctx context.Context, e *env, args []string) error {
	c := newCLI(e, "policy")
	user := c.fs.String("user", "", "the user to place under enforce early (enforce-early)")
	project := c.fs.String("project", "", "the project to place under enforce early (enforce-early)")
	org := c.fs.String("org", "", "the organization whose members and projects to place under enforce early (enforce-early)")
	reason := c.fs.String("reason", "", "why (enforce-early)")
	cfg, pos, err := config.Load(c.fs, args, e.getenv)
	if err != nil {
		return err
	}
	m, err := mandateOf(cfg)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 1 && (pos[0] == "enforce-early" || pos[0] == "lift-early"):
		return enforceEarly(ctx, e, c, cfg, *user, *project, *org, *reason, pos[0] == "enforce-early")
	case len(pos) != 1 || pos[0] != "show":
		return errors.New("usage: wharf policy show [--json]\n       wharf policy enforce-early|lift-early (--user NAME | --project NAME | --org NAME) --reason R")
	}
	a, err := open(ctx, cfg, cfg.Migrate)
	if err != nil {
		return err
	}
	defer a.Close()
	early, err := a.db.EarlyEnforcements(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	phase := m.PhaseAt(now)
	date := func(t time.Time) any {
		if t.IsZero() {
			return nil
		}
		return t.UTC().Format(time.RFC3339)
	}
	var restricted []string
	for _, a := range m.Restricted {
		restricted = append(restricted, string(a))
	}
	var text strings.Builder
	fmt.Fprintf(&text, "phase in force: %s\n", phase)
	for _, p := range []struct {
		name string
		at   time.Time
	}{{"notice", m.Notice}, {"restrict", m.Restrict}, {"enforce", m.Enforce}} {
		when := "not set"
		if !p.at.IsZero() {
			when = "from " + p.at.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(&text, "  %-8s %s\n", p.name, when)
	}
	if !m.EnforceAccountsFrom.IsZero() {
		fmt.Fprintf(&text, "accounts created from %s are under enforce at once\n", m.EnforceAccountsFrom.UTC().Format(time.RFC3339))
	}
	switch phase {
	case policy.PhaseNone, policy.PhaseNotice:
		fmt.Fprintln(&text, "refused to maintainers without 2FA now: nothing")
	case policy.PhaseRestrict:
		fmt.Fprintf(&text, "refused to maintainers without 2FA now: %s\n", strings.Join(restricted, ", "))
	case policy.PhaseEnforce:
		fmt.Fprintln(&text, "refused to maintainers without 2FA now: everything but enrolling a factor and their own account")
	}
	fmt.Fprintf(&text, "the restrict phase refuses: %s\n", strings.Join(restricted, ", "))
	var brownouts []map[string]any
	for _, w := range m.Brownouts {
		state := ""
		switch {
		case w.Contains(now):
			state = " (now)"
		case w.End.Before(now):
			state = " (past)"
		}
		fmt.Fprintf(&text, "brown-out: %s to %s%s\n", w.Start.UTC().Format(time.RFC3339), w.End.UTC().Format(time.RFC3339), state)
		brownouts = append(brownouts, map[string]any{"start": date(w.Start), "end": date(w.End)})
	}
	fmt.Fprintf(&text, "critical projects require security keys: %v\n", cfg.CriticalRequireKeys)
	var earlyJSON []map[string]any
	for _, x := range early {
		fmt.Fprintf(&text, "under enforce early: %s %s, since %s: %s\n", x.Kind, x.Name, x.Since.UTC().Format(time.DateOnly), x.Reason)
		earlyJSON = append(earlyJSON, map[string]any{"kind": x.Kind, "name": x.Name, "reason": x.Reason, "since": date(x.Since)})
	}
	c.print(e, map[string]any{"phase": phase.String(), "notice": date(m.Notice), "restrict": date(m.Restrict),
		"enforce": date(m.Enforce), "enforce_accounts_from": date(m.EnforceAccountsFrom), "restricted": restricted,
		"brownouts": brownouts, "critical_require_keys": cfg.CriticalRequireKeys, "early": earlyJSON}, text.String())
	return nil
}

// errReasonFlag is audit.ErrReason in the command line's words.
var errReasonFlag = errors.New("--reason must be given, on one line of at most 200 characters")

// enforceEarly places one user or one project under the enforce phase before everyone else (place), or lifts
// that, in the history.
func enforceEarly(ctx context.Context, e *env, c *cli, cfg config.Config, user, project, org, reason string, place bool) error {
	named := 0
	for _, n := range []string{user, project, org} {
		if n != "" {
			named++
		}
	}
	if named != 1 {
		return errors.New("name exactly one of --user, --project and --org")
	}
	a, err := open(ctx, cfg, cfg.Migrate)
	if err != nil {
		return err
	}
	defer a.Close()
	kind, name := store.EarlyUser, user
	switch {
	case project != "":
		kind, name = store.EarlyProject, project
	case org != "":
		kind, name = store.EarlyOrg, org
	}
	early := mandate.NewEarly(a.db, audit.New(a.db, time.Now, slog.New(slog.NewTextHandler(e.stderr, nil))), time.Now)
	from := audit.Request{UserAgent: "wharf command line"}
	change, done, already := early.Place, "is under enforce now", "was already under enforce"
	if !place {
		change, done, already = early.Lift, "is no longer under enforce early", "was not under enforce early"
	}
	sub, changed, err := change(ctx, 0, kind, name, reason, from)
	if errors.Is(err, audit.ErrReason) {
		return errReasonFlag
	}
	if err != nil {
		return err
	}
	text := fmt.Sprintf("%s %s %s\n", kind, sub.Name, already)
	if changed {
		text = fmt.Sprintf("%s %s %s\n", kind, sub.Name, done)
	}
	c.print(e, map[string]any{"kind": kind, "name": sub.Name, "added": place && changed, "lifted": !place && changed}, text)
	return nil
}
