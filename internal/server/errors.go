package server

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"wharf/internal/httperror"
	"wharf/internal/policy"
	"wharf/internal/store"
)

// status maps a handler's error to what the client is told: the one place where errors become statuses. A policy
// denial is a 403 with its reason. Anything unexpected is a 500 whose cause goes only to the log.
func status(err error) (int, string, http.Header) {
	var he *httperror.Error
	var denied *policy.Denied
	switch {
	case errors.As(err, &he):
		return he.Status, he.Message, he.Header
	case errors.As(err, &denied):
		// The policy's reason is worded for the person refused, on a page or in twine's output.
		return http.StatusForbidden, denied.Reason, nil
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "Not Found", nil
	default:
		return http.StatusInternalServerError, "Internal Server Error", nil
	}
}

// failed maps a handler's error to its status and message, logs it, and sets the headers the error carries
// (Retry-After, ...): what every adapter does before it writes the answer its way.
func (s *Server) failed(w http.ResponseWriter, r *http.Request, err error) (int, string) {
	code, msg, hdr := status(err)
	s.logError(r, code, err)
	for k, v := range hdr {
		w.Header()[k] = v
	}
	return code, msg
}

// handle adapts a handler that returns errors; errors become plain or JSON responses by what the client accepts.
func (s *Server) handle(h httperror.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		code, msg := s.failed(w, r, err)
		w.Header().Set("Cache-Control", "no-store")
		if strings.Contains(r.Header.Get("Accept"), "json") || strings.HasPrefix(r.URL.Path, "/pypi/") ||
			strings.HasPrefix(r.URL.Path, "/_/secrets/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			json.NewEncoder(w).Encode(map[string]string{"message": msg})
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(code)
		fmt.Fprintf(w, "%d %s\n", code, msg)
	})
}

// handleUpload adapts the upload handler. Like PyPI, a refusal carries its message in the HTTP status line, because
// that is the part of the response that twine shows its user.
func (s *Server) handleUpload(h httperror.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Authorization")
		// The handler may wrap the body in a size limit that stops reading at the limit; draining goes around it.
		body := r.Body
		err := h(w, r)
		if err == nil {
			return
		}
		code, msg, hdr := status(err)
		s.logError(r, code, err)
		drain(w, r, body)
		writeReasonPhrase(w, r, code, msg, hdr)
	})
}

// An HTTP/1.1 client such as twine sends the whole body before it reads the answer. Closing the connection on a
// body it is still sending resets it, and the client reports "connection reset" instead of the refusal (an
// over-size file's 413 first of all). So the rest of a refused body is read and thrown away, up to maxDrain bytes
// and for at most drainTime; a body declared larger than that is not worth reading, and gets the reset.
const (
	maxDrain  = 1 << 30
	drainTime = 2 * time.Minute
)

func drain(w http.ResponseWriter, r *http.Request, body io.Reader) {
	if r.ProtoMajor != 1 || r.ContentLength > maxDrain {
		return
	}
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Now().Add(drainTime)); err != nil {
		return
	}
	io.Copy(io.Discard, io.LimitReader(body, maxDrain))
	rc.SetReadDeadline(time.Time{})
}

func writeReasonPhrase(w http.ResponseWriter, r *http.Request, code int, msg string, hdr http.Header) {
	reason := strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r > 0x7e {
			return ' '
		}
		return r
	}, msg)
	body := fmt.Sprintf("%d %s\n", code, msg)
	hj, ok := w.(http.Hijacker)
	if !ok || r.ProtoMajor != 1 {
		for k, v := range hdr {
			w.Header()[k] = v
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		io.WriteString(w, body)
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	if rec, ok := w.(*recorder); ok {
		rec.code = code
	}
	defer conn.Close()
	conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	bw := bufio.NewWriter(conn)
	_ = buf // nothing of the request is left to read: the connection closes after this answer
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", code, reason)
	fmt.Fprintf(bw, "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n", len(body))
	fmt.Fprintf(bw, "Cache-Control: no-store\r\nVary: Authorization\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n")
	for k, vs := range hdr {
		for _, v := range vs {
			if !strings.ContainsAny(k+v, "\r\n") {
				fmt.Fprintf(bw, "%s: %s\r\n", k, v)
			}
		}
	}
	fmt.Fprintf(bw, "Date: %s\r\n\r\n%s", time.Now().UTC().Format(http.TimeFormat), body)
	bw.Flush()
}

func (s *Server) logError(r *http.Request, code int, err error) {
	level := slog.LevelInfo
	if code >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", code, "err", err)
}
