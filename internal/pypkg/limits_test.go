package pypkg

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/flate"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
)

// countingReaderAt counts the bytes read from the window [from, to) of an
// uploaded file, to show that a refusal came before all of it was read.
type countingReaderAt struct {
	r        io.ReaderAt
	from, to int64
	n        atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	if lo, hi := max(off, c.from), min(off+int64(n), c.to); hi > lo {
		c.n.Add(hi - lo)
	}
	return n, err
}

// zeroWheel returns a valid foo-1.0 wheel whose member foo/zeros.bin is n
// bytes of zeros. The member is written in 1 MiB pieces through
// archive/zip's deflate writer (at BestSpeed, which is what keeps the test
// fast) and hashed on the way for RECORD, so neither the test nor the
// wheel ever holds n bytes. A stored member follows it.
func zeroWheel(t testing.TB, n int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.RegisterCompressor(zip.Deflate, func(w io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(w, flate.BestSpeed)
	})
	entries := withRecord(goodWheel())
	var record string
	for _, e := range entries {
		if strings.HasSuffix(e.name, "/RECORD") {
			record = e.body
			continue
		}
		w, err := zw.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(e.body))
	}
	w, err := zw.Create("foo/zeros.bin")
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	chunk := make([]byte, 1<<20)
	for left := n; left > 0; left -= int64(len(chunk)) {
		p := chunk[:min(left, int64(len(chunk)))]
		w.Write(p)
		h.Write(p)
	}
	record += fmt.Sprintf("foo/zeros.bin,sha256=%s,%d\n", base64.RawURLEncoding.EncodeToString(h.Sum(nil)), n)
	// Keeps the member's data out of the last 64 KiB, which is read whole
	// to find the directory.
	pad := incompressible(80 << 10)
	if w, err = zw.CreateHeader(&zip.FileHeader{Name: "foo/pad.txt", Method: zip.Store}); err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(pad))
	sum := sha256.Sum256([]byte(pad))
	record += fmt.Sprintf("foo/pad.txt,sha256=%s,%d\n", base64.RawURLEncoding.EncodeToString(sum[:]), len(pad))
	w, err = zw.Create("foo-1.0.dist-info/RECORD")
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(record))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zeroTarGz returns a foo-1.0 .tar.gz sdist holding foo-1.0/zeros, n bytes
// of zeros (n a multiple of 1 MiB). Its gzip stream is a series of gzip
// members, which gzip readers join as RFC 1952 allows: the tar headers,
// then one compressed MiB of zeros repeated, then the end of the archive.
// So the test compresses one MiB, not n bytes.
func zeroTarGz(t testing.TB, n int64) []byte {
	t.Helper()
	var head bytes.Buffer
	tw := tar.NewWriter(&head)
	for _, e := range goodSdist() {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Size: int64(len(e.body))}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	// The header goes out at once; the n bytes it announces follow in
	// their own gzip members, and the tar writer is never closed.
	if err := tw.WriteHeader(&tar.Header{Name: "foo-1.0/zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: n}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.Write(gzipBytes(t, head.Bytes()))
	mib := gzipBytes(t, make([]byte, 1<<20))
	for range n >> 20 {
		out.Write(mib)
	}
	out.Write(gzipBytes(t, make([]byte, 2*512)))
	return out.Bytes()
}

// TestZeroTarGzIsReadable: the bomb below is a well-formed sdist, so what
// refuses it there is the ratio limit and nothing else.
func TestZeroTarGzIsReadable(t *testing.T) {
	data := zeroTarGz(t, 2<<20)
	got, err := ReadSdistMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, "foo-1.0.tar.gz"), Limits{})
	if err != nil {
		t.Fatalf("ReadSdistMetadata: %v", err)
	}
	if string(got) != testPkgInfo {
		t.Errorf("PKG-INFO = %q", got)
	}
}

// TestReadWheelBombDefaultLimits: at the default limits, a wheel with a
// 200 MiB member of zeros (a few hundred KiB compressed) is refused by the
// ratio limit once 64 MiB are inflated, long before its end.
func TestReadWheelBombDefaultLimits(t *testing.T) {
	data := zeroWheel(t, 200<<20)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	bomb := zr.File[len(zr.File)-3]
	start, err := bomb.DataOffset()
	if err != nil {
		t.Fatal(err)
	}
	r := &countingReaderAt{r: bytes.NewReader(data), from: start, to: start + int64(bomb.CompressedSize64)}
	_, err = ReadWheelMetadata(r, int64(len(data)), mustFilename(t, "foo-1.0-py3-none-any.whl"), DefaultLimits())
	if !errors.Is(err, ErrArchiveTooLarge) {
		t.Fatalf("error = %v, want ErrArchiveTooLarge", err)
	}
	for _, want := range []string{`"foo/zeros.bin"`, "more than 50 times its compressed size"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error = %q, want it to contain %q", err, want)
		}
	}
	if read := r.n.Load(); read > int64(bomb.CompressedSize64)/2 {
		t.Errorf("read %d of the member's %d compressed bytes; the refusal should come at about a third", read, bomb.CompressedSize64)
	}
}

// TestReadSdistBombDefaultLimits: a .tar.gz whose gzip stream inflates to
// 1 GiB of zeros is refused at the default limits after reading a small
// part of the file.
func TestReadSdistBombDefaultLimits(t *testing.T) {
	data := zeroTarGz(t, 1<<30)
	r := &countingReaderAt{r: bytes.NewReader(data), to: int64(len(data))}
	_, err := ReadSdistMetadata(r, int64(len(data)), mustFilename(t, "foo-1.0.tar.gz"), DefaultLimits())
	if !errors.Is(err, ErrArchiveTooLarge) {
		t.Fatalf("error = %v, want ErrArchiveTooLarge", err)
	}
	if !strings.Contains(err.Error(), "gzip stream expands to more than 50 times the file's size") {
		t.Errorf("error = %q, want the ratio named", err)
	}
	// The zip check reads the last 64 KiB; the rest is the gzip stream.
	if read := r.n.Load(); read > int64(len(data))/4 {
		t.Errorf("read %d of the sdist's %d bytes before refusing it", read, len(data))
	}
}

