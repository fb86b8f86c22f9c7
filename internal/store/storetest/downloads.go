package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
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

// RunDownloadTotals is the conformance suite of the download window: the per-project totals that the critical
// recompute reads equal the sum of the daily counts from the window's first day on, after counts of any day,
// imports of past days, moves of the window either way, and writes that run while the window moves.
func RunDownloadTotals(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	date := func(t *testing.T, day string) time.Time {
		t.Helper()
		d, err := time.Parse(time.DateOnly, day)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	// fixture is a database with n projects, every one critical, and the counts written to it so far.
	type fixture struct {
		db  *store.DB
		ids []int64
		mu  sync.Mutex
		got map[int64]map[string]int64 // project -> day -> count
	}
	setup := func(t *testing.T, n int) *fixture {
		db := open(t)
		alice := MustUser(t, db, "alice")
		f := &fixture{db: db, got: map[int64]map[string]int64{}}
		for i := range n {
			name := fmt.Sprintf("p%d", i)
			res, err := db.AddFile(ctx, newFile(name, "1.0", name+"-1.0.tar.gz", "sha-"+name, alice.ID, true))
			if err != nil {
				t.Fatal(err)
			}
			f.ids = append(f.ids, res.Project.ID)
		}
		// CriticalProjects reads the total of every critical project from the window, those at zero included:
		// with every project critical, it shows the totals themselves rather than only the top.
		if _, err := db.MarkCritical(ctx, f.ids, t0); err != nil {
			t.Fatal(err)
		}
		return f
	}
	count := func(f *fixture, project int64, day string, n int64) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.got[project] == nil {
			f.got[project] = map[string]int64{}
		}
		f.got[project][day] += n
	}
	add := func(t *testing.T, f *fixture, day string, counts map[int64]int64) {
		t.Helper()
		if err := f.db.AddDownloads(ctx, day, counts); err != nil {
			t.Errorf("AddDownloads(%s): %v", day, err)
			return
		}
		for p, n := range counts {
			count(f, p, day, n)
		}
	}
	var lineNo atomic.Int64
	imp := func(t *testing.T, f *fixture, lines []store.DownloadLine) {
		t.Helper()
		if _, err := f.db.ImportDownloads(ctx, lines); err != nil {
			t.Errorf("ImportDownloads: %v", err)
			return
		}
		// Lines are unique across the suite, so each one counts.
		for _, l := range lines {
			count(f, l.ProjectID, l.Day, 1)
		}
	}
	line := func(project int64, day string) store.DownloadLine {
		sum := sha256.Sum256(fmt.Append(nil, "totals line ", lineNo.Add(1)))
		return store.DownloadLine{Digest: [16]byte(sum[:16]), Day: day, ProjectID: project}
	}
	// slide moves the window and brings the head largest totals up to it; the others stay upper bounds.
	slide := func(t *testing.T, f *fixture, day string, head int) {
		t.Helper()
		if err := f.db.SlideDownloadWindow(ctx, date(t, day), head); err != nil {
			t.Fatal(err)
		}
	}
	// check compares what the window's totals say with the counts written, summed from since on: the whole top
	// (order, ties by the older project, projects without downloads left out) and every project's total.
	check := func(t *testing.T, f *fixture, since string) {
		t.Helper()
		if w, err := f.db.DownloadWindow(ctx); err != nil || w.Format(time.DateOnly) != since {
			t.Fatalf("DownloadWindow = %v, %v; want %s", w, err, since)
		}
		type total struct{ ID, Downloads int64 }
		var want []total
		all := map[int64]int64{}
		for _, id := range f.ids {
			var n int64
			for day, c := range f.got[id] {
				if day >= since {
					n += c
				}
			}
			all[id] = n
			if n > 0 {
				want = append(want, total{id, n})
			}
		}
		sort.Slice(want, func(i, j int) bool {
			return want[i].Downloads > want[j].Downloads || want[i].Downloads == want[j].Downloads && want[i].ID < want[j].ID
		})
		top, err := f.db.TopDownloaded(ctx, date(t, since), len(f.ids))
		if err != nil {
			t.Fatal(err)
		}
		var gotTop []total
		for _, d := range top {
			gotTop = append(gotTop, total{d.ID, d.Downloads})
		}
		if diff := cmp.Diff(want, gotTop); diff != "" {
			t.Errorf("TopDownloaded from %s (-want +got):\n%s", since, diff)
		}
		// Shorter tops, which the totals' upper bounds must not mislead.
		for limit := 1; limit < len(f.ids); limit++ {
			top, err := f.db.TopDownloaded(ctx, date(t, since), limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []total
			for _, d := range top {
				got = append(got, total{d.ID, d.Downloads})
			}
			if diff := cmp.Diff(want[:min(limit, len(want))], got); diff != "" {
				t.Errorf("TopDownloaded from %s, %d (-want +got):\n%s", since, limit, diff)
			}
		}
		crit, err := f.db.CriticalProjects(ctx, date(t, since))
		if err != nil {
			t.Fatal(err)
		}
		gotAll := map[int64]int64{}
		for _, d := range crit {
			gotAll[d.ID] = d.Downloads
		}
		if diff := cmp.Diff(all, gotAll); diff != "" {
			t.Errorf("the window's totals from %s (-want +got):\n%s", since, diff)
		}
		// The daily counts themselves, summed per project, agree too: the reference is right.
		for id, n := range all {
			if got, err := f.db.Downloads(ctx, id, date(t, since)); err != nil || got != n {
				t.Errorf("Downloads(%d, %s) = %d, %v; want %d", id, since, got, err, n)
			}
		}
	}

	t.Run("counts and imports inside and outside the window", func(t *testing.T) {
		f := setup(t, 4)
		a, b, c, d := f.ids[0], f.ids[1], f.ids[2], f.ids[3]
		slide(t, f, "2026-03-10", 1)
		check(t, f, "2026-03-10")
		add(t, f, "2026-03-10", map[int64]int64{a: 5, b: 7}) // the first day counts
		add(t, f, "2026-03-15", map[int64]int64{a: 3, c: 1})
		add(t, f, "2026-03-09", map[int64]int64{d: 1000}) // the day before does not
		add(t, f, "2025-12-31", map[int64]int64{b: 50})
		add(t, f, "2026-04-02", map[int64]int64{d: 2}) // nor is there a last day
		check(t, f, "2026-03-10")
		// An access-log import brings past days, on both sides of the first day, in one batch.
		imp(t, f, []store.DownloadLine{line(c, "2026-03-09"), line(c, "2026-03-10"), line(c, "2026-03-11"),
			line(d, "2026-02-01"), line(b, "2026-03-12"), line(b, "2026-03-12")})
		check(t, f, "2026-03-10")
		// Ties go to the older project: a and b both at 9 now.
		add(t, f, "2026-03-20", map[int64]int64{a: 1})
		check(t, f, "2026-03-10")
	})

	// head 0: no total is brought up to date, each is corrected when read; 1: the largest only; 10: all of them.
	for _, head := range []int{0, 1, 10} {
		t.Run(fmt.Sprintf("the window moves day by day, jumps, and goes back, keeping %d totals exact", head), func(t *testing.T) {
			f := setup(t, 4)
			a, b, c, d := f.ids[0], f.ids[1], f.ids[2], f.ids[3]
			slide(t, f, "2026-03-01", head)
			for i := range 20 {
				day := date(t, "2026-03-01").AddDate(0, 0, i).Format(time.DateOnly)
				counts := map[int64]int64{a: int64(i + 1), b: int64(20 - i)}
				if i < 5 {
					counts[c] = 100 // c's downloads all leave the window after five moves
				}
				if i%4 == 0 {
					counts[d] = 10
				}
				add(t, f, day, counts)
			}
			check(t, f, "2026-03-01")
			for i := 1; i <= 8; i++ {
				since := date(t, "2026-03-01").AddDate(0, 0, i).Format(time.DateOnly)
				slide(t, f, since, head)
				check(t, f, since)
				// The day's own counts arrive between two moves, as the server's flushes do.
				add(t, f, date(t, "2026-03-20").AddDate(0, 0, i).Format(time.DateOnly), map[int64]int64{c: 1, d: int64(i)})
				check(t, f, since)
			}
			// An old log: days before the window, some after the day a total counts from (which still counts
			// them until it is brought up to date), some before it; in one batch with days inside the window.
			imp(t, f, []store.DownloadLine{line(a, "2026-03-02"), line(c, "2026-03-04"), line(c, "2026-02-27"),
				line(b, "2026-03-08"), line(b, "2026-03-12"), line(d, "2026-03-03"), line(d, "2026-03-30")})
			add(t, f, "2026-03-05", map[int64]int64{a: 7, b: 1000})
			check(t, f, "2026-03-09")
			slide(t, f, "2026-03-09", head) // the day it is on already
			check(t, f, "2026-03-09")
			slide(t, f, "2026-03-15", head) // several days at once
			check(t, f, "2026-03-15")
			slide(t, f, "2026-03-16", head)
			check(t, f, "2026-03-16")
			slide(t, f, "2026-03-03", head) // back: a longer window
			check(t, f, "2026-03-03")
			slide(t, f, "2025-01-01", head) // back past every count
			check(t, f, "2025-01-01")
			slide(t, f, "2027-01-01", head) // forward past every count: nothing left
			check(t, f, "2027-01-01")
			add(t, f, "2027-01-01", map[int64]int64{b: 3})
			check(t, f, "2027-01-01")
		})
	}

	t.Run("totals long out of date", func(t *testing.T) {
		// Five projects are downloaded far more than the others for a month, then not at all: with no total ever
		// brought up to date, theirs stay the largest long after their downloads left the window, and every top
		// must look past them.
		f := setup(t, 8)
		slide(t, f, "2026-01-01", 0)
		for i := range 90 {
			counts := map[int64]int64{f.ids[5]: 10, f.ids[6]: int64(i % 3), f.ids[7]: int64(i % 5)}
			if i < 30 {
				for j := range 5 {
					counts[f.ids[j]] = int64(1000 * (j + 1))
				}
			}
			add(t, f, date(t, "2026-01-01").AddDate(0, 0, i).Format(time.DateOnly), counts)
		}
		for i := range 60 {
			since := date(t, "2026-01-02").AddDate(0, 0, i).Format(time.DateOnly)
			slide(t, f, since, 0)
			check(t, f, since)
		}
		// Brought up to date one a day, the largest first.
		for i := range 6 {
			since := date(t, "2026-03-03").AddDate(0, 0, i).Format(time.DateOnly)
			slide(t, f, since, 1)
			check(t, f, since)
		}
	})

	t.Run("a tie just past the totals read", func(t *testing.T) {
		// Out of date, p0's total is 100 (all of it gone from the window), p3's 60 (50 in it), p1's 50 (40) and
		// p2's 50 (50). A top of one reads the three largest totals, p0, p3 and p1, whose best is p3 at 50; but
		// p2, just past them, is at 50 too and older, and is the top.
		f := setup(t, 4)
		slide(t, f, "2026-01-01", 0)
		add(t, f, "2026-01-01", map[int64]int64{f.ids[0]: 100, f.ids[3]: 10, f.ids[1]: 10})
		add(t, f, "2026-01-05", map[int64]int64{f.ids[3]: 50, f.ids[1]: 40, f.ids[2]: 50})
		slide(t, f, "2026-01-02", 0)
		check(t, f, "2026-01-02")
	})

	t.Run("a failed write leaves the totals as they were", func(t *testing.T) {
		f := setup(t, 2)
		slide(t, f, "2026-03-01", 1)
		add(t, f, "2026-03-02", map[int64]int64{f.ids[0]: 4})
		// The second project does not exist: the statement fails after the first project's rows.
		if err := f.db.AddDownloads(ctx, "2026-03-02", map[int64]int64{f.ids[0]: 1, f.ids[1] + 1000: 1}); err == nil {
			t.Fatal("AddDownloads of a missing project: no error")
		}
		if _, err := f.db.ImportDownloads(ctx, []store.DownloadLine{line(f.ids[1], "2026-03-03"), line(f.ids[1]+1000, "2026-03-03")}); err == nil {
			t.Fatal("ImportDownloads of a missing project: no error")
		}
		check(t, f, "2026-03-01")
	})

	t.Run("writes while the window moves", func(t *testing.T) {
		f := setup(t, 6)
		first := date(t, "2026-05-01")
		slide(t, f, "2026-05-01", 2)
		const moves, writers, writes = 12, 4, 40
		// On SQLite the writes and the moves take turns, each holding the database; on PostgreSQL they meet.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= moves; i++ {
				if err := f.db.SlideDownloadWindow(ctx, first.AddDate(0, 0, i), 2); err != nil {
					t.Errorf("slide %d: %v", i, err)
					return
				}
			}
		}()
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for range writes {
					// Days around the window's first day as it moves: the days that leave it while they are
					// written, the days that stay, and days that left before.
					day := first.AddDate(0, 0, rng.IntN(moves+6)-2).Format(time.DateOnly)
					p := f.ids[rng.IntN(len(f.ids))]
					if w%2 == 0 {
						add(t, f, day, map[int64]int64{p: int64(1 + rng.IntN(9)), f.ids[rng.IntN(len(f.ids))]: 1})
					} else {
						imp(t, f, []store.DownloadLine{line(p, day), line(f.ids[rng.IntN(len(f.ids))], day)})
					}
				}
			}()
		}
		wg.Wait()
		check(t, f, first.AddDate(0, 0, moves).Format(time.DateOnly))
	})
}
