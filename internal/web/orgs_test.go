package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/notify"
	"wharf/internal/store"
)

const (
	myOrgs    = "/manage/organizations/"
	orgCreate = myOrgs + "create/"
	orgAnswer = myOrgs + "answer/"
	acme      = "/manage/organization/acme/"
)

// orgOwner gives alice an authenticator app (an organization's Owner must have a second factor) and a freshly
// confirmed session, and creates organization acme from the page.
func (fx *fixture) orgOwner(t *testing.T, alice store.Account) *browser {
	t.Helper()
	fx.withTOTP(alice)
	a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
	wantRedirect(t, a.submit(myOrgs, orgCreate, url.Values{"name": {"acme"}, "display_name": {"Acme Corp"}, "description": {"Tools for roadrunners."}}),
		acme+"?notice=org-created", "create the organization")
	return a
}

// orgMember has bob invited into acme as a Member by alice (a) and accept on his organizations page; it returns
// bob's browser.
func (fx *fixture) orgMember(t *testing.T, a *browser, bob store.Account) *browser {
	t.Helper()
	wantRedirect(t, a.submit(acme, acme+"invite/", url.Values{"username": {"bob"}, "role": {"Member"}}), acme+"?notice=org-invited", "invite bob")
	b := fx.sessionBrowser("bob", bob.ID, accounts.LevelFull, 0)
	wantRedirect(t, b.submit(myOrgs, orgAnswer, url.Values{"org": {"acme"}, "accept": {"true"}}), acme+"?notice=org-joined", "bob accepts")
	return b
}

// orgRole reads a user's role in acme from the store.
func (fx *fixture) orgRole(t *testing.T, username string) string {
	t.Helper()
	ctx := context.Background()
	o, err := fx.db.OrganizationByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	u, err := fx.db.AccountByName(ctx, username)
	if err != nil {
		t.Fatal(err)
	}
	role, err := fx.db.OrgRoleOf(ctx, o.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return role
}

// TestOrganizationCreate: an account without a second factor is refused with the policy's reason and keeps what it
// typed; a bad name is refused next to the form with the input kept; with an authenticator app and a recent
// confirmation the organization is made with its creator as Owner, shown on its management page and its public
// profile; without the recent confirmation the site asks for it first.
func TestOrganizationCreate(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
		page := a.get(myOrgs)
		wantStatus(t, page, http.StatusOK, "the organizations page")
		if page.find("form#create-org-form") == nil || !strings.Contains(page.text("#memberships"), "no organization") {
			t.Fatalf("the organizations page: %q", page.text("main"))
		}
		if a.get("/manage/projects/").find(`#organizations-link a[href="/manage/organizations/"]`) == nil {
			t.Error("the projects page does not link the organizations")
		}

		refused := a.submit(myOrgs, orgCreate, url.Values{"form": {"create"}, "name": {"acme"}, "display_name": {"Acme Corp"}})
		wantStatus(t, refused, http.StatusForbidden, "create without a second factor")
		if got := refused.text("#create-org-form #refusal-create"); !strings.Contains(got, "second factor") && !strings.Contains(got, "two-factor") {
			t.Errorf("the refusal says %q", got)
		}
		if got := attr(refused.find("#org-display-name"), "value"); got != "Acme Corp" {
			t.Errorf("the display name typed was not kept: %q", got)
		}

		fx.withTOTP(alice)
		bad := a.submit(myOrgs, orgCreate, url.Values{"form": {"create"}, "name": {"-acme-"}, "description": {"Tools"}})
		wantStatus(t, bad, http.StatusBadRequest, "create with a bad name")
		if got := bad.text("#create-org-form #refusal-create"); !strings.Contains(got, "not a valid organization name") {
			t.Errorf("the bad name's refusal next to the form: %q", got)
		}
		if got := attr(bad.find("#org-name"), "value"); got != "-acme-" {
			t.Errorf("the name typed was not kept: %q", got)
		}
		if got := textOf(bad.find("#org-description")); got != "Tools" {
			t.Errorf("the description typed was not kept: %q", got)
		}

		stale := fx.sessionBrowser("alice-stale", alice.ID, accounts.LevelFull, 31*time.Minute)
		wantRedirect(t, stale.submit(myOrgs, orgCreate, url.Values{"name": {"acme"}}),
			"/account/reauthenticate/?next="+url.QueryEscape(myOrgs), "create without a recent confirmation")

		wantRedirect(t, a.submit(myOrgs, orgCreate, url.Values{"name": {"acme"}, "display_name": {"Acme Corp"}, "description": {"Tools for roadrunners."}}),
			acme+"?notice=org-created", "create")
		if got := fx.orgRole(t, "alice"); got != store.OrgRoleOwner {
			t.Fatalf("alice is %q of acme, want Owner", got)
		}
		page = a.get(acme + "?notice=org-created")
		wantStatus(t, page, http.StatusOK, "the management page")
		if got := page.text("p.notice"); !strings.Contains(got, "organization was created") {
			t.Errorf("notice %q", got)
		}
		if got := page.text(`#members tr[data-user="alice"] td.role`); got != "Owner" {
			t.Errorf("alice's role on the page: %q", got)
		}
		for _, sel := range []string{"form#invite-form", "form#create-team-form", "form#settings-form", "a#history-link", "form#leave-form"} {
			if page.find(sel) == nil {
				t.Errorf("the Owner's page has no %s", sel)
			}
		}
		if mine := a.get(myOrgs); mine.text(`#memberships tr[data-org="acme"] td.role`) != "Owner" {
			t.Errorf("the organizations page lists %q", mine.text("#memberships"))
		}

		taken := a.submit(myOrgs, orgCreate, url.Values{"form": {"create"}, "name": {"ACME"}})
		wantStatus(t, taken, http.StatusBadRequest, "a taken name")
		if got := taken.text("#refusal-create"); !strings.Contains(got, "taken") {
			t.Errorf("a taken name: %q", got)
		}

		profile := fx.browser("stranger").get("/org/acme/")
		wantStatus(t, profile, http.StatusOK, "the public profile")
		if profile.text("#org-name") != "Acme Corp" || profile.text("#org-description") != "Tools for roadrunners." {
			t.Errorf("the profile shows %q", profile.text("main"))
		}
		wantStatus(t, fx.browser("stranger").get("/org/nobody/"), http.StatusNotFound, "an unknown organization's profile")
	})
}

