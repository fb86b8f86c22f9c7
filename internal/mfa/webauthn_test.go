package mfa

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/google/go-cmp/cmp"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
	"wharf/internal/webauthntest"
)

const (
	testRPID   = "localhost"
	testOrigin = "http://localhost:8080"
)

type wfix struct {
	db         *store.DB
	clock      *clock
	ev         *events
	wa         *WebAuthn
	factors    *Factors
	accounts   map[int64]store.User
	alice, bob int64
	n          atomic.Int64
}

func wsetup(t *testing.T, open func(testing.TB) *store.DB) *wfix {
	t.Helper()
	db := open(t)
	f := &wfix{db: db, clock: &clock{t: time.Date(2026, 11, 25, 10, 0, 5, 0, time.UTC)}, ev: &events{}}
	var err error
	f.wa, err = NewWebAuthn(db, WebAuthnConfig{RPID: testRPID, Origin: testOrigin, RPName: "wharf"}, f.ev, f.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	f.factors = NewFactors(db, policy.New(db), f.ev)
	alice, bob := storetest.MustUser(t, db, "alice"), storetest.MustUser(t, db, "bob")
	f.accounts = map[int64]store.User{alice.ID: alice, bob.ID: bob}
	f.alice, f.bob = alice.ID, bob.ID
	return f
}

// sudo is the user acting on the web just after confirming the password: what removing a key asks.
func (f *wfix) sudo(user int64) policy.Actor { return policy.Actor{User: f.accounts[user], Sudo: true} }

func (f *wfix) removeKey(user, keyID int64) (Key, error) {
	return f.factors.RemoveKey(context.Background(), f.sudo(user), keyID, audit.Request{})
}

// binding returns a fresh session binding, so that each case's challenge is its own.
func (f *wfix) binding() string { return fmt.Sprintf("session-%d", f.n.Add(1)) }

func newKey() *webauthntest.Authenticator { return webauthntest.New(testRPID, testOrigin) }

// register runs a whole registration; errors of the authenticator (the browser) fail the test.
func (f *wfix) register(t *testing.T, user int64, a *webauthntest.Authenticator, passkey bool, label string, opts ...webauthntest.Option) (Key, error) {
	t.Helper()
	ctx := context.Background()
	b := f.binding()
	options, err := f.wa.BeginRegistration(ctx, user, b, passkey)
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Register(options, opts...)
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	return f.wa.FinishRegistration(ctx, user, b, label, body, audit.Request{})
}

func (f *wfix) mustRegister(t *testing.T, user int64, a *webauthntest.Authenticator, passkey bool, opts ...webauthntest.Option) Key {
	t.Helper()
	k, err := f.register(t, user, a, passkey, "", opts...)
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	return k
}

func (f *wfix) login(t *testing.T, user int64, a *webauthntest.Authenticator, opts ...webauthntest.Option) (Key, error) {
	t.Helper()
	ctx := context.Background()
	b := f.binding()
	options, err := f.wa.BeginLogin(ctx, user, b)
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Assert(options, opts...)
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	return f.wa.FinishLogin(ctx, user, b, body, audit.Request{})
}

func (f *wfix) passkeyLogin(t *testing.T, a *webauthntest.Authenticator, opts ...webauthntest.Option) (int64, Key, error) {
	t.Helper()
	ctx := context.Background()
	b := f.binding()
	options, err := f.wa.BeginPasskeyLogin(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Assert(options, opts...)
	if err != nil {
		t.Fatalf("authenticator: %v", err)
	}
	return f.wa.FinishPasskeyLogin(ctx, b, body, audit.Request{})
}

func (f *wfix) keys(t *testing.T, user int64) []Key {
	t.Helper()
	keys, err := f.wa.Keys(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// optionsJSON is what the browser's JavaScript reads from Begin*'s output.
type optionsJSON struct {
	PublicKey struct {
		RP        struct{ ID, Name string }
		User      struct{ ID, Name string }
		Challenge string
		Params    []struct {
			Type string
			Alg  int
		} `json:"pubKeyCredParams"`
		Exclude   []struct{ ID string } `json:"excludeCredentials"`
		Allow     []struct{ ID string } `json:"allowCredentials"`
		Selection struct {
			ResidentKey      string
			UserVerification string
		} `json:"authenticatorSelection"`
		UserVerification string
		Attestation      string
		RPID             string `json:"rpId"`
	} `json:"publicKey"`
}

func decodeOptions(t *testing.T, b []byte) optionsJSON {
	t.Helper()
	var o optionsJSON
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatalf("options %s: %v", b, err)
	}
	return o
}

func unb64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64url %q: %v", s, err)
	}
	return b
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestWebAuthn(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Run("options", func(t *testing.T) { testWebAuthnOptions(t, e.Open) })
			t.Run("W1 registration refusals", func(t *testing.T) { testRegistrationRefusals(t, e.Open) })
			t.Run("W1 credential id in use", func(t *testing.T) { testKeyInUse(t, e.Open) })
			t.Run("W4 challenges", func(t *testing.T) { testChallenges(t, e.Open) })
			t.Run("W4 one challenge, 10 parallel finishes", func(t *testing.T) { testParallelFinish(t, e.Open) })
			t.Run("W2 login refusals", func(t *testing.T) { testLoginRefusals(t, e.Open) })
			t.Run("W2 passkey login refusals", func(t *testing.T) { testPasskeyRefusals(t, e.Open) })
			t.Run("W3 clone detection", func(t *testing.T) { testClone(t, e.Open) })
			t.Run("W3 one sign count, parallel logins", func(t *testing.T) { testParallelCount(t, e.Open) })
			t.Run("W5 backup flags", func(t *testing.T) { testBackupFlags(t, e.Open) })
			t.Run("keys and removal", func(t *testing.T) { testKeysAndRemoval(t, e.Open) })
		})
	}
}

