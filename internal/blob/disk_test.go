package blob_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/blob"
	"wharf/internal/blob/blobtest"
)

func newDisk(t testing.TB, dir string) *blob.Disk {
	t.Helper()
	d, err := blob.NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func put(t testing.TB, s blob.Store, b []byte) (blob.Info, error) {
	t.Helper()
	w, err := s.NewWriter(t.Context())
	if err != nil {
		return blob.Info{}, err
	}
	defer w.Abort()
	if _, err := w.Write(b); err != nil {
		return blob.Info{}, err
	}
	return w.Commit(t.Context())
}

func mustPut(t testing.TB, s blob.Store, b []byte) blob.Info {
	t.Helper()
	info, err := put(t, s, b)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func walkKeys(t *testing.T, s blob.Store) []string {
	t.Helper()
	keys := []string{}
	if err := s.Walk(t.Context(), func(i blob.Info) error { keys = append(keys, i.Key); return nil }); err != nil {
		t.Fatal(err)
	}
	return keys
}

func objectFile(root, key string) string {
	return filepath.Join(root, "objects", key[0:2], key[2:4], key)
}

func TestDiskConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		return newDisk(t, t.TempDir())
	})
}

// TestDiskPing: a store whose objects directory went away (an unmounted volume) is not ready.
func TestDiskPing(t *testing.T) {
	dir := t.TempDir()
	d := newDisk(t, dir)
	if err := d.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "objects")); err != nil {
		t.Fatal(err)
	}
	if err := d.Ping(t.Context()); err == nil {
		t.Error("Ping succeeded without the objects directory")
	}
}

func TestValidKey(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{strings.Repeat("0", 64), true},
		{"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", true},
		{"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855", false},
		{strings.Repeat("0", 63), false},
		{strings.Repeat("0", 65), false},
		{strings.Repeat("g", 64), false},
		{strings.Repeat("0", 62) + "..", false},
		{strings.Repeat("0", 62) + "/x", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := blob.ValidKey(tt.key); got != tt.want {
			t.Errorf("ValidKey(%q) = %v; want %v", tt.key, got, tt.want)
		}
	}
}

func TestDiskLayout(t *testing.T) {
	dir := t.TempDir()
	d := newDisk(t, dir)
	b := []byte("hello, wharf")
	info := mustPut(t, d, b)
	got, err := os.ReadFile(objectFile(dir, info.Key))
	if err != nil {
		t.Fatalf("object not at objects/<k[0:2]>/<k[2:4]>/<k>: %v", err)
	}
	if !bytes.Equal(got, b) {
		t.Errorf("object file holds %q; want %q", got, b)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "staging"))
	if err != nil || len(entries) != 0 {
		t.Errorf("staging after Commit: %v, %v", entries, err)
	}
}

func TestDiskReopenFindsObjectsAndCrashLeftovers(t *testing.T) {
	dir := t.TempDir()
	d := newDisk(t, dir)
	info := mustPut(t, d, []byte("kept"))
	w, err := d.NewWriter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("0123456789"))
	// No Commit, no Abort: the process "dies" here.

	d2 := newDisk(t, dir)
	if _, err := d2.Stat(t.Context(), info.Key); err != nil {
		t.Errorf("Stat after reopening: %v", err)
	}
	var sizes []int64
	d2.Staged(t.Context(), func(_ string, size int64, _ time.Time) error { sizes = append(sizes, size); return nil })
	if diff := cmp.Diff([]int64{10}, sizes); diff != "" {
		t.Errorf("staged sizes (-want +got):\n%s", diff)
	}
	if n, err := d2.CleanStaging(t.Context(), time.Now().Add(time.Minute)); n != 1 || err != nil {
		t.Errorf("CleanStaging = %d, %v; want 1", n, err)
	}
	w.Abort()
}

