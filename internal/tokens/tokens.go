// Package tokens mints and verifies wharf's API tokens: macaroon-style bearer
// tokens whose caveats (the user, the projects, a validity window) are bound
// to the token by an HMAC chain. Anyone holding a token can narrow it by
// appending caveats without the server key, but nobody can remove or loosen
// one, and nothing the database stores (the id, the caveats for display) is
// enough to recreate a token. This package is pure: no storage, no HTTP, and
// time is passed in.
//
// # Token format (version 1)
//
// A token is Prefix followed by the unpadded base64url encoding (RFC 4648 §5)
// of these bytes:
//
//	version    1 byte, 0x01
//	id         16 random bytes; ParseID returns them as 32 lowercase hex digits
//	caveats    zero or more of: length (minimal unsigned varint, >= 1) then that
//	           many bytes of one caveat in canonical JSON
//	signature  32 bytes, the end of the HMAC-SHA256 chain
//
// The caveats run up to the last 32 bytes; there is no count field. Every
// token has exactly one encoding (strict base64, minimal varints, canonical
// JSON), so a token that verifies cannot be rewritten into another string
// that also verifies.
//
// The chain, with hexID the id as 32 lowercase hex digits:
//
//	root  = HMAC-SHA256(serverKey, "wharf-token-v1" || hexID)
//	sig0  = HMAC-SHA256(root, hexID)
//	sig_i = HMAC-SHA256(sig_{i-1}, caveat_i)
//
// Caveats are JSON objects with exactly one member, encoded as encoding/json
// encodes them (compact, no spaces):
//
//	{"user":7}              the token acts for user 7 (repeats must agree)
//	{"publisher":true}      the token was minted for Trusted Publishing: it acts for the
//	                        publishers its database record names, and for no user
//	{"projects":["a","b"]}  only these projects: sorted, no duplicates, PEP 503
//	                        normalised; several such caveats intersect
//	{"nbf":1700000000}      not valid before this Unix time (seconds)
//	{"exp":1700003600}      not valid at or after this Unix time (seconds)
//
// Every token has exactly one of user and publisher. An unknown caveat kind,
// or a caveat in any other encoding, makes the token malformed: a verifier that ignored a caveat it did not understand would
// widen the token.
//
// Every version 1 token starts with "wharf-A" and a letter from Q to f (the version
// byte, then the first bits of the id). One with a user and an expiry
// is about 118 characters; a projects caveat adds about 20 plus its names.
package tokens

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Prefix starts every token, so secret scanners and our own log filters can
// recognise one.
const Prefix = "wharf-"

const (
	// MaxTokenLen bounds the input Verify will look at, so a hostile
	// Authorization header costs little, and keeps tokens usable in headers.
	MaxTokenLen = 4096
	// MaxCaveats bounds the HMAC work an input can demand.
	MaxCaveats = 32
	// MinKeyLen is the shortest server key NewMinter accepts: HMAC-SHA256
	// gains nothing from more, and loses strength with less.
	MinKeyLen = 32
)

const (
	formatVersion = 1
	idLen         = 16
	sigLen        = sha256.Size
	// rootContext separates token root keys from anything else the server
	// key may be used for, and names the format version.
	rootContext = "wharf-token-v1"
)

// Errors from Verify, ParseID and Attenuate; match them with errors.Is.
var (
	ErrMalformed    = errors.New("malformed token")
	ErrBadSignature = errors.New("token signature does not match")
	ErrExpired      = errors.New("token has expired")
	ErrNotYetValid  = errors.New("token is not valid yet")
	ErrNoProjects   = errors.New("token allows no project")
	// ErrInvalidCaveats reports caveats that Mint or Attenuate refuse to
	// encode: no user, a name that is not normalised, an empty validity
	// window, or more than fits in a token.
	ErrInvalidCaveats = errors.New("invalid token caveats")
)

// b64 is strict so that the unused bits of the last character must be zero:
// otherwise several strings would decode to the same token.
var b64 = base64.RawURLEncoding.Strict()

// Caveats are the restrictions written into a token. The zero value of each
// field means "no restriction of this kind".
type Caveats struct {
	UserID    int64     // the token acts for this user; Mint needs it or Publisher, not both
	Publisher bool      // a Trusted Publishing token
	Projects  []string  // normalised project names; empty = every project the user may upload to
	NotBefore time.Time // zero = none; rounded up to the second
	Expires   time.Time // zero = none; rounded down to the second
}

// Minter holds the server key. It is safe for concurrent use.
type Minter struct {
	key []byte
}

// NewMinter returns a Minter for secretKey, which must be at least MinKeyLen
// bytes. The key is copied.
func NewMinter(secretKey []byte) (*Minter, error) {
	if len(secretKey) < MinKeyLen {
		return nil, fmt.Errorf("tokens: new minter: key is %d bytes, need at least %d", len(secretKey), MinKeyLen)
	}
	return &Minter{key: slices.Clone(secretKey)}, nil
}

