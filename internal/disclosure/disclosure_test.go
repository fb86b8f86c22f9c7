package disclosure_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/audit"
	"wharf/internal/disclosure"
	"wharf/internal/disclosure/disclosuretest"
	"wharf/internal/notify"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
	"wharf/internal/tokens"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// mailbox keeps what the service sends.
type mailbox struct {
	mu   sync.Mutex
	sent []notify.Message
}

func (m *mailbox) Send(_ context.Context, msg notify.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return nil
}

func (m *mailbox) messages() []notify.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]notify.Message(nil), m.sent...)
}

type fixture struct {
	db      *store.DB
	clock   *clock
	scanner *disclosuretest.Scanner
	mail    *mailbox
	minter  *tokens.Minter
	tokens  *tokens.Service
	svc     *disclosure.Service
	alice   store.User
}

const (
	keyID    = "bcb53661c06b4728e59d897fb6165d5c9cda0fd9cdf9d09ead458168deb7518c"
	leakURL  = "https://github.com/octocat/hello/blob/1a2b3c/deploy.sh"
	siteBase = "https://wharf.example"
)

func newFixture(t *testing.T, open func(testing.TB) *store.DB) *fixture {
	t.Helper()
	f := &fixture{db: open(t), clock: &clock{now: t0}, scanner: disclosuretest.New(t), mail: &mailbox{}}
	f.scanner.Key(t, keyID)
	f.scanner.Publish(keyID)
	minter, err := tokens.NewMinter([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	f.minter = minter
	f.tokens = tokens.NewService(minter, f.db, audit.New(f.db, f.clock.Now, log), f.clock.Now)
	letters, err := notify.NewTemplates("wharf", siteBase)
	if err != nil {
		t.Fatal(err)
	}
	keys := disclosure.NewKeys(f.scanner.URL, disclosure.KeysOptions{Now: f.clock.Now, Log: log})
	f.svc = disclosure.New(keys, f.tokens, f.db, f.mail, letters, log)
	f.alice = storetest.MustUser(t, f.db, "alice")
	return f
}

// token creates a token for alice, as the token page does.
func (f *fixture) token(t *testing.T, name string, expires time.Time) (string, store.Token) {
	t.Helper()
	tok, rec, err := f.tokens.Create(context.Background(), f.alice, name, nil, expires, audit.Request{})
	if err != nil {
		t.Fatal(err)
	}
	return tok, rec
}

// signed is a request for body signed with the scanner's published key.
func (f *fixture) signed(t *testing.T, body []byte) disclosure.Request {
	return disclosure.Request{Body: body, KeyID: keyID, Signature: f.scanner.Sign(t, keyID, body),
		From: audit.Request{IP: "192.0.2.7", UserAgent: "GitHub-Hookshot/test"}}
}

func (f *fixture) record(t *testing.T, id string) store.Token {
	t.Helper()
	rec, err := f.db.TokenByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// leakEvents are alice's token:leaked events, oldest first.
func (f *fixture) leakEvents(t *testing.T) []store.Event {
	t.Helper()
	evs, err := f.db.Events(context.Background(), f.alice.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Event
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Kind == audit.TokenLeaked {
			out = append(out, evs[i])
		}
	}
	return out
}

// live says whether the token still uploads.
func (f *fixture) live(token string) bool {
	_, err := f.tokens.Verify(context.Background(), token)
	return err == nil
}

func report(token string) disclosuretest.Report {
	return disclosuretest.Report{Token: token, Type: "wharf_api_token", URL: leakURL, Source: "content"}
}

// forgeKeepingID returns token with its signature changed: the same id, as anyone who saw the id could write, but
// not signed by the server.
func forgeKeepingID(t *testing.T, token string) string {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(token, tokens.Prefix))
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-1] ^= 0x01
	forged := tokens.Prefix + base64.RawURLEncoding.EncodeToString(raw)
	if id, _ := tokens.ParseID(forged); id == "" {
		t.Fatal("forgery does not parse")
	}
	return forged
}

func TestDisclose(t *testing.T) {
	ctx := context.Background()
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Run("K9 a signed report revokes the token, mails the owner and records the event", func(t *testing.T) {
				f := newFixture(t, e.Open)
				tok, rec := f.token(t, "CI for demo", time.Time{})
				other, otherRec := f.token(t, "laptop", time.Time{})
				f.clock.Add(time.Minute)
				if err := f.svc.Disclose(ctx, f.signed(t, disclosuretest.Body(report(tok)))); err != nil {
					t.Fatalf("Disclose: %v", err)
				}
				if got := f.record(t, rec.ID).RevokedAt; !got.Equal(f.clock.Now()) {
					t.Errorf("revoked_at = %v, want %v", got, f.clock.Now())
				}
				if f.live(tok) {
					t.Error("the reported token still uploads")
				}
				if !f.live(other) || !f.record(t, otherRec.ID).RevokedAt.IsZero() {
					t.Error("another token of the same owner was revoked")
				}
				mails := f.mail.messages()
				if len(mails) != 1 {
					t.Fatalf("%d mails, want 1: %+v", len(mails), mails)
				}
				m := mails[0]
				if m.To != "alice@example.com" || m.Kind != notify.KindTokenLeaked {
					t.Errorf("mail to %q of kind %q, want alice@example.com, %s", m.To, m.Kind, notify.KindTokenLeaked)
				}
				for _, want := range []string{"\n" + leakURL + "\n", `"CI for demo"`, rec.ID, disclosure.Reporter,
					siteBase + "/manage/account/token/", siteBase + "/manage/projects/"} {
					if !strings.Contains(m.Text, want) {
						t.Errorf("mail lacks %q:\n%s", want, m.Text)
					}
				}
				if strings.Contains(m.Text, tok) {
					t.Error("the mail repeats the token")
				}
				evs := f.leakEvents(t)
				if len(evs) != 1 {
					t.Fatalf("%d token:leaked events, want 1", len(evs))
				}
				want := store.Event{Kind: audit.TokenLeaked, UserID: f.alice.ID, Username: "alice", IP: "192.0.2.7", UserAgent: "GitHub-Hookshot/test",
					Detail: fmt.Sprintf("token %s %q found in public at %s", rec.ID, "CI for demo", leakURL)}
				if diff := cmp.Diff(want, evs[0], cmpEvent); diff != "" {
					t.Errorf("event (-want +got):\n%s", diff)
				}
			})

			t.Run("K9 an expired token is revoked too", func(t *testing.T) {
				f := newFixture(t, e.Open)
				tok, rec := f.token(t, "old", t0.Add(time.Hour))
				f.clock.Add(48 * time.Hour)
				if f.live(tok) {
					t.Fatal("the token should have expired")
				}
				if err := f.svc.Disclose(ctx, f.signed(t, disclosuretest.Body(report(tok)))); err != nil {
					t.Fatalf("Disclose: %v", err)
				}
				if got := f.record(t, rec.ID).RevokedAt; !got.Equal(f.clock.Now()) {
					t.Errorf("revoked_at = %v, want %v", got, f.clock.Now())
				}
				if n := len(f.mail.messages()); n != 1 {
					t.Errorf("%d mails, want 1", n)
				}
				if n := len(f.leakEvents(t)); n != 1 {
					t.Errorf("%d token:leaked events, want 1", n)
				}
			})

			t.Run("K9 a token revoked already: nothing more", func(t *testing.T) {
				f := newFixture(t, e.Open)
				tok, rec := f.token(t, "ci", time.Time{})
				if err := f.tokens.Revoke(ctx, f.alice.ID, rec.ID, audit.Request{}); err != nil {
					t.Fatal(err)
				}
				f.clock.Add(time.Hour)
				if err := f.svc.Disclose(ctx, f.signed(t, disclosuretest.Body(report(tok)))); err != nil {
					t.Fatalf("Disclose: %v", err)
				}
				if got := f.record(t, rec.ID).RevokedAt; !got.Equal(t0) {
					t.Errorf("revoked_at = %v, want the first revocation, %v", got, t0)
				}
				if n := len(f.mail.messages()); n != 0 {
					t.Errorf("%d mails, want none", n)
				}
				if n := len(f.leakEvents(t)); n != 0 {
					t.Errorf("%d token:leaked events, want none", n)
				}
			})

			t.Run("K9 a token reported twice in one batch, and in a later one, is revoked once", func(t *testing.T) {
				f := newFixture(t, e.Open)
				tok, _ := f.token(t, "ci", time.Time{})
				narrowed, err := tokens.Attenuate(tok, tokens.Caveats{Projects: []string{"demo"}})
				if err != nil {
					t.Fatal(err)
				}
				body := disclosuretest.Body(report(tok), report(tok), report(narrowed))
				if err := f.svc.Disclose(ctx, f.signed(t, body)); err != nil {
					t.Fatalf("Disclose: %v", err)
				}
				if err := f.svc.Disclose(ctx, f.signed(t, body)); err != nil {
					t.Fatalf("Disclose again: %v", err)
				}
				if n := len(f.mail.messages()); n != 1 {
					t.Errorf("%d mails, want 1", n)
				}
				if n := len(f.leakEvents(t)); n != 1 {
					t.Errorf("%d token:leaked events, want 1", n)
				}
			})

			t.Run("K9 strings that are not live wharf tokens get the same answer and change nothing", func(t *testing.T) {
				f := newFixture(t, e.Open)
				tok, rec := f.token(t, "ci", time.Time{})
				unrecorded, _, err := f.minter.Mint(tokens.Caveats{UserID: f.alice.ID})
				if err != nil {
					t.Fatal(err)
				}
				otherMinter, err := tokens.NewMinter([]byte(strings.Repeat("x", 32)))
				if err != nil {
					t.Fatal(err)
				}
				otherServer, _, err := otherMinter.Mint(tokens.Caveats{UserID: f.alice.ID})
				if err != nil {
					t.Fatal(err)
				}
				cases := map[string]string{
					"a token whose record does not exist":      unrecorded,
					"another service's secret":                 "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
					"a PyPI token":                             "pypi-AgEIcHlwaS5vcmcCJGZha2U",
					"a wharf-looking token of another server":  otherServer,
					"the real token's id with a forged tail":   forgeKeepingID(t, tok),
					"the prefix alone":                         tokens.Prefix,
					"the real token cut short":                 tok[:len(tok)-4],
					"the real token with a character appended": tok + "A",
				}
				var all []disclosuretest.Report
				for name, s := range cases {
					all = append(all, report(s))
					if err := f.svc.Disclose(ctx, f.signed(t, disclosuretest.Body(report(s)))); err != nil {
						t.Errorf("%s: Disclose = %v, want nil like a revocation", name, err)
					}
				}
				// Reports that are not objects with a string token are passed over too.
				odd := []byte(`[42, "wharf-x", null, {"token": 7}, {"url": "` + leakURL + `"}, {"token": ""}]`)
				for _, body := range [][]byte{disclosuretest.Body(all...), odd, disclosuretest.Body()} {
					if err := f.svc.Disclose(ctx, f.signed(t, body)); err != nil {
						t.Errorf("Disclose(%.60s...) = %v, want nil", body, err)
					}
				}
				if !f.live(tok) || !f.record(t, rec.ID).RevokedAt.IsZero() {
					t.Error("the real token was revoked")
				}
				if n := len(f.mail.messages()); n != 0 {
					t.Errorf("%d mails, want none", n)
				}
				if n := len(f.leakEvents(t)); n != 0 {
					t.Errorf("%d token:leaked events, want none", n)
				}
			})

			t.Run("K9 live tokens among other strings are revoked; an address that is not a web URL is not repeated", func(t *testing.T) {
				f := newFixture(t, e.Open)
				tok, rec := f.token(t, "ci", time.Time{})
				tok2, rec2 := f.token(t, "laptop", time.Time{})
				body := disclosuretest.Body(report("ghp_16C7e42F292c6912E7710c838347Ae178B4a"), report(forgeKeepingID(t, tok)),
					disclosuretest.Report{Token: tok, Type: "wharf_api_token", URL: "", Source: "issue_comment"},
					disclosuretest.Report{Token: tok2, Type: "wharf_api_token", URL: "javascript:alert(1)//https://github.com/", Source: "content"})
				if err := f.svc.Disclose(ctx, f.signed(t, body)); err != nil {
					t.Fatalf("Disclose: %v", err)
				}
				if f.record(t, rec.ID).RevokedAt.IsZero() || f.record(t, rec2.ID).RevokedAt.IsZero() {
					t.Error("a token was not revoked")
				}
				mails := f.mail.messages()
				if len(mails) != 2 {
					t.Fatalf("%d mails, want 2", len(mails))
				}
				for _, m := range mails {
					if !strings.Contains(m.Text, "did not say where") || strings.Contains(m.Text, "javascript") {
						t.Errorf("mail should say the address is unknown:\n%s", m.Text)
					}
				}
			})
		})
	}
}