// TestDiskSymlinks plants symlinks where an attacker with write access to
// the data directory, or a careless operator, might: nothing may be read
// from or written to outside the root.
func TestDiskSymlinks(t *testing.T) {
	content := []byte("payload")
	key := sum(content)
	tests := []struct {
		name  string
		plant func(t *testing.T, root, outside string)
	}{
		{"first fan-out level, absolute", func(t *testing.T, root, outside string) {
			symlink(t, outside, filepath.Join(root, "objects", key[0:2]))
		}},
		{"first fan-out level, relative", func(t *testing.T, root, outside string) {
			rel, err := filepath.Rel(filepath.Join(root, "objects"), outside)
			if err != nil {
				t.Fatal(err)
			}
			symlink(t, rel, filepath.Join(root, "objects", key[0:2]))
		}},
		{"second fan-out level", func(t *testing.T, root, outside string) {
			mkdir(t, filepath.Join(root, "objects", key[0:2]))
			symlink(t, outside, filepath.Join(root, "objects", key[0:2], key[2:4]))
		}},
		{"object name links to an outside file", func(t *testing.T, root, outside string) {
			mkdir(t, filepath.Join(root, "objects", key[0:2], key[2:4]))
			symlink(t, filepath.Join(outside, "secret"), objectFile(root, key))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, outside := t.TempDir(), t.TempDir()
			secret := filepath.Join(outside, "secret")
			if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			d := newDisk(t, root)
			tt.plant(t, root, outside)

			if o, err := d.Open(t.Context(), key); err == nil {
				b, _ := io.ReadAll(o)
				o.Close()
				t.Errorf("Open through the planted link read %q", b)
			}
			info, err := put(t, d, content)
			if err == nil {
				// Only acceptable if the link itself was replaced, inside the root.
				got, err := os.ReadFile(objectFile(root, info.Key))
				if err != nil || !bytes.Equal(got, content) {
					t.Errorf("Commit succeeded but the object is %q, %v", got, err)
				}
				if fi, err := os.Lstat(objectFile(root, info.Key)); err != nil || !fi.Mode().IsRegular() {
					t.Errorf("object is not a regular file in the root: %v, %v", fi, err)
				}
			}
			entries, _ := os.ReadDir(outside)
			if len(entries) != 1 || entries[0].Name() != "secret" {
				t.Errorf("outside directory now holds %v", entries)
			}
			if b, _ := os.ReadFile(secret); string(b) != "secret" {
				t.Errorf("outside file changed to %q", b)
			}
			for _, name := range stagedNames(t, d) {
				t.Errorf("staging holds %s after the Commit", name)
			}
		})
	}
}

func TestDiskStagingSwappedForSymlink(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	d := newDisk(t, root)
	if err := os.Remove(filepath.Join(root, "staging")); err != nil {
		t.Fatal(err)
	}
	symlink(t, outside, filepath.Join(root, "staging"))
	if w, err := d.NewWriter(t.Context()); err == nil {
		w.Abort()
		t.Error("NewWriter followed a staging symlink out of the root")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("outside directory now holds %v", entries)
	}
}

func TestNewDiskRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string
	}{
		{"empty name", func(t *testing.T) string { return "" }},
		{"root is a file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "f")
			os.WriteFile(p, nil, 0o644)
			return p
		}},
		{"objects links outside", func(t *testing.T) string {
			root := t.TempDir()
			symlink(t, t.TempDir(), filepath.Join(root, "objects"))
			return root
		}},
		{"staging links inside", func(t *testing.T) string {
			root := t.TempDir()
			mkdir(t, filepath.Join(root, "elsewhere"))
			symlink(t, "elsewhere", filepath.Join(root, "staging"))
			return root
		}},
		{"staging is a file", func(t *testing.T) string {
			root := t.TempDir()
			os.WriteFile(filepath.Join(root, "staging"), nil, 0o644)
			return root
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d, err := blob.NewDisk(tt.setup(t)); err == nil {
				d.Close()
				t.Error("NewDisk succeeded")
			}
		})
	}
}

func TestDiskPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	d := newDisk(t, dir)
	w, err := d.NewWriter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.Write([]byte("x"))
	for _, name := range stagedNames(t, d) {
		checkMode(t, filepath.Join(dir, "staging", name), 0o644)
	}
	info, err := w.Commit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	checkMode(t, objectFile(dir, info.Key), 0o644)
	for _, p := range []string{
		dir,
		filepath.Join(dir, "objects"),
		filepath.Join(dir, "staging"),
		filepath.Join(dir, "objects", info.Key[0:2]),
		filepath.Join(dir, "objects", info.Key[0:2], info.Key[2:4]),
	} {
		checkMode(t, p, 0o755)
	}
}

// checkMode fails if p allows anything beyond most, or lets group or others
// write.
func checkMode(t *testing.T, p string, most fs.FileMode) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm&^most != 0 || perm&0o022 != 0 {
		t.Errorf("%s: mode %v; want %v or tighter", p, perm, most)
	}
	if fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
		t.Errorf("%s: mode %v has special bits", p, fi.Mode())
	}
}

