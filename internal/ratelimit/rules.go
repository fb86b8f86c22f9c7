package ratelimit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rules are every limit wharf applies. DefaultRules holds the values of docs/security.md (R1, R3 and R5 give
// numbers; U12 is PyPI's), and an administrator changes any of them by name with Set, from the WHARF_RATE_LIMITS
// setting. Every instance behind one Redis must be given the same rules: a rule's name is its counter.
type Rules struct {
	// R1: failed logins, per account (keyed by user name) and per IP. After a successful login the caller resets
	// the account's counter, not the IP's. LoginGlobal is the ceiling on failed logins across all accounts, keyed
	// by GlobalKey: it bounds password spraying from many addresses, at the price of refusing everyone while it
	// holds.
	LoginAccount, LoginIP, LoginGlobal Rule

	// R3: second-factor attempts across TOTP, WebAuthn and recovery codes, per user, and per IP.
	SecondFactor5m, SecondFactor1h, SecondFactor1d, SecondFactorIP Rule
	// PasskeyIP limits failed passkey sign-ins per address: the per-user counters need a username, which a
	// passkey sign-in does not type. PasskeyStartsIP limits the ceremonies an address starts, each of which
	// stores a challenge.
	PasskeyIP, PasskeyStartsIP Rule

	// R5: mails sent by verification and invitation endpoints, per recipient address and per IP; reset mails
	// per account.
	MailAddressHour, MailAddressDay, MailIP Rule
	ResetsSentHour, ResetsSentDay           Rule

	// U12: new projects, per user and per IP. Administrators are exempt (policy.LimitsProjectCreation).
	ProjectCreateUser, ProjectCreateIP Rule

	// Reports of projects per user, each of which mails every administrator.
	ReportUserHour, ReportUserDay Rule
}

// DefaultRules are the limits of an index that was not told otherwise.
func DefaultRules() Rules {
	return Rules{
		LoginAccount: Rule{Name: "login-account", Limit: 10, Window: 5 * time.Minute},
		LoginIP:      Rule{Name: "login-ip", Limit: 10, Window: 5 * time.Minute},
		LoginGlobal:  Rule{Name: "login-global", Limit: 1000, Window: 5 * time.Minute},

		SecondFactor5m:  Rule{Name: "2fa-5m", Limit: 5, Window: 5 * time.Minute},
		SecondFactor1h:  Rule{Name: "2fa-1h", Limit: 20, Window: time.Hour},
		SecondFactor1d:  Rule{Name: "2fa-1d", Limit: 50, Window: 24 * time.Hour},
		SecondFactorIP:  Rule{Name: "2fa-ip-5m", Limit: 20, Window: 5 * time.Minute},
		PasskeyIP:       Rule{Name: "passkey-ip-5m", Limit: 20, Window: 5 * time.Minute},
		PasskeyStartsIP: Rule{Name: "passkey-start-ip-5m", Limit: 60, Window: 5 * time.Minute},

		MailAddressHour: Rule{Name: "mail-address-1h", Limit: 3, Window: time.Hour},
		MailAddressDay:  Rule{Name: "mail-address-1d", Limit: 10, Window: 24 * time.Hour},
		MailIP:          Rule{Name: "mail-ip-1h", Limit: 20, Window: time.Hour},
		ResetsSentHour:  Rule{Name: "reset-sent-1h", Limit: 3, Window: time.Hour},
		ResetsSentDay:   Rule{Name: "reset-sent-1d", Limit: 10, Window: 24 * time.Hour},

		ProjectCreateUser: Rule{Name: "project-create-user", Limit: 20, Window: time.Hour},
		ProjectCreateIP:   Rule{Name: "project-create-ip", Limit: 40, Window: time.Hour},

		ReportUserHour: Rule{Name: "report-user-1h", Limit: 10, Window: time.Hour},
		ReportUserDay:  Rule{Name: "report-user-1d", Limit: 30, Window: 24 * time.Hour},
	}
}

func (r *Rules) all() []*Rule {
	return []*Rule{&r.LoginAccount, &r.LoginIP, &r.LoginGlobal,
		&r.SecondFactor5m, &r.SecondFactor1h, &r.SecondFactor1d, &r.SecondFactorIP, &r.PasskeyIP, &r.PasskeyStartsIP,
		&r.MailAddressHour, &r.MailAddressDay, &r.MailIP, &r.ResetsSentHour, &r.ResetsSentDay,
		&r.ProjectCreateUser, &r.ProjectCreateIP, &r.ReportUserHour, &r.ReportUserDay}
}

// Set changes limits from a list such as "project-create-user=200/1h, login-ip=30/5m": each item names a rule and
// gives its new limit and window (a Go duration). Rules it does not name keep their values. A window may change
// with the limit: the counter keeps its name, and the sliding log is read against the new window. On an error
// nothing changes.
func (r *Rules) Set(spec string) error {
	next := *r
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		limit, window, ok2 := strings.Cut(value, "/")
		if !ok || !ok2 {
			return fmt.Errorf("%q: want NAME=LIMIT/WINDOW, such as project-create-user=200/1h", item)
		}
		rule := next.named(strings.TrimSpace(name))
		if rule == nil {
			return fmt.Errorf("%q: no rule named %q; the rules are %s", item, name, strings.Join(next.names(), ", "))
		}
		n, err := strconv.Atoi(strings.TrimSpace(limit))
		if err != nil || n <= 0 {
			return fmt.Errorf("%q: the limit must be a positive whole number", item)
		}
		w, err := time.ParseDuration(strings.TrimSpace(window))
		if err != nil || w < time.Second {
			return fmt.Errorf("%q: the window must be a duration of a second or more, such as 5m or 24h", item)
		}
		rule.Limit, rule.Window = n, w
	}
	*r = next
	return nil
}

func (r *Rules) named(name string) *Rule {
	for _, rule := range r.all() {
		if rule.Name == name {
			return rule
		}
	}
	return nil
}

func (r *Rules) names() []string {
	var out []string
	for _, rule := range r.all() {
		out = append(out, rule.Name)
	}
	return out
}

// String lists every rule in the form Set reads.
func (r Rules) String() string {
	var items []string
	for _, rule := range r.all() {
		items = append(items, fmt.Sprintf("%s=%d/%s", rule.Name, rule.Limit, shortDuration(rule.Window)))
	}
	return strings.Join(items, ",")
}

// shortDuration writes 5m and 24h rather than Go's 5m0s and 24h0m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// GlobalKey is the key of rules that count everyone together, such as LoginGlobal.
const GlobalKey = "*"
