package pypkg

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits bounds the work of inspecting one uploaded archive. A zero or
// negative field means the DefaultLimits value for it.
type Limits struct {
	MaxEntries      int           // number of members
	MaxTotalSize    int64         // real uncompressed bytes over all members read
	MaxMetadataSize int64         // METADATA / PKG-INFO / RECORD / WHEEL size cap
	MaxDuration     time.Duration // wall-clock cap for the whole inspection

	// Once a stream has inflated more than RatioMinSize real bytes, it may
	// not have produced more than MaxRatio times its compressed size: a
	// zip member against its compressed size, a .tar.gz's whole gzip
	// stream against the file's size (tar members are not compressed one
	// by one). Real data rarely compresses 50:1 at that size; bombs do by
	// a thousand.
	RatioMinSize int64
	MaxRatio     int

	// now replaces time.Now in tests of MaxDuration.
	now func() time.Time
}

// DefaultLimits returns the limits used unless the server's configuration
// sets others. 512 MiB unpacked covers nearly every project; the few with
// larger binary wheels (CUDA libraries, say) need the operator to raise
// MaxTotalSize.
func DefaultLimits() Limits {
	return Limits{
		MaxEntries:      50_000,
		MaxTotalSize:    512 << 20,
		MaxMetadataSize: 10 << 20,
		MaxDuration:     30 * time.Second,
		RatioMinSize:    64 << 20,
		MaxRatio:        50,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = d.MaxTotalSize
	}
	if l.MaxMetadataSize <= 0 {
		l.MaxMetadataSize = d.MaxMetadataSize
	}
	if l.MaxDuration <= 0 {
		l.MaxDuration = d.MaxDuration
	}
	if l.RatioMinSize <= 0 {
		l.RatioMinSize = d.RatioMinSize
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = d.MaxRatio
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l
}

// budget is the running account of one inspection against its Limits.
// Sizes are counted from the bytes a decompressor really produced: sizes
// written in archive headers are chosen by the uploader.
type budget struct {
	lim       Limits
	deadline  time.Time
	total     int64
	linkSteps int
}

func newBudget(lim Limits) *budget {
	lim = lim.withDefaults()
	return &budget{lim: lim, deadline: lim.now().Add(lim.MaxDuration)}
}

func (b *budget) checkTime() error {
	if b.lim.now().After(b.deadline) {
		return newError(ErrArchiveTooLarge, "Distribution file too large: inspecting it took longer than %s. Reduce its size or number of files.", b.lim.MaxDuration)
	}
	return nil
}

func (b *budget) tooManyEntries() error {
	return newError(ErrArchiveTooLarge, "Distribution file too large: it has more than %d members.", b.lim.MaxEntries)
}

func (b *budget) add(n int) error {
	b.total += int64(n)
	if b.total > b.lim.MaxTotalSize {
		return newError(ErrArchiveTooLarge, "Distribution file too large: it unpacks to more than %d bytes.", b.lim.MaxTotalSize)
	}
	return nil
}

// tooDense reports whether n bytes inflated from compressed bytes break the
// ratio limit. It divides rather than multiplies so that no configured
// ratio can overflow.
func (b *budget) tooDense(n, compressed int64) bool {
	if n <= b.lim.RatioMinSize {
		return false
	}
	if compressed <= 0 {
		return true
	}
	q, r := n/compressed, n%compressed
	return q > int64(b.lim.MaxRatio) || q == int64(b.lim.MaxRatio) && r > 0
}

// countingReader charges every byte it returns to the budget and checks the
// deadline on every read, so a decompression bomb stops at the cap however
// its headers describe it. When dense is set, it is also called with the
// stream's own running total, for the ratio limit.
type countingReader struct {
	r     io.Reader
	b     *budget
	n     int64
	dense func(n int64) error
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.b.checkTime(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if berr := c.b.add(n); berr != nil {
		return n, berr
	}
	c.n += int64(n)
	if c.dense != nil {
		if derr := c.dense(c.n); derr != nil {
			return n, derr
		}
	}
	return n, err
}

// asUserError passes our own errors (limits hit inside a reader) through
// unchanged and wraps anything else as an invalid archive.
func asUserError(err error, format string, args ...any) error {
	var ue *userError
	if errors.As(err, &ue) {
		return ue
	}
	return wrapError(ErrInvalidArchive, err, format, args...)
}

// checkMemberName refuses member names that could write outside an
// extraction directory or mean different things to different tools.
func checkMemberName(name string) error {
	bad := func(why string) error {
		return newError(ErrInvalidArchive, "Invalid distribution file: member name %s %s.", quote(name), why)
	}
	switch {
	case name == "":
		return bad("is empty")
	case !utf8.ValidString(name):
		return bad("is not valid UTF-8")
	case strings.ContainsRune(name, 0):
		return bad("contains a NUL byte")
	case strings.ContainsRune(name, '\\'):
		return bad("contains a backslash")
	case strings.HasPrefix(name, "/") || hasDriveLetter(name):
		return bad("is an absolute path")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return bad("contains control characters")
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == ".." {
			return bad("contains \"..\"")
		}
	}
	return nil
}

func hasDriveLetter(name string) bool {
	return len(name) >= 2 && name[1] == ':' && ('a' <= name[0] && name[0] <= 'z' || 'A' <= name[0] && name[0] <= 'Z')
}

// cleanMemberName gives the canonical path of an already checked member
// name: no "./" prefix, no trailing "/", no empty or "." segments. The root
// itself ("./") becomes ".".
func cleanMemberName(name string) string {
	return path.Clean(name)
}

func topLevel(clean string) string {
	top, _, _ := strings.Cut(clean, "/")
	return top
}

const (
	zipLocalHeaderSig = "PK\x03\x04"
	zipEOCDSig        = "PK\x05\x06"
	zipEOCDLen        = 22
	zipMaxCommentLen  = 0xffff
)

// zipTail reads the part of the file where a zip end-of-central-directory
// record can be.
func zipTail(r io.ReaderAt, size int64) ([]byte, int64, error) {
	n := min(size, zipEOCDLen+zipMaxCommentLen)
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-n); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, err
	}
	return buf, size - n, nil
}

