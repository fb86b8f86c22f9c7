package mfa

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	rfcSHA1   = []byte("12345678901234567890")
	rfcSHA256 = []byte("12345678901234567890123456789012")
	rfcSHA512 = []byte(strings.Repeat("1234567890", 7)[:64])
)

func TestHOTPVectors(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for counter, w := range want {
		t.Run(fmt.Sprintf("counter %d", counter), func(t *testing.T) {
			if got := HOTP(rfcSHA1, uint64(counter), 6, SHA1); got != w {
				t.Errorf("got %s, want %s", got, w)
			}
		})
	}
}

func TestTOTPVectors(t *testing.T) {
	tests := []struct {
		unix                 int64
		sha1, sha256, sha512 string
	}{
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1111111111, "14050471", "67062674", "99943326"},
		{1234567890, "89005924", "91819424", "93441116"},
		{2000000000, "69279037", "90698825", "38618901"},
		{20000000000, "65353130", "77737706", "47863826"}, // past 2038: the step needs 64 bits
	}
	for _, tc := range tests {
		at := time.Unix(tc.unix, 0)
		for _, alg := range []struct {
			name   string
			alg    Algorithm
			secret []byte
			want   string
		}{
			{"SHA1", SHA1, rfcSHA1, tc.sha1},
			{"SHA256", SHA256, rfcSHA256, tc.sha256},
			{"SHA512", SHA512, rfcSHA512, tc.sha512},
		} {
			t.Run(fmt.Sprintf("%s at %d", alg.name, tc.unix), func(t *testing.T) {
				if got := TOTPAt(alg.secret, at, Period, 8, alg.alg); got != alg.want {
					t.Errorf("got %s, want %s", got, alg.want)
				}
			})
		}
	}
}

func TestVerifyWindow(t *testing.T) {
	secret := NewTOTPSecret()
	now := time.Date(2026, 11, 25, 10, 0, 15, 0, time.UTC)
	t0 := Step(now, Period)
	codeAt := func(d int64) string { return HOTP(secret, uint64(t0+d), 6, SHA1) }
	tests := []struct {
		name     string
		code     string
		wantStep int64
		wantOK   bool
	}{
		{"T", codeAt(0), t0, true},
		{"T-1", codeAt(-1), t0 - 1, true},
		{"T+1", codeAt(1), t0 + 1, true},
		{"T-2", codeAt(-2), 0, false},
		{"T+2", codeAt(2), 0, false},
		{"spaced", codeAt(0)[:3] + " " + codeAt(0)[3:], t0, true},
		{"trailing newline", codeAt(0) + "\r\n", t0, true},
		{"full-width digits", toFullWidth(codeAt(0)), t0, true},
		{"too short", codeAt(0)[:5], 0, false},
		{"letters", "12a456", 0, false},
		{"empty", "", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step, ok := Verify(secret, tc.code, now)
			// A random secret may make another step's code equal by chance (about 1 in 10^6 per step): skip that
			// rather than flake.
			if !tc.wantOK && ok && codeAt(step-t0) == codeAt(0) {
				t.Skip("code collision")
			}
			if ok != tc.wantOK || step != tc.wantStep {
				t.Errorf("Verify = %d, %v; want %d, %v", step, ok, tc.wantStep, tc.wantOK)
			}
		})
	}
}

func toFullWidth(s string) string {
	return strings.Map(func(r rune) rune { return r - '0' + '０' }, s)
}

func TestClockSkew(t *testing.T) {
	secret := rfcSHA1
	now := time.Unix(1_800_000_000, 0)
	t0 := Step(now, Period)
	tests := []struct {
		name   string
		offset int64
		want   time.Duration
		wantOK bool
	}{
		{"on time", 0, 0, true},
		{"four minutes fast", 8, 4 * time.Minute, true},
		{"five minutes slow", -10, -5 * time.Minute, true},
		{"too far", 11, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ClockSkew(secret, HOTP(secret, uint64(t0+tc.offset), 6, SHA1), now)
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("ClockSkew = %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "123456", "123456", true},
		{"grouped", "123 456", "123456", true},
		{"newline", "123456\n", "123456", true},
		{"tabs and no-break space", "\t123\u00a0456 ", "123456", true},
		{"full-width", "１２３４５６", "123456", true},
		{"ideographic space", "１２３\u3000４５６", "123456", true},
		{"seven digits", "1234567", "", false},
		{"five digits", "12345", "", false},
		{"dash", "123-456", "", false},
		{"arabic-indic digits", "١٢٣٤٥٦", "", false},
		{"superscript six folds to 6", "12345⁶", "123456", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := NormalizeCode(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("NormalizeCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestKeyURI(t *testing.T) {
	secret := []byte("12345678901234567890")
	tests := []struct {
		name, issuer, account, want string
	}{
		{"plain", "wharf", "alice",
			"otpauth://totp/wharf:alice?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=wharf&algorithm=SHA1&digits=6&period=30"},
		{"escaped", "Wharf Index", "a:b&c@x.org",
			"otpauth://totp/Wharf%20Index:a%3Ab&c@x.org?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Wharf%20Index&algorithm=SHA1&digits=6&period=30"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, KeyURI(tc.issuer, tc.account, secret)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewTOTPSecret(t *testing.T) {
	a, b := NewTOTPSecret(), NewTOTPSecret()
	if len(a) != 20 || string(a) == string(b) {
		t.Errorf("secrets %x, %x: want 20 random bytes each", a, b)
	}
}
