package mfa

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

var serverSecret = bytes.Repeat([]byte("k"), 32)

// clock is the injected time; tests move it by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// events keeps what was recorded, to check kinds and that no secret leaks into a detail.
type events struct {
	mu  sync.Mutex
	all []string
}

func (e *events) Record(_ context.Context, kind string, userID, _ int64, _ audit.Request, detail string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, fmt.Sprintf("%s user=%d %s", kind, userID, detail))
	return nil
}

func (e *events) kinds() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, s := range e.all {
		out = append(out, strings.Fields(s)[0])
	}
	return out
}

type fixture struct {
	db      *store.DB
	clock   *clock
	ev      *events
	totp    *TOTP
	rc      *Recovery
	factors *Factors
	account store.User
	user    int64
}

func setup(t *testing.T, open func(testing.TB) *store.DB) *fixture {
	db := open(t)
	f := &fixture{db: db, clock: &clock{t: time.Date(2026, 11, 25, 10, 0, 5, 0, time.UTC)}, ev: &events{}}
	var err error
	f.totp, err = NewTOTP(db, serverSecret, "wharf", f.ev, f.clock.now)
	if err != nil {
		t.Fatal(err)
	}
	f.rc = NewRecovery(db, f.ev, f.clock.now)
	f.factors = NewFactors(db, policy.New(db), f.ev)
	f.account = storetest.MustUser(t, db, "alice")
	f.user = f.account.ID
	return f
}

// removeTOTP removes the user's app as the user, just after confirming the password.
func (f *fixture) removeTOTP() error {
	return f.factors.RemoveTOTP(context.Background(), policy.Actor{User: f.account, Sudo: true}, audit.Request{})
}

// enrol runs Begin and Confirm and returns the secret.
func (f *fixture) enrol(t *testing.T) []byte {
	t.Helper()
	secret, _, err := f.totp.Begin(context.Background(), f.user, "phone")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.totp.Confirm(context.Background(), f.user, f.code(secret, 0), audit.Request{}); err != nil {
		t.Fatal(err)
	}
	return secret
}

func (f *fixture) code(secret []byte, steps int64) string {
	return HOTP(secret, uint64(Step(f.clock.now(), Period)+steps), 6, SHA1)
}

func TestMFA(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Run("enrolment", func(t *testing.T) { testEnrolment(t, e.Open) })
			t.Run("login and replay", func(t *testing.T) { testCheck(t, e.Open) })
			t.Run("20 parallel logins", func(t *testing.T) { testParallelCheck(t, e.Open) })
			t.Run("recovery codes", func(t *testing.T) { testRecovery(t, e.Open) })
			t.Run("no secrets in events or errors", func(t *testing.T) { testNoSecrets(t, e.Open) })
		})
	}
}

