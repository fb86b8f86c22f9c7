package projects_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/policy"
	"wharf/internal/projects"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

func TestInvitationAcceptedByLink(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob, carol := f.user("alice"), f.user("bob"), f.user("carol")
		p := f.project("demo", alice, "1.0")

		inv, err := f.m.Invite(ctx, web(alice), "Demo", "BOB", store.RoleMaintainer, from)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(inv.Token))
		if inv.Invitation.TokenHash != hex.EncodeToString(sum[:]) || len(inv.Token) < 43 {
			t.Errorf("token %q stored as %q; want a long token stored only as its SHA-256", inv.Token, inv.Invitation.TokenHash)
		}
		if got := inv.Invitation.ExpiresAt.Sub(inv.Invitation.CreatedAt); got != projects.DefaultInvitationTTL {
			t.Errorf("invitation lasts %v, want %v", got, projects.DefaultInvitationTTL)
		}
		want := []projects.Notice{
			{To: bob.ID, Kind: projects.NoticeInvitation, Project: "demo", User: "bob", Role: store.RoleMaintainer, By: "alice"},
			{To: alice.ID, Kind: projects.NoticeInvitationSent, Project: "demo", User: "bob", Role: store.RoleMaintainer, By: "alice"},
		}
		if diff := cmp.Diff(want, inv.Notices); diff != "" {
			t.Errorf("Invite notices (-want +got):\n%s", diff)
		}

		for _, tc := range []struct {
			name  string
			actor policy.Actor
			token string
			want  error
		}{
			{"another account", web(carol), inv.Token, policy.ErrDenied},
			{"the invitee with an API token", policy.Actor{EmailVerified: true, User: bob, Token: &policy.TokenScope{ID: "t"}}, inv.Token, policy.ErrDenied},
			{"a forged token", web(bob), inv.Token[:len(inv.Token)-2] + "AA", projects.ErrNoSuchInvitation},
			{"garbage", web(bob), "not-a-token", projects.ErrNoSuchInvitation},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, _, err := f.m.Accept(ctx, tc.actor, tc.token, from)
				wantErr(t, "Accept", err, tc.want)
			})
		}

		// No password confirmation is needed to accept: it gives the invitee nothing the inviter did not offer.
		got, notices, err := f.m.Accept(ctx, policy.Actor{EmailVerified: true, User: bob}, inv.Token, from)
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != inv.Invitation.ID || !got.AcceptedAt.Equal(f.now) {
			t.Errorf("accepted invitation = %+v", got)
		}
		wantNotices := []projects.Notice{
			{To: alice.ID, Kind: projects.NoticeRoleAdded, Project: "demo", User: "bob", Role: store.RoleMaintainer, By: "bob"},
			{To: bob.ID, Kind: projects.NoticeRoleAdded, Project: "demo", User: "bob", Role: store.RoleMaintainer, By: "bob"},
		}
		if diff := cmp.Diff(wantNotices, notices); diff != "" {
			t.Errorf("Accept notices (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{"alice": "Owner", "bob": "Maintainer"}, f.roles(p)); diff != "" {
			t.Errorf("roles (-want +got):\n%s", diff)
		}
		_, _, err = f.m.Accept(ctx, web(bob), inv.Token, from)
		wantErr(t, "second acceptance", err, projects.ErrNoSuchInvitation)

		events, err := f.db.Events(ctx, 0, p.ID, 10)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			Kind   string
			UserID int64
			IP     string
		}
		var rows []row
		for _, e := range events {
			rows = append(rows, row{e.Kind, e.UserID, e.IP})
		}
		wantRows := []row{{projects.EventInvitationAccepted, bob.ID, from.IP}, {projects.EventInvited, alice.ID, from.IP}}
		if diff := cmp.Diff(wantRows, rows); diff != "" {
			t.Errorf("project history (-want +got):\n%s", diff)
		}
	})
}

