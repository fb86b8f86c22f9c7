package simple

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// The page frame of PyPI's simple API, byte for byte, so that tools scraping PyPI's layout work here too.
const (
	htmlHead = "<!DOCTYPE html>\n<html>\n  <head>\n    <meta name=\"pypi:repository-version\" content=\"1.1\">\n    <title>"
	htmlBody = "</title>\n  </head>\n  <body>\n"
	htmlFoot = "  </body>\n</html>\n<!--SERIAL "
)

// apiVersion is the simple API version served (PEP 691 1.0 with PEP 700's additions).
const apiVersion = "1.1"

// uploadTimeLayout is ISO 8601 in UTC with microseconds, as PyPI writes upload times.
const uploadTimeLayout = "2006-01-02T15:04:05.000000Z"

// sortedIndex is a project's releases and files in PyPI's order: releases by PEP 440 version, files by release and
// then filename.
type sortedIndex struct {
	store.ProjectIndex
	versions []string // every release, oldest version first
}

func sortIndex(pi store.ProjectIndex) sortedIndex {
	type ranked struct {
		r store.Release
		v pypkg.Version // zero when unparsable or not needed: sorts first, then by text
	}
	rs := make([]ranked, len(pi.Releases))
	plain := true
	for i, r := range pi.Releases {
		rs[i].r = r
		plain = plain && isPlainRelease(r.Version)
	}
	compare := func(a, b ranked) int { return comparePlain(a.r.Version, b.r.Version) }
	if !plain {
		// The PEP 440 parser is a regular expression, most of the cost of rendering a page: only versions
		// beyond plain numbers need it.
		for i := range rs {
			rs[i].v, _ = pypkg.ParseVersion(rs[i].r.Version)
		}
		compare = func(a, b ranked) int { return a.v.Compare(b.v) }
	}
	slices.SortStableFunc(rs, func(a, b ranked) int {
		if c := compare(a, b); c != 0 {
			return c
		}
		return cmp.Compare(a.r.Version, b.r.Version)
	})
	rank := make(map[int64]int, len(rs))
	out := sortedIndex{ProjectIndex: pi, versions: make([]string, len(rs))}
	out.Releases = make([]store.Release, len(rs))
	for i, r := range rs {
		rank[r.r.ID] = i
		out.versions[i] = r.r.Version
		out.Releases[i] = r.r
	}
	out.Files = slices.Clone(pi.Files)
	slices.SortStableFunc(out.Files, func(a, b store.File) int {
		if c := cmp.Compare(rank[a.ReleaseID], rank[b.ReleaseID]); c != 0 {
			return c
		}
		return cmp.Compare(a.Filename, b.Filename)
	})
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

// fileURL is the path a file is served from: its content hash, split like PyPI's, then its name.
func fileURL(f store.File) string {
	if len(f.SHA256) < 5 {
		// Not a sha256: cannot happen for a row the upload path wrote; keep the page valid anyway.
		return "/packages/" + url.PathEscape(f.Filename)
	}
	return "/packages/" + f.SHA256[:2] + "/" + f.SHA256[2:4] + "/" + f.SHA256[4:] + "/" + url.PathEscape(f.Filename)
}

// renderHTML appends the PEP 503 page with PEP 592, 658 and 714 attributes to b.
func renderHTML(b []byte, si sortedIndex) []byte {
	name := si.Project.NormalizedName
	b = slices.Grow(b, 256+len(si.Files)*400)
	b = append(b, htmlHead...)
	b = append(b, "Links for "...)
	b = appendHTML(b, name)
	b = append(b, htmlBody...)
	b = append(b, "    <h1>Links for "...)
	b = appendHTML(b, name)
	b = append(b, "</h1>\n"...)
	for _, f := range si.Files {
		b = append(b, `    <a href="`...)
		b = appendHTML(b, fileURL(f))
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
	b = strconv.AppendInt(b, si.Project.LastSerial, 10)
	b = append(b, "-->\n"...)
	return b
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

// renderJSON appends the PEP 691 JSON page with PEP 700's versions, sizes and upload times to b.
func renderJSON(b []byte, si sortedIndex) []byte {
	p := jsonProject{
		Meta:     jsonMeta{APIVersion: apiVersion, LastSerial: si.Project.LastSerial},
		Name:     si.Project.NormalizedName,
		Versions: si.versions,
		Files:    make([]jsonFile, len(si.Files)),
	}
	for i, f := range si.Files {
		jf := jsonFile{
			Filename: f.Filename, URL: fileURL(f), Hashes: jsonHashes{f.SHA256}, RequiresPython: f.RequiresPython,
			CoreMetadata: false, Size: f.Size, UploadTime: formatUploadTime(f.UploadedAt),
			Yanked: yankedValue(f.Yanked, f.YankedReason),
		}
		if f.MetadataSHA256 != "" {
			h := jsonHashes{f.MetadataSHA256}
			jf.CoreMetadata = h
		}
		p.Files[i] = jf
	}
	return appendJSON(b, p)
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

func formatUploadTime(t time.Time) string { return t.UTC().Format(uploadTimeLayout) }

// marshal encodes v as appendJSON does.
func marshal(v any) []byte { return appendJSON(nil, v) }

// appendJSON appends v encoded as JSON to b, without HTML escaping: "<" in a version specifier stays readable, and
// no page here is ever interpreted as HTML.
func appendJSON(b []byte, v any) []byte {
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only plain structs, strings and numbers go in; an error is a programming mistake.
		panic("simple: encode JSON: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// gzipWriters are reused: a compressor's state is hundreds of kilobytes, far more than most pages it compresses.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
	return zw
}}

// gzipPage appends b compressed, for clients that accept gzip, to dst.
func gzipPage(dst, b []byte) []byte {
	buf := bytes.NewBuffer(dst)
	buf.Grow(len(b)/3 + 64)
	zw := gzipWriters.Get().(*gzip.Writer)
	zw.Reset(buf)
	zw.Write(b)
	zw.Close()
	gzipWriters.Put(zw)
	return buf.Bytes()
}

// buffers hold pages while they are rendered and compressed; the cache keeps copies of the exact size.
var buffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledBuffer keeps the pages of the rare project with thousands of files from pinning their memory in the pool.
const maxPooledBuffer = 256 << 10

func getBuffer() *[]byte { return buffers.Get().(*[]byte) }

func putBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBuffer {
		buffers.Put(b)
	}
}
