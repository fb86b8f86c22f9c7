package pypkg

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"
)

// A wheel's RECORD (PEP 376, PEP 427) lists every file in it with a hash
// and a size, and installers check what they unpack against it. A RECORD
// that misses a file, lists one that is not there or gives a wrong hash
// means files that nobody vouched for, or an install that fails halfway:
// so every member is checked against it, hashed in the one pass that also
// counts the inflated bytes.

// recordEntry is one line of RECORD.
type recordEntry struct {
	algo   string // "" when the line has no hash
	digest string // urlsafe base64 without padding, as written
	size   int64  // -1 when the line has no size
}

// parseRecord parses RECORD as Python's csv module writes it (double quotes
// around paths with commas or quotes). It stops at more than maxLines lines:
// a RECORD longer than the wheel has members is wrong anyway, and the map
// must not grow with what the uploader wrote.
func parseRecord(b []byte, name string, maxLines int) (map[string]recordEntry, error) {
	bad := func(format string, args ...any) error {
		return newError(ErrInvalidArchive, "Invalid wheel: "+format, args...)
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	out := make(map[string]recordEntry)
	for {
		row, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, wrapError(ErrInvalidArchive, err, "Invalid wheel: %s is not valid CSV (%v).", quote(name), err)
		}
		line, _ := cr.FieldPos(0)
		if len(row) < 3 {
			return nil, bad("line %d of %s has %d fields; each line must be path,hash,size.", line, quote(name), len(row))
		}
		// flit_core writes paths with commas unquoted (pypa/flit#744).
		// Hashes and sizes hold no commas, so the path is all that comes
		// before the last two fields, and it must still name a member.
		n := len(row)
		path, hashField, sizeField := strings.Join(row[:n-2], ","), row[n-2], row[n-1]
		if path == "" {
			return nil, bad("line %d of %s has an empty path.", line, quote(name))
		}
		if _, dup := out[path]; dup {
			return nil, bad("%s lists %s more than once.", quote(name), quote(path))
		}
		if len(out) == maxLines {
			return nil, bad("%s lists more files than the wheel contains.", quote(name))
		}
		e := recordEntry{size: -1}
		if hashField != "" {
			algo, digest, ok := strings.Cut(hashField, "=")
			if !ok || algo == "" || digest == "" {
				return nil, bad("%s gives %s the hash %s, which is not of the form algorithm=value.", quote(name), quote(path), quote(hashField))
			}
			switch algo {
			case "sha256", "sha384", "sha512":
			case "md5", "sha1":
				return nil, bad("%s gives %s an %s hash; md5 and sha1 are not allowed in wheels (PEP 427). Rebuild the wheel with a current build tool, which writes sha256.", quote(name), quote(path), algo)
			default:
				return nil, bad("%s gives %s a hash with the unsupported algorithm %s; use sha256, sha384 or sha512.", quote(name), quote(path), quote(algo))
			}
			e.algo, e.digest = algo, digest
		}
		if sizeField != "" {
			n, err := strconv.ParseUint(sizeField, 10, 63)
			if err != nil {
				return nil, bad("%s gives %s the size %s, which is not a number of bytes.", quote(name), quote(path), quote(sizeField))
			}
			e.size = int64(n)
		}
		out[path] = e
	}
}

// newHash returns the hash the entry asks for, or nil when it has none.
func (e recordEntry) newHash() hash.Hash {
	switch e.algo {
	case "sha256":
		return sha256.New()
	case "sha384":
		return sha512.New384()
	case "sha512":
		return sha512.New()
	}
	return nil
}

// encodeRecordDigest writes a digest as RECORD does.
func encodeRecordDigest(sum []byte) string {
	return base64.RawURLEncoding.EncodeToString(sum)
}
