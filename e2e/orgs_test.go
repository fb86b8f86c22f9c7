package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"wharf/internal/disttest"
	"wharf/internal/store/storetest"
)

// TestOrganizationEndToEnd: an Owner who signs in with a security key in Chromium creates an organization and
// invites a member made with `wharf user create`, who signs in and accepts; the Owner moves a project of theirs
// into the organization, makes a team with the member in it and gives it Maintainer on the project; the member's
// project token uploads with twine. The Owner then requires two-factor authentication of the members: the member's
// next upload is refused, and twine says why; the member enrols an authenticator app in the pages with a code from
// oathtool, makes a new token, and the upload goes through.
func TestOrganizationEndToEnd(t *testing.T) {
	tool(t, "/usr/bin/twine")
	tool(t, "oathtool")
	for _, engine := range storetest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			in := newInstance(t, engine)
			in.start()
			const ownerPassword, memberPassword = "lantern thistle cobalt 6021", "meadow copper violin 3318"
			in.mustRun(ownerPassword+"\n", "user", "create", "olga", "--email", "olga@example.com")
			in.mustRun(memberPassword+"\n", "user", "create", "mike", "--email", "mike@example.com")
			dir := t.TempDir()
			wheel := func(version string) string {
				p := filepath.Join(dir, disttest.WheelName("roadrunner", version))
				if err := os.WriteFile(p, disttest.Wheel("roadrunner", version, disttest.Metadata("roadrunner", version), nil), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			in.twine(t, in.newToken("olga"), true, "", wheel("1.0"))

			// The Owner signs in and adds a security key: an organization's Owner must have a second factor.
			b := newBrowser(t)
			b.authenticator(webauthn.AuthenticatorTransportUsb, false)
			b.passwordSignIn(in.Site, "olga", ownerPassword, "nav.account-nav a.user")
			b.do(chromedp.Navigate(in.Site + "/manage/account/webauthn/"))
			if strings.Contains(b.location(), "/account/reauthenticate/") {
				b.submitAndWait("#reauth-form", map[string]string{"password": ownerPassword}, "#add-key-form")
			}
			b.do(chromedp.SetValue(`#add-key-form [name="label"]`, "Desk key"))
			b.ceremony("#add-key-form")
			b.do(chromedp.WaitVisible("#recovery-codes"))

			// The organization, from the account's organizations page.
			organizations := in.Site + "/manage/organizations/"
			b.do(chromedp.Navigate(organizations))
			b.screenshot("01-organizations")
			b.change(ownerPassword, organizations, "#create-org-form", map[string]string{"name": "acme", "display_name": "Acme Corp",
				"description": "Tools for roadrunners."}, "organization was created")
			manage := in.Site + "/manage/organization/acme/"
			if loc := b.location(); loc != manage+"?notice=org-created" {
				t.Fatalf("after creating, the browser is at %s", loc)
			}
			b.screenshot("02-created")
			b.change(ownerPassword, manage, "#invite-form", map[string]string{"username": "mike", "role": "Member"}, "invitation was sent")
			b.screenshot("03-invited")

			// The member signs in, in the same browser once the Owner has signed out, and accepts.
			b.signOut(in.Site)
			b.passwordSignIn(in.Site, "mike", memberPassword, "nav.account-nav a.user")
			b.do(chromedp.Navigate(organizations))
			invitation := `#org-invitations tr[data-org="acme"]`
			if got := b.cssText(invitation + " td.role"); got != "Member" {
				t.Fatalf("mike's invitation is for the role %q", got)
			}
			b.screenshot("04-invitation")
			b.do(chromedp.Click(chromedp.CSS(invitation+` .accept-form button[type="submit"]`)), chromedp.WaitVisible(chromedp.CSS("p.notice")))
			if got := b.cssText("p.notice"); !strings.Contains(got, "you are a member of the organization") {
				t.Fatalf("after accepting, the page says %q", got)
			}
			if got := b.cssText(`#members tr[data-user="mike"] td.role`); got != "Member" {
				t.Fatalf("mike's role on the organization's page: %q", got)
			}
			b.screenshot("05-joined")
			if mail := in.waitMail(t, "invited you to join the organization acme"); !strings.Contains(mail, "mike@example.com") ||
				!strings.Contains(mail, "/manage/organizations/") {
				t.Errorf("the invitation mail:\n%s", mail)
			}

			// The Owner, signed in again with the key, moves the project in and gives a team of the member a role.
			b.signOut(in.Site)
			b.passwordSignIn(in.Site, "olga", ownerPassword, "#two-factor-key-form")
			b.ceremony("#two-factor-key-form")
			b.do(chromedp.WaitVisible("nav.account-nav a.user"))
			b.change(ownerPassword, manage, "#move-in-form", map[string]string{"project": "roadrunner"}, "moved into the organization")
			b.change(ownerPassword, manage, "#create-team-form", map[string]string{"team": "release"}, "team was created")
			team := `#teams .team[data-team="release"]`
			b.change(ownerPassword, manage, team+" form.team-member-form", map[string]string{"username": "mike"}, "added to the team")
			b.change(ownerPassword, manage, team+" form.team-grant-form", map[string]string{"project": "roadrunner", "role": "Maintainer"}, "role on the project was changed")
			if got := b.cssText(team + ` .team-grant[data-project="roadrunner"]`); !strings.Contains(got, "Maintainer of roadrunner") {
				t.Fatalf("the team's roles: %q", got)
			}
			b.screenshot("06-team")

			// The member's project token uploads.
			var tok struct{ Token string }
			memberToken := func() string {
				t.Helper()
				if err := json.Unmarshal([]byte(in.mustRun("", "token", "create", "--user", "mike", "--project", "roadrunner", "--json")), &tok); err != nil || tok.Token == "" {
					t.Fatalf("token create: %v", err)
				}
				return tok.Token
			}
			first := memberToken()
			in.twine(t, first, true, "", wheel("1.1"))

			// The Owner requires two-factor authentication of the members: the member is listed as unprotected.
			b.change(ownerPassword, manage, "#settings-form", map[string]string{"require_2fa": "on"}, "settings were saved")
			if got := b.cssText("#settings-state"); !strings.Contains(got, "required of every member") {
				t.Fatalf("the settings say %q", got)
			}
			if got := b.cssText(`#unprotected li[data-user="mike"]`); got != "mike (Member)" {
				t.Fatalf("the unprotected members: %q", got)
			}
			b.screenshot("07-require-2fa")

			// The member's next upload is refused, and twine says why.
			in.twine(t, first, false, "organization 'acme', which requires two-factor authentication", wheel("1.2"))

			// The member enrols an authenticator app, makes a new token, and uploads.
			b.signOut(in.Site)
			b.passwordSignIn(in.Site, "mike", memberPassword, "nav.account-nav a.user")
			b.do(chromedp.Navigate(in.Site + "/manage/account/totp/"))
			if strings.Contains(b.location(), "/account/reauthenticate/") {
				b.submitAndWait("#reauth-form", map[string]string{"password": memberPassword}, "#totp-begin-form")
			}
			b.submitAndWait("#totp-begin-form", nil, "#totp-secret")
			secret := strings.TrimSpace(b.cssText("#totp-secret"))
			b.screenshot("08-totp")
			b.submitAndWait("#totp-confirm-form", map[string]string{"code": oathCode(t, secret, time.Now())}, "#recovery-codes")
			b.screenshot("09-recovery-codes")
			in.twine(t, memberToken(), true, "", wheel("1.2"))
			if _, body := in.get("/simple/roadrunner/"); !strings.Contains(string(body), filepath.Base(wheel("1.2"))) {
				t.Fatalf("the index does not list 1.2:\n%s", body)
			}

			// The organization's public page lists the project.
			b.do(chromedp.Navigate(in.Site + "/org/acme/"))
			if got := b.cssText("#org-projects"); !strings.Contains(got, "roadrunner") {
				t.Errorf("the organization's page lists %q", got)
			}
			b.screenshot("10-profile")
		})
	}
}