var cmpEvent = cmp.FilterPath(func(p cmp.Path) bool {
	f := p.Last().String()
	return f == ".ID" || f == ".CreatedAt"
}, cmp.Ignore())

// TestRefusals checks that nothing is read or changed for a request that is not a signed list of reports (K9).
func TestRefusals(t *testing.T) {
	ctx := context.Background()
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			tok, rec := f.token(t, "ci", time.Time{})
			body := disclosuretest.Body(report(tok))
			good := f.signed(t, body)
			otherKey := disclosuretest.New(t)
			otherKey.Key(t, keyID)
			big := disclosuretest.Body(report(tok), disclosuretest.Report{Token: strings.Repeat("a", disclosure.MaxBody)})
			sigBytes, _ := base64.StdEncoding.DecodeString(good.Signature)

			with := func(change func(*disclosure.Request)) disclosure.Request {
				r := good
				change(&r)
				return r
			}
			signedBody := func(b string) disclosure.Request { return f.signed(t, []byte(b)) }
			for _, tc := range []struct {
				name string
				req  disclosure.Request
				want error
			}{
				{"no key identifier", with(func(r *disclosure.Request) { r.KeyID = "" }), disclosure.ErrNoSignature},
				{"no signature", with(func(r *disclosure.Request) { r.Signature = "" }), disclosure.ErrNoSignature},
				{"signature not base64", with(func(r *disclosure.Request) { r.Signature = "not base64!" }), disclosure.ErrBadSignature},
				{"signature cut short", with(func(r *disclosure.Request) {
					r.Signature = base64.StdEncoding.EncodeToString(sigBytes[:len(sigBytes)-2])
				}), disclosure.ErrBadSignature},
				{"signature by another key under the same identifier", with(func(r *disclosure.Request) {
					r.Signature = otherKey.Sign(t, keyID, body)
				}), disclosure.ErrBadSignature},
				{"body changed after signing", with(func(r *disclosure.Request) { r.Body = append([]byte(" "), body...) }), disclosure.ErrBadSignature},
				{"signature of another body", with(func(r *disclosure.Request) {
					r.Signature = f.scanner.Sign(t, keyID, disclosuretest.Body())
				}), disclosure.ErrBadSignature},
				{"unknown key identifier", with(func(r *disclosure.Request) { r.KeyID = "unknown" }), disclosure.ErrUnknownKey},
				{"not JSON", signedBody(`[{"token": "` + tok + `"`), disclosure.ErrMalformed},
				{"an object, not a list", signedBody(`{"token": "` + tok + `", "type": "wharf_api_token", "url": ""}`), disclosure.ErrMalformed},
				{"null", signedBody(`null`), disclosure.ErrMalformed},
				{"a string", signedBody(`"` + tok + `"`), disclosure.ErrMalformed},
				{"empty", signedBody(``), disclosure.ErrMalformed},
				{"a list and more", signedBody(string(body) + `[]`), disclosure.ErrMalformed},
				{"larger than 1 MiB", f.signed(t, big), disclosure.ErrTooLarge},
			} {
				if err := f.svc.Disclose(ctx, tc.req); !errors.Is(err, tc.want) {
					t.Errorf("%s: Disclose = %v, want %v", tc.name, err, tc.want)
				}
			}
			if !f.live(tok) || !f.record(t, rec.ID).RevokedAt.IsZero() {
				t.Error("a refused request revoked the token")
			}
			if n := len(f.mail.messages()); n != 0 {
				t.Errorf("%d mails, want none", n)
			}
			if n := len(f.leakEvents(t)); n != 0 {
				t.Errorf("%d token:leaked events, want none", n)
			}
			// The signed original still works: the refusals were about the requests, not the token.
			if err := f.svc.Disclose(ctx, good); err != nil || f.live(tok) {
				t.Errorf("the good request: Disclose = %v, live = %v; want nil, false", err, f.live(tok))
			}
		})
	}
}