// TestOrganizationInvitation: an Owner invites a user by name; the invitee is mailed, sees the invitation on their
// organizations page and accepts it; as a Member they see the page without any management form, and a change
// posted anyway is refused on the page with the policy's reason.
func TestOrganizationInvitation(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice, bob, carol := fx.user("alice"), fx.user("bob"), fx.user("carol")
		a := fx.orgOwner(t, alice)

		// A username that is no user's is the typed input's refusal: inside the form, with what was typed kept.
		unknown := a.submit(acme, acme+"invite/", url.Values{"form": {"invite"}, "username": {"nobody"}, "role": {"Manager"}})
		wantStatus(t, unknown, http.StatusBadRequest, "inviting an unknown user")
		if got := unknown.text("#invite-form #refusal-invite"); got != "There is no user of that name: check the username and try again." {
			t.Errorf("inviting an unknown user says %q", got)
		}
		if got := attr(unknown.find("#invite-username"), "value"); got != "nobody" || unknown.find(`#invite-role option[value=Manager][selected]`) == nil {
			t.Errorf("the invitation typed was not kept: username %q", got)
		}

		wantRedirect(t, a.submit(acme, acme+"invite/", url.Values{"username": {"bob"}, "role": {"Member"}}), acme+"?notice=org-invited", "invite")
		ms := fx.mailsOf(notify.KindOrgInvitation, bob.Email)
		if len(ms) != 1 || !strings.Contains(ms[0].Body, "alice invited you to join the organization acme") ||
			!strings.Contains(ms[0].Body, fx.base+myOrgs) {
			t.Fatalf("the invitation mail: %+v", ms)
		}
		if got := a.get(acme).text(`#pending-invitations tr[data-user="bob"]`); !strings.Contains(got, "Member") {
			t.Errorf("the pending invitation on the Owner's page: %q", got)
		}

		// Only bob can answer it: to carol, there is no invitation.
		c := fx.sessionBrowser("carol", carol.ID, accounts.LevelFull, 0)
		if c.get(myOrgs).find("#org-invitations form") != nil {
			t.Error("carol sees bob's invitation")
		}
		notHers := c.post(orgAnswer, url.Values{"org": {"acme"}, "accept": {"true"}, "csrf_token": {c.csrf(myOrgs, orgCreate)}})
		wantStatus(t, notHers, http.StatusNotFound, "carol answers bob's invitation")
		if fx.orgRole(t, "carol") != "" {
			t.Fatal("carol joined with bob's invitation")
		}

		b := fx.sessionBrowser("bob", bob.ID, accounts.LevelFull, 0)
		invs := b.get(myOrgs)
		if got := invs.text(`#org-invitations tr[data-org="acme"] td.role`); got != "Member" {
			t.Fatalf("bob's invitations: %q", invs.text("#org-invitations"))
		}
		wantRedirect(t, b.submit(myOrgs, orgAnswer, url.Values{"org": {"acme"}, "accept": {"true"}}), acme+"?notice=org-joined", "accept")
		if got := fx.orgRole(t, "bob"); got != store.OrgRoleMember {
			t.Fatalf("bob is %q of acme, want Member", got)
		}
		again := b.post(orgAnswer, url.Values{"org": {"acme"}, "accept": {"true"}, "csrf_token": {b.csrf(myOrgs, orgCreate)}})
		wantStatus(t, again, http.StatusNotFound, "accepting twice")
		if got := again.refusal(); !strings.Contains(got, "no invitation to answer") {
			t.Errorf("accepting twice says %q", got)
		}

		page := b.get(acme)
		wantStatus(t, page, http.StatusOK, "the Member's page")
		if got := page.text(`#members tr[data-user="bob"] td.role`); got != "Member" {
			t.Errorf("bob's role on the page: %q", got)
		}
		for _, sel := range []string{"form#invite-form", "form.role-form", "form.remove-form", "form#create-team-form", "form#settings-form",
			"form#move-in-form", "a#history-link", "td.two-factor"} {
			if page.find(sel) != nil {
				t.Errorf("the Member's page has %s", sel)
			}
		}
		if page.find("form#leave-form") == nil {
			t.Error("the Member cannot leave")
		}
		if got := page.text("#settings-denied"); !strings.Contains(got, "Owners") {
			t.Errorf("the Member is not told why there are no settings: %q", got)
		}

		refused := b.post(acme+"invite/", url.Values{"username": {"carol"}, "role": {"Owner"}, "csrf_token": {b.csrf(acme, "/account/logout/")}})
		wantStatus(t, refused, http.StatusForbidden, "a Member's invitation")
		if got := refused.text("p.error"); !strings.Contains(got, "manage the members of organization 'acme'") {
			t.Errorf("the refusal says %q", got)
		}
		if refused.find("#members") == nil {
			t.Error("the refusal is not shown on the organization's page")
		}
		settings := b.post(acme+"settings/", url.Values{"require_2fa": {"true"}, "staging": {"none"}, "csrf_token": {b.csrf(acme, "/account/logout/")}})
		wantStatus(t, settings, http.StatusForbidden, "a Member's settings")
		if fx.mailsOf(notify.KindOrgInvitation, carol.Email) != nil {
			t.Error("the refused invitation was mailed")
		}
		if history := b.get(acme + "history/"); history.status() != http.StatusForbidden {
			t.Errorf("a Member's history page: %d", history.status())
		}
		if outsider := c.get(acme); outsider.status() != http.StatusForbidden {
			t.Errorf("an outsider's management page: %d", outsider.status())
		}

		// An invitation declined makes no member.
		wantRedirect(t, a.submit(acme, acme+"invite/", url.Values{"username": {"carol"}, "role": {"Manager"}}), acme+"?notice=org-invited", "invite carol")
		wantRedirect(t, c.submit(myOrgs, orgAnswer, url.Values{"org": {"acme"}, "accept": {"false"}}), myOrgs+"?notice=org-declined", "carol declines")
		if got := fx.orgRole(t, "carol"); got != "" {
			t.Errorf("carol is %q after declining", got)
		}
	})
}

