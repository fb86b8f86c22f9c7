package pypkg

import (
	"strings"

	pep440 "github.com/aquasecurity/go-pep440-version"
)

// Version is a PEP 440 version. The zero Version is not a valid version; it
// sorts before every parsed one.
type Version struct {
	raw       string
	canonical string
	// key is parsed from canonical, not from raw: the library splits local
	// segments only on "." when comparing, so "1.0+a-b" and "1.0+a.b" would
	// otherwise differ although PEP 440 makes them equal.
	key pep440.Version
}

// ParseVersion parses s as a PEP 440 version. Surrounding whitespace is
// refused (PEP 440 tolerates it, but a version is also a uniqueness key and
// part of filenames, where it has no place).
func ParseVersion(s string) (Version, error) {
	if s == "" {
		return Version{}, newError(ErrInvalidVersion, "Invalid version: the version is empty. See https://peps.python.org/pep-0440/ for the version format.")
	}
	if strings.TrimSpace(s) != s {
		return Version{}, newError(ErrInvalidVersion, "Invalid version: %s has leading or trailing whitespace.", quote(s))
	}
	v, err := pep440.Parse(s)
	if err != nil {
		return Version{}, wrapError(ErrInvalidVersion, err, "Invalid version: %s is not a valid PEP 440 version. See https://peps.python.org/pep-0440/ for the version format.", quote(s))
	}
	canonical := canonicalVersion(v)
	key, err := pep440.Parse(canonical)
	if err != nil {
		// Cannot happen for a version the library has just printed; refuse
		// rather than compare on a half-parsed key.
		return Version{}, wrapError(ErrInvalidVersion, err, "Invalid version: %s cannot be normalised.", quote(s))
	}
	return Version{raw: s, canonical: canonical, key: key}, nil
}

// canonicalVersion follows PEP 440's normalisation section. The library
// prints the public part in that form already (alternate spellings, implicit
// numbers, leading "v", epoch 0, leading zeros); the local part it only
// lower-cases, so separators and leading zeros are normalised here.
func canonicalVersion(v pep440.Version) string {
	public, _, _ := strings.Cut(v.String(), "+")
	local := v.Local()
	if local == "" {
		return public
	}
	segs := strings.FieldsFunc(local, func(r rune) bool { return r == '-' || r == '_' || r == '.' })
	for i, s := range segs {
		if isDigits(s) {
			// Kept as text, not parsed: a local segment may exceed uint64.
			s = strings.TrimLeft(s, "0")
			if s == "" {
				s = "0"
			}
			segs[i] = s
		}
	}
	return public + "+" + strings.Join(segs, ".")
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String returns the version exactly as it was given.
func (v Version) String() string { return v.raw }

// Canonical returns the PEP 440 normalised form: "1.0-RC1" becomes "1.0rc1",
// "v1" becomes "1", "1.0+Ubuntu-1" becomes "1.0+ubuntu.1". Trailing zeros are
// kept ("1.0.0" stays "1.0.0"), as in packaging's str(Version(...)). Two
// versions with the same canonical form are the same release of a project.
func (v Version) Canonical() string { return v.canonical }

// Compare returns -1, 0 or +1 as v sorts before, equal to or after o in PEP
// 440 order. Versions that differ only in trailing zeros ("1.0", "1.0.0")
// compare equal although their canonical forms differ.
func (v Version) Compare(o Version) int {
	switch {
	case v.canonical == "" && o.canonical == "":
		return 0
	case v.canonical == "":
		return -1
	case o.canonical == "":
		return 1
	}
	return v.key.Compare(o.key)
}

// IsPrerelease reports whether v is a pre-release or a development release,
// which installers skip unless asked for them.
func (v Version) IsPrerelease() bool {
	return v.canonical != "" && v.key.IsPreRelease()
}

// ReleaseKey is the canonical form with trailing zeros of the release segment removed ("1.0.0" and "1.0" are both
// "1"), as packaging's canonicalize_version gives it: versions that share a key are one release of a project.
func (v Version) ReleaseKey() string {
	c := v.canonical
	epoch, rest := "", c
	if i := strings.IndexByte(c, '!'); i >= 0 {
		epoch, rest = c[:i+1], c[i+1:]
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
	if end < 0 {
		end = len(rest)
	}
	release, suffix := rest[:end], rest[end:]
	if strings.HasSuffix(release, ".") { // "1.0.0.post1": the dot belongs to the suffix
		release, suffix = release[:len(release)-1], "."+suffix
	}
	for strings.HasSuffix(release, ".0") {
		release = strings.TrimSuffix(release, ".0")
	}
	return epoch + release + suffix
}