// Mint returns a new token with caveats c and its id, which is what the
// database stores and what the disclosure endpoint looks up. c needs a
// UserID or Publisher, not both.
func (m *Minter) Mint(c Caveats) (token, id string, err error) {
	var raw [idLen]byte
	rand.Read(raw[:]) // never fails since Go 1.24: it crashes the program instead
	token, err = m.mint(raw, c)
	if err != nil {
		return "", "", fmt.Errorf("tokens: mint: %w", err)
	}
	return token, hex.EncodeToString(raw[:]), nil
}

// mint is Mint with the id chosen by the caller, so tests can be
// deterministic.
func (m *Minter) mint(id [idLen]byte, c Caveats) (string, error) {
	if c.UserID < 0 || (c.UserID > 0) == c.Publisher {
		return "", fmt.Errorf("user id %d, publisher %t: %w", c.UserID, c.Publisher, ErrInvalidCaveats)
	}
	cavs, err := c.encode()
	if err != nil {
		return "", err
	}
	t := rawToken{id: id, caveats: cavs}
	copy(t.sig[:], m.chain(id, cavs))
	return t.encode()
}

// Attenuate returns token with the caveats in c appended. It needs no key:
// each new caveat extends the HMAC chain from the token's signature, and
// caveats only ever restrict (they are ANDed), so the result can do at most
// what token could. It keeps the token's id, so revoking the original also
// revokes every token derived from it.
//
// A UserID that differs from the token's user is refused, since the result
// could never verify; the same UserID adds nothing. A zero c returns token
// unchanged.
func Attenuate(token string, c Caveats) (string, error) {
	t, err := decode(token)
	if err != nil {
		return "", fmt.Errorf("tokens: attenuate: %w", err)
	}
	if c.UserID < 0 || c.Publisher {
		return "", fmt.Errorf("tokens: attenuate: only narrowing caveats can be added: %w", ErrInvalidCaveats)
	}
	if c.UserID != 0 {
		// The caveats are not authenticated here; reading them only lets us
		// refuse early a result that could never verify.
		for _, raw := range t.caveats {
			cv, err := parseCaveat(raw)
			if err != nil {
				return "", fmt.Errorf("tokens: attenuate: %w", err)
			}
			if cv.kind == kindUser && cv.n != c.UserID {
				return "", fmt.Errorf("tokens: attenuate: user %d conflicts with the token's user: %w", c.UserID, ErrInvalidCaveats)
			}
		}
		c.UserID = 0
	}
	cavs, err := c.encode()
	if err != nil {
		return "", fmt.Errorf("tokens: attenuate: %w", err)
	}
	if len(cavs) == 0 {
		return token, nil
	}
	sig := t.sig[:]
	for _, cv := range cavs {
		sig = mac(sig, cv)
	}
	t.caveats = append(t.caveats, cavs...)
	copy(t.sig[:], sig)
	out, err := t.encode()
	if err != nil {
		return "", fmt.Errorf("tokens: attenuate: %w", err)
	}
	return out, nil
}

// Verified is what a token that passed Verify allows.
type Verified struct {
	ID     string
	UserID int64 // 0 for a Trusted Publishing token
	// Publisher says the token was minted for Trusted Publishing.
	Publisher bool
	// Projects is nil when the token allows every project its user may
	// upload to; otherwise the sorted intersection of its projects caveats,
	// never empty.
	Projects []string
	// NotBefore and Expires are the tightest bounds of the token's caveats;
	// zero when it has none of that kind.
	NotBefore, Expires time.Time
}

// Verify checks token's signature against the server key and its caveats at
// now, and returns what it allows. Only the signature is checked before the
// caveats are parsed, so unauthenticated input never reaches the JSON parser.
func (m *Minter) Verify(token string, now time.Time) (Verified, error) {
	t, err := decode(token)
	if err != nil {
		return Verified{}, fmt.Errorf("tokens: verify: %w", err)
	}
	if !hmac.Equal(m.chain(t.id, t.caveats), t.sig[:]) {
		return Verified{}, fmt.Errorf("tokens: verify: %w", ErrBadSignature)
	}
	v, err := evaluate(t)
	if err != nil {
		return Verified{}, fmt.Errorf("tokens: verify: %w", err)
	}
	if !v.NotBefore.IsZero() && now.Before(v.NotBefore) {
		return Verified{}, fmt.Errorf("tokens: verify: %w", ErrNotYetValid)
	}
	if !v.Expires.IsZero() && !now.Before(v.Expires) {
		return Verified{}, fmt.Errorf("tokens: verify: %w", ErrExpired)
	}
	if v.Projects != nil && len(v.Projects) == 0 {
		return Verified{}, fmt.Errorf("tokens: verify: %w", ErrNoProjects)
	}
	return v, nil
}

