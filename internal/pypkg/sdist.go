package pypkg

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"path"
	"strconv"
	"strings"
)

// Bounds on links in sdists, which are resolved after reading: a target
// longer than any real path, or chains that never end, cost time only.
const (
	maxLinkTarget = 1024
	maxLinkHops   = 40
	maxLinkSteps  = 1_000_000
)

// ReadSdistMetadata checks the structure of the sdist in r (size bytes,
// uploaded as f, a .tar.gz or .zip) and returns the exact bytes of its
// top-level PKG-INFO. The whole archive is decompressed and counted against
// lim.
//
// It does not compare PKG-INFO's Name and Version with f: parse the result
// with ParseMetadata and check it with f.Matches(m.Name, m.Version).
func ReadSdistMetadata(r io.ReaderAt, size int64, f Filename, lim Limits) ([]byte, error) {
	if f.Kind != Sdist {
		return nil, newError(ErrInvalidArchive, "Invalid sdist: %s is not an sdist filename.", quote(f.Name))
	}
	b := newBudget(lim)
	t := &sdistTree{f: f, b: b, seen: make(map[string]memberType), links: make(map[string]string)}
	var err error
	switch f.Ext {
	case ".tar.gz":
		err = readTarGz(r, size, t)
	case ".zip":
		err = readSdistZip(r, size, t)
	default:
		err = newError(ErrInvalidArchive, "%s", extensionMessage)
	}
	if err != nil {
		return nil, err
	}
	if err := t.finish(); err != nil {
		return nil, err
	}
	return t.pkgInfo, nil
}

// sdistTree accumulates the members of an sdist, whatever its container,
// and enforces the layout: one top-level directory named after the release,
// with PKG-INFO in it, and links that stay inside it.
type sdistTree struct {
	f         Filename
	b         *budget
	entries   int
	top       string
	seen      map[string]memberType
	links     map[string]string // symlink path -> target
	hardlinks [][2]string       // path, target
	pkgInfo   []byte
}

type memberType int

const (
	memberFile memberType = iota
	memberDir
	memberSymlink
	memberHardlink
)

// add records one member. It returns whether the member is the top-level
// PKG-INFO, whose content the caller must then hand to setPkgInfo.
func (t *sdistTree) add(name string, typ memberType, linkTarget string) (bool, error) {
	t.entries++
	if t.entries > t.b.lim.MaxEntries {
		return false, t.b.tooManyEntries()
	}
	if err := checkMemberName(name); err != nil {
		return false, err
	}
	clean := cleanMemberName(name)
	if clean == "." {
		// "./", which some tar writers add for the root itself.
		if typ != memberDir {
			return false, newError(ErrInvalidArchive, "Invalid sdist: member %s is not a directory.", quote(name))
		}
		return false, nil
	}
	top := topLevel(clean)
	switch {
	case t.top == "":
		t.top = top
	case top != t.top:
		return false, newError(ErrInvalidArchive, "Invalid sdist: it has more than one top-level entry (%s and %s); an sdist must contain exactly one top-level directory named %s.", quote(t.top), quote(top), quote(t.f.Name+"-"+t.f.Version))
	}
	if clean == top && typ != memberDir {
		return false, newError(ErrInvalidArchive, "Invalid sdist: the top-level entry %s is not a directory.", quote(top))
	}
	// Repeated directories are harmless; any other repeat means two tools
	// can extract different files from one archive.
	if prev, dup := t.seen[clean]; dup && (typ != memberDir || prev != memberDir) {
		return false, newError(ErrInvalidArchive, "Invalid sdist: member %s appears more than once.", quote(clean))
	}
	t.seen[clean] = typ
	switch typ {
	case memberSymlink:
		if err := checkLinkTarget(clean, linkTarget); err != nil {
			return false, err
		}
		t.links[clean] = linkTarget
	case memberHardlink:
		if err := checkLinkTarget(clean, linkTarget); err != nil {
			return false, err
		}
		t.hardlinks = append(t.hardlinks, [2]string{clean, linkTarget})
	}
	isPkgInfo := clean == top+"/PKG-INFO"
	if isPkgInfo && typ != memberFile {
		return false, newError(ErrInvalidArchive, "Invalid sdist: %s must be a regular file.", quote(clean))
	}
	return isPkgInfo, nil
}

