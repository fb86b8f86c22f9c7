package policy

import (
	"context"
	"fmt"
	"slices"

	"wharf/internal/store"
)

// The actions on organizations. Owners administer an organization and every project it holds; Managers run its
// teams; Members belong. Every change is made from a confirmed web session by an account with a second factor:
// an organization's Owner is an Owner of all its projects.
const (
	// CreateOrganization creates an organization with the actor as its first Owner (or asks for one, where an
	// administrator approves them).
	CreateOrganization Action = "create-organization"
	// ViewOrganization shows the members, teams and settings to the organization's members.
	ViewOrganization Action = "view-organization"
	// ViewOrgHistory reads the organization's security history: Owners only, as for a project's.
	ViewOrgHistory Action = "view-org-history"
	// ManageOrganization changes its display name, description and the settings of all its projects.
	ManageOrganization Action = "manage-organization"
	// ManageOrgMembers invites, removes and changes the roles of members: Owners only.
	ManageOrgMembers Action = "manage-org-members"
	// ManageTeams creates and deletes teams, and sets their members and their roles on the projects: Owners and
	// Managers.
	ManageTeams Action = "manage-teams"
	// LeaveOrganization gives up the actor's own membership (the store keeps the last Owner).
	LeaveOrganization Action = "leave-organization"
	// AcceptOrgInvitation and DeclineOrgInvitation answer an invitation addressed to the actor (Target.InviteeID).
	AcceptOrgInvitation  Action = "accept-org-invitation"
	DeclineOrgInvitation Action = "decline-org-invitation"
	// CreateOrgProject registers a pending Trusted Publisher whose first publish creates a project inside the
	// organization: its Owners and Managers.
	CreateOrgProject Action = "create-org-project"
	// MoveProjectIn puts a project into the organization (an Owner of both); MoveProjectOut takes it out (an
	// Owner of the organization), ending every grant that came with the organization.
	MoveProjectIn  Action = "move-project-in"
	MoveProjectOut Action = "move-project-out"
)

// RuleOrgRequires2FA: an organization whose Owners require two-factor authentication (or security keys) of its
// members takes no change to its projects, and no new member, without it.
const RuleOrgRequires2FA = "organization-requires-2fa"

// OrgRoles reads an account's role in an organization; the engine's Roles satisfies it where organizations exist.
type OrgRoles interface {
	OrgRoleOf(ctx context.Context, orgID, userID int64) (string, error)
}

// orgRule is what an action on an organization asks of the actor.
type orgRule struct {
	roles []string // the organization roles that may; nil: anyone (the invitee, or a new organization's creator)
	sudo  bool
	what  string // with %s for the organization's name
}

var orgActions = map[Action]orgRule{
	CreateOrganization:   {sudo: true, what: "create organization '%s'"},
	ViewOrganization:     {roles: []string{store.OrgRoleOwner, store.OrgRoleManager, store.OrgRoleMember}, what: "see the members of organization '%s'"},
	ViewOrgHistory:       {roles: []string{store.OrgRoleOwner}, what: "see the security history of organization '%s'"},
	ManageOrganization:   {roles: []string{store.OrgRoleOwner}, sudo: true, what: "change the settings of organization '%s'"},
	ManageOrgMembers:     {roles: []string{store.OrgRoleOwner}, sudo: true, what: "manage the members of organization '%s'"},
	ManageTeams:          {roles: []string{store.OrgRoleOwner, store.OrgRoleManager}, sudo: true, what: "manage the teams of organization '%s'"},
	LeaveOrganization:    {roles: []string{store.OrgRoleOwner, store.OrgRoleManager, store.OrgRoleMember}, sudo: true, what: "leave organization '%s'"},
	AcceptOrgInvitation:  {what: "join organization '%s'"},
	DeclineOrgInvitation: {what: "answer the invitation to organization '%s'"},
	CreateOrgProject:     {roles: []string{store.OrgRoleOwner, store.OrgRoleManager}, sudo: true, what: "create projects in organization '%s'"},
	MoveProjectIn:        {roles: []string{store.OrgRoleOwner}, sudo: true, what: "move projects into organization '%s'"},
	MoveProjectOut:       {roles: []string{store.OrgRoleOwner}, sudo: true, what: "move projects out of organization '%s'"},
}