// TestKeyRotation: a report signed with a key the service has not seen makes it fetch the keys again, at most once
// per cool-down; a key the scanner withdraws stops being trusted once the keys are fetched again (K9).
func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			const newID = "f9525bf080f75b3506ca1ead061add62b8633a346606dc5fe544e29231c6ee0d"
			f.scanner.Key(t, newID)
			disclose := func(id string) error {
				tok, _ := f.token(t, "ci", time.Time{})
				body := disclosuretest.Body(report(tok))
				err := f.svc.Disclose(ctx, disclosure.Request{Body: body, KeyID: id, Signature: f.scanner.Sign(t, id, body)})
				if revoked := !f.live(tok); revoked != (err == nil) {
					t.Errorf("Disclose = %v but revoked = %v", err, revoked)
				}
				return err
			}

			if err := disclose(keyID); err != nil {
				t.Fatalf("first report: %v", err)
			}
			if n := f.scanner.Fetches(); n != 1 {
				t.Fatalf("%d fetches after the first report, want 1", n)
			}

			// A key the scanner does not publish: the keys are fetched again, and still do not name it.
			f.scanner.Key(t, "unpublished")
			f.clock.Add(disclosure.DefaultCooldown)
			if err := disclose("unpublished"); !errors.Is(err, disclosure.ErrUnknownKey) {
				t.Errorf("unpublished key: %v, want ErrUnknownKey", err)
			}
			if n := f.scanner.Fetches(); n != 2 {
				t.Fatalf("%d fetches after an unknown key, want 2", n)
			}

			// The scanner rotates: its new key signs. Within the cool-down of the last fetch the keys are not
			// fetched again, so the new identifier is unknown.
			f.scanner.Publish(keyID, newID)
			f.clock.Add(time.Minute)
			if err := disclose(newID); !errors.Is(err, disclosure.ErrUnknownKey) {
				t.Errorf("new key within the cool-down: %v, want ErrUnknownKey", err)
			}
			if n := f.scanner.Fetches(); n != 2 {
				t.Errorf("%d fetches within the cool-down, want still 2", n)
			}

			// Once the cool-down has passed, the unknown identifier fetches the keys again and the report is taken.
			f.clock.Add(disclosure.DefaultCooldown)
			if err := disclose(newID); err != nil {
				t.Errorf("new key after the cool-down: %v, want nil", err)
			}
			if n := f.scanner.Fetches(); n != 3 {
				t.Errorf("%d fetches, want 3", n)
			}
			// Both keys are held now: the old one verifies without a fetch.
			if err := disclose(keyID); err != nil {
				t.Errorf("old key, still listed: %v", err)
			}
			if n := f.scanner.Fetches(); n != 3 {
				t.Errorf("%d fetches, want still 3", n)
			}

			// The scanner withdraws the old key; once the keys are old, they are fetched again and it is refused.
			f.scanner.Publish(newID)
			f.clock.Add(disclosure.DefaultMaxAge)
			if err := disclose(keyID); !errors.Is(err, disclosure.ErrUnknownKey) {
				t.Errorf("withdrawn key: %v, want ErrUnknownKey", err)
			}
			if err := disclose(newID); err != nil {
				t.Errorf("current key: %v", err)
			}
			if n := f.scanner.Fetches(); n != 4 {
				t.Errorf("%d fetches, want 4", n)
			}
		})
	}
}

