package web_test

import (
	"context"
	"encoding/base32"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"wharf/internal/mfa"
	"wharf/internal/notify"
)

const (
	totpPath  = "/manage/account/totp/"
	keysPath  = "/manage/account/webauthn/"
	savedPath = "/manage/account/recovery-codes/saved/"
)

// wrongCode is a six-digit code that the app of secret does not show at now.
func wrongCode(secret []byte, now time.Time) string {
	if totpCode(secret, now) == "000000" {
		return "000001"
	}
	return "000000"
}

// TestTOTPSetupKeepsItsPlace: a wrong code at the setup of an authenticator app shows the same QR code and secret
// again, with the reason at the code field, so that the person can try the next code instead of starting over;
// the secret is shown in groups of four. A setup that lapsed says so in the form that starts a new one.
func TestTOTPSetupKeepsItsPlace(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice := fx.user("alice")
		b := fx.browser("alice")
		b.login("alice", testPassword)

		p := b.submit(totpPath, totpPath+"begin/", url.Values{"form": {"totp-begin"}})
		wantStatus(t, p, http.StatusOK, "begin")
		uri := p.text("#totp-uri")
		var groups []string
		for _, n := range findAll(p.doc, "#totp-secret span") {
			groups = append(groups, textOf(n))
		}
		secretText := strings.Join(groups, "")
		for i, g := range groups {
			if len(g) != 4 && (i < len(groups)-1 || len(g) == 0 || len(g) > 4) {
				t.Errorf("secret groups %q", groups)
				break
			}
		}
		secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secretText)
		if err != nil || len(secret) != mfa.SecretSize || !strings.Contains(uri, "secret="+secretText) {
			t.Fatalf("secret %q (%v) of URI %q", secretText, err, uri)
		}
		form := p.find(`form#totp-confirm-form`)
		if form == nil || attr(p.find(`form#totp-confirm-form input[name=key_uri]`), "value") != uri {
			t.Fatal("the confirmation form does not carry the key URI it confirms")
		}
		csrf := attr(p.find(`form#totp-confirm-form input[name=csrf_token]`), "value")
		confirm := func(code, keyURI string) *page {
			return b.post(totpPath, url.Values{"csrf_token": {csrf}, "form": {"totp-confirm"}, "code": {code}, "key_uri": {keyURI}})
		}

		p = confirm(wrongCode(secret, fx.clock.Now()), uri)
		wantStatus(t, p, http.StatusBadRequest, "wrong code")
		if p.find(`#totp-qr svg`) == nil || p.text("#totp-uri") != uri || p.text("#totp-secret") != secretText {
			t.Errorf("after a wrong code the page lost the setup: uri %q, secret %q", p.text("#totp-uri"), p.text("#totp-secret"))
		}
		if got := p.text(`form#totp-confirm-form #refusal-totp-confirm`); !strings.Contains(got, "not correct") {
			t.Errorf("refusal at the code field %q", got)
		}
		if n := len(findAll(p.doc, "p.error")); n != 1 {
			t.Errorf("the reason shows %d times", n)
		}
		if got := attr(p.find(`#code`), "value"); got != "" {
			t.Errorf("the wrong code is written back: %q", got)
		}
		// A posted URI that is not a key of this index's making shows no QR code: the page draws only its own.
		p = confirm(wrongCode(secret, fx.clock.Now()), "https://example.com/?secret="+secretText)
		wantStatus(t, p, http.StatusBadRequest, "wrong code with a foreign URI")
		if p.find(`#totp-qr`) != nil || p.find(`#totp-secret`) != nil || p.find(`form#totp-confirm-form`) == nil {
			t.Error("a foreign URI is drawn as the setup's QR code")
		}
		if ok, _ := fx.totp.Enrolled(ctx, alice.ID); ok {
			t.Fatal("a wrong code activated the app")
		}
		// The next right code, from the same QR code, activates it.
		p = confirm(totpCode(secret, fx.clock.Now()), uri)
		wantStatus(t, p, http.StatusOK, "right code after a wrong one")
		if n := len(findAll(p.doc, "#recovery-codes code")); n != mfa.RecoveryCodeCount {
			t.Fatalf("%d recovery codes", n)
		}

		// A setup left for longer than it lives is refused, with the reason in the form that starts again.
		bob := fx.user("bob")
		bb := fx.browser("bob")
		bb.login("bob", testPassword)
		p = bb.submit(totpPath, totpPath+"begin/", nil)
		wantStatus(t, p, http.StatusOK, "bob begins")
		bobCSRF := attr(p.find(`form#totp-confirm-form input[name=csrf_token]`), "value")
		bobSecret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(p.text("#totp-secret"))
		if err != nil {
			t.Fatal(err)
		}
		fx.clock.Advance(11 * time.Minute)
		p = bb.post(totpPath, url.Values{"csrf_token": {bobCSRF}, "form": {"totp-confirm"}, "key_uri": {p.text("#totp-uri")},
			"code": {totpCode(bobSecret, fx.clock.Now())}})
		wantStatus(t, p, http.StatusConflict, "lapsed setup")
		if got := p.text(`form#totp-begin-form #refusal-totp-confirm`); !strings.Contains(got, "lapsed") {
			t.Errorf("lapsed setup: refusal in the begin form %q: %s", got, p.body)
		}
		if ok, _ := fx.totp.Enrolled(ctx, bob.ID); ok {
			t.Fatal("a lapsed setup activated")
		}
	})
}

