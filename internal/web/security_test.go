package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/audit"
	"wharf/internal/mfa"
	"wharf/internal/notify"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// sessionBrowser is a browser holding a session made directly, at a chosen level and age, without a login.
func (fx *fixture) sessionBrowser(ua string, userID int64, level accounts.Level, age time.Duration) *browser {
	fx.t.Helper()
	past := accounts.NewSessions(fx.db, nil, func() time.Time { return fx.clock.Now().Add(-age) }, accounts.SessionConfig{})
	token, _, err := past.Create(context.Background(), userID, level, accounts.WithoutKey, "192.0.2.10", ua)
	if err != nil {
		fx.t.Fatal(err)
	}
	return fx.withCookie(ua, token)
}

// TestCSRF: a state-changing form is refused without the CSRF token of its own session, and any POST that a
// browser says came from another site is refused even with a valid token.
func TestCSRF(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice, bob := fx.user("alice"), fx.user("bob")
		a := fx.sessionBrowser("a", alice.ID, accounts.LevelFull, 0)
		other := fx.sessionBrowser("other", alice.ID, accounts.LevelFull, 0)
		bb := fx.sessionBrowser("b", bob.ID, accounts.LevelFull, 0)
		bobToken := bb.csrf("/manage/account/", "/manage/account/sessions/end-all/")
		good := a.csrf("/manage/account/", "/manage/account/sessions/end-all/")
		// One character changed, whatever the token starts with.
		garbage := "x" + good[1:]
		if good[0] == 'x' {
			garbage = "y" + good[1:]
		}
		for _, tc := range []struct {
			name    string
			token   string
			headers map[string]string
			want    int
		}{
			{"no token", "", nil, 403},
			{"garbage token", garbage, nil, 403},
			{"another session's token", bobToken, nil, 403},
			{"cross-site fetch", good, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403},
			{"foreign Origin only", good, map[string]string{"Origin": "https://evil.example"}, 403},
			{"same-site but not same-origin", good, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://sub." + strings.TrimPrefix(fx.base, "https://")}, 403},
		} {
			form := url.Values{}
			if tc.token != "" {
				form.Set("csrf_token", tc.token)
			}
			var p *page
			if tc.headers == nil {
				p = a.post("/manage/account/sessions/end-all/", form)
			} else {
				p = a.postWith("/manage/account/sessions/end-all/", form, tc.headers)
			}
			wantStatus(t, p, tc.want, tc.name)
			wantStatus(t, other.get("/manage/account/"), 200, tc.name+": the other session must live")
		}
		// A login form posted from another site is refused too (login CSRF), and so is a logout.
		cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
		anon := fx.browser("anon")
		wantStatus(t, anon.postWith("/account/login/", url.Values{"username": {"alice"}, "password": {testPassword}}, cross), 403, "cross-site login")
		if anon.cookie() != "" {
			t.Error("a cross-site login set a session")
		}
		for path, form := range map[string]url.Values{
			"/account/register/": {"username": {"mallory"}, "email": {"m@example.com"}, "password": {"long enough words"},
				"password_confirm": {"long enough words"}},
			"/account/reset-password/": {"username_or_email": {"alice"}},
			"/account/verify-email/":   {"token": {strings.Repeat("A", 43)}},
		} {
			wantStatus(t, anon.postWith(path, form, cross), 403, "cross-site "+path)
		}
		if _, err := fx.db.AccountByName(context.Background(), "mallory"); err == nil {
			t.Error("a cross-site registration created an account")
		}
		if n := len(fx.mailsOf(notify.KindPasswordReset, "alice@example.com")); n != 0 {
			t.Error("a cross-site reset request sent mail")
		}
		wantStatus(t, a.postWith("/account/logout/", url.Values{"csrf_token": {good}}, cross), 403, "cross-site logout")
		wantStatus(t, a.post("/account/logout/", nil), 403, "logout without token")
		wantStatus(t, a.get("/manage/account/"), 200, "session after refused logouts")
		// The right token from this site works (proving the refusals above were for the reasons given).
		wantRedirect(t, a.post("/manage/account/sessions/end-all/", url.Values{"csrf_token": {good}}), "/manage/account/", "valid form")
		wantRedirect(t, other.get("/manage/account/"), "/account/login/", "other session after sign out everywhere")
	})
}

