package pypkg

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors. Every error returned by this package wraps one of them
// (and, where one check rests on another, the inner one too: a bad version
// in a filename wraps ErrInvalidFilename and ErrInvalidVersion). Its text is
// the human message, not the sentinel's.
var (
	ErrInvalidFilename = errors.New("invalid distribution filename")
	ErrInvalidVersion  = errors.New("invalid version")
	ErrInvalidMetadata = errors.New("invalid core metadata")
	ErrInvalidArchive  = errors.New("invalid distribution file")
	ErrArchiveTooLarge = errors.New("distribution file too large")
)

// userError keeps the sentinel out of the text, so that the text can be
// shown to the package author as it is (as PyPI does with its 400 messages),
// while errors.Is still finds the sentinel and any underlying cause.
type userError struct {
	kind  error
	msg   string
	cause error
}

func (e *userError) Error() string { return e.msg }

func (e *userError) Unwrap() []error {
	if e.cause != nil {
		return []error{e.kind, e.cause}
	}
	return []error{e.kind}
}

func newError(kind error, format string, args ...any) error {
	return &userError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

func wrapError(kind, cause error, format string, args ...any) error {
	return &userError{kind: kind, msg: fmt.Sprintf(format, args...), cause: cause}
}

// maxQuoted bounds how much of an untrusted string an error message repeats:
// a member name can be megabytes long and end up in logs and HTTP bodies.
const maxQuoted = 120

// quote renders untrusted text for an error message: Go-quoted so control
// characters and invalid UTF-8 cannot reach a terminal or a log unescaped.
func quote(s string) string {
	if len(s) > maxQuoted {
		return strconv.Quote(s[:maxQuoted]) + "..."
	}
	return strconv.Quote(s)
}
