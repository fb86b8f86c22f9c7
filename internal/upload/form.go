package upload

import (
	"bufio"
	"crypto/md5"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"golang.org/x/crypto/blake2b"

	"wharf/internal/blob"
	"wharf/internal/httperror"
)

// Bounds on the non-file part of the form: a long description is the largest field a real client sends.
const (
	bodyBuffer     = 64 << 10
	maxFieldBytes  = 4 << 20
	maxFormBytes   = 8 << 20
	maxFieldValues = 2000
)

// form is the multipart body of an upload with the file streamed into staged storage as it arrives.
type form struct {
	values   map[string][]string
	filename string
	file     blob.Writer
	md5      hash.Hash
	blake2   hash.Hash
}

func mustBlake2() hash.Hash {
	h, err := blake2b.New256(nil)
	if err != nil {
		panic(err) // only fails for an over-long key, and there is none
	}
	return h
}

func (f *form) get(name string) string {
	if v := f.values[name]; len(v) > 0 {
		return strings.TrimSpace(v[0])
	}
	return ""
}

// readForm streams the multipart body: fields into memory with bounds, the "content" part through sink (which
// hashes and stages it). The order of parts does not matter, and the file is never held in memory whole.
func readForm(r *http.Request, newStaged func() (blob.Writer, error), maxFile int64) (*form, error) {
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/form-data" || params["boundary"] == "" {
		return nil, httperror.New(http.StatusBadRequest, "Invalid request: the upload must be a multipart/form-data POST.")
	}
	// A multipart reader reads 4 KiB at a time; read from the connection in larger pieces (a 20 MiB upload: 320
	// reads instead of 5,000).
	mr := multipart.NewReader(bufio.NewReaderSize(r.Body, bodyBuffer), params["boundary"])
	f := &form{values: map[string][]string{}}
	fail := func(err error) (*form, error) {
		if f.file != nil {
			f.file.Abort()
		}
		return nil, err
	}
	var formBytes int64
	values := 0
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fail(bodyError(err, maxFile))
		}
		name := part.FormName()
		if name == "content" {
			if f.file != nil {
				return fail(httperror.New(http.StatusBadRequest, "Invalid request: the form has more than one file."))
			}
			// Not part.FileName(): it applies filepath.Base, and a name with slashes must be refused, not shortened.
			f.filename = rawFilename(part)
			st, err := newStaged()
			if err != nil {
				return fail(err)
			}
			f.file = st
			f.md5, f.blake2 = md5.New(), mustBlake2()
			n, err := hashWhileCopying(st, io.LimitReader(part, maxFile+1), f.md5, f.blake2)
			if err != nil {
				return fail(bodyError(err, maxFile))
			}
			if n > maxFile {
				return fail(tooLarge(maxFile))
			}
			continue
		}
		if values++; values > maxFieldValues {
			return fail(httperror.New(http.StatusBadRequest, "Invalid request: too many form fields."))
		}
		b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		if err != nil {
			return fail(bodyError(err, maxFile))
		}
		if len(b) > maxFieldBytes {
			return fail(httperror.New(http.StatusBadRequest, "Invalid request: the field %q is too long.", name))
		}
		if formBytes += int64(len(b)); formBytes > maxFormBytes {
			return fail(httperror.New(http.StatusBadRequest, "Invalid request: the form fields are too large."))
		}
		f.values[name] = append(f.values[name], string(b))
	}
	return f, nil
}

// rawFilename reads the filename parameter as sent, so that validation sees path separators.
func rawFilename(p *multipart.Part) string {
	_, params, err := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
	if err != nil {
		return ""
	}
	return params["filename"]
}

func bodyError(err error, maxFile int64) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge(maxFile)
	}
	return httperror.Wrap(err, http.StatusBadRequest, "Invalid request: the upload body could not be read.")
}

func tooLarge(maxFile int64) error {
	return httperror.New(http.StatusRequestEntityTooLarge,
		"File too large. Limit for a file is %s. Ask the administrators of this index for a larger limit.", humanSize(maxFile))
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}
