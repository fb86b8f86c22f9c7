package disclosure

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Defaults of KeysOptions.
const (
	// DefaultCooldown is the least time between two fetches of the keys. Anyone can send an unknown key id; without
	// it, each would cost a request to the scanner's API, whose rate limit is shared with every genuine refresh.
	DefaultCooldown = 5 * time.Minute
	// DefaultMaxAge is how long fetched keys are used before they are fetched again, so that a key the scanner
	// withdraws (retired, or compromised) stops being trusted. A failed fetch keeps them.
	DefaultMaxAge = time.Hour
	// fetchTimeout bounds one fetch; maxKeysBody bounds its answer (GitHub's is about 1 KiB).
	fetchTimeout = 10 * time.Second
	maxKeysBody  = 1 << 20
)

// KeysOptions configure Keys. Zero values take the defaults.
type KeysOptions struct {
	Client   *http.Client // default: a client with a 10-second timeout
	Now      func() time.Time
	Cooldown time.Duration
	MaxAge   time.Duration
	Log      *slog.Logger
}

// Keys are the scanner's public signing keys, by key identifier, fetched from a URL that answers as GitHub's
// https://api.github.com/meta/public_keys/secret_scanning does:
//
//	{"public_keys": [{"key_identifier": "...", "key": "-----BEGIN PUBLIC KEY-----\n...", "is_current": true}]}
//
// They are kept in memory. They are fetched again when a report names a key id they do not hold (a rotation) or
// when they are older than MaxAge, at most once per Cooldown whatever the reason; a failed fetch keeps the keys
// held (K9). Every listed ECDSA P-256 key is trusted, current or not: reports signed just before a rotation still
// arrive afterwards. Keys is safe for concurrent use.
type Keys struct {
	url      string
	client   *http.Client
	now      func() time.Time
	cooldown time.Duration
	maxAge   time.Duration
	log      *slog.Logger

	fetching sync.Mutex // one fetch at a time; the others wait for its result

	mu        sync.Mutex
	keys      map[string]*ecdsa.PublicKey
	fetchedAt time.Time // of the keys held
	triedAt   time.Time // of the last fetch, whatever its outcome
	failed    error     // of the last fetch; nil when it succeeded
}

// NewKeys returns the key set served at url. Nothing is fetched before the first report.
func NewKeys(url string, o KeysOptions) *Keys {
	k := &Keys{url: url, client: o.Client, now: o.Now, cooldown: o.Cooldown, maxAge: o.MaxAge, log: o.Log}
	if k.client == nil {
		k.client = &http.Client{Timeout: fetchTimeout}
	}
	if k.now == nil {
		k.now = time.Now
	}
	if k.cooldown <= 0 {
		k.cooldown = DefaultCooldown
	}
	if k.maxAge <= 0 {
		k.maxAge = DefaultMaxAge
	}
	if k.log == nil {
		k.log = slog.New(slog.DiscardHandler)
	}
	return k
}

// Verify checks that sig, an ASN.1 DER ECDSA signature, signs the SHA-256 of body under the key keyID names. It
// returns ErrUnknownKey when the scanner does not list keyID, ErrKeysUnavailable when the keys could not be fetched
// to find out, and ErrBadSignature when the signature does not verify.
func (k *Keys) Verify(ctx context.Context, keyID string, body, sig []byte) error {
	key, err := k.key(ctx, keyID)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(key, digest[:], sig) {
		return ErrBadSignature
	}
	return nil
}

// key returns the key keyID names, fetching the keys again when it is not held or they are old.
func (k *Keys) key(ctx context.Context, keyID string) (*ecdsa.PublicKey, error) {
	k.mu.Lock()
	key, ok := k.keys[keyID]
	fresh := k.now().Sub(k.fetchedAt) < k.maxAge
	k.mu.Unlock()
	if ok && fresh {
		return key, nil
	}
	k.refresh(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	if key, ok := k.keys[keyID]; ok {
		return key, nil
	}
	if k.failed != nil {
		return nil, ErrKeysUnavailable
	}
	return nil, ErrUnknownKey
}

// refresh fetches the keys unless the last fetch was less than the cool-down ago. A failed fetch is logged and
// keeps the keys held.
func (k *Keys) refresh(ctx context.Context) {
	k.fetching.Lock()
	defer k.fetching.Unlock()
	now := k.now()
	k.mu.Lock()
	wait := !k.triedAt.IsZero() && now.Sub(k.triedAt) < k.cooldown
	if !wait {
		k.triedAt = now
	}
	k.mu.Unlock()
	if wait {
		return
	}
	// The fetch outlives the report's request: a scanner that hangs up must not leave the keys unfetched for a
	// whole cool-down.
	keys, err := k.fetch(context.WithoutCancel(ctx))
	k.mu.Lock()
	defer k.mu.Unlock()
	if err != nil {
		k.failed = err
		k.log.Warn("leaked-token disclosure: the scanner's public keys could not be fetched; the keys held are kept",
			"url", k.url, "held", len(k.keys), "err", err)
		return
	}
	k.keys, k.fetchedAt, k.failed = keys, now, nil
}

// keysDocument is the shape of the keys' URL's answer.
type keysDocument struct {
	PublicKeys []struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	} `json:"public_keys"`
}

// fetch reads the keys. Entries that are not PEM-encoded ECDSA P-256 public keys are skipped and logged; an answer
// with no usable key at all is an error, so that it cannot replace good keys with none.
func (k *Keys) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch keys: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch keys: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeysBody+1))
	if err != nil {
		return nil, fmt.Errorf("fetch keys: %w", err)
	}
	if len(body) > maxKeysBody {
		return nil, fmt.Errorf("fetch keys: answer larger than %d bytes", maxKeysBody)
	}
	var doc keysDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("fetch keys: %w", err)
	}
	keys := make(map[string]*ecdsa.PublicKey, len(doc.PublicKeys))
	for _, e := range doc.PublicKeys {
		key, err := parseKey(e.Key)
		if err != nil || e.KeyIdentifier == "" {
			k.log.Warn("leaked-token disclosure: a listed key is skipped", "key_identifier", e.KeyIdentifier, "err", err)
			continue
		}
		keys[e.KeyIdentifier] = key
	}
	if len(keys) == 0 {
		return nil, errors.New("fetch keys: no ECDSA P-256 key in the answer")
	}
	return keys, nil
}

func parseKey(s string) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode([]byte(s))
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("not a PEM public key")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := pub.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key")
	}
	return key, nil
}
