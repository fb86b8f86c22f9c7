package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"wharf/internal/store"
)

const tokensPath = "/manage/account/token/"

// tokenRecord is the record of the user's token named name.
func (fx *fixture) tokenRecord(t *testing.T, userID int64, name string) store.Token {
	t.Helper()
	toks, err := fx.db.TokensForUser(context.Background(), userID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if tk.Name == name {
			return tk
		}
	}
	t.Fatalf("no token named %q", name)
	return store.Token{}
}

// TestTokenFormDefaults: the creation form preselects the narrowest choices: the user's first project (in
// alphabetical order) rather than all of them, and an expiry of 90 days; all projects stays a choice, and is the
// only one for a user without projects. What the form preselects is what a token gets.
func TestTokenFormDefaults(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		b := fx.browser("alice")
		b.login("alice", testPassword)

		p := b.get(tokensPath)
		wantStatus(t, p, http.StatusOK, "token page without projects")
		if radios := findAll(p.doc, `form#token-form input[name=scope]`); len(radios) != 1 || attr(radios[0], "value") != "account" ||
			p.find(`input[name=scope][value=account][checked]`) == nil {
			t.Errorf("a user without projects is offered %d scopes: %s", len(radios), p.text("form#token-form fieldset"))
		}
		var offered []string
		for _, o := range findAll(p.doc, `select#expires option`) {
			offered = append(offered, attr(o, "value"))
		}
		if got := strings.Join(offered, " "); got != "30 90 180 365 never" {
			t.Errorf("expiries offered: %q", got)
		}
		if sel := findAll(p.doc, `select#expires option[selected]`); len(sel) != 1 || attr(sel[0], "value") != "90" {
			t.Errorf("preselected expiry: %d options selected", len(sel))
		}

		whole := fx.mintToken(t, alice)
		for _, name := range []string{"zeta-pkg", "alpha-pkg"} {
			if code := fx.upload(t, fx.browser("twine"), whole, name, "1.0"); code != http.StatusOK {
				t.Fatalf("upload %s: %d", name, code)
			}
		}
		p = b.get(tokensPath)
		if p.find(`input[name=scope][value=projects][checked]`) == nil || p.find(`input[name=scope][value=account][checked]`) != nil {
			t.Error("with projects, the form does not preselect a project scope")
		}
		if p.find(`input[name=scope][value=account]`) == nil {
			t.Error("all projects is no longer a choice")
		}
		checked := findAll(p.doc, `input[name=project][checked]`)
		if len(checked) != 1 || attr(checked[0], "value") != "alpha-pkg" || p.find(`input[name=project][value=zeta-pkg]`) == nil {
			t.Errorf("%d projects preselected, want alpha-pkg alone", len(checked))
		}

		// Posting the form as preselected makes a token for alpha-pkg alone that expires in 90 days.
		p = b.submit(tokensPath, tokensPath, url.Values{"name": {"as offered"}, "scope": {"projects"}, "project": {"alpha-pkg"},
			"expires_days": {"90"}})
		wantStatus(t, p, http.StatusOK, "create with the defaults")
		tok := p.text("#new-token")
		rec := fx.tokenRecord(t, alice.ID, "as offered")
		if want := t0.Add(90 * 24 * time.Hour); !rec.ExpiresAt.Equal(want) || strings.Join(rec.Projects, ",") != "alpha-pkg" {
			t.Errorf("token record: expires %v (want %v), projects %v", rec.ExpiresAt, want, rec.Projects)
		}
		if code := fx.upload(t, fx.browser("twine"), tok, "alpha-pkg", "1.1"); code != http.StatusOK {
			t.Errorf("the token on its project: %d", code)
		}
		if code := fx.upload(t, fx.browser("twine"), tok, "zeta-pkg", "1.1"); code != http.StatusForbidden {
			t.Errorf("the token on another project: %d", code)
		}

		// "No expiry" is a choice; leaving the field out gets the default, never a token without an end.
		wantStatus(t, b.submit(tokensPath, tokensPath, url.Values{"name": {"forever"}, "scope": {"account"}, "expires_days": {"never"}}),
			http.StatusOK, "create without expiry")
		if rec := fx.tokenRecord(t, alice.ID, "forever"); !rec.ExpiresAt.IsZero() {
			t.Errorf("no expiry chosen, expires %v", rec.ExpiresAt)
		}
		wantStatus(t, b.submit(tokensPath, tokensPath, url.Values{"name": {"unsaid"}, "scope": {"account"}}),
			http.StatusOK, "create without the expiry field")
		if rec := fx.tokenRecord(t, alice.ID, "unsaid"); !rec.ExpiresAt.Equal(t0.Add(90 * 24 * time.Hour)) {
			t.Errorf("without the field, expires %v", rec.ExpiresAt)
		}
	})
}

