package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"wharf/internal/accounts"
	"wharf/internal/disttest"
	"wharf/internal/notify"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

const (
	releaseApprove = "/manage/project/demo-pkg/releases/approve/"
	releaseDiscard = "/manage/project/demo-pkg/releases/discard/"
	pubStaging     = pubPage + "staging/"
	pubMail        = pubPage + "mail/"
)

// stagedUpload is a wheel sent to /legacy/ as twine sends it, with the digests twine computed.
type stagedUpload struct {
	status                  int
	body                    string
	filename                string
	sha256, md5, blake2b256 string
}

// uploadWheel sends a wheel of demo-pkg with the token and returns the answer and the file's digests.
func (fx *fixture) uploadWheel(t *testing.T, token, version string) stagedUpload {
	t.Helper()
	filename := disttest.WheelName("demo-pkg", version)
	form := disttest.UploadForm("demo-pkg", version, filename,
		disttest.Wheel("demo-pkg", version, disttest.Metadata("demo-pkg", version), nil))
	u := stagedUpload{filename: filename}
	for _, kv := range form.Fields {
		switch kv[0] {
		case "sha256_digest":
			u.sha256 = kv[1]
		case "md5_digest":
			u.md5 = kv[1]
		case "blake2_256_digest":
			u.blake2b256 = kv[1]
		}
	}
	body, ctype := form.Encode()
	req, err := http.NewRequest("POST", fx.base+"/legacy/", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	req.SetBasicAuth("__token__", token)
	p := fx.browser("twine").do(req)
	u.status, u.body = p.status(), p.body
	return u
}

// staging sets which uploads of demo-pkg wait for approval directly in the store.
func (fx *fixture) staging(t *testing.T, mode string) store.Project {
	t.Helper()
	p, err := fx.db.ProjectByName(context.Background(), "demo-pkg")
	if err != nil {
		t.Fatal(err)
	}
	if err := fx.db.SetStaging(context.Background(), p.ID, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

// onIndex says whether the project's simple page lists the file.
func (fx *fixture) onIndex(t *testing.T, filename string) bool {
	t.Helper()
	p := fx.browser("pip").get("/simple/demo-pkg/")
	wantStatus(t, p, http.StatusOK, "the simple page")
	return strings.Contains(p.body, filename)
}

// TestStagedReleaseApproval: an upload to a project that stages every upload is stored but not on the index; a
// Maintainer sees it on the releases page with its hashes and who uploaded it; approving needs a second factor
// (refused on the page without one) and a recent confirmation (a redirect to give one); with both, the file is on
// the index, the Owners are told, and the history names the approval.
func TestStagedReleaseApproval(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice, bob := fx.user("alice"), fx.user("bob")
		tok := fx.ownedProject(t, alice)
		pr := fx.staging(t, store.StageTokens)
		if err := fx.db.AddRole(ctx, pr.ID, bob.ID, store.RoleMaintainer, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}

		up := fx.uploadWheel(t, tok, "1.1")
		if up.status != http.StatusOK || !strings.Contains(up.body, "Staged: "+up.filename) {
			t.Fatalf("staged upload: %d %q", up.status, up.body)
		}
		if fx.onIndex(t, up.filename) {
			t.Fatal("the staged file is on the index before its approval")
		}

		// A Maintainer without a second factor sees it with its hashes, and is refused on the page.
		b := fx.sessionBrowser("bob", bob.ID, accounts.LevelFull, 0)
		page := b.get(releases)
		wantStatus(t, page, http.StatusOK, "the releases page")
		row := `#staged .staged-release[data-version="1.1"] [data-filename="` + up.filename + `"]`
		for sel, want := range map[string]string{
			row + " code.sha256":      up.sha256,
			row + " code.md5":         up.md5,
			row + " code.blake2b-256": up.blake2b256,
			row + " td.uploaded-by":   "alice",
			row + " td.uploaded":      fx.clock.Now().UTC().Format("2006-01-02 15:04:05 UTC"),
		} {
			if got := page.text(sel); got != want {
				t.Errorf("%s: %q, want %q", sel, got, want)
			}
		}
		if page.find(`form[action="`+releaseApprove+`"]`) != nil || !strings.Contains(page.text("#staged .approve-denied"), "approve a staged release") {
			t.Fatalf("the Maintainer without 2FA gets the forms, or not why: %q", page.text("#staged"))
		}
		if page.find(`section.release[data-version="1.1"]`) != nil {
			t.Error("the staged release is listed among the published ones")
		}
		refused := b.post(releaseApprove, url.Values{"version": {"1.1"}, "csrf_token": {b.csrf(releases, "/account/logout/")}})
		wantStatus(t, refused, http.StatusForbidden, "approval without a second factor")
		if got := refused.text("p.error"); !strings.Contains(got, "approve a staged release") {
			t.Errorf("the refusal says %q", got)
		}
		if refused.find("#staged") == nil || refused.find("#error-message") != nil {
			t.Error("the refusal is not shown on the releases page")
		}

		// With an authenticator app but no recent confirmation: confirm first, then come back.
		fx.withTOTP(bob)
		stale := fx.sessionBrowser("bob-stale", bob.ID, accounts.LevelFull, 31*time.Minute)
		wantRedirect(t, stale.submit(releases, releaseApprove, url.Values{"version": {"1.1"}}),
			"/account/reauthenticate/?next="+url.QueryEscape(releases), "approval without a recent confirmation")
		if fx.onIndex(t, up.filename) {
			t.Fatal("published by a refused approval")
		}

		fresh := fx.sessionBrowser("bob-fresh", bob.ID, accounts.LevelFull, 0)
		if page := fresh.get(releases); page.find(`form[action="`+releaseApprove+`"] input[name=version][value="1.1"]`) == nil ||
			page.find(`#staged a[href="`+releases+`?discard=1.1#confirm-discard"]`) == nil {
			t.Fatal("the Maintainer with 2FA gets no approve form or discard link")
		}
		wantRedirect(t, fresh.submit(releases, releaseApprove, url.Values{"version": {"1.1"}}),
			releases+"?notice=release-approved", "approval")
		if !fx.onIndex(t, up.filename) {
			t.Fatal("the approved file is not on the index")
		}
		after := fresh.get(releases)
		if after.find("#staged") != nil {
			t.Error("the approved release is still listed as staged")
		}
		if after.find(`section.release[data-version="1.1"] tr[data-filename="`+up.filename+`"]`) == nil {
			t.Error("the approved release is not among the releases")
		}
		told := false
		for _, m := range fx.mailsOf(notify.KindProjectChanged, alice.Email) {
			told = told || strings.Contains(m.Body, "bob approved the staged release 1.1")
		}
		if !told {
			t.Error("the Owner was not told of the approval")
		}

		// Approving it again finds nothing, and says so on the page.
		again := fresh.post(releaseApprove, url.Values{"version": {"1.1"}, "csrf_token": {fresh.csrf(releases, "/account/logout/")}})
		wantStatus(t, again, http.StatusNotFound, "a second approval")
		if got := again.text("p.error"); !strings.Contains(got, "approved or discarded already") {
			t.Errorf("a second approval says %q", got)
		}

		fx.withTOTP(alice)
		h := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0).get("/manage/project/demo-pkg/history/")
		for _, want := range []string{"Upload staged: it waits for approval", "Staged release approved and published"} {
			if !strings.Contains(h.text("#history"), want) {
				t.Errorf("the history does not say %q: %q", want, h.text("#history"))
			}
		}
	})
}

