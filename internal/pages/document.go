package pages

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"wharf/internal/pypkg"
)

// A project's JSON API documents (PyPI's /pypi/<project>/json and /pypi/<project>/<version>/json) are rendered with
// its pages, when it changes, so that serving one that is not in memory is one key lookup instead of reading every
// release and file and encoding them. Three things in a document are not known then, and are left as holes that
// Fill completes when the document is read:
//   - the base URL of its links, which is an instance's setting, not the database's;
//   - the project's serial, in a release's document: every change to any release moves it, and re-rendering every
//     release of a project with thousands of them on each upload would cost more than the reads it saves;
//   - wharf's two protection fields, which change without a new serial (a designation, a maintainer's new factor).
//
// Offsets are kept as the document is written, rather than placeholders searched for afterwards: metadata is text
// the uploader chose, and could hold any placeholder.

// Document is a JSON API document with holes: Body is the JSON with nothing where a hole goes, and Holes say what
// goes where, in ascending order.
type Document struct {
	Body  []byte
	Holes []Hole
}

// Hole is a place in a document's body that Fill completes.
type Hole struct {
	At   int
	What Fill
}

// Fill names what a hole takes.
type Fill uint8

const (
	FillBaseURL        Fill = iota + 1 // the index's base URL, inside a link's string, before its path
	FillSerial                         // the project's last serial
	FillCritical                       // true or false: whether the project is critical
	FillFullyProtected                 // true or false: whether every maintainer has a second factor
	numFills
)

// Values complete a document.
type Values struct {
	BaseURL                  string
	Serial                   int64
	Critical, FullyProtected bool
}

// Fill returns the document's JSON with its holes filled.
func (d Document) Fill(v Values) []byte {
	base := appendJSONString(nil, v.BaseURL)
	base = base[1 : len(base)-1]
	out := make([]byte, 0, len(d.Body)+len(d.Holes)*len(base)+32)
	last := 0
	for _, h := range d.Holes {
		out = append(out, d.Body[last:h.At]...)
		last = h.At
		switch h.What {
		case FillBaseURL:
			out = append(out, base...)
		case FillSerial:
			out = strconv.AppendInt(out, v.Serial, 10)
		case FillCritical:
			out = strconv.AppendBool(out, v.Critical)
		case FillFullyProtected:
			out = strconv.AppendBool(out, v.FullyProtected)
		}
	}
	return append(out, d.Body[last:]...)
}

// EncodeHoles packs the holes for storage: per hole, the distance from the previous one as a uvarint, then what
// it takes.
func (d Document) EncodeHoles() []byte {
	b := make([]byte, 0, len(d.Holes)*3)
	last := 0
	for _, h := range d.Holes {
		b = binary.AppendUvarint(b, uint64(h.At-last))
		b = append(b, byte(h.What))
		last = h.At
	}
	return b
}

var errBadHoles = errors.New("pages: stored document holes are damaged")

// DecodeDocument is the document of body with the holes EncodeHoles packed.
func DecodeDocument(body, holes []byte) (Document, error) {
	d := Document{Body: body}
	at := 0
	for len(holes) > 0 {
		delta, n := binary.Uvarint(holes)
		if n <= 0 || n >= len(holes) || delta > uint64(len(body)-at) {
			return Document{}, errBadHoles
		}
		what := Fill(holes[n])
		if what == 0 || what >= numFills {
			return Document{}, errBadHoles
		}
		at += int(delta)
		d.Holes = append(d.Holes, Hole{At: at, What: what})
		holes = holes[n+1:]
	}
	return d, nil
}

// Documents renders the JSON API documents of one project: its own and its releases'.
type Documents struct {
	project  Project
	releases []Release        // ascending
	files    []File           // by release, then filename
	ranges   map[int64][2]int // a release's files in files
	index    map[int64]int    // a release's place in releases
	latest   int              // index in releases, or -1
}

// NewDocuments sorts the project's releases and files once for all of its documents.
func NewDocuments(p Project) *Documents {
	ds := &Documents{project: p, ranges: make(map[int64][2]int, len(p.Releases)),
		index: make(map[int64]int, len(p.Releases))}
	ds.releases, ds.files = sorted(p)
	for i, r := range ds.releases {
		ds.index[r.ID] = i
	}
	for i := 0; i < len(ds.files); {
		j := i
		for j < len(ds.files) && ds.files[j].ReleaseID == ds.files[i].ReleaseID {
			j++
		}
		ds.ranges[ds.files[i].ReleaseID] = [2]int{i, j}
		i = j
	}
	ds.latest = Latest(len(ds.releases), func(i int) string { return ds.releases[i].Version },
		func(i int) bool { return ds.releases[i].Yanked })
	return ds
}

