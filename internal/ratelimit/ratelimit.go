// Package ratelimit bounds how often one account, address or IP may try something: login failures, second-factor
// attempts, mail-sending endpoints and project creation. Guessing a password or a code is only practical when it
// can be retried fast; these limits make it slow enough to be useless. Two backends share one behaviour: Memory for
// a single instance and Redis for several instances behind a load balancer.
//
// Every rule is a sliding-window log: a hit is allowed when fewer than Limit hits were allowed in the Window before
// it. Refused hits are not recorded, so an attacker who keeps trying cannot extend the lockout of the account they
// attack; the owner gets in again one window after the last allowed attempt.
package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"wharf/internal/ident"
)

// Rule is one limit: at most Limit hits in any Window. Name identifies the counter, so two rules that must count
// separately (per account and per IP, say) need different names, and the same name must always mean the same limit.
type Rule struct {
	Name   string
	Limit  int
	Window time.Duration
}

// Decision is the answer for one key under a set of rules.
type Decision struct {
	Allowed bool
	// RetryAfter is how long until the refused hit would be allowed, if nothing else is counted meanwhile.
	RetryAfter time.Duration
	// Rule names the rule that refused: of several, the one that refuses longest, because it is the one the
	// caller waits for.
	Rule string
}

// Limiter counts hits per key and rule.
type Limiter interface {
	// Check reports whether one more hit under key is allowed for every rule, without counting it.
	Check(ctx context.Context, key string, rules ...Rule) (Decision, error)
	// Hit counts one hit under key for every rule and returns the decision after counting. A refused hit is
	// counted under no rule; an allowed one under all of them.
	Hit(ctx context.Context, key string, rules ...Rule) (Decision, error)
	// Reset forgets key under the given rules only: after a successful login the account's failures are
	// forgotten, but not the IP's.
	Reset(ctx context.Context, key string, rules ...Rule) error
}

// ErrBadRule reports a call with no rules, or with a rule whose name is empty, too long, has characters other
// than letters, digits, '-', '_' and '.', or is given twice, whose limit is not positive or whose window is
// shorter than a millisecond. It is a programming error, not a client's.
var ErrBadRule = errors.New("ratelimit: invalid rule")

func validate(rules []Rule) error {
	if len(rules) == 0 {
		return fmt.Errorf("%w: no rules given", ErrBadRule)
	}
	for i, r := range rules {
		if !validName(r.Name) || r.Limit <= 0 || r.Window < time.Millisecond {
			return fmt.Errorf("%w: %+v", ErrBadRule, r)
		}
		for _, o := range rules[:i] {
			if o.Name == r.Name {
				return fmt.Errorf("%w: %q given twice", ErrBadRule, r.Name)
			}
		}
	}
	return nil
}

// validName keeps rule names to letters, digits, '-', '_' and '.', so that a stored key "rule:key" can be split
// at its first colon and two rules can never share a counter.
func validName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for _, c := range []byte(name) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// combine turns per-rule waits (zero for a rule that allows) into one decision.
func combine(rules []Rule, waits []time.Duration) Decision {
	d := Decision{Allowed: true}
	for i, w := range waits {
		if w > 0 && w > d.RetryAfter {
			d = Decision{Allowed: false, RetryAfter: w, Rule: rules[i].Name}
		}
	}
	return d
}

// NormalizeKey maps the spellings of one account, address or IP to one key, so that "Alice", "alice " and
// "ＡＬＩＣＥ" cannot each get their own allowance (R2). Names and addresses get ident.Key, the key under which the
// store finds accounts, so that every spelling that signs into an account counts on that account's one counter. An
// IPv6 address is keyed by its /64, because one subscriber usually holds a whole /64 and could otherwise rotate
// through 2^64 addresses; an IPv4-mapped IPv6 address counts as the IPv4 address.
func NormalizeKey(s string) string {
	k := ident.Key(s)
	if mayBeIP(k) {
		if a, err := netip.ParseAddr(k); err == nil {
			a = a.WithZone("").Unmap()
			if a.Is6() {
				p, _ := a.Prefix(64)
				return p.String()
			}
			return a.String()
		}
	}
	return k
}

// mayBeIP spares most user names a failed IP parse, whose error is an allocation on every login.
func mayBeIP(s string) bool {
	return s != "" && (s[0] == ':' || ('0' <= s[0] && s[0] <= '9') || ('a' <= s[0]|0x20 && s[0]|0x20 <= 'f')) &&
		strings.ContainsAny(s, ".:")
}

// maxKeyLen bounds the bytes a key occupies in memory or in Redis, whatever length of user name a client sends.
const maxKeyLen = 128

// storageKey is the normalised key as stored: long keys are replaced by their hash.
func storageKey(key string) string {
	k := NormalizeKey(key)
	if len(k) <= maxKeyLen {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// RetryAfterSeconds is d in whole seconds, rounded up and at least 1: a client told to retry after 0 seconds
// would retry at once, and one told to retry before the window has passed would be refused again.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// WriteTooMany answers a refused request: 429 with Retry-After and msg as plain text (the status text when msg is
// empty). Handlers that return errors can instead set the same header with RetryAfterSeconds.
func WriteTooMany(w http.ResponseWriter, d Decision, msg string) {
	if msg == "" {
		msg = http.StatusText(http.StatusTooManyRequests)
	}
	h := w.Header()
	h.Set("Retry-After", strconv.Itoa(RetryAfterSeconds(d.RetryAfter)))
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = io.WriteString(w, msg+"\n")
}
