package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/accounts"
	"wharf/internal/audit"
	"wharf/internal/critical"
	"wharf/internal/notify"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
	"wharf/internal/web"
)

// watchedStore counts what the pages read through the store: the administrators' lists and the reads of one
// account or one project, which a list that read its rows one by one would make once per row.
type watchedStore struct {
	web.Store
	mu    sync.Mutex
	reads map[string]int
}

func (s *watchedStore) count(method string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads[method]++
}

// since returns the counts and starts them over.
func (s *watchedStore) since() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := maps.Clone(s.reads)
	clear(s.reads)
	return out
}

func (s *watchedStore) AdminAccounts(ctx context.Context, q store.ListQuery) (store.ListPage[store.AdminAccount], error) {
	s.count("AdminAccounts")
	return s.Store.AdminAccounts(ctx, q)
}

func (s *watchedStore) AccountByID(ctx context.Context, id int64) (store.Account, error) {
	s.count("AccountByID")
	return s.Store.AccountByID(ctx, id)
}

func (s *watchedStore) AccountByName(ctx context.Context, username string) (store.Account, error) {
	s.count("AccountByName")
	return s.Store.AccountByName(ctx, username)
}

func (s *watchedStore) ProjectsOfUser(ctx context.Context, userID int64) ([]store.ProjectSummary, error) {
	s.count("ProjectsOfUser")
	return s.Store.ProjectsOfUser(ctx, userID)
}

func (s *watchedStore) TokensForUser(ctx context.Context, userID int64) ([]store.Token, error) {
	s.count("TokensForUser")
	return s.Store.TokensForUser(ctx, userID)
}

func (s *watchedStore) Collaborators(ctx context.Context, projectID int64) ([]store.Collaborator, error) {
	s.count("Collaborators")
	return s.Store.Collaborators(ctx, projectID)
}

func (s *watchedStore) ProjectProtection(ctx context.Context, projectID int64) (store.Protection, error) {
	s.count("ProjectProtection")
	return s.Store.ProjectProtection(ctx, projectID)
}

