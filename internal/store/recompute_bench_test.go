package store_test

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"wharf/internal/audit"
	"wharf/internal/critical"
	"wharf/internal/notify"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// scaleVersion names the seeded databases that BenchmarkRecomputeAtScale keeps between runs; change it when what
// the seed writes changes.
const scaleVersion = "v2"

// scaleDays is how many days of counts the seed writes: the critical window's 180 days, every project on every day
// (PyPI's mirrors download everything every day).
const scaleDays = 180

// scaleFirstDay is the first day the seed writes.
var scaleFirstDay = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// BenchmarkRecomputeAtScale measures the daily critical-project step at PyPI's scale: the ~886,000 names of
// ../../../shared/data/pypi-projects.tsv.gz, each with a count on each of 180 days, Zipf-distributed by the
// project's download rank (the names without a rank get the ranks after the ranked ones, shuffled), with a daily
// noise of ±30 % so that the edge of the top moves from day to day. One op is one day of the server's daily job:
// the window moves by a day (its totals lose the day that left) and Designator.Recompute reads the top 1 % and
// designates the projects new to it. Before each op, outside the timer, the next day's counts of every project are
// written in one AddDownloads (the server writes them through the day, a flush at a time); add-day-ms reports it.
//
// Seeding takes minutes per engine, so the benchmark runs only with WHARF_BENCH_SCALE=1, and keeps the seeded
// databases between runs: SQLite under $TMPDIR/wharf-bench-recompute-<version>-<projects>/, PostgreSQL (on the
// server of WHARF_TEST_POSTGRES) as the database wharf_bench_recompute_<version>_<projects>; delete them to seed
// again. WHARF_BENCH_PROJECTS=N seeds only the first N names. Each op adds a day of counts to the kept database.
//
//	WHARF_BENCH_SCALE=1 go test -run '^$' -bench RecomputeAtScale -benchtime 3x ./internal/store/
func BenchmarkRecomputeAtScale(b *testing.B) {
	if os.Getenv("WHARF_BENCH_SCALE") != "1" {
		b.Skip("set WHARF_BENCH_SCALE=1 to run the benchmark at PyPI's scale (minutes of seeding per engine)")
	}
	names := scaleNames(b)
	b.Run("sqlite", func(b *testing.B) { benchDailyStep(b, openScaleSQLite(b, names), names) })
	b.Run("postgres", func(b *testing.B) {
		if os.Getenv("WHARF_TEST_POSTGRES") == "" {
			b.Skip("WHARF_TEST_POSTGRES not set")
		}
		benchDailyStep(b, openScalePostgres(b, names), names)
	})
}

// scaleProject is a project of the seed: its names and its download rank (1: the most downloaded).
type scaleProject struct {
	store.BulkProject
	rank int
}

// scaleNames reads the project names and ranks, one per normalised name, in the file's order.
func scaleNames(b *testing.B) []scaleProject {
	path := filepath.Join("..", "..", "..", "shared", "data", "pypi-projects.tsv.gz")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		b.Skipf("%s not found: the benchmark needs PyPI's project names", path)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	limit := 0
	if v := os.Getenv("WHARF_BENCH_PROJECTS"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			b.Fatalf("WHARF_BENCH_PROJECTS=%q is not a number of projects", v)
		}
	}
	sc := bufio.NewScanner(zr)
	seen := map[string]bool{}
	var out []scaleProject
	var unranked []int
	maxRank := 0
	for first := true; sc.Scan(); first = false {
		if first {
			continue // the header
		}
		name, rank, _ := strings.Cut(sc.Text(), "\t")
		n := pypkg.NormalizeName(name)
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		p := scaleProject{BulkProject: store.BulkProject{Name: name, Normalized: n, Ultra: pypkg.UltraNormalizeName(n)}}
		if p.rank, err = strconv.Atoi(rank); err != nil {
			unranked = append(unranked, len(out))
		}
		maxRank = max(maxRank, p.rank)
		out = append(out, p)
		if len(out) == limit {
			break
		}
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	rng.Shuffle(len(unranked), func(i, j int) { unranked[i], unranked[j] = unranked[j], unranked[i] })
	for i, p := range unranked {
		out[p].rank = maxRank + 1 + i
	}
	return out
}

