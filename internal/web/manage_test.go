package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/disttest"
	"wharf/internal/notify"
	"wharf/internal/policy"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// ownedProject has owner upload demo-pkg 1.0 with an account token, as twine would, and returns the token.
func (fx *fixture) ownedProject(t *testing.T, owner store.Account) string {
	t.Helper()
	tok := fx.mintToken(t, owner)
	if code := fx.upload(t, fx.browser("twine"), tok, "demo-pkg", "1.0"); code != http.StatusOK {
		t.Fatalf("first upload: %d", code)
	}
	return tok
}

func (fx *fixture) roles(t *testing.T, project string) map[string]string {
	t.Helper()
	p, err := fx.db.ProjectByName(context.Background(), project)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := fx.db.Collaborators(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, c := range cs {
		out[c.Username] = c.Role
	}
	return out
}

const collab = "/manage/project/demo-pkg/collaboration/"
const releases = "/manage/project/demo-pkg/releases/"

// TestInviteByMail: an Owner invites by username; the invitee gets the signed link by mail, the link's page
// changes nothing, the accept button makes them a Maintainer, and their account token then uploads.
func TestInviteByMail(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice, bob := fx.user("alice"), fx.user("bob")
		fx.ownedProject(t, alice)
		a := fx.browser("alice")
		a.login("alice", testPassword)
		p := a.submit(collab, "/manage/project/demo-pkg/collaboration/invite/", url.Values{"username": {"bob"}, "role": {"Maintainer"}})
		wantRedirect(t, p, collab+"?notice=invited", "invite")
		link := fx.lastLink(notify.KindInvitation, bob.Email)
		if !strings.HasPrefix(link, "/account/invitation/?token=") {
			t.Fatalf("link %q", link)
		}
		if got := a.get(collab).find(`#pending-invitations tr[data-invitation-id]`); got == nil {
			t.Error("pending invitation not listed for the Owner")
		}

		b := fx.browser("bob")
		// Another signed-in user sees nothing through bob's link.
		c := fx.browser("carol")
		fx.user("carol")
		c.login("carol", testPassword)
		wantStatus(t, c.get(link), 404, "carol opens bob's link")
		// A forged link is not found either.
		wantStatus(t, c.get("/account/invitation/?token=AAAA"), 404, "forged link")

		// Opened before signing in, the link leads through the login and back.
		p = b.get(link)
		wantRedirect(t, p, "/account/login/?next=", "link while signed out")
		next, _ := url.Parse(p.location())
		p = b.post("/account/login/", url.Values{"username": {"bob"}, "password": {testPassword}, "next": {next.Query().Get("next")}})
		wantRedirect(t, p, link, "login from the link")
		page := b.get(link)
		wantStatus(t, page, 200, "invitation page")
		if got := fx.roles(t, "demo-pkg"); got["bob"] != "" {
			t.Fatalf("GET of the link gave a role: %v", got)
		}
		token := attr(page.find(`form[action=/account/invitation/] input[name=token]`), "value")
		p = b.submit(link, "/account/invitation/", url.Values{"token": {token}})
		wantRedirect(t, p, "/manage/projects/?notice=invitation-accepted", "accept")
		if got := fx.roles(t, "demo-pkg"); got["bob"] != "Maintainer" {
			t.Fatalf("roles after accept: %v", got)
		}
		// The projects page lists it with the role.
		if got := b.get("/manage/projects/").text(`tr[data-project=demo-pkg] td.role`); got != "Maintainer" {
			t.Errorf("projects page role %q", got)
		}
		// The link works once.
		wantStatus(t, b.get(link), 404, "used link")
		// The Owner hears of it.
		if len(fx.mailsOf(notify.KindProjectChanged, alice.Email)) == 0 {
			t.Error("no notice to the Owner")
		}
		tok := fx.mintToken(t, bob)
		if code := fx.upload(t, fx.browser("twine"), tok, "demo-pkg", "1.1"); code != http.StatusOK {
			t.Errorf("invitee's upload: %d", code)
		}
	})
}

