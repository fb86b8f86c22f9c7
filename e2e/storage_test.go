package e2e

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"wharf/internal/blob"
	"wharf/internal/blob/s3test"
	"wharf/internal/disttest"
)

// TestStorageMigrate moves a serving index's files from its folder to an S3 bucket with wharf storage migrate,
// killed with SIGKILL part-way and run again, then serves from the bucket and moves them back to a folder: every
// object arrives with its bytes, the second run copies only what the first did not, and fsck agrees after each move.
func TestStorageMigrate(t *testing.T) {
	in := newInstance(t, setups(t)[0].Engine)
	in.start()
	token := in.userWithToken("erin")
	for _, v := range []string{"1.0", "2.0"} {
		if code := uploadWheel(t, in, token, "moving", v); code != http.StatusOK {
			t.Fatalf("upload %s: %d", v, code)
		}
	}
	// Enough objects besides the uploads for the copy to be under way when it is killed.
	disk, err := blob.NewDisk(filepath.Join(in.dataDir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	for range 300 {
		w, err := disk.NewWriter(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 32<<10)
		rand.Read(b)
		w.Write(b)
		if _, err := w.Commit(t.Context()); err != nil {
			t.Fatal(err)
		}
		w.Abort()
	}
	objects := listObjects(t, disk)

	bucket := s3test.Start(t).Bucket(t, "files/")
	s3URL := s3test.URL(bucket)
	// The index keeps serving from its folder while the files are copied; the copy is killed after its first
	// hundredth.
	cmd := exec.Command(wharfBin, "storage", "migrate", "--to", s3URL)
	cmd.Env = in.env()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	if !sc.Scan() || !strings.Contains(sc.Text(), "of 304 objects") {
		t.Fatalf("the copy's first progress line: %q", sc.Text())
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Logf("killed after: %s", sc.Text())
	if resp, _ := in.get("/simple/moving/"); resp.StatusCode != http.StatusOK {
		t.Errorf("the index while its files were copied: %d", resp.StatusCode)
	}

	out := in.mustRun("", "storage", "migrate", "--to", s3URL, "--json")
	var p blob.CopyProgress
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if p.TotalObjects != 304 || p.Skipped == 0 || p.Copied+p.Skipped != 304 {
		t.Errorf("the resumed copy: %+v; want the objects of the first run there already, the others copied", p)
	}
	o := bucket
	o.StagingDir = t.TempDir()
	s3, err := blob.NewS3(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := listObjects(t, s3); !maps.Equal(got, objects) {
		t.Fatalf("the bucket holds %d objects, the folder %d", len(got), len(objects))
	}

	// Served from the bucket: fsck reads every file back from it, and the files download with their bytes.
	in.stop(syscall.SIGTERM)
	in.extraEnv = append(in.extraEnv, "WHARF_STORAGE_URL="+s3URL)
	in.start()
	checkRestoredFsck(t, in, 2)
	_, body := in.get("/simple/moving/")
	if !strings.Contains(string(body), disttest.WheelName("moving", "2.0")) {
		t.Errorf("the page after the move: %s", body)
	}

	// And back to a folder.
	back := filepath.Join(t.TempDir(), "files")
	in.mustRun("", "storage", "migrate", "--to", "file:"+back)
	again, err := blob.NewDisk(back)
	if err != nil {
		t.Fatal(err)
	}
	if got := listObjects(t, again); !maps.Equal(got, objects) {
		t.Fatalf("the folder holds %d objects after the move back, want %d", len(got), len(objects))
	}
}

func listObjects(t *testing.T, s blob.Store) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	if err := s.Walk(t.Context(), func(i blob.Info) error { m[i.Key] = i.Size; return nil }); err != nil {
		t.Fatal(err)
	}
	return m
}

// checkRestoredFsck runs fsck, which reads every file back, and wants no problem and files files.
func checkRestoredFsck(t *testing.T, in *instance, files int) {
	t.Helper()
	out, err := in.run("", "fsck", "--json")
	var rep struct {
		Files    int
		Problems []any
	}
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Problems) != 0 || rep.Files != files {
		t.Fatalf("fsck: %v\n%s", err, out)
	}
}
