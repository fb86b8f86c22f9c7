package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"wharf/internal/store/storetest"
)

// oathCode asks Debian's oathtool, an implementation independent of wharf's, for the code of a base32 secret at t.
func oathCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	out, err := exec.Command(tool(t, "oathtool"), "--totp", "-b", "-N", at.UTC().Format("2006-01-02 15:04:05 UTC"), secret).Output()
	if err != nil {
		t.Fatalf("oathtool: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// scanQR decodes the QR code that the browser shows in the element sel, with Debian's zbarimg.
func scanQR(t *testing.T, b *browser, sel string) string {
	t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.Screenshot(sel))
	if err != nil {
		t.Fatalf("screenshot of %s: %v", sel, err)
	}
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool(t, "zbarimg"), "--raw", "-q", file).Output()
	if err != nil {
		t.Fatalf("zbarimg found no QR code in %s: %v", sel, err)
	}
	return strings.TrimSpace(string(out))
}

// TestBrowserTOTP enrols an authenticator app in the real pages with a code from oathtool, then signs in again:
// the password alone leads only to the second step, which a fresh oathtool code completes.
func TestBrowserTOTP(t *testing.T) {
	in := newInstance(t, storetest.Engines(t)[0])
	in.start()
	password := "violet harbor engine 5150"
	in.mustRun(password+"\n", "user", "create", "erin", "--email", "erin@example.com")
	b := newBrowser(t)
	b.signIn(in.Site, "erin", password)

	b.do(chromedp.Navigate(in.Site + "/manage/account/totp/"))
	if strings.Contains(b.location(), "/account/reauthenticate/") {
		b.fill("#reauth-form", map[string]string{"password": password})
	}
	b.fill("#totp-begin-form", nil)
	b.screenshot("01-totp-enrol")
	secret := strings.TrimSpace(b.text("#totp-secret"))
	uri := strings.TrimSpace(b.text("#totp-uri"))
	if !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "secret="+secret) {
		t.Fatalf("key URI %q does not carry the secret %q", uri, secret)
	}
	// The QR code is read back by zbarimg from what Chromium drew, as a phone's camera would read the screen.
	if got := scanQR(t, b, "#totp-qr svg"); got != uri {
		t.Fatalf("the QR code reads %q, want the key URI %q", got, uri)
	}
	b.fill("#totp-confirm-form", map[string]string{"code": oathCode(t, secret, time.Now())})
	b.screenshot("02-recovery-codes")
	if page := b.text("main"); !strings.Contains(strings.ToLower(page), "recovery") {
		t.Fatalf("after confirming, the page shows %q", page)
	}

	b.signIn(in.Site, "erin", password)
	if loc := b.location(); !strings.Contains(loc, "/account/two-factor/") {
		t.Fatalf("the password alone led to %s, want the second step", loc)
	}
	b.do(chromedp.Navigate(in.Site + "/manage/account/"))
	if loc := b.location(); strings.HasSuffix(loc, "/manage/account/") {
		t.Fatal("a half-signed-in session opened the account page")
	}
	b.do(chromedp.Navigate(in.Site + "/account/two-factor/"))
	b.screenshot("03-second-step")
	// The enrolment used this time step; the server accepts the next one (T+1), which oathtool computes ahead.
	b.fill("#two-factor-form", map[string]string{"code": oathCode(t, secret, time.Now().Add(30*time.Second))})
	b.do(chromedp.Navigate(in.Site + "/manage/account/"))
	if loc := b.location(); !strings.HasSuffix(loc, "/manage/account/") {
		t.Fatalf("after the second step the account page is at %s", loc)
	}
	b.screenshot("04-signed-in")
}
