// Package oidctest runs a local OpenID Connect issuer with real keys, for tests: it serves discovery and a JWK set
// on 127.0.0.1, mints tokens signed with its RSA 2048 and EC P-256 keys (or bent in every way a verifier must
// refuse), rotates its keys, goes down on request and counts how often it is asked. It also plays the ID-token
// endpoint of GitHub Actions, so that an end-to-end script can act as a CI job.
//
// Tokens are signed here with crypto/rsa and crypto/ecdsa directly, not with the JOSE library the verifier uses,
// so that a mistake shared by signer and verifier cannot hide.
package oidctest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// Audience is the audience the claim helpers put in aud unless told otherwise.
const Audience = "wharf"

// TokenLifetime is how long the tokens of the claim helpers and of the token endpoint are valid.
const TokenLifetime = 5 * time.Minute

// Issuer is a running OpenID Connect issuer. It is safe for concurrent use.
type Issuer struct {
	t            testing.TB
	srv          *httptest.Server
	now          func() time.Time
	requestToken string

	mu               sync.Mutex
	generation       int
	rsaKey, ecKey    *key              // what Mint signs with by default
	published        []*key            // the JWK set, in order
	rawJWKs          []json.RawMessage // AddRawJWK's entries, after published
	keys             map[string]*key   // every key Mint can sign with, by kid
	foreign          map[jose.SignatureAlgorithm]*key
	down             bool
	hold             chan struct{} // non-nil while Hold holds answers
	discoveryIssuer  string        // "" means URL()
	discoveryFetches int
	jwksFetches      int
	tokenClaims      map[string]any
	tokenClaimsFunc  func(audience string) map[string]any
}

type key struct {
	kid    string
	alg    string // the JWK's alg member; "" leaves it out
	signer crypto.Signer
}

// Option configures New.
type Option func(*Issuer)

// WithClock makes the issuer read the time from now: the claim helpers and the token endpoint stamp tokens with
// it, so that tests with an injected clock get tokens valid at that clock's time.
func WithClock(now func() time.Time) Option { return func(i *Issuer) { i.now = now } }

// New starts an issuer on 127.0.0.1 with an RSA 2048 key ("rsa-1") and an EC P-256 key ("ec-1"); it stops when
// the test ends.
func New(t testing.TB, opts ...Option) *Issuer {
	t.Helper()
	i := &Issuer{
		t:            t,
		now:          time.Now,
		requestToken: randomHex(16),
		keys:         map[string]*key{},
		foreign:      map[jose.SignatureAlgorithm]*key{},
	}
	for _, o := range opts {
		o(i)
	}
	i.Rotate()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("GET /jwks", i.serveJWKS)
	mux.HandleFunc("GET /token", i.serveToken)
	i.srv = httptest.NewServer(mux)
	t.Cleanup(i.srv.Close)
	return i
}

// URL is the issuer URL, as iss and the discovery document spell it (http://127.0.0.1:port, no trailing slash).
func (i *Issuer) URL() string { return i.srv.URL }

// Client returns an HTTP client that answers requests in-process with the issuer's handlers, without the network.
// Inside a testing/synctest bubble everything it does then belongs to the bubble, so that synctest.Wait sees a
// verifier blocked on a held issuer (Hold).
func (i *Issuer) Client() *http.Client {
	return &http.Client{Transport: inProcess{i.srv.Config.Handler}}
}

type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

func (i *Issuer) newKeys() {
	i.generation++
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		i.t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		i.t.Fatal(err)
	}
	i.rsaKey = &key{kid: fmt.Sprintf("rsa-%d", i.generation), alg: string(jose.RS256), signer: rsaKey}
	i.ecKey = &key{kid: fmt.Sprintf("ec-%d", i.generation), alg: string(jose.ES256), signer: ecKey}
	i.keys[i.rsaKey.kid] = i.rsaKey
	i.keys[i.ecKey.kid] = i.ecKey
}

