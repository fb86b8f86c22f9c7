package pypkg

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
)

const (
	zipCentralSig    = "PK\x01\x02"
	zipDescriptorSig = "PK\x07\x08"
	zip64EndSig      = "PK\x06\x06"
	zip64LocatorSig  = "PK\x06\x07"

	zipLocalLen     = 30
	zipCentralLen   = 46
	zip64EndLen     = 56
	zip64LocatorLen = 20

	zip64ExtraID       = 0x0001
	unicodePathExtraID = 0x7075

	zipFlagEncrypted  = 0x0001
	zipFlagDescriptor = 0x0008
	zipFlagUTF8       = 0x0800
	// The flags that change how a member is read or named: encryption,
	// data descriptor, strong encryption, UTF-8 names, masked headers.
	// The others (deflate level hints) may differ harmlessly.
	zipMeaningFlags = zipFlagEncrypted | zipFlagDescriptor | 0x0040 | zipFlagUTF8 | 0x2000

	zipMax16 = 0xffff
	zipMax32 = 0xffffffff
)

// zipDirEntry is one central directory entry, with zip64 values resolved.
type zipDirEntry struct {
	name                 string
	flags, method        uint16
	crc                  uint32
	csize, usize, offset uint64
	// wide is set when the sizes needed zip64 fields: its data descriptor,
	// if any, then holds 8-byte sizes.
	wide bool
}

// zipEnd is what the end records say about the central directory.
type zipEnd struct {
	entries          uint64
	cdOffset, cdSize uint64
	cdEnd            int64 // where the directory must end: the zip64 record, or the end record
}

type zipWalker struct {
	r    io.ReaderAt
	size int64
	b    *budget
	what string
}

// walkZip checks the structure of the zip archive in r and returns its
// central directory entries in directory order.
//
// A zip archive describes each member twice: in a local header just before
// the member's data, and in the central directory at the end of the file.
// Go's archive/zip and Python's zipfile trust the central directory; streaming
// extractors and some scanners walk the local headers from the start; and
// readers differ in how they find the end record (at the exact end, or the
// last signature in the last 64 KiB), in whether they honour zip64 records,
// and in how they decode names. A crafted archive whose parts disagree shows
// different tools different files: this index, or a scanner, reads one wheel
// and an installer unpacks another. Go's reader opens such archives without a
// word, so walkZip reads the structure itself and accepts only a file that
// can be read one way:
//
//   - the file is, byte for byte, local entries back to back from offset 0,
//     the central directory, the zip64 end record and locator when present,
//     the end record and its declared comment, and nothing else. So no local
//     entry hides outside the directory, no two entries share or overlap
//     data, and nothing is prepended or appended;
//   - every central-directory entry points at its own local header, which
//     agrees with it: the same name bytes, compression method and
//     meaning-changing flags, and the same CRC and sizes, given in the header
//     or, when flag bit 3 is set, in the data descriptor after the data;
//   - there is one end record: no other end-record signature after its start
//     (where readers that take the last one look) and no other record whose
//     comment would also end exactly at the end of the file;
//   - when zip64 is used, the end record, the locator and the zip64 record
//     agree, and the zip64 record sits where every reader looks for it;
//   - names that are not ASCII carry the UTF-8 flag (Python decodes unflagged
//     names as CP437, Go as UTF-8), and no Info-ZIP Unicode path field gives a
//     member a second name.
//
// Every header is read once and member data is skipped, so the work is
// linear in the size of the file. Nothing is allocated per entry before the
// declared count has been checked against MaxEntries and against the real
// size of the central directory.
func walkZip(r io.ReaderAt, size int64, b *budget, what string) ([]zipDirEntry, error) {
	tail, tailOff, err := zipTail(r, size)
	if err != nil {
		return nil, asUserError(err, "Invalid %s: the file could not be read.", what)
	}
	return walkZipTail(r, size, tail, tailOff, b, what)
}