func TestInviteRefusals(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob, dave := f.user("alice"), f.user("bob"), f.user("dave")
		f.user("carol")
		p := f.project("demo", alice, "1.0")
		f.addRole(p, bob, store.RoleMaintainer)
		if _, err := f.m.Invite(ctx, web(alice), "demo", "carol", store.RoleOwner, from); err != nil {
			t.Fatal(err)
		}
		if err := f.db.SetUserDisabled(ctx, dave.ID, true, f.now); err != nil {
			t.Fatal(err)
		}
		f.user("erin")

		for _, tc := range []struct {
			name    string
			actor   policy.Actor
			project string
			user    string
			role    string
			want    error
		}{
			{"a maintainer", web(bob), "demo", "erin", store.RoleMaintainer, policy.ErrDenied},
			{"without a recent password confirmation", policy.Actor{EmailVerified: true, User: alice}, "demo", "erin", store.RoleMaintainer, policy.ErrReauthRequired},
			{"with an API token", policy.Actor{EmailVerified: true, User: alice, Token: &policy.TokenScope{ID: "t"}, Sudo: true}, "demo", "erin", store.RoleMaintainer, policy.ErrDenied},
			{"an unknown user", web(alice), "demo", "nobody", store.RoleMaintainer, projects.ErrNoSuchUser},
			{"an unknown project", web(alice), "nothing", "erin", store.RoleMaintainer, projects.ErrNoSuchProject},
			{"an unknown role", web(alice), "demo", "erin", "Admin", projects.ErrInvalidRole},
			{"a collaborator", web(alice), "demo", "bob", store.RoleOwner, projects.ErrIsCollaborator},
			{"oneself", web(alice), "demo", "alice", store.RoleOwner, projects.ErrIsCollaborator},
			{"someone already invited", web(alice), "demo", "carol", store.RoleMaintainer, projects.ErrAlreadyInvited},
			{"a disabled account", web(alice), "demo", "dave", store.RoleMaintainer, projects.ErrUserDisabled},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.m.Invite(ctx, tc.actor, tc.project, tc.user, tc.role, from)
				wantErr(t, "Invite", err, tc.want)
			})
		}
		list, err := f.m.ProjectInvitations(ctx, web(alice), "demo")
		if err != nil || len(list) != 1 || list[0].InviteeName != "carol" {
			t.Errorf("ProjectInvitations = %+v, %v; want only carol's", list, err)
		}
	})
}

func TestInvitationExpires(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob := f.user("alice"), f.user("bob")
		f.project("demo", alice, "1.0")
		inv, err := f.m.Invite(ctx, web(alice), "demo", "bob", store.RoleMaintainer, from)
		if err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(projects.DefaultInvitationTTL)
		_, _, err = f.m.Accept(ctx, web(bob), inv.Token, from)
		wantErr(t, "Accept at expiry", err, projects.ErrNoSuchInvitation)
		_, _, err = f.m.AcceptByID(ctx, web(bob), inv.Invitation.ID, from)
		wantErr(t, "AcceptByID at expiry", err, projects.ErrNoSuchInvitation)
		if list, err := f.m.UserInvitations(ctx, web(bob)); err != nil || len(list) != 0 {
			t.Errorf("UserInvitations after expiry = %+v, %v; want none", list, err)
		}
		again, err := f.m.Invite(ctx, web(alice), "demo", "bob", store.RoleMaintainer, from)
		if err != nil {
			t.Fatalf("invite again after expiry: %v", err)
		}
		if _, _, err := f.m.AcceptByID(ctx, web(bob), again.Invitation.ID, from); err != nil {
			t.Errorf("AcceptByID of the new invitation: %v", err)
		}
	})
}

