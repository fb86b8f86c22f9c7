package upload

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

// TestHashWhileCopying: the copy and the side hashes see every byte in order, whatever the sizes of the source's
// reads and of the whole; a source's error, a body cut short included, is the copy's error.
func TestHashWhileCopying(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, 4095, copyChunk - 1, copyChunk, copyChunk + 1, 3*copyChunk + 17} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		for name, src := range map[string]func() io.Reader{
			"whole":         func() io.Reader { return bytes.NewReader(data) },
			"one byte":      func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
			"halves":        func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
			"4 KiB":         func() io.Reader { return &smallReads{r: bytes.NewReader(data), max: 4096} },
			"data with EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) },
		} {
			if name == "one byte" && size > copyChunk+1 {
				continue
			}
			var dst bytes.Buffer
			side := []hash.Hash{md5.New(), mustBlake2()}
			n, err := hashWhileCopying(&dst, src(), side...)
			if err != nil || n != int64(size) || !bytes.Equal(dst.Bytes(), data) {
				t.Fatalf("%d bytes, %s: copied %d, err %v, equal %v", size, name, n, err, bytes.Equal(dst.Bytes(), data))
			}
			for i, want := range []hash.Hash{md5.New(), mustBlake2()} {
				want.Write(data)
				if !bytes.Equal(side[i].Sum(nil), want.Sum(nil)) {
					t.Errorf("%d bytes, %s: side hash %d differs", size, name, i)
				}
			}
		}
	}
	for _, cut := range []error{io.ErrUnexpectedEOF, errors.New("connection reset")} {
		src := io.MultiReader(bytes.NewReader(make([]byte, copyChunk+5)), iotest.ErrReader(cut))
		if _, err := hashWhileCopying(io.Discard, src, md5.New()); !errors.Is(err, cut) {
			t.Errorf("a source failing with %v: %v", cut, err)
		}
	}
	broken := errors.New("disk full")
	if _, err := hashWhileCopying(failingWriter{broken}, bytes.NewReader(make([]byte, 10)), md5.New()); !errors.Is(err, broken) {
		t.Errorf("a failing destination: %v", err)
	}
}

// smallReads returns at most max bytes a read, as a multipart part does.
type smallReads struct {
	r   io.Reader
	max int
}

func (s *smallReads) Read(p []byte) (int, error) {
	if len(p) > s.max {
		p = p[:s.max]
	}
	return s.r.Read(p)
}

type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

// BenchmarkUploadCopy: a 20 MiB file read 4 KiB at a time, as from a multipart part, into a file-like writer that
// hashes with SHA-256 (in the temporary folder), with the two other digests: one io.Copy through a MultiWriter, as before, against
// hashWhileCopying.
func BenchmarkUploadCopy(b *testing.B) {
	data := make([]byte, 20<<20)
	for name, copyFn := range map[string]func(dst io.Writer, src io.Reader) error{
		"MultiWriter": func(dst io.Writer, src io.Reader) error {
			_, err := io.Copy(io.MultiWriter(dst, md5.New(), mustBlake2()), src)
			return err
		},
		"hashWhileCopying": func(dst io.Writer, src io.Reader) error {
			_, err := hashWhileCopying(dst, src, md5.New(), mustBlake2())
			return err
		},
	} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				f, err := os.Create(filepath.Join(b.TempDir(), "staged"))
				if err != nil {
					b.Fatal(err)
				}
				if err := copyFn(&hashingFile{f: f, h: sha256.New()}, &smallReads{r: bytes.NewReader(data), max: 4096}); err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

// hashingFile writes to a file and hashes what it wrote, as a staged file does.
type hashingFile struct {
	f *os.File
	h hash.Hash
}

func (s *hashingFile) Write(p []byte) (int, error) {
	n, err := s.f.Write(p)
	s.h.Write(p[:n])
	return n, err
}
