package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

const (
	pubPage     = "/manage/project/demo-pkg/publishing/"
	pubAdd      = pubPage + "add/"
	pubRemove   = pubPage + "remove/"
	pubOnly     = pubPage + "trusted-only/"
	pendingPage = "/manage/account/publishing/"
)

// githubPublisher is the GitHub form's input for owner/demo's release.yml.
func githubPublisher(ownerID string) url.Values {
	return url.Values{"kind": {"github"}, "owner": {"Octo"}, "repository": {"demo"}, "owner_id": {ownerID},
		"workflow": {"release.yml"}}
}

func (fx *fixture) publishers(t *testing.T, project string) []store.Publisher {
	t.Helper()
	p, err := fx.db.ProjectByName(context.Background(), project)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := fx.db.ProjectPublishers(context.Background(), p.ID)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestPublishingAddAndRemove: an Owner with a second factor adds a GitHub publisher and sees it described with who
// added it; the same publisher twice and an owner id that is not a number are refused next to the form, with what
// was typed kept; removing asks for a confirmation first.
func TestPublishingAddAndRemove(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		fx.ownedProject(t, alice)
		fx.withTOTP(alice)
		a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)

		page := a.get(pubPage)
		wantStatus(t, page, http.StatusOK, "publishing page")
		for _, sel := range []string{"form#add-github", "form#add-gitlab", "form#add-google", "#no-publishers", "#how-to-publish"} {
			if page.find(sel) == nil {
				t.Errorf("no %s on the Owner's page", sel)
			}
		}
		if got := page.text("#how-to-publish"); !strings.Contains(got, "wharf-test") || !strings.Contains(got, fx.base+"/legacy/") {
			t.Errorf("the explanation does not name the audience and the upload URL: %q", got)
		}

		wantRedirect(t, a.submit(pubPage, pubAdd, githubPublisher("123")), pubPage+"?notice=publisher-added", "add")
		ps := fx.publishers(t, "demo-pkg")
		if len(ps) != 1 {
			t.Fatalf("%d publishers after adding one", len(ps))
		}
		page = a.get(pubPage)
		row := `#publishers tr[data-publisher-id="` + itoa(ps[0].ID) + `"]`
		if got := page.text(row + " td.description"); got != "GitHub repository octo/demo, workflow release.yml" {
			t.Errorf("described as %q", got)
		}
		if got := page.text(row + " td.added"); !strings.HasSuffix(got, "by alice") {
			t.Errorf("added %q", got)
		}

		// The same publisher again.
		twice := a.submit(pubPage, pubAdd, inForm(githubPublisher("123"), "add-github"))
		wantStatus(t, twice, http.StatusBadRequest, "the same publisher twice")
		if got := twice.text("form#add-github #refusal-add-github"); !strings.Contains(got, "already has this publisher") {
			t.Errorf("the refusal says %q", got)
		}
		if got := attr(twice.find(`form#add-github input[name=owner]`), "value"); got != "Octo" {
			t.Errorf("the owner typed is not kept: %q", got)
		}

		// An owner id that is not a number.
		bad := a.submit(pubPage, pubAdd, inForm(githubPublisher("octo"), "add-github"))
		wantStatus(t, bad, http.StatusBadRequest, "a non-numeric owner id")
		if got := bad.text("form#add-github #refusal-add-github"); !strings.Contains(got, "owner's id is the number GitHub gives") {
			t.Errorf("the refusal says %q", got)
		}
		if got := attr(bad.find(`form#add-github input[name=owner_id]`), "value"); got != "octo" {
			t.Errorf("the owner id typed is not kept: %q", got)
		}
		if bad.find("form#add-gitlab p.error") != nil {
			t.Error("the refusal shows next to another form too")
		}
		if n := len(fx.publishers(t, "demo-pkg")); n != 1 {
			t.Fatalf("%d publishers after two refusals", n)
		}

		// A registered issuer gets its own form, with the claims it leaves open.
		is, err := fx.db.AddIssuer(context.Background(), store.Issuer{Name: "forgejo", URL: "https://git.example.org/api/actions",
			Claims: map[string]string{"repository": "", "ref": "refs/heads/main"}, CreatedAt: fx.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		form := "add-oidc-" + itoa(is.ID)
		if a.get(pubPage).find(`form#`+form+` input[name=repository]`) == nil {
			t.Fatal("no form for the registered issuer")
		}
		wantRedirect(t, a.submit(pubPage, pubAdd, url.Values{"kind": {"oidc"}, "issuer": {"forgejo"}, "repository": {"octo/demo"}}),
			pubPage+"?notice=publisher-added", "add a publisher of the registered issuer")
		all := fx.publishers(t, "demo-pkg")
		if len(all) != 2 || all[1].IssuerID != is.ID {
			t.Fatalf("publishers after the issuer's: %+v", all)
		}
		if got := a.get(pubPage).text(`#publishers tr[data-publisher-id="` + itoa(all[1].ID) + `"] td.kind`); got != "forgejo" {
			t.Errorf("the issuer's publisher is listed as %q", got)
		}

		// Removing: the button leads to a confirmation, whose form removes.
		confirm := pubPage + "?remove=" + itoa(ps[0].ID)
		cp := a.get(confirm)
		if got := cp.text("#confirm-remove"); !strings.Contains(got, "GitHub repository octo/demo") {
			t.Fatalf("confirmation %q", got)
		}
		wantRedirect(t, a.submit(confirm, pubRemove, url.Values{"publisher_id": {itoa(ps[0].ID)}}),
			pubPage+"?notice=publisher-removed", "remove")
		if n := len(fx.publishers(t, "demo-pkg")); n != 1 {
			t.Fatalf("%d publishers after the removal, want the issuer's one", n)
		}
		if a.get(pubPage).find(`#publishers tr[data-publisher-id="`+itoa(ps[0].ID)+`"]`) != nil {
			t.Error("the removed publisher is still listed")
		}
		gone := a.post(pubRemove, url.Values{"publisher_id": {itoa(ps[0].ID)}, "csrf_token": {a.csrf(pubPage, pubOnly)}})
		wantStatus(t, gone, http.StatusNotFound, "removing it again")
		if got := gone.refusal(); !strings.Contains(got, "no such publisher") {
			t.Errorf("removing it again says %q", got)
		}
	})
}