// dailyCount is a project's count on day d (days after scaleFirstDay): Zipf's law by rank, 40 million a day for
// the first, with a noise of ±30 % and a floor of 3 from the mirrors.
func dailyCount(p scaleProject, project, d int) int64 {
	h := uint64(project)<<20 ^ uint64(d)
	// splitmix64: a hash good enough for noise, and the same on every run.
	h += 0x9e3779b97f4a7c15
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9
	h = (h ^ (h >> 27)) * 0x94d049bb133111eb
	h ^= h >> 31
	noise := 0.7 + 0.6*float64(h>>11)/(1<<53)
	return 3 + int64(4e7/float64(p.rank)*noise)
}

func scaleDay(d int) string { return scaleFirstDay.AddDate(0, 0, d).Format(time.DateOnly) }

func scaleKey(names []scaleProject) string { return fmt.Sprintf("%s_%d", scaleVersion, len(names)) }

func openScaleSQLite(b *testing.B, names []scaleProject) *store.DB {
	ctx := context.Background()
	dir := filepath.Join(os.TempDir(), "wharf-bench-recompute-"+strings.ReplaceAll(scaleKey(names), "_", "-"))
	path := filepath.Join(dir, "wharf.db")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		// Seeded under another name and renamed once complete: an interrupted seed starts again.
		tmp := filepath.Join(dir, "seeding.db")
		for _, suffix := range []string{"", "-wal", "-shm"} {
			os.Remove(tmp + suffix)
		}
		seedScale(b, "sqlite:"+tmp, names)
		if err := os.Rename(tmp, path); err != nil {
			b.Fatal(err)
		}
	} else if err != nil {
		b.Fatal(err)
	}
	db, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return db
}

