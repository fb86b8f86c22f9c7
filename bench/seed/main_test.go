package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

func writeTSV(t *testing.T, lines ...string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte("name\tdownload_rank\n" + strings.Join(lines, "\n") + "\n"))
	zw.Close()
	path := filepath.Join(t.TempDir(), "projects.tsv.gz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSeed(t *testing.T) {
	ctx := context.Background()
	tsv := writeTSV(t, "Foo_Bar\t3", "foo.bar\t", "zope.interface\t1", "0\t", "A\t2")
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			dsn := e.URL(t)
			args := []string{"-database-url", dsn, "-projects", tsv, "-batch", "2"}
			var out bytes.Buffer
			if err := run(ctx, args, func(string) string { return "" }, &out); err != nil {
				t.Fatal(err)
			}
			// Again: what exists is skipped, nothing fails.
			if err := run(ctx, args, func(string) string { return "" }, &out); err != nil {
				t.Fatalf("second run: %v", err)
			}
			db, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			var names []string
			if err := db.EachProjectName(ctx, func(n string) error { names = append(names, n); return nil }); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"0", "a", "foo-bar", "zope-interface"}, names); diff != "" {
				t.Errorf("projects (-want +got):\n%s", diff)
			}
			pi, err := db.ProjectIndex(ctx, "foo-bar")
			if err != nil {
				t.Fatal(err)
			}
			if pi.Project.Name != "Foo_Bar" || pi.Project.LastSerial == 0 || pi.Project.TotalSize == 0 {
				t.Errorf("project %+v", pi.Project)
			}
			var got []string
			for _, f := range pi.Files {
				if f.SHA256 != hexSHA256(f.Filename) || f.MetadataSHA256 == "" || f.Version == "" || f.ProjectID != pi.Project.ID {
					t.Errorf("file %+v", f)
				}
				got = append(got, f.Filename)
			}
			want := []string{"foo_bar-1.0-py3-none-any.whl", "foo_bar-1.1-py3-none-any.whl", "foo_bar-2.0-py3-none-any.whl"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
			if len(pi.Releases) != 3 {
				t.Errorf("releases %+v", pi.Releases)
			}
			if meta, err := db.ReleaseMetadata(ctx, pi.Releases[0].ID); err != nil || len(meta) == 0 {
				t.Errorf("release metadata %q, %v", meta, err)
			}
			// Every project has its own serial, and the global serial is the newest.
			serials := map[int64]string{}
			err = db.ChangedProjects(ctx, 0, func(n string, s int64) {
				if prev, dup := serials[s]; dup {
					t.Errorf("%s and %s share serial %d", prev, n, s)
				}
				serials[s] = n
			})
			if err != nil || len(serials) != 4 {
				t.Errorf("serials %v, %v", serials, err)
			}
			last, _ := db.LastSerial(ctx)
			if _, ok := serials[last]; !ok {
				t.Errorf("last serial %d is no project's", last)
			}
		})
	}
}