// TestPublishingRefusals: the policy's refusals show on the page: an Owner without a second factor is told to
// enable one instead of getting forms, and a post anyway is refused on the page; a Maintainer sees the publishers but no forms, and posting is refused; a
// stranger does not see the page; a stale session is sent to confirm the password and come back.
func TestPublishingRefusals(t *testing.T) {
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

		// The page says why up front, instead of forms that would be refused; a post anyway is refused on the page.
		a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
		if page := a.get(pubPage); page.find("form#add-github") != nil ||
			!strings.Contains(page.text("#denied"), "Enable two-factor authentication for 'alice'") {
			t.Errorf("an Owner without 2FA sees the forms, or not why: %q", page.text("#denied"))
		}
		csrf := a.csrf(pubPage, "/account/logout/")
		add := githubPublisher("123")
		add.Set("csrf_token", csrf)
		refused := a.post(pubAdd, add)
		wantStatus(t, refused, http.StatusForbidden, "an Owner without 2FA adds a publisher")
		if got := refused.text("p.error"); !strings.Contains(got, "Enable two-factor authentication for 'alice'") {
			t.Errorf("the refusal says %q", got)
		}
		if refused.find("#publishers") == nil || refused.find("#error-message") != nil {
			t.Error("the refusal is not on the publishing page")
		}
		only := a.post(pubOnly, url.Values{"on": {"true"}, "csrf_token": {csrf}})
		wantStatus(t, only, http.StatusForbidden, "an Owner without 2FA turns Trusted Publishing only on")
		if !strings.Contains(only.text("p.error"), "before you set up Trusted Publishing") {
			t.Errorf("the refusal says %q", only.text("p.error"))
		}

		fx.withTOTP(bob)
		b := fx.sessionBrowser("bob", bob.ID, accounts.LevelFull, 0)
		mp := b.get(pubPage)
		wantStatus(t, mp, http.StatusOK, "the Maintainer's page")
		if mp.find("form#add-github") != nil || mp.find("#trusted-only-form") != nil || mp.text("#denied") == "" {
			t.Error("the Maintainer sees the Owners' forms, or no reason")
		}
		byBob := b.post(pubAdd, url.Values{"kind": {"github"}, "owner": {"octo"}, "repository": {"demo"}, "owner_id": {"1"},
			"workflow": {"release.yml"}, "csrf_token": {b.csrf(pubPage, "/account/logout/")}})
		wantStatus(t, byBob, http.StatusForbidden, "a Maintainer adds a publisher")
		if got := byBob.text("p.error"); !strings.Contains(got, "Trusted Publishers of project 'demo-pkg'") {
			t.Errorf("the refusal says %q", got)
		}
		if n := len(fx.publishers(t, "demo-pkg")); n != 0 {
			t.Fatalf("%d publishers after the refusals", n)
		}

		carol := fx.user("carol")
		c := fx.sessionBrowser("carol", carol.ID, accounts.LevelFull, 0)
		wantStatus(t, c.get(pubPage), http.StatusForbidden, "a stranger opens the page")
		wantStatus(t, c.get("/manage/project/no-such/publishing/"), http.StatusNotFound, "the page of no project")

		fx.withTOTP(alice)
		stale := fx.sessionBrowser("alice-stale", alice.ID, accounts.LevelFull, 31*time.Minute)
		wantRedirect(t, stale.submit(pubPage, pubAdd, githubPublisher("123")),
			"/account/reauthenticate/?next="+url.QueryEscape(pubPage), "add without a recent confirmation")
		wantRedirect(t, stale.submit(pendingPage, pendingPage+"add/", withName(githubPublisher("123"), "fresh-name")),
			"/account/reauthenticate/?next="+url.QueryEscape(pendingPage), "pending without a recent confirmation")
		if n := len(fx.publishers(t, "demo-pkg")); n != 0 {
			t.Fatalf("%d publishers added without a confirmation", n)
		}
	})
}

