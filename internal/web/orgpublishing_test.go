package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/store"
)

// orgInvite has the Owner (a) invite user into acme with role, and user accept; it returns user's browser.
func (fx *fixture) orgInvite(t *testing.T, a *browser, user store.Account, role string) *browser {
	t.Helper()
	wantRedirect(t, a.submit(acme, acme+"invite/", url.Values{"username": {user.Username}, "role": {role}}), acme+"?notice=org-invited", "invite "+user.Username)
	b := fx.sessionBrowser(user.Username, user.ID, accounts.LevelFull, 0)
	wantRedirect(t, b.submit(myOrgs, orgAnswer, url.Values{"org": {"acme"}, "accept": {"true"}}), acme+"?notice=org-joined", user.Username+" accepts")
	return b
}

// TestOrgPublishersForSeveralProjects: an Owner with an authenticator app adds one GitHub publisher for two of
// the organization's three projects from its page; both projects' publishing pages list it and the third has
// none. A refusal of what was typed shows next to the form, with the fields and the projects ticked kept.
func TestOrgPublishersForSeveralProjects(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		tok := fx.ownedProject(t, alice)
		for _, name := range []string{"other-pkg", "third-pkg"} {
			if code := fx.upload(t, fx.browser("twine"), tok, name, "1.0"); code != http.StatusOK {
				t.Fatalf("upload %s: %d", name, code)
			}
		}
		a := fx.orgOwner(t, alice)
		for _, name := range []string{"demo-pkg", "other-pkg", "third-pkg"} {
			wantRedirect(t, a.submit(acme, acme+"projects/in/", url.Values{"project": {name}}), acme+"?notice=project-moved-in", "move in "+name)
		}

		page := a.get(acme)
		for _, name := range []string{"demo-pkg", "other-pkg", "third-pkg"} {
			if page.find(`#org-publishers form#publishers-add-github input[name=project][value=`+name+`]`) == nil {
				t.Fatalf("the Owner's page offers no checkbox for %s: %q", name, page.text("#org-publishers"))
			}
		}
		const add = acme + "publishers/add/"
		values := func(ownerID string, projects ...string) url.Values {
			v := githubPublisher(ownerID)
			v.Set("form", "publishers-add-github")
			v["project"] = projects
			return v
		}

		bad := a.submit(acme, add, values("octo", "demo-pkg", "other-pkg"))
		wantStatus(t, bad, http.StatusBadRequest, "a non-numeric owner id")
		if got := bad.text("form#publishers-add-github #refusal-publishers-add-github"); !strings.Contains(got, "owner's id is the number GitHub gives") {
			t.Errorf("the refusal next to the form says %q", got)
		}
		if got := attr(bad.find(`form#publishers-add-github input[name=owner_id]`), "value"); got != "octo" {
			t.Errorf("the owner id typed is not kept: %q", got)
		}
		if bad.find(`form#publishers-add-github input[name=project][value=other-pkg][checked]`) == nil ||
			bad.find(`form#publishers-add-github input[name=project][value=third-pkg][checked]`) != nil {
			t.Error("the projects ticked are not kept as they were")
		}
		none := a.submit(acme, add, values("123"))
		wantStatus(t, none, http.StatusBadRequest, "no project ticked")
		if got := none.text("#refusal-publishers-add-github"); !strings.Contains(got, "Choose the projects") {
			t.Errorf("no project ticked: %q", got)
		}
		for _, name := range []string{"demo-pkg", "other-pkg", "third-pkg"} {
			if n := len(fx.publishers(t, name)); n != 0 {
				t.Fatalf("%s has %d publishers after refusals", name, n)
			}
		}

		wantRedirect(t, a.submit(acme, add, values("123", "demo-pkg", "other-pkg")), acme+"?notice=org-publishers-added", "add for two projects")
		for _, name := range []string{"demo-pkg", "other-pkg"} {
			ps := fx.publishers(t, name)
			if len(ps) != 1 {
				t.Fatalf("%s has %d publishers, want 1", name, len(ps))
			}
			pub := a.get("/manage/project/" + name + "/publishing/")
			row := `#publishers tr[data-publisher-id="` + itoa(ps[0].ID) + `"]`
			if got := pub.text(row + " td.description"); got != "GitHub repository octo/demo, workflow release.yml" {
				t.Errorf("%s's publishing page lists %q", name, pub.text("#publishers"))
			}
		}
		if n := len(fx.publishers(t, "third-pkg")); n != 0 {
			t.Errorf("third-pkg, not ticked, has %d publishers", n)
		}
	})
}

