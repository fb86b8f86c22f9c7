package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/audit"
	"wharf/internal/config"
	"wharf/internal/fsck"
	"wharf/internal/pypkg"
	"wharf/internal/store"
	"wharf/internal/tokens"
)

// cli is what the data-printing commands share: configuration flags and --json.
type cli struct {
	fs   *flag.FlagSet
	json *bool
}

func newCLI(e *env, name string) *cli {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	return &cli{fs: fs, json: fs.Bool("json", false, "print the result as JSON")}
}

func (c *cli) print(e *env, v any, text string) {
	if *c.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		enc.Encode(v)
		return
	}
	fmt.Fprint(e.stdout, text)
}

func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	cfg, _, err := config.Load(fs, args, e.getenv)
	if err != nil {
		return err
	}
	a, err := open(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer a.Close()
	fmt.Fprintf(e.stdout, "database %s is up to date\n", a.db.Engine())
	return nil
}

func runUser(ctx context.Context, e *env, args []string) error {
	c := newCLI(e, "user")
	email := c.fs.String("email", "", "email address (user create)")
	revoke := c.fs.Bool("revoke", false, "withdraw instead of grant (user admin)")
	unverified := c.fs.Bool("unverified", false, "leave the address unverified: the user must confirm it by mail before uploading (user create)")
	cfg, pos, err := config.Load(c.fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(pos) == 2 && (pos[0] == "disable" || pos[0] == "enable" || pos[0] == "admin") {
		return runUserChange(ctx, e, c, cfg, pos[0], pos[1], *revoke)
	}
	if len(pos) != 2 || pos[0] != "create" {
		return errors.New("usage: wharf user create NAME --email ADDRESS [--unverified] (the password is read from standard input)\n" +
			"       wharf user disable NAME | wharf user enable NAME | wharf user admin NAME [--revoke]")
	}
	password, err := readSecret(e.stdin)
	if err != nil {
		return err
	}
	a, err := open(ctx, cfg, cfg.Migrate)
	if err != nil {
		return err
	}
	defer a.Close()
	users := accounts.NewUsers(a.db, accounts.NewHasher(1, 8), time.Now)
	u, err := users.Create(ctx, pos[1], *email, password)
	if err != nil {
		return err
	}
	detail := "created with the command line"
	// The administrator who runs the command vouches for the address, as PyPI's administrators do for accounts
	// they make; without a verified address the account could neither upload nor be given a role.
	if !*unverified {
		if err := a.db.SetEmailVerified(ctx, u.ID, u.Email, time.Now()); err != nil {
			return err
		}
		detail += ", address vouched for by the administrator"
	}
	audit.New(a.db, time.Now, slog.New(slog.NewTextHandler(e.stderr, nil))).Record(ctx, audit.UserCreated, u.ID, 0, audit.Request{}, detail)
	c.print(e, map[string]any{"id": u.ID, "username": u.Username, "email": u.Email, "email_verified": !*unverified},
		fmt.Sprintf("created user %s (id %d)\n", u.Username, u.ID))
	return nil
}

// readSecret reads one line from stdin, so passwords never appear in argv or shell history.
func readSecret(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, accounts.MaxPasswordBytes+2)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}

// projectList collects repeated --project flags.
type projectList []string

func (p *projectList) String() string { return strings.Join(*p, ",") }
func (p *projectList) Set(v string) error {
	for _, name := range strings.Split(v, ",") {
		if !pypkg.ValidProjectName(strings.TrimSpace(name)) {
			return fmt.Errorf("%q is not a valid project name", name)
		}
		*p = append(*p, pypkg.NormalizeName(strings.TrimSpace(name)))
	}
	return nil
}

func runToken(ctx context.Context, e *env, args []string) error {
	c := newCLI(e, "token")
	username := c.fs.String("user", "", "the user the token acts for")
	name := c.fs.String("name", "", "a label for the token")
	expires := c.fs.Duration("expires", 0, "lifetime, e.g. 720h (default: no expiry)")
	var projects projectList
	c.fs.Var(&projects, "project", "limit the token to this project (repeatable)")
	cfg, pos, err := config.Load(c.fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "create" || *username == "" {
		return errors.New("usage: wharf token create --user NAME [--project P]... [--expires 720h] [--name LABEL]")
	}
	if *expires < 0 {
		return errors.New("--expires must be positive")
	}
	a, err := open(ctx, cfg, cfg.Migrate)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := a.db.UserByName(ctx, *username)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user %q", *username)
	}
	if err != nil {
		return err
	}
	var until time.Time
	if *expires > 0 {
		until = time.Now().Add(*expires).UTC().Truncate(time.Second)
	}
	label := *name
	if label == "" {
		label = "command line"
	}
	var scope []string
	if len(projects) > 0 {
		scope = projects
	}
	svc := tokens.NewService(a.minter, a.db, audit.New(a.db, time.Now, slog.New(slog.NewTextHandler(e.stderr, nil))), time.Now)
	token, rec, err := svc.Create(ctx, u, label, scope, until, audit.Request{UserAgent: "wharf token create"})
	if err != nil {
		return err
	}
	out := map[string]any{"id": rec.ID, "token": token, "user": u.Username, "projects": rec.Projects, "name": rec.Name}
	if !until.IsZero() {
		out["expires"] = until.Format(time.RFC3339)
	}
	c.print(e, out, token+"\n")
	return nil
}

func runFsck(ctx context.Context, e *env, args []string) error {
	c := newCLI(e, "fsck")
	quick := c.fs.Bool("quick", false, "compare sizes only, without reading every file back")
	gc := c.fs.Bool("gc", false, "remove unreferenced objects and interrupted uploads older than --grace")
	grace := c.fs.Duration("grace", time.Hour, "with --gc: leave objects younger than this (uploads in flight)")
	cfg, _, err := config.Load(c.fs, args, e.getenv)
	if err != nil {
		return err
	}
	a, err := open(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer a.Close()
	rep, err := fsck.Check(ctx, a.db, a.blobs, fsck.Options{Quick: *quick})
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d files, %d objects\n", rep.Files, rep.Objects)
	for _, p := range rep.Problems {
		fmt.Fprintf(&b, "PROBLEM %s (%s): %s\n", p.Filename, p.Key, p.Issue)
	}
	for _, k := range rep.Unreferenced {
		fmt.Fprintf(&b, "unreferenced object %s\n", k)
	}
	for _, s := range rep.Staged {
		fmt.Fprintf(&b, "staged leftover %s\n", s)
	}
	if rep.OK() {
		b.WriteString("ok: every file row has its blob with the recorded size and sha256\n")
	}
	if *gc {
		objects, staged, err := fsck.Collect(ctx, a.db, a.blobs, rep, time.Now().Add(-*grace))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "removed %d unreferenced objects and %d staged leftovers\n", objects, staged)
	}
	c.print(e, rep, b.String())
	if !rep.OK() {
		return exitCode(1)
	}
	return nil
}
