package pypkg

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseVersionCanonical(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "1.0", "1.0"},
		{"trailing zeros kept", "1.0.0", "1.0.0"},
		{"leading v", "v1", "1"},
		{"leading capital V", "V1.2", "1.2"},
		{"rc with dash and caps", "1.0-RC1", "1.0rc1"},
		{"c is rc", "1.0c1", "1.0rc1"},
		{"pre is rc", "1.0pre2", "1.0rc2"},
		{"preview is rc", "1.0preview2", "1.0rc2"},
		{"alpha", "1.0alpha1", "1.0a1"},
		{"beta with dot", "1.0.beta.2", "1.0b2"},
		{"implicit pre number", "1.0a", "1.0a0"},
		{"underscore pre", "1.0_a_1", "1.0a1"},
		{"post via dash", "1.0-1", "1.0.post1"},
		{"post spelled rev", "1.0rev3", "1.0.post3"},
		{"post spelled r", "1.0r3", "1.0.post3"},
		{"implicit post number", "1.0.post", "1.0.post0"},
		{"post with dash", "1.0-post-2", "1.0.post2"},
		{"dev", "1.0.dev", "1.0.dev0"},
		{"dev with dash", "1.0-dev-4", "1.0.dev4"},
		{"everything", "1!2.0a1.post2.dev3+abc.4", "1!2.0a1.post2.dev3+abc.4"},
		{"epoch zero dropped", "0!1.0", "1.0"},
		{"leading zeros in release", "01.002.0003", "1.2.3"},
		{"leading zeros in pre", "1.0a01", "1.0a1"},
		{"local lower-cased", "1.0+Ubuntu", "1.0+ubuntu"},
		{"local separators", "1.0+ubuntu-1_2.3", "1.0+ubuntu.1.2.3"},
		{"local leading zeros", "1.0+007.abc", "1.0+7.abc"},
		{"local zero", "1.0+000", "1.0+0"},
		{"local huge number", "1.0+000123456789012345678901234567890", "1.0+123456789012345678901234567890"},
		{"calendar version", "2024.01.15", "2024.1.15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := ParseVersion(tt.in)
			if err != nil {
				t.Fatalf("ParseVersion(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, v.Canonical()); diff != "" {
				t.Errorf("Canonical() mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.in, v.String()); diff != "" {
				t.Errorf("String() mismatch (-want +got):\n%s", diff)
			}
			// The canonical form must be a fixed point.
			c, err := ParseVersion(v.Canonical())
			if err != nil {
				t.Fatalf("ParseVersion(canonical %q): %v", v.Canonical(), err)
			}
			if diff := cmp.Diff(v.Canonical(), c.Canonical()); diff != "" {
				t.Errorf("canonical form is not stable (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseVersionInvalid(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"empty", ""},
		{"words", "latest"},
		{"leading space", " 1.0"},
		{"trailing newline", "1.0\n"},
		{"two pluses", "1.0+a+b"},
		{"empty local", "1.0+"},
		{"semver build", "1.0.0-beta+exp.sha.5114f85x-"},
		{"double dot", "1..0"},
		{"trailing dot", "1.0."},
		{"unicode digits", "١.٠"},
		{"release overflows uint64", "99999999999999999999999.0"},
		{"star", "1.*"},
		{"dash only", "-"},
		{"nul", "1.0\x00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseVersion(tt.in)
			if !errors.Is(err, ErrInvalidVersion) {
				t.Fatalf("ParseVersion(%q) error = %v, want ErrInvalidVersion", tt.in, err)
			}
		})
	}
}

// pep440Order is the ordering from packaging's own test suite, oldest first.
var pep440Order = []string{
	"1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12",
	"1.0b1.dev456", "1.0b2", "1.0b2.post345.dev456", "1.0b2.post345",
	"1.0b2-346", "1.0c1.dev456", "1.0c1", "1.0rc2", "1.0c3", "1.0",
	"1.0.post456.dev34", "1.0.post456", "1.1.dev1", "1.2+123abc",
	"1.2+123abc456", "1.2+abc", "1.2+abc123", "1.2+abc123def", "1.2+1234.abc",
	"1.2+123456", "1.2.r32+123456", "1.2.rev33+123456",
	"1!1.0.dev456", "1!1.0a1", "1!1.0a2.dev456", "1!1.0a12.dev456", "1!1.0a12",
	"1!1.0b1.dev456", "1!1.0b2", "1!1.0b2.post345.dev456", "1!1.0b2.post345",
	"1!1.0b2-346", "1!1.0c1.dev456", "1!1.0c1", "1!1.0rc2", "1!1.0c3", "1!1.0",
	"1!1.0.post456.dev34", "1!1.0.post456", "1!1.1.dev1", "1!1.2+123abc",
	"1!1.2+123abc456", "1!1.2+abc", "1!1.2+abc123", "1!1.2+abc123def",
	"1!1.2+1234.abc", "1!1.2+123456", "1!1.2.r32+123456", "1!1.2.rev33+123456",
}

func TestVersionCompareOrder(t *testing.T) {
	vs := make([]Version, len(pep440Order))
	for i, s := range pep440Order {
		v, err := ParseVersion(s)
		if err != nil {
			t.Fatalf("ParseVersion(%q): %v", s, err)
		}
		vs[i] = v
	}
	for i := range vs {
		for j := range vs {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := vs[i].Compare(vs[j]); got != want {
				t.Errorf("Compare(%q, %q) = %d, want %d", pep440Order[i], pep440Order[j], got, want)
			}
		}
	}
}

func TestVersionCompareEqual(t *testing.T) {
	tests := []struct {
		name, a, b string
		want       int
	}{
		{"trailing zeros", "1.0", "1.0.0", 0},
		{"longer release is newer", "1.0.1", "1.0", 1},
		{"shorter release is older", "1", "1.0.1", -1},
		{"zero in the middle", "1.0.1", "1.1", -1},
		{"spelling", "1.0-RC1", "1.0rc1", 0},
		{"local separators", "1.0+a-b", "1.0+a.b", 0},
		{"local leading zeros", "1.0+01", "1.0+1", 0},
		{"local sorts after public", "1.0+1", "1.0", 1},
		{"numbers not text", "1.10", "1.9", 1},
		{"epoch beats release", "1!0.1", "2024.1", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseVersion(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ParseVersion(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, a.Compare(b)); diff != "" {
				t.Errorf("Compare(%q, %q) (-want +got):\n%s", tt.a, tt.b, diff)
			}
			if diff := cmp.Diff(-tt.want, b.Compare(a)); diff != "" {
				t.Errorf("Compare(%q, %q) (-want +got):\n%s", tt.b, tt.a, diff)
			}
		})
	}
}

func TestVersionZeroValue(t *testing.T) {
	v, err := ParseVersion("0")
	if err != nil {
		t.Fatal(err)
	}
	var zero Version
	if got := zero.Compare(v); got != -1 {
		t.Errorf("zero.Compare(0) = %d, want -1", got)
	}
	if got := zero.Compare(Version{}); got != 0 {
		t.Errorf("zero.Compare(zero) = %d, want 0", got)
	}
	if zero.IsPrerelease() {
		t.Error("zero Version reports a pre-release")
	}
}

func TestVersionIsPrerelease(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"1.0", false},
		{"1.0a1", true},
		{"1.0b1", true},
		{"1.0rc1", true},
		{"1.0.dev1", true},
		{"1.0.post1", false},
		{"1.0.post1.dev1", true},
		{"1.0+local", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := ParseVersion(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, v.IsPrerelease()); diff != "" {
				t.Errorf("IsPrerelease(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestReleaseKey(t *testing.T) {
	for in, want := range map[string]string{
		"1.0.0": "1", "1.0": "1", "1": "1", "1.10.0": "1.10", "2.0.0rc1": "2rc1", "1!2.0": "1!2",
		"1.0.0.post1": "1.post1", "0.0": "0", "1.0+local.0": "1+local.0", "1.01": "1.1", "10.0.0.dev3": "10.dev3",
	} {
		v, err := ParseVersion(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := v.ReleaseKey(); got != want {
			t.Errorf("ReleaseKey(%q) = %q, want %q", in, got, want)
		}
	}
}
