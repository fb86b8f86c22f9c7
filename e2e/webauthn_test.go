package e2e

import (
	"context"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// authenticator adds a CDP virtual authenticator to the browser: Chromium's own WebAuthn stack talks to it as to
// a real key (CTAP2), and the test can read its credentials and make it misbehave.
func (b *browser) authenticator(transport webauthn.AuthenticatorTransport, resident bool) webauthn.AuthenticatorID {
	b.t.Helper()
	var id webauthn.AuthenticatorID
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		res, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: transport,
				HasResidentKey: resident, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
			}})
		id = res.AuthenticatorID
		return err
	}))
	return id
}

// misbehave makes the authenticator's next answers carry a zero signature or lack user presence.
func (b *browser) misbehave(id webauthn.AuthenticatorID, bogusSignature, badUP bool) {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{
			AuthenticatorID: id, IsBogusSignature: &bogusSignature, IsBadUP: &badUP})
		return err
	}))
}

// rewindCounter puts the authenticator's credentials back to a signature counter of 0, as a copy of the key made
// earlier would have.
func (b *browser) rewindCounter(id webauthn.AuthenticatorID) {
	b.t.Helper()
	b.do(chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
		if err != nil {
			return err
		}
		for _, c := range res.Credentials {
			if _, err := cdp.Call(ctx, t, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: id, CredentialID: c.CredentialID}); err != nil {
				return err
			}
			again := restoredCredential{CredentialID: c.CredentialID, IsResidentCredential: c.IsResidentCredential, RpID: c.RpID,
				PrivateKey: c.PrivateKey, UserHandle: c.UserHandle, SignCount: 0}
			if _, err := cdp.Call(ctx, t, addCredential, addCredentialParams{AuthenticatorID: id, Credential: again}); err != nil {
				return err
			}
		}
		return nil
	}))
}

// addCredential is WebAuthn.addCredential with only the fields of a plain credential: cdproto's Credential always
// sends a CMTG field, which Chromium's virtual authenticator refuses.
var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}

type addCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      restoredCredential       `json:"credential"`
}

type restoredCredential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"`
	UserHandle           []byte  `json:"userHandle,omitempty"`
	SignCount            float64 `json:"signCount"`
}