// TestRecoveryCodesSaved: the page of new recovery codes offers to copy and download them (with the script, which
// only that page loads) and asks for a confirmation that they were saved; until it is given, the account page
// says so and offers a new set, since the codes cannot be shown again. The confirmation records no code.
func TestRecoveryCodesSaved(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice := fx.user("alice")
		b := fx.browser("alice")
		b.login("alice", testPassword)

		p := b.submit(totpPath, totpPath+"begin/", nil)
		secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(p.text("#totp-secret"))
		if err != nil {
			t.Fatal(err)
		}
		csrf := attr(p.find(`form#totp-confirm-form input[name=csrf_token]`), "value")
		p = b.post(totpPath, url.Values{"csrf_token": {csrf}, "code": {totpCode(secret, fx.clock.Now())}})
		wantStatus(t, p, http.StatusOK, "activate")
		var codes []string
		for _, n := range findAll(p.doc, "#recovery-codes code") {
			codes = append(codes, textOf(n))
		}
		if len(codes) != mfa.RecoveryCodeCount {
			t.Fatalf("%d codes", len(codes))
		}
		if btn := p.find(`button[data-copy="#recovery-codes"]`); btn == nil {
			t.Error("no copy button")
		}
		dl := p.find(`button[data-download="#recovery-codes"]`)
		if dl == nil || attr(dl, "data-filename") != "Test-Index-recovery-codes.txt" {
			t.Errorf("download button %v, file name %q", dl != nil, attr(dl, "data-filename"))
		} else if _, hidden := attrOK(dl, "hidden"); !hidden {
			t.Error("the download button shows without the script that makes it work")
		}
		if src := attr(p.find(`head script`), "src"); !strings.HasPrefix(src, "/static/copy.js?v=") {
			t.Errorf("the codes page loads %q", src)
		}
		saved := p.find(`form#recovery-saved-form[action="` + savedPath + `"] input[name=confirm][type=checkbox]`)
		if saved == nil {
			t.Fatal("no confirmation that the codes were saved")
		}
		if _, required := attrOK(saved, "required"); !required {
			t.Error("the box is not required")
		}
		savedCSRF := attr(p.find(`form#recovery-saved-form input[name=csrf_token]`), "value")

		acct := b.get("/manage/account/")
		if got := acct.text("#recovery-unsaved"); !strings.Contains(got, "not confirmed as saved") ||
			attr(acct.find(`#recovery-unsaved a`), "href") != totpPath+"#recovery" {
			t.Errorf("account page before the confirmation: %q", got)
		}

		// Posted without the box ticked (a script, an old page), nothing is recorded and the account page says why.
		p = b.post(savedPath, url.Values{"csrf_token": {savedCSRF}})
		wantStatus(t, p, http.StatusBadRequest, "saved without the box")
		if !strings.Contains(p.text("p.error"), "Tick the box") || p.find("#recovery-unsaved") == nil {
			t.Errorf("refused confirmation: %q", p.text("p.error"))
		}
		wantRedirect(t, b.post(savedPath, url.Values{"csrf_token": {savedCSRF}, "confirm": {"yes"}}),
			"/manage/account/?notice=recovery-saved", "saved")
		acct = b.get("/manage/account/")
		if acct.find("#recovery-unsaved") != nil {
			t.Error("the reminder stays after the confirmation")
		}
		if !strings.Contains(acct.text("#history"), "Recovery codes confirmed as saved") {
			t.Error("the confirmation is not in the security history")
		}
		events, err := fx.db.Events(ctx, alice.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			for _, c := range codes {
				if strings.Contains(e.Detail, c) {
					t.Errorf("a recovery code is in the %s event", e.Kind)
				}
			}
		}

		// A new set asks again.
		wantStatus(t, b.submit(totpPath, totpPath+"recovery/", url.Values{"confirm": {"yes"}}), http.StatusOK, "regenerate")
		if b.get("/manage/account/").find("#recovery-unsaved") == nil {
			t.Error("a new set is not asked about")
		}
	})
}

