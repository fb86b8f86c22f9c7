package web_test

import (
	"context"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"wharf/internal/disttest"
)

// TestRefusalsStayOnThePage: a management form that is refused shows the page it is on again, with the reason
// inside that form and what was typed kept, rather than an error page that loses the person's place (issue: errors
// that keep the person where they were).
func TestRefusalsStayOnThePage(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		fx.user("bob")
		fx.ownedProject(t, alice)
		a := fx.browser("alice")
		a.login("alice", testPassword)

		for _, c := range []struct {
			what, username, reason string
		}{
			{"an unknown user", "nobody-here", "There is no user of that name"},
			{"yourself", "alice", "already a collaborator"},
		} {
			p := a.submit(collab, collab+"invite/", url.Values{"form": {"invite"}, "username": {c.username}, "role": {"Owner"}})
			wantStatus(t, p, http.StatusBadRequest, "inviting "+c.what)
			if p.find(`form#invite-form`) == nil || p.find(`#collaborators`) == nil {
				t.Fatalf("inviting %s: the collaboration page is not shown again: %s", c.what, p.body)
			}
			if got := p.text(`form#invite-form #refusal-invite`); !strings.Contains(got, c.reason) {
				t.Errorf("inviting %s: refusal inside the form = %q, want %q", c.what, got, c.reason)
			}
			if got := attr(p.find(`#invite-username`), "value"); got != c.username {
				t.Errorf("inviting %s: the username typed is not kept: %q", c.what, got)
			}
			if p.find(`#invite-role option[value=Owner][selected]`) == nil {
				t.Errorf("inviting %s: the role chosen is not kept", c.what)
			}
			// The reason shows once, in the form: not again at the top of the page.
			if n := strings.Count(p.body, c.reason); n != 1 {
				t.Errorf("inviting %s: the reason shows %d times", c.what, n)
			}
			// The transfer form on the same page does not take the invite's input.
			if got := attr(p.find(`#transfer-username`), "value"); got != "" {
				t.Errorf("the transfer form took the refused invite's username %q", got)
			}
		}

		// A refused form that is not on the page shown again (posted from an older page) has its reason at the top
		// of the page, not nowhere.
		p := a.submit(collab, collab+"invite/", url.Values{"form": {"a-form-gone-since"}, "username": {"nobody-here"}, "role": {"Owner"}})
		wantStatus(t, p, http.StatusBadRequest, "a refused form no longer on the page")
		if got := p.text(`main p.error[role=alert]`); !strings.Contains(got, "There is no user of that name") {
			t.Errorf("the refusal of a form no longer on the page is not shown: %q", got)
		}

		// A second invitation to the same user: the conflict is on the page too.
		if p := a.submit(collab, collab+"invite/", url.Values{"form": {"invite"}, "username": {"bob"}, "role": {"Maintainer"}}); p.status() != http.StatusSeeOther {
			t.Fatalf("first invitation: %d", p.status())
		}
		p = a.submit(collab, collab+"invite/", url.Values{"form": {"invite"}, "username": {"bob"}, "role": {"Maintainer"}})
		wantStatus(t, p, http.StatusBadRequest, "inviting bob twice")
		if got := p.text(`#refusal-invite`); !strings.Contains(got, "pending invitation") {
			t.Errorf("second invitation: %q", got)
		}

		// Leaving as the only Owner is refused inside the leave form.
		p = a.submit(collab, collab+"leave/", url.Values{"form": {"leave"}})
		wantStatus(t, p, http.StatusBadRequest, "the only Owner leaves")
		if got := p.text(`form#leave-form #refusal-leave`); got == "" {
			t.Errorf("leaving as the only Owner: no refusal in the form: %s", p.body)
		}
		if got := fx.roles(t, "demo-pkg"); got["alice"] != "Owner" {
			t.Fatalf("alice's role changed: %v", got)
		}

		// A policy denial shows inside its form too: requiring security keys needs a session that proved one.
		p = a.submit(collab, collab+"require-2fa/", url.Values{"form": {"require-2fa"}, "require": {"keys"}})
		wantStatus(t, p, http.StatusForbidden, "requiring keys without one")
		if got := p.text(`form#require-2fa-form #refusal-require-2fa`); !strings.Contains(got, "key") {
			t.Errorf("requiring keys without one: refusal in the form = %q", got)
		}
	})
}

