// Package pages renders the simple API's pages of a project (PEP 503 HTML and PEP 691 JSON, each plain and gzip)
// and of the index root.
//
// A project's pages change only when the project changes, so they are rendered when it changes: the store calls
// Render in the transaction that moves the project's serial and keeps the bodies beside the rows they come from.
// Reading a page is then one key lookup, on every instance that shares the database, from the moment the
// transaction commits. ARCHITECTURE.md tells why.
package pages

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"

	"wharf/internal/pypkg"
)

// Kind names one stored form of a page. text/html and the v1+html type share the HTML bytes.
type Kind uint8

const (
	HTML Kind = iota
	HTMLGzip
	JSON
	JSONGzip
	NumKinds
)

// KindOf is the form of a page for a client that asked for JSON or not, and takes gzip or not.
func KindOf(json, gzip bool) Kind {
	k := HTML
	if json {
		k = JSON
	}
	if gzip {
		k++
	}
	return k
}

// Gzip reports whether k is a compressed form.
func (k Kind) Gzip() bool { return k == HTMLGzip || k == JSONGzip }

// JSON reports whether k is a form of the PEP 691 JSON page.
func (k Kind) JSON() bool { return k == JSON || k == JSONGzip }

// Set holds a page in every form, indexed by Kind.
type Set [NumKinds][]byte

// Project is what a project's pages and documents show.
type Project struct {
	Name        string // normalised
	DisplayName string // as its owners spell it, for the JSON API
	Serial      int64
	Releases    []Release // in any order
	Files       []File    // in any order
}

// Release is a release of the project.
type Release struct {
	ID             int64
	Version        string
	RequiresPython string
	Yanked         bool
	YankedReason   string
}

// File is a distribution file; Yanked and YankedReason are its release's.
type File struct {
	ReleaseID      int64
	Filename       string
	PackageType    string
	PythonVersion  string
	SHA256         string
	MD5            string
	Blake2b256     string
	MetadataSHA256 string
	RequiresPython string
	Size           int64
	UploadedAt     time.Time
	Yanked         bool
	YankedReason   string
}

// Render returns the project's pages in PyPI's order: releases by PEP 440 version, files by release and filename.
func Render(p Project) Set {
	releases, files := sorted(p)
	versions := make([]string, len(releases))
	for i, r := range releases {
		versions[i] = r.Version
	}
	var s Set
	s[HTML] = renderHTML(p.Name, p.Serial, files)
	s[JSON] = renderJSON(p.Name, p.Serial, versions, files)
	s[HTMLGzip] = Compress(s[HTML], gzip.DefaultCompression)
	s[JSONGzip] = Compress(s[JSON], gzip.DefaultCompression)
	return s
}

// sorted returns the project's releases in ascending PEP 440 order and its files by release, then filename.
func sorted(p Project) ([]Release, []File) {
	order := Order(len(p.Releases), func(i int) string { return p.Releases[i].Version })
	rank := make(map[int64]int, len(order))
	releases := make([]Release, len(order))
	for r, i := range order {
		rank[p.Releases[i].ID] = r
		releases[r] = p.Releases[i]
	}
	files := slices.Clone(p.Files)
	slices.SortFunc(files, func(a, b File) int {
		if c := cmp.Compare(rank[a.ReleaseID], rank[b.ReleaseID]); c != 0 {
			return c
		}
		return cmp.Compare(a.Filename, b.Filename)
	})
	return releases, files
}

// Order returns the indexes of n versions in ascending PEP 440 order; versions that do not parse come first, and
// equal versions keep their text order.
func Order(n int, version func(i int) string) []int {
	type ranked struct {
		i int
		s string
		v pypkg.Version // zero when unparsable or not needed
	}
	rs := make([]ranked, n)
	plain := true
	for i := range rs {
		rs[i] = ranked{i: i, s: version(i)}
		plain = plain && isPlainRelease(rs[i].s)
	}
	compare := func(a, b ranked) int { return comparePlain(a.s, b.s) }
	if !plain {
		// The PEP 440 parser is a regular expression: only versions beyond plain numbers need it.
		for i := range rs {
			rs[i].v, _ = pypkg.ParseVersion(rs[i].s)
		}
		compare = func(a, b ranked) int { return a.v.Compare(b.v) }
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		if c := compare(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a.s, b.s)
	})
	out := make([]int, n)
	for r, x := range rs {
		out[r] = x.i
	}
	return out
}

