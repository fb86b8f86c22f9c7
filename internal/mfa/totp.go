// Package mfa holds wharf's second factors: TOTP authenticator apps and recovery codes, with their enrolment,
// replay protection and audit events. It has no HTTP: the web layer calls it after its own re-authentication and
// rate-limit checks.
package mfa

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"hash"
	"net/url"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Algorithm is the HMAC hash of an OTP. Authenticator apps reliably support only SHA1, so wharf enrols with it; the
// others exist for the RFC 6238 vectors.
type Algorithm int

const (
	SHA1 Algorithm = iota
	SHA256
	SHA512
)

func (a Algorithm) new() func() hash.Hash {
	switch a {
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	default:
		return sha1.New
	}
}

// The parameters wharf enrols with: the ones every authenticator app understands.
const (
	Digits = 6
	Period = 30 * time.Second
	// window is how many steps either side of now a code may come from, for clocks a little off and codes typed
	// as they roll over; more would only give a guesser more chances.
	window = 1
	// skewSearch bounds the hint at enrolment: ten steps is five minutes either way.
	skewSearch = 10
)

// SecretSize is 160 bits, the HMAC-SHA1 block-friendly size RFC 4226 recommends.
const SecretSize = 20

var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000}

// HOTP is RFC 4226's one-time password for counter, with digits 6 to 8.
func HOTP(secret []byte, counter uint64, digits int, alg Algorithm) string {
	if digits < 6 || digits > 8 {
		panic("mfa: HOTP digits must be 6 to 8")
	}
	m := hmac.New(alg.new(), secret)
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	m.Write(c[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	v %= pow10[digits]
	b := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return string(b)
}

// Step is the RFC 6238 time step of t for period. It is 64-bit so that codes keep working after 2038; times before
// 1970 have no step.
func Step(t time.Time, period time.Duration) int64 {
	s := t.Unix()
	if s < 0 {
		return 0
	}
	return s / int64(period/time.Second)
}

// TOTPAt is RFC 6238's one-time password at t.
func TOTPAt(secret []byte, t time.Time, period time.Duration, digits int, alg Algorithm) string {
	return HOTP(secret, uint64(Step(t, period)), digits, alg)
}

// NewTOTPSecret returns a fresh 160-bit secret from the operating system's CSPRNG.
func NewTOTPSecret() []byte {
	b := make([]byte, SecretSize)
	rand.Read(b) // never fails: crypto/rand panics rather than return weak bytes
	return b
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// KeyURI is the otpauth:// URI that authenticator apps read from a QR code. Issuer appears both in the label and as
// a parameter because older apps read only one of them; a colon inside either name is escaped so that it cannot
// move the split between issuer and account.
func KeyURI(issuer, account string, secret []byte) string {
	label := pathEscape(issuer) + ":" + pathEscape(account)
	return "otpauth://totp/" + label +
		"?secret=" + b32.EncodeToString(secret) +
		"&issuer=" + queryEscape(issuer) +
		"&algorithm=SHA1&digits=6&period=30"
}

func pathEscape(s string) string { return strings.ReplaceAll(url.PathEscape(s), ":", "%3A") }

// queryEscape writes spaces as %20: several apps show a literal "+" otherwise.
func queryEscape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// NormalizeCode turns what a user typed or pasted into the six ASCII digits that are compared and whose step is
// stored: full-width digits from East Asian keyboards fold to ASCII, and the spaces and line breaks that apps show
// or clipboards add are dropped. Anything else is not a code.
func NormalizeCode(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, norm.NFKC.String(s))
	if len(s) != Digits {
		return "", false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	return s, true
}

// matchStep returns the step within ±radius of now whose code is code, checking every step in constant time each
// so that the time taken says nothing about which one matched. The nearest step wins when two match.
func matchStep(secret []byte, code string, now time.Time, radius int64) (int64, bool) {
	want, ok := NormalizeCode(code)
	if !ok {
		return 0, false
	}
	t := Step(now, Period)
	found, best := false, int64(0)
	// Nearest first, so that the first match is the one kept; no early exit, so every code costs the same.
	for _, d := range offsets(radius) {
		s := t + d
		if s < 0 {
			continue
		}
		c := HOTP(secret, uint64(s), Digits, SHA1)
		if subtle.ConstantTimeCompare([]byte(c), []byte(want)) == 1 && !found {
			found, best = true, s
		}
	}
	return best, found
}

// offsets lists 0, -1, 1, -2, 2, ... up to ±radius.
func offsets(radius int64) []int64 {
	out := []int64{0}
	for d := int64(1); d <= radius; d++ {
		out = append(out, -d, d)
	}
	return out
}

// Verify reports whether code is the secret's code for a step within one of now's, and which step matched: the
// caller must spend that step (AcceptTOTPStep) before treating the code as accepted, or it could be replayed.
func Verify(secret []byte, code string, now time.Time) (step int64, ok bool) {
	return matchStep(secret, code, now, window)
}

// ClockSkew looks further, ±10 steps, for a code Verify refused, so that enrolment can tell a user whose phone
// clock is wrong why their code fails. It returns how far ahead (positive) or behind the device is. It must never
// be used to accept a code.
func ClockSkew(secret []byte, code string, now time.Time) (time.Duration, bool) {
	s, ok := matchStep(secret, code, now, skewSearch)
	if !ok {
		return 0, false
	}
	return time.Duration(s-Step(now, Period)) * Period, true
}
