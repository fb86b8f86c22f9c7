package tokens

import (
	"errors"
	"testing"
	"time"
)

// FuzzVerify checks that no input makes Verify, Authenticate, ParseID or
// Attenuate panic, that every failure is one of the documented errors, and
// that the only inputs that verify are the tokens we minted: since each token
// has exactly one encoding and forging needs the key, a mutated input that
// verifies would be a malleability or forgery bug.
func FuzzVerify(f *testing.F) {
	m := newTestMinter(f, testKey)
	now := t0
	minted := map[string]bool{}
	add := func(tok string) {
		minted[tok] = true
		f.Add(tok)
	}
	// Minting happens again in every fuzz worker process, so the ids must be
	// the same each time for the minted set to match the seed corpus.
	for i, c := range []Caveats{
		{UserID: 7},
		{UserID: 7, Projects: []string{"a", "b-c"}},
		{UserID: 1 << 40, NotBefore: now.Add(-time.Hour), Expires: now.Add(time.Hour)},
	} {
		tok, err := m.mint([idLen]byte{byte(i)}, c)
		if err != nil {
			f.Fatal(err)
		}
		add(tok)
		add(attenuate(f, tok, Caveats{Projects: []string{"b-c"}, Expires: now.Add(time.Minute)}))
	}
	// Authentic but refused: these reach the caveat parser.
	authentic := map[string]bool{}
	for _, cavs := range [][]string{
		{`{"user":7}`, `{"projects":[]}`},
		{`{"user":7}`, `{"exp":1}`},
		{`{"user":7,"user":8}`},
		{`{"user":7}`, `{"weird":{"a":[1,2,{"b":null}]}}`},
	} {
		tok := craft(m, cavs...)
		authentic[tok] = true
		f.Add(tok)
	}
	for _, s := range []string{"", Prefix, "wharf-A", "wharf-AQ", "pypi-AgEIcHlwaS5vcmc", "wharf-\n", "wharf-////"} {
		f.Add(s)
	}
	known := []error{ErrMalformed, ErrBadSignature, ErrExpired, ErrNotYetValid, ErrNoProjects}

	f.Fuzz(func(t *testing.T, s string) {
		v, err := m.Verify(s, now)
		id, idErr := ParseID(s)
		if err == nil {
			if !minted[s] {
				t.Fatalf("Verify accepted an input we never minted: %q -> %+v", s, v)
			}
			if idErr != nil || id != v.ID {
				t.Fatalf("ParseID = %q, %v; Verify said %q", id, idErr, v.ID)
			}
			if v.UserID <= 0 || (v.Projects != nil && len(v.Projects) == 0) {
				t.Fatalf("Verify succeeded with %+v", v)
			}
		} else if !isOneOf(err, known) {
			t.Fatalf("Verify error %v is none of the documented errors", err)
		}
		if _, err := m.Authenticate(s); err == nil && !minted[s] && !authentic[s] {
			t.Fatalf("Authenticate accepted an input we never signed: %q", s)
		}
		if idErr != nil && !errors.Is(idErr, ErrMalformed) {
			t.Fatalf("ParseID error %v is not ErrMalformed", idErr)
		}

		// Attenuating any input must never produce something that allows
		// more than the input did.
		narrowed, aerr := Attenuate(s, Caveats{Projects: []string{"b-c"}})
		if aerr != nil {
			return
		}
		nv, nerr := m.Verify(narrowed, now)
		if nerr != nil {
			return
		}
		if err != nil {
			t.Fatalf("attenuating a token that failed Verify (%v) gave one that passes", err)
		}
		if nv.UserID != v.UserID || nv.ID != v.ID || nv.AllowsProject("a") {
			t.Fatalf("attenuated %+v to %+v", v, nv)
		}
	})
}

func isOneOf(err error, targets []error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