// Rotate makes a new RSA and a new EC key with new kids ("rsa-2", "ec-2", ...) that replace every key of the JWK
// set; Mint signs with them from now on. A verifier must fetch the set again to accept the new tokens, and then
// refuses tokens signed by the old keys. Tokens minted before remain signed by the old keys.
func (i *Issuer) Rotate() {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.newKeys()
	i.published = []*key{i.rsaKey, i.ecKey}
	i.rawJWKs = nil
}

// KIDs returns the kids of the current RSA and EC keys.
func (i *Issuer) KIDs() (rsaKID, ecKID string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.rsaKey.kid, i.ecKey.kid
}

// AddKey publishes signer's public key in the JWK set under kid, with alg as its alg member ("" leaves it out),
// and lets Mint sign with it through Key(kid): for tests of keys a verifier must refuse (RSA under 2048 bits, a
// P-384 key, a key whose alg says otherwise).
func (i *Issuer) AddKey(signer crypto.Signer, kid, alg string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	k := &key{kid: kid, alg: alg, signer: signer}
	i.keys[kid] = k
	i.published = append(i.published, k)
}

// AddRawJWK appends an entry to the JWK set exactly as given (a symmetric key, a private key, garbage).
func (i *Issuer) AddRawJWK(raw json.RawMessage) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.rawJWKs = append(i.rawJWKs, raw)
}

// SetDown makes discovery and the JWK set answer 503 Service Unavailable while down is true.
func (i *Issuer) SetDown(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.down = down
}

// Hold makes discovery and JWK set requests wait, once counted, until release is called (or their context
// ends), so that a test can gather concurrent verifiers behind one fetch. Call it inside the synctest bubble
// whose goroutines it holds.
func (i *Issuer) Hold() (release func()) {
	i.mu.Lock()
	defer i.mu.Unlock()
	ch := make(chan struct{})
	i.hold = ch
	var once sync.Once
	return func() {
		once.Do(func() {
			i.mu.Lock()
			if i.hold == ch {
				i.hold = nil
			}
			i.mu.Unlock()
			close(ch)
		})
	}
}

// SetDiscoveryIssuer makes the discovery document name iss as its issuer instead of URL(), as a document served
// for another issuer would.
func (i *Issuer) SetDiscoveryIssuer(iss string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.discoveryIssuer = iss
}

// DiscoveryFetches counts the requests for the discovery document, answered or not.
func (i *Issuer) DiscoveryFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.discoveryFetches
}

// JWKSFetches counts the requests for the JWK set, answered or not.
func (i *Issuer) JWKSFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.jwksFetches
}

