package pypkg

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseFilenameValid(t *testing.T) {
	tests := []struct {
		name, in string
		want     Filename
	}{
		{"pure wheel", "requests-2.31.0-py3-none-any.whl", Filename{
			Kind: Wheel, Name: "requests", Version: "2.31.0",
			PythonTag: "py3", ABITag: "none", PlatformTag: "any", Ext: ".whl",
		}},
		{"wheel with build tag", "foo_bar-1.0-1-cp311-cp311-win_amd64.whl", Filename{
			Kind: Wheel, Name: "foo_bar", Version: "1.0", Build: "1",
			PythonTag: "cp311", ABITag: "cp311", PlatformTag: "win_amd64", Ext: ".whl",
		}},
		{"wheel with compressed tag sets", "numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", Filename{
			Kind: Wheel, Name: "numpy", Version: "1.26.4",
			PythonTag: "cp312", ABITag: "cp312", PlatformTag: "manylinux_2_17_x86_64.manylinux2014_x86_64", Ext: ".whl",
		}},
		{"universal wheel", "six-1.16.0-py2.py3-none-any.whl", Filename{
			Kind: Wheel, Name: "six", Version: "1.16.0",
			PythonTag: "py2.py3", ABITag: "none", PlatformTag: "any", Ext: ".whl",
		}},
		{"wheel with dotted name", "zope.interface-6.0-cp311-cp311-macosx_11_0_arm64.whl", Filename{
			Kind: Wheel, Name: "zope.interface", Version: "6.0",
			PythonTag: "cp311", ABITag: "cp311", PlatformTag: "macosx_11_0_arm64", Ext: ".whl",
		}},
		{"wheel with local version", "foo-1.0+cpu-py3-none-any.whl", Filename{
			Kind: Wheel, Name: "foo", Version: "1.0+cpu",
			PythonTag: "py3", ABITag: "none", PlatformTag: "any", Ext: ".whl",
		}},
		{"wheel with build tag suffix", "foo-1.0-2_abc-py3-none-any.whl", Filename{
			Kind: Wheel, Name: "foo", Version: "1.0", Build: "2_abc",
			PythonTag: "py3", ABITag: "none", PlatformTag: "any", Ext: ".whl",
		}},
		{"PEP 625 sdist", "typing_extensions-4.9.0.tar.gz", Filename{
			Kind: Sdist, Name: "typing_extensions", Version: "4.9.0", Ext: ".tar.gz",
		}},
		{"zip sdist", "foo-1.0.zip", Filename{
			Kind: Sdist, Name: "foo", Version: "1.0", Ext: ".zip",
		}},
		{"legacy sdist with dash in name", "django-rest-framework-3.14.0.tar.gz", Filename{
			Kind: Sdist, Name: "django-rest-framework", Version: "3.14.0", Ext: ".tar.gz",
		}},
		{"legacy sdist, version with dash", "foo-1.0-beta.tar.gz", Filename{
			Kind: Sdist, Name: "foo", Version: "1.0-beta", Ext: ".tar.gz",
		}},
		{"sdist, last dash wins", "web-1-1.tar.gz", Filename{
			Kind: Sdist, Name: "web-1", Version: "1", Ext: ".tar.gz",
		}},
		{"sdist pre-release", "Foo-1.0rc1.tar.gz", Filename{
			Kind: Sdist, Name: "Foo", Version: "1.0rc1", Ext: ".tar.gz",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFilename(tt.in)
			if err != nil {
				t.Fatalf("ParseFilename(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseFilename(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseFilenameInvalid(t *testing.T) {
	tests := []struct {
		name, in string
		msg      string // a part of the message the author sees
	}{
		{"empty", "", "empty"},
		{"slash", "../foo-1.0.tar.gz", "'/'"},
		{"path", "dir/foo-1.0.tar.gz", "'/'"},
		{"backslash", "dir\\foo-1.0.tar.gz", "'\\'"},
		{"NUL", "foo-1.0.tar.gz\x00.whl", "control characters"},
		{"newline", "foo-1.0\n.tar.gz", "control characters"},
		{"DEL", "foo\x7f-1.0.tar.gz", "control characters"},
		{"non-ASCII", "föo-1.0.tar.gz", "non-ASCII"},
		{"too long", strings.Repeat("a", 250) + "-1.0.tar.gz", "limit is 255"},
		{"dot dot", "foo-1.0..tar.gz", "'..'"},
		{"exe", "foo-1.0.win32.exe", "Invalid file extension: Use .tar.gz, .whl or .zip extension. See https://www.python.org/dev/peps/pep-0527 and https://peps.python.org/pep-0715/ for more information"},
		{"egg", "foo-1.0-py3.11.egg", "Invalid file extension"},
		{"tar.bz2", "foo-1.0.tar.bz2", "Invalid file extension"},
		{"tar.xz", "foo-1.0.tar.xz", "Invalid file extension"},
		{"tgz", "foo-1.0.tgz", "Invalid file extension"},
		{"rpm", "foo-1.0.noarch.rpm", "Invalid file extension"},
		{"tar", "foo-1.0.tar", "Invalid file extension"},
		{"upper-case extension", "foo-1.0.TAR.GZ", "Invalid file extension"},
		{"no extension", "foo-1.0", "Invalid file extension"},
		{"wheel, too few parts", "foo-1.0-py3-none.whl", "wrong number of parts"},
		{"wheel, too many parts", "foo-bar-1.0-1-py3-none-any.whl", "wrong number of parts"},
		{"wheel, dash in name", "foo-bar-1.0-py3-none-any.whl", "invalid version"},
		{"wheel, bad name", "_foo-1.0-py3-none-any.whl", "invalid project name"},
		{"wheel, bad version", "foo-one-py3-none-any.whl", "invalid version"},
		{"wheel, build tag not a digit", "foo-1.0-b1-py3-none-any.whl", "build tag"},
		{"wheel, empty tag", "foo-1.0--none-any.whl", "compatibility tag"},
		{"wheel, empty tag in set", "foo-1.0-py2.-none-any.whl", "compatibility tag"},
		{"wheel, bad tag character", "foo-1.0-py3-none-any+x.whl", "compatibility tag"},
		{"sdist without version", "foo.tar.gz", "Invalid sdist filename"},
		{"sdist with bad version", "foo-latest.tar.gz", "Invalid sdist filename"},
		{"sdist with bad name", "-1.0.tar.gz", "Invalid sdist filename"},
		{"only extension", ".tar.gz", "Invalid sdist filename"},
		{"space in name", "foo bar-1.0.tar.gz", "Invalid sdist filename"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFilename(tt.in)
			if !errors.Is(err, ErrInvalidFilename) {
				t.Fatalf("ParseFilename(%q) error = %v, want ErrInvalidFilename", tt.in, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ParseFilename(%q) error = %q, want it to contain %q", tt.in, err, tt.msg)
			}
		})
	}
}

func TestParseFilenameMaxLength(t *testing.T) {
	ok := strings.Repeat("a", MaxFilenameLength-len("-1.0.tar.gz")) + "-1.0.tar.gz"
	if _, err := ParseFilename(ok); err != nil {
		t.Errorf("ParseFilename(%d chars): %v", len(ok), err)
	}
	if _, err := ParseFilename("a" + ok); !errors.Is(err, ErrInvalidFilename) {
		t.Errorf("ParseFilename(%d chars) error = %v, want ErrInvalidFilename", len(ok)+1, err)
	}
}

func TestFilenameUploadFields(t *testing.T) {
	tests := []struct {
		name, in                   string
		packageType, pythonVersion string
	}{
		{"wheel", "foo-1.0-cp311-abi3-linux_x86_64.whl", "bdist_wheel", "cp311"},
		{"universal wheel", "foo-1.0-py2.py3-none-any.whl", "bdist_wheel", "py2.py3"},
		{"tar.gz", "foo-1.0.tar.gz", "sdist", "source"},
		{"zip", "foo-1.0.zip", "sdist", "source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFilename(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got := [2]string{f.PackageType(), f.PythonVersion()}
			if diff := cmp.Diff([2]string{tt.packageType, tt.pythonVersion}, got); diff != "" {
				t.Errorf("(PackageType, PythonVersion) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatchesNameVersion(t *testing.T) {
	tests := []struct {
		name, stem, pkg, version string
		want                     bool
	}{
		{"exact", "foo-1.0", "foo", "1.0", true},
		{"normalised name", "Foo_Bar-1.0", "foo-bar", "1.0", true},
		{"equal version spelled differently", "foo-1.0.0", "foo", "1.0", true},
		{"canonical version", "foo-1.0rc1", "foo", "1.0-RC1", true},
		{"legacy ambiguous split", "web-1-1", "web", "1-1", true},
		{"legacy ambiguous split other way", "web-1-1", "web-1", "1", true},
		{"other name", "bar-1.0", "foo", "1.0", false},
		{"other version", "foo-1.1", "foo", "1.0", false},
		{"local differs", "foo-1.0+a", "foo", "1.0", false},
		{"no version", "foo", "foo", "1.0", false},
		{"too long", strings.Repeat("a-", 200) + "1.0", "a", "1.0", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, matchesNameVersion(tt.stem, tt.pkg, tt.version)); diff != "" {
				t.Errorf("matchesNameVersion(%q, %q, %q) (-want +got):\n%s", tt.stem, tt.pkg, tt.version, diff)
			}
		})
	}
}

func TestFilenameMatches(t *testing.T) {
	tests := []struct {
		name, filename, pkg, version string
		want                         bool
	}{
		{"wheel exact", "foo_bar-1.0-py3-none-any.whl", "foo_bar", "1.0", true},
		{"wheel normalised name", "foo_bar-1.0-py3-none-any.whl", "Foo.Bar", "1.0", true},
		{"wheel equal version", "foo-1.0-py3-none-any.whl", "foo", "1.0.0", true},
		{"wheel canonical version", "foo-1.0rc1-py3-none-any.whl", "foo", "1.0-RC1", true},
		{"wheel other name", "foo-1.0-py3-none-any.whl", "food", "1.0", false},
		{"wheel other version", "foo-1.0-py3-none-any.whl", "foo", "1.0.post1", false},
		{"wheel local version differs", "foo-1.0+cpu-py3-none-any.whl", "foo", "1.0", false},
		{"sdist", "foo-1.0.tar.gz", "FOO", "1.0", true},
		{"legacy sdist read one way", "web-1-1.tar.gz", "web-1", "1", true},
		{"legacy sdist read the other way", "web-1-1.tar.gz", "web", "1-1", true},
		{"invalid name", "foo-1.0.tar.gz", "foo!", "1.0", false},
		{"invalid version", "foo-1.0.tar.gz", "foo", "one", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := mustFilename(t, tt.filename)
			if diff := cmp.Diff(tt.want, f.Matches(tt.pkg, tt.version)); diff != "" {
				t.Errorf("%q.Matches(%q, %q) (-want +got):\n%s", tt.filename, tt.pkg, tt.version, diff)
			}
		})
	}
}
