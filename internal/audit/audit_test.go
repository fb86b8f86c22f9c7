package audit

import "testing"

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"twine/4.0.2 CPython/3.11", "twine/4.0.2 CPython/3.11"},
		{"evil\nINFO forged line", `evil\nINFO forged line`},
		{"tab\there\x00\x1b[31m", `tab\there\x00\x1b[31m`},
		{"bidi\u202eoverride", `bidi\u202eoverride`},
		{"ünïcode ok", "ünïcode ok"},
	} {
		if got := Clean(tc.in, 100); got != tc.want {
			t.Errorf("Clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := Clean("abcdef", 3); got != "abc…" {
		t.Errorf("Clean bounds length: got %q", got)
	}
}
