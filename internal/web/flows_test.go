package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"wharf/internal/audit"
	"wharf/internal/disttest"
	"wharf/internal/notify"
	"wharf/internal/store"
)

// TestAccountFlow walks the whole path of a new user: register, read the mail in the outbox, verify, sign out and
// in again, create a token (shown once, no-store), list it, upload with it, revoke it. At the end no password or
// token is anywhere it should not be (A2).
func TestAccountFlow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		const password = "a quiet harbour at dawn"
		b := fx.browser("Mozilla/5.0 (X11; Linux x86_64) TestBrowser/1.0")

		form := b.get("/account/register/")
		wantStatus(t, form, 200, "register form")
		if form.find(`form#register-form input[name=password][type=password]`) == nil {
			t.Fatal("register form has no password field")
		}
		p := b.post("/account/register/", url.Values{"username": {"alice"}, "email": {"alice@example.com"},
			"password": {password}, "password_confirm": {password}})
		wantRedirect(t, p, "/manage/account/?notice=registered", "register")
		checkSessionCookie(t, p)
		firstCookie := b.cookie()

		acct := b.get("/manage/account/")
		wantStatus(t, acct, 200, "account page")
		if acct.signedInAs() != "alice" || acct.text("#current-email") != "alice@example.com" {
			t.Fatalf("account page: signed in as %q, email %q", acct.signedInAs(), acct.text("#current-email"))
		}
		if acct.header("Cache-Control") != "no-store" || !strings.Contains(acct.header("Vary"), "Cookie") {
			t.Errorf("signed-in page: Cache-Control %q, Vary %q", acct.header("Cache-Control"), acct.header("Vary"))
		}

		// The verification mail; following its link changes nothing until the button is pressed.
		link := fx.lastLink(notify.KindVerifyEmail, "alice@example.com")
		if !strings.HasPrefix(link, "/account/verify-email/?token=") {
			t.Fatalf("verification link %q", link)
		}
		verifyPage := b.get(link)
		wantStatus(t, verifyPage, 200, "verification page")
		if verifyPage.header("Referrer-Policy") != "no-referrer" {
			t.Errorf("verification page Referrer-Policy %q", verifyPage.header("Referrer-Policy"))
		}
		a, _ := fx.db.AccountByName(context.Background(), "alice")
		if !a.EmailVerifiedAt.IsZero() {
			t.Fatal("a GET of the verification link verified the address")
		}
		token := attr(verifyPage.find(`form#verify-form input[name=token]`), "value")
		wantRedirect(t, b.post("/account/verify-email/", url.Values{"token": {token}}), "/manage/account/?notice=email-verified", "verify")
		if a, _ := fx.db.AccountByName(context.Background(), "alice"); a.EmailVerifiedAt.IsZero() {
			t.Fatal("address not verified")
		}
		wantStatus(t, b.post("/account/verify-email/", url.Values{"token": {token}}), 400, "second use of the verification link")

		// Sign out: the old cookie is dead on the server (S5).
		out := b.submit("/manage/account/", "/account/logout/", nil)
		wantRedirect(t, out, "/", "logout")
		if b.cookie() != "" {
			t.Error("logout left the cookie in the browser")
		}
		old := fx.withCookie("replay", firstCookie)
		wantRedirect(t, old.get("/manage/account/"), "/account/login/", "old cookie after logout")

		// Sign in again: a new session id (S2).
		b.login("alice", password)
		if b.cookie() == firstCookie {
			t.Error("login reused the session id")
		}

		// Create a token: shown once, on a no-store response.
		tp := b.get("/manage/account/token/")
		wantStatus(t, tp, 200, "token page (sudo fresh from login)")
		created := b.submit("/manage/account/token/", "/manage/account/token/", url.Values{
			"name": {"release workflow"}, "scope": {"account"}, "expires_days": {"30"}})
		wantStatus(t, created, 200, "create token")
		if created.header("Cache-Control") != "no-store" {
			t.Errorf("token page Cache-Control %q", created.header("Cache-Control"))
		}
		apiToken := created.text("#new-token")
		// Once to copy, and once in the .pypirc that holds it.
		if !strings.HasPrefix(apiToken, "wharf-") || strings.Count(created.body, apiToken) != 2 {
			t.Fatalf("token %q shown %d times", apiToken, strings.Count(created.body, apiToken))
		}
		if ms := fx.mailsOf(notify.KindTokenCreated, "alice@example.com"); len(ms) != 1 || !strings.Contains(ms[0].Body, "release workflow") {
			t.Errorf("token-created mails: %+v", ms)
		}

		list := b.get("/manage/account/token/")
		rows := findAll(list.doc, `table.tokens tbody tr`)
		if len(rows) != 1 || strings.Contains(list.body, apiToken) {
			t.Fatalf("token list: %d rows, token shown again: %v", len(rows), strings.Contains(list.body, apiToken))
		}
		row := textOf(rows[0])
		for _, want := range []string{"release workflow", "all projects", "active", "never"} {
			if !strings.Contains(row, want) {
				t.Errorf("token row %q lacks %q", row, want)
			}
		}
		tokenID := attr(rows[0], "data-token-id")

		// The token uploads; the session cookie alone does not (the upload route never reads cookies).
		if code := fx.upload(t, b, "", "demo-pkg", "1.0"); code != http.StatusForbidden {
			t.Errorf("upload with only the session cookie: %d, want 403", code)
		}
		if code := fx.upload(t, b, apiToken, "demo-pkg", "1.0"); code != http.StatusOK {
			t.Fatalf("upload with the token: %d", code)
		}
		proj := b.get("/project/demo-pkg/")
		wantStatus(t, proj, 200, "project page")
		if proj.text("#maintainers") != "alice Owner" {
			t.Errorf("maintainers %q", proj.text("#maintainers"))
		}
		if !strings.Contains(textOf(findAll(b.get("/manage/account/token/").doc, `table.tokens tbody tr`)[0]), "UTC") {
			t.Error("last use not shown")
		}

		// Revoke it (sudo still fresh): uploads with it fail from now on.
		wantRedirect(t, b.submit("/manage/account/token/", "/manage/account/token/revoke/", url.Values{"token_id": {tokenID}}),
			"/manage/account/token/?notice=token-revoked", "revoke")
		if !strings.Contains(b.get("/manage/account/token/").text(`tr[data-token-id=`+tokenID+`]`), "revoked") {
			t.Error("revoked token not shown as revoked")
		}
		if code := fx.upload(t, b, apiToken, "demo-pkg", "1.1"); code != http.StatusForbidden {
			t.Errorf("upload with a revoked token: %d", code)
		}
		// Both changes are in the history with the address and browser that made them.
		events, err := fx.db.Events(context.Background(), a.ID, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range events {
			if (e.Kind == audit.TokenCreated || e.Kind == audit.TokenRevoked) && e.IP == b.ip && e.UserAgent == b.ua {
				seen[e.Kind] = true
			}
		}
		if !seen[audit.TokenCreated] || !seen[audit.TokenRevoked] {
			t.Errorf("token events with the browser's address: %v", seen)
		}

		// A2: passwords, the API token and session ids appear in no mail and no log line; the link tokens only in
		// their mails.
		fx.checkNoSecrets(t, []string{password, apiToken, firstCookie, b.cookie()}, []string{token})
	})
}

