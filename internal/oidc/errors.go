package oidc

import "fmt"

// Code says why a token was refused, in a word a program can switch on and a JSON answer can carry.
type Code string

// The refusals. Each is its own code so that the endpoint that exchanges tokens can tell a CI job precisely what
// went wrong: "expired" calls for a fresh token, "wrong_audience" for a changed workflow, "keys_unavailable" for a
// retry later.
const (
	// CodeMalformed: not a compact JWS with JSON header and claims, too long, or a claim of the wrong JSON type.
	CodeMalformed Code = "malformed"
	// CodeUnsupportedAlgorithm: the header names an algorithm other than RS256 or ES256 (none, HS256, ...).
	CodeUnsupportedAlgorithm Code = "unsupported_algorithm"
	// CodeBadSignature: the signature does not verify with the issuer's key the header names.
	CodeBadSignature Code = "bad_signature"
	// CodeUnknownKey: the issuer publishes no usable key for the token's kid and algorithm.
	CodeUnknownKey Code = "unknown_key"
	// CodeWrongIssuer: the iss claim is not the issuer this Verifier trusts.
	CodeWrongIssuer Code = "wrong_issuer"
	// CodeWrongAudience: the aud claim is missing or is not the audience wharf accepts.
	CodeWrongAudience Code = "wrong_audience"
	// CodeSeveralAudiences: aud lists more than one audience, even if one of them is wharf's.
	CodeSeveralAudiences Code = "several_audiences"
	// CodeExpired: exp (plus the leeway) has passed.
	CodeExpired Code = "expired"
	// CodeNotYetValid: nbf (less the leeway) is still to come.
	CodeNotYetValid Code = "not_yet_valid"
	// CodeIssuedInFuture: iat is later than now plus the leeway: a clock is wrong, or the token was forged ahead.
	CodeIssuedInFuture Code = "issued_in_future"
	// CodeMissingExpiry: no exp claim; wharf accepts no token that never expires.
	CodeMissingExpiry Code = "missing_exp"
	// CodeMissingIssuedAt: no iat claim.
	CodeMissingIssuedAt Code = "missing_iat"
	// CodeKeysUnavailable: the issuer's keys could not be fetched and no cached key fits. Unlike the other codes
	// it is temporary: the same token may verify once the issuer answers again.
	CodeKeysUnavailable Code = "keys_unavailable"
)

// Error is every refusal of Verify and PeekIssuer. Reason is worded for the person who reads the failed CI job's
// log, says what to do where something can be done, and holds nothing secret: it may be shown as it is. Err, when
// set, is the underlying cause (a network error, the context's end, go-jose's complaint) for errors.Is; whatever
// of it helps the reader is already in Reason.
type Error struct {
	Code   Code
	Reason string
	Err    error
}

// Error returns the reason: the code is for programs, and the cause is already told in the reason when it helps.
func (e *Error) Error() string { return "oidc: " + e.Reason }

func (e *Error) Unwrap() error { return e.Err }

func refuse(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}
