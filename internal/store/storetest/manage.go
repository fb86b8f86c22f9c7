package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
)

// RunManage is the conformance suite for project management: roles, invitations and deletions.
func RunManage(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()

	// project creates a project owned by owner, with one file.
	project := func(t *testing.T, db *store.DB, name string, owner store.User) store.Project {
		t.Helper()
		res, err := db.AddFile(ctx, newFile(name, "1.0", name+"-1.0.tar.gz", name+"-sha", owner.ID, true))
		if err != nil {
			t.Fatal(err)
		}
		return res.Project
	}
	addRole := func(t *testing.T, db *store.DB, p store.Project, u store.User, role string) {
		t.Helper()
		if err := db.AddRole(ctx, p.ID, u.ID, role, t0); err != nil {
			t.Fatal(err)
		}
	}
	roles := func(t *testing.T, db *store.DB, p store.Project) map[string]string {
		t.Helper()
		cs, err := db.Collaborators(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, c := range cs {
			out[c.Username] = c.Role
		}
		return out
	}
	invite := func(t *testing.T, db *store.DB, p store.Project, from, to store.User, role, then, hash string) store.Invitation {
		t.Helper()
		inv, err := db.CreateInvitation(ctx, store.Invitation{ProjectID: p.ID, InviteeID: to.ID, InviterID: from.ID,
			Role: role, ThenInviter: then, TokenHash: hash, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
		if err != nil {
			t.Fatalf("invite %s: %v", to.Username, err)
		}
		return inv
	}
	liveTokens := func(t *testing.T, db *store.DB, u store.User) []string {
		t.Helper()
		list, err := db.TokensForUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, tok := range list {
			if tok.RevokedAt.IsZero() {
				out = append(out, tok.ID)
			}
		}
		return out
	}

	t.Run("projects for user and owners", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		zeta, alpha := project(t, db, "zeta", alice), project(t, db, "alpha", bob)
		addRole(t, db, alpha, alice, store.RoleMaintainer)
		got, err := db.ProjectsForUser(ctx, alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, up := range got {
			names = append(names, up.Project.NormalizedName+":"+up.Role)
		}
		if diff := cmp.Diff([]string{"alpha:Maintainer", "zeta:Owner"}, names); diff != "" {
			t.Errorf("ProjectsForUser (-want +got):\n%s", diff)
		}
		if got[1].Project.ID != zeta.ID || got[1].Project.TotalSize != 100 {
			t.Errorf("project row = %+v", got[1].Project)
		}
		if none, err := db.ProjectsForUser(ctx, alice.ID+100); err != nil || len(none) != 0 {
			t.Errorf("unknown user: %v, %v", none, err)
		}
		addRole(t, db, zeta, bob, store.RoleOwner)
		if n, err := db.OwnersCount(ctx, zeta.ID); err != nil || n != 2 {
			t.Errorf("OwnersCount = %d, %v; want 2", n, err)
		}
		byName, err := db.ProjectByName(ctx, "zeta")
		if err != nil {
			t.Fatal(err)
		}
		if got, err := db.ProjectByID(ctx, zeta.ID); err != nil || !cmp.Equal(byName, got) {
			t.Errorf("ProjectByID = %+v, %v; want %+v", got, err, byName)
		}
		if _, err := db.ProjectByID(ctx, zeta.ID+100); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ProjectByID of a missing project: got %v, want ErrNotFound", err)
		}
	})

	t.Run("invitation lifecycle", func(t *testing.T) {
		db := open(t)
		alice, bob, carol := MustUser(t, db, "alice"), MustUser(t, db, "bob"), MustUser(t, db, "carol")
		p := project(t, db, "demo", alice)
		inv := invite(t, db, p, alice, bob, store.RoleMaintainer, "", "h1")
		want := store.Invitation{ID: inv.ID, ProjectID: p.ID, ProjectName: "demo", InviteeID: bob.ID, InviteeName: "bob",
			InviterID: alice.ID, InviterName: "alice", Role: store.RoleMaintainer, TokenHash: "h1",
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		if diff := cmp.Diff(want, inv); diff != "" {
			t.Errorf("CreateInvitation (-want +got):\n%s", diff)
		}
		if got, err := db.InvitationByHash(ctx, "h1"); err != nil || !cmp.Equal(want, got) {
			t.Errorf("InvitationByHash = %+v, %v", got, err)
		}
		if !inv.Pending(t0) || inv.Pending(t0.Add(time.Hour)) {
			t.Errorf("Pending at creation / at expiry = %v / %v; want true / false", inv.Pending(t0), inv.Pending(t0.Add(time.Hour)))
		}

		for _, tc := range []struct {
			name string
			inv  store.Invitation
			want error
		}{
			{"a second pending invitation", store.Invitation{InviterID: alice.ID, InviteeID: bob.ID, TokenHash: "h2"}, store.ErrAlreadyInvited},
			{"a collaborator", store.Invitation{InviterID: alice.ID, InviteeID: alice.ID, TokenHash: "h2"}, store.ErrIsCollaborator},
			{"from someone who is not an owner", store.Invitation{InviterID: carol.ID, InviteeID: bob.ID, TokenHash: "h2"}, store.ErrNotOwner},
			{"a token hash in use", store.Invitation{InviterID: alice.ID, InviteeID: carol.ID, TokenHash: "h1"}, store.ErrConflict},
			{"to a missing project", store.Invitation{ProjectID: p.ID + 100, InviterID: alice.ID, InviteeID: carol.ID, TokenHash: "h2"}, store.ErrNotFound},
		} {
			t.Run(tc.name, func(t *testing.T) {
				in := tc.inv
				if in.ProjectID == 0 {
					in.ProjectID = p.ID
				}
				in.Role, in.CreatedAt, in.ExpiresAt = store.RoleMaintainer, t0, t0.Add(time.Hour)
				if _, err := db.CreateInvitation(ctx, in); !errors.Is(err, tc.want) {
					t.Errorf("CreateInvitation = %v, want %v", err, tc.want)
				}
			})
		}
		// An expired invitation no longer blocks a new one.
		expired := store.Invitation{ProjectID: p.ID, InviteeID: bob.ID, InviterID: alice.ID, Role: store.RoleOwner,
			TokenHash: "h3", CreatedAt: t0.Add(time.Hour), ExpiresAt: t0.Add(2 * time.Hour)}
		second, err := db.CreateInvitation(ctx, expired)
		if err != nil {
			t.Fatalf("invitation after the first expired: %v", err)
		}

		for name, list := range map[string]func(time.Time) ([]store.Invitation, error){
			"project": func(now time.Time) ([]store.Invitation, error) { return db.InvitationsForProject(ctx, p.ID, now) },
			"user":    func(now time.Time) ([]store.Invitation, error) { return db.InvitationsForUser(ctx, bob.ID, now) },
		} {
			got, err := list(t0)
			if err != nil || len(got) != 2 || got[0].ID != second.ID || got[1].ID != inv.ID {
				t.Errorf("%s invitations at t0 = %+v, %v; want both, newest first", name, got, err)
			}
			if got, err := list(t0.Add(90 * time.Minute)); err != nil || len(got) != 1 || got[0].ID != second.ID {
				t.Errorf("%s invitations after the first expired = %+v, %v", name, got, err)
			}
		}

		at := t0.Add(90 * time.Minute)
		for _, tc := range []struct {
			name string
			do   func() error
		}{
			{"accept by the wrong user", func() error { _, err := db.AcceptInvitationByHash(ctx, "h3", carol.ID, at); return err }},
			{"accept an expired invitation", func() error { _, err := db.AcceptInvitationByHash(ctx, "h1", bob.ID, at); return err }},
			{"accept an unknown hash", func() error { _, err := db.AcceptInvitationByHash(ctx, "nope", bob.ID, at); return err }},
			{"accept an unknown id", func() error { _, err := db.AcceptInvitation(ctx, second.ID+100, bob.ID, at); return err }},
			{"decline by the wrong user", func() error { _, err := db.DeclineInvitation(ctx, second.ID, carol.ID, at); return err }},
			{"revoke through another project", func() error { _, err := db.RevokeInvitation(ctx, second.ID, p.ID+100, at); return err }},
		} {
			if err := tc.do(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s: got %v, want ErrNotFound", tc.name, err)
			}
		}
		got, err := db.AcceptInvitationByHash(ctx, "h3", bob.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		if !got.AcceptedAt.Equal(at) || got.Pending(at) {
			t.Errorf("accepted invitation = %+v", got)
		}
		if diff := cmp.Diff(map[string]string{"alice": "Owner", "bob": "Owner"}, roles(t, db, p)); diff != "" {
			t.Errorf("roles after acceptance (-want +got):\n%s", diff)
		}
		if _, err := db.AcceptInvitation(ctx, second.ID, bob.ID, at); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second acceptance: got %v, want ErrNotFound", err)
		}
		if _, err := db.DeclineInvitation(ctx, second.ID, bob.ID, at); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("decline after acceptance: got %v, want ErrNotFound", err)
		}

		toCarol := invite(t, db, p, bob, carol, store.RoleMaintainer, "", "h4")
		if d, err := db.DeclineInvitation(ctx, toCarol.ID, carol.ID, at); err != nil || !d.DeclinedAt.Equal(at) {
			t.Errorf("decline = %+v, %v", d, err)
		}
		again := invite(t, db, p, alice, carol, store.RoleMaintainer, "", "h5")
		if r, err := db.RevokeInvitation(ctx, again.ID, p.ID, at); err != nil || !r.RevokedAt.Equal(at) {
			t.Errorf("revoke = %+v, %v", r, err)
		}
		if _, err := db.AcceptInvitationByHash(ctx, "h5", carol.ID, at); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("accept a revoked invitation: got %v, want ErrNotFound", err)
		}
		if _, ok := roles(t, db, p)["carol"]; ok {
			t.Error("carol got a role from a declined or revoked invitation")
		}
	})

	t.Run("acceptance never lowers a role", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		p := project(t, db, "demo", alice)
		inv := invite(t, db, p, alice, bob, store.RoleMaintainer, "", "h")
		addRole(t, db, p, bob, store.RoleOwner)
		if _, err := db.AcceptInvitation(ctx, inv.ID, bob.ID, t0); err != nil {
			t.Fatal(err)
		}
		if r := roles(t, db, p)["bob"]; r != store.RoleOwner {
			t.Errorf("bob's role = %q, want Owner kept", r)
		}
	})

	t.Run("an invitation dies with its inviter's ownership", func(t *testing.T) {
		for _, tc := range []struct {
			name   string
			change func(db *store.DB, p store.Project, inviter store.User) (store.RoleChange, error)
		}{
			{"removed", func(db *store.DB, p store.Project, u store.User) (store.RoleChange, error) {
				return db.RemoveRole(ctx, p.ID, u.ID, 0, t0)
			}},
			{"demoted", func(db *store.DB, p store.Project, u store.User) (store.RoleChange, error) {
				return db.ChangeRole(ctx, p.ID, u.ID, store.RoleMaintainer, 0, t0)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				db := open(t)
				alice, bob, carol := MustUser(t, db, "alice"), MustUser(t, db, "bob"), MustUser(t, db, "carol")
				p := project(t, db, "demo", alice)
				addRole(t, db, p, bob, store.RoleOwner)
				inv := invite(t, db, p, bob, carol, store.RoleOwner, "", "h")
				ch, err := tc.change(db, p, bob)
				if err != nil {
					t.Fatal(err)
				}
				if ch.RevokedInvitations != 1 {
					t.Errorf("RevokedInvitations = %d, want 1", ch.RevokedInvitations)
				}
				if _, err := db.AcceptInvitation(ctx, inv.ID, carol.ID, t0); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("accept: got %v, want ErrNotFound", err)
				}
			})
		}
	})

	t.Run("acceptance checks the inviter is still an owner", func(t *testing.T) {
		db := open(t)
		alice, bob, carol := MustUser(t, db, "alice"), MustUser(t, db, "bob"), MustUser(t, db, "carol")
		p := project(t, db, "demo", alice)
		addRole(t, db, p, bob, store.RoleOwner)
		inv := invite(t, db, p, bob, carol, store.RoleOwner, "", "h")
		// A role change that bypasses the management statements (an administrator's AddRole) still ends the
		// inviter's authority.
		addRole(t, db, p, bob, store.RoleMaintainer)
		if _, err := db.AcceptInvitation(ctx, inv.ID, carol.ID, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("accept: got %v, want ErrNotFound", err)
		}
	})

	t.Run("remove role", func(t *testing.T) {
		db := open(t)
		alice, bob, carol := MustUser(t, db, "alice"), MustUser(t, db, "bob"), MustUser(t, db, "carol")
		p, other := project(t, db, "demo", alice), project(t, db, "other", alice)
		addRole(t, db, p, bob, store.RoleMaintainer)
		addRole(t, db, other, bob, store.RoleMaintainer)
		for _, tok := range []store.Token{
			{ID: "only-demo", Projects: []string{"demo"}},
			{ID: "demo-and-other", Projects: []string{"demo", "other"}},
			{ID: "only-other", Projects: []string{"other"}},
			{ID: "prefix", Projects: []string{"demo-x", "xdemo"}},
			{ID: "account"},
		} {
			tok.UserID, tok.Name, tok.CreatedAt = bob.ID, tok.ID, t0
			if err := db.CreateToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		addRole(t, db, p, carol, store.RoleOwner)
		third := project(t, db, "third", alice)
		elsewhere := invite(t, db, third, alice, bob, store.RoleOwner, "", "h-third")

		if _, err := db.RemoveRole(ctx, p.ID, MustUser(t, db, "dave").ID, 0, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("remove a user without a role: got %v, want ErrNotFound", err)
		}
		ch, err := db.RemoveRole(ctx, p.ID, bob.ID, 0, t0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(store.RoleChange{Previous: store.RoleMaintainer, RevokedTokens: 2}, ch); diff != "" {
			t.Errorf("RoleChange (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"only-other", "prefix", "account"}, liveTokens(t, db, bob),
			cmp.Transformer("sort", func(s []string) map[string]bool {
				m := map[string]bool{}
				for _, v := range s {
					m[v] = true
				}
				return m
			})); diff != "" {
			t.Errorf("bob's live tokens (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]string{"alice": "Owner", "carol": "Owner"}, roles(t, db, p)); diff != "" {
			t.Errorf("roles (-want +got):\n%s", diff)
		}
		if r := roles(t, db, other)["bob"]; r != store.RoleMaintainer {
			t.Errorf("bob's role on another project = %q, want it kept", r)
		}
		if got, err := db.InvitationByID(ctx, elsewhere.ID); err != nil || !got.Pending(t0) {
			t.Errorf("bob's invitation to another project = %+v, %v; want it kept", got, err)
		}

		if _, err := db.RemoveRole(ctx, p.ID, carol.ID, 0, t0); err != nil {
			t.Fatal(err)
		}
		if _, err := db.RemoveRole(ctx, p.ID, alice.ID, 0, t0); !errors.Is(err, store.ErrLastOwner) {
			t.Errorf("remove the last owner: got %v, want ErrLastOwner", err)
		}
	})

	t.Run("removal revokes invitations to the removed user", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		p := project(t, db, "demo", alice)
		inv := invite(t, db, p, alice, bob, store.RoleMaintainer, "", "h")
		addRole(t, db, p, bob, store.RoleMaintainer)
		ch, err := db.RemoveRole(ctx, p.ID, bob.ID, 0, t0)
		if err != nil || ch.RevokedInvitations != 1 {
			t.Fatalf("RemoveRole = %+v, %v; want 1 invitation revoked", ch, err)
		}
		if _, err := db.AcceptInvitation(ctx, inv.ID, bob.ID, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("accept after removal: got %v, want ErrNotFound", err)
		}
	})

	t.Run("change role", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		p := project(t, db, "demo", alice)
		addRole(t, db, p, bob, store.RoleMaintainer)
		for _, tc := range []struct {
			name    string
			user    store.User
			role    string
			want    error
			wantWas string
		}{
			{"the last owner cannot step down", alice, store.RoleMaintainer, store.ErrLastOwner, ""},
			{"promote", bob, store.RoleOwner, nil, store.RoleMaintainer},
			{"the same role is a no-op", bob, store.RoleOwner, nil, store.RoleOwner},
			{"with another owner, an owner can step down", alice, store.RoleMaintainer, nil, store.RoleOwner},
			{"a user without a role", MustUser(t, db, "carol"), store.RoleOwner, store.ErrNotFound, ""},
		} {
			ch, err := db.ChangeRole(ctx, p.ID, tc.user.ID, tc.role, 0, t0)
			if !errors.Is(err, tc.want) || ch.Previous != tc.wantWas {
				t.Errorf("%s: ChangeRole = %+v, %v; want previous %q, error %v", tc.name, ch, err, tc.wantWas, tc.want)
			}
		}
		if diff := cmp.Diff(map[string]string{"alice": "Maintainer", "bob": "Owner"}, roles(t, db, p)); diff != "" {
			t.Errorf("roles (-want +got):\n%s", diff)
		}
	})

	t.Run("transfer ownership", func(t *testing.T) {
		for _, tc := range []struct {
			name      string
			then      string
			want      map[string]string
			wantLive  []string
			wantToken int64
		}{
			{"previous owner stays as maintainer", store.ThenMaintainer, map[string]string{"alice": "Maintainer", "bob": "Owner"}, []string{"scoped"}, 0},
			{"previous owner leaves", store.ThenLeave, map[string]string{"bob": "Owner"}, nil, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				db := open(t)
				alice, bob, carol := MustUser(t, db, "alice"), MustUser(t, db, "bob"), MustUser(t, db, "carol")
				p := project(t, db, "demo", alice)
				if err := db.CreateToken(ctx, store.Token{ID: "scoped", UserID: alice.ID, Name: "s", Projects: []string{"demo"}, CreatedAt: t0}); err != nil {
					t.Fatal(err)
				}
				if _, err := db.TransferOwnership(ctx, p.ID, alice.ID, bob.ID, tc.then, t0); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("transfer to a non-collaborator: got %v, want ErrNotFound", err)
				}
				addRole(t, db, p, bob, store.RoleMaintainer)
				if _, err := db.TransferOwnership(ctx, p.ID, bob.ID, alice.ID, tc.then, t0); !errors.Is(err, store.ErrNotOwner) {
					t.Errorf("transfer by a maintainer: got %v, want ErrNotOwner", err)
				}
				pending := invite(t, db, p, alice, carol, store.RoleMaintainer, "", "h")
				ch, err := db.TransferOwnership(ctx, p.ID, alice.ID, bob.ID, tc.then, t0)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(store.RoleChange{Previous: store.RoleMaintainer, RevokedTokens: tc.wantToken, RevokedInvitations: 1}, ch); diff != "" {
					t.Errorf("RoleChange (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.want, roles(t, db, p)); diff != "" {
					t.Errorf("roles (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.wantLive, liveTokens(t, db, alice)); diff != "" {
					t.Errorf("alice's live tokens (-want +got):\n%s", diff)
				}
				if _, err := db.AcceptInvitation(ctx, pending.ID, carol.ID, t0); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("the previous owner's invitation: got %v, want ErrNotFound", err)
				}
			})
		}
	})

	t.Run("transfer by invitation", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			then string
			want map[string]string
		}{
			{"inviter stays as maintainer", store.ThenMaintainer, map[string]string{"alice": "Maintainer", "bob": "Owner"}},
			{"inviter leaves", store.ThenLeave, map[string]string{"bob": "Owner"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				db := open(t)
				alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
				p := project(t, db, "demo", alice)
				if _, err := db.CreateInvitation(ctx, store.Invitation{ProjectID: p.ID, InviteeID: bob.ID, InviterID: alice.ID,
					Role: store.RoleMaintainer, ThenInviter: tc.then, TokenHash: "x", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err == nil {
					t.Error("a transfer invitation for a maintainer's role was accepted by the database")
				}
				inv := invite(t, db, p, alice, bob, store.RoleOwner, tc.then, "h")
				got, err := db.AcceptInvitation(ctx, inv.ID, bob.ID, t0)
				if err != nil {
					t.Fatal(err)
				}
				if got.ThenInviter != tc.then {
					t.Errorf("ThenInviter = %q, want %q", got.ThenInviter, tc.then)
				}
				if diff := cmp.Diff(tc.want, roles(t, db, p)); diff != "" {
					t.Errorf("roles (-want +got):\n%s", diff)
				}
			})
		}
	})

	// A role change moves the project's serial and is listed by ChangedProjects, which is how every instance
	// learns to drop its cached copy of the project's JSON API documents (they count protected collaborators).
	// A change that changes nothing moves nothing.
	t.Run("role changes are journaled", func(t *testing.T) {
		db := open(t)
		alice, bob, carol, dave := MustUser(t, db, "alice"), MustUser(t, db, "bob"), MustUser(t, db, "carol"), MustUser(t, db, "dave")
		p := project(t, db, "demo", alice)
		last := p.LastSerial
		for _, step := range []struct {
			name   string
			change func() error
			moves  bool
		}{
			{"add a role", func() error { return db.AddRole(ctx, p.ID, bob.ID, store.RoleMaintainer, t0) }, true},
			{"add the same role", func() error { return db.AddRole(ctx, p.ID, bob.ID, store.RoleMaintainer, t0) }, false},
			{"change a role", func() error { _, err := db.ChangeRole(ctx, p.ID, bob.ID, store.RoleOwner, alice.ID, t0); return err }, true},
			{"change to the same role", func() error {
				_, err := db.ChangeRole(ctx, p.ID, bob.ID, store.RoleOwner, alice.ID, t0)
				return err
			}, false},
			{"remove a role", func() error { _, err := db.RemoveRole(ctx, p.ID, bob.ID, alice.ID, t0); return err }, true},
			{"refuse to remove the last owner", func() error {
				if _, err := db.RemoveRole(ctx, p.ID, alice.ID, alice.ID, t0); !errors.Is(err, store.ErrLastOwner) {
					return fmt.Errorf("removing the last owner: %v", err)
				}
				return nil
			}, false},
			{"accept an invitation", func() error {
				_, err := db.AcceptInvitation(ctx, invite(t, db, p, alice, carol, store.RoleMaintainer, "", "j1").ID, carol.ID, t0)
				return err
			}, true},
			{"transfer ownership", func() error {
				_, err := db.TransferOwnership(ctx, p.ID, alice.ID, carol.ID, store.ThenMaintainer, t0)
				return err
			}, true},
			{"accept a transfer whose inviter leaves", func() error {
				_, err := db.AcceptInvitation(ctx, invite(t, db, p, carol, dave, store.RoleOwner, store.ThenLeave, "j2").ID, dave.ID, t0)
				return err
			}, true},
		} {
			if err := step.change(); err != nil {
				t.Fatalf("%s: %v", step.name, err)
			}
			got, err := db.ProjectByID(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			if moved := got.LastSerial > last; moved != step.moves {
				t.Errorf("%s: serial %d -> %d, want moved = %t", step.name, last, got.LastSerial, step.moves)
			}
			var changed []string
			if err := db.ChangedProjects(ctx, last, func(name string, serial int64) {
				changed = append(changed, fmt.Sprintf("%s@%d", name, serial))
			}); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("demo@%d", got.LastSerial); step.moves && (len(changed) != 1 || changed[0] != want) {
				t.Errorf("%s: ChangedProjects after %d = %v, want [%s]", step.name, last, changed, want)
			}
			last = got.LastSerial
		}
		if diff := cmp.Diff(map[string]string{"alice": "Maintainer", "dave": "Owner"}, roles(t, db, p)); diff != "" {
			t.Errorf("roles at the end (-want +got):\n%s", diff)
		}
	})

	t.Run("team grants are journaled", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		p := project(t, db, "demo", alice)
		other := project(t, db, "other", alice)
		org, team := orgWithTeam(t, db, p.ID, alice)
		serial := func() int64 {
			t.Helper()
			got, err := db.ProjectByID(ctx, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			return got.LastSerial
		}
		last := serial()
		for _, step := range []struct {
			role  string
			moves bool
		}{{store.RoleMaintainer, true}, {store.RoleMaintainer, false}, {store.RoleOwner, true}, {"", true}} {
			if err := db.SetTeamGrant(ctx, team.ID, p.ID, step.role, alice.ID, t0); err != nil {
				t.Fatalf("grant %q: %v", step.role, err)
			}
			if now := serial(); (now > last) != step.moves {
				t.Errorf("grant %q: serial %d -> %d, want moved = %t", step.role, last, now, step.moves)
			} else {
				last = now
			}
		}
		if err := db.SetTeamGrant(ctx, team.ID, p.ID, "", alice.ID, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("taking away a grant the team lacks: %v, want ErrNotFound", err)
		}
		if err := db.SetTeamGrant(ctx, team.ID, other.ID, store.RoleMaintainer, alice.ID, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a grant on a project outside the organization: %v, want ErrNotFound", err)
		}
		if grants, err := db.TeamGrants(ctx, org.ID); err != nil || len(grants) != 0 {
			t.Errorf("grants left: %v, %v", grants, err)
		}
	})

	t.Run("delete release", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		p := project(t, db, "demo", alice)
		for _, f := range []store.NewFile{
			newFile("demo", "2.0", "demo-2.0.tar.gz", "s1", alice.ID, false),
			newFile("demo", "2.0", "demo-2.0-py3-none-any.whl", "s2", alice.ID, false),
		} {
			if _, err := db.AddFile(ctx, f); err != nil {
				t.Fatal(err)
			}
		}
		before, err := db.LastSerial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.DeleteRelease(ctx, p.ID, "9.9", alice.ID, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown release: got %v, want ErrNotFound", err)
		}
		files, err := db.DeleteRelease(ctx, p.ID, "2.0", alice.ID, t0)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range files {
			names = append(names, f.Filename)
		}
		if diff := cmp.Diff([]string{"demo-2.0.tar.gz", "demo-2.0-py3-none-any.whl"}, names); diff != "" {
			t.Errorf("deleted files (-want +got):\n%s", diff)
		}
		pi, err := db.ProjectIndex(ctx, "demo")
		if err != nil {
			t.Fatal(err)
		}
		if len(pi.Releases) != 1 || pi.Releases[0].Version != "1.0" || len(pi.Files) != 1 || pi.Project.TotalSize != 100 {
			t.Errorf("after delete: releases %+v, files %d, size %d", pi.Releases, len(pi.Files), pi.Project.TotalSize)
		}
		if pi.Project.LastSerial <= before {
			t.Errorf("serial %d did not move past %d", pi.Project.LastSerial, before)
		}
		for _, name := range names {
			if _, err := db.AddFile(ctx, newFile("demo", "2.0", name, "other", alice.ID, false)); !errors.Is(err, store.ErrFilenameReused) {
				t.Errorf("re-upload of %s: got %v, want ErrFilenameReused", name, err)
			}
		}
	})

	t.Run("delete project", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		p := project(t, db, "demo", alice)
		addRole(t, db, p, bob, store.RoleMaintainer)
		invite(t, db, p, alice, MustUser(t, db, "carol"), store.RoleMaintainer, "", "h")
		if _, err := db.AddFile(ctx, newFile("demo", "2.0", "demo-2.0.tar.gz", "s2", alice.ID, false)); err != nil {
			t.Fatal(err)
		}
		before, err := db.LastSerial(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, files, err := db.DeleteProject(ctx, p.ID, alice.ID, t0, "deleted by its owners")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != p.ID || got.NormalizedName != "demo" || len(files) != 2 {
			t.Errorf("DeleteProject = %+v, %d files", got, len(files))
		}
		if _, err := db.ProjectByName(ctx, "demo"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("project after delete: got %v, want ErrNotFound", err)
		}
		if reserved, err := db.IsNameReserved(ctx, "demo"); err != nil || !reserved {
			t.Errorf("name reserved = %v, %v; want true", reserved, err)
		}
		if after, err := db.LastSerial(ctx); err != nil || after <= before {
			t.Errorf("LastSerial = %d, %v; want past %d", after, err, before)
		}
		if up, err := db.ProjectsForUser(ctx, bob.ID); err != nil || len(up) != 0 {
			t.Errorf("bob's projects = %+v, %v; want none", up, err)
		}
		for _, f := range files {
			if _, used, err := db.FilenameUsed(ctx, f.Filename); err != nil || !used {
				t.Errorf("%s registered = %v, %v; want true", f.Filename, used, err)
			}
		}
		if _, err := db.AddFile(ctx, newFile("fresh", "1.0", "demo-1.0.tar.gz", "new", bob.ID, true)); !errors.Is(err, store.ErrFilenameReused) {
			t.Errorf("a deleted project's filename in a new project: got %v, want ErrFilenameReused", err)
		}
		if _, _, err := db.DeleteProject(ctx, p.ID, alice.ID, t0, ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second delete: got %v, want ErrNotFound", err)
		}

		q := project(t, db, "kept", alice)
		if _, _, err := db.DeleteProject(ctx, q.ID, alice.ID, t0, ""); err != nil {
			t.Fatal(err)
		}
		if reserved, err := db.IsNameReserved(ctx, "kept"); err != nil || reserved {
			t.Errorf("name reserved without a reason = %v, %v; want false", reserved, err)
		}
	})

	t.Run("one invitation accepted by 10 goroutines succeeds once", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		p := project(t, db, "demo", alice)
		invite(t, db, p, alice, bob, store.RoleMaintainer, "", "race")
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for range 10 {
			wg.Go(func() {
				_, err := db.AcceptInvitationByHash(ctx, "race", bob.ID, t0)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, store.ErrNotFound):
					t.Errorf("unexpected error: %v", err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d acceptances succeeded, want exactly 1", wins)
		}
	})

	t.Run("two owners removing each other leave one owner", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			drop func(db *store.DB, p store.Project, u store.User) error
		}{
			{"removal", func(db *store.DB, p store.Project, u store.User) error {
				_, err := db.RemoveRole(ctx, p.ID, u.ID, 0, t0)
				return err
			}},
			{"demotion", func(db *store.DB, p store.Project, u store.User) error {
				_, err := db.ChangeRole(ctx, p.ID, u.ID, store.RoleMaintainer, 0, t0)
				return err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				db := open(t)
				for round := range 10 {
					a, b := MustUser(t, db, fmt.Sprintf("a%d", round)), MustUser(t, db, fmt.Sprintf("b%d", round))
					p := project(t, db, fmt.Sprintf("p%d", round), a)
					addRole(t, db, p, b, store.RoleOwner)
					var wg sync.WaitGroup
					errs := make([]error, 2)
					for i, u := range []store.User{b, a} { // a drops b while b drops a
						wg.Go(func() { errs[i] = tc.drop(db, p, u) })
					}
					wg.Wait()
					n, err := db.OwnersCount(ctx, p.ID)
					if err != nil {
						t.Fatal(err)
					}
					lost := 0
					for _, err := range errs {
						switch {
						case errors.Is(err, store.ErrLastOwner):
							lost++
						case err != nil:
							t.Errorf("round %d: unexpected error: %v", round, err)
						}
					}
					if n != 1 || lost != 1 {
						t.Errorf("round %d: %d owners left and %d refusals, want 1 and 1", round, n, lost)
					}
				}
			})
		}
	})
}