// walkZipTail is walkZip for a caller that has read the tail already.
func walkZipTail(r io.ReaderAt, size int64, tail []byte, tailOff int64, b *budget, what string) ([]zipDirEntry, error) {
	w := &zipWalker{r: r, size: size, b: b, what: what}
	end, err := w.readEnd(tail, tailOff)
	if err != nil {
		return nil, err
	}
	entries, err := w.readDirectory(end)
	if err != nil {
		return nil, err
	}
	if err := w.walkLocal(entries, int64(end.cdOffset)); err != nil {
		return nil, err
	}
	return entries, nil
}

// bad refuses the archive for a structural reason, with the advice that
// fixes every one of them.
func (w *zipWalker) bad(format string, args ...any) error {
	return newError(ErrInvalidArchive, "Invalid %s: %s. Rebuild it with a standard tool (such as python -m build): zip files whose records disagree are unpacked differently by different tools, so they are refused.", w.what, fmt.Sprintf(format, args...))
}

func (w *zipWalker) readErr(err error) error {
	return asUserError(err, "Invalid %s: the file could not be read.", w.what)
}

func (w *zipWalker) readEnd(tail []byte, tailOff int64) (zipEnd, error) {
	fits := func(i int) bool {
		return i+zipEOCDLen <= len(tail) && string(tail[i:i+4]) == zipEOCDSig && i+zipEOCDLen+int(le16(tail[i+20:])) == len(tail)
	}
	p := bytes.LastIndex(tail, []byte(zipEOCDSig))
	for p >= 0 && !fits(p) {
		p = bytes.LastIndex(tail[:p], []byte(zipEOCDSig))
	}
	if p < 0 {
		if q := bytes.LastIndex(tail, []byte(zipEOCDSig)); q >= 0 && q+zipEOCDLen <= len(tail) && q+zipEOCDLen+int(le16(tail[q+20:])) < len(tail) {
			return zipEnd{}, w.bad("there is data after the end of the zip archive (after its end-of-central-directory record and comment); remove what was appended to it")
		}
		return zipEnd{}, newError(ErrInvalidArchive, "Invalid %s: the file is not a valid zip archive (its end-of-central-directory record is missing or truncated).", w.what)
	}
	// A reader that takes the last signature in the file, or that accepts
	// a record whose comment does not reach the end, must find this one too.
	if bytes.Contains(tail[p+1:], []byte(zipEOCDSig)) {
		return zipEnd{}, w.bad("it has more than one end-of-central-directory record (one inside the comment or the record itself)")
	}
	for i := p - 1; i >= 0; i-- {
		if fits(i) {
			return zipEnd{}, w.bad("it has more than one end-of-central-directory record")
		}
	}

	rec := tail[p : p+zipEOCDLen]
	eocdPos := tailOff + int64(p)
	disk, cdDisk := le16(rec[4:]), le16(rec[6:])
	diskEntries, entries := le16(rec[8:]), le16(rec[10:])
	cdSize, cdOff := le32(rec[12:]), le32(rec[16:])
	if disk != 0 || cdDisk != 0 || diskEntries != entries {
		return zipEnd{}, w.bad("its end-of-central-directory record describes a multi-disk archive")
	}
	end := zipEnd{entries: uint64(entries), cdSize: uint64(cdSize), cdOffset: uint64(cdOff), cdEnd: eocdPos}

	// Python uses zip64 whenever a locator precedes the end record; Go
	// only when the end record has a field at its maximum. Accept zip64
	// only when both readers will use it and find the same values.
	if locPos := eocdPos - zip64LocatorLen; locPos >= 0 {
		loc := make([]byte, zip64LocatorLen)
		if _, err := w.r.ReadAt(loc, locPos); err != nil {
			return zipEnd{}, w.readErr(err)
		}
		if string(loc[:4]) == zip64LocatorSig {
			z, err := w.readZip64End(end, loc, locPos, entries, cdSize, cdOff)
			if err != nil {
				return zipEnd{}, err
			}
			end = z
		}
	}

	if end.entries > uint64(w.b.lim.MaxEntries) {
		return zipEnd{}, w.b.tooManyEntries()
	}
	if end.cdOffset > uint64(end.cdEnd) || uint64(end.cdEnd)-end.cdOffset != end.cdSize {
		return zipEnd{}, w.bad("its central directory (%d bytes from offset %d) does not end where the end records begin (offset %d)", end.cdSize, end.cdOffset, end.cdEnd)
	}
	if end.entries*zipCentralLen > end.cdSize {
		return zipEnd{}, w.bad("it declares %d members, more than its %d-byte central directory can hold", end.entries, end.cdSize)
	}
	return end, nil
}

