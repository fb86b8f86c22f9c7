package accounts

import (
	"errors"
	"strings"
	"testing"
)

func TestPasswordRules(t *testing.T) {
	h := NewHasherWithCost(2, 8, testCost)
	for _, tc := range []struct {
		name, password string
		want           error
	}{
		{"7 chars refused", "abcdefg", ErrPasswordTooShort},
		{"8 chars accepted", "abcdefgh", nil},
		{"64 chars accepted", strings.Repeat("x", 64), nil},
		{"unicode counted in characters", "пароль12", nil},
		{"invalid utf-8", "abc\xffdefgh", ErrPasswordInvalid},
		{"over the byte cap", strings.Repeat("x", MaxPasswordBytes+1), ErrPasswordTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := h.Check(tc.password); !errors.Is(err, tc.want) {
				t.Errorf("Check = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestHashVerify(t *testing.T) {
	h := NewHasherWithCost(2, 8, testCost)
	long := strings.Repeat("p", 100)
	a80 := strings.Repeat("a", 72) + "11111111"
	b80 := strings.Repeat("a", 72) + "22222222"
	nfc, nfd := "caf\u00e9-password", "cafe\u0301-password"
	for _, tc := range []struct {
		name, stored, tried string
		want                bool
	}{
		{"same password", "correct horse", "correct horse", true},
		{"other password", "correct horse", "correct horsf", false},
		{"no truncation: 99-char prefix of 100", long, long[:99], false},
		{"differ after byte 72", a80, b80, false},
		{"NFC stored, NFD typed", nfc, nfd, true},
		{"NFD stored, NFC typed", nfd, nfc, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			enc, err := h.Hash(tc.stored)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(enc, tc.stored) || !strings.HasPrefix(enc, "$argon2id$v=19$m=64,t=1,p=2$") {
				t.Fatalf("encoded hash %q", enc)
			}
			got, err := h.Verify(enc, tc.tried)
			if err != nil || got != tc.want {
				t.Errorf("Verify = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestHashesAreSalted(t *testing.T) {
	h := NewHasherWithCost(2, 8, testCost)
	a, _ := h.Hash("same password")
	b, _ := h.Hash("same password")
	if a == b {
		t.Error("two hashes of one password are equal: no per-user salt")
	}
}

// TestDefaultCost: the server hashes at RFC 9106's second recommended cost, written in the hash, and a login for a
// missing user verifies a hash of the same cost.
func TestDefaultCost(t *testing.T) {
	h := NewHasher(1, 8)
	enc, err := h.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	const params = "$argon2id$v=19$m=65536,t=3,p=2$"
	if !strings.HasPrefix(enc, params) || !strings.HasPrefix(h.dummy, params) {
		t.Errorf("hash %q and dummy %q, want both to start %q", enc, h.dummy, params)
	}
	if ok, err := h.Verify(enc, "correct horse"); err != nil || !ok {
		t.Errorf("Verify = %v, %v", ok, err)
	}
	if ok, err := h.Verify(h.dummy, "correct horse"); err != nil || ok {
		t.Errorf("the dummy hash verified: %v, %v", ok, err)
	}
}
