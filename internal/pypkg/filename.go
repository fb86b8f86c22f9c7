package pypkg

import (
	"strings"
)

// Kind is the kind of a distribution file.
type Kind int

// The distribution kinds PyPI accepts (PEP 527, PEP 715: no eggs, no exes).
const (
	Wheel Kind = iota + 1
	Sdist
)

func (k Kind) String() string {
	switch k {
	case Wheel:
		return "wheel"
	case Sdist:
		return "sdist"
	}
	return "unknown"
}

// Filename is a parsed distribution filename. Name and Version are as they
// are written in the filename; compare them through NormalizeName and
// Version.Canonical.
type Filename struct {
	Kind    Kind
	Name    string // the distribution name as written in the filename
	Version string // as written
	Build   string // wheel build tag or ""
	// PythonTag, ABITag and PlatformTag are a wheel's compatibility tags
	// (possibly compressed sets such as "py2.py3"); empty for sdists.
	PythonTag, ABITag, PlatformTag string
	Ext                            string // ".whl", ".tar.gz" or ".zip"
}

// MaxFilenameLength is the longest distribution filename accepted; longer
// names do not fit common file systems.
const MaxFilenameLength = 255

const extensionMessage = "Invalid file extension: Use .tar.gz, .whl or .zip extension. See https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ for more information"

// ParseFilename parses and validates a wheel or sdist filename as uploaded.
// The checks that keep a name safe to store and show (no path separators, no
// control or non-ASCII characters, no "..", bounded length) come first, so a
// hostile name never reaches the structural parsing.
func ParseFilename(fn string) (Filename, error) {
	if err := checkFilenameChars(fn); err != nil {
		return Filename{}, err
	}
	switch {
	case strings.HasSuffix(fn, ".whl"):
		return parseWheelFilename(fn)
	case strings.HasSuffix(fn, ".tar.gz"):
		return parseSdistFilename(fn, ".tar.gz")
	case strings.HasSuffix(fn, ".zip"):
		return parseSdistFilename(fn, ".zip")
	}
	return Filename{}, newError(ErrInvalidFilename, "%s", extensionMessage)
}

func checkFilenameChars(fn string) error {
	if fn == "" {
		return newError(ErrInvalidFilename, "Invalid filename: the filename is empty.")
	}
	if len(fn) > MaxFilenameLength {
		return newError(ErrInvalidFilename, "Invalid filename: the filename is %d characters long; the limit is %d.", len(fn), MaxFilenameLength)
	}
	for i := 0; i < len(fn); i++ {
		c := fn[i]
		switch {
		case c == '/' || c == '\\':
			return newError(ErrInvalidFilename, "Invalid filename: %s must not contain '/' or '\\'.", quote(fn))
		case c < 0x20 || c == 0x7f:
			return newError(ErrInvalidFilename, "Invalid filename: %s contains control characters.", quote(fn))
		case c >= 0x80:
			return newError(ErrInvalidFilename, "Invalid filename: %s contains non-ASCII characters; distribution filenames must be ASCII.", quote(fn))
		}
	}
	if strings.Contains(fn, "..") {
		return newError(ErrInvalidFilename, "Invalid filename: %s must not contain '..'.", quote(fn))
	}
	return nil
}

// parseWheelFilename follows PEP 427 and PEP 491:
// {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl, where name and
// version have any "-" escaped as "_", so splitting on "-" is unambiguous.
func parseWheelFilename(fn string) (Filename, error) {
	parts := strings.Split(strings.TrimSuffix(fn, ".whl"), "-")
	if len(parts) != 5 && len(parts) != 6 {
		return Filename{}, newError(ErrInvalidFilename, "Invalid wheel filename (wrong number of parts): %s. Expected {name}-{version}(-{build tag})?-{python tag}-{abi tag}-{platform tag}.whl.", quote(fn))
	}
	f := Filename{Kind: Wheel, Name: parts[0], Version: parts[1], Ext: ".whl"}
	if !ValidProjectName(f.Name) {
		return Filename{}, newError(ErrInvalidFilename, "Invalid wheel filename (invalid project name): %s.", quote(fn))
	}
	if _, err := ParseVersion(f.Version); err != nil {
		return Filename{}, wrapError(ErrInvalidFilename, err, "Invalid wheel filename (invalid version): %s. In a wheel filename a '-' in the name or version must be written as '_'; see https://peps.python.org/pep-0440/ for the version format.", quote(fn))
	}
	tags := parts[2:]
	if len(parts) == 6 {
		f.Build = parts[2]
		tags = parts[3:]
		if !validBuildTag(f.Build) {
			return Filename{}, newError(ErrInvalidFilename, "Invalid wheel filename (invalid build tag %s: it must start with a digit): %s.", quote(f.Build), quote(fn))
		}
	}
	f.PythonTag, f.ABITag, f.PlatformTag = tags[0], tags[1], tags[2]
	for _, tag := range tags {
		if !validTagSet(tag) {
			return Filename{}, newError(ErrInvalidFilename, "Invalid wheel filename (invalid compatibility tag %s): %s.", quote(tag), quote(fn))
		}
	}
	return f, nil
}

