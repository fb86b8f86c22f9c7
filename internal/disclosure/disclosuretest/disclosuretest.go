// Package disclosuretest plays GitHub secret scanning in tests: it holds ECDSA P-256 signing keys, publishes them
// at a URL in the shape of https://api.github.com/meta/public_keys/secret_scanning, and signs reports as GitHub
// signs what it sends to its partners.
package disclosuretest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// Scanner is a fake secret scanner with a key endpoint at URL.
type Scanner struct {
	URL string

	mu        sync.Mutex
	keys      map[string]*ecdsa.PrivateKey
	published []string
	raw       string // served instead of the published keys when set
	down      bool
	fetches   int
}

// New starts a scanner whose key endpoint publishes no key yet; it stops when the test ends.
func New(t testing.TB) *Scanner {
	t.Helper()
	s := &Scanner{keys: map[string]*ecdsa.PrivateKey{}}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/meta/public_keys/secret_scanning"
	return s
}

// Key makes a new P-256 key called id (not published yet) and returns its private half.
func (s *Scanner) Key(t testing.TB, id string) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s.AddKey(id, k)
	return k
}

// AddKey adds a private key of any curve under id (not published yet).
func (s *Scanner) AddKey(id string, k *ecdsa.PrivateKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys[id] = k
}

// Publish makes the endpoint list exactly these keys, the last one current, and serve them again after Serve.
func (s *Scanner) Publish(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.published, s.raw = ids, ""
}

// Serve makes the endpoint answer doc, whatever keys are published.
func (s *Scanner) Serve(doc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw = doc
}

// SetDown makes the endpoint answer 503 (down) or serve again.
func (s *Scanner) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Fetches counts the requests the endpoint received.
func (s *Scanner) Fetches() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

// Sign returns the Github-Public-Key-Signature of body under the key id: base64 of an ASN.1 DER ECDSA signature
// over the body's SHA-256.
func (s *Scanner) Sign(t testing.TB, id string, body []byte) string {
	t.Helper()
	s.mu.Lock()
	k := s.keys[id]
	s.mu.Unlock()
	if k == nil {
		t.Fatalf("disclosuretest: no key %q", id)
	}
	digest := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, k, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func (s *Scanner) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fetches++
	if s.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if s.raw != "" {
		w.Write([]byte(s.raw))
		return
	}
	type entry struct {
		KeyIdentifier string `json:"key_identifier"`
		Key           string `json:"key"`
		IsCurrent     bool   `json:"is_current"`
	}
	doc := struct {
		PublicKeys []entry `json:"public_keys"`
	}{PublicKeys: []entry{}}
	for i, id := range s.published {
		der, err := x509.MarshalPKIXPublicKey(&s.keys[id].PublicKey)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		doc.PublicKeys = append(doc.PublicKeys, entry{
			KeyIdentifier: id,
			Key:           string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
			IsCurrent:     i == len(s.published)-1,
		})
	}
	json.NewEncoder(w).Encode(doc)
}

// Report is one match as GitHub sends it.
type Report struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// Body is the JSON list of reports, compact, as GitHub sends it.
func Body(reports ...Report) []byte {
	if reports == nil {
		reports = []Report{}
	}
	b, err := json.Marshal(reports)
	if err != nil {
		panic(err) // only strings
	}
	return b
}
