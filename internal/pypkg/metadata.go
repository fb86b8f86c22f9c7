package pypkg

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf8"
)

// Metadata is a distribution's core metadata (METADATA in a wheel, PKG-INFO
// in an sdist), versions 1.0 to 2.4. See
// https://packaging.python.org/specifications/core-metadata/.
//
// Single-use fields are strings, empty when absent; multiple-use fields keep
// every occurrence in file order. Values are as written, except that folded
// (continuation) lines are unfolded: Description and License keep their line
// breaks, every other field is joined into one line.
type Metadata struct {
	MetadataVersion, Name, Version, Summary, Description, DescriptionContentType             string
	Keywords, HomePage, DownloadURL, Author, AuthorEmail, Maintainer, MaintainerEmail        string
	License, LicenseExpression, RequiresPython                                               string
	LicenseFiles, Classifiers, Platforms, SupportedPlatforms, RequiresDist, RequiresExternal []string
	ProjectURLs, ProvidesExtra, ProvidesDist, ObsoletesDist, Dynamic                         []string
}

// Bounds on metadata input. A real METADATA is a few kilobytes plus the
// README; these stop a crafted one from costing memory or time, not honest
// authors.
const (
	MaxMetadataBytes  = 10 << 20
	maxMetadataLines  = 1_000_000
	maxMetadataFields = 10_000
)

// metadataVersions are the Metadata-Version values accepted.
var metadataVersions = []string{"1.0", "1.1", "1.2", "2.0", "2.1", "2.2", "2.3", "2.4"}

const metadataHelp = "See https://packaging.python.org/specifications/core-metadata for more information."

type metadataField struct {
	name  string // as first written, for messages
	lower string
	value string
	cont  []string // continuation lines, raw
	line  int
}