// isPlainRelease reports whether v is only a PEP 440 release segment ("1", "2.0.10"): dot-separated numbers.
func isPlainRelease(v string) bool {
	if v == "" || v[0] == '.' || v[len(v)-1] == '.' {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '.' && v[i-1] == '.' || c != '.' && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// comparePlain orders plain release versions as PEP 440 does: number by number, missing numbers count as zero,
// so "1.0" equals "1.0.0" and "1.10" follows "1.9".
func comparePlain(a, b string) int {
	for a != "" || b != "" {
		var x, y string
		x, a, _ = strings.Cut(a, ".")
		y, b, _ = strings.Cut(b, ".")
		// Numbers of any length, compared as text once leading zeros are gone.
		x, y = strings.TrimLeft(x, "0"), strings.TrimLeft(y, "0")
		if c := cmp.Compare(len(x), len(y)); c != 0 {
			return c
		}
		if c := strings.Compare(x, y); c != 0 {
			return c
		}
	}
	return 0
}

// FileURL is the path a file is served from: its content hash, split like PyPI's, then its name.
func FileURL(sha256, filename string) string {
	if len(sha256) < 5 {
		// Not a sha256: cannot happen for a row the upload path wrote; keep the page valid anyway.
		return "/packages/" + url.PathEscape(filename)
	}
	return "/packages/" + sha256[:2] + "/" + sha256[2:4] + "/" + sha256[4:] + "/" + url.PathEscape(filename)
}

// The page frame of PyPI's simple API, byte for byte, so that tools scraping PyPI's layout work here too.
const (
	htmlHead = "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>"
	htmlBody = "</title>\n  </head>\n  <body>\n"
	htmlFoot = "  </body>\n</html>\n<!--SERIAL "
)

// apiVersion is the simple API version served (PEP 691 1.0 with PEP 700's additions).
const apiVersion = "1.1"

// UploadTimeLayout is ISO 8601 in UTC with microseconds, as PyPI writes upload times.
const UploadTimeLayout = "2006-01-02T15:04:05.000000Z"

// renderHTML is the PEP 503 page with PEP 592, 658 and 714 attributes.
func renderHTML(name string, serial int64, files []File) []byte {
	b := make([]byte, 0, 256+len(files)*400)
	b = append(b, htmlHead...)
	b = append(b, "Links for "...)
	b = appendHTML(b, name)
	b = append(b, htmlBody...)
	b = append(b, "    <h1>Links for "...)
	b = appendHTML(b, name)
	b = append(b, "</h1>\n"...)
	for _, f := range files {
		b = append(b, `    <a href="`...)
		b = appendHTML(b, FileURL(f.SHA256, f.Filename))
		b = append(b, "#sha256="...)
		b = appendHTML(b, f.SHA256)
		b = append(b, '"')
		if f.RequiresPython != "" {
			b = append(b, ` data-requires-python="`...)
			b = appendHTML(b, f.RequiresPython)
			b = append(b, '"')
		}
		if f.Yanked {
			b = append(b, ` data-yanked="`...)
			b = appendHTML(b, f.YankedReason)
			b = append(b, '"')
		}
		if f.MetadataSHA256 != "" {
			// PEP 714 renamed the attribute; the old name stays for pip releases older than 23.2.
			b = append(b, ` data-dist-info-metadata="sha256=`...)
			b = appendHTML(b, f.MetadataSHA256)
			b = append(b, `" data-core-metadata="sha256=`...)
			b = appendHTML(b, f.MetadataSHA256)
			b = append(b, '"')
		}
		b = append(b, '>')
		b = appendHTML(b, f.Filename)
		b = append(b, "</a><br />\n"...)
	}
	b = append(b, htmlFoot...)
	b = strconv.AppendInt(b, serial, 10)
	return append(b, "-->\n"...)
}

// appendHTML appends s escaped for HTML text and double-quoted attributes.
func appendHTML(b []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		default:
			continue
		}
		b = append(b, s[last:i]...)
		b = append(b, esc...)
		last = i + 1
	}
	return append(b, s[last:]...)
}

// The PEP 691 JSON shapes, in PyPI's key order.
type jsonMeta struct {
	APIVersion string `json:"api-version"`
	LastSerial int64  `json:"_last-serial"`
}

type jsonHashes struct {
	SHA256 string `json:"sha256"`
}

