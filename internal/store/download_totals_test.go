package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store/storetest"
)

// TestMigrationBackfillsDownloadTotals checks migration 0014 on counts written before it: the window starts on the
// default window's first day, and its totals equal the daily counts summed from there, so that the first recompute
// after an upgrade reads the right top without summing anything.
func TestMigrationBackfillsDownloadTotals(t *testing.T) {
	ctx := context.Background()
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			db := openAt(t, e, 13)
			for _, name := range []string{"a", "b", "c"} {
				if err := db.Exec(ctx, `INSERT INTO projects (name, normalized_name, ultranormalized_name, created_at) VALUES ('`+
					name+`', '`+name+`', '`+name+`', 0)`); err != nil {
					t.Fatal(err)
				}
			}
			today := time.Now().UTC().Truncate(24 * time.Hour)
			since := today.AddDate(0, 0, -180)
			rows := []struct {
				project, daysAgo, count int
			}{
				{1, 0, 5}, {1, 10, 7}, {1, 180, 1}, {1, 181, 1000}, // the window's first day counts, the day before not
				{2, 179, 20}, {2, 400, 5},
				{3, 200, 99}, // nothing inside
			}
			for _, r := range rows {
				day := today.AddDate(0, 0, -r.daysAgo).Format(time.DateOnly)
				if err := db.Exec(ctx, fmt.Sprintf(`INSERT INTO downloads (project_id, day, count) VALUES (%d, '%s', %d)`,
					r.project, day, r.count)); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			w, err := db.DownloadWindow(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !w.Equal(since) && !w.Equal(since.AddDate(0, 0, 1)) { // the migration may have run after midnight
				t.Fatalf("the window starts on %s; want %s", w.Format(time.DateOnly), since.Format(time.DateOnly))
			}
			if _, err := db.MarkCritical(ctx, []int64{1, 2, 3}, today); err != nil {
				t.Fatal(err)
			}
			// Read from the totals (the window's first day), then summed from the daily counts (the day before).
			for _, from := range []time.Time{w, w.AddDate(0, 0, -1)} {
				list, err := db.CriticalProjects(ctx, from)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]int64{}
				for _, p := range list {
					got[p.Name] = p.Downloads
				}
				want := map[string]int64{"a": 0, "b": 0, "c": 0}
				for _, r := range rows {
					if !today.AddDate(0, 0, -r.daysAgo).Before(from) {
						want[string(rune('a'+r.project-1))] += int64(r.count)
					}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("downloads from %s (-want +got):\n%s", from.Format(time.DateOnly), diff)
				}
			}
		})
	}
}