// checkSessionCookie checks the cookie attributes of S7.
func checkSessionCookie(t *testing.T, p *page) {
	t.Helper()
	var c *http.Cookie
	for _, k := range p.resp.Cookies() {
		if k.Name == "__Host-wharf_session" {
			c = k
		}
	}
	if c == nil {
		t.Fatalf("no __Host-wharf_session cookie in %v", p.resp.Header["Set-Cookie"])
	}
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "" || len(c.Value) < 43 {
		t.Errorf("session cookie %+v", c)
	}
}

// upload sends a wheel to /legacy/ with the token as twine does (no token: only the browser's cookies).
func (fx *fixture) upload(t *testing.T, b *browser, token, name, version string) int {
	t.Helper()
	meta := disttest.Metadata(name, version, "Project-URL: Source, https://example.com/src", "Project-URL: Evil, javascript:alert(1)")
	whl := disttest.Wheel(name, version, meta, nil)
	body, ctype := disttest.UploadForm(name, version, disttest.WheelName(name, version), whl).Encode()
	req, err := http.NewRequest("POST", fx.base+"/legacy/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	if token != "" {
		req.SetBasicAuth("__token__", token)
	}
	return b.do(req).status()
}

// checkNoSecrets fails if a secret appears in the outbox or the log, or a link token in the log.
func (fx *fixture) checkNoSecrets(t *testing.T, secrets, linkTokens []string) {
	t.Helper()
	logs := fx.logs.String()
	mails := fx.mails()
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(logs, s) {
			t.Errorf("a secret (%.8s...) is in the log", s)
		}
		for _, m := range mails {
			if strings.Contains(m.Body, s) || strings.Contains(m.Subject, s) {
				t.Errorf("a secret (%.8s...) is in the %s mail", s, m.Kind)
			}
		}
	}
	for _, s := range linkTokens {
		if strings.Contains(logs, s) {
			t.Errorf("a mailed link's token (%.8s...) is in the log", s)
		}
	}
	events, _ := fx.db.Events(context.Background(), 0, 0, 1000)
	for _, e := range events {
		for _, s := range append(secrets, linkTokens...) {
			if s != "" && strings.Contains(e.Detail+e.UserAgent, s) {
				t.Errorf("a secret (%.8s...) is in the %s event", s, e.Kind)
			}
		}
	}
}