// TestInviteOnSiteAndDecline: invitations show on the invitee's projects page with accept and decline.
func TestInviteOnSiteAndDecline(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		fx.user("bob")
		fx.ownedProject(t, alice)
		a := fx.browser("alice")
		a.login("alice", testPassword)
		wantRedirect(t, a.submit(collab, "/manage/project/demo-pkg/collaboration/invite/", url.Values{"username": {"bob"}, "role": {"Maintainer"}}),
			collab, "invite")
		b := fx.browser("bob")
		b.login("bob", testPassword)
		pg := b.get("/manage/projects/")
		id := attr(pg.find(`#invitations tr[data-invitation-id]`), "data-invitation-id")
		if id == "" {
			t.Fatal("invitation not listed")
		}
		wantRedirect(t, b.submit("/manage/projects/", "/manage/projects/invitations/decline/", url.Values{"invitation_id": {id}}),
			"/manage/projects/?notice=invitation-declined", "decline")
		if got := fx.roles(t, "demo-pkg"); got["bob"] != "" {
			t.Fatalf("declined but %v", got)
		}
		// Answered: accepting now fails.
		p := b.post("/manage/projects/invitations/accept/", url.Values{"invitation_id": {id}, "csrf_token": {b.csrf("/manage/projects/", "/account/logout/")}})
		wantStatus(t, p, 404, "accept after decline")
	})
}

// TestLastOwnerCannotLeave: the only Owner's leave is refused and changes nothing.
func TestLastOwnerCannotLeave(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		fx.ownedProject(t, alice)
		a := fx.browser("alice")
		a.login("alice", testPassword)
		p := a.submit(collab, "/manage/project/demo-pkg/collaboration/leave/", nil)
		wantStatus(t, p, 400, "last owner leaves")
		if got := fx.roles(t, "demo-pkg"); got["alice"] != "Owner" {
			t.Fatalf("roles %v", got)
		}
	})
}

// TestRemovalVoidsUploads: a removed Maintainer's account token no longer uploads to the project (K7); the
// removed user and the Owners are mailed.
func TestRemovalVoidsUploads(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice, bob := fx.user("alice"), fx.user("bob")
		fx.ownedProject(t, alice)
		pr, _ := fx.db.ProjectByName(context.Background(), "demo-pkg")
		if err := fx.db.AddRole(context.Background(), pr.ID, bob.ID, store.RoleMaintainer, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		tok := fx.mintToken(t, bob)
		if code := fx.upload(t, fx.browser("twine"), tok, "demo-pkg", "1.1"); code != http.StatusOK {
			t.Fatalf("maintainer upload: %d", code)
		}
		a := fx.browser("alice")
		a.login("alice", testPassword)
		wantRedirect(t, a.submit(collab, "/manage/project/demo-pkg/collaboration/remove/", url.Values{"username": {"bob"}}),
			collab+"?notice=role-removed", "remove")
		if code := fx.upload(t, fx.browser("twine"), tok, "demo-pkg", "1.2"); code != http.StatusForbidden {
			t.Errorf("removed user's upload: %d, want 403", code)
		}
		if ms := fx.mailsOf(notify.KindRoleChanged, bob.Email); len(ms) == 0 || !strings.Contains(ms[0].Body, "no longer have a role") {
			t.Errorf("the removed user was not told: %v", ms)
		}
		if len(fx.mailsOf(notify.KindProjectChanged, alice.Email)) == 0 {
			t.Error("the Owner was not told")
		}
	})
}

