package projects_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/projects"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

func TestRemoveAndChangeRoles(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob, carol := f.user("alice"), f.user("bob"), f.user("carol")
		f.user("dave")
		p := f.project("demo", alice, "1.0")
		f.addRole(p, bob, store.RoleMaintainer)
		f.addRole(p, carol, store.RoleMaintainer)

		remove := func(actor policy.Actor, who string) func() ([]projects.Notice, error) {
			return func() ([]projects.Notice, error) { return f.m.RemoveRole(ctx, actor, "demo", who, from) }
		}
		change := func(actor policy.Actor, who, role string) func() ([]projects.Notice, error) {
			return func() ([]projects.Notice, error) { return f.m.ChangeRole(ctx, actor, "demo", who, role, from) }
		}
		// The steps run in order, on one project.
		for _, step := range []struct {
			name    string
			do      func() ([]projects.Notice, error)
			want    error
			notices []projects.Notice
			roles   map[string]string
		}{
			{name: "the last owner cannot leave", do: remove(web(alice), "alice"), want: projects.ErrLastOwner},
			{name: "the last owner cannot step down", do: change(web(alice), "alice", store.RoleMaintainer), want: projects.ErrLastOwner},
			{name: "a maintainer cannot remove an owner", do: remove(web(bob), "alice"), want: policy.ErrDenied},
			{name: "a maintainer cannot promote themselves", do: change(web(bob), "bob", store.RoleOwner), want: policy.ErrDenied},
			{name: "leaving needs a password confirmation", do: remove(policy.Actor{EmailVerified: true, User: bob}, "bob"), want: policy.ErrReauthRequired},
			{name: "nor from an API token", do: remove(policy.Actor{EmailVerified: true, User: bob, Token: &policy.TokenScope{ID: "t"}, Sudo: true}, "bob"), want: policy.ErrDenied},
			{name: "removing a user without a role", do: remove(web(alice), "dave"), want: projects.ErrNotCollaborator},
			{name: "removing an unknown user", do: remove(web(alice), "nobody"), want: projects.ErrNoSuchUser},
			{name: "an unknown role", do: change(web(alice), "bob", "owner"), want: projects.ErrInvalidRole},
			{
				name: "a maintainer leaves", do: remove(web(bob), "bob"),
				notices: []projects.Notice{
					{To: alice.ID, Kind: projects.NoticeRoleRemoved, Project: "demo", User: "bob", Role: store.RoleMaintainer, By: "bob"},
					{To: bob.ID, Kind: projects.NoticeRoleRemoved, Project: "demo", User: "bob", Role: store.RoleMaintainer, By: "bob"},
				},
				roles: map[string]string{"alice": "Owner", "carol": "Maintainer"},
			},
			{
				name: "an owner promotes a maintainer", do: change(web(alice), "carol", store.RoleOwner),
				notices: []projects.Notice{
					{To: alice.ID, Kind: projects.NoticeRoleChanged, Project: "demo", User: "carol", Role: store.RoleOwner, By: "alice"},
					{To: carol.ID, Kind: projects.NoticeRoleChanged, Project: "demo", User: "carol", Role: store.RoleOwner, By: "alice"},
				},
				roles: map[string]string{"alice": "Owner", "carol": "Owner"},
			},
			{name: "the same role again changes nothing", do: change(web(alice), "carol", store.RoleOwner), roles: map[string]string{"alice": "Owner", "carol": "Owner"}},
			{
				name: "with another owner, an owner can leave", do: remove(web(alice), "alice"),
				notices: []projects.Notice{
					{To: alice.ID, Kind: projects.NoticeRoleRemoved, Project: "demo", User: "alice", Role: store.RoleOwner, By: "alice"},
					{To: carol.ID, Kind: projects.NoticeRoleRemoved, Project: "demo", User: "alice", Role: store.RoleOwner, By: "alice"},
				},
				roles: map[string]string{"carol": "Owner"},
			},
			{name: "a former owner can manage nothing", do: remove(web(alice), "carol"), want: policy.ErrDenied},
		} {
			t.Run(step.name, func(t *testing.T) {
				notices, err := step.do()
				wantErr(t, step.name, err, step.want)
				if diff := cmp.Diff(step.notices, notices); diff != "" {
					t.Errorf("notices (-want +got):\n%s", diff)
				}
				if step.roles != nil {
					if diff := cmp.Diff(step.roles, f.roles(p)); diff != "" {
						t.Errorf("roles (-want +got):\n%s", diff)
					}
				}
			})
		}
		want := []string{projects.EventRoleLeft, projects.EventRoleChanged, projects.EventRoleLeft}
		if diff := cmp.Diff(want, f.kinds(0, p.ID)); diff != "" {
			t.Errorf("project history (-want +got):\n%s", diff)
		}
	})
}

