package accounts

import (
	_ "embed"
	"errors"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Password blocklist errors, shown to the user as they are: NIST SP 800-63B wants the reason given, so that the
// next choice is better rather than a random variation.
var (
	ErrPasswordCommon      = errors.New("this password appears in a list of commonly used passwords: choose another one")
	ErrPasswordHasUsername = errors.New("the password must not contain your username")
	ErrPasswordHasEmail    = errors.New("the password must not contain your email address")
	// ErrPasswordBlank and ErrPasswordRepeated are blocklist refusals with a reason of their own (NIST SP 800-63B
	// lists repetitive characters with breached and dictionary passwords): errors.Is matches each of them and
	// ErrPasswordCommon, so callers that handle the blocklist as a whole need no new case.
	ErrPasswordBlank    error = blocked("the password must not be only spaces: choose another one")
	ErrPasswordRepeated error = blocked("the password must not be a single character repeated: choose another one")
)

// blocked is a blocklist refusal that is also ErrPasswordCommon for errors.Is.
type blocked string

func (e blocked) Error() string { return string(e) }

func (e blocked) Is(target error) bool { return target == ErrPasswordCommon }

// commonPasswordsFile lists passwords that attackers try first: the top of the public breach-frequency rankings,
// number sequences, keyboard walks, and common words with the digits, years and punctuation people append. One a
// line, lower case; the comparison folds case, so "Password1" and "PASSWORD1" are the same entry.
//
//go:embed common-passwords.txt
var commonPasswordsFile string

// commonPasswords is built on first use, so that processes that never check a password (the index, the upload
// path) do not pay for the set.
var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, strings.Count(commonPasswordsFile, "\n"))
	for _, line := range strings.Split(commonPasswordsFile, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			set[blockKey(line)] = struct{}{}
		}
	}
	return set
})

// blockKey is the form in which passwords are compared with the list and with personal data: NFKC as for hashing,
// then case-folded, since changing the case of a listed password does not make it any harder to guess.
func blockKey(s string) string { return strings.ToLower(norm.NFKC.String(s)) }

// IsCommonPassword reports whether password is on the shipped list.
func IsCommonPassword(password string) bool {
	_, ok := commonPasswords()[blockKey(password)]
	return ok
}

// CheckFor applies every rule for a new password of the account named username with address email: the length
// rules of Check, not only spaces nor one character repeated, the list of common passwords, and no username or
// address inside it (P4). Composition rules ("one digit, one symbol") are deliberately absent (P3).
func (h *Hasher) CheckFor(password, username, email string) error {
	if err := h.Check(password); err != nil {
		return err
	}
	p := blockKey(password)
	if err := checkVariety(p); err != nil {
		return err
	}
	if _, ok := commonPasswords()[p]; ok {
		return ErrPasswordCommon
	}
	if containsPersonal(p, blockKey(strings.TrimSpace(username))) {
		return ErrPasswordHasUsername
	}
	e := blockKey(strings.TrimSpace(email))
	local := e
	if at := strings.LastIndex(e, "@"); at >= 0 {
		local = e[:at]
	}
	if containsPersonal(p, e) || containsPersonal(p, local) {
		return ErrPasswordHasEmail
	}
	return nil
}

// minPersonalRunes is the length from which a name is refused anywhere inside a password. Shorter names ("bob",
// "li") would otherwise forbid countless unrelated passwords, so for them only the name padded with digits or
// symbols is refused.
const minPersonalRunes = 4

func containsPersonal(password, name string) bool {
	if name == "" || !strings.Contains(password, name) {
		return false
	}
	if len([]rune(name)) >= minPersonalRunes {
		return true
	}
	return strings.IndexFunc(strings.ReplaceAll(password, name, ""), unicode.IsLetter) < 0
}

// checkVariety refuses a password that is only white space or one character repeated, whatever its length: there
// are only as many of those as characters times lengths, so they are tried right after the list. p is in blockKey
// form, so "aAaA", full-width letters, and an 'ä' typed as 'a' plus a combining mark each count as one character.
func checkVariety(p string) error {
	if p == "" {
		return nil // the length rule refuses it, with its own reason
	}
	if strings.TrimFunc(p, unicode.IsSpace) == "" {
		return ErrPasswordBlank
	}
	first, _ := utf8.DecodeRuneInString(p)
	if strings.Trim(p, string(first)) == "" {
		return ErrPasswordRepeated
	}
	return nil
}