// TestYankAndDelete: a yank shows in the simple page; a deleted file's name stays reserved; the project is
// deleted only when its name is typed.
func TestYankAndDelete(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		tok := fx.ownedProject(t, alice)
		a := fx.browser("alice")
		a.login("alice", testPassword)
		p := a.submit(releases, "/manage/project/demo-pkg/releases/yank/", url.Values{"version": {"1.0"}, "reason": {`broken <build> & "x"`}})
		wantRedirect(t, p, releases+"?notice=yanked", "yank")
		simple := a.get("/simple/demo-pkg/")
		n := simple.find(`a[data-yanked]`)
		if n == nil || attr(n, "data-yanked") != `broken <build> & "x"` {
			t.Fatalf("simple page: %s", simple.body)
		}
		if len(fx.mailsOf(notify.KindProjectChanged, alice.Email)) == 0 {
			t.Error("no yank notice")
		}
		wantRedirect(t, a.submit(releases, "/manage/project/demo-pkg/releases/unyank/", url.Values{"version": {"1.0"}}), releases, "unyank")
		if a.get("/simple/demo-pkg/").find(`a[data-yanked]`) != nil {
			t.Error("still yanked")
		}
		wantRedirect(t, a.submit(releases, "/manage/project/demo-pkg/releases/delete-file/",
			url.Values{"filename": {disttest.WheelName("demo-pkg", "1.0")}, "confirm": {disttest.WheelName("demo-pkg", "1.0")}}), releases+"?notice=file-deleted", "delete file")
		if code := fx.upload(t, fx.browser("twine"), tok, "demo-pkg", "1.0"); code == http.StatusOK {
			t.Error("the deleted filename was accepted again")
		}
		wantStatus(t, a.submit(releases, "/manage/project/demo-pkg/delete/", url.Values{"confirm": {"other"}}), 400, "wrong confirmation")
		wantRedirect(t, a.submit(releases, "/manage/project/demo-pkg/delete/", url.Values{"confirm": {"demo-pkg"}}),
			"/manage/projects/?notice=project-deleted", "delete project")
		if _, err := fx.db.ProjectByName(context.Background(), "demo-pkg"); err == nil {
			t.Error("project still there")
		}
	})
}

// TestManageSudo: role changes and deletions need a recent password confirmation; the way back is a local path.
// The project history is for Owners and shows UTC times, IP and user agent, escaped.
func TestManageSudo(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice, bob := fx.user("alice"), fx.user("bob")
		fx.ownedProject(t, alice)
		pr, _ := fx.db.ProjectByName(context.Background(), "demo-pkg")
		if err := fx.db.AddRole(context.Background(), pr.ID, bob.ID, store.RoleMaintainer, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		stale := fx.sessionBrowser("<script>x</script>", alice.ID, accounts.LevelFull, 31*time.Minute)
		for _, c := range []struct {
			path string
			form url.Values
		}{
			{"/manage/project/demo-pkg/collaboration/role/", url.Values{"username": {"bob"}, "role": {"Owner"}}},
			{"/manage/project/demo-pkg/collaboration/remove/", url.Values{"username": {"bob"}}},
			{"/manage/project/demo-pkg/releases/delete-release/", url.Values{"version": {"1.0"}, "confirm": {"1.0"}}},
			{"/manage/project/demo-pkg/delete/", url.Values{"confirm": {"demo-pkg"}}},
		} {
			back := "/manage/project/demo-pkg/collaboration/"
			if strings.Contains(c.path, "release") || strings.HasSuffix(c.path, "/delete/") {
				back = releases
			}
			p := stale.submit(back, c.path, c.form)
			wantRedirect(t, p, "/account/reauthenticate/?next="+url.QueryEscape(back), c.path+" without sudo")
		}
		if got := fx.roles(t, "demo-pkg"); got["bob"] != "Maintainer" {
			t.Fatalf("roles changed without sudo: %v", got)
		}
		// The history, for Owners only, escapes what clients chose.
		h := stale.get("/manage/project/demo-pkg/history/")
		wantStatus(t, h, 200, "history")
		if strings.Contains(h.body, "<script>x</script>") {
			t.Error("user agent not escaped")
		}
		b := fx.browser("bob")
		b.login("bob", testPassword)
		wantStatus(t, b.get("/manage/project/demo-pkg/history/"), 403, "maintainer reads history")
		// Any collaborator sees the releases page; someone with no role is refused with the policy's reason.
		wantStatus(t, b.get(releases), 200, "maintainer sees the releases")
		c := fx.browser("stranger")
		fx.user("stranger")
		c.login("stranger", testPassword)
		refused := c.get(releases)
		wantStatus(t, refused, 403, "a stranger opens the releases page")
		if got := refused.refusal(); !strings.Contains(got, "only its Owners and Maintainers may") {
			t.Errorf("the refusal says %q", got)
		}
		// A Maintainer sees the collaborators but no forms, with the policy's reason.
		cp := b.get(collab)
		wantStatus(t, cp, 200, "maintainer's collaboration page")
		if cp.find(`#invite-form`) != nil || cp.text("#denied") == "" {
			t.Error("maintainer sees the Owner's forms, or no reason")
		}
		// And is refused when posting anyway.
		wantStatus(t, b.post("/manage/project/demo-pkg/collaboration/invite/", url.Values{"username": {"alice"}, "role": {"Owner"},
			"csrf_token": {b.csrf(collab, "/manage/project/demo-pkg/collaboration/leave/")}}), 403, "maintainer invites")
	})
}