func testWebAuthnOptions(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := wsetup(t, open)
	var handles [][]byte
	for _, passkey := range []bool{false, true} {
		b, err := f.wa.BeginRegistration(ctx, f.alice, f.binding(), passkey)
		if err != nil {
			t.Fatal(err)
		}
		o := decodeOptions(t, b).PublicKey
		var algs []int
		for _, p := range o.Params {
			algs = append(algs, p.Alg)
		}
		if diff := cmp.Diff([]int{-7, -8, -257}, algs); diff != "" {
			t.Errorf("pubKeyCredParams (-want +got):\n%s", diff)
		}
		wantRK := map[bool]string{false: "discouraged", true: "required"}[passkey]
		if o.Selection.ResidentKey != wantRK || o.Selection.UserVerification != "preferred" || o.Attestation != "none" {
			t.Errorf("passkey %v: residentKey %q, userVerification %q, attestation %q; want %q, preferred, none",
				passkey, o.Selection.ResidentKey, o.Selection.UserVerification, o.Attestation, wantRK)
		}
		if o.RP.ID != testRPID || o.RP.Name != "wharf" || o.User.Name != "alice" {
			t.Errorf("rp %+v, user %+v", o.RP, o.User)
		}
		if c := unb64(t, o.Challenge); len(c) < 16 {
			t.Errorf("challenge of %d bytes", len(c))
		}
		handles = append(handles, unb64(t, o.User.ID))
	}
	if len(handles[0]) != 32 || !bytes.Equal(handles[0], handles[1]) {
		t.Errorf("user handles %x and %x; want one stable 32-byte handle", handles[0], handles[1])
	}
	b, err := f.wa.BeginRegistration(ctx, f.bob, f.binding(), false)
	if err != nil {
		t.Fatal(err)
	}
	if bobs := unb64(t, decodeOptions(t, b).PublicKey.User.ID); bytes.Equal(bobs, handles[0]) {
		t.Error("two users got the same user handle")
	}

	// excludeCredentials and allowCredentials list the user's keys.
	a1, a2 := newKey(), newKey()
	f.mustRegister(t, f.alice, a1, false)
	f.mustRegister(t, f.alice, a2, true)
	f.mustRegister(t, f.bob, newKey(), false)
	want := append(a1.CredentialIDs(), a2.CredentialIDs()...)
	ids := func(ds []struct{ ID string }) [][]byte {
		var out [][]byte
		for _, d := range ds {
			out = append(out, unb64(t, d.ID))
		}
		return out
	}
	b, err = f.wa.BeginRegistration(ctx, f.alice, f.binding(), false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, ids(decodeOptions(t, b).PublicKey.Exclude)); diff != "" {
		t.Errorf("excludeCredentials (-want +got):\n%s", diff)
	}
	if _, err := a1.Register(b); !errors.Is(err, webauthntest.ErrExcluded) {
		t.Errorf("browser with a registered key: got %v, want it to refuse (excluded)", err)
	}
	b, err = f.wa.BeginLogin(ctx, f.alice, f.binding())
	if err != nil {
		t.Fatal(err)
	}
	o := decodeOptions(t, b).PublicKey
	if diff := cmp.Diff(want, ids(o.Allow)); diff != "" {
		t.Errorf("allowCredentials (-want +got):\n%s", diff)
	}
	if o.RPID != testRPID || o.UserVerification != "preferred" {
		t.Errorf("login rpId %q, userVerification %q", o.RPID, o.UserVerification)
	}
	b, err = f.wa.BeginPasskeyLogin(ctx, f.binding())
	if err != nil {
		t.Fatal(err)
	}
	if o := decodeOptions(t, b).PublicKey; len(o.Allow) != 0 || o.UserVerification != "required" {
		t.Errorf("passkey login: allowCredentials %v, userVerification %q; want none, required", o.Allow, o.UserVerification)
	}
	if _, err := f.wa.BeginLogin(ctx, storetest.MustUser(t, f.db, "carol").ID, f.binding()); !errors.Is(err, ErrNoKeys) {
		t.Errorf("login for a user without keys: got %v, want ErrNoKeys", err)
	}
}