// TestFactorChangesAskForConfirmation: removing the authenticator app or a security key and generating new
// recovery codes each need their box ticked; posted without it (a script, an old page) they change nothing and
// say so inside their form. The policy's refusal to remove an Owner's last factor shows in the form too.
func TestFactorChangesAskForConfirmation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice := fx.user("alice")
		fx.ownedProject(t, alice)
		a := fx.browser("alice")
		a.login("alice", testPassword)
		key := keyOf(fx)
		wantStatus(t, addKey(t, a, key, "Desk key", "key"), http.StatusOK, "add a key")
		keys, err := fx.keys.Keys(ctx, alice.ID)
		if err != nil || len(keys) != 1 {
			t.Fatalf("keys %+v, %v", keys, err)
		}
		keyForm := "remove-key-" + itoa(keys[0].ID)

		// A key-only account gets new recovery codes from the authenticator app's page as well.
		shown := a.get(totpPath)
		if shown.find(`details.confirm form#recovery-regenerate-form input[name=confirm][type=checkbox]`) == nil {
			t.Fatalf("no confirmed regeneration for a key-only account: %s", shown.body)
		}
		regenerated := func() int {
			n := 0
			events, _ := fx.db.Events(ctx, alice.ID, 0, 100)
			for _, e := range events {
				if e.Kind == mfa.RecoveryRegenerated {
					n++
				}
			}
			return n
		}
		before := regenerated()
		p := a.submit(totpPath, totpPath+"recovery/", url.Values{"form": {"regenerate-recovery"}})
		wantStatus(t, p, http.StatusBadRequest, "regenerate without the box")
		if got := p.text(`form#recovery-regenerate-form #refusal-regenerate-recovery`); !strings.Contains(got, "Tick the box") {
			t.Errorf("refusal in the form %q", got)
		}
		if p.find(`details#recovery-regenerate[open]`) == nil {
			t.Error("the refused confirmation is not left open")
		}
		if regenerated() != before {
			t.Fatal("the codes were regenerated without the box")
		}
		wantStatus(t, a.submit(totpPath, totpPath+"recovery/", url.Values{"confirm": {"yes"}}), http.StatusOK, "regenerate")
		if regenerated() != before+1 {
			t.Fatal("the confirmed regeneration made no codes")
		}

		// The last key of an Owner: the box is not enough, and the policy's reason shows at the key.
		shown = a.get(keysPath)
		if shown.find(`details.confirm form input[name=key_id][value=`+itoa(keys[0].ID)+`]`) == nil {
			t.Fatal("the key's removal is not behind a confirmation")
		}
		removeKey := func(confirm string) *page {
			f := url.Values{"form": {keyForm}, "key_id": {itoa(keys[0].ID)}}
			if confirm != "" {
				f.Set("confirm", confirm)
			}
			return a.submit(keysPath, keysPath+"remove/", f)
		}
		p = removeKey("")
		wantStatus(t, p, http.StatusBadRequest, "remove a key without the box")
		if got := p.text(`#refusal-` + keyForm); !strings.Contains(got, "Tick the box") {
			t.Errorf("refusal at the key %q", got)
		}
		p = removeKey("yes")
		wantStatus(t, p, http.StatusForbidden, "the Owner's last key")
		if got := p.text(`#refusal-` + keyForm); !strings.Contains(got, "Owner or Maintainer") {
			t.Errorf("policy refusal at the key %q: %s", got, p.body)
		}
		if ok, _ := fx.keys.Enrolled(ctx, alice.ID); !ok {
			t.Fatal("the last key was removed")
		}

		// With an app beside it the key goes, once confirmed; then the app asks for its own box.
		enrolTOTP(t, fx, a)
		wantRedirect(t, removeKey("yes"), keysPath+"?notice=key-removed", "remove the key beside an app")
		if ok, _ := fx.keys.Enrolled(ctx, alice.ID); ok {
			t.Fatal("the confirmed removal left the key")
		}
		p = a.submit(totpPath, totpPath+"remove/", url.Values{"form": {"remove-totp"}})
		wantStatus(t, p, http.StatusBadRequest, "remove the app without the box")
		if got := p.text(`form#totp-remove-form #refusal-remove-totp`); !strings.Contains(got, "Tick the box") {
			t.Errorf("refusal in the app's form %q", got)
		}
		p = a.submit(totpPath, totpPath+"remove/", url.Values{"form": {"remove-totp"}, "confirm": {"yes"}})
		wantStatus(t, p, http.StatusForbidden, "the Owner's last app")
		if got := p.text(`form#totp-remove-form #refusal-remove-totp`); !strings.Contains(got, "Owner or Maintainer") {
			t.Errorf("policy refusal in the app's form %q", got)
		}
		if ok, _ := fx.totp.Enrolled(ctx, alice.ID); !ok {
			t.Fatal("the last app was removed")
		}
		if n := len(fx.mailsOf(notify.KindFactorRemoved, alice.Email)); n != 1 {
			t.Errorf("%d factor-removed mails, want the key's alone", n)
		}

		// An account that may go without a second factor removes its app once confirmed.
		fx.user("bob")
		b := fx.browser("bob")
		b.login("bob", testPassword)
		enrolTOTP(t, fx, b)
		wantRedirect(t, b.submit(totpPath, totpPath+"remove/", url.Values{"confirm": {"yes"}}), "/manage/account/?notice=totp-removed",
			"bob removes his app")
	})
}

