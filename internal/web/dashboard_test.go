package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"wharf/internal/store"
)

// TestAdoptionDashboard: the 2FA adoption dashboard is an administration page (M2: the policy's ViewAdmin refuses
// everyone else with its reason, and a stranger is sent to sign in); an administrator sees the figures now, the
// history as charts and the critical projects' unprotected maintainers, and finds it from /admin/.
func TestAdoptionDashboard(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		root := fx.user("root")
		if err := fx.db.SetAdmin(ctx, root.ID, true); err != nil {
			t.Fatal(err)
		}
		// alice has a key and publishes demo; bob maintains it without a factor; demo is critical.
		alice, bob := fx.user("alice"), fx.user("bob")
		fx.withKey(alice)
		res, err := fx.db.AddFile(ctx, store.NewFile{ProjectName: "demo", NormalizedName: "demo", UltraName: "dem0",
			CreateProject: true, UploaderID: alice.ID, Version: "1.0", CanonicalVersion: "1.0", ReleaseMetadata: []byte(`{}`),
			Filename: "demo-1.0.tar.gz", PackageType: "sdist", PythonVersion: "source", Size: 1, SHA256: "aa", MD5: "m",
			Blake2b256: "bb", Now: fx.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.db.AddRole(ctx, res.Project.ID, bob.ID, store.RoleMaintainer, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := fx.db.MarkCritical(ctx, []int64{res.Project.ID}, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		day := fx.clock.Now().UTC().Truncate(24 * time.Hour)
		for i, m := range []int64{10, 20, 40} {
			if err := fx.db.RecordAdoptionDay(ctx, store.AdoptionDay{Day: day.AddDate(0, 0, i-3), TakenAt: day,
				Adoption: store.Adoption{Maintainers: 80, MaintainersWith2FA: m, MaintainersWithWebAuthn: m / 2,
					CriticalMaintainers: 4, CriticalMaintainersWith2FA: 2, Uploads: 10, UploadsWith2FA: m / 10}}); err != nil {
				t.Fatal(err)
			}
		}
		fx.clock.Advance(time.Hour)

		wantRedirect(t, fx.browser("stranger").get("/admin/dashboard/"), "/account/login/?next=%2Fadmin%2Fdashboard%2F", "a stranger")
		cb := fx.browser("carol")
		fx.user("carol")
		cb.login("carol", testPassword)
		denied := cb.get("/admin/dashboard/")
		wantStatus(t, denied, http.StatusForbidden, "the dashboard for a non-administrator")
		if got := denied.refusal(); got != "Only the administrators of this index may see the administration pages." {
			t.Errorf("the refusal says %q, not the policy's reason", got)
		}
		if strings.Contains(denied.body, "bob") || denied.find("svg") != nil {
			t.Error("the refusal shows the dashboard's content")
		}

		ab := fx.browser("root")
		ab.login("root", testPassword)
		if ab.get("/admin/").find(`#dashboard-link a[href="/admin/dashboard/"]`) == nil {
			t.Error("the administration page does not link to the dashboard")
		}
		p := ab.get("/admin/dashboard/")
		wantStatus(t, p, http.StatusOK, "the dashboard for an administrator")
		for id, want := range map[string]string{
			"maintainers-2fa":      "50.0 % 1 of 2",
			"maintainers-webauthn": "50.0 % 1 of 2",
			"critical-2fa":         "50.0 % 1 of 2",
			"uploads-2fa":          "100.0 % 1 of 1",
		} {
			got := p.text("#figure-"+id+" .share") + " " + p.text("#figure-"+id+" .count .n") + " of " + p.text("#figure-"+id+" .count .of")
			if got != want {
				t.Errorf("figure %s: %q, want %q", id, got, want)
			}
		}
		for _, id := range []string{"chart-maintainers", "chart-critical", "chart-uploads"} {
			svg := p.find("svg#" + id)
			if svg == nil {
				t.Fatalf("no chart %s", id)
			}
			if attr(svg, "role") != "img" || find(svg, "title") == nil || find(svg, "desc") == nil {
				t.Errorf("chart %s has no accessible name and description", id)
			}
			if len(findAll(svg, "polyline")) == 0 || len(findAll(svg, "circle")) != 3*len(findAll(svg, "polyline")) {
				t.Errorf("chart %s: %d lines, %d dots; want a line and a dot per recorded day", id,
					len(findAll(svg, "polyline")), len(findAll(svg, "circle")))
			}
		}
		if got := p.text("svg#chart-maintainers desc"); !strings.Contains(got, "Any second factor 50.0 %") {
			t.Errorf("the chart's description %q does not give the latest share", got)
		}
		rows := findAll(p.doc, "table.critical tbody tr")
		if len(rows) != 1 || !strings.Contains(textOf(rows[0]), "demo") || textOf(find(rows[0], "td.unprotected")) != "bob Maintainer" {
			t.Errorf("the critical projects' table: %d rows, %q", len(rows), p.text("table.critical tbody"))
		}
	})
}
