package blob

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
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
	staging
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
	d := &Disk{staging: staging{root}, root: root}
	for _, sub := range []string{objectsDir, stagingDir} {
		if err := mkdir(root, sub); err != nil {
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

// Ping checks that the objects directory is still there: a volume that was unmounted under the server leaves it
// serving nothing.
func (d *Disk) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := d.root.Stat(objectsDir); err != nil {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// Close releases the store's directory handle. Open objects stay readable.
func (d *Disk) Close() error {
	return d.root.Close()
}

// NewWriter starts an object in staging, which Commit renames into objects.
func (d *Disk) NewWriter(ctx context.Context) (Writer, error) {
	f, err := d.newFile(ctx)
	if err != nil {
		return nil, err
	}
	return &diskWriter{stagedFile: f, d: d}, nil
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
	if err := syncDir(d.root, path.Dir(p)); err != nil {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}

// Walk lists the committed objects. Entries that Commit could not have
// made (wrong names, wrong fan-out directory, symlinks, directories) are
// skipped, so stray files never pass for objects.
func (d *Disk) Walk(ctx context.Context, fn func(Info) error) error {
	err := eachEntry(ctx, d.root, objectsDir, func(e1 fs.DirEntry) error {
		if !e1.IsDir() || !isFanOut(e1.Name()) {
			return nil
		}
		dir1 := path.Join(objectsDir, e1.Name())
		return eachEntry(ctx, d.root, dir1, func(e2 fs.DirEntry) error {
			if !e2.IsDir() || !isFanOut(e2.Name()) {
				return nil
			}
			dir2 := path.Join(dir1, e2.Name())
			return eachEntry(ctx, d.root, dir2, func(e fs.DirEntry) error {
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

// diskWriter commits its staged file by renaming it into objects.
type diskWriter struct {
	*stagedFile
	d *Disk
}

// Commit follows the order that makes a crash harmless at every step: the
// data is on disk before the rename, the rename is atomic, and the directory
// holding the new name is synced before Commit returns. Renaming over an
// existing object with the same key is safe: it has the same bytes.
func (w *diskWriter) Commit(ctx context.Context) (Info, error) { return w.commitWith(ctx, w.commit) }

func (w *diskWriter) commit(ctx context.Context) (Info, error) {
	if err := w.ready(ctx); err != nil {
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
	if err := mkdir(w.d.root, path.Dir(dir)); err != nil {
		return Info{}, err
	}
	if err := mkdir(w.d.root, dir); err != nil {
		return Info{}, err
	}
	p := path.Join(dir, key)
	if err := w.d.root.Rename(w.path(), p); err != nil {
		return Info{}, err
	}
	// From here the object is visible and the staged file gone: a failure
	// below means "not known to be durable", not "not there".
	w.state = committed
	if err := syncDir(w.d.root, dir); err != nil {
		return Info{}, err
	}
	fi, err := w.d.root.Stat(p)
	if err != nil {
		return Info{}, err
	}
	return Info{Key: key, Size: w.size, ModTime: fi.ModTime()}, nil
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
