package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"wharf/internal/accounts"
	"wharf/internal/audit"
	"wharf/internal/notify"
	"wharf/internal/store"
)

// reports reads the reports of projects from the history, newest first.
func (fx *fixture) reports(t *testing.T) []store.Event {
	t.Helper()
	evs, err := fx.db.EventsOfKind(context.Background(), audit.ProjectReported, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestReportProject: a signed-in user reports a project with a reason and a text; the report is kept in the
// history, mailed to every administrator and to nobody else, and a refused report (no reason, no text, too many)
// is shown on the form with what was typed kept, and kept nowhere.
func TestReportProject(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice, bob, carol := fx.user("alice"), fx.user("bob"), fx.user("carol")
		fx.ownedProject(t, alice)
		if err := fx.db.SetAdmin(ctx, carol.ID, true); err != nil {
			t.Fatal(err)
		}
		const form = "/project/demo-pkg/report/"

		anon := fx.browser("reader")
		if n := anon.get("/project/demo-pkg/").find("a#report-link"); n == nil || attr(n, "href") != form {
			t.Fatal("the project page has no Report project link")
		}
		wantRedirect(t, anon.get(form), "/account/login/?next="+url.QueryEscape(form), "a stranger opens the form")
		wantRedirect(t, anon.post(form, url.Values{"reason": {"spam"}, "text": {"x"}}), "/account/login/", "a stranger posts")

		b := fx.browser("bob")
		b.login("bob", testPassword)
		wantStatus(t, b.get("/project/no-such-project/report/"), http.StatusNotFound, "an unknown project")
		wantRedirect301(t, b.get("/project/Demo_Pkg/report/"), form)
		for _, tc := range []struct {
			name   string
			values url.Values
			status int
			says   string
		}{
			{"no reason", url.Values{"text": {"it mines coins"}}, http.StatusBadRequest, "Choose why"},
			{"an unknown reason", url.Values{"reason": {"dislike"}, "text": {"it mines coins"}}, http.StatusBadRequest, "Choose why"},
			{"no text", url.Values{"reason": {"malware"}, "text": {"  \n "}}, http.StatusBadRequest, "Say in up to 1000 characters"},
			{"too long a text", url.Values{"reason": {"malware"}, "text": {strings.Repeat("x", 1001)}}, http.StatusBadRequest, "Say in up to 1000 characters"},
		} {
			tc.values.Set("form", "report") // as the page's hidden field names it
			p := b.submit(form, form, tc.values)
			wantStatus(t, p, tc.status, tc.name)
			if got := p.text("form#report-form #refusal-report"); !strings.Contains(got, tc.says) {
				t.Errorf("%s: the form says %q", tc.name, got)
			}
			if got := p.text("#report-text"); got != strings.TrimSpace(tc.values.Get("text")) && len(tc.values.Get("text")) <= 1000 {
				t.Errorf("%s: the text typed is not kept: %q", tc.name, got)
			}
			if r := tc.values.Get("reason"); r == "malware" && p.find(`input[name=reason][value=malware][checked]`) == nil {
				t.Errorf("%s: the reason chosen is not kept", tc.name)
			}
		}
		if n := len(fx.reports(t)); n != 0 {
			t.Fatalf("%d reports kept from refused forms", n)
		}

		p := b.submit(form, form, url.Values{"reason": {"malware"}, "text": {"setup.py downloads\na binary."}})
		wantRedirect(t, p, "/project/demo-pkg/?notice=reported", "report")
		if got := b.get(p.location()).text("p.notice"); !strings.Contains(got, "your report went to the administrators") {
			t.Errorf("the notice says %q", got)
		}
		rs := fx.reports(t)
		if len(rs) != 1 || rs[0].UserID != bob.ID || rs[0].ProjectName != "demo-pkg" ||
			rs[0].Detail != "demo-pkg reported as malware: setup.py downloads a binary." {
			t.Fatalf("reports %+v", rs)
		}
		ms := fx.mailsOf(notify.KindProjectReported, "carol@example.com")
		if len(ms) != 1 || !strings.Contains(ms[0].Subject, "demo-pkg was reported as malware") ||
			!strings.Contains(ms[0].Body, "setup.py downloads a binary.") || !strings.Contains(ms[0].Body, fx.base+"/admin/reports/") {
			t.Fatalf("the administrator's mails: %+v", ms)
		}
		for _, m := range fx.mails() {
			if m.Kind == notify.KindProjectReported && m.To != "carol@example.com" {
				t.Errorf("a report was mailed to %s", m.To)
			}
		}

		// One account files at most 10 reports an hour: the next is refused on the form, and kept nowhere.
		for i := 2; i <= 10; i++ {
			wantRedirect(t, b.submit(form, form, url.Values{"reason": {"spam"}, "text": {"report " + strconv.Itoa(i)}}),
				"/project/demo-pkg/", "report "+strconv.Itoa(i))
		}
		over := b.submit(form, form, url.Values{"form": {"report"}, "reason": {"spam"}, "text": {"one too many"}})
		wantStatus(t, over, http.StatusTooManyRequests, "the eleventh report")
		if got := over.text("#refusal-report"); !strings.Contains(got, "Too many reports") || over.header("Retry-After") == "" {
			t.Errorf("the limit says %q", got)
		}
		if over.text("#report-text") != "one too many" {
			t.Error("the refused text is not kept")
		}
		if n := len(fx.reports(t)); n != 10 {
			t.Errorf("%d reports, want 10", n)
		}
		fx.clock.Advance(time.Hour + time.Second)
		wantRedirect(t, b.submit(form, form, url.Values{"reason": {"other"}, "text": {"an hour later"}}), "/project/demo-pkg/", "an hour later")
	})
}

