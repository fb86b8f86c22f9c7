package critical

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"wharf/internal/store"
)

// Download is an access-log line that records the download of a distribution file.
type Download struct {
	Time     time.Time // the line's own timestamp, in UTC
	Filename string    // percent-decoded
}

// Skip says why a well-formed log line is not a download.
type Skip uint8

const (
	// SkipNone: the line is a download.
	SkipNone Skip = iota
	// SkipPath: the request is for anything but a distribution file under /packages/: a page, a file's core
	// metadata (PEP 658), or no request at all.
	SkipPath
	// SkipMethod: a file request other than GET. pip downloads with GET; HEAD transfers nothing.
	SkipMethod
	// SkipStatus: a file request answered with anything but 200. The server counts a range request from offset 0
	// as a download, but a log line does not show the Range header: a 206 may be any part of a download, and
	// counting 206s would count a download resumed in several parts once per part. pip sends no Range: its
	// downloads are 200s. A 304 is a revalidation, which the server does not count either.
	SkipStatus
)

// Why a line is not in the log format. They are counted, not fatal: a log mixes formats, and a line of a log
// being written may be cut off.
var (
	errNoClient   = errors.New("no client address")
	errNoTime     = errors.New("no [timestamp]")
	errBadTime    = errors.New("bad timestamp")
	errNoRequest  = errors.New(`no "request"`)
	errNoStatus   = errors.New("no status after the request")
	errTooLong    = fmt.Errorf("longer than %d bytes", maxLine)
	errIncomplete = errors.New("no line end: the line may still be being written")
)

// maxLine bounds a log line: real ones are a few hundred bytes; a user agent of some kilobytes is not unusual.
const maxLine = 64 << 10

// Parse reads one line of an access log in the combined log format, or the common log format, its prefix:
//
//	client ident user [10/Oct/2026:13:55:36 -0700] "GET /packages/ab/cd/ef.../demo-1.0.tar.gz HTTP/1.1" 200 2326 "referrer" "agent"
//
// It returns the download, or why the line is no download, or, for a line not in the format, an error. Fields after
// the status are not read: size, referrer and agent decide nothing, and servers append fields of their own there.
func Parse(line []byte) (Download, Skip, error) {
	client := bytes.IndexByte(line, ' ')
	if client <= 0 {
		return Download{}, SkipNone, errNoClient
	}
	// The timestamp is found by its bracket rather than by counting fields: some servers log user names with spaces.
	open := bytes.Index(line[client:], []byte(" ["))
	if open < 0 {
		return Download{}, SkipNone, errNoTime
	}
	rest := line[client+open+2:]
	end := bytes.IndexByte(rest, ']')
	if end < 0 {
		return Download{}, SkipNone, errNoTime
	}
	t, err := parseLogTime(rest[:end])
	if err != nil {
		return Download{}, SkipNone, err
	}
	rest = rest[end+1:]
	if !bytes.HasPrefix(rest, []byte(` "`)) {
		return Download{}, SkipNone, errNoRequest
	}
	rest = rest[2:]
	end = closingQuote(rest)
	if end < 0 {
		return Download{}, SkipNone, errNoRequest
	}
	request := rest[:end]
	rest = rest[end+1:]
	if len(rest) < 4 || rest[0] != ' ' || !isDigits(rest[1:4]) || (len(rest) > 4 && rest[4] != ' ') {
		return Download{}, SkipNone, errNoStatus
	}
	status := rest[1:4]

	method, target, _ := bytes.Cut(request, []byte(" "))
	target, _, _ = bytes.Cut(target, []byte(" ")) // the protocol; HTTP/0.9 has none
	filename, ok := fileOf(target)
	switch {
	case !ok:
		return Download{}, SkipPath, nil
	case string(method) != "GET":
		return Download{}, SkipMethod, nil
	case string(status) != "200":
		return Download{}, SkipStatus, nil
	}
	return Download{Time: t, Filename: filename}, SkipNone, nil
}

// closingQuote finds the quote that ends a quoted field. Apache writes a quote inside one as \" and a backslash as
// \\; nginx writes both as \xHH, which needs nothing here.
func closingQuote(b []byte) int {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// fileOf returns the distribution filename a request target names: /packages/<anything>/<filename>, the shape of
// the index's file URLs (/packages/ab/cd/<rest of the sha256>/<filename>) and of mirrors that put their own path
// before the name. A proxy may log the absolute form, http://host/packages/...; the query does not matter.
func fileOf(target []byte) (string, bool) {
	for _, scheme := range []string{"http://", "https://"} {
		if after, ok := bytes.CutPrefix(target, []byte(scheme)); ok {
			slash := bytes.IndexByte(after, '/')
			if slash < 0 {
				return "", false
			}
			target = after[slash:]
			break
		}
	}
	if i := bytes.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	rest, ok := bytes.CutPrefix(target, []byte("/packages/"))
	if !ok {
		return "", false
	}
	slash := bytes.LastIndexByte(rest, '/')
	if slash <= 0 || slash == len(rest)-1 {
		return "", false
	}
	name := rest[slash+1:]
	// The core metadata of a file is served at the file's URL plus .metadata; pip fetches it before deciding to
	// download, so it is no download.
	if bytes.HasSuffix(name, []byte(".metadata")) {
		return "", false
	}
	if bytes.IndexByte(name, '%') < 0 {
		return string(name), true
	}
	decoded, err := url.PathUnescape(string(name))
	if err != nil {
		return "", false
	}
	return decoded, true
}

var monthNames = [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// parseLogTime reads "10/Oct/2026:13:55:36 -0700" by position: the layout is fixed, and time.Parse was the larger
// part of a line's parse.
func parseLogTime(b []byte) (time.Time, error) {
	if len(b) != 26 || b[2] != '/' || b[6] != '/' || b[11] != ':' || b[14] != ':' || b[17] != ':' || b[20] != ' ' ||
		(b[21] != '+' && b[21] != '-') {
		return time.Time{}, errBadTime
	}
	month := 0
	for i, m := range monthNames {
		if string(b[3:6]) == m {
			month = i + 1
		}
	}
	day, okD := atoi(b[0:2])
	year, okY := atoi(b[7:11])
	hour, okH := atoi(b[12:14])
	minute, okM := atoi(b[15:17])
	sec, okS := atoi(b[18:20])
	offH, okOH := atoi(b[22:24])
	offM, okOM := atoi(b[24:26])
	if month == 0 || !okD || !okY || !okH || !okM || !okS || !okOH || !okOM ||
		day < 1 || hour > 23 || minute > 59 || sec > 59 || offH > 23 || offM > 59 {
		return time.Time{}, errBadTime
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if t.Day() != day { // 31/Feb would have become a day of March
		return time.Time{}, errBadTime
	}
	offset := time.Duration(offH)*time.Hour + time.Duration(offM)*time.Minute
	if b[21] == '-' {
		offset = -offset
	}
	return t.Add(-offset), nil
}

func atoi(b []byte) (int, bool) {
	if !isDigits(b) {
		return 0, false
	}
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n, true
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// LogStore is what an import needs of the database; *store.DB satisfies it.
type LogStore interface {
	ProjectsOfFiles(ctx context.Context, filenames []string) (map[string]int64, error)
	ImportDownloads(ctx context.Context, lines []store.DownloadLine) (map[int64]int64, error)
}

// ImportOptions configure an Importer. Zero values pick the defaults.
type ImportOptions struct {
	// BatchSize is the number of download lines counted in one transaction (default 20,000). Each commit on SQLite
	// writes every page its rows touched, and a day's rows share pages: BenchmarkImport's million lines took 14 s
	// with 5,000 lines a transaction and 6 s with 20,000, which still hold the write lock for a fraction of a second.
	BatchSize int
	// CacheSize bounds the filenames whose project is remembered between batches (default 100,000).
	CacheSize int
	// Progress, when set, is called every few thousand lines with the number of lines read so far.
	Progress func(lines int64)
}

// ImportStats say what an import did, over every log it read.
type ImportStats struct {
	Files     int   `json:"files"`
	Lines     int64 `json:"lines"`
	Downloads int64 `json:"downloads"` // counted by this import
	Projects  int   `json:"projects"`  // that got those downloads
	// AlreadyImported are download lines counted before: by an earlier import, or earlier in this one (a line
	// repeated in two overlapping logs).
	AlreadyImported int64 `json:"already_imported"`
	OtherPaths      int64 `json:"other_paths"`
	OtherMethods    int64 `json:"other_methods"`
	OtherStatuses   int64 `json:"other_statuses"`
	// UnknownFiles are downloads of filenames the index has no file of: deleted since, or never uploaded here.
	UnknownFiles int64 `json:"unknown_files"`
	Unparseable  int64 `json:"unparseable"`
	// FirstUnparseable is "NAME:LINE: why" of the first line not in the log format, to show what went wrong when a
	// whole log is in another format.
	FirstUnparseable string `json:"first_unparseable,omitempty"`
}

// NotDownloads counts the well-formed lines that are no download.
func (s ImportStats) NotDownloads() int64 { return s.OtherPaths + s.OtherMethods + s.OtherStatuses }

// Skipped counts the lines that counted nothing, leaving out those already imported.
func (s ImportStats) Skipped() int64 { return s.NotDownloads() + s.UnknownFiles + s.Unparseable }

// Importer counts the downloads in access logs into per-project, per-day sums. Each line that counted is
// remembered by a digest of its text, so that a line counts once however often it is imported: the same log twice,
// or a rotated log and its predecessor, which share lines. The price is that identical lines (same client, second,
// path, status, size, referrer and agent) count once; within one second that is a client downloading a file twice,
// which a ranking of projects can do without.
type Importer struct {
	db       LogStore
	batch    int
	limit    int
	progress func(int64)

	stats    ImportStats
	projects map[int64]struct{}
	// cache maps filenames to project ids, 0 for a filename the index has no file of, so that the lines of a
	// popular file, and a flood of requests for a missing one, cost no query each.
	cache   map[string]int64
	pending []pendingLine
	missing map[string]struct{} // filenames of pending lines that cache does not know

	lastDay    int64
	lastDayStr string
}

type pendingLine struct {
	digest   [16]byte
	day      string
	filename string
}

// NewImporter returns an Importer that counts into db.
func NewImporter(db LogStore, opts ImportOptions) *Importer {
	im := &Importer{db: db, batch: opts.BatchSize, limit: opts.CacheSize, progress: opts.Progress,
		projects: map[int64]struct{}{}, cache: map[string]int64{}, missing: map[string]struct{}{}}
	if im.batch <= 0 {
		im.batch = 20_000
	}
	if im.limit <= 0 {
		im.limit = 100_000
	}
	return im
}

// Stats returns what the imports so far did.
func (im *Importer) Stats() ImportStats {
	s := im.stats
	s.Projects = len(im.projects)
	return s
}

// progressEvery is how many lines pass between calls of the Progress function and checks of the context.
const progressEvery = 4096

// Import reads one log, plain or gzip-compressed (told by its first bytes, not by its name), and counts its
// downloads; name identifies it in the stats. Each batch is stored before the next is read, so that an error
// leaves every line before the failed batch counted, and a later import counts the rest. A final line without its
// line end is left for a later import: the log may still be being written, and the line counted half-written would
// not be recognised once complete.
func (im *Importer) Import(ctx context.Context, name string, r io.Reader) error {
	br := bufio.NewReaderSize(r, maxLine)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, maxLine)
	}
	im.stats.Files++
	var n int64
	for {
		line, err := br.ReadSlice('\n')
		long := false
		for errors.Is(err, bufio.ErrBufferFull) {
			long = true
			line, err = br.ReadSlice('\n')
		}
		if len(line) > 0 || long {
			n++
			im.stats.Lines++
			switch {
			case long:
				im.unparseable(name, n, errTooLong)
			case line[len(line)-1] != '\n':
				im.unparseable(name, n, errIncomplete)
			default:
				im.add(bytes.TrimSuffix(line[:len(line)-1], []byte("\r")), name, n)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			// The complete lines read so far are good: count them, so that this error is the only thing to fix.
			if ferr := im.flush(ctx); ferr != nil {
				return ferr
			}
			return fmt.Errorf("%s: %w", name, err)
		}
		if n%progressEvery == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			if im.progress != nil {
				im.progress(n)
			}
		}
		if len(im.pending) >= im.batch {
			if err := im.flush(ctx); err != nil {
				return err
			}
		}
	}
	if im.progress != nil {
		im.progress(n)
	}
	return im.flush(ctx)
}

// add takes one line, without its line end.
func (im *Importer) add(line []byte, name string, n int64) {
	d, skip, err := Parse(line)
	switch {
	case err != nil:
		im.unparseable(name, n, err)
		return
	case skip == SkipPath:
		im.stats.OtherPaths++
		return
	case skip == SkipMethod:
		im.stats.OtherMethods++
		return
	case skip == SkipStatus:
		im.stats.OtherStatuses++
		return
	}
	sum := sha256.Sum256(line)
	im.pending = append(im.pending, pendingLine{digest: [16]byte(sum[:16]), day: im.dayOf(d.Time), filename: d.Filename})
	if _, ok := im.cache[d.Filename]; !ok {
		im.missing[d.Filename] = struct{}{}
	}
}

// dayOf formats the UTC day of t, once per day: the lines of a log come in order, so the day rarely changes.
func (im *Importer) dayOf(t time.Time) string {
	if day := dayOf(t); day != im.lastDay || im.lastDayStr == "" {
		im.lastDay, im.lastDayStr = day, dayString(day)
	}
	return im.lastDayStr
}

func (im *Importer) unparseable(name string, n int64, err error) {
	im.stats.Unparseable++
	if im.stats.FirstUnparseable == "" {
		im.stats.FirstUnparseable = fmt.Sprintf("%s:%d: %v", name, n, err)
	}
}

// flush finds the projects of the pending lines' files and counts the lines in one transaction.
func (im *Importer) flush(ctx context.Context) error {
	if len(im.pending) == 0 {
		return nil
	}
	found := map[string]int64{}
	if len(im.missing) > 0 {
		names := make([]string, 0, len(im.missing))
		for name := range im.missing {
			names = append(names, name)
		}
		var err error
		if found, err = im.db.ProjectsOfFiles(ctx, names); err != nil {
			return err
		}
	}
	lines := make([]store.DownloadLine, 0, len(im.pending))
	for _, p := range im.pending {
		id, ok := im.cache[p.filename]
		if !ok {
			id = found[p.filename]
		}
		if id == 0 {
			im.stats.UnknownFiles++
			continue
		}
		lines = append(lines, store.DownloadLine{Digest: p.digest, Day: p.day, ProjectID: id})
	}
	added, err := im.db.ImportDownloads(ctx, lines)
	if err != nil {
		return err
	}
	var total int64
	for id, k := range added {
		im.projects[id] = struct{}{}
		total += k
	}
	im.stats.Downloads += total
	im.stats.AlreadyImported += int64(len(lines)) - total

	// Emptying the whole cache when it is full is the simplest bound: the filenames still in use come back with
	// the next batch's lookup, one query for all of them.
	if len(im.cache)+len(im.missing) > im.limit {
		clear(im.cache)
	}
	for name := range im.missing {
		im.cache[name] = found[name]
	}
	clear(im.missing)
	im.pending = im.pending[:0]
	return nil
}
