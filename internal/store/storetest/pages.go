package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"wharf/internal/pages"
	"wharf/internal/store"
)

// RunPages: a project's stored pages are, after every write that commits, those of its rows at that commit, with
// its serial, and gone with the project. The expected pages are rendered here from ProjectIndex, a separate read.
func RunPages(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	db := open(t)
	alice := MustUser(t, db, "alice")
	check := func(step, name string) {
		t.Helper()
		pi, err := db.ProjectIndex(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		want := pages.Render(pageProject(pi))
		for _, k := range []pages.Kind{pages.HTMLGzip, pages.JSONGzip} {
			serial, gz, err := db.SimplePage(ctx, name, k == pages.JSONGzip)
			if err != nil {
				t.Fatalf("%s: form %d: %v", step, k, err)
			}
			if serial != pi.Project.LastSerial {
				t.Errorf("%s: form %d at serial %d, the project is at %d", step, k, serial, pi.Project.LastSerial)
			}
			body, err := pages.Gunzip(gz)
			if err != nil {
				t.Fatalf("%s: form %d: %v", step, k, err)
			}
			if !bytes.Equal(body, want[k-1]) {
				t.Errorf("%s: form %d differs from the project's rows:\n%s\nwant\n%s", step, k, body, want[k-1])
			}
		}
	}
	n := 100
	add := func(version, filename string, create bool) {
		t.Helper()
		n++
		nf := newFile("pkg", version, filename, fmt.Sprintf("%064x", n), alice.ID, create)
		nf.MetadataSHA256 = fmt.Sprintf("%064x", n+1000)
		if _, err := db.AddFile(ctx, nf); err != nil {
			t.Fatalf("add %s: %v", filename, err)
		}
	}
	add("1.0", "pkg-1.0.tar.gz", true)
	check("created", "pkg")
	add("1.0", "pkg-1.0-py3-none-any.whl", false)
	add("1.10", "pkg-1.10-py3-none-any.whl", false)
	add("1.9", "pkg-1.9-py3-none-any.whl", false)
	check("files added", "pkg")
	p, err := db.ProjectByName(ctx, "pkg")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.YankRelease(ctx, p.ID, "1.9", true, "broken <b>", alice.ID, t0); err != nil {
		t.Fatal(err)
	}
	check("yanked", "pkg")
	if err := db.YankRelease(ctx, p.ID, "1.9", false, "", alice.ID, t0); err != nil {
		t.Fatal(err)
	}
	check("unyanked", "pkg")
	if _, err := db.DeleteFile(ctx, "pkg-1.0.tar.gz", alice.ID, t0); err != nil {
		t.Fatal(err)
	}
	check("file deleted", "pkg")
	if _, err := db.DeleteRelease(ctx, p.ID, "1.10", alice.ID, t0); err != nil {
		t.Fatal(err)
	}
	check("release deleted", "pkg")

	if err := db.SetStaging(ctx, p.ID, store.StageTokens); err != nil {
		t.Fatal(err)
	}
	nf := newFile("pkg", "2.0", "pkg-2.0.tar.gz", fmt.Sprintf("%064x", 2), alice.ID, false)
	if _, _, err := db.StageFile(ctx, nf); err != nil {
		t.Fatal(err)
	}
	check("staged, not published", "pkg")
	if _, err := db.ApproveStaged(ctx, p.ID, "2.0", alice.ID, t0); err != nil {
		t.Fatal(err)
	}
	check("staged release approved", "pkg")

	seeded := newFile("seeded", "1.0", "seeded-1.0.tar.gz", fmt.Sprintf("%064x", 3), 0, true)
	if err := db.SeedFiles(ctx, []store.NewFile{seeded}); err != nil {
		t.Fatal(err)
	}
	check("seeded", "seeded")

	if _, _, err := db.DeleteProject(ctx, p.ID, alice.ID, t0.Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	for _, json := range []bool{false, true} {
		if _, _, err := db.SimplePage(ctx, "pkg", json); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a deleted project's page (JSON %v): %v, want ErrNotFound", json, err)
		}
	}
}

// pageProject is what pages.Render takes, from a ProjectIndex.
func pageProject(pi store.ProjectIndex) pages.Project {
	p := pages.Project{Name: pi.Project.NormalizedName, Serial: pi.Project.LastSerial}
	for _, r := range pi.Releases {
		p.Releases = append(p.Releases, pages.Release{ID: r.ID, Version: r.Version})
	}
	for _, f := range pi.Files {
		p.Files = append(p.Files, pages.File{ReleaseID: f.ReleaseID, Filename: f.Filename, SHA256: f.SHA256,
			MetadataSHA256: f.MetadataSHA256, RequiresPython: f.RequiresPython, Size: f.Size, UploadedAt: f.UploadedAt,
			Yanked: f.Yanked, YankedReason: f.YankedReason})
	}
	return p
}