// Latest is the release the project's document shows, whose metadata Project needs; ok is false for a project
// without releases, which has no document (PyPI answers 404).
func (ds *Documents) Latest() (releaseID int64, ok bool) {
	if ds.latest < 0 {
		return 0, false
	}
	return ds.releases[ds.latest].ID, true
}

// Project renders /pypi/<project>/json: the latest release's information, with its core metadata as a JSON
// object, and files, and every release's files. It must not be called for a project without releases.
func (ds *Documents) Project(metadata []byte) Document {
	return ds.render(ds.latest, metadata, true)
}

// Release renders /pypi/<project>/<version>/json for the release with the given ID, with its core metadata; ok is
// false when the project has no such release.
func (ds *Documents) Release(releaseID int64, metadata []byte) (d Document, ok bool) {
	i, ok := ds.index[releaseID]
	if !ok {
		return Document{}, false
	}
	return ds.render(i, metadata, false), true
}

// Latest picks the release a project's document and page show, as PyPI does: the highest final release that is not
// yanked, else the highest release that is not yanked, else the highest; -1 when there is none. The n releases are
// in ascending order.
func Latest(n int, version func(i int) string, yanked func(i int) bool) int {
	best := [3]int{-1, -1, -1}
	for i := range n {
		v, err := pypkg.ParseVersion(version(i))
		pre := err != nil || v.IsPrerelease()
		if !yanked(i) && !pre {
			best[0] = i
		}
		if !yanked(i) {
			best[1] = i
		}
		best[2] = i
	}
	for _, i := range best {
		if i >= 0 {
			return i
		}
	}
	return -1
}

// docWriter writes a document's JSON and notes its holes.
type docWriter struct {
	b     []byte
	holes []Hole
}

func (w *docWriter) hole(f Fill)     { w.holes = append(w.holes, Hole{At: len(w.b), What: f}) }
func (w *docWriter) raw(s string)    { w.b = append(w.b, s...) }
func (w *docWriter) str(s string)    { w.b = appendJSONString(w.b, s) }
func (w *docWriter) num(n int64)     { w.b = strconv.AppendInt(w.b, n, 10) }
func (w *docWriter) boolean(v bool)  { w.b = strconv.AppendBool(w.b, v) }
func (w *docWriter) nullOr(s string) { w.strOrNull(s, s != "") }

func (w *docWriter) strOrNull(s string, present bool) {
	if present {
		w.str(s)
	} else {
		w.raw("null")
	}
}

// link writes a string of the base URL followed by path.
func (w *docWriter) link(path string) {
	w.raw(`"`)
	w.hole(FillBaseURL)
	s := appendJSONString(nil, path)
	w.b = append(w.b, s[1:]...)
}

// The core-metadata fields of the info object: those PyPI shows as null when the metadata lacks them, and those
// it shows as empty lists.
var (
	infoNullable = []string{
		"author", "author_email", "description", "description_content_type", "download_url", "dynamic",
		"home_page", "keywords", "license", "license_expression", "license_files", "maintainer", "maintainer_email",
		"platform", "project_urls", "provides_extra", "requires_dist", "summary",
	}
	infoLists = []string{"classifiers"}
)

// render writes the document of release shown; with all, the project's document, which lists every release's
// files too. Keys are in byte order, as encoding/json writes a map's.
func (ds *Documents) render(shown int, metadata []byte, all bool) Document {
	rel := ds.releases[shown]
	w := &docWriter{b: make([]byte, 0, 2048+len(metadata)+len(ds.files)*700)}
	w.raw(`{"info":{`)
	writeInfo(w, ds.project.DisplayName, rel, metadata)
	w.raw(`},"last_serial":`)
	if all {
		w.num(ds.project.Serial)
	} else {
		w.hole(FillSerial)
	}
	if all {
		w.raw(`,"releases":{`)
		byVersion := slices.Clone(ds.releases)
		slices.SortFunc(byVersion, func(a, b Release) int { return strings.Compare(a.Version, b.Version) })
		for i, r := range byVersion {
			if i > 0 {
				w.raw(",")
			}
			w.str(r.Version)
			w.raw(":")
			writeFiles(w, ds.filesOf(r.ID))
		}
		w.raw("}")
	}
	w.raw(`,"urls":`)
	writeFiles(w, ds.filesOf(rel.ID))
	w.raw(`,"vulnerabilities":[]}`)
	return Document{Body: w.b, Holes: w.holes}
}