func checkLinkTarget(name, target string) error {
	bad := func(why string) error {
		return newError(ErrInvalidArchive, "Invalid sdist: link %s points to %s, %s.", quote(name), quote(target), why)
	}
	switch {
	case target == "":
		return bad("an empty target")
	case len(target) > maxLinkTarget:
		return bad("a target that is too long")
	case !utf8ValidNoControl(target):
		return bad("a target with control characters or invalid UTF-8")
	case strings.ContainsRune(target, '\\'):
		return bad("a target with a backslash")
	case strings.HasPrefix(target, "/") || hasDriveLetter(target):
		return bad("an absolute path")
	}
	return nil
}

func utf8ValidNoControl(s string) bool {
	for _, r := range s {
		if r == '\uFFFD' || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

func (t *sdistTree) setPkgInfo(b []byte) { t.pkgInfo = b }

// finish checks what needs the whole archive: the top directory's name,
// PKG-INFO's presence, and where links lead once every link is known.
func (t *sdistTree) finish() error {
	want := quote(t.f.Name + "-" + t.f.Version)
	if t.top == "" {
		return newError(ErrInvalidArchive, "Invalid sdist: the archive is empty; it must contain a top-level directory named %s.", want)
	}
	if !matchesNameVersion(t.top, t.f.Name, t.f.Version) {
		return newError(ErrInvalidArchive, "Invalid sdist: the top-level directory %s does not match the filename; it must be named %s.", quote(t.top), want)
	}
	if t.pkgInfo == nil {
		return newError(ErrInvalidArchive, "Invalid sdist: %s not found. See https://packaging.python.org/specifications/source-distribution-format/ for more information.", quote(t.top+"/PKG-INFO"))
	}
	for p, target := range t.links {
		if err := t.checkLink("symbolic link", p, path.Dir(p), target); err != nil {
			return err
		}
	}
	// A hard link's target is a path in the archive, not relative to the link.
	for _, hl := range t.hardlinks {
		if err := t.checkLink("hard link", hl[0], "", hl[1]); err != nil {
			return err
		}
	}
	return nil
}

func (t *sdistTree) checkLink(what, p, dir, target string) error {
	res := t.resolve(dir, target)
	if t.b.linkSteps > maxLinkSteps {
		return newError(ErrArchiveTooLarge, "Distribution file too large: its links take too long to resolve.")
	}
	if err := t.b.checkTime(); err != nil {
		return err
	}
	switch res {
	case linkLoop:
		return newError(ErrInvalidArchive, "Invalid sdist: %s %s points to %s, which never resolves (a loop of links).", what, quote(p), quote(target))
	case linkOutside:
		return newError(ErrInvalidArchive, "Invalid sdist: %s %s points to %s, outside the top-level directory %s.", what, quote(p), quote(target), quote(t.top))
	}
	return nil
}

type linkResult int

const (
	linkInside linkResult = iota
	linkOutside
	linkLoop
)

// resolve follows dir and then target through the archive's own symlinks,
// as an extractor's file system would, and says whether the result is inside
// the top directory. A lexical check is not enough: with "top/l -> .", the
// link "top/l/l/x -> ../.." is lexically inside but really two levels above
// top. dir is resolved too, for the same reason.
func (t *sdistTree) resolve(dir, target string) linkResult {
	var stack []string
	pending := append(strings.Split(dir, "/"), strings.Split(target, "/")...)
	hops := 0
	for len(pending) > 0 {
		t.b.linkSteps++
		if t.b.linkSteps > maxLinkSteps {
			return linkLoop
		}
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) == 0 {
				return linkOutside
			}
			stack = stack[:len(stack)-1]
			continue
		}
		stack = append(stack, c)
		next, ok := t.links[strings.Join(stack, "/")]
		if !ok {
			continue
		}
		hops++
		if hops > maxLinkHops {
			return linkLoop
		}
		stack = stack[:len(stack)-1]
		pending = append(strings.Split(next, "/"), pending...)
	}
	if len(stack) > 0 && stack[0] == t.top {
		return linkInside
	}
	return linkOutside
}