// TestSudo: sensitive actions need a password confirmation within the last 30 minutes (S8); only the session's
// own user's password counts; the way back is a local path only.
func TestSudo(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		fx.user("bob") // same testPassword: proves the check is against alice's account, not any account's
		ctx := context.Background()
		if err := fx.db.SetPassword(ctx, alice.ID, hashOf(t, "alice's own passphrase"), fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		b := fx.browser("b")
		b.login("alice", "alice's own passphrase")
		fx.clock.Advance(31 * time.Minute)

		p := b.get("/manage/account/token/")
		wantRedirect(t, p, "/account/reauthenticate/?next=%2Fmanage%2Faccount%2Ftoken%2F", "token page without sudo")
		csrf := b.csrf("/manage/account/", "/manage/account/email/")
		for _, path := range []string{"/manage/account/token/", "/manage/account/email/", "/manage/account/password/",
			"/manage/account/sessions/end-all/", "/manage/account/token/revoke/"} {
			p := b.post(path, url.Values{"csrf_token": {csrf}, "name": {"x"}, "scope": {"account"}, "email": {"new@example.com"}})
			wantRedirect(t, p, "/account/reauthenticate/?next=", path+" without sudo")
		}
		if toks, _ := fx.db.TokensForUser(ctx, alice.ID); len(toks) != 0 || fx.account(alice.ID).Email != "alice@example.com" {
			t.Fatal("a sensitive action happened without sudo")
		}

		form := b.get("/account/reauthenticate/?next=/manage/account/token/")
		wantStatus(t, form, 200, "reauth form")
		if attr(form.find(`form#reauth-form input[name=next]`), "value") != "/manage/account/token/" {
			t.Error("next not carried")
		}
		reauth := func(password, next string) *page {
			return b.post("/account/reauthenticate/", url.Values{"csrf_token": {b.csrf("/manage/account/", "/manage/account/email/")},
				"password": {password}, "next": {next}})
		}
		wantStatus(t, reauth(testPassword, "/manage/account/token/"), 400, "another user's password")
		wantStatus(t, reauth("wrong", "/manage/account/token/"), 400, "wrong password")
		wantStatus(t, b.get("/manage/account/token/"), 303, "still no sudo")
		p = reauth("alice's own passphrase", "/manage/account/token/")
		wantRedirect(t, p, "/manage/account/token/", "reauth")
		if p.location() != "/manage/account/token/" {
			t.Errorf("back to %q", p.location())
		}
		wantStatus(t, b.get("/manage/account/token/"), 200, "token page with sudo")

		// No open redirect: whatever next says, the way back stays on this site.
		for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example", "\\\\evil.example",
			"/%0d%0aSet-Cookie:x", "javascript:alert(1)", " /x", "/\t/evil.example", "http:/evil.example"} {
			p := reauth("alice's own passphrase", next)
			if p.status() != http.StatusSeeOther || !strings.HasPrefix(p.location(), "/") || strings.HasPrefix(p.location(), "//") ||
				strings.Contains(p.location(), "evil") || strings.ContainsAny(p.location(), "\\\r\n") {
				t.Errorf("reauth next=%q: %d to %q", next, p.status(), p.location())
			}
			lp := b.post("/account/login/", url.Values{"username": {"alice"}, "password": {"alice's own passphrase"}, "next": {next}})
			if loc := lp.location(); !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.Contains(loc, "evil") {
				t.Errorf("login next=%q: to %q", next, loc)
			}
			anon := fx.browser("anon")
			if v := attr(anon.get("/account/login/?next="+url.QueryEscape(next)).find(`input[name=next]`), "value"); v != "" &&
				(!strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.ContainsAny(v, "\\\r\n\t ")) {
				t.Errorf("login form carries next=%q as %q", next, v)
			}
		}
		// The sudo window closes again.
		fx.clock.Advance(31 * time.Minute)
		wantStatus(t, b.get("/manage/account/token/"), 303, "sudo expired")
	})
}

func hashOf(t *testing.T, password string) string {
	h, err := accounts.NewHasherWithCost(1, 8, testCost).Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestLoginRateLimit checks R1 and R2 through the login form: ten failures lock the account name (in any of its
// spellings) and the IP, the right password is refused with 429 and Retry-After while the limit holds, and it
// works again once the window has passed.
func TestLoginRateLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.user("alice")
		spellings := []string{"alice", "Alice", "ALICE", "alice ", " aLiCe", "ａｌｉｃｅ", "Alice", "alice", "ALICE ", "alice"}
		for i, name := range spellings {
			b := fx.browser("guesser")
			b.ip = fmt.Sprintf("203.0.113.%d", i+1) // a new address each time: only the account counter adds up
			wantStatus(t, b.post("/account/login/", url.Values{"username": {name}, "password": {"guess" + strconv.Itoa(i)}}), 400, "failure "+name)
		}
		owner := fx.browser("owner")
		owner.ip = "198.51.100.1"
		p := owner.post("/account/login/", url.Values{"username": {"alice"}, "password": {testPassword}})
		wantStatus(t, p, http.StatusTooManyRequests, "right password while the account is limited")
		if ra, err := strconv.Atoi(p.header("Retry-After")); err != nil || ra < 1 || ra > 300 {
			t.Errorf("Retry-After %q", p.header("Retry-After"))
		}
		if msg := p.text("#error-message"); !strings.Contains(msg, "Too many failed sign-in attempts") || owner.cookie() != "" {
			t.Errorf("429 page %q, cookie set %v", msg, owner.cookie() != "")
		}
		fx.clock.Advance(5*time.Minute + time.Second)
		owner.login("alice", testPassword)

		// Per IP: ten failures against ten names from one address lock that address for every name.
		fx.user("bob")
		for i := range 10 {
			b := fx.browser("sprayer")
			b.ip = "192.0.2.99"
			wantStatus(t, b.post("/account/login/", url.Values{"username": {"user" + strconv.Itoa(i)}, "password": {"x"}}), 400, "spray")
		}
		sameIP := fx.browser("same ip")
		sameIP.ip = "192.0.2.99"
		wantStatus(t, sameIP.post("/account/login/", url.Values{"username": {"bob"}, "password": {testPassword}}), 429, "right password from a limited IP")
		elsewhere := fx.browser("elsewhere")
		elsewhere.ip = "192.0.2.100"
		elsewhere.login("bob", testPassword)

		// An IPv6 client cannot escape by rotating through its /64.
		for i := range 10 {
			b := fx.browser("v6")
			b.ip = fmt.Sprintf("2001:db8:1:2::%x", i+1)
			wantStatus(t, b.post("/account/login/", url.Values{"username": {"v6user" + strconv.Itoa(i)}, "password": {"x"}}), 400, "v6 spray")
		}
		v6 := fx.browser("v6")
		v6.ip = "2001:db8:1:2:ffff::1"
		wantStatus(t, v6.post("/account/login/", url.Values{"username": {"bob"}, "password": {testPassword}}), 429, "same /64")
	})
}

// TestNoEnumeration checks R4: login and reset answer an unknown account, an existing one and a disabled one
// with the same status and the same page; only a real, active account gets mail.
func TestNoEnumeration(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.user("alice")
		dora := fx.user("dora")
		if err := fx.db.SetUserDisabled(context.Background(), dora.ID, true, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		login := func(name, password string) (int, string) {
			b := fx.browser("probe")
			b.ip = "198.51.100." + strconv.Itoa(len(name)+len(password)) // keep the IP counter out of the way
			p := b.post("/account/login/", url.Values{"username": {name}, "password": {password}})
			return p.status(), strings.ReplaceAll(p.body, name, "NAME")
		}
		wantCode, wantBody := login("nobody", "some password")
		for _, tc := range [][2]string{{"alice", "wrong password"}, {"dora", testPassword}, {"dora", "wrong"}} {
			code, body := login(tc[0], tc[1])
			if code != wantCode || body != wantBody {
				t.Errorf("login %s/%s: %d, body differs: %v (unknown account: %d)", tc[0], tc[1], code, body != wantBody, wantCode)
			}
		}
		if wantCode != 400 {
			t.Errorf("refused login: %d", wantCode)
		}

		reset := func(who string) (int, string) {
			b := fx.browser("probe")
			b.ip = "198.51.100.200"
			p := b.post("/account/reset-password/", url.Values{"username_or_email": {who}})
			return p.status(), p.body
		}
		wantCode, wantBody = reset("nobody")
		for _, who := range []string{"alice", "dora", "alice@example.com", "nobody@example.com"} {
			if code, body := reset(who); code != wantCode || body != wantBody {
				t.Errorf("reset %s: %d, body differs: %v", who, code, body != wantBody)
			}
		}
		if n := len(fx.mailsOf(notify.KindPasswordReset, "alice@example.com")); n != 2 {
			t.Errorf("alice got %d reset mails, want 2", n)
		}
		if n := len(fx.mailsOf(notify.KindPasswordReset, "dora@example.com")); n != 0 {
			t.Errorf("a disabled account got %d reset mails", n)
		}
	})
}