// TestDeletionsAskForTheName: deleting a file or a release needs what is deleted typed to confirm; a form posted
// without it (a script, an old page) deletes nothing and says what to type, on the releases page.
func TestDeletionsAskForTheName(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		tok := fx.ownedProject(t, alice)
		if code := fx.upload(t, fx.browser("twine"), tok, "demo-pkg", "2.0"); code != http.StatusOK {
			t.Fatalf("upload 2.0: %d", code)
		}
		a := fx.browser("alice")
		a.login("alice", testPassword)
		wheel := disttest.WheelName("demo-pkg", "1.0")
		exists := func(filename string) bool {
			_, err := fx.db.FileByFilename(context.Background(), filename)
			return err == nil
		}

		page := a.get(releases)
		if page.find(`details.confirm form[action="/manage/project/demo-pkg/releases/delete-file/"] input[name=confirm]`) == nil {
			t.Fatalf("the delete-file form is not behind a confirmation: %s", page.body)
		}
		for _, confirm := range []string{"", "demo-pkg", strings.ToUpper(wheel)} {
			p := a.submit(releases, releases+"delete-file/", url.Values{"form": {"delete-file-" + wheel}, "filename": {wheel}, "confirm": {confirm}})
			wantStatus(t, p, http.StatusBadRequest, "delete file confirmed with "+confirm)
			if !strings.Contains(p.body, `id="refusal-delete-file-`+wheel+`">Type the file&#39;s name`) {
				t.Errorf("confirm %q: no refusal inside the file's form: %s", confirm, p.body)
			}
			if !exists(wheel) {
				t.Fatalf("the file was deleted with confirmation %q", confirm)
			}
		}
		wantRedirect(t, a.submit(releases, releases+"delete-file/", url.Values{"filename": {wheel}, "confirm": {wheel}}),
			releases+"?notice=file-deleted", "delete file confirmed")
		if exists(wheel) {
			t.Fatal("the confirmed deletion left the file")
		}

		p := a.submit(releases, releases+"delete-release/", url.Values{"form": {"delete-release-2.0"}, "version": {"2.0"}, "confirm": {"1.0"}})
		wantStatus(t, p, http.StatusBadRequest, "delete release with the wrong version")
		if !exists(disttest.WheelName("demo-pkg", "2.0")) {
			t.Fatal("release 2.0 was deleted with the wrong confirmation")
		}
		if !strings.Contains(p.body, `id="delete-release-2.0" open`) {
			t.Error("the refused confirmation is not left open")
		}
		wantRedirect(t, a.submit(releases, releases+"delete-release/", url.Values{"version": {"2.0"}, "confirm": {"2.0"}}),
			releases+"?notice=release-deleted", "delete release confirmed")
		if exists(disttest.WheelName("demo-pkg", "2.0")) {
			t.Fatal("the confirmed release deletion left its file")
		}
	})
}

// TestEveryNamedFormShowsItsRefusal: a form that names itself (the hidden "form" field) is one whose refusal is
// shown inside it; the layout leaves such a refusal out of the top of the page, so a template that names a form
// without calling refusal would swallow the reason.
func TestEveryNamedFormShowsItsRefusal(t *testing.T) {
	named := regexp.MustCompile(`name="form" value="`)
	shown := regexp.MustCompile(`\{\{\s*refusal \$`)
	err := filepath.WalkDir("templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if n, m := len(named.FindAll(b, -1)), len(shown.FindAll(b, -1)); n != m {
			t.Errorf("%s: %d named forms but %d refusal calls", path, n, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