// TestPublishingTrustedOnly: turning "Trusted Publishing only" on shows it on, refuses the Owner's API token, and
// shows in the project's security history under its label.
func TestPublishingTrustedOnly(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		tok := fx.ownedProject(t, alice)
		fx.withTOTP(alice)
		a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
		if got := a.get(pubPage).text("#trusted-only-state"); !strings.HasPrefix(got, "off") {
			t.Fatalf("before: %q", got)
		}
		wantRedirect(t, a.submit(pubPage, pubOnly, url.Values{"on": {"true"}}), pubPage+"?notice=trusted-only-on", "turn on")
		page := a.get(pubPage)
		if got := page.text("#trusted-only-state"); !strings.HasPrefix(got, "on") {
			t.Errorf("after: %q", got)
		}
		if got := attr(page.find(`#trusted-only-form input[name=on]`), "value"); got != "false" {
			t.Errorf("the switch offers on=%q, want false", got)
		}
		if code := fx.upload(t, fx.browser("twine"), tok, "demo-pkg", "1.1"); code != http.StatusForbidden {
			t.Errorf("an API token uploads to a Trusted Publishing only project: %d", code)
		}
		h := a.get("/manage/project/demo-pkg/history/")
		if !strings.Contains(h.text("#history"), "Trusted Publishing only switched") {
			t.Errorf("the history does not show the switch: %q", h.text("#history"))
		}
		if got := a.get("/manage/projects/").find(`tr[data-project=demo-pkg] a[href="` + pubPage + `"]`); got == nil {
			t.Error("the projects page does not link the publishing page")
		}
	})
}

func withName(v url.Values, name string) url.Values {
	v.Set("project_name", name)
	return v
}

// inForm names the form v is posted from, as the page's hidden "form" field does: its refusal shows inside it.
func inForm(v url.Values, form string) url.Values {
	v.Set("form", form)
	return v
}