// TestReportNeedsAVerifiedAddress: the policy refuses a report from an account whose address is unverified, on
// the form's page and when posted anyway.
func TestReportNeedsAVerifiedAddress(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		fx.ownedProject(t, fx.user("alice"))
		u, err := fx.db.CreateUser(ctx, store.User{Username: "newbie", Email: "newbie@example.com",
			PasswordHash: testPasswordHash(), CreatedAt: fx.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		b := fx.sessionBrowser("newbie", u.ID, accounts.LevelFull, 0)
		const form = "/project/demo-pkg/report/"
		page := b.get(form)
		wantStatus(t, page, http.StatusOK, "the form's page")
		if page.find("form#report-form") != nil || !strings.Contains(page.text("#report-denied"), "no verified email address") {
			t.Errorf("the page offers the form, or says %q", page.text("#report-denied"))
		}
		csrf := attr(b.get("/").find(`form[action=/account/logout/] input[name=csrf_token]`), "value")
		p := b.post(form, url.Values{"csrf_token": {csrf}, "form": {"report"}, "reason": {"spam"}, "text": {"x"}})
		wantStatus(t, p, http.StatusForbidden, "posted anyway")
		if n := len(fx.reports(t)); n != 0 {
			t.Errorf("%d reports from an unverified account", n)
		}
	})
}

// TestAdminReports: the administrators read the reports newest first, a page at a time, with who reported which
// project; nobody else may, and the administration page links to them.
func TestAdminReports(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice, bob, carol := fx.user("alice"), fx.user("bob"), fx.user("carol")
		fx.ownedProject(t, alice)
		p, err := fx.db.ProjectByName(ctx, "demo-pkg")
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.db.SetAdmin(ctx, carol.ID, true); err != nil {
			t.Fatal(err)
		}
		for i := 1; i <= 55; i++ {
			if err := fx.db.AddEvent(ctx, store.Event{CreatedAt: fx.clock.Now(), Kind: audit.ProjectReported, UserID: bob.ID,
				ProjectID: p.ID, Detail: "demo-pkg reported as spam: report " + strconv.Itoa(i)}); err != nil {
				t.Fatal(err)
			}
		}
		b := fx.browser("bob")
		b.login("bob", testPassword)
		wantStatus(t, b.get("/admin/reports/"), http.StatusForbidden, "a user opens the reports")

		c := fx.browser("carol")
		c.login("carol", testPassword)
		if n := c.get("/admin/").find("#reports-link a"); n == nil || attr(n, "href") != "/admin/reports/" {
			t.Error("the administration page does not link to the reports")
		}
		first := c.get("/admin/reports/")
		wantStatus(t, first, http.StatusOK, "the reports")
		rows := findAll(first.doc, "table.reports tbody tr")
		if len(rows) != 50 {
			t.Fatalf("%d reports on the first page, want 50", len(rows))
		}
		top := rows[0]
		if textOf(find(top, "td.report-text")) != "demo-pkg reported as spam: report 55" ||
			attr(find(top, "td.project a"), "href") != "/project/demo-pkg/" ||
			attr(find(top, "td.reporter a"), "href") != "/user/bob/" {
			t.Errorf("the newest report: %q", textOf(top))
		}
		older := first.find(`nav.pager a[rel=next]`)
		if older == nil || first.find(`nav.pager a[rel=prev]`) != nil {
			t.Fatal("the first page links no older page, or a newer one")
		}
		second := c.get(attr(older, "href"))
		rows = findAll(second.doc, "table.reports tbody tr")
		if len(rows) != 5 || textOf(find(rows[0], "td.report-text")) != "demo-pkg reported as spam: report 5" {
			t.Errorf("the second page: %d rows", len(rows))
		}
		if second.find(`nav.pager a[rel=next]`) != nil || attr(second.find(`nav.pager a[rel=prev]`), "href") != "/admin/reports/" {
			t.Error("the last page links an older page, or not the newest")
		}
		wantStatus(t, c.get("/admin/reports/?before=x"), http.StatusBadRequest, "a malformed page")
		if empty := c.get("/admin/reports/?before=1"); empty.find("#no-reports") == nil {
			t.Error("a page past the oldest report does not say there is none")
		}
	})
}
