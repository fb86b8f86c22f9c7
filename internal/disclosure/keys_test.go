package disclosure_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"testing"

	"wharf/internal/disclosure"
	"wharf/internal/disclosure/disclosuretest"
)

// TestKeysOnlyP256 checks that only ECDSA P-256 keys are trusted: a P-384 key, a malformed entry or one without an
// identifier is skipped, and the others still verify (K9).
func TestKeysOnlyP256(t *testing.T) {
	scanner := disclosuretest.New(t)
	scanner.Key(t, "p256")
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	scanner.AddKey("p384", p384)
	scanner.Publish("p384", "p256")
	keys := disclosure.NewKeys(scanner.URL, disclosure.KeysOptions{})
	body := []byte(`[]`)
	verify := func(id, sig string) error {
		raw, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			t.Fatal(err)
		}
		return keys.Verify(context.Background(), id, body, raw)
	}
	if err := verify("p256", scanner.Sign(t, "p256", body)); err != nil {
		t.Errorf("P-256 key: %v", err)
	}
	if err := verify("p384", scanner.Sign(t, "p384", body)); !errors.Is(err, disclosure.ErrUnknownKey) {
		t.Errorf("P-384 key: %v, want ErrUnknownKey", err)
	}

	scanner.Serve(`{"public_keys": [{"key_identifier": "junk", "key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
		{"key_identifier": "", "key": "x"}]}`)
	fresh := disclosure.NewKeys(scanner.URL, disclosure.KeysOptions{})
	if err := fresh.Verify(context.Background(), "junk", body, nil); !errors.Is(err, disclosure.ErrKeysUnavailable) {
		t.Errorf("an answer with no usable key: %v, want ErrKeysUnavailable", err)
	}
}

// TestKeysOneFetchForConcurrentReports: twenty reports at once with an unknown key identifier cost one fetch.
func TestKeysOneFetchForConcurrentReports(t *testing.T) {
	scanner := disclosuretest.New(t)
	scanner.Key(t, "known")
	scanner.Publish("known")
	keys := disclosure.NewKeys(scanner.URL, disclosure.KeysOptions{})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := keys.Verify(context.Background(), "unknown", []byte(`[]`), nil); !errors.Is(err, disclosure.ErrUnknownKey) {
				t.Errorf("Verify = %v, want ErrUnknownKey", err)
			}
		})
	}
	wg.Wait()
	if n := scanner.Fetches(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}
