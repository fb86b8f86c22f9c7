package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"wharf/internal/store"
)

// TestPublisherActor is the table of what a Trusted Publishing token may do: upload to the projects of its
// publishers, whatever the 2FA rules and the mandate ask of people, create the project of a pending publisher
// whose account may own one, and nothing else; read-only mode holds it like anyone.
func TestPublisherActor(t *testing.T) {
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	normal := &store.Project{ID: 1, Name: "Normal", NormalizedName: "normal"}
	critical := &store.Project{ID: 2, Name: "Critical", NormalizedName: "critical"}
	keyed := &store.Project{ID: 3, Name: "Keyed", NormalizedName: "keyed"}
	other := &store.Project{ID: 4, Name: "Other", NormalizedName: "other"}
	roles := protectedRoles{fakeRoles: fakeRoles{}, prot: map[int64]store.Protection{
		2: {CriticalSince: since}, 3: {Require2FA: true, RequireWebAuthn: true, TrustedPublishingOnly: true}}}
	verified := store.Account{User: store.User{ID: 9, Username: "alice"}, EmailVerifiedAt: since}
	unverified := store.Account{User: store.User{ID: 10, Username: "bob"}}
	actor := PublisherActor(Publisher{TokenID: "t", Identity: "GitHub repository o/r", Grants: []PublisherGrant{
		{PublisherID: 1, ProjectID: 1}, {PublisherID: 2, ProjectID: 2}, {PublisherID: 3, ProjectID: 3},
		{PublisherID: 4, PendingName: "fresh", Owner: verified}, {PublisherID: 5, PendingName: "unowned", Owner: unverified},
	}})
	now := since.AddDate(1, 0, 0)
	engines := map[string]*Engine{
		"index":            New(roles, BaseURL("https://index.example")),
		"mandate enforced": New(roles, BaseURL("https://index.example"), Mandated(Mandate{Enforce: since}, func() time.Time { return now }), CriticalRequiresKeys(true), CriticalRequiresTrustedPublishing(true)),
		"read-only":        New(roles, BaseURL("https://index.example"), ReadOnly(true)),
	}
	for name, e := range engines {
		for _, tc := range []struct {
			action Action
			target Target
			ok     bool
		}{
			{Upload, Target{Project: normal, Name: "normal"}, true},
			{Upload, Target{Project: critical, Name: "critical"}, true},
			{Upload, Target{Project: keyed, Name: "keyed"}, true},
			{Upload, Target{Project: other, Name: "other"}, false},
			{CreateProject, Target{Name: "fresh"}, true},
			{CreateProject, Target{Name: "unowned"}, false},
			{CreateProject, Target{Name: "normal"}, false},
			{Yank, Target{Project: normal, Name: "normal"}, false},
			{ManagePublishers, Target{Project: normal, Name: "normal"}, false},
			{ApproveRelease, Target{Project: normal, Name: "normal"}, false},
			{CreateToken, Target{}, false},
		} {
			want := tc.ok && name != "read-only"
			t.Run(fmt.Sprintf("%s/%s/%s", name, tc.action, tc.target.Name), func(t *testing.T) {
				err := e.Decide(context.Background(), actor, tc.action, tc.target)
				if err != nil && !errors.Is(err, ErrDenied) {
					t.Fatalf("Decide = %v, want a decision", err)
				}
				if (err == nil) != want {
					t.Errorf("Decide = %v, want allowed=%v", err, want)
				}
			})
		}
	}
	if owner, pending := Creator(actor, "fresh"); owner != 9 || pending != 4 {
		t.Errorf("Creator = %d, %d", owner, pending)
	}
	if owner, _ := Creator(Actor{User: store.User{ID: 7}}, "x"); owner != 7 {
		t.Errorf("a user's upload creates for %d", owner)
	}
}

// TestStages: which uploads wait for approval, by the Owners' choice.
func TestStages(t *testing.T) {
	roles := protectedRoles{fakeRoles: fakeRoles{}, prot: map[int64]store.Protection{
		1: {}, 2: {Staging: store.StageCI}, 3: {Staging: store.StageTokens}}}
	e := New(roles)
	publisher := PublisherActor(Publisher{TokenID: "t"})
	token := Actor{User: store.User{ID: 1}, Token: &TokenScope{ID: "u"}}
	for _, tc := range []struct {
		project int64
		actor   Actor
		want    bool
	}{
		{1, publisher, false}, {1, token, false},
		{2, publisher, true}, {2, token, false},
		{3, publisher, true}, {3, token, true},
	} {
		got, err := e.Stages(context.Background(), tc.actor, &store.Project{ID: tc.project})
		if err != nil || got != tc.want {
			t.Errorf("project %d, publisher %v: Stages = %v, %v; want %v", tc.project, tc.actor.Publisher != nil, got, err, tc.want)
		}
	}
	if got, _ := e.Stages(context.Background(), publisher, nil); got {
		t.Error("a new project's first upload was staged")
	}
}

// TestOffersRecordsNothing: a page asking whether to show a form gets Decide's answer, and the history stays as it
// was: looking is not an attempt.
func TestOffersRecordsNothing(t *testing.T) {
	rec := &recorded{}
	e := New(fakeRoles{{10, 1}: store.RoleOwner, {10, 2}: store.RoleMaintainer}, Audit(rec), BaseURL("https://index.example"))
	demo := &store.Project{ID: 10, Name: "Demo", NormalizedName: "demo"}
	target := Target{Project: demo, Name: "demo"}
	maint := Actor{User: store.User{ID: 2, Username: "maint"}, EmailVerified: true, Sudo: true, TwoFactor: TwoFactor{TOTP: true}}
	bareOwner := Actor{User: store.User{ID: 1, Username: "owner"}, EmailVerified: true, Sudo: true}
	for _, tc := range []struct {
		actor  Actor
		action Action
		rule   string
	}{
		{maint, ManagePublishers, RulePermission},
		{bareOwner, ManagePublishers, RulePublishingNeeds2FA},
	} {
		offer := e.Offers(context.Background(), tc.actor, tc.action, target)
		if !errors.Is(offer, ErrDenied) || len(rec.events) != 0 {
			t.Fatalf("Offers = %v, recorded %v", offer, rec.events)
		}
		decided := e.Decide(context.Background(), tc.actor, tc.action, target)
		if fmt.Sprint(offer) != fmt.Sprint(decided) || len(rec.events) != 1 || !strings.HasSuffix(rec.events[0], "rule "+tc.rule) {
			t.Errorf("Offers = %v, Decide = %v, recorded %v", offer, decided, rec.events)
		}
		rec.events = nil
	}
}
