// Package webauthntest is a software WebAuthn authenticator together with the browser around it, for tests. Given
// the options JSON a relying party hands to navigator.credentials.create or get, it returns the JSON a browser posts
// back (PublicKeyCredential.toJSON(): base64url fields), with "none" attestation and ES256 or EdDSA keys. Options
// bend every part of that response, so that tests can show each refusal of a verifier.
package webauthntest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// COSE algorithm identifiers.
const (
	ES256 = -7
	EdDSA = -8
	ES384 = -35
	RS256 = -257
)

// Errors a browser would report instead of a response.
var (
	// ErrExcluded: the authenticator holds a credential in excludeCredentials (the browser's InvalidStateError).
	ErrExcluded = errors.New("webauthntest: authenticator already registered for this account")
	// ErrNoCredential: no credential of this authenticator fits the request (the browser's NotAllowedError).
	ErrNoCredential = errors.New("webauthntest: no matching credential")
	// ErrNoAlgorithm: pubKeyCredParams offers neither ES256 nor EdDSA (the browser's NotSupportedError).
	ErrNoAlgorithm = errors.New("webauthntest: no supported algorithm offered")
)

var b64 = base64.RawURLEncoding

// Authenticator is one security key with the browser it is plugged into: rpID and origin are what an honest
// browser on the relying party's page reports. It is safe for concurrent use.
type Authenticator struct {
	rpID, origin string
	aaguid       [16]byte

	mu    sync.Mutex
	creds []*credential // registration order
}

type credential struct {
	id         []byte
	rpID       string
	alg        int
	key        crypto.Signer
	userHandle []byte
	resident   bool
	count      uint32
	be, bs     bool
}

// New returns an authenticator with no credentials that answers as a browser at origin would, for rpID.
func New(rpID, origin string) *Authenticator {
	a := &Authenticator{rpID: rpID, origin: origin}
	rand.Read(a.aaguid[:])
	return a
}

// Clone returns an authenticator holding copies of a's credentials, counters included: what an attacker who
// extracted the keys would have.
func (a *Authenticator) Clone() *Authenticator {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := &Authenticator{rpID: a.rpID, origin: a.origin, aaguid: a.aaguid}
	for _, cr := range a.creds {
		cp := *cr
		c.creds = append(c.creds, &cp)
	}
	return c
}

// CredentialIDs returns the ids of the credentials made so far, oldest first.
func (a *Authenticator) CredentialIDs() [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	var ids [][]byte
	for _, c := range a.creds {
		ids = append(ids, bytes.Clone(c.id))
	}
	return ids
}

// Option bends one part of a response. Unless said otherwise an option applies to both Register and Assert.
type Option func(*settings)

type settings struct {
	up, uv        bool
	count         *uint32
	origin, rpID  *string
	typ           *string
	credType      *string
	challenge     []byte
	badSignature  bool
	be, bs        *bool
	alg           *int
	credentialID  []byte
	userHandle    []byte
	userHandleSet bool
	resident      *bool
	use           []byte
	transports    []string
	attachment    string
}

// UserPresent sets the UP flag (default true).
func UserPresent(b bool) Option { return func(s *settings) { s.up = b } }

// UserVerified sets the UV flag (default true: a PIN or fingerprint was checked).
func UserVerified(b bool) Option { return func(s *settings) { s.uv = b } }

// SignCount makes the authenticator report n as its signature counter, and keep n as the credential's counter.
// By default registration reports 0 and each assertion one more than the last; a synced passkey, which reports 0
// every time, is SignCount(0) on each call.
func SignCount(n uint32) Option { return func(s *settings) { s.count = &n } }

// Origin reports another origin in clientDataJSON.
func Origin(o string) Option { return func(s *settings) { s.origin = &o } }

// RPID hashes another relying party id into the authenticator data (the options' rp.id / rpId is ignored).
func RPID(id string) Option { return func(s *settings) { s.rpID = &id } }

// Type reports another ceremony type in clientDataJSON ("webauthn.create" / "webauthn.get" by default).
func Type(t string) Option { return func(s *settings) { s.typ = &t } }

// CredentialType reports another credential type than "public-key" in the outer JSON.
func CredentialType(t string) Option { return func(s *settings) { s.credType = &t } }

