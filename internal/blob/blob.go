// Package blob stores uploaded files by content: an object's key is the hex
// SHA-256 of its bytes, so no storage path is ever built from user input
// (U2 in docs/security.md) and identical uploads share one object.
//
// Writes are staged and hashed as they stream; Commit makes the object durable
// before it becomes visible (F2), so a crash leaves either no object or a
// complete one, and leftovers only in staging (F1), where Staged and
// CleanStaging find and remove them. Both backends, a local directory (Disk)
// and an S3 bucket (S3), stage uploads in a local directory, and both pass
// the conformance suite in package blobtest.
package blob

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors returned by stores; match them with errors.Is.
var (
	ErrNotFound   = errors.New("object not found")
	ErrInvalidKey = errors.New("invalid object key")
	// ErrClosed is returned by a Writer used after Commit or Abort.
	ErrClosed = errors.New("writer already committed or aborted")
)

// Store is a content-addressed object store.
type Store interface {
	// NewWriter starts a staged object; bytes written are hashed (SHA-256)
	// as they stream.
	NewWriter(ctx context.Context) (Writer, error)
	// Open returns ErrNotFound for a missing object and ErrInvalidKey for a
	// key that ValidKey refuses.
	Open(ctx context.Context, key string) (Object, error)
	// Stat returns ErrNotFound and ErrInvalidKey as Open does.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes an object. Deleting a missing object is not an error,
	// so a retried or concurrent delete succeeds; an invalid key is.
	Delete(ctx context.Context, key string) error
	// Walk calls fn for every committed object, in no particular order. An
	// error from fn stops the walk and is returned unwrapped.
	Walk(ctx context.Context, fn func(Info) error) error
	// Staged calls fn for every leftover in staging: writers in progress,
	// and the remains of writers that crashed before Commit or Abort.
	Staged(ctx context.Context, fn func(name string, size int64, modTime time.Time) error) error
	// CleanStaging removes the staged leftovers last modified before
	// olderThan and returns how many it removed. A writer whose staged data
	// is removed can no longer commit, so olderThan must be far enough in
	// the past to spare slow uploads.
	CleanStaging(ctx context.Context, olderThan time.Time) (int, error)
	// Ping reports whether the store can be reached, for a readiness check: the directory is there, or the bucket
	// answers.
	Ping(ctx context.Context) error
}

// Writer is an object being written. It is not safe for concurrent use.
type Writer interface {
	io.Writer
	// ReadAt reads back what was written, so that an upload can be inspected before it is committed. It is only
	// valid while writing.
	io.ReaderAt
	// Size is the number of bytes written so far.
	Size() int64
	// SHA256 is the lowercase hex SHA-256 of what was written so far.
	SHA256() string
	// Commit makes the object durable and visible under its key = hex
	// SHA-256 of the content, and returns it. Committing content that
	// already exists is a success (content addressing), and leaves one
	// copy. A failed Commit discards the staged data.
	Commit(ctx context.Context) (Info, error)
	// Abort discards the staged data. It is idempotent, and safe after
	// Commit, so callers can always defer it.
	Abort() error
}

// Linker is a Store that can hand a client a link to an object's bytes, so that the download does not pass
// through the server: the S3 store.
type Linker interface {
	// Link returns a URL that serves the object named key for the next expires, as filename, with the headers of
	// a download from the index: Content-Type application/octet-stream and cacheControl.
	Link(ctx context.Context, key, filename, cacheControl string, expires time.Duration) (string, error)
}

// Object is an open committed object. It is an io.ReadSeeker so that
// http.ServeContent can answer Range requests from it.
type Object interface {
	io.ReadSeekCloser
	Info() Info
}

// Info describes a committed object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// ValidKey reports whether key is a possible object key: exactly 64
// lowercase hex characters. Stores check it before a key reaches a path or
// a request, so nothing else can.
func ValidKey(key string) bool {
	if len(key) != 64 {
		return false
	}
	for i := 0; i < len(key); i++ {
		if !isLowerHex(key[i]) {
			return false
		}
	}
	return true
}

func isLowerHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
}