// decideOrg applies the rules of organizations: the credential, the actor's role in the organization, the
// project's Owner for a move in, the invitee for an answer, and the recent confirmation.
func (e *Engine) decideOrg(ctx context.Context, actor Actor, action Action, r orgRule, target Target) error {
	org := target.Org
	if org == nil {
		return fmt.Errorf("policy: %s needs an organization", action)
	}
	what := fmt.Sprintf(r.what, org.Name)
	if actor.Token != nil {
		return &Denied{Help: HelpAPIToken, Reason: fmt.Sprintf("API tokens can only upload. Sign in to the website to %s.", what)}
	}
	if org.ApprovedAt.IsZero() && action != CreateOrganization && action != ViewOrganization {
		return &Denied{Reason: fmt.Sprintf("Organization '%s' waits for an administrator's approval: until then it can only be seen by its members.", org.Name)}
	}
	switch action {
	case CreateOrganization:
		if err := needsVerifiedEmail(actor); err != nil {
			return err
		}
	case AcceptOrgInvitation, DeclineOrgInvitation:
		if actor.User.ID != target.InviteeID {
			return &Denied{Reason: fmt.Sprintf("This invitation to organization '%s' was sent to another account. Sign in as the invited user to answer it.", org.Name)}
		}
		if action == AcceptOrgInvitation {
			if err := needsVerifiedEmail(actor); err != nil {
				return err
			}
			if err := e.orgRequirement(actor, org, "before joining it"); err != nil {
				return err
			}
		}
	default:
		role, err := e.orgRole(ctx, org.ID, actor.User.ID)
		if err != nil {
			return err
		}
		if !slices.Contains(r.roles, role) {
			if role == "" {
				return &Denied{Reason: fmt.Sprintf("The user '%s' isn't allowed to %s: they are not a member of it.", actor.User.Username, what)}
			}
			return &Denied{Reason: fmt.Sprintf("The user '%s' isn't allowed to %s: that is for its %s, and '%s' is a %s. Ask an Owner of the organization.",
				actor.User.Username, what, rolesText(r.roles), actor.User.Username, role)}
		}
	}
	if action == MoveProjectIn {
		p := target.Project
		if p == nil {
			return fmt.Errorf("policy: %s needs a project", action)
		}
		role, err := e.roles.RoleOf(ctx, p.ID, actor.User.ID)
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		if role != store.RoleOwner {
			return &Denied{Reason: fmt.Sprintf("The user '%s' isn't allowed to move project '%s' into organization '%s': only an Owner of the project may.",
				actor.User.Username, p.Name, org.Name)}
		}
	}
	if r.sudo && !actor.Sudo {
		return &Denied{Reauth: true, Reason: fmt.Sprintf("Confirm your password to %s: it is needed in the last few minutes.", what)}
	}
	if action == ManageOrganization && target.RequireWebAuthn && !actor.TwoFactor.WebAuthn {
		// An Owner cannot lock themselves out: requiring keys of the members needs one of their own (a second
		// factor for requiring 2FA is RulePublishingNeeds2FA's, as for every change of an organization).
		return &Denied{Help: HelpSecurityKeys, Reason: fmt.Sprintf(
			"Add a security key or passkey to your own account at %s/manage/account/ before requiring them of the members of organization '%s'.",
			e.baseURL, org.Name)}
	}
	if (action == MoveProjectIn || action == MoveProjectOut) && target.Project != nil {
		// A move changes who may change the project: the project's own 2FA rules hold it like any change.
		return e.decideProtection(ctx, actor, target.Project)
	}
	return nil
}

// orgRequirement refuses an actor without the factor an organization requires of its members.
func (e *Engine) orgRequirement(actor Actor, org *store.Organization, then string) error {
	switch {
	case org.RequireWebAuthn && !actor.TwoFactor.WebAuthn:
		return &Denied{Rule: RuleOrgRequires2FA, Reason: fmt.Sprintf(
			"Organization '%s' requires a security key or passkey of its members: add one for '%s' at %s/manage/account/ %s.",
			org.Name, actor.User.Username, e.baseURL, then)}
	case org.Require2FA && !actor.TwoFactor.Enabled():
		return &Denied{Rule: RuleOrgRequires2FA, Reason: fmt.Sprintf(
			"Organization '%s' requires two-factor authentication of its members: enable it for '%s' at %s/manage/account/ %s.",
			org.Name, actor.User.Username, e.baseURL, then)}
	}
	return nil
}

func (e *Engine) orgRole(ctx context.Context, orgID, userID int64) (string, error) {
	or, ok := e.roles.(OrgRoles)
	if !ok {
		return "", nil
	}
	role, err := or.OrgRoleOf(ctx, orgID, userID)
	if err != nil {
		return "", fmt.Errorf("policy: %w", err)
	}
	return role, nil
}

func rolesText(roles []string) string {
	if len(roles) == 1 {
		return roles[0] + "s"
	}
	return roles[0] + "s and " + roles[1] + "s"
}
