package blob

import (
	"context"
	"fmt"
	"io"
)

// CopyProgress is how far CopyAll has gone.
type CopyProgress struct {
	TotalObjects, TotalBytes int64 // in the source when the copy began
	Done, DoneBytes          int64 // objects looked at so far, and their bytes
	Copied, Skipped          int64 // of Done: written to the destination, and found there already
}

// CopyAll copies every committed object of from that to lacks, for moving an index's files from one store to
// another while the index keeps serving from the first. Each object's bytes are hashed as they are written and
// must hash to its key, or the copy stops; an object the destination already holds with the same size is
// skipped, so a copy that was stopped or crashed resumes where it was. progress is called after each object.
func CopyAll(ctx context.Context, from, to Store, progress func(CopyProgress)) (CopyProgress, error) {
	var p CopyProgress
	if err := from.Walk(ctx, func(i Info) error {
		p.TotalObjects++
		p.TotalBytes += i.Size
		return nil
	}); err != nil {
		return p, fmt.Errorf("blob: copy: count: %w", err)
	}
	err := from.Walk(ctx, func(i Info) error {
		if st, err := to.Stat(ctx, i.Key); err == nil && st.Size == i.Size {
			p.Skipped++
		} else if err := copyObject(ctx, from, to, i.Key); err != nil {
			return err
		} else {
			p.Copied++
		}
		p.Done++
		p.DoneBytes += i.Size
		progress(p)
		return nil
	})
	if err != nil {
		return p, fmt.Errorf("blob: copy: %w", err)
	}
	return p, nil
}

func copyObject(ctx context.Context, from, to Store, key string) error {
	o, err := from.Open(ctx, key)
	if err != nil {
		return err
	}
	defer o.Close()
	w, err := to.NewWriter(ctx)
	if err != nil {
		return err
	}
	defer w.Abort()
	if _, err := io.Copy(w, o); err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	if got := w.SHA256(); got != key {
		return fmt.Errorf("%s reads back with SHA-256 %s: the source's copy is damaged (wharf fsck says which file it is)", key, got)
	}
	_, err = w.Commit(ctx)
	return err
}
