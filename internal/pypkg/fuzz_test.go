package pypkg

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func FuzzParseFilename(f *testing.F) {
	for _, s := range []string{
		"requests-2.31.0-py3-none-any.whl",
		"foo_bar-1.0-1-cp311-cp311-win_amd64.whl",
		"numpy-1.26.4-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
		"typing_extensions-4.9.0.tar.gz",
		"django-rest-framework-3.14.0.tar.gz",
		"foo-1.0-beta.zip",
		"web-1-1.tar.gz",
		"foo-1.0.exe",
		"../foo-1.0.tar.gz",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, fn string) {
		got, err := ParseFilename(fn)
		if err != nil {
			if !errors.Is(err, ErrInvalidFilename) {
				t.Fatalf("error %v does not wrap ErrInvalidFilename", err)
			}
			return
		}
		if len(fn) > MaxFilenameLength || strings.ContainsAny(fn, "/\\") || strings.Contains(fn, "..") {
			t.Fatalf("accepted unsafe filename %q", fn)
		}
		if !ValidProjectName(got.Name) {
			t.Fatalf("accepted invalid name %q in %q", got.Name, fn)
		}
		if _, err := ParseVersion(got.Version); err != nil {
			t.Fatalf("accepted invalid version %q in %q", got.Version, fn)
		}
		// The parts must put the filename back together.
		var rebuilt string
		switch got.Kind {
		case Wheel:
			parts := []string{got.Name, got.Version}
			if got.Build != "" {
				parts = append(parts, got.Build)
			}
			parts = append(parts, got.PythonTag, got.ABITag, got.PlatformTag)
			rebuilt = strings.Join(parts, "-") + got.Ext
		case Sdist:
			rebuilt = got.Name + "-" + got.Version + got.Ext
		default:
			t.Fatalf("unknown kind %v", got.Kind)
		}
		if rebuilt != fn {
			t.Fatalf("parts %+v rebuild %q, not %q", got, rebuilt, fn)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range pep440Order {
		f.Add(s)
	}
	for _, s := range []string{"v1", "1.0-RC1", "1.0+Ubuntu-1_2", "0!1.0.post", "1.0.dev", "", " 1", "1.0+", "01.02"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVersion(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidVersion) {
				t.Fatalf("error %v does not wrap ErrInvalidVersion", err)
			}
			return
		}
		if v.String() != s {
			t.Fatalf("String() = %q, want %q", v.String(), s)
		}
		c, err := ParseVersion(v.Canonical())
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", v.Canonical(), s, err)
		}
		if c.Canonical() != v.Canonical() {
			t.Fatalf("canonical form not stable: %q -> %q -> %q", s, v.Canonical(), c.Canonical())
		}
		if v.Compare(c) != 0 || c.Compare(v) != 0 || v.Compare(v) != 0 {
			t.Fatalf("%q does not compare equal to its canonical form %q", s, v.Canonical())
		}
		if v.IsPrerelease() != c.IsPrerelease() {
			t.Fatalf("IsPrerelease differs between %q and %q", s, v.Canonical())
		}
	})
}

func FuzzParseMetadata(f *testing.F) {
	for _, s := range []string{
		setuptoolsMetadata,
		hatchlingMetadata,
		"Metadata-Version: 1.0\nName: legacy\nVersion: 2.0\nDescription: First line\n       |\n       |    indented\n",
		"Metadata-Version: 1.2\nName: fold\nVersion: 3.0\nDescription: Title\n        =====\n        \n        Text.\n",
		"Metadata-Version: 2.2\nName: dyn\nVersion: 1.0\nDynamic: Requires-Dist\n",
		"Metadata-Version: 2.1\nName: a\nName: b\nVersion: 1\n",
		" x\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMetadata(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidMetadata) {
				t.Fatalf("error %v does not wrap ErrInvalidMetadata", err)
			}
			return
		}
		if !ValidProjectName(m.Name) {
			t.Fatalf("accepted invalid Name %q", m.Name)
		}
		if _, err := ParseVersion(m.Version); err != nil {
			t.Fatalf("accepted invalid Version %q", m.Version)
		}
	})
}

// fuzzLimits keep each fuzz input cheap: the point is to find panics and
// hangs, not to inflate a gigabyte per input.
func fuzzLimits() Limits {
	return Limits{MaxEntries: 1000, MaxTotalSize: 1 << 20, MaxMetadataSize: 64 << 10, MaxDuration: 5 * time.Second, RatioMinSize: 64 << 10, MaxRatio: 50}
}

