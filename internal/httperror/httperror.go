// Package httperror is the shape of the errors that handlers return: a status and a message for the client, with
// the cause kept for the log. One function in internal/server turns them into responses.
package httperror

import (
	"fmt"
	"net/http"
)

// Error is a failure with an answer for the client.
type Error struct {
	Status  int
	Message string // shown to the client; never holds secrets
	Err     error  // the cause, for the log only
	Header  http.Header
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%d %s: %v", e.Status, e.Message, e.Err)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error with a status and a client message.
func New(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// Wrap returns an error with a status and a client message that keeps its cause for the log.
func Wrap(err error, status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...), Err: err}
}

// Handler is an http.Handler that returns its failure instead of writing it.
type Handler func(http.ResponseWriter, *http.Request) error
