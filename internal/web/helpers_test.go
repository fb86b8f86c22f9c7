package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/html"

	"wharf/internal/accounts"
	"wharf/internal/adoption"
	"wharf/internal/audit"
	"wharf/internal/blob"
	"wharf/internal/critical"
	"wharf/internal/mandate"
	"wharf/internal/mfa"
	"wharf/internal/notify"
	"wharf/internal/orgs"
	"wharf/internal/policy"
	"wharf/internal/projects"
	"wharf/internal/publishing"
	"wharf/internal/pypkg"
	"wharf/internal/ratelimit"
	"wharf/internal/server"
	"wharf/internal/simple"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
	"wharf/internal/tokens"
	"wharf/internal/upload"
	"wharf/internal/web"
)

var t0 = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

// clock is the time of the site, its sessions and its limiter: it moves only when a test says so.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

// testCost makes the suite's password hashes cheap; the accounts package tests the server's cost.
var testCost = accounts.Cost{Time: 1, Memory: 64}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// syncBuffer collects the server's log for the tests that read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testPassword is the password of every user a fixture creates directly; hashing it once keeps the suite fast.
const testPassword = "tangerine-umbrella-47"

var testPasswordHash = sync.OnceValue(func() string {
	h, err := accounts.NewHasherWithCost(1, 8, testCost).Hash(testPassword)
	if err != nil {
		panic(err)
	}
	return h
})

// fixture is the whole HTTP server (route table, middleware, pages, index and upload) on a real database, behind
// TLS so that the __Host- cookie behaves as in a browser.
type fixture struct {
	t        *testing.T
	db       *store.DB
	clock    *clock
	site     *web.Site
	base     string
	ts       *httptest.Server
	outbox   *notify.Outbox
	logs     *syncBuffer
	sessions *accounts.Sessions
	totp     *mfa.TOTP
	recovery *mfa.Recovery
	keys     *mfa.WebAuthn
	// keyOrigin is the origin security keys answer from (localhost, where the pages are on 127.0.0.1).
	keyOrigin string
}

// testPeerHeader lets a test choose the client address that the server sees, to exercise per-IP limits. Only the
// test wrapper reads it; the server itself takes the address from the connection.
const testPeerHeader = "X-Test-Peer"

func forEachEngine(t *testing.T, fn func(t *testing.T, fx *fixture)) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) { fn(t, newFixture(t, e)) })
	}
}

// fixtureOptions change a fixture for one test.
type fixtureOptions struct {
	mailer  notify.Mailer // instead of the outbox
	baseURL string        // what the site believes its address is, instead of the test server's
	mandate *policy.Mandate
	// pages wraps the store the pages read through (web.Deps.Store), for tests that watch what a page reads.
	pages func(web.Store) web.Store
}

func newFixture(t *testing.T, e storetest.Engine) *fixture {
	return newFixtureWith(t, e, fixtureOptions{})
}