func testEnrolment(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := setup(t, open)
	if err := f.totp.Confirm(ctx, f.user, "123456", audit.Request{}); !errors.Is(err, ErrNoEnrolment) {
		t.Fatalf("Confirm before Begin: got %v, want ErrNoEnrolment", err)
	}
	secret, uri, err := f.totp.Begin(ctx, f.user, "phone")
	if err != nil {
		t.Fatal(err)
	}
	if want := KeyURI("wharf", "alice", secret); uri != want {
		t.Errorf("key URI %q, want %q", uri, want)
	}
	p, err := f.db.TOTPPendingFor(ctx, f.user, f.clock.now())
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Sealed, secret) {
		t.Error("pending secret stored in the clear")
	}
	if enrolled, _ := f.totp.Enrolled(ctx, f.user); enrolled {
		t.Error("enrolled before Confirm")
	}

	steps := []struct {
		name string
		code string
		want error
	}{
		{"wrong code", "000000", ErrWrongCode},
		{"device four minutes fast", f.code(secret, 8), ErrWrongCode},
		{"right code", f.code(secret, 0), nil},
		{"again after activation", f.code(secret, 0), ErrNoEnrolment},
	}
	for _, s := range steps {
		err := f.totp.Confirm(ctx, f.user, s.code, audit.Request{})
		if !errors.Is(err, s.want) {
			t.Errorf("%s: got %v, want %v", s.name, err, s.want)
		}
	}
	var skew *SkewError
	if err := f.totp.Confirm(ctx, f.user, "x", audit.Request{}); errors.As(err, &skew) {
		t.Errorf("malformed code gave a skew hint: %v", err)
	}
	if enrolled, err := f.totp.Enrolled(ctx, f.user); !enrolled || err != nil {
		t.Errorf("Enrolled = %v, %v after Confirm", enrolled, err)
	}
	if err := f.totp.Check(ctx, f.user, f.code(secret, 0)); !errors.Is(err, ErrReplay) {
		t.Errorf("the confirming code logging in: got %v, want ErrReplay", err)
	}
	if _, _, err := f.totp.Begin(ctx, f.user, "second"); !errors.Is(err, ErrAlreadyEnrolled) {
		t.Errorf("second Begin: got %v, want ErrAlreadyEnrolled", err)
	}
	if err := f.removeTOTP(); err != nil {
		t.Fatal(err)
	}
	if err := f.totp.Check(ctx, f.user, f.code(secret, 0)); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("after Remove: got %v, want ErrNotEnrolled", err)
	}
	if diff := cmp.Diff([]string{TOTPAdded, TOTPRemoved}, f.ev.kinds()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if last := f.ev.all[len(f.ev.all)-1]; !strings.HasSuffix(last, " phone") {
		t.Errorf("removal event %q does not name the label", last)
	}
	if err := f.removeTOTP(); !errors.Is(err, ErrNotEnrolled) {
		t.Errorf("second Remove: got %v, want ErrNotEnrolled", err)
	}
}

func TestSkewHint(t *testing.T) {
	f := setup(t, storetest.OpenSQLite)
	ctx := context.Background()
	secret, _, err := f.totp.Begin(ctx, f.user, "")
	if err != nil {
		t.Fatal(err)
	}
	err = f.totp.Confirm(ctx, f.user, f.code(secret, -6), audit.Request{})
	var skew *SkewError
	if !errors.As(err, &skew) || skew.Offset != -3*time.Minute {
		t.Fatalf("got %v, want a skew of -3 minutes", err)
	}
	if !strings.Contains(err.Error(), "off by about -3 minutes") {
		t.Errorf("message %q does not say by how much", err)
	}
}

func TestPendingExpires(t *testing.T) {
	f := setup(t, storetest.OpenSQLite)
	ctx := context.Background()
	secret, _, err := f.totp.Begin(ctx, f.user, "")
	if err != nil {
		t.Fatal(err)
	}
	f.clock.add(10 * time.Minute)
	if err := f.totp.Confirm(ctx, f.user, f.code(secret, 0), audit.Request{}); !errors.Is(err, ErrNoEnrolment) {
		t.Errorf("after 10 minutes: got %v, want ErrNoEnrolment", err)
	}
	first, _, _ := f.totp.Begin(ctx, f.user, "")
	if _, _, err := f.totp.Begin(ctx, f.user, ""); err != nil {
		t.Fatal(err)
	}
	if err := f.totp.Confirm(ctx, f.user, f.code(first, 0), audit.Request{}); !errors.Is(err, ErrWrongCode) {
		t.Errorf("code of a replaced secret: got %v, want ErrWrongCode", err)
	}
}

