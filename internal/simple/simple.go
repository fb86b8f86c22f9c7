// Package simple serves the package-index read protocols: the PEP 503 / PEP 691 simple API (with PEP 592 yanking,
// PEP 658/714 core-metadata files and PEP 700's additions), PyPI's JSON API, and the distribution files themselves.
//
// The simple API is what every pip and uv run reads. A project's pages are rendered when the project changes and
// stored with it (package pages), so that a page an instance has not served yet is one row away; what it has served
// it keeps in a log on disk and sends from there (pageLog). The index root is rebuilt in the background when the
// index changes, into files.
package simple

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"wharf/internal/blob"
	"wharf/internal/critical"
	"wharf/internal/httperror"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// Store is what the index reads; *store.DB satisfies it.
type Store interface {
	SimplePage(ctx context.Context, normalized string, json bool) (serial int64, gz []byte, err error)
	SimplePages(ctx context.Context, after string, limit int, fn func(normalized string, serial int64, htmlGz, jsonGz []byte) error) error
	ProjectDocument(ctx context.Context, normalized string) (store.Document, error)
	ReleaseDocument(ctx context.Context, normalized, version, releaseKey string) (store.Document, error)
	ProjectDocumentStamp(ctx context.Context, normalized string) (store.Document, error)
	ProtectionEpoch(ctx context.Context) (int64, error)
	ReleaseDocumentStamp(ctx context.Context, normalized, version, releaseKey string) (store.Document, error)
	EachProjectName(ctx context.Context, fn func(normalized string) error) error
	LastSerial(ctx context.Context) (int64, error)
	ChangedProjects(ctx context.Context, after int64, fn func(normalized string, serial int64)) error
	FileByFilename(ctx context.Context, filename string) (store.File, error)
}

// Blobs holds the files' bytes by sha256; blob.Store satisfies it.
type Blobs interface {
	Open(ctx context.Context, key string) (blob.Object, error)
}

// Options configure an Index. Zero values pick the defaults.
type Options struct {
	// BaseURL is the public URL of the index, without a trailing slash; the JSON API's links are absolute under
	// it. Empty makes them absolute paths.
	BaseURL string
	// Dir holds the index root's files and the log of the pages served (default: a new folder in the system's
	// temporary folder, removed when Run returns). It must be empty, or hold only what this Index wrote: what an
	// earlier process left there may predate changes made since.
	Dir string
	// PageLogBytes is the most disk the log of the pages served takes (default DefaultPageLogBytes).
	PageLogBytes int64
	// PollInterval is how often the database's serial is checked, to drop pages that another instance changed
	// (default 1 s).
	PollInterval time.Duration
	// PollWindow is how long a change stays in the poll's query: transactions can commit out of serial order on
	// PostgreSQL, so a change is looked for again until no older transaction can still be open (default 10 s).
	PollWindow time.Duration
	// RootInterval is the least time between two rebuilds of the index root (default 5 s): the root lists a change
	// at once after a quiet spell, and within this interval during a burst.
	RootInterval time.Duration
	// RootGzipLevel is the compression of the root. The default, 5, is within 2 % of gzip -9's size for a list of
	// names at a tenth of its time (0.5 s instead of 7 s for PyPI's 886,000 names on one core).
	RootGzipLevel int
	// Links, when set, answers a download with a redirect to a link to the file in the store (an S3 bucket)
	// instead of sending its bytes (the default).
	Links blob.Linker
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Log receives background failures (default slog.Default()).
	Log *slog.Logger
}

// Index serves the read protocols. Its handlers return *httperror.Error or errors wrapping store.ErrNotFound.
type Index struct {
	db        Store
	blobs     Blobs
	links     blob.Linker
	downloads *critical.Counter
	baseURL   string
	now       func() time.Time
	log       *slog.Logger

	pollInterval time.Duration
	pollWindow   time.Duration
	rootInterval time.Duration
	rootLevel    int
	dir          string
	ownDir       bool // dir was made here, and goes when Run returns

	served *pageLog
	// protection is the store's protection epoch as the poll last read it: the JSON API documents checked at
	// another epoch are checked again before they are served.
	protection atomic.Int64
	accept     acceptMemo

	root      atomic.Pointer[rootIndex]
	rootMu    sync.Mutex  // one root build at a time
	oldRoot   *rootIndex  // the build before root, whose files requests may still open; guarded by rootMu
	rootDirty atomic.Bool // a local write happened: rebuild even if the serial looks unchanged
	// changed wakes the poll before its turn: another instance committed a change (Changed).
	changed chan struct{}
	// rootWake wakes the root's loop: the index changed (wakeRoot).
	rootWake chan struct{}
}

