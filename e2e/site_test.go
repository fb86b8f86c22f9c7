package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"wharf/internal/disttest"
	"wharf/internal/store/storetest"
)

// pageAudit is what auditJS reports of the page in the browser.
type pageAudit struct {
	ScrollWidth int      `json:"scrollWidth"`
	InnerWidth  int      `json:"innerWidth"`
	Wide        []string `json:"wide"`        // elements reaching past the viewport's right edge
	Unlabelled  []string `json:"unlabelled"`  // form controls without a label
	LowContrast []string `json:"lowContrast"` // text under WCAG AA's contrast ratio
	Title       string   `json:"title"`
}

// auditJS measures the page as a person on that screen meets it: whether it is wider than the viewport (and what
// makes it so), whether every visible form control has a label, and whether every visible text meets WCAG AA
// contrast (4.5:1, or 3:1 for large text) against the background it is drawn on.
const auditJS = `(() => {
  const vis = el => { const s = getComputedStyle(el); return el.getClientRects().length > 0 && s.visibility !== "hidden" && s.display !== "none"; };
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + (el.className && typeof el.className === "string" ? "." + el.className.trim().split(/\s+/).join(".") : "");
  const W = window.innerWidth;
  const wide = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (!vis(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.right > W + 1) {
      // Report the outermost offender only: its children follow it out.
      let p = el.parentElement, inside = false;
      for (; p; p = p.parentElement) { const s = getComputedStyle(p); if (/(auto|scroll|hidden)/.test(s.overflowX)) { inside = true; break; } }
      if (!inside && !wide.some(w => w.el.contains(el))) wide.push({el, d: name(el) + " right=" + Math.round(r.right)});
    }
  }
  const unlabelled = [];
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden" || !vis(el)) continue;
    const ok = el.labels && el.labels.length > 0 || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || el.title;
    if (!ok) unlabelled.push(name(el) + "[name=" + el.name + "]");
  }
  const rgb = s => { const m = s.match(/rgba?\(([^)]+)\)/); if (!m) return null; const v = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return {r: v[0], g: v[1], b: v[2], a: v.length > 3 ? v[3] : 1}; };
  const lum = c => { const f = x => { x /= 255; return x <= 0.03928 ? x / 12.92 : Math.pow((x + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const bg = el => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor); if (c && c.a > 0.5) return c; } return {r: 255, g: 255, b: 255, a: 1}; };
  const low = [];
  for (const el of document.body.querySelectorAll("*")) {
    if (!vis(el) || ![...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const s = getComputedStyle(el), fg = rgb(s.color), b = bg(el);
    if (!fg) continue;
    const L1 = lum(fg), L2 = lum(b), ratio = (Math.max(L1, L2) + 0.05) / (Math.min(L1, L2) + 0.05);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    if (ratio < need) low.push(name(el) + " " + ratio.toFixed(2) + ":1 " + JSON.stringify(el.textContent.trim().slice(0, 40)));
  }
  return JSON.stringify({scrollWidth: document.documentElement.scrollWidth, innerWidth: W, wide: wide.map(w => w.d),
    unlabelled, lowContrast: low, title: document.title});
})()`

// focusJS says whether the focused element shows that it has focus (an outline or a ring).
const focusJS = `(() => { const el = document.activeElement; if (!el || el === document.body) return "none";
  const s = getComputedStyle(el); const ring = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) > 0 || s.boxShadow !== "none";
  return ring ? "" : el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") + " " + (el.textContent || el.name || "").trim().slice(0, 30); })()`