// TestReauthOneForm: the confirmation of a password is one form with one password field and the one second factor
// the account is asked for: a code (from the app, or a recovery code) or the key. An account with both is asked
// for its key and may choose a code instead. A wrong password or code keeps the form with the reason in it, and a
// confirmation with the key still marks the session as one that proved a key.
func TestReauthOneForm(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		const next = "/manage/account/token/"
		alice := fx.user("alice")
		b := fx.browser("alice")
		b.login("alice", testPassword)
		secret, codes := enrolTOTP(t, fx, b)
		fx.clock.Advance(31 * time.Minute)

		form := b.get("/account/reauthenticate/?next=" + url.QueryEscape(next))
		if n := len(findAll(form.doc, `form[action="/account/reauthenticate/"]`)); n != 1 {
			t.Errorf("%d confirmation forms on the page", n)
		}
		if n := len(findAll(form.doc, `input[type=password]`)); n != 1 {
			t.Errorf("%d password fields", n)
		}
		if form.find(`form#reauth-form input[name=code]`) == nil || form.find(`form#reauth-key-form`) != nil {
			t.Fatal("an app-only account is not asked for a code alone")
		}
		csrf := attr(form.find(`form#reauth-form input[name=csrf_token]`), "value")
		reauth := func(f url.Values) *page {
			f.Set("csrf_token", csrf)
			f.Set("form", "reauth")
			f.Set("next", next)
			return b.post("/account/reauthenticate/", f)
		}
		for _, c := range []struct {
			what, password, code, reason string
		}{
			{"a wrong password", "wrong horse", totpCode(secret, fx.clock.Now()), "password is not correct"},
			{"a wrong code", testPassword, wrongCode(secret, fx.clock.Now()), "code is not correct"},
		} {
			p := reauth(url.Values{"password": {c.password}, "code": {c.code}})
			wantStatus(t, p, http.StatusBadRequest, c.what)
			if got := p.text(`form#reauth-form #refusal-reauth`); !strings.Contains(got, c.reason) {
				t.Errorf("%s: refusal in the form %q", c.what, got)
			}
			if attr(p.find(`form#reauth-form input[name=next]`), "value") != next || attr(p.find(`#password`), "value") != "" {
				t.Errorf("%s: next not kept, or the password written back", c.what)
			}
		}
		wantRedirect(t, b.get(next), "/account/reauthenticate/", "no sudo after refusals")

		// A recovery code confirms too: it is spent, the owner is mailed, and the page says how many are left.
		p := reauth(url.Values{"password": {testPassword}, "code": {codes[0]}})
		wantStatus(t, p, http.StatusOK, "a recovery code")
		if got := p.text("#recovery-remaining"); !strings.Contains(got, "Password confirmed") || !strings.Contains(got, "7 unused") {
			t.Errorf("after a recovery code: %q", got)
		}
		if attr(p.find(`a.button`), "href") != next {
			t.Errorf("continue goes to %q", attr(p.find(`a.button`), "href"))
		}
		if len(fx.mailsOf(notify.KindRecoveryUsed, alice.Email)) != 1 {
			t.Error("no mail of the recovery code used")
		}
		wantStatus(t, b.get(next), http.StatusOK, "sudo after a recovery code")
		if sessions, err := fx.db.SessionsForUser(ctx, alice.ID); err != nil || len(sessions) != 1 || !sessions[0].KeyAt.IsZero() {
			t.Errorf("a confirmation with a code marked the session as one that proved a key: %+v, %v", sessions, err)
		}

		// With a key as well, the key is asked for; a code is the other choice, on a page of its own.
		key := keyOf(fx)
		wantRedirect(t, addKey(t, b, key, "Desk key", "key"), keysPath+"?notice=key-added", "add a key beside the app")
		fx.clock.Advance(31 * time.Minute)
		form = b.get("/account/reauthenticate/?next=" + url.QueryEscape(next))
		if form.find(`form#reauth-key-form`) == nil || form.find(`form#reauth-form`) != nil ||
			form.find(`form#reauth-key-form input[name=code]`) != nil || len(findAll(form.doc, `input[type=password]`)) != 1 {
			t.Fatalf("an account with a key and an app is not asked for the key alone: %s", form.body)
		}
		other := attr(form.find(`#reauth-other-factor a`), "href")
		if u, err := url.Parse(other); err != nil || u.Query().Get("with") != "code" || u.Query().Get("next") != next {
			t.Errorf("the way to a code instead: %q", other)
		}
		codeForm := b.get(other)
		if codeForm.find(`form#reauth-form input[name=code]`) == nil || codeForm.find(`form#reauth-key-form`) != nil ||
			len(findAll(codeForm.doc, `input[type=password]`)) != 1 {
			t.Errorf("the code form of an account with a key: %s", codeForm.body)
		}

		keyCSRF := attr(form.find(`form#reauth-key-form input[name=csrf_token]`), "value")
		withKey := func(password string) *page {
			answer, err := key.Assert(b.options("/account/two-factor/options/", url.Values{"csrf_token": {keyCSRF}}))
			if err != nil {
				t.Fatal(err)
			}
			return b.post("/account/reauthenticate/", url.Values{"csrf_token": {keyCSRF}, "form": {"reauth"}, "with": {"key"},
				"password": {password}, "credential": {string(answer)}, "next": {next}})
		}
		p = withKey("wrong horse")
		wantStatus(t, p, http.StatusBadRequest, "the key with a wrong password")
		if p.find(`form#reauth-key-form #refusal-reauth`) == nil {
			t.Errorf("a refused key confirmation does not show the key form with the reason: %s", p.body)
		}
		wantRedirect(t, withKey(testPassword), next, "password and key")
		sessions, err := fx.db.SessionsForUser(ctx, alice.ID)
		if err != nil || len(sessions) != 1 || sessions[0].KeyAt.IsZero() {
			t.Errorf("after a confirmation with the key, the session did not prove it: %+v, %v", sessions, err)
		}

	})
}