func FuzzReadWheelMetadata(f *testing.F) {
	f.Add(makeWheel(f, goodWheel()))
	f.Add(makeWheel(f, append(goodWheel(), zipEntry{name: "foo-1.0.dist-info/entry_points.txt", body: "[console_scripts]\nfoo = foo:main\n", store: true})))
	f.Add(makeWheel(f, without(goodWheel(), "foo-1.0.dist-info/WHEEL")))
	f.Add(makeWheel(f, append(goodWheel(), zipEntry{name: "foo/../x"})))
	f.Add(makeWheel(f, append(goodWheel(), zipEntry{name: "foo/link", body: "/etc", mode: fs.ModeSymlink | 0o777})))
	f.Add(makeZip(f, goodWheel()))
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	fn := Filename{Kind: Wheel, Name: "foo", Version: "1.0", PythonTag: "py3", ABITag: "none", PlatformTag: "any", Ext: ".whl"}
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := fuzzLimits()
		got, err := ReadWheelMetadata(bytes.NewReader(data), int64(len(data)), fn, lim)
		if err != nil {
			if !errors.Is(err, ErrInvalidArchive) && !errors.Is(err, ErrArchiveTooLarge) {
				t.Fatalf("error %v wraps neither ErrInvalidArchive nor ErrArchiveTooLarge", err)
			}
			return
		}
		if got == nil || int64(len(got)) > lim.MaxMetadataSize {
			t.Fatalf("returned %d bytes of METADATA (nil: %v)", len(got), got == nil)
		}
	})
}

func FuzzReadSdistMetadata(f *testing.F) {
	f.Add(gzipBytes(f, makeTar(f, goodSdist())), false)
	f.Add(gzipBytes(f, makeTar(f, append(goodSdist(),
		tarEntry{name: "foo-1.0/l", typ: tar.TypeSymlink, link: "."},
		tarEntry{name: "foo-1.0/l/l/x", typ: tar.TypeSymlink, link: "../.."},
		tarEntry{name: "foo-1.0/h", typ: tar.TypeLink, link: "foo-1.0/setup.py"},
	))), false)
	f.Add(gzipBytes(f, paxSparseTar(f)), false)
	f.Add(gzipBytes(f, sparseTar(f)), false)
	f.Add(makeZip(f, goodSdistZip()), true)
	f.Add(makeZip(f, append(goodSdistZip(), zipEntry{name: "foo-1.0/link", body: "../x", mode: fs.ModeSymlink | 0o777})), true)
	f.Add(makeTar(f, goodSdist()), true)
	f.Fuzz(func(t *testing.T, data []byte, isZip bool) {
		fn := Filename{Kind: Sdist, Name: "foo", Version: "1.0", Ext: ".tar.gz"}
		if isZip {
			fn.Ext = ".zip"
		}
		lim := fuzzLimits()
		got, err := ReadSdistMetadata(bytes.NewReader(data), int64(len(data)), fn, lim)
		if err != nil {
			if !errors.Is(err, ErrInvalidArchive) && !errors.Is(err, ErrArchiveTooLarge) {
				t.Fatalf("error %v wraps neither ErrInvalidArchive nor ErrArchiveTooLarge", err)
			}
			return
		}
		if got == nil || int64(len(got)) > lim.MaxMetadataSize {
			t.Fatalf("returned %d bytes of PKG-INFO (nil: %v)", len(got), got == nil)
		}
	})
}

// FuzzZipStructure: the walker never panics, refuses only with the
// package's sentinels, and whatever it accepts archive/zip reads as the
// same directory, in the same order (the members are then read through
// archive/zip, so its reading must be the one the walker proved unique).
func FuzzZipStructure(f *testing.F) {
	f.Add(makeWheel(f, goodWheel()))
	f.Add(makeZip(f, goodSdistZip()))
	f.Add(append(makeZip(f, goodSdistZip()), "appended"...))
	for _, z := range []rawZip{
		{members: twoMembers()},
		{members: twoMembers(), comment: "comment PK\x05\x06"},
		{members: []rawMember{{name: "a", body: "aaaa", descriptor: 12}, {name: "b", body: "bb", descriptor: 16}}},
		{members: []rawMember{{name: "a", body: "aaaa", zip64: true, descriptor: 20}, {name: "b", body: "bb", zip64: true, descriptor: 24}}, zip64End: true},
		{members: []rawMember{{name: "a", body: "a"}, {name: "hidden", body: "h", hidden: true}, {name: "b", body: "b"}}},
		{members: []rawMember{{name: "é", body: "x", flags: zipFlagUTF8, localName: "e"}}},
		{},
	} {
		f.Add(z.build().data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := walkZip(bytes.NewReader(data), int64(len(data)), newBudget(fuzzLimits()), "wheel")
		if err != nil {
			if !errors.Is(err, ErrInvalidArchive) && !errors.Is(err, ErrArchiveTooLarge) {
				t.Fatalf("error %v wraps neither ErrInvalidArchive nor ErrArchiveTooLarge", err)
			}
			return
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
			t.Fatalf("walkZip accepted an archive that archive/zip refuses: %v", err)
		}
		if diff := cmp.Diff(zipNames(zr.File), dirNames(entries)); diff != "" {
			t.Fatalf("names (-archive/zip +walkZip):\n%s", diff)
		}
		if !sameDirectory(zr.File, entries) {
			t.Fatalf("archive/zip and walkZip read different sizes, CRCs, methods or flags")
		}
	})
}
