package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"wharf/internal/config"
	"wharf/internal/policy"
)

// runPolicy shows the global 2FA mandate as the configuration sets it: the phase in force and what it refuses to
// accounts that maintain projects without a second factor.
func runPolicy(ctx context.Context, e *env, args []string) error {
	c := newCLI(e, "policy")
	cfg, pos, err := config.Load(c.fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "show" {
		return errors.New("usage: wharf policy show [--json]")
	}
	m, err := mandateOf(cfg)
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
	c.print(e, map[string]any{"phase": phase.String(), "notice": date(m.Notice), "restrict": date(m.Restrict),
		"enforce": date(m.Enforce), "enforce_accounts_from": date(m.EnforceAccountsFrom), "restricted": restricted}, text.String())
	return nil
}