func validBuildTag(s string) bool {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isASCIIAlnum(c) && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// validTagSet accepts a compressed tag set such as "py2.py3" or
// "manylinux_2_17_x86_64.manylinux2014_x86_64": non-empty "."-separated tags
// of letters, digits and "_".
func validTagSet(s string) bool {
	for tag := range strings.SplitSeq(s, ".") {
		if tag == "" {
			return false
		}
		for i := 0; i < len(tag); i++ {
			if c := tag[i]; !isASCIIAlnum(c) && c != '_' {
				return false
			}
		}
	}
	return true
}

// parseSdistFilename accepts PEP 625 names ({name}-{version}.tar.gz with "-"
// escaped in the name) and legacy ones whose name part contains "-".
func parseSdistFilename(fn, ext string) (Filename, error) {
	stem := strings.TrimSuffix(fn, ext)
	name, version, ok := splitNameVersion(stem)
	if !ok {
		return Filename{}, newError(ErrInvalidFilename, "Invalid sdist filename: %s must be {name}-{version}%s, with a valid project name and a PEP 440 version.", quote(fn), ext)
	}
	return Filename{Kind: Sdist, Name: name, Version: version, Ext: ext}, nil
}

// splitNameVersion splits "{name}-{version}" on the last "-" whose right side
// is a PEP 440 version and whose left side a valid project name. This is
// packaging's rpartition("-"), extended to legacy names such as
// "foo-1.0-beta" where the version itself contains a "-".
func splitNameVersion(stem string) (name, version string, ok bool) {
	for i := strings.LastIndexByte(stem, '-'); i >= 0; i = strings.LastIndexByte(stem[:i], '-') {
		name, version = stem[:i], stem[i+1:]
		if !ValidProjectName(name) {
			continue
		}
		if _, err := ParseVersion(version); err == nil {
			return name, version, true
		}
	}
	return "", "", false
}

// matchesNameVersion reports whether stem ("{name}-{version}", as in an
// sdist's top directory or a wheel's .dist-info) names the same project and
// release as name and version. Every "-" is tried as the split, so the
// ambiguity of legacy names ("a-1-1") cannot cause a false mismatch.
// Versions are compared by value, so "foo-1.0.0" matches version "1.0".
func matchesNameVersion(stem, name, version string) bool {
	// Each candidate split costs a parse: bound the work for hostile stems
	// (tar member names can be a megabyte long).
	if len(stem) > MaxFilenameLength {
		return false
	}
	want, err := ParseVersion(version)
	if err != nil {
		return false
	}
	wantName := NormalizeName(name)
	for i := 0; i < len(stem); i++ {
		if stem[i] != '-' {
			continue
		}
		if NormalizeName(stem[:i]) != wantName || !ValidProjectName(stem[:i]) {
			continue
		}
		if v, err := ParseVersion(stem[i+1:]); err == nil && v.Compare(want) == 0 {
			return true
		}
	}
	return false
}

// Matches reports whether name and version (from the upload form, or from
// the archive's metadata) are the same project and release as the filename:
// names compared after NormalizeName, versions by PEP 440 value. For legacy
// sdist names such as "web-1-1.tar.gz" either reading is accepted.
func (f Filename) Matches(name, version string) bool {
	if !ValidProjectName(name) {
		return false
	}
	return matchesNameVersion(f.Name+"-"+f.Version, name, version)
}

// PackageType is the value of the upload API's "filetype" field for f.
func (f Filename) PackageType() string {
	if f.Kind == Wheel {
		return "bdist_wheel"
	}
	return "sdist"
}

// PythonVersion is the value of the upload API's "pyversion" field for f.
func (f Filename) PythonVersion() string {
	if f.Kind == Wheel {
		return f.PythonTag
	}
	return "source"
}
