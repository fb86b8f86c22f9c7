package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"wharf/internal/audit"
	"wharf/internal/config"
)

const promoUsage = `usage: wharf promo load FILE [--batch NAME] [--json]
       wharf promo stats [--json]
  FILE: one code a line; blank lines and lines starting with # are skipped; - for standard input`

// EventPromoLoad is the audit event of a load of security-key codes.
const EventPromoLoad = "promo:load"

// maxCodeLength bounds one code: a voucher code is a few dozen characters, and a longer line is a wrong file.
const maxCodeLength = 200

// runPromo loads the codes of the security-key offer, which maintainers of critical projects claim on their
// account page, and counts them.
func runPromo(ctx context.Context, e *env, args []string) error {
	c := newCLI(e, "promo")
	batch := c.fs.String("batch", "", "a label for the codes loaded together, such as the donor and the date (load)")
	cfg, pos, err := config.Load(c.fs, args, e.getenv)
	if err != nil {
		return err
	}
	switch {
	case len(pos) == 2 && pos[0] == "load":
		if strings.ContainsFunc(*batch, unicode.IsControl) || utf8.RuneCountInString(*batch) > 100 {
			return errors.New("--batch must be one line of at most 100 characters")
		}
		// The whole file is read before the database is touched: a bad line stops the load before any code of
		// the file is in.
		codes, err := readCodes(pos[1], e.stdin)
		if err != nil {
			return err
		}
		a, err := open(ctx, cfg, cfg.Migrate)
		if err != nil {
			return err
		}
		defer a.Close()
		added, present, err := a.db.LoadPromoCodes(ctx, codes, *batch, time.Now())
		if err != nil {
			return err
		}
		detail := fmt.Sprintf("loaded %d security-key codes (%d already present)", added, present)
		if *batch != "" {
			detail += " in batch " + *batch
		}
		audit.New(a.db, time.Now, slog.New(slog.NewTextHandler(e.stderr, nil))).Record(ctx, EventPromoLoad, 0, 0,
			audit.Request{UserAgent: "wharf command line"}, detail)
		c.print(e, map[string]any{"added": added, "present": present, "batch": *batch},
			fmt.Sprintf("loaded %d codes (%d already present)\n", added, present))
		return nil
	case len(pos) == 1 && pos[0] == "stats":
		a, err := open(ctx, cfg, cfg.Migrate)
		if err != nil {
			return err
		}
		defer a.Close()
		n, err := a.db.PromoCounts(ctx)
		if err != nil {
			return err
		}
		c.print(e, map[string]any{"loaded": n.Loaded, "claimed": n.Claimed, "left": n.Left},
			fmt.Sprintf("%d codes loaded, %d claimed, %d left\n", n.Loaded, n.Claimed, n.Left))
		return nil
	}
	return errors.New(promoUsage)
}

// readCodes reads one code a line from the file name ("-": stdin), without surrounding white space, skipping
// blank lines and comments (#).
func readCodes(name string, stdin io.Reader) ([]string, error) {
	r := stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	} else {
		name = "standard input"
	}
	var codes []string
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		code := strings.TrimSpace(sc.Text())
		if code == "" || strings.HasPrefix(code, "#") {
			continue
		}
		if !utf8.ValidString(code) || strings.ContainsFunc(code, unicode.IsControl) || utf8.RuneCountInString(code) > maxCodeLength {
			return nil, fmt.Errorf("%s, line %d: a code is printable text of at most %d characters", name, line, maxCodeLength)
		}
		codes = append(codes, code)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return codes, nil
}