// Challenge reports another challenge in clientDataJSON.
func Challenge(c []byte) Option { return func(s *settings) { s.challenge = bytes.Clone(c) } }

// BadSignature makes Assert send a signature that does not verify.
func BadSignature() Option { return func(s *settings) { s.badSignature = true } }

// Flags sets the backup eligible and backup state flags. On Register the credential keeps them for later
// assertions (default false, false: a hardware key); on Assert they apply to that response only.
func Flags(be, bs bool) Option { return func(s *settings) { s.be, s.bs = &be, &bs } }

// Alg makes Register create a credential of COSE algorithm x whatever the options offer. ES256 and EdDSA make real
// keys; any other value labels an ES256 key with x, enough for a verifier to refuse the algorithm.
func Alg(x int) Option { return func(s *settings) { s.alg = &x } }

// CredentialID makes Register give the new credential this id, even one already registered or over-long (and it
// then skips the excludeCredentials check); it makes Assert report this id while signing with the credential it
// would otherwise use.
func CredentialID(id []byte) Option { return func(s *settings) { s.credentialID = bytes.Clone(id) } }

// UserHandle makes Assert report this user handle (nil: none) instead of the credential's.
func UserHandle(h []byte) Option {
	return func(s *settings) { s.userHandle, s.userHandleSet = bytes.Clone(h), true }
}

// Resident makes Register create a discoverable credential or not, whatever residentKey asks.
func Resident(b bool) Option { return func(s *settings) { s.resident = &b } }

// Use makes Assert answer with the credential of this id, even one not in allowCredentials.
func Use(id []byte) Option { return func(s *settings) { s.use = bytes.Clone(id) } }

// Transports sets the transports Register reports (default ["usb"]).
func Transports(t ...string) Option { return func(s *settings) { s.transports = t } }

// Attachment sets authenticatorAttachment (default "cross-platform").
func Attachment(a string) Option { return func(s *settings) { s.attachment = a } }

func newSettings(opts []Option) *settings {
	s := &settings{up: true, uv: true, transports: []string{"usb"}, attachment: "cross-platform"}
	for _, o := range opts {
		o(s)
	}
	return s
}

// The subset of the options JSON an authenticator and browser read.
type creationOptions struct {
	RP struct {
		ID string `json:"id"`
	} `json:"rp"`
	User struct {
		ID string `json:"id"`
	} `json:"user"`
	Challenge        string                       `json:"challenge"`
	PubKeyCredParams []struct{ Alg int }          `json:"pubKeyCredParams"`
	Exclude          []descriptor                 `json:"excludeCredentials"`
	Selection        struct{ ResidentKey string } `json:"authenticatorSelection"`
}

type requestOptions struct {
	Challenge string       `json:"challenge"`
	RPID      string       `json:"rpId"`
	Allow     []descriptor `json:"allowCredentials"`
}

type descriptor struct {
	ID string `json:"id"`
}

// unwrap accepts {"publicKey": {...}} as the relying party sends it, or the inner object alone.
func unwrap(optionsJSON []byte, v any) error {
	var outer struct {
		PublicKey json.RawMessage `json:"publicKey"`
	}
	if err := json.Unmarshal(optionsJSON, &outer); err != nil {
		return fmt.Errorf("webauthntest: options: %w", err)
	}
	inner := []byte(outer.PublicKey)
	if len(inner) == 0 {
		inner = optionsJSON
	}
	if err := json.Unmarshal(inner, v); err != nil {
		return fmt.Errorf("webauthntest: options: %w", err)
	}
	return nil
}

