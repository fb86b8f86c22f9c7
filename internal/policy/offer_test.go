package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"wharf/internal/store"
)

// TestKeyOffer is the table of who may claim the security-key offer: a web session of an Owner or Maintainer of
// a critical project without a security key. An authenticator app does not count as a key. Read-only mode and
// the mandate's enforce phase leave the offer open; denials say why and what to do, and are not recorded as
// refusals of the 2FA rules.
func TestKeyOffer(t *testing.T) {
	t2fa := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	// Project 11 is critical, 10 is not. User 1 owns 11, 2 maintains 11, 3 owns only 10, 4 has no role.
	roles := protectedRoles{
		fakeRoles: fakeRoles{{11, 1}: store.RoleOwner, {11, 2}: store.RoleMaintainer, {10, 1}: store.RoleOwner, {10, 3}: store.RoleOwner},
		prot:      map[int64]store.Protection{11: {CriticalSince: t2fa}},
	}
	rec := &recorded{}
	base := []Option{BaseURL("https://index.example/"), Audit(rec)}
	now := func() time.Time { return t2fa.AddDate(1, 0, 0) }
	engines := map[string]*Engine{
		"plain":     New(roles, base...),
		"read-only": New(roles, append(base, ReadOnly(true))...),
		"enforce":   New(roles, append(base, Mandated(Mandate{Enforce: t2fa}, now))...),
	}
	owner := store.User{ID: 1, Username: "owner"}
	maint := store.User{ID: 2, Username: "maint"}
	other := store.User{ID: 3, Username: "other"}
	stranger := store.User{ID: 4, Username: "stranger"}
	session := func(u store.User, f TwoFactor) Actor { return Actor{User: u, EmailVerified: true, TwoFactor: f} }
	for _, tc := range []struct {
		name   string
		actor  Actor
		denied string // substring of the reason; "" = allowed
	}{
		{"owner of a critical project without 2FA", session(owner, TwoFactor{}), ""},
		{"maintainer of a critical project without 2FA", session(maint, TwoFactor{}), ""},
		{"an authenticator app is not a key", session(maint, TwoFactor{TOTP: true, Since: t2fa}), ""},
		{"a confirmed session changes nothing", func() Actor { a := session(owner, TwoFactor{}); a.Sudo = true; return a }(), ""},
		{"already has a key", session(owner, TwoFactor{WebAuthn: true, Since: t2fa}), "'owner' already has a security key or passkey"},
		{"a key and an app", session(maint, TwoFactor{TOTP: true, WebAuthn: true, Since: t2fa}), "already has a security key"},
		{"owner of a project that is not critical", session(other, TwoFactor{}), "'other' maintains none. You can still add a security key or passkey of your own on your account page."},
		{"no role", session(stranger, TwoFactor{}), "is for the Owners and Maintainers of critical projects"},
		{"an API token", func() Actor { a := session(owner, TwoFactor{}); a.Token = &TokenScope{ID: "t"}; return a }(), "API tokens can only upload. Sign in to the website"},
		{"disabled", session(store.User{ID: 1, Username: "owner", Disabled: true}, TwoFactor{}), "is disabled"},
		{"anonymous", Actor{}, "authentication"},
	} {
		for name, e := range engines {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				err := e.Decide(context.Background(), tc.actor, ClaimKeyOffer, Target{})
				if tc.denied == "" {
					if err != nil {
						t.Fatalf("Decide = %v, want allowed", err)
					}
					return
				}
				var d *Denied
				if !errors.As(err, &d) || !strings.Contains(d.Reason, tc.denied) {
					t.Fatalf("Decide = %v, want a denial containing %q", err, tc.denied)
				}
				if d.Rule != "" || d.Reauth {
					t.Errorf("denial with rule %q, reauth %v; want neither", d.Rule, d.Reauth)
				}
			})
		}
	}
	if len(rec.events) != 0 {
		t.Errorf("the offer's denials were recorded as refusals of the 2FA rules: %v", rec.events)
	}
	if err := New(failingRoles{}).Decide(context.Background(), session(owner, TwoFactor{}), ClaimKeyOffer, Target{}); err == nil || errors.Is(err, ErrDenied) {
		t.Errorf("with the database down: %v, want an error that is not a denial", err)
	}
}
