package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"strconv"

	"golang.org/x/crypto/hkdf"
)

// sealer encrypts TOTP secrets at rest, so that a copy of the database alone produces no codes: the key comes from
// the server secret, which is not in the database.
type sealer struct{ aead cipher.AEAD }

// The info string versions the derivation: a future change of scheme gets a new key rather than reinterpreting old
// rows.
const sealInfo = "wharf-totp-v1"

func newSealer(serverSecret []byte) (sealer, error) {
	if len(serverSecret) < 32 {
		return sealer{}, errors.New("mfa: server secret shorter than 32 bytes")
	}
	key := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, serverSecret, nil, []byte(sealInfo)), key); err != nil {
		return sealer{}, fmt.Errorf("mfa: derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return sealer{}, fmt.Errorf("mfa: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sealer{}, fmt.Errorf("mfa: %w", err)
	}
	return sealer{aead}, nil
}

// additional binds a ciphertext to its user: copying one user's row onto another's account does not open.
func additional(userID int64) []byte {
	return []byte(sealInfo + " user " + strconv.FormatInt(userID, 10))
}

// seal returns nonce || ciphertext. Random 96-bit nonces are safe here: a key seals one secret per enrolment, far
// below GCM's 2^32 limit for random nonces.
func (s sealer) seal(userID int64, secret []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(secret)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, secret, additional(userID))
}

func (s sealer) open(userID int64, sealed []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, ErrSealed
	}
	secret, err := s.aead.Open(nil, sealed[:n], sealed[n:], additional(userID))
	if err != nil {
		return nil, ErrSealed
	}
	return secret, nil
}