// TestStagedReleaseDiscard: discarding asks for a confirmation that names the files; it drops them, they never
// reach the index, and their filename is free for the next upload. A file published meanwhile under the staged
// file's name makes the approval a conflict, shown on the page, and the release stays staged.
func TestStagedReleaseDiscard(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		alice := fx.user("alice")
		tok := fx.ownedProject(t, alice)
		fx.staging(t, store.StageTokens)
		up := fx.uploadWheel(t, tok, "1.1")
		if up.status != http.StatusOK {
			t.Fatalf("staged upload: %d %q", up.status, up.body)
		}
		fx.withTOTP(alice)
		a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)

		confirm := releases + "?discard=1.1"
		cp := a.get(confirm)
		if got := cp.text("#confirm-discard"); !strings.Contains(got, up.filename) || !strings.Contains(got, "dropped") {
			t.Fatalf("the confirmation says %q", got)
		}
		if a.get(releases).find("#confirm-discard") != nil {
			t.Error("the releases page asks to confirm without being asked")
		}
		wantRedirect(t, a.submit(confirm, releaseDiscard, url.Values{"version": {"1.1"}}),
			releases+"?notice=release-discarded", "discard")
		if a.get(releases).find("#staged") != nil {
			t.Error("the discarded release is still listed")
		}
		if fx.onIndex(t, up.filename) {
			t.Error("the discarded file is on the index")
		}
		if again := fx.uploadWheel(t, tok, "1.1"); again.status != http.StatusOK || !strings.Contains(again.body, "Staged:") {
			t.Fatalf("the discarded filename is not free again: %d %q", again.status, again.body)
		}

		// Published meanwhile: a file of the same name reaches the index by another way than an upload (the index
		// refuses to take a staged filename), and the approval can no longer publish the staged one.
		v, err := pypkg.ParseVersion("1.1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fx.db.AddFile(context.Background(), store.NewFile{ProjectName: "demo-pkg", NormalizedName: "demo-pkg",
			UltraName: pypkg.UltraNormalizeName("demo-pkg"), Version: "1.1", CanonicalVersion: v.ReleaseKey(),
			Filename: up.filename, PackageType: "bdist_wheel", PythonVersion: "py3", Size: 10, SHA256: strings.Repeat("ab", 32),
			MD5: strings.Repeat("cd", 16), Blake2b256: strings.Repeat("ef", 32), Now: fx.clock.Now()}); err != nil {
			t.Fatal(err)
		}
		conflict := a.submit(releases, releaseApprove, url.Values{"version": {"1.1"}})
		wantStatus(t, conflict, http.StatusConflict, "approval of a file published meanwhile")
		if got := conflict.text("p.error"); !strings.Contains(got, "published meanwhile") {
			t.Errorf("the conflict says %q", got)
		}
		if conflict.find(`#staged .staged-release[data-version="1.1"]`) == nil {
			t.Error("the conflict is not shown on the releases page, or the staged release is gone")
		}
	})
}

