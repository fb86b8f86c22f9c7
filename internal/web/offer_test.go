package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"wharf/internal/accounts"
	"wharf/internal/store"
	"wharf/internal/web"
)

// criticalProject makes a project with one release, owner as its Owner and the maintainers as Maintainers, and
// designates it critical.
func (fx *fixture) criticalProject(t *testing.T, name string, critical bool, owner store.Account, maintainers ...store.Account) {
	t.Helper()
	ctx := context.Background()
	res, err := fx.db.AddFile(ctx, store.NewFile{ProjectName: name, NormalizedName: name, UltraName: name, CreateProject: true,
		UploaderID: owner.ID, Version: "1.0", CanonicalVersion: "1.0", ReleaseMetadata: []byte("{}"),
		Filename: name + "-1.0.tar.gz", PackageType: "sdist", PythonVersion: "source", Size: 1,
		SHA256: "sha-" + name, Blake2b256: "b2-" + name, Now: fx.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range maintainers {
		if err := fx.db.AddRole(ctx, res.Project.ID, m.ID, store.RoleMaintainer, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if critical {
		if _, err := fx.db.MarkCritical(ctx, []int64{res.Project.ID}, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

func (fx *fixture) loadCodes(t *testing.T, codes ...string) {
	t.Helper()
	if _, _, err := fx.db.LoadPromoCodes(context.Background(), codes, "titan", fx.clock.Now()); err != nil {
		t.Fatal(err)
	}
}

// claimEvents are the account's security-history events of claims of the offer.
func (fx *fixture) claimEvents(t *testing.T, userID int64) []store.Event {
	t.Helper()
	evs, err := fx.db.Events(context.Background(), userID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Event
	for _, e := range evs {
		if e.Kind == web.EventKeyOfferClaimed {
			out = append(out, e)
		}
	}
	return out
}

func (fx *fixture) promoCounts(t *testing.T) store.PromoCounts {
	t.Helper()
	n, err := fx.db.PromoCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

const offerPath = "/manage/account/key-offer/"

// TestKeyOfferPage: a maintainer of a critical project without a security key sees the offer on the account
// page, claims one code (audited), and sees that same code from then on; claiming again gives the same code and
// records nothing. Accounts the offer is not for see no box and are refused with the reason; forms without this
// session's CSRF token, cross-site posts and strangers change nothing. Once every code is claimed the box says
// so, and the administration page counts the codes.
func TestKeyOfferPage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice, bob, carol, dave := fx.user("alice"), fx.user("bob"), fx.user("carol"), fx.user("dave")
		erin, frank := fx.user("erin"), fx.user("frank")
		fx.criticalProject(t, "demo", true, alice, bob, erin, frank)
		fx.criticalProject(t, "quiet", false, carol)
		fx.withKey(bob)
		a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)

		if p := a.get("/manage/account/"); p.find("#key-offer") != nil {
			t.Error("an offer box before any code was loaded")
		}
		fx.loadCodes(t, "CODE-A", "CODE-B")

		pg := a.get("/manage/account/")
		wantStatus(t, pg, 200, "alice's account page")
		box := pg.text("#key-offer")
		for _, want := range []string{"a critical project, demo", "strongest protection against phishing", "one code, once"} {
			if !strings.Contains(box, want) {
				t.Errorf("the offer box does not say %q: %q", want, box)
			}
		}
		if pg.find(`#key-offer a[href=/project/demo/]`) == nil || pg.find("#key-offer-form") == nil {
			t.Fatal("the offer box has no link to the project or no form")
		}

		// Forms that are not this session's, and strangers, claim nothing.
		aCSRF := a.csrf("/manage/account/", offerPath)
		e := fx.sessionBrowser("erin", erin.ID, accounts.LevelFull, 0)
		eCSRF := e.csrf("/manage/account/", offerPath)
		toLogin := func(p *page) bool {
			return p.status() == http.StatusSeeOther && strings.HasPrefix(p.location(), "/account/login/")
		}
		forbidden := func(p *page) bool { return p.status() == http.StatusForbidden }
		for _, tc := range []struct {
			name string
			do   func() *page
			want func(*page) bool
		}{
			{"no CSRF token", func() *page { return a.post(offerPath, url.Values{}) }, forbidden},
			{"another session's token", func() *page { return a.post(offerPath, url.Values{"csrf_token": {eCSRF}}) }, forbidden},
			{"cross-site", func() *page {
				return a.postWith(offerPath, url.Values{"csrf_token": {aCSRF}}, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"})
			}, forbidden},
			{"anonymous", func() *page { return fx.browser("anon").post(offerPath, url.Values{}) }, toLogin},
			{"half-logged-in", func() *page {
				return fx.sessionBrowser("half", alice.ID, accounts.LevelPassword, 0).post(offerPath, url.Values{})
			}, toLogin},
			{"GET", func() *page { return a.get(offerPath + "?csrf_token=" + url.QueryEscape(aCSRF)) },
				func(p *page) bool {
					return p.status() == http.StatusNotFound || p.status() == http.StatusMethodNotAllowed
				}},
		} {
			if p := tc.do(); !tc.want(p) {
				t.Errorf("%s: %d to %q (%s)", tc.name, p.status(), p.location(), p.refusal())
			}
			if n := fx.promoCounts(t); n.Claimed != 0 {
				t.Fatalf("%s claimed a code: %+v", tc.name, n)
			}
		}

		wantRedirect(t, a.post(offerPath, url.Values{"csrf_token": {aCSRF}}), "/manage/account/?notice=key-offer-claimed", "alice's claim")
		pg = a.get("/manage/account/?notice=key-offer-claimed")
		if got := pg.text("#key-offer-code"); got != "CODE-A" {
			t.Fatalf("alice's code on the page: %q", got)
		}
		if pg.find("#key-offer-form") != nil {
			t.Error("the form is still offered after the claim")
		}
		if got := pg.text("p.notice"); !strings.Contains(got, "code for a free security key") {
			t.Errorf("the notice says %q", got)
		}
		evs := fx.claimEvents(t, alice.ID)
		if len(evs) != 1 || strings.Contains(evs[0].Detail, "CODE-A") || !strings.Contains(evs[0].Detail, "titan") {
			t.Errorf("alice's claim events: %+v", evs)
		}
		if !strings.Contains(pg.text("#history"), "Security-key offer claimed") {
			t.Error("the claim is not in the security history on the page")
		}

		// Claiming again gives the same code, and no second event.
		wantRedirect(t, a.post(offerPath, url.Values{"csrf_token": {aCSRF}}), "/manage/account/?notice=key-offer-claimed", "alice's second claim")
		if got := a.get("/manage/account/").text("#key-offer-code"); got != "CODE-A" {
			t.Errorf("alice's code after a second claim: %q", got)
		}
		if n := fx.promoCounts(t); n != (store.PromoCounts{Loaded: 2, Claimed: 1, Left: 1}) {
			t.Errorf("counts after two claims of one account: %+v", n)
		}
		if evs := fx.claimEvents(t, alice.ID); len(evs) != 1 {
			t.Errorf("%d claim events after a second claim, want 1", len(evs))
		}

		// The offer is not for bob (a key already), carol (no critical project) or dave (no project at all).
		for _, tc := range []struct {
			who    store.Account
			reason string
		}{
			{bob, "The security-key offer is for maintainers who have no security key yet, and 'bob' already has a security key or passkey"},
			{carol, "The security-key offer is for the Owners and Maintainers of critical projects, and 'carol' maintains none."},
			{dave, "'dave' maintains none."},
		} {
			b := fx.sessionBrowser(tc.who.Username, tc.who.ID, accounts.LevelFull, 0)
			if b.get("/manage/account/").find("#key-offer") != nil {
				t.Errorf("%s sees the offer", tc.who.Username)
			}
			p := b.post(offerPath, url.Values{"csrf_token": {b.csrf("/manage/account/", "/manage/account/email/")}})
			wantStatus(t, p, http.StatusForbidden, tc.who.Username+"'s claim")
			if got := p.refusal(); !strings.Contains(got, tc.reason) {
				t.Errorf("%s is told %q, want %q", tc.who.Username, got, tc.reason)
			}
			if _, err := fx.db.PromoCodeOf(context.Background(), tc.who.ID); err == nil {
				t.Errorf("%s got a code", tc.who.Username)
			}
		}

		// Erin takes the last code; frank is then told none is left.
		wantRedirect(t, e.post(offerPath, url.Values{"csrf_token": {eCSRF}}), "/manage/account/", "erin's claim")
		if got := e.get("/manage/account/").text("#key-offer-code"); got != "CODE-B" {
			t.Errorf("erin's code: %q", got)
		}
		f := fx.sessionBrowser("frank", frank.ID, accounts.LevelFull, 0)
		fpage := f.get("/manage/account/")
		if fpage.find("#key-offer-none") == nil || fpage.find("#key-offer-form") != nil {
			t.Errorf("frank's box once none is left: %q", fpage.text("#key-offer"))
		}
		refused := f.post(offerPath, url.Values{"csrf_token": {f.csrf("/manage/account/", "/manage/account/email/")}})
		wantStatus(t, refused, http.StatusConflict, "frank's claim of no code")
		if got := refused.text("p.error"); !strings.Contains(got, "none is left") {
			t.Errorf("frank is told %q", got)
		}

		// Alice's code stays on her page once she has a key, though the offer is no longer for her.
		fx.withKey(alice)
		if got := a.get("/manage/account/").text("#key-offer-code"); got != "CODE-A" {
			t.Errorf("alice's code once she has a key: %q", got)
		}

		// The administrators see the counts.
		root := fx.user("root")
		if err := fx.db.SetAdmin(context.Background(), root.ID, true); err != nil {
			t.Fatal(err)
		}
		admin := fx.sessionBrowser("root", root.ID, accounts.LevelFull, 0).get("/admin/")
		wantStatus(t, admin, 200, "the administration page")
		if got := admin.text("#offer-loaded") + "/" + admin.text("#offer-claimed") + "/" + admin.text("#offer-left"); got != "2/2/0" {
			t.Errorf("loaded/claimed/left on the administration page: %q", got)
		}
	})
}

// TestKeyOfferConcurrentClaims: two maintainers each claim several times at once; each ends with one code, the
// two codes differ, and each account's history records one claim.
func TestKeyOfferConcurrentClaims(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice, bob := fx.user("alice"), fx.user("bob")
		fx.criticalProject(t, "demo", true, alice, bob)
		fx.loadCodes(t, "CODE-1", "CODE-2", "CODE-3")
		type claimer struct {
			id   int64
			b    *browser
			csrf string
		}
		var claimers []claimer
		for _, u := range []store.Account{alice, bob} {
			b := fx.sessionBrowser(u.Username, u.ID, accounts.LevelFull, 0)
			claimers = append(claimers, claimer{u.ID, b, b.csrf("/manage/account/", offerPath)})
		}
		const each = 4
		statuses := make([]int, len(claimers)*each)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range statuses {
			c := claimers[i%len(claimers)]
			wg.Go(func() {
				form := url.Values{"csrf_token": {c.csrf}}
				req, err := http.NewRequest("POST", fx.base+offerPath, strings.NewReader(form.Encode()))
				if err != nil {
					t.Error(err)
					return
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Origin", fx.base)
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				<-start
				resp, err := c.b.client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			})
		}
		close(start)
		wg.Wait()
		for i, s := range statuses {
			if s != http.StatusSeeOther {
				t.Errorf("claim %d: status %d, want 303", i, s)
			}
		}
		codes := map[string]bool{}
		for _, c := range claimers {
			code := c.b.get("/manage/account/").text("#key-offer-code")
			if code == "" || codes[code] {
				t.Errorf("user %d holds %q; codes so far %v", c.id, code, codes)
			}
			codes[code] = true
			if n := len(fx.claimEvents(t, c.id)); n != 1 {
				t.Errorf("user %d: %d claim events, want 1", c.id, n)
			}
		}
		if n := fx.promoCounts(t); n != (store.PromoCounts{Loaded: 3, Claimed: 2, Left: 1}) {
			t.Errorf("counts: %+v", n)
		}
	})
}
