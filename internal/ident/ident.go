// Package ident holds the one rule by which wharf decides that two spellings of a username or an email address
// name the same account. Lookups, the uniqueness of usernames and addresses, and the rate limiter's keys all go
// through Key: were any of them to use a rule of its own, a spelling that one accepts and another does not would
// sign into an account while counting on a limiter counter of its own.
package ident

import (
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Key maps the spellings of a username or an email address to one key: NFKC, full Unicode case folding, NFKC
// again, and surrounding white space trimmed. "ＫＩＭ" (full-width), "KIM" written with the Kelvin sign U+212A and
// "kim " are all "kim". "kİm", with U+0130 (capital I with dot above), is "ki̇m": full folding keeps the dot as
// U+0307, so it is another name. A simple lower-case mapping (strings.ToLower, SQL lower()) drops the dot and
// would make it "kim", which is how it once signed into kim's account.
//
// The key is for comparing only: what is shown and mailed is the text as the user gave it.
func Key(s string) string {
	if isASCII(s) {
		// ASCII is its own NFKC form and folds to its lower case: this is the common case on every login.
		return strings.ToLower(strings.TrimSpace(s))
	}
	// The first NFKC turns compatibility forms (full-width letters, the Kelvin sign, ligatures) into the letters
	// they stand for, so that folding sees those; folding can leave text that is no longer in NFKC, hence the
	// second. A Caser keeps state, so one is made per call rather than shared.
	return strings.TrimSpace(norm.NFKC.String(cases.Fold().String(norm.NFKC.String(s))))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
