// Package front is the server's front door: it accepts the connections, serves the read API's plain HTTP/1.1 GET and
// HEAD requests on a loop of its own, and hands every other connection, whole, to net/http.
//
// net/http's per-request machinery was most of the CPU of answering a cached simple page: for every request it starts
// a goroutine and a second read to notice a client that leaves, moves the read deadline three times, and copies and
// sorts the response's header map. The loop here runs the same http.Handler, so routes, middleware, redirects and
// errors are the server's own; it only reads request heads, frames responses and keeps connections' timeouts.
//
// What the loop takes is narrow on purpose. A request is served here only when its whole head is in the read buffer
// and is, in strict syntax, "GET" or "HEAD" of an origin-form target, "HTTP/1.1", header lines with valid names and
// values, exactly one valid Host, none of Content-Length, Transfer-Encoding, Expect or Upgrade, for a path that the
// caller's Fast function accepts. Anything else (a body, another version, lenient syntax, an oversized head) goes to
// net/http with the bytes read so far, so net/http's own parser judges it, and the connection stays there for its
// life. FuzzParse holds that the loop never reads a head differently from net/http (docs/security.md, F7).
package front

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// bufferSize is the size of a connection's read and write buffers. An installer's request head is a few hundred
// bytes; a head that does not fit goes to net/http, which allows up to its MaxHeaderBytes.
const bufferSize = 4096

// Server serves connections accepted from a listener: the read API's simple requests itself, everything else through
// an http.Server, whose Handler, IdleTimeout, ReadHeaderTimeout and ReadTimeout it follows.
type Server struct {
	http    *http.Server
	fast    func(path string) bool
	log     *slog.Logger
	handoff *handoff

	idle       time.Duration
	readHeader time.Duration

	closing atomic.Bool
	mu      sync.Mutex
	ln      net.Listener
	conns   map[*conn]struct{}
	active  sync.WaitGroup
	date    dateCache
}

// New returns a Server in front of srv. fast reports the request paths whose plain GET and HEAD requests are served
// on the loop; it is asked after the target is parsed.
func New(srv *http.Server, fast func(path string) bool, log *slog.Logger) *Server {
	s := &Server{http: srv, fast: fast, log: log, conns: map[*conn]struct{}{},
		idle: srv.IdleTimeout, readHeader: srv.ReadHeaderTimeout}
	// net/http's own fallbacks: without an idle or header timeout, the read timeout bounds both.
	if s.idle == 0 {
		s.idle = srv.ReadTimeout
	}
	if s.readHeader == 0 {
		s.readHeader = srv.ReadTimeout
	}
	return s
}

// Serve accepts connections on ln until Shutdown, which makes it return http.ErrServerClosed.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.ln = ln
	s.handoff = newHandoff(ln.Addr())
	s.mu.Unlock()
	served := make(chan error, 1)
	go func() { served <- s.http.Serve(s.handoff) }()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			// Like net/http: running out of file descriptors is worth waiting out, not a reason to stop serving.
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) || errors.Is(err, syscall.ENOBUFS) ||
				errors.Is(err, syscall.ENOMEM) || errors.Is(err, syscall.ECONNABORTED) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			s.handoff.Close()
			<-served
			return err
		}
		backoff = 0
		c := &conn{s: s, nc: nc}
		if !s.track(c) {
			nc.Close()
			continue
		}
		go c.serve()
	}
}

// track registers a connection unless the server is closing.
func (s *Server) track(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	s.conns[c] = struct{}{}
	s.active.Add(1)
	return true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.active.Done()
}

// cutOffWait is how long Shutdown waits, once ctx has ended and it has closed the connections of the requests still
// running, for their handlers to return.
const cutOffWait = 5 * time.Second

// Shutdown stops accepting, closes idle connections, lets requests in flight finish (their responses say
// "Connection: close"), and shuts the http.Server down; it returns nil when all are done. When ctx ends first, it
// closes every connection, so that the handlers still running fail their reads and writes, waits up to cutOffWait
// for them to return, and returns ctx's error: a handler cut off in the middle of a request body (an upload) then
// removes what it had begun writing before the caller exits under it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	s.closeListeners()
	for c := range s.conns {
		if c.idle.Load() {
			c.nc.Close()
		}
	}
	h := s.handoff
	s.mu.Unlock()
	err := s.http.Shutdown(ctx)
	done := make(chan struct{})
	go func() { s.active.Wait(); close(done) }()
	select {
	case <-done:
		if err == nil {
			return nil
		}
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	var released <-chan struct{} = done
	if h != nil {
		released = h.cutOff()
	}
	wait, cancel := context.WithTimeout(context.Background(), cutOffWait)
	defer cancel()
	for _, ch := range []<-chan struct{}{done, released} {
		select {
		case <-ch:
		case <-wait.Done():
		}
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// Close closes the listener and every connection at once.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closing.Store(true)
	s.closeListeners()
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	return s.http.Close()
}

// closeListeners stops the accept loops of both the front and net/http; the caller holds mu.
func (s *Server) closeListeners() {
	if s.ln != nil {
		s.ln.Close()
		// net/http closes this too, once its Serve has started; a connection offered before then must not wait.
		s.handoff.Close()
	}
}

// conn is one connection while the loop serves it.
type conn struct {
	s  *Server
	nc net.Conn
	// remote is the client's address, as every request of the connection carries it.
	remote string
	br     *bufio.Reader
	bw     *bufio.Writer
	idle   atomic.Bool // waiting for a request: Shutdown may close it
	// deadline is the read deadline last set: it is moved only when it would end noticeably early, which saves
	// a timer update on most requests of a busy connection.
	deadline time.Time
	request  requestBuffers
	res      response
}

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufferSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufferSize) }}
)