// TestInviteRateLimit: invitations mail their invitee, so an inviter's invitations count against the mail limit.
func TestInviteRateLimit(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		fx.ownedProject(t, alice)
		a := fx.browser("alice")
		a.login("alice", testPassword)
		var last *page
		for i := range 4 {
			name := fmt.Sprintf("user%d", i)
			fx.user(name)
			last = a.submit(collab, "/manage/project/demo-pkg/collaboration/invite/", url.Values{"username": {name}, "role": {"Maintainer"}})
			if i < 3 {
				wantRedirect(t, last, collab, "invite "+name)
			}
		}
		wantStatus(t, last, http.StatusTooManyRequests, "fourth invitation in an hour")
		if last.header("Retry-After") == "" {
			t.Error("no Retry-After")
		}
		if got := len(fx.mailsOf(notify.KindInvitation, "user3@example.com")); got != 0 {
			t.Errorf("%d mails to the refused invitee", got)
		}
	})
}

// TestTransferToNewcomer: transferring to a user without a role invites them as Owner by mail; on acceptance the
// previous Owner leaves as chosen.
func TestTransferToNewcomer(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice, bob := fx.user("alice"), fx.user("bob")
		fx.ownedProject(t, alice)
		a := fx.browser("alice")
		a.login("alice", testPassword)
		p := a.submit(collab, "/manage/project/demo-pkg/collaboration/transfer/", url.Values{"username": {"bob"}, "then": {"none"}})
		wantRedirect(t, p, collab+"?notice=transferred", "transfer")
		if got := fx.roles(t, "demo-pkg"); got["alice"] != "Owner" || got["bob"] != "" {
			t.Fatalf("before acceptance: %v", got)
		}
		link := fx.lastLink(notify.KindInvitation, bob.Email)
		// Becoming an Owner needs a second factor: Bob has a security key, and a session that used it.
		fx.withKey(bob)
		b := fx.sessionBrowser("bob", bob.ID, accounts.LevelFull, 0)
		page := b.get(link)
		token := attr(page.find(`form[action=/account/invitation/] input[name=token]`), "value")
		wantRedirect(t, b.submit(link, "/account/invitation/", url.Values{"token": {token}}), "/manage/projects/", "accept transfer")
		if got := fx.roles(t, "demo-pkg"); got["alice"] != "" || got["bob"] != "Owner" {
			t.Fatalf("after acceptance: %v", got)
		}
	})
}