// TestStagingSetting: the Owners choose on the publishing page which uploads wait for approval; the choice is
// saved and shown; a Maintainer sees it without the form and is refused when posting anyway; with "ci", a user's
// token still publishes at once.
func TestStagingSetting(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice, bob := fx.user("alice"), fx.user("bob")
		tok := fx.ownedProject(t, alice)
		pr, err := fx.db.ProjectByName(ctx, "demo-pkg")
		if err != nil {
			t.Fatal(err)
		}
		if err := fx.db.AddRole(ctx, pr.ID, bob.ID, store.RoleMaintainer, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		fx.withTOTP(alice)
		a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
		page := a.get(pubPage)
		if page.find(`#staging-form input[name=staging][value=none][checked]`) == nil {
			t.Fatalf("the form does not show the default: %q", page.text("#staging"))
		}
		if got := page.text("#staging-state"); got != "Now: uploads are published at once." {
			t.Errorf("the state says %q", got)
		}

		bad := a.submit(pubPage, pubStaging, url.Values{"staging": {"sometimes"}})
		wantStatus(t, bad, http.StatusBadRequest, "an unknown mode")
		if !strings.Contains(bad.text("p.error"), "Choose which uploads wait for approval") || bad.find("#staging-form") == nil {
			t.Errorf("the refusal of an unknown mode: %q", bad.text("p.error"))
		}

		wantRedirect(t, a.submit(pubPage, pubStaging, url.Values{"staging": {"ci"}}), pubPage+"?notice=staging-changed", "choose ci")
		page = a.get(pubPage)
		if page.find(`#staging-form input[name=staging][value=ci][checked]`) == nil {
			t.Error("the saved choice is not checked")
		}
		if got := page.text("#staging-state"); !strings.Contains(got, "uploads from Trusted Publishers wait") {
			t.Errorf("the state says %q", got)
		}
		if prot, err := fx.db.ProjectProtection(ctx, pr.ID); err != nil || prot.Staging != store.StageCI {
			t.Errorf("stored %q, %v", prot.Staging, err)
		}
		if ms := fx.mailsOf(notify.KindProjectChanged, bob.Email); len(ms) == 0 || !strings.Contains(ms[len(ms)-1].Body, "uploads from Trusted Publishers wait") {
			t.Errorf("the Maintainer was not told: %v", ms)
		}
		if up := fx.uploadWheel(t, tok, "1.1"); up.status != http.StatusOK || strings.Contains(up.body, "Staged:") || !fx.onIndex(t, up.filename) {
			t.Errorf("a user's token under \"ci\": %d %q", up.status, up.body)
		}
		if h := a.get("/manage/project/demo-pkg/history/").text("#history"); !strings.Contains(h, "Changed which uploads wait for approval") {
			t.Errorf("the history does not show the change: %q", h)
		}

		fx.withTOTP(bob)
		b := fx.sessionBrowser("bob", bob.ID, accounts.LevelFull, 0)
		mp := b.get(pubPage)
		if mp.find("#staging-form") != nil || !strings.Contains(mp.text("#staging-state"), "Trusted Publishers wait") {
			t.Error("the Maintainer sees the form, or not the state")
		}
		byBob := b.post(pubStaging, url.Values{"staging": {"none"}, "csrf_token": {b.csrf(pubPage, "/account/logout/")}})
		wantStatus(t, byBob, http.StatusForbidden, "a Maintainer changes the staging")
		if byBob.text("p.error") == "" || byBob.find("#staging") == nil {
			t.Error("the Maintainer's refusal is not on the page")
		}

		stale := fx.sessionBrowser("alice-stale", alice.ID, accounts.LevelFull, 31*time.Minute)
		wantRedirect(t, stale.submit(pubPage, pubStaging, url.Values{"staging": {"none"}}),
			"/account/reauthenticate/?next="+url.QueryEscape(pubPage), "a change without a recent confirmation")
	})
}

