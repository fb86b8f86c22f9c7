package pypkg

import (
	_ "embed"
	"maps"
	"slices"
	"strings"
	"sync"
)

// NormalizeName returns the PEP 503 normalised form of a project name: runs
// of "-", "_" and "." become one "-", and letters are lower-cased. Two names
// with the same normalised form are the same project.
func NormalizeName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	inSep := false
	for _, r := range strings.ToLower(name) {
		if r == '-' || r == '_' || r == '.' {
			if !inSep {
				b.WriteByte('-')
			}
			inSep = true
			continue
		}
		inSep = false
		b.WriteRune(r)
	}
	return b.String()
}

// ValidProjectName reports whether name is a valid project name under PEP 508:
// ASCII letters and digits, with ".", "_" and "-" allowed only between them.
func ValidProjectName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case isASCIIAlnum(c):
		case c == '.' || c == '_' || c == '-':
			if i == 0 || i == len(name)-1 {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func isASCIIAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// UltraNormalizeName returns a stricter key than NormalizeName, used to refuse
// new projects whose names only look like an existing one. After
// NormalizeName it drops every separator and folds the characters that are
// easily mistaken for each other in common fonts:
//
//	"o"      -> "0"
//	"l", "i" -> "1"
//
// so "pillow", "pi1low", "pi-llow" and "piIlow" share one key. Other
// look-alikes (such as "5" and "s") are left distinct on purpose: folding them
// would block too many legitimate names. This mirrors the key PyPI uses.
func UltraNormalizeName(name string) string {
	n := NormalizeName(name)
	var b strings.Builder
	b.Grow(len(n))
	for _, r := range n {
		switch r {
		case '-':
		case 'o':
			b.WriteByte('0')
		case 'l', 'i':
			b.WriteByte('1')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

//go:embed stdlib_modules.txt
var stdlibModulesText string

var stdlibModules = sync.OnceValue(func() map[string]bool {
	m := make(map[string]bool)
	for line := range strings.Lines(stdlibModulesText) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		m[NormalizeName(line)] = true
	}
	return m
})

// StdlibModuleNames returns the top-level standard library module names that
// IsStdlibModuleName knows, normalised and sorted.
func StdlibModuleNames() []string {
	return slices.Sorted(maps.Keys(stdlibModules()))
}

// IsStdlibModuleName reports whether name, once normalised, is the name of a
// top-level module of the Python 3 standard library. Such names are refused
// for new projects: "pip install asyncio" must not fetch a stranger's code.
func IsStdlibModuleName(name string) bool {
	return stdlibModules()[NormalizeName(name)]
}

// fileNames are files of a Python project that people pass to pip by mistake ("pip install requirements.txt"
// for "pip install -r requirements.txt"), by their normalised names: whoever registered one would be installed
// in place of the file.
var fileNames = map[string]bool{
	"requirements-txt": true, "requirements-dev-txt": true, "requirements-test-txt": true, "dev-requirements-txt": true,
	"test-requirements-txt": true, "constraints-txt": true, "setup-py": true, "setup-cfg": true, "pyproject-toml": true,
	"manage-py": true, "main-py": true, "tox-ini": true, "pipfile": true,
	"pipfile-lock": true, "poetry-lock": true, "uv-lock": true, "readme-md": true, "readme-rst": true, "makefile": true,
}

// fileSuffixes are the extensions of files that a new project's name may not end with as typed.
var fileSuffixes = []string{".txt", ".py", ".cfg", ".toml"}

// IsFileName reports whether name is one a person types meaning a file rather than a project: a known project
// file in any spelling, or a name that ends with a file extension (".txt", ".py", ".cfg", ".toml") as typed.
// Such names are refused for new projects. The extension rule reads the name as typed, not normalised, so that
// names such as "docker-py" stay possible while "docker.py" does not.
func IsFileName(name string) bool {
	if fileNames[NormalizeName(name)] {
		return true
	}
	lower := strings.ToLower(name)
	for _, s := range fileSuffixes {
		if strings.HasSuffix(lower, s) {
			return true
		}
	}
	return false
}