// TestPasswordChangeEndsOtherSessions checks P6 and S6 through the account page: the current password is
// required, every other session dies, this one lives, and the owner is told.
func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.user("alice")
		here, there := fx.browser("here"), fx.browser("there")
		here.login("alice", testPassword)
		there.login("alice", testPassword)
		const next = "a much longer new passphrase"

		wrong := here.submit("/manage/account/", "/manage/account/password/", url.Values{
			"current_password": {"not it at all"}, "new_password": {next}, "new_password_confirm": {next}})
		wantStatus(t, wrong, 400, "wrong current password")
		if wrong.text("p.error") != "The current password is not correct." {
			t.Errorf("error %q", wrong.text("p.error"))
		}
		wantStatus(t, there.get("/manage/account/"), 200, "other session after a refused change")

		differ := here.submit("/manage/account/", "/manage/account/password/", url.Values{
			"current_password": {testPassword}, "new_password": {next}, "new_password_confirm": {next + "x"}})
		wantStatus(t, differ, 400, "confirmation differs")

		ok := here.submit("/manage/account/", "/manage/account/password/", url.Values{
			"current_password": {testPassword}, "new_password": {next}, "new_password_confirm": {next}})
		wantRedirect(t, ok, "/manage/account/?notice=password-changed", "password change")
		wantStatus(t, here.get("/manage/account/"), 200, "this session after the change")
		wantRedirect(t, there.get("/manage/account/"), "/account/login/", "the other session after the change")
		if ms := fx.mailsOf(notify.KindPasswordChanged, "alice@example.com"); len(ms) != 1 {
			t.Errorf("%d password-changed mails", len(ms))
		}
		fresh := fx.browser("fresh")
		wantStatus(t, fresh.post("/account/login/", url.Values{"username": {"alice"}, "password": {testPassword}}), 400, "old password")
		fresh.login("alice", next)
		fx.checkNoSecrets(t, []string{testPassword, next}, nil)
	})
}

// TestResetFlow: a reset link from the outbox sets a new password once, ends every session, and signs nobody in.
func TestResetFlow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.user("alice")
		signedIn := fx.browser("signed in")
		signedIn.login("alice", testPassword)

		b := fx.browser("resetting")
		wantStatus(t, b.get("/account/reset-password/"), 200, "reset request form")
		sent := b.post("/account/reset-password/", url.Values{"username_or_email": {"alice"}})
		wantStatus(t, sent, 200, "reset request")
		if sent.find("#reset-sent") == nil {
			t.Fatal("no confirmation")
		}
		link := fx.lastLink(notify.KindPasswordReset, "alice@example.com")
		form := b.get(link)
		wantStatus(t, form, 200, "reset form")
		if form.header("Referrer-Policy") != "no-referrer" || form.header("Cache-Control") != "no-store" {
			t.Errorf("reset form headers %v", form.resp.Header)
		}
		token := attr(form.find(`form#reset-form input[name=token]`), "value")
		const next = "completely different words"
		wantStatus(t, b.post("/account/reset-password/", url.Values{"token": {token}, "password": {"password"},
			"password_confirm": {"password"}}), 400, "common password")
		wantRedirect(t, b.post("/account/reset-password/", url.Values{"token": {token}, "password": {next},
			"password_confirm": {next}}), "/account/login/?notice=password-reset", "reset")
		wantStatus(t, b.post("/account/reset-password/", url.Values{"token": {token}, "password": {next + "!"},
			"password_confirm": {next + "!"}}), 400, "second use of the reset link")
		wantRedirect(t, signedIn.get("/manage/account/"), "/account/login/", "session from before the reset")
		if len(fx.mailsOf(notify.KindPasswordChanged, "alice@example.com")) != 1 {
			t.Error("no password-changed notice")
		}
		b.login("alice", next)
		fx.checkNoSecrets(t, []string{testPassword, next}, []string{token})
	})
}