// blockingMailer holds every message until released, to prove that no request waits for mail.
type blockingMailer struct {
	release chan struct{}
	mu      sync.Mutex
	sent    []notify.Message
}

func (m *blockingMailer) Send(ctx context.Context, msg notify.Message) error {
	<-m.release
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, msg)
	return nil
}

// TestMailOffRequestPath: a reset request for a real account answers while the mail is still unsent, so its
// timing cannot differ from one for an unknown account by the time a relay takes.
func TestMailOffRequestPath(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			m := &blockingMailer{release: make(chan struct{})}
			fx := newFixtureWith(t, e, fixtureOptions{mailer: m})
			fx.user("alice")
			done := make(chan *page, 1)
			go func() {
				done <- fx.browser("b").post("/account/reset-password/", url.Values{"username_or_email": {"alice"}})
			}()
			select {
			case p := <-done:
				wantStatus(t, p, 200, "reset request")
			case <-time.After(10 * time.Second):
				t.Fatal("the reset request waited for the mail")
			}
			close(m.release)
			fx.site.WaitMail()
			m.mu.Lock()
			defer m.mu.Unlock()
			if len(m.sent) != 1 || m.sent[0].Kind != notify.KindPasswordReset {
				t.Errorf("sent %+v", m.sent)
			}
		})
	}
}

// TestMailLimits checks R5: mail-sending endpoints are limited per address and per IP, whether or not an account
// exists, and the limit on an address holds however the account is named.
func TestMailLimits(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.user("alice")
		reset := func(who, ip string) *page {
			b := fx.browser("b")
			b.ip = ip
			return b.post("/account/reset-password/", url.Values{"username_or_email": {who}})
		}
		for i := range 3 {
			wantStatus(t, reset("alice", "192.0.2."+strconv.Itoa(i+1)), 200, "reset")
		}
		p := reset("ALICE", "192.0.2.50")
		wantStatus(t, p, 429, "fourth reset for one name in an hour")
		if p.header("Retry-After") == "" {
			t.Error("no Retry-After")
		}
		// Typed as the address, the request is answered, but no fourth mail goes to that address.
		wantStatus(t, reset("alice@example.com", "192.0.2.51"), 200, "reset by address")
		if n := len(fx.mailsOf(notify.KindPasswordReset, "alice@example.com")); n != 3 {
			t.Errorf("%d reset mails in an hour, want 3", n)
		}
		// Unknown names count the same (no enumeration through the limit).
		for i := range 3 {
			wantStatus(t, reset("ghost", "192.0.2."+strconv.Itoa(60+i)), 200, "reset ghost")
		}
		wantStatus(t, reset("ghost", "192.0.2.70"), 429, "fourth reset for an unknown name")

		// Per IP: twenty mail requests an hour, then every mail endpoint refuses, registration included.
		for i := range 20 {
			wantStatus(t, reset("name"+strconv.Itoa(i), "203.0.113.5"), 200, "reset from one IP")
		}
		wantStatus(t, reset("name-x", "203.0.113.5"), 429, "21st mail request from one IP")
		b := fx.browser("b")
		b.ip = "203.0.113.5"
		wantStatus(t, b.post("/account/register/", url.Values{"username": {"newbie"}, "email": {"newbie@example.com"},
			"password": {"long enough words"}, "password_confirm": {"long enough words"}}), 429, "register from a limited IP")
		// And an address that was asked for too often cannot be registered to for the hour either.
		c := fx.browser("c")
		c.ip = "203.0.113.99"
		wantStatus(t, c.post("/account/register/", url.Values{"username": {"ghostly"}, "email": {"GHOST"},
			"password": {"long enough words"}, "password_confirm": {"long enough words"}}), 429, "register to a limited address")
		fx.clock.Advance(time.Hour + time.Second)
		wantRedirect(t, b.post("/account/register/", url.Values{"username": {"newbie"}, "email": {"newbie@example.com"},
			"password": {"long enough words"}, "password_confirm": {"long enough words"}}), "/manage/account/", "register after the hour")
	})
}

// TestNoIDOR checks K4: user B can neither see nor revoke A's tokens, nor end A's sessions, by id.
func TestNoIDOR(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice := fx.user("alice")
		fx.user("bob")
		aliceToken := fx.mintToken(t, alice)
		toks, _ := fx.db.TokensForUser(ctx, alice.ID)
		id := toks[0].ID
		aliceSession := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
		sessions, _ := fx.db.SessionsForUser(ctx, alice.ID)

		bb := fx.browser("bob")
		bb.login("bob", testPassword)
		list := bb.get("/manage/account/token/")
		if strings.Contains(list.body, id) || len(findAll(list.doc, "table.tokens tbody tr")) != 0 {
			t.Error("bob sees alice's token")
		}
		p := bb.post("/manage/account/token/revoke/", url.Values{"token_id": {id},
			"csrf_token": {bb.csrf("/manage/account/token/", "/manage/account/token/")}})
		wantStatus(t, p, 404, "bob revokes alice's token")
		if toks, _ := fx.db.TokensForUser(ctx, alice.ID); !toks[0].RevokedAt.IsZero() {
			t.Fatal("alice's token was revoked by bob")
		}
		if code := fx.upload(t, bb, aliceToken, "alices-pkg", "1.0"); code != 200 {
			t.Errorf("alice's token after bob's attempt: %d", code)
		}
		for _, s := range sessions {
			p := bb.submit("/manage/account/", "/manage/account/sessions/end/", url.Values{"session_id": {s.ID}})
			wantStatus(t, p, 404, "bob ends alice's session")
		}
		wantStatus(t, aliceSession.get("/manage/account/"), 200, "alice's session after bob's attempts")
		if strings.Contains(bb.get("/manage/account/").body, sessions[0].ID) {
			t.Error("bob sees alice's session handles")
		}
		if b := bb.get("/manage/account/"); strings.Contains(b.text("table.history"), "alice") {
			t.Error("bob's history shows alice's events")
		}
	})
}

