package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"wharf/internal/config"
	"wharf/internal/critical"
)

const downloadsUsage = "usage: wharf downloads import [--json] FILE...\n" +
	"  FILE: an access log in the combined or common log format, plain or gzip; - for standard input"

// runDownloads counts the downloads in the access logs of a web server or CDN in front of the index. The server
// counts the downloads it serves itself: a log of requests that reached it counts them a second time.
func runDownloads(ctx context.Context, e *env, args []string) error {
	c := newCLI(e, "downloads")
	cfg, pos, err := config.Load(c.fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(pos) < 2 || pos[0] != "import" {
		return errors.New(downloadsUsage)
	}
	// Every log is opened before anything is counted: a mistyped name stops the run before it starts, not after
	// hours of the logs before it.
	var logs []logInput
	defer func() {
		for _, l := range logs {
			l.close()
		}
	}()
	stdin := false
	for _, p := range pos[1:] {
		if p == "-" {
			if stdin {
				return errors.New("- (standard input) given twice")
			}
			stdin = true
			logs = append(logs, logInput{name: "standard input", r: e.stdin, close: func() {}})
			continue
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		l := logInput{name: p, r: f, close: func() { f.Close() }}
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			l.size = st.Size()
		}
		logs = append(logs, l)
	}

	a, err := open(ctx, cfg, cfg.Migrate)
	if err != nil {
		return err
	}
	defer a.Close()

	bar := &importProgress{w: terminal(e.stderr)}
	im := critical.NewImporter(a.db, critical.ImportOptions{Progress: bar.update})
	for _, l := range logs {
		r := &byteCounter{r: l.r}
		bar.start(l.name, l.size, r)
		err = im.Import(ctx, l.name, r)
		bar.clear()
		if err != nil {
			break
		}
	}
	// The summary is printed after an error too: what was counted stays counted, and a re-run counts the rest.
	st := im.Stats()
	c.print(e, struct {
		critical.ImportStats
		NotDownloads int64 `json:"not_downloads"`
		Skipped      int64 `json:"skipped"`
	}{st, st.NotDownloads(), st.Skipped()}, importSummary(st)+"\n")
	if st.FirstUnparseable != "" && !*c.json {
		fmt.Fprintf(e.stderr, "first unparseable line: %s\n", st.FirstUnparseable)
	}
	return err
}

type logInput struct {
	name  string
	r     io.Reader
	size  int64 // 0 when not known: standard input, a pipe
	close func()
}

// importSummary is the one line an import ends with.
func importSummary(st critical.ImportStats) string {
	return fmt.Sprintf("imported %s of %s from %s (%s skipped: %s not downloads, %s, %s unparseable; %s already imported)",
		counted(st.Downloads, "download"), counted(int64(st.Projects), "project"), counted(int64(st.Files), "file"),
		counted(st.Skipped(), "line"), withCommas(st.NotDownloads()), counted(st.UnknownFiles, "unknown file"),
		withCommas(st.Unparseable), withCommas(st.AlreadyImported))
}

func counted(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return withCommas(n) + " " + noun + "s"
}

// withCommas writes n with thousands separators, as a person reads a count of millions.
func withCommas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// terminal returns w when it is a terminal, else nil: progress is for a person watching, not for a log file or
// a pipe.
func terminal(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return f
}

// byteCounter counts the bytes read from a log, compressed ones for a compressed log, to compare with its size.
type byteCounter struct {
	r io.Reader
	n int64
}

func (c *byteCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// importProgress draws one line on the terminal, redrawn at most a few times a second: bytes read of the log's size
// when it is known, else lines read.
type importProgress struct {
	w    io.Writer // nil draws nothing
	name string
	size int64
	read *byteCounter
	last time.Time
}

func (p *importProgress) start(name string, size int64, read *byteCounter) {
	p.name, p.size, p.read, p.last = name, size, read, time.Time{}
}

func (p *importProgress) update(lines int64) {
	if p.w == nil {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 250*time.Millisecond {
		return
	}
	p.last = now
	if p.size <= 0 {
		fmt.Fprintf(p.w, "\r\x1b[K%s: %s lines", p.name, withCommas(lines))
		return
	}
	frac := min(float64(p.read.n)/float64(p.size), 1)
	const width = 30
	done := int(frac * width)
	fmt.Fprintf(p.w, "\r\x1b[K%s [%s%s] %3.0f%% of %s, %s lines", p.name, strings.Repeat("=", done),
		strings.Repeat(" ", width-done), 100*frac, byteSize(p.size), withCommas(lines))
}

// clear erases the progress line, so that the summary stands alone.
func (p *importProgress) clear() {
	if p.w != nil {
		fmt.Fprint(p.w, "\r\x1b[K")
	}
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
