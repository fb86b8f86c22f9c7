package oidc_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"wharf/internal/oidc"
	"wharf/internal/oidc/oidctest"
)

// t0 is a whole second, so that boundaries in seconds are exact.
var t0 = time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)

const (
	leeway   = 60 * time.Second
	cooldown = 5 * time.Minute
)

// clock is the injected time: tests move it instead of sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// setup starts an issuer and a verifier for it that share a clock set at t0.
func setup(t *testing.T, edit ...func(*oidc.Options)) (*oidctest.Issuer, *oidc.Verifier, *clock) {
	t.Helper()
	clk := &clock{now: t0}
	iss := oidctest.New(t, oidctest.WithClock(clk.Now))
	o := oidc.Options{Issuer: iss.URL(), Audience: oidctest.Audience, Now: clk.Now}
	for _, f := range edit {
		f(&o)
	}
	v, err := oidc.NewVerifier(o)
	if err != nil {
		t.Fatal(err)
	}
	return iss, v, clk
}

func verify(t *testing.T, v *oidc.Verifier, raw string) oidc.Claims {
	t.Helper()
	c, err := v.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return c
}

// refused asserts that err is an *oidc.Error with code, and returns it.
func refused(t *testing.T, err error, code oidc.Code) *oidc.Error {
	t.Helper()
	var e *oidc.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want an *oidc.Error with code %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("code = %s (%v), want %s", e.Code, e, code)
	}
	if e.Reason == "" {
		t.Errorf("%s refusal without a reason", code)
	}
	return e
}

func fetches(t *testing.T, iss *oidctest.Issuer, discovery, jwks int) {
	t.Helper()
	if d, j := iss.DiscoveryFetches(), iss.JWKSFetches(); d != discovery || j != jwks {
		t.Fatalf("fetches: discovery %d, jwks %d; want %d, %d", d, j, discovery, jwks)
	}
}

func TestVerifyGitHubToken(t *testing.T) {
	t.Parallel()
	iss, v, _ := setup(t)
	claims := iss.GitHubClaims(map[string]any{"jti": "6f1c-jti"})
	got := verify(t, v, iss.Mint(claims))

	want := oidc.Claims{
		Issuer:    iss.URL(),
		Subject:   "repo:owner/repo:ref:refs/tags/v1",
		JTI:       "6f1c-jti",
		Audience:  oidctest.Audience,
		IssuedAt:  t0,
		NotBefore: t0,
		Expiry:    t0.Add(oidctest.TokenLifetime),
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(oidc.Claims{}, "Raw")); diff != "" {
		t.Errorf("claims (-want +got):\n%s", diff)
	}
	for name, want := range map[string]string{
		"repository":          "owner/repo",
		"repository_owner_id": "1234567",
		"job_workflow_ref":    "owner/repo/.github/workflows/release.yml@refs/tags/v1",
		"iat":                 "1796551200",
		"missing":             "",
	} {
		if got := got.String(name); got != want {
			t.Errorf("String(%q) = %q, want %q", name, got, want)
		}
	}
	if _, ok := got.Raw["exp"].(json.Number); !ok {
		t.Errorf("Raw[exp] is %T, want json.Number", got.Raw["exp"])
	}
}

func TestVerifyES256(t *testing.T) {
	t.Parallel()
	iss, v, _ := setup(t)
	_, ecKID := iss.KIDs()
	tok := iss.Mint(iss.GitLabClaims(nil), oidctest.ES256())
	if kid := header(t, tok)["kid"]; kid != ecKID {
		t.Fatalf("kid = %v, want %s", kid, ecKID)
	}
	c := verify(t, v, tok)
	if got, want := c.String("ci_config_ref_uri"), "gitlab.com/ns/proj//.gitlab-ci.yml@refs/heads/main"; got != want {
		t.Errorf("ci_config_ref_uri = %q, want %q", got, want)
	}
	if got := c.String("runner_id"); got != "6000" {
		t.Errorf("runner_id = %q, want the number as decimal", got)
	}
}