// New returns an Index; call Run to keep it fresh. downloads may be nil.
func New(db Store, blobs Blobs, downloads *critical.Counter, opts Options) *Index {
	ix := &Index{
		db: db, blobs: blobs, links: opts.Links, downloads: downloads,
		baseURL:      strings.TrimRight(opts.BaseURL, "/"),
		now:          opts.Now,
		log:          opts.Log,
		dir:          opts.Dir,
		pollInterval: opts.PollInterval,
		changed:      make(chan struct{}, 1),
		rootWake:     make(chan struct{}, 1),
		pollWindow:   opts.PollWindow,
		rootInterval: opts.RootInterval,
		rootLevel:    opts.RootGzipLevel,
	}
	if ix.now == nil {
		ix.now = time.Now
	}
	if ix.log == nil {
		ix.log = slog.Default()
	}
	setDefault(&ix.pollInterval, time.Second)
	setDefault(&ix.pollWindow, 10*time.Second)
	setDefault(&ix.rootInterval, 5*time.Second)
	if ix.rootLevel == 0 {
		ix.rootLevel = 5
	}
	if ix.dir == "" {
		var err error
		if ix.dir, err = os.MkdirTemp("", "wharf-index-*"); err != nil {
			// Pages are then read from the store each time, and the root's build says why it fails.
			ix.log.Error("simple index: no folder for the index's files", "err", err)
		}
		ix.ownDir = ix.dir != ""
	}
	pagesDir := ""
	if ix.dir != "" {
		pagesDir = filepath.Join(ix.dir, "pages")
	}
	ix.served = newPageLog(pagesDir, opts.PageLogBytes, ix.log.Warn)
	return ix
}

func setDefault(d *time.Duration, def time.Duration) {
	if *d <= 0 {
		*d = def
	}
}

// Run builds the index root and fills the page log, then keeps both in step with the database until ctx ends.
func (ix *Index) Run(ctx context.Context) {
	defer ix.served.close()
	var wg sync.WaitGroup
	wg.Go(func() { ix.rootLoop(ctx) })
	wg.Go(func() { ix.pollLoop(ctx, func() { wg.Go(func() { ix.fill(ctx) }) }) })
	wg.Wait()
}

// Invalidate removes the files of a project's pages and documents; every write to a project calls it after its
// commit, so that the writer sees the change at once. The root is rebuilt too (rootLoop says when).
func (ix *Index) Invalidate(normalized string) {
	ix.served.drop(normalized)
	ix.rootDirty.Store(true)
	ix.wakeRoot()
}

// Changed says that another instance has committed a change (store.ListenJournal hears of it): the poll runs now
// rather than at its next turn, so that the change is served here at once. It never blocks; calls that come while
// a poll is due count once.
func (ix *Index) Changed() {
	select {
	case ix.changed <- struct{}{}:
	default:
	}
}

// pollLoop forgets the pages of projects that changed, notes the protection epoch and wakes the root's loop, which
// is how a change written through another instance reaches this one: when Changed says so, and at every turn in case a notification was
// lost.
func (ix *Index) pollLoop(ctx context.Context, polled func()) {
	t := time.NewTicker(ix.pollInterval)
	defer t.Stop()
	var p poller
	// The first poll only notes the serial that later ones start from: at once, so that no page is cached from
	// before it (a change committed between such a read and a later first poll would never be dropped). The log is
	// filled after it, not when it failed.
	if err := ix.poll(ctx, &p); err != nil {
		if ctx.Err() == nil {
			ix.log.Warn("simple index: serial poll failed; the page log is not filled", "err", err)
		}
	} else {
		polled()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-ix.changed:
		}
		if err := ix.poll(ctx, &p); err != nil && ctx.Err() == nil {
			ix.log.Warn("simple index: serial poll failed", "err", err)
		}
	}
}

