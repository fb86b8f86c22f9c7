// Package oidc verifies the OpenID Connect ID tokens (JWTs) that CI systems hand their jobs, for Trusted
// Publishing: a job presents a token from its issuer (GitHub Actions, GitLab, Google, or an issuer an administrator
// registered, such as Forgejo Actions or a self-managed GitLab) and, once this package has verified it, another
// package matches the returned Claims against the configured publishers, records the jti and mints an upload token.
//
// One Verifier trusts one issuer for one audience. It finds the issuer's keys by OpenID discovery, caches them in
// memory and asks again only when a token names a key it does not know (at most once per cool-down, so hostile
// tokens cannot make wharf hammer the issuer) or when the cached keys are old. While the issuer is down, tokens
// signed by cached keys keep verifying.
//
// The rules are deliberately narrower than JWT allows, because every freedom has been an attack somewhere:
// only RS256 and ES256 (never none or HMAC, so a public key can never serve as a shared secret); keys come only
// from the issuer's published JWK set (never from jwk, jku, x5u or x5c headers); exactly one audience; exp and iat
// required. The package has no global state and reads the time only from Options.Now.
package oidc

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

const (
	// MaxTokenLen bounds the input Verify looks at: CI tokens are one to two KiB, and a hostile body should cost
	// little to refuse.
	MaxTokenLen = 16 << 10
	// maxBodyLen bounds the discovery document and the JWK set, so that a broken or hostile issuer cannot fill
	// wharf's memory.
	maxBodyLen = 1 << 20
	// fetchTimeout bounds one refresh (discovery and JWK set) even with a caller's Client that has no timeout:
	// Verify calls wait for it.
	fetchTimeout = 30 * time.Second

	defaultTimeout  = 10 * time.Second
	defaultLeeway   = 60 * time.Second
	defaultCooldown = 5 * time.Minute
	defaultMaxAge   = time.Hour
)

// algorithms is the allow-list handed to go-jose and checked before it. RS256 and ES256 are what GitHub, GitLab,
// Google and Forgejo sign with; anything else is refused rather than negotiated.
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256}

// Options configures a Verifier.
type Options struct {
	// Issuer is the issuer URL exactly as the tokens' iss claim spells it, e.g.
	// "https://token.actions.githubusercontent.com". It must be https, except http on a loopback host
	// (127.0.0.1, ::1, localhost) for tests and local CI.
	Issuer string
	// Audience is the one audience wharf accepts in the aud claim.
	Audience string
	// Client fetches discovery and keys; nil means a client with a 10 s timeout that follows redirects only to
	// URLs Issuer itself could be.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Leeway absorbs clock differences between the issuer and wharf for exp, nbf and iat; zero means 60 s.
	Leeway time.Duration
	// RefreshCooldown is the shortest time between two fetches of the issuer's keys once some are cached; zero
	// means 5 minutes. A token naming an unknown kid triggers a fetch only if the last one is older.
	RefreshCooldown time.Duration
	// MaxKeyAge is how long fetched keys are used without asking the issuer again; zero means one hour. It lets a
	// key the issuer withdrew (rotated out, or compromised) stop verifying without a restart. Stale keys remain in
	// use while the issuer cannot be reached.
	MaxKeyAge time.Duration
}

// Verifier verifies JWTs of one issuer for one audience. It is safe for concurrent use.
type Verifier struct {
	issuer, audience string
	discoveryURL     string
	client           *http.Client
	now              func() time.Time
	leeway, cooldown time.Duration
	maxAge           time.Duration

	mu        sync.Mutex
	keys      keySet        // nil until a fetch succeeds
	fetchedAt time.Time     // when the cached keys were fetched
	tried     time.Time     // when the last fetch started; zero before the first
	lastErr   error         // why the last fetch failed; nil after a success
	inflight  chan struct{} // closed when the running fetch ends; nil when none runs
}