func TestDiskIgnoresStrays(t *testing.T) {
	dir := t.TempDir()
	d := newDisk(t, dir)
	obj := mustPut(t, d, []byte("real"))
	other := sum([]byte("other"))
	objects := filepath.Join(dir, "objects")

	mkdir(t, filepath.Join(objects, "zz", "zz"))
	mkdir(t, filepath.Join(objects, other[0:2], other[2:4], other)) // a directory named as a key
	mkdir(t, filepath.Join(objects, "ff", other[2:4]))
	for _, p := range []string{
		filepath.Join(objects, "README"),
		filepath.Join(objects, "zz", "zz", other),
		filepath.Join(objects, obj.Key[0:2], obj.Key[2:4], "notakey"),
		filepath.Join(objects, obj.Key[0:2], obj.Key[2:4], obj.Key+".tmp"),
		filepath.Join(objects, obj.Key[0:2], obj.Key[2:4], strings.ToUpper(obj.Key)),
		filepath.Join(objects, "ff", other[2:4], other), // valid key, wrong first level
	} {
		if err := os.WriteFile(p, []byte("stray"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A symlink is not something Commit makes, even one inside the root.
	linked := sum([]byte("linked"))
	mkdir(t, filepath.Join(objects, linked[0:2], linked[2:4]))
	symlink(t, objectFile(dir, obj.Key), objectFile(dir, linked))

	if diff := cmp.Diff([]string{obj.Key}, walkKeys(t, d)); diff != "" {
		t.Errorf("Walk (-want +got):\n%s", diff)
	}
	if _, err := d.Stat(t.Context(), other); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Stat of a directory named as a key: %v; want ErrNotFound", err)
	}
	if o, err := d.Open(t.Context(), other); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open of a directory named as a key: %v; want ErrNotFound", err)
		if err == nil {
			o.Close()
		}
	}
}

// TestDiskSIGKILL kills a process that commits objects in a loop, at many
// points, and checks F1 (docs/security.md) at the storage level: every
// acknowledged object is there and complete, every visible object matches
// its key, and leftovers are only in staging.
func TestDiskSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts subprocesses")
	}
	dir := t.TempDir()
	acked := map[string]bool{}
	for round := range 8 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestDiskCrashChild$")
		cmd.Env = append(os.Environ(), "WHARF_BLOB_CRASH_DIR="+dir, fmt.Sprintf("WHARF_BLOB_CRASH_SEED=%d", round))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := bufio.NewScanner(out)
		for n := 0; n < 5+round*3 && lines.Scan(); n++ {
			if key, ok := strings.CutPrefix(lines.Text(), "committed "); ok {
				acked[key] = true
			}
		}
		// Vary where the kill lands within a commit.
		time.Sleep(time.Duration(round) * 300 * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		for lines.Scan() {
			if key, ok := strings.CutPrefix(lines.Text(), "committed "); ok {
				acked[key] = true
			}
		}
		cmd.Wait()
	}
	if len(acked) == 0 {
		t.Fatal("the child acknowledged no commit")
	}

	d := newDisk(t, dir)
	seen := map[string]bool{}
	err := d.Walk(t.Context(), func(i blob.Info) error {
		seen[i.Key] = true
		b, err := os.ReadFile(objectFile(dir, i.Key))
		if err != nil {
			return err
		}
		if sum(b) != i.Key || int64(len(b)) != i.Size {
			t.Errorf("object %s holds %d bytes hashing to %s", i.Key, len(b), sum(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for key := range acked {
		if !seen[key] {
			t.Errorf("acknowledged object %s is missing", key)
		}
	}
	err = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasPrefix(rel, "staging"+string(filepath.Separator)) {
			return nil
		}
		if key := filepath.Base(p); !seen[key] || rel != filepath.Join("objects", key[0:2], key[2:4], key) {
			t.Errorf("stray file outside staging: %s", rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d acknowledged objects, %d visible, %d staged leftovers", len(acked), len(seen), len(stagedNames(t, d)))
}

// TestDiskCrashChild is the process TestDiskSIGKILL kills; it does nothing
// unless started by it.
func TestDiskCrashChild(t *testing.T) {
	dir := os.Getenv("WHARF_BLOB_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestDiskSIGKILL")
	}
	d, err := blob.NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	seed := os.Getenv("WHARF_BLOB_CRASH_SEED")
	for i := 0; ; i++ {
		b := bytes.Repeat([]byte(fmt.Sprintf("seed %s object %d;", seed, i)), 1000+i*100)
		info, err := put(t, d, b)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Printf("committed %s\n", info.Key)
	}
}

func stagedNames(t *testing.T, s blob.Store) []string {
	t.Helper()
	var names []string
	if err := s.Staged(t.Context(), func(name string, _ int64, _ time.Time) error {
		names = append(names, name)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return names
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

func mkdir(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(p, 0o755); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkCommit(b *testing.B) {
	for _, size := range []int{4 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("%dKiB", size>>10), func(b *testing.B) {
			d := newDisk(b, b.TempDir())
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				copy(buf, fmt.Sprint(i)) // a new object each time
				w, err := d.NewWriter(b.Context())
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(buf); err != nil {
					b.Fatal(err)
				}
				if _, err := w.Commit(b.Context()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