// K4: nobody reaches an invitation through an id that is not theirs to use.
func TestInvitationsByIDStayWithTheirOwners(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob, carol, dave := f.user("alice"), f.user("bob"), f.user("carol"), f.user("dave")
		f.project("demo", alice, "1.0")
		f.project("other", dave, "1.0")
		inv, err := f.m.Invite(ctx, web(alice), "demo", "bob", store.RoleMaintainer, from)
		if err != nil {
			t.Fatal(err)
		}
		id := inv.Invitation.ID

		for _, tc := range []struct {
			name string
			do   func() error
			want error
		}{
			{"another project's owner revokes through their project", func() error {
				_, err := f.m.RevokeInvitation(ctx, web(dave), "other", id, from)
				return err
			}, projects.ErrNoSuchInvitation},
			{"another project's owner revokes through this project", func() error {
				_, err := f.m.RevokeInvitation(ctx, web(dave), "demo", id, from)
				return err
			}, policy.ErrDenied},
			{"someone else accepts", func() error { _, _, err := f.m.AcceptByID(ctx, web(carol), id, from); return err }, policy.ErrDenied},
			{"someone else declines", func() error { _, err := f.m.Decline(ctx, web(carol), id, from); return err }, policy.ErrDenied},
			{"the invitee lists the project's invitations", func() error {
				_, err := f.m.ProjectInvitations(ctx, web(bob), "demo")
				return err
			}, policy.ErrDenied},
			{"an unknown id", func() error { _, _, err := f.m.AcceptByID(ctx, web(bob), id+100, from); return err }, projects.ErrNoSuchInvitation},
		} {
			t.Run(tc.name, func(t *testing.T) { wantErr(t, tc.name, tc.do(), tc.want) })
		}

		mine, err := f.m.UserInvitations(ctx, web(bob))
		if err != nil || len(mine) != 1 || mine[0].ID != id {
			t.Fatalf("bob's invitations = %+v, %v", mine, err)
		}
		if others, err := f.m.UserInvitations(ctx, web(carol)); err != nil || len(others) != 0 {
			t.Errorf("carol's invitations = %+v, %v; want none", others, err)
		}
		notices, err := f.m.Decline(ctx, web(bob), id, from)
		if err != nil {
			t.Fatal(err)
		}
		want := []projects.Notice{{To: alice.ID, Kind: projects.NoticeInvitationDeclined, Project: "demo", User: "bob", Role: store.RoleMaintainer, By: "bob"}}
		if diff := cmp.Diff(want, notices); diff != "" {
			t.Errorf("Decline notices (-want +got):\n%s", diff)
		}
		_, _, err = f.m.AcceptByID(ctx, web(bob), id, from)
		wantErr(t, "accept after declining", err, projects.ErrNoSuchInvitation)
	})
}

func TestRevokeInvitation(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob := f.user("alice"), f.user("bob")
		f.project("demo", alice, "1.0")
		inv, err := f.m.Invite(ctx, web(alice), "demo", "bob", store.RoleOwner, from)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.m.RevokeInvitation(ctx, policy.Actor{EmailVerified: true, User: alice}, "demo", inv.Invitation.ID, from)
		wantErr(t, "revoke without confirmation", err, policy.ErrReauthRequired)
		notices, err := f.m.RevokeInvitation(ctx, web(alice), "demo", inv.Invitation.ID, from)
		if err != nil {
			t.Fatal(err)
		}
		want := []projects.Notice{
			{To: alice.ID, Kind: projects.NoticeInvitationRevoked, Project: "demo", User: "bob", Role: store.RoleOwner, By: "alice"},
			{To: bob.ID, Kind: projects.NoticeInvitationRevoked, Project: "demo", User: "bob", Role: store.RoleOwner, By: "alice"},
		}
		if diff := cmp.Diff(want, notices); diff != "" {
			t.Errorf("notices (-want +got):\n%s", diff)
		}
		_, _, err = f.m.Accept(ctx, web(bob), inv.Token, from)
		wantErr(t, "accept a withdrawn invitation", err, projects.ErrNoSuchInvitation)
		_, err = f.m.RevokeInvitation(ctx, web(alice), "demo", inv.Invitation.ID, from)
		wantErr(t, "revoke twice", err, projects.ErrNoSuchInvitation)
	})
}