// arrive counts a request and returns whether the issuer is down, after any Hold has been released.
func (i *Issuer) arrive(r *http.Request, counter *int) (down bool) {
	i.mu.Lock()
	*counter++
	hold := i.hold
	i.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
		}
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.down
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if i.arrive(r, &i.discoveryFetches) {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	i.mu.Lock()
	iss := i.discoveryIssuer
	i.mu.Unlock()
	if iss == "" {
		iss = i.URL()
	}
	writeJSON(w, map[string]any{
		"issuer":                                iss,
		"jwks_uri":                              i.URL() + "/jwks",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "jti", "nbf"},
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if i.arrive(r, &i.jwksFetches) {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	keys := []json.RawMessage{}
	for _, k := range i.published {
		b, err := jose.JSONWebKey{Key: k.signer.Public(), KeyID: k.kid, Algorithm: k.alg, Use: "sig"}.MarshalJSON()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		keys = append(keys, b)
	}
	keys = append(keys, i.rawJWKs...)
	writeJSON(w, map[string]any{"keys": keys})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// MintOption bends a token that Mint makes.
type MintOption func(*mintOptions)

type mintOptions struct {
	alg     jose.SignatureAlgorithm
	kid     *string // nil: the signing key's
	foreign bool
	keyKID  string
	header  map[string]any
}

// ES256 signs with the issuer's EC P-256 key instead of its RSA key.
func ES256() MintOption { return func(o *mintOptions) { o.alg = jose.ES256 } }

// KID puts kid in the header, whichever key signs.
func KID(kid string) MintOption { return func(o *mintOptions) { o.kid = &kid } }

// NoKID leaves kid out of the header.
func NoKID() MintOption { return KID("") }

// ForeignKey signs with a key of the same kind that the JWK set does not hold, under kid "foreign-rsa" or
// "foreign-ec" unless KID says otherwise: a token made by someone who is not the issuer.
func ForeignKey() MintOption { return func(o *mintOptions) { o.foreign = true } }

// Key signs with the key kid: one of the issuer's, present or rotated out, or one given to AddKey.
func Key(kid string) MintOption { return func(o *mintOptions) { o.keyKID = kid } }

// Header sets a header member after everything else (alg included: the signature is still made with the key's
// own algorithm); a nil value removes the member.
func Header(name string, value any) MintOption {
	return func(o *mintOptions) {
		if o.header == nil {
			o.header = map[string]any{}
		}
		o.header[name] = value
	}
}

// Mint returns a compact JWS of claims, exactly as given, signed with RS256 by the issuer's current RSA key unless
// the options say otherwise.
func (i *Issuer) Mint(claims map[string]any, opts ...MintOption) string {
	i.t.Helper()
	tok, err := i.mint(claims, opts...)
	if err != nil {
		i.t.Fatalf("oidctest: Mint: %v", err)
	}
	return tok
}

func (i *Issuer) mint(claims map[string]any, opts ...MintOption) (string, error) {
	o := mintOptions{alg: jose.RS256}
	for _, f := range opts {
		f(&o)
	}
	k, err := i.signingKey(o)
	if err != nil {
		return "", err
	}
	alg := jose.RS256
	if _, ok := k.signer.(*ecdsa.PrivateKey); ok {
		alg = jose.ES256
	}
	header := map[string]any{"alg": string(alg), "typ": "JWT", "kid": k.kid}
	if o.kid != nil {
		header["kid"] = *o.kid
		if *o.kid == "" {
			delete(header, "kid")
		}
	}
	for name, v := range o.header {
		header[name] = v
		if v == nil {
			delete(header, name)
		}
	}
	input, err := signingInput(header, claims)
	if err != nil {
		return "", err
	}
	sig, err := sign(k.signer, input)
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

func (i *Issuer) signingKey(o mintOptions) (*key, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	switch {
	case o.keyKID != "":
		k, ok := i.keys[o.keyKID]
		if !ok {
			return nil, fmt.Errorf("no key %q", o.keyKID)
		}
		return k, nil
	case o.foreign:
		if k := i.foreign[o.alg]; k != nil {
			return k, nil
		}
		var k *key
		if o.alg == jose.ES256 {
			s, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return nil, err
			}
			k = &key{kid: "foreign-ec", signer: s}
		} else {
			s, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return nil, err
			}
			k = &key{kid: "foreign-rsa", signer: s}
		}
		i.foreign[o.alg] = k
		return k, nil
	case o.alg == jose.ES256:
		return i.ecKey, nil
	}
	return i.rsaKey, nil
}

func signingInput(header, claims map[string]any) (string, error) {
	h, err := json.Marshal(header)
	if err != nil {
		return "", err
	}
	c, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return b64(h) + "." + b64(c), nil
}

// sign makes an RS256 (RSASSA-PKCS1-v1_5 with SHA-256) or ES256 (r||s, 32 bytes each, RFC 7518 §3.4) signature.
func sign(signer crypto.Signer, input string) ([]byte, error) {
	digest := sha256.Sum256([]byte(input))
	switch s := signer.(type) {
	case *rsa.PrivateKey:
		return rsa.SignPKCS1v15(rand.Reader, s, crypto.SHA256, digest[:])
	case *ecdsa.PrivateKey:
		r, ss, err := ecdsa.Sign(rand.Reader, s, digest[:])
		if err != nil {
			return nil, err
		}
		size := (s.Curve.Params().BitSize + 7) / 8
		sig := make([]byte, 2*size)
		r.FillBytes(sig[:size])
		ss.FillBytes(sig[size:])
		return sig, nil
	}
	return nil, fmt.Errorf("cannot sign with %T", signer)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// MintNone returns claims as an unsigned token: header alg "none" (with the current RSA kid) and an empty
// signature, the oldest JWT attack.
func (i *Issuer) MintNone(claims map[string]any) string {
	i.t.Helper()
	kid, _ := i.KIDs()
	input, err := signingInput(map[string]any{"alg": "none", "typ": "JWT", "kid": kid}, claims)
	if err != nil {
		i.t.Fatal(err)
	}
	return input + "."
}

// MintHS256 returns claims signed with HMAC-SHA256 under secret, with the current RSA kid in the header. Given
// PublicKeyPEM or PublicKeyDER as secret it is the algorithm-confusion attack: a verifier that lets the header
// pick the algorithm would check the HMAC with the public key it holds, which everyone knows.
func (i *Issuer) MintHS256(claims map[string]any, secret []byte) string {
	i.t.Helper()
	kid, _ := i.KIDs()
	input, err := signingInput(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid}, claims)
	if err != nil {
		i.t.Fatal(err)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + b64(mac.Sum(nil))
}

// RSAPublicKey returns the current RSA key's public half.
func (i *Issuer) RSAPublicKey() *rsa.PublicKey {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.rsaKey.signer.Public().(*rsa.PublicKey)
}

// PublicKeyDER returns the current RSA public key as PKIX DER.
func (i *Issuer) PublicKeyDER() []byte {
	der, err := x509.MarshalPKIXPublicKey(i.RSAPublicKey())
	if err != nil {
		i.t.Fatal(err)
	}
	return der
}

// PublicKeyPEM returns the current RSA public key as a "PUBLIC KEY" PEM block, the form most often pasted into a
// verifier's configuration.
func (i *Issuer) PublicKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: i.PublicKeyDER()})
}