// TestOrganizationTeams: an Owner moves a project into the organization, makes a team, adds a Member to it and
// gives it Maintainer on the project: the Member's projects page shows the role, and the public profile the
// project. Moving the project out ends the role.
func TestOrganizationTeams(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice, bob := fx.user("alice"), fx.user("bob")
		fx.ownedProject(t, alice)
		a := fx.orgOwner(t, alice)
		fx.orgMember(t, a, bob)

		page := a.get(acme)
		if page.find(`#move-in-form datalist option[value="demo-pkg"]`) == nil {
			t.Fatalf("the move-in form does not offer demo-pkg: %q", page.text("#projects"))
		}
		wantRedirect(t, a.submit(acme, acme+"projects/in/", url.Values{"project": {"demo-pkg"}}), acme+"?notice=project-moved-in", "move in")
		wantRedirect(t, a.submit(acme, acme+"teams/create/", url.Values{"team": {"release"}}), acme+"?notice=team-created", "create a team")
		dup := a.submit(acme, acme+"teams/create/", url.Values{"form": {"teams-create"}, "team": {"Release"}})
		wantStatus(t, dup, http.StatusBadRequest, "the same team twice")
		if got := dup.text("#create-team-form #refusal-teams-create"); !strings.Contains(got, "has a team named") {
			t.Errorf("the same team twice: %q", got)
		}
		if got := attr(dup.find("#team-name"), "value"); got != "Release" {
			t.Errorf("the team name typed was not kept: %q", got)
		}

		team := `#teams .team[data-team="release"]`
		wantRedirect(t, a.submit(acme, acme+"teams/member/", url.Values{"team": {"release"}, "username": {"bob"}, "in": {"true"}}),
			acme+"?notice=team-member-added", "add bob to the team")
		wantRedirect(t, a.submit(acme, acme+"teams/grant/", url.Values{"team": {"release"}, "project": {"demo-pkg"}, "role": {"Maintainer"}}),
			acme+"?notice=team-grant-changed", "give the team Maintainer")
		page = a.get(acme)
		if page.find(team+` .team-member[data-user="bob"]`) == nil || !strings.Contains(page.text(team+` .team-grant[data-project="demo-pkg"]`), "Maintainer of demo-pkg") {
			t.Fatalf("the team: %q", page.text(team))
		}
		if page.find(`#projects tr[data-project="demo-pkg"] form.move-out-form`) == nil {
			t.Error("the Owner cannot move the project out")
		}

		b := fx.sessionBrowser("bob", bob.ID, accounts.LevelFull, 0)
		if got := b.get("/manage/projects/").text(`#projects tr[data-project="demo-pkg"] td.role`); got != "Maintainer" {
			t.Fatalf("bob's role on demo-pkg: %q", got)
		}
		if got := fx.roles(t, "demo-pkg")["bob"]; got != "" {
			t.Errorf("the team's role was copied into the project's roles: %q", got)
		}
		if got := fx.browser("stranger").get("/org/acme/").text("#org-projects"); !strings.Contains(got, "demo-pkg") {
			t.Errorf("the profile lists %q", got)
		}
		// A team's role must be on one of the organization's projects.
		notOwn := a.submit(acme, acme+"teams/grant/", url.Values{"form": {"teams-grant-release"}, "team": {"release"}, "project": {"nothing-here"}, "role": {"Owner"}})
		wantStatus(t, notOwn, http.StatusBadRequest, "a role on an unknown project")
		if got := notOwn.text(team + " form.team-grant-form #refusal-teams-grant-release"); got != "There is no project of that name: choose one of the organization's projects." {
			t.Errorf("a role on an unknown project: %q", got)
		}

		wantRedirect(t, a.submit(acme, acme+"projects/out/", url.Values{"project": {"demo-pkg"}}), acme+"?notice=project-moved-out", "move out")
		if got := b.get("/manage/projects/").find(`#projects tr[data-project="demo-pkg"]`); got != nil {
			t.Error("bob keeps a role on the project after it left the organization")
		}
	})
}

