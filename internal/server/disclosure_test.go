package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"wharf/internal/audit"
	"wharf/internal/disclosure"
	"wharf/internal/disclosure/disclosuretest"
	"wharf/internal/notify"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
	"wharf/internal/tokens"
)

type outbox struct {
	mu   sync.Mutex
	sent []notify.Message
}

func (o *outbox) Send(_ context.Context, m notify.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, m)
	return nil
}

func (o *outbox) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.sent)
}

// answer is what a client sees of a response.
type answer struct {
	Status      int
	ContentType string
	Body        string
}

func post(t *testing.T, url string, body []byte, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/_/secrets/disclose-token", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "*/*")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header.Get("Content-Type"), string(b)}
}

// TestDiscloseTokenRoute sends GitHub-shaped reports through the real route, service and database (K9).
func TestDiscloseTokenRoute(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	t.Run("off unless configured", func(t *testing.T) {
		ts := newTestServer(t, nil, nil)
		got := post(t, ts.URL, disclosuretest.Body(), map[string]string{
			"Github-Public-Key-Identifier": "k", "Github-Public-Key-Signature": "c2ln"})
		if got.Status != http.StatusNotFound {
			t.Errorf("status %d, want 404", got.Status)
		}
	})

	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			ctx := context.Background()
			db := e.Open(t)
			var clock sync.Mutex
			at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
			now := func() time.Time { clock.Lock(); defer clock.Unlock(); return at }
			minter, err := tokens.NewMinter([]byte(strings.Repeat("k", 32)))
			if err != nil {
				t.Fatal(err)
			}
			tokenService := tokens.NewService(minter, db, audit.New(db, now, log), now)
			letters, err := notify.NewTemplates("wharf", "https://wharf.example")
			if err != nil {
				t.Fatal(err)
			}
			scanner := disclosuretest.New(t)
			scanner.Key(t, "current")
			scanner.Publish("current")
			mail := &outbox{}
			svc := disclosure.New(disclosure.NewKeys(scanner.URL, disclosure.KeysOptions{Now: now, Log: log}),
				tokenService, db, mail, letters, log)
			ts := httptest.NewServer(New(fakeIndex{}, fakeUploads{}, pinger{}, log, WithDisclosure(svc)).Handler())
			t.Cleanup(ts.Close)

			alice := storetest.MustUser(t, db, "alice")
			newToken := func() (string, store.Token) {
				tok, rec, err := tokenService.Create(ctx, alice, "ci", nil, time.Time{}, audit.Request{})
				if err != nil {
					t.Fatal(err)
				}
				return tok, rec
			}
			signed := func(body []byte) map[string]string {
				return map[string]string{"Github-Public-Key-Identifier": "current",
					"Github-Public-Key-Signature": scanner.Sign(t, "current", body)}
			}
			report := func(tok string) []byte {
				return disclosuretest.Body(disclosuretest.Report{Token: tok, Type: "wharf_api_token",
					URL: "https://github.com/octocat/hello/blob/1a2b3c/deploy.sh", Source: "content"})
			}
			revoked := func(id string) bool {
				rec, err := db.TokenByID(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				return !rec.RevokedAt.IsZero()
			}

			// A live token, one that does not exist, a string of another service and a forgery of the live
			// token's id all get the one answer: 204 with no body.
			tok, rec := newToken()
			unrecorded, _, err := minter.Mint(tokens.Caveats{UserID: alice.ID})
			if err != nil {
				t.Fatal(err)
			}
			keep, keepRec := newToken()
			forged := keep[:len(keep)-2] + map[bool]string{true: "AA", false: "AB"}[strings.HasSuffix(keep, "AB")]
			want := answer{Status: http.StatusNoContent}
			for name, s := range map[string]string{"live": tok, "unknown": unrecorded,
				"not wharf": "ghp_16C7e42F292c6912E7710c838347Ae178B4a", "forged": forged} {
				body := report(s)
				if got := post(t, ts.URL, body, signed(body)); got != want {
					t.Errorf("%s token: %+v, want %+v", name, got, want)
				}
			}
			if !revoked(rec.ID) {
				t.Error("the live token was not revoked")
			}
			if revoked(keepRec.ID) {
				t.Error("a forgery of a token's id revoked it")
			}
			if n := mail.count(); n != 1 {
				t.Errorf("%d mails, want 1", n)
			}

			// Refusals: a 4xx (or 503) and a short JSON message; nothing revoked.
			spare, spareRec := newToken()
			body := report(spare)
			good := signed(body)
			large := bytes.Repeat([]byte(" "), disclosure.MaxBody+1)
			for _, tc := range []struct {
				name   string
				body   []byte
				header map[string]string
				status int
			}{
				{"no headers", body, nil, http.StatusBadRequest},
				{"no signature", body, map[string]string{"Github-Public-Key-Identifier": "current"}, http.StatusBadRequest},
				{"bad signature", body, map[string]string{"Github-Public-Key-Identifier": "current",
					"Github-Public-Key-Signature": good["Github-Public-Key-Signature"][:20] + "AAAA"}, http.StatusBadRequest},
				{"body changed", append(body, ' '), good, http.StatusBadRequest},
				{"unknown key", body, map[string]string{"Github-Public-Key-Identifier": "old",
					"Github-Public-Key-Signature": good["Github-Public-Key-Signature"]}, http.StatusBadRequest},
				{"not JSON", []byte("token=" + spare), signed([]byte("token=" + spare)), http.StatusBadRequest},
				{"not a list", []byte(`{"token":"` + spare + `"}`), signed([]byte(`{"token":"` + spare + `"}`)), http.StatusBadRequest},
				{"too large", large, signed(large), http.StatusRequestEntityTooLarge},
			} {
				got := post(t, ts.URL, tc.body, tc.header)
				var msg struct{ Message string }
				if got.Status != tc.status || got.ContentType != "application/json" ||
					json.Unmarshal([]byte(got.Body), &msg) != nil || msg.Message == "" || len(got.Body) > 200 {
					t.Errorf("%s: %+v, want %d with a short JSON message", tc.name, got, tc.status)
				}
			}
			if revoked(spareRec.ID) {
				t.Error("a refused request revoked a token")
			}

			// Keys that cannot be fetched: 503, so that the scanner sends the report again.
			scanner.SetDown(true)
			scanner.Key(t, "rotated")
			clock.Lock()
			at = at.Add(disclosure.DefaultCooldown)
			clock.Unlock()
			got := post(t, ts.URL, body, map[string]string{"Github-Public-Key-Identifier": "rotated",
				"Github-Public-Key-Signature": scanner.Sign(t, "rotated", body)})
			if got.Status != http.StatusServiceUnavailable || got.ContentType != "application/json" {
				t.Errorf("keys down: %+v, want 503 with a JSON message", got)
			}

			// Only POST: a GET is not a report.
			resp, err := http.Get(ts.URL + "/_/secrets/disclose-token")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Errorf("GET: status %d, want a refusal", resp.StatusCode)
			}
		})
	}
}