func testRegistrationRefusals(t *testing.T, open func(testing.TB) *store.DB) {
	f := wsetup(t, open)
	long := randomBytes(1024)
	cases := []struct {
		name string
		opts []webauthntest.Option
		want error
	}{
		{"valid", nil, nil},
		{"valid without user verification (preferred)", []webauthntest.Option{webauthntest.UserVerified(false)}, nil},
		{"valid EdDSA", []webauthntest.Option{webauthntest.Alg(webauthntest.EdDSA)}, nil},
		{"valid 1023-byte credential id", []webauthntest.Option{webauthntest.CredentialID(long[:1023])}, nil},
		{"valid synced", []webauthntest.Option{webauthntest.Flags(true, true)}, nil},
		{"type webauthn.get", []webauthntest.Option{webauthntest.Type("webauthn.get")}, ErrKeyRefused},
		{"credential type not public-key", []webauthntest.Option{webauthntest.CredentialType("password")}, ErrKeyRefused},
		{"another challenge", []webauthntest.Option{webauthntest.Challenge(randomBytes(32))}, ErrKeyRefused},
		{"another origin", []webauthntest.Option{webauthntest.Origin("https://evil.example")}, ErrKeyRefused},
		{"another port", []webauthntest.Option{webauthntest.Origin("http://localhost:8081")}, ErrKeyRefused},
		{"another rpIdHash", []webauthntest.Option{webauthntest.RPID("evil.example")}, ErrKeyRefused},
		{"user not present", []webauthntest.Option{webauthntest.UserPresent(false)}, ErrKeyRefused},
		{"ES384 not offered", []webauthntest.Option{webauthntest.Alg(webauthntest.ES384)}, ErrKeyRefused},
		{"1024-byte credential id", []webauthntest.Option{webauthntest.CredentialID(long)}, ErrKeyRefused},
		{"backed up, not eligible", []webauthntest.Option{webauthntest.Flags(false, true)}, ErrKeyRefused},
	}
	accepted := 0
	for _, c := range cases {
		k, err := f.register(t, f.alice, newKey(), false, c.name, c.opts...)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
		if err == nil {
			accepted++
			if k.Label != c.name || k.ID == 0 || !k.CreatedAt.Equal(f.clock.now()) {
				t.Errorf("%s: key %+v", c.name, k)
			}
		}
		if c.want != nil && err != nil && errors.Is(err, ErrKeyInUse) {
			t.Errorf("%s: refusal is also ErrKeyInUse: %v", c.name, err)
		}
	}
	if got := len(f.keys(t, f.alice)); got != accepted {
		t.Errorf("%d keys stored, want %d: a refused registration stored a key", got, accepted)
	}
}