// K7: grants follow roles. The policy reads roles at every decision, so removing a role or leaving in a transfer
// must refuse the user's existing tokens at once; tokens scoped to the project stay void even if the role comes
// back, and the invitations the user sent die.
func TestGrantsFollowRoles(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob, carol := f.user("alice"), f.user("bob"), f.user("carol")
		f.user("dave")
		p := f.project("demo", alice, "1.0")
		f.addRole(p, bob, store.RoleOwner)
		mint := func(u store.User, projects ...string) string {
			t.Helper()
			tok, _, err := f.tokens.Create(ctx, u, "ci", projects, time.Time{}, audit.Request{})
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		upload := func(token string) error {
			actor, err := f.tokens.Verify(ctx, token)
			if err != nil {
				return err
			}
			return f.policy.Decide(ctx, actor, policy.Upload, policy.Target{Project: &p, Name: p.NormalizedName})
		}
		bobAccount, bobScoped := mint(bob), mint(bob, "demo")
		aliceAccount := mint(alice)
		for name, tok := range map[string]string{"bob's account-wide token": bobAccount, "bob's scoped token": bobScoped, "alice's token": aliceAccount} {
			if err := upload(tok); err != nil {
				t.Fatalf("%s before any change: %v", name, err)
			}
		}
		sent, err := f.m.Invite(ctx, web(bob), "demo", "dave", store.RoleOwner, from)
		if err != nil {
			t.Fatal(err)
		}

		if _, err := f.m.RemoveRole(ctx, web(alice), "demo", "bob", from); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "bob's account-wide token after removal", upload(bobAccount), policy.ErrDenied)
		if err := upload(bobScoped); err == nil {
			t.Error("bob's scoped token still uploads after his removal")
		}
		_, _, err = f.m.Accept(ctx, web(f.userByName("dave")), sent.Token, from)
		wantErr(t, "accepting bob's invitation after his removal", err, projects.ErrNoSuchInvitation)

		f.addRole(p, bob, store.RoleMaintainer)
		if err := upload(bobAccount); err != nil {
			t.Errorf("bob's account-wide token once he has a role again: %v", err)
		}
		if err := upload(bobScoped); err == nil {
			t.Error("bob's scoped token came back to life with his new role")
		}

		f.addRole(p, carol, store.RoleMaintainer)
		if _, err := f.m.TransferOwnership(ctx, web(alice), "demo", "carol", projects.Leave, from); err != nil {
			t.Fatal(err)
		}
		wantErr(t, "alice's token after she transferred the project and left", upload(aliceAccount), policy.ErrDenied)
	})
}

func (f *fixture) userByName(name string) store.User {
	f.t.Helper()
	u, err := f.db.UserByName(context.Background(), name)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func TestTransferToACollaborator(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob, carol := f.user("alice"), f.user("bob"), f.user("carol")
		p := f.project("demo", alice, "1.0")
		f.addRole(p, bob, store.RoleMaintainer)
		f.addRole(p, carol, store.RoleMaintainer)

		for _, tc := range []struct {
			name  string
			actor policy.Actor
			to    string
			then  string
			want  error
		}{
			{"to oneself", web(alice), "alice", projects.StayMaintainer, projects.ErrTransferToSelf},
			{"without saying what the owner becomes", web(alice), "bob", "", projects.ErrInvalidTransfer},
			{"by a maintainer", web(bob), "bob", projects.StayMaintainer, policy.ErrDenied},
			{"without a password confirmation", policy.Actor{EmailVerified: true, User: alice}, "bob", projects.StayMaintainer, policy.ErrReauthRequired},
			{"to an unknown user", web(alice), "nobody", projects.StayMaintainer, projects.ErrNoSuchUser},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.m.TransferOwnership(ctx, tc.actor, "demo", tc.to, tc.then, from)
				wantErr(t, "TransferOwnership", err, tc.want)
			})
		}

		got, err := f.m.TransferOwnership(ctx, web(alice), "demo", "bob", projects.StayMaintainer, from)
		if err != nil {
			t.Fatal(err)
		}
		n := projects.Notice{Kind: projects.NoticeOwnershipTransfer, Project: "demo", User: "bob", Role: store.RoleOwner,
			By: "alice", Detail: "alice becomes a Maintainer"}
		var want []projects.Notice
		for _, id := range []int64{alice.ID, bob.ID, carol.ID} {
			n.To = id
			want = append(want, n)
		}
		if diff := cmp.Diff(projects.Transfer{Notices: want}, got); diff != "" {
			t.Errorf("Transfer (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{"alice": "Maintainer", "bob": "Owner", "carol": "Maintainer"}, f.roles(p)); diff != "" {
			t.Errorf("roles (-want +got):\n%s", diff)
		}
		if kinds := f.kinds(0, p.ID); len(kinds) == 0 || kinds[len(kinds)-1] != projects.EventOwnershipTransfer {
			t.Errorf("project history = %v, want it to end with %s", kinds, projects.EventOwnershipTransfer)
		}
	})
}

