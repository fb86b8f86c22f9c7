package pages

import (
	"bufio"
	"io"
	"net/url"
	"strconv"

	"github.com/klauspost/compress/gzip"
)

// Root writes the index root, every project's name, in its four forms at once as the names stream in, so that
// the root of hundreds of thousands of projects never sits in memory.
type Root struct {
	serial int64
	plain  [2]*bufio.Writer // HTML, JSON
	zipped [2]*gzip.Writer  // into zbuf
	zbuf   [2]*bufio.Writer
	buf    []byte
	first  bool
	err    error
}

// NewRoot starts a root at serial whose forms go to dst, compressed at the given gzip level.
func NewRoot(dst [NumKinds]io.Writer, serial int64, level int) (*Root, error) {
	r := &Root{serial: serial, first: true}
	for i, k := range [2]Kind{HTML, JSON} {
		r.plain[i] = bufio.NewWriterSize(dst[k], 64<<10)
		r.zbuf[i] = bufio.NewWriterSize(dst[k+1], 64<<10)
		zw, err := gzip.NewWriterLevel(r.zbuf[i], level)
		if err != nil {
			return nil, err
		}
		r.zipped[i] = zw
	}
	html := append([]byte(htmlHead), "Simple index"+htmlBody...)
	json := append([]byte(`{"meta":{"api-version":"`+apiVersion+`","_last-serial":`), strconv.FormatInt(serial, 10)...)
	json = append(json, `},"projects":[`...)
	r.write(0, html)
	r.write(1, json)
	return r, nil
}

func (r *Root) write(form int, b []byte) {
	if r.err != nil {
		return
	}
	if _, r.err = r.plain[form].Write(b); r.err == nil {
		_, r.err = r.zipped[form].Write(b)
	}
}

// Add appends a project's name; names come in the order the root lists them.
func (r *Root) Add(name string) {
	b := append(r.buf[:0], `    <a href="/simple/`...)
	b = appendHTML(b, url.PathEscape(name))
	b = append(b, `/">`...)
	b = appendHTML(b, name)
	b = append(b, "</a>\n"...)
	r.write(0, b)
	b = b[:0]
	if !r.first {
		b = append(b, ',')
	}
	r.first = false
	b = append(b, `{"name":`...)
	b = appendJSONString(b, name)
	b = append(b, '}')
	r.write(1, b)
	r.buf = b
}

// Close ends the forms and flushes them to their writers.
func (r *Root) Close() error {
	html := append([]byte(htmlFoot), strconv.FormatInt(r.serial, 10)...)
	r.write(0, append(html, "-->\n"...))
	r.write(1, []byte("]}"))
	for i := range r.plain {
		if r.err != nil {
			break
		}
		if r.err = r.plain[i].Flush(); r.err == nil {
			if r.err = r.zipped[i].Close(); r.err == nil {
				r.err = r.zbuf[i].Flush()
			}
		}
	}
	return r.err
}