// TestPagesFitPhonesAndAreAccessible opens the site's pages in Chromium at a desktop's 1280 px and a phone's
// 390 px, signed out, as a project's Owner and as an administrator: no page may be wider than its screen, every
// form control has a label, all text meets WCAG AA contrast, keyboard focus is visible, and every page's title
// names it. Screenshots of each page at each width are kept as artifacts.
func TestPagesFitPhonesAndAreAccessible(t *testing.T) {
	tool(t, "/usr/bin/twine")
	in := newInstance(t, storetest.Engines(t)[0])
	in.start()
	token := in.userWithToken("alice")
	in.userWithToken("root")
	in.mustRun("", "user", "admin", "root")
	dir := t.TempDir()
	// A long name, a classifier and a link, as real projects have, to find what does not wrap.
	const name = "a-rather-long-project-name-for-narrow-screens"
	meta := disttest.Metadata(name, "1.0.0rc1",
		"Classifier: Topic :: Software Development :: Libraries :: Python Modules", "Project-URL: Source, https://example.com/a/very/long/path/to/the/source/code")
	wheel := filepath.Join(dir, disttest.WheelName(name, "1.0.0rc1"))
	if err := os.WriteFile(wheel, disttest.Wheel(name, "1.0.0rc1", meta, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	in.twine(t, token, true, "", wheel)
	in.mustRun("", "org", "create", "acme-research-group", "--owner", "alice", "--display-name", "ACME Research Group")

	pages := map[string][]string{
		"": {"/", "/search/?q=narrow", "/project/" + name + "/", "/project/" + name + "/1.0.0rc1/", "/user/alice/",
			"/account/login/", "/account/register/", "/account/reset-password/", "/help/", "/no/such/page/"},
		"alice": {"/manage/account/", "/manage/account/token/", "/manage/account/totp/", "/manage/account/webauthn/",
			"/manage/projects/", "/manage/project/" + name + "/collaboration/", "/manage/project/" + name + "/releases/",
			"/manage/project/" + name + "/history/", "/manage/project/" + name + "/publishing/", "/manage/organizations/",
			"/project/" + name + "/report/", "/manage/organization/acme-research-group/", "/org/acme-research-group/"},
		"root": {"/admin/", "/admin/users/", "/admin/projects/", "/admin/reports/", "/admin/policy/", "/admin/dashboard/"},
	}
	b := newBrowser(t)
	titles := map[string]string{}
	for _, user := range []string{"", "alice", "root"} {
		if user != "" {
			b.signIn(in.Site, user, "correct horse battery staple")
		}
		for _, width := range []int64{1280, 390} {
			if width == 390 {
				b.do(chromedp.EmulateViewport(width, 844, chromedp.EmulateMobile))
			} else {
				b.do(chromedp.EmulateViewport(width, 900))
			}
			for _, path := range pages[user] {
				b.do(chromedp.Navigate(in.Site+path), chromedp.WaitReady("body"))
				where := fmt.Sprintf("%s at %d px (%s)", path, width, or(user, "signed out"))
				a := b.audit(where, fmt.Sprintf("%s-%d-%s", or(user, "anonymous"), width, strings.Trim(strings.NewReplacer("/", "_", "?", "_", "=", "_").Replace(path), "_")))
				if prev, ok := titles[a.Title]; ok && prev != path && width == 1280 {
					t.Errorf("%s and %s have the same title %q: a title names its page", prev, path, a.Title)
				}
				titles[a.Title] = path
				if width == 1280 {
					// The first stops of the keyboard's path through the page each show their focus.
					for i := 0; i < 6; i++ {
						b.do(chromedp.KeyEvent("\t"))
						bad, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](focusJS))
						if err != nil {
							t.Fatal(err)
						}
						if bad != "" && bad != "none" {
							t.Errorf("%s: keyboard focus on %s is not visible", where, bad)
						}
					}
				}
			}
		}
		b.do(chromedp.EmulateViewport(1280, 900))
	}

	// On a phone, as a person would: a deletion confirmed with the wrong name deletes nothing and says why inside
	// the form, on the same page; a refused invitation keeps the name typed.
	b.signIn(in.Site, "alice", "correct horse battery staple")
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	releases := "/manage/project/" + name + "/releases/"
	b.do(chromedp.Navigate(in.Site+releases), chromedp.WaitReady("body"))
	if strings.Contains(b.location(), "/account/reauthenticate/") {
		b.fill("#reauth-form", map[string]string{"password": "correct horse battery staple"})
		b.do(chromedp.Navigate(in.Site+releases), chromedp.WaitReady("body"))
	}
	file := disttest.WheelName(name, "1.0.0rc1")
	b.do(chromedp.Click(`tr[data-filename="`+file+`"] details.confirm summary`), chromedp.WaitVisible(`tr[data-filename="`+file+`"] details.confirm input[name=confirm]`))
	b.fill(`tr[data-filename="`+file+`"] details.confirm form`, map[string]string{"confirm": "not-the-name"})
	b.audit("the refused deletion at 390 px", "refused-deletion-390")
	if got := b.text(`tr[data-filename="` + file + `"] details.confirm p.error`); !strings.Contains(got, "Type the file's name") {
		t.Errorf("a deletion with the wrong name: the form says %q", got)
	}
	if resp, _ := in.get("/simple/" + name + "/"); resp.StatusCode != 200 {
		t.Fatalf("the project's index page: %d", resp.StatusCode)
	} else if _, body := in.get("/simple/" + name + "/"); !strings.Contains(string(body), file) {
		t.Fatal("the file was deleted by a refused confirmation")
	}
	collaboration := "/manage/project/" + name + "/collaboration/"
	b.do(chromedp.Navigate(in.Site+collaboration), chromedp.WaitReady("body"))
	b.fill("#invite-form", map[string]string{"username": "nobody-of-that-name"})
	b.audit("the refused invitation at 390 px", "refused-invitation-390")
	if got := b.text("#invite-form p.error"); !strings.Contains(got, "There is no user of that name") {
		t.Errorf("inviting an unknown user: the form says %q", got)
	}
	kept, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.querySelector("#invite-username").value`))
	if err != nil || kept != "nobody-of-that-name" {
		t.Errorf("the name typed is not kept: %q %v", kept, err)
	}

	// A new token on a phone: the token, in full, and a .pypirc that holds it, on a page that fits.
	b.do(chromedp.Navigate(in.Site+"/manage/account/token/"), chromedp.WaitReady("body"))
	b.fill("#token-form", map[string]string{"name": "from a phone"})
	b.audit("the new token at 390 px", "new-token-390")
	tok := strings.TrimSpace(b.text("#new-token"))
	if !strings.HasPrefix(tok, "wharf-") || !strings.Contains(b.text("#pypirc"), "password = "+tok) {
		t.Errorf("the new token page: token %q, .pypirc %q", tok, b.text("#pypirc"))
	}
	visible, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`!document.querySelector("button.copy[data-copy='#new-token']").hidden`))
	if err != nil || !visible {
		t.Errorf("the copy button is not offered (%v)", err)
	}

	// Setting up an authenticator app with a wrong code keeps the QR code and the secret, with the reason.
	b.do(chromedp.Navigate(in.Site+"/manage/account/totp/"), chromedp.WaitReady("body"))
	b.fill("#totp-begin-form", nil)
	secret := strings.TrimSpace(b.text("#totp-secret"))
	b.fill("#totp-confirm-form", map[string]string{"code": "000000"})
	b.audit("a wrong code at the app's setup at 390 px", "totp-wrong-code-390")
	if got := strings.TrimSpace(b.text("#totp-secret")); got != secret {
		t.Errorf("after a wrong code the secret is %q, was %q", got, secret)
	}
	if got := b.text("#totp-confirm-form p.error"); got == "" {
		t.Error("a wrong code at the app's setup says nothing in its form")
	}
	qr, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.querySelector("#totp-qr svg") !== null`))
	if err != nil || !qr {
		t.Errorf("the QR code is gone after a wrong code (%v)", err)
	}

	// The right code: the recovery codes, with copy and download offered, to be confirmed as saved before the
	// account page stops asking about them.
	b.fill("#totp-confirm-form", map[string]string{"code": oathCode(t, strings.ReplaceAll(secret, " ", ""), time.Now())})
	b.audit("the recovery codes at 390 px", "recovery-codes-390")
	codes, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](`document.querySelectorAll("#recovery-codes li").length`))
	if err != nil || codes != 8 {
		t.Fatalf("%d recovery codes shown (%v)", codes, err)
	}
	offered, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll("button.copy")].every(b => !b.hidden)`))
	if err != nil || !offered {
		t.Errorf("copy and download are not offered for the recovery codes (%v)", err)
	}
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("#recovery-saved-form input[name=confirm]").checked = true`))
	b.fill("#recovery-saved-form", nil)
	if loc := b.location(); !strings.Contains(loc, "/manage/account/") {
		t.Fatalf("confirming the codes as saved led to %s", loc)
	}
	b.audit("the account page with a second factor at 390 px", "account-with-app-390")
	asks, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`document.querySelector("#recovery-unsaved") !== null`))
	if err != nil || asks {
		t.Errorf("the account page still asks about recovery codes confirmed as saved (%v)", err)
	}
}

// audit checks the page the browser shows (auditJS) and keeps its screenshot as name.png.
func (b *browser) audit(where, name string) pageAudit {
	t := b.t
	t.Helper()
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](auditJS))
	if err != nil {
		t.Fatal(err)
	}
	var a pageAudit
	if err := json.Unmarshal([]byte(raw), &a); err != nil {
		t.Fatal(err)
	}
	b.screenshot(name)
	if a.ScrollWidth > a.InnerWidth {
		t.Errorf("%s is %d px wide, wider than its %d px screen; too wide: %v", where, a.ScrollWidth, a.InnerWidth, a.Wide)
	}
	if len(a.Unlabelled) > 0 {
		t.Errorf("%s: form controls without a label: %v", where, a.Unlabelled)
	}
	if len(a.LowContrast) > 0 {
		t.Errorf("%s: text under WCAG AA contrast: %v", where, a.LowContrast)
	}
	return a
}

func or(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}