// change opens page, fills the named fields of form (a checkbox with "on"), submits it and waits for the notice
// that says want; a confirmation asked for on the way is given with the password and the security key.
func (b *browser) change(password, page, form string, fields map[string]string, want string) {
	b.t.Helper()
	b.do(chromedp.Navigate(page))
	b.confirmed(password, page, func() {
		actions := []chromedp.Action[chromedp.Void]{chromedp.WaitVisible(chromedp.CSS(form))}
		for name, value := range fields {
			field := chromedp.CSS(form + ` [name="` + name + `"]`)
			if value == "on" {
				actions = append(actions, chromedp.Evaluate[chromedp.Void](`document.querySelector(`+quoteJS(string(field))+`).checked = true`))
				continue
			}
			actions = append(actions, chromedp.SetValue(field, value))
		}
		b.do(append(actions, chromedp.Click(chromedp.CSS(form+` button[type="submit"]`)))...)
	})
	if got := b.cssText("p.notice"); !strings.Contains(got, want) {
		b.screenshot("unexpected-notice")
		b.t.Fatalf("after %s, the page says %q, want %q", form, got, want)
	}
}

// signOut signs the browser out from the header's button and waits for the signed-out header.
func (b *browser) signOut(site string) {
	b.t.Helper()
	b.do(chromedp.Navigate(site+"/"), chromedp.Click(chromedp.CSS(`form[action="/account/logout/"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`nav.account-nav a[href="/account/login/"]`)))
}

// cssText is the text of the first element that matches a CSS selector, which must be on the page.
func (b *browser) cssText(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// waitMail returns the first mail in the outbox that says want, waiting for the site's mail queue to write it.
func (in *instance) waitMail(t *testing.T, want string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(in.dataDir, "outbox", "*.eml"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			body := strings.ReplaceAll(strings.ReplaceAll(string(b), "=\r\n", ""), "=3D", "=")
			if strings.Contains(strings.Join(strings.Fields(body), " "), want) {
				return body
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no mail saying %q among %d in the outbox", want, len(files))
		}
		time.Sleep(50 * time.Millisecond) // the queue writes within milliseconds; poll for the file, not a guess
	}
}