func testKeyInUse(t *testing.T, open func(testing.TB) *store.DB) {
	f := wsetup(t, open)
	a := newKey()
	f.mustRegister(t, f.alice, a, false)
	id := a.CredentialIDs()[0]
	for _, c := range []struct {
		name string
		user int64
		opts []webauthntest.Option
		want error
	}{
		{"another credential, same user", f.alice, nil, nil},
		{"another credential, another user", f.bob, nil, nil},
		{"the same id, same user", f.alice, []webauthntest.Option{webauthntest.CredentialID(id)}, ErrKeyInUse},
		{"the same id, another user", f.bob, []webauthntest.Option{webauthntest.CredentialID(id)}, ErrKeyInUse},
	} {
		if _, err := f.register(t, c.user, newKey(), false, "", c.opts...); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if n := len(f.keys(t, f.bob)); n != 1 {
		t.Errorf("bob has %d keys, want 1", n)
	}
}

func testChallenges(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := wsetup(t, open)
	a := newKey()
	none := audit.Request{}

	if _, err := f.wa.FinishRegistration(ctx, f.alice, "never", "", []byte("{}"), none); !errors.Is(err, ErrChallenge) {
		t.Errorf("finish without begin: got %v, want ErrChallenge", err)
	}

	// Begun in s1: refused in s2, for another user, for another purpose; then accepted in s1, and only once.
	opts, err := f.wa.BeginRegistration(ctx, f.alice, "s1", false)
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Register(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.wa.FinishRegistration(ctx, f.alice, "s2", "", body, none); !errors.Is(err, ErrChallenge) {
		t.Errorf("finished in another session: got %v, want ErrChallenge", err)
	}
	if _, _, err := f.wa.FinishPasskeyLogin(ctx, "s1", body, none); !errors.Is(err, ErrChallenge) {
		t.Errorf("finished as another ceremony: got %v, want ErrChallenge", err)
	}
	if _, err := f.wa.FinishRegistration(ctx, f.alice, "s1", "", body, none); err != nil {
		t.Fatalf("finished in its own session: %v", err)
	}
	if _, err := f.wa.FinishRegistration(ctx, f.alice, "s1", "", body, none); !errors.Is(err, ErrChallenge) {
		t.Errorf("finished twice: got %v, want ErrChallenge", err)
	}

	login := func(user int64, binding string, wait time.Duration) error {
		opts, err := f.wa.BeginLogin(ctx, f.alice, binding)
		if err != nil {
			t.Fatal(err)
		}
		body, err := a.Assert(opts)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.add(wait)
		_, err = f.wa.FinishLogin(ctx, user, binding, body, none)
		return err
	}
	for _, c := range []struct {
		name    string
		user    int64
		binding string
		wait    time.Duration
		want    error
	}{
		{"just in time", f.alice, "s3", challengeFor - time.Microsecond, nil},
		{"expired", f.alice, "s3", challengeFor, ErrChallenge},
		{"begun for alice, finished as bob", f.bob, "s3", 0, ErrChallenge},
		{"again in time", f.alice, "s3", time.Second, nil},
	} {
		if err := login(c.user, c.binding, c.wait); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}

	// A second Begin replaces the first: the answer to the first options no longer fits.
	first, err := f.wa.BeginLogin(ctx, f.alice, "s4")
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.wa.BeginLogin(ctx, f.alice, "s4")
	if err != nil {
		t.Fatal(err)
	}
	challenges := map[string]bool{}
	for _, o := range [][]byte{first, second} {
		challenges[decodeOptions(t, o).PublicKey.Challenge] = true
	}
	if len(challenges) != 2 {
		t.Error("two Begins gave the same challenge")
	}
	body, err = a.Assert(first)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.wa.FinishLogin(ctx, f.alice, "s4", body, none); !errors.Is(err, ErrKeyRefused) {
		t.Errorf("answer to replaced options: got %v, want ErrKeyRefused", err)
	}
	if _, err := f.wa.FinishLogin(ctx, f.alice, "s4", body, none); !errors.Is(err, ErrChallenge) {
		t.Errorf("a failed finish spends the challenge too: got %v, want ErrChallenge", err)
	}
}

func testParallelFinish(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := wsetup(t, open)
	a := newKey()
	f.mustRegister(t, f.alice, a, false)
	opts, err := f.wa.BeginLogin(ctx, f.alice, "s")
	if err != nil {
		t.Fatal(err)
	}
	body, err := a.Assert(opts)
	if err != nil {
		t.Fatal(err)
	}
	var ok, gone atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			switch _, err := f.wa.FinishLogin(ctx, f.alice, "s", body, audit.Request{}); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrChallenge):
				gone.Add(1)
			default:
				t.Errorf("finish: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || gone.Load() != 9 {
		t.Errorf("%d accepted, %d ErrChallenge; want 1 and 9", ok.Load(), gone.Load())
	}
}

func testLoginRefusals(t *testing.T, open func(testing.TB) *store.DB) {
	f := wsetup(t, open)
	a, b := newKey(), newKey()
	key := f.mustRegister(t, f.alice, a, false)
	f.mustRegister(t, f.bob, b, false)
	bobsID := b.CredentialIDs()[0]
	cases := []struct {
		name string
		key  *webauthntest.Authenticator
		opts []webauthntest.Option
		want error
	}{
		{"valid", a, nil, nil},
		{"valid without user verification (preferred)", a, []webauthntest.Option{webauthntest.UserVerified(false)}, nil},
		{"bogus signature", a, []webauthntest.Option{webauthntest.BadSignature()}, ErrKeyRefused},
		{"user not present", a, []webauthntest.Option{webauthntest.UserPresent(false)}, ErrKeyRefused},
		{"another user's key", b, []webauthntest.Option{webauthntest.Use(bobsID)}, ErrKeyRefused},
		{"an unknown credential id", a, []webauthntest.Option{webauthntest.CredentialID(randomBytes(32))}, ErrKeyRefused},
		{"another user's credential id", a, []webauthntest.Option{webauthntest.CredentialID(bobsID)}, ErrKeyRefused},
		{"a user handle not the user's", a, []webauthntest.Option{webauthntest.UserHandle(randomBytes(32))}, ErrKeyRefused},
		{"type webauthn.create", a, []webauthntest.Option{webauthntest.Type("webauthn.create")}, ErrKeyRefused},
		{"another origin", a, []webauthntest.Option{webauthntest.Origin("https://evil.example")}, ErrKeyRefused},
		{"another rpIdHash", a, []webauthntest.Option{webauthntest.RPID("evil.example")}, ErrKeyRefused},
		{"another challenge", a, []webauthntest.Option{webauthntest.Challenge(randomBytes(32))}, ErrKeyRefused},
		{"valid once more", a, nil, nil},
	}
	for _, c := range cases {
		f.clock.add(time.Minute)
		got, err := f.login(t, f.alice, c.key, c.opts...)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			continue
		}
		if err == nil && (got.ID != key.ID || !got.LastUsedAt.Equal(f.clock.now())) {
			t.Errorf("%s: key %+v, want id %d used at %v", c.name, got, key.ID, f.clock.now())
		}
	}
	if keys := f.keys(t, f.alice); len(keys) != 1 || !keys[0].LastUsedAt.Equal(f.clock.now()) {
		t.Errorf("stored keys %+v; want one, last used at the last valid login %v", keys, f.clock.now())
	}
}

