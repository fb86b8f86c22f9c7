// Package fsck proves that the database and the blob store agree: every file row has its blob with the recorded
// size and SHA-256, and every object in the store is accounted for.
package fsck

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"wharf/internal/blob"
	"wharf/internal/store"
)

// Files is what fsck reads of the database.
type Files interface {
	EachFile(ctx context.Context, fn func(store.File) error) error
}

// Problem is a disagreement: a row whose blob is missing, of another size, or of other content.
type Problem struct {
	Filename string `json:"filename"`
	Key      string `json:"key"`
	Issue    string `json:"issue"`
}

// Report is the outcome of a check.
type Report struct {
	Files        int       `json:"files"`
	Objects      int       `json:"objects"`
	Problems     []Problem `json:"problems"`
	Unreferenced []string  `json:"unreferenced"` // objects no row points at (a crash between blob and database commit, or deleted files)
	Staged       []string  `json:"staged"`       // leftovers of interrupted uploads
}

// OK reports whether the database and the store agree.
func (r Report) OK() bool { return len(r.Problems) == 0 }

// Options change what a check does.
type Options struct {
	// Quick compares sizes only, without reading every object back.
	Quick bool
}

// Check compares every file row (and its core metadata file) with the blob store.
func Check(ctx context.Context, files Files, blobs blob.Store, opts Options) (Report, error) {
	var rep Report
	referenced := map[string]bool{}
	check := func(filename, key string, size int64) error {
		referenced[key] = true
		info, err := blobs.Stat(ctx, key)
		if errors.Is(err, blob.ErrNotFound) {
			rep.Problems = append(rep.Problems, Problem{filename, key, "blob missing"})
			return nil
		}
		if err != nil {
			return err
		}
		if size >= 0 && info.Size != size {
			rep.Problems = append(rep.Problems, Problem{filename, key, fmt.Sprintf("size %d, database says %d", info.Size, size)})
			return nil
		}
		if opts.Quick {
			return nil
		}
		sum, err := hashObject(ctx, blobs, key)
		if err != nil {
			return err
		}
		if sum != key {
			rep.Problems = append(rep.Problems, Problem{filename, key, "content does not match its sha256 " + sum})
		}
		return nil
	}
	err := files.EachFile(ctx, func(f store.File) error {
		rep.Files++
		if err := check(f.Filename, f.SHA256, f.Size); err != nil {
			return err
		}
		if f.MetadataSHA256 != "" {
			return check(f.Filename+".metadata", f.MetadataSHA256, -1)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("fsck: %w", err)
	}
	err = blobs.Walk(ctx, func(info blob.Info) error {
		rep.Objects++
		if !referenced[info.Key] {
			rep.Unreferenced = append(rep.Unreferenced, info.Key)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("fsck: %w", err)
	}
	err = blobs.Staged(ctx, func(name string, _ int64, _ time.Time) error {
		rep.Staged = append(rep.Staged, name)
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("fsck: %w", err)
	}
	return rep, nil
}

func hashObject(ctx context.Context, blobs blob.Store, key string) (string, error) {
	obj, err := blobs.Open(ctx, key)
	if err != nil {
		return "", err
	}
	defer obj.Close()
	h := sha256.New()
	if _, err := io.Copy(h, obj); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Referencer answers whether a row points at an object, checked again right before it is removed.
type Referencer interface {
	BlobReferenced(ctx context.Context, sha256 string) (bool, error)
}

// Collect removes unreferenced objects and staged leftovers older than the grace time. The grace period covers
// uploads in flight: their object is committed a moment before the database row that references it.
func Collect(ctx context.Context, db Referencer, blobs blob.Store, rep Report, olderThan time.Time) (objects, staged int, err error) {
	for _, key := range rep.Unreferenced {
		info, err := blobs.Stat(ctx, key)
		if errors.Is(err, blob.ErrNotFound) || (err == nil && !info.ModTime.Before(olderThan)) {
			continue
		}
		if err != nil {
			return objects, staged, fmt.Errorf("collect: %w", err)
		}
		ref, err := db.BlobReferenced(ctx, key)
		if err != nil {
			return objects, staged, fmt.Errorf("collect: %w", err)
		}
		if ref {
			continue
		}
		if err := blobs.Delete(ctx, key); err != nil {
			return objects, staged, fmt.Errorf("collect: %w", err)
		}
		objects++
	}
	staged, err = blobs.CleanStaging(ctx, olderThan)
	if err != nil {
		return objects, staged, fmt.Errorf("collect: %w", err)
	}
	return objects, staged, nil
}