func (w *zipWalker) readZip64End(end zipEnd, loc []byte, locPos int64, entries uint16, cdSize, cdOff uint32) (zipEnd, error) {
	if entries != zipMax16 && cdSize != zipMax16 && cdOff != zipMax32 {
		// Go's own test for zip64 (the 0xffff size is its quirk).
		return end, w.bad("it has a zip64 locator, but its end-of-central-directory record does not ask for zip64")
	}
	recPos := locPos - zip64EndLen
	if le32(loc[4:]) != 0 || le32(loc[16:]) != 1 || recPos < 0 || le64(loc[8:]) != uint64(recPos) {
		return end, w.bad("its zip64 locator does not point at a zip64 end record just before it")
	}
	rec := make([]byte, zip64EndLen)
	if _, err := w.r.ReadAt(rec, recPos); err != nil {
		return end, w.readErr(err)
	}
	if string(rec[:4]) != zip64EndSig || le64(rec[4:]) != zip64EndLen-12 {
		return end, w.bad("its zip64 end record is missing or has an unexpected size")
	}
	if le32(rec[16:]) != 0 || le32(rec[20:]) != 0 || le64(rec[24:]) != le64(rec[32:]) {
		return end, w.bad("its zip64 end record describes a multi-disk archive")
	}
	z := zipEnd{entries: le64(rec[32:]), cdSize: le64(rec[40:]), cdOffset: le64(rec[48:]), cdEnd: recPos}
	// A field that is not at its maximum is read as it is by readers that
	// ignore zip64: it must say the same.
	if entries != zipMax16 && uint64(entries) != z.entries ||
		cdSize != zipMax32 && uint64(cdSize) != z.cdSize ||
		cdOff != zipMax32 && uint64(cdOff) != z.cdOffset {
		return end, w.bad("its end-of-central-directory record and zip64 end record disagree")
	}
	return z, nil
}

func (w *zipWalker) readDirectory(end zipEnd) ([]zipDirEntry, error) {
	br := bufio.NewReader(io.NewSectionReader(w.r, int64(end.cdOffset), int64(end.cdSize)))
	entries := make([]zipDirEntry, 0, end.entries)
	var hdr [zipCentralLen]byte
	short := func(err error) error {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return w.bad("its central directory is shorter than its %d members", end.entries)
		}
		return w.readErr(err)
	}
	for i := uint64(0); i < end.entries; i++ {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return nil, short(err)
		}
		if string(hdr[:4]) != zipCentralSig {
			return nil, w.bad("central directory entry %d does not start with an entry signature", i+1)
		}
		nameLen, extraLen, commentLen := int(le16(hdr[28:])), int(le16(hdr[30:])), int(le16(hdr[32:]))
		vb := make([]byte, nameLen+extraLen+commentLen)
		if _, err := io.ReadFull(br, vb); err != nil {
			return nil, short(err)
		}
		e := zipDirEntry{
			name:   string(vb[:nameLen]),
			flags:  le16(hdr[8:]),
			method: le16(hdr[10:]),
			crc:    le32(hdr[16:]),
			csize:  uint64(le32(hdr[20:])),
			usize:  uint64(le32(hdr[24:])),
			offset: uint64(le32(hdr[42:])),
		}
		if le16(hdr[34:]) != 0 {
			return nil, w.bad("member %s is on another disk of a multi-disk archive", quote(e.name))
		}
		if !isASCII(e.name) && e.flags&zipFlagUTF8 == 0 {
			return nil, w.bad("member name %s is not ASCII but is not marked as UTF-8 (zip flag bit 11)", quote(e.name))
		}
		extra, err := w.extraFields(e.name, vb[nameLen:nameLen+extraLen])
		if err != nil {
			return nil, err
		}
		e.wide = e.usize == zipMax32 || e.csize == zipMax32
		if !resolveZip64(extra, &e.usize, &e.csize, &e.offset) {
			return nil, w.bad("member %s: its central directory entry lacks the zip64 values it refers to", quote(e.name))
		}
		entries = append(entries, e)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, w.readErr(err)
		}
		return nil, w.bad("its central directory has data after its %d members", end.entries)
	}
	return entries, nil
}