func testPasskeyRefusals(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := wsetup(t, open)
	a, b := newKey(), newKey()
	passkey := f.mustRegister(t, f.alice, a, true)
	if !passkey.Passkey || passkey.Label != "Passkey" {
		t.Errorf("passkey registered as %+v", passkey)
	}
	// A key registered as a second factor, though the authenticator made it discoverable anyway.
	second := newKey()
	f.mustRegister(t, f.alice, second, false, webauthntest.Resident(true))
	f.mustRegister(t, f.bob, b, true)
	opts, err := f.wa.BeginRegistration(ctx, f.bob, f.binding(), true)
	if err != nil {
		t.Fatal(err)
	}
	bobsHandle := unb64(t, decodeOptions(t, opts).PublicKey.User.ID)

	cases := []struct {
		name string
		key  *webauthntest.Authenticator
		opts []webauthntest.Option
		want error
		user int64
	}{
		{"valid", a, nil, nil, f.alice},
		{"valid, bob", b, nil, nil, f.bob},
		{"bogus signature", a, []webauthntest.Option{webauthntest.BadSignature()}, ErrKeyRefused, 0},
		{"user not present", a, []webauthntest.Option{webauthntest.UserPresent(false)}, ErrKeyRefused, 0},
		{"user not verified", a, []webauthntest.Option{webauthntest.UserVerified(false)}, ErrKeyRefused, 0},
		{"another user's handle", a, []webauthntest.Option{webauthntest.UserHandle(bobsHandle)}, ErrKeyRefused, 0},
		{"an unknown user handle", a, []webauthntest.Option{webauthntest.UserHandle(randomBytes(32))}, ErrKeyRefused, 0},
		{"no user handle", a, []webauthntest.Option{webauthntest.UserHandle(nil)}, ErrKeyRefused, 0},
		{"an unknown credential", a, []webauthntest.Option{webauthntest.CredentialID(randomBytes(32))}, ErrKeyRefused, 0},
		{"bob's credential id, alice's handle", a, []webauthntest.Option{webauthntest.CredentialID(b.CredentialIDs()[0])}, ErrKeyRefused, 0},
		{"a second-factor key", second, nil, ErrKeyRefused, 0},
		{"valid again", a, nil, nil, f.alice},
	}
	for _, c := range cases {
		user, k, err := f.passkeyLogin(t, c.key, c.opts...)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			continue
		}
		if user != c.user {
			t.Errorf("%s: user %d, want %d", c.name, user, c.user)
		}
		if err == nil && !k.Passkey {
			t.Errorf("%s: signed in with %+v, not a passkey", c.name, k)
		}
	}
}