// NewVerifier checks the options and returns a Verifier. It does not contact the issuer: the first Verify does,
// so that wharf starts while an issuer is down.
func NewVerifier(o Options) (*Verifier, error) {
	u, err := url.Parse(o.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc: issuer %q: %w", o.Issuer, err)
	}
	if err := checkURL(u); err != nil {
		return nil, fmt.Errorf("oidc: issuer %q: %w", o.Issuer, err)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("oidc: issuer %q: must have no user, query or fragment", o.Issuer)
	}
	if o.Audience == "" {
		return nil, errors.New("oidc: the audience is empty")
	}
	if o.Leeway < 0 || o.RefreshCooldown < 0 || o.MaxKeyAge < 0 {
		return nil, errors.New("oidc: negative leeway, refresh cool-down or key age")
	}
	v := &Verifier{
		issuer:   o.Issuer,
		audience: o.Audience,
		// OpenID Connect Discovery 1.0 §4: the issuer without a trailing slash, then the well-known path.
		discoveryURL: strings.TrimSuffix(o.Issuer, "/") + "/.well-known/openid-configuration",
		client:       o.Client,
		now:          o.Now,
		leeway:       cmpOr(o.Leeway, defaultLeeway),
		cooldown:     cmpOr(o.RefreshCooldown, defaultCooldown),
		maxAge:       cmpOr(o.MaxKeyAge, defaultMaxAge),
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: defaultTimeout, CheckRedirect: checkRedirect}
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

func cmpOr(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// checkURL accepts what an issuer or its JWK set may be served from: https, or plain http on the loopback
// interface, where nobody can sit between wharf and a local test issuer.
func checkURL(u *url.URL) error {
	if u.Host == "" || u.Opaque != "" {
		return errors.New("not an absolute URL with a host")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		host := u.Hostname()
		if ip := net.ParseIP(host); host == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return errors.New("must use https (plain http only on 127.0.0.1, ::1 or localhost)")
	}
	return fmt.Errorf("scheme %q: must be https", u.Scheme)
}

// checkRedirect keeps the default client from being redirected to plain http, where the keys could be replaced.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("too many redirects")
	}
	if err := checkURL(req.URL); err != nil {
		return fmt.Errorf("redirect to %s: %w", req.URL, err)
	}
	return nil
}

// Verify checks raw's signature against the issuer's keys and its claims against the Verifier's rules, and returns
// the claims. Every refusal is an *Error; when ctx ends while Verify waits for the issuer, the *Error has
// CodeKeysUnavailable and wraps ctx.Err(). Verify does not check jti against earlier tokens: that is the caller's
// replay table (and Google's tokens carry no jti).
func (v *Verifier) Verify(ctx context.Context, raw string) (Claims, error) {
	tok, err := parse(raw)
	if err != nil {
		return Claims{}, err
	}
	// Refusing a token whose iss is another issuer's before looking for keys answers precisely and asks the
	// issuer nothing. It trusts the unverified claim only to refuse, never to accept.
	iss, err := stringClaim(tok.claims, "iss")
	if err != nil {
		return Claims{}, err
	}
	if iss != v.issuer {
		return Claims{}, refuse(CodeWrongIssuer, "the token was issued by %q, but wharf expected a token from %q here", iss, v.issuer)
	}
	pub, kid, err := v.key(ctx, tok.alg, tok.kid)
	if err != nil {
		return Claims{}, err
	}
	if _, err := tok.jws.Verify(pub); err != nil {
		return Claims{}, &Error{Code: CodeBadSignature, Err: err,
			Reason: fmt.Sprintf("the token's %s signature does not verify with key %q of %s: it was altered, or not signed by this issuer", tok.alg, kid, v.issuer)}
	}
	// From here on the claims are the issuer's own.
	return v.check(tok.claims)
}

// token is a parsed compact JWS whose signature is still to be checked.
type token struct {
	jws      *jose.JSONWebSignature
	alg, kid string
	claims   map[string]any
}