// findZipEOCD returns the offset in the file of the last plausible
// end-of-central-directory record, or -1. "Plausible" is looser than Go's
// reader (which wants the comment to end exactly at the end of the file) and
// close to Python's zipfile, which finds the record anywhere in the last
// 64 KiB: a polyglot only has to fool one reader. The central directory has
// to fit before the record, which random compressed bytes almost never do.
func findZipEOCD(tail []byte, tailOff int64) int64 {
	for p := len(tail) - zipEOCDLen; p >= 0; p-- {
		if string(tail[p:p+4]) != zipEOCDSig {
			continue
		}
		rec := tail[p : p+zipEOCDLen]
		cdSize := int64(binary.LittleEndian.Uint32(rec[12:]))
		cdOff := int64(binary.LittleEndian.Uint32(rec[16:]))
		pos := tailOff + int64(p)
		if cdSize == 0xffffffff || cdOff == 0xffffffff {
			// Zip64: the real values are in a record just before.
			if p >= 20 && string(tail[p-20:p-16]) == "PK\x06\x07" {
				return pos
			}
			continue
		}
		if cdSize+cdOff <= pos {
			return pos
		}
	}
	return -1
}

// zipEntryCount reads the number of entries a zip claims, before Go's reader
// allocates a File for each: a small upload can declare millions. ok is
// false when the count cannot be read; the zip reader then reports why.
func zipEntryCount(r io.ReaderAt, tail []byte, tailOff int64) (n uint64, ok bool) {
	p := -1
	// Same search as archive/zip: the last signature whose comment fits.
	for i := len(tail) - zipEOCDLen; i >= 0; i-- {
		if string(tail[i:i+4]) == zipEOCDSig && i+zipEOCDLen+int(binary.LittleEndian.Uint16(tail[i+20:])) <= len(tail) {
			p = i
			break
		}
	}
	if p < 0 {
		return 0, false
	}
	n16 := binary.LittleEndian.Uint16(tail[p+10:])
	if n16 != 0xffff {
		return uint64(n16), true
	}
	if p < 20 || string(tail[p-20:p-16]) != "PK\x06\x07" {
		return 0, false
	}
	off := int64(binary.LittleEndian.Uint64(tail[p-12:]))
	if off < 0 || off > tailOff+int64(p) {
		return 0, false
	}
	rec := make([]byte, 56)
	if _, err := r.ReadAt(rec, off); err != nil || string(rec[:4]) != "PK\x06\x06" {
		return 0, false
	}
	return binary.LittleEndian.Uint64(rec[32:]), true
}

