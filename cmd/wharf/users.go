package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/audit"
	"wharf/internal/config"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// runUserChange disables, enables or makes an administrator of an existing user. These are the administrator's
// ways in before any administrator exists (admin) and when the web pages are out of reach (disable).
func runUserChange(ctx context.Context, e *env, c *cli, cfg config.Config, action, name string, revoke bool) error {
	a, err := open(ctx, cfg, cfg.Migrate)
	if err != nil {
		return err
	}
	defer a.Close()
	acct, err := a.db.AccountByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user %q", name)
	}
	if err != nil {
		return err
	}
	log := audit.New(a.db, time.Now, slog.New(slog.NewTextHandler(e.stderr, nil)))
	users := accounts.NewUsers(a.db, accounts.NewHasher(1, 8), time.Now, accounts.WithRecorder(log))
	// Actor 0 in the history says the command line, not a user, did it.
	from := audit.Request{UserAgent: "wharf command line"}
	var text string
	switch action {
	case "disable":
		err, text = users.Disable(ctx, 0, acct.ID, from), "disabled user %s: its sessions ended and its API tokens were revoked\n"
	case "enable":
		err, text = users.Enable(ctx, 0, acct.ID, from), "enabled user %s\n"
	case "admin":
		err, text = users.SetAdmin(ctx, 0, acct.ID, !revoke, from), "user %s is now an administrator\n"
		if revoke {
			text = "user %s is no longer an administrator\n"
		}
	}
	if err != nil {
		return err
	}
	acct, err = a.db.AccountByID(ctx, acct.ID)
	if err != nil {
		return err
	}
	c.print(e, map[string]any{"id": acct.ID, "username": acct.Username, "disabled": acct.Disabled, "admin": acct.IsAdmin},
		fmt.Sprintf(text, acct.Username))
	return nil
}

func runName(ctx context.Context, e *env, args []string) error {
	c := newCLI(e, "name")
	reason := c.fs.String("reason", "", "why the name is reserved (name reserve)")
	cfg, pos, err := config.Load(c.fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(pos) != 2 || pos[0] != "reserve" {
		return errors.New("usage: wharf name reserve NAME --reason REASON")
	}
	if !pypkg.ValidProjectName(pos[1]) {
		return fmt.Errorf("%q is not a valid project name", pos[1])
	}
	if strings.ContainsAny(*reason, "\r\n") || len(*reason) > 200 {
		return errors.New("--reason must be one line of at most 200 characters")
	}
	a, err := open(ctx, cfg, cfg.Migrate)
	if err != nil {
		return err
	}
	defer a.Close()
	name := pypkg.NormalizeName(pos[1])
	if err := a.db.ReserveName(ctx, name, *reason, time.Now()); err != nil {
		return err
	}
	audit.New(a.db, time.Now, slog.New(slog.NewTextHandler(e.stderr, nil))).Record(ctx, "name:reserve", 0, 0,
		audit.Request{UserAgent: "wharf command line"}, name+": "+*reason)
	c.print(e, map[string]any{"name": name, "reason": *reason}, fmt.Sprintf("reserved %s\n", name))
	return nil
}