// TestAdminUsers: the users' list shows 50 accounts a page, by name, each with its second factors and recovery
// codes, administration, state, address and projects, read in one go whatever the page's length; it pages both
// ways, finds accounts by the start of a name or an address, and disables an account only when the administrator
// confirms it.
func TestAdminUsers(t *testing.T) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			watch := &watchedStore{reads: map[string]int{}}
			fx := newFixtureWith(t, e, fixtureOptions{pages: func(db web.Store) web.Store { watch.Store = db; return watch }})
			ctx := context.Background()
			root, alice, bob, carol := fx.user("root"), fx.user("alice"), fx.user("bob"), fx.user("carol")
			if err := fx.db.SetAdmin(ctx, root.ID, true); err != nil {
				t.Fatal(err)
			}
			fx.withTOTP(alice)
			fx.withKey(alice)
			fx.withTOTP(bob)
			fx.withKey(carol)
			codes, err := fx.recovery.Regenerate(ctx, alice.ID, audit.Request{})
			if err != nil {
				t.Fatal(err)
			}
			fx.addRelease(t, alice, "alices-tool", "1.0", nil)
			if _, err := fx.db.CreateUser(ctx, store.User{Username: "dave", Email: "dave@example.com", PasswordHash: testPasswordHash(),
				CreatedAt: fx.clock.Now()}); err != nil {
				t.Fatal(err)
			}
			erin := fx.user("erin")
			if err := fx.db.SetUserDisabled(ctx, erin.ID, true, fx.clock.Now()); err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				fx.user(fmt.Sprintf("user%02d", i))
			}
			b := fx.sessionBrowser("root", root.ID, accounts.LevelFull, 0)

			// 56 accounts: alice to erin, root and user00 to user43 on the first page, user44 to user49 on the second.
			watch.since()
			first := b.get("/admin/users/")
			wantStatus(t, first, 200, "the first page")
			firstReads := watch.since()
			rows := findAll(first.doc, "table.users tbody tr")
			if len(rows) != 50 || attr(rows[0], "data-user") != "alice" || attr(rows[49], "data-user") != "user43" {
				t.Fatalf("first page: %d rows", len(rows))
			}
			if first.find("a#prev-page") != nil {
				t.Error("the first page links a page before it")
			}
			second := b.get(attr(first.find("a#next-page"), "href"))
			secondReads := watch.since()
			rows = findAll(second.doc, "table.users tbody tr")
			if len(rows) != 6 || attr(rows[0], "data-user") != "user44" || second.find("a#next-page") != nil {
				t.Fatalf("second page: %d rows, from %q", len(rows), attr(rows[0], "data-user"))
			}
			// Fifty rows read as much as six: the list is one read, never one per account.
			if firstReads["AdminAccounts"] != 1 || !cmp.Equal(firstReads, secondReads) {
				t.Errorf("reads of a page of 50 %v, of a page of 6 %v", firstReads, secondReads)
			}
			back := b.get(attr(second.find("a#prev-page"), "href"))
			if rows := findAll(back.doc, "table.users tbody tr"); len(rows) != 50 || attr(rows[0], "data-user") != "alice" {
				t.Errorf("back to the first page: %d rows", len(rows))
			}

			cell := func(p *page, user, class string) string { return p.text(`tr[data-user=` + user + `] td.` + class) }
			for _, tc := range []struct{ user, twoFactor string }{
				{"alice", "both " + strconv.Itoa(len(codes)) + " recovery codes left"},
				{"bob", "TOTP 0 recovery codes left"},
				{"carol", "security keys 0 recovery codes left"},
				{"user00", "none"},
			} {
				if got := cell(first, tc.user, "two-factor"); got != tc.twoFactor {
					t.Errorf("%s's two-factor: %q, want %q", tc.user, got, tc.twoFactor)
				}
			}
			if got := cell(first, "alice", "projects") + "/" + cell(first, "bob", "projects"); got != "1/0" {
				t.Errorf("projects of alice and bob: %s", got)
			}
			if !strings.Contains(first.text(`tr[data-user=root]`), "admin") || first.find(`tr[data-user=root] form[action=/admin/users/disable/]`) != nil {
				t.Error("root is not shown as an administrator, or may disable itself")
			}
			if !strings.Contains(first.text(`tr[data-user=dave]`), "unverified") || strings.Contains(first.text(`tr[data-user=alice]`), "unverified") {
				t.Error("the unverified address is not the one marked")
			}
			if cell(first, "erin", "status") != "disabled" || first.find(`tr[data-user=erin] form[action=/admin/users/enable/]`) == nil {
				t.Errorf("erin's status: %q", cell(first, "erin", "status"))
			}
			if first.find("table.users td[data-label=Two-factor]") == nil || first.find("div.table-wrap table.users") == nil {
				t.Error("the table does not stack on a narrow screen")
			}

			for q, want := range map[string][]string{
				"CAR":             {"carol"},
				"dave@example":    {"dave"},
				"ar":              nil, // the start of a name, not any part of it
				"%":               nil,
				"user4":           {"user40", "user41", "user42", "user43", "user44", "user45", "user46", "user47", "user48", "user49"},
				"nobody-of-those": nil,
			} {
				var got []string
				for _, r := range findAll(b.get("/admin/users/?q="+url.QueryEscape(q)).doc, "table.users tbody tr[data-user]") {
					got = append(got, attr(r, "data-user"))
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("search %q (-want +got):\n%s", q, diff)
				}
			}

			// Disabling asks for a confirmation that says what it does; without it, nothing changes and the list
			// shows the same rows with the refusal inside the form.
			form := fmt.Sprintf("disable-%d", carol.ID)
			if box := first.text(`tr[data-user=carol] details.confirm`); !strings.Contains(box, "ends every session") || !strings.Contains(box, "API tokens") {
				t.Errorf("the confirmation says %q", box)
			}
			refused := b.submit("/admin/users/?q=car", "/admin/users/disable/", url.Values{"form": {form}, "username": {"carol"}, "q": {"car"}})
			wantStatus(t, refused, http.StatusBadRequest, "disable without the confirmation")
			if got := refused.text("#refusal-" + form); !strings.Contains(got, "Tick the box") {
				t.Errorf("the refusal says %q", got)
			}
			if refused.find(`tr[data-user=carol] details.confirm[open]`) == nil || refused.find(`tr[data-user=alice]`) != nil {
				t.Error("the page shown again is not the search the form was on, with the form open")
			}
			if fx.account(carol.ID).Disabled {
				t.Fatal("disabled without the confirmation")
			}
			wantRedirect(t, b.submit("/admin/users/?q=car", "/admin/users/disable/", url.Values{"form": {form}, "username": {"carol"},
				"q": {"car"}, "confirm": {"yes"}}), "/admin/users/?notice=user-disabled&q=car", "disable with the confirmation")
			if !fx.account(carol.ID).Disabled {
				t.Fatal("not disabled with the confirmation")
			}
		})
	}
}

