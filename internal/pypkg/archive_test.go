package pypkg

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type zipEntry struct {
	name  string
	body  string
	store bool        // zip.Store instead of zip.Deflate
	mode  fs.FileMode // set for symlinks
}

func makeZip(t testing.TB, entries []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, e := range entries {
		method := zip.Deflate
		if e.store {
			method = zip.Store
		}
		h := &zip.FileHeader{Name: e.name, Method: method}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		f, err := w.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const testMetadata = "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n"

const testWheelFile = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"

// goodWheel returns the members of a minimal valid foo-1.0 wheel, with an
// empty RECORD for withRecord to fill in.
func goodWheel() []zipEntry {
	return []zipEntry{
		{name: "foo/__init__.py", body: "x = 1\n"},
		{name: "foo-1.0.dist-info/METADATA", body: testMetadata},
		{name: "foo-1.0.dist-info/WHEEL", body: testWheelFile},
		{name: "foo-1.0.dist-info/RECORD", body: ""},
	}
}

// withRecord fills every empty .dist-info/RECORD member with the RECORD a
// build backend would write for entries: each file with its sha256 and
// size, RECORD itself without. A test that wants an empty RECORD gives it
// a blank line.
func withRecord(entries []zipEntry) []zipEntry {
	var rec strings.Builder
	for _, e := range entries {
		switch {
		case strings.HasSuffix(e.name, "/"):
		case strings.HasSuffix(e.name, ".dist-info/RECORD"):
			fmt.Fprintf(&rec, "%s,,\n", e.name)
		default:
			sum := sha256.Sum256([]byte(e.body))
			fmt.Fprintf(&rec, "%s,sha256=%s,%d\n", csvField(e.name), base64.RawURLEncoding.EncodeToString(sum[:]), len(e.body))
		}
	}
	out := slices.Clone(entries)
	for i, e := range out {
		if strings.HasSuffix(e.name, ".dist-info/RECORD") && e.body == "" {
			out[i].body = rec.String()
		}
	}
	return out
}

// csvField quotes a field as Python's csv module does.
func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\r\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// makeWheel builds a wheel from entries, RECORD filled in by withRecord.
func makeWheel(t testing.TB, entries []zipEntry) []byte {
	t.Helper()
	return makeZip(t, withRecord(entries))
}

func without(entries []zipEntry, name string) []zipEntry {
	var out []zipEntry
	for _, e := range entries {
		if e.name != name {
			out = append(out, e)
		}
	}
	return out
}

func mustFilename(t testing.TB, fn string) Filename {
	t.Helper()
	f, err := ParseFilename(fn)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// fakeClock advances by step on every reading, so MaxDuration is reached
// after a known number of checks without sleeping.
func fakeClock(step time.Duration) func() time.Time {
	now := time.Unix(0, 0)
	return func() time.Time {
		now = now.Add(step)
		return now
	}
}

func TestReadWheelMetadata(t *testing.T) {
	zeros := strings.Repeat("\x00", 1<<20)
	tests := []struct {
		name     string
		filename string
		entries  []zipEntry
		raw      []byte // used instead of entries when set
		lim      Limits
		wantErr  error  // nil: success, returning testMetadata
		msg      string // part of the message
	}{
		{name: "good wheel", filename: "foo-1.0-py3-none-any.whl", entries: goodWheel()},
		{name: "stored members", filename: "foo-1.0-py3-none-any.whl", entries: []zipEntry{
			{name: "foo-1.0.dist-info/METADATA", body: testMetadata, store: true},
			{name: "foo-1.0.dist-info/WHEEL", body: "Wheel-Version: 1.0\nTag: py3-none-any\n", store: true},
			{name: "foo-1.0.dist-info/RECORD", store: true},
		}},
		{name: "with directory entries", filename: "foo-1.0-py3-none-any.whl", entries: append([]zipEntry{
			{name: "foo/"}, {name: "foo-1.0.dist-info/"},
		}, goodWheel()...)},
		{name: "name matched after normalisation", filename: "Foo-1.0-py3-none-any.whl", entries: goodWheel()},
		{name: "version matched by value", filename: "foo-1.0.0-py3-none-any.whl", entries: goodWheel()},
		{name: "missing METADATA", filename: "foo-1.0-py3-none-any.whl", entries: without(goodWheel(), "foo-1.0.dist-info/METADATA"),
			wantErr: ErrInvalidArchive, msg: `"foo-1.0.dist-info/METADATA" not found`},
		{name: "METADATA is a directory", filename: "foo-1.0-py3-none-any.whl", entries: append(without(goodWheel(), "foo-1.0.dist-info/METADATA"), zipEntry{name: "foo-1.0.dist-info/METADATA/"}),
			wantErr: ErrInvalidArchive, msg: "METADATA\" not found"},
		{name: "missing WHEEL", filename: "foo-1.0-py3-none-any.whl", entries: without(goodWheel(), "foo-1.0.dist-info/WHEEL"),
			wantErr: ErrInvalidArchive, msg: `"foo-1.0.dist-info/WHEEL" not found`},
		{name: "no dist-info", filename: "foo-1.0-py3-none-any.whl", entries: []zipEntry{{name: "foo/__init__.py"}},
			wantErr: ErrInvalidArchive, msg: "no .dist-info directory"},
		{name: "two dist-info directories", filename: "foo-1.0-py3-none-any.whl", entries: append(goodWheel(), zipEntry{name: "bar-2.0.dist-info/METADATA", body: testMetadata}),
			wantErr: ErrInvalidArchive, msg: "more than one .dist-info directory"},
		{name: "nested dist-info does not count", filename: "foo-1.0-py3-none-any.whl", entries: append(goodWheel(), zipEntry{name: "foo/_vendor/bar-2.0.dist-info/METADATA", body: "x"})},
		{name: "mismatched name", filename: "bar-1.0-py3-none-any.whl", entries: goodWheel(),
			wantErr: ErrInvalidArchive, msg: "does not match the filename"},
		{name: "mismatched version", filename: "foo-1.1-py3-none-any.whl", entries: goodWheel(),
			wantErr: ErrInvalidArchive, msg: "does not match the filename"},
		{name: "dot-dot member", filename: "foo-1.0-py3-none-any.whl", entries: append(goodWheel(), zipEntry{name: "foo/../../evil.py"}),
			wantErr: ErrInvalidArchive, msg: `contains ".."`},
		{name: "absolute member", filename: "foo-1.0-py3-none-any.whl", entries: append(goodWheel(), zipEntry{name: "/etc/evil"}),
			wantErr: ErrInvalidArchive, msg: "absolute path"},
		{name: "drive letter member", filename: "foo-1.0-py3-none-any.whl", entries: append(goodWheel(), zipEntry{name: "C:/evil"}),
			wantErr: ErrInvalidArchive, msg: "absolute path"},
		{name: "backslash member", filename: "foo-1.0-py3-none-any.whl", entries: append(goodWheel(), zipEntry{name: "foo\\..\\..\\evil"}),
			wantErr: ErrInvalidArchive, msg: "backslash"},
		{name: "NUL in member name", filename: "foo-1.0-py3-none-any.whl", entries: append(goodWheel(), zipEntry{name: "foo/a\x00.py"}),
			wantErr: ErrInvalidArchive, msg: "NUL"},
		{name: "duplicate member", filename: "foo-1.0-py3-none-any.whl", entries: append(goodWheel(), zipEntry{name: "foo-1.0.dist-info/METADATA", body: "other"}),
			wantErr: ErrInvalidArchive, msg: "appears more than once"},
		{name: "symlink member", filename: "foo-1.0-py3-none-any.whl", entries: append(goodWheel(), zipEntry{name: "foo/link", body: "/etc/passwd", mode: fs.ModeSymlink | 0o777}),
			wantErr: ErrInvalidArchive, msg: "symbolic link"},
		{name: "bomb", filename: "foo-1.0-py3-none-any.whl", entries: append(goodWheel(), zipEntry{name: "foo/zeros.bin", body: zeros}),
			lim: Limits{MaxTotalSize: 64 << 10}, wantErr: ErrArchiveTooLarge, msg: "unpacks to more than 65536 bytes"},
		{name: "many small members add up", filename: "foo-1.0-py3-none-any.whl", entries: append(goodWheel(),
			zipEntry{name: "foo/a", body: zeros[:40<<10]}, zipEntry{name: "foo/b", body: zeros[:40<<10]}),
			lim: Limits{MaxTotalSize: 64 << 10}, wantErr: ErrArchiveTooLarge, msg: "unpacks to more than"},
		{name: "too many entries", filename: "foo-1.0-py3-none-any.whl", entries: goodWheel(),
			lim: Limits{MaxEntries: 3}, wantErr: ErrArchiveTooLarge, msg: "more than 3 members"},
		{name: "METADATA too large", filename: "foo-1.0-py3-none-any.whl", entries: goodWheel(),
			lim: Limits{MaxMetadataSize: 10}, wantErr: ErrArchiveTooLarge, msg: "larger than 10 bytes"},
		{name: "too slow", filename: "foo-1.0-py3-none-any.whl", entries: goodWheel(),
			lim: Limits{MaxDuration: 3 * time.Second, now: fakeClock(time.Second)}, wantErr: ErrArchiveTooLarge, msg: "took longer than 3s"},
		{name: "not a zip", filename: "foo-1.0-py3-none-any.whl", raw: []byte("this is not a zip file at all"),
			wantErr: ErrInvalidArchive, msg: "not a zip archive"},
		{name: "empty file", filename: "foo-1.0-py3-none-any.whl", raw: []byte{},
			wantErr: ErrInvalidArchive, msg: "not a zip archive"},
		{name: "data before the zip", filename: "foo-1.0-py3-none-any.whl", raw: append([]byte("MZ junk"), makeZip(t, goodWheel())...),
			wantErr: ErrInvalidArchive, msg: "must start with a zip member header"},
		{name: "truncated zip", filename: "foo-1.0-py3-none-any.whl", raw: makeZip(t, goodWheel())[:100],
			wantErr: ErrInvalidArchive, msg: "not a valid zip archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.raw
			if data == nil {
				data = makeWheel(t, tt.entries)
			}
			got, err := ReadWheelMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, tt.filename), tt.lim)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ReadWheelMetadata: %v", err)
				}
				if diff := cmp.Diff(testMetadata, string(got)); diff != "" {
					t.Errorf("METADATA (-want +got):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadWheelMetadata error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ReadWheelMetadata error = %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

// TestReadWheelMetadataExactBytes: PEP 658 serves what is in the archive,
// byte for byte, including CRLF and trailing whitespace.
func TestReadWheelMetadataExactBytes(t *testing.T) {
	meta := "Metadata-Version: 2.1\r\nName: foo\r\nVersion: 1.0 \r\n\r\nbody\r\n"
	entries := goodWheel()
	entries[1].body = meta
	data := makeWheel(t, entries)
	got, err := ReadWheelMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, "foo-1.0-py3-none-any.whl"), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]byte(meta), got); diff != "" {
		t.Errorf("METADATA (-want +got):\n%s", diff)
	}
}

// TestReadWheelLyingHeader: a member whose header claims a tiny size but
// whose data inflates to much more is refused, whatever the header says.
func TestReadWheelLyingHeader(t *testing.T) {
	var comp bytes.Buffer
	zw := zip.NewWriter(&comp)
	// Build the member's compressed bytes with an honest writer first.
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "x", Method: zip.Deflate})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, 1<<20))
	zw.Close()
	zr, err := zip.NewReader(bytes.NewReader(comp.Bytes()), int64(comp.Len()))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := zr.File[0].OpenRaw()
	if err != nil {
		t.Fatal(err)
	}
	var deflated bytes.Buffer
	deflated.ReadFrom(raw)

	var buf bytes.Buffer
	out := zip.NewWriter(&buf)
	// RECORD lists the member truthfully, so that what refuses the wheel
	// is the member's lying header.
	entries := withRecord(append(goodWheel(), zipEntry{name: "foo/bomb.bin", body: string(make([]byte, 1<<20))}))
	for _, e := range entries[:len(entries)-1] {
		f, _ := out.Create(e.name)
		f.Write([]byte(e.body))
	}
	fw, err := out.CreateRaw(&zip.FileHeader{
		Name: "foo/bomb.bin", Method: zip.Deflate,
		CompressedSize64: uint64(deflated.Len()), UncompressedSize64: 100, CRC32: zr.File[0].CRC32,
	})
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(deflated.Bytes())
	out.Close()

	data := buf.Bytes()
	for _, lim := range []Limits{{}, {MaxTotalSize: 64 << 10}} {
		_, err = ReadWheelMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, "foo-1.0-py3-none-any.whl"), lim)
		if !errors.Is(err, ErrInvalidArchive) && !errors.Is(err, ErrArchiveTooLarge) || !strings.Contains(err.Error(), "bomb.bin") {
			t.Errorf("limits %+v: error = %v, want the lying member refused", lim, err)
		}
	}
}