// Register answers navigator.credentials.create(options) with a new credential. Like a real authenticator it keeps
// the credential whether or not the relying party then accepts it.
func (a *Authenticator) Register(optionsJSON []byte, opts ...Option) ([]byte, error) {
	s := newSettings(opts)
	var o creationOptions
	if err := unwrap(optionsJSON, &o); err != nil {
		return nil, err
	}
	challenge, err := b64.DecodeString(o.Challenge)
	if err != nil {
		return nil, fmt.Errorf("webauthntest: challenge: %w", err)
	}
	userHandle, err := b64.DecodeString(o.User.ID)
	if err != nil {
		return nil, fmt.Errorf("webauthntest: user.id: %w", err)
	}
	rpID := o.RP.ID
	if rpID == "" {
		rpID = a.rpID
	}

	alg := 0
	if s.alg != nil {
		alg = *s.alg
	} else {
		for _, p := range o.PubKeyCredParams {
			if p.Alg == ES256 || p.Alg == EdDSA {
				alg = p.Alg
				break
			}
		}
		if alg == 0 {
			return nil, ErrNoAlgorithm
		}
	}
	c := &credential{rpID: rpID, alg: alg, userHandle: userHandle}
	if alg == EdDSA {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		c.key = priv
	} else {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		c.key = priv
	}
	if s.credentialID != nil {
		c.id = s.credentialID
	} else {
		c.id = make([]byte, 32)
		rand.Read(c.id)
		if a.holdsAny(rpID, o.Exclude) {
			return nil, ErrExcluded
		}
	}
	c.resident = o.Selection.ResidentKey == "required" || o.Selection.ResidentKey == "preferred"
	if s.resident != nil {
		c.resident = *s.resident
	}
	if s.be != nil {
		c.be, c.bs = *s.be, *s.bs
	}
	if s.count != nil {
		c.count = *s.count
	}

	coseKey, err := c.coseKey()
	if err != nil {
		return nil, err
	}
	authData := a.authData(s, rpID, c.be, c.bs, c.count, true)
	authData = append(authData, a.aaguid[:]...)
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(c.id)))
	authData = append(authData, c.id...)
	authData = append(authData, coseKey...)

	attObj, err := encMode.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		return nil, err
	}
	clientData := a.clientData(s, "webauthn.create", challenge)
	spki, err := x509.MarshalPKIXPublicKey(c.key.Public())
	if err != nil {
		return nil, err
	}

	a.mu.Lock()
	a.creds = append(a.creds, c)
	a.mu.Unlock()

	return a.envelope(s, c.id, map[string]any{
		"clientDataJSON":     b64.EncodeToString(clientData),
		"attestationObject":  b64.EncodeToString(attObj),
		"authenticatorData":  b64.EncodeToString(authData),
		"publicKey":          b64.EncodeToString(spki),
		"publicKeyAlgorithm": alg,
		"transports":         s.transports,
	})
}

// Assert answers navigator.credentials.get(options): with the first credential in allowCredentials it holds, or,
// when the list is empty, with its newest discoverable credential for the relying party.
func (a *Authenticator) Assert(optionsJSON []byte, opts ...Option) ([]byte, error) {
	s := newSettings(opts)
	var o requestOptions
	if err := unwrap(optionsJSON, &o); err != nil {
		return nil, err
	}
	challenge, err := b64.DecodeString(o.Challenge)
	if err != nil {
		return nil, fmt.Errorf("webauthntest: challenge: %w", err)
	}
	rpID := o.RPID
	if rpID == "" {
		rpID = a.rpID
	}

	a.mu.Lock()
	c := a.pick(rpID, o.Allow, s.use)
	if c == nil {
		a.mu.Unlock()
		return nil, ErrNoCredential
	}
	if s.count != nil {
		c.count = *s.count
	} else {
		c.count++
	}
	count, be, bs := c.count, c.be, c.bs
	key, id, userHandle, resident := c.key, c.id, c.userHandle, c.resident
	a.mu.Unlock()

	if s.be != nil {
		be, bs = *s.be, *s.bs
	}
	authData := a.authData(s, rpID, be, bs, count, false)
	clientData := a.clientData(s, "webauthn.get", challenge)
	hash := sha256.Sum256(clientData)
	signed := append(bytes.Clone(authData), hash[:]...)
	var sig []byte
	switch k := key.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, signed)
	case *ecdsa.PrivateKey:
		digest := sha256.Sum256(signed)
		if sig, err = ecdsa.SignASN1(rand.Reader, k, digest[:]); err != nil {
			return nil, err
		}
	}
	if s.badSignature {
		// Signing other data keeps the signature well-formed: the verifier must check it, not just parse it.
		other := append(bytes.Clone(signed), 0)
		switch k := key.(type) {
		case ed25519.PrivateKey:
			sig = ed25519.Sign(k, other)
		case *ecdsa.PrivateKey:
			digest := sha256.Sum256(other)
			sig, _ = ecdsa.SignASN1(rand.Reader, k, digest[:])
		}
	}
	if s.credentialID != nil {
		id = s.credentialID
	}
	// Authenticators return the user handle for discoverable credentials; for others browsers send null.
	var handle []byte
	if resident {
		handle = userHandle
	}
	if s.userHandleSet {
		handle = s.userHandle
	}
	response := map[string]any{
		"clientDataJSON":    b64.EncodeToString(clientData),
		"authenticatorData": b64.EncodeToString(authData),
		"signature":         b64.EncodeToString(sig),
		"userHandle":        nil,
	}
	if handle != nil {
		response["userHandle"] = b64.EncodeToString(handle)
	}
	return a.envelope(s, id, response)
}

