package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/store"
)

// raceSecondStep has n half-logged-in browsers of alice post the same second-step code at once, and returns how
// many of them were signed in (a 303 to where they were going) and how many were refused.
func raceSecondStep(t *testing.T, fx *fixture, alice store.Account, n int, code string) (signedIn, refused int) {
	t.Helper()
	type half struct {
		b    *browser
		csrf string
	}
	var halves []half
	for i := 0; i < n; i++ {
		// Each racer's session is made as the password step makes it: hashing the password twenty times under the
		// race detector would take longer than everything else here.
		token, _, err := fx.sessions.Create(t.Context(), alice.ID, accounts.LevelPassword, accounts.WithoutKey, "192.0.2.10", "racer")
		if err != nil {
			t.Fatal(err)
		}
		b := fx.withCookie("racer", token)
		halves = append(halves, half{b, b.csrf("/account/two-factor/", "/account/two-factor/")})
	}
	statuses := make([]int, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, h := range halves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			form := url.Values{"csrf_token": {h.csrf}, "code": {code}, "next": {"/manage/projects/"}}
			req, err := http.NewRequest("POST", fx.base+"/account/two-factor/", strings.NewReader(form.Encode()))
			if err != nil {
				t.Error(err)
				return
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", fx.base)
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			<-start
			resp, err := h.b.client.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	for i, s := range statuses {
		switch s {
		case http.StatusSeeOther, http.StatusOK: // OK: the page after a recovery code
			signedIn++
			if halves[i].b.get("/manage/account/").status() != http.StatusOK {
				t.Errorf("racer %d was answered %d but is not signed in", i, s)
			}
		case http.StatusBadRequest, http.StatusTooManyRequests:
			refused++
			if halves[i].b.get("/manage/account/").status() == http.StatusOK {
				t.Errorf("racer %d was refused (%d) but is signed in", i, s)
			}
		default:
			t.Errorf("racer %d: status %d", i, s)
		}
	}
	return signedIn, refused
}

// TestSecondStepRaces: one TOTP code posted by 20 half-logged-in sessions at once signs in exactly one (T4); one
// recovery code posted by 20 at once is spent exactly once (L2). Every other request is refused, through the whole
// HTTP stack and the real database.
func TestSecondStepRaces(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		setup := fx.browser("setup")
		setup.login("alice", testPassword)
		secret, codes := enrolTOTP(t, fx, setup)
		fx.clock.Advance(30 * time.Second) // the enrolment spent the current step

		if in, out := raceSecondStep(t, fx, alice, 20, totpCode(secret, fx.clock.Now())); in != 1 || out != 19 {
			t.Errorf("one TOTP code, 20 racers: %d signed in, %d refused; want 1 and 19", in, out)
		}
		// The racers' failures count against alice (R3); a new window lets the recovery race start afresh.
		fx.clock.Advance(24 * time.Hour)
		if in, out := raceSecondStep(t, fx, alice, 20, codes[0]); in != 1 || out != 19 {
			t.Errorf("one recovery code, 20 racers: %d signed in, %d refused; want 1 and 19", in, out)
		}
		if left, err := fx.recovery.Remaining(t.Context(), alice.ID); err != nil || left != 7 {
			t.Errorf("%d recovery codes left (%v), want 7", left, err)
		}
	})
}