func testCheck(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := setup(t, open)
	secret := f.enrol(t)
	f.clock.add(5 * Period)
	steps := []struct {
		name    string
		code    string
		advance time.Duration
		want    error
	}{
		{"current code, typed with a space", f.code(secret, 0)[:3] + " " + f.code(secret, 0)[3:], 0, nil},
		{"the same code again", f.code(secret, 0), 0, ErrReplay},
		{"the previous step's code", f.code(secret, -1), 0, ErrReplay},
		{"the next step's code", f.code(secret, 1), 0, nil},
		{"two steps ahead", f.code(secret, 2), 0, ErrWrongCode},
		{"a later code", "", Period * 3, nil},
		{"wrong code", "000000", 0, ErrWrongCode},
	}
	for _, s := range steps {
		f.clock.add(s.advance)
		code := s.code
		if code == "" {
			code = f.code(secret, 0)
		}
		if err := f.totp.Check(ctx, f.user, code); !errors.Is(err, s.want) {
			t.Errorf("%s: got %v, want %v", s.name, err, s.want)
		}
	}
}

func testParallelCheck(t *testing.T, open func(testing.TB) *store.DB) {
	f := setup(t, open)
	secret := f.enrol(t)
	f.clock.add(Period)
	code := f.code(secret, 0)
	var ok, replay atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			switch err := f.totp.Check(context.Background(), f.user, code); {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrReplay):
				replay.Add(1)
			default:
				t.Errorf("check: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || replay.Load() != 19 {
		t.Errorf("%d accepted, %d replays; want 1 and 19", ok.Load(), replay.Load())
	}
}