// TestPendingPublishers: a pending publisher for a free name is listed with its expiry and can be removed; a name
// that is a project already, or a standard library module's, is refused with the reason.
func TestPendingPublishers(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice, bob := fx.user("alice"), fx.user("bob")
		fx.ownedProject(t, bob)
		fx.withTOTP(alice)
		a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
		if a.get("/manage/account/").find(`#publishing a[href="`+pendingPage+`"]`) == nil {
			t.Error("the account page does not link the pending publishers")
		}
		page := a.get(pendingPage)
		wantStatus(t, page, http.StatusOK, "pending page")
		if page.find("#no-pending") == nil || page.find(`form#add-github input[name=project_name]`) == nil {
			t.Fatal("no empty list, or no form with a project name")
		}

		wantRedirect(t, a.submit(pendingPage, pendingPage+"add/", withName(githubPublisher("123"), "Fresh_Thing")),
			pendingPage+"?notice=pending-publisher-added", "add pending")
		page = a.get(pendingPage)
		row := page.find(`#pending-publishers tr[data-project=fresh-thing]`)
		if row == nil {
			t.Fatalf("not listed: %q", page.text("#pending-publishers"))
		}
		if got := textOf(find(row, "td.description")); got != "GitHub repository octo/demo, workflow release.yml" {
			t.Errorf("described as %q", got)
		}
		if got := textOf(find(row, "td.expires")); !strings.HasPrefix(got, t0.Add(30*24*time.Hour).Format("2006-01-02")) {
			t.Errorf("expires %q", got)
		}

		for _, c := range []struct{ name, want string }{
			{"demo-pkg", "Project 'demo-pkg' exists already"},
			{"os", "conflict with Python Standard Library module name"},
		} {
			p := a.submit(pendingPage, pendingPage+"add/", inForm(withName(githubPublisher("123"), c.name), "add-github"))
			wantStatus(t, p, http.StatusBadRequest, "pending publisher for "+c.name)
			if got := p.text("form#add-github #refusal-add-github"); !strings.Contains(got, c.want) {
				t.Errorf("%s: the refusal says %q", c.name, got)
			}
			if got := attr(p.find(`form#add-github input[name=project_name]`), "value"); got != c.name {
				t.Errorf("%s: the name typed is not kept: %q", c.name, got)
			}
		}

		id := attr(row, "data-publisher-id")
		wantRedirect(t, a.submit(pendingPage+"?remove="+id, pendingPage+"remove/", url.Values{"publisher_id": {id}}),
			pendingPage+"?notice=pending-publisher-removed", "remove pending")
		if a.get(pendingPage).find("#no-pending") == nil {
			t.Error("the removed pending publisher is still listed")
		}
		// Someone else's id is not found.
		b := fx.sessionBrowser("bob", bob.ID, accounts.LevelFull, 0)
		fx.withTOTP(bob)
		wantRedirect(t, b.submit(pendingPage, pendingPage+"add/", withName(githubPublisher("9"), "bobs-thing")), pendingPage, "bob adds")
		pend, err := fx.db.PendingPublishers(context.Background(), bob.ID)
		if err != nil || len(pend) != 1 {
			t.Fatalf("bob's pending publishers: %v %v", pend, err)
		}
		other := a.post(pendingPage+"remove/", url.Values{"publisher_id": {itoa(pend[0].ID)}, "csrf_token": {a.csrf(pendingPage, pendingPage+"add/")}})
		wantStatus(t, other, http.StatusNotFound, "alice removes bob's pending publisher")
	})
}

// TestReleasePagePublisher: a file uploaded by a Trusted Publisher says so on the release page and the project
// page, naming the CI job; a file uploaded with a user's token says nothing.
func TestReleasePagePublisher(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice := fx.user("alice")
		fx.ownedProject(t, alice)
		if err := fx.db.CreatePublisherToken(ctx, store.PublisherToken{ID: "tp-1", Publishers: []int64{},
			Identity: map[string]string{"kind": "github", "issuer": "https://token.actions.githubusercontent.com",
				"repository": "octo/demo", "workflow": "release.yml", "ref": "refs/tags/v1.0", "sha": "0123abcd"},
			CreatedAt: fx.clock.Now(), ExpiresAt: fx.clock.Now().Add(15 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		pi, err := fx.db.ProjectIndex(ctx, "demo-pkg")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.db.AddFile(ctx, store.NewFile{ProjectName: "demo-pkg", NormalizedName: "demo-pkg",
			UltraName: pypkg.UltraNormalizeName("demo-pkg"), PublisherTokenID: "tp-1",
			Version: "1.0", CanonicalVersion: pi.Releases[0].CanonicalVersion, Filename: "demo_pkg-1.0.tar.gz",
			PackageType: "sdist", PythonVersion: "source", Size: 10, SHA256: strings.Repeat("ab", 32),
			MD5: strings.Repeat("cd", 16), Blake2b256: strings.Repeat("ef", 32), Now: fx.clock.Now()}); err != nil {
			t.Fatal(err)
		}
		const want = "Published with Trusted Publishing from GitHub repository octo/demo, workflow release.yml, ref refs/tags/v1.0, sha 0123abcd"
		for _, path := range []string{"/project/demo-pkg/1.0/", "/project/demo-pkg/"} {
			p := fx.browser("anyone").get(path)
			wantStatus(t, p, http.StatusOK, path)
			marks := findAll(p.doc, "#files .trusted-publisher")
			if len(marks) != 1 || textOf(marks[0]) != want {
				var got []string
				for _, m := range marks {
					got = append(got, textOf(m))
				}
				t.Errorf("%s: marks %q, want one %q", path, got, want)
			}
		}
	})
}