// TestNewDeviceMail: a sign-in from a browser and address none of the recent ones came from mails the owner.
func TestNewDeviceMail(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.user("alice")
		count := func() int { return len(fx.mailsOf(notify.KindNewLogin, "alice@example.com")) }
		fx.browser("Laptop").login("alice", testPassword)
		if n := count(); n != 0 {
			t.Fatalf("first sign-in of the account: %d mails", n)
		}
		fx.browser("Laptop").login("alice", testPassword)
		if n := count(); n != 0 {
			t.Fatalf("known device: %d mails", n)
		}
		phone := fx.browser("Phone <b>")
		phone.login("alice", testPassword)
		if n := count(); n != 1 {
			t.Fatalf("new device: %d mails", n)
		}
		ms := fx.mailsOf(notify.KindNewLogin, "alice@example.com")
		if !strings.Contains(ms[0].Body, "Phone <b>") || !strings.Contains(ms[0].Body, "192.0.2.10") {
			t.Errorf("new-login mail does not say where from: %q", ms[0].Body)
		}
		other := fx.browser("Laptop")
		other.ip = "198.51.100.7"
		other.login("alice", testPassword)
		if n := count(); n != 2 {
			t.Fatalf("known browser from a new address: %d mails", n)
		}
		phone.login("alice", testPassword)
		if n := count(); n != 2 {
			t.Fatalf("repeat of a known device: %d mails", n)
		}
	})
}

// TestEmailChange: a new address needs a recent re-authentication, becomes unverified, gets a link, and the old
// address is told.
func TestEmailChange(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		a := fx.user("alice")
		fx.user("bob")
		b := fx.browser("b")
		b.login("alice", testPassword)
		taken := b.submit("/manage/account/", "/manage/account/email/", url.Values{"email": {"BOB@example.com"}})
		wantStatus(t, taken, 400, "address of another account")
		ok := b.submit("/manage/account/", "/manage/account/email/", url.Values{"email": {"alice@new.example"}})
		wantRedirect(t, ok, "/manage/account/?notice=email-changed", "email change")
		got := fx.account(a.ID)
		if got.Email != "alice@new.example" || !got.EmailVerifiedAt.IsZero() {
			t.Fatalf("after the change: %q verified at %v", got.Email, got.EmailVerifiedAt)
		}
		if ms := fx.mailsOf(notify.KindEmailAdded, "alice@example.com"); len(ms) != 1 || !strings.Contains(ms[0].Body, "alice@new.example") {
			t.Errorf("notice to the old address: %+v", ms)
		}
		link := fx.lastLink(notify.KindVerifyEmail, "alice@new.example")
		token := attr(b.get(link).find(`input[name=token]`), "value")
		wantRedirect(t, b.post("/account/verify-email/", url.Values{"token": {token}}), "/manage/account/", "verify new address")
		if fx.account(a.ID).EmailVerifiedAt.IsZero() {
			t.Error("new address not verified")
		}

		// An unverified account may ask for a new link, and may not create tokens.
		fx.clock.Advance(time.Minute)
		b.submit("/manage/account/", "/manage/account/email/", url.Values{"email": {"alice@third.example"}})
		before := len(fx.mailsOf(notify.KindVerifyEmail, "alice@third.example"))
		wantRedirect(t, b.submit("/manage/account/", "/manage/account/verify-email/", nil), "/manage/account/?notice=verification-sent", "resend")
		if n := len(fx.mailsOf(notify.KindVerifyEmail, "alice@third.example")); n != before+1 {
			t.Errorf("resend: %d mails, want %d", n, before+1)
		}
		refused := b.submit("/manage/account/token/", "/manage/account/token/", url.Values{"name": {"x"}, "scope": {"account"}})
		wantStatus(t, refused, 400, "token for an unverified address")
		if toks, _ := fx.db.TokensForUser(context.Background(), a.ID); len(toks) != 0 {
			t.Error("a token was created for an unverified account")
		}
	})
}

