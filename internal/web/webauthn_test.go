package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/mfa"
	"wharf/internal/notify"
	"wharf/internal/store"
	"wharf/internal/webauthntest"
)

// keyOf is a software authenticator for the fixture's site, answering as a browser on the site's origin would.
func keyOf(fx *fixture) *webauthntest.Authenticator {
	return webauthntest.New("localhost", fx.keyOrigin)
}

// options posts to a ceremony's options URL as webauthn.js does and returns the JSON.
func (b *browser) options(path string, form url.Values) []byte {
	b.t.Helper()
	p := b.post(path, form)
	if p.status() != http.StatusOK || !strings.HasPrefix(p.header("Content-Type"), "application/json") {
		b.t.Fatalf("options %s: %d %s", path, p.status(), p.body)
	}
	return []byte(p.body)
}

// addKey registers a key of a through the pages: the options, the authenticator's answer, the form.
func addKey(t *testing.T, b *browser, a *webauthntest.Authenticator, label, kind string, opts ...webauthntest.Option) *page {
	t.Helper()
	csrf := b.csrf("/manage/account/webauthn/", "/manage/account/webauthn/")
	answer, err := a.Register(b.options("/manage/account/webauthn/options/", url.Values{"csrf_token": {csrf}, "kind": {kind}}), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b.post("/manage/account/webauthn/", url.Values{"csrf_token": {csrf}, "label": {label}, "credential": {string(answer)}})
}

// keyStep answers the second step of login with a, the way the two-factor page's key form does.
func keyStep(t *testing.T, b *browser, a *webauthntest.Authenticator, opts ...webauthntest.Option) *page {
	t.Helper()
	csrf := b.csrf("/account/two-factor/", "/account/two-factor/")
	answer, err := a.Assert(b.options("/account/two-factor/options/", url.Values{"csrf_token": {csrf}}), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return b.post("/account/two-factor/", url.Values{"csrf_token": {csrf}, "credential": {string(answer)}, "next": {"/manage/projects/"}})
}

// TestSecurityKeyLogin: a key added through the pages (with re-authentication, recovery codes for a first
// factor, a mail and an audit event: T6) then completes the second step of login (S2); a forged answer, an answer
// to another session's challenge and a replayed answer leave the session half-logged-in (W2, W4).
func TestSecurityKeyLogin(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice := fx.user("alice")
		setup := fx.browser("setup")
		setup.login("alice", testPassword)
		fx.clock.Advance(31 * time.Minute)
		wantRedirect(t, setup.get("/manage/account/webauthn/"), "/account/reauthenticate/", "keys page without sudo")
		p := setup.post("/manage/account/webauthn/options/", url.Values{"csrf_token": {setup.csrf("/manage/account/", "/manage/account/email/")}})
		wantStatus(t, p, http.StatusForbidden, "options without sudo")
		wantRedirect(t, setup.submit("/account/reauthenticate/", "/account/reauthenticate/", url.Values{"password": {testPassword}}), "/", "reauth")

		key := keyOf(fx)
		p = addKey(t, setup, key, "Desk key", "key")
		wantStatus(t, p, http.StatusOK, "add the first key")
		if n := len(findAll(p.doc, "#recovery-codes code")); n != 8 {
			t.Fatalf("the first factor came with %d recovery codes", n)
		}
		if len(fx.mailsOf(notify.KindFactorAdded, alice.Email)) != 1 {
			t.Error("no factor-added mail")
		}
		if ev, _ := fx.db.Events(ctx, alice.ID, 0, 5); !slices.ContainsFunc(ev, func(e store.Event) bool { return e.Kind == mfa.WebAuthnAdded && e.Detail == "Desk key" }) {
			t.Errorf("no %s event: %+v", mfa.WebAuthnAdded, ev)
		}
		// A second key is added without new recovery codes.
		spare := keyOf(fx)
		wantRedirect(t, addKey(t, setup, spare, "Spare", "key"), "/manage/account/webauthn/", "add a second key")
		account := setup.get("/manage/account/")
		if list := account.text("#factor-list"); !strings.Contains(list, "Desk key") || !strings.Contains(list, "Spare") {
			t.Errorf("factor list %q", list)
		}

		// The password leads to the second step, which the page offers a key for.
		b := fx.browser("ua")
		b.login("alice", testPassword)
		form := b.get("/account/two-factor/")
		if attr(form.find("form#two-factor-key-form"), "data-webauthn") != "get" {
			t.Fatal("the second step offers no key")
		}
		wantStatus(t, keyStep(t, b, key, webauthntest.BadSignature()), http.StatusBadRequest, "bogus signature")
		wantStatus(t, keyStep(t, b, key, webauthntest.UserPresent(false)), http.StatusBadRequest, "user presence missing")
		wantRedirect(t, b.get("/manage/account/"), "/account/login/", "after refused answers")

		// An answer to the challenge of another browser's session is refused in this one (W4), whether this one
		// has a challenge of its own or none.
		other := fx.browser("other")
		other.login("alice", testPassword)
		otherCSRF := other.csrf("/account/two-factor/", "/account/two-factor/")
		stolen, err := key.Assert(other.options("/account/two-factor/options/", url.Values{"csrf_token": {otherCSRF}}))
		if err != nil {
			t.Fatal(err)
		}
		csrf := b.csrf("/account/two-factor/", "/account/two-factor/")
		p = b.post("/account/two-factor/", url.Values{"csrf_token": {csrf}, "credential": {string(stolen)}})
		wantStatus(t, p, http.StatusBadRequest, "answer to another session's challenge, none here")
		if !strings.Contains(p.text("p.error"), "another window or session") {
			t.Errorf("refusal %q", p.text("p.error"))
		}
		b.options("/account/two-factor/options/", url.Values{"csrf_token": {csrf}})
		p = b.post("/account/two-factor/", url.Values{"csrf_token": {csrf}, "credential": {string(stolen)}})
		wantStatus(t, p, http.StatusBadRequest, "answer to another session's challenge, another one here")
		wantRedirect(t, b.get("/manage/account/"), "/account/login/", "after the other session's answer")

		// In its own session the answer works, once: a replay elsewhere finds no challenge.
		p = other.post("/account/two-factor/", url.Values{"csrf_token": {otherCSRF}, "credential": {string(stolen)}})
		wantRedirect(t, p, "/", "answer in its own session")
		c := fx.browser("third")
		c.login("alice", testPassword)
		p = c.post("/account/two-factor/", url.Values{"csrf_token": {c.csrf("/account/two-factor/", "/account/two-factor/")}, "credential": {string(stolen)}})
		wantStatus(t, p, http.StatusBadRequest, "replayed answer")

		// Five refusals for alice: the limiter holds even the right answer back (R3) until its window passes.
		wantStatus(t, keyStep(t, b, key), http.StatusTooManyRequests, "the key after five refusals")
		fx.clock.Advance(6 * time.Minute)
		b.login("alice", testPassword)
		half := b.cookie()
		wantRedirect(t, keyStep(t, b, key), "/manage/projects/", "the key")
		if b.cookie() == half {
			t.Error("session id not rotated after the key")
		}
		wantStatus(t, b.get("/manage/account/"), http.StatusOK, "account page after the key")
		keys, err := fx.keys.Keys(ctx, alice.ID)
		if err != nil || len(keys) != 2 || keys[0].LastUsedAt.IsZero() || !keys[1].LastUsedAt.IsZero() {
			t.Errorf("keys after use: %+v, %v", keys, err)
		}
	})
}