// ceremony presses the submit button of a form that webauthn.js drives and waits until the browser has left the
// page (the form was posted) or the script has reported a failure, which fails the test.
func (b *browser) ceremony(form string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(form), chromedp.Evaluate[chromedp.Void](`window.__ceremony = true`),
		chromedp.Click(form+` button[type="submit"]`))
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		left, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`window.__ceremony === undefined && document.readyState === "complete"`))
		if err == nil && left {
			return
		}
		status, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](
			`(document.querySelector(`+quoteJS(form+` .webauthn-status`)+`) || {}).textContent || ""`))
		if status != "" && !strings.HasPrefix(status, "Waiting") {
			b.screenshot("ceremony-failed")
			b.t.Fatalf("%s: the browser said %q", form, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("%s: no answer within 20 s", form)
}

func quoteJS(s string) string { return "'" + strings.ReplaceAll(s, "'", `\'`) + "'" }

// refusal reads the error a refused form shows.
func (b *browser) refusal() string {
	b.t.Helper()
	s, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector("p.error") || {}).textContent || ""`))
	return s
}

// TestBrowserSecurityKey registers a security key in Chromium's virtual authenticator through the real pages,
// signs in with the password and the key, and then proves the server refuses what a forged, cloned, replayed or
// phished answer looks like (W2-W4): a zero signature, user presence missing, a challenge from another session,
// an answer made for another origin (a proxy in front of the site, as a phishing page would be), and a signature
// counter that went back. Each refusal leaves the session half-logged-in.
func TestBrowserSecurityKey(t *testing.T) {
	in := newInstance(t, storetest.Engines(t)[0])
	in.start()
	password := "amber lantern cobalt 2718"
	in.mustRun(password+"\n", "user", "create", "frank", "--email", "frank@example.com")
	b := newBrowser(t)
	key := b.authenticator(webauthn.AuthenticatorTransportUsb, false)
	b.signIn(in.Site, "frank", password)

	b.do(chromedp.Navigate(in.Site + "/manage/account/webauthn/"))
	if strings.Contains(b.location(), "/account/reauthenticate/") {
		b.fill("#reauth-form", map[string]string{"password": password})
	}
	b.do(chromedp.SetValue(`#add-key-form [name="label"]`, "Desk key"))
	b.screenshot("01-add-key")
	b.ceremony("#add-key-form")
	b.screenshot("02-recovery-codes")
	recoveryCode := strings.TrimSpace(b.text("#recovery-codes code"))
	if recoveryCode == "" {
		t.Fatalf("after the first key, the page shows %q", b.text("main"))
	}
	b.do(chromedp.Navigate(in.Site + "/manage/account/"))
	if list := b.text("#factor-list"); !strings.Contains(list, "Desk key") || !strings.Contains(list, "security key") {
		t.Fatalf("the account page lists the factors as %q", list)
	}

	// The password now leads to the second step, which the key completes.
	secondStep := func(br *browser) {
		t.Helper()
		br.signIn(in.Site, "frank", password)
		if loc := br.location(); !strings.Contains(loc, "/account/two-factor/") {
			t.Fatalf("the password alone led to %s", loc)
		}
	}
	signedIn := func(br *browser) bool {
		t.Helper()
		br.do(chromedp.Navigate(in.Site + "/manage/account/"))
		return strings.HasSuffix(br.location(), "/manage/account/")
	}
	secondStep(b)
	b.screenshot("03-second-step")
	b.ceremony("#two-factor-key-form")
	if !signedIn(b) {
		t.Fatal("the key did not complete the sign-in")
	}

	refused := func(what string) {
		t.Helper()
		if msg := b.refusal(); msg == "" {
			t.Fatalf("%s: no refusal shown", what)
		}
		if signedIn(b) {
			t.Fatalf("%s: signed in", what)
		}
	}
	secondStep(b)
	b.misbehave(key, true, false)
	b.ceremony("#two-factor-key-form")
	refused("bogus signature")
	b.do(chromedp.Navigate(in.Site + "/account/two-factor/"))
	b.misbehave(key, false, true)
	b.ceremony("#two-factor-key-form")
	refused("user presence missing")
	b.misbehave(key, false, false)

	// A challenge from another session: the answer the key gave in this browser's session, posted by another
	// browser whose half session asked for a challenge of its own.
	b.do(chromedp.Navigate(in.Site+"/account/two-factor/"),
		chromedp.Evaluate[chromedp.Void](`HTMLFormElement.prototype.submit = function () { window.__answer = this.elements.credential.value; }`),
		chromedp.Click(`#two-factor-key-form button[type="submit"]`))
	var answer string
	for i := 0; i < 100 && answer == ""; i++ {
		time.Sleep(100 * time.Millisecond)
		answer, _ = chromedp.Run(b.ctx, chromedp.Evaluate[string](`window.__answer || ""`))
	}
	if answer == "" {
		t.Fatal("the key gave no answer to capture")
	}
	other := newBrowser(t)
	secondStep(other)
	options, err := chromedp.Run(other.ctx, chromedp.Evaluate[string](`fetch("/account/two-factor/options/", {method: "POST",
		body: new URLSearchParams({csrf_token: document.querySelector('#two-factor-key-form [name="csrf_token"]').value})}).then(r => r.text())`,
		chromedp.EvalAwaitPromise))
	if err != nil || !strings.Contains(options, "challenge") {
		t.Fatalf("the other session's options: %q, %v", options, err)
	}
	other.do(chromedp.SetValue(`#two-factor-key-form [name="credential"]`, answer), chromedp.Submit(`#two-factor-key-form`))
	time.Sleep(300 * time.Millisecond)
	other.do(chromedp.WaitReady("body"))
	if msg := other.refusal(); msg == "" {
		t.Fatalf("an answer to another session's challenge: refusal %q", msg)
	}
	if signedIn(other) {
		t.Fatal("an answer to another session's challenge signed in")
	}

	// A phishing proxy: the same pages through another origin. The key answers (the RP ID is the same host), but
	// the answer names the origin it was made for, and the server refuses it.
	target, err := url.Parse(in.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	defer proxy.Close()
	phish := strings.Replace(proxy.URL, "127.0.0.1", "localhost", 1)
	b.do(chromedp.Navigate(phish + "/account/two-factor/"))
	b.screenshot("04-phishing-origin")
	b.ceremony("#two-factor-key-form")
	refused("wrong origin")

	// A clone: the counter goes back. The server refuses and records it.
	b.do(chromedp.Navigate(in.Site + "/account/two-factor/"))
	b.rewindCounter(key)
	b.ceremony("#two-factor-key-form")
	if msg := b.refusal(); !strings.Contains(msg, "counter") {
		t.Fatalf("a rewound counter: refusal %q", msg)
	}
	b.screenshot("05-clone-refused")
	if signedIn(b) {
		t.Fatal("a rewound counter signed in")
	}
	// Five refusals in a row: the sixth attempt is not even checked (R3), not even with a recovery code.
	b.do(chromedp.Navigate(in.Site + "/account/two-factor/"))
	b.fill("#two-factor-form", map[string]string{"code": recoveryCode})
	if msg := b.text("main"); !strings.Contains(msg, "Too many") {
		t.Fatalf("the sixth second-factor attempt in five minutes: %q", msg)
	}
	// The refusal of the clone is in frank's security history.
	db, err := store.Open(context.Background(), in.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	frank, err := db.AccountByName(context.Background(), "frank")
	if err != nil {
		t.Fatal(err)
	}
	events, err := db.Events(context.Background(), frank.ID, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	if !slices.Contains(kinds, "mfa:webauthn-clone-suspected") || !slices.Contains(kinds, "mfa:webauthn-added") {
		t.Fatalf("frank's security history: %v", kinds)
	}
}

// TestBrowserPasskey registers a passkey in a platform authenticator with resident keys and signs in with it from
// the login page without typing a username or a password.
func TestBrowserPasskey(t *testing.T) {
	in := newInstance(t, storetest.Engines(t)[0])
	in.start()
	password := "saffron meadow quartz 1618"
	in.mustRun(password+"\n", "user", "create", "grace", "--email", "grace@example.com")
	b := newBrowser(t)
	b.authenticator(webauthn.AuthenticatorTransportInternal, true)
	b.signIn(in.Site, "grace", password)
	b.do(chromedp.Navigate(in.Site + "/manage/account/webauthn/"))
	if strings.Contains(b.location(), "/account/reauthenticate/") {
		b.fill("#reauth-form", map[string]string{"password": password})
	}
	b.do(chromedp.SetValue(`#add-key-form [name="label"]`, "Laptop"), chromedp.Click(`#add-key-form input[value="passkey"]`))
	b.ceremony("#add-key-form")

	// Signed out, the login page's passkey button signs in as grace: the username comes from the passkey.
	b.do(chromedp.Navigate(in.Site + "/"))
	b.fill(`form[action="/account/logout/"]`, nil)
	b.do(chromedp.Navigate(in.Site + "/account/login/"))
	b.screenshot("01-login")
	b.ceremony("#passkey-form")
	b.do(chromedp.Navigate(in.Site + "/manage/account/"))
	if !strings.HasSuffix(b.location(), "/manage/account/") {
		t.Fatalf("the passkey did not sign in: at %s", b.location())
	}
	if who := b.text("nav.account-nav a.user"); who != "grace" {
		t.Fatalf("signed in as %q, want grace", who)
	}
	b.screenshot("02-signed-in")
	if list := b.text("#factor-list"); !strings.Contains(list, "passkey") || !strings.Contains(list, "Laptop") {
		t.Fatalf("the account page lists the factors as %q", list)
	}
}