func testClone(t *testing.T, open func(testing.TB) *store.DB) {
	f := wsetup(t, open)
	a := newKey()
	f.mustRegister(t, f.alice, a, false)
	if _, err := f.login(t, f.alice, a); err != nil { // count 1
		t.Fatal(err)
	}
	clone := a.Clone()
	cases := []struct {
		name string
		key  *webauthntest.Authenticator
		opts []webauthntest.Option
		want error
	}{
		{"the original, count 2", a, nil, nil},
		{"the clone, also count 2", clone, nil, ErrKeyCloned},
		{"the same count", a, []webauthntest.Option{webauthntest.SignCount(2)}, ErrKeyCloned},
		{"a lower count", a, []webauthntest.Option{webauthntest.SignCount(1)}, ErrKeyCloned},
		{"zero after counting", a, []webauthntest.Option{webauthntest.SignCount(0)}, ErrKeyCloned},
		{"a higher count", a, []webauthntest.Option{webauthntest.SignCount(100)}, nil},
	}
	for _, c := range cases {
		if _, err := f.login(t, f.alice, c.key, c.opts...); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	var details []string
	for _, e := range f.ev.all {
		if strings.HasPrefix(e, WebAuthnCloneSuspected) {
			details = append(details, e)
		}
	}
	if len(details) != 4 || !strings.Contains(details[0], "Security key: sign count 2 presented, 2 stored") {
		t.Errorf("clone events %q; want 4, the first naming the label and counts", details)
	}

	// An authenticator without a counter (synced passkeys) reports 0 every time: accepted until it starts counting.
	p := newKey()
	f.mustRegister(t, f.alice, p, true, webauthntest.Flags(true, true))
	for _, c := range []struct {
		name  string
		count uint32
		want  error
	}{
		{"0", 0, nil},
		{"0 again", 0, nil},
		{"a counter appears", 5, nil},
		{"back to 0", 0, ErrKeyCloned},
	} {
		if _, _, err := f.passkeyLogin(t, p, webauthntest.SignCount(c.count)); !errors.Is(err, c.want) {
			t.Errorf("no counter, %s: got %v, want %v", c.name, err, c.want)
		}
	}
}

func testParallelCount(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := wsetup(t, open)
	a := newKey()
	f.mustRegister(t, f.alice, a, false)
	const n = 6
	bodies := make([][]byte, n)
	for i := range n {
		opts, err := f.wa.BeginLogin(ctx, f.alice, fmt.Sprint("tab-", i))
		if err != nil {
			t.Fatal(err)
		}
		if bodies[i], err = a.Assert(opts, webauthntest.SignCount(50)); err != nil {
			t.Fatal(err)
		}
	}
	var ok, cloned atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			switch _, err := f.wa.FinishLogin(ctx, f.alice, fmt.Sprint("tab-", i), bodies[i], audit.Request{}); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrKeyCloned):
				cloned.Add(1)
			default:
				t.Errorf("finish: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || cloned.Load() != n-1 {
		t.Errorf("%d accepted, %d ErrKeyCloned; want 1 and %d", ok.Load(), cloned.Load(), n-1)
	}

	// Whether the goroutines above overlapped is up to the scheduler; here the race is forced: a login that read
	// the key before another one raised the count must lose to the conditional UPDATE, not to the read.
	stale, err := f.db.WebAuthnCredentialByCredentialID(ctx, a.CredentialIDs()[0])
	if err != nil {
		t.Fatal(err)
	}
	opts, err := f.wa.BeginLogin(ctx, f.alice, "late")
	if err != nil {
		t.Fatal(err)
	}
	assertion := func(count uint32) *protocol.ParsedCredentialAssertionData {
		body, err := a.Assert(opts, webauthntest.SignCount(count))
		if err != nil {
			t.Fatal(err)
		}
		parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
		if err != nil {
			t.Fatal(err)
		}
		return parsed
	}
	if _, err := f.wa.accept(ctx, "test", stale, assertion(51), audit.Request{}); err != nil {
		t.Fatalf("count 51 after 50: %v", err)
	}
	if _, err := f.wa.accept(ctx, "test", stale, assertion(51), audit.Request{}); !errors.Is(err, ErrKeyCloned) {
		t.Errorf("count 51 again, checked against the stale 50: got %v, want ErrKeyCloned", err)
	}
	if _, err := f.removeKey(f.alice, stale.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.wa.accept(ctx, "test", stale, assertion(52), audit.Request{}); !errors.Is(err, ErrKeyRefused) || errors.Is(err, ErrKeyCloned) {
		t.Errorf("a key removed since it was read: got %v, want ErrKeyRefused", err)
	}
}

func testBackupFlags(t *testing.T, open func(testing.TB) *store.DB) {
	f := wsetup(t, open)
	hw, synced := newKey(), newKey()
	hwKey := f.mustRegister(t, f.alice, hw, false)
	f.mustRegister(t, f.bob, synced, false, webauthntest.Flags(true, false))
	if hwKey.Synced {
		t.Errorf("hardware key registered as synced: %+v", hwKey)
	}
	for _, c := range []struct {
		name   string
		user   int64
		key    *webauthntest.Authenticator
		be, bs bool
		want   error
	}{
		{"hardware key as registered", f.alice, hw, false, false, nil},
		{"hardware key now backup eligible", f.alice, hw, true, false, ErrKeyRefused},
		{"hardware key backed up, not eligible", f.alice, hw, false, true, ErrKeyRefused},
		{"eligible key, now backed up", f.bob, synced, true, true, nil},
		{"eligible key, no longer backed up", f.bob, synced, true, false, nil},
		{"eligible key, no longer eligible", f.bob, synced, false, false, ErrKeyRefused},
		{"eligible key, backed up, not eligible", f.bob, synced, false, true, ErrKeyRefused},
		{"eligible key, backed up again", f.bob, synced, true, true, nil},
	} {
		k, err := f.login(t, c.user, c.key, webauthntest.Flags(c.be, c.bs))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
			continue
		}
		if err == nil {
			if k.Synced != c.bs {
				t.Errorf("%s: Synced %v, want %v", c.name, k.Synced, c.bs)
			}
			if stored := f.keys(t, c.user); stored[0].Synced != c.bs {
				t.Errorf("%s: stored backup state %v, want %v (the latest)", c.name, stored[0].Synced, c.bs)
			}
		}
	}
}

