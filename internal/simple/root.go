package simple

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// rootIndex is one build of the index root, in every representation.
type rootIndex struct {
	serial    int64
	serialHdr []string
	reps      [numReps]*rep
}

// ServeRoot serves GET /simple/: every project name, from the last build.
func (ix *Index) ServeRoot(w http.ResponseWriter, r *http.Request) error {
	f := ix.accept.negotiate(r)
	if f == formatNone {
		return errNotAcceptable
	}
	b := ix.root.Load()
	if b == nil {
		// Before Run's first build is done, a request waits for it (or does it, when nothing runs the Index).
		var err error
		if b, err = ix.firstRoot(r.Context()); err != nil {
			return err
		}
	}
	gz := acceptsGzip(r)
	writeRep(w, r, contentTypes[f], b.serialHdr, b.reps[kindOf(f, gz)], gz)
	return nil
}

func (ix *Index) firstRoot(ctx context.Context) (*rootIndex, error) {
	ix.rootMu.Lock()
	defer ix.rootMu.Unlock()
	if b := ix.root.Load(); b != nil {
		return b, nil
	}
	b, err := ix.buildRoot(ctx)
	if err != nil {
		return nil, err
	}
	ix.root.Store(b)
	return b, nil
}

// rootLoop builds the root at once and then rebuilds it when the index changed, at most every RootInterval, so a
// burst of uploads costs one build; requests get the previous build meanwhile.
func (ix *Index) rootLoop(ctx context.Context) {
	t := time.NewTicker(ix.rootInterval)
	defer t.Stop()
	for {
		if err := ix.refreshRoot(ctx); err != nil && ctx.Err() == nil {
			ix.log.Error("simple index: root build failed; serving the previous one", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refreshRoot rebuilds the root if the global serial moved or a local write said so.
func (ix *Index) refreshRoot(ctx context.Context) error {
	serial, err := ix.db.LastSerial(ctx)
	if err != nil {
		return err
	}
	dirty := ix.rootDirty.Load()
	if cur := ix.root.Load(); cur != nil && cur.serial == serial && !dirty {
		return nil
	}
	ix.rootMu.Lock()
	defer ix.rootMu.Unlock()
	// Cleared before reading the names: a write after this point sets it again.
	ix.rootDirty.Store(false)
	b, err := ix.buildRoot(ctx)
	if err != nil {
		if dirty {
			ix.rootDirty.Store(true)
		}
		return err
	}
	ix.root.Store(b)
	return nil
}

// buildRoot streams every name from the database into the HTML and JSON bodies, then compresses both.
func (ix *Index) buildRoot(ctx context.Context) (*rootIndex, error) {
	// The serial is read first: a change during the scan leaves the build with an older serial than the
	// database, so the next turn builds again.
	serial, err := ix.db.LastSerial(ctx)
	if err != nil {
		return nil, fmt.Errorf("build root: %w", err)
	}
	var hint [2]int
	if prev := ix.root.Load(); prev != nil {
		hint = [2]int{len(prev.reps[repHTML].body), len(prev.reps[repJSON].body)}
	}
	html := make([]byte, 0, hint[0]+hint[0]/16+4096)
	js := make([]byte, 0, hint[1]+hint[1]/16+4096)
	html = append(html, htmlHead...)
	html = append(html, "Simple index"...)
	html = append(html, htmlBody...)
	js = append(js, `{"meta":{"api-version":"`+apiVersion+`","_last-serial":`...)
	js = strconv.AppendInt(js, serial, 10)
	js = append(js, `},"projects":[`...)
	first := true
	err = ix.db.EachProjectName(ctx, func(name string) error {
		html = append(html, `    <a href="/simple/`...)
		html = appendHTML(html, url.PathEscape(name))
		html = append(html, `/">`...)
		html = appendHTML(html, name)
		html = append(html, "</a>\n"...)
		if !first {
			js = append(js, ',')
		}
		first = false
		js = append(js, `{"name":`...)
		js = appendJSONString(js, name)
		js = append(js, '}')
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("build root: %w", err)
	}
	html = append(html, htmlFoot...)
	html = strconv.AppendInt(html, serial, 10)
	html = append(html, "-->\n"...)
	js = append(js, "]}"...)

	// The two compressions are independent; on a machine with a spare core they finish in half the time.
	var zhtml, zjs []byte
	var wg sync.WaitGroup
	wg.Go(func() { zhtml = gzipLevel(html, ix.rootLevel) })
	zjs = gzipLevel(js, ix.rootLevel)
	wg.Wait()

	b := &rootIndex{serial: serial, serialHdr: []string{strconv.FormatInt(serial, 10)}}
	for k, body := range [numReps][]byte{html, zhtml, js, zjs} {
		b.reps[k] = newRep(body, makeETag("r", serial, etagSuffixes[k]))
	}
	return b, nil
}

func gzipLevel(b []byte, level int) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b)/6 + 64)
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		zw = gzip.NewWriter(&buf)
	}
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// appendJSONString appends s as a JSON string. Project names are plain ASCII; the escaping is for the rest.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
			i++
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	return append(b, '"')
}
