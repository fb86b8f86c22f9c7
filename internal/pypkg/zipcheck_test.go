package pypkg

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// rawMember is one member of a hand-built zip: archive/zip's writer cannot
// write the disagreeing archives these tests need. Bodies are stored.
type rawMember struct {
	name       string
	body       string
	flags      uint16 // 0x8 alone (without descriptor) means a missing descriptor
	descriptor int    // with flag bit 3 set: a 12, 16, 20 or 24-byte descriptor
	zip64      bool   // sizes and offset in zip64 extra fields, in both headers
	hidden     bool   // a local entry with no central directory entry
	localName  string // the local header's name, when it differs
	extra      []byte // appended to both headers' extra fields
}

type rawZip struct {
	members  []rawMember
	zip64End bool // zip64 end record and locator, with the end record's fields at their maximum
	comment  string
}

// builtZip is a hand-built archive and where its records are, for tests
// that patch them.
type builtZip struct {
	data    []byte
	local   []int // each member's local header
	central []int // each member's directory entry, -1 when hidden
	cdStart int
	zip64   int // the zip64 end record, when written
	end     int // the end record
}

func put16(b []byte, v uint16) []byte { return binary.LittleEndian.AppendUint16(b, v) }
func put32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func put64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }

func zip64Field(vals ...uint64) []byte {
	b := put16(nil, zip64ExtraID)
	b = put16(b, uint16(8*len(vals)))
	for _, v := range vals {
		b = put64(b, v)
	}
	return b
}

func (z rawZip) build() builtZip {
	var out builtZip
	var b []byte
	var listed []int
	crcs := make([]uint32, len(z.members))
	for i, m := range z.members {
		out.local = append(out.local, len(b))
		crcs[i] = crc32.ChecksumIEEE([]byte(m.body))
		size := uint64(len(m.body))
		flags := m.flags
		if m.descriptor != 0 {
			flags |= zipFlagDescriptor
		}
		crc, csize, usize := crcs[i], size, size
		if flags&zipFlagDescriptor != 0 {
			crc, csize, usize = 0, 0, 0
		}
		extra := m.extra
		c32, u32 := uint32(csize), uint32(usize)
		if m.zip64 {
			extra = append(zip64Field(usize, csize), m.extra...)
			c32, u32 = zipMax32, zipMax32
		}
		name := m.name
		if m.localName != "" {
			name = m.localName
		}
		b = put32(b, 0x04034b50)
		b = put16(b, 45)
		b = put16(b, flags)
		b = put16(b, 0) // stored
		b = put32(b, 0) // time and date
		b = put32(b, crc)
		b = put32(b, c32)
		b = put32(b, u32)
		b = put16(b, uint16(len(name)))
		b = put16(b, uint16(len(extra)))
		b = append(b, name...)
		b = append(b, extra...)
		b = append(b, m.body...)
		if m.descriptor == 16 || m.descriptor == 24 {
			b = append(b, zipDescriptorSig...)
		}
		switch m.descriptor {
		case 12, 16:
			b = put32(put32(put32(b, crcs[i]), uint32(size)), uint32(size))
		case 20, 24:
			b = put64(put64(put32(b, crcs[i]), size), size)
		}
		if !m.hidden {
			listed = append(listed, i)
		}
	}
	out.cdStart = len(b)
	out.central = make([]int, len(z.members))
	for i := range out.central {
		out.central[i] = -1
	}
	for _, i := range listed {
		m := z.members[i]
		out.central[i] = len(b)
		size := uint64(len(m.body))
		flags := m.flags
		if m.descriptor != 0 {
			flags |= zipFlagDescriptor
		}
		extra := m.extra
		c32, u32, off32 := uint32(size), uint32(size), uint32(out.local[i])
		if m.zip64 {
			extra = append(zip64Field(size, size, uint64(out.local[i])), m.extra...)
			c32, u32, off32 = zipMax32, zipMax32, zipMax32
		}
		b = put32(b, 0x02014b50)
		b = put16(b, 0x031e) // made by Unix
		b = put16(b, 45)
		b = put16(b, flags)
		b = put16(b, 0)
		b = put32(b, 0)
		b = put32(b, crcs[i])
		b = put32(b, c32)
		b = put32(b, u32)
		b = put16(b, uint16(len(m.name)))
		b = put16(b, uint16(len(extra)))
		b = put16(b, 0) // comment
		b = put16(b, 0) // disk
		b = put16(b, 0) // internal attributes
		b = put32(b, 0o100644<<16)
		b = put32(b, off32)
		b = append(b, m.name...)
		b = append(b, extra...)
	}
	cdSize := len(b) - out.cdStart
	n16, size32, off32 := uint16(len(listed)), uint32(cdSize), uint32(out.cdStart)
	if z.zip64End {
		out.zip64 = len(b)
		b = put32(b, 0x06064b50)
		b = put64(b, zip64EndLen-12)
		b = put16(b, 45)
		b = put16(b, 45)
		b = put32(b, 0)
		b = put32(b, 0)
		b = put64(b, uint64(len(listed)))
		b = put64(b, uint64(len(listed)))
		b = put64(b, uint64(cdSize))
		b = put64(b, uint64(out.cdStart))
		b = put32(b, 0x07064b50)
		b = put32(b, 0)
		b = put64(b, uint64(out.zip64))
		b = put32(b, 1)
		n16, size32, off32 = zipMax16, zipMax32, zipMax32
	}
	out.end = len(b)
	b = put32(b, 0x06054b50)
	b = put16(b, 0)
	b = put16(b, 0)
	b = put16(b, n16)
	b = put16(b, n16)
	b = put32(b, size32)
	b = put32(b, off32)
	b = put16(b, uint16(len(z.comment)))
	b = append(b, z.comment...)
	out.data = b
	return out
}

