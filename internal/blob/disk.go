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

const (
	objectsDir = "objects"
	stagingDir = "staging"
	dirPerm    = 0o755
	filePerm   = 0o644
	// readDirBatch bounds the memory a directory listing takes, however
	// many objects a fan-out directory holds.
	readDirBatch = 1024
)

// Disk is a Store in a local directory:
//
//	objects/<k[0:2]>/<k[2:4]>/<k>   committed objects, k = hex SHA-256
//	staging/<random>                objects being written, and crash leftovers
//
// Every file operation goes through an os.Root, so no path, symlink
// included, can reach outside the directory. staging and objects are on the
// same file system, so Commit is a rename.
type Disk struct {
	root *os.Root
}

var _ Store = (*Disk)(nil)

// NewDisk opens (creating if needed) a store in dir. objects and staging
// must be real directories: a symlink there is refused rather than followed.
func NewDisk(dir string) (*Disk, error) {
	if dir == "" {
		return nil, errors.New("blob: new disk: empty directory name")
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("blob: new disk: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: new disk: %w", err)
	}
	d := &Disk{root: root}
	for _, sub := range []string{objectsDir, stagingDir} {
		if err := d.mkdir(sub); err != nil {
			root.Close()
			return nil, fmt.Errorf("blob: new disk: %w", err)
		}
		fi, err := root.Lstat(sub)
		if err != nil {
			root.Close()
			return nil, fmt.Errorf("blob: new disk: %w", err)
		}
		if !fi.IsDir() {
			root.Close()
			return nil, fmt.Errorf("blob: new disk: %s in %s is not a directory", sub, dir)
		}
	}
	return d, nil
}

// Close releases the store's directory handle. Open objects stay readable.
func (d *Disk) Close() error {
	return d.root.Close()
}

// NewWriter creates a staging file with a random name, so concurrent
// writers never meet before Commit.
func (d *Disk) NewWriter(ctx context.Context) (Writer, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: new writer: %w", err)
	}
	var b [16]byte
	rand.Read(b[:]) // never fails since Go 1.24: it crashes the program instead
	name := hex.EncodeToString(b[:])
	f, err := d.root.OpenFile(path.Join(stagingDir, name), os.O_RDWR|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return nil, fmt.Errorf("blob: new writer: %w", err)
	}
	return &diskWriter{d: d, f: f, name: name, h: sha256.New()}, nil
}

func objectPath(key string) string {
	return path.Join(objectsDir, key[0:2], key[2:4], key)
}

// Open opens a committed object for reading.
func (d *Disk) Open(ctx context.Context, key string) (Object, error) {
	if !ValidKey(key) {
		return nil, fmt.Errorf("blob: open: %w", ErrInvalidKey)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	f, err := d.root.Open(objectPath(key))
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", key, notFound(err))
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("blob: open %s: %w", key, ErrNotFound)
	}
	return &diskObject{f: f, info: Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}}, nil
}

