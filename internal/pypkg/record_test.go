package pypkg

import (
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

// recordLine is the RECORD line for a member with body, hashed with algo.
func recordLine(name, algo, body string) string {
	var sum []byte
	switch algo {
	case "sha256":
		s := sha256.Sum256([]byte(body))
		sum = s[:]
	case "sha384":
		s := sha512.Sum384([]byte(body))
		sum = s[:]
	case "sha512":
		s := sha512.Sum512([]byte(body))
		sum = s[:]
	case "md5":
		s := md5.Sum([]byte(body))
		sum = s[:]
	}
	return fmt.Sprintf("%s,%s=%s,%d\n", csvField(name), algo, base64.RawURLEncoding.EncodeToString(sum), len(body))
}

// wheelWithRecord returns goodWheel plus extra members, with RECORD set to
// the lines for goodWheel's own members followed by record.
func wheelWithRecord(record string, extra ...zipEntry) []zipEntry {
	entries := append(goodWheel(), extra...)
	var base strings.Builder
	for _, e := range goodWheel() {
		if strings.HasSuffix(e.name, "/RECORD") {
			base.WriteString(e.name + ",,\n")
		} else {
			base.WriteString(recordLine(e.name, "sha256", e.body))
		}
	}
	for i := range entries {
		if strings.HasSuffix(entries[i].name, "/RECORD") {
			entries[i].body = base.String() + record
		}
	}
	return entries
}

func TestReadWheelRecord(t *testing.T) {
	const body = "print('hi')\n"
	tests := []struct {
		name    string
		entries []zipEntry
		lim     Limits
		wantErr error
		msg     string
	}{
		{name: "sha384 and sha512", entries: wheelWithRecord(recordLine("foo/a.py", "sha384", body)+recordLine("foo/b.py", "sha512", body),
			zipEntry{name: "foo/a.py", body: body}, zipEntry{name: "foo/b.py", body: body})},
		{name: "path with a comma and a quote, quoted as Python's csv does", entries: wheelWithRecord(recordLine(`foo/a,"b".txt`, "sha256", body),
			zipEntry{name: `foo/a,"b".txt`, body: body})},
		{name: "unquoted path with a comma, as flit_core writes it", entries: wheelWithRecord(strings.Replace(recordLine("foo/a,b.txt", "sha256", body), `"foo/a,b.txt"`, "foo/a,b.txt", 1),
			zipEntry{name: "foo/a,b.txt", body: body})},
		{name: "CRLF line ends", entries: wheelWithRecord(strings.ReplaceAll(recordLine("foo/a.py", "sha256", body), "\n", "\r\n"),
			zipEntry{name: "foo/a.py", body: body})},
		{name: "no sizes", entries: wheelWithRecord(strings.TrimSuffix(recordLine("foo/a.py", "sha256", body), "12\n")+"\n",
			zipEntry{name: "foo/a.py", body: body})},
		{name: "signature files without hashes", entries: wheelWithRecord("foo-1.0.dist-info/RECORD.jws,,\nfoo-1.0.dist-info/RECORD.p7s,,\n",
			zipEntry{name: "foo-1.0.dist-info/RECORD.jws", body: "sig"}, zipEntry{name: "foo-1.0.dist-info/RECORD.p7s", body: "sig"})},
		{name: "directories need no line", entries: wheelWithRecord("", zipEntry{name: "foo/"}, zipEntry{name: "foo/sub/"})},

		{name: "missing RECORD", entries: without(withRecord(goodWheel()), "foo-1.0.dist-info/RECORD"),
			wantErr: ErrInvalidArchive, msg: `"foo-1.0.dist-info/RECORD" not found`},
		{name: "empty RECORD", entries: func() []zipEntry {
			e := goodWheel()
			e[3].body = "\n"
			return e
		}(), wantErr: ErrInvalidArchive, msg: "does not list"},
		{name: "file not listed", entries: wheelWithRecord("", zipEntry{name: "foo/evil.py", body: body}),
			wantErr: ErrInvalidArchive, msg: `does not list "foo/evil.py"; every file in a wheel must be listed in RECORD`},
		{name: "RECORD not listing itself", entries: func() []zipEntry {
			e := wheelWithRecord("")
			e[3].body = strings.Replace(e[3].body, "foo-1.0.dist-info/RECORD,,\n", "", 1)
			return e
		}(), wantErr: ErrInvalidArchive, msg: `does not list "foo-1.0.dist-info/RECORD"`},
		{name: "listed file absent", entries: wheelWithRecord(recordLine("foo/gone.py", "sha256", body)),
			wantErr: ErrInvalidArchive, msg: `lists "foo/gone.py", which the wheel does not contain`},
		{name: "directory listed", entries: wheelWithRecord("foo/,,\n", zipEntry{name: "foo/"}),
			wantErr: ErrInvalidArchive, msg: `lists "foo/", which the wheel does not contain`},
		{name: "listed twice", entries: wheelWithRecord(recordLine("foo/a.py", "sha256", body)+recordLine("foo/a.py", "sha256", body), zipEntry{name: "foo/a.py", body: body}),
			wantErr: ErrInvalidArchive, msg: `lists "foo/a.py" more than once`},
		{name: "md5", entries: wheelWithRecord(recordLine("foo/a.py", "md5", body), zipEntry{name: "foo/a.py", body: body}),
			wantErr: ErrInvalidArchive, msg: "md5 hash; md5 and sha1 are not allowed"},
		{name: "sha1", entries: wheelWithRecord("foo/a.py,sha1=AAAA,12\n", zipEntry{name: "foo/a.py", body: body}),
			wantErr: ErrInvalidArchive, msg: "sha1 hash; md5 and sha1 are not allowed"},
		{name: "unknown algorithm", entries: wheelWithRecord("foo/a.py,sha224=AAAA,12\n", zipEntry{name: "foo/a.py", body: body}),
			wantErr: ErrInvalidArchive, msg: `unsupported algorithm "sha224"`},
		{name: "hash without algorithm", entries: wheelWithRecord("foo/a.py,AAAA,12\n", zipEntry{name: "foo/a.py", body: body}),
			wantErr: ErrInvalidArchive, msg: "not of the form algorithm=value"},
		{name: "no hash", entries: wheelWithRecord("foo/a.py,,12\n", zipEntry{name: "foo/a.py", body: body}),
			wantErr: ErrInvalidArchive, msg: `gives no hash for "foo/a.py"`},
		{name: "hash for RECORD itself", entries: func() []zipEntry {
			e := wheelWithRecord("")
			e[3].body = strings.Replace(e[3].body, "RECORD,,", "RECORD,sha256=AAAA,", 1)
			return e
		}(), wantErr: ErrInvalidArchive, msg: "gives a hash for itself"},
		{name: "wrong hash", entries: wheelWithRecord(recordLine("foo/a.py", "sha256", "other"), zipEntry{name: "foo/a.py", body: body}),
			wantErr: ErrInvalidArchive, msg: `"foo/a.py" does not match its hash in RECORD`},
		{name: "hash of a member checked even for METADATA", entries: func() []zipEntry {
			e := wheelWithRecord("")
			e[1].body = strings.Replace(testMetadata, "1.0", "1.00", 1)
			return e
		}(), wantErr: ErrInvalidArchive, msg: `"foo-1.0.dist-info/METADATA" does not match its hash`},
		{name: "padded hash", entries: wheelWithRecord(strings.Replace(recordLine("foo/a.py", "sha256", body), ",12", "=,12", 1), zipEntry{name: "foo/a.py", body: body}),
			wantErr: ErrInvalidArchive, msg: "does not match its hash"},
		{name: "wrong size", entries: wheelWithRecord(strings.Replace(recordLine("foo/a.py", "sha256", body), ",12", ",13", 1), zipEntry{name: "foo/a.py", body: body}),
			wantErr: ErrInvalidArchive, msg: `"foo/a.py" is 12 bytes, but RECORD says 13`},
		{name: "size not a number", entries: wheelWithRecord(strings.Replace(recordLine("foo/a.py", "sha256", body), ",12", ",-12", 1), zipEntry{name: "foo/a.py", body: body}),
			wantErr: ErrInvalidArchive, msg: "not a number of bytes"},
		{name: "two fields", entries: wheelWithRecord("foo/a.py,sha256=AAAA\n", zipEntry{name: "foo/a.py", body: body}),
			wantErr: ErrInvalidArchive, msg: "has 2 fields; each line must be path,hash,size"},
		{name: "extra field read as part of the path", entries: wheelWithRecord(strings.Replace(recordLine("foo/a.py", "sha256", body), "foo/a.py", "foo/a.py,x", 1), zipEntry{name: "foo/a.py", body: body}),
			wantErr: ErrInvalidArchive, msg: `does not list "foo/a.py"`},
		{name: "not CSV", entries: wheelWithRecord("foo/\"a.py,,\n", zipEntry{name: "foo/\"a.py", body: body}),
			wantErr: ErrInvalidArchive, msg: "is not valid CSV"},
		{name: "RECORD too large", entries: wheelWithRecord(""), lim: Limits{MaxMetadataSize: 100},
			wantErr: ErrArchiveTooLarge, msg: "RECORD\" is larger than 100 bytes"},
		{name: "file that is a directory by its mode only", entries: wheelWithRecord("foo/d,,\n", zipEntry{name: "foo/d", mode: fs.ModeDir | 0o755}),
			wantErr: ErrInvalidArchive, msg: `member "foo/d" is marked as a directory, but its name does not end with "/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := readWheel(t, tt.entries, tt.lim)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("ReadWheelMetadata: %v", err)
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

// TestParseRecordBounded: RECORD may not list more lines than the wheel
// has files, however short its lines.
func TestParseRecordBounded(t *testing.T) {
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "f%d,,\n", i)
	}
	_, err := parseRecord([]byte(b.String()), "x.dist-info/RECORD", 10)
	if !errors.Is(err, ErrInvalidArchive) || !strings.Contains(err.Error(), "more files than the wheel contains") {
		t.Errorf("error = %v, want RECORD refused as longer than the wheel", err)
	}
}

func TestCheckWheelFile(t *testing.T) {
	tests := []struct {
		name     string
		filename string
		wheel    string
		msg      string // "": accepted
	}{
		{name: "setuptools bdist_wheel", filename: "foo-1.0-py3-none-any.whl",
			wheel: "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.38.4)\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n"},
		{name: "hatchling, one line per tag", filename: "foo-1.0-py2.py3-none-any.whl",
			wheel: "Wheel-Version: 1.0\nGenerator: hatchling 1.12.2\nRoot-Is-Purelib: true\nTag: py2-none-any\nTag: py3-none-any\n"},
		{name: "poetry-core, compressed tag line", filename: "foo-1.0-py2.py3-none-any.whl",
			wheel: "Wheel-Version: 1.0\nGenerator: poetry-core 1.4.0\nRoot-Is-Purelib: true\nTag: py2.py3-none-any\n"},
		{name: "maturin, several platforms", filename: "foo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
			wheel: "Wheel-Version: 1.0\nGenerator: maturin (1.4.0)\nRoot-Is-Purelib: false\nTag: cp311-cp311-manylinux_2_17_x86_64\nTag: cp311-cp311-manylinux2014_x86_64\n"},
		{name: "abi3 and several pythons", filename: "foo-1.0-cp38.cp39-abi3-win_amd64.whl",
			wheel: "Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: cp38-abi3-win_amd64\nTag: cp39-abi3-win_amd64\n"},
		{name: "repeated tag line", filename: "foo-1.0-py3-none-any.whl",
			wheel: "Wheel-Version: 1.0\nTag: py3-none-any\nTag: py3-none-any\n"},
		{name: "CRLF and other key case", filename: "foo-1.0-py3-none-any.whl",
			wheel: "wheel-version: 1.0\r\ntag: py3-none-any\r\n"},
		{name: "later minor version", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 1.9\nTag: py3-none-any\n"},
		{name: "major version only", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 1\nTag: py3-none-any\n"},
		{name: "matching build", filename: "foo-1.0-2-py3-none-any.whl", wheel: "Wheel-Version: 1.0\nBuild: 2\nTag: py3-none-any\n"},
		{name: "build tag in the filename only", filename: "foo-1.0-2-py3-none-any.whl", wheel: "Wheel-Version: 1.0\nTag: py3-none-any\n"},

		{name: "no Wheel-Version", filename: "foo-1.0-py3-none-any.whl", wheel: "Tag: py3-none-any\n",
			msg: "has no Wheel-Version line"},
		{name: "Wheel-Version 2", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 2.0\nTag: py3-none-any\n",
			msg: `the wheel format version "2.0" (Wheel-Version in "foo-1.0.dist-info/WHEEL") is not supported; only version 1.x wheels`},
		{name: "Wheel-Version 0", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 0.9\nTag: py3-none-any\n",
			msg: "is not supported"},
		{name: "Wheel-Version not a number", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: one\nTag: py3-none-any\n",
			msg: "is not a version number"},
		{name: "two Wheel-Version lines", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 1.0\nWheel-Version: 2.0\nTag: py3-none-any\n",
			msg: "more than one Wheel-Version"},
		{name: "other tag", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 1.0\nTag: cp311-cp311-linux_x86_64\n",
			msg: `the filename's tags (py3-none-any) do not match the Tag lines of "foo-1.0.dist-info/WHEEL" (cp311-cp311-linux_x86_64)`},
		{name: "more tags than the filename", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 1.0\nTag: py2-none-any\nTag: py3-none-any\n",
			msg: "(py3-none-any) do not match the Tag lines of \"foo-1.0.dist-info/WHEEL\" (py2-none-any, py3-none-any)"},
		{name: "fewer tags than the filename", filename: "foo-1.0-py2.py3-none-any.whl", wheel: "Wheel-Version: 1.0\nTag: py3-none-any\n",
			msg: "do not match"},
		{name: "no Tag lines", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 1.0\n",
			msg: "(none)"},
		{name: "tag after the blank line that ends the headers", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 1.0\n\nTag: py3-none-any\n",
			msg: "(none)"},
		{name: "invalid tag line", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 1.0\nTag: py3-none\n",
			msg: `invalid Tag line "py3-none"`},
		{name: "too many tags", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 1.0\nTag: " + strings.Repeat("a.", 20) + "a-" + strings.Repeat("b.", 20) + "b-" + strings.Repeat("c.", 20) + "c\n",
			msg: "more than 4096 tags"},
		{name: "other build", filename: "foo-1.0-2-py3-none-any.whl", wheel: "Wheel-Version: 1.0\nBuild: 3\nTag: py3-none-any\n",
			msg: `build tag "2" does not match the Build line`},
		{name: "build in WHEEL only", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 1.0\nBuild: 1\nTag: py3-none-any\n",
			msg: `has Build "1", but the filename has no build tag`},
		{name: "not a header line", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 1.0\nTag py3-none-any\n",
			msg: "line 2 of \"foo-1.0.dist-info/WHEEL\" is not a \"Key: value\" line"},
		{name: "continuation line", filename: "foo-1.0-py3-none-any.whl", wheel: "Wheel-Version: 1.0\nTag: py3-none-any\n py2-none-any\n",
			msg: "line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkWheelFile([]byte(tt.wheel), "foo-1.0.dist-info/WHEEL", mustFilename(t, tt.filename))
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("checkWheelFile: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidArchive) {
				t.Fatalf("checkWheelFile error = %v, want ErrInvalidArchive", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("checkWheelFile error = %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

// TestReadWheelTagsChecked: through ReadWheelMetadata, a wheel renamed to
// other tags is refused.
func TestReadWheelTagsChecked(t *testing.T) {
	data := makeWheel(t, goodWheel())
	_, err := ReadWheelMetadata(strings.NewReader(string(data)), int64(len(data)), mustFilename(t, "foo-1.0-cp312-cp312-win_amd64.whl"), Limits{})
	if !errors.Is(err, ErrInvalidArchive) || !strings.Contains(err.Error(), "(cp312-cp312-win_amd64) do not match") {
		t.Errorf("error = %v, want the tags refused", err)
	}
}
