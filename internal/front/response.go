package front

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// heldMax is how much of a body without a Content-Length is held back to learn its length, as net/http holds it;
// a longer one is sent chunked.
const heldMax = 2048

var heldBuffers = sync.Pool{New: func() any { b := make([]byte, 0, heldMax); return &b }}

// response is the http.ResponseWriter of a request served on the loop. It frames the body as net/http does: the
// handler's Content-Length when it set one, the whole length when the body was written before the handler
// returned and fits in heldMax, chunked otherwise; a HEAD response carries no body.
type response struct {
	c      *conn
	req    *http.Request
	header http.Header

	status int // 0 until the handler's status is known
	// lines are the handler's header lines as they were when the status was set: like net/http, later changes to
	// the map do not reach the client.
	lines      []byte
	hasType    bool
	hasDate    bool
	length     int64 // the Content-Length to send, or -1 while unknown
	sent       bool  // the head is in the write buffer
	chunked    bool
	held       *[]byte // the body so far, while its length is unknown
	written    int64
	closeAfter bool
}

func (w *response) reset(c *conn, req *http.Request) {
	if w.header == nil {
		w.header = make(http.Header, 8)
	} else {
		clear(w.header)
	}
	*w = response{c: c, req: req, header: w.header, lines: w.lines[:0], length: -1}
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 {
		// An informational response goes out at once, with the headers set so far; the final one follows.
		w.writeStatusLine(code)
		for k, vs := range w.header {
			if k != "Content-Length" && k != "Transfer-Encoding" {
				w.c.bw.Write(appendHeader(w.c.bw.AvailableBuffer(), k, vs))
			}
		}
		w.c.bw.WriteString("\r\n")
		return
	}
	w.status = code
	w.lines = w.headerLines(w.lines[:0])
}

// headerLines appends the handler's headers, less those the loop writes itself.
func (w *response) headerLines(b []byte) []byte {
	bodyAllowed := bodyAllowedForStatus(w.status)
	for k, vs := range w.header {
		switch k {
		case "Content-Length":
			if len(vs) > 0 && bodyAllowed {
				if n, err := strconv.ParseInt(vs[0], 10, 64); err == nil && n >= 0 {
					w.length = n
				} else {
					w.c.s.log.Warn("invalid Content-Length from a handler", "value", vs[0], "path", w.req.URL.Path)
				}
			}
			continue
		case "Transfer-Encoding":
			continue // the loop frames the body
		case "Content-Type":
			if w.status == http.StatusNotModified {
				continue
			}
			w.hasType = true
		case "Date":
			w.hasDate = true
		case "Connection":
			if httpguts.HeaderValuesContainsToken(vs, "close") {
				w.closeAfter = true
			}
		}
		b = appendHeader(b, k, vs)
	}
	return b
}

// appendHeader appends the lines of one header in net/http's sanitised form: a field with an invalid name is left
// out, and line breaks in values become spaces.
func appendHeader(b []byte, k string, vs []string) []byte {
	if !httpguts.ValidHeaderFieldName(k) {
		return b
	}
	for _, v := range vs {
		if strings.ContainsAny(v, "\r\n") {
			v = newlineToSpace.Replace(v)
		}
		b = append(b, k...)
		b = append(b, ": "...)
		b = append(b, strings.Trim(v, " \t")...)
		b = append(b, "\r\n"...)
	}
	return b
}

var newlineToSpace = strings.NewReplacer("\r", " ", "\n", " ")

func (w *response) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowedForStatus(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	switch {
	case w.sent:
		return w.writeBody(p)
	case w.length >= 0:
		w.sendHead(p)
		return w.writeBody(p)
	}
	if w.held == nil {
		w.held = heldBuffers.Get().(*[]byte)
	}
	if len(*w.held)+len(p) <= heldMax {
		*w.held = append(*w.held, p...)
		return len(p), nil
	}
	// Too long to hold: chunked, but a HEAD response, which has no body to frame, says neither.
	w.chunked = w.req.Method != http.MethodHead
	w.sendHead(*w.held)
	if _, err := w.writeBody(*w.held); err != nil {
		return 0, err
	}
	return w.writeBody(p)
}