func TestTransferByInvitation(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, carol := f.user("alice"), f.user("carol")
		p := f.project("demo", alice, "1.0")

		got, err := f.m.TransferOwnership(ctx, web(alice), "demo", "carol", projects.Leave, from)
		if err != nil {
			t.Fatal(err)
		}
		if got.Invited == nil || got.Invited.Invitation.Role != store.RoleOwner || got.Invited.Invitation.ThenInviter != projects.Leave {
			t.Fatalf("Transfer = %+v; want an Owner invitation after which alice leaves", got)
		}
		if diff := cmp.Diff(map[string]string{"alice": "Owner"}, f.roles(p)); diff != "" {
			t.Errorf("roles before acceptance (-want +got):\n%s", diff)
		}
		_, notices, err := f.m.Accept(ctx, web(carol), got.Invited.Token, from)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(map[string]string{"carol": "Owner"}, f.roles(p)); diff != "" {
			t.Errorf("roles after acceptance (-want +got):\n%s", diff)
		}
		n := projects.Notice{Kind: projects.NoticeOwnershipTransfer, Project: "demo", User: "carol", Role: store.RoleOwner,
			By: "carol", Detail: "alice leaves the project"}
		var want []projects.Notice
		for _, id := range []int64{alice.ID, carol.ID} {
			n.To = id
			want = append(want, n)
		}
		if diff := cmp.Diff(want, notices); diff != "" {
			t.Errorf("notices (-want +got):\n%s", diff)
		}
	})
}

// TestOwnersNeed2FA: an account without a second factor is not made an Owner, neither by a transfer nor by a
// promotion nor by accepting an Owner's invitation; it may be offered the role, and becomes an Owner once it has
// a factor.
func TestOwnersNeed2FA(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice := f.user("alice")
		bare := storetest.MustUser(t, f.db, "bare")
		f.project("demo", alice, "1.0")
		f.addRole(store.Project{ID: mustProject(t, f, "demo")}, bare, store.RoleMaintainer)
		_, err := f.m.ChangeRole(ctx, web(alice), "demo", "bare", store.RoleOwner, from)
		wantErr(t, "promoting an account without 2FA", err, policy.ErrDenied)
		_, err = f.m.TransferOwnership(ctx, web(alice), "demo", "bare", projects.StayMaintainer, from)
		wantErr(t, "transferring to an account without 2FA", err, policy.ErrDenied)

		carl := storetest.MustUser(t, f.db, "carl")
		if _, err := f.m.Invite(ctx, web(alice), "demo", "carl", store.RoleOwner, from); err != nil {
			t.Fatalf("offering ownership: %v", err)
		}
		noFactor := policy.SessionActor(store.Account{User: carl, EmailVerifiedAt: f.now}, policy.Session{})
		_, _, err = f.m.AcceptByID(ctx, noFactor, f.invitationFor(carl.ID), from)
		wantErr(t, "accepting ownership without 2FA", err, policy.ErrDenied)
		_, _, err = f.m.AcceptByID(ctx, web(carl), f.invitationFor(carl.ID), from)
		wantErr(t, "accepting it with 2FA", err, nil)
	})
}

func mustProject(t *testing.T, f *fixture, name string) int64 {
	t.Helper()
	p, err := f.db.ProjectByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return p.ID
}

// TestSetRequire2FA: the switch is recorded, audited and told to every collaborator; refusals change nothing.
func TestSetRequire2FA(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob := f.user("alice"), f.user("bob")
		p := f.project("demo", alice, "1.0")
		f.addRole(p, bob, store.RoleMaintainer)
		ns, err := f.m.SetRequirement(ctx, web(alice), "demo", projects.RequireTwoFactor, from)
		if err != nil {
			t.Fatal(err)
		}
		if prot, _ := f.db.ProjectProtection(ctx, p.ID); !prot.Require2FA {
			t.Error("the requirement was not recorded")
		}
		if len(ns) != 2 || ns[0].Kind != projects.NoticeRequire2FA {
			t.Errorf("notices %+v, want one to each collaborator", ns)
		}
		_, err = f.m.SetRequirement(ctx, web(bob), "demo", projects.RequireNothing, from)
		wantErr(t, "a Maintainer turns it off", err, policy.ErrDenied)
		if prot, _ := f.db.ProjectProtection(ctx, p.ID); !prot.Require2FA {
			t.Error("a refused change changed the setting")
		}
		if _, err := f.m.SetRequirement(ctx, web(alice), "demo", projects.RequireNothing, from); err != nil {
			t.Fatal(err)
		}
		events, _ := f.db.Events(ctx, 0, p.ID, 5)
		if len(events) < 2 || events[0].Kind != projects.EventRequire2FA || !strings.Contains(events[0].Detail, "no longer") {
			t.Errorf("history %+v", events)
		}
	})
}