type zipExtra struct {
	id   uint16
	data []byte
}

// extraFields splits an extra field block, which must consist of whole
// fields only (Python refuses a field that runs past the block, Go ignores
// it), and refuses an Info-ZIP Unicode path field that renames the member
// for the tools that honour it.
func (w *zipWalker) extraFields(name string, b []byte) ([]zipExtra, error) {
	var out []zipExtra
	for len(b) > 0 {
		if len(b) < 4 || len(b)-4 < int(le16(b[2:])) {
			return nil, w.bad("member %s has a malformed extra field", quote(name))
		}
		f := zipExtra{id: le16(b), data: b[4 : 4+int(le16(b[2:]))]}
		b = b[4+len(f.data):]
		if f.id == unicodePathExtraID && (len(f.data) < 5 || string(f.data[5:]) != name) {
			return nil, w.bad("member %s has an Info-ZIP Unicode path field that gives it another name", quote(name))
		}
		out = append(out, f)
	}
	return out, nil
}

// resolveZip64 replaces each field at its 32-bit maximum with the next
// 8-byte value of the first zip64 extra field, in the order the format
// lists them, as Go and Python both do. It reports false when a value is
// missing.
func resolveZip64(extra []zipExtra, fields ...*uint64) bool {
	var data []byte
	for _, f := range extra {
		if f.id == zip64ExtraID {
			data = f.data
			break
		}
	}
	for _, p := range fields {
		if *p != zipMax32 {
			continue
		}
		if len(data) < 8 {
			return false
		}
		*p = le64(data)
		data = data[8:]
	}
	return true
}

// walkLocal checks that the local entries, taken in file order, tile the
// file from offset 0 to the central directory, each agreeing with its
// directory entry.
func (w *zipWalker) walkLocal(entries []zipDirEntry, cdStart int64) error {
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
		if entries[i].offset >= uint64(cdStart) {
			return w.bad("member %s: its central directory entry points past the last member (offset %d)", quote(entries[i].name), entries[i].offset)
		}
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(entries[a].offset, entries[b].offset) })
	for k := 1; k < len(order); k++ {
		if a, b := &entries[order[k-1]], &entries[order[k]]; a.offset == b.offset {
			return w.bad("members %s and %s point at the same local header", quote(a.name), quote(b.name))
		}
	}
	var pos int64
	for k, i := range order {
		e := &entries[i]
		off := int64(e.offset)
		// Each entry was held to end by the next one's offset, so only a
		// gap is left to find.
		if off != pos {
			return w.bad("%d bytes at offset %d are not part of any member listed in the central directory (a hidden member, or inserted data)", off-pos, pos)
		}
		next := cdStart
		if k+1 < len(order) {
			next = int64(entries[order[k+1]].offset)
		}
		end, err := w.checkLocal(e, next)
		if err != nil {
			return err
		}
		pos = end
		if err := w.b.checkTime(); err != nil {
			return err
		}
	}
	if pos != cdStart {
		return w.bad("%d bytes before the central directory are not part of any member listed in it (a hidden member, or inserted data)", cdStart-pos)
	}
	return nil
}