// zipMember is one checked member of a zip archive.
type zipMember struct {
	file  *zip.File
	clean string
	dir   bool
}

// openZip opens a zip archive and applies the checks common to wheels and
// zip sdists. what names the archive in messages ("wheel", "sdist").
func openZip(r io.ReaderAt, size int64, b *budget, what string) (*zip.Reader, []zipMember, error) {
	head := make([]byte, 4)
	if size < 4 {
		return nil, nil, newError(ErrInvalidArchive, "Invalid %s: the file is not a zip archive.", what)
	}
	if _, err := r.ReadAt(head, 0); err != nil {
		return nil, nil, asUserError(err, "Invalid %s: the file could not be read.", what)
	}
	// Data before the first member is how zip files hide inside other
	// formats (self-extracting executables, polyglots): refuse it.
	if string(head) != zipLocalHeaderSig {
		return nil, nil, newError(ErrInvalidArchive, "Invalid %s: the file is not a zip archive (it must start with a zip member header).", what)
	}
	tail, tailOff, err := zipTail(r, size)
	if err != nil {
		return nil, nil, asUserError(err, "Invalid %s: the file could not be read.", what)
	}
	if n, ok := zipEntryCount(r, tail, tailOff); ok && n > uint64(b.lim.MaxEntries) {
		return nil, nil, b.tooManyEntries()
	}
	walked, err := walkZipTail(r, size, tail, tailOff, b, what)
	if err != nil {
		return nil, nil, err
	}
	zr, err := zip.NewReader(r, size)
	// ErrInsecurePath comes with a usable reader; the names are checked
	// below with the message the author needs.
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, nil, wrapError(ErrInvalidArchive, err, "Invalid %s: the file is not a valid zip archive (%v).", what, err)
	}
	if len(zr.File) > b.lim.MaxEntries {
		return nil, nil, b.tooManyEntries()
	}
	// The walker's proof is about the directory it read; the members are
	// read through Go's reader, so it must have read the same one.
	if !sameDirectory(zr.File, walked) {
		return nil, nil, newError(ErrInvalidArchive, "Invalid %s: zip readers disagree about its central directory. Rebuild it with a standard tool (such as python -m build).", what)
	}
	members := make([]zipMember, 0, len(zr.File))
	seen := make(map[string]bool, len(zr.File))
	for _, f := range zr.File {
		if err := checkMemberName(f.Name); err != nil {
			return nil, nil, err
		}
		clean := cleanMemberName(f.Name)
		// Two members with one name are read differently by different
		// tools (first wins, last wins): the classic way to show a scanner
		// one file and an installer another.
		if seen[clean] {
			return nil, nil, newError(ErrInvalidArchive, "Invalid %s: member %s appears more than once.", what, quote(clean))
		}
		seen[clean] = true
		if f.Flags&0x1 != 0 {
			return nil, nil, newError(ErrInvalidArchive, "Invalid %s: member %s is encrypted.", what, quote(f.Name))
		}
		// Python's zipfile, and so pip, knows a directory by its trailing
		// slash alone: a member that only the mode bits call a directory
		// would be skipped here and extracted as a file there.
		dir := strings.HasSuffix(f.Name, "/")
		if f.Mode().IsDir() && !dir {
			return nil, nil, newError(ErrInvalidArchive, "Invalid %s: member %s is marked as a directory, but its name does not end with \"/\"; some tools would extract it as a file.", what, quote(f.Name))
		}
		if dir && f.UncompressedSize64 != 0 {
			return nil, nil, newError(ErrInvalidArchive, "Invalid %s: directory %s has content.", what, quote(f.Name))
		}
		members = append(members, zipMember{file: f, clean: clean, dir: dir})
	}
	return zr, members, nil
}