// ParseMetadata parses core metadata in its RFC 822-like format. It does not
// use net/mail: that folds continuation lines and rewrites header case, and
// both matter here. Fields it does not know (including the 1.1-era Requires,
// Provides and Obsoletes) are ignored, as the specification asks of readers.
// The message body, if any, is the Description (specified from 2.1 on, but
// accepted for every version: no older writer produces one by accident).
func ParseMetadata(b []byte) (*Metadata, error) {
	if len(b) > MaxMetadataBytes {
		return nil, newError(ErrInvalidMetadata, "Invalid core metadata: %d bytes is over the limit of %d bytes.", len(b), MaxMetadataBytes)
	}
	if !utf8.Valid(b) {
		return nil, newError(ErrInvalidMetadata, "Invalid core metadata: it is not valid UTF-8. %s", metadataHelp)
	}
	if bytes.IndexByte(b, 0) >= 0 {
		return nil, newError(ErrInvalidMetadata, "Invalid core metadata: it contains a NUL byte.")
	}
	if n := bytes.Count(b, []byte("\n")); n > maxMetadataLines {
		return nil, newError(ErrInvalidMetadata, "Invalid core metadata: %d lines is over the limit of %d lines.", n, maxMetadataLines)
	}

	fields, body, err := splitMetadata(b)
	if err != nil {
		return nil, err
	}
	m := &Metadata{}
	single := map[string]*string{
		"metadata-version":         &m.MetadataVersion,
		"name":                     &m.Name,
		"version":                  &m.Version,
		"summary":                  &m.Summary,
		"description":              &m.Description,
		"description-content-type": &m.DescriptionContentType,
		"keywords":                 &m.Keywords,
		"home-page":                &m.HomePage,
		"download-url":             &m.DownloadURL,
		"author":                   &m.Author,
		"author-email":             &m.AuthorEmail,
		"maintainer":               &m.Maintainer,
		"maintainer-email":         &m.MaintainerEmail,
		"license":                  &m.License,
		"license-expression":       &m.LicenseExpression,
		"requires-python":          &m.RequiresPython,
	}
	multi := map[string]*[]string{
		"license-file":       &m.LicenseFiles,
		"classifier":         &m.Classifiers,
		"platform":           &m.Platforms,
		"supported-platform": &m.SupportedPlatforms,
		"requires-dist":      &m.RequiresDist,
		"requires-external":  &m.RequiresExternal,
		"project-url":        &m.ProjectURLs,
		"provides-extra":     &m.ProvidesExtra,
		"provides-dist":      &m.ProvidesDist,
		"obsoletes-dist":     &m.ObsoletesDist,
		"dynamic":            &m.Dynamic,
	}
	seen := make(map[string]int)
	for _, f := range fields {
		if p, ok := single[f.lower]; ok {
			// A repeated single-use field is ambiguous: readers disagree on
			// which one wins, so refuse it (as packaging does).
			if first, dup := seen[f.lower]; dup {
				return nil, newError(ErrInvalidMetadata, "Invalid core metadata: %s appears on line %d and again on line %d; it may appear only once.", f.name, first, f.line)
			}
			seen[f.lower] = f.line
			*p = f.unfold()
			continue
		}
		if p, ok := multi[f.lower]; ok {
			// An empty occurrence carries nothing and only confuses
			// consumers of the list.
			if v := f.unfold(); v != "" {
				*p = append(*p, v)
			}
		}
	}
	if strings.TrimSpace(body) != "" {
		if line, dup := seen["description"]; dup {
			return nil, newError(ErrInvalidMetadata, "Invalid core metadata: the description is given both in the Description field (line %d) and in the message body; use only one.", line)
		}
		m.Description = body
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// splitMetadata splits the input into header fields and the body that
// follows the first empty line. Lines end in "\n" or "\r\n".
func splitMetadata(b []byte) ([]metadataField, string, error) {
	var fields []metadataField
	s := string(b)
	lineNo := 0
	for len(s) > 0 {
		lineNo++
		line, rest, _ := strings.Cut(s, "\n")
		s = rest
		line = strings.TrimSuffix(line, "\r")
		if line == "" {
			return fields, s, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(fields) == 0 {
				return nil, "", newError(ErrInvalidMetadata, "Invalid core metadata: line %d starts with whitespace but no field precedes it. %s", lineNo, metadataHelp)
			}
			f := &fields[len(fields)-1]
			f.cont = append(f.cont, line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || !validFieldName(name) {
			return nil, "", newError(ErrInvalidMetadata, "Invalid core metadata: line %d is not a \"Field: value\" line: %s. %s", lineNo, quote(line), metadataHelp)
		}
		if len(fields) == maxMetadataFields {
			return nil, "", newError(ErrInvalidMetadata, "Invalid core metadata: more than %d fields.", maxMetadataFields)
		}
		fields = append(fields, metadataField{
			name:  name,
			lower: strings.ToLower(name),
			value: strings.TrimLeft(value, " \t"),
			line:  lineNo,
		})
	}
	return fields, "", nil
}

// validFieldName accepts RFC 5322 field names: printable ASCII other than
// space and ":".
func validFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return false
		}
	}
	return true
}

// unfold joins a field's continuation lines. Description and License are
// free text that writers fold line by line (setuptools with 8 spaces,
// distutils with 7 spaces and "|"), so their line breaks are kept and the
// fold prefix removed; anything else is one logical line.
func (f metadataField) unfold() string {
	if len(f.cont) == 0 {
		return strings.TrimRight(f.value, " \t")
	}
	if f.lower == "description" || f.lower == "license" {
		return strings.Join(append([]string{strings.TrimRight(f.value, " \t")}, unindent(f.cont)...), "\n")
	}
	parts := []string{strings.TrimSpace(f.value)}
	for _, c := range f.cont {
		if c = strings.TrimSpace(c); c != "" {
			parts = append(parts, c)
		}
	}
	return strings.TrimSpace(strings.Join(parts, " "))
}

// unindent removes the fold prefix from free-text continuation lines: the
// spec's "       |" marker where present, otherwise exactly 8 spaces when
// every line has them (the spec's form, which keeps indentation below it),
// otherwise the whitespace common to all lines. Whitespace-only lines are
// empty lines of the text.
func unindent(lines []string) []string {
	const pipe = "       |"
	const eight = "        "
	out := make([]string, len(lines))
	var plain []int
	for i, l := range lines {
		switch {
		case strings.HasPrefix(l, pipe):
			out[i] = l[len(pipe):]
		case strings.TrimLeft(l, " \t") == "":
			out[i] = ""
		default:
			plain = append(plain, i)
		}
	}
	if len(plain) == 0 {
		return out
	}
	allEight := true
	prefix := leadingSpace(lines[plain[0]])
	for _, i := range plain {
		l := lines[i]
		if !strings.HasPrefix(l, eight) {
			allEight = false
		}
		ws := leadingSpace(l)
		n := 0
		for n < len(prefix) && n < len(ws) && prefix[n] == ws[n] {
			n++
		}
		prefix = prefix[:n]
	}
	if allEight {
		prefix = eight
	}
	for _, i := range plain {
		out[i] = lines[i][len(prefix):]
	}
	return out
}

func leadingSpace(s string) string {
	return s[:len(s)-len(strings.TrimLeft(s, " \t"))]
}

func (m *Metadata) validate() error {
	switch {
	case m.MetadataVersion == "":
		return newError(ErrInvalidMetadata, "Invalid core metadata: Metadata-Version is missing. %s", metadataHelp)
	case !slices.Contains(metadataVersions, m.MetadataVersion):
		return newError(ErrInvalidMetadata, "Invalid core metadata: Metadata-Version %s is not supported; use one of %s. %s", quote(m.MetadataVersion), strings.Join(metadataVersions, ", "), metadataHelp)
	case m.Name == "":
		return newError(ErrInvalidMetadata, "Invalid core metadata: Name is missing. %s", metadataHelp)
	case !ValidProjectName(m.Name):
		return newError(ErrInvalidMetadata, "Invalid core metadata: Name %s is not a valid project name: use ASCII letters and digits, with '.', '_' and '-' between them. %s", quote(m.Name), metadataHelp)
	case m.Version == "":
		return newError(ErrInvalidMetadata, "Invalid core metadata: Version is missing. %s", metadataHelp)
	}
	if _, err := ParseVersion(m.Version); err != nil {
		return wrapError(ErrInvalidMetadata, err, "Invalid core metadata: Version %s is not a valid PEP 440 version. See https://peps.python.org/pep-0440/ for the version format.", quote(m.Version))
	}
	for _, d := range m.Dynamic {
		switch strings.ToLower(d) {
		case "name", "version", "metadata-version":
			return newError(ErrInvalidMetadata, "Invalid core metadata: Dynamic must not list %s: it is fixed when the distribution is built. %s", quote(d), metadataHelp)
		}
	}
	return nil
}