func twoMembers() []rawMember {
	return []rawMember{
		{name: "foo/__init__.py", body: "x = 1\n"},
		{name: "foo/data.txt", body: strings.Repeat("data ", 20)},
	}
}

// patch returns a copy of the built archive with f applied to its bytes.
func (z builtZip) patch(f func(z builtZip, b []byte) []byte) []byte {
	return f(z, bytes.Clone(z.data))
}

func TestWalkZip(t *testing.T) {
	plain := rawZip{members: twoMembers()}.build()
	withDescriptor := rawZip{members: []rawMember{
		{name: "a", body: "aaaa", descriptor: 16},
		{name: "b", body: "bbbb", descriptor: 16},
	}}.build()
	zip64 := rawZip{members: []rawMember{
		{name: "a", body: "aaaa", zip64: true, descriptor: 24},
		{name: "b", body: "bbbb", zip64: true},
	}, zip64End: true}.build()
	goWritten := makeZip(t, []zipEntry{{name: "d/"}, {name: "d/a", body: "x"}, {name: "d/b", body: "yy", store: true}})

	tests := []struct {
		name    string
		data    []byte
		lim     Limits
		goOpens bool   // archive/zip opens it: the walker is what refuses it
		wantErr error  // nil: accepted
		msg     string // part of the message
	}{
		{name: "hand-built, no descriptors", data: plain.data, goOpens: true},
		{name: "written by archive/zip", data: goWritten, goOpens: true},
		{name: "with a comment", data: rawZip{members: twoMembers(), comment: "built by hand"}.build().data, goOpens: true},
		{name: "descriptors with signature", data: withDescriptor.data, goOpens: true},
		{name: "descriptors without signature", data: rawZip{members: []rawMember{{name: "a", body: "aaaa", descriptor: 12}}}.build().data, goOpens: true},
		{name: "zip64 sizes, descriptor and end record", data: zip64.data, goOpens: true},
		{name: "zip64 descriptor without signature", data: rawZip{members: []rawMember{{name: "a", body: "aaaa", zip64: true, descriptor: 20}}}.build().data, goOpens: true},
		{name: "non-ASCII name marked UTF-8", data: rawZip{members: []rawMember{{name: "café.txt", body: "x", flags: zipFlagUTF8}}}.build().data, goOpens: true},
		{name: "empty archive", data: rawZip{}.build().data, goOpens: true},

		{name: "hidden local entry between members", goOpens: true, wantErr: ErrInvalidArchive, msg: "not part of any member listed in the central directory",
			data: rawZip{members: []rawMember{{name: "a", body: "a"}, {name: "evil", body: "import os", hidden: true}, {name: "b", body: "b"}}}.build().data},
		{name: "hidden local entry after the last member", goOpens: true, wantErr: ErrInvalidArchive, msg: "before the central directory are not part of any member",
			data: rawZip{members: []rawMember{{name: "a", body: "a"}, {name: "evil", body: "import os", hidden: true}}}.build().data},
		{name: "local name differs", goOpens: true, wantErr: ErrInvalidArchive, msg: `member "foo/__init__.py" is named "foo/__evil__.py" in its local header`,
			data: rawZip{members: []rawMember{{name: "foo/__init__.py", body: "x", localName: "foo/__evil__.py"}}}.build().data},
		{name: "local compressed size differs", goOpens: true, wantErr: ErrInvalidArchive, msg: "its local header (CRC",
			data: plain.patch(func(z builtZip, b []byte) []byte {
				binary.LittleEndian.PutUint32(b[z.local[0]+18:], 3)
				return b
			})},
		{name: "local CRC differs", goOpens: true, wantErr: ErrInvalidArchive, msg: "differs from the central directory",
			data: plain.patch(func(z builtZip, b []byte) []byte {
				b[z.local[1]+14] ^= 1
				return b
			})},
		{name: "descriptor flag only in the local header", goOpens: true, wantErr: ErrInvalidArchive, msg: "local header flags",
			data: withDescriptor.patch(func(z builtZip, b []byte) []byte {
				b[z.central[0]+8] &^= zipFlagDescriptor
				return b
			})},
		{name: "UTF-8 flag only in the directory", goOpens: true, wantErr: ErrInvalidArchive, msg: "local header flags",
			data: plain.patch(func(z builtZip, b []byte) []byte {
				binary.LittleEndian.PutUint16(b[z.central[0]+8:], zipFlagUTF8)
				return b
			})},
		{name: "compression method differs", goOpens: true, wantErr: ErrInvalidArchive, msg: "compression method 8, the central directory 0",
			data: plain.patch(func(z builtZip, b []byte) []byte {
				b[z.local[0]+8] = 8
				return b
			})},
		{name: "directory entry not at a local header", goOpens: true, wantErr: ErrInvalidArchive, msg: "does not point at a local header",
			data: plain.patch(func(z builtZip, b []byte) []byte {
				b[z.local[0]+3] = 0xff
				return b
			})},
		{name: "two entries share one local header", goOpens: true, wantErr: ErrInvalidArchive, msg: "point at the same local header",
			data: plain.patch(func(z builtZip, b []byte) []byte {
				binary.LittleEndian.PutUint32(b[z.central[1]+42:], uint32(z.local[0]))
				return b
			})},
		{name: "overlapping entries", goOpens: true, wantErr: ErrInvalidArchive, msg: "overlaps the next member",
			data: plain.patch(func(z builtZip, b []byte) []byte {
				binary.LittleEndian.PutUint32(b[z.central[1]+42:], uint32(z.local[1]-10))
				return b
			})},
		{name: "entry points past the members", goOpens: true, wantErr: ErrInvalidArchive, msg: "points past the last member",
			data: plain.patch(func(z builtZip, b []byte) []byte {
				binary.LittleEndian.PutUint32(b[z.central[1]+42:], uint32(z.cdStart))
				return b
			})},
		{name: "data descriptor sizes differ", goOpens: true, wantErr: ErrInvalidArchive, msg: "its data descriptor (CRC",
			data: withDescriptor.patch(func(z builtZip, b []byte) []byte {
				binary.LittleEndian.PutUint32(b[z.local[1]-4:], 99)
				return b
			})},
		{name: "data descriptor missing", wantErr: ErrInvalidArchive, msg: "are not a data descriptor",
			data: rawZip{members: []rawMember{{name: "a", body: "aaaa", flags: zipFlagDescriptor}, {name: "b", body: "b"}}}.build().data},
		{name: "unsigned descriptor whose CRC looks like a signature", goOpens: true, wantErr: ErrInvalidArchive, msg: "ambiguous",
			data: rawZip{members: []rawMember{{name: "a", body: "aaaa", descriptor: 12}}}.build().patch(func(z builtZip, b []byte) []byte {
				copy(b[z.cdStart-12:], zipDescriptorSig)
				binary.LittleEndian.PutUint32(b[z.central[0]+16:], le32([]byte(zipDescriptorSig)))
				return b
			})},
		{name: "trailing data", goOpens: true, wantErr: ErrInvalidArchive, msg: "data after the end of the zip archive",
			data: append(bytes.Clone(plain.data), "appended"...)},
		{name: "data before the archive", goOpens: true, wantErr: ErrInvalidArchive, msg: "does not end where the end records begin",
			data: append([]byte("#!/bin/sh\n"), plain.data...)},
		{name: "data between directory and end record", goOpens: true, wantErr: ErrInvalidArchive, msg: "does not end where the end records begin",
			data: plain.patch(func(z builtZip, b []byte) []byte {
				return append(b[:z.end:z.end], append([]byte("junk"), b[z.end:]...)...)
			})},
		{name: "second end record in the comment", goOpens: true, wantErr: ErrInvalidArchive, msg: "more than one end-of-central-directory record",
			data: plain.patch(func(z builtZip, b []byte) []byte {
				rec := bytes.Clone(b[z.end:])
				binary.LittleEndian.PutUint16(b[z.end+20:], zipEOCDLen)
				return append(b, rec...)
			})},
		{name: "earlier end record whose comment also reaches the end", goOpens: true, wantErr: ErrInvalidArchive, msg: "more than one end-of-central-directory record",
			data: rawZip{members: []rawMember{{name: "nested.zip", body: "PK\x05\x06" + strings.Repeat("\x00", 18)}}}.build().patch(func(z builtZip, b []byte) []byte {
				fake := z.local[0] + zipLocalLen + len("nested.zip")
				binary.LittleEndian.PutUint16(b[fake+20:], uint16(len(b)-fake-zipEOCDLen))
				return b
			})},
		{name: "count larger than the directory", wantErr: ErrInvalidArchive, msg: "more than its",
			data: plain.patch(func(z builtZip, b []byte) []byte {
				binary.LittleEndian.PutUint16(b[z.end+8:], 1000)
				binary.LittleEndian.PutUint16(b[z.end+10:], 1000)
				return b
			})},
		{name: "directory longer than its count", wantErr: ErrInvalidArchive, msg: "has data after its 1 members",
			data: plain.patch(func(z builtZip, b []byte) []byte {
				binary.LittleEndian.PutUint16(b[z.end+8:], 1)
				binary.LittleEndian.PutUint16(b[z.end+10:], 1)
				return b
			})},
		{name: "too many members", data: plain.data, lim: Limits{MaxEntries: 1}, wantErr: ErrArchiveTooLarge, msg: "more than 1 members"},
		{name: "multi-disk", goOpens: true, wantErr: ErrInvalidArchive, msg: "multi-disk",
			data: plain.patch(func(z builtZip, b []byte) []byte {
				b[z.end+8] = 1
				return b
			})},
		{name: "zip64 locator that Go ignores", goOpens: true, wantErr: ErrInvalidArchive, msg: "does not ask for zip64",
			data: zip64.patch(func(z builtZip, b []byte) []byte {
				binary.LittleEndian.PutUint16(b[z.end+8:], 2)
				binary.LittleEndian.PutUint16(b[z.end+10:], 2)
				binary.LittleEndian.PutUint32(b[z.end+12:], uint32(z.zip64-z.cdStart))
				binary.LittleEndian.PutUint32(b[z.end+16:], uint32(z.cdStart))
				return b
			})},
		{name: "zip64 and end record disagree", goOpens: true, wantErr: ErrInvalidArchive, msg: "disagree",
			data: zip64.patch(func(z builtZip, b []byte) []byte {
				binary.LittleEndian.PutUint16(b[z.end+8:], 1)
				binary.LittleEndian.PutUint16(b[z.end+10:], 1)
				return b
			})},
		{name: "zip64 locator points elsewhere", wantErr: ErrInvalidArchive, msg: "does not point at a zip64 end record",
			data: zip64.patch(func(z builtZip, b []byte) []byte {
				binary.LittleEndian.PutUint64(b[z.end-12:], 0)
				return b
			})},
		{name: "zip64 value missing", wantErr: ErrInvalidArchive, msg: "lacks the zip64 values",
			data: zip64.patch(func(z builtZip, b []byte) []byte {
				binary.LittleEndian.PutUint16(b[z.central[1]+46+1:], 0x9999) // the extra field's ID
				return b
			})},
		{name: "non-ASCII name not marked UTF-8", goOpens: true, wantErr: ErrInvalidArchive, msg: "not marked as UTF-8",
			data: rawZip{members: []rawMember{{name: "café.txt", body: "x"}}}.build().data},
		{name: "Unicode path field with another name", goOpens: true, wantErr: ErrInvalidArchive, msg: "Unicode path field",
			data: rawZip{members: []rawMember{{name: "a.txt", body: "x", extra: append([]byte{0x75, 0x70, 10, 0, 1, 0, 0, 0, 0}, "b.txt"...)}}}.build().data},
		{name: "malformed extra field", goOpens: true, wantErr: ErrInvalidArchive, msg: "malformed extra field",
			data: rawZip{members: []rawMember{{name: "a.txt", body: "x", extra: []byte{0xfe, 0xca, 9, 0, 1}}}}.build().data},
		{name: "no end record", wantErr: ErrInvalidArchive, msg: "not a valid zip archive",
			data: plain.data[:plain.end+10]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.goOpens {
				if _, err := zip.NewReader(bytes.NewReader(tt.data), int64(len(tt.data))); err != nil {
					t.Fatalf("archive/zip does not open the archive (%v): the case does not show what it should", err)
				}
			}
			entries, err := walkZip(bytes.NewReader(tt.data), int64(len(tt.data)), newBudget(tt.lim), "wheel")
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("walkZip: %v", err)
				}
				zr, err := zip.NewReader(bytes.NewReader(tt.data), int64(len(tt.data)))
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(zipNames(zr.File), dirNames(entries)); diff != "" {
					t.Errorf("names (-archive/zip +walkZip):\n%s", diff)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("walkZip error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("walkZip error = %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

func zipNames(files []*zip.File) []string {
	names := []string{}
	for _, f := range files {
		names = append(names, f.Name)
	}
	return names
}

func dirNames(entries []zipDirEntry) []string {
	names := []string{}
	for _, e := range entries {
		names = append(names, e.name)
	}
	return names
}

// TestReadWheelHiddenMember: the walker is what openZip uses, for wheels
// and zip sdists alike. The hidden member here is what a streaming
// extractor would unpack as the package's __init__.py.
func TestReadWheelHiddenMember(t *testing.T) {
	good := withRecord(goodWheel())
	var members []rawMember
	for _, e := range good {
		members = append(members, rawMember{name: e.name, body: e.body})
	}
	evil := rawMember{name: "foo/__init__.py", body: "import os; os.system('id')\n", hidden: true}
	data := rawZip{members: append([]rawMember{evil}, members...)}.build().data
	_, err := ReadWheelMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, "foo-1.0-py3-none-any.whl"), Limits{})
	if !errors.Is(err, ErrInvalidArchive) || !strings.Contains(err.Error(), "hidden member") {
		t.Errorf("wheel: error = %v, want the hidden member refused", err)
	}

	sdist := rawZip{members: []rawMember{
		{name: "foo-1.0/PKG-INFO", body: testPkgInfo},
		{name: "foo-1.0/setup.py", body: "evil", hidden: true},
	}}.build().data
	_, err = ReadSdistMetadata(bytes.NewReader(sdist), int64(len(sdist)), mustFilename(t, "foo-1.0.zip"), Limits{})
	if !errors.Is(err, ErrInvalidArchive) || !strings.Contains(err.Error(), "hidden member") {
		t.Errorf("zip sdist: error = %v, want the hidden member refused", err)
	}
}

// TestReadMemberZeroCRC: archive/zip does not check a member whose
// directory CRC is zero; the inflate pass does, so a member cannot be
// changed after the fact by zeroing its CRC in both headers.
func TestReadMemberZeroCRC(t *testing.T) {
	z := rawZip{members: []rawMember{
		{name: "foo-1.0/PKG-INFO", body: testPkgInfo},
		{name: "foo-1.0/setup.py", body: "changed after the CRC was computed"},
	}}.build()
	data := z.patch(func(z builtZip, b []byte) []byte {
		binary.LittleEndian.PutUint32(b[z.local[1]+14:], 0)
		binary.LittleEndian.PutUint32(b[z.central[1]+16:], 0)
		return b
	})
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	rc, err := zr.File[1].Open()
	if err != nil {
		t.Fatal(err)
	}
	var sink bytes.Buffer
	if _, err := sink.ReadFrom(rc); err != nil {
		t.Fatalf("archive/zip now checks zero CRCs (%v); the extra check can go", err)
	}
	_, err = ReadSdistMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, "foo-1.0.zip"), Limits{})
	if !errors.Is(err, ErrInvalidArchive) || !strings.Contains(err.Error(), `"foo-1.0/setup.py" is corrupt (checksum mismatch)`) {
		t.Errorf("error = %v, want the member's checksum refused", err)
	}
}