func (ds *Documents) filesOf(releaseID int64) []File {
	r, ok := ds.ranges[releaseID]
	if !ok {
		return nil
	}
	return ds.files[r[0]:r[1]]
}

// writeInfo writes the info object's members: the release's core metadata as the upload path stored it, and
// wharf's own fields. Metadata keys outside PyPI's set are left out (they must not override name or version), a
// missing key reads as PyPI shows it, and metadata that is not a JSON object reads as empty.
func writeInfo(w *docWriter, name string, rel Release, metadata []byte) {
	var meta map[string]json.RawMessage
	if json.Unmarshal(metadata, &meta) != nil {
		meta = nil
	}
	requiresPython := rel.RequiresPython
	if v, ok := meta["requires_python"]; ok {
		var s string
		if json.Unmarshal(v, &s) == nil && s != "" {
			requiresPython = s
		}
	}
	projectPath := "/project/" + url.PathEscape(name) + "/"
	fields := make(map[string]func(), 40)
	for _, k := range infoNullable {
		fields[k] = func() { writeMeta(w, meta[k], "null") }
	}
	for _, k := range infoLists {
		fields[k] = func() { writeMeta(w, meta[k], "[]") }
	}
	fields["bugtrack_url"] = func() { w.raw("null") }
	fields["critical"] = func() { w.hole(FillCritical) }
	fields["docs_url"] = func() { w.raw("null") }
	fields["downloads"] = func() { w.raw(`{"last_day":-1,"last_month":-1,"last_week":-1}`) }
	fields["fully_protected"] = func() { w.hole(FillFullyProtected) }
	fields["name"] = func() { w.str(name) }
	fields["package_url"] = func() { w.link(projectPath) }
	fields["project_url"] = func() { w.link(projectPath) }
	fields["release_url"] = func() { w.link(projectPath + url.PathEscape(rel.Version) + "/") }
	fields["requires_python"] = func() { w.str(requiresPython) }
	fields["version"] = func() { w.str(rel.Version) }
	fields["yanked"] = func() { w.boolean(rel.Yanked) }
	fields["yanked_reason"] = func() { w.strOrNull(rel.YankedReason, rel.Yanked) }
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			w.raw(",")
		}
		w.str(k)
		w.raw(":")
		fields[k]()
	}
}

// writeMeta writes a metadata value as it was stored, without insignificant space, or empty when it is absent or
// null.
func writeMeta(w *docWriter, v json.RawMessage, empty string) {
	if len(v) == 0 || string(v) == "null" {
		w.raw(empty)
		return
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		w.raw(empty)
		return
	}
	w.b = append(w.b, buf.Bytes()...)
}

// writeFiles writes a list of files.
func writeFiles(w *docWriter, files []File) {
	w.raw("[")
	for i, f := range files {
		if i > 0 {
			w.raw(",")
		}
		w.raw(`{"comment_text":"","digests":{"blake2b_256":`)
		w.str(f.Blake2b256)
		w.raw(`,"md5":`)
		w.str(f.MD5)
		w.raw(`,"sha256":`)
		w.str(f.SHA256)
		w.raw(`},"downloads":-1,"filename":`)
		w.str(f.Filename)
		w.raw(`,"has_sig":false,"md5_digest":`)
		w.str(f.MD5)
		w.raw(`,"packagetype":`)
		w.str(f.PackageType)
		w.raw(`,"python_version":`)
		w.str(f.PythonVersion)
		w.raw(`,"requires_python":`)
		w.nullOr(f.RequiresPython)
		w.raw(`,"size":`)
		w.num(f.Size)
		w.raw(`,"upload_time":`)
		w.str(f.UploadedAt.UTC().Format("2006-01-02T15:04:05"))
		w.raw(`,"upload_time_iso_8601":`)
		w.str(f.UploadedAt.UTC().Format(UploadTimeLayout))
		w.raw(`,"url":`)
		w.link(FileURL(f.SHA256, f.Filename))
		w.raw(`,"yanked":`)
		w.boolean(f.Yanked)
		w.raw(`,"yanked_reason":`)
		w.strOrNull(f.YankedReason, f.Yanked)
		w.raw("}")
	}
	w.raw("]")
}

// appendJSONString appends s as a JSON string exactly as encoding/json writes it without HTML escaping: the short
// escapes, \u00XX for other control characters, U+2028 and U+2029 escaped, invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	last := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[last:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			last = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[last:i]...)
			b = append(b, `\ufffd`...)
			i += size
			last = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[last:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			last = i
			continue
		}
		i += size
	}
	b = append(b, s[last:]...)
	return append(b, '"')
}
