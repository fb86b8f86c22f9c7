// Package blobtest is the conformance suite that every blob.Store backend
// must pass, so that the rest of wharf can rely on one behaviour whichever
// backend is configured.
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/blob"
)

// LargeSize is the size of the object the streaming test writes, and
// LargeAllocBudget the most it may allocate while writing, committing and
// reading it back. A backend may buffer a bounded part (S3's minimum
// multipart part is 5 MiB) but not the whole object.
const (
	LargeSize        = 16 << 20
	LargeAllocBudget = LargeSize / 2
)

// Run runs the suite. newStore must return an empty store of its own on each
// call: subtests run in parallel and clean staging. Do not call Run from a
// parallel test: the memory test measures the whole process's allocations.
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	// Sequential, before the parallel subtests start, so that nothing else
	// allocates while it measures.
	t.Run("LargeObjectStreamsInFlatMemory", func(t *testing.T) { testLarge(t, newStore(t)) })

	tests := []struct {
		name string
		fn   func(t *testing.T, s blob.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"EmptyObject", testEmpty},
		{"HashAndSizeWhileWriting", testHashWhileWriting},
		{"Missing", testMissing},
		{"InvalidKeys", testInvalidKeys},
		{"CommitIdenticalContentTwice", testIdempotentCommit},
		{"ConcurrentSameContent", testConcurrentSame},
		{"ConcurrentDifferentContent", testConcurrentDifferent},
		{"AbortLeavesNothing", testAbort},
		{"AbortAfterCommit", testAbortAfterCommit},
		{"WriterClosedAfterCommit", testClosedAfterCommit},
		{"CanceledContext", testCanceled},
		{"WalkListsExactlyCommitted", testWalk},
		{"WalkStopsOnError", testWalkError},
		{"StagedAndCleanStaging", testStaged},
		{"Delete", testDelete},
		{"SeekAndRange", testSeekRange},
		{"ReadStagedBeforeCommit", testReadStaged},
		{"Ping", testPing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newStore(t))
		})
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// content returns n bytes that differ for each seed.
func content(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed*131 + i/251)
	}
	return append(b, fmt.Sprintf("seed %d", seed)...)
}

// put writes b in a few chunks and commits it.
func put(t *testing.T, s blob.Store, b []byte) blob.Info {
	t.Helper()
	ctx := t.Context()
	w, err := s.NewWriter(ctx)
	if err != nil {
		t.Fatalf("NewWriter: %v", err)
	}
	defer w.Abort()
	for chunk := range slices.Chunk(b, 1000) {
		if _, err := w.Write(chunk); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	info, err := w.Commit(ctx)
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return info
}

func readAll(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	o, err := s.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("reading %s: %v", key, err)
	}
	return b
}

// walk returns the committed objects by key, ModTime left out because
// backends differ in its precision.
func walk(t *testing.T, s blob.Store) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	err := s.Walk(t.Context(), func(i blob.Info) error {
		if _, dup := got[i.Key]; dup {
			t.Errorf("Walk listed %s twice", i.Key)
		}
		if i.ModTime.IsZero() {
			t.Errorf("Walk: %s has no ModTime", i.Key)
		}
		got[i.Key] = i.Size
		return nil
	})
	if err != nil {
		t.Fatalf("Walk: %v", err)
	}
	return got
}

func staged(t *testing.T, s blob.Store) []string {
	t.Helper()
	var names []string
	err := s.Staged(t.Context(), func(name string, size int64, modTime time.Time) error {
		if name == "" || size < 0 || modTime.IsZero() {
			t.Errorf("Staged(%q, %d, %v): want a name, a size and a time", name, size, modTime)
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		t.Fatalf("Staged: %v", err)
	}
	return names
}

func wantNotFound(t *testing.T, s blob.Store, key string) {
	t.Helper()
	if info, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat(%s) = %+v, %v; want ErrNotFound", key, info, err)
	}
	o, err := s.Open(t.Context(), key)
	if !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open(%s) error = %v; want ErrNotFound", key, err)
	}
	if err == nil {
		o.Close()
	}
}