// TestSessionsPage: the account page lists sessions; one can be ended by its handle, all others at once.
func TestSessionsPage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.user("alice")
		b1, b2, b3 := fx.browser("one"), fx.browser("two"), fx.browser("<script>alert(1)</script>")
		b1.login("alice", testPassword)
		b2.login("alice", testPassword)
		b3.login("alice", testPassword)
		acct := b1.get("/manage/account/")
		rows := findAll(acct.doc, `table.sessions tbody tr`)
		if len(rows) != 3 || len(findAll(acct.doc, `table.sessions tr.current`)) != 1 {
			t.Fatalf("%d session rows", len(rows))
		}
		// User agents are shown as text, never as markup (the history too).
		if find(acct.doc, "main script") != nil || !strings.Contains(acct.text("table.sessions"), "<script>alert(1)</script>") ||
			!strings.Contains(acct.text("table.history"), "<script>alert(1)</script>") {
			t.Error("a user agent was not shown escaped")
		}
		var twoID string
		for _, r := range rows {
			if strings.Contains(textOf(r), "two") {
				twoID = attr(find(r, `input[name=session_id]`), "value")
			}
		}
		wantRedirect(t, b1.submit("/manage/account/", "/manage/account/sessions/end/", url.Values{"session_id": {twoID}}),
			"/manage/account/?notice=session-ended", "end one session")
		wantRedirect(t, b2.get("/manage/account/"), "/account/login/", "ended session")
		wantStatus(t, b3.get("/manage/account/"), 200, "untouched session")
		wantRedirect(t, b1.submit("/manage/account/", "/manage/account/sessions/end-all/", nil),
			"/manage/account/?notice=signed-out-others", "sign out everywhere else")
		wantRedirect(t, b3.get("/manage/account/"), "/account/login/", "session after sign out everywhere")
		wantStatus(t, b1.get("/manage/account/"), 200, "the session that signed out the others")
	})
}

// TestAdmin: administrators find and disable users (whose sessions and tokens stop at once), and reserve names.
func TestAdmin(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		root := fx.user("root")
		if err := fx.db.SetAdmin(ctx, root.ID, true); err != nil {
			t.Fatal(err)
		}
		carol := fx.user("carol")
		cb := fx.browser("carol")
		cb.login("carol", testPassword)
		tok := fx.mintToken(t, carol)

		denied := cb.get("/admin/")
		wantStatus(t, denied, 403, "admin page for a non-admin")
		if got := denied.refusal(); got != "Only the administrators of this index may see the administration pages." {
			t.Errorf("the refusal says %q, not the policy's reason", got)
		}
		wantStatus(t, cb.get("/admin/users/"), 403, "the users' list for a non-admin")
		wantStatus(t, cb.get("/admin/projects/"), 403, "the projects' list for a non-admin")
		ab := fx.browser("root")
		ab.login("root", testPassword)
		if ab.get("/admin/").text("#mode") == "" {
			t.Error("no mode shown")
		}
		page := ab.get("/admin/users/?q=CAR")
		wantStatus(t, page, 200, "admin search")
		if got := page.text("table.users tbody"); !strings.Contains(got, "carol") || strings.Contains(got, "root") {
			t.Errorf("search results %q", got)
		}
		wantRedirect(t, ab.submit("/admin/users/?q=carol", "/admin/users/disable/", url.Values{"username": {"carol"}, "q": {"carol"}, "confirm": {"yes"}}),
			"/admin/users/?notice=user-disabled&q=carol", "disable")
		if !fx.account(carol.ID).Disabled {
			t.Fatal("not disabled")
		}
		wantRedirect(t, cb.get("/manage/account/"), "/account/login/", "disabled user's session")
		if code := fx.upload(t, fx.browser("twine"), tok, "carols-pkg", "1.0"); code != http.StatusForbidden {
			t.Errorf("disabled user's token uploads: %d", code)
		}
		wantRedirect(t, ab.submit("/admin/users/?q=carol", "/admin/users/enable/", url.Values{"username": {"carol"}}),
			"/admin/users/?notice=user-enabled", "enable")
		if fx.account(carol.ID).Disabled {
			t.Fatal("not enabled")
		}
		selfDisable := ab.post("/admin/users/disable/", url.Values{"username": {"root"}, "confirm": {"yes"},
			"csrf_token": {ab.csrf("/admin/", "/admin/names/")}})
		wantStatus(t, selfDisable, 400, "disable self")

		wantRedirect(t, ab.submit("/admin/", "/admin/names/", url.Values{"name": {"Reserved_Name"}, "reason": {"held"}}),
			"/admin/?notice=name-reserved", "reserve")
		if ok, _ := fx.db.IsNameReserved(ctx, "reserved-name"); !ok {
			t.Error("name not reserved")
		}
		if cells := findAll(ab.get("/admin/").doc, "table.reserved tbody td"); len(cells) != 4 || textOf(cells[0]) != "reserved-name" || textOf(cells[1]) != "held" {
			t.Error("reserved name not listed")
		}
		wantStatus(t, ab.submit("/admin/", "/admin/names/", url.Values{"name": {"-bad-"}}), 400, "invalid name")

		// The user search takes its text literally: '_' and '%' are no wildcards.
		fx.user("x_y")
		fx.user("xzy")
		if got := ab.get("/admin/users/?q=x_y").text("table.users tbody"); !strings.Contains(got, "x_y") || strings.Contains(got, "xzy") {
			t.Errorf("search x_y: %q", got)
		}
		if rows := findAll(ab.get("/admin/users/?q=%25").doc, "table.users tbody tr"); len(rows) != 1 || !strings.Contains(textOf(rows[0]), "No user") {
			t.Errorf("search %%: %d rows", len(rows))
		}
	})
}