// incompressible returns n bytes of hex digits: they compress about 2:1,
// far below any ratio limit.
func incompressible(n int) string {
	rng := rand.New(rand.NewPCG(1, 2))
	const hex = "0123456789abcdef"
	b := make([]byte, n)
	var r uint64
	for i := range b {
		if i%16 == 0 {
			r = rng.Uint64()
		}
		b[i] = hex[r&15]
		r >>= 4
	}
	return string(b)
}

func TestRatioLimit(t *testing.T) {
	zeros := strings.Repeat("\x00", 1<<20)
	text := incompressible(512 << 10)
	ratio := Limits{RatioMinSize: 256 << 10, MaxRatio: 10}
	tests := []struct {
		name    string
		read    func() error
		wantErr error
		msg     string
	}{
		{name: "wheel member past the threshold and the ratio", wantErr: ErrArchiveTooLarge, msg: `member "foo/zeros.bin" expands to more than 10 times its compressed size`,
			read: func() error {
				return readWheel(t, append(goodWheel(), zipEntry{name: "foo/zeros.bin", body: zeros}), ratio)
			}},
		{name: "wheel member under the threshold",
			read: func() error {
				return readWheel(t, append(goodWheel(), zipEntry{name: "foo/zeros.bin", body: zeros}), Limits{RatioMinSize: 2 << 20, MaxRatio: 10})
			}},
		{name: "wheel member past the threshold, under the ratio",
			read: func() error {
				return readWheel(t, append(goodWheel(), zipEntry{name: "foo/data.txt", body: text}), ratio)
			}},
		{name: "stored wheel member is not compressed at all",
			read: func() error {
				return readWheel(t, append(goodWheel(), zipEntry{name: "foo/zeros.bin", body: zeros, store: true}), ratio)
			}},
		{name: "zip sdist member", wantErr: ErrArchiveTooLarge, msg: `member "foo-1.0/zeros" expands to more than 10 times`,
			read: func() error {
				data := makeZip(t, append(goodSdistZip(), zipEntry{name: "foo-1.0/zeros", body: zeros}))
				_, err := ReadSdistMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, "foo-1.0.zip"), ratio)
				return err
			}},
		{name: "tar.gz stream", wantErr: ErrArchiveTooLarge, msg: "its gzip stream expands to more than 10 times the file's size",
			read: func() error {
				data := gzipBytes(t, makeTar(t, append(goodSdist(), tarEntry{name: "foo-1.0/zeros", body: zeros})))
				_, err := ReadSdistMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, "foo-1.0.tar.gz"), ratio)
				return err
			}},
		{name: "tar.gz stream under the ratio",
			read: func() error {
				data := gzipBytes(t, makeTar(t, append(goodSdist(), tarEntry{name: "foo-1.0/data.txt", body: text})))
				_, err := ReadSdistMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, "foo-1.0.tar.gz"), ratio)
				return err
			}},
		{name: "total size still counts", wantErr: ErrArchiveTooLarge, msg: "unpacks to more than 262144 bytes",
			read: func() error {
				return readWheel(t, append(goodWheel(), zipEntry{name: "foo/data.txt", body: text}), Limits{MaxTotalSize: 256 << 10})
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.read()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error = %q, want it to contain %q", err, tt.msg)
			}
		})
	}
}

func readWheel(t testing.TB, entries []zipEntry, lim Limits) error {
	t.Helper()
	data := makeWheel(t, entries)
	_, err := ReadWheelMetadata(bytes.NewReader(data), int64(len(data)), mustFilename(t, "foo-1.0-py3-none-any.whl"), lim)
	return err
}

func TestTooDense(t *testing.T) {
	b := newBudget(Limits{RatioMinSize: 100, MaxRatio: 50})
	tests := []struct {
		n, compressed int64
		want          bool
	}{
		{100, 1, false}, // not past the threshold
		{101, 3, false}, // 33:1
		{150, 3, false}, // exactly 50:1
		{151, 3, true},  // just over
		{101, 0, true},  // nothing compressed cannot produce anything
		{1 << 62, 1 << 40, true},
		{1 << 62, 1 << 61, false},
	}
	for _, tt := range tests {
		if got := b.tooDense(tt.n, tt.compressed); got != tt.want {
			t.Errorf("tooDense(%d, %d) = %v, want %v", tt.n, tt.compressed, got, tt.want)
		}
	}
}

// TestReadSdistOtherCompression: .tar.bz2 and .tar.xz are refused by
// ParseFilename (see TestParseFilenameInvalid); a Filename built by hand
// with such an extension is refused here too rather than read.
func TestReadSdistOtherCompression(t *testing.T) {
	data := gzipBytes(t, makeTar(t, goodSdist()))
	for _, ext := range []string{".tar.bz2", ".tar.xz", ".tar", ".tgz"} {
		f := Filename{Kind: Sdist, Name: "foo", Version: "1.0", Ext: ext}
		_, err := ReadSdistMetadata(bytes.NewReader(data), int64(len(data)), f, Limits{})
		if !errors.Is(err, ErrInvalidArchive) || !strings.Contains(err.Error(), "Invalid file extension") {
			t.Errorf("%s: error = %v, want the extension refused", ext, err)
		}
	}
}
