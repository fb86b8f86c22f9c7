// Package disttest builds real wheels and sdists in memory for tests, and the multipart form twine sends to upload
// them.
package disttest

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"mime/multipart"
	"slices"
	"strings"

	"golang.org/x/crypto/blake2b"
)

// Metadata returns a core metadata 2.1 document.
func Metadata(name, version string, extra ...string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: A test distribution\n", name, version)
	fmt.Fprintf(&b, "Requires-Python: >=3.8\n")
	for _, e := range extra {
		b.WriteString(e + "\n")
	}
	b.WriteString("Description-Content-Type: text/markdown\n\n# " + name + "\n\nA package built by a test.\n")
	return []byte(b.String())
}

// WheelName is the PEP 427 filename of a pure-Python wheel.
func WheelName(name, version string) string {
	return fmt.Sprintf("%s-%s-py3-none-any.whl", strings.ReplaceAll(strings.ReplaceAll(name, "-", "_"), ".", "_"), version)
}

// SdistName is the PEP 625 filename of an sdist.
func SdistName(name, version string) string {
	return fmt.Sprintf("%s-%s.tar.gz", strings.ReplaceAll(strings.ReplaceAll(name, "-", "_"), ".", "_"), version)
}

// Wheel returns a valid wheel; members replaces or adds entries (a nil value removes one). Keys of members are
// relative to the archive root. The RECORD lists every member with its hash, as build backends write it, unless
// members gives the RECORD itself.
func Wheel(name, version string, metadata []byte, members map[string][]byte) []byte {
	distInfo := strings.ReplaceAll(strings.ReplaceAll(name, "-", "_"), ".", "_") + "-" + version + ".dist-info/"
	module := strings.ToLower(strings.ReplaceAll(strings.ReplaceAll(name, "-", "_"), ".", "_"))
	files := map[string][]byte{
		module + "/__init__.py": []byte("VALUE = 1\n"),
		distInfo + "METADATA":   metadata,
		distInfo + "WHEEL":      []byte("Wheel-Version: 1.0\nGenerator: disttest\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
	}
	for k, v := range members {
		if v == nil {
			delete(files, k)
		} else {
			files[k] = v
		}
	}
	record, given := members[distInfo+"RECORD"]
	if !given {
		files[distInfo+"RECORD"] = Record(files, distInfo+"RECORD")
	} else if record == nil {
		delete(files, distInfo+"RECORD")
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, k := range sortedKeys(files) {
		w, err := zw.Create(k)
		if err != nil {
			panic(err)
		}
		w.Write(files[k])
	}
	if err := zw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Record is the RECORD file of a wheel with files (PEP 376 / PEP 427): each member with its urlsafe-base64 sha256
// and size, and the RECORD itself (named record) without either.
func Record(files map[string][]byte, record string) []byte {
	var b strings.Builder
	for _, k := range sortedKeys(files) {
		if k == record {
			continue
		}
		sum := sha256.Sum256(files[k])
		fmt.Fprintf(&b, "%s,sha256=%s,%d\n", k, base64.RawURLEncoding.EncodeToString(sum[:]), len(files[k]))
	}
	b.WriteString(record + ",,\n")
	return []byte(b.String())
}

// Sdist returns a valid .tar.gz sdist with PKG-INFO under one top-level directory; members as for Wheel, relative
// to the archive root (so a test can add a second top-level directory).
func Sdist(name, version string, metadata []byte, members map[string][]byte) []byte {
	top := strings.ReplaceAll(strings.ReplaceAll(name, "-", "_"), ".", "_") + "-" + version + "/"
	files := map[string][]byte{
		top + "PKG-INFO":       metadata,
		top + "pyproject.toml": []byte("[project]\nname = \"" + name + "\"\n"),
	}
	for k, v := range members {
		if v == nil {
			delete(files, k)
		} else {
			files[k] = v
		}
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, k := range sortedKeys(files) {
		tw.WriteHeader(&tar.Header{Name: k, Mode: 0o644, Size: int64(len(files[k])), Typeflag: tar.TypeReg})
		tw.Write(files[k])
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func sortedKeys(m map[string][]byte) []string { return slices.Sorted(maps.Keys(m)) }

// Form is an upload as twine sends it.
type Form struct {
	Fields   [][2]string // in order; repeated names allowed
	Filename string
	Content  []byte
}

// UploadForm returns the fields twine 4 sends for a file, with all three digests.
func UploadForm(name, version, filename string, content []byte) *Form {
	filetype, pyversion := "sdist", "source"
	if strings.HasSuffix(filename, ".whl") {
		filetype, pyversion = "bdist_wheel", "py3"
	}
	sha := sha256.Sum256(content)
	m := md5.Sum(content)
	b2 := blake2b.Sum256(content)
	return &Form{
		Fields: [][2]string{
			{"name", name}, {"version", version}, {"filetype", filetype}, {"pyversion", pyversion},
			{"metadata_version", "2.1"}, {"summary", "A test distribution"}, {"requires_python", ">=3.8"},
			{":action", "file_upload"}, {"protocol_version", "1"},
			{"sha256_digest", hex.EncodeToString(sha[:])}, {"md5_digest", hex.EncodeToString(m[:])},
			{"blake2_256_digest", hex.EncodeToString(b2[:])},
		},
		Filename: filename, Content: content,
	}
}

// Set replaces a field (or removes it with value "").
func (f *Form) Set(name, value string) *Form {
	out := f.Fields[:0:0]
	for _, kv := range f.Fields {
		if kv[0] != name {
			out = append(out, kv)
		}
	}
	if value != "" {
		out = append(out, [2]string{name, value})
	}
	f.Fields = out
	return f
}

// Encode returns the multipart body and its content type.
func (f *Form) Encode() ([]byte, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, kv := range f.Fields {
		mw.WriteField(kv[0], kv[1])
	}
	if f.Content != nil {
		h := make(map[string][]string)
		h["Content-Disposition"] = []string{fmt.Sprintf(`form-data; name="content"; filename="%s"`, strings.ReplaceAll(f.Filename, `"`, `\"`))}
		h["Content-Type"] = []string{"application/octet-stream"}
		w, _ := mw.CreatePart(h)
		w.Write(f.Content)
	}
	mw.Close()
	return buf.Bytes(), mw.FormDataContentType()
}