// mintToken creates a whole-account token through a signed-in browser's token page.
func (fx *fixture) mintToken(t *testing.T, a store.Account) string {
	t.Helper()
	b := fx.browser("minting")
	b.login(a.Username, testPassword)
	return fx.mintTokenWith(t, b)
}

// mintTokenWith creates an account token from the token page of b's session.
func (fx *fixture) mintTokenWith(t *testing.T, b *browser) string {
	t.Helper()
	p := b.submit("/manage/account/token/", "/manage/account/token/", url.Values{"name": {"t"}, "scope": {"account"}})
	wantStatus(t, p, 200, "create token")
	return p.text("#new-token")
}

// TestProjectScopedToken: a token may be scoped to the user's own projects only.
func TestProjectScopedToken(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		a := fx.user("alice")
		b := fx.browser("b")
		b.login("alice", testPassword)
		whole := fx.mintToken(t, a)
		for _, n := range []string{"one-pkg", "two-pkg"} {
			if code := fx.upload(t, b, whole, n, "1.0"); code != 200 {
				t.Fatalf("upload %s: %d", n, code)
			}
		}
		fx.user("mallory")
		mb := fx.browser("m")
		mb.login("mallory", testPassword)
		foreign := mb.submit("/manage/account/token/", "/manage/account/token/", url.Values{
			"name": {"x"}, "scope": {"projects"}, "project": {"one-pkg"}})
		wantStatus(t, foreign, 400, "token for someone else's project")

		tp := b.get("/manage/account/token/")
		if len(findAll(tp.doc, `input[name=project][type=checkbox]`)) != 2 {
			t.Fatal("the user's projects are not offered as scopes")
		}
		p := b.submit("/manage/account/token/", "/manage/account/token/", url.Values{
			"name": {"one only"}, "scope": {"projects"}, "project": {"one-pkg"}, "expires_days": {"30"}})
		wantStatus(t, p, 200, "scoped token")
		scoped := p.text("#new-token")
		if code := fx.upload(t, b, scoped, "one-pkg", "1.1"); code != 200 {
			t.Errorf("scoped token on its project: %d", code)
		}
		if code := fx.upload(t, b, scoped, "two-pkg", "1.1"); code != 403 {
			t.Errorf("scoped token on another project: %d", code)
		}
		var rec store.Token
		toks, _ := fx.db.TokensForUser(context.Background(), a.ID)
		for _, tk := range toks {
			if tk.Name == "one only" {
				rec = tk
			}
		}
		if want := t0.Add(30 * 24 * time.Hour); !rec.ExpiresAt.Equal(want) {
			t.Errorf("expiry %v, want %v", rec.ExpiresAt, want)
		}
		named := false
		for _, m := range fx.mailsOf(notify.KindTokenCreated, "alice@example.com") {
			named = named || strings.Contains(m.Body, "projects: one-pkg")
		}
		if !named {
			t.Error("token mail does not name the scope")
		}
		wantStatus(t, b.submit("/manage/account/token/", "/manage/account/token/", url.Values{
			"name": {"x"}, "scope": {"account"}, "expires_days": {"10000"}}), 400, "expiry not offered")
		wantStatus(t, b.submit("/manage/account/token/", "/manage/account/token/", url.Values{
			"name": {""}, "scope": {"account"}}), 400, "no name")
	})
}

func TestRegistrationRefusals(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.user("taken")
		b := fx.browser("b")
		for _, tc := range []struct {
			name, user, email, pw, confirm, want string
		}{
			{"short password", "newbie", "n@example.com", "short1", "short1", "Password is too short"},
			{"common password", "newbie", "n@example.com", "password123", "password123", "commonly used"},
			{"username in password", "newbie", "n@example.com", "newbie-rocks-hard", "newbie-rocks-hard", "username"},
			{"mismatch", "newbie", "n@example.com", "long enough words", "long enough wordz", "not the same"},
			{"taken", "Taken", "n2@example.com", "long enough words", "long enough words", "already being used"},
			{"bad name", "__x", "n3@example.com", "long enough words", "long enough words", "Username must"},
		} {
			p := b.post("/account/register/", url.Values{"username": {tc.user}, "email": {tc.email},
				"password": {tc.pw}, "password_confirm": {tc.confirm}})
			if p.status() != 400 || !strings.Contains(p.text("p.error"), tc.want) {
				t.Errorf("%s: %d %q", tc.name, p.status(), p.text("p.error"))
			}
			if attr(p.find(`input[name=password]`), "value") != "" {
				t.Errorf("%s: the password was sent back in the form", tc.name)
			}
		}
	})
}

