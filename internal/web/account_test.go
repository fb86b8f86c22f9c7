package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/audit"
)

// TestAccountSections: the account page puts two-factor authentication first, then the profile and address, the
// password, the API tokens, the sessions and the history, each reached from the menu at its top.
func TestAccountSections(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		b := fx.browser("b")
		b.login("alice", testPassword)
		p := b.get("/manage/account/")
		wantStatus(t, p, 200, "the account page")

		var sections []string
		for _, s := range findAll(p.doc, "main section") {
			sections = append(sections, attr(s, "id"))
		}
		order := []string{"two-factor", "email", "password", "tokens", "sessions", "history"}
		var got []string
		for _, id := range sections {
			if slices.Contains(order, id) {
				got = append(got, id)
			}
		}
		if diff := cmp.Diff(order, got); diff != "" {
			t.Errorf("the sections' order (-want +got):\n%s", diff)
		}
		menu := p.find("main nav.section-menu")
		if menu == nil || attr(menu, "aria-label") != "Account sections" {
			t.Fatal("no menu of the sections")
		}
		var targets []string
		for _, a := range findAll(menu, "a") {
			targets = append(targets, strings.TrimPrefix(attr(a, "href"), "#"))
		}
		for _, id := range order {
			if !slices.Contains(targets, id) {
				t.Errorf("the menu does not lead to #%s", id)
			}
		}
		for _, id := range targets {
			if !slices.Contains(sections, id) {
				t.Errorf("the menu leads to #%s, which is not on the page", id)
			}
		}

		// Without a factor the section says so and leads to both kinds; with both, it says what sign-in asks for
		// and how many recovery codes are left.
		if p.find("#no-factors") == nil || p.find(`#two-factor a[href="/manage/account/totp/"]`) == nil ||
			p.find(`#two-factor a[href="/manage/account/webauthn/"]`) == nil {
			t.Error("the two-factor section of an account without a factor")
		}
		fx.withTOTP(alice)
		fx.withKey(alice)
		codes, err := fx.recovery.Regenerate(context.Background(), alice.ID, audit.Request{})
		if err != nil {
			t.Fatal(err)
		}
		p = b.get("/manage/account/")
		if got := p.text("#two-factor-status"); !strings.Contains(got, "your authenticator app or one of your security keys and passkeys") {
			t.Errorf("the status says %q", got)
		}
		if got := p.text("#recovery-left"); got != strconv.Itoa(len(codes)) {
			t.Errorf("recovery codes left: %q, want %d", got, len(codes))
		}
		if rows := findAll(p.doc, "#factor-list tbody tr"); len(rows) != 2 {
			t.Errorf("%d factors listed, want 2", len(rows))
		}
	})
}

// TestAccountRefusals: a refused change of the address or the password shows the account page again with the
// reason inside the refused form; the address typed is kept, a password never.
func TestAccountRefusals(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.user("alice")
		fx.user("bob")
		b := fx.browser("b")
		b.login("alice", testPassword)

		taken := b.submit("/manage/account/", "/manage/account/email/", url.Values{"form": {"email"}, "email": {"BOB@example.com"}})
		wantStatus(t, taken, http.StatusBadRequest, "the address of another account")
		if taken.text("#refusal-email") == "" || taken.find("#email-form #refusal-email") == nil {
			t.Error("the refusal is not inside the address form")
		}
		if got := attr(taken.find("#new-email"), "value"); got != "BOB@example.com" {
			t.Errorf("the address typed is %q on the page shown again", got)
		}

		const wrong = "not it at all"
		refused := b.submit("/manage/account/", "/manage/account/password/", url.Values{"form": {"password"},
			"current_password": {wrong}, "new_password": {"a much longer passphrase"}, "new_password_confirm": {"a much longer passphrase"}})
		wantStatus(t, refused, http.StatusBadRequest, "a wrong current password")
		if got := refused.text("#password-form #refusal-password"); got != "The current password is not correct." {
			t.Errorf("the refusal says %q", got)
		}
		if strings.Contains(refused.body, wrong) || strings.Contains(refused.body, "a much longer passphrase") {
			t.Error("the page shown again holds a password typed")
		}
	})
}