// parse reads a compact JWS. It checks each part itself before go-jose does, so that a CI user learns which part is
// wrong, and refuses what a JWT from a CI issuer never has: a JSON serialization, critical extensions, an unencoded
// payload.
func parse(raw string) (*token, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > MaxTokenLen {
		return nil, refuse(CodeMalformed, "the token is %d bytes long; wharf accepts at most %d", len(raw), MaxTokenLen)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, refuse(CodeMalformed, "a token is three base64url parts separated by dots; this one has %d part(s)", len(parts))
	}
	var header map[string]any
	if err := decodePart(parts[0], "header", &header); err != nil {
		return nil, err
	}
	alg, ok := header["alg"].(string)
	if !ok {
		return nil, refuse(CodeMalformed, "the token's header has no alg")
	}
	if !slices.Contains(algorithms, jose.SignatureAlgorithm(alg)) {
		return nil, refuse(CodeUnsupportedAlgorithm, "the token is signed with %q; wharf accepts RS256 and ES256 only", alg)
	}
	kid, ok := header["kid"].(string)
	if _, present := header["kid"]; present && !ok {
		return nil, refuse(CodeMalformed, "the token's kid header is not a string")
	}
	for _, name := range []string{"crit", "b64"} {
		if _, present := header[name]; present {
			return nil, refuse(CodeMalformed, "the token's header has %q; wharf supports no JWS extensions", name)
		}
	}
	claims, err := decodeClaims(parts[1])
	if err != nil {
		return nil, err
	}
	if _, err := base64.RawURLEncoding.DecodeString(parts[2]); err != nil {
		return nil, refuse(CodeMalformed, "the token's signature is not base64url without padding")
	}
	jws, err := jose.ParseSignedCompact(raw, algorithms)
	if err != nil {
		if _, ok := errors.AsType[*jose.ErrUnexpectedSignatureAlgorithm](err); ok {
			return nil, &Error{Code: CodeUnsupportedAlgorithm, Reason: "wharf accepts RS256 and ES256 only", Err: err}
		}
		return nil, &Error{Code: CodeMalformed, Reason: fmt.Sprintf("the token is not a valid JWS (%v)", err), Err: err}
	}
	return &token{jws: jws, alg: alg, kid: kid, claims: claims}, nil
}

// decodePart decodes one base64url part holding a JSON object.
func decodePart(part, name string, dst *map[string]any) error {
	b, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return refuse(CodeMalformed, "the token's %s is not base64url without padding", name)
	}
	// UseNumber keeps numeric claims as the issuer wrote them (ids beyond 2^53 stay exact).
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil || *dst == nil {
		return refuse(CodeMalformed, "the token's %s is not a JSON object", name)
	}
	if _, err := dec.Token(); err != io.EOF {
		return refuse(CodeMalformed, "the token's %s has data after its JSON object", name)
	}
	return nil
}

func decodeClaims(part string) (map[string]any, error) {
	var claims map[string]any
	if err := decodePart(part, "payload", &claims); err != nil {
		return nil, err
	}
	return claims, nil
}

// PeekIssuer returns the iss claim of raw WITHOUT verifying anything: it proves nothing about who made the token,
// and serves only to pick the Verifier that will then check it. Its errors are *Error with CodeMalformed.
func PeekIssuer(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if len(raw) > MaxTokenLen {
		return "", refuse(CodeMalformed, "the token is %d bytes long; wharf accepts at most %d", len(raw), MaxTokenLen)
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", refuse(CodeMalformed, "a token is three base64url parts separated by dots; this one has %d part(s)", len(parts))
	}
	claims, err := decodeClaims(parts[1])
	if err != nil {
		return "", err
	}
	iss, err := stringClaim(claims, "iss")
	if err != nil {
		return "", err
	}
	if iss == "" {
		return "", refuse(CodeMalformed, "the token has no iss claim")
	}
	return iss, nil
}

