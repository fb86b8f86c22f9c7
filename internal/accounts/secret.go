package accounts

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// secretBytes is the entropy of session tokens and mailed links: 256 bits, twice the 128 that S1 asks for.
const secretBytes = 32

// newSecret returns a fresh random token for a cookie or a link, and the hash under which the database keeps it.
func newSecret() (token, hash string, err error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("random token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashOf(token), nil
}

// hashSecret returns the database key of a token presented by a client, and false for anything that newSecret
// cannot have made: such input never reaches a query.
func hashSecret(token string) (string, bool) {
	if len(token) != base64.RawURLEncoding.EncodedLen(secretBytes) {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
		return "", false
	}
	return hashOf(token), true
}

// A plain SHA-256 suffices, unlike for passwords: the tokens have 256 bits of entropy, so there is nothing to guess.
func hashOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
