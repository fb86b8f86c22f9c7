package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/critical"
	"wharf/internal/mandate"
	"wharf/internal/notify"
)

// TestAdminPolicy: administrators place users and projects under the mandate's enforce phase early and lift it,
// and designate and release critical projects, from the two-factor policy page, each with a reason that the
// security history keeps; everyone else is refused by the policy.
func TestAdminPolicy(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		root, alice, bob := fx.user("root"), fx.user("alice"), fx.user("bob")
		if err := fx.db.SetAdmin(ctx, root.ID, true); err != nil {
			t.Fatal(err)
		}
		fx.ownedProject(t, alice)
		const page = "/admin/policy/"

		denied := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0).get(page)
		if denied.status() != http.StatusForbidden || !strings.Contains(denied.refusal(), "Only the administrators") {
			t.Errorf("a non-administrator: %d %q", denied.status(), denied.refusal())
		}
		b := fx.sessionBrowser("root", root.ID, accounts.LevelFull, 0)
		if got := b.get(page).text("#phase"); got != "none" {
			t.Errorf("phase shown %q", got)
		}
		events := func(userID, projectID int64) []string {
			t.Helper()
			ev, err := fx.db.Events(ctx, userID, projectID, 20)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range ev {
				out = append(out, e.Kind+": "+e.Detail)
			}
			return out
		}

		wantRedirect(t, b.submit(page, "/admin/policy/early/", url.Values{"kind": {"user"}, "name": {"BOB"}, "reason": {"maintains the build tools"}}),
			page+"?notice=early-enforced", "enforce bob early")
		if got := b.get(page).text("#early tbody"); !strings.Contains(got, "bob") || !strings.Contains(got, "maintains the build tools") {
			t.Errorf("the list of early enforcements: %q", got)
		}
		if ev := events(bob.ID, 0); !slices.Contains(ev, mandate.EventEnforceEarly+": placed under the 2FA mandate's enforce phase early: maintains the build tools") {
			t.Errorf("bob's history: %v", ev)
		}
		if enforced, _ := fx.db.EarlyEnforced(ctx, bob.ID, 0); !enforced {
			t.Error("bob is not under enforce")
		}
		for _, tc := range []struct {
			form   url.Values
			status int
			says   string
		}{
			{url.Values{"kind": {"user"}, "name": {"nobody"}, "reason": {"x"}}, http.StatusNotFound, "There is no user of that name"},
			{url.Values{"kind": {"user"}, "name": {"bob"}, "reason": {" "}}, http.StatusBadRequest, "Give the reason"},
			{url.Values{"kind": {"team"}, "name": {"bob"}, "reason": {"x"}}, http.StatusBadRequest, "Name a user, a project or an organization"},
		} {
			p := b.submit(page, "/admin/policy/early/", tc.form)
			if p.status() != tc.status || !strings.Contains(p.refusal(), tc.says) {
				t.Errorf("%v: %d %q", tc.form, p.status(), p.refusal())
			}
		}
		wantRedirect(t, b.submit(page, "/admin/policy/early/", url.Values{"kind": {"user"}, "name": {"bob"}, "lift": {"1"}, "reason": {"has a key now"}}),
			page+"?notice=early-lifted", "lift")
		if enforced, _ := fx.db.EarlyEnforced(ctx, bob.ID, 0); enforced {
			t.Error("bob is still under enforce")
		}

		// Designation mails the collaborators; a release needs a reason and is in the project's history.
		wantRedirect(t, b.submit(page, "/admin/policy/critical/", url.Values{"name": {"Demo_Pkg"}, "reason": {"everything depends on it"}}),
			page+"?notice=critical-marked", "designate")
		p, err := fx.db.ProjectByName(ctx, "demo-pkg")
		if err != nil {
			t.Fatal(err)
		}
		if prot, _ := fx.db.ProjectProtection(ctx, p.ID); !prot.Critical() {
			t.Error("demo-pkg is not critical")
		}
		if len(fx.mailsOf(notify.KindCriticalProject, alice.Email)) != 1 {
			t.Error("alice was not told")
		}
		if got := b.get(page).text("#critical tbody"); !strings.Contains(got, "demo-pkg") {
			t.Errorf("the critical list: %q", got)
		}
		wantRedirect(t, b.submit(page, "/admin/policy/critical/", url.Values{"name": {"demo-pkg"}, "reason": {"again"}}),
			page+"?notice=nothing-changed", "designate twice")
		if p := b.submit(page, "/admin/policy/critical/", url.Values{"name": {"demo-pkg"}, "release": {"1"}}); p.status() != http.StatusBadRequest {
			t.Errorf("a release without a reason: %d", p.status())
		}
		wantRedirect(t, b.submit(page, "/admin/policy/critical/", url.Values{"name": {"demo-pkg"}, "release": {"1"}, "reason": {"moved to another index"}}),
			page+"?notice=critical-released", "release")
		if prot, _ := fx.db.ProjectProtection(ctx, p.ID); prot.Critical() {
			t.Error("demo-pkg is still critical")
		}
		if ev := events(0, p.ID); !slices.Contains(ev, critical.EventReleased+": released from critical by an administrator: moved to another index") {
			t.Errorf("the project's history: %v", ev)
		}
		if p := b.submit(page, "/admin/policy/critical/", url.Values{"name": {"nothing-here"}, "reason": {"x"}}); p.status() != http.StatusNotFound {
			t.Errorf("an unknown project: %d", p.status())
		}
		// Without a recent confirmation, the policy sends the administrator to confirm first.
		stale := fx.sessionBrowser("root-stale", root.ID, accounts.LevelFull, 45*time.Minute)
		p2 := stale.submit(page, "/admin/policy/early/", url.Values{"kind": {"user"}, "name": {"bob"}, "reason": {"x"}})
		if p2.status() != http.StatusSeeOther || !strings.Contains(p2.header("Location"), "/account/reauthenticate/") {
			t.Errorf("without a recent confirmation: %d %s", p2.status(), p2.header("Location"))
		}
	})
}
