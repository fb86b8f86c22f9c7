package pypkg

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// setuptoolsMetadata is shaped like what setuptools 69 writes into a wheel.
const setuptoolsMetadata = `Metadata-Version: 2.1
Name: example-pkg
Version: 1.2.3
Summary: An example package
Home-page: https://example.org/
Author: Jane Doe
Author-email: jane@example.org
License: MIT
Project-URL: Source, https://github.com/example/example-pkg
Project-URL: Tracker, https://github.com/example/example-pkg/issues
Keywords: example,packaging
Classifier: Programming Language :: Python :: 3
Classifier: License :: OSI Approved :: MIT License
Classifier: Operating System :: OS Independent
Requires-Python: >=3.8
Description-Content-Type: text/markdown
License-File: LICENSE
License-File: AUTHORS.rst
Requires-Dist: requests >=2.0
Requires-Dist: tomli ; python_version < "3.11"
Provides-Extra: test
Requires-Dist: pytest ; extra == 'test'

# example-pkg

An example.

    indented code block
`

// hatchlingMetadata is shaped like what hatchling 1.27 writes (2.4, with a
// license expression and no Home-page).
const hatchlingMetadata = "Metadata-Version: 2.4\r\n" +
	"Name: hatch-demo\r\n" +
	"Version: 0.1.0.dev1\r\n" +
	"Project-URL: Documentation, https://hatch-demo.example/\r\n" +
	"Author-email: Ann Example <ann@example.org>\r\n" +
	"License-Expression: MIT OR Apache-2.0\r\n" +
	"License-File: LICENSES/MIT.txt\r\n" +
	"License-File: LICENSES/Apache-2.0.txt\r\n" +
	"Classifier: Development Status :: 4 - Beta\r\n" +
	"Requires-Python: >=3.9\r\n" +
	"Requires-Dist: click>=8\r\n" +
	"Provides-Extra: docs\r\n" +
	"Requires-Dist: mkdocs; extra == 'docs'\r\n" +
	"Description-Content-Type: text/markdown\r\n" +
	"\r\n" +
	"# hatch-demo\r\n"

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *Metadata
	}{
		{
			name: "1.0 minimal",
			in:   "Metadata-Version: 1.0\nName: old\nVersion: 0.1\nSummary: Old style\nPlatform: UNKNOWN\n",
			want: &Metadata{MetadataVersion: "1.0", Name: "old", Version: "0.1", Summary: "Old style", Platforms: []string{"UNKNOWN"}},
		},
		{
			name: "1.0 distutils PKG-INFO with pipe-folded description",
			in: "Metadata-Version: 1.0\nName: legacy\nVersion: 2.0\nAuthor: Someone\n" +
				"License: BSD\nDescription: First line\n       |\n       |    indented\n       |last\nPlatform: any\n",
			want: &Metadata{
				MetadataVersion: "1.0", Name: "legacy", Version: "2.0", Author: "Someone", License: "BSD",
				Description: "First line\n\n    indented\nlast", Platforms: []string{"any"},
			},
		},
		{
			name: "1.1 with classifiers and download URL",
			in: "Metadata-Version: 1.1\nName: mid\nVersion: 1.0\nDownload-URL: https://example.org/mid-1.0.tar.gz\n" +
				"Classifier: A :: B\nClassifier: C :: D\nRequires: os\nProvides: mid\n",
			want: &Metadata{
				MetadataVersion: "1.1", Name: "mid", Version: "1.0", DownloadURL: "https://example.org/mid-1.0.tar.gz",
				Classifiers: []string{"A :: B", "C :: D"},
			},
		},
		{
			name: "1.2 setuptools PKG-INFO with 8-space folded description",
			in: "Metadata-Version: 1.2\nName: fold\nVersion: 3.0\nMaintainer: M\nMaintainer-email: m@example.org\n" +
				"Requires-Python: >=3.6\nRequires-Dist: six\nRequires-External: libxml2\nProvides-Dist: fold\nObsoletes-Dist: oldfold\n" +
				"Description: Title\n        =====\n        \n        Text.\n            code\n",
			want: &Metadata{
				MetadataVersion: "1.2", Name: "fold", Version: "3.0", Maintainer: "M", MaintainerEmail: "m@example.org",
				RequiresPython: ">=3.6", RequiresDist: []string{"six"}, RequiresExternal: []string{"libxml2"},
				ProvidesDist: []string{"fold"}, ObsoletesDist: []string{"oldfold"},
				Description: "Title\n=====\n\nText.\n    code",
			},
		},
		{
			name: "2.0 with supported platform",
			in:   "Metadata-Version: 2.0\nName: two\nVersion: 2.0\nSupported-Platform: RedHat 7.2\nSupported-Platform: i386-win32-2791\n",
			want: &Metadata{MetadataVersion: "2.0", Name: "two", Version: "2.0", SupportedPlatforms: []string{"RedHat 7.2", "i386-win32-2791"}},
		},
		{
			name: "2.1 setuptools wheel METADATA with body description",
			in:   setuptoolsMetadata,
			want: &Metadata{
				MetadataVersion: "2.1", Name: "example-pkg", Version: "1.2.3", Summary: "An example package",
				HomePage: "https://example.org/", Author: "Jane Doe", AuthorEmail: "jane@example.org", License: "MIT",
				ProjectURLs:            []string{"Source, https://github.com/example/example-pkg", "Tracker, https://github.com/example/example-pkg/issues"},
				Keywords:               "example,packaging",
				Classifiers:            []string{"Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License", "Operating System :: OS Independent"},
				RequiresPython:         ">=3.8",
				DescriptionContentType: "text/markdown",
				LicenseFiles:           []string{"LICENSE", "AUTHORS.rst"},
				RequiresDist:           []string{"requests >=2.0", `tomli ; python_version < "3.11"`, "pytest ; extra == 'test'"},
				ProvidesExtra:          []string{"test"},
				Description:            "# example-pkg\n\nAn example.\n\n    indented code block\n",
			},
		},
		{
			name: "2.2 with dynamic",
			in:   "Metadata-Version: 2.2\nName: dyn\nVersion: 1.0\nDynamic: Requires-Dist\nDynamic: Summary\n",
			want: &Metadata{MetadataVersion: "2.2", Name: "dyn", Version: "1.0", Dynamic: []string{"Requires-Dist", "Summary"}},
		},
		{
			name: "2.3",
			in:   "Metadata-Version: 2.3\nName: three\nVersion: 1.0\nSummary: s\n\nBody",
			want: &Metadata{MetadataVersion: "2.3", Name: "three", Version: "1.0", Summary: "s", Description: "Body"},
		},
		{
			name: "2.4 hatchling METADATA with CRLF",
			in:   hatchlingMetadata,
			want: &Metadata{
				MetadataVersion: "2.4", Name: "hatch-demo", Version: "0.1.0.dev1",
				ProjectURLs:            []string{"Documentation, https://hatch-demo.example/"},
				AuthorEmail:            "Ann Example <ann@example.org>",
				LicenseExpression:      "MIT OR Apache-2.0",
				LicenseFiles:           []string{"LICENSES/MIT.txt", "LICENSES/Apache-2.0.txt"},
				Classifiers:            []string{"Development Status :: 4 - Beta"},
				RequiresPython:         ">=3.9",
				RequiresDist:           []string{"click>=8", "mkdocs; extra == 'docs'"},
				ProvidesExtra:          []string{"docs"},
				DescriptionContentType: "text/markdown",
				Description:            "# hatch-demo\r\n",
			},
		},
		{
			name: "field names are case-insensitive",
			in:   "METADATA-VERSION: 2.1\nname: lower\nVERSION: 1.0\nhome-PAGE: https://x.example/\nclassifier: A\nCLASSIFIER: B\n",
			want: &Metadata{MetadataVersion: "2.1", Name: "lower", Version: "1.0", HomePage: "https://x.example/", Classifiers: []string{"A", "B"}},
		},
		{
			name: "folded summary is unfolded to one line",
			in:   "Metadata-Version: 2.1\nName: f\nVersion: 1\nSummary: a long\n  summary\n\tcontinued\n",
			want: &Metadata{MetadataVersion: "2.1", Name: "f", Version: "1", Summary: "a long summary continued"},
		},
		{
			name: "folded license keeps its lines",
			in:   "Metadata-Version: 2.1\nName: f\nVersion: 1\nLicense: Copyright X\n        \n        Permission is granted\n",
			want: &Metadata{MetadataVersion: "2.1", Name: "f", Version: "1", License: "Copyright X\n\nPermission is granted"},
		},
		{
			name: "description folded with less than 8 spaces is dedented",
			in:   "Metadata-Version: 1.2\nName: f\nVersion: 1\nDescription: a\n  b\n    c\n",
			want: &Metadata{MetadataVersion: "1.2", Name: "f", Version: "1", Description: "a\nb\n  c"},
		},
		{
			name: "value without space after colon, trailing space trimmed",
			in:   "Metadata-Version:2.1\nName:tight  \nVersion:1.0\t\n",
			want: &Metadata{MetadataVersion: "2.1", Name: "tight", Version: "1.0"},
		},
		{
			name: "unknown fields ignored, empty list entries dropped",
			in:   "Metadata-Version: 2.1\nName: u\nVersion: 1\nX-Custom: whatever\nClassifier:\nRequires-Dist: a\n",
			want: &Metadata{MetadataVersion: "2.1", Name: "u", Version: "1", RequiresDist: []string{"a"}},
		},
		{
			name: "whitespace-only body is not a description",
			in:   "Metadata-Version: 2.1\nName: w\nVersion: 1\nDescription: header\n\n\n",
			want: &Metadata{MetadataVersion: "2.1", Name: "w", Version: "1", Description: "header"},
		},
		{
			name: "UTF-8 values",
			in:   "Metadata-Version: 2.1\nName: u8\nVersion: 1\nAuthor: Zoë Müller\nSummary: 日本語\n",
			want: &Metadata{MetadataVersion: "2.1", Name: "u8", Version: "1", Author: "Zoë Müller", Summary: "日本語"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMetadata([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseMetadata: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseMetadata (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMetadataInvalid(t *testing.T) {
	tests := []struct {
		name, in string
		msg      string
	}{
		{"empty", "", "Metadata-Version is missing"},
		{"missing Metadata-Version", "Name: a\nVersion: 1\n", "Metadata-Version is missing"},
		{"unsupported Metadata-Version", "Metadata-Version: 3.0\nName: a\nVersion: 1\n", "is not supported"},
		{"Metadata-Version 1.3 never existed", "Metadata-Version: 1.3\nName: a\nVersion: 1\n", "is not supported"},
		{"missing Name", "Metadata-Version: 2.1\nVersion: 1\n", "Name is missing"},
		{"empty Name", "Metadata-Version: 2.1\nName:\nVersion: 1\n", "Name is missing"},
		{"invalid Name", "Metadata-Version: 2.1\nName: -bad-\nVersion: 1\n", "not a valid project name"},
		{"missing Version", "Metadata-Version: 2.1\nName: a\n", "Version is missing"},
		{"invalid Version", "Metadata-Version: 2.1\nName: a\nVersion: one\n", "not a valid PEP 440 version"},
		{"duplicate Name", "Metadata-Version: 2.1\nName: a\nName: b\nVersion: 1\n", "Name appears on line 2 and again on line 3"},
		{"duplicate Version, other case", "Metadata-Version: 2.1\nName: a\nVersion: 1\nversion: 2\n", "appears on line 3 and again on line 4"},
		{"description in header and body", "Metadata-Version: 2.1\nName: a\nVersion: 1\nDescription: x\n\nbody\n", "both in the Description field"},
		{"continuation first", " Metadata-Version: 2.1\nName: a\nVersion: 1\n", "line 1 starts with whitespace"},
		{"line without colon", "Metadata-Version: 2.1\nName a\nVersion: 1\n", "line 2 is not a"},
		{"space in field name", "Metadata-Version: 2.1\nNa me: a\nVersion: 1\n", "line 2 is not a"},
		{"BOM", "\ufeffMetadata-Version: 2.1\nName: a\nVersion: 1\n", "line 1 is not a"},
		{"invalid UTF-8", "Metadata-Version: 2.1\nName: a\nVersion: 1\nAuthor: \xff\n", "not valid UTF-8"},
		{"NUL", "Metadata-Version: 2.1\nName: a\x00\nVersion: 1\n", "NUL"},
		{"Dynamic lists Version", "Metadata-Version: 2.2\nName: a\nVersion: 1\nDynamic: version\n", "Dynamic must not list"},
		{"too many lines", strings.Repeat("\n", maxMetadataLines+1), "lines is over the limit"},
		{"too many fields", "Metadata-Version: 2.1\n" + strings.Repeat("X: y\n", maxMetadataFields), "more than 10000 fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMetadata([]byte(tt.in))
			if !errors.Is(err, ErrInvalidMetadata) {
				t.Fatalf("ParseMetadata error = %v, want ErrInvalidMetadata", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ParseMetadata error = %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

func TestParseMetadataSizeLimit(t *testing.T) {
	head := "Metadata-Version: 2.1\nName: big\nVersion: 1\n\n"
	body := strings.Repeat("x", MaxMetadataBytes-len(head))
	if _, err := ParseMetadata([]byte(head + body)); err != nil {
		t.Fatalf("ParseMetadata(exactly %d bytes): %v", MaxMetadataBytes, err)
	}
	_, err := ParseMetadata([]byte(head + body + "x"))
	if !errors.Is(err, ErrInvalidMetadata) {
		t.Fatalf("ParseMetadata(over the limit) error = %v, want ErrInvalidMetadata", err)
	}
}

func TestParseMetadataInvalidVersionWrapsBoth(t *testing.T) {
	_, err := ParseMetadata([]byte("Metadata-Version: 2.1\nName: a\nVersion: x\n"))
	if !errors.Is(err, ErrInvalidMetadata) || !errors.Is(err, ErrInvalidVersion) {
		t.Errorf("error = %v, want it to wrap ErrInvalidMetadata and ErrInvalidVersion", err)
	}
}