func (w *response) writeBody(p []byte) (int, error) {
	if w.req.Method == http.MethodHead {
		return len(p), nil
	}
	if !w.chunked {
		return w.c.bw.Write(p)
	}
	if len(p) == 0 {
		return 0, nil
	}
	bw := w.c.bw
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(len(p)), 16))
	bw.WriteString("\r\n")
	bw.Write(p)
	_, err := bw.WriteString("\r\n")
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// ReadFrom sends a body of known length straight from src to the connection (with sendfile when src is a file),
// as net/http does; any other body goes through Write.
func (w *response) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.length < 0 || w.req.Method == http.MethodHead || !bodyAllowedForStatus(w.status) {
		return io.Copy(writerOnly{w}, src)
	}
	var sniffed int64
	if !w.sent && !w.hasType {
		// The first bytes name the content type, as net/http sniffs them.
		n, err := io.CopyN(writerOnly{w}, src, 512)
		if err != nil || !w.sent {
			return n, ignoreEOF(err)
		}
		sniffed = n
	}
	if !w.sent {
		w.sendHead(nil)
	}
	if err := w.c.bw.Flush(); err != nil {
		return sniffed, err
	}
	remaining := w.length - w.written
	lr, ok := src.(*io.LimitedReader)
	if !ok || lr.N > remaining {
		lr = &io.LimitedReader{R: src, N: remaining}
	}
	n, err := io.Copy(w.c.nc, lr)
	w.written += n
	return sniffed + n, err
}

// writerOnly hides ReadFrom, so that io.Copy goes through Write.
type writerOnly struct{ io.Writer }

func ignoreEOF(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// finish completes the response after the handler returns.
func (w *response) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case !w.sent:
		var body []byte
		if w.held != nil {
			body = *w.held
		}
		if w.length < 0 && bodyAllowedForStatus(w.status) {
			if w.req.Method != http.MethodHead {
				w.length = int64(len(body))
			} else if w.written > 0 && w.written <= heldMax {
				w.length = w.written
			}
		}
		w.sendHead(body)
		w.writeBody(body)
	case w.chunked:
		w.c.bw.WriteString("0\r\n\r\n")
	}
	if w.req.Method != http.MethodHead && w.length >= 0 && w.written < w.length && bodyAllowedForStatus(w.status) {
		// The client waits for bytes that will not come: the connection cannot carry another response.
		w.closeAfter = true
	}
	if w.held != nil {
		*w.held = (*w.held)[:0]
		heldBuffers.Put(w.held)
		w.held = nil
	}
}

// sendHead writes the status line and headers; first is the start of the body, for sniffing a missing
// Content-Type.
func (w *response) sendHead(first []byte) {
	w.sent = true
	bw := w.c.bw
	w.writeStatusLine(w.status)
	bw.Write(w.lines)
	bodyAllowed := bodyAllowedForStatus(w.status)
	switch {
	case !bodyAllowed:
	case w.chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case w.length >= 0:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), w.length, 10))
		bw.WriteString("\r\n")
	}
	if bodyAllowed && !w.hasType && len(first) > 0 {
		bw.WriteString("Content-Type: ")
		bw.WriteString(http.DetectContentType(first))
		bw.WriteString("\r\n")
	}
	if !w.closeAfter && (w.req.Close || w.c.s.closing.Load()) {
		w.closeAfter = true
		bw.WriteString("Connection: close\r\n")
	}
	if !w.hasDate {
		bw.WriteString("Date: ")
		bw.WriteString(w.c.s.date.now())
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
}

func (w *response) writeStatusLine(code int) {
	bw := w.c.bw
	if code == http.StatusOK {
		bw.WriteString("HTTP/1.1 200 OK\r\n")
		return
	}
	bw.WriteString("HTTP/1.1 ")
	bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(code), 10))
	bw.WriteString(" ")
	if text := http.StatusText(code); text != "" {
		bw.WriteString(text)
	} else {
		bw.WriteString("status code ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), int64(code), 10))
	}
	bw.WriteString("\r\n")
}

// bodyAllowedForStatus is RFC 9110's rule: no body for 1xx, 204 and 304.
func bodyAllowedForStatus(code int) bool {
	return !(code >= 100 && code <= 199 || code == http.StatusNoContent || code == http.StatusNotModified)
}

// dateCache formats the Date header once a second.
type dateCache struct{ v atomic.Pointer[datedText] }

type datedText struct {
	sec  int64
	text string
}

func (d *dateCache) now() string {
	t := time.Now()
	if v := d.v.Load(); v != nil && v.sec == t.Unix() {
		return v.text
	}
	v := &datedText{sec: t.Unix(), text: t.UTC().Format(http.TimeFormat)}
	d.v.Store(v)
	return v.text
}
