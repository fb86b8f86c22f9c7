package projects

import (
	"context"
	"fmt"
	"slices"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/store"
)

// revocations words what died with a role, for the security history.
func revocations(ch store.RoleChange) string {
	return fmt.Sprintf("%d API tokens scoped to the project and %d pending invitations revoked", ch.RevokedTokens, ch.RevokedInvitations)
}

// RemoveRole takes username's role on the project away. Owners may remove anyone; every collaborator may remove
// themselves (leave). The last Owner can do neither: the project would have no one left to manage it. The user's
// pending invitations for the project, and their API tokens scoped to it, die with the role; account-wide
// tokens live on but the policy refuses them here from now on, since it reads roles at every decision (K7).
func (m *Manager) RemoveRole(ctx context.Context, actor policy.Actor, project, username string, from audit.Request) ([]Notice, error) {
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	target, err := m.user(ctx, username)
	if err != nil {
		return nil, err
	}
	action, kind := policy.ManageRoles, EventRoleRemoved
	if target.ID == actor.User.ID {
		action, kind = policy.LeaveProject, EventRoleLeft
	}
	if err := m.policy.Decide(ctx, actor, action, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
		return nil, err
	}
	ch, err := m.db.RemoveRole(ctx, p.ID, target.ID, actor.User.ID, m.now().UTC())
	if err != nil {
		return nil, storeErr(err, ErrNotCollaborator)
	}
	m.index.Invalidate(p.NormalizedName)
	m.record(ctx, kind, actor, p.ID, from, fmt.Sprintf("removed %s (%s); %s", target.Username, ch.Previous, revocations(ch)))
	cs, err := m.db.Collaborators(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return notify(audience(cs, false, target.ID), Notice{Kind: NoticeRoleRemoved, Project: p.Name, User: target.Username,
		Role: ch.Previous, By: actor.User.Username}), nil
}

// ChangeRole makes a collaborator an Owner or a Maintainer. Only Owners may; an Owner who steps down loses the
// invitations they sent, and the last Owner cannot step down. Setting the role a user has changes nothing and
// notifies no one.
func (m *Manager) ChangeRole(ctx context.Context, actor policy.Actor, project, username, role string, from audit.Request) ([]Notice, error) {
	if !validRole(role) {
		return nil, ErrInvalidRole
	}
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	var target store.Account
	if role == store.RoleOwner {
		target, err = m.decideGrant(ctx, actor, p, username, role, false)
	} else if err = m.policy.Decide(ctx, actor, policy.ManageRoles, policy.Target{Project: &p, Name: p.NormalizedName}); err == nil {
		target, err = m.user(ctx, username)
	}
	if err != nil {
		return nil, err
	}
	ch, err := m.db.ChangeRole(ctx, p.ID, target.ID, role, actor.User.ID, m.now().UTC())
	if err != nil {
		return nil, storeErr(err, ErrNotCollaborator)
	}
	if ch.Previous == role {
		return nil, nil
	}
	m.index.Invalidate(p.NormalizedName)
	m.record(ctx, EventRoleChanged, actor, p.ID, from, fmt.Sprintf("changed %s from %s to %s; %s",
		target.Username, ch.Previous, role, revocations(ch)))
	cs, err := m.db.Collaborators(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return notify(audience(cs, false, target.ID), Notice{Kind: NoticeRoleChanged, Project: p.Name, User: target.Username,
		Role: role, By: actor.User.Username}), nil
}

// Transfer is the outcome of TransferOwnership: done at once, or waiting for the new Owner to accept.
type Transfer struct {
	// Invited is set when the new Owner had no role yet: the transfer completes when they accept the invitation.
	Invited *Invited
	Notices []Notice
}

// TransferOwnership makes toUsername an Owner and the actor, an Owner, a Maintainer (then = StayMaintainer) or no
// collaborator (Leave). A user who already has a role is made Owner at once; anyone else is invited as Owner,
// and the actor's part of the transfer happens when they accept, provided the actor is still an Owner then.
// Leaving voids the actor's scoped tokens and pending invitations as RemoveRole does.
func (m *Manager) TransferOwnership(ctx context.Context, actor policy.Actor, project, toUsername, then string, from audit.Request) (Transfer, error) {
	if then != StayMaintainer && then != Leave {
		return Transfer{}, ErrInvalidTransfer
	}
	p, err := m.project(ctx, project)
	if err != nil {
		return Transfer{}, err
	}
	before, err := m.db.Collaborators(ctx, p.ID)
	if err != nil {
		return Transfer{}, err
	}
	// A collaborator becomes an Owner at once; anyone else is offered the role by an invitation.
	offer := true
	if acct, err := m.user(ctx, toUsername); err == nil {
		if acct.ID == actor.User.ID {
			if err := m.policy.Decide(ctx, actor, policy.ManageRoles, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
				return Transfer{}, err
			}
			return Transfer{}, ErrTransferToSelf
		}
		offer = !slices.ContainsFunc(before, func(c store.Collaborator) bool { return c.UserID == acct.ID })
	}
	to, err := m.decideGrant(ctx, actor, p, toUsername, store.RoleOwner, offer)
	if err != nil {
		return Transfer{}, err
	}
	if offer {
		inv, err := m.invite(ctx, actor, p, to.User, store.RoleOwner, then, from)
		if err != nil {
			return Transfer{}, err
		}
		return Transfer{Invited: &inv, Notices: inv.Notices}, nil
	}
	ch, err := m.db.TransferOwnership(ctx, p.ID, actor.User.ID, to.ID, then, m.now().UTC())
	if err != nil {
		// A collaborator who left between the two reads is no longer one to transfer to.
		return Transfer{}, storeErr(err, ErrNotCollaborator)
	}
	m.index.Invalidate(p.NormalizedName)
	m.record(ctx, EventOwnershipTransfer, actor, p.ID, from, fmt.Sprintf("made %s (%s) an Owner; %s %s; %s",
		to.Username, ch.Previous, actor.User.Username, thenWords(then), revocations(ch)))
	// Everyone who was a collaborator hears of it: a transfer changes who controls what they maintain.
	return Transfer{Notices: notify(audience(before, true), Notice{Kind: NoticeOwnershipTransfer, Project: p.Name,
		User: to.Username, Role: store.RoleOwner, By: actor.User.Username,
		Detail: fmt.Sprintf("%s %s", actor.User.Username, thenWords(then))})}, nil
}
