// Command wharf is a Python package index compatible with PyPI's public interfaces.
//
//	wharf serve      run the index (SQLite and local files under ./wharf-data by default)
//	wharf migrate    apply database migrations
//	wharf user       manage users: create, disable, enable, admin
//	wharf name       reserve project names
//	wharf token      mint API tokens
//	wharf policy     show the 2FA mandate's phase and what it refuses
//	wharf critical   designate, list, mark and release critical projects
//	wharf downloads  import web-server and CDN access logs as download counts
//	wharf promo      load and count the codes of the security-key offer
//	wharf publisher  add, list and remove Trusted Publishers
//	wharf org        create, list and show organizations, and add members
//	wharf issuer     register the OIDC issuers of Trusted Publishing beyond GitHub, GitLab and Google
//	wharf fsck       prove that the database and the blob store agree
//	wharf storage    move the files to another store (a folder, an S3 bucket) while the index serves
//	wharf version    print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitCode lets a command fail with a specific status after printing its own message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

type command struct {
	name, summary string
	run           func(ctx context.Context, env *env, args []string) error
}

// env is what a subcommand may touch of the process, so tests can run commands in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

var commands []command

func init() {
	commands = []command{
		{"serve", "run the package index", runServe},
		{"migrate", "apply database migrations and exit", runMigrate},
		{"user", "manage users: user create NAME --email E (password on stdin) | disable NAME | enable NAME | admin NAME [--revoke]", runUser},
		{"name", "reserve project names: name reserve NAME --reason R", runName},
		{"token", "mint API tokens: token create --user NAME [--project P]... [--expires 720h]", runToken},
		{"fsck", "check that every file row has its blob with the right size and sha256", runFsck},
		{"storage", "move the files to another store: storage migrate --to URL (file:PATH or s3://BUCKET?...; resumable)", runStorage},
		{"downloads", "count downloads from access logs: downloads import FILE... (combined log format, plain or gzip, - for stdin)", runDownloads},
		{"policy", "the 2FA mandate: policy show [--json] | policy enforce-early (--user NAME | --project NAME) --reason R", runPolicy},
		{"critical", "critical projects: critical recompute [--dry-run] | list | mark NAME --reason R | release NAME --reason R", runCritical},
		{"publisher", "Trusted Publishers: publisher add PROJECT KIND --field NAME=VALUE... | list [PROJECT] [--json] | remove PROJECT ID | only PROJECT on|off", runPublisher},
		{"issuer", "OIDC issuers for Trusted Publishing: issuer add NAME URL --claim KEY[=VALUE]... | list [--json] | remove NAME", runIssuer},
		{"org", "organizations: org create NAME --owner USER | list [--json] | show NAME [--json] | add-member NAME USER --role ROLE | approve NAME", runOrg},
		{"promo", "the security-key offer: promo load FILE [--batch NAME] (one code a line, - for stdin) | promo stats [--json]", runPromo},
		{"version", "print the version", func(_ context.Context, e *env, _ []string) error {
			fmt.Fprintln(e.stdout, "wharf", version)
			return nil
		}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:]))
}

func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stderr)
		return 2
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, e, args[1:])
			var code exitCode
			switch {
			case err == nil:
				return 0
			case errors.As(err, &code):
				return int(code)
			case errors.Is(err, flag.ErrHelp):
				return 2
			default:
				fmt.Fprintf(e.stderr, "wharf %s: %v\n", c.name, err)
				return 1
			}
		}
	}
	fmt.Fprintf(e.stderr, "wharf: unknown command %q\n\n", args[0])
	usage(e.stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: wharf COMMAND [flags]\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'wharf COMMAND -h' for the flags of a command. Every flag has a WHARF_* environment variable.")
}
