package web_test

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/audit"
	"wharf/internal/mfa"
	"wharf/internal/notify"
)

// totpCode is what an authenticator app with secret shows at t.
func totpCode(secret []byte, t time.Time) string {
	return mfa.TOTPAt(secret, t, 30*time.Second, 6, mfa.SHA1)
}

// enrolTOTP sets up an authenticator app through the pages and returns its secret and the recovery codes shown.
func enrolTOTP(t *testing.T, fx *fixture, b *browser) ([]byte, []string) {
	t.Helper()
	p := b.submit("/manage/account/totp/", "/manage/account/totp/begin/", nil)
	wantStatus(t, p, 200, "begin totp")
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(p.text("#totp-secret"))
	if err != nil || len(secret) < 20 {
		t.Fatalf("secret %q: %v", p.text("#totp-secret"), err)
	}
	// The confirmation form is on the page that showed the secret.
	csrf := attr(p.find(`form[action=/manage/account/totp/] input[name=csrf_token]`), "value")
	p = b.post("/manage/account/totp/", url.Values{"code": {totpCode(secret, fx.clock.Now())}, "csrf_token": {csrf}})
	wantStatus(t, p, 200, "confirm right code")
	var codes []string
	for _, n := range findAll(p.doc, "#recovery-codes code") {
		codes = append(codes, textOf(n))
	}
	if len(codes) != 8 {
		t.Fatalf("%d recovery codes shown", len(codes))
	}
	return secret, codes
}

func TestTOTPEnrolment(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice := fx.user("alice")
		b := fx.browser("ua")
		b.login("alice", testPassword)

		p := b.get("/manage/account/totp/")
		wantStatus(t, p, 200, "totp page")
		if p.find("#totp-secret") != nil {
			t.Error("a GET shows a secret")
		}
		p = b.submit("/manage/account/totp/", "/manage/account/totp/begin/", nil)
		wantStatus(t, p, 200, "begin totp")
		if uri := p.text("#totp-uri"); !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "alice") {
			t.Errorf("key URI %q", uri)
		}
		secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(p.text("#totp-secret"))
		if err != nil || len(secret) < 20 {
			t.Fatalf("secret %q: %v", p.text("#totp-secret"), err)
		}
		// The confirmation form is on the page that showed the secret.
		csrf := attr(p.find(`form[action=/manage/account/totp/] input[name=csrf_token]`), "value")
		confirm := func(code string) *page {
			return b.post("/manage/account/totp/", url.Values{"code": {code}, "csrf_token": {csrf}})
		}

		// A wrong code does not activate; nor does a code of a device whose clock is off, which is said.
		wrong := totpCode(secret, fx.clock.Now())
		if wrong == "000000" {
			wrong = "000001"
		} else {
			wrong = "000000"
		}
		p = confirm(wrong)
		wantStatus(t, p, 400, "wrong code")
		p = confirm(totpCode(secret, fx.clock.Now().Add(3*time.Minute)))
		wantStatus(t, p, 400, "skewed code")
		if msg := p.text("p.error"); !strings.Contains(msg, "clock is off by about 3 minutes") {
			t.Errorf("skew message %q", msg)
		}
		if ok, _ := fx.totp.Enrolled(ctx, alice.ID); ok {
			t.Fatal("activated by a wrong code")
		}
		if len(fx.mailsOf(notify.KindFactorAdded, alice.Email)) != 0 {
			t.Error("factor-added mail before activation")
		}

		// The right code activates and shows the recovery codes once, never stored by a cache.
		p = confirm(totpCode(secret, fx.clock.Now()))
		wantStatus(t, p, 200, "right code")
		if cc := p.header("Cache-Control"); !strings.Contains(cc, "no-store") {
			t.Errorf("recovery codes page Cache-Control %q", cc)
		}
		first := findAll(p.doc, "#recovery-codes code")
		if len(first) != 8 {
			t.Fatalf("%d recovery codes", len(first))
		}
		if ok, _ := fx.totp.Enrolled(ctx, alice.ID); !ok {
			t.Fatal("not activated by the right code")
		}
		if len(fx.mailsOf(notify.KindFactorAdded, alice.Email)) != 1 {
			t.Error("no factor-added mail")
		}

		// The secret is never shown again.
		p = b.get("/manage/account/totp/")
		wantStatus(t, p, 200, "totp page when enrolled")
		if p.find("#totp-secret") != nil || p.find("#totp-uri") != nil {
			t.Error("secret shown again")
		}
		if !strings.Contains(p.text("#recovery-status"), "8 unused") {
			t.Errorf("status %q", p.text("#recovery-status"))
		}
		// Unnamed, the app is listed under its kind's name, with when it was added.
		if list := b.get("/manage/account/").text("#factor-list"); !strings.Contains(list, "authenticator app") ||
			!strings.Contains(list, "Authenticator app") || !strings.Contains(list, fx.clock.Now().UTC().Format("2006-01-02")) {
			t.Errorf("factor list %q", list)
		}

		// Regenerating voids the old set.
		p = b.submit("/manage/account/totp/", "/manage/account/totp/recovery/", url.Values{"confirm": {"yes"}})
		wantStatus(t, p, 200, "regenerate")
		second := findAll(p.doc, "#recovery-codes code")
		if len(second) != 8 {
			t.Fatalf("%d new recovery codes", len(second))
		}
		if _, err := fx.recovery.Use(ctx, alice.ID, textOf(first[0]), requestOfTest()); !errors.Is(err, mfa.ErrWrongCode) {
			t.Errorf("old recovery code after regeneration: %v", err)
		}
		if n, err := fx.recovery.Use(ctx, alice.ID, textOf(second[0]), requestOfTest()); err != nil || n != 7 {
			t.Errorf("new recovery code: %d, %v", n, err)
		}
		// The activation and the new set were each mailed (T6): a set the owner did not make is a stolen account.
		if got := fx.mailsOf(notify.KindFactorAdded, alice.Email); len(got) != 2 {
			t.Errorf("%d factor-added mails after activation and regeneration, want 2", len(got))
		}

		// Removal needs a recent re-authentication.
		fx.clock.Advance(31 * time.Minute)
		csrf = b.csrf("/manage/account/", "/manage/account/email/")
		p = b.post("/manage/account/totp/remove/", url.Values{"csrf_token": {csrf}, "confirm": {"yes"}})
		wantRedirect(t, p, "/account/reauthenticate/", "remove with stale sudo")
		if ok, _ := fx.totp.Enrolled(ctx, alice.ID); !ok {
			t.Fatal("removed without re-authentication")
		}
	})
}

