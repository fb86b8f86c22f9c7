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
	"wharf/internal/orgs"
	"wharf/internal/policy"
	"wharf/internal/store"
)

const orgUsage = `usage: wharf org create NAME --owner USER [--display-name TEXT] [--description TEXT]
       wharf org list [--json]
       wharf org show NAME [--json]
       wharf org add-member NAME USER --role Owner|Manager|Member
       wharf org approve NAME   (where WHARF_ORG_APPROVAL makes new organizations wait)`

type noIndex struct{}

func (noIndex) Invalidate(string) {}

// runOrg manages organizations from the server's command line, as an operator (policy.OperatorActor): for
// administrators and scripts; members do the same on the organization's pages.
func runOrg(ctx context.Context, e *env, args []string) error {
	c := newCLI(e, "org")
	owner := c.fs.String("owner", "", "the user who becomes the organization's first Owner (create)")
	role := c.fs.String("role", "", "the member's role: Owner, Manager or Member (add-member)")
	display := c.fs.String("display-name", "", "the organization's display name (create)")
	description := c.fs.String("description", "", "the organization's description (create)")
	cfg, pos, err := config.Load(c.fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New(orgUsage)
	}
	a, err := open(ctx, cfg, cfg.Migrate)
	if err != nil {
		return err
	}
	defer a.Close()
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// None of these commands changes what a project's pages show: no index to tell.
	svc := orgs.New(a.db, policy.New(a.db, policy.ReadOnly(cfg.ReadOnly)), audit.New(a.db, time.Now, logger), noIndex{}, time.Now, orgs.Options{})
	from := audit.Request{UserAgent: "wharf command line"}
	switch {
	case pos[0] == "create" && len(pos) == 2:
		if *owner == "" {
			return errors.New("an organization needs its first Owner: --owner USER")
		}
		acct, err := a.db.AccountByName(ctx, *owner)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no user %q", *owner)
		}
		if err != nil {
			return err
		}
		o, err := svc.Create(ctx, policy.OperatorActor(acct.User), pos[1], *display, *description, from)
		if err != nil {
			return err
		}
		c.print(e, orgJSON(o), fmt.Sprintf("created organization %s, owned by %s\n", o.Name, acct.Username))
		return nil
	case pos[0] == "list" && len(pos) == 1:
		list, err := svc.List(ctx)
		if err != nil {
			return err
		}
		var text strings.Builder
		out := []map[string]any{}
		for _, o := range list {
			state := ""
			if o.ApprovedAt.IsZero() {
				state = " (waiting for approval)"
			}
			fmt.Fprintf(&text, "%s\t%s%s\n", o.Name, o.DisplayName, state)
			out = append(out, orgJSON(o))
		}
		if len(list) == 0 {
			text.WriteString("no organizations\n")
		}
		c.print(e, out, text.String())
		return nil
	case pos[0] == "show" && len(pos) == 2:
		v, err := svc.ShowAsOperator(ctx, pos[1])
		if err != nil {
			return err
		}
		m := orgJSON(v.Org)
		var text strings.Builder
		fmt.Fprintf(&text, "%s (%s)\nmembers:\n", v.Org.Name, v.Org.DisplayName)
		members := []map[string]any{}
		for _, mem := range v.Members {
			fmt.Fprintf(&text, "  %s\t%s\t2FA: %t\n", mem.Username, mem.Role, mem.TwoFactor())
			members = append(members, map[string]any{"username": mem.Username, "role": mem.Role, "two_factor": mem.TwoFactor()})
		}
		teams := []map[string]any{}
		for _, t := range v.Teams {
			grants := map[string]string{}
			for _, g := range t.Grants {
				grants[g.Project] = g.Role
			}
			fmt.Fprintf(&text, "team %s: members %s; roles %v\n", t.Name, strings.Join(t.Members, ", "), grants)
			teams = append(teams, map[string]any{"name": t.Name, "members": t.Members, "projects": grants})
		}
		projects := []string{}
		for _, p := range v.Projects {
			projects = append(projects, p.Name)
		}
		fmt.Fprintf(&text, "projects: %s\n", strings.Join(projects, ", "))
		m["members"], m["teams"], m["projects"] = members, teams, projects
		c.print(e, m, text.String())
		return nil
	case pos[0] == "approve" && len(pos) == 2:
		if err := svc.Approve(ctx, policy.OperatorActor(store.User{}), pos[1], from); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("organization %s is approved already", pos[1])
			}
			return err
		}
		c.print(e, map[string]any{"organization": pos[1], "approved": true}, fmt.Sprintf("organization %s is approved\n", pos[1]))
		return nil
	case pos[0] == "add-member" && len(pos) == 3:
		if err := svc.AddMember(ctx, policy.OperatorActor(store.User{}), pos[1], pos[2], *role, from); err != nil {
			return err
		}
		c.print(e, map[string]any{"organization": pos[1], "user": pos[2], "role": *role},
			fmt.Sprintf("%s is a member of %s as %s\n", pos[2], pos[1], *role))
		return nil
	}
	return errors.New(orgUsage)
}

func orgJSON(o store.Organization) map[string]any {
	m := map[string]any{"name": o.Name, "display_name": o.DisplayName, "description": o.Description,
		"require_2fa": o.Require2FA, "require_webauthn": o.RequireWebAuthn, "trusted_publishing_only": o.TrustedPublishingOnly,
		"staging": o.Staging, "created_at": o.CreatedAt.UTC().Format(time.RFC3339), "approved": !o.ApprovedAt.IsZero()}
	return m
}