func testKeysAndRemoval(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := wsetup(t, open)
	if ok, err := f.wa.Enrolled(ctx, f.alice); ok || err != nil {
		t.Errorf("Enrolled before any key = %v, %v", ok, err)
	}
	long := strings.Repeat("é", 70)
	a, b, c := newKey(), newKey(), newKey()
	for _, r := range []struct {
		key     *webauthntest.Authenticator
		passkey bool
		label   string
		opts    []webauthntest.Option
	}{
		{a, false, "  YubiKey 5 \n", nil},
		{b, true, "", []webauthntest.Option{webauthntest.Flags(true, true)}},
		{c, false, long, nil},
	} {
		if _, err := f.register(t, f.alice, r.key, r.passkey, r.label, r.opts...); err != nil {
			t.Fatal(err)
		}
		f.clock.add(time.Minute)
	}
	got := f.keys(t, f.alice)
	type view struct {
		Label           string
		Passkey, Synced bool
		Created         time.Time
	}
	var views []view
	for _, k := range got {
		views = append(views, view{k.Label, k.Passkey, k.Synced, k.CreatedAt})
	}
	t0 := f.clock.now().Add(-3 * time.Minute)
	want := []view{
		{"YubiKey 5", false, false, t0},
		{"Passkey", true, true, t0.Add(time.Minute)},
		{strings.Repeat("é", 64), false, false, t0.Add(2 * time.Minute)},
	}
	if diff := cmp.Diff(want, views); diff != "" {
		t.Errorf("keys, oldest first (-want +got):\n%s", diff)
	}
	if ok, err := f.wa.Enrolled(ctx, f.alice); !ok || err != nil {
		t.Errorf("Enrolled = %v, %v", ok, err)
	}
	// The whole credential is kept: logins need it later (style.md, go-webauthn trap).
	stored, err := f.db.WebAuthnCredentials(ctx, f.alice)
	if err != nil {
		t.Fatal(err)
	}
	first := stored[0]
	if !bytes.Equal(first.CredentialID, a.CredentialIDs()[0]) || len(first.PublicKey) < 64 || len(first.AAGUID) != 16 ||
		first.SignCount != 0 || first.AttestationFormat != "none" || !cmp.Equal(first.Transports, []string{"usb"}) ||
		first.BackupEligible || first.Discoverable {
		t.Errorf("stored credential %+v", first)
	}
	if s := stored[1]; !s.BackupEligible || !s.BackupState || !s.Discoverable {
		t.Errorf("stored passkey %+v; want backup eligible, backed up, discoverable", s)
	}

	if _, err := f.removeKey(f.bob, got[0].ID); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("bob removing alice's key: got %v, want ErrUnknownKey", err)
	}
	removed, err := f.removeKey(f.alice, got[0].ID)
	if err != nil || removed.Label != "YubiKey 5" {
		t.Fatalf("Remove = %+v, %v", removed, err)
	}
	if _, err := f.removeKey(f.alice, got[0].ID); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("second Remove: got %v, want ErrUnknownKey", err)
	}
	if _, err := f.login(t, f.alice, b); err != nil {
		t.Errorf("a remaining key: %v", err)
	}
	if _, err := f.login(t, f.alice, a, webauthntest.Use(a.CredentialIDs()[0])); !errors.Is(err, ErrKeyRefused) {
		t.Errorf("the removed key: got %v, want ErrKeyRefused", err)
	}
	if diff := cmp.Diff([]string{WebAuthnAdded, WebAuthnAdded, WebAuthnAdded, WebAuthnRemoved}, f.ev.kinds()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if last := f.ev.all[len(f.ev.all)-1]; !strings.HasSuffix(last, "YubiKey 5") {
		t.Errorf("removal event %q does not name the label", last)
	}
}

