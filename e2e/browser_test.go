package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"wharf/internal/store/storetest"
)

// browser starts headless Chromium (Debian's) for one test. Screenshots go to the artifacts directory
// (WHARF_TEST_ARTIFACTS, default e2e/artifacts) so a person can look at the pages the tests saw.
type browser struct {
	t         *testing.T
	ctx       context.Context
	artifacts string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := "/usr/bin/chromium"
	if _, err := exec.LookPath(path); err != nil {
		if storetest.Required() {
			t.Fatalf("chromium is not installed (scripts/test installs it)")
		}
		t.Skip("chromium is not installed")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		// The machine has no network but loopback: background services would only fail and slow the start.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	dir := os.Getenv("WHARF_TEST_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("artifacts", t.Name())
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: ctx, artifacts: dir}
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(sel))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) location() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

// fill types into the named fields of a form and submits it.
func (b *browser) fill(form string, fields map[string]string) {
	b.t.Helper()
	actions := []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(form)}
	for name, value := range fields {
		actions = append(actions, chromedp.SetValue(form+` [name="`+name+`"]`, value))
	}
	actions = append(actions, chromedp.Submit(form), chromedp.WaitReady("body"))
	b.do(actions...)
	time.Sleep(300 * time.Millisecond) // let the navigation that the submit started finish
	b.do(chromedp.WaitReady("body"))
}

func (b *browser) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.artifacts, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// mailLink reads the newest link to path (such as "/account/verify-email/") from the outbox, where mail goes
// without SMTP.
func (in *instance) mailLink(t *testing.T, path string) string {
	t.Helper()
	re := regexp.MustCompile(`https?://[^\s"<>]+` + regexp.QuoteMeta(path) + `\?token=[A-Za-z0-9_\-=.%]+`)
	files, _ := filepath.Glob(filepath.Join(in.dataDir, "outbox", "*.eml"))
	for i := len(files) - 1; i >= 0; i-- {
		b, err := os.ReadFile(files[i])
		if err != nil {
			t.Fatal(err)
		}
		body := strings.ReplaceAll(strings.ReplaceAll(string(b), "=\r\n", ""), "=3D", "=")
		if m := re.FindString(body); m != "" {
			return m
		}
	}
	t.Fatalf("no link to %s among %d mails in the outbox", path, len(files))
	return ""
}

// signIn signs the browser out of any session and in as username.
func (b *browser) signIn(baseURL, username, password string) {
	b.t.Helper()
	b.do(chromedp.Navigate(baseURL + "/account/login/"))
	if !strings.Contains(b.location(), "/account/login/") {
		b.do(chromedp.Navigate(baseURL + "/"))
		b.fill(`form[action="/account/logout/"]`, nil)
		b.do(chromedp.Navigate(baseURL + "/account/login/"))
	}
	b.fill("#login-form", map[string]string{"username": username, "password": password})
}

// TestBrowserAccountFlow drives the real pages in headless Chromium: register, read the verification mail from the
// outbox, verify, sign in, create an API token, upload with twine using it, read the security history, invite a
// collaborator who accepts by the mailed link, and read the project's history.
func TestBrowserAccountFlow(t *testing.T) {
	twine := tool(t, "/usr/bin/twine")
	py := python(t)
	in := newInstance(t, storetest.Engines(t)[0])
	in.start()
	b := newBrowser(t)

	b.do(chromedp.Navigate(in.Site + "/"))
	b.screenshot("01-home")
	b.do(chromedp.Navigate(in.Site + "/account/register/"))
	b.screenshot("02-register")
	password := "plum orbit kettle 4821"
	b.fill("#register-form", map[string]string{"username": "carol", "email": "carol@example.com", "password": password, "password_confirm": password})

	b.do(chromedp.Navigate(in.mailLink(t, "/account/verify-email/")))
	b.screenshot("03-verify")
	b.fill("#verify-form", nil)
	b.screenshot("04-verified")

	// Registration signs the new user in; sign out and in again as a returning user does.
	b.do(chromedp.Navigate(in.Site + "/"))
	b.fill(`form[action="/account/logout/"]`, nil)
	b.do(chromedp.Navigate(in.Site + "/manage/account/"))
	if loc := b.location(); !strings.Contains(loc, "/account/login/") {
		t.Fatalf("after logout the account page is at %s, want the login page", loc)
	}
	b.screenshot("05-login")
	b.fill("#login-form", map[string]string{"username": "carol", "password": password})
	b.do(chromedp.Navigate(in.Site + "/manage/account/"))
	b.screenshot("06-account")
	if loc := b.location(); !strings.HasSuffix(loc, "/manage/account/") {
		t.Fatalf("after login the account page redirected to %s", loc)
	}

	b.do(chromedp.Navigate(in.Site + "/manage/account/token/"))
	if strings.Contains(b.location(), "/account/reauthenticate/") {
		b.screenshot("07-reauthenticate")
		b.fill("#reauth-form", map[string]string{"password": password})
	}
	b.fill("#token-form", map[string]string{"name": "release workflow"})
	b.screenshot("08-token-created")
	token := strings.TrimSpace(b.text("#new-token"))
	if !strings.HasPrefix(token, "wharf-") {
		t.Fatalf("the token page shows %q", token)
	}

	work := t.TempDir()
	dists := buildDists(t, py, writeProject(t, work, "carols-tool", "0.1.0", "hatchling", nil))
	sh(t, work, nil, twine, append([]string{"upload", "--non-interactive", "--disable-progress-bar",
		"--repository-url", in.URL + "/legacy/", "-u", "__token__", "-p", token}, dists...)...)

	b.do(chromedp.Navigate(in.Site + "/project/carols-tool/"))
	b.screenshot("09-project")
	if got := b.text("h1"); !strings.Contains(got, "carols-tool") {
		t.Errorf("project page heading %q", got)
	}
	b.do(chromedp.Navigate(in.Site + "/manage/account/token/"))
	b.screenshot("10-tokens")
	b.do(chromedp.Navigate(in.Site + "/manage/account/"))
	b.screenshot("11-history")
	history := b.text("body")
	for _, want := range []string{"Signed in", "API token created", "API token used for the first time", "File uploaded", "Project created", "Email address verified"} {
		if !strings.Contains(history, want) {
			t.Errorf("the security history does not show %s", want)
		}
	}
	if strings.Contains(history, token) || strings.Contains(history, password) {
		t.Error("the account page shows a secret")
	}

	// Invite a collaborator; they accept through the mailed link after signing in.
	davePassword := "tidal marble sonnet 77"
	in.mustRun(davePassword+"\n", "user", "create", "dave", "--email", "dave@example.com")
	b.do(chromedp.Navigate(in.Site + "/manage/project/carols-tool/collaboration/"))
	if strings.Contains(b.location(), "/account/reauthenticate/") {
		b.fill("#reauth-form", map[string]string{"password": password})
	}
	b.fill("#invite-form", map[string]string{"username": "dave", "role": "Maintainer"})
	b.screenshot("12-invited")
	link := in.mailLink(t, "/account/invitation/")
	b.signIn(in.Site, "dave", davePassword)
	b.do(chromedp.Navigate(link))
	b.screenshot("13-invitation")
	b.fill(`form[action="/account/invitation/"]`, nil)
	b.do(chromedp.Navigate(in.Site + "/manage/projects/"))
	b.screenshot("14-your-projects")
	if mine := b.text("main"); !strings.Contains(mine, "carols-tool") || !strings.Contains(mine, "Maintainer") {
		t.Errorf("after accepting, dave's projects page shows %q", mine)
	}

	b.signIn(in.Site, "carol", password)
	b.do(chromedp.Navigate(in.Site + "/manage/project/carols-tool/history/"))
	b.screenshot("15-project-history")
	if h := b.text("main"); !strings.Contains(h, "dave") || !strings.Contains(h, "File uploaded") {
		t.Errorf("the project history does not show the invitation and the upload: %q", h)
	}
}