// holdsAny reports whether one of the excluded credentials is on this authenticator.
func (a *Authenticator) holdsAny(rpID string, exclude []descriptor) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, d := range exclude {
		id, err := b64.DecodeString(d.ID)
		if err != nil {
			continue
		}
		for _, c := range a.creds {
			if c.rpID == rpID && bytes.Equal(c.id, id) {
				return true
			}
		}
	}
	return false
}

// pick chooses the credential to answer with; a.mu is held.
func (a *Authenticator) pick(rpID string, allow []descriptor, use []byte) *credential {
	if use != nil {
		for _, c := range a.creds {
			if bytes.Equal(c.id, use) {
				return c
			}
		}
		return nil
	}
	if len(allow) > 0 {
		for _, d := range allow {
			id, err := b64.DecodeString(d.ID)
			if err != nil {
				continue
			}
			for _, c := range a.creds {
				if c.rpID == rpID && bytes.Equal(c.id, id) {
					return c
				}
			}
		}
		return nil
	}
	for _, c := range slices.Backward(a.creds) {
		if c.rpID == rpID && c.resident {
			return c
		}
	}
	return nil
}

// authData is rpIdHash || flags || signCount; with at, the AT flag says attested credential data will follow.
func (a *Authenticator) authData(s *settings, rpID string, be, bs bool, count uint32, at bool) []byte {
	if s.rpID != nil {
		rpID = *s.rpID
	}
	h := sha256.Sum256([]byte(rpID))
	var flags byte
	for _, f := range []struct {
		on  bool
		bit byte
	}{{s.up, 0x01}, {s.uv, 0x04}, {be, 0x08}, {bs, 0x10}, {at, 0x40}} {
		if f.on {
			flags |= f.bit
		}
	}
	out := append(h[:], flags)
	return binary.BigEndian.AppendUint32(out, count)
}

func (a *Authenticator) clientData(s *settings, typ string, challenge []byte) []byte {
	origin := a.origin
	if s.origin != nil {
		origin = *s.origin
	}
	if s.typ != nil {
		typ = *s.typ
	}
	if s.challenge != nil {
		challenge = s.challenge
	}
	// Field order as browsers write it; encoding/json keeps struct order.
	b, _ := json.Marshal(struct {
		Type        string `json:"type"`
		Challenge   string `json:"challenge"`
		Origin      string `json:"origin"`
		CrossOrigin bool   `json:"crossOrigin"`
	}{typ, b64.EncodeToString(challenge), origin, false})
	return b
}

func (a *Authenticator) envelope(s *settings, id []byte, response map[string]any) ([]byte, error) {
	typ := "public-key"
	if s.credType != nil {
		typ = *s.credType
	}
	return json.Marshal(map[string]any{
		"id":                      b64.EncodeToString(id),
		"rawId":                   b64.EncodeToString(id),
		"type":                    typ,
		"response":                response,
		"clientExtensionResults":  map[string]any{},
		"authenticatorAttachment": s.attachment,
	})
}

// CTAP2 canonical CBOR: COSE keys and attestation objects are compared and hashed byte for byte.
var encMode, _ = cbor.CTAP2EncOptions().EncMode()

func (c *credential) coseKey() ([]byte, error) {
	switch k := c.key.(type) {
	case ed25519.PrivateKey:
		return encMode.Marshal(map[int]any{1: 1, 3: c.alg, -1: 6, -2: []byte(k.Public().(ed25519.PublicKey))})
	case *ecdsa.PrivateKey:
		pub, err := k.PublicKey.Bytes() // 0x04 || x || y
		if err != nil {
			return nil, err
		}
		return encMode.Marshal(map[int]any{1: 2, 3: c.alg, -1: 1, -2: pub[1:33], -3: pub[33:65]})
	}
	return nil, errors.New("webauthntest: unknown key type")
}