// RequestToken is the bearer value the token endpoint requires (ACTIONS_ID_TOKEN_REQUEST_TOKEN on GitHub).
func (i *Issuer) RequestToken() string { return i.requestToken }

// TokenURL is the token endpoint's URL with a query already begun, like ACTIONS_ID_TOKEN_REQUEST_URL on GitHub:
// a CI script appends "&audience=wharf".
func (i *Issuer) TokenURL() string { return i.URL() + "/token?api-version=2.0" }

// SetTokenClaims sets the claims the token endpoint puts in its tokens; it adds iss when missing and always sets
// aud to the requested audience (when one is requested) and a fresh jti, iat, nbf and exp. Until it is called the
// endpoint uses GitHubClaims(nil).
func (i *Issuer) SetTokenClaims(claims map[string]any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.tokenClaims = maps.Clone(claims)
	i.tokenClaimsFunc = nil
}

// SetTokenClaimsFunc makes the token endpoint sign f(audience) exactly as returned, for tests that need stale or
// odd claims from it.
func (i *Issuer) SetTokenClaimsFunc(f func(audience string) map[string]any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.tokenClaimsFunc = f
	i.tokenClaims = nil
}

// serveToken answers GET /token?audience=X like GitHub's ID-token request endpoint: with the bearer request
// token, {"value": "<jwt>"}; without it, 401.
func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	scheme, got, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") || subtle.ConstantTimeCompare([]byte(got), []byte(i.requestToken)) != 1 {
		http.Error(w, "bad request token", http.StatusUnauthorized)
		return
	}
	audience := r.URL.Query().Get("audience")
	i.mu.Lock()
	f, template := i.tokenClaimsFunc, maps.Clone(i.tokenClaims)
	i.mu.Unlock()
	var claims map[string]any
	if f != nil {
		claims = f(audience)
	} else {
		if template == nil {
			template = i.GitHubClaims(nil)
		}
		claims = template
		if _, ok := claims["iss"]; !ok {
			claims["iss"] = i.URL()
		}
		if audience != "" {
			claims["aud"] = audience
		}
		now := i.now()
		claims["jti"] = newJTI()
		claims["iat"] = now.Unix()
		claims["nbf"] = now.Unix()
		claims["exp"] = now.Add(TokenLifetime).Unix()
	}
	tok, err := i.mint(claims)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]string{"value": tok})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newJTI returns a random jti in the UUID form GitHub uses.
func newJTI() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
