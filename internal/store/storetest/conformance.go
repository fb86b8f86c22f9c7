package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func newFile(project, version, filename, sha string, uploader int64, create bool) store.NewFile {
	return store.NewFile{
		ProjectName: project, NormalizedName: project, UltraName: project, CreateProject: create, UploaderID: uploader,
		Version: version, CanonicalVersion: version, RequiresPython: ">=3.8", ReleaseMetadata: []byte(`{"summary":"s"}`),
		Filename: filename, PackageType: "bdist_wheel", PythonVersion: "py3", Size: 100,
		SHA256: sha, MD5: "md5", Blake2b256: "b2-" + sha, Now: t0,
	}
}

// Run is the conformance suite: every engine behaves the same for every call wharf makes.
func Run(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()

	t.Run("users", func(t *testing.T) {
		db := open(t)
		u, err := db.CreateUser(ctx, store.User{Username: "Alice", Email: "a@example.com", PasswordHash: "h", CreatedAt: t0})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateUser(ctx, store.User{Username: "ALICE ", Email: "b@example.com", PasswordHash: "h"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate username in another case: got %v, want ErrConflict", err)
		}
		got, err := db.UserByName(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(u, got); diff != "" {
			t.Errorf("UserByName (-want +got):\n%s", diff)
		}
		if _, err := db.UserByID(ctx, u.ID+1000); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing user: got %v, want ErrNotFound", err)
		}
	})

	t.Run("tokens", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		tok := store.Token{ID: "0123", UserID: alice.ID, Name: "ci", Projects: []string{"a", "b"}, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := db.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if err := db.CreateToken(ctx, tok); !errors.Is(err, store.ErrConflict) {
			t.Errorf("duplicate token id: got %v", err)
		}
		got, err := db.TokenByID(ctx, "0123")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tok, got); diff != "" {
			t.Errorf("TokenByID (-want +got):\n%s", diff)
		}
		first, err := db.TouchToken(ctx, "0123", t0.Add(time.Minute))
		if err != nil || !first {
			t.Errorf("first use: first=%v err=%v", first, err)
		}
		first, err = db.TouchToken(ctx, "0123", t0.Add(2*time.Minute))
		if err != nil || first {
			t.Errorf("second use: first=%v err=%v", first, err)
		}
		if err := db.RevokeToken(ctx, bob.ID, "0123", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("another user's revoke: got %v, want ErrNotFound", err)
		}
		if err := db.RevokeToken(ctx, alice.ID, "0123", t0.Add(3*time.Minute)); err != nil {
			t.Fatal(err)
		}
		list, err := db.TokensForUser(ctx, alice.ID)
		if err != nil || len(list) != 1 || !list[0].RevokedAt.Equal(t0.Add(3*time.Minute)) || !list[0].LastUsedAt.Equal(t0.Add(2*time.Minute)) {
			t.Errorf("TokensForUser = %+v, %v", list, err)
		}
	})

	t.Run("publish", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		res, err := db.AddFile(ctx, newFile("demo", "1.0", "demo-1.0-py3-none-any.whl", "aa", alice.ID, true))
		if err != nil {
			t.Fatal(err)
		}
		if !res.ProjectCreated || res.Duplicate || res.Project.TotalSize != 100 {
			t.Errorf("first upload result = %+v", res)
		}
		if role, err := db.RoleOf(ctx, res.Project.ID, alice.ID); err != nil || role != store.RoleOwner {
			t.Errorf("creator role = %q, %v; want Owner", role, err)
		}
		serial1 := res.Project.LastSerial

		dup, err := db.AddFile(ctx, newFile("demo", "1.0", "demo-1.0-py3-none-any.whl", "aa", alice.ID, false))
		if err != nil || !dup.Duplicate {
			t.Errorf("identical re-upload: %+v, %v; want a duplicate no-op", dup, err)
		}
		if _, err := db.AddFile(ctx, newFile("demo", "1.0", "demo-1.0-py3-none-any.whl", "bb", alice.ID, false)); !errors.Is(err, store.ErrFileExists) {
			t.Errorf("same name, other bytes: got %v, want ErrFileExists", err)
		}
		if _, err := db.AddFile(ctx, newFile("demo", "1.1", "demo-1.1.tar.gz", "cc", alice.ID, true)); !errors.Is(err, store.ErrProjectExists) {
			t.Errorf("create of an existing project: got %v, want ErrProjectExists", err)
		}
		if _, err := db.AddFile(ctx, newFile("other", "1.0", "other-1.0.tar.gz", "dd", alice.ID, false)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("upload to a missing project without create: got %v, want ErrNotFound", err)
		}
		second, err := db.AddFile(ctx, newFile("demo", "1.0", "demo-1.0.tar.gz", "ee", alice.ID, false))
		if err != nil {
			t.Fatal(err)
		}
		if second.File.ReleaseID != res.File.ReleaseID || second.Project.LastSerial <= serial1 {
			t.Errorf("second file of a release: %+v", second)
		}

		if _, err := db.DeleteFile(ctx, "demo-1.0.tar.gz", alice.ID, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddFile(ctx, newFile("demo", "1.0", "demo-1.0.tar.gz", "ee", alice.ID, false)); !errors.Is(err, store.ErrFilenameReused) {
			t.Errorf("re-upload of a deleted filename: got %v, want ErrFilenameReused", err)
		}

		big := newFile("demo", "2.0", "demo-2.0.tar.gz", "ff", alice.ID, false)
		big.MaxProjectSize = 150
		if _, err := db.AddFile(ctx, big); !errors.Is(err, store.ErrProjectTooLarge) {
			t.Errorf("over the project limit: got %v, want ErrProjectTooLarge", err)
		}

		if err := db.YankRelease(ctx, res.Project.ID, "1.0", true, "broken", alice.ID, t0); err != nil {
			t.Fatal(err)
		}
		pi, err := db.ProjectIndex(ctx, "demo")
		if err != nil {
			t.Fatal(err)
		}
		if len(pi.Releases) != 1 || !pi.Releases[0].Yanked || pi.Releases[0].YankedReason != "broken" {
			t.Errorf("releases = %+v", pi.Releases)
		}
		want := []string{"demo-1.0-py3-none-any.whl"}
		var got []string
		for _, f := range pi.Files {
			got = append(got, f.Filename)
			if !f.Yanked || f.YankedReason != "broken" || f.Version != "1.0" {
				t.Errorf("file %s: yanked=%v reason=%q version=%q", f.Filename, f.Yanked, f.YankedReason, f.Version)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("files (-want +got):\n%s", diff)
		}
		if pi.Project.TotalSize != 100 {
			t.Errorf("total size after a delete = %d, want 100", pi.Project.TotalSize)
		}
		last, err := db.LastSerial(ctx)
		if err != nil || last != pi.Project.LastSerial {
			t.Errorf("LastSerial = %d, %v; project serial %d", last, err, pi.Project.LastSerial)
		}
		if _, err := db.ProjectIndex(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("missing project: got %v", err)
		}
	})

	t.Run("names in byte order", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		for i, n := range []string{"zeta", "a0", "a-b", "B-upper-is-normalised-by-caller", "a"} {
			if _, err := db.AddFile(ctx, newFile(n, "1", fmt.Sprintf("f%d.tar.gz", i), fmt.Sprintf("x%d", i), alice.ID, true)); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		if err := db.EachProjectName(ctx, func(n string) error { got = append(got, n); return nil }); err != nil {
			t.Fatal(err)
		}
		want := []string{"B-upper-is-normalised-by-caller", "a", "a-b", "a0", "zeta"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("EachProjectName (-want +got):\n%s", diff)
		}
	})

	// Another instance learns from ChangedProjects which projects' cached pages to drop: every project written
	// after a serial, with its newest serial, a deleted one included, and no project that did not change.
	t.Run("changed projects", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		for i, n := range []string{"kept", "changed", "deleted"} {
			if _, err := db.AddFile(ctx, newFile(n, "1", fmt.Sprintf("f%d.tar.gz", i), fmt.Sprintf("x%d", i), alice.ID, true)); err != nil {
				t.Fatal(err)
			}
		}
		after, err := db.LastSerial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddFile(ctx, newFile("changed", "2", "f3.tar.gz", "x3", alice.ID, false)); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddFile(ctx, newFile("changed", "3", "f4.tar.gz", "x4", alice.ID, false)); err != nil {
			t.Fatal(err)
		}
		changedSerial, _ := db.LastSerial(ctx)
		deleted, err := db.ProjectIndex(ctx, "deleted")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.DeleteProject(ctx, deleted.Project.ID, alice.ID, t0, ""); err != nil {
			t.Fatal(err)
		}
		deletedSerial, _ := db.LastSerial(ctx)
		got := map[string]int64{}
		if err := db.ChangedProjects(ctx, after, func(n string, s int64) { got[n] = s }); err != nil {
			t.Fatal(err)
		}
		want := map[string]int64{"changed": changedSerial, "deleted": deletedSerial}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ChangedProjects after %d (-want +got):\n%s", after, diff)
		}
	})

	t.Run("concurrent uploads of one filename", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins, exists := 0, 0
		for i := range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := db.AddFile(ctx, newFile("race", "1.0", "race-1.0.tar.gz", fmt.Sprintf("sha%d", i), alice.ID, i == 0))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, store.ErrFileExists), errors.Is(err, store.ErrNotFound):
					exists++ // lost the race, or ran before the project existed
				default:
					t.Errorf("unexpected error: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d uploads won, want exactly 1 (%d refused)", wins, exists)
		}
		n := 0
		if err := db.EachFile(ctx, func(store.File) error { n++; return nil }); err != nil || n != 1 {
			t.Errorf("file rows = %d, %v; want 1", n, err)
		}
	})

	t.Run("concurrent identical uploads", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		if _, err := db.AddFile(ctx, newFile("same", "1.0", "same-1.0.tar.gz", "s0", alice.ID, true)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := db.AddFile(ctx, newFile("same", "1.0", "same-1.0-py3-none-any.whl", "s1", alice.ID, false))
				if err == nil && res.Duplicate {
					err = nil
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("identical concurrent upload: %v", err)
			}
		}
	})

	// The same bytes are never accepted under a second filename, in any project (a wheel re-tagged to look like
	// another one, or one project's file copied into another): the first live file holds its content.
	t.Run("content reuse", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		first, err := db.AddFile(ctx, newFile("orig", "1.0", "orig-1.0-py3-none-any.whl", "c0", alice.ID, true))
		if err != nil {
			t.Fatal(err)
		}
		retag := newFile("orig", "1.0", "orig-1.0-py2.py3-none-any.whl", "c0", alice.ID, false)
		if _, err := db.AddFile(ctx, retag); !errors.Is(err, store.ErrContentExists) {
			t.Errorf("same sha256 under another filename: got %v, want ErrContentExists", err)
		}
		sameBlake := newFile("copy", "1.0", "copy-1.0.tar.gz", "c1", alice.ID, true)
		sameBlake.Blake2b256 = first.File.Blake2b256
		if _, err := db.AddFile(ctx, sameBlake); !errors.Is(err, store.ErrContentExists) {
			t.Errorf("same blake2b-256 in another project: got %v, want ErrContentExists", err)
		}
		if _, err := db.ProjectByName(ctx, "copy"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a refused first upload left its project behind: %v", err)
		}
		if name, err := db.FileWithContent(ctx, "c0", "none"); err != nil || name != "orig-1.0-py3-none-any.whl" {
			t.Errorf("FileWithContent = %q, %v", name, err)
		}
		if dup, err := db.AddFile(ctx, newFile("orig", "1.0", "orig-1.0-py3-none-any.whl", "c0", alice.ID, false)); err != nil || !dup.Duplicate {
			t.Errorf("the identical file again: %+v, %v; want the duplicate no-op", dup, err)
		}
		// Once the file is deleted its content may come back under another name (the deleted name never may).
		if _, err := db.DeleteFile(ctx, "orig-1.0-py3-none-any.whl", alice.ID, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddFile(ctx, retag); err != nil {
			t.Errorf("content of a deleted file under a new name: %v", err)
		}

		// Twenty uploads of one content under twenty names at once: exactly one is accepted.
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := db.AddFile(ctx, newFile("orig", "2.0", fmt.Sprintf("orig-2.0-%d-py3-none-any.whl", i+1), "race", alice.ID, false))
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, store.ErrContentExists):
				t.Errorf("racing upload: %v", err)
			}
		}
		pi, err := db.ProjectIndex(ctx, "orig")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, f := range pi.Files {
			if f.SHA256 == "race" {
				n++
			}
		}
		if won != 1 || n != 1 {
			t.Errorf("%d racing uploads won and %d files hold the content, want 1 and 1", won, n)
		}
	})

	// A seeded index (an import, a benchmark) refuses re-uploads of its content like one filled by uploads, and a
	// second seed registers only its own files.
	t.Run("seeded content", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		if _, err := db.AddFile(ctx, newFile("first", "1.0", "first-1.0.tar.gz", "s-first", alice.ID, true)); err != nil {
			t.Fatal(err)
		}
		for i, batch := range [][]string{{"a", "b"}, {"c"}} {
			var files []store.NewFile
			for _, n := range batch {
				files = append(files, newFile("seed-"+n, "1.0", "seed_"+n+"-1.0.tar.gz", "s-"+n, alice.ID, true))
			}
			if err := db.SeedFiles(ctx, files); err != nil {
				t.Fatalf("seed %d: %v", i, err)
			}
		}
		for _, n := range []string{"first", "a", "b", "c"} {
			if name, err := db.FileWithContent(ctx, "s-"+n, "none"); err != nil || name == "" {
				t.Errorf("content of %s: %q, %v; want it registered", n, name, err)
			}
		}
		if _, err := db.AddFile(ctx, newFile("seed-a", "2.0", "seed_a-2.0.tar.gz", "s-b", alice.ID, false)); !errors.Is(err, store.ErrContentExists) {
			t.Errorf("re-upload of seeded content: %v, want ErrContentExists", err)
		}
	})

	t.Run("early enforcement", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		bob := MustUser(t, db, "bob")
		res, err := db.AddFile(ctx, newFile("early", "1.0", "early-1.0.tar.gz", "e1", bob.ID, true))
		if err != nil {
			t.Fatal(err)
		}
		if added, err := db.EnforceEarly(ctx, store.EarlyUser, alice.ID, "maintains the build tools", t0); err != nil || !added {
			t.Fatalf("enforce alice early: %v %v", added, err)
		}
		if added, err := db.EnforceEarly(ctx, store.EarlyUser, alice.ID, "again", t0); err != nil || added {
			t.Errorf("twice: %v %v", added, err)
		}
		if _, err := db.EnforceEarly(ctx, store.EarlyProject, res.Project.ID, "everyone installs it", t0); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			user, project int64
			want          bool
		}{{alice.ID, 0, true}, {bob.ID, 0, false}, {bob.ID, res.Project.ID, true}, {bob.ID, res.Project.ID + 1, false}} {
			if got, err := db.EarlyEnforced(ctx, tc.user, tc.project); err != nil || got != tc.want {
				t.Errorf("EarlyEnforced(%d, %d) = %v, %v; want %v", tc.user, tc.project, got, err, tc.want)
			}
		}
		list, err := db.EarlyEnforcements(ctx)
		if err != nil || len(list) != 2 || list[0].Kind != store.EarlyProject || list[0].Name != "early" || list[1].Name != "alice" {
			t.Errorf("EarlyEnforcements = %+v, %v", list, err)
		}
	})

	// A daily job runs once a day however many instances ask for the day at once.
	t.Run("lease a day", func(t *testing.T) {
		db := open(t)
		ten := 10 * time.Minute
		// race has 20 instances ask for job's day at once; it returns the holders told yes.
		race := func(day string, now time.Time) []string {
			var mu sync.Mutex
			var won []string
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Go(func() {
					holder := fmt.Sprintf("i%d", i)
					ok, err := db.LeaseDay(ctx, "job", day, holder, now, now.Add(ten))
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					defer mu.Unlock()
					if ok {
						won = append(won, holder)
					}
				})
			}
			wg.Wait()
			return won
		}
		won := race("2026-07-01", t0)
		if len(won) != 1 {
			t.Fatalf("first day: %v won, want one", won)
		}
		first := won[0]
		// Held: nobody takes it while the lease runs, and renewing it moves its end.
		if won := race("2026-07-01", t0.Add(9*time.Minute)); len(won) != 0 {
			t.Errorf("a held lease was taken by %v", won)
		}
		if ok, err := db.RenewLease(ctx, "job", "2026-07-01", first, t0.Add(20*time.Minute)); err != nil || !ok {
			t.Errorf("renewal by the holder: %v %v", ok, err)
		}
		if ok, err := db.RenewLease(ctx, "job", "2026-07-01", "someone", t0.Add(time.Hour)); err != nil || ok {
			t.Errorf("renewal by another: %v %v", ok, err)
		}
		if won := race("2026-07-01", t0.Add(15*time.Minute)); len(won) != 0 {
			t.Errorf("a renewed lease was taken by %v", won)
		}
		// The holder died: once the lease ends, one other instance takes the day over, and the first can neither
		// renew nor finish it.
		won = race("2026-07-01", t0.Add(20*time.Minute))
		if len(won) != 1 {
			t.Fatalf("an ended lease: %v won, want one", won)
		}
		second := won[0]
		if second != first {
			if ok, err := db.FinishDay(ctx, "job", "2026-07-01", first); err != nil || ok {
				t.Errorf("the lost lease was finished: %v %v", ok, err)
			}
		}
		if ok, err := db.FinishDay(ctx, "job", "2026-07-01", second); err != nil || !ok {
			t.Errorf("finishing by the holder: %v %v", ok, err)
		}
		// Done: nobody runs the day again, however late; the next day is leased at once; a day before is not.
		if won := race("2026-07-01", t0.Add(24*time.Hour)); len(won) != 0 {
			t.Errorf("a finished day was taken by %v", won)
		}
		if ok, err := db.RenewLease(ctx, "job", "2026-07-01", second, t0.Add(time.Hour)); err != nil || ok {
			t.Errorf("a finished day's lease was renewed: %v %v", ok, err)
		}
		if won := race("2026-06-30", t0.Add(24*time.Hour)); len(won) != 0 {
			t.Errorf("an earlier day was taken by %v", won)
		}
		if won := race("2026-07-02", t0.Add(time.Minute)); len(won) != 1 {
			t.Errorf("the next day, while the last was leased until later: %v won, want one", won)
		}
		if ok, err := db.LeaseDay(ctx, "another-job", "2026-07-01", "x", t0, t0.Add(ten)); err != nil || !ok {
			t.Errorf("another job's day: %v %v", ok, err)
		}
	})

	t.Run("downloads", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		res, err := db.AddFile(ctx, newFile("dl", "1", "dl-1.tar.gz", "x", alice.ID, true))
		if err != nil {
			t.Fatal(err)
		}
		id := res.Project.ID
		for _, day := range []string{"2026-01-01", "2026-01-02", "2026-01-02"} {
			if err := db.AddDownloads(ctx, day, map[int64]int64{id: 5}); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := db.Downloads(ctx, id, time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)); err != nil || n != 10 {
			t.Errorf("downloads since 01-02 = %d, %v; want 10", n, err)
		}
		if n, err := db.Downloads(ctx, id, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil || n != 15 {
			t.Errorf("all downloads = %d, %v; want 15", n, err)
		}
	})

	t.Run("events and reserved names", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		for _, k := range []string{"login", "upload"} {
			if err := db.AddEvent(ctx, store.Event{CreatedAt: t0, Kind: k, UserID: alice.ID, IP: "192.0.2.1"}); err != nil {
				t.Fatal(err)
			}
		}
		ev, err := db.Events(ctx, alice.ID, 0, 10)
		if err != nil || len(ev) != 2 || ev[0].Kind != "upload" || ev[1].IP != "192.0.2.1" {
			t.Errorf("Events = %+v, %v", ev, err)
		}
		if err := db.ReserveName(ctx, "internal-tool", "reserved", t0); err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]bool{"internal-tool": true, "other": false} {
			if got, err := db.IsNameReserved(ctx, name); err != nil || got != want {
				t.Errorf("IsNameReserved(%q) = %v, %v", name, got, err)
			}
		}
	})
}
