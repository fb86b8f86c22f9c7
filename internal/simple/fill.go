package simple

import (
	"context"
	"errors"
	"time"

	"wharf/internal/pages"
)

// fillChunk is how many projects' pages one read of the fill brings: a short read, so that a reader does not hold
// its snapshot long (on SQLite, a long one keeps the write-ahead log from being checkpointed) and a change during
// the fill costs few pages.
const fillChunk = 1000

var (
	errLogFull   = errors.New("page log full")
	errLogFailed = errors.New("page log failed")
)

// fill puts every project's pages, in the gzip forms pip and uv ask for, into the log, once the index starts.
// Without it, an instance that starts (a deploy, a crash, one more behind the load balancer) sends the first request
// for each project to the database, and under a crawl or a busy CI that is nearly every request for hours; with it,
// they are served from the log within seconds of the start, and a plain form is made from its gzip form's record
// (readPage) without a query. A scan reads the stored pages in name order, a chunk at a time: at PyPI's 886,000
// projects, a gigabyte in about ten seconds of one core, far cheaper than a lookup each.
//
// It takes at most half the log, so that what requests append later finds room without pushing the fill's records
// out at once; with a log smaller than that, the projects past it are read on their first request as before.
// Records enter the log as a miss's do: a chunk notes every shard's generation before its read, and a drop during
// the chunk keeps the chunk's pages of that shard out (TestFillNeverStale).
func (ix *Index) fill(ctx context.Context) {
	start := time.Now()
	budget := ix.served.capacity() / 2
	var (
		projects, kept int64
		gens           [logShards]uint64
		after          string
	)
	failures := ix.served.failures.Load()
	for {
		ix.served.generations(&gens)
		n := 0
		err := ix.db.SimplePages(ctx, after, fillChunk, func(name string, serial int64, htmlGz, jsonGz []byte) error {
			n++
			after = name
			gen := gens[shardIndex(nameHash(name))]
			for _, form := range [...]struct {
				kind pages.Kind
				gz   []byte
			}{{pages.HTMLGzip, htmlGz}, {pages.JSONGzip, jsonGz}} {
				c := newCached(serial, makeETag("p", serial, etagSuffixes[form.kind]), form.gz)
				kept += ix.served.write(name, pageSlots[form.kind], &c, gen)
			}
			projects++
			switch {
			case kept >= budget:
				return errLogFull
			case ix.served.failures.Load() != failures:
				return errLogFailed // the log said why
			}
			return nil
		})
		if errors.Is(err, errLogFull) || errors.Is(err, errLogFailed) {
			break
		}
		if err != nil {
			if ctx.Err() == nil {
				ix.log.Warn("simple index: filling the page log failed; pages are read from the database on first request",
					"after", after, "err", err)
			}
			return
		}
		if n < fillChunk {
			break
		}
	}
	ix.log.Info("simple index: page log filled", "projects", projects, "bytes", kept,
		"seconds", time.Since(start).Round(time.Millisecond).Seconds())
}