// TestMarkdownIsSanitised: descriptions render from Markdown without anything that could run or restyle the page,
// other content types show as text, and links are web addresses only.
func TestMarkdownIsSanitised(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		a := fx.user("alice")
		desc := "# Title\n\nSome **bold** text.\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n" +
			"[click](javascript:alert(3)) <a href=\"https://example.com/\" onclick=\"alert(4)\">ok</a>\n\n" +
			"<iframe src=\"https://evil.example/\"></iframe><style>body{}</style>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
		fx.addRelease(t, a, "Md_Demo", "1.0", map[string]any{"summary": "Markdown <demo>", "description": desc,
			"description_content_type": "text/markdown; charset=UTF-8; variant=GFM",
			"project_urls":             map[string]string{"Docs": "https://docs.example/", "Bad": "javascript:alert(5)"}})
		fx.addRelease(t, a, "Md_Demo", "2.0rc1", map[string]any{"summary": "pre", "description": "plain *text* <b>x</b>",
			"description_content_type": "text/plain"})
		b := fx.browser("b")
		p := b.get("/project/md-demo/")
		wantRedirect301(t, p, "/project/Md_Demo/")
		p = b.get("/project/Md_Demo/")
		wantStatus(t, p, 200, "project page")
		readme := p.find("div.readme")
		if readme == nil || find(readme, "h1") == nil || find(readme, "strong") == nil || find(readme, "table") == nil {
			t.Fatalf("markdown not rendered: %q", p.text("#description"))
		}
		for _, bad := range []string{"script", "iframe", "style", "img[onerror]", "a[onclick]", "a[href=javascript:alert(3)]"} {
			if find(readme, bad) != nil {
				t.Errorf("the rendered description has %s", bad)
			}
		}
		if p.text("h1#project-name") != "Md_Demo 1.0" || p.text("p.summary") != "Markdown <demo>" {
			t.Errorf("header %q / %q (the final release is the latest, not the pre-release)", p.text("h1#project-name"), p.text("p.summary"))
		}
		links := findAll(p.doc, `#project-links a`)
		if len(links) != 1 || attr(links[0], "href") != "https://docs.example/" {
			t.Errorf("links %d", len(links))
		}
		if got := p.text("#install-command"); got != "pip install --index-url "+fx.base+"/simple/ Md_Demo" {
			t.Errorf("install command %q", got)
		}
		if len(findAll(p.doc, `ol.releases li`)) != 2 || p.text(`ol.releases li`) == "" {
			t.Error("release history")
		}
		if !regexp.MustCompile(`\b[0-9a-f]{64}\b`).MatchString(p.text("table.files")) {
			t.Error("no sha256 in the files table")
		}

		rel := b.get("/project/Md_Demo/2.0rc1/")
		wantStatus(t, rel, 200, "release page")
		if rel.find("pre.readme-text") == nil || rel.text("pre.readme-text") != "plain *text* <b>x</b>" {
			t.Errorf("plain description %q", rel.text("#description"))
		}
		if !strings.Contains(rel.text("#install-command"), "==2.0rc1") {
			t.Errorf("release install command %q", rel.text("#install-command"))
		}
		wantStatus(t, b.get("/project/Md_Demo/9.9/"), 404, "missing release")
		wantStatus(t, b.get("/project/nothing-here/"), 404, "missing project")
	})
}

func wantRedirect301(t *testing.T, p *page, to string) {
	t.Helper()
	if p.status() != http.StatusMovedPermanently || p.location() != to {
		t.Fatalf("%d to %q, want 301 to %s", p.status(), p.location(), to)
	}
}

