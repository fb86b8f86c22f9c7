package fsck

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"wharf/internal/blob"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

func put(t *testing.T, blobs blob.Store, b []byte) blob.Info {
	w, err := blobs.NewWriter(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(b)
	info, err := w.Commit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	db := storetest.OpenSQLite(t)
	root := t.TempDir()
	blobs, err := blob.NewDisk(root)
	if err != nil {
		t.Fatal(err)
	}
	alice := storetest.MustUser(t, db, "alice")
	add := func(i int, content []byte, metadata string) blob.Info {
		info := put(t, blobs, content)
		_, err := db.AddFile(ctx, store.NewFile{
			ProjectName: "p", NormalizedName: "p", UltraName: "p", CreateProject: i == 0, UploaderID: alice.ID,
			Version: "1", CanonicalVersion: "1", ReleaseMetadata: []byte("{}"), Filename: fmt.Sprintf("p-%d.tar.gz", i),
			PackageType: "sdist", PythonVersion: "source", Size: info.Size, SHA256: info.Key, Blake2b256: "b2-" + info.Key,
			MetadataSHA256: metadata, Now: time.Now(),
		})
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	meta := put(t, blobs, []byte("Metadata-Version: 2.1\n"))
	add(0, []byte("good file"), meta.Key)
	rep, err := Check(ctx, db, blobs, Options{})
	if err != nil || !rep.OK() || rep.Files != 1 || rep.Objects != 2 || len(rep.Unreferenced) != 0 {
		t.Fatalf("healthy store: %+v, %v", rep, err)
	}

	corrupt := add(1, []byte("will be corrupted"), "")
	missing := add(2, []byte("will go missing"), "")
	stray := put(t, blobs, []byte("nobody points here"))
	path := func(key string) string { return filepath.Join(root, "objects", key[:2], key[2:4], key) }
	if err := os.WriteFile(path(corrupt.Key), []byte("will be corruptes"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path(missing.Key)); err != nil {
		t.Fatal(err)
	}
	leftover, _ := blobs.NewWriter(ctx)
	leftover.Write([]byte("interrupted upload"))

	rep, err = Check(ctx, db, blobs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || len(rep.Problems) != 2 {
		t.Fatalf("problems %+v, want the corrupt and the missing file", rep.Problems)
	}
	issues := map[string]string{}
	for _, p := range rep.Problems {
		issues[p.Filename] = p.Issue
	}
	if issues["p-2.tar.gz"] != "blob missing" || issues["p-1.tar.gz"] == "" {
		t.Errorf("issues %v", issues)
	}
	if len(rep.Unreferenced) != 1 || rep.Unreferenced[0] != stray.Key || len(rep.Staged) != 1 {
		t.Errorf("unreferenced %v (want %s), staged %v", rep.Unreferenced, stray.Key, rep.Staged)
	}
	quick, _ := Check(ctx, db, blobs, Options{Quick: true})
	if len(quick.Problems) != 1 {
		t.Errorf("quick check found %v; it compares sizes only, so it sees the missing file alone", quick.Problems)
	}
}

func TestCollect(t *testing.T) {
	ctx := context.Background()
	db := storetest.OpenSQLite(t)
	blobs, err := blob.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stray := put(t, blobs, []byte("stray"))
	leftover, _ := blobs.NewWriter(ctx)
	leftover.Write([]byte("interrupted"))
	rep, err := Check(ctx, db, blobs, Options{})
	if err != nil || len(rep.Unreferenced) != 1 || len(rep.Staged) != 1 {
		t.Fatalf("check: %+v %v", rep, err)
	}
	if objects, staged, err := Collect(ctx, db, blobs, rep, time.Now().Add(-time.Hour)); err != nil || objects+staged != 0 {
		t.Errorf("young objects were collected: %d %d %v", objects, staged, err)
	}
	objects, staged, err := Collect(ctx, db, blobs, rep, time.Now().Add(time.Minute))
	if err != nil || objects != 1 || staged != 1 {
		t.Errorf("collect: %d objects, %d staged, %v", objects, staged, err)
	}
	if _, err := blobs.Stat(ctx, stray.Key); err == nil {
		t.Error("the stray object is still there")
	}
}