// TestAdminProjects: the projects' list shows each project's critical status and how it came to be (by downloads,
// or by an administrator), whether every collaborator has a second factor, its organization, files and size.
func TestAdminProjects(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		root, alice, bob := fx.user("root"), fx.user("alice"), fx.user("bob")
		if err := fx.db.SetAdmin(ctx, root.ID, true); err != nil {
			t.Fatal(err)
		}
		fx.withKey(alice)
		for _, name := range []string{"hand-picked", "popular", "org-held"} {
			fx.addRelease(t, alice, name, "1.0", nil)
		}
		fx.addRelease(t, bob, "quiet", "1.0", nil)
		fx.addRelease(t, bob, "quiet", "1.1", nil)
		popular, err := fx.db.ProjectByName(ctx, "popular")
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.db.AddRole(ctx, popular.ID, bob.ID, store.RoleMaintainer, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		org, err := fx.db.CreateOrganization(ctx, store.Organization{Name: "acme", NormalizedName: "acme", DisplayName: "Acme",
			CreatedAt: fx.clock.Now(), ApprovedAt: fx.clock.Now()}, "acme", alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		held, err := fx.db.ProjectByName(ctx, "org-held")
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.db.MoveProject(ctx, held.ID, org.ID, alice.ID, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}

		// popular is designated by the daily job for its downloads, hand-picked by an administrator.
		day := fx.clock.Now().AddDate(0, 0, -1).Format(time.DateOnly)
		if err := fx.db.AddDownloads(ctx, day, map[int64]int64{popular.ID: 1000}); err != nil {
			t.Fatal(err)
		}
		letters, err := notify.NewTemplates("Test Index", fx.base)
		if err != nil {
			t.Fatal(err)
		}
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		job := critical.NewDesignator(fx.db, audit.New(fx.db, fx.clock.Now, logger), fx.outbox, letters, fx.clock.Now, logger)
		if res, err := job.Recompute(ctx, critical.DefaultOptions(), false); err != nil || len(res.Designated) != 1 {
			t.Fatalf("recompute: %+v, %v", res, err)
		}
		b := fx.sessionBrowser("root", root.ID, accounts.LevelFull, 0)
		wantRedirect(t, b.submit("/admin/policy/", "/admin/policy/critical/", url.Values{"name": {"hand-picked"}, "reason": {"the security team asked"}}),
			"/admin/policy/?notice=critical-marked", "designate by hand")

		p := b.get("/admin/projects/")
		wantStatus(t, p, 200, "the projects' list")
		cell := func(project, class string) string { return p.text(`tr[data-project=` + project + `] td.` + class) }
		type row struct{ Critical, TwoFactor, Org, Files string }
		got := map[string]row{}
		for _, name := range []string{"hand-picked", "popular", "org-held", "quiet"} {
			got[name] = row{cell(name, "critical"), cell(name, "two-factor"), cell(name, "org"), cell(name, "files")}
		}
		today := fx.clock.Now().Format(time.DateOnly)
		want := map[string]row{
			"hand-picked": {"critical by an administrator, since " + today, "fully protected", "", "1"},
			"popular":     {"critical by downloads, since " + today, "not fully protected without: bob", "", "1"},
			"org-held":    {"no", "fully protected", "acme", "1"},
			"quiet":       {"no", "not fully protected without: bob", "", "2"},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("the projects' list (-want +got):\n%s", diff)
		}
		if p.find(`tr[data-project=popular].unprotected`) == nil || p.find(`tr[data-project=hand-picked].unprotected`) != nil {
			t.Error("the critical project without full protection is not the one marked")
		}
		if got := p.text(`tr[data-project=quiet] td[data-label=Size]`); got != "2.4 KiB" {
			t.Errorf("quiet's size: %q", got)
		}
		var found []string
		for _, r := range findAll(b.get("/admin/projects/?q=Hand_").doc, "table.projects tbody tr[data-project]") {
			found = append(found, attr(r, "data-project"))
		}
		if !cmp.Equal(found, []string{"hand-picked"}) {
			t.Errorf("search Hand_: %v", found)
		}
	})
}

