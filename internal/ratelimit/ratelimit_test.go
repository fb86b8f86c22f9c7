package ratelimit_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/ratelimit"
)

func TestNormalizeKey(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"lower case stays", "alice", "alice"},
		{"upper case folds", "ALICE", "alice"},
		{"surrounding space trimmed", "  Alice \t\n", "alice"},
		{"full-width letters", "ＡＬＩＣＥ", "alice"},
		{"ideographic space trimmed", "\u3000alice\u3000", "alice"},
		{"no-break space trimmed", "\u00a0alice", "alice"},
		{"ligature decomposed", "ﬁona", "fiona"},
		{"sharp s folds fully", "STRASSE", "strasse"},
		{"sharp s", "straße", "strasse"},
		{"final sigma folds", "ΟΔΥΣΣΕΥΣ", "οδυσσευσ"},
		{"combining accent composed", "Ame\u0301lie", "amélie"},
		{"email address", "Alice@Example.COM", "alice@example.com"},
		{"inner space kept", "alice smith", "alice smith"},
		{"IPv4", "192.0.2.1", "192.0.2.1"},
		{"IPv4 with spaces", " 192.0.2.1 ", "192.0.2.1"},
		{"IPv4 in full-width digits", "１９２.０.２.１", "192.0.2.1"},
		{"IPv4-mapped IPv6", "::ffff:192.0.2.1", "192.0.2.1"},
		{"IPv6 keyed by /64", "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"IPv6 upper case", "2001:DB8:1:2::ABCD", "2001:db8:1:2::/64"},
		{"IPv6 with zone", "fe80::1%eth0", "fe80::/64"},
		{"not quite an IP", "192.0.2.256", "192.0.2.256"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ratelimit.NormalizeKey(tc.in); got != tc.want {
				t.Errorf("NormalizeKey(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestWriteTooMany(t *testing.T) {
	for _, tc := range []struct {
		name       string
		retryAfter time.Duration
		msg        string
		wantRetry  string
		wantBody   string
	}{
		{"whole seconds", 30 * time.Second, "Too many failed logins. Try again later.", "30", "Too many failed logins. Try again later.\n"},
		{"rounded up by a nanosecond", 4*time.Minute + time.Nanosecond, "x", "241", "x\n"},
		{"under a second is one", time.Millisecond, "x", "1", "x\n"},
		{"never zero", 0, "x", "1", "x\n"},
		{"empty message gets the status text", time.Second, "", "1", "Too Many Requests\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			ratelimit.WriteTooMany(rec, ratelimit.Decision{RetryAfter: tc.retryAfter, Rule: "login-account"}, tc.msg)
			got := map[string]any{
				"status": rec.Code, "Retry-After": rec.Header().Get("Retry-After"), "body": rec.Body.String(),
				"type": rec.Header().Get("Content-Type"), "cache": rec.Header().Get("Cache-Control"),
			}
			want := map[string]any{
				"status": http.StatusTooManyRequests, "Retry-After": tc.wantRetry, "body": tc.wantBody,
				"type": "text/plain; charset=utf-8", "cache": "no-store",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
			if strings.Contains(rec.Body.String(), "login-account") {
				t.Error("the response names the internal rule")
			}
		})
	}
}

func TestWharfRulesAreValidAndDistinct(t *testing.T) {
	all := map[string]ratelimit.Rule{
		"LoginAccount": ratelimit.LoginAccount, "LoginIP": ratelimit.LoginIP, "LoginGlobal": ratelimit.LoginGlobal,
		"SecondFactor5m": ratelimit.SecondFactor5m, "SecondFactor1h": ratelimit.SecondFactor1h,
		"SecondFactor1d": ratelimit.SecondFactor1d, "MailAddressHour": ratelimit.MailAddressHour,
		"MailAddressDay": ratelimit.MailAddressDay, "MailIP": ratelimit.MailIP,
		"ProjectCreateUser": ratelimit.ProjectCreateUser, "ProjectCreateIP": ratelimit.ProjectCreateIP,
	}
	m := ratelimit.NewMemory(func() time.Time { return epoch }, 0)
	names := map[string]string{}
	for v, r := range all {
		d, err := m.Check(t.Context(), "k", r)
		if err != nil || !d.Allowed {
			t.Errorf("%s: Check = %+v, %v; want allowed", v, d, err)
		}
		if other, dup := names[r.Name]; dup {
			t.Errorf("%s and %s share the name %q, so they would share a counter", v, other, r.Name)
		}
		names[r.Name] = v
	}
}