func newFixtureWith(t *testing.T, e storetest.Engine, opts fixtureOptions) *fixture {
	t.Helper()
	db := e.Open(t)
	c := &clock{now: t0}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := httptest.NewUnstartedServer(nil)
	base := "https://" + ts.Listener.Addr().String()
	dir := t.TempDir()
	outbox, err := notify.NewOutbox(filepath.Join(dir, "outbox"), "wharf <noreply@example.com>", c.Now)
	if err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte("k"), 32)
	minter, err := tokens.NewMinter(key)
	if err != nil {
		t.Fatal(err)
	}
	auditLog := audit.New(db, c.Now, logger)
	tokenService := tokens.NewService(minter, db, auditLog, c.Now)
	sessions := accounts.NewSessions(db, auditLog, c.Now, accounts.SessionConfig{})
	var mailer notify.Mailer = outbox
	if opts.mailer != nil {
		mailer = opts.mailer
	}
	siteBase := base
	if opts.baseURL != "" {
		siteBase = opts.baseURL
	}
	blobs, err := blob.NewDisk(filepath.Join(dir, "files"))
	if err != nil {
		t.Fatal(err)
	}
	index := simple.New(db, blobs, nil, simple.Options{BaseURL: base, Now: c.Now, Log: logger, Dir: t.TempDir()})
	decisions := policy.New(db)
	if opts.mandate != nil {
		decisions = policy.New(db, policy.Mandated(*opts.mandate, c.Now))
	}
	manager, err := projects.New(db, decisions, auditLog, index, key, c.Now, projects.Options{})
	if err != nil {
		t.Fatal(err)
	}
	totp, err := mfa.NewTOTP(db, key, "Test Index", auditLog, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	recovery := mfa.NewRecovery(db, auditLog, c.Now)
	// A relying party is named by a domain, never an IP address: the keys' origin is the test server's port on
	// localhost, which the software authenticators of the tests claim to answer from.
	keyOrigin := "https://localhost:" + strconv.Itoa(ts.Listener.Addr().(*net.TCPAddr).Port)
	keys, err := mfa.NewWebAuthn(db, mfa.WebAuthnConfig{RPID: "localhost", Origin: keyOrigin, RPName: "Test Index"}, auditLog, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	letters, err := notify.NewTemplates("Test Index", siteBase)
	if err != nil {
		t.Fatal(err)
	}
	publishers := publishing.New(db, decisions, minter, auditLog, c.Now, publishing.Options{Audience: "wharf-test"})
	organizations := orgs.New(db, decisions, auditLog, index, c.Now, orgs.Options{})
	var pages web.Store = db
	if opts.pages != nil {
		pages = opts.pages(db)
	}
	site, err := web.New(web.Deps{
		Publishing: publishers,
		Orgs:       organizations,

		Store:    pages,
		Users:    accounts.NewUsers(db, accounts.NewHasherWithCost(2, 8, testCost), c.Now, accounts.WithRecorder(auditLog)),
		Sessions: sessions,
		Tokens:   tokenService,
		Limiter:  ratelimit.NewMemory(c.Now, 0),
		Mailer:   mailer,
		Audit:    auditLog,
		Projects: manager,
		TOTP:     totp,
		Recovery: recovery,
		WebAuthn: keys,
		Factors:  mfa.NewFactors(db, decisions, auditLog),
		Policy:   decisions,
		Early:    mandate.NewEarly(db, auditLog, c.Now),
		Critical: critical.NewDesignator(db, auditLog, mailer, letters, c.Now, logger),
		Adoption: adoption.New(db, c.Now, logger),
	}, web.Options{BaseURL: siteBase, SiteName: "Test Index", Now: c.Now, Log: logger})
	if err != nil {
		t.Fatal(err)
	}
	// As in wharf serve: the site mails organizations' changes and every publish.
	organizations.Notify(site)
	uploads := upload.New(db, blobs, tokenService, decisions, index, auditLog, upload.Options{
		MaxFileSize: 10 << 20, MaxProjectSize: 100 << 20, Archive: pypkg.DefaultLimits(), BaseURL: siteBase, Announcer: site,
	}, c.Now, logger)
	srv := server.New(index, uploads, db, logger, server.WithWeb(site))
	h := srv.Handler()
	ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ip := r.Header.Get(testPeerHeader); ip != "" {
			r.RemoteAddr = ip + ":1234"
			if strings.Contains(ip, ":") {
				r.RemoteAddr = "[" + ip + "]:1234"
			}
		}
		h.ServeHTTP(w, r)
	})
	ts.StartTLS()
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { site.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &fixture{t: t, db: db, clock: c, site: site, base: base, ts: ts, outbox: outbox, logs: logs, sessions: sessions,
		totp: totp, recovery: recovery, keys: keys, keyOrigin: keyOrigin}
}

// user creates a verified account with testPassword directly in the store.
func (fx *fixture) user(name string) store.Account {
	fx.t.Helper()
	ctx := context.Background()
	u, err := fx.db.CreateUser(ctx, store.User{Username: name, Email: name + "@example.com",
		PasswordHash: testPasswordHash(), CreatedAt: fx.clock.Now()})
	if err != nil {
		fx.t.Fatal(err)
	}
	if err := fx.db.SetEmailVerified(ctx, u.ID, u.Email, fx.clock.Now()); err != nil {
		fx.t.Fatal(err)
	}
	a, err := fx.db.AccountByID(ctx, u.ID)
	if err != nil {
		fx.t.Fatal(err)
	}
	return a
}

// withKey gives an account a security key directly in the store, so that the policy counts it as protected by a
// second factor (an Owner must be); its browser then needs a session made with sessionBrowser, since signing in
// with the password alone stops at the second step.
func (fx *fixture) withKey(a store.Account) {
	fx.t.Helper()
	if _, err := fx.db.AddWebAuthnCredential(context.Background(), store.WebAuthnCredential{UserID: a.ID,
		CredentialID: []byte("key of " + a.Username), PublicKey: []byte("pk"), AAGUID: []byte{}, CreatedAt: fx.clock.Now()}); err != nil {
		fx.t.Fatal(err)
	}
}

func (fx *fixture) account(id int64) store.Account {
	fx.t.Helper()
	a, err := fx.db.AccountByID(context.Background(), id)
	if err != nil {
		fx.t.Fatal(err)
	}
	return a
}

// browser is one browser: its own cookies, user agent and address. It does not follow redirects, so that tests
// see them.
type browser struct {
	t      *testing.T
	fx     *fixture
	client *http.Client
	ua     string
	ip     string
}

