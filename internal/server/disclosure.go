package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"

	"wharf/internal/audit"
	"wharf/internal/disclosure"
	"wharf/internal/httperror"
)

// Discloser acts on leaked-token reports (disclosure.Service).
type Discloser interface {
	Disclose(ctx context.Context, r disclosure.Request) error
}

// WithDisclosure serves POST /_/secrets/disclose-token, where GitHub secret scanning reports wharf tokens it found
// in public. Without it the route answers 404.
func WithDisclosure(d Discloser) Option { return func(s *Server) { s.disclosure = d } }

// discloseToken reads a leaked-token report, as PyPI's view of the same path does. Every report that is accepted
// gets 204 and no body, whatever it held, so the answer cannot tell which tokens exist (K9); a refusal is a 4xx
// with a short JSON message (see status), and 503 asks the scanner to send the report again.
func (s *Server) discloseToken(w http.ResponseWriter, r *http.Request) error {
	if s.disclosure == nil {
		return httperror.New(http.StatusNotFound, "Not Found")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, disclosure.MaxBody))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return httperror.Wrap(err, http.StatusRequestEntityTooLarge, "The body is larger than 1 MiB.")
	}
	if err != nil {
		return httperror.Wrap(err, http.StatusBadRequest, "The body could not be read.")
	}
	err = s.disclosure.Disclose(r.Context(), disclosure.Request{
		Body:      body,
		KeyID:     r.Header.Get("Github-Public-Key-Identifier"),
		Signature: r.Header.Get("Github-Public-Key-Signature"),
		From:      audit.Request{IP: peerIP(r), UserAgent: r.UserAgent()},
	})
	switch {
	case err == nil:
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
		return nil
	case errors.Is(err, disclosure.ErrNoSignature):
		return httperror.Wrap(err, http.StatusBadRequest,
			"The Github-Public-Key-Identifier and Github-Public-Key-Signature headers are required.")
	case errors.Is(err, disclosure.ErrUnknownKey):
		return httperror.Wrap(err, http.StatusBadRequest, "Unknown public key identifier.")
	case errors.Is(err, disclosure.ErrBadSignature):
		return httperror.Wrap(err, http.StatusBadRequest, "Invalid signature.")
	case errors.Is(err, disclosure.ErrTooLarge):
		return httperror.Wrap(err, http.StatusRequestEntityTooLarge, "The body is larger than 1 MiB.")
	case errors.Is(err, disclosure.ErrMalformed):
		return httperror.Wrap(err, http.StatusBadRequest, "The body is not a JSON list of reports.")
	case errors.Is(err, disclosure.ErrKeysUnavailable):
		return httperror.Wrap(err, http.StatusServiceUnavailable, "The signing keys could not be fetched. Try again later.")
	default:
		return httperror.Wrap(err, http.StatusServiceUnavailable, "The report could not be processed. Try again later.")
	}
}

// peerIP is the address the report came from, for the owner's security history; forwarding headers are not
// trusted.
func peerIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
