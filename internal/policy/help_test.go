package policy

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"wharf/internal/store"
)

// linksKnownSection reports whether a denial ends with the link of its help section, one the help page must have.
func linksKnownSection(d *Denied, base string) bool {
	return slices.Contains(HelpSections, d.Help) && strings.HasSuffix(d.Reason, " See "+HelpURL(base, d.Help))
}

// TestRulesHaveHelp: every two-factor rule is explained by a section of the help page, one of those it must have.
func TestRulesHaveHelp(t *testing.T) {
	for _, rule := range []string{RuleCritical, RuleProjectRequires2FA, RuleTokenBefore2FA, RuleNewRole,
		RuleTrustedPublishingOnly, RulePublishingNeeds2FA, RuleKeysRequired, RuleMandate, RuleOrgRequires2FA} {
		if h, ok := ruleHelp[rule]; !ok || !slices.Contains(HelpSections, h) {
			t.Errorf("rule %s: section %q, want one of HelpSections", rule, h)
		}
	}
}

// TestDenialsLinkTheirHelp: a refusal ends with the link to the section that explains it, its rule's or its own,
// on the index's own address; a reason that gives the link in PyPI's words keeps them and gets no second one.
func TestDenialsLinkTheirHelp(t *testing.T) {
	const base = "https://index.example"
	day := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	roles := protectedRoles{
		fakeRoles: fakeRoles{{10, 1}: store.RoleOwner, {11, 1}: store.RoleOwner, {12, 1}: store.RoleOwner, {13, 1}: store.RoleOwner},
		prot: map[int64]store.Protection{11: {CriticalSince: day}, 12: {Require2FA: true, RequireWebAuthn: true},
			13: {TrustedPublishingOnly: true}},
	}
	e := New(roles, BaseURL(base+"/"), Mandated(Mandate{Enforce: day, Restricted: DefaultRestricted}, func() time.Time { return day.Add(time.Hour) }))
	normal := &store.Project{ID: 10, Name: "Normal", NormalizedName: "normal"}
	critical := &store.Project{ID: 11, Name: "Critical", NormalizedName: "critical"}
	keys := &store.Project{ID: 12, Name: "Keys", NormalizedName: "keys"}
	trusted := &store.Project{ID: 13, Name: "Trusted", NormalizedName: "trusted"}
	owner := store.User{ID: 1, Username: "owner"}
	totp := TwoFactor{TOTP: true, Since: day.AddDate(0, -1, 0)}
	token := &TokenScope{ID: "t", CreatedAt: day}
	for _, tc := range []struct {
		name   string
		actor  Actor
		action Action
		target Target
		want   HelpSection
	}{
		{"the mandate", Actor{User: owner, EmailVerified: true, Token: token}, Upload, Target{Project: normal}, HelpMandate},
		{"a critical project", Actor{User: owner, EmailVerified: true, Token: token}, Upload,
			Target{Project: critical}, HelpCritical},
		{"a token older than the second factor", Actor{User: owner, EmailVerified: true, TwoFactor: totp,
			Token: &TokenScope{ID: "t", CreatedAt: day.AddDate(0, -2, 0)}}, Upload, Target{Project: critical}, HelpAPIToken},
		{"keys required", Actor{User: owner, EmailVerified: true, TwoFactor: totp, Token: token}, Upload, Target{Project: keys}, HelpSecurityKeys},
		{"Trusted Publishing only", Actor{User: owner, EmailVerified: true, TwoFactor: totp, Token: token}, Upload,
			Target{Project: trusted}, HelpTrustedPublishers},
		{"a token's scope", Actor{User: owner, EmailVerified: true, TwoFactor: totp, Token: &TokenScope{ID: "t", Projects: []string{"other"}}},
			Upload, Target{Project: normal}, HelpAPIToken},
		{"a token on the website", Actor{User: owner, EmailVerified: true, TwoFactor: totp, Token: token}, DeleteProject,
			Target{Project: normal}, HelpAPIToken},
		{"the last factor", Actor{User: owner, TwoFactor: totp, Sudo: true}, RemoveLastFactor, Target{}, HelpTwoFA},
		{"a publisher without a second factor", Actor{User: owner, EmailVerified: true, Sudo: true},
			ManagePublishers, Target{Project: normal}, HelpTwoFA},
		{"a Trusted Publishing token elsewhere", PublisherActor(Publisher{TokenID: "p", Identity: "GitHub repository o/r"}), Upload,
			Target{Project: normal}, HelpTrustedPublishers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Decide(context.Background(), tc.actor, tc.action, tc.target)
			var d *Denied
			if !errors.As(err, &d) {
				t.Fatalf("Decide = %v, want a denial", err)
			}
			if d.Help != tc.want || !linksKnownSection(d, base) {
				t.Errorf("section %q, want %q; reason %q does not end with its link", d.Help, tc.want, d.Reason)
			}
			if n := strings.Count(d.Reason, "/help/#"); n != 1 {
				t.Errorf("reason %q links the help %d times", d.Reason, n)
			}
		})
	}

	err := e.Decide(context.Background(), Actor{}, Upload, Target{Project: normal})
	want := "Invalid or non-existent authentication information. See https://index.example/help/#apitoken for more information."
	if err == nil || err.Error() != want {
		t.Errorf("anonymous upload: %v, want %q", err, want)
	}
}