func TestNewRefusesAShortKey(t *testing.T) {
	if _, err := projects.New(nil, nil, nil, nil, make([]byte, 31), time.Now, projects.Options{}); err == nil {
		t.Error("New accepted a 31-byte key")
	}
}

// TestRolesNeedVerifiedEmail: an account without a verified address is given no role by any path: not invited,
// not handed the project, not promoted to Owner, and an invitation it already holds cannot be accepted until the
// address is verified. Declining, demoting and removing stay possible.
func TestRolesNeedVerifiedEmail(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob := f.user("alice"), f.user("bob")
		storetest.MustUnverifiedUser(t, f.db, "dan")
		p := f.project("demo", alice, "1.0")

		_, err := f.m.Invite(ctx, web(alice), "demo", "dan", store.RoleMaintainer, from)
		wantErr(t, "inviting an unverified account", err, policy.ErrDenied)
		_, err = f.m.TransferOwnership(ctx, web(alice), "demo", "dan", projects.StayMaintainer, from)
		wantErr(t, "transferring to an unverified account", err, policy.ErrDenied)

		// Bob is invited while verified, then changes his address: the new one is unverified.
		if _, err := f.m.Invite(ctx, web(alice), "demo", "bob", store.RoleMaintainer, from); err != nil {
			t.Fatal(err)
		}
		if err := f.db.SetEmail(ctx, bob.ID, "bob@elsewhere.example", f.now); err != nil {
			t.Fatal(err)
		}
		unverifiedBob := policy.SessionActor(store.Account{User: bob}, policy.Session{})
		_, _, err = f.m.AcceptByID(ctx, unverifiedBob, f.invitationFor(bob.ID), from)
		wantErr(t, "accepting with an unverified address", err, policy.ErrDenied)
		if role, _ := f.db.RoleOf(ctx, p.ID, bob.ID); role != "" {
			t.Fatalf("bob got the role %q without a verified address", role)
		}
		if err := f.db.SetEmailVerified(ctx, bob.ID, "bob@elsewhere.example", f.now); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.m.AcceptByID(ctx, web(bob), f.invitationFor(bob.ID), from); err != nil {
			t.Fatalf("accepting once verified: %v", err)
		}

		// A collaborator whose address became unverified keeps the role, but is not promoted until verified.
		if err := f.db.SetEmail(ctx, bob.ID, "bob@third.example", f.now); err != nil {
			t.Fatal(err)
		}
		_, err = f.m.ChangeRole(ctx, web(alice), "demo", "bob", store.RoleOwner, from)
		wantErr(t, "promoting an unverified collaborator", err, policy.ErrDenied)
		_, err = f.m.TransferOwnership(ctx, web(alice), "demo", "bob", projects.StayMaintainer, from)
		wantErr(t, "transferring to an unverified collaborator", err, policy.ErrDenied)
		if _, err := f.m.RemoveRole(ctx, web(alice), "demo", "bob", from); err != nil {
			t.Errorf("removing an unverified collaborator: %v", err)
		}

		// An unverified invitee may still say no.
		carol := f.user("carol")
		if _, err := f.m.Invite(ctx, web(alice), "demo", "carol", store.RoleMaintainer, from); err != nil {
			t.Fatal(err)
		}
		if err := f.db.SetEmail(ctx, carol.ID, "carol@elsewhere.example", f.now); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.Decline(ctx, policy.SessionActor(store.Account{User: carol}, policy.Session{}), f.invitationFor(carol.ID), from); err != nil {
			t.Errorf("an unverified invitee declining: %v", err)
		}
	})
}

// invitationFor is the id of the one pending invitation addressed to userID.
func (f *fixture) invitationFor(userID int64) int64 {
	f.t.Helper()
	invs, err := f.db.InvitationsForUser(context.Background(), userID, f.now)
	if err != nil || len(invs) != 1 {
		f.t.Fatalf("pending invitations of user %d: %v %v", userID, invs, err)
	}
	return invs[0].ID
}