func TestTOTPRemoval(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice := fx.user("alice")
		b := fx.browser("ua")
		b.login("alice", testPassword)
		enrolTOTP(t, fx, b)
		p := b.submit("/manage/account/totp/", "/manage/account/totp/remove/", url.Values{"confirm": {"yes"}})
		wantRedirect(t, p, "/manage/account/", "remove")
		if ok, _ := fx.totp.Enrolled(ctx, alice.ID); ok {
			t.Error("still enrolled")
		}
		if len(fx.mailsOf(notify.KindFactorRemoved, alice.Email)) != 1 {
			t.Error("no factor-removed mail")
		}
		ev, _ := fx.db.Events(ctx, alice.ID, 0, 1)
		if len(ev) == 0 || ev[0].Kind != mfa.TOTPRemoved {
			t.Errorf("last event %+v", ev)
		}
	})
}

func requestOfTest() audit.Request { return audit.Request{IP: "192.0.2.9", UserAgent: "test"} }

func TestTwoFactorLogin(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice := fx.user("alice")
		setup := fx.browser("setup")
		setup.login("alice", testPassword)
		secret, codes := enrolTOTP(t, fx, setup)
		fx.clock.Advance(30 * time.Second) // the enrolment spent the current step

		// The password alone gives a half-logged-in session that can do nothing but the second step (S3).
		b := fx.browser("ua")
		p := b.post("/account/login/", url.Values{"username": {"alice"}, "password": {testPassword}, "next": {"/manage/account/token/"}})
		wantRedirect(t, p, "/account/two-factor/", "password step")
		half := b.cookie()
		if half == "" {
			t.Fatal("no session after the password step")
		}
		wantRedirect(t, b.get("/manage/account/"), "/account/login/", "half session opens the account page")
		csrf := b.csrf("/account/two-factor/", "/account/two-factor/")
		p = b.post("/manage/account/token/", url.Values{"csrf_token": {csrf}, "name": {"x"}, "scope": {"account"}})
		wantRedirect(t, p, "/account/login/", "half session creates a token")
		if toks, _ := fx.db.TokensForUser(ctx, alice.ID); len(toks) != 0 {
			t.Fatal("token created by a half session")
		}

		// The right code completes login with a new session id (S2); the half session's id is dead.
		code := totpCode(secret, fx.clock.Now())
		p = b.post("/account/two-factor/", url.Values{"csrf_token": {csrf}, "code": {code}, "next": {"/manage/account/token/"}})
		wantRedirect(t, p, "/manage/account/token/", "second step")
		full := b.cookie()
		if full == "" || full == half {
			t.Fatal("session id not rotated after the second step")
		}
		wantStatus(t, b.get("/manage/account/"), 200, "account page after the second step")
		wantRedirect(t, fx.withCookie("thief", half).get("/manage/account/"), "/account/login/", "old half session")

		// The same code is refused the second time (T3).
		c := fx.browser("ua2")
		c.login("alice", testPassword)
		csrf2 := c.csrf("/account/two-factor/", "/account/two-factor/")
		p = c.post("/account/two-factor/", url.Values{"csrf_token": {csrf2}, "code": {code}})
		wantStatus(t, p, 400, "replayed code")
		wantRedirect(t, c.get("/manage/account/"), "/account/login/", "after a replayed code")

		// A recovery code works once, mails the owner and says how many remain.
		p = c.post("/account/two-factor/", url.Values{"csrf_token": {csrf2}, "code": {codes[0]}})
		wantStatus(t, p, 200, "recovery code")
		if !strings.Contains(p.text("#recovery-remaining"), "7 unused") {
			t.Errorf("remaining %q", p.text("#recovery-remaining"))
		}
		wantStatus(t, c.get("/manage/account/"), 200, "account page after a recovery code")
		if len(fx.mailsOf(notify.KindRecoveryUsed, alice.Email)) != 1 {
			t.Error("no recovery-code-used mail")
		}
		d := fx.browser("ua3")
		d.login("alice", testPassword)
		csrf3 := d.csrf("/account/two-factor/", "/account/two-factor/")
		p = d.post("/account/two-factor/", url.Values{"csrf_token": {csrf3}, "code": {codes[0]}})
		wantStatus(t, p, 400, "recovery code used twice")
	})
}

func TestTwoFactorRateLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.user("alice")
		setup := fx.browser("setup")
		setup.login("alice", testPassword)
		secret, _ := enrolTOTP(t, fx, setup)
		fx.clock.Advance(30 * time.Second)

		b := fx.browser("ua")
		b.login("alice", testPassword)
		csrf := b.csrf("/account/two-factor/", "/account/two-factor/")
		right := totpCode(secret, fx.clock.Now())
		wrong := "000000"
		if right == wrong {
			wrong = "000001"
		}
		for i := 0; i < 5; i++ {
			wantStatus(t, b.post("/account/two-factor/", url.Values{"csrf_token": {csrf}, "code": {wrong}}), 400, "wrong code")
		}
		// Now even the right code is refused, with Retry-After (R3).
		p := b.post("/account/two-factor/", url.Values{"csrf_token": {csrf}, "code": {right}})
		wantStatus(t, p, 429, "sixth attempt")
		if p.header("Retry-After") == "" {
			t.Error("no Retry-After")
		}
		wantRedirect(t, b.get("/manage/account/"), "/account/login/", "after the limit")
	})
}

// TestSudoWithTOTP: an account with an authenticator app re-authenticates with its password and a code (S8).
func TestSudoWithTOTP(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.user("alice")
		b := fx.browser("ua")
		b.login("alice", testPassword)
		secret, _ := enrolTOTP(t, fx, b)
		fx.clock.Advance(31 * time.Minute)
		wantRedirect(t, b.get("/manage/account/token/"), "/account/reauthenticate/", "token page without sudo")
		form := b.get("/account/reauthenticate/?next=/manage/account/token/")
		if form.find(`form#reauth-form input[name=code]`) == nil {
			t.Error("no code field on the reauth form")
		}
		reauth := func(code string) *page {
			return b.post("/account/reauthenticate/", url.Values{"csrf_token": {b.csrf("/manage/account/", "/manage/account/email/")},
				"password": {testPassword}, "code": {code}, "next": {"/manage/account/token/"}})
		}
		right := totpCode(secret, fx.clock.Now())
		wrong := "000000"
		if right == wrong {
			wrong = "000001"
		}
		wantStatus(t, reauth(""), 400, "password without code")
		wantStatus(t, reauth(wrong), 400, "password with a wrong code")
		wantRedirect(t, b.get("/manage/account/token/"), "/account/reauthenticate/", "still no sudo")
		wantRedirect(t, reauth(right), "/manage/account/token/", "password and code")
		wantStatus(t, b.get("/manage/account/token/"), 200, "token page with sudo")
		// The code is spent: the next re-authentication needs a new one (T3).
		wantStatus(t, reauth(right), 400, "replayed code")
	})
}

// TestTwoFactorIPLimit: second-factor attempts count per IP as well (R3), so that many accounts cannot be tried
// from one address at the per-user rate each.
func TestTwoFactorIPLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		var half []*browser
		for i := 0; i < 6; i++ {
			u := fx.user(fmt.Sprintf("user%d", i))
			secret, _, err := fx.totp.Begin(ctx, u.ID, u.Username)
			if err != nil {
				t.Fatal(err)
			}
			if err := fx.totp.Confirm(ctx, u.ID, totpCode(secret, fx.clock.Now()), audit.Request{}); err != nil {
				t.Fatal(err)
			}
			half = append(half, fx.sessionBrowser(fmt.Sprintf("ua%d", i), u.ID, accounts.LevelPassword, 0))
		}
		attempt := func(b *browser) *page {
			csrf := b.csrf("/account/two-factor/", "/account/two-factor/")
			return b.post("/account/two-factor/", url.Values{"csrf_token": {csrf}, "code": {"abc"}})
		}
		// 4 wrong codes for each of 5 accounts stay under every per-user limit and fill the per-IP one.
		for _, b := range half[:5] {
			for j := 0; j < 4; j++ {
				wantStatus(t, attempt(b), 400, "wrong code")
			}
		}
		p := attempt(half[5])
		wantStatus(t, p, 429, "a sixth account from the same address")
		if p.header("Retry-After") == "" {
			t.Error("no Retry-After")
		}
	})
}