type jsonFile struct {
	Filename       string     `json:"filename"`
	URL            string     `json:"url"`
	Hashes         jsonHashes `json:"hashes"`
	RequiresPython string     `json:"requires-python,omitempty"`
	// CoreMetadata is {"sha256": ...} or false (PEP 714). Its PEP 658 name, "dist-info-metadata", is left out of
	// JSON on purpose: pip 22.3 to 23.1 fail hard on it there, which is why PEP 714 renamed it.
	CoreMetadata any    `json:"core-metadata"`
	Size         int64  `json:"size"`
	UploadTime   string `json:"upload-time"`
	Yanked       any    `json:"yanked"` // false, true, or the reason
}

type jsonProject struct {
	Meta     jsonMeta   `json:"meta"`
	Name     string     `json:"name"`
	Versions []string   `json:"versions"`
	Files    []jsonFile `json:"files"`
}

// renderJSON is the PEP 691 JSON page with PEP 700's versions, sizes and upload times.
func renderJSON(name string, serial int64, versions []string, files []File) []byte {
	p := jsonProject{
		Meta:     jsonMeta{APIVersion: apiVersion, LastSerial: serial},
		Name:     name,
		Versions: versions,
		Files:    make([]jsonFile, len(files)),
	}
	for i, f := range files {
		jf := jsonFile{
			Filename: f.Filename, URL: FileURL(f.SHA256, f.Filename), Hashes: jsonHashes{f.SHA256},
			RequiresPython: f.RequiresPython, CoreMetadata: false, Size: f.Size,
			UploadTime: f.UploadedAt.UTC().Format(UploadTimeLayout), Yanked: yankedValue(f.Yanked, f.YankedReason),
		}
		if f.MetadataSHA256 != "" {
			jf.CoreMetadata = jsonHashes{f.MetadataSHA256}
		}
		p.Files[i] = jf
	}
	return AppendJSON(nil, p)
}

func yankedValue(yanked bool, reason string) any {
	switch {
	case !yanked:
		return false
	case reason == "":
		return true
	}
	return reason
}

// AppendJSON appends v encoded as JSON to b, without HTML escaping: "<" in a version specifier stays readable, and
// no page here is ever read as HTML.
func AppendJSON(b []byte, v any) []byte {
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only plain structs, strings and numbers go in; an error is a programming mistake.
		panic("pages: encode JSON: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// gzipWriters are reused: a compressor's state is hundreds of kilobytes, far more than most pages it compresses.
var gzipWriters sync.Map // level -> *sync.Pool

// Compress returns b compressed with gzip at the given level.
func Compress(b []byte, level int) []byte {
	pool, _ := gzipWriters.LoadOrStore(level, &sync.Pool{New: func() any {
		zw, err := gzip.NewWriterLevel(nil, level)
		if err != nil {
			zw = gzip.NewWriter(nil)
		}
		return zw
	}})
	var buf bytes.Buffer
	buf.Grow(len(b)/4 + 64)
	zw := pool.(*sync.Pool).Get().(*gzip.Writer)
	zw.Reset(&buf)
	zw.Write(b)
	zw.Close()
	pool.(*sync.Pool).Put(zw)
	return buf.Bytes()
}

var gzipReaders sync.Pool // *gzip.Reader

// maxGunzipHint bounds the allocation a gzip stream's own size field asks for.
const maxGunzipHint = 64 << 20

// Gunzip returns the plain bytes of a gzip form, in a slice of their exact size.
func Gunzip(gz []byte) ([]byte, error) {
	br := bytes.NewReader(gz)
	zr, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(br)
	} else {
		err = zr.Reset(br)
	}
	if err != nil {
		return nil, err
	}
	defer gzipReaders.Put(zr)
	// The stream ends with its plain size (modulo 2^32), so the one allocation can be of the right size; reading to
	// the end is what checks the stream's CRC.
	size := 0
	if len(gz) >= 4 {
		size = int(min(binary.LittleEndian.Uint32(gz[len(gz)-4:]), maxGunzipHint))
	}
	out := make([]byte, size)
	n, err := io.ReadFull(zr, out)
	switch err {
	case nil:
		// As many bytes as the size field says: the stream must end here.
		var one [1]byte
		m, err := zr.Read(one[:])
		if m == 0 && err == io.EOF {
			return out, nil
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		out = append(out, one[:m]...)
	case io.EOF, io.ErrUnexpectedEOF:
		// The reader reports the end only once the stream's CRC and size check out.
		return out[:n], nil
	default:
		return nil, err
	}
	// Longer than the size field says (a page over 4 GiB, or over the hint's bound): read the rest as it comes.
	rest, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	return append(out, rest...), nil
}