// Stat describes a committed object.
func (d *Disk) Stat(ctx context.Context, key string) (Info, error) {
	if !ValidKey(key) {
		return Info{}, fmt.Errorf("blob: stat: %w", ErrInvalidKey)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("blob: stat %s: %w", key, err)
	}
	fi, err := d.root.Stat(objectPath(key))
	if err != nil {
		return Info{}, fmt.Errorf("blob: stat %s: %w", key, notFound(err))
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("blob: stat %s: %w", key, ErrNotFound)
	}
	return Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Delete removes a committed object and syncs its directory, so a deletion
// the caller has recorded does not come back after a power failure. Empty
// fan-out directories are kept: removing one could race with a Commit that
// has just created it.
func (d *Disk) Delete(ctx context.Context, key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("blob: delete: %w", ErrInvalidKey)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	p := objectPath(key)
	if err := d.root.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	if err := d.syncDir(path.Dir(p)); err != nil {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}

// Walk lists the committed objects. Entries that Commit could not have
// made (wrong names, wrong fan-out directory, symlinks, directories) are
// skipped, so stray files never pass for objects.
func (d *Disk) Walk(ctx context.Context, fn func(Info) error) error {
	err := d.eachEntry(ctx, objectsDir, func(e1 fs.DirEntry) error {
		if !e1.IsDir() || !isFanOut(e1.Name()) {
			return nil
		}
		dir1 := path.Join(objectsDir, e1.Name())
		return d.eachEntry(ctx, dir1, func(e2 fs.DirEntry) error {
			if !e2.IsDir() || !isFanOut(e2.Name()) {
				return nil
			}
			dir2 := path.Join(dir1, e2.Name())
			return d.eachEntry(ctx, dir2, func(e fs.DirEntry) error {
				key := e.Name()
				if !e.Type().IsRegular() || !ValidKey(key) || key[0:2] != e1.Name() || key[2:4] != e2.Name() {
					return nil
				}
				fi, err := e.Info()
				if errors.Is(err, fs.ErrNotExist) {
					return nil // deleted since the directory was read
				}
				if err != nil {
					return fmt.Errorf("blob: walk: %w", err)
				}
				if err := fn(Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}); err != nil {
					return &callbackError{err}
				}
				return nil
			})
		})
	})
	return unwrapCallback(err)
}

// Staged lists the files in staging.
func (d *Disk) Staged(ctx context.Context, fn func(name string, size int64, modTime time.Time) error) error {
	err := d.eachStaged(ctx, func(name string, fi fs.FileInfo) error {
		if err := fn(name, fi.Size(), fi.ModTime()); err != nil {
			return &callbackError{err}
		}
		return nil
	})
	return unwrapCallback(err)
}

// CleanStaging removes staged files last modified before olderThan. A
// writer's file is modified by every Write, so only idle ones qualify.
func (d *Disk) CleanStaging(ctx context.Context, olderThan time.Time) (int, error) {
	n := 0
	err := d.eachStaged(ctx, func(name string, fi fs.FileInfo) error {
		if !fi.ModTime().Before(olderThan) {
			return nil
		}
		err := d.root.Remove(path.Join(stagingDir, name))
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

func (d *Disk) eachStaged(ctx context.Context, fn func(name string, fi fs.FileInfo) error) error {
	return d.eachEntry(ctx, stagingDir, func(e fs.DirEntry) error {
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

// eachEntry calls fn for each entry of dir, reading it in batches.
func (d *Disk) eachEntry(ctx context.Context, dir string, fn func(fs.DirEntry) error) error {
	f, err := d.root.Open(dir)
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

// callbackError carries an error from a caller's callback through the
// directory walk, so that it is returned exactly as the callback made it.
type callbackError struct{ err error }

func (e *callbackError) Error() string { return e.err.Error() }

func unwrapCallback(err error) error {
	var cb *callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	return err
}

// mkdir creates dir if it is missing, then syncs its parent. The parent is
// synced even when dir already existed: a process that crashed between its
// Mkdir and that sync left a directory entry that may not be on disk yet, and
// an object renamed into it would not be durable either.
func (d *Disk) mkdir(dir string) error {
	if err := d.root.Mkdir(dir, dirPerm); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return d.syncDir(path.Dir(dir))
}

func (d *Disk) syncDir(dir string) error {
	f, err := d.root.Open(dir)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return f.Close()
}

// isFanOut reports whether name could be a fan-out directory: two
// lowercase hex digits.
func isFanOut(name string) bool {
	return len(name) == 2 && isLowerHex(name[0]) && isLowerHex(name[1])
}

func notFound(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

type writerState int

const (
	writing writerState = iota
	committed
	aborted
)

type diskWriter struct {
	d     *Disk
	f     *os.File // nil once closed
	name  string   // in stagingDir
	h     hash.Hash
	size  int64
	state writerState
	// werr is the first write error: once a write has failed, the staged
	// file no longer matches the hash, so Commit must refuse.
	werr error
}

func (w *diskWriter) Write(p []byte) (int, error) {
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

func (w *diskWriter) ReadAt(p []byte, off int64) (int, error) {
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

func (w *diskWriter) Size() int64 { return w.size }

func (w *diskWriter) SHA256() string { return hex.EncodeToString(w.h.Sum(nil)) }

// Commit follows the order that makes a crash harmless at every step: the
// data is on disk before the rename, the rename is atomic, and the directory
// holding the new name is synced before Commit returns. Renaming over an
// existing object with the same key is safe: it has the same bytes.
func (w *diskWriter) Commit(ctx context.Context) (Info, error) {
	if w.state != writing {
		return Info{}, fmt.Errorf("blob: commit: %w", ErrClosed)
	}
	info, err := w.commit(ctx)
	if err != nil {
		if w.state == writing {
			w.Abort()
		}
		return Info{}, fmt.Errorf("blob: commit: %w", err)
	}
	return info, nil
}

func (w *diskWriter) commit(ctx context.Context) (Info, error) {
	if w.werr != nil {
		return Info{}, fmt.Errorf("earlier write failed: %w", w.werr)
	}
	if err := ctx.Err(); err != nil {
		return Info{}, err
	}
	if err := w.f.Sync(); err != nil {
		return Info{}, err
	}
	err := w.f.Close()
	w.f = nil
	if err != nil {
		return Info{}, err
	}
	key := hex.EncodeToString(w.h.Sum(nil))
	dir := path.Join(objectsDir, key[0:2], key[2:4])
	if err := w.d.mkdir(path.Dir(dir)); err != nil {
		return Info{}, err
	}
	if err := w.d.mkdir(dir); err != nil {
		return Info{}, err
	}
	p := path.Join(dir, key)
	if err := w.d.root.Rename(path.Join(stagingDir, w.name), p); err != nil {
		return Info{}, err
	}
	// From here the object is visible and the staged file gone: a failure
	// below means "not known to be durable", not "not there".
	w.state = committed
	if err := w.d.syncDir(dir); err != nil {
		return Info{}, err
	}
	fi, err := w.d.root.Stat(p)
	if err != nil {
		return Info{}, err
	}
	return Info{Key: key, Size: w.size, ModTime: fi.ModTime()}, nil
}

func (w *diskWriter) Abort() error {
	if w.state != writing {
		return nil
	}
	w.state = aborted
	var errs []error
	if w.f != nil {
		errs = append(errs, w.f.Close())
		w.f = nil
	}
	if err := w.d.root.Remove(path.Join(stagingDir, w.name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("blob: abort: %w", err)
	}
	return nil
}

type diskObject struct {
	f    *os.File
	info Info
}

func (o *diskObject) Read(p []byte) (int, error) { return o.f.Read(p) }

func (o *diskObject) Seek(offset int64, whence int) (int64, error) {
	return o.f.Seek(offset, whence)
}

func (o *diskObject) Close() error { return o.f.Close() }

func (o *diskObject) Info() Info { return o.info }