// looksLikeZip reports whether a zip reader would accept the file: such a
// file is a tar+zip polyglot, unpacked differently by different tools.
func looksLikeZip(r io.ReaderAt, size int64) (bool, error) {
	tail, off, err := zipTail(r, size)
	if err != nil {
		return false, err
	}
	return findZipEOCD(tail, off) >= 0, nil
}

func readTarGz(r io.ReaderAt, size int64, t *sdistTree) error {
	head := make([]byte, 4)
	if size < 4 {
		return newError(ErrInvalidArchive, "Invalid sdist: the file is not a gzip-compressed tar archive.")
	}
	if _, err := r.ReadAt(head, 0); err != nil {
		return asUserError(err, "Invalid sdist: the file could not be read.")
	}
	if string(head) == zipLocalHeaderSig {
		return newError(ErrInvalidArchive, "Invalid sdist: the file is a zip archive, not a .tar.gz; name it .zip or build a .tar.gz.")
	}
	if head[0] != 0x1f || head[1] != 0x8b {
		return newError(ErrInvalidArchive, "Invalid sdist: the file is not gzip-compressed; a .tar.gz must be a gzip-compressed tar archive.")
	}
	zipToo, err := looksLikeZip(r, size)
	if err != nil {
		return asUserError(err, "Invalid sdist: the file could not be read.")
	}
	if zipToo {
		return newError(ErrInvalidArchive, "Invalid sdist: the file is both a tar.gz and a zip archive; upload a plain .tar.gz.")
	}

	gz, err := gzip.NewReader(io.NewSectionReader(r, 0, size))
	if err != nil {
		return wrapError(ErrInvalidArchive, err, "Invalid sdist: the gzip stream is invalid (%v).", err)
	}
	defer gz.Close()
	// Tar members are not compressed one by one: the ratio limit holds
	// the whole stream to the size of the file.
	b := t.b
	stream := bufio.NewReader(&countingReader{r: gz, b: b, dense: func(n int64) error {
		if !b.tooDense(n, size) {
			return nil
		}
		return newError(ErrArchiveTooLarge, "Distribution file too large: its gzip stream expands to more than %d times the file's size (%d:1 after %d bytes); archives this repetitive are refused as decompression bombs. Remove large repetitive files from the sdist.", b.lim.MaxRatio, n/size, n)
	}})
	if p, _ := stream.Peek(4); string(p) == zipLocalHeaderSig {
		return newError(ErrInvalidArchive, "Invalid sdist: the gzip stream contains a zip archive, not a tar archive.")
	}

	tr := tar.NewReader(stream)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return asUserError(err, "Invalid sdist: the tar archive is invalid (%v).", err)
		}
		if err := t.b.checkTime(); err != nil {
			return err
		}
		if err := readTarMember(tr, hdr, t); err != nil {
			return err
		}
	}
	// What follows the end-of-archive blocks must be padding. Draining it
	// also makes the gzip reader see (and refuse) anything after the gzip
	// stream, such as an appended zip.
	if err := drainZeros(stream); err != nil {
		return err
	}
	return nil
}

func readTarMember(tr *tar.Reader, hdr *tar.Header, t *sdistTree) error {
	var typ memberType
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		// git archive's pax_global_header: metadata, not a member.
		t.entries++
		if t.entries > t.b.lim.MaxEntries {
			return t.b.tooManyEntries()
		}
		return nil
	case tar.TypeReg:
		typ = memberFile
	case tar.TypeDir:
		typ = memberDir
	case tar.TypeSymlink:
		typ = memberSymlink
	case tar.TypeLink:
		typ = memberHardlink
	case tar.TypeGNUSparse:
		return errSparse(hdr.Name)
	default:
		return newError(ErrInvalidArchive, "Invalid sdist: member %s has tar type %s; sdists may contain only files, directories and links.", quote(hdr.Name), strconv.QuoteRune(rune(hdr.Typeflag)))
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return errSparse(hdr.Name)
		}
	}
	isPkgInfo, err := t.add(hdr.Name, typ, hdr.Linkname)
	if err != nil {
		return err
	}
	if !isPkgInfo {
		return nil
	}
	var buf bytes.Buffer
	w := &capWriter{w: &buf, limit: t.b.lim.MaxMetadataSize, name: cleanMemberName(hdr.Name)}
	if _, err := io.Copy(w, tr); err != nil {
		return asUserError(err, "Invalid sdist: %s cannot be read (%v).", quote(hdr.Name), err)
	}
	t.setPkgInfo(append([]byte{}, buf.Bytes()...))
	return nil
}