// TestReservedNames: reserving an existing project's name needs a confirmation, since it only stops new projects
// of that name, and the list says which names are projects'; releasing a name needs one too, and the history
// keeps it. Both are the administrators' alone.
func TestReservedNames(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		root, alice := fx.user("root"), fx.user("alice")
		if err := fx.db.SetAdmin(ctx, root.ID, true); err != nil {
			t.Fatal(err)
		}
		fx.addRelease(t, alice, "Taken_Name", "1.0", nil)
		b := fx.sessionBrowser("root", root.ID, accounts.LevelFull, 0)
		reserved := func(name string) bool {
			t.Helper()
			ok, err := fx.db.IsNameReserved(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}

		refused := b.submit("/admin/", "/admin/names/", url.Values{"form": {"reserve-name"}, "name": {"taken.name"}, "reason": {"squatted"}})
		wantStatus(t, refused, http.StatusConflict, "reserving a project's name without the confirmation")
		if got := refused.text("#refusal-reserve-name"); !strings.Contains(got, "'Taken_Name' is the name of an existing project; reserving it only stops new projects of that name") {
			t.Errorf("the refusal says %q", got)
		}
		if attr(refused.find("#reserve-name"), "value") != "taken.name" || attr(refused.find("#reserve-reason"), "value") != "squatted" ||
			refused.find(`#reserve-form input[name=confirm][type=checkbox]`) == nil {
			t.Error("the form shown again lost its input, or has no box to confirm")
		}
		if reserved("taken-name") {
			t.Fatal("reserved without the confirmation")
		}
		wantRedirect(t, b.submit("/admin/", "/admin/names/", url.Values{"form": {"reserve-name"}, "name": {"taken.name"}, "reason": {"squatted"},
			"confirm": {"yes"}}), "/admin/?notice=name-reserved", "reserve with the confirmation")
		wantRedirect(t, b.submit("/admin/", "/admin/names/", url.Values{"name": {"free-name"}}), "/admin/?notice=name-reserved",
			"a free name needs no confirmation")
		page := b.get("/admin/")
		if page.find(`tr[data-name=taken-name] .existing-project a[href="/project/Taken_Name/"]`) == nil ||
			page.find(`tr[data-name=free-name] .existing-project`) != nil {
			t.Error("the list does not mark the existing project's name alone")
		}

		form := "unreserve-free-name"
		refused = b.submit("/admin/", "/admin/names/unreserve/", url.Values{"form": {form}, "name": {"free-name"}})
		wantStatus(t, refused, http.StatusBadRequest, "release without the confirmation")
		if !strings.Contains(refused.text("#refusal-"+form), "Tick the box") || refused.find(`tr[data-name=free-name] details.confirm[open]`) == nil {
			t.Errorf("the refusal: %q", refused.text("#refusal-"+form))
		}
		if !reserved("free-name") {
			t.Fatal("released without the confirmation")
		}
		alices := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
		denied := alices.post("/admin/names/unreserve/", url.Values{"name": {"free-name"}, "confirm": {"yes"},
			"csrf_token": {alices.csrf("/manage/account/", "/manage/account/email/")}})
		if denied.status() != http.StatusForbidden || !reserved("free-name") {
			t.Fatalf("a non-administrator's release: %d", denied.status())
		}
		stale := fx.sessionBrowser("stale", root.ID, accounts.LevelFull, 31*time.Minute)
		wantRedirect(t, stale.post("/admin/names/unreserve/", url.Values{"name": {"free-name"}, "confirm": {"yes"},
			"csrf_token": {stale.csrf("/admin/", "/admin/names/unreserve/")}}), "/account/reauthenticate/", "a release without a recent password")
		if !reserved("free-name") {
			t.Fatal("released without a recent password")
		}

		wantRedirect(t, b.submit("/admin/", "/admin/names/unreserve/", url.Values{"form": {form}, "name": {"free-name"}, "confirm": {"yes"}}),
			"/admin/?notice=name-released", "release with the confirmation")
		if reserved("free-name") {
			t.Fatal("not released")
		}
		ev, err := fx.db.Events(ctx, root.ID, 0, 1)
		if err != nil || len(ev) != 1 || ev[0].Kind != "name:unreserve" || ev[0].Detail != "free-name" {
			t.Errorf("root's last event: %+v, %v", ev, err)
		}
		if !strings.Contains(b.get("/manage/account/").text("#history"), "Reserved project name released") {
			t.Error("the history does not show the release in words")
		}
		wantRedirect(t, b.submit("/admin/", "/admin/names/unreserve/", url.Values{"name": {"taken-name"}, "confirm": {"yes"}}),
			"/admin/?notice=name-released", "release the second name")
		wantRedirect(t, b.post("/admin/names/unreserve/", url.Values{"name": {"taken-name"}, "confirm": {"yes"},
			"csrf_token": {b.csrf("/admin/", "/admin/names/")}}), "/admin/?notice=nothing-changed", "release a name no longer reserved")
	})
}

// TestAdminMenu: every administration page has the menu of the others, marking its own.
func TestAdminMenu(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		root := fx.user("root")
		if err := fx.db.SetAdmin(context.Background(), root.ID, true); err != nil {
			t.Fatal(err)
		}
		b := fx.sessionBrowser("root", root.ID, accounts.LevelFull, 0)
		for _, path := range []string{"/admin/", "/admin/users/", "/admin/projects/", "/admin/reports/"} {
			p := b.get(path)
			wantStatus(t, p, 200, path)
			var links []string
			for _, a := range findAll(p.doc, "nav.section-menu a") {
				links = append(links, attr(a, "href"))
			}
			want := []string{"/admin/", "/admin/users/", "/admin/projects/", "/admin/reports/", "/admin/policy/", "/admin/dashboard/"}
			if diff := cmp.Diff(want, links); diff != "" {
				t.Errorf("%s: the menu (-want +got):\n%s", path, diff)
			}
			if current := p.find(`nav.section-menu a[aria-current=page]`); current == nil || attr(current, "href") != path {
				t.Errorf("%s: the menu does not mark the page", path)
			}
		}
	})
}