// key returns the public key that verifies a token signed with alg under kid ("" when the header has none), and
// the kid of that key for messages. It fetches the issuer's keys when none are cached, when kid is unknown and
// the cool-down has passed, and when the cached keys are older than MaxKeyAge. One fetch runs at a time; callers
// that need its result wait for it.
func (v *Verifier) key(ctx context.Context, alg, kid string) (crypto.PublicKey, string, error) {
	v.mu.Lock()
	now := v.now()
	k, why, missing := v.keys.find(alg, kid)
	stale := v.keys != nil && now.Sub(v.fetchedAt) >= v.maxAge
	if !missing && !stale {
		v.mu.Unlock()
		return v.answer(k, why)
	}
	// With nothing cached no token can verify, so the cool-down does not hold back the first fetch, nor a retry
	// after a failed one; the single fetch in flight is what keeps a crowd of jobs from stampeding the issuer.
	mayFetch := v.keys == nil || now.Sub(v.tried) >= v.cooldown
	started := false
	if v.inflight == nil && mayFetch {
		v.inflight = make(chan struct{})
		v.tried = now
		started = true
		go v.refresh(ctx, v.inflight, now)
	}
	// Wait if the answer depends on the fetch; a caller holding a stale but fitting key waits only for the fetch
	// it started itself, so that a key withdrawn from the set is refused from that call on.
	if done := v.inflight; done != nil && (missing || started) {
		v.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, "", &Error{Code: CodeKeysUnavailable, Err: ctx.Err(),
				Reason: fmt.Sprintf("the request ended while wharf was fetching the keys of %s", v.issuer)}
		}
		v.mu.Lock()
		k, why, missing = v.keys.find(alg, kid)
	}
	defer v.mu.Unlock()
	if !missing {
		return v.answer(k, why)
	}
	if v.lastErr != nil {
		return nil, "", &Error{Code: CodeKeysUnavailable, Err: v.lastErr,
			Reason: fmt.Sprintf("wharf could not fetch the signing keys of %s (%v); try again later", v.issuer, v.lastErr)}
	}
	if kid == "" {
		return nil, "", refuse(CodeUnknownKey, "the token names no key (no kid header) and %s publishes no %s key", v.issuer, alg)
	}
	return nil, "", refuse(CodeUnknownKey, "the token names key %q, which %s does not publish for %s (wharf fetched its keys at %s; "+
		"if the issuer has just rotated them, wharf fetches them again from %s on)",
		kid, v.issuer, alg, stamp(v.fetchedAt), stamp(v.tried.Add(v.cooldown)))
}

func (v *Verifier) answer(k *jwk, why string) (crypto.PublicKey, string, error) {
	if why != "" {
		return nil, "", refuse(CodeUnknownKey, "%s (issuer %s)", why, v.issuer)
	}
	return k.pub, k.kid, nil
}

// refresh fetches the keys and records the outcome. It runs on its own goroutine, detached from the cancellation
// of the Verify that started it, because other callers wait for the same result; fetchTimeout bounds it.
func (v *Verifier) refresh(ctx context.Context, done chan struct{}, started time.Time) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	defer cancel()
	keys, err := v.fetch(ctx)
	v.mu.Lock()
	if err != nil {
		// The cached keys stay: tokens they verify keep working while the issuer is down.
		v.lastErr = err
	} else {
		v.keys, v.fetchedAt, v.lastErr = keys, started, nil
	}
	v.inflight = nil
	v.mu.Unlock()
	close(done)
}

// fetch runs OpenID discovery and reads the JWK set it points to.
func (v *Verifier) fetch(ctx context.Context) (keySet, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := v.getJSON(ctx, v.discoveryURL, &doc); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	// OpenID Connect Discovery 1.0 §4.3: the document must name the issuer it was fetched for, or another issuer's
	// keys could be taken for this one's.
	if doc.Issuer != v.issuer {
		return nil, fmt.Errorf("discovery: the document at %s names issuer %q, not %q", v.discoveryURL, doc.Issuer, v.issuer)
	}
	u, err := url.Parse(doc.JWKSURI)
	if err != nil {
		return nil, fmt.Errorf("discovery: jwks_uri %q: %w", doc.JWKSURI, err)
	}
	if err := checkURL(u); err != nil {
		return nil, fmt.Errorf("discovery: jwks_uri %q: %w", doc.JWKSURI, err)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := v.getJSON(ctx, u.String(), &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	keys := parseKeys(set.Keys)
	if len(keys) == 0 {
		// Taken as a failure, so that an issuer serving an empty or unreadable set by mistake does not wipe the
		// cache.
		return nil, fmt.Errorf("jwks: %s holds no key", u)
	}
	return keys, nil
}

// getJSON GETs url and decodes its JSON body, read up to maxBodyLen bytes.
func (v *Verifier) getJSON(ctx context.Context, url string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyLen+1))
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > maxBodyLen {
		return fmt.Errorf("GET %s: the answer is larger than %d bytes", url, maxBodyLen)
	}
	if err := json.Unmarshal(body, dst); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
