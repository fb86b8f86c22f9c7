package ident

import "testing"

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"lower case stays", "kim", "kim"},
		{"upper case folds", "KIM", "kim"},
		{"trailing space trimmed", "kim ", "kim"},
		{"surrounding white space trimmed", "\t kim\n", "kim"},
		{"full-width letters", "ＫＩＭ", "kim"},
		{"Kelvin sign", "\u212AIM", "kim"},
		{"ideographic space trimmed", "\u3000kim\u3000", "kim"},
		{"no-break space trimmed", "\u00a0kim", "kim"},
		{"capital I with dot above keeps its dot", "kİm", "ki\u0307m"},
		{"dotless i stays dotless", "kım", "kım"},
		{"ligature decomposed", "ﬁona", "fiona"},
		{"sharp s folds fully", "straße", "strasse"},
		{"capital sharp s", "STRAẞE", "strasse"},
		{"final sigma folds", "ΟΔΥΣΣΕΥΣ", "οδυσσευσ"},
		{"combining accent composed", "Ame\u0301lie", "amélie"},
		{"email address", "Kim@Example.COM", "kim@example.com"},
		{"full-width email address", "ＫＩＭ＠ｅｘａｍｐｌｅ．ｃｏｍ", "kim@example.com"},
		{"inner space kept", "kim lee", "kim lee"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Key(tc.in)
			if got != tc.want {
				t.Errorf("Key(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if again := Key(got); again != got {
				t.Errorf("Key is not idempotent on %q: %q", got, again)
			}
		})
	}
}
