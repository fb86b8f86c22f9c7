package oidc

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Claims are the claims of a verified token.
type Claims struct {
	Issuer  string
	Subject string // "" when the token has no sub
	JTI     string // "" when the token has no jti (Google's tokens have none)
	// Audience is the token's single audience: Verify refuses a token naming several.
	Audience  string
	IssuedAt  time.Time
	NotBefore time.Time // zero when the token has no nbf
	Expiry    time.Time
	// Raw holds every claim as decoded, for matching against publishers: strings as string, numbers as
	// json.Number (exactly as the issuer wrote them), booleans as bool, arrays as []any, objects as
	// map[string]any. Read single values with String.
	Raw map[string]any
}

// String returns a claim as a string, the form publisher rules compare: strings as they are, numbers in the
// decimal form the issuer wrote, booleans as "true" or "false". A missing claim, null, an array or an object
// gives "", so a rule can never match them by accident.
func (c Claims) String(name string) string {
	switch v := c.Raw[name].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	}
	return ""
}

// check applies the claim rules to the claims of a token whose signature verified.
func (v *Verifier) check(raw map[string]any) (Claims, error) {
	c := Claims{Raw: raw}
	var err error
	if c.Issuer, err = stringClaim(raw, "iss"); err != nil {
		return Claims{}, err
	}
	if c.Issuer != v.issuer { // already checked before the signature; kept so check stands on its own
		return Claims{}, refuse(CodeWrongIssuer, "the token was issued by %q, but wharf expected a token from %q here", c.Issuer, v.issuer)
	}
	if c.Subject, err = stringClaim(raw, "sub"); err != nil {
		return Claims{}, err
	}
	if c.JTI, err = stringClaim(raw, "jti"); err != nil {
		return Claims{}, err
	}
	if c.Audience, err = v.checkAudience(raw["aud"]); err != nil {
		return Claims{}, err
	}

	exp, hasExp, err := numericDate(raw, "exp")
	if err != nil {
		return Claims{}, err
	}
	iat, hasIat, err := numericDate(raw, "iat")
	if err != nil {
		return Claims{}, err
	}
	nbf, hasNbf, err := numericDate(raw, "nbf")
	if err != nil {
		return Claims{}, err
	}
	if !hasExp {
		return Claims{}, refuse(CodeMissingExpiry, "the token has no exp claim; wharf accepts only tokens that expire")
	}
	if !hasIat {
		return Claims{}, refuse(CodeMissingIssuedAt, "the token has no iat claim; wharf needs to know when it was issued")
	}
	now := v.now()
	skew := fmt.Sprintf("wharf allows %s for clock differences", seconds(v.leeway))
	if !now.Before(exp.Add(v.leeway)) {
		return Claims{}, refuse(CodeExpired, "the token expired at %s; it is now %s (%s): request a new token in the job just before exchanging it",
			stamp(exp), stamp(now), skew)
	}
	if hasNbf && now.Before(nbf.Add(-v.leeway)) {
		return Claims{}, refuse(CodeNotYetValid, "the token is not valid before %s (nbf); it is now %s (%s): the issuer's clock or wharf's is wrong",
			stamp(nbf), stamp(now), skew)
	}
	if iat.After(now.Add(v.leeway)) {
		return Claims{}, refuse(CodeIssuedInFuture, "the token says it was issued at %s (iat), but it is now %s (%s): the issuer's clock or wharf's is wrong",
			stamp(iat), stamp(now), skew)
	}
	c.Expiry, c.IssuedAt = exp, iat
	if hasNbf {
		c.NotBefore = nbf
	}
	return c, nil
}

// checkAudience accepts aud as a string or an array of exactly one string, equal to the Verifier's audience. A
// token meant for several audiences is refused even when wharf is one of them: any of the others could replay it
// here, and wharf could replay it there.
func (v *Verifier) checkAudience(aud any) (string, error) {
	var got string
	switch a := aud.(type) {
	case nil:
		return "", refuse(CodeWrongAudience, "the token has no aud claim; request it with audience %q", v.audience)
	case string:
		got = a
	case []any:
		names := make([]string, len(a))
		for i, e := range a {
			s, ok := e.(string)
			if !ok {
				return "", refuse(CodeMalformed, "the token's aud claim holds a value that is not a string")
			}
			names[i] = strconv.Quote(s)
		}
		switch len(a) {
		case 0:
			return "", refuse(CodeWrongAudience, "the token's aud claim is empty; request the token with audience %q", v.audience)
		case 1:
			got = a[0].(string)
		default:
			return "", refuse(CodeSeveralAudiences, "the token is meant for %d audiences (%s); wharf accepts only a token meant for %q alone",
				len(a), strings.Join(names, ", "), v.audience)
		}
	default:
		return "", refuse(CodeMalformed, "the token's aud claim is neither a string nor an array of strings")
	}
	if got != v.audience {
		return "", refuse(CodeWrongAudience, "the token is meant for audience %q, but wharf expects %q: request the token with audience %q",
			got, v.audience, v.audience)
	}
	return got, nil
}

// stringClaim returns a claim that must be a string when present, "" when absent.
func stringClaim(raw map[string]any, name string) (string, error) {
	v, ok := raw[name]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", refuse(CodeMalformed, "the token's %s claim is not a string", name)
	}
	return s, nil
}

// maxNumericDate keeps a NumericDate within what time.Time represents, far beyond any real token.
const maxNumericDate = 1 << 40

// numericDate reads a NumericDate claim (RFC 7519 §2: seconds since 1970, possibly fractional).
func numericDate(raw map[string]any, name string) (time.Time, bool, error) {
	v, ok := raw[name]
	if !ok {
		return time.Time{}, false, nil
	}
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false, refuse(CodeMalformed, "the token's %s claim is not a number of seconds", name)
	}
	if i, err := n.Int64(); err == nil {
		if i < -maxNumericDate || i > maxNumericDate {
			return time.Time{}, false, refuse(CodeMalformed, "the token's %s claim is out of range", name)
		}
		return time.Unix(i, 0), true, nil
	}
	f, err := n.Float64()
	if err != nil || math.IsNaN(f) || math.Abs(f) > maxNumericDate {
		return time.Time{}, false, refuse(CodeMalformed, "the token's %s claim is out of range", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func seconds(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) + " s" }