// TestCriticalProjectPages: on a critical project, an Owner without a second factor is refused every change on
// the website with the rule's reason on the page, may still read the releases page, and is let through once the
// account has a factor.
func TestCriticalProjectPages(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		tok := fx.ownedProject(t, alice)
		p, err := fx.db.ProjectByName(context.Background(), "demo-pkg")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.db.MarkCritical(context.Background(), []int64{p.ID}, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		a := fx.browser("alice")
		a.login("alice", testPassword)
		wantStatus(t, a.get(releases), 200, "the releases page of a critical project")
		refused := a.submit(releases, "/manage/project/demo-pkg/releases/yank/", url.Values{"version": {"1.0"}, "reason": {"x"}})
		wantStatus(t, refused, 403, "yank without 2FA")
		if got := refused.refusal(); !strings.Contains(got, "Project 'demo-pkg' is a critical project: nobody without two-factor authentication") {
			t.Errorf("the refusal says %q", got)
		}
		if code := fx.upload(t, fx.browser("twine"), tok, "demo-pkg", "1.1"); code != http.StatusForbidden {
			t.Errorf("token upload without 2FA: %d, want 403", code)
		}
		fx.clock.Advance(time.Hour)
		fx.withKey(alice)
		b := fx.sessionBrowser("alice-with-key", alice.ID, accounts.LevelFull, 0)
		wantRedirect(t, b.submit(releases, "/manage/project/demo-pkg/releases/yank/", url.Values{"version": {"1.0"}, "reason": {"x"}}),
			releases+"?notice=yanked", "yank with 2FA")
		if code := fx.upload(t, fx.browser("twine"), tok, "demo-pkg", "1.1"); code != http.StatusForbidden {
			t.Errorf("upload with a token older than the key: %d, want 403", code)
		}
		created := b.submit("/manage/account/token/", "/manage/account/token/", url.Values{"name": {"after the key"}, "scope": {"account"}})
		wantStatus(t, created, 200, "a new token")
		if code := fx.upload(t, fx.browser("twine"), created.text("#new-token"), "demo-pkg", "1.1"); code != http.StatusOK {
			t.Errorf("upload with a new token: %d, want 200", code)
		}
	})
}

// TestRequire2FASwitch: an Owner with a second factor makes 2FA a condition of every collaborator's writes; Owners
// see who has a factor; the project page says whether the project is critical and fully protected.
func TestRequire2FASwitch(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice, bob := fx.user("alice"), fx.user("bob")
		fx.ownedProject(t, alice)
		p, err := fx.db.ProjectByName(ctx, "demo-pkg")
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.db.AddRole(ctx, p.ID, bob.ID, store.RoleMaintainer, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		bobToken := fx.mintToken(t, bob)
		fx.clock.Advance(time.Hour)
		fx.withKey(alice)
		a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)

		page := a.get(collab)
		if got := page.text(`tr[data-user=alice] td.two-factor`) + "|" + page.text(`tr[data-user=bob] td.two-factor`); got != "security key|none" {
			t.Errorf("the Owner sees the factors %q", got)
		}
		if page.find("#require-2fa-form") == nil {
			t.Fatal("no switch for the Owner")
		}
		wantRedirect(t, a.submit(collab, "/manage/project/demo-pkg/collaboration/require-2fa/", url.Values{"require": {"2fa"}}),
			collab+"?notice=settings-changed", "require 2FA")
		if got := fx.mailsOf(notify.KindProjectChanged, bob.Email); len(got) == 0 || !strings.Contains(got[len(got)-1].Body, "requires two-factor authentication") {
			t.Errorf("bob was not told: %v", got)
		}
		if code := fx.upload(t, fx.browser("twine"), bobToken, "demo-pkg", "1.1"); code != http.StatusForbidden {
			t.Errorf("bob's upload without 2FA: %d, want 403", code)
		}
		proj := a.get("/project/demo-pkg/")
		if proj.find("#critical-badge") != nil || proj.find("#protected-badge") != nil || proj.find("#unprotected") == nil {
			t.Errorf("project page of a project with an unprotected maintainer: %s", proj.text("#protection"))
		}

		// A critical project keeps the requirement: no switch, and the badges say so once bob has a key too.
		if _, err := fx.db.MarkCritical(ctx, []int64{p.ID}, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		fx.withKey(bob)
		if a.get(collab).find(`#require option[value=none]`) != nil {
			t.Error("a critical project offers to drop the requirement")
		}
		refused := a.post("/manage/project/demo-pkg/collaboration/require-2fa/", url.Values{"require": {"none"},
			"csrf_token": {a.csrf(collab, "/manage/project/demo-pkg/collaboration/invite/")}})
		if refused.status() != http.StatusForbidden || !strings.Contains(refused.refusal(), "stays required") {
			t.Errorf("turning it off on a critical project: %d %q", refused.status(), refused.refusal())
		}
		proj = fx.browser("anyone").get("/project/demo-pkg/")
		if proj.find("#critical-badge") == nil || proj.find("#protected-badge") == nil {
			t.Errorf("project page of a critical, fully protected project: %s", proj.text("#protection"))
		}
	})
}