func sameDirectory(files []*zip.File, dir []zipDirEntry) bool {
	if len(files) != len(dir) {
		return false
	}
	for i, f := range files {
		d := dir[i]
		if f.Name != d.name || f.Method != d.method || f.Flags != d.flags || f.CRC32 != d.crc ||
			f.CompressedSize64 != d.csize || f.UncompressedSize64 != d.usize {
			return false
		}
	}
	return true
}

// readMember inflates one member in full through the budget into dst and
// returns its real size. The member's own ratio is held to the limit as it
// streams. The CRC is checked here too: archive/zip skips the check when the
// directory gives a CRC of zero.
func readMember(m zipMember, b *budget, what string, dst io.Writer, buf []byte) (int64, error) {
	if err := b.checkTime(); err != nil {
		return 0, err
	}
	rc, err := m.file.Open()
	if err != nil {
		if errors.Is(err, zip.ErrAlgorithm) {
			return 0, wrapError(ErrInvalidArchive, err, "Invalid %s: member %s uses an unsupported compression method; use deflate or store.", what, quote(m.clean))
		}
		return 0, asUserError(err, "Invalid %s: member %s cannot be read (%v).", what, quote(m.clean), err)
	}
	defer rc.Close()
	compressed := int64(m.file.CompressedSize64)
	src := &countingReader{r: rc, b: b, dense: func(n int64) error {
		if !b.tooDense(n, compressed) {
			return nil
		}
		return newError(ErrArchiveTooLarge, "Distribution file too large: member %s expands to more than %d times its compressed size (%d:1 after %d bytes); members this repetitive are refused as decompression bombs. Remove it or reduce its size.", quote(m.clean), b.lim.MaxRatio, n/max(compressed, 1), n)
	}}
	crc := crc32.NewIEEE()
	n, err := io.CopyBuffer(io.MultiWriter(dst, crc), src, buf)
	if err == nil && crc.Sum32() != m.file.CRC32 {
		err = zip.ErrChecksum
	}
	if err != nil {
		if errors.Is(err, zip.ErrChecksum) {
			return 0, wrapError(ErrInvalidArchive, err, "Invalid %s: member %s is corrupt (checksum mismatch).", what, quote(m.clean))
		}
		return 0, asUserError(err, "Invalid %s: member %s cannot be decompressed (%v).", what, quote(m.clean), err)
	}
	return n, nil
}

// inflate reads every member in full through the budget. Members for which
// keep returns a limit > 0 are returned, refused when larger than that limit.
func inflate(members []zipMember, b *budget, what string, keep func(zipMember) int64) (map[string][]byte, error) {
	kept := make(map[string][]byte)
	buf := make([]byte, 32<<10)
	for _, m := range members {
		limit := keep(m)
		if limit <= 0 {
			if _, err := readMember(m, b, what, io.Discard, buf); err != nil {
				return nil, err
			}
			continue
		}
		var out bytes.Buffer
		if _, err := readMember(m, b, what, &capWriter{w: &out, limit: limit, name: m.clean}, buf); err != nil {
			return nil, err
		}
		// Never nil, so an empty member reads as present.
		kept[m.clean] = append([]byte{}, out.Bytes()...)
	}
	return kept, nil
}

// capWriter refuses to buffer more than limit bytes of one member.
type capWriter struct {
	w     io.Writer
	n     int64
	limit int64
	name  string
}

func (c *capWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if c.n > c.limit {
		return 0, newError(ErrArchiveTooLarge, "Distribution file too large: %s is larger than %d bytes.", quote(c.name), c.limit)
	}
	return c.w.Write(p)
}

func isSymlink(mode fs.FileMode) bool { return mode&fs.ModeSymlink != 0 }

func describeList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = quote(n)
	}
	if len(q) > 5 {
		q = append(q[:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	return strings.Join(q, ", ")
}