// Authenticate checks only that token was minted with this server key (or
// attenuated from such a token) and returns its id; it ignores what the
// caveats say. It is for the leaked-token disclosure endpoint, which must
// revoke an expired token too, but must not let someone who merely knows a
// token's id (from a screenshot of the token list, say) revoke it.
func (m *Minter) Authenticate(token string) (id string, err error) {
	t, err := decode(token)
	if err != nil {
		return "", fmt.Errorf("tokens: authenticate: %w", err)
	}
	if !hmac.Equal(m.chain(t.id, t.caveats), t.sig[:]) {
		return "", fmt.Errorf("tokens: authenticate: %w", ErrBadSignature)
	}
	return hex.EncodeToString(t.id[:]), nil
}

// ParseID returns the id of token without verifying it: enough to look a
// token up for display. Never treat the result as proof of anything; to act
// on a reported token, use Authenticate.
func ParseID(token string) (string, error) {
	t, err := decode(token)
	if err != nil {
		return "", fmt.Errorf("tokens: parse id: %w", err)
	}
	return hex.EncodeToString(t.id[:]), nil
}

// AllowsProject reports whether v allows uploads to the project with the
// given normalised name. A Verified that did not come from a successful
// Verify (no id or no user) allows nothing, so an ignored error cannot turn
// into an all-projects grant.
func (v Verified) AllowsProject(normalisedName string) bool {
	if v.ID == "" || v.UserID <= 0 && !v.Publisher {
		return false
	}
	if v.Projects == nil {
		return true
	}
	return slices.Contains(v.Projects, normalisedName)
}

// chain computes the signature of a token with this id and these caveats.
func (m *Minter) chain(id [idLen]byte, caveats [][]byte) []byte {
	var hexID [2 * idLen]byte
	hex.Encode(hexID[:], id[:])
	root := mac(m.key, append([]byte(rootContext), hexID[:]...))
	sig := mac(root, hexID[:])
	for _, c := range caveats {
		sig = mac(sig, c)
	}
	return sig
}

func mac(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// rawToken is a token's binary form before signature checks.
type rawToken struct {
	id      [idLen]byte
	caveats [][]byte
	sig     [sigLen]byte
}

func (t rawToken) encode() (string, error) {
	if len(t.caveats) > MaxCaveats {
		return "", fmt.Errorf("%d caveats, at most %d: %w", len(t.caveats), MaxCaveats, ErrInvalidCaveats)
	}
	b := make([]byte, 0, 1+idLen+sigLen+64*len(t.caveats))
	b = append(b, formatVersion)
	b = append(b, t.id[:]...)
	for _, c := range t.caveats {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	b = append(b, t.sig[:]...)
	if n := len(Prefix) + b64.EncodedLen(len(b)); n > MaxTokenLen {
		return "", fmt.Errorf("token would be %d characters, at most %d: %w", n, MaxTokenLen, ErrInvalidCaveats)
	}
	return Prefix + b64.EncodeToString(b), nil
}

// decode parses the binary structure of s. It checks neither the signature
// nor the caveats' content.
func decode(s string) (rawToken, error) {
	var t rawToken
	if len(s) > MaxTokenLen {
		return t, fmt.Errorf("longer than %d characters: %w", MaxTokenLen, ErrMalformed)
	}
	body, ok := strings.CutPrefix(s, Prefix)
	if !ok {
		return t, fmt.Errorf("no %q prefix: %w", Prefix, ErrMalformed)
	}
	// The base64 decoder skips CR and LF; refusing them keeps one encoding
	// per token.
	for i := 0; i < len(body); i++ {
		if !isBase64URL(body[i]) {
			return t, fmt.Errorf("invalid character: %w", ErrMalformed)
		}
	}
	raw, err := b64.DecodeString(body)
	if err != nil {
		return t, fmt.Errorf("invalid base64: %w", ErrMalformed)
	}
	if len(raw) < 1+idLen+sigLen {
		return t, fmt.Errorf("too short: %w", ErrMalformed)
	}
	if raw[0] != formatVersion {
		return t, fmt.Errorf("unknown version %d: %w", raw[0], ErrMalformed)
	}
	copy(t.id[:], raw[1:])
	copy(t.sig[:], raw[len(raw)-sigLen:])
	rest := raw[1+idLen : len(raw)-sigLen]
	var minimal [binary.MaxVarintLen64]byte
	for len(rest) > 0 {
		if len(t.caveats) == MaxCaveats {
			return rawToken{}, fmt.Errorf("more than %d caveats: %w", MaxCaveats, ErrMalformed)
		}
		n, k := binary.Uvarint(rest)
		if k <= 0 || k != binary.PutUvarint(minimal[:], n) {
			return rawToken{}, fmt.Errorf("bad caveat length: %w", ErrMalformed)
		}
		rest = rest[k:]
		if n == 0 || n > uint64(len(rest)) {
			return rawToken{}, fmt.Errorf("bad caveat length: %w", ErrMalformed)
		}
		t.caveats = append(t.caveats, rest[:n])
		rest = rest[n:]
	}
	return t, nil
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}