// TestPlainHTTPCookie: without https and away from localhost the __Host- cookie cannot work; the site says so at
// start and uses a plain, still HttpOnly and SameSite, cookie.
func TestPlainHTTPCookie(t *testing.T) {
	e := storetest.Engines(t)[0]
	fx := newFixtureWith(t, e, fixtureOptions{baseURL: "http://index.internal:8080"})
	if !strings.Contains(fx.logs.String(), "without Secure") {
		t.Error("no warning at start")
	}
	fx.user("alice")
	b := fx.browser("b")
	p := b.post("/account/login/", url.Values{"username": {"alice"}, "password": {testPassword}})
	var c *http.Cookie
	for _, k := range p.resp.Cookies() {
		c = k
	}
	if c == nil || c.Name != "wharf_session" || c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("cookie %+v", c)
	}
	for _, base := range []string{"http://localhost:8080", "http://127.0.0.1:9", "https://pypi.example"} {
		fx := newFixtureWith(t, e, fixtureOptions{baseURL: base})
		if strings.Contains(fx.logs.String(), "without Secure") {
			t.Errorf("%s: warned", base)
		}
	}
}

// accountState is everything of alice's (and of the administrators' objects) that a refused request must leave
// as it was.
func (fx *fixture) accountState(t *testing.T, ids ...int64) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	for _, id := range ids {
		a := fx.account(id)
		fmt.Fprintf(&b, "user %s email=%s verified=%v disabled=%v admin=%v pw=%s\n", a.Username, a.Email,
			!a.EmailVerifiedAt.IsZero(), a.Disabled, a.IsAdmin, a.PasswordHash)
		ss, err := fx.db.SessionsForUser(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range ss {
			fmt.Fprintf(&b, "  session %s level=%s reauth=%v\n", s.ID[:8], s.AuthLevel, s.ReauthAt)
		}
		enrolled, err := fx.totp.Enrolled(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		left, err := fx.recovery.Remaining(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		_, pendErr := fx.db.TOTPPendingFor(ctx, id, fx.clock.Now())
		fmt.Fprintf(&b, "  totp=%v pending=%v recovery=%d\n", enrolled, pendErr == nil, left)
		toks, _ := fx.db.TokensForUser(ctx, id)
		for _, tk := range toks {
			fmt.Fprintf(&b, "  token %s revoked=%v\n", tk.ID, tk.RevokedAt)
		}
	}
	names, _ := fx.db.ReservedNames(ctx, 100)
	for _, n := range names {
		fmt.Fprintf(&b, "reserved %s\n", n.Name)
	}
	// Mail to alice, at the address she had when the request was made; others may get theirs.
	to := map[string]bool{}
	for _, id := range ids {
		to[strings.ToLower(fx.account(id).Email)] = true
	}
	n := 0
	for _, m := range fx.mails() {
		if to[strings.ToLower(m.To)] {
			n++
		}
	}
	fmt.Fprintf(&b, "mails %d\n", n)
	return b.String()
}

// TestRouteMatrix checks K5 over every state-changing route the pages add: for each, every role that must be
// refused is refused and leaves the state untouched, and the role that may act does.
func TestRouteMatrix(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		root, alice, bob := fx.user("root"), fx.user("alice"), fx.user("bob")
		carol, dora := fx.user("carol"), fx.user("dora")
		if err := fx.db.SetAdmin(ctx, root.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := fx.db.SetUserDisabled(ctx, dora.ID, true, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		state := func() string { return fx.accountState(t, alice.ID, carol.ID, dora.ID) }
		full := func(id int64) (*browser, string) {
			b := fx.sessionBrowser("full", id, accounts.LevelFull, 0)
			return b, b.csrf("/manage/account/", "/manage/account/email/")
		}
		// Fresh objects of alice's for the routes that name one by id.
		var aliceTokenID, aliceSessionID string
		fresh := func() {
			aliceTokenID = fmt.Sprintf("tok%d", time.Now().UnixNano())
			if err := fx.db.CreateToken(ctx, store.Token{ID: aliceTokenID, UserID: alice.ID, Name: "t", CreatedAt: fx.clock.Now()}); err != nil {
				t.Fatal(err)
			}
			token, s, err := fx.sessions.Create(ctx, alice.ID, accounts.LevelFull, accounts.WithoutKey, "192.0.2.1", "other")
			if err != nil || token == "" {
				t.Fatal(err)
			}
			aliceSessionID = s.ID
		}
		cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}

		type route struct {
			path         string
			form         func() url.Values
			sudo, admin  bool
			allowedBy    string // "alice" or "root"
			allowedCheck func(t *testing.T)
		}
		alicePassword := testPassword
		addresses := 0
		routes := []route{
			{path: "/account/logout/", form: func() url.Values { return url.Values{} }, allowedBy: "alice"},
			{path: "/account/reauthenticate/", form: func() url.Values {
				return url.Values{"password": {alicePassword}, "next": {"/manage/account/"}}
			}, allowedBy: "alice"},
			{path: "/manage/account/sessions/end/", form: func() url.Values { return url.Values{"session_id": {aliceSessionID}} },
				allowedBy: "alice", allowedCheck: func(t *testing.T) {
					if _, err := fx.db.SessionByHash(ctx, aliceSessionID); err == nil {
						t.Error("session not ended")
					}
				}},
			{path: "/manage/account/sessions/end-all/", form: func() url.Values { return url.Values{} }, sudo: true, allowedBy: "alice",
				allowedCheck: func(t *testing.T) {
					if ss, _ := fx.db.SessionsForUser(ctx, alice.ID); len(ss) != 1 {
						t.Errorf("%d sessions left", len(ss))
					}
				}},
			{path: "/manage/account/token/", form: func() url.Values { return url.Values{"name": {"m"}, "scope": {"account"}} },
				sudo: true, allowedBy: "alice", allowedCheck: func(t *testing.T) {
					toks, _ := fx.db.TokensForUser(ctx, alice.ID)
					if len(toks) == 0 || toks[0].Name != "m" {
						t.Error("token not created")
					}
				}},
			{path: "/manage/account/token/revoke/", form: func() url.Values { return url.Values{"token_id": {aliceTokenID}} },
				sudo: true, allowedBy: "alice", allowedCheck: func(t *testing.T) {
					tk, _ := fx.db.TokenByID(ctx, aliceTokenID)
					if tk.RevokedAt.IsZero() {
						t.Error("token not revoked")
					}
				}},
			{path: "/manage/account/email/", form: func() url.Values {
				addresses++ // bob, acting on his own account, must not take the address alice then asks for
				return url.Values{"email": {fmt.Sprintf("changed%d@example.com", addresses)}}
			}, sudo: true, allowedBy: "alice", allowedCheck: func(t *testing.T) {
				if a := fx.account(alice.ID); a.Email == "alice@example.com" || !a.EmailVerifiedAt.IsZero() {
					t.Error("email not changed")
				}
			}},
			{path: "/manage/account/verify-email/", form: func() url.Values { return url.Values{} }, allowedBy: "alice",
				allowedCheck: func(t *testing.T) {
					if len(fx.mailsOf(notify.KindVerifyEmail, fx.account(alice.ID).Email)) != 2 {
						t.Error("no new verification mail")
					}
				}},
			{path: "/manage/account/password/", form: func() url.Values {
				return url.Values{"current_password": {alicePassword}, "new_password": {"matrix new passphrase"},
					"new_password_confirm": {"matrix new passphrase"}}
			}, sudo: true, allowedBy: "alice", allowedCheck: func(t *testing.T) {
				alicePassword = "matrix new passphrase"
				if fx.account(alice.ID).PasswordHash == testPasswordHash() {
					t.Error("password not changed")
				}
			}},
			{path: "/manage/account/totp/begin/", form: func() url.Values { return url.Values{} },
				sudo: true, allowedBy: "alice", allowedCheck: func(t *testing.T) {
					if _, err := fx.db.TOTPPendingFor(ctx, alice.ID, fx.clock.Now()); err != nil {
						t.Errorf("no enrolment started: %v", err)
					}
				}},
			{path: "/manage/account/totp/", form: func() url.Values {
				// A fresh enrolment of alice's and the right code for it: only alice's own post may activate it.
				secret, _, err := fx.totp.Begin(ctx, alice.ID, "alice")
				if err != nil {
					t.Fatal(err)
				}
				return url.Values{"code": {totpCode(secret, fx.clock.Now())}}
			}, sudo: true, allowedBy: "alice", allowedCheck: func(t *testing.T) {
				if ok, _ := fx.totp.Enrolled(ctx, alice.ID); !ok {
					t.Error("totp not activated")
				}
				if n, _ := fx.recovery.Remaining(ctx, alice.ID); n != 8 {
					t.Errorf("%d recovery codes after activation", n)
				}
				if len(fx.mailsOf(notify.KindFactorAdded, fx.account(alice.ID).Email)) != 1 {
					t.Error("no factor-added mail")
				}
			}},
			{path: "/manage/account/totp/recovery/", form: func() url.Values { return url.Values{"confirm": {"yes"}} },
				sudo: true, allowedBy: "alice", allowedCheck: func(t *testing.T) {
					ev, _ := fx.db.Events(ctx, alice.ID, 0, 1)
					if len(ev) == 0 || ev[0].Kind != mfa.RecoveryRegenerated {
						t.Errorf("last event %v, want %s", ev, mfa.RecoveryRegenerated)
					}
				}},
			{path: "/manage/account/recovery-codes/saved/", form: func() url.Values { return url.Values{"confirm": {"yes"}} },
				allowedBy: "alice", allowedCheck: func(t *testing.T) {
					ev, _ := fx.db.Events(ctx, alice.ID, 0, 1)
					if len(ev) == 0 || ev[0].Kind != "mfa:recovery-saved" {
						t.Errorf("last event %v, want mfa:recovery-saved", ev)
					}
				}},
			{path: "/manage/account/totp/remove/", form: func() url.Values { return url.Values{"confirm": {"yes"}} },
				sudo: true, allowedBy: "alice", allowedCheck: func(t *testing.T) {
					if ok, _ := fx.totp.Enrolled(ctx, alice.ID); ok {
						t.Error("totp not removed")
					}
					if len(fx.mailsOf(notify.KindFactorRemoved, fx.account(alice.ID).Email)) != 1 {
						t.Error("no factor-removed mail")
					}
				}},
			{path: "/admin/users/disable/", form: func() url.Values { return url.Values{"username": {"carol"}, "confirm": {"yes"}} },
				sudo: true, admin: true, allowedBy: "root", allowedCheck: func(t *testing.T) {
					if !fx.account(carol.ID).Disabled {
						t.Error("carol not disabled")
					}
				}},
			{path: "/admin/users/enable/", form: func() url.Values { return url.Values{"username": {"dora"}} },
				sudo: true, admin: true, allowedBy: "root", allowedCheck: func(t *testing.T) {
					if fx.account(dora.ID).Disabled {
						t.Error("dora not enabled")
					}
				}},
			{path: "/admin/names/", form: func() url.Values { return url.Values{"name": {"held-name"}} },
				sudo: true, admin: true, allowedBy: "root", allowedCheck: func(t *testing.T) {
					if ok, _ := fx.db.IsNameReserved(ctx, "held-name"); !ok {
						t.Error("name not reserved")
					}
				}},
			{path: "/admin/names/unreserve/", form: func() url.Values { return url.Values{"name": {"held-name"}, "confirm": {"yes"}} },
				sudo: true, admin: true, allowedBy: "root", allowedCheck: func(t *testing.T) {
					if ok, _ := fx.db.IsNameReserved(ctx, "held-name"); ok {
						t.Error("name still reserved")
					}
				}},
		}

		for _, rt := range routes {
			fresh()
			with := func(f url.Values, csrf string) url.Values {
				if csrf != "" {
					f.Set("csrf_token", csrf)
				}
				return f
			}
			type attempt struct {
				role      string
				do        func() *page
				want      func(p *page) bool
				mayChange bool
			}
			toLogin := func(p *page) bool {
				return p.status() == 303 && strings.HasPrefix(p.location(), "/account/login/")
			}
			forbidden := func(p *page) bool { return p.status() == 403 }
			a, aCSRF := full(alice.ID)
			b, bCSRF := full(bob.ID)
			staleID := alice.ID
			if rt.admin {
				staleID = root.ID
			}
			stale := fx.sessionBrowser("stale", staleID, accounts.LevelFull, 31*time.Minute)
			staleCSRF := stale.csrf("/manage/account/", "/manage/account/email/")
			half := fx.sessionBrowser("half", alice.ID, accounts.LevelPassword, 0)
			attempts := []attempt{
				{"anonymous", func() *page { return fx.browser("anon").post(rt.path, rt.form()) }, toLogin, false},
				{"half-logged-in", func() *page { return half.post(rt.path, rt.form()) }, toLogin, false},
				{"no CSRF token", func() *page { return a.post(rt.path, rt.form()) }, forbidden, false},
				{"another session's CSRF token", func() *page { return a.post(rt.path, with(rt.form(), bCSRF)) }, forbidden, false},
				{"cross-origin", func() *page { return a.postWith(rt.path, with(rt.form(), aCSRF), cross) }, forbidden, false},
				// A GET never acts: it is either no route at all or the page that shows the form.
				{"GET", func() *page { return a.get(rt.path + "?" + with(rt.form(), aCSRF).Encode()) },
					func(p *page) bool { return p.status() == 404 || p.status() == 200 || p.status() == 303 }, false},
				{"other user", func() *page { return b.post(rt.path, with(rt.form(), bCSRF)) }, func(p *page) bool {
					// Bob may act on his own account; nothing of alice's may change, which the state check proves.
					return !rt.admin || p.status() == 403
				}, false},
			}
			if rt.path == "/account/logout/" {
				// Signing out a browser that is not signed in does nothing, and says so by going home.
				attempts[0].want = func(p *page) bool { return p.status() == 303 && p.location() == "/" }
				// A half-logged-in session may always end itself; it needs no form and so no CSRF token.
				attempts[1] = attempt{"half-logged-in", func() *page { return half.post(rt.path, rt.form()) },
					func(p *page) bool { return p.status() == 303 && p.location() == "/?notice=signed-out" }, true}
			}
			if rt.sudo {
				attempts = append(attempts, attempt{"stale sudo", func() *page { return stale.post(rt.path, with(rt.form(), staleCSRF)) },
					func(p *page) bool {
						return p.status() == 303 && strings.HasPrefix(p.location(), "/account/reauthenticate/")
					}, false})
			}
			if rt.admin {
				attempts = append(attempts, attempt{"non-admin", func() *page { return a.post(rt.path, with(rt.form(), aCSRF)) }, forbidden, false})
			}
			for _, at := range attempts {
				before := state()
				p := at.do()
				if !at.want(p) {
					t.Errorf("%s as %s: %d to %q (%s)", rt.path, at.role, p.status(), p.location(), p.text("#error-message"))
				}
				if after := state(); after != before && !at.mayChange {
					t.Errorf("%s as %s changed state:\n%s\nto\n%s", rt.path, at.role, before, after)
				}
			}

			// The role that may act, can.
			actor, csrf := a, aCSRF
			if rt.allowedBy == "root" {
				actor, csrf = full(root.ID)
			}
			before := state()
			p := actor.post(rt.path, with(rt.form(), csrf))
			if p.status() != 303 && p.status() != 200 {
				t.Errorf("%s as %s: %d (%s)", rt.path, rt.allowedBy, p.status(), p.text("#error-message")+p.text("p.error"))
			}
			if rt.allowedCheck != nil {
				rt.allowedCheck(t)
			} else if state() == before && rt.path != "/account/reauthenticate/" {
				t.Errorf("%s as %s changed nothing", rt.path, rt.allowedBy)
			}
		}
	})
}

// TestManageRouteMatrix extends K5 to the management pages: for every state-changing route, strangers, other
// users, Maintainers where an Owner is needed, forms without this session's CSRF token, cross-origin posts and
// stale re-authentications are refused and change nothing; the role that may act does. Each route acts on a
// fresh project of its own.
func TestManageRouteMatrix(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice, bob, carol, mallory := fx.user("alice"), fx.user("bob"), fx.user("carol"), fx.user("mallory")
		erin := fx.user("erin")
		fx.withKey(mallory) // the role and transfer rows make mallory an Owner, which needs a second factor
		ids := map[string]int64{"alice": alice.ID, "bob": bob.ID, "carol": carol.ID, "mallory": mallory.ID}
		var project, invID, invToken string
		n := 0
		// fresh makes project: alice Owner, mallory Maintainer, releases 1.0 and 2.0, and an invitation of carol
		// sent through the page (so that its link is real).
		fresh := func() {
			n++
			fx.clock.Advance(25 * time.Hour) // the mail limits of the inviter start over
			project = fmt.Sprintf("m%d-pkg", n)
			// Versions as the upload keys them ("1.0" is release "1"), since addRelease stores them as given.
			fx.addRelease(t, alice, project, "1", map[string]any{})
			fx.addRelease(t, alice, project, "2", map[string]any{})
			pr, err := fx.db.ProjectByName(ctx, project)
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []int64{mallory.ID, erin.ID} {
				if err := fx.db.AddRole(ctx, pr.ID, id, store.RoleMaintainer, fx.clock.Now()); err != nil {
					t.Fatal(err)
				}
			}
			a := fx.sessionBrowser("inviter", alice.ID, accounts.LevelFull, 0)
			page := "/manage/project/" + project + "/collaboration/"
			p := a.submit(page, page+"invite/", url.Values{"username": {"carol"}, "role": {"Maintainer"}})
			if p.status() != 303 {
				t.Fatalf("fresh invite: %d %s", p.status(), p.text("#error-message"))
			}
			link := fx.lastLink(notify.KindInvitation, carol.Email)
			u, _ := url.Parse(link)
			invToken = u.Query().Get("token")
			invs, err := fx.db.InvitationsForProject(ctx, pr.ID, fx.clock.Now())
			if err != nil || len(invs) != 1 {
				t.Fatalf("invitations: %v %v", invs, err)
			}
			invID = fmt.Sprint(invs[0].ID)
		}
		state := func() string {
			var b strings.Builder
			pi, err := fx.db.ProjectIndex(ctx, project)
			if err != nil {
				return "no project: " + err.Error()
			}
			cs, _ := fx.db.Collaborators(ctx, pi.Project.ID)
			fmt.Fprintf(&b, "roles %v\n", cs)
			for _, r := range pi.Releases {
				fmt.Fprintf(&b, "release %s yanked=%v %q\n", r.Version, r.Yanked, r.YankedReason)
			}
			for _, f := range pi.Files {
				fmt.Fprintf(&b, "file %s\n", f.Filename)
			}
			invs, _ := fx.db.InvitationsForProject(ctx, pi.Project.ID, fx.clock.Now())
			for _, i := range invs {
				fmt.Fprintf(&b, "invitation %d %s %s\n", i.ID, i.InviteeName, i.Role)
			}
			return b.String()
		}
		cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
		full := func(id int64) (*browser, string) {
			b := fx.sessionBrowser("full", id, accounts.LevelFull, 0)
			return b, b.csrf("/manage/account/", "/manage/account/email/")
		}
		type route struct {
			path         func() string
			form         func() url.Values
			sudo         bool
			ownerOnly    bool   // a Maintainer is refused
			allowedBy    string // who may act
			allowedCheck func(t *testing.T, before string)
		}
		mp := func(tail string) func() string {
			return func() string { return "/manage/project/" + project + "/" + tail }
		}
		fixed := func(p string) func() string { return func() string { return p } }
		changed := func(t *testing.T, before string) {
			if state() == before {
				t.Error("nothing changed")
			}
		}
		routes := []route{
			{path: mp("collaboration/invite/"), form: func() url.Values { return url.Values{"username": {"bob"}, "role": {"Owner"}} },
				sudo: true, ownerOnly: true, allowedBy: "alice", allowedCheck: changed},
			{path: mp("collaboration/role/"), form: func() url.Values { return url.Values{"username": {"mallory"}, "role": {"Owner"}} },
				sudo: true, ownerOnly: true, allowedBy: "alice", allowedCheck: changed},
			{path: mp("collaboration/remove/"), form: func() url.Values { return url.Values{"username": {"erin"}} },
				sudo: true, ownerOnly: true, allowedBy: "alice", allowedCheck: changed},
			{path: mp("collaboration/transfer/"), form: func() url.Values { return url.Values{"username": {"mallory"}, "then": {"Maintainer"}} },
				sudo: true, ownerOnly: true, allowedBy: "alice", allowedCheck: changed},
			{path: mp("collaboration/revoke/"), form: func() url.Values { return url.Values{"invitation_id": {invID}} },
				sudo: true, ownerOnly: true, allowedBy: "alice", allowedCheck: changed},
			{path: mp("collaboration/leave/"), form: func() url.Values { return url.Values{} },
				sudo: true, allowedBy: "mallory", allowedCheck: changed},
			{path: mp("releases/yank/"), form: func() url.Values { return url.Values{"version": {"1"}, "reason": {"bad"}} },
				ownerOnly: true, allowedBy: "alice", allowedCheck: changed},
			{path: mp("releases/delete-file/"), form: func() url.Values {
				f := strings.ReplaceAll(project, "-", "_") + "-1-py3-none-any.whl"
				return url.Values{"filename": {f}, "confirm": {f}}
			}, sudo: true, ownerOnly: true, allowedBy: "alice", allowedCheck: changed},
			{path: mp("releases/delete-release/"), form: func() url.Values { return url.Values{"version": {"2"}, "confirm": {"2"}} },
				sudo: true, ownerOnly: true, allowedBy: "alice", allowedCheck: changed},
			{path: mp("delete/"), form: func() url.Values { return url.Values{"confirm": {project}} },
				sudo: true, ownerOnly: true, allowedBy: "alice", allowedCheck: changed},
			{path: fixed("/manage/projects/invitations/accept/"), form: func() url.Values { return url.Values{"invitation_id": {invID}} },
				allowedBy: "carol", allowedCheck: changed},
			{path: fixed("/manage/projects/invitations/decline/"), form: func() url.Values { return url.Values{"invitation_id": {invID}} },
				allowedBy: "carol", allowedCheck: changed},
			{path: fixed("/account/invitation/"), form: func() url.Values { return url.Values{"token": {invToken}} },
				allowedBy: "carol", allowedCheck: changed},
		}
		// Un-yanking needs a yanked release: its route runs on a project whose 1.0 is yanked first.
		routes = append(routes, route{path: mp("releases/unyank/"), form: func() url.Values { return url.Values{"version": {"1"}} },
			ownerOnly: true, allowedBy: "alice", allowedCheck: changed})

		for i, rt := range routes {
			fresh()
			if i == len(routes)-1 {
				a := fx.sessionBrowser("yanker", alice.ID, accounts.LevelFull, 0)
				page := "/manage/project/" + project + "/releases/"
				if p := a.submit(page, page+"yank/", url.Values{"version": {"1"}}); p.status() != 303 {
					t.Fatalf("yank for unyank: %d", p.status())
				}
			}
			path := rt.path()
			with := func(f url.Values, csrf string) url.Values {
				if csrf != "" {
					f.Set("csrf_token", csrf)
				}
				return f
			}
			type attempt struct {
				role string
				do   func() *page
				want func(p *page) bool
			}
			toLogin := func(p *page) bool { return p.status() == 303 && strings.HasPrefix(p.location(), "/account/login/") }
			forbidden := func(p *page) bool { return p.status() == 403 }
			refused := func(p *page) bool { return p.status() == 403 || p.status() == 404 }
			actor, actorCSRF := full(ids[rt.allowedBy])
			// Bob has no role and no invitation: for the invitee's routes too he is someone else.
			other, otherCSRF := full(bob.ID)
			half := fx.sessionBrowser("half", ids[rt.allowedBy], accounts.LevelPassword, 0)
			attempts := []attempt{
				{"anonymous", func() *page { return fx.browser("anon").post(path, rt.form()) }, toLogin},
				{"half-logged-in", func() *page { return half.post(path, rt.form()) }, toLogin},
				{"no CSRF token", func() *page { return actor.post(path, rt.form()) }, forbidden},
				{"another session's CSRF token", func() *page { return actor.post(path, with(rt.form(), otherCSRF)) }, forbidden},
				{"cross-origin", func() *page { return actor.postWith(path, with(rt.form(), actorCSRF), cross) }, forbidden},
				{"GET", func() *page { return actor.get(path + "?" + with(rt.form(), actorCSRF).Encode()) },
					func(p *page) bool { return p.status() == 404 || p.status() == 200 || p.status() == 303 }},
				{"other user", func() *page { return other.post(path, with(rt.form(), otherCSRF)) }, refused},
			}
			if rt.ownerOnly {
				m, mCSRF := full(mallory.ID)
				attempts = append(attempts, attempt{"maintainer", func() *page { return m.post(path, with(rt.form(), mCSRF)) }, forbidden})
			}
			if rt.sudo {
				stale := fx.sessionBrowser("stale", ids[rt.allowedBy], accounts.LevelFull, 31*time.Minute)
				staleCSRF := stale.csrf("/manage/account/", "/manage/account/email/")
				attempts = append(attempts, attempt{"stale sudo", func() *page { return stale.post(path, with(rt.form(), staleCSRF)) },
					func(p *page) bool {
						if p.status() != 303 || !strings.HasPrefix(p.location(), "/account/reauthenticate/?next=") {
							return false
						}
						u, err := url.Parse(p.location())
						next := u.Query().Get("next")
						return err == nil && strings.HasPrefix(next, "/manage/") && !strings.HasPrefix(next, "//")
					}})
			}
			for _, at := range attempts {
				before := state()
				p := at.do()
				if !at.want(p) {
					t.Errorf("%s as %s: %d to %q (%s)", path, at.role, p.status(), p.location(), p.text("#error-message"))
				}
				if after := state(); after != before {
					t.Errorf("%s as %s changed state:\n%s\nto\n%s", path, at.role, before, after)
				}
			}
			before := state()
			p := actor.post(path, with(rt.form(), actorCSRF))
			if p.status() != 303 {
				t.Errorf("%s as %s: %d (%s)", path, rt.allowedBy, p.status(), p.text("#error-message")+p.text("p.error"))
			}
			rt.allowedCheck(t, before)
		}
	})
}

