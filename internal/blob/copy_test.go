package blob_test

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/blob"
	"wharf/internal/blob/s3test"
)

func putAll(t *testing.T, s blob.Store, n int) map[string]int64 {
	t.Helper()
	want := map[string]int64{}
	for i := range n {
		w, err := s.NewWriter(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(strings.Repeat(fmt.Sprint(i), 100+i)))
		info, err := w.Commit(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want[info.Key] = info.Size
	}
	return want
}

func listAll(t *testing.T, s blob.Store) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	if err := s.Walk(t.Context(), func(i blob.Info) error { got[i.Key] = i.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestCopyAll: every object reaches the other store, from disk to S3 and back; a second run copies nothing and
// says so; a damaged object in the source stops the copy instead of spreading.
func TestCopyAll(t *testing.T) {
	dir := t.TempDir()
	disk := newDisk(t, dir)
	want := putAll(t, disk, 12)
	s3 := newS3(t, s3test.Start(t).Bucket(t, "files/"))

	var seen []int64
	p, err := blob.CopyAll(t.Context(), disk, s3, func(p blob.CopyProgress) { seen = append(seen, p.Done) })
	if err != nil {
		t.Fatal(err)
	}
	if p.TotalObjects != 12 || p.Copied != 12 || p.Skipped != 0 || len(seen) != 12 || seen[11] != 12 {
		t.Errorf("first copy: %+v, progress %v", p, seen)
	}
	if diff := cmp.Diff(want, listAll(t, s3)); diff != "" {
		t.Errorf("S3 after the copy (-want +got):\n%s", diff)
	}
	p, err = blob.CopyAll(t.Context(), disk, s3, func(blob.CopyProgress) {})
	if err != nil || p.Copied != 0 || p.Skipped != 12 {
		t.Errorf("second copy: %+v, %v; want everything there already", p, err)
	}

	back := newDisk(t, t.TempDir())
	if _, err := blob.CopyAll(t.Context(), s3, back, func(blob.CopyProgress) {}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, listAll(t, back)); diff != "" {
		t.Errorf("disk after the copy back (-want +got):\n%s", diff)
	}

	var damaged string
	for k := range want {
		damaged = k
		break
	}
	if err := os.WriteFile(objectFile(dir, damaged), []byte("other bytes"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = blob.CopyAll(t.Context(), disk, newDisk(t, t.TempDir()), func(blob.CopyProgress) {})
	if err == nil || !strings.Contains(err.Error(), damaged+" reads back with SHA-256") {
		t.Errorf("copying a damaged object: %v", err)
	}
	if errors.Is(err, blob.ErrNotFound) {
		t.Error("a damaged object reported as missing")
	}
}