// errSparse refuses sparse files: they expand to their declared size from
// holes, without compressed bytes to count, and sdists have no use for them.
func errSparse(name string) error {
	return newError(ErrInvalidArchive, "Invalid sdist: member %s is a sparse file; sdists cannot contain sparse files.", quote(name))
}

func drainZeros(r io.Reader) error {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			if c != 0 {
				return newError(ErrInvalidArchive, "Invalid sdist: there is data after the end of the tar archive.")
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return asUserError(err, "Invalid sdist: the compressed stream is invalid after the tar archive (%v).", err)
		}
	}
}

func readSdistZip(r io.ReaderAt, size int64, t *sdistTree) error {
	// A zip that a tar or gzip reader also accepts is a polyglot.
	head := make([]byte, 512)
	n, err := r.ReadAt(head, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return asUserError(err, "Invalid sdist: the file could not be read.")
	}
	head = head[:n]
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b {
		return newError(ErrInvalidArchive, "Invalid sdist: the file is gzip-compressed, not a zip archive; name it .tar.gz.")
	}
	if isTarHeader(head) {
		if bytes.HasPrefix(head, []byte(zipLocalHeaderSig)) {
			return newError(ErrInvalidArchive, "Invalid sdist: the file is both a zip and a tar archive; upload a plain .zip.")
		}
		return newError(ErrInvalidArchive, "Invalid sdist: the file is a tar archive, not a zip archive.")
	}

	_, members, err := openZip(r, size, t.b, "sdist")
	if err != nil {
		return err
	}
	symlinks := make(map[string]bool)
	var pkgInfo string
	for _, m := range members {
		typ := memberFile
		switch {
		case m.dir:
			typ = memberDir
		case isSymlink(m.file.Mode()):
			typ = memberSymlink
			symlinks[m.clean] = true
		}
		// The target of a zip symlink is its content: add it once known.
		if typ == memberSymlink {
			continue
		}
		isPkgInfo, err := t.add(m.file.Name, typ, "")
		if err != nil {
			return err
		}
		if isPkgInfo {
			pkgInfo = m.clean
		}
	}
	kept, err := inflate(members, t.b, "sdist", func(m zipMember) int64 {
		switch {
		case m.clean == pkgInfo && pkgInfo != "":
			return t.b.lim.MaxMetadataSize
		case symlinks[m.clean]:
			return maxLinkTarget
		}
		return 0
	})
	if err != nil {
		return err
	}
	for _, m := range members {
		if symlinks[m.clean] {
			if _, err := t.add(m.file.Name, memberSymlink, string(kept[m.clean])); err != nil {
				return err
			}
		}
	}
	if pkgInfo != "" {
		t.setPkgInfo(kept[pkgInfo])
	}
	return nil
}

// isTarHeader reports whether block starts with a tar header whose checksum
// is right, which is how tar readers recognise one (POSIX and GNU formats
// have "ustar" at 257, old V7 archives only the checksum).
func isTarHeader(block []byte) bool {
	if len(block) < 512 {
		return false
	}
	if string(block[257:262]) == "ustar" {
		return true
	}
	field := strings.Trim(string(block[148:156]), " \x00")
	want, err := strconv.ParseInt(field, 8, 64)
	if err != nil {
		return false
	}
	var unsigned, signed int64
	for i, c := range block[:512] {
		if 148 <= i && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return want == unsigned || want == signed
}
