package main

import (
	"context"
	"errors"
	"fmt"

	"wharf/internal/blob"
	"wharf/internal/config"
)

// runStorage moves the files to another store: storage migrate --to URL copies every object of the configured
// store (WHARF_STORAGE_URL) that the other lacks, checking each one's SHA-256, while the index keeps serving from
// the first. Stopped or crashed, it resumes where it was when run again. Then the server is pointed at the new
// store; a second run just before that copies what was uploaded in the meantime.
func runStorage(ctx context.Context, e *env, args []string) error {
	c := newCLI(e, "storage")
	to := c.fs.String("to", "", "the store to copy to: file:PATH or s3://BUCKET?... (as WHARF_STORAGE_URL)")
	cfg, pos, err := config.Load(c.fs, args, e.getenv)
	if err != nil {
		return err
	}
	if len(pos) != 1 || pos[0] != "migrate" {
		return errors.New("usage: wharf storage migrate --to URL")
	}
	if err := config.CheckStorageURL(*to); err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	if *to == cfg.StorageURL {
		return errors.New("--to names the store the files are in already (WHARF_STORAGE_URL)")
	}
	from, err := openBlobs(ctx, cfg)
	if err != nil {
		return fmt.Errorf("the store the files are in: %w", err)
	}
	dst := cfg
	dst.StorageURL = *to
	into, err := openBlobs(ctx, dst)
	if err != nil {
		return fmt.Errorf("the store to copy to: %w", err)
	}
	// A line for every hundredth of the objects: a progress bar that any log keeps.
	step := int64(1)
	p, err := blob.CopyAll(ctx, from, into, func(p blob.CopyProgress) {
		if step == 1 && p.TotalObjects >= 100 {
			step = p.TotalObjects / 100
		}
		if p.Done%step == 0 || p.Done == p.TotalObjects {
			fmt.Fprintf(e.stderr, "%3d%% %d of %d objects, %s of %s (%d copied, %d there already)\n",
				100*p.Done/max(p.TotalObjects, 1), p.Done, p.TotalObjects, mebibytes(p.DoneBytes),
				mebibytes(p.TotalBytes), p.Copied, p.Skipped)
		}
	})
	if err != nil {
		return err
	}
	c.print(e, p, fmt.Sprintf("%d objects in %s: %d copied, %d there already\n", p.TotalObjects, redacted(*to), p.Copied, p.Skipped))
	return nil
}

func mebibytes(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
