package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
)

// RunDownloads is the conformance suite of access-log imports: counts and digests go in together, and a line
// counts once however often it is imported.
func RunDownloads(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()

	// setup makes two projects with a file each and returns their ids.
	var uploader int64
	setup := func(t *testing.T) (*store.DB, int64, int64) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		uploader = alice.ID
		a, err := db.AddFile(ctx, newFile("demo", "1.0", "demo-1.0-py3-none-any.whl", "aa", alice.ID, true))
		if err != nil {
			t.Fatal(err)
		}
		b, err := db.AddFile(ctx, newFile("other", "2.0", "other-2.0.tar.gz", "bb", alice.ID, true))
		if err != nil {
			t.Fatal(err)
		}
		return db, a.Project.ID, b.Project.ID
	}
	line := func(i int, project int64, day string) store.DownloadLine {
		sum := sha256.Sum256(fmt.Append(nil, "line ", i))
		return store.DownloadLine{Digest: [16]byte(sum[:16]), Day: day, ProjectID: project}
	}
	total := func(t *testing.T, db *store.DB, project int64, since string) int64 {
		t.Helper()
		day, err := time.Parse(time.DateOnly, since)
		if err != nil {
			t.Fatal(err)
		}
		n, err := db.Downloads(ctx, project, day)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	// imp imports lines and checks the new downloads it reports per project.
	imp := func(t *testing.T, db *store.DB, lines []store.DownloadLine, want map[int64]int64) {
		t.Helper()
		got, err := db.ImportDownloads(ctx, lines)
		if err != nil {
			t.Fatalf("ImportDownloads of %d lines: %v", len(lines), err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ImportDownloads of %d lines, new per project (-want +got):\n%s", len(lines), diff)
		}
	}

	t.Run("projects of files", func(t *testing.T) {
		db, demo, other := setup(t)
		// More names than one statement takes, so that the lookup is split.
		names := []string{"demo-1.0-py3-none-any.whl", "missing-1.0.tar.gz", "other-2.0.tar.gz"}
		for i := range 12000 {
			names = append(names, fmt.Sprintf("absent_%d-1.0.tar.gz", i))
		}
		got, err := db.ProjectsOfFiles(ctx, names)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{"demo-1.0-py3-none-any.whl": demo, "other-2.0.tar.gz": other}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ProjectsOfFiles (-want +got):\n%s", diff)
		}
		if _, err := db.DeleteFile(ctx, "other-2.0.tar.gz", uploader, t0); err != nil {
			t.Fatal(err)
		}
		if got, err := db.ProjectsOfFiles(ctx, []string{"other-2.0.tar.gz"}); err != nil || len(got) != 0 {
			t.Errorf("a deleted file: %v, %v; want it unknown", got, err)
		}
	})

	t.Run("re-run counts once", func(t *testing.T) {
		db, demo, other := setup(t)
		lines := []store.DownloadLine{
			line(1, demo, "2026-03-01"), line(2, demo, "2026-03-01"), line(3, demo, "2026-03-02"), line(4, other, "2026-03-02"),
			line(1, demo, "2026-03-01"), // the same line twice in one batch: identical lines are one
		}
		imp(t, db, lines, map[int64]int64{demo: 3, other: 1})
		imp(t, db, lines, map[int64]int64{})
		if got := [3]int64{total(t, db, demo, "2026-03-01"), total(t, db, demo, "2026-03-02"), total(t, db, other, "2026-01-01")}; got != [3]int64{3, 1, 1} {
			t.Errorf("demo from 03-01, demo from 03-02, other = %v; want [3 1 1]", got)
		}
	})

	t.Run("overlapping logs", func(t *testing.T) {
		db, demo, other := setup(t)
		var rotated, current []store.DownloadLine
		for i := range 6 {
			rotated = append(rotated, line(i, demo, "2026-03-01"))
		}
		// The current log starts with the rotated log's last two lines, as when a rotation copies and truncates.
		for i := 4; i < 10; i++ {
			current = append(current, line(i, other, "2026-03-01"))
		}
		current[0].ProjectID, current[1].ProjectID = demo, demo
		imp(t, db, rotated, map[int64]int64{demo: 6})
		imp(t, db, current, map[int64]int64{other: 4})
		if d, o := total(t, db, demo, "2026-01-01"), total(t, db, other, "2026-01-01"); d != 6 || o != 4 {
			t.Errorf("demo, other = %d, %d; want 6, 4", d, o)
		}
	})

	t.Run("several statements", func(t *testing.T) {
		db, demo, other := setup(t)
		days := []string{"2026-02-27", "2026-02-28", "2026-03-01"}
		var lines []store.DownloadLine
		for i := range 12001 {
			p := demo
			if i%3 == 0 {
				p = other
			}
			lines = append(lines, line(i, p, days[i%len(days)]))
		}
		imp(t, db, lines, map[int64]int64{demo: 8000, other: 4001})
		imp(t, db, lines[5000:], map[int64]int64{})
		if d, o := total(t, db, demo, "2026-01-01"), total(t, db, other, "2026-01-01"); d != 8000 || o != 4001 {
			t.Errorf("demo, other = %d, %d; want 8000, 4001", d, o)
		}
		// i%3 == 2 falls on 2026-03-01, always a demo line.
		if d, o := total(t, db, demo, "2026-03-01"), total(t, db, other, "2026-03-01"); d != 4000 || o != 0 {
			t.Errorf("from 2026-03-01: demo, other = %d, %d; want 4000, 0", d, o)
		}
	})

	t.Run("a failed batch leaves nothing", func(t *testing.T) {
		db, demo, _ := setup(t)
		imp(t, db, []store.DownloadLine{line(1, demo, "2026-03-01")}, map[int64]int64{demo: 1})
		// The counts statement fails on a project that does not exist, after the digests went in: the
		// transaction must take those back with it.
		batch := []store.DownloadLine{line(2, demo, "2026-03-01"), line(3, demo, "2026-03-02"), line(4, demo+1000, "2026-03-02")}
		if got, err := db.ImportDownloads(ctx, batch); err == nil {
			t.Fatalf("a batch with a missing project: %v new, no error", got)
		}
		if n := total(t, db, demo, "2026-01-01"); n != 1 {
			t.Errorf("after the failed batch: demo = %d, want 1", n)
		}
		imp(t, db, batch[:2], map[int64]int64{demo: 2})
		if n := total(t, db, demo, "2026-01-01"); n != 3 {
			t.Errorf("after the re-run: demo = %d, want 3", n)
		}
	})
}