// TestTwoFactorRouteMatrix extends K5 to the second step of login, whose only actor is a half-logged-in session:
// strangers, forged forms, other sessions' tokens, cross-site posts, GETs and complete sessions change nothing,
// and the half session with its own token and the right code completes its login.
func TestTwoFactorRouteMatrix(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice, bob := fx.user("alice"), fx.user("bob")
		secret, _, err := fx.totp.Begin(ctx, alice.ID, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.totp.Confirm(ctx, alice.ID, totpCode(secret, fx.clock.Now()), audit.Request{}); err != nil {
			t.Fatal(err)
		}
		fx.clock.Advance(30 * time.Second)
		code := func() url.Values { return url.Values{"code": {totpCode(secret, fx.clock.Now())}} }
		state := func() string { return fx.accountState(t, alice.ID, bob.ID) }
		half := fx.sessionBrowser("half", alice.ID, accounts.LevelPassword, 0)
		halfCSRF := half.csrf("/account/two-factor/", "/account/two-factor/")
		bobFull := fx.sessionBrowser("bobfull", bob.ID, accounts.LevelFull, 0)
		bobCSRF := bobFull.csrf("/manage/account/", "/manage/account/email/")
		with := func(f url.Values, csrf string) url.Values { f.Set("csrf_token", csrf); return f }
		cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
		attempts := []struct {
			role string
			do   func() *page
			want func(p *page) bool
		}{
			{"anonymous", func() *page { return fx.browser("anon").post("/account/two-factor/", code()) },
				func(p *page) bool { return p.status() == 303 && strings.HasPrefix(p.location(), "/account/login/") }},
			{"no CSRF token", func() *page { return half.post("/account/two-factor/", code()) },
				func(p *page) bool { return p.status() == 403 }},
			{"another session's CSRF token", func() *page { return half.post("/account/two-factor/", with(code(), bobCSRF)) },
				func(p *page) bool { return p.status() == 403 }},
			{"cross-origin", func() *page { return half.postWith("/account/two-factor/", with(code(), halfCSRF), cross) },
				func(p *page) bool { return p.status() == 403 }},
			{"GET", func() *page { return half.get("/account/two-factor/?" + with(code(), halfCSRF).Encode()) },
				func(p *page) bool { return p.status() == 200 }},
			{"complete session", func() *page { return bobFull.post("/account/two-factor/", with(code(), bobCSRF)) },
				func(p *page) bool { return p.status() == 303 && p.location() == "/manage/account/" }},
		}
		for _, at := range attempts {
			before := state()
			p := at.do()
			if !at.want(p) {
				t.Errorf("two-factor as %s: %d to %q", at.role, p.status(), p.location())
			}
			if after := state(); after != before {
				t.Errorf("two-factor as %s changed state:\n%s\nto\n%s", at.role, before, after)
			}
		}
		before := state()
		p := half.post("/account/two-factor/", with(code(), halfCSRF))
		if p.status() != 303 || p.location() != "/manage/account/" {
			t.Errorf("half session with the right code: %d to %q (%s)", p.status(), p.location(), p.text("p.error"))
		}
		if state() == before {
			t.Error("the second step changed nothing")
		}
	})
}