func TestReadWheelCorruptCRC(t *testing.T) {
	data := makeWheel(t, []zipEntry{
		{name: "foo-1.0.dist-info/METADATA", body: testMetadata, store: true},
		{name: "foo-1.0.dist-info/WHEEL", body: testWheelFile, store: true},
		{name: "foo-1.0.dist-info/RECORD", store: true},
	})
	i := bytes.Index(data, []byte("Wheel-Version"))
	data[i] = 'X'
	_, err := ReadWheelMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, "foo-1.0-py3-none-any.whl"), Limits{})
	if !errors.Is(err, ErrInvalidArchive) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("error = %v, want a checksum error wrapping ErrInvalidArchive", err)
	}
}

func TestReadWheelMetadataWrongKind(t *testing.T) {
	data := makeZip(t, goodWheel())
	_, err := ReadWheelMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, "foo-1.0.zip"), Limits{})
	if !errors.Is(err, ErrInvalidArchive) {
		t.Errorf("error = %v, want ErrInvalidArchive", err)
	}
}

type tarEntry struct {
	name string
	body string
	typ  byte // tar.TypeReg when zero
	link string
	pax  map[string]string
}

func makeTar(t testing.TB, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: 0o644, PAXRecords: e.pax}
		if e.typ == tar.TypeXGlobalHeader {
			h = &tar.Header{Typeflag: e.typ, PAXRecords: e.pax}
		}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const testPkgInfo = "Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n"

