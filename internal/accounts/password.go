// Package accounts holds the rules for users and their passwords, without HTTP.
package accounts

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Argon2id parameters, explicit so that a stored hash always says how it was made; the cost is DefaultCost's.
// Hasher bounds how many hashes run at once, since memory multiplies with logins.
const (
	argonThreads = 2
	argonKeyLen  = 32
	saltLen      = 16
	// MaxPasswordBytes bounds the work an attacker can make the server do per attempt; it is far above the
	// 64 characters every user may choose.
	MaxPasswordBytes = 1024
)

// Password errors, shown to the user as they are.
var (
	ErrPasswordTooShort = errors.New("password is too short")
	ErrPasswordTooLong  = errors.New("password is too long")
	ErrPasswordInvalid  = errors.New("password is not valid text")
)

// Cost is the work of one argon2id hash: Time passes over Memory KiB.
type Cost struct {
	Time, Memory uint32
}

// DefaultCost follows RFC 9106's second recommended option: 64 MiB and 3 passes.
var DefaultCost = Cost{Time: 3, Memory: 64 * 1024}

// Hasher hashes and verifies passwords with argon2id, at most a fixed number at a time.
type Hasher struct {
	MinLength int
	cost      Cost
	slots     chan struct{}
	// dummy is a hash of this cost that no password matches: a login for a missing user verifies it, so that it
	// takes as long as one for a real user.
	dummy string
}

// NewHasher allows concurrent hashes (each takes 64 MiB) and a minimum length in characters.
func NewHasher(concurrent, minLength int) *Hasher {
	return NewHasherWithCost(concurrent, minLength, DefaultCost)
}

// NewHasherWithCost is NewHasher with another cost. Tests use a small one: a test suite makes thousands of hashes,
// and what it checks (the format, the rules, one verification per login path) does not depend on the cost.
func NewHasherWithCost(concurrent, minLength int, c Cost) *Hasher {
	if concurrent < 1 {
		concurrent = 1
	}
	enc := base64.RawStdEncoding
	return &Hasher{MinLength: minLength, cost: c, slots: make(chan struct{}, concurrent),
		dummy: fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, c.Memory, c.Time, argonThreads,
			enc.EncodeToString([]byte("somesaltsomesalt")), strings.Repeat("0", 43))}
}

// normalize applies NFKC so that the same password typed on different keyboards or in NFC and NFD forms is one.
func normalize(password string) (string, error) {
	if !utf8.ValidString(password) {
		return "", ErrPasswordInvalid
	}
	if len(password) > MaxPasswordBytes {
		return "", ErrPasswordTooLong
	}
	return norm.NFKC.String(password), nil
}

// Check applies the length rules to a new password.
func (h *Hasher) Check(password string) error {
	p, err := normalize(password)
	if err != nil {
		return err
	}
	if n := utf8.RuneCountInString(p); n < h.MinLength {
		return fmt.Errorf("%w: use at least %d characters", ErrPasswordTooShort, h.MinLength)
	}
	return nil
}

// Hash returns an encoded argon2id hash of the whole password (never truncated).
func (h *Hasher) Hash(password string) (string, error) {
	p, err := normalize(password)
	if err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	h.slots <- struct{}{}
	key := argon2.IDKey([]byte(p), salt, h.cost.Time, h.cost.Memory, argonThreads, argonKeyLen)
	<-h.slots
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.cost.Memory, h.cost.Time, argonThreads,
		enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// Verify reports whether password matches the encoded hash; the parameters come from the hash itself.
func (h *Hasher) Verify(encoded, password string) (bool, error) {
	p, err := normalize(password)
	if err != nil {
		return false, nil
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("unknown password hash format")
	}
	var version int
	var memory, time uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errors.New("unknown argon2 version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil ||
		memory == 0 || memory > 1<<20 || time == 0 || time > 16 || threads == 0 {
		return false, errors.New("bad argon2 parameters")
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 {
		return false, errors.New("bad argon2 encoding")
	}
	h.slots <- struct{}{}
	got := argon2.IDKey([]byte(p), salt, time, memory, threads, uint32(len(want)))
	<-h.slots
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