// TestOrganizationRequire2FA: an Owner requires two-factor authentication of the members; the member without it is
// listed as unprotected, highlighted, on the Owner's page, and not once they have a factor.
func TestOrganizationRequire2FA(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice, bob := fx.user("alice"), fx.user("bob")
		a := fx.orgOwner(t, alice)
		fx.orgMember(t, a, bob)
		if a.get(acme).find("#unprotected") != nil {
			t.Fatal("members listed as unprotected with no requirement")
		}

		bad := a.submit(acme, acme+"settings/", url.Values{"form": {"settings"}, "display_name": {"Acme Inc"}, "require_2fa": {"true"}, "staging": {"sometimes"}})
		wantStatus(t, bad, http.StatusBadRequest, "an unknown staging")
		if got := bad.text("#settings-form #refusal-settings"); !strings.Contains(got, "Unknown staging") {
			t.Errorf("an unknown staging: %q", got)
		}
		if got := attr(bad.find("#settings-display-name"), "value"); got != "Acme Inc" {
			t.Errorf("the display name typed was not kept: %q", got)
		}
		if bad.find(`#settings-form input[name=require_2fa][checked]`) == nil {
			t.Error("the requirement ticked was not kept")
		}

		wantRedirect(t, a.submit(acme, acme+"settings/", url.Values{"display_name": {"Acme Corp"}, "require_2fa": {"true"}, "staging": {"none"}}),
			acme+"?notice=org-settings-changed", "require 2FA")
		page := a.get(acme)
		if got := page.text("#settings-state"); !strings.Contains(got, "required of every member") {
			t.Errorf("the settings say %q", got)
		}
		if page.find(`#settings-form input[name=require_2fa][checked]`) == nil {
			t.Error("the form does not show the requirement on")
		}
		if got := page.text(`#unprotected li[data-user="bob"]`); got != "bob (Member)" {
			t.Fatalf("the unprotected members: %q", page.text("#unprotected"))
		}
		if page.find(`#unprotected li[data-user="alice"]`) != nil {
			t.Error("alice, with an authenticator app, is listed as unprotected")
		}
		if row := page.find(`#members tr[data-user="bob"]`); !strings.Contains(attr(row, "class"), "unprotected") {
			t.Error("bob's row is not highlighted")
		}
		if got := page.text(`#members tr[data-user="bob"] td.two-factor`); got != "none" {
			t.Errorf("bob's two-factor: %q", got)
		}
		// A Member does not get the list.
		if fx.sessionBrowser("bob", bob.ID, accounts.LevelFull, 0).get(acme).find("#unprotected") != nil {
			t.Error("the Member sees the unprotected list")
		}

		fx.withTOTP(bob)
		if a.get(acme).find("#unprotected") != nil {
			t.Error("bob is still listed as unprotected with an authenticator app")
		}
	})
}