func goodSdist() []tarEntry {
	return []tarEntry{
		{name: "foo-1.0/", typ: tar.TypeDir},
		{name: "foo-1.0/PKG-INFO", body: testPkgInfo},
		{name: "foo-1.0/setup.py", body: "from setuptools import setup\nsetup()\n"},
		{name: "foo-1.0/foo/__init__.py", body: ""},
	}
}

func goodSdistZip() []zipEntry {
	return []zipEntry{
		{name: "foo-1.0/"},
		{name: "foo-1.0/PKG-INFO", body: testPkgInfo},
		{name: "foo-1.0/setup.py", body: "from setuptools import setup\nsetup()\n"},
	}
}

func TestReadSdistMetadataTarGz(t *testing.T) {
	zeros := strings.Repeat("\x00", 1<<20)
	goodTarGz := gzipBytes(t, makeTar(t, goodSdist()))
	tests := []struct {
		name     string
		filename string
		entries  []tarEntry
		raw      []byte // used instead of entries when set
		lim      Limits
		wantErr  error
		msg      string
	}{
		{name: "good sdist", filename: "foo-1.0.tar.gz", entries: goodSdist()},
		{name: "no directory entries", filename: "foo-1.0.tar.gz", entries: goodSdist()[1:]},
		{name: "dot-slash prefix", filename: "foo-1.0.tar.gz", entries: []tarEntry{
			{name: "./", typ: tar.TypeDir}, {name: "./foo-1.0/", typ: tar.TypeDir}, {name: "./foo-1.0/PKG-INFO", body: testPkgInfo},
		}},
		{name: "git archive global header", filename: "foo-1.0.tar.gz", entries: append([]tarEntry{
			{name: "pax_global_header", typ: tar.TypeXGlobalHeader, pax: map[string]string{"comment": "abc123"}},
		}, goodSdist()...)},
		{name: "legacy name with dash", filename: "foo-bar-1.0.tar.gz", entries: []tarEntry{{name: "foo-bar-1.0/PKG-INFO", body: testPkgInfo}}},
		{name: "top directory normalised", filename: "foo_bar-1.0.tar.gz", entries: []tarEntry{{name: "Foo.Bar-1.0/PKG-INFO", body: testPkgInfo}}},
		{name: "egg-info PKG-INFO is not the one", filename: "foo-1.0.tar.gz", entries: []tarEntry{
			{name: "foo-1.0/foo.egg-info/PKG-INFO", body: "other"}, {name: "foo-1.0/PKG-INFO", body: testPkgInfo},
		}},
		{name: "symlink inside", filename: "foo-1.0.tar.gz", entries: append(goodSdist(),
			tarEntry{name: "foo-1.0/docs/README", typ: tar.TypeSymlink, link: "../setup.py"},
			tarEntry{name: "foo-1.0/self", typ: tar.TypeSymlink, link: "."})},
		{name: "hardlink inside", filename: "foo-1.0.tar.gz", entries: append(goodSdist(),
			tarEntry{name: "foo-1.0/setup2.py", typ: tar.TypeLink, link: "foo-1.0/setup.py"})},
		{name: "two top-level directories", filename: "foo-1.0.tar.gz", entries: append(goodSdist(), tarEntry{name: "bar-1.0/x", body: "x"}),
			wantErr: ErrInvalidArchive, msg: "more than one top-level entry"},
		{name: "top-level file", filename: "foo-1.0.tar.gz", entries: append(goodSdist(), tarEntry{name: "setup.py", body: "x"}),
			wantErr: ErrInvalidArchive, msg: "more than one top-level entry"},
		{name: "only a file at top level", filename: "foo-1.0.tar.gz", entries: []tarEntry{{name: "foo-1.0", body: "x"}},
			wantErr: ErrInvalidArchive, msg: "is not a directory"},
		{name: "missing PKG-INFO", filename: "foo-1.0.tar.gz", entries: []tarEntry{{name: "foo-1.0/setup.py", body: "x"}},
			wantErr: ErrInvalidArchive, msg: `"foo-1.0/PKG-INFO" not found`},
		{name: "PKG-INFO is a symlink", filename: "foo-1.0.tar.gz", entries: []tarEntry{
			{name: "foo-1.0/real", body: testPkgInfo}, {name: "foo-1.0/PKG-INFO", typ: tar.TypeSymlink, link: "real"},
		}, wantErr: ErrInvalidArchive, msg: "must be a regular file"},
		{name: "duplicate PKG-INFO", filename: "foo-1.0.tar.gz", entries: append(goodSdist(), tarEntry{name: "foo-1.0/PKG-INFO", body: "other"}),
			wantErr: ErrInvalidArchive, msg: "appears more than once"},
		{name: "empty archive", filename: "foo-1.0.tar.gz", entries: []tarEntry{},
			wantErr: ErrInvalidArchive, msg: "the archive is empty"},
		{name: "mismatched top directory name", filename: "foo-1.0.tar.gz", entries: []tarEntry{{name: "bar-1.0/PKG-INFO", body: testPkgInfo}},
			wantErr: ErrInvalidArchive, msg: "does not match the filename"},
		{name: "mismatched top directory version", filename: "foo-1.0.tar.gz", entries: []tarEntry{{name: "foo-2.0/PKG-INFO", body: testPkgInfo}},
			wantErr: ErrInvalidArchive, msg: "does not match the filename"},
		{name: "top directory without version", filename: "foo-1.0.tar.gz", entries: []tarEntry{{name: "foo/PKG-INFO", body: testPkgInfo}},
			wantErr: ErrInvalidArchive, msg: "does not match the filename"},
		{name: "dot-dot member", filename: "foo-1.0.tar.gz", entries: append(goodSdist(), tarEntry{name: "foo-1.0/../../etc/cron.d/x", body: "x"}),
			wantErr: ErrInvalidArchive, msg: `contains ".."`},
		{name: "absolute member", filename: "foo-1.0.tar.gz", entries: append(goodSdist(), tarEntry{name: "/etc/passwd", body: "x"}),
			wantErr: ErrInvalidArchive, msg: "absolute path"},
		{name: "symlink outside", filename: "foo-1.0.tar.gz", entries: append(goodSdist(), tarEntry{name: "foo-1.0/evil", typ: tar.TypeSymlink, link: "../../etc/passwd"}),
			wantErr: ErrInvalidArchive, msg: "outside the top-level directory"},
		{name: "symlink to parent of top", filename: "foo-1.0.tar.gz", entries: append(goodSdist(), tarEntry{name: "foo-1.0/up", typ: tar.TypeSymlink, link: ".."}),
			wantErr: ErrInvalidArchive, msg: "outside the top-level directory"},
		{name: "symlink absolute", filename: "foo-1.0.tar.gz", entries: append(goodSdist(), tarEntry{name: "foo-1.0/evil", typ: tar.TypeSymlink, link: "/etc/passwd"}),
			wantErr: ErrInvalidArchive, msg: "absolute path"},
		{name: "symlink escapes through another link", filename: "foo-1.0.tar.gz", entries: append(goodSdist(),
			tarEntry{name: "foo-1.0/l", typ: tar.TypeSymlink, link: "."},
			tarEntry{name: "foo-1.0/l/l/x", typ: tar.TypeSymlink, link: "../.."}),
			wantErr: ErrInvalidArchive, msg: "outside the top-level directory"},
		{name: "symlink loop", filename: "foo-1.0.tar.gz", entries: append(goodSdist(),
			tarEntry{name: "foo-1.0/a", typ: tar.TypeSymlink, link: "b"},
			tarEntry{name: "foo-1.0/b", typ: tar.TypeSymlink, link: "a"}),
			wantErr: ErrInvalidArchive, msg: "a loop of links"},
		{name: "symlink through a link to a directory", filename: "foo-1.0.tar.gz", entries: append(goodSdist(),
			tarEntry{name: "foo-1.0/pkg", typ: tar.TypeSymlink, link: "foo"},
			tarEntry{name: "foo-1.0/docs/init", typ: tar.TypeSymlink, link: "../pkg/__init__.py"})},
		{name: "hardlink outside", filename: "foo-1.0.tar.gz", entries: append(goodSdist(), tarEntry{name: "foo-1.0/evil", typ: tar.TypeLink, link: "../etc/passwd"}),
			wantErr: ErrInvalidArchive, msg: "outside the top-level directory"},
		{name: "hardlink to another top", filename: "foo-1.0.tar.gz", entries: append(goodSdist(), tarEntry{name: "foo-1.0/evil", typ: tar.TypeLink, link: "etc/passwd"}),
			wantErr: ErrInvalidArchive, msg: "outside the top-level directory"},
		{name: "device file", filename: "foo-1.0.tar.gz", entries: append(goodSdist(), tarEntry{name: "foo-1.0/dev", typ: tar.TypeChar}),
			wantErr: ErrInvalidArchive, msg: "only files, directories and links"},
		{name: "bomb", filename: "foo-1.0.tar.gz", entries: append(goodSdist(), tarEntry{name: "foo-1.0/zeros.bin", body: zeros}),
			lim: Limits{MaxTotalSize: 64 << 10}, wantErr: ErrArchiveTooLarge, msg: "unpacks to more than 65536 bytes"},
		{name: "too many entries", filename: "foo-1.0.tar.gz", entries: goodSdist(),
			lim: Limits{MaxEntries: 3}, wantErr: ErrArchiveTooLarge, msg: "more than 3 members"},
		{name: "PKG-INFO too large", filename: "foo-1.0.tar.gz", entries: goodSdist(),
			lim: Limits{MaxMetadataSize: 10}, wantErr: ErrArchiveTooLarge, msg: "larger than 10 bytes"},
		{name: "too slow", filename: "foo-1.0.tar.gz", entries: goodSdist(),
			lim: Limits{MaxDuration: 3 * time.Second, now: fakeClock(time.Second)}, wantErr: ErrArchiveTooLarge, msg: "took longer than 3s"},
		{name: "not gzip", filename: "foo-1.0.tar.gz", raw: makeTar(t, goodSdist()),
			wantErr: ErrInvalidArchive, msg: "not gzip-compressed"},
		{name: "zip named tar.gz", filename: "foo-1.0.tar.gz", raw: makeZip(t, goodSdistZip()),
			wantErr: ErrInvalidArchive, msg: "is a zip archive, not a .tar.gz"},
		{name: "zip inside gzip", filename: "foo-1.0.tar.gz", raw: gzipBytes(t, makeZip(t, goodSdistZip())),
			wantErr: ErrInvalidArchive, msg: "contains a zip archive"},
		{name: "tar.gz and zip polyglot", filename: "foo-1.0.tar.gz", raw: append(append([]byte{}, goodTarGz...), makeZip(t, goodSdistZip())...),
			wantErr: ErrInvalidArchive, msg: "both a tar.gz and a zip archive"},
		{name: "data after tar inside gzip", filename: "foo-1.0.tar.gz", raw: gzipBytes(t, append(makeTar(t, goodSdist()), "trailing"...)),
			wantErr: ErrInvalidArchive, msg: "data after the end of the tar archive"},
		{name: "garbage after gzip", filename: "foo-1.0.tar.gz", raw: append(append([]byte{}, goodTarGz...), "garbage"...),
			wantErr: ErrInvalidArchive, msg: "compressed stream is invalid"},
		{name: "truncated", filename: "foo-1.0.tar.gz", raw: goodTarGz[:len(goodTarGz)/2],
			wantErr: ErrInvalidArchive, msg: "Invalid sdist"},
		{name: "GNU sparse file", filename: "foo-1.0.tar.gz", raw: gzipBytes(t, sparseTar(t)),
			wantErr: ErrInvalidArchive, msg: "sparse"},
		{name: "PAX sparse file", filename: "foo-1.0.tar.gz", raw: gzipBytes(t, paxSparseTar(t)),
			wantErr: ErrInvalidArchive, msg: "sparse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.raw
			if data == nil {
				data = gzipBytes(t, makeTar(t, tt.entries))
			}
			got, err := ReadSdistMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, tt.filename), tt.lim)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ReadSdistMetadata: %v", err)
				}
				if diff := cmp.Diff(testPkgInfo, string(got)); diff != "" {
					t.Errorf("PKG-INFO (-want +got):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadSdistMetadata error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ReadSdistMetadata error = %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

// TestReadSdistLinkWorkBounded: many links with long targets cost link
// resolution steps, which are capped like bytes are.
func TestReadSdistLinkWorkBounded(t *testing.T) {
	entries := goodSdist()
	target := strings.Repeat("./", 505) + "setup.py"
	for i := range 2200 {
		entries = append(entries, tarEntry{name: fmt.Sprintf("foo-1.0/l%d", i), typ: tar.TypeSymlink, link: target})
	}
	data := gzipBytes(t, makeTar(t, entries))
	_, err := ReadSdistMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, "foo-1.0.tar.gz"), Limits{})
	if !errors.Is(err, ErrArchiveTooLarge) || !strings.Contains(err.Error(), "links take too long") {
		t.Errorf("error = %v, want ErrArchiveTooLarge about links", err)
	}
}