// TestOrgPendingPublisher: a Manager with an authenticator app registers a pending publisher whose first publish
// creates a project in the organization; a bad name is refused next to the form with what was typed kept, a stale
// session is sent to confirm its password first, and a Member gets no form and is refused when posting anyway.
func TestOrgPendingPublisher(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice, bob, carol := fx.user("alice"), fx.user("bob"), fx.user("carol")
		a := fx.orgOwner(t, alice)
		// Both have a second factor: what keeps the Member out is the role.
		fx.withTOTP(bob)
		fx.withTOTP(carol)
		b := fx.orgInvite(t, a, bob, "Manager")
		c := fx.orgInvite(t, a, carol, "Member")
		const pending = acme + "publishers/pending/"

		if page := b.get(acme); page.find(`#org-pending form#pending-add-github input[name=project_name]`) == nil {
			t.Fatalf("the Manager's page has no pending publisher form: %q", page.text("main"))
		}
		member := c.get(acme)
		wantStatus(t, member, http.StatusOK, "the Member's page")
		if member.find(`form[action=`+pending+`]`) != nil {
			t.Error("the Member's page has the pending publisher form")
		}
		if got := member.text("#org-pending-denied"); !strings.Contains(got, "create projects in organization 'acme'") {
			t.Errorf("the Member is not told why: %q", got)
		}
		with := func(name string) url.Values {
			v := githubPublisher("123")
			v.Set("form", "pending-add-github")
			v.Set("project_name", name)
			return v
		}
		refused := c.post(pending, url.Values{"project_name": {"new-pkg"}, "kind": {"github"}, "owner": {"Octo"}, "repository": {"demo"},
			"owner_id": {"123"}, "workflow": {"release.yml"}, "csrf_token": {c.csrf(acme, acme+"leave/")}})
		wantStatus(t, refused, http.StatusForbidden, "a Member's pending publisher")
		if got := refused.text("p.error"); !strings.Contains(got, "create projects in organization 'acme'") {
			t.Errorf("the Member's refusal says %q", got)
		}

		bad := b.submit(acme, pending, with("-bad-"))
		wantStatus(t, bad, http.StatusBadRequest, "a bad project name")
		if got := bad.text("form#pending-add-github #refusal-pending-add-github"); !strings.Contains(got, "not a valid project name") {
			t.Errorf("the refusal next to the form says %q", got)
		}
		if got := attr(bad.find("#pending-add-github-project"), "value"); got != "-bad-" {
			t.Errorf("the name typed is not kept: %q", got)
		}

		stale := fx.sessionBrowser("bob-stale", bob.ID, accounts.LevelFull, 31*time.Minute)
		wantRedirect(t, stale.submit(acme, pending, with("new-pkg")), "/account/reauthenticate/?next="+url.QueryEscape(acme),
			"without a recent confirmation")

		wantRedirect(t, b.submit(acme, pending, with("new-pkg")), acme+"?notice=org-pending-publisher-added", "the Manager's pending publisher")
		o, err := fx.db.OrganizationByName(ctx, "acme")
		if err != nil {
			t.Fatal(err)
		}
		ps, err := fx.db.PendingPublishers(ctx, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 || ps[0].PendingName != "new-pkg" || ps[0].OrgID != o.ID {
			t.Fatalf("bob's pending publishers: %+v, want one for new-pkg in organization %d", ps, o.ID)
		}
		if ps, err := fx.db.PendingPublishers(ctx, carol.ID); err != nil || len(ps) != 0 {
			t.Errorf("carol's pending publishers: %+v %v", ps, err)
		}
	})
}

// TestAdminApprovesOrganization: an organization waiting for approval is listed on the administrators' page; a
// non-administrator's approval is refused, an administrator's approves it and gives it its public page.
func TestAdminApprovesOrganization(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		root, alice := fx.user("root"), fx.user("alice")
		if err := fx.db.SetAdmin(ctx, root.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.db.CreateOrganization(ctx, store.Organization{Name: "acme", NormalizedName: "acme", DisplayName: "Acme Corp",
			CreatedBy: alice.ID, CreatedAt: fx.clock.Now()}, "acme", alice.ID); err != nil {
			t.Fatal(err)
		}
		approved := func() bool {
			t.Helper()
			o, err := fx.db.OrganizationByName(ctx, "acme")
			if err != nil {
				t.Fatal(err)
			}
			return !o.ApprovedAt.IsZero()
		}
		const approve = "/admin/organizations/approve/"

		r := fx.sessionBrowser("root", root.ID, accounts.LevelFull, 0)
		page := r.get("/admin/")
		wantStatus(t, page, http.StatusOK, "the admin page")
		if got := page.text(`#org-requests tr[data-org="acme"]`); !strings.Contains(got, "Acme Corp") || !strings.Contains(got, "alice") {
			t.Fatalf("the waiting organizations: %q", page.text("#org-requests"))
		}
		wantStatus(t, fx.browser("stranger").get("/org/acme/"), http.StatusNotFound, "the profile before the approval")

		a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
		refused := a.post(approve, url.Values{"org": {"acme"}, "csrf_token": {a.csrf(myOrgs, orgCreate)}})
		wantStatus(t, refused, http.StatusForbidden, "a non-administrator's approval")
		if approved() {
			t.Fatal("a non-administrator approved the organization")
		}

		wantRedirect(t, r.submit("/admin/", approve, url.Values{"org": {"acme"}}), "/admin/?notice=org-approved", "approve")
		if !approved() {
			t.Fatal("the organization is still waiting")
		}
		after := r.get("/admin/")
		if after.find(`#org-requests tr[data-org="acme"]`) != nil || after.find("#no-org-requests") == nil {
			t.Errorf("the waiting organizations after the approval: %q", after.text("#org-requests"))
		}
		wantStatus(t, fx.browser("stranger").get("/org/acme/"), http.StatusOK, "the profile after the approval")
	})
}