// TestPasskeyLogin: a passkey signs in from the login page without a username, bound to the browser that asked
// for the challenge; a passkey that did not verify its user, and a key added as a second factor, do not.
func TestPasskeyLogin(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.user("alice")
		setup := fx.browser("setup")
		setup.login("alice", testPassword)
		passkey := keyOf(fx)
		wantStatus(t, addKey(t, setup, passkey, "Laptop", "passkey"), http.StatusOK, "add a passkey")
		secondFactorOnly := keyOf(fx)
		wantRedirect(t, addKey(t, setup, secondFactorOnly, "Desk key", "key"), "/manage/account/webauthn/", "add a key")

		login := fx.browser("ua")
		if login.get("/account/login/").find("form#passkey-form") == nil {
			t.Fatal("the login page offers no passkey")
		}
		passkeyLogin := func(b *browser, a *webauthntest.Authenticator, opts ...webauthntest.Option) *page {
			t.Helper()
			answer, err := a.Assert(b.options("/account/passkey/options/", url.Values{}), opts...)
			if err != nil {
				t.Fatal(err)
			}
			return b.post("/account/passkey/", url.Values{"credential": {string(answer)}, "next": {"/manage/projects/"}})
		}
		wantStatus(t, passkeyLogin(login, passkey, webauthntest.UserVerified(false)), http.StatusBadRequest, "passkey without user verification")
		wantStatus(t, passkeyLogin(login, secondFactorOnly, webauthntest.Use(secondFactorOnly.CredentialIDs()[0])),
			http.StatusBadRequest, "second-factor key as a passkey")

		// The challenge is bound to the browser that asked for it: another browser cannot use the answer.
		answer, err := passkey.Assert(login.options("/account/passkey/options/", url.Values{}))
		if err != nil {
			t.Fatal(err)
		}
		thief := fx.browser("thief")
		p := thief.post("/account/passkey/", url.Values{"credential": {string(answer)}})
		wantStatus(t, p, http.StatusBadRequest, "answer from another browser")
		if thief.cookie() != "" {
			t.Fatal("the other browser got a session")
		}

		p = passkeyLogin(login, passkey)
		wantRedirect(t, p, "/manage/projects/", "passkey")
		if who := login.get("/manage/account/").signedInAs(); who != "alice" {
			t.Fatalf("signed in as %q", who)
		}
	})
}