func testRecovery(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := setup(t, open)
	codes, err := f.rc.Regenerate(ctx, f.user, audit.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != 8 {
		t.Fatalf("%d codes, want 8", len(codes))
	}
	seen := map[string]bool{}
	for _, c := range codes {
		n, ok := NormalizeRecoveryCode(c)
		if !ok || len(c) != 19 || seen[n] {
			t.Errorf("code %q: want xxxx-xxxx-xxxx-xxxx, unique", c)
		}
		seen[n] = true
	}
	rows, err := f.db.UnusedRecoveryCodes(ctx, f.user)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		for _, c := range codes {
			n, _ := NormalizeRecoveryCode(c)
			if bytes.Contains(r.Hash, []byte(n)) || bytes.Contains(r.Salt, []byte(n)) {
				t.Error("a recovery code is stored in the clear")
			}
		}
	}

	uses := []struct {
		name string
		code string
		left int
		want error
	}{
		{"as shown", codes[0], 7, nil},
		{"again", codes[0], 0, ErrWrongCode},
		{"upper case, spaces instead of dashes", strings.ToUpper(strings.ReplaceAll(codes[1], "-", " ")), 6, nil},
		{"no separators, trailing newline", strings.ReplaceAll(codes[2], "-", "") + "\n", 5, nil},
		{"wrong", "aaaa-aaaa-aaaa-aaaa", 0, ErrWrongCode},
		{"malformed", "aaaa", 0, ErrWrongCode},
	}
	for _, u := range uses {
		left, err := f.rc.Use(ctx, f.user, u.code, audit.Request{})
		if !errors.Is(err, u.want) || left != u.left {
			t.Errorf("%s: got %d, %v; want %d, %v", u.name, left, err, u.left, u.want)
		}
	}

	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			switch _, err := f.rc.Use(context.Background(), f.user, codes[3], audit.Request{}); {
			case err == nil:
				ok.Add(1)
			case !errors.Is(err, ErrWrongCode):
				t.Errorf("use: %v", err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 {
		t.Errorf("10 parallel uses of one code: %d succeeded, want 1", ok.Load())
	}

	fresh, err := f.rc.Regenerate(ctx, f.user, audit.Request{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.rc.Use(ctx, f.user, codes[4], audit.Request{}); !errors.Is(err, ErrWrongCode) {
		t.Errorf("old code after Regenerate: got %v, want ErrWrongCode", err)
	}
	if n, err := f.rc.Remaining(ctx, f.user); n != 8 || err != nil {
		t.Errorf("Remaining = %d, %v; want 8", n, err)
	}
	if _, err := f.rc.Use(ctx, f.user, fresh[0], audit.Request{}); err != nil {
		t.Errorf("new code: %v", err)
	}
	want := []string{RecoveryRegenerated, RecoveryUsed, RecoveryUsed, RecoveryUsed, RecoveryUsed, RecoveryRegenerated, RecoveryUsed}
	if diff := cmp.Diff(want, f.ev.kinds()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// testNoSecrets is A2: every event detail and every error text is searched for the secret (raw and base32), the
// codes and the recovery codes that passed through.
func testNoSecrets(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	f := setup(t, open)
	var secrets, texts []string
	note := func(err error) {
		if err != nil {
			texts = append(texts, err.Error())
		}
	}
	secret, _, err := f.totp.Begin(ctx, f.user, "phone")
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, string(secret), b32.EncodeToString(secret))
	for _, d := range []int64{-20, 8, 0} {
		c := f.code(secret, d)
		secrets = append(secrets, c)
		note(f.totp.Confirm(ctx, f.user, c, audit.Request{}))
	}
	for _, d := range []int64{0, -5, 1, 1} {
		c := f.code(secret, d)
		secrets = append(secrets, c)
		note(f.totp.Check(ctx, f.user, c))
	}
	codes, err := f.rc.Regenerate(ctx, f.user, audit.Request{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range append(codes[:2:2], codes[0], "zzzz-zzzz-zzzz-zzzz") {
		n, _ := NormalizeRecoveryCode(c)
		secrets = append(secrets, c, n)
		_, err := f.rc.Use(ctx, f.user, c, audit.Request{})
		note(err)
	}
	note(f.removeTOTP())
	note(f.removeTOTP())
	if len(texts) < 5 {
		t.Fatalf("only %d errors to search: the test lost its failures", len(texts))
	}
	texts = append(texts, f.ev.all...)
	for _, text := range texts {
		for _, s := range secrets {
			if s != "" && strings.Contains(strings.ToLower(text), strings.ToLower(s)) {
				t.Errorf("%q contains a secret or code", text)
			}
		}
	}
}

func TestSeal(t *testing.T) {
	s, err := newSealer(serverSecret)
	if err != nil {
		t.Fatal(err)
	}
	other, err := newSealer(bytes.Repeat([]byte("j"), 32))
	if err != nil {
		t.Fatal(err)
	}
	secret := NewTOTPSecret()
	sealed := s.seal(7, secret)
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name   string
		sealer sealer
		user   int64
		sealed []byte
		want   error
	}{
		{"same key and user", s, 7, sealed, nil},
		{"moved to another user", s, 8, sealed, ErrSealed},
		{"another server's key", other, 7, sealed, ErrSealed},
		{"tampered", s, 7, tampered, ErrSealed},
		{"truncated", s, 7, sealed[:5], ErrSealed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.sealer.open(tc.user, tc.sealed)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err == nil && !bytes.Equal(got, secret) {
				t.Error("opened to a different secret")
			}
		})
	}
	if bytes.Equal(s.seal(7, secret), sealed) {
		t.Error("two seals of one secret are equal: the nonce is not fresh")
	}
	if _, err := newSealer([]byte("short")); err == nil {
		t.Error("a short server secret was accepted")
	}
}

func TestNormalizeRecoveryCode(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"as shown", "abcd-efgh-ijkl-mnop", "abcdefghijklmnop", true},
		{"upper case and spaces", "ABCD EFGH IJKL MNOP", "abcdefghijklmnop", true},
		{"full-width", "ＡＢＣＤ－ｅｆｇｈ－ijkl-mnop", "abcdefghijklmnop", true},
		{"digits outside the alphabet", "abcd-efgh-ijkl-mno0", "", false},
		{"too short", "abcd-efgh-ijkl", "", false},
		{"too long", "abcd-efgh-ijkl-mnop-q", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := NormalizeRecoveryCode(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}