// TestKeysEndpointDown: keys once fetched keep verifying while the scanner's key endpoint fails, however old they
// are; what they cannot verify is answered as unavailable, not as refused (K9).
func TestKeysEndpointDown(t *testing.T) {
	ctx := context.Background()
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			f := newFixture(t, e.Open)
			disclose := func(id string) error {
				tok, _ := f.token(t, "ci", time.Time{})
				body := disclosuretest.Body(report(tok))
				err := f.svc.Disclose(ctx, disclosure.Request{Body: body, KeyID: id, Signature: f.scanner.Sign(t, id, body)})
				if revoked := !f.live(tok); revoked != (err == nil) {
					t.Errorf("Disclose = %v but revoked = %v", err, revoked)
				}
				return err
			}
			if err := disclose(keyID); err != nil {
				t.Fatalf("first report: %v", err)
			}

			f.scanner.SetDown(true)
			f.clock.Add(2 * disclosure.DefaultMaxAge)
			if err := disclose(keyID); err != nil {
				t.Errorf("endpoint down, key held: %v, want nil", err)
			}
			if n := f.scanner.Fetches(); n != 2 {
				t.Errorf("%d fetches, want 2 (the old keys were due for a refresh)", n)
			}
			f.scanner.Key(t, "rotated")
			f.clock.Add(disclosure.DefaultCooldown)
			if err := disclose("rotated"); !errors.Is(err, disclosure.ErrKeysUnavailable) {
				t.Errorf("endpoint down, key not held: %v, want ErrKeysUnavailable", err)
			}

			// An answer without a usable key, or not JSON, keeps the keys held too.
			f.scanner.SetDown(false)
			for _, doc := range []string{`{"public_keys": []}`, `<html>rate limited</html>`} {
				f.scanner.Serve(doc)
				f.clock.Add(2 * disclosure.DefaultMaxAge)
				if err := disclose(keyID); err != nil {
					t.Errorf("keys answer %q: %v, want the held key to verify", doc, err)
				}
			}
		})
	}
}

// TestNoKeysYet: a scanner whose keys could never be fetched gets 'unavailable', and a fetch at most once per
// cool-down (K9).
func TestNoKeysYet(t *testing.T) {
	f := newFixture(t, storetest.OpenSQLite)
	f.scanner.SetDown(true)
	tok, _ := f.token(t, "ci", time.Time{})
	for range 3 {
		if err := f.svc.Disclose(context.Background(), f.signed(t, disclosuretest.Body(report(tok)))); !errors.Is(err, disclosure.ErrKeysUnavailable) {
			t.Errorf("Disclose = %v, want ErrKeysUnavailable", err)
		}
	}
	if n := f.scanner.Fetches(); n != 1 {
		t.Errorf("%d fetches, want 1 within the cool-down", n)
	}
	f.scanner.SetDown(false)
	f.clock.Add(disclosure.DefaultCooldown)
	if err := f.svc.Disclose(context.Background(), f.signed(t, disclosuretest.Body(report(tok)))); err != nil || f.live(tok) {
		t.Errorf("after the cool-down: Disclose = %v, live = %v; want nil, false", err, f.live(tok))
	}
}