func testRoundTrip(t *testing.T, s blob.Store) {
	b := content(1, 10_000)
	info := put(t, s, b)
	if info.Key != sum(b) || info.Size != int64(len(b)) || info.ModTime.IsZero() {
		t.Errorf("Commit = %+v; want key %s, size %d and a ModTime", info, sum(b), len(b))
	}
	if !blob.ValidKey(info.Key) {
		t.Errorf("Commit returned key %q that ValidKey refuses", info.Key)
	}
	st, err := s.Stat(t.Context(), info.Key)
	if err != nil {
		t.Fatalf("Stat: %v", err)
	}
	if st.Key != info.Key || st.Size != info.Size || st.ModTime.IsZero() {
		t.Errorf("Stat = %+v; Commit said %+v", st, info)
	}
	o, err := s.Open(t.Context(), info.Key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer o.Close()
	if oi := o.Info(); oi.Key != info.Key || oi.Size != info.Size {
		t.Errorf("Object.Info = %+v; Commit said %+v", oi, info)
	}
	got, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, b) {
		t.Errorf("read back %d bytes, sha256 %s; wrote %d, %s", len(got), sum(got), len(b), sum(b))
	}
	if names := staged(t, s); len(names) != 0 {
		t.Errorf("staging holds %v after Commit", names)
	}
}

func testEmpty(t *testing.T, s blob.Store) {
	info := put(t, s, nil)
	if want := sum(nil); info.Key != want || info.Size != 0 {
		t.Errorf("Commit of nothing = %+v; want key %s size 0", info, want)
	}
	if got := readAll(t, s, info.Key); len(got) != 0 {
		t.Errorf("read %d bytes from the empty object", len(got))
	}
}

func testHashWhileWriting(t *testing.T, s blob.Store) {
	w, err := s.NewWriter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if w.Size() != 0 || w.SHA256() != sum(nil) {
		t.Errorf("new writer: Size %d, SHA256 %s", w.Size(), w.SHA256())
	}
	b := content(2, 3000)
	upto := 0
	for _, chunk := range [][]byte{b[:1], b[1:1000], b[1000:]} {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
		upto += len(chunk)
		if w.Size() != int64(upto) || w.SHA256() != sum(b[:upto]) {
			t.Errorf("after %d bytes: Size %d, SHA256 %s; want %s", upto, w.Size(), w.SHA256(), sum(b[:upto]))
		}
	}
	info, err := w.Commit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != sum(b) {
		t.Errorf("Commit key %s; want %s", info.Key, sum(b))
	}
}

func testMissing(t *testing.T, s blob.Store) {
	put(t, s, content(3, 10))
	wantNotFound(t, s, sum([]byte("never written")))
	if err := s.Delete(t.Context(), sum([]byte("never written"))); err != nil {
		t.Errorf("Delete of a missing object: %v", err)
	}
}

func testInvalidKeys(t *testing.T, s blob.Store) {
	valid := sum([]byte("x"))
	put(t, s, []byte("x"))
	for _, key := range []string{
		"",
		"../x",
		"../../../../etc/passwd",
		"/etc/passwd",
		valid[:63],
		valid + "0",
		"/" + valid[1:],
		valid[:2] + "/" + valid[3:],
		valid[:62] + "/.",
		valid[:60] + "/../",
		valid[:63] + "\x00",
		valid[:63] + "G",
		valid[:63] + "A",
		"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
		"objects/" + valid[:56],
		"%2e%2e%2f" + valid[:55],
	} {
		if blob.ValidKey(key) {
			t.Errorf("ValidKey(%q) = true", key)
		}
		if _, err := s.Stat(t.Context(), key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Stat(%q) error = %v; want ErrInvalidKey", key, err)
		}
		if o, err := s.Open(t.Context(), key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Open(%q) error = %v; want ErrInvalidKey", key, err)
			if err == nil {
				o.Close()
			}
		}
		if err := s.Delete(t.Context(), key); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Delete(%q) error = %v; want ErrInvalidKey", key, err)
		}
	}
	if diff := cmp.Diff(map[string]int64{valid: 1}, walk(t, s)); diff != "" {
		t.Errorf("objects after invalid-key calls (-want +got):\n%s", diff)
	}
}