func TestVerifyGoogleToken(t *testing.T) {
	t.Parallel()
	iss, v, _ := setup(t)
	c := verify(t, v, iss.Mint(iss.GoogleClaims("ci@proj.iam.gserviceaccount.com", "111")))
	if c.JTI != "" || !c.NotBefore.IsZero() {
		t.Errorf("JTI %q, NotBefore %v: want none, as in the token", c.JTI, c.NotBefore)
	}
	if got := c.String("email_verified"); got != "true" {
		t.Errorf("email_verified = %q, want true", got)
	}
}

func header(t *testing.T, tok string) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// part encodes a token part by hand, for malformed tokens.
func part(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestAcceptedAtTheEdges(t *testing.T) {
	t.Parallel()
	iss, v, _ := setup(t)
	for _, c := range []struct {
		name string
		over map[string]any
		opts []oidctest.MintOption
	}{
		{name: "expired within leeway", over: map[string]any{"exp": t0.Add(-leeway + time.Second).Unix()}},
		{name: "nbf at now plus leeway", over: map[string]any{"nbf": t0.Add(leeway).Unix()}},
		{name: "iat at now plus leeway", over: map[string]any{"iat": t0.Add(leeway).Unix()}},
		{name: "aud as an array of one", over: map[string]any{"aud": []string{oidctest.Audience}}},
		{name: "no nbf", over: map[string]any{"nbf": nil}},
		{name: "fractional exp", over: map[string]any{"exp": float64(t0.Unix()) + 30.5}},
		{name: "no kid, one RSA key", opts: []oidctest.MintOption{oidctest.NoKID()}},
		// Keys come from the issuer's set only: a jku or jwk header pointing elsewhere changes nothing.
		{name: "jku header", opts: []oidctest.MintOption{oidctest.Header("jku", "https://evil.example/jwks")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			verify(t, v, iss.Mint(iss.GitHubClaims(c.over), c.opts...))
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	iss, v, _ := setup(t)
	good := func(over map[string]any) map[string]any { return iss.GitHubClaims(over) }
	rsaKID, _ := iss.KIDs()
	signed := iss.Mint(good(nil))
	sp := strings.Split(signed, ".")

	cases := []struct {
		name   string
		token  string
		code   oidc.Code
		reason string // a part of the reason
	}{
		{"alg none", iss.MintNone(good(nil)), oidc.CodeUnsupportedAlgorithm, `"none"`},
		{"HS256 keyed with the public key PEM", iss.MintHS256(good(nil), iss.PublicKeyPEM()), oidc.CodeUnsupportedAlgorithm, "RS256 and ES256 only"},
		{"HS256 keyed with the public key DER", iss.MintHS256(good(nil), iss.PublicKeyDER()), oidc.CodeUnsupportedAlgorithm, `"HS256"`},
		{"HS256 keyed with the PKCS1 key", iss.MintHS256(good(nil), x509.MarshalPKCS1PublicKey(iss.RSAPublicKey())), oidc.CodeUnsupportedAlgorithm, `"HS256"`},
		{"RS512 in the header", iss.Mint(good(nil), oidctest.Header("alg", "RS512")), oidc.CodeUnsupportedAlgorithm, `"RS512"`},
		{"PS256 in the header", iss.Mint(good(nil), oidctest.Header("alg", "PS256")), oidc.CodeUnsupportedAlgorithm, `"PS256"`},
		{"no alg", iss.Mint(good(nil), oidctest.Header("alg", nil)), oidc.CodeMalformed, "no alg"},
		{"wrong audience", iss.Mint(good(map[string]any{"aud": "pypi"})), oidc.CodeWrongAudience, `audience "pypi", but wharf expects "wharf"`},
		{"no audience", iss.Mint(good(map[string]any{"aud": nil})), oidc.CodeWrongAudience, "no aud"},
		{"empty audience array", iss.Mint(good(map[string]any{"aud": []string{}})), oidc.CodeWrongAudience, "empty"},
		{"two audiences, one ours", iss.Mint(good(map[string]any{"aud": []string{"wharf", "pypi"}})), oidc.CodeSeveralAudiences, `("wharf", "pypi")`},
		{"two audiences, both ours", iss.Mint(good(map[string]any{"aud": []string{"wharf", "wharf"}})), oidc.CodeSeveralAudiences, "2 audiences"},
		{"audience not a string", iss.Mint(good(map[string]any{"aud": 7})), oidc.CodeMalformed, "aud"},
		{"foreign issuer", iss.Mint(good(map[string]any{"iss": "https://token.actions.githubusercontent.com"})), oidc.CodeWrongIssuer, "token.actions.githubusercontent.com"},
		{"issuer with a trailing slash", iss.Mint(good(map[string]any{"iss": iss.URL() + "/"})), oidc.CodeWrongIssuer, "expected"},
		{"no issuer", iss.Mint(good(map[string]any{"iss": nil})), oidc.CodeWrongIssuer, `issued by ""`},
		{"expired beyond leeway", iss.Mint(good(map[string]any{"exp": t0.Add(-leeway).Unix()})), oidc.CodeExpired,
			"expired at 2026-12-06T09:59:00Z; it is now 2026-12-06T10:00:00Z (wharf allows 60 s"},
		{"missing exp", iss.Mint(good(map[string]any{"exp": nil})), oidc.CodeMissingExpiry, "no exp"},
		{"missing iat", iss.Mint(good(map[string]any{"iat": nil})), oidc.CodeMissingIssuedAt, "no iat"},
		{"iat in the future", iss.Mint(good(map[string]any{"iat": t0.Add(leeway + time.Second).Unix()})), oidc.CodeIssuedInFuture, "10:01:01Z (iat)"},
		{"nbf in the future", iss.Mint(good(map[string]any{"nbf": t0.Add(leeway + time.Second).Unix()})), oidc.CodeNotYetValid, "10:01:01Z (nbf)"},
		{"exp a string", iss.Mint(good(map[string]any{"exp": "tomorrow"})), oidc.CodeMalformed, "exp claim is not a number"},
		{"sub a number", iss.Mint(good(map[string]any{"sub": 12})), oidc.CodeMalformed, "sub claim is not a string"},
		{"signed by a key not in the set", iss.Mint(good(nil), oidctest.ForeignKey()), oidc.CodeUnknownKey, `"foreign-rsa"`},
		{"ES256 by a key not in the set", iss.Mint(good(nil), oidctest.ForeignKey(), oidctest.ES256()), oidc.CodeUnknownKey, `"foreign-ec"`},
		{"foreign key under the issuer's kid", iss.Mint(good(nil), oidctest.ForeignKey(), oidctest.KID(rsaKID)), oidc.CodeBadSignature, rsaKID},
		{"EC signature under the RSA kid", iss.Mint(good(nil), oidctest.ES256(), oidctest.KID(rsaKID)), oidc.CodeUnknownKey, "is for RS256, but the token is signed with ES256"},
		{"claims swapped under a signature", sp[0] + "." + part(`{"iss":"`+iss.URL()+`","aud":"wharf","exp":1900000000,"iat":1796551200,"sub":"repo:evil/repo:ref:refs/tags/v1"}`) + "." + sp[2],
			oidc.CodeBadSignature, "does not verify"},
		{"signature cut short", signed[:len(signed)-4], oidc.CodeBadSignature, "does not verify"},
		{"crit header", iss.Mint(good(nil), oidctest.Header("crit", []string{"exp"})), oidc.CodeMalformed, `"crit"`},
		{"b64 header", iss.Mint(good(nil), oidctest.Header("b64", false)), oidc.CodeMalformed, `"b64"`},
		{"kid not a string", iss.Mint(good(nil), oidctest.Header("kid", 1)), oidc.CodeMalformed, "kid"},
		{"empty", "", oidc.CodeMalformed, "1 part"},
		{"one part", "abc", oidc.CodeMalformed, "1 part"},
		{"two parts", sp[0] + "." + sp[1], oidc.CodeMalformed, "2 part"},
		{"four parts", signed + ".x", oidc.CodeMalformed, "4 part"},
		{"JSON serialization", `{"payload":"` + sp[1] + `","protected":"` + sp[0] + `","signature":"` + sp[2] + `"}`, oidc.CodeMalformed, "1 part"},
		{"header not base64url", "!!." + sp[1] + "." + sp[2], oidc.CodeMalformed, "header is not base64url"},
		{"header with padding", sp[0] + "=." + sp[1] + "." + sp[2], oidc.CodeMalformed, "header is not base64url"},
		{"payload not base64url", sp[0] + ".$$$." + sp[2], oidc.CodeMalformed, "payload is not base64url"},
		{"signature not base64url", sp[0] + "." + sp[1] + ".+/", oidc.CodeMalformed, "signature is not base64url"},
		{"header JSON garbage", part("{alg: RS256") + "." + sp[1] + "." + sp[2], oidc.CodeMalformed, "header is not a JSON object"},
		{"header a JSON array", part(`["RS256"]`) + "." + sp[1] + "." + sp[2], oidc.CodeMalformed, "header is not a JSON object"},
		{"payload JSON garbage", sp[0] + "." + part("not json") + "." + sp[2], oidc.CodeMalformed, "payload is not a JSON object"},
		{"payload null", sp[0] + "." + part("null") + "." + sp[2], oidc.CodeMalformed, "payload is not a JSON object"},
		{"payload with trailing data", sp[0] + "." + part(`{"iss":"x"} {}`) + "." + sp[2], oidc.CodeMalformed, "after its JSON object"},
		{"too long", iss.Mint(good(map[string]any{"pad": strings.Repeat("x", oidc.MaxTokenLen)})), oidc.CodeMalformed, "at most 16384"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(context.Background(), c.token)
			e := refused(t, err, c.code)
			if !strings.Contains(e.Reason, c.reason) {
				t.Errorf("reason %q does not contain %q", e.Reason, c.reason)
			}
		})
	}
	// The table's tokens differ from a good one in one thing each; the good one passes.
	verify(t, v, signed)
}

func TestNoKIDNeedsOneFittingKey(t *testing.T) {
	t.Parallel()
	iss, v, _ := setup(t)
	// One RSA and one EC key: each algorithm has one candidate.
	verify(t, v, iss.Mint(iss.GitHubClaims(nil), oidctest.NoKID()))
	verify(t, v, iss.Mint(iss.GitHubClaims(nil), oidctest.NoKID(), oidctest.ES256()))

	iss2, v2, _ := setup(t)
	second, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss2.AddKey(second, "rsa-second", "RS256")
	_, err = v2.Verify(context.Background(), iss2.Mint(iss2.GitHubClaims(nil), oidctest.NoKID()))
	refused(t, err, oidc.CodeUnknownKey)
	// The key itself is fine once named.
	verify(t, v2, iss2.Mint(iss2.GitHubClaims(nil), oidctest.Key("rsa-second")))
}

func TestUnusableKeys(t *testing.T) {
	t.Parallel()
	iss, v, _ := setup(t)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	iss.AddKey(weak, "weak", "")
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	iss.AddKey(p384, "p384", "")
	labelled, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	iss.AddKey(labelled, "labelled", "PS256")
	iss.AddRawJWK(json.RawMessage(`{"kty":"oct","kid":"shared","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"}`))
	iss.AddRawJWK(json.RawMessage(`{"kty":"RSA","kid":"broken","n":"AQAB"}`))

	for _, c := range []struct {
		name, kid, reason string
		opts              []oidctest.MintOption
	}{
		{"RSA under 2048 bits", "weak", "RSA key of 1024 bits; wharf requires 2048", nil},
		{"P-384 key", "p384", `key "p384" is not a key for ES256`, []oidctest.MintOption{oidctest.ES256()}},
		{"alg member says otherwise", "labelled", "is for PS256", nil},
		{"symmetric key", "shared", "private or symmetric", nil},
		{"unreadable key", "broken", "cannot be read", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			opts := append(c.opts, oidctest.KID(c.kid))
			if c.kid != "shared" && c.kid != "broken" {
				opts = append(opts, oidctest.Key(c.kid))
			}
			_, err := v.Verify(context.Background(), iss.Mint(iss.GitHubClaims(nil), opts...))
			e := refused(t, err, oidc.CodeUnknownKey)
			if !strings.Contains(e.Reason, c.reason) {
				t.Errorf("reason %q does not contain %q", e.Reason, c.reason)
			}
		})
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	iss, v, clk := setup(t)
	old := iss.Mint(iss.GitHubClaims(nil))
	verify(t, v, old)
	fetches(t, iss, 1, 1)

	// The issuer rotates just after wharf fetched its keys: the new kid waits for the cool-down.
	iss.Rotate()
	rotated := iss.Mint(iss.GitHubClaims(nil))
	_, err := v.Verify(context.Background(), rotated)
	e := refused(t, err, oidc.CodeUnknownKey)
	if !strings.Contains(e.Reason, `"rsa-2"`) {
		t.Errorf("reason %q does not name the kid", e.Reason)
	}
	fetches(t, iss, 1, 1)
	verify(t, v, old) // the cached key still verifies

	clk.Add(cooldown)
	rotated = iss.Mint(iss.GitHubClaims(nil))
	verify(t, v, rotated)
	fetches(t, iss, 2, 2)
	// The refresh replaced the cache: the withdrawn key no longer verifies.
	_, err = v.Verify(context.Background(), iss.Mint(iss.GitHubClaims(nil), oidctest.Key("rsa-1")))
	refused(t, err, oidc.CodeUnknownKey)

	// A second rotation within the cool-down: refused without asking the issuer, however many tries.
	clk.Add(cooldown - time.Second)
	iss.Rotate()
	third := iss.Mint(iss.GitHubClaims(nil))
	for range 3 {
		_, err = v.Verify(context.Background(), third)
		refused(t, err, oidc.CodeUnknownKey)
	}
	fetches(t, iss, 2, 2)
	clk.Add(time.Second)
	verify(t, v, third)
	fetches(t, iss, 3, 3)
}

func TestIssuerDownKeepsCachedKeys(t *testing.T) {
	t.Parallel()
	iss, v, clk := setup(t)
	verify(t, v, iss.Mint(iss.GitHubClaims(nil)))
	iss.SetDown(true)
	iss.Rotate()

	clk.Add(cooldown)
	_, err := v.Verify(context.Background(), iss.Mint(iss.GitHubClaims(nil)))
	e := refused(t, err, oidc.CodeKeysUnavailable)
	if !strings.Contains(e.Reason, "503") || !strings.Contains(e.Reason, "try again later") {
		t.Errorf("reason %q: want the cause and advice", e.Reason)
	}
	fetches(t, iss, 2, 1)
	// Tokens signed by a cached key keep verifying, without asking the issuer.
	verify(t, v, iss.Mint(iss.GitHubClaims(nil), oidctest.Key("rsa-1")))
	verify(t, v, iss.Mint(iss.GitHubClaims(nil), oidctest.Key("ec-1"), oidctest.ES256()))
	fetches(t, iss, 2, 1)

	// Back up, but the failed attempt counts for the cool-down: the unknown kid still waits.
	iss.SetDown(false)
	_, err = v.Verify(context.Background(), iss.Mint(iss.GitHubClaims(nil)))
	refused(t, err, oidc.CodeKeysUnavailable)
	fetches(t, iss, 2, 1)
	clk.Add(cooldown)
	verify(t, v, iss.Mint(iss.GitHubClaims(nil)))
	fetches(t, iss, 3, 2)
}

func TestIssuerDownBeforeFirstFetch(t *testing.T) {
	t.Parallel()
	iss, v, _ := setup(t)
	iss.SetDown(true)
	tok := iss.Mint(iss.GitHubClaims(nil))
	_, err := v.Verify(context.Background(), tok)
	refused(t, err, oidc.CodeKeysUnavailable)
	_, err = v.Verify(context.Background(), tok)
	refused(t, err, oidc.CodeKeysUnavailable)
	fetches(t, iss, 2, 0)
	// With nothing cached the cool-down does not apply: the first answer is used at once.
	iss.SetDown(false)
	verify(t, v, tok)
	fetches(t, iss, 3, 1)
}

func TestStaleKeysAreRefreshed(t *testing.T) {
	t.Parallel()
	iss, v, clk := setup(t, func(o *oidc.Options) { o.MaxKeyAge = time.Hour })
	verify(t, v, iss.Mint(iss.GitHubClaims(nil)))
	iss.Rotate()
	// Within the hour the withdrawn key is still trusted.
	clk.Add(time.Hour - time.Second)
	verify(t, v, iss.Mint(iss.GitHubClaims(nil), oidctest.Key("rsa-1")))
	fetches(t, iss, 1, 1)

	// Stale and the issuer down: the cached keys serve on.
	clk.Add(time.Second)
	iss.SetDown(true)
	verify(t, v, iss.Mint(iss.GitHubClaims(nil), oidctest.Key("rsa-1")))
	fetches(t, iss, 2, 1)

	// Stale and the issuer back, after the cool-down: the refresh drops the withdrawn key.
	iss.SetDown(false)
	clk.Add(cooldown)
	_, err := v.Verify(context.Background(), iss.Mint(iss.GitHubClaims(nil), oidctest.Key("rsa-1")))
	refused(t, err, oidc.CodeUnknownKey)
	fetches(t, iss, 3, 2)
	verify(t, v, iss.Mint(iss.GitHubClaims(nil)))
	fetches(t, iss, 3, 2)
}

func TestDiscoveryNamingAnotherIssuer(t *testing.T) {
	t.Parallel()
	iss, v, _ := setup(t)
	iss.SetDiscoveryIssuer("https://token.actions.githubusercontent.com")
	_, err := v.Verify(context.Background(), iss.Mint(iss.GitHubClaims(nil)))
	e := refused(t, err, oidc.CodeKeysUnavailable)
	if !strings.Contains(e.Reason, `names issuer "https://token.actions.githubusercontent.com"`) {
		t.Errorf("reason %q does not say the discovery document names another issuer", e.Reason)
	}
	fetches(t, iss, 1, 0)
}

// TestNoStampede gathers 20 Verify calls on a cold cache behind one held fetch: synctest.Wait returns only once
// every goroutine is blocked, so the count shows whether any of them asked the issuer on its own.
func TestNoStampede(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, oidctest.WithClock(func() time.Time { return t0 }))
	tok := iss.Mint(iss.GitHubClaims(nil))
	synctest.Test(t, func(t *testing.T) {
		v, err := oidc.NewVerifier(oidc.Options{Issuer: iss.URL(), Audience: oidctest.Audience, Client: iss.Client(),
			Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		release := iss.Hold()
		errs := make([]error, 20)
		var wg sync.WaitGroup
		for n := range errs {
			wg.Go(func() { _, errs[n] = v.Verify(context.Background(), tok) })
		}
		synctest.Wait()
		fetches(t, iss, 1, 0)
		release()
		wg.Wait()
		for n, err := range errs {
			if err != nil {
				t.Errorf("Verify %d: %v", n, err)
			}
		}
		fetches(t, iss, 1, 1)
	})
}

func TestCancelledWhileWaitingForKeys(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t, oidctest.WithClock(func() time.Time { return t0 }))
	tok := iss.Mint(iss.GitHubClaims(nil))
	synctest.Test(t, func(t *testing.T) {
		v, err := oidc.NewVerifier(oidc.Options{Issuer: iss.URL(), Audience: oidctest.Audience, Client: iss.Client(),
			Now: func() time.Time { return t0 }})
		if err != nil {
			t.Fatal(err)
		}
		release := iss.Hold()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() {
			_, err := v.Verify(ctx, tok)
			done <- err
		}()
		synctest.Wait()
		cancel()
		err = <-done
		refused(t, err, oidc.CodeKeysUnavailable)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want it to wrap context.Canceled", err)
		}
		// The fetch the cancelled call started goes on for the others.
		release()
		verify(t, v, tok)
		fetches(t, iss, 1, 1)
	})
}

func TestNewVerifierChecksOptions(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		issuer, audience string
		ok               bool
	}{
		{"https://token.actions.githubusercontent.com", "wharf", true},
		{"https://gitlab.example.com/", "wharf", true},
		{"http://127.0.0.1:8080", "wharf", true},
		{"http://[::1]:8080", "wharf", true},
		{"http://localhost:8080", "wharf", true},
		{"http://gitlab.example.com", "wharf", false},
		{"http://127.0.0.1.example.com", "wharf", false},
		{"http://10.0.0.1", "wharf", false},
		{"ftp://example.com", "wharf", false},
		{"token.actions.githubusercontent.com", "wharf", false},
		{"https://", "wharf", false},
		{"", "wharf", false},
		{"https://example.com?x=1", "wharf", false},
		{"https://user@example.com", "wharf", false},
		{"https://example.com", "", false},
	} {
		_, err := oidc.NewVerifier(oidc.Options{Issuer: c.issuer, Audience: c.audience})
		if (err == nil) != c.ok {
			t.Errorf("NewVerifier(%q, %q): err = %v, want ok %v", c.issuer, c.audience, err, c.ok)
		}
	}
	if _, err := oidc.NewVerifier(oidc.Options{Issuer: "https://example.com", Audience: "wharf", Leeway: -time.Second}); err == nil {
		t.Error("negative leeway accepted")
	}
}

func TestPeekIssuer(t *testing.T) {
	t.Parallel()
	iss, _, _ := setup(t)
	got, err := oidc.PeekIssuer(iss.Mint(iss.GitHubClaims(nil)))
	if err != nil || got != iss.URL() {
		t.Errorf("PeekIssuer = %q, %v; want %q", got, err, iss.URL())
	}
	// It proves nothing: an unsigned token peeks just as well.
	if got, err := oidc.PeekIssuer(iss.MintNone(iss.GitHubClaims(map[string]any{"iss": "https://x.example"}))); err != nil || got != "https://x.example" {
		t.Errorf("PeekIssuer(none) = %q, %v", got, err)
	}
	for _, raw := range []string{"", "a.b", "a." + part("[]") + ".c", "a." + part(`{"iss":1}`) + ".c", "a." + part(`{"sub":"x"}`) + ".c"} {
		_, err := oidc.PeekIssuer(raw)
		refused(t, err, oidc.CodeMalformed)
	}
}

func TestClaimsString(t *testing.T) {
	t.Parallel()
	c := oidc.Claims{Raw: map[string]any{
		"s":     "main",
		"n":     json.Number("12345678901234567890"),
		"t":     true,
		"f":     false,
		"null":  nil,
		"array": []any{"a"},
		"obj":   map[string]any{"a": "b"},
	}}
	for name, want := range map[string]string{"s": "main", "n": "12345678901234567890", "t": "true", "f": "false",
		"null": "", "array": "", "obj": "", "missing": ""} {
		if got := c.String(name); got != want {
			t.Errorf("String(%q) = %q, want %q", name, got, want)
		}
	}
}