// checkLocal checks the local entry of e, which must end by next (the next
// local header or the central directory), and returns where it ends.
func (w *zipWalker) checkLocal(e *zipDirEntry, next int64) (int64, error) {
	off := int64(e.offset)
	if next-off < zipLocalLen {
		return 0, w.bad("member %s: its central directory entry does not point at a local header", quote(e.name))
	}
	var h [zipLocalLen]byte
	if _, err := w.r.ReadAt(h[:], off); err != nil {
		return 0, w.readErr(err)
	}
	if string(h[:4]) != zipLocalHeaderSig {
		return 0, w.bad("member %s: its central directory entry does not point at a local header (offset %d)", quote(e.name), off)
	}
	flags, method := le16(h[6:]), le16(h[8:])
	crc, csize, usize := le32(h[14:]), uint64(le32(h[18:])), uint64(le32(h[22:]))
	nameLen, extraLen := int64(le16(h[26:])), int64(le16(h[28:]))
	dataStart := off + zipLocalLen + nameLen + extraLen
	if dataStart > next {
		return 0, w.bad("member %s: its local header overlaps the next member or the central directory", quote(e.name))
	}
	vb := make([]byte, nameLen+extraLen)
	if _, err := w.r.ReadAt(vb, off+zipLocalLen); err != nil {
		return 0, w.readErr(err)
	}
	if name := string(vb[:nameLen]); name != e.name {
		return 0, w.bad("member %s is named %s in its local header", quote(e.name), quote(name))
	}
	if method != e.method {
		return 0, w.bad("member %s: its local header gives compression method %d, the central directory %d", quote(e.name), method, e.method)
	}
	if flags&zipMeaningFlags != e.flags&zipMeaningFlags {
		return 0, w.bad("member %s: its local header flags (%#04x) differ from the central directory's (%#04x)", quote(e.name), flags, e.flags)
	}
	extra, err := w.extraFields(e.name, vb[nameLen:])
	if err != nil {
		return 0, err
	}
	// A zip64 field in the local header is what tells streaming readers
	// that the descriptor holds 8-byte sizes.
	wide := e.wide || slices.ContainsFunc(extra, func(f zipExtra) bool { return f.id == zip64ExtraID })
	if !resolveZip64(extra, &usize, &csize) {
		return 0, w.bad("member %s: its local header lacks the zip64 sizes it refers to", quote(e.name))
	}
	if e.csize > uint64(next-dataStart) {
		return 0, w.bad("member %s: its data overlaps the next member or the central directory", quote(e.name))
	}
	dataEnd := dataStart + int64(e.csize)
	differs := func(local, central uint64) bool {
		// With a data descriptor the local header may leave them zero.
		return local != central && (flags&zipFlagDescriptor == 0 || local != 0)
	}
	if differs(uint64(crc), uint64(e.crc)) || differs(csize, e.csize) || differs(usize, e.usize) {
		return 0, w.bad("member %s: its local header (CRC %08x, sizes %d/%d) differs from the central directory (CRC %08x, sizes %d/%d)", quote(e.name), crc, csize, usize, e.crc, e.csize, e.usize)
	}
	if flags&zipFlagDescriptor == 0 {
		return dataEnd, nil
	}
	return next, w.checkDescriptor(e, dataEnd, next, wide)
}

// checkDescriptor checks the data descriptor that fills the bytes from
// dataEnd to next. Its layout is fixed by its length: 12 or 16 bytes (CRC
// and 4-byte sizes, without or with a signature), or 20 or 24 for a zip64
// entry (8-byte sizes).
func (w *zipWalker) checkDescriptor(e *zipDirEntry, dataEnd, next int64, wide bool) error {
	n := next - dataEnd
	sizeLen := int64(4)
	if wide {
		sizeLen = 8
	}
	withSig := n == 4+4+2*sizeLen
	if !withSig && n != 4+2*sizeLen {
		return w.bad("member %s: the %d bytes after its data are not a data descriptor", quote(e.name), n)
	}
	d := make([]byte, n)
	if _, err := w.r.ReadAt(d, dataEnd); err != nil {
		return w.readErr(err)
	}
	// Readers tell the two layouts apart by the signature: a descriptor
	// without one whose CRC looks like it would be misread.
	if withSig != (string(d[:4]) == zipDescriptorSig) {
		return w.bad("member %s: its data descriptor is ambiguous", quote(e.name))
	}
	if withSig {
		d = d[4:]
	}
	csize, usize := uint64(le32(d[4:])), uint64(le32(d[8:]))
	if wide {
		csize, usize = le64(d[4:]), le64(d[12:])
	}
	if le32(d) != e.crc || csize != e.csize || usize != e.usize {
		return w.bad("member %s: its data descriptor (CRC %08x, sizes %d/%d) differs from the central directory (CRC %08x, sizes %d/%d)", quote(e.name), le32(d), csize, usize, e.crc, e.csize, e.usize)
	}
	return nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func le16(b []byte) uint16 { return binary.LittleEndian.Uint16(b) }
func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }
