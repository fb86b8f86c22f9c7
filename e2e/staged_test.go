package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"wharf/internal/disttest"
	"wharf/internal/oidc/oidctest"
	"wharf/internal/store/storetest"
)

// TestStagedReleaseApproval: an Owner who signs in with a security key in Chromium makes the uploads of the
// project's Trusted Publishers wait for approval; a CI job (the shell script, a local OIDC issuer, curl and twine)
// publishes a wheel, twine succeeds, and the index does not list it; the Owner finds it on the releases page with
// its SHA256, which is the wheel's, approves it (confirming with the key if asked), and only then the index lists
// the file.
func TestStagedReleaseApproval(t *testing.T) {
	tool(t, "/usr/bin/twine")
	tool(t, "curl")
	script, err := filepath.Abs("testdata/ci-publish.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, engine := range storetest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			issuer := oidctest.New(t)
			issuer.SetTokenClaims(issuer.GitHubClaims(nil))
			in := newInstance(t, engine)
			in.extraEnv = []string{"WHARF_OIDC_GITHUB_ISSUER=" + issuer.URL()}
			in.start()
			const password = "harbour quince lattice 5150"
			in.mustRun(password+"\n", "user", "create", "olive", "--email", "olive@example.com")
			dir := t.TempDir()
			wheel := func(version string) string {
				p := filepath.Join(dir, disttest.WheelName("demo", version))
				if err := os.WriteFile(p, disttest.Wheel("demo", version, disttest.Metadata("demo", version), nil), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			in.twine(t, in.newToken("olive"), true, "", wheel("1.0"))
			in.mustRun("", "publisher", "add", "demo", "github", "--field", "owner=owner", "--field", "repository=repo",
				"--field", "owner_id=1234567", "--field", "workflow=release.yml")

			b := newBrowser(t)
			b.authenticator(webauthn.AuthenticatorTransportUsb, false)
			b.passwordSignIn(in.Site, "olive", password, "nav.account-nav a.user")
			b.do(chromedp.Navigate(in.Site + "/manage/account/webauthn/"))
			if strings.Contains(b.location(), "/account/reauthenticate/") {
				b.submitAndWait("#reauth-form", map[string]string{"password": password}, "#add-key-form")
			}
			b.do(chromedp.SetValue(`#add-key-form [name="label"]`, "Desk key"))
			b.ceremony("#add-key-form")
			b.do(chromedp.WaitVisible("#recovery-codes"))

			// Signed in again, the password leads to the second step, which the key completes.
			b.do(chromedp.Navigate(in.Site+"/"), chromedp.Click(`form[action="/account/logout/"] button`),
				chromedp.WaitVisible(`nav.account-nav a[href="/account/login/"]`))
			b.passwordSignIn(in.Site, "olive", password, "#two-factor-key-form")
			b.screenshot("01-second-step")
			b.ceremony("#two-factor-key-form")
			b.do(chromedp.WaitVisible("nav.account-nav a.user"))

			// The Owner makes the Trusted Publishers' uploads wait for approval.
			publishing := in.Site + "/manage/project/demo/publishing/"
			b.do(chromedp.Navigate(publishing), chromedp.Click(`#staging-form input[name="staging"][value="ci"]`))
			b.screenshot("02-staging-form")
			b.confirmed(password, publishing, func() {
				b.do(chromedp.Click(`#staging-form input[name="staging"][value="ci"]`), chromedp.Click(`#staging-form button[type="submit"]`))
			})
			if got := b.text("#staging-state"); !strings.Contains(got, "uploads from Trusted Publishers wait") {
				t.Fatalf("after saving, the publishing page says %q", got)
			}
			b.screenshot("03-staging-saved")

			// The CI job publishes: twine succeeds, the index does not list the file.
			whl := wheel("1.1")
			name := filepath.Base(whl)
			ci := []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + issuer.TokenURL(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + issuer.RequestToken()}
			sh(t, dir, ci, script, in.URL, whl)
			if _, body := in.get("/simple/demo/"); strings.Contains(string(body), name) {
				t.Fatalf("the staged file is on the index before its approval:\n%s", body)
			}

			// The Owner finds it on the releases page, with the wheel's SHA256 and the CI job that sent it.
			releases := in.Site + "/manage/project/demo/releases/"
			staged := `#staged .staged-release[data-version="1.1"]`
			b.do(chromedp.Navigate(releases), chromedp.WaitVisible(staged))
			b.screenshot("04-staged-release")
			if got, want := strings.TrimSpace(b.text(staged+` [data-filename="`+name+`"] code.sha256`)), sha256File(t, whl); got != want {
				t.Errorf("the page shows the SHA256 %q, the wheel's is %q", got, want)
			}
			if got := b.text(staged + " td.uploaded-by"); !strings.Contains(got, "Trusted Publisher: GitHub repository owner/repo") {
				t.Errorf("the page says the file came from %q", got)
			}

			b.confirmed(password, releases, func() {
				b.do(chromedp.Click(staged + ` .approve-form button[type="submit"]`))
			})
			b.screenshot("05-approved")
			if got := b.text("p.notice"); !strings.Contains(got, "approved") {
				t.Fatalf("after approving, the page says %q", got)
			}
			if _, body := in.get("/simple/demo/"); !strings.Contains(string(body), name) {
				t.Fatalf("the approved file is not on the index:\n%s", body)
			}
		})
	}
}

// passwordSignIn signs a signed-out browser in with the password and waits for what the next page shows (the
// account's link in the header, or the second step).
func (b *browser) passwordSignIn(site, username, password, next string) {
	b.t.Helper()
	b.do(chromedp.Navigate(site + "/account/login/"))
	b.submitAndWait("#login-form", map[string]string{"username": username, "password": password}, next)
}

// submitAndWait fills the named fields of a form, presses its submit button and waits until the page that answers
// shows next, which the page of the form must not show.
func (b *browser) submitAndWait(form string, fields map[string]string, next string) {
	b.t.Helper()
	actions := []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(form)}
	for name, value := range fields {
		actions = append(actions, chromedp.SetValue(form+` [name="`+name+`"]`, value))
	}
	actions = append(actions, chromedp.Click(form+` button[type="submit"]`), chromedp.WaitVisible(chromedp.CSS(next)))
	b.do(actions...)
}

// confirmed runs submit, which posts a form of the page at back that may need a recent confirmation, and waits for
// the answer: the notice of success, or a refusal, which fails the test. When the site asks to confirm first, it
// confirms with the password and the security key, comes back to back and submits again.
func (b *browser) confirmed(password, back string, submit func()) {
	b.t.Helper()
	const answered = "p.notice, p.error, #error-message, #reauth-key-form"
	submit()
	b.do(chromedp.WaitVisible(chromedp.CSS(answered)))
	if strings.Contains(b.location(), "/account/reauthenticate/") {
		b.screenshot("reauthenticate")
		b.do(chromedp.SetValue("#key-password", password))
		b.ceremony("#reauth-key-form")
		b.do(chromedp.Navigate(back))
		submit()
		b.do(chromedp.WaitVisible(chromedp.CSS(answered)))
	}
	ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.querySelector("p.notice") !== null`))
	if err != nil || !ok {
		b.screenshot("refused")
		msg, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(document.querySelector("p.error, #error-message") || {}).textContent || ""`))
		b.t.Fatalf("at %s the site refused: %q (%v)", b.location(), msg, err)
	}
}
