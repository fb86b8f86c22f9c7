package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"wharf/internal/audit"
	"wharf/internal/publishing"
)

// Minter exchanges CI jobs' OIDC tokens for upload tokens (Trusted Publishing).
type Minter interface {
	Audience() string
	Mint(ctx context.Context, raw string, from audit.Request) (publishing.Minted, error)
}

// WithPublishing serves Trusted Publishing's exchange at /_/oidc/.
func WithPublishing(m Minter) Option { return func(s *Server) { s.minter = m } }

// oidcAudience answers GET /_/oidc/audience: the aud a CI job asks its issuer for, as PyPI answers it
// ({"audience": "..."}), so pypa/gh-action-pypi-publish and uv find it the same way.
func (s *Server) oidcAudience(w http.ResponseWriter, r *http.Request) error {
	if s.minter == nil {
		return writeMintError(w, http.StatusForbidden, "not-enabled", "Trusted publishing functionality not enabled")
	}
	return writeJSON(w, http.StatusOK, map[string]string{"audience": s.minter.Audience()})
}

// maxMintBody bounds the exchange's body: an OIDC token is a few kilobytes.
const maxMintBody = 64 << 10

// mintToken answers POST /_/oidc/mint-token with {"token": "<JWT>"} in PyPI's shapes: {"success": true, "token":
// ..., "expires": unix seconds}, or 422 with {"message": "Token request failed", "errors": [{"code", "description"}]}.
func (s *Server) mintToken(w http.ResponseWriter, r *http.Request) error {
	if s.minter == nil {
		return writeMintError(w, http.StatusForbidden, "not-enabled", "Trusted publishing functionality not enabled")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxMintBody))
	if err != nil {
		return writeMintError(w, http.StatusUnprocessableEntity, publishing.CodeInvalidPayload, "the payload is larger than 64 KiB or was not read")
	}
	var payload map[string]json.RawMessage
	var token string
	if json.Unmarshal(body, &payload) != nil || len(payload) != 1 || payload["token"] == nil ||
		json.Unmarshal(payload["token"], &token) != nil || strings.TrimSpace(token) == "" {
		return writeMintError(w, http.StatusUnprocessableEntity, publishing.CodeInvalidPayload,
			`the payload must be a JSON object {"token": "<OIDC token>"}, with nothing else`)
	}
	minted, err := s.minter.Mint(r.Context(), token, audit.Request{IP: peerIP(r), UserAgent: r.UserAgent()})
	var refused *publishing.MintError
	if errors.As(err, &refused) {
		return writeMintError(w, http.StatusUnprocessableEntity, refused.Code, refused.Description)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"success": true, "token": minted.Token, "expires": minted.Expires.Unix()})
}

func writeMintError(w http.ResponseWriter, status int, code, description string) error {
	return writeJSON(w, status, map[string]any{
		"message": "Token request failed",
		"errors":  []map[string]string{{"code": code, "description": description}},
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}