// poller remembers the serials seen in the last PollWindow.
type poller struct {
	seen   []observation
	newest int64
}

type observation struct {
	at     time.Time
	serial int64
}

func (ix *Index) poll(ctx context.Context, p *poller) error {
	// The epoch moves in the transaction of the change it counts, so the epoch read here is that of changes all
	// committed: no window is needed, unlike for serials.
	epoch, err := ix.db.ProtectionEpoch(ctx)
	if err != nil {
		return err
	}
	ix.protection.Store(epoch)
	serial, err := ix.db.LastSerial(ctx)
	if err != nil {
		return err
	}
	if serial > p.newest {
		p.newest = serial
		ix.wakeRoot()
	}
	now := ix.now()
	p.seen = append(p.seen, observation{now, serial})
	// Ask for every change after the newest serial seen at least a window ago: a transaction older than that has
	// committed by now, so no change is missed for committing out of order. A change is reported at every poll of
	// its window, so its project's files go up to a window's worth of times: a few misses more, for a page that
	// changed.
	for len(p.seen) > 1 && !p.seen[1].at.After(now.Add(-ix.pollWindow)) {
		p.seen = p.seen[1:]
	}
	after := p.seen[0].serial
	if after == serial {
		return nil
	}
	return ix.db.ChangedProjects(ctx, after, func(name string, _ int64) { ix.served.drop(name) })
}

// Errors of the handlers.
var (
	errNotAcceptable = httperror.New(http.StatusNotAcceptable,
		"Not Acceptable: this index serves text/html, "+mimeV1HTML+" and "+mimeV1JSON)
)

func notFound(err error) error {
	return httperror.Wrap(err, http.StatusNotFound, "Not Found")
}

// Header values shared by every response; net/http only reads them.
var (
	varyHeader     = []string{"Accept, Accept-Encoding"}
	gzipHeader     = []string{"gzip"}
	jsonTypeHeader = []string{"application/json"}
	anyOrigin      = []string{"*"}
)

// autoLengthMax is the size up to which net/http buffers a response and sends its Content-Length by itself, outside
// the header map. Most project pages are smaller, and leaving the header out keeps the map of a response at eight
// entries or fewer (with the server's security headers): one more makes Go grow the map into a table and clone
// it, which cost a fifth of the throughput of a cached page under wrk.
const autoLengthMax = 2048

// noneMatch reports whether If-None-Match names etag (weak comparison, RFC 9110 section 13.1.2).
func noneMatch(r *http.Request, etag string) bool {
	inm := r.Header["If-None-Match"]
	if len(inm) == 0 {
		return false
	}
	found := false
	eachElement(inm, func(tag string) {
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			found = true
		}
	})
	return found
}

// etagVersion changes when the rendering changes, so that clients do not keep pages of an older wharf.
const etagVersion = "1"

func makeETag(kind string, serial int64, suffix string) string {
	return `"` + kind + etagVersion + "-" + strconv.FormatInt(serial, 10) + "-" + suffix + `"`
}

// normalizedName returns the PEP 503 form of a name from a URL and whether the URL used it already.
func normalizedName(name string) (string, bool) {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			continue
		}
		if c == '-' && i > 0 && name[i-1] != '-' {
			continue
		}
		n := pypkg.NormalizeName(name)
		return n, n == name
	}
	return name, true
}

// redirectNormalized sends a client that used another spelling of a name to the normalised URL, with its query.
// ups is how many path segments lie between the name and the last slash of the request path.
func redirectNormalized(w http.ResponseWriter, r *http.Request, name string, ups int, rest string) {
	target := strings.Repeat("../", ups+1) + url.PathEscape(name) + rest
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, target, http.StatusMovedPermanently)
}

// isNotFound reports whether err means that what was asked for does not exist.
func isNotFound(err error) bool {
	return errors.Is(err, store.ErrNotFound) || errors.Is(err, blob.ErrNotFound)
}
