package ratelimit_test

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/ident"
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
		{"Kelvin sign", "\u212AIM", "kim"},
		{"capital I with dot above keeps its dot", "kİm", "ki\u0307m"},
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

// TestNormalizeKeyIsTheLookupKey ties the limiter to the store: a name or address is counted under exactly the key
// the store finds the account by (ident.Key), so no spelling that signs into an account escapes its counter (R2).
func TestNormalizeKeyIsTheLookupKey(t *testing.T) {
	for _, s := range []string{"kim", "KIM", "kim ", "ＫＩＭ", "\u212AIM", "kİm", "straße", "Kim@Example.com",
		"ＫＩＭ＠ｅｘａｍｐｌｅ．ｃｏｍ", "a.b-c_d", "deadbeef", "1.2.3.4", "Ame\u0301lie"} {
		if got, want := ratelimit.NormalizeKey(s), ident.Key(s); got != want {
			t.Errorf("NormalizeKey(%q) = %q, but the account is found under %q", s, got, want)
		}
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

// defaultRules lists every field of DefaultRules by its Go name, through reflection, so that a rule added later is
// checked without anyone remembering to list it here.
func defaultRules() map[string]ratelimit.Rule {
	all := map[string]ratelimit.Rule{}
	v := reflect.ValueOf(ratelimit.DefaultRules())
	for i := range v.NumField() {
		all[v.Type().Field(i).Name] = v.Field(i).Interface().(ratelimit.Rule)
	}
	return all
}

func TestWharfRulesAreValidAndDistinct(t *testing.T) {
	all := defaultRules()
	if len(all) < 16 {
		t.Fatalf("DefaultRules has %d rules; reflection found too few", len(all))
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

// TestRulesSet: an administrator changes limits by name; what is not named keeps its value, every bad item is
// refused with the reason, and String writes what Set reads.
func TestRulesSet(t *testing.T) {
	r := ratelimit.DefaultRules()
	if err := r.Set(" project-create-user=200/1h , login-ip=30/10m,"); err != nil {
		t.Fatal(err)
	}
	want := ratelimit.DefaultRules()
	want.ProjectCreateUser.Limit = 200
	want.LoginIP.Limit, want.LoginIP.Window = 30, 10*time.Minute
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("after Set (-want +got):\n%s", diff)
	}
	round := ratelimit.DefaultRules()
	round.LoginGlobal.Limit = 1 // String must carry every rule, so Set puts this one back too
	if err := round.Set(r.String()); err != nil {
		t.Fatalf("Set(String()) = %v for %q", err, r.String())
	}
	if diff := cmp.Diff(r, round); diff != "" {
		t.Errorf("String does not round-trip (-want +got):\n%s\n%s", diff, r.String())
	}
	if !strings.Contains(ratelimit.DefaultRules().String(), "2fa-1d=50/24h") || !strings.Contains(ratelimit.DefaultRules().String(), "login-account=10/5m") {
		t.Errorf("String = %q", ratelimit.DefaultRules().String())
	}
	for spec, why := range map[string]string{
		"nonsense=1/1h":             `no rule named "nonsense"`,
		"login-ip=ten/5m":           "positive whole number",
		"login-ip=0/5m":             "positive whole number",
		"login-ip=10/soon":          "duration",
		"login-ip=10/1ms":           "duration",
		"login-ip":                  "NAME=LIMIT/WINDOW",
		"login-ip=10":               "NAME=LIMIT/WINDOW",
		"login-ip=10/5m,bogus=1/1h": `no rule named "bogus"`,
	} {
		r := ratelimit.DefaultRules()
		if err := r.Set(spec); err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("Set(%q) = %v, want an error saying %q", spec, err, why)
		}
	}
}
