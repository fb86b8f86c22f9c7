package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
)

// TestDownloadsImport imports a rotated, compressed log and the current plain one, which share lines, into a data
// directory with uploaded files, then again, and checks the counts in the database.
func TestDownloadsImport(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := runCLI(t, dir, "", "migrate"); code != 0 {
		t.Fatalf("migrate: %d %q", code, errOut)
	}
	if code, _, errOut := runCLI(t, dir, "a long passphrase\n", "user", "create", "alice", "--email", "alice@example.com"); code != 0 {
		t.Fatalf("user create: %d %q", code, errOut)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "wharf.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	alice, err := db.UserByName(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	projectIDs := map[string]int64{}
	for i, f := range []struct{ project, version, filename string }{
		{"demo-pkg", "1.0", "demo_pkg-1.0-py3-none-any.whl"},
		{"demo-pkg", "1.0", "demo_pkg-1.0.tar.gz"},
		{"other", "2.0", "other-2.0.tar.gz"},
	} {
		sha := fmt.Sprintf("%064x", i+1)
		res, err := db.AddFile(ctx, store.NewFile{
			ProjectName: f.project, NormalizedName: f.project, UltraName: strings.ReplaceAll(f.project, "-", ""),
			CreateProject: f.filename != "demo_pkg-1.0.tar.gz", UploaderID: alice.ID,
			Version: f.version, CanonicalVersion: f.version, ReleaseMetadata: []byte(`{"summary":"s"}`),
			Filename: f.filename, PackageType: "sdist", PythonVersion: "source", Size: 100,
			SHA256: sha, MD5: fmt.Sprintf("%032x", i+1), Blake2b256: fmt.Sprintf("%064x", 100+i), Now: time.Now(),
		})
		if err != nil {
			t.Fatalf("add %s: %v", f.filename, err)
		}
		paths[f.filename] = "/packages/" + sha[:2] + "/" + sha[2:4] + "/" + sha[4:] + "/" + f.filename
		projectIDs[f.project] = res.Project.ID
	}

	line := func(i int, filename string, status int) string {
		return fmt.Sprintf(`2001:db8::%x - - [01/Mar/2026:23:%02d:00 -0200] "GET %s HTTP/1.1" %d 2326 "-" "pip/24.0 {\"ci\":null}"`+"\n",
			i, i, paths[filename], status)
	}
	// Ten downloads of demo-pkg on 2 March (UTC), in two logs sharing lines 5 and 6.
	var rotated, current strings.Builder
	for i := range 10 {
		name := []string{"demo_pkg-1.0-py3-none-any.whl", "demo_pkg-1.0.tar.gz"}[i%2]
		if i < 7 {
			rotated.WriteString(line(i, name, 200))
		}
		if i >= 5 {
			current.WriteString(line(i, name, 200))
		}
	}
	rotated.WriteString(line(20, "other-2.0.tar.gz", 200))
	current.WriteString(line(21, "other-2.0.tar.gz", 304))
	current.WriteString(`2001:db8::1 - - [01/Mar/2026:23:59:00 -0200] "GET /packages/aa/bb/cc/deleted-1.0.tar.gz HTTP/1.1" 200 9 "-" "pip"` + "\n")
	current.WriteString(`2001:db8::1 - - [01/Mar/2026:23:59:00 -0200] "GET /simple/demo-pkg/ HTTP/1.1" 200 9 "-" "pip"` + "\n")
	current.WriteString(`{"msg":"a line of another format"}` + "\n")
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write([]byte(rotated.String()))
	zw.Close()
	// The compressed log's name does not say so: its first bytes do.
	rotatedPath, currentPath := filepath.Join(dir, "access.log.1"), filepath.Join(dir, "access.log")
	if err := os.WriteFile(rotatedPath, zipped.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(currentPath, []byte(current.String()), 0o600); err != nil {
		t.Fatal(err)
	}

	downloads := func(project string) int64 {
		t.Helper()
		n, err := db.Downloads(ctx, projectIDs[project], time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	code, out, errOut := runCLI(t, dir, "", "downloads", "import", "--json", rotatedPath, currentPath)
	if code != 0 {
		t.Fatalf("import: %d %q %q", code, out, errOut)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("--json output %q: %v", out, err)
	}
	want := map[string]any{"files": 2.0, "lines": 17.0, "downloads": 11.0, "projects": 2.0, "already_imported": 2.0,
		"other_paths": 1.0, "other_methods": 0.0, "other_statuses": 1.0, "unknown_files": 1.0, "unparseable": 1.0,
		"not_downloads": 2.0, "skipped": 4.0, "first_unparseable": currentPath + ":9: no [timestamp]"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("--json (-want +got):\n%s", diff)
	}
	if d, o := downloads("demo-pkg"), downloads("other"); d != 10 || o != 1 {
		t.Errorf("downloads from 2 March: demo-pkg %d, other %d; want 10, 1", d, o)
	}

	// Again, the current log first and from standard input: nothing counts twice.
	code, out, errOut = runCLI(t, dir, current.String(), "downloads", "import", "-", rotatedPath)
	wantOut := "imported 0 downloads of 0 projects from 2 files (4 lines skipped: 2 not downloads, 1 unknown file, 1 unparseable; 13 already imported)\n"
	if code != 0 || out != wantOut {
		t.Errorf("second import: %d\n%q, want\n%q (stderr %q)", code, out, wantOut, errOut)
	}
	if !strings.Contains(errOut, "first unparseable line: standard input:9: no [timestamp]") {
		t.Errorf("second import's stderr %q does not show the unparseable line", errOut)
	}
	if d, o := downloads("demo-pkg"), downloads("other"); d != 10 || o != 1 {
		t.Errorf("after the second import: demo-pkg %d, other %d; want 10, 1", d, o)
	}

	// A missing log stops the run before anything is counted, the logs before it included.
	if err := os.WriteFile(currentPath, []byte(line(30, "other-2.0.tar.gz", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "access.log.2")
	code, out, errOut = runCLI(t, dir, "", "downloads", "import", currentPath, missing)
	if code != 1 || out != "" || !strings.Contains(errOut, missing) {
		t.Errorf("a missing log: %d %q %q; want status 1 and an error that names it", code, out, errOut)
	}
	if o := downloads("other"); o != 1 {
		t.Errorf("after the failed run: other %d, want 1", o)
	}
	if code, _, errOut := runCLI(t, dir, "", "downloads"); code != 1 || !strings.Contains(errOut, "usage: wharf downloads import") {
		t.Errorf("no subcommand: %d %q", code, errOut)
	}
}
