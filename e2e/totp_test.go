package e2e

import (
	"os/exec"
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

// TestBrowserTOTP enrols an authenticator app in the real pages with a code from oathtool, then signs in again:
// the password alone leads only to the second step, which a fresh oathtool code completes.
func TestBrowserTOTP(t *testing.T) {
	in := newInstance(t, storetest.Engines(t)[0])
	in.start()
	password := "violet harbor engine 5150"
	in.mustRun(password+"\n", "user", "create", "erin", "--email", "erin@example.com")
	b := newBrowser(t)
	b.signIn(in.URL, "erin", password)

	b.do(chromedp.Navigate(in.URL + "/manage/account/totp/"))
	if strings.Contains(b.location(), "/account/reauthenticate/") {
		b.fill("#reauth-form", map[string]string{"password": password})
	}
	b.fill("#totp-begin-form", nil)
	b.screenshot("01-totp-enrol")
	secret := strings.TrimSpace(b.text("#totp-secret"))
	if uri := b.text("#totp-uri"); !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "secret="+secret) {
		t.Fatalf("key URI %q does not carry the secret %q", uri, secret)
	}
	b.fill("#totp-confirm-form", map[string]string{"code": oathCode(t, secret, time.Now())})
	b.screenshot("02-recovery-codes")
	if page := b.text("main"); !strings.Contains(strings.ToLower(page), "recovery") {
		t.Fatalf("after confirming, the page shows %q", page)
	}

	b.signIn(in.URL, "erin", password)
	if loc := b.location(); !strings.Contains(loc, "/account/two-factor/") {
		t.Fatalf("the password alone led to %s, want the second step", loc)
	}
	b.do(chromedp.Navigate(in.URL + "/manage/account/"))
	if loc := b.location(); strings.HasSuffix(loc, "/manage/account/") {
		t.Fatal("a half-signed-in session opened the account page")
	}
	b.do(chromedp.Navigate(in.URL + "/account/two-factor/"))
	b.screenshot("03-second-step")
	// The enrolment used this time step; the server accepts the next one (T+1), which oathtool computes ahead.
	b.fill("#two-factor-form", map[string]string{"code": oathCode(t, secret, time.Now().Add(30*time.Second))})
	b.do(chromedp.Navigate(in.URL + "/manage/account/"))
	if loc := b.location(); !strings.HasSuffix(loc, "/manage/account/") {
		t.Fatalf("after the second step the account page is at %s", loc)
	}
	b.screenshot("04-signed-in")
}
