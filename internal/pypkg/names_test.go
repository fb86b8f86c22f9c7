package pypkg

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalizeName(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"already normal", "requests", "requests"},
		{"upper case", "Django", "django"},
		{"underscore", "typing_extensions", "typing-extensions"},
		{"dot", "zope.interface", "zope-interface"},
		{"run of separators", "a-_.-b", "a-b"},
		{"mixed", "Foo.Bar_Baz--Qux", "foo-bar-baz-qux"},
		{"digits", "py2neo", "py2neo"},
		{"leading and trailing separators kept as one", "_a_", "-a-"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, NormalizeName(tt.in)); diff != "" {
				t.Errorf("NormalizeName(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestValidProjectName(t *testing.T) {
	tests := []struct {
		name, in string
		want     bool
	}{
		{"one letter", "a", true},
		{"one digit", "7", true},
		{"plain", "requests", true},
		{"capitals", "Django", true},
		{"inner separators", "zope.interface_x-y", true},
		{"separator run inside", "a--b", true},
		{"empty", "", false},
		{"leading dash", "-a", false},
		{"trailing dot", "a.", false},
		{"leading underscore", "_a", false},
		{"space", "a b", false},
		{"slash", "a/b", false},
		{"plus", "a+b", false},
		{"non-ASCII letter", "café", false},
		{"Kelvin sign", "\u212a", false},
		{"NUL", "a\x00b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, ValidProjectName(tt.in)); diff != "" {
				t.Errorf("ValidProjectName(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestUltraNormalizeName(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"pillow", "pillow", "p1110w"},
		{"digit one for l", "pi1low", "p1110w"},
		{"separator dropped", "pi-llow", "p1110w"},
		{"capital I", "piIlow", "p1110w"},
		{"zero for o", "p1ll0w", "p1110w"},
		{"dots and underscores dropped", "P.I_L-L.O_W", "p1110w"},
		{"requests", "requests", "requests"},
		{"requests with separator", "req-uests", "requests"},
		{"five is not s", "reque5ts", "reque5ts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, UltraNormalizeName(tt.in)); diff != "" {
				t.Errorf("UltraNormalizeName(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// TestUltraNormalizeConfusables checks the property the key exists for: a
// look-alike and the original collide, a different name does not.
func TestUltraNormalizeConfusables(t *testing.T) {
	tests := []struct {
		name, a, b string
		same       bool
	}{
		{"l and 1", "pillow", "pi1low", true},
		{"l and I", "pillow", "piIlow", true},
		{"separator", "pillow", "pi-llow", true},
		{"o and 0", "boto3", "b0to3", true},
		{"separators in requests", "requests", "req-uests", true},
		{"5 and s differ", "requests", "reque5ts", false},
		{"different names", "flask", "flasks", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UltraNormalizeName(tt.a) == UltraNormalizeName(tt.b)
			if diff := cmp.Diff(tt.same, got); diff != "" {
				t.Errorf("UltraNormalizeName(%q) == UltraNormalizeName(%q) (-want +got):\n%s", tt.a, tt.b, diff)
			}
		})
	}
}

func TestIsStdlibModuleName(t *testing.T) {
	tests := []struct {
		name, in string
		want     bool
	}{
		{"os", "os", true},
		{"asyncio", "asyncio", true},
		{"case-insensitive", "AsyncIO", true},
		{"mixed-case module", "cProfile", true},
		{"normalised separators", "py_compile", true},
		{"normalised dash", "py-compile", true},
		{"tomllib", "tomllib", true},
		{"removed in 3.12 but was stdlib", "distutils", true},
		{"removed before 3.11", "formatter", true},
		{"added after 3.11", "annotationlib", true},
		{"test package", "test", true},
		{"third party", "requests", false},
		{"backport on PyPI", "typing-extensions", false},
		{"submodule is not top-level", "os.path", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, IsStdlibModuleName(tt.in)); diff != "" {
				t.Errorf("IsStdlibModuleName(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestStdlibModuleNamesNormalised(t *testing.T) {
	names := StdlibModuleNames()
	if len(names) < 200 {
		t.Fatalf("only %d stdlib names loaded", len(names))
	}
	for _, n := range names {
		if n != NormalizeName(n) {
			t.Errorf("%q is not normalised", n)
		}
	}
}

func TestIsFileName(t *testing.T) {
	for name, want := range map[string]bool{
		"requirements.txt": true, "Requirements.TXT": true, "requirements-txt": true, "requirements_txt": true,
		"setup.py": true, "setup-py": true, "setup.cfg": true, "pyproject.toml": true, "Pipfile": true,
		"notes.txt": true, "thing.py": true, "config.cfg": true, "my.toml": true, "tool.PY": true,
		// Legitimate names that only look close.
		"docker-py": false, "requests": false, "toml": false, "pytest-cfg-fetcher": false, "txtai": false,
		"py": false, "setuptools": false, "typing-extensions": false,
	} {
		if got := IsFileName(name); got != want {
			t.Errorf("IsFileName(%q) = %v, want %v", name, got, want)
		}
	}
}