// TestPublishMailSwitch: an Owner turns the mail of every publish off and on again; on a critical project
// turning it off is refused on the page.
func TestPublishMailSwitch(t *testing.T) {
	forEachEngine(t, func(t *testing.T, fx *fixture) {
		ctx := context.Background()
		alice := fx.user("alice")
		fx.ownedProject(t, alice)
		pr, err := fx.db.ProjectByName(ctx, "demo-pkg")
		if err != nil {
			t.Fatal(err)
		}
		a := fx.sessionBrowser("alice", alice.ID, accounts.LevelFull, 0)
		optedOut := func() bool {
			t.Helper()
			out, err := fx.db.PublishMailOptouts(ctx, pr.ID)
			if err != nil {
				t.Fatal(err)
			}
			return out[alice.ID]
		}
		box := `#publish-mail-form input[name=on]`
		if n := a.get(pubPage).find(box); n == nil || !hasAttr(n, "checked") {
			t.Fatal("the switch is not shown on")
		}

		// An unticked checkbox posts nothing.
		wantRedirect(t, a.submit(pubPage, pubMail, nil), pubPage+"?notice=publish-mail-off", "off")
		if n := a.get(pubPage).find(box); n == nil || hasAttr(n, "checked") || !optedOut() {
			t.Fatal("the switch is not off")
		}
		wantRedirect(t, a.submit(pubPage, pubMail, url.Values{"on": {"true"}}), pubPage+"?notice=publish-mail-on", "on")
		if n := a.get(pubPage).find(box); n == nil || !hasAttr(n, "checked") || optedOut() {
			t.Fatal("the switch is not on again")
		}

		if _, err := fx.db.MarkCritical(ctx, []int64{pr.ID}, fx.clock.Now()); err != nil {
			t.Fatal(err)
		}
		refused := a.submit(pubPage, pubMail, nil)
		wantStatus(t, refused, http.StatusForbidden, "off on a critical project")
		if got := refused.text("p.error"); !strings.Contains(got, "is a critical project") {
			t.Errorf("the refusal says %q", got)
		}
		if n := refused.find(box); n == nil || !hasAttr(n, "checked") || optedOut() {
			t.Error("the refusal is not on the page, or the mail was turned off")
		}
	})
}

func hasAttr(n *html.Node, key string) bool {
	_, ok := attrOK(n, key)
	return ok
}