// TestOrganizationHistory: the Owner's history page lists the organization's events with their labels.
func TestOrganizationHistory(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice, bob := fx.user("alice"), fx.user("bob")
		fx.ownedProject(t, alice)
		a := fx.orgOwner(t, alice)
		fx.orgMember(t, a, bob)
		wantRedirect(t, a.submit(acme, acme+"projects/in/", url.Values{"project": {"demo-pkg"}}), acme+"?notice=project-moved-in", "move in")
		wantRedirect(t, a.submit(acme, acme+"teams/create/", url.Values{"team": {"release"}}), acme+"?notice=team-created", "create a team")
		wantRedirect(t, a.submit(acme, acme+"settings/", url.Values{"require_2fa": {"true"}, "staging": {"none"}}), acme+"?notice=org-settings-changed", "settings")

		page := a.get(acme + "history/")
		wantStatus(t, page, http.StatusOK, "the history page")
		h := page.text("#history")
		for _, want := range []string{"Organization created", "Member invited", "Invitation accepted: joined the organization",
			"Project moved into the organization", "Team created", "Organization settings changed", "bob invited as Member"} {
			if !strings.Contains(h, want) {
				t.Errorf("the history does not say %q: %q", want, h)
			}
		}
		if strings.Contains(h, "org:") {
			t.Errorf("an event without its label: %q", h)
		}
		stale := fx.sessionBrowser("alice-stale", alice.ID, accounts.LevelFull, 31*time.Minute)
		if got := stale.get(acme + "history/"); got.status() != http.StatusOK {
			t.Errorf("the history needs no confirmation: %d", got.status())
		}
	})
}

// TestOrganizationLastOwner: the last Owner cannot leave, and the page says why; once another member is an Owner,
// they can.
func TestOrganizationLastOwner(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice, bob := fx.user("alice"), fx.user("bob")
		a := fx.orgOwner(t, alice)
		fx.orgMember(t, a, bob)

		refused := a.submit(acme, acme+"leave/", url.Values{"form": {"leave"}})
		wantStatus(t, refused, http.StatusConflict, "the last Owner leaves")
		if got := refused.text("#leave-form #refusal-leave"); got != "An organization must keep at least one Owner: make another member an Owner first." {
			t.Errorf("the refusal says %q", got)
		}
		if refused.find("#members") == nil || fx.orgRole(t, "alice") != store.OrgRoleOwner {
			t.Fatal("the refusal is not on the page, or alice left")
		}

		fx.withTOTP(bob)
		wantRedirect(t, a.submit(acme, acme+"role/", url.Values{"username": {"bob"}, "role": {"Owner"}}), acme+"?notice=org-role-changed", "make bob an Owner")
		wantRedirect(t, a.submit(acme, acme+"leave/", nil), myOrgs+"?notice=org-left", "leave")
		if got := fx.orgRole(t, "alice"); got != "" {
			t.Fatalf("alice is still %q", got)
		}
	})
}