// TestSudoWithKey: an account whose only factor is a key confirms sensitive actions with its password and the key.
func TestSudoWithKey(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		b := fx.browser("ua")
		b.login("alice", testPassword)
		key := keyOf(fx)
		wantStatus(t, addKey(t, b, key, "Desk key", "key"), http.StatusOK, "add a key")
		fx.clock.Advance(31 * time.Minute)
		// Without a recent confirmation the policy sends the owner to confirm before a key goes (T6).
		keys, err := fx.keys.Keys(t.Context(), alice.ID)
		if err != nil || len(keys) != 1 {
			t.Fatalf("keys %+v, %v", keys, err)
		}
		p := b.post("/manage/account/webauthn/remove/", url.Values{"csrf_token": {b.csrf("/manage/account/", "/manage/account/email/")}, "key_id": {itoa(keys[0].ID)}, "confirm": {"yes"}})
		wantRedirect(t, p, "/account/reauthenticate/", "remove a key without a recent confirmation")
		if ok, _ := fx.keys.Enrolled(t.Context(), alice.ID); !ok {
			t.Fatal("the key was removed without a recent confirmation")
		}
		form := b.get("/account/reauthenticate/?next=/manage/account/token/")
		if form.find("form#reauth-key-form") == nil || form.find("form#reauth-form") != nil {
			t.Fatal("the confirmation of a key-only account does not ask for the key alone")
		}
		csrf := attr(form.find("form#reauth-key-form input[name=csrf_token]"), "value")
		reauth := func(password string, opts ...webauthntest.Option) *page {
			answer, err := key.Assert(b.options("/account/two-factor/options/", url.Values{"csrf_token": {csrf}}), opts...)
			if err != nil {
				t.Fatal(err)
			}
			return b.post("/account/reauthenticate/", url.Values{"csrf_token": {csrf}, "password": {password},
				"credential": {string(answer)}, "next": {"/manage/account/token/"}})
		}
		wantStatus(t, b.post("/account/reauthenticate/", url.Values{"csrf_token": {csrf}, "password": {testPassword}}), http.StatusBadRequest, "password alone")
		wantStatus(t, reauth("wrong password"), http.StatusBadRequest, "wrong password with the key")
		wantStatus(t, reauth(testPassword, webauthntest.BadSignature()), http.StatusBadRequest, "password with a forged key answer")
		wantRedirect(t, b.get("/manage/account/token/"), "/account/reauthenticate/", "still no sudo")
		wantRedirect(t, reauth(testPassword), "/manage/account/token/", "password and key")
		wantStatus(t, b.get("/manage/account/token/"), http.StatusOK, "token page with sudo")
	})
}