func openScalePostgres(b *testing.B, names []scaleProject) *store.DB {
	ctx := context.Background()
	base := os.Getenv("WHARF_TEST_POSTGRES")
	name := "wharf_bench_recompute_" + scaleKey(names)
	at := func(database string) string {
		u, err := url.Parse(base)
		if err != nil {
			b.Fatal(err)
		}
		u.Path = "/" + database
		return u.String()
	}
	db, err := store.Open(ctx, at(name))
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "3D000" { // no such database
		// Seeded under another name and renamed once complete: an interrupted seed starts again.
		seeding := name + "_seeding"
		for _, stmt := range []string{"DROP DATABASE IF EXISTS " + seeding + " WITH (FORCE)", "CREATE DATABASE " + seeding} {
			if err := adminExec(ctx, base, stmt); err != nil {
				b.Fatal(err)
			}
		}
		seedScale(b, at(seeding), names)
		if err := adminExec(ctx, base, "ALTER DATABASE "+seeding+" RENAME TO "+name); err != nil {
			b.Fatal(err)
		}
		db, err = store.Open(ctx, at(name))
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	return db
}

func adminExec(ctx context.Context, base, stmt string) error {
	admin, err := store.Open(ctx, base)
	if err != nil {
		return err
	}
	defer admin.Close()
	return admin.Exec(ctx, stmt)
}

// seedScale fills the empty database at dsn: the projects and scaleDays days of counts, the window on the first of
// them, and the critical projects of the day after the last, designated. It checks that the top read from the
// window's totals is the top summed from the daily counts, and logs how long each part took.
func seedScale(b *testing.B, dsn string, names []scaleProject) {
	ctx := context.Background()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	projects := make([]store.BulkProject, len(names))
	for i, p := range names {
		projects[i] = p.BulkProject
	}
	days := make([]string, scaleDays)
	for d := range days {
		days[d] = scaleDay(d)
	}
	start := time.Now()
	ids, err := db.BulkDownloads(ctx, projects, days, scaleFirstDay, func(p, d int) int64 { return dailyCount(names[p], p, d) })
	if err != nil {
		b.Fatal(err)
	}
	loaded := time.Since(start)
	// The benchmark finds a project's id from its place in the list.
	for i, id := range ids {
		if id != int64(i+1) {
			b.Fatalf("project %d got id %d, want %d", i, id, i+1)
		}
	}

	start = time.Now()
	d := newScaleDesignator(b, db, scaleFirstDay.AddDate(0, 0, scaleDays).Add(10*time.Hour))
	res, err := d.Recompute(ctx, critical.DefaultOptions(), false)
	if err != nil {
		b.Fatal(err)
	}
	designated := time.Since(start)
	if !res.Since.Equal(scaleFirstDay) || len(res.Designated) != res.Size {
		b.Fatalf("the seed's designation: since %v, %d of %d designated", res.Since, len(res.Designated), res.Size)
	}

	// The day before the window has no counts, so the sum from it is the window's; it is read from the daily counts.
	start = time.Now()
	summed, err := db.TopDownloaded(ctx, scaleFirstDay.AddDate(0, 0, -1), res.Size)
	if err != nil {
		b.Fatal(err)
	}
	sumTime := time.Since(start)
	top := func(ds []store.Downloaded) [][2]int64 {
		var out [][2]int64
		for _, d := range ds {
			out = append(out, [2]int64{d.ID, d.Downloads})
		}
		return out
	}
	if !slices.Equal(top(res.Top), top(summed)) {
		b.Fatalf("the top of the window's totals differs from the top summed from the daily counts")
	}
	b.Logf("seeded %d projects x %d days in %v; first designation (%d projects) %v; the top summed from the daily counts, as before the totals: %v",
		len(names), scaleDays, loaded.Round(time.Second), len(res.Designated), designated.Round(time.Millisecond), sumTime.Round(time.Millisecond))
}

// timedStore measures the designation's two reads of downloads.
type timedStore struct {
	*store.DB
	slide, top time.Duration
}

func (s *timedStore) SlideDownloadWindow(ctx context.Context, since time.Time, head int) error {
	start := time.Now()
	defer func() { s.slide += time.Since(start) }()
	return s.DB.SlideDownloadWindow(ctx, since, head)
}

func (s *timedStore) TopDownloaded(ctx context.Context, since time.Time, limit int) ([]store.Downloaded, error) {
	start := time.Now()
	defer func() { s.top += time.Since(start) }()
	return s.DB.TopDownloaded(ctx, since, limit)
}

type discardMail struct{}

func (discardMail) Send(context.Context, notify.Message) error { return nil }

// scaleDesignator is a Designator whose clock the benchmark moves.
type scaleDesignator struct {
	*critical.Designator
	store *timedStore
	now   time.Time
}

func newScaleDesignator(b *testing.B, db *store.DB, now time.Time) *scaleDesignator {
	letters, err := notify.NewTemplates("Bench Index", "https://index.example")
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	d := &scaleDesignator{store: &timedStore{DB: db}, now: now}
	clock := func() time.Time { return d.now }
	d.Designator = critical.NewDesignator(d.store, audit.New(db, clock, logger), discardMail{}, letters, clock, logger)
	return d
}

// benchDailyStep runs b.N days of the daily job on a seeded database, each after writing the day's counts.
func benchDailyStep(b *testing.B, db *store.DB, names []scaleProject) {
	ctx := context.Background()
	d := newScaleDesignator(b, db, time.Time{})
	var addDay time.Duration
	designated := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		// The window holds the 180 days from its first on; the next day comes after them.
		w, err := db.DownloadWindow(ctx)
		if err != nil {
			b.Fatal(err)
		}
		next := int(w.Sub(scaleFirstDay).Hours()/24) + scaleDays
		counts := make(map[int64]int64, len(names))
		for i, p := range names {
			counts[int64(i+1)] = dailyCount(p, i, next)
		}
		start := time.Now()
		if err := db.AddDownloads(ctx, scaleDay(next), counts); err != nil {
			b.Fatal(err)
		}
		addDay += time.Since(start)
		// Ten in the morning of the day after it: the window moves by one day, to start on w + 1.
		d.now = scaleFirstDay.AddDate(0, 0, next+1).Add(10 * time.Hour)
		b.StartTimer()

		res, err := d.Recompute(ctx, critical.DefaultOptions(), false)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if !res.Since.Equal(w.AddDate(0, 0, 1)) || len(res.Top) != res.Size {
			b.Fatalf("day %s: since %v, a top of %d of %d", scaleDay(next), res.Since, len(res.Top), res.Size)
		}
		designated += len(res.Designated)
		b.StartTimer()
	}
	n := float64(b.N)
	b.ReportMetric(float64(d.store.slide.Milliseconds())/n, "slide-ms/op")
	b.ReportMetric(float64(d.store.top.Milliseconds())/n, "top-ms/op")
	b.ReportMetric(float64(designated)/n, "designated/op")
	b.ReportMetric(float64(addDay.Milliseconds())/n, "add-day-ms/op")
}
