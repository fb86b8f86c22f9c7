package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// TestProjectIndexShapes covers what the one-statement read has to reassemble from its joined rows: releases with
// several files, without files, a project without releases, and the creation and upload orders.
func TestProjectIndexShapes(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			db := e.Open(t)
			alice := storetest.MustUser(t, db, "alice")
			add := func(project, version, filename string, create bool) store.File {
				t.Helper()
				res, err := db.AddFile(ctx, store.NewFile{
					ProjectName: project, NormalizedName: project, UltraName: project, CreateProject: create,
					UploaderID: alice.ID, Version: version, CanonicalVersion: version, RequiresPython: ">=3.9",
					ReleaseMetadata: []byte(`{"summary":"s"}`), Filename: filename, PackageType: "sdist",
					PythonVersion: "source", Size: 10, SHA256: "sha-" + filename, MD5: "md5", Blake2b256: "b2-" + filename,
					MetadataSHA256: "meta-" + filename, Now: now,
				})
				if err != nil {
					t.Fatal(err)
				}
				return res.File
			}
			// Uploads interleave releases, so neither order is the other's.
			var uploaded []string
			for i, v := range []string{"2.0", "1.0", "2.0", "3.0", "1.0", "2.0", "4.0"} {
				name := fmt.Sprintf("demo-%s-%d.tar.gz", v, i)
				add("demo", v, name, i == 0)
				uploaded = append(uploaded, name)
			}
			p, err := db.ProjectIndex(ctx, "demo")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.DeleteFile(ctx, uploaded[3], alice.ID, now); err != nil { // 3.0 keeps its release
				t.Fatal(err)
			}
			if err := db.YankRelease(ctx, p.Project.ID, "1.0", true, "bad", alice.ID, now); err != nil {
				t.Fatal(err)
			}

			pi, err := db.ProjectIndex(ctx, "demo")
			if err != nil {
				t.Fatal(err)
			}
			if pi.Project.NormalizedName != "demo" || pi.Project.ID != p.Project.ID || pi.Project.CreatedAt.IsZero() {
				t.Errorf("project %+v", pi.Project)
			}
			var versions []string
			for _, r := range pi.Releases {
				versions = append(versions, r.Version)
				if r.ProjectID != pi.Project.ID || r.CreatedAt.IsZero() || r.RequiresPython != ">=3.9" ||
					r.Yanked != (r.Version == "1.0") || r.Metadata != nil {
					t.Errorf("release %+v", r)
				}
			}
			if diff := cmp.Diff([]string{"2.0", "1.0", "3.0", "4.0"}, versions); diff != "" {
				t.Errorf("releases in creation order (-want +got):\n%s", diff)
			}
			release := map[string]int64{}
			for _, r := range pi.Releases {
				release[r.Version] = r.ID
			}
			var files []string
			for _, f := range pi.Files {
				files = append(files, f.Filename)
				if f.ReleaseID != release[f.Version] || f.ProjectID != pi.Project.ID || f.SHA256 != "sha-"+f.Filename ||
					f.MetadataSHA256 != "meta-"+f.Filename || f.UploadedBy != alice.ID || !f.UploadedAt.Equal(now) ||
					f.Yanked != (f.Version == "1.0") || f.Yanked && f.YankedReason != "bad" || f.Size != 10 {
					t.Errorf("file %+v", f)
				}
			}
			want := append(append([]string{}, uploaded[:3]...), uploaded[4:]...)
			if diff := cmp.Diff(want, files); diff != "" {
				t.Errorf("files in upload order (-want +got):\n%s", diff)
			}

			// A project whose every release was deleted still exists, with nothing in it.
			add("solo", "1.0", "solo-1.0.tar.gz", true)
			solo, err := db.ProjectIndex(ctx, "solo")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.DeleteRelease(ctx, solo.Project.ID, "1.0", alice.ID, now); err != nil {
				t.Fatal(err)
			}
			solo, err = db.ProjectIndex(ctx, "solo")
			if err != nil || solo.Project.NormalizedName != "solo" || len(solo.Releases) != 0 || len(solo.Files) != 0 {
				t.Errorf("empty project: %+v, %v", solo, err)
			}
			if _, err := db.ProjectIndex(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("missing project: %v", err)
			}
		})
	}
}
