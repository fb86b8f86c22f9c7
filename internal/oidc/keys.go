package oidc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// minRSABits is the smallest RSA modulus wharf trusts: smaller keys can be factored by a well-funded attacker.
const minRSABits = 2048

// jwk is one entry of the issuer's JWK set. Entries wharf cannot use are kept with the reason, so that a token
// naming one is told why rather than "unknown key", and does not trigger a refresh.
type jwk struct {
	kid, alg, use string
	pub           crypto.PublicKey // *rsa.PublicKey or *ecdsa.PublicKey; nil when unusable is set
	unusable      string
}

// keySet is what one fetch of the JWK set gave, in the issuer's order.
type keySet []jwk

// parseKeys reads each entry on its own: RFC 7517 §5 asks that a set's entries that are not understood be
// ignored, and go-jose would otherwise refuse the whole set for one of them.
func parseKeys(raws []json.RawMessage) keySet {
	var set keySet
	for _, raw := range raws {
		var head struct {
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			Use string `json:"use"`
			D   any    `json:"d"`
			K   any    `json:"k"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			continue
		}
		k := jwk{kid: head.Kid, alg: head.Alg, use: head.Use}
		var parsed jose.JSONWebKey
		switch {
		case head.D != nil || head.K != nil:
			// A published private or symmetric key is known to everyone: nothing it signs proves anything.
			k.unusable = fmt.Sprintf("the issuer's key %q is a private or symmetric key", head.Kid)
		case parsed.UnmarshalJSON(raw) != nil:
			k.unusable = fmt.Sprintf("the issuer's key %q cannot be read", head.Kid)
		default:
			switch pub := parsed.Key.(type) {
			case *rsa.PublicKey:
				if pub.N.BitLen() < minRSABits {
					k.unusable = fmt.Sprintf("the issuer's key %q is an RSA key of %d bits; wharf requires %d at least", head.Kid, pub.N.BitLen(), minRSABits)
				} else {
					k.pub = pub
				}
			case *ecdsa.PublicKey:
				k.pub = pub
			default:
				k.unusable = fmt.Sprintf("the issuer's key %q is of a type wharf does not use", head.Kid)
			}
		}
		set = append(set, k)
	}
	return set
}

// fits says why k cannot verify a signature made with alg, or "" when it can. A key's type and curve must match
// the algorithm, and its alg and use members, when present, must allow it: a key must not be used in a way its
// issuer did not intend.
func (k *jwk) fits(alg string) string {
	if k.unusable != "" {
		return k.unusable
	}
	if k.use != "" && k.use != "sig" {
		return fmt.Sprintf("the issuer's key %q is for %q, not for signatures", k.kid, k.use)
	}
	if k.alg != "" && k.alg != alg {
		return fmt.Sprintf("the issuer's key %q is for %s, but the token is signed with %s", k.kid, k.alg, alg)
	}
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		if alg == string(jose.RS256) {
			return ""
		}
	case *ecdsa.PublicKey:
		if alg == string(jose.ES256) && pub.Curve == elliptic.P256() {
			return ""
		}
	}
	return fmt.Sprintf("the issuer's key %q is not a key for %s", k.kid, alg)
}

// find looks up the key for a token signed with alg under kid. It returns the key, or why the keys named cannot
// verify it (both with missing false), or missing true when the set holds no candidate, which is when fetching
// the set again may help.
//
// A token without kid is verified only when exactly one key of the set fits its algorithm: trying each key in turn
// would let a token pick whichever key suits it.
func (s keySet) find(alg, kid string) (k *jwk, why string, missing bool) {
	var fitting []*jwk
	named := 0
	for i := range s {
		c := &s[i]
		if kid != "" && c.kid != kid {
			continue
		}
		named++
		if r := c.fits(alg); r == "" {
			fitting = append(fitting, c)
		} else if why == "" {
			why = r
		}
	}
	switch {
	case len(fitting) == 1:
		return fitting[0], "", false
	case len(fitting) > 1 && kid == "":
		return nil, fmt.Sprintf("the token names no key (no kid header) and the issuer publishes %d keys for %s", len(fitting), alg), false
	case len(fitting) > 1:
		// The set repeats a kid (RFC 7517 allows it for keys of different types); two keys for the same algorithm
		// under one kid are ambiguous.
		return nil, fmt.Sprintf("the issuer publishes %d keys %q for %s", len(fitting), kid, alg), false
	case kid != "" && named > 0:
		return nil, why, false
	}
	return nil, "", true
}