func (fx *fixture) browser(ua string) *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		fx.t.Fatal(err)
	}
	tr := fx.ts.Client().Transport.(*http.Transport).Clone()
	return &browser{t: fx.t, fx: fx, ua: ua, ip: "192.0.2.10", client: &http.Client{
		Jar: jar, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// page is a response with its body read and parsed.
type page struct {
	t    *testing.T
	resp *http.Response
	body string
	doc  *html.Node
}

func (p *page) status() int                { return p.resp.StatusCode }
func (p *page) header(k string) string     { return p.resp.Header.Get(k) }
func (p *page) location() string           { return p.resp.Header.Get("Location") }
func (p *page) find(sel string) *html.Node { return find(p.doc, sel) }
func (p *page) text(sel string) string {
	n := p.find(sel)
	if n == nil {
		return ""
	}
	return textOf(n)
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	req.Header.Set("User-Agent", b.ua)
	if b.ip != "" {
		req.Header.Set(testPeerHeader, b.ip)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	p := &page{t: b.t, resp: resp, body: string(body)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if p.doc, err = html.Parse(bytes.NewReader(body)); err != nil {
			b.t.Fatal(err)
		}
	}
	return p
}

func (b *browser) get(path string) *page {
	b.t.Helper()
	req, err := http.NewRequest("GET", b.fx.base+path, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

// post submits a form as a browser does from a page of this site: with Origin and Sec-Fetch-Site saying so.
func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	return b.postWith(path, form, map[string]string{"Origin": b.fx.base, "Sec-Fetch-Site": "same-origin"})
}

func (b *browser) postWith(path string, form url.Values, headers map[string]string) *page {
	b.t.Helper()
	req, err := http.NewRequest("POST", b.fx.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return b.do(req)
}

// csrf reads the CSRF token of the form that posts to action on the page at path.
func (b *browser) csrf(path, action string) string {
	b.t.Helper()
	p := b.get(path)
	in := p.find(`form[action=` + action + `] input[name=csrf_token]`)
	if in == nil {
		b.t.Fatalf("GET %s (%d): no form to %s with a CSRF token", path, p.status(), action)
	}
	return attr(in, "value")
}

// submit posts a form of the page at path to action, with its CSRF token and the given values.
func (b *browser) submit(path, action string, values url.Values) *page {
	b.t.Helper()
	if values == nil {
		values = url.Values{}
	}
	values.Set("csrf_token", b.csrf(path, action))
	return b.post(action, values)
}

// cookie is the browser's session cookie, or "".
func (b *browser) cookie() string {
	u, _ := url.Parse(b.fx.base)
	for _, c := range b.client.Jar.Cookies(u) {
		if c.Name == "__Host-wharf_session" {
			return c.Value
		}
	}
	return ""
}

// withCookie returns a browser that presents the given session cookie and nothing else.
func (fx *fixture) withCookie(ua, value string) *browser {
	b := fx.browser(ua)
	u, _ := url.Parse(fx.base)
	b.client.Jar.SetCookies(u, []*http.Cookie{{Name: "__Host-wharf_session", Value: value, Path: "/"}})
	return b
}

// login signs in through the login form and fails the test unless it works.
func (b *browser) login(username, password string) {
	b.t.Helper()
	p := b.post("/account/login/", url.Values{"username": {username}, "password": {password}})
	if p.status() != http.StatusSeeOther || b.cookie() == "" {
		b.t.Fatalf("login %s: %d %s", username, p.status(), p.text("p.error"))
	}
}

// signedInAs reports the username in the header, or "".
// refusal is the reason a refused request shows: on the error page, or inside the form that was refused.
func (p *page) refusal() string {
	if s := p.text("#error-message"); s != "" {
		return s
	}
	return p.text(`p.error[role=alert]`)
}

func (p *page) signedInAs() string { return p.text("nav.account-nav a.user") }

func wantStatus(t *testing.T, p *page, want int, what string) {
	t.Helper()
	if p.status() != want {
		t.Fatalf("%s: status %d, want %d; location %q; error %q", what, p.status(), want, p.location(),
			p.text("#error-message")+p.text("p.error"))
	}
}

func wantRedirect(t *testing.T, p *page, prefix, what string) {
	t.Helper()
	if p.status() != http.StatusSeeOther || !strings.HasPrefix(p.location(), prefix) {
		t.Fatalf("%s: %d to %q, want 303 to %s...; error %q", what, p.status(), p.location(), prefix,
			p.text("#error-message")+p.text("p.error"))
	}
}

// A message in the outbox, decoded.
type message struct {
	To, Kind, Subject, Body string
}

func (fx *fixture) mails() []message {
	fx.t.Helper()
	fx.site.WaitMail()
	list, err := fx.outbox.List()
	if err != nil {
		fx.t.Fatal(err)
	}
	var out []message
	for _, s := range list {
		raw, err := fx.outbox.Read(s.Name)
		if err != nil {
			fx.t.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			fx.t.Fatal(err)
		}
		var body io.Reader = m.Body
		if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
			body = quotedprintable.NewReader(m.Body)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			fx.t.Fatal(err)
		}
		subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
		out = append(out, message{To: s.To, Kind: s.Kind, Subject: subject, Body: string(b)})
	}
	return out
}

// mailsOf returns the messages of one kind to one address.
func (fx *fixture) mailsOf(kind, to string) []message {
	var out []message
	for _, m := range fx.mails() {
		if m.Kind == kind && strings.EqualFold(m.To, to) {
			out = append(out, m)
		}
	}
	return out
}

var linkRE = regexp.MustCompile(`https://\S+`)

// lastLink returns the path and query of the link in the newest message of kind to to.
func (fx *fixture) lastLink(kind, to string) string {
	fx.t.Helper()
	ms := fx.mailsOf(kind, to)
	if len(ms) == 0 {
		fx.t.Fatalf("no %s mail to %s", kind, to)
	}
	raw := linkRE.FindString(ms[len(ms)-1].Body)
	if !strings.HasPrefix(raw, fx.base+"/") {
		fx.t.Fatalf("%s mail: link %q is not under %s", kind, raw, fx.base)
	}
	return strings.TrimPrefix(raw, fx.base)
}

// find returns the first node matching a small CSS selector: descendant parts of tag, #id, .class and
// [attr=value] (value unquoted, or in double quotes).
func find(root *html.Node, sel string) *html.Node {
	all := findAll(root, sel)
	if len(all) == 0 {
		return nil
	}
	return all[0]
}

type simpleSel struct {
	tag, id string
	classes []string
	attrs   [][2]string
}

func parseSel(s string) []simpleSel {
	var out []simpleSel
	for _, part := range strings.Fields(s) {
		var ss simpleSel
		for part != "" {
			switch part[0] {
			case '#', '.':
				end := strings.IndexAny(part[1:], "#.[")
				if end < 0 {
					end = len(part) - 1
				}
				v := part[1 : end+1]
				if part[0] == '#' {
					ss.id = v
				} else {
					ss.classes = append(ss.classes, v)
				}
				part = part[end+1:]
			case '[':
				end := strings.IndexByte(part, ']')
				k, v, _ := strings.Cut(part[1:end], "=")
				ss.attrs = append(ss.attrs, [2]string{k, strings.Trim(v, `"`)})
				part = part[end+1:]
			default:
				end := strings.IndexAny(part, "#.[")
				if end < 0 {
					end = len(part)
				}
				ss.tag, part = part[:end], part[end:]
			}
		}
		out = append(out, ss)
	}
	return out
}

func (ss simpleSel) match(n *html.Node) bool {
	if n.Type != html.ElementNode || (ss.tag != "" && n.Data != ss.tag) || (ss.id != "" && attr(n, "id") != ss.id) {
		return false
	}
	for _, c := range ss.classes {
		if !strings.Contains(" "+attr(n, "class")+" ", " "+c+" ") {
			return false
		}
	}
	for _, a := range ss.attrs {
		if v, ok := attrOK(n, a[0]); !ok || (a[1] != "" && v != a[1]) {
			return false
		}
	}
	return true
}

func findAll(root *html.Node, sel string) []*html.Node {
	if root == nil {
		return nil
	}
	parts := parseSel(sel)
	var out []*html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if parts[len(parts)-1].match(n) && ancestorsMatch(n.Parent, parts[:len(parts)-1]) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(root)
	return out
}

func ancestorsMatch(n *html.Node, parts []simpleSel) bool {
	if len(parts) == 0 {
		return true
	}
	for ; n != nil; n = n.Parent {
		if parts[len(parts)-1].match(n) {
			return ancestorsMatch(n.Parent, parts[:len(parts)-1])
		}
	}
	return false
}

func attrOK(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func attr(n *html.Node, key string) string {
	v, _ := attrOK(n, key)
	return v
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// withTOTP gives an account an authenticator app directly in the store.
func (fx *fixture) withTOTP(a store.Account) {
	fx.t.Helper()
	ctx, sealed := context.Background(), []byte("sealed secret of "+a.Username)
	if err := fx.db.PutTOTPPending(ctx, store.TOTPPending{UserID: a.ID, Sealed: sealed, Label: "app",
		CreatedAt: fx.clock.Now(), ExpiresAt: fx.clock.Now().Add(time.Hour)}); err != nil {
		fx.t.Fatal(err)
	}
	if _, err := fx.db.ActivateTOTP(ctx, a.ID, sealed, 0, fx.clock.Now()); err != nil {
		fx.t.Fatal(err)
	}
}