// TestMandateBanner: the mandate is announced on every page to signed-in maintainers without a second factor, in
// the words of its phase, and to no one else; in enforce, their pages refuse what it refuses.
func TestMandateBanner(t *testing.T) {
	day := func(d int) time.Time { return t0.AddDate(0, 0, d) }
	m := policy.Mandate{Notice: day(-1), Restrict: day(10), Enforce: day(20), Restricted: policy.DefaultRestricted,
		Brownouts: []policy.Window{{Start: day(5), End: day(5).Add(2 * time.Hour)}}}
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			fx := newFixtureWith(t, e, fixtureOptions{mandate: &m})
			alice, bob := fx.user("alice"), fx.user("bob")
			fx.ownedProject(t, alice)
			a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
			b := fx.sessionBrowser("bob", bob.ID, accounts.LevelFull, 0)
			banner := func(br *browser) string { return br.get("/").text("#mandate-banner") }
			if got := banner(a); !strings.Contains(got, "will be required of every account that maintains projects here, with restrictions from "+day(10).Format(time.DateOnly)) {
				t.Errorf("notice phase: %q", got)
			}
			if got := banner(b); got != "" {
				t.Errorf("an account without projects sees %q", got)
			}
			const minute = "2006-01-02 15:04"
			from, until := day(5).UTC().Format(minute), day(5).Add(2*time.Hour).UTC().Format(minute)
			if got := banner(a); !strings.Contains(got, "A brown-out will apply the full requirement from "+from+" to "+until+" UTC") {
				t.Errorf("the coming brown-out is not announced: %q", got)
			}
			fx.clock.Advance(5*24*time.Hour + time.Hour) // sessions last 12 hours: sign in again
			a = fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
			if got := banner(a); !strings.Contains(got, "brown-out of the two-factor mandate is in force until "+until+" UTC") {
				t.Errorf("during the brown-out: %q", got)
			}
			refused := a.submit("/manage/account/token/", "/manage/account/token/", url.Values{"name": {"t"}, "scope": {"account"}})
			if refused.status() != http.StatusForbidden || !strings.Contains(refused.refusal(), "scheduled brown-out") {
				t.Errorf("creating a token during the brown-out: %d %q", refused.status(), refused.refusal())
			}
			fx.clock.Advance(6*24*time.Hour - time.Hour)
			a = fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
			if got := banner(a); !strings.Contains(got, "you can no longer create projects, invite collaborators or change roles, create API tokens, and from "+day(20).Format(time.DateOnly)) {
				t.Errorf("restrict phase: %q", got)
			}
			// The token page still opens, to see and revoke tokens; creating one is refused with the reason.
			wantStatus(t, a.get("/manage/account/token/"), http.StatusOK, "the token page in restrict")
			refused = a.submit("/manage/account/token/", "/manage/account/token/", url.Values{"name": {"t"}, "scope": {"account"}})
			if refused.status() != http.StatusForbidden || !strings.Contains(refused.refusal(), "can no longer create API tokens") {
				t.Errorf("creating a token in restrict: %d %q", refused.status(), refused.refusal())
			}
			fx.clock.Advance(10 * 24 * time.Hour)
			a = fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
			if got := banner(a); !strings.Contains(got, "until your account has a second factor, you can only enrol one") {
				t.Errorf("enforce phase: %q", got)
			}
			fx.withKey(alice)
			if got := banner(fx.sessionBrowser("alice-2", alice.ID, accounts.LevelFull, 0)); got != "" {
				t.Errorf("with a key, alice still sees %q", got)
			}
		})
	}
}
