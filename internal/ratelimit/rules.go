package ratelimit

import "time"

// The limits wharf applies, from security-checklist.md where it gives numbers (R1, R3) and conservative defaults
// where it does not (R5, U12). They are values rather than configuration so that every instance behind one Redis
// applies the same ones; the conformance suite checks R1 and R3 with exactly these.
var (
	// R1: failed logins, per account (keyed by user name) and per IP. After a successful login the caller resets
	// the account's counter, not the IP's.
	LoginAccount = Rule{Name: "login-account", Limit: 10, Window: 5 * time.Minute}
	LoginIP      = Rule{Name: "login-ip", Limit: 10, Window: 5 * time.Minute}
	// LoginGlobal is the ceiling on failed logins across all accounts, keyed by GlobalKey: it bounds password
	// spraying from many addresses, at the price of refusing everyone while it holds.
	LoginGlobal = Rule{Name: "login-global", Limit: 1000, Window: 5 * time.Minute}

	// R3: second-factor attempts across TOTP, WebAuthn and recovery codes, per user; the same three per IP.
	SecondFactor5m = Rule{Name: "2fa-5m", Limit: 5, Window: 5 * time.Minute}
	SecondFactor1h = Rule{Name: "2fa-1h", Limit: 20, Window: time.Hour}
	SecondFactor1d = Rule{Name: "2fa-1d", Limit: 50, Window: 24 * time.Hour}

	// R5: mails sent by reset, verification and invitation endpoints, per recipient address and per IP.
	MailAddressHour = Rule{Name: "mail-address-1h", Limit: 3, Window: time.Hour}
	MailAddressDay  = Rule{Name: "mail-address-1d", Limit: 10, Window: 24 * time.Hour}
	MailIP          = Rule{Name: "mail-ip-1h", Limit: 20, Window: time.Hour}

	// U12: new projects, per user and per IP.
	ProjectCreateUser = Rule{Name: "project-create-user", Limit: 20, Window: time.Hour}
	ProjectCreateIP   = Rule{Name: "project-create-ip", Limit: 40, Window: time.Hour}
)

// GlobalKey is the key of rules that count everyone together, such as LoginGlobal.
const GlobalKey = "*"
