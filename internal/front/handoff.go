package front

import (
	"io"
	"net"
	"sync"
)

// handoff is the listener net/http serves: it yields the connections the loop gives up, and keeps them until
// net/http closes them, so that a shutdown whose time is up can cut them off and wait for their handlers.
type handoff struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr

	mu   sync.Mutex
	held map[*replayConn]struct{} // given to net/http, not closed by it yet
	// released is closed once held is empty, after cutOff; nil before.
	released chan struct{}
}

func newHandoff(addr net.Addr) *handoff {
	return &handoff{conns: make(chan net.Conn), closed: make(chan struct{}), addr: addr,
		held: map[*replayConn]struct{}{}}
}

func (h *handoff) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.closed:
		return nil, net.ErrClosed
	}
}

func (h *handoff) Close() error {
	h.once.Do(func() { close(h.closed) })
	return nil
}

func (h *handoff) Addr() net.Addr { return h.addr }

// give passes nc, whose reads start with pending, to net/http; false when it has stopped serving.
func (h *handoff) give(nc net.Conn, pending []byte) bool {
	c := &replayConn{Conn: nc, pending: pending, h: h}
	h.mu.Lock()
	h.held[c] = struct{}{}
	h.mu.Unlock()
	select {
	case h.conns <- c:
		return true
	case <-h.closed:
		h.release(c)
		return false
	}
}

func (h *handoff) release(c *replayConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.held, c)
	if len(h.held) == 0 && h.released != nil {
		close(h.released)
		h.released = nil
	}
}

// cutOff closes the connections net/http still holds, so that their handlers' reads and writes fail, and returns a
// channel that is closed once net/http has closed them all: it does when their handlers have returned.
func (h *handoff) cutOff() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	done := make(chan struct{})
	if len(h.held) == 0 {
		close(done)
		return done
	}
	for c := range h.held {
		c.Conn.Close()
	}
	h.released = done
	return done
}

// replayConn is a connection given to net/http: its reads start with the bytes the loop had read.
type replayConn struct {
	net.Conn
	pending []byte
	h       *handoff
	once    sync.Once
}

// Close is net/http's: it closes a connection once its handler has returned (or, while the handler runs, after a
// write failed, when the handler finds the connection gone anyway).
func (c *replayConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.h.release(c) })
	return err
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// ReadFrom keeps net/http's sendfile path for files.
func (c *replayConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }

// CloseWrite lets net/http half-close the connection, as it does to a TCP connection before closing.
func (c *replayConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