// addRelease publishes a release with one wheel directly in the store.
func (fx *fixture) addRelease(t *testing.T, owner store.Account, name, version string, meta map[string]any) {
	t.Helper()
	js, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	norm := strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
	_, err = fx.db.ProjectByName(context.Background(), norm)
	create := errors.Is(err, store.ErrNotFound)
	filename := strings.ReplaceAll(name, "-", "_") + "-" + version + "-py3-none-any.whl"
	sha := sha256.Sum256([]byte(filename))
	b2 := sha256.Sum256([]byte("blake2 of " + filename))
	_, err = fx.db.AddFile(context.Background(), store.NewFile{
		ProjectName: name, NormalizedName: norm, UltraName: norm, CreateProject: create, UploaderID: owner.ID,
		Version: version, CanonicalVersion: version, ReleaseMetadata: js,
		Filename: filename, PackageType: "bdist_wheel",
		PythonVersion: "py3", Size: 1234, SHA256: hex.EncodeToString(sha[:]), MD5: strings.Repeat("0", 32),
		Blake2b256: hex.EncodeToString(b2[:]), MaxProjectSize: 1 << 30, Now: fx.clock.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestHomeCounts: the front page's counts are reused for a minute, then counted again.
func TestHomeCounts(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		a := fx.user("alice")
		b := fx.browser("b")
		projects := func() string { return b.get("/").text("section.stats strong") }
		fx.addRelease(t, a, "first", "1.0", nil)
		if got := projects(); got != "1" {
			t.Fatalf("home counts %q projects, want 1", got)
		}
		fx.addRelease(t, a, "second", "1.0", nil)
		fx.clock.Advance(30 * time.Second)
		if got := projects(); got != "1" {
			t.Errorf("within the minute the home page counts %q projects, want the kept 1", got)
		}
		fx.clock.Advance(30 * time.Second)
		if got := projects(); got != "2" {
			t.Errorf("after a minute the home page counts %q projects, want 2", got)
		}
	})
}

func TestBrowsePages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		a := fx.user("alice")
		for _, n := range []string{"flask-login", "flask", "login-helper", "unrelated"} {
			fx.addRelease(t, a, n, "1.0", map[string]any{"summary": "About " + n})
			fx.clock.Advance(time.Second)
		}
		b := fx.browser("b")
		home := b.get("/")
		wantStatus(t, home, 200, "home")
		if home.find(`form[action=/search/] input[name=q]`) == nil || len(findAll(home.doc, "ul.project-list li")) != 4 {
			t.Error("home page lacks the search or the recent projects")
		}
		if got := home.text("ul.project-list li"); !strings.HasPrefix(got, "unrelated 1.0") || !strings.Contains(got, "About unrelated") {
			t.Errorf("newest project first: %q", got)
		}
		s := b.get("/search/?q=Flask_Login")
		names := []string{}
		for _, n := range findAll(s.doc, "ul.project-list span.name") {
			names = append(names, textOf(n))
		}
		if strings.Join(names, " ") != "flask-login" {
			t.Errorf("search Flask_Login: %v", names)
		}
		s = b.get("/search/?q=login")
		names = names[:0]
		for _, n := range findAll(s.doc, "ul.project-list span.name") {
			names = append(names, textOf(n))
		}
		if strings.Join(names, " ") != "login-helper flask-login" {
			t.Errorf("search login (prefix first): %v", names)
		}
		for _, q := range []string{"%", "_", "'; DROP TABLE projects; --", strings.Repeat("a", 5000)} {
			wantStatus(t, b.get("/search/?q="+url.QueryEscape(q)), 200, "search "+q[:1])
		}
		if s := b.get("/search/?q=%25"); len(findAll(s.doc, "ul.project-list li")) != 0 {
			t.Error("% matched everything")
		}
		prof := b.get("/user/alice/")
		wantStatus(t, prof, 200, "profile")
		if len(findAll(prof.doc, "ul.project-list li")) != 4 || !strings.Contains(prof.text("ul.project-list"), "Owner") {
			t.Error("profile projects")
		}
		wantStatus(t, b.get("/user/nobody/"), 404, "missing user")
		wantStatus(t, b.get("/no/such/page"), 404, "unknown path")
		css := b.get("/static/style.css")
		if css.status() != 200 || !strings.HasPrefix(css.header("Content-Type"), "text/css") {
			t.Errorf("stylesheet %d %q", css.status(), css.header("Content-Type"))
		}
		if !strings.Contains(home.header("Content-Security-Policy"), "default-src 'self'") ||
			strings.Contains(home.header("Content-Security-Policy"), "unsafe-inline") || find(home.doc, "script") != nil ||
			len(findAll(home.doc, "[style]")) != 0 {
			t.Error("pages must work under a CSP without inline scripts or styles")
		}
		// The index routes still serve.
		wantStatus(t, b.get("/simple/"), 200, "simple index")
	})
}
