package blob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"time"
)

// staging is the local directory where every backend writes an object before committing it: an upload is read
// back for checks before it is kept (Writer.ReadAt), and a crash leaves its remains here, where Staged and
// CleanStaging find them, not in the store. root holds stagingDir; every operation goes through it, so no path
// can reach outside.
type staging struct {
	root *os.Root
}

// newFile creates a staging file with a random name, so concurrent writers never meet before Commit.
func (st staging) newFile(ctx context.Context) (*stagedFile, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: new writer: %w", err)
	}
	var b [16]byte
	rand.Read(b[:]) // never fails since Go 1.24: it crashes the program instead
	name := hex.EncodeToString(b[:])
	f, err := st.root.OpenFile(path.Join(stagingDir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return nil, fmt.Errorf("blob: new writer: %w", err)
	}
	return &stagedFile{root: st.root, f: f, name: name, h: sha256.New()}, nil
}

// Staged lists the files in staging.
func (st staging) Staged(ctx context.Context, fn func(name string, size int64, modTime time.Time) error) error {
	err := st.each(ctx, func(name string, fi fs.FileInfo) error {
		if err := fn(name, fi.Size(), fi.ModTime()); err != nil {
			return &callbackError{err}
		}
		return nil
	})
	return unwrapCallback(err)
}

// CleanStaging removes staged files last modified before olderThan. A
// writer's file is modified by every Write, so only idle ones qualify.
func (st staging) CleanStaging(ctx context.Context, olderThan time.Time) (int, error) {
	n := 0
	err := st.each(ctx, func(name string, fi fs.FileInfo) error {
		if !fi.ModTime().Before(olderThan) {
			return nil
		}
		err := st.root.Remove(path.Join(stagingDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			return nil // its writer committed or aborted meanwhile
		}
		if err != nil {
			return fmt.Errorf("blob: clean staging: %w", err)
		}
		n++
		return nil
	})
	return n, err
}

func (st staging) each(ctx context.Context, fn func(name string, fi fs.FileInfo) error) error {
	return eachEntry(ctx, st.root, stagingDir, func(e fs.DirEntry) error {
		if !e.Type().IsRegular() {
			return nil
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("blob: staging: %w", err)
		}
		return fn(e.Name(), fi)
	})
}

// eachEntry calls fn for each entry of dir in root, reading it in batches.
func eachEntry(ctx context.Context, root *os.Root, dir string, fn func(fs.DirEntry) error) error {
	f, err := root.Open(dir)
	if err != nil {
		return fmt.Errorf("blob: read %s: %w", dir, err)
	}
	defer f.Close()
	for {
		entries, err := f.ReadDir(readDirBatch)
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("blob: read %s: %w", dir, err)
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(entries) == 0 || err != nil {
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("blob: read %s: %w", dir, err)
			}
			return nil
		}
	}
}

// callbackError carries an error from a caller's callback through a walk, so that it is returned exactly as the
// callback made it.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

func unwrapCallback(err error) error {
	var cb *callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	return err
}

// mkdir creates dir in root if it is missing, then syncs its parent. The parent is synced even when dir already
// existed: a process that crashed between its Mkdir and that sync left a directory entry that may not be on disk
// yet, and an object renamed into it would not be durable either.
func mkdir(root *os.Root, dir string) error {
	if err := root.Mkdir(dir, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(root, path.Dir(dir))
}

func syncDir(root *os.Root, dir string) error {
	f, err := root.Open(dir)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return f.Close()
}

type writerState int

const (
	writing writerState = iota
	committed
	aborted
)

// stagedFile is the part of a Writer that every backend shares: the staged bytes, hashed as they stream. Each
// backend's writer adds its Commit.
type stagedFile struct {
	root  *os.Root
	f     *os.File // nil once closed
	name  string   // in stagingDir
	h     hash.Hash
	size  int64
	state writerState
	// werr is the first write error: once a write has failed, the staged
	// file no longer matches the hash, so Commit must refuse.
	werr error
}

func (w *stagedFile) Write(p []byte) (int, error) {
	if w.state != writing {
		return 0, fmt.Errorf("blob: write: %w", ErrClosed)
	}
	if w.werr != nil {
		return 0, fmt.Errorf("blob: write: earlier write failed: %w", w.werr)
	}
	n, err := w.f.Write(p)
	w.h.Write(p[:n])
	w.size += int64(n)
	if err != nil {
		w.werr = err
		return n, fmt.Errorf("blob: write: %w", err)
	}
	return n, nil
}

func (w *stagedFile) ReadAt(p []byte, off int64) (int, error) {
	if w.state != writing || w.f == nil {
		return 0, fmt.Errorf("blob: read staged: %w", ErrClosed)
	}
	if off >= w.size {
		return 0, io.EOF
	}
	if max := w.size - off; int64(len(p)) > max {
		n, err := w.f.ReadAt(p[:max], off)
		if err == nil {
			err = io.EOF
		}
		return n, err
	}
	return w.f.ReadAt(p, off)
}

func (w *stagedFile) Size() int64 { return w.size }

func (w *stagedFile) SHA256() string { return hex.EncodeToString(w.h.Sum(nil)) }

// path is the staged file's name in root.
func (w *stagedFile) path() string { return path.Join(stagingDir, w.name) }

// ready checks what every Commit checks first: no write failed and ctx is live.
func (w *stagedFile) ready(ctx context.Context) error {
	if w.werr != nil {
		return fmt.Errorf("earlier write failed: %w", w.werr)
	}
	return ctx.Err()
}

// commitWith runs a backend's commit once, and discards the staged data if it fails before the object is kept.
func (w *stagedFile) commitWith(ctx context.Context, commit func(context.Context) (Info, error)) (Info, error) {
	if w.state != writing {
		return Info{}, fmt.Errorf("blob: commit: %w", ErrClosed)
	}
	info, err := commit(ctx)
	if err != nil {
		if w.state == writing {
			w.Abort()
		}
		return Info{}, fmt.Errorf("blob: commit: %w", err)
	}
	return info, nil
}

func (w *stagedFile) Abort() error {
	if w.state != writing {
		return nil
	}
	w.state = aborted
	var errs []error
	if w.f != nil {
		errs = append(errs, w.f.Close())
		w.f = nil
	}
	if err := w.root.Remove(w.path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("blob: abort: %w", err)
	}
	return nil
}