// TestLastFactor: an Owner cannot remove the last second factor, on any of its kinds, and is told why; with two
// factors either goes. An account without projects may go back to a password alone. Every removal is mailed and
// recorded (T6).
func TestLastFactor(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice, bob := fx.user("alice"), fx.user("bob")
		fx.ownedProject(t, alice)
		a := fx.browser("alice")
		a.login("alice", testPassword)
		key := keyOf(fx)
		wantStatus(t, addKey(t, a, key, "Desk key", "key"), http.StatusOK, "add a key")
		keys, err := fx.keys.Keys(ctx, alice.ID)
		if err != nil || len(keys) != 1 {
			t.Fatalf("keys %+v, %v", keys, err)
		}
		removeKey := func(b *browser, id int64) *page {
			csrf := b.csrf("/manage/account/webauthn/", "/manage/account/webauthn/")
			return b.post("/manage/account/webauthn/remove/", url.Values{"csrf_token": {csrf}, "key_id": {itoa(id)}, "confirm": {"yes"}})
		}
		p := removeKey(a, keys[0].ID)
		wantStatus(t, p, http.StatusForbidden, "the Owner's last key")
		if msg := p.text("p.error"); !strings.Contains(msg, "Owner or Maintainer") {
			t.Errorf("refusal %q", msg)
		}
		if ok, _ := fx.keys.Enrolled(ctx, alice.ID); !ok {
			t.Fatal("the last key was removed")
		}

		// With an authenticator app beside it, the key goes; then the app is the last and stays.
		enrolTOTP(t, fx, a)
		wantRedirect(t, removeKey(a, keys[0].ID), "/manage/account/webauthn/", "a key beside an app")
		if len(fx.mailsOf(notify.KindFactorRemoved, alice.Email)) != 1 {
			t.Error("no factor-removed mail")
		}
		if ev, _ := fx.db.Events(ctx, alice.ID, 0, 1); len(ev) == 0 || ev[0].Kind != mfa.WebAuthnRemoved {
			t.Errorf("last event %+v", ev)
		}
		p = a.submit("/manage/account/totp/", "/manage/account/totp/remove/", url.Values{"confirm": {"yes"}})
		wantStatus(t, p, http.StatusForbidden, "the Owner's last app")
		if ok, _ := fx.totp.Enrolled(ctx, alice.ID); !ok {
			t.Fatal("the last app was removed")
		}
		// Someone else's key id is no key of alice's.
		b := fx.browser("bob")
		b.login("bob", testPassword)
		bobKey := keyOf(fx)
		wantStatus(t, addKey(t, b, bobKey, "Bob's key", "key"), http.StatusOK, "bob adds a key")
		bobKeys, _ := fx.keys.Keys(ctx, bob.ID)
		wantStatus(t, removeKey(a, bobKeys[0].ID), http.StatusNotFound, "another user's key")
		// Bob has no project: his only factor may go.
		wantRedirect(t, removeKey(b, bobKeys[0].ID), "/manage/account/webauthn/", "bob's last key")
		if ok, _ := fx.keys.Enrolled(ctx, bob.ID); ok {
			t.Fatal("bob's key is still there")
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestSecurityKeyRequirement is rule 3 through the pages: an Owner may require security keys of a project's
// collaborators only from a session that proved a key (a re-authentication with the key makes it one); from then
// on a collaborator with an authenticator app alone cannot upload, and a session signed in with the password and
// the key may change the project while one that did not prove the key may not.
func TestSecurityKeyRequirement(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice, bob := fx.user("alice"), fx.user("bob")
		fx.ownedProject(t, alice)
		p, err := fx.db.ProjectByName(ctx, "demo-pkg")
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.db.AddRole(ctx, p.ID, bob.ID, store.RoleMaintainer, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		fx.withTOTP(bob)
		fx.clock.Advance(time.Minute)
		bobToken := fx.mintTokenWith(t, fx.sessionBrowser("bob", bob.ID, accounts.LevelFull, 0))

		b := fx.browser("alice")
		b.login("alice", testPassword)
		key := keyOf(fx)
		wantStatus(t, addKey(t, b, key, "Desk key", "key"), http.StatusOK, "add a key")
		requireKeys := url.Values{"require": {"keys"}}
		refused := b.submit(collab, "/manage/project/demo-pkg/collaboration/require-2fa/", requireKeys)
		if refused.status() != http.StatusForbidden || !strings.Contains(refused.refusal(), "Sign in with a security key or passkey") {
			t.Fatalf("requiring keys from a session signed in with the password alone: %d %q", refused.status(), refused.refusal())
		}

		// Confirming with the key makes the session one that proved it.
		csrf := attr(b.get("/account/reauthenticate/").find("form#reauth-key-form input[name=csrf_token]"), "value")
		answer, err := key.Assert(b.options("/account/two-factor/options/", url.Values{"csrf_token": {csrf}}))
		if err != nil {
			t.Fatal(err)
		}
		wantRedirect(t, b.post("/account/reauthenticate/", url.Values{"csrf_token": {csrf}, "password": {testPassword},
			"credential": {string(answer)}, "next": {collab}}), collab, "re-authenticate with the key")
		wantRedirect(t, b.submit(collab, "/manage/project/demo-pkg/collaboration/require-2fa/", requireKeys),
			collab+"?notice=settings-changed", "require keys")
		if got := b.get(collab).text("#protection"); !strings.Contains(got, "without a security key or passkey") {
			t.Errorf("the page says %q", got)
		}

		if code := fx.upload(t, fx.browser("twine"), bobToken, "demo-pkg", "1.1"); code != http.StatusForbidden {
			t.Errorf("upload by a maintainer with an authenticator app only: %d, want 403", code)
		}
		fx.withKey(bob)
		if code := fx.upload(t, fx.browser("twine"), bobToken, "demo-pkg", "1.1"); code != http.StatusOK {
			t.Errorf("upload once the maintainer has a key: %d, want 200", code)
		}

		// A session that signed in with the password and the key may change the project; one that did not prove
		// the key (as a phished password and app code would give) may not.
		fresh := fx.browser("alice again")
		fresh.login("alice", testPassword)
		wantRedirect(t, keyStep(t, fresh, key), "/manage/projects/", "sign in with the key")
		wantRedirect(t, fresh.submit(collab, "/manage/project/demo-pkg/collaboration/require-2fa/", url.Values{"require": {"keys"}}),
			collab+"?notice=settings-changed", "a change from a key session")
		other := fx.sessionBrowser("no key", alice.ID, accounts.LevelFull, 0)
		refused = other.submit(collab, "/manage/project/demo-pkg/collaboration/require-2fa/", url.Values{"require": {"none"}})
		if refused.status() != http.StatusForbidden || !strings.Contains(refused.refusal(), "this session was not signed in with one") {
			t.Errorf("a change from a session that did not prove the key: %d %q", refused.status(), refused.refusal())
		}
		if prot, err := fx.db.ProjectProtection(ctx, p.ID); err != nil || !prot.RequireWebAuthn {
			t.Errorf("the requirement after the refusal: %+v, %v", prot, err)
		}
	})
}