// sparseTar returns a tar whose one member is an old GNU sparse file, which
// Go's tar writer cannot produce: the header is patched by hand.
func sparseTar(t testing.TB) []byte {
	t.Helper()
	b := makeTar(t, []tarEntry{{name: "foo-1.0/PKG-INFO", body: testPkgInfo}})
	h := b[:512]
	h[156] = tar.TypeGNUSparse
	// GNU format: magic "ustar  \x00".
	copy(h[257:265], "ustar  \x00")
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	copy(h[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// paxSparseTar returns a tar holding a GNU PAX 1.0 sparse file that expands
// to a gigabyte from one byte of data. Go's tar writer drops GNU.sparse
// records, so they are written under another prefix and renamed in place.
func paxSparseTar(t testing.TB) []byte {
	t.Helper()
	sparseMap := "1\n999999999\n1\n"
	body := sparseMap + strings.Repeat("\x00", 512-len(sparseMap)) + "x"
	b := makeTar(t, append(goodSdist(), tarEntry{
		name: "foo-1.0/holes", body: body,
		pax: map[string]string{"QQQ.sparse.major": "1", "QQQ.sparse.minor": "0", "QQQ.sparse.name": "foo-1.0/holes", "QQQ.sparse.realsize": "1000000000"},
	}))
	return bytes.ReplaceAll(b, []byte("QQQ.sparse."), []byte("GNU.sparse."))
}

func TestReadSdistMetadataZip(t *testing.T) {
	zeros := strings.Repeat("\x00", 1<<20)
	tarZipPolyglot := makeZip(t, append([]zipEntry{
		// The first member's name covers offset 257 of the file, where a
		// tar reader looks for "ustar".
		{name: "foo-1.0/" + strings.Repeat("a", 257-30-8) + "ustar" + strings.Repeat("b", 250), body: "x"},
	}, goodSdistZip()...))
	tests := []struct {
		name     string
		filename string
		entries  []zipEntry
		raw      []byte
		lim      Limits
		wantErr  error
		msg      string
	}{
		{name: "good zip sdist", filename: "foo-1.0.zip", entries: goodSdistZip()},
		{name: "symlink inside", filename: "foo-1.0.zip", entries: append(goodSdistZip(), zipEntry{name: "foo-1.0/link", body: "setup.py", mode: fs.ModeSymlink | 0o777})},
		{name: "symlink outside", filename: "foo-1.0.zip", entries: append(goodSdistZip(), zipEntry{name: "foo-1.0/link", body: "../../etc/passwd", mode: fs.ModeSymlink | 0o777}),
			wantErr: ErrInvalidArchive, msg: "outside the top-level directory"},
		{name: "PKG-INFO is a symlink", filename: "foo-1.0.zip", entries: []zipEntry{
			{name: "foo-1.0/real", body: testPkgInfo}, {name: "foo-1.0/PKG-INFO", body: "real", mode: fs.ModeSymlink | 0o777},
		}, wantErr: ErrInvalidArchive, msg: "must be a regular file"},
		{name: "two top-level directories", filename: "foo-1.0.zip", entries: append(goodSdistZip(), zipEntry{name: "other/x"}),
			wantErr: ErrInvalidArchive, msg: "more than one top-level entry"},
		{name: "missing PKG-INFO", filename: "foo-1.0.zip", entries: without(goodSdistZip(), "foo-1.0/PKG-INFO"),
			wantErr: ErrInvalidArchive, msg: "not found"},
		{name: "mismatched top directory", filename: "foo-1.1.zip", entries: goodSdistZip(),
			wantErr: ErrInvalidArchive, msg: "does not match the filename"},
		{name: "dot-dot member", filename: "foo-1.0.zip", entries: append(goodSdistZip(), zipEntry{name: "foo-1.0/../x"}),
			wantErr: ErrInvalidArchive, msg: `contains ".."`},
		{name: "bomb", filename: "foo-1.0.zip", entries: append(goodSdistZip(), zipEntry{name: "foo-1.0/zeros", body: zeros}),
			lim: Limits{MaxTotalSize: 64 << 10}, wantErr: ErrArchiveTooLarge, msg: "unpacks to more than"},
		{name: "too many entries", filename: "foo-1.0.zip", entries: goodSdistZip(),
			lim: Limits{MaxEntries: 2}, wantErr: ErrArchiveTooLarge, msg: "more than 2 members"},
		{name: "gzip named zip", filename: "foo-1.0.zip", raw: gzipBytes(t, makeTar(t, goodSdist())),
			wantErr: ErrInvalidArchive, msg: "gzip-compressed, not a zip"},
		{name: "tar named zip", filename: "foo-1.0.zip", raw: makeTar(t, goodSdist()),
			wantErr: ErrInvalidArchive, msg: "a tar archive, not a zip"},
		{name: "zip and tar polyglot", filename: "foo-1.0.zip", raw: tarZipPolyglot,
			wantErr: ErrInvalidArchive, msg: "both a zip and a tar archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.raw
			if data == nil {
				data = makeZip(t, tt.entries)
			}
			got, err := ReadSdistMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, tt.filename), tt.lim)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ReadSdistMetadata: %v", err)
				}
				if diff := cmp.Diff(testPkgInfo, string(got)); diff != "" {
					t.Errorf("PKG-INFO (-want +got):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadSdistMetadata error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("ReadSdistMetadata error = %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

func TestReadSdistMetadataWrongKind(t *testing.T) {
	data := gzipBytes(t, makeTar(t, goodSdist()))
	_, err := ReadSdistMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, "foo-1.0-py3-none-any.whl"), Limits{})
	if !errors.Is(err, ErrInvalidArchive) {
		t.Errorf("error = %v, want ErrInvalidArchive", err)
	}
}

func TestIsTarHeader(t *testing.T) {
	ustar := makeTar(t, goodSdist())
	v7 := append([]byte{}, ustar[:512]...)
	// Turn the header into an old V7 one: no magic, checksum only.
	for i := 257; i < 512; i++ {
		v7[i] = 0
	}
	copy(v7[148:156], "        ")
	var sum int64
	for _, c := range v7 {
		sum += int64(c)
	}
	copy(v7[148:156], fmt.Sprintf("%06o\x00 ", sum))
	badSum := append([]byte{}, v7...)
	badSum[0] ^= 1

	tests := []struct {
		name  string
		block []byte
		want  bool
	}{
		{"ustar", ustar, true},
		{"v7 with a valid checksum", v7, true},
		{"v7 with a wrong checksum", badSum, false},
		{"zip", makeZip(t, goodSdistZip()), false},
		{"zeros", make([]byte, 512), false},
		{"short", []byte("ustar"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, isTarHeader(tt.block)); diff != "" {
				t.Errorf("isTarHeader (-want +got):\n%s", diff)
			}
		})
	}
}

func TestZipEntryCountBeforeParsing(t *testing.T) {
	entries := make([]zipEntry, 0, 100)
	for i := range 100 {
		entries = append(entries, zipEntry{name: fmt.Sprintf("f%d", i), store: true})
	}
	data := makeZip(t, entries)
	tail, off, err := zipTail(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	n, ok := zipEntryCount(bytes.NewReader(data), tail, off)
	if diff := cmp.Diff([2]any{uint64(100), true}, [2]any{n, ok}); diff != "" {
		t.Errorf("zipEntryCount (-want +got):\n%s", diff)
	}
}

func TestDefaultLimits(t *testing.T) {
	want := Limits{MaxEntries: 50_000, MaxTotalSize: 512 << 20, MaxMetadataSize: 10 << 20, MaxDuration: 30 * time.Second, RatioMinSize: 64 << 20, MaxRatio: 50}
	if diff := cmp.Diff(want, DefaultLimits(), cmp.AllowUnexported(Limits{})); diff != "" {
		t.Errorf("DefaultLimits (-want +got):\n%s", diff)
	}
	got := Limits{MaxEntries: 7}.withDefaults()
	if got.MaxEntries != 7 || got.MaxTotalSize != want.MaxTotalSize || got.MaxDuration != want.MaxDuration || got.now == nil {
		t.Errorf("withDefaults did not keep the set field and fill the others: %+v", got)
	}
}

// TestSdistTopDirectory: the top-level directory must be the filename's
// stem, compared as PyPI compares names and versions (normalised name,
// version by value), so that every backend's spelling passes and no other
// release does.
func TestSdistTopDirectory(t *testing.T) {
	tests := []struct {
		filename, top string
		ok            bool
	}{
		{"demo_st-1.0.tar.gz", "demo_st-1.0", true},        // PEP 625: setuptools >= 69, flit, hatchling, poetry-core
		{"demo-st-1.0.tar.gz", "demo-st-1.0", true},        // older setuptools
		{"demo_st-1.0.tar.gz", "demo-st-1.0", true},        // the same name, spelled the other way
		{"Demo.St-1.0.tar.gz", "demo_st-1.0", true},        // and with capitals and a dot
		{"demo_st-1.0.tar.gz", "demo_st-1.0.0", true},      // the same version by value
		{"demo_st-1.0rc1.tar.gz", "demo_st-1.0-rc1", true}, // non-canonical spelling of it
		{"demo_st-1.0.tar.gz", "demo_st-1.0.post1", false},
		{"demo_st-1.0.tar.gz", "demo_st-1.0+local", false},
		{"demo_st-1.0.tar.gz", "demo-1.0", false},
		{"demo_st-1.0.tar.gz", "demo_st-tools-1.0", false},
		{"demo_st-1.0.tar.gz", "demo_st-1.0-extra", false},
		{"demo_st-1.0.tar.gz", "demo_st", false},
		{"demo_st-1.0.tar.gz", "src", false},
	}
	for _, tt := range tests {
		t.Run(tt.filename+" "+tt.top, func(t *testing.T) {
			data := gzipBytes(t, makeTar(t, []tarEntry{{name: tt.top + "/PKG-INFO", body: testPkgInfo}}))
			_, err := ReadSdistMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, tt.filename), Limits{})
			if tt.ok {
				if err != nil {
					t.Errorf("ReadSdistMetadata: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidArchive) || !strings.Contains(err.Error(), "does not match the filename") {
				t.Errorf("error = %v, want the top-level directory refused", err)
			}
		})
	}
}
