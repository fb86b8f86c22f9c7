package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
)

// RunFeeds is the conformance suite of the RSS feeds' queries: published releases and new projects, newest first
// and bounded; yanked releases stay, staged uploads are nowhere until approved.
func RunFeeds(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	db := open(t)
	alice := MustUser(t, db, "alice")
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	publish := func(name, project, version, summary string, minute int, create bool) store.AddFileResult {
		t.Helper()
		nf := newFile(project, version, project+"-"+version+"-py3-none-any.whl", project+version, alice.ID, create)
		nf.ProjectName, nf.ReleaseMetadata, nf.Now = name, []byte(`{"summary":"`+summary+`"}`), at(minute)
		res, err := db.AddFile(ctx, nf)
		if err != nil {
			t.Fatalf("publish %s %s: %v", project, version, err)
		}
		return res
	}
	alpha := publish("Alpha_Pkg", "alpha-pkg", "1.0", "first alpha", 0, true)
	publish("Beta", "beta", "1.0", "first beta", 1, true)
	publish("Alpha_Pkg", "alpha-pkg", "2.0", "second alpha", 2, false)
	// A second file of an existing release is no new release.
	second := newFile("alpha-pkg", "1.0", "alpha-pkg-1.0.tar.gz", "alpha-sdist", alice.ID, false)
	second.Now = at(3)
	if _, err := db.AddFile(ctx, second); err != nil {
		t.Fatal(err)
	}
	if err := db.YankRelease(ctx, alpha.Project.ID, "2.0", true, "broken", alice.ID, at(4)); err != nil {
		t.Fatal(err)
	}
	huge := newFile("gamma", "1.0", "gamma-1.0-py3-none-any.whl", "gamma", alice.ID, true)
	huge.ReleaseMetadata, huge.Now = []byte(`{"summary":"big","description":"`+strings.Repeat("x", 70000)+`"}`), at(5)
	if _, err := db.AddFile(ctx, huge); err != nil {
		t.Fatal(err)
	}
	staged := newFile("alpha-pkg", "3.0", "alpha-pkg-3.0-py3-none-any.whl", "alpha3", alice.ID, false)
	staged.Now = at(6)
	if _, _, err := db.StageFile(ctx, staged); err != nil {
		t.Fatal(err)
	}

	meta := func(summary string) []byte { return []byte(`{"summary":"` + summary + `"}`) }
	alpha2 := store.FeedRelease{Project: "Alpha_Pkg", Version: "2.0", Yanked: true, CreatedAt: at(2), Metadata: meta("second alpha")}
	beta1 := store.FeedRelease{Project: "Beta", Version: "1.0", CreatedAt: at(1), Metadata: meta("first beta")}
	alpha1 := store.FeedRelease{Project: "Alpha_Pkg", Version: "1.0", CreatedAt: at(0), Metadata: meta("first alpha")}
	gamma1 := store.FeedRelease{Project: "gamma", Version: "1.0", CreatedAt: at(5)}

	t.Run("latest releases", func(t *testing.T) {
		got, err := db.LatestReleases(ctx, 40)
		if err != nil {
			t.Fatal(err)
		}
		// gamma's metadata is over 64 KiB: listed without it. The staged 3.0 is not a release yet.
		if diff := cmp.Diff([]store.FeedRelease{gamma1, alpha2, beta1, alpha1}, got); diff != "" {
			t.Errorf("LatestReleases (-want +got):\n%s", diff)
		}
		got, err = db.LatestReleases(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]store.FeedRelease{gamma1, alpha2}, got); diff != "" {
			t.Errorf("LatestReleases limited to 2 (-want +got):\n%s", diff)
		}
	})

	t.Run("latest releases of a project", func(t *testing.T) {
		p, got, err := db.LatestReleasesOf(ctx, "alpha-pkg", 40)
		if err != nil {
			t.Fatal(err)
		}
		if p.ID != alpha.Project.ID || p.Name != "Alpha_Pkg" {
			t.Errorf("project %+v, want alpha-pkg", p)
		}
		if diff := cmp.Diff([]store.FeedRelease{alpha2, alpha1}, got); diff != "" {
			t.Errorf("LatestReleasesOf (-want +got):\n%s", diff)
		}
		if _, got, err = db.LatestReleasesOf(ctx, "alpha-pkg", 1); err != nil || len(got) != 1 || got[0].Version != "2.0" {
			t.Errorf("LatestReleasesOf limited to 1: %v, %v", got, err)
		}
		if _, _, err := db.LatestReleasesOf(ctx, "nothing-here", 40); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown project: got %v, want ErrNotFound", err)
		}
	})

	t.Run("newest projects", func(t *testing.T) {
		got, err := db.NewestProjects(ctx, 40)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			Name, Latest, Meta string
			Created            time.Time
		}
		var rows []row
		for _, p := range got {
			rows = append(rows, row{p.Name, p.LatestVersion, string(p.Metadata), p.CreatedAt})
		}
		want := []row{{"gamma", "1.0", "", at(5)}, {"Beta", "1.0", `{"summary":"first beta"}`, at(1)},
			{"Alpha_Pkg", "2.0", `{"summary":"second alpha"}`, at(0)}}
		if diff := cmp.Diff(want, rows); diff != "" {
			t.Errorf("NewestProjects (-want +got):\n%s", diff)
		}
		if got, err := db.NewestProjects(ctx, 1); err != nil || len(got) != 1 || got[0].Name != "gamma" {
			t.Errorf("NewestProjects limited to 1: %v, %v", got, err)
		}
	})

	t.Run("an approved release is the newest", func(t *testing.T) {
		if _, err := db.ApproveStaged(ctx, alpha.Project.ID, "3.0", alice.ID, at(7)); err != nil {
			t.Fatal(err)
		}
		got, err := db.LatestReleases(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Version != "3.0" || !got[0].CreatedAt.Equal(at(7)) {
			t.Errorf("after the approval the newest release is %+v, want alpha-pkg 3.0 at the approval", got)
		}
	})

	t.Run("a project without releases", func(t *testing.T) {
		for _, v := range []string{"1.0", "2.0", "3.0"} {
			if _, err := db.DeleteRelease(ctx, alpha.Project.ID, v, alice.ID, at(8)); err != nil {
				t.Fatal(err)
			}
		}
		p, got, err := db.LatestReleasesOf(ctx, "alpha-pkg", 40)
		if err != nil || p.ID != alpha.Project.ID || len(got) != 0 {
			t.Errorf("LatestReleasesOf a project without releases: %+v, %v, %v", p, got, err)
		}
		all, err := db.NewestProjects(ctx, 40)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(all); n != 3 || all[2].Name != "Alpha_Pkg" || all[2].LatestVersion != "" {
			t.Errorf("NewestProjects lists the project without releases as %+v", all)
		}
	})
}
