package upload

import (
	"errors"
	"hash"
	"io"
	"sync"
)

// copyChunk is how much of an upload is read before it is written and hashed: a multipart part yields at most
// 4 KiB a read, and a write and three hash calls for each of those cost more than the bytes (5,000 of each for
// 20 MiB).
const copyChunk = 256 << 10

// hashWhileCopying copies src to dst in chunks of copyChunk and writes each chunk to every side hash on a
// goroutine of its own, while dst (the staged file, which hashes with SHA-256) takes it: the digests that PyPI's
// upload form carries and the index shows (MD5, BLAKE2b-256) then cost the time of the slowest of the three on a
// server with a core to spare, not the sum of the three. Every side hash has taken every byte when it returns.
func hashWhileCopying(dst io.Writer, src io.Reader, side ...hash.Hash) (int64, error) {
	feeds := make([]chan []byte, len(side))
	var hashing sync.WaitGroup
	for i, h := range side {
		feeds[i] = make(chan []byte)
		hashing.Go(func() {
			for chunk := range feeds[i] {
				h.Write(chunk)
			}
		})
	}
	defer func() {
		for _, f := range feeds {
			close(f)
		}
		hashing.Wait()
	}()
	// Two buffers: the next chunk is read into one while the hashes may still be on the other. A hash takes a
	// chunk only once it is done with the one before, so when a buffer is read into again, every hash is done
	// with it.
	bufs := [2][]byte{make([]byte, copyChunk), make([]byte, copyChunk)}
	var n int64
	for turn := 0; ; turn ^= 1 {
		k, err := fill(src, bufs[turn])
		if err != nil && !errors.Is(err, io.EOF) {
			return n, err
		}
		if k > 0 {
			chunk := bufs[turn][:k]
			for _, f := range feeds {
				f <- chunk
			}
			if _, err := dst.Write(chunk); err != nil {
				return n, err
			}
			n += int64(k)
		}
		if err != nil {
			return n, nil
		}
	}
}

// fill reads src into buf until buf is full or src ends, which is io.EOF; unlike io.ReadFull, it leaves a
// source's own io.ErrUnexpectedEOF (a body cut short) an error.
func fill(src io.Reader, buf []byte) (int, error) {
	k := 0
	for k < len(buf) {
		m, err := src.Read(buf[k:])
		k += m
		if err != nil {
			return k, err
		}
	}
	return k, nil
}
