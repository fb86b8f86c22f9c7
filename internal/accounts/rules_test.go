package accounts

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckFor(t *testing.T) {
	h := NewHasherWithCost(1, 8, testCost)
	for _, tc := range []struct {
		name, password, username, email string
		want                            error
	}{
		{"length rules still apply first", "abc", "alice", "alice@example.com", ErrPasswordTooShort},
		{"common password", "password123", "alice", "alice@example.com", ErrPasswordCommon},
		{"common password in another case", "PassWord123", "alice", "alice@example.com", ErrPasswordCommon},
		{"common password in full-width letters (NFKC)", "ｐａｓｓｗｏｒｄ１２３", "alice", "alice@example.com", ErrPasswordCommon},
		{"keyboard walk", "1qaz2wsx3edc", "alice", "alice@example.com", ErrPasswordCommon},
		{"digit sequence", "1234567890", "alice", "alice@example.com", ErrPasswordCommon},
		{"word and year", "Summer2024", "alice", "alice@example.com", ErrPasswordCommon},
		{"leet variant", "P@ssw0rd", "alice", "alice@example.com", ErrPasswordCommon},
		{"username exactly", "margaretha", "margaretha", "m@example.com", ErrPasswordHasUsername},
		{"username inside", "xyMargaretha99!", "margaretha", "m@example.com", ErrPasswordHasUsername},
		{"username in another case", "MARGARETHA-rules", "Margaretha", "m@example.com", ErrPasswordHasUsername},
		{"short username padded with digits", "bob12345678", "bob", "x@example.com", ErrPasswordHasUsername},
		{"short username inside real words is fine", "bobsleigh-champion", "bob", "x@example.com", nil},
		{"email exactly", "zq.person@example.org", "alice", "zq.person@example.org", ErrPasswordHasEmail},
		{"email local part inside", "my zq.person secret", "alice", "zq.person@example.org", ErrPasswordHasEmail},
		{"email local part in another case", "ZQ.PERSON!!x", "alice", "zq.person@example.org", ErrPasswordHasEmail},
		{"unrelated passphrase", "correct horse battery staple", "alice", "alice@example.com", nil},
		{"unicode passphrase", "пароль-для-пакетов", "alice", "alice@example.com", nil},
		{"no personal data given", "tangerine-umbrella-47", "", "", nil},
		{"only spaces", "            ", "alice", "alice@example.com", ErrPasswordBlank},
		{"only white space of several kinds", " \t \u3000 \u00a0 \t ", "alice", "alice@example.com", ErrPasswordBlank},
		{"one letter repeated", "aaaaaaaaaaaa", "alice", "alice@example.com", ErrPasswordRepeated},
		{"one letter repeated at the minimum length", "zzzzzzzz", "alice", "alice@example.com", ErrPasswordRepeated},
		{"one letter repeated, long", strings.Repeat("q", 200), "alice", "alice@example.com", ErrPasswordRepeated},
		{"one letter repeated in both cases", "AaAaAaAaAa", "alice", "alice@example.com", ErrPasswordRepeated},
		{"one umlaut repeated", "ääääääää", "alice", "alice@example.com", ErrPasswordRepeated},
		{"one umlaut repeated, decomposed (NFD)", strings.Repeat("a\u0308", 8), "alice", "alice@example.com", ErrPasswordRepeated},
		{"one full-width letter repeated", "ｘｘｘｘｘｘｘｘ", "alice", "alice@example.com", ErrPasswordRepeated},
		{"one digit repeated", "7777777777", "alice", "alice@example.com", ErrPasswordRepeated},
		{"one symbol repeated", "!!!!!!!!!!", "alice", "alice@example.com", ErrPasswordRepeated},
		{"one emoji repeated", "🔑🔑🔑🔑🔑🔑🔑🔑", "alice", "alice@example.com", ErrPasswordRepeated},
		{"two letters alternating are not one repeated", "abababababab", "alice", "alice@example.com", nil},
		{"one letter repeated with a space inside", "aaaa aaaa", "alice", "alice@example.com", nil},
		{"spaces around a real passphrase", "   correct horse battery staple   ", "alice", "alice@example.com", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := h.CheckFor(tc.password, tc.username, tc.email); !errors.Is(err, tc.want) {
				t.Errorf("CheckFor = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestWeakPasswordReasons shows that each weak kind gets its own reason, and that both are blocklist refusals for
// callers that handle ErrPasswordCommon (the web forms show the reason of every such refusal).
func TestWeakPasswordReasons(t *testing.T) {
	h := NewHasherWithCost(1, 8, testCost)
	for password, want := range map[string]error{"          ": ErrPasswordBlank, "bbbbbbbbbb": ErrPasswordRepeated} {
		err := h.CheckFor(password, "alice", "alice@example.com")
		if !errors.Is(err, want) || !errors.Is(err, ErrPasswordCommon) {
			t.Errorf("CheckFor(%q) = %v; want %v, which is also ErrPasswordCommon", password, err, want)
		}
		if err != nil && err.Error() == ErrPasswordCommon.Error() {
			t.Errorf("CheckFor(%q) gives the common-list reason, not its own", password)
		}
	}
	if errors.Is(ErrPasswordBlank, ErrPasswordRepeated) || errors.Is(ErrPasswordRepeated, ErrPasswordBlank) {
		t.Error("the two reasons are not told apart")
	}
}

func TestCommonPasswordList(t *testing.T) {
	lines := strings.Split(strings.TrimSpace(commonPasswordsFile), "\n")
	if len(lines) < 3000 {
		t.Errorf("the list has %d entries; want a few thousand at least", len(lines))
	}
	if n := len(commonPasswords()); n != len(lines) {
		t.Errorf("%d lines make %d distinct entries: the file has duplicates or case variants", len(lines), n)
	}
	for _, l := range lines {
		if l != blockKey(l) || l != strings.TrimSpace(l) {
			t.Errorf("entry %q is not in compared form (NFKC, lower case, trimmed)", l)
		}
	}
	for _, p := range []string{"123456", "qwerty", "iloveyou", "letmein", "monkey", "dragon", "trustno1", "football"} {
		if !IsCommonPassword(p) {
			t.Errorf("%q is missing from the list", p)
		}
	}
}