func TestNewWebAuthnConfig(t *testing.T) {
	db := storetest.OpenSQLite(t)
	for _, c := range []struct {
		cfg WebAuthnConfig
		ok  bool
	}{
		{WebAuthnConfig{RPID: "localhost", Origin: "http://localhost:8080", RPName: "wharf"}, true},
		{WebAuthnConfig{RPID: "example.org", Origin: "https://pypi.example.org", RPName: "wharf"}, true},
		{WebAuthnConfig{RPID: "example.org", Origin: "https://example.org/", RPName: "wharf"}, true},
		{WebAuthnConfig{RPID: "", Origin: "https://example.org", RPName: "wharf"}, false},
		{WebAuthnConfig{RPID: "example.org", Origin: "https://example.org", RPName: ""}, false},
		{WebAuthnConfig{RPID: "example.org", Origin: "https://badexample.org", RPName: "wharf"}, false},
		{WebAuthnConfig{RPID: "example.org", Origin: "https://example.org/pypi", RPName: "wharf"}, false},
		{WebAuthnConfig{RPID: "example.org", Origin: "ftp://example.org", RPName: "wharf"}, false},
		{WebAuthnConfig{RPID: "example.org", Origin: "example.org", RPName: "wharf"}, false},
	} {
		_, err := NewWebAuthn(db, c.cfg, nil, time.Now)
		if (err == nil) != c.ok {
			t.Errorf("%+v: error %v, want ok %v", c.cfg, err, c.ok)
		}
	}
}

func TestCleanLabel(t *testing.T) {
	for _, c := range []struct {
		in      string
		passkey bool
		want    string
	}{
		{"  My key  ", false, "My key"},
		{"", false, "Security key"},
		{" \t", true, "Passkey"},
		{"a\x00b\nc", false, "abc"},
		{strings.Repeat("x", 64), false, strings.Repeat("x", 64)},
		{strings.Repeat("x", 65), false, strings.Repeat("x", 64)},
		{strings.Repeat("x", 63) + " y", false, strings.Repeat("x", 63)},
	} {
		if got := keyLabel(c.in, c.passkey); got != c.want {
			t.Errorf("keyLabel(%q, %v) = %q, want %q", c.in, c.passkey, got, c.want)
		}
	}
}

func TestRefusalMessages(t *testing.T) {
	err := refuse("finish webauthn login", "verification failed", errors.New("Error validating origin"))
	if !errors.Is(err, ErrKeyRefused) || errors.Is(err, ErrKeyCloned) {
		t.Errorf("%v: not (only) ErrKeyRefused", err)
	}
	if !strings.Contains(err.Error(), "Error validating origin") {
		t.Errorf("%q does not carry the reason for the log", err)
	}
	for _, e := range []error{ErrChallenge, ErrKeyRefused, ErrKeyCloned, ErrKeyInUse, ErrNoKeys, ErrUnknownKey} {
		if strings.ContainsAny(e.Error(), "%{}") {
			t.Errorf("sentinel %q is not a plain message", e)
		}
	}
}