func (c *conn) serve() {
	handedOff := false
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			c.s.log.Error("panic serving a request", "remote", c.nc.RemoteAddr().String(), "panic", v)
		}
		if !handedOff {
			c.nc.Close()
		}
		if c.br != nil {
			c.br.Reset(nil)
			readers.Put(c.br)
			c.bw.Reset(nil)
			writers.Put(c.bw)
		}
		c.s.untrack(c)
	}()
	c.remote = c.nc.RemoteAddr().String()
	c.br = readers.Get().(*bufio.Reader)
	c.br.Reset(c.nc)
	c.bw = writers.Get().(*bufio.Writer)
	c.bw.Reset(c.nc)
	for {
		n, err := c.readHead()
		if err != nil {
			return
		}
		var req *http.Request
		if n > 0 {
			req = c.parse(n)
		}
		if req == nil {
			handedOff = c.handOff()
			return
		}
		if !c.respond(req) {
			return
		}
	}
}

// readHead waits until the buffer holds a whole request head and returns its length, or 0 when the head does not
// fit in the buffer or the client ended it early. An error (the client left, a timeout) ends the connection, as
// net/http ends it for such errors.
func (c *conn) readHead() (int, error) {
	if c.br.Buffered() == 0 {
		if err := c.bw.Flush(); err != nil {
			return 0, err
		}
		c.idle.Store(true)
		if c.s.closing.Load() {
			return 0, http.ErrServerClosed
		}
		c.extendDeadline(c.s.idle)
		_, err := c.br.Peek(1)
		c.idle.Store(false)
		if err != nil {
			return 0, err
		}
	}
	headerDeadline := false
	for {
		buf, _ := c.br.Peek(c.br.Buffered())
		n, ok := headEnd(buf)
		switch {
		case n > 0:
			return n, nil
		case !ok || len(buf) == bufferSize:
			return 0, nil
		}
		if !headerDeadline && c.s.readHeader > 0 {
			// The rest of the head has ReadHeaderTimeout from now, as in net/http.
			c.deadline = time.Now().Add(c.s.readHeader)
			c.nc.SetReadDeadline(c.deadline)
			headerDeadline = true
		}
		if _, err := c.br.Peek(len(buf) + 1); err != nil {
			if err == io.EOF {
				return 0, nil // net/http answers a head cut short
			}
			return 0, err
		}
	}
}

// extendDeadline sets the read deadline to d from now, unless the one set already ends at most a second (an eighth
// of d) earlier than that.
func (c *conn) extendDeadline(d time.Duration) {
	if d <= 0 {
		return
	}
	want := time.Now().Add(d)
	if !c.deadline.Before(want.Add(-min(time.Second, d/8))) {
		return
	}
	c.deadline = want
	c.nc.SetReadDeadline(want)
}

// handOff gives the connection, with what was read of it, to net/http; false when the server is closing.
func (c *conn) handOff() bool {
	if err := c.bw.Flush(); err != nil {
		return false
	}
	c.nc.SetReadDeadline(time.Time{})
	buffered, _ := c.br.Peek(c.br.Buffered())
	return c.s.handoff.give(c.nc, append([]byte(nil), buffered...))
}

// respond runs the handler for one request and writes its response; false when the connection must close.
func (c *conn) respond(req *http.Request) bool {
	w := &c.res
	w.reset(c, req)
	c.s.http.Handler.ServeHTTP(w, req)
	w.finish()
	if w.closeAfter {
		c.closeWriteAndWait()
		return false
	}
	return true
}

// rstAvoidanceDelay is how long a closing connection waits for its client to close too, as net/http waits.
const rstAvoidanceDelay = 500 * time.Millisecond

// closeWriteAndWait sends the last response and a FIN, then reads what the client still sends until it closes or
// rstAvoidanceDelay passes: closing a socket with unread bytes sends a reset, which can destroy the response before
// the client reads it.
func (c *conn) closeWriteAndWait() {
	if c.bw.Flush() != nil {
		return
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(rstAvoidanceDelay))
	io.Copy(io.Discard, io.LimitReader(c.nc, 256<<10))
}