func testIdempotentCommit(t *testing.T, s blob.Store) {
	b := content(4, 5000)
	first := put(t, s, b)
	second := put(t, s, b)
	if first.Key != second.Key || first.Size != second.Size {
		t.Errorf("commits of the same bytes: %+v then %+v", first, second)
	}
	if diff := cmp.Diff(map[string]int64{first.Key: first.Size}, walk(t, s)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if got := readAll(t, s, first.Key); !bytes.Equal(got, b) {
		t.Error("content changed by the second commit")
	}
}

const concurrentWriters = 20

// commitConcurrently writes and commits contents[i] from goroutine i, all
// released at once, and returns the keys.
func commitConcurrently(t *testing.T, s blob.Store, contents [][]byte) []string {
	t.Helper()
	keys := make([]string, len(contents))
	errs := make([]error, len(contents))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, b := range contents {
		wg.Go(func() {
			w, err := s.NewWriter(t.Context())
			if err != nil {
				errs[i] = err
				return
			}
			defer w.Abort()
			if _, err := w.Write(b[:len(b)/2]); err != nil {
				errs[i] = err
				return
			}
			<-start
			if _, err := w.Write(b[len(b)/2:]); err != nil {
				errs[i] = err
				return
			}
			info, err := w.Commit(t.Context())
			keys[i], errs[i] = info.Key, err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	return keys
}

func testConcurrentSame(t *testing.T, s blob.Store) {
	b := content(5, 100_000)
	contents := make([][]byte, concurrentWriters)
	for i := range contents {
		contents[i] = b
	}
	for i, key := range commitConcurrently(t, s, contents) {
		if key != sum(b) {
			t.Errorf("writer %d: key %s; want %s", i, key, sum(b))
		}
	}
	if diff := cmp.Diff(map[string]int64{sum(b): int64(len(b))}, walk(t, s)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	if got := readAll(t, s, sum(b)); !bytes.Equal(got, b) {
		t.Error("content differs after concurrent commits")
	}
	if names := staged(t, s); len(names) != 0 {
		t.Errorf("staging holds %v", names)
	}
}

func testConcurrentDifferent(t *testing.T, s blob.Store) {
	contents := make([][]byte, concurrentWriters)
	want := map[string]int64{}
	for i := range contents {
		contents[i] = content(100+i, 50_000)
		want[sum(contents[i])] = int64(len(contents[i]))
	}
	for i, key := range commitConcurrently(t, s, contents) {
		if key != sum(contents[i]) {
			t.Errorf("writer %d: key %s; want %s", i, key, sum(contents[i]))
		}
	}
	if diff := cmp.Diff(want, walk(t, s)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
	for i, b := range contents {
		if got := readAll(t, s, sum(b)); !bytes.Equal(got, b) {
			t.Errorf("writer %d: content differs", i)
		}
	}
}

func testAbort(t *testing.T, s blob.Store) {
	b := content(6, 2000)
	w, err := s.NewWriter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	wantNotFound(t, s, sum(b))
	if got := walk(t, s); len(got) != 0 {
		t.Errorf("Walk after Abort: %v", got)
	}
	if names := staged(t, s); len(names) != 0 {
		t.Errorf("staging holds %v after Abort", names)
	}
	if _, err := w.Write(b); !errors.Is(err, blob.ErrClosed) {
		t.Errorf("Write after Abort: %v; want ErrClosed", err)
	}
	if _, err := w.Commit(t.Context()); !errors.Is(err, blob.ErrClosed) {
		t.Errorf("Commit after Abort: %v; want ErrClosed", err)
	}
	wantNotFound(t, s, sum(b))
}

func testAbortAfterCommit(t *testing.T, s blob.Store) {
	b := content(7, 10)
	w, err := s.NewWriter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	info, err := w.Commit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if _, err := s.Stat(t.Context(), info.Key); err != nil {
		t.Errorf("Abort after Commit removed the object: %v", err)
	}
}

func testClosedAfterCommit(t *testing.T, s blob.Store) {
	w, err := s.NewWriter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("a"))
	if _, err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("b")); !errors.Is(err, blob.ErrClosed) {
		t.Errorf("Write after Commit: %v; want ErrClosed", err)
	}
	if _, err := w.Commit(t.Context()); !errors.Is(err, blob.ErrClosed) {
		t.Errorf("second Commit: %v; want ErrClosed", err)
	}
	if diff := cmp.Diff(map[string]int64{sum([]byte("a")): 1}, walk(t, s)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}

func testCanceled(t *testing.T, s blob.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if w, err := s.NewWriter(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("NewWriter with a canceled context: %v; want context.Canceled", err)
		if err == nil {
			w.Abort()
		}
	}

	b := content(8, 100)
	w, err := s.NewWriter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.Write(b)
	if _, err := w.Commit(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Commit with a canceled context: %v; want context.Canceled", err)
	}
	wantNotFound(t, s, sum(b))
	if names := staged(t, s); len(names) != 0 {
		t.Errorf("staging holds %v after a failed Commit", names)
	}
}

func testWalk(t *testing.T, s blob.Store) {
	want := map[string]int64{}
	for i := range 5 {
		b := content(200+i, 100*i)
		info := put(t, s, b)
		want[info.Key] = info.Size
	}
	put(t, s, content(200, 0)) // a duplicate
	for i := range 2 {
		w, err := s.NewWriter(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		w.Write(content(300+i, 10))
		w.Abort()
	}
	w, err := s.NewWriter(t.Context()) // in progress: staged, not committed
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.Write(content(400, 10))

	if diff := cmp.Diff(want, walk(t, s)); diff != "" {
		t.Errorf("Walk (-want +got):\n%s", diff)
	}
}

func testWalkError(t *testing.T, s blob.Store) {
	for i := range 3 {
		put(t, s, content(500+i, 10))
	}
	stop := errors.New("stop")
	calls := 0
	err := s.Walk(t.Context(), func(blob.Info) error {
		calls++
		return stop
	})
	if err != stop || calls != 1 {
		t.Errorf("Walk = %v after %d calls; want the callback's error after 1", err, calls)
	}
	calls = 0
	err = s.Staged(t.Context(), func(string, int64, time.Time) error { calls++; return stop })
	if err != nil || calls != 0 {
		t.Errorf("Staged with nothing staged = %v after %d calls", err, calls)
	}
	w, err := s.NewWriter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	err = s.Staged(t.Context(), func(string, int64, time.Time) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("Staged = %v after %d calls; want the callback's error after 1", err, calls)
	}
}

// testStaged simulates writers that crashed: they wrote and then neither
// committed nor aborted.
func testStaged(t *testing.T, s blob.Store) {
	ctx := t.Context()
	kept := put(t, s, content(600, 100))
	var crashed []blob.Writer
	for i := range 2 {
		w, err := s.NewWriter(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { w.Abort() })
		if _, err := w.Write(content(601+i, 1000)); err != nil {
			t.Fatal(err)
		}
		crashed = append(crashed, w)
	}
	if names := staged(t, s); len(names) != 2 {
		t.Fatalf("Staged lists %v; want the 2 crashed writers", names)
	}

	n, err := s.CleanStaging(ctx, time.Now().Add(-time.Hour))
	if err != nil || n != 0 {
		t.Errorf("CleanStaging(an hour ago) = %d, %v; want 0 removed", n, err)
	}
	if names := staged(t, s); len(names) != 2 {
		t.Errorf("Staged after cleaning nothing: %v", names)
	}

	n, err = s.CleanStaging(ctx, time.Now().Add(time.Hour))
	if err != nil || n != 2 {
		t.Errorf("CleanStaging(in an hour) = %d, %v; want 2 removed", n, err)
	}
	if names := staged(t, s); len(names) != 0 {
		t.Errorf("Staged after CleanStaging: %v", names)
	}

	// A writer whose staged data was cleaned must not commit a partial or
	// empty object under any key.
	for i, w := range crashed {
		if info, err := w.Commit(ctx); err == nil {
			t.Errorf("writer %d committed %+v after its staging was cleaned", i, info)
		}
		if err := w.Abort(); err != nil {
			t.Errorf("Abort after a failed Commit: %v", err)
		}
	}
	if diff := cmp.Diff(map[string]int64{kept.Key: kept.Size}, walk(t, s)); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}

func testDelete(t *testing.T, s blob.Store) {
	b, other := content(700, 100), content(701, 100)
	info := put(t, s, b)
	keep := put(t, s, other)
	if err := s.Delete(t.Context(), info.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	wantNotFound(t, s, info.Key)
	if diff := cmp.Diff(map[string]int64{keep.Key: keep.Size}, walk(t, s)); diff != "" {
		t.Errorf("objects after Delete (-want +got):\n%s", diff)
	}
	if err := s.Delete(t.Context(), info.Key); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if again := put(t, s, b); again.Key != info.Key {
		t.Errorf("recommit after Delete: key %s; want %s", again.Key, info.Key)
	}
	if got := readAll(t, s, info.Key); !bytes.Equal(got, b) {
		t.Error("recommitted content differs")
	}
}

func testSeekRange(t *testing.T, s blob.Store) {
	b := content(800, 1000)
	size := int64(len(b))
	info := put(t, s, b)
	o, err := s.Open(t.Context(), info.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()

	seeks := []struct {
		offset int64
		whence int
		want   int64
	}{
		{100, io.SeekStart, 100},
		{10, io.SeekCurrent, 120}, // after reading 10 bytes at 100
		{-10, io.SeekEnd, size - 10},
		{0, io.SeekStart, 0},
	}
	for _, sk := range seeks {
		pos, err := o.Seek(sk.offset, sk.whence)
		if err != nil || pos != sk.want {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", sk.offset, sk.whence, pos, err, sk.want)
		}
		got := make([]byte, 10)
		n, err := io.ReadFull(o, got)
		if err != nil {
			t.Fatalf("read after Seek(%d, %d): %v", sk.offset, sk.whence, err)
		}
		if !bytes.Equal(got[:n], b[pos:pos+10]) {
			t.Errorf("10 bytes at %d: %q; want %q", pos, got[:n], b[pos:pos+10])
		}
	}
	if pos, err := o.Seek(0, io.SeekEnd); err != nil || pos != size {
		t.Errorf("Seek to end = %d, %v; want %d", pos, err, size)
	}
	if n, err := o.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read at end = %d, %v; want 0, io.EOF", n, err)
	}

	ranges := []struct {
		header string
		status int
		body   []byte
	}{
		{"bytes=10-19", http.StatusPartialContent, b[10:20]},
		{"bytes=990-", http.StatusPartialContent, b[990:]},
		{"bytes=-5", http.StatusPartialContent, b[size-5:]},
		{"bytes=0-", http.StatusPartialContent, b},
		{"bytes=5000-", http.StatusRequestedRangeNotSatisfiable, nil},
		{"", http.StatusOK, b},
	}
	for _, rg := range ranges {
		if _, err := o.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/packages/x", nil)
		if rg.header != "" {
			req.Header.Set("Range", rg.header)
		}
		rec := httptest.NewRecorder()
		http.ServeContent(rec, req, "x.whl", info.ModTime, o)
		if rec.Code != rg.status {
			t.Errorf("Range %q: status %d; want %d", rg.header, rec.Code, rg.status)
			continue
		}
		if rg.body != nil && !bytes.Equal(rec.Body.Bytes(), rg.body) {
			t.Errorf("Range %q: %d bytes; want %d", rg.header, rec.Body.Len(), len(rg.body))
		}
	}
}

func testLarge(t *testing.T, s blob.Store) {
	chunk := make([]byte, 64<<10)
	want := sha256.New()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)

	w, err := s.NewWriter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	for i := range LargeSize / len(chunk) {
		for j := range chunk {
			chunk[j] = byte(i ^ j ^ j>>8)
		}
		want.Write(chunk)
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	info, err := w.Commit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	o, err := s.Open(t.Context(), info.Key)
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	n, err := io.Copy(got, o)
	o.Close()
	if err != nil {
		t.Fatal(err)
	}

	runtime.ReadMemStats(&after)
	alloc := after.TotalAlloc - before.TotalAlloc
	if alloc > LargeAllocBudget {
		t.Errorf("writing and reading %d MiB allocated %d KiB; budget %d KiB", LargeSize>>20, alloc>>10, LargeAllocBudget>>10)
	}
	t.Logf("writing and reading %d MiB allocated %d KiB", LargeSize>>20, alloc>>10)
	wantKey := hex.EncodeToString(want.Sum(nil))
	if info.Key != wantKey || info.Size != LargeSize || n != LargeSize {
		t.Errorf("Commit = %+v, read %d bytes; want key %s, %d bytes", info, n, wantKey, LargeSize)
	}
	if gotKey := hex.EncodeToString(got.Sum(nil)); gotKey != wantKey {
		t.Errorf("read back sha256 %s; want %s", gotKey, wantKey)
	}
}

// testReadStaged: an upload is inspected through ReadAt before it is committed, and the staged bytes must be
// exactly what was written, including reads that cross the end.
func testReadStaged(t *testing.T, s blob.Store) {
	b := content(7, 100_000)
	w, err := s.NewWriter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(b))
	if n, err := w.ReadAt(got, 0); n != len(b) || (err != nil && err != io.EOF) || !bytes.Equal(got, b) {
		t.Fatalf("ReadAt whole = %d, %v; equal %v", n, err, bytes.Equal(got, b))
	}
	tail := make([]byte, 100)
	if n, err := w.ReadAt(tail, int64(len(b)-40)); n != 40 || err != io.EOF || !bytes.Equal(tail[:40], b[len(b)-40:]) {
		t.Errorf("ReadAt across the end = %d, %v", n, err)
	}
	if n, err := w.ReadAt(tail, int64(len(b))); n != 0 || err != io.EOF {
		t.Errorf("ReadAt at the end = %d, %v", n, err)
	}
	if _, err := w.Commit(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ReadAt(tail, 0); !errors.Is(err, blob.ErrClosed) {
		t.Errorf("ReadAt after Commit = %v, want ErrClosed", err)
	}
}

// testPing: a store that was just opened answers; one whose context is gone does not pretend to.
func testPing(t *testing.T, s blob.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Errorf("Ping: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping with a canceled context succeeded")
	}
}
