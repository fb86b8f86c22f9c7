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
	"wharf/internal/policy"
	"wharf/internal/publishing"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

const publisherUsage = `usage: wharf publisher add PROJECT[,PROJECT...] KIND --field NAME=VALUE... [--issuer NAME] [--pending --owner USER [--org ORG]]
       wharf publisher list [PROJECT] [--json]
       wharf publisher remove PROJECT ID
       wharf publisher only PROJECT on|off   (accept uploads only from the project's publishers)
KIND is github (fields owner, repository, owner_id, workflow, environment, reusable_workflow), gitlab (namespace,
project, ci_config_path, environment), google (email, subject), or oidc with --issuer NAME (the issuer's open claims)`

// fieldsFlag collects repeated --field NAME=VALUE.
type fieldsFlag map[string]string

func (f fieldsFlag) String() string { return "" }

func (f fieldsFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("%q is not NAME=VALUE", v)
	}
	f[name] = value
	return nil
}

// runPublisher sets up Trusted Publishers from the server's command line, as an operator (policy.OperatorActor),
// for scripts and for moving an index in; Owners do the same on the project's publishing page.
func runPublisher(ctx context.Context, e *env, args []string) error {
	c := newCLI(e, "publisher")
	fields := fieldsFlag{}
	c.fs.Var(fields, "field", "a field of the publisher, NAME=VALUE (repeat)")
	issuer := c.fs.String("issuer", "", "the registered issuer of an oidc publisher")
	pending := c.fs.Bool("pending", false, "register a pending publisher: its first publish creates PROJECT")
	owner := c.fs.String("owner", "", "the user who owns the project a pending publisher creates")
	org := c.fs.String("org", "", "the organization a pending publisher creates its project in")
	cfg, pos, err := config.Load(c.fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New(publisherUsage)
	}
	a, err := open(ctx, cfg, cfg.Migrate)
	if err != nil {
		return err
	}
	defer a.Close()
	logger := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	log := audit.New(a.db, time.Now, logger)
	svc := newPublishing(cfg, a, policy.New(a.db, policy.ReadOnly(cfg.ReadOnly)), log, time.Now)
	from := audit.Request{UserAgent: "wharf command line"}
	project := func(name string) (store.Project, error) {
		if !pypkg.ValidProjectName(name) {
			return store.Project{}, fmt.Errorf("%q is not a valid project name", name)
		}
		p, err := a.db.ProjectByName(ctx, pypkg.NormalizeName(name))
		if errors.Is(err, store.ErrNotFound) {
			return p, fmt.Errorf("no project %q", name)
		}
		return p, err
	}
	switch {
	case pos[0] == "add" && len(pos) == 3:
		spec := publishing.Spec{Kind: pos[2], Issuer: *issuer, Fields: fields}
		var pub store.Publisher
		if *pending {
			if *owner == "" {
				return errors.New("a pending publisher needs --owner USER, who will own the project")
			}
			acct, err := a.db.AccountByName(ctx, *owner)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no user %q", *owner)
			}
			if err != nil {
				return err
			}
			if *org != "" {
				o, err := a.db.OrganizationByName(ctx, pypkg.NormalizeName(*org))
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no organization %q", *org)
				}
				if err != nil {
					return err
				}
				pub, err = svc.AddPendingInOrg(ctx, policy.OperatorActor(acct.User), o, pos[1], spec, from)
				if err != nil {
					return err
				}
			} else if pub, err = svc.AddPending(ctx, policy.OperatorActor(acct.User), pos[1], spec, from); err != nil {
				return err
			}
		} else {
			// Several projects (an organization's, say) that one CI job publishes: PROJECT,PROJECT,...
			var ps []store.Project
			for _, name := range strings.Split(pos[1], ",") {
				p, err := project(name)
				if err != nil {
					return err
				}
				ps = append(ps, p)
			}
			added, err := svc.AddToProjects(ctx, policy.OperatorActor(store.User{}), ps, spec, from)
			if err != nil {
				return err
			}
			var text strings.Builder
			out := []map[string]any{}
			for _, p := range added {
				fmt.Fprintf(&text, "added publisher %d of %s: %s\n", p.ID, p.ProjectName, publishing.Describe(p))
				out = append(out, publisherJSON(p))
			}
			c.print(e, out, text.String())
			return nil
		}
		c.print(e, publisherJSON(pub), fmt.Sprintf("added publisher %d of %s: %s\n", pub.ID, pub.ProjectName, publishing.Describe(pub)))
		return nil
	case pos[0] == "list" && len(pos) <= 2:
		var list []store.Publisher
		if len(pos) == 2 {
			p, err := project(pos[1])
			if err != nil {
				return err
			}
			list, err = svc.Publishers(ctx, p.ID)
			if err != nil {
				return err
			}
		} else if list, err = a.db.AllPublishers(ctx); err != nil {
			return err
		}
		var text strings.Builder
		out := []map[string]any{}
		for _, p := range list {
			state := ""
			if p.Pending() {
				state = fmt.Sprintf(" (pending, expires %s)", p.ExpiresAt.Format(time.DateOnly))
			}
			fmt.Fprintf(&text, "%d\t%s%s\t%s\n", p.ID, p.ProjectName, state, publishing.Describe(p))
			out = append(out, publisherJSON(p))
		}
		if len(list) == 0 {
			text.WriteString("no publishers\n")
		}
		c.print(e, out, text.String())
		return nil
	case pos[0] == "only" && len(pos) == 3 && (pos[2] == "on" || pos[2] == "off"):
		p, err := project(pos[1])
		if err != nil {
			return err
		}
		if err := svc.SetTrustedPublishingOnly(ctx, policy.OperatorActor(store.User{}), p, pos[2] == "on", from); err != nil {
			return err
		}
		text := fmt.Sprintf("%s now accepts uploads only from its Trusted Publishers\n", p.Name)
		if pos[2] == "off" {
			text = fmt.Sprintf("%s accepts uploads from its Trusted Publishers and its collaborators' API tokens\n", p.Name)
		}
		c.print(e, map[string]any{"project": p.Name, "trusted_publishing_only": pos[2] == "on"}, text)
		return nil
	case pos[0] == "remove" && len(pos) == 3:
		p, err := project(pos[1])
		if err != nil {
			return err
		}
		id, err := strconv.ParseInt(pos[2], 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not a publisher id (wharf publisher list %s shows them)", pos[2], pos[1])
		}
		err = svc.Remove(ctx, policy.OperatorActor(store.User{}), p, id, from)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("project %s has no publisher %d", p.Name, id)
		}
		if err != nil {
			return err
		}
		c.print(e, map[string]any{"project": p.Name, "removed": id}, fmt.Sprintf("removed publisher %d of %s\n", id, p.Name))
		return nil
	}
	return errors.New(publisherUsage)
}

