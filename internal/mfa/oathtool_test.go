package mfa

import (
	"encoding/base32"
	"os/exec"
	"strings"
	"testing"
	"time"

	"wharf/internal/store/storetest"
)

// TestAgainstOathtool cross-checks the codes with an independent implementation, Debian's oathtool, for fresh
// random secrets at fixed times.
func TestAgainstOathtool(t *testing.T) {
	path, err := exec.LookPath("oathtool")
	if err != nil {
		if storetest.Required() {
			t.Fatal("oathtool is not installed (scripts/test installs it)")
		}
		t.Skip("oathtool is not installed")
	}
	for _, at := range []time.Time{
		time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 10, 30, 29, 0, time.UTC),
		time.Date(2040, 6, 1, 12, 0, 59, 0, time.UTC),
	} {
		secret := NewTOTPSecret()
		b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(secret)
		out, err := exec.Command(path, "--totp", "-b", "-N", at.Format("2006-01-02 15:04:05 UTC"), b32).Output()
		if err != nil {
			t.Fatalf("oathtool: %v", err)
		}
		want := strings.TrimSpace(string(out))
		if got := TOTPAt(secret, at, Period, Digits, SHA1); got != want {
			t.Errorf("at %v: our code %s, oathtool's %s", at, got, want)
		}
		if _, ok := Verify(secret, want, at); !ok {
			t.Errorf("at %v: Verify refused oathtool's code", at)
		}
	}
}