// TestTokenFormRefusals: a refused creation shows the token page again with the reason inside the form and the
// choices kept, and makes no token.
func TestTokenFormRefusals(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		fx.ownedProject(t, alice)
		b := fx.browser("alice")
		b.login("alice", testPassword)
		before, err := fx.db.TokensForUser(context.Background(), alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			what   string
			form   url.Values
			reason string
		}{
			{"an expiry not offered", url.Values{"name": {"weekly"}, "scope": {"account"}, "expires_days": {"7"}}, "offered expiry"},
			{"no project", url.Values{"name": {"weekly"}, "scope": {"projects"}, "expires_days": {"180"}}, "at least one project"},
		} {
			c.form.Set("form", "create-token")
			p := b.submit(tokensPath, tokensPath, c.form)
			wantStatus(t, p, http.StatusBadRequest, c.what)
			if got := p.text(`form#token-form #refusal-create-token`); !strings.Contains(got, c.reason) {
				t.Errorf("%s: refusal in the form %q, want %q", c.what, got, c.reason)
			}
			if got := attr(p.find(`#token-name`), "value"); got != "weekly" {
				t.Errorf("%s: the name is not kept: %q", c.what, got)
			}
			if p.find(`input[name=scope][value=`+c.form.Get("scope")+`][checked]`) == nil {
				t.Errorf("%s: the scope chosen is not kept", c.what)
			}
			if c.form.Get("scope") == "projects" && p.find(`input[name=project][checked]`) != nil {
				t.Errorf("%s: a project is ticked that was not posted", c.what)
			}
		}
		p := b.submit(tokensPath, tokensPath, url.Values{"form": {"create-token"}, "name": {"x"}, "scope": {"account"}, "expires_days": {"365"}, "project": {"demo-pkg"}})
		wantStatus(t, p, http.StatusOK, "create after the refusals")
		if after, _ := fx.db.TokensForUser(context.Background(), alice.ID); len(after) != len(before)+1 {
			t.Errorf("%d tokens after two refusals and one creation, had %d", len(after), len(before))
		}
	})
}

// TestTokenCreatedPage: the new token is shown once on a page no cache keeps, with a copy button that only the
// page's own script shows, and a .pypirc that holds the token and the twine command that reads it.
func TestTokenCreatedPage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		fx.user("alice")
		b := fx.browser("alice")
		b.login("alice", testPassword)
		form := b.get(tokensPath)
		if form.find(`script`) != nil {
			t.Error("the token form loads a script")
		}
		p := b.submit(tokensPath, tokensPath, url.Values{"name": {"ci"}, "scope": {"account"}, "expires_days": {"30"}})
		wantStatus(t, p, http.StatusOK, "create")
		if cc := p.header("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control %q", cc)
		}
		tok := p.text("#new-token")
		if !strings.HasPrefix(tok, "wharf-") {
			t.Fatalf("token %q", tok)
		}
		pypirc := p.text("#pypirc")
		for _, want := range []string{"[distutils]", "index-servers = wharf", "[wharf]", "repository = " + fx.base + "/legacy/",
			"username = __token__", "password = " + tok} {
			if !strings.Contains(pypirc, want) {
				t.Errorf(".pypirc %q lacks %q", pypirc, want)
			}
		}
		if cmd := p.text("#twine-command"); cmd != "twine upload --repository wharf dist/*" {
			t.Errorf("twine command %q", cmd)
		}
		if !strings.Contains(p.text("#shown-once"), "shown only this once") {
			t.Errorf("no reminder that the token is shown once: %q", p.text("#shown-once"))
		}
		for _, id := range []string{"new-token", "pypirc"} {
			btn := p.find(`button[data-copy="#` + id + `"]`)
			if btn == nil || attr(btn, "type") != "button" {
				t.Errorf("no copy button for #%s", id)
				continue
			}
			if _, hidden := attrOK(btn, "hidden"); !hidden {
				t.Errorf("the copy button for #%s shows without the script that makes it work", id)
			}
		}
		src := attr(p.find(`head script`), "src")
		if !strings.HasPrefix(src, "/static/copy.js?v=") {
			t.Fatalf("the page loads %q", src)
		}
		js := b.get(src)
		wantStatus(t, js, http.StatusOK, "copy.js")
		if !strings.Contains(js.body, "navigator.clipboard") || !strings.HasPrefix(js.header("Content-Type"), "text/javascript") {
			t.Errorf("copy.js served as %q", js.header("Content-Type"))
		}
	})
}

// TestExpiredTokenListed: the tokens list shows each token's expiry, and a token past it as expired; it no longer
// uploads.
func TestExpiredTokenListed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		b := fx.browser("alice")
		b.login("alice", testPassword)
		p := b.submit(tokensPath, tokensPath, url.Values{"name": {"short"}, "scope": {"account"}, "expires_days": {"30"}})
		wantStatus(t, p, http.StatusOK, "create")
		tok := p.text("#new-token")
		rec := fx.tokenRecord(t, alice.ID, "short")
		row := `tr[data-token-id=` + rec.ID + `]`

		list := b.get(tokensPath)
		if got := list.text(row + ` td.expiry`); got != t0.Add(30*24*time.Hour).Format("2006-01-02 15:04:05 UTC") {
			t.Errorf("expiry shown %q", got)
		}
		if got := list.text(row + ` td.status`); got != "active" {
			t.Errorf("status before the expiry %q", got)
		}

		fx.clock.Advance(30*24*time.Hour + time.Second)
		b.login("alice", testPassword)
		list = b.get(tokensPath)
		wantStatus(t, list, http.StatusOK, "token page after the expiry")
		if got := list.text(row + ` td.status`); got != "expired" {
			t.Errorf("status after the expiry %q", got)
		}
		if code := fx.upload(t, fx.browser("twine"), tok, "late-pkg", "1.0"); code != http.StatusForbidden {
			t.Errorf("upload with the expired token: %d", code)
		}
	})
}