func publisherJSON(p store.Publisher) map[string]any {
	m := map[string]any{"id": p.ID, "project": p.ProjectName, "kind": p.Kind, "claims": p.Claims,
		"description": publishing.Describe(p), "created_at": p.CreatedAt.UTC().Format(time.RFC3339), "pending": p.Pending()}
	if p.Pending() {
		m["expires_at"] = p.ExpiresAt.UTC().Format(time.RFC3339)
		m["owner_id"] = p.OwnerID
	}
	return m
}

const issuerUsage = `usage: wharf issuer add NAME URL --claim KEY[=VALUE]...
       wharf issuer list [--json]
       wharf issuer remove NAME
--claim KEY names a claim every publisher of the issuer gives its own value for (the repository, say);
--claim KEY=VALUE fixes a claim for all of them`

// runIssuer registers the OIDC issuers beyond the built-in ones: Forgejo or Gitea Actions, a self-managed GitLab,
// Jenkins. Removing one removes its publishers.
func runIssuer(ctx context.Context, e *env, args []string) error {
	c := newCLI(e, "issuer")
	claims := map[string]string{}
	c.fs.Func("claim", "KEY (each publisher gives it) or KEY=VALUE (fixed for all) (repeat)", func(v string) error {
		key, value, _ := strings.Cut(v, "=")
		if key == "" || strings.ContainsAny(key, " \t") {
			return fmt.Errorf("%q is not KEY or KEY=VALUE", v)
		}
		claims[key] = value
		return nil
	})
	cfg, pos, err := config.Load(c.fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return errors.New(issuerUsage)
	}
	a, err := open(ctx, cfg, cfg.Migrate)
	if err != nil {
		return err
	}
	defer a.Close()
	switch {
	case pos[0] == "add" && len(pos) == 3:
		is, err := publishing.NewIssuer(pos[1], pos[2], claims, time.Now())
		if err != nil {
			return err
		}
		for _, builtin := range []string{cfg.GitHubIssuer, cfg.GitLabIssuer, cfg.GoogleIssuer} {
			if is.URL == builtin {
				return fmt.Errorf("%s is a built-in issuer already", is.URL)
			}
		}
		is, err = a.db.AddIssuer(ctx, is)
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("an issuer named %q or with URL %s is registered already", is.Name, is.URL)
		}
		if err != nil {
			return err
		}
		c.print(e, issuerJSON(is), fmt.Sprintf("registered issuer %s (%s)\n", is.Name, is.URL))
		return nil
	case pos[0] == "list" && len(pos) == 1:
		list, err := a.db.Issuers(ctx)
		if err != nil {
			return err
		}
		var text strings.Builder
		out := []map[string]any{}
		for _, is := range list {
			fmt.Fprintf(&text, "%s\t%s\t%s\n", is.Name, is.URL, publishing.DescribeIssuerClaims(is))
			out = append(out, issuerJSON(is))
		}
		if len(list) == 0 {
			text.WriteString("no registered issuers (the built-in ones are GitHub, GitLab and Google)\n")
		}
		c.print(e, out, text.String())
		return nil
	case pos[0] == "remove" && len(pos) == 2:
		err := a.db.RemoveIssuer(ctx, pos[1])
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no issuer %q", pos[1])
		}
		if err != nil {
			return err
		}
		c.print(e, map[string]any{"removed": pos[1]}, fmt.Sprintf("removed issuer %s and its publishers\n", pos[1]))
		return nil
	}
	return errors.New(issuerUsage)
}

func issuerJSON(is store.Issuer) map[string]any {
	return map[string]any{"name": is.Name, "url": is.URL, "claims": is.Claims, "created_at": is.CreatedAt.UTC().Format(time.RFC3339)}
}
