package web_test

import (
	"net/url"
	"strings"
	"testing"

	"wharf/internal/accounts"
	"wharf/internal/notify"
	"wharf/internal/projects"
)

const (
	msgAltered = "This link is incomplete or was changed on the way: copy the whole link from the mail into the address bar, or "
	msgUsed    = "This link was already used, or a newer one replaced it."
	msgExpired = "This link has expired: "
)

// cut and changed are what a mail client does to a long link: it stops before its end, or rewrites a character.
func cut(link string) string { return link[:len(link)-6] }

func changed(link string) string {
	c := "A"
	if strings.HasSuffix(link, "A") {
		c = "B"
	}
	return link[:len(link)-1] + c
}

// TestVerificationLinkRefusals: a verification link cut or changed on the way says so, and the page points to
// where a new one comes from; a used link says used and an expired one expired. The page says it on opening the
// link, before its button, and the button's POST says the same.
func TestVerificationLinkRefusals(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		b := fx.browser("mail reader")
		register := func(name string) (link, token string) {
			t.Helper()
			const password = "a quiet harbour at dawn"
			wantRedirect(t, fx.browser(name).post("/account/register/", url.Values{"username": {name}, "email": {name + "@example.com"},
				"password": {password}, "password_confirm": {password}}), "/manage/account/?notice=registered", "register")
			link = fx.lastLink(notify.KindVerifyEmail, name+"@example.com")
			return link, strings.TrimPrefix(link, "/account/verify-email/?token=")
		}
		link, token := register("alice")

		refused := func(p *page, what, want string) {
			t.Helper()
			wantStatus(t, p, 400, what)
			if got := p.text("p.error"); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "ask for a new one on your account page.") {
				t.Errorf("%s: message %q, want %q... and the way to a new link", what, got, want)
			}
			if p.find("form#verify-form") != nil || p.find(`#new-link a[href="/manage/account/"]`) == nil {
				t.Errorf("%s: the page offers the button, or no way to a new link", what)
			}
		}
		refused(b.get(cut(link)), "GET of a cut link", msgAltered)
		refused(b.get(changed(link)), "GET of a changed link", msgAltered)
		refused(b.post("/account/verify-email/", url.Values{"token": {cut(token)}}), "POST of a cut token", msgAltered)
		refused(b.post("/account/verify-email/", url.Values{"token": {strings.TrimPrefix(changed(link), "/account/verify-email/?token=")}}),
			"POST of a changed token", msgAltered)

		// None of that spent the link.
		wantStatus(t, b.get(link), 200, "the whole link")
		wantRedirect(t, b.post("/account/verify-email/", url.Values{"token": {token}}), "/account/login/?notice=email-verified", "verify")
		refused(b.get(link), "GET of a used link", msgUsed)
		refused(b.post("/account/verify-email/", url.Values{"token": {token}}), "POST of a used link", msgUsed)

		link, token = register("bob")
		fx.clock.Advance(accounts.DefaultVerifyLifetime)
		refused(b.get(link), "GET of an expired link", msgExpired)
		refused(b.post("/account/verify-email/", url.Values{"token": {token}}), "POST of an expired link", msgExpired)
	})
}

// TestResetLinkRefusals: the same for a password reset link, whose refusal comes above the form that asks for a
// new link, before any password is typed.
func TestResetLinkRefusals(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		b := fx.browser("mail reader")
		// Each asks for a user of its own: the mails to one address are limited.
		ask := func(name string) (link, token string) {
			t.Helper()
			fx.user(name)
			wantStatus(t, b.post("/account/reset-password/", url.Values{"username_or_email": {name}}), 200, "reset request")
			link = fx.lastLink(notify.KindPasswordReset, name+"@example.com")
			return link, strings.TrimPrefix(link, "/account/reset-password/?token=")
		}
		finish := func(token string) *page {
			const next = "completely different words"
			return b.post("/account/reset-password/", url.Values{"token": {token}, "password": {next}, "password_confirm": {next}})
		}
		refused := func(p *page, what, want string) {
			t.Helper()
			wantStatus(t, p, 400, what)
			if got := p.text("p.error"); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "ask for a new one below.") {
				t.Errorf("%s: message %q, want %q... and the way to a new link", what, got, want)
			}
			if p.find("form#reset-form") != nil || p.find(`form#reset-request-form input[name=username_or_email]`) == nil {
				t.Errorf("%s: the page asks for a password, or not for a new link", what)
			}
		}
		link, token := ask("alice")
		refused(b.get(cut(link)), "GET of a cut link", msgAltered)
		refused(b.get(changed(link)), "GET of a changed link", msgAltered)
		refused(finish(cut(token)), "POST of a cut token", msgAltered)

		wantStatus(t, b.get(link), 200, "the whole link")
		wantRedirect(t, finish(token), "/account/login/?notice=password-reset", "reset")
		refused(b.get(link), "GET of a used link", msgUsed)
		refused(finish(token), "POST of a used link", msgUsed)

		link, token = ask("bob")
		fx.clock.Advance(accounts.DefaultResetLifetime)
		refused(b.get(link), "GET of an expired link", msgExpired)
		refused(finish(token), "POST of an expired link", msgExpired)
	})
}

// TestInvitationLinkRefusals: an invitation link whose signature does not hold says it was cut or changed, one past
// its signed expiry says expired, and an accepted one says answered.
func TestInvitationLinkRefusals(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		fx.ownedProject(t, alice)
		a := fx.browser("alice")
		a.login("alice", testPassword)
		invite := func(name string) string {
			t.Helper()
			invitee := fx.user(name)
			wantRedirect(t, a.submit(collab, "/manage/project/demo-pkg/collaboration/invite/",
				url.Values{"username": {name}, "role": {"Maintainer"}}), collab+"?notice=invited", "invite")
			return fx.lastLink(notify.KindInvitation, invitee.Email)
		}
		refused := func(p *page, what, want string) {
			t.Helper()
			wantStatus(t, p, 404, what)
			if got := p.text("#error-message"); !strings.HasPrefix(got, want) {
				t.Errorf("%s: message %q, want %q...", what, got, want)
			}
		}
		link := invite("bob")
		token := strings.TrimPrefix(link, "/account/invitation/?token=")
		b := fx.browser("bob")
		b.login("bob", testPassword)
		refused(b.get(cut(link)), "GET of a cut link", msgAltered)
		refused(b.get(changed(link)), "GET of a changed link", msgAltered)
		refused(b.submit(link, "/account/invitation/", url.Values{"token": {cut(token)}}), "POST of a cut token", msgAltered)
		if got := fx.roles(t, "demo-pkg"); got["bob"] != "" {
			t.Fatalf("a mangled link gave a role: %v", got)
		}

		wantRedirect(t, b.submit(link, "/account/invitation/", url.Values{"token": {token}}),
			"/manage/projects/?notice=invitation-accepted", "accept")
		refused(b.get(link), "GET of an accepted invitation", "This invitation was already answered or withdrawn")

		link = invite("carol")
		fx.clock.Advance(projects.DefaultInvitationTTL)
		c := fx.browser("carol")
		c.login("carol", testPassword)
		refused(c.get(link), "GET of an expired invitation", "This invitation has expired: ask an Owner of the project to invite you again.")
	})
}
