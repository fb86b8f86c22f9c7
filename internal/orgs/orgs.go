// Package orgs is organizations: members with roles (Owner, Manager, Member), invitations, teams with roles on the
// organization's projects, projects moved in and out, and the settings an Owner sets once for every project. Who
// may do each is decided by internal/policy; every change is in the organization's security history.
//
// What an organization grants is never copied into a project's roles: the store derives it (the project_roles
// view), so a project that leaves an organization keeps no grant that came from it (K7).
package orgs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"wharf/internal/audit"
	"wharf/internal/ident"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// Store is what organizations read and write.
type Store interface {
	CreateOrganization(ctx context.Context, o store.Organization, userKey string, ownerID int64) (store.Organization, error)
	OrganizationByName(ctx context.Context, normalized string) (store.Organization, error)
	Organizations(ctx context.Context) ([]store.Organization, error)
	UpdateOrganization(ctx context.Context, o store.Organization) error
	ApproveOrganization(ctx context.Context, id int64, now time.Time) error
	OrgMembers(ctx context.Context, orgID int64) ([]store.OrgMember, error)
	OrgRoleOf(ctx context.Context, orgID, userID int64) (string, error)
	SetOrgMember(ctx context.Context, orgID, userID int64, role string, now time.Time) error
	RemoveOrgMember(ctx context.Context, orgID, userID int64) error
	ChangeOrgRole(ctx context.Context, orgID, userID int64, role string) error
	InviteOrgMember(ctx context.Context, orgID, userID int64, role string, by int64, now, expires time.Time) error
	OrgInvitations(ctx context.Context, orgID, userID int64, now time.Time) ([]store.OrgInvitation, error)
	AnswerOrgInvitation(ctx context.Context, orgID, userID int64, accept bool, now time.Time) (string, error)
	CreateTeam(ctx context.Context, t store.Team) (store.Team, error)
	Teams(ctx context.Context, orgID int64) ([]store.Team, error)
	TeamByName(ctx context.Context, orgID int64, normalized string) (store.Team, error)
	DeleteTeam(ctx context.Context, teamID int64) error
	TeamMembers(ctx context.Context, teamID int64) ([]string, error)
	SetTeamMember(ctx context.Context, teamID, userID int64, in bool) error
	TeamGrants(ctx context.Context, orgID int64) ([]store.TeamGrant, error)
	SetTeamGrant(ctx context.Context, teamID, projectID int64, role string, by int64, now time.Time) error
	OrgProjects(ctx context.Context, orgID int64) ([]store.Project, error)
	ProjectOrg(ctx context.Context, projectID int64) (int64, error)
	MoveProject(ctx context.Context, projectID, orgID, userID int64, now time.Time) error
	OrgEvents(ctx context.Context, orgID int64, limit int) ([]store.Event, error)
	AccountByName(ctx context.Context, username string) (store.Account, error)
	ProjectByName(ctx context.Context, normalized string) (store.Project, error)
	UserOrganizations(ctx context.Context, userID int64) ([]store.OrgInvitation, error)
}

// Decider is the policy engine.
type Decider interface {
	Decide(ctx context.Context, actor policy.Actor, action policy.Action, target policy.Target) error
}

// Recorder is the security history.
type Recorder interface {
	RecordOrg(ctx context.Context, kind string, userID, projectID, orgID int64, from audit.Request, detail string) error
}

// Invalidator forgets a project's cached pages (a move changes who its maintainers are).
type Invalidator interface {
	Invalidate(normalized string)
}

// Notifier mails people of a change to an organization, off the request's path; the site's mail queue does it.
type Notifier interface {
	NotifyOrg(ctx context.Context, to []int64, org store.Organization, text string)
}

// Options configure the service.
type Options struct {
	// RequireApproval makes a user's new organization wait for an administrator's approval.
	RequireApproval bool
	// InviteTTL is how long an invitation waits for its answer (7 days).
	InviteTTL time.Duration
}

// Service runs organizations.
type Service struct {
	db     Store
	policy Decider
	rec    Recorder
	index  Invalidator
	now    func() time.Time
	opts   Options
	tell   Notifier
}

// Notify sends the mails of every membership, role, team and project change through n (nil sends none). The site
// that sends them is built after the service, hence a setter.
func (s *Service) Notify(n Notifier) { s.tell = n }

// announce mails the organization's Owners, and the people the change concerns (also), of a change.
func (s *Service) announce(ctx context.Context, o store.Organization, text string, also ...int64) {
	if s.tell == nil {
		return
	}
	members, err := s.db.OrgMembers(ctx, o.ID)
	if err != nil {
		return
	}
	to := also
	for _, m := range members {
		if m.Role == store.OrgRoleOwner && !slices.Contains(to, m.UserID) {
			to = append(to, m.UserID)
		}
	}
	s.tell.NotifyOrg(ctx, to, o, text)
}

// New builds the service.
func New(db Store, pol Decider, rec Recorder, index Invalidator, now func() time.Time, opts Options) *Service {
	if opts.InviteTTL == 0 {
		opts.InviteTTL = 7 * 24 * time.Hour
	}
	return &Service{db: db, policy: pol, rec: rec, index: index, now: now, opts: opts}
}

// Audit events of organizations.
const (
	EventCreated        = "org:create"
	EventApproved       = "org:approve"
	EventSettings       = "org:settings"
	EventInvited        = "org:invite"
	EventJoined         = "org:join"
	EventDeclined       = "org:decline"
	EventMemberRemoved  = "org:remove-member"
	EventRoleChanged    = "org:role"
	EventLeft           = "org:leave"
	EventTeamCreated    = "org:team-create"
	EventTeamDeleted    = "org:team-delete"
	EventTeamMember     = "org:team-member"
	EventTeamGrant      = "org:team-grant"
	EventProjectMovedIn = "org:project-in"
	EventProjectMoveOut = "org:project-out"
)

// Errors worded for the person; the pages and the command line show them.
var (
	ErrNoSuchOrg     = errors.New("there is no such organization")
	ErrNoSuchUser    = errors.New("there is no user of that name")
	ErrNoSuchTeam    = errors.New("the organization has no team of that name")
	ErrNoSuchProject = errors.New("there is no project of that name")
	ErrBadRole       = errors.New("the role must be Owner, Manager or Member")
	ErrBadTeamRole   = errors.New("a team's role on a project must be Owner or Maintainer")
	ErrNotMember     = errors.New("the user is not a member of the organization")
	ErrAlreadyMember = errors.New("the user is a member of the organization already")
	ErrNoInvitation  = errors.New("there is no invitation to answer: it was answered, withdrawn or has expired")
	ErrLastOwner     = errors.New("an organization must keep at least one Owner: make another member an Owner first")
	ErrInOtherOrg    = errors.New("the project belongs to another organization: its Owners must move it out first")
	ErrNotInOrg      = errors.New("the project does not belong to this organization")
)

// NameError refuses an organization's or a team's name, worded for the person who chose it.
type NameError struct{ Reason string }

func (e *NameError) Error() string { return e.Reason }

func validRole(role string) bool {
	return role == store.OrgRoleOwner || role == store.OrgRoleManager || role == store.OrgRoleMember
}

// Create makes an organization with actor as its first Owner; where administrators approve new organizations, it
// waits until one does (an operator's is approved at once).
func (s *Service) Create(ctx context.Context, actor policy.Actor, name, displayName, description string, from audit.Request) (store.Organization, error) {
	name, displayName, description = strings.TrimSpace(name), strings.TrimSpace(displayName), strings.TrimSpace(description)
	if !pypkg.ValidProjectName(name) || len(name) > 50 {
		return store.Organization{}, &NameError{fmt.Sprintf("'%s' is not a valid organization name: at most 50 ASCII letters, digits, '.', '_' and '-', starting and ending with a letter or digit.", name)}
	}
	if displayName == "" {
		displayName = name
	}
	if utf8.RuneCountInString(displayName) > 100 || utf8.RuneCountInString(description) > 400 {
		return store.Organization{}, &NameError{"The display name may have at most 100 characters, and the description 400."}
	}
	o := store.Organization{Name: name, NormalizedName: pypkg.NormalizeName(name), DisplayName: displayName,
		Description: description, CreatedBy: actor.User.ID, CreatedAt: s.now().UTC()}
	if err := s.policy.Decide(ctx, actor, policy.CreateOrganization, policy.Target{Org: &o}); err != nil {
		return store.Organization{}, err
	}
	if !s.opts.RequireApproval || actor.Operator {
		o.ApprovedAt = o.CreatedAt
	}
	o, err := s.db.CreateOrganization(ctx, o, ident.Key(name), actor.User.ID)
	if errors.Is(err, store.ErrNameTaken) {
		return store.Organization{}, &NameError{fmt.Sprintf("The name '%s' is taken by an organization or a user. Choose another.", name)}
	}
	if err != nil {
		return store.Organization{}, err
	}
	s.rec.RecordOrg(ctx, EventCreated, actor.User.ID, 0, o.ID, from, o.Name)
	return o, nil
}

// Approve ends the wait of a requested organization: administrators only.
func (s *Service) Approve(ctx context.Context, actor policy.Actor, name string, from audit.Request) error {
	if err := s.policy.Decide(ctx, actor, policy.Administer, policy.Target{}); err != nil {
		return err
	}
	o, err := s.org(ctx, name)
	if err != nil {
		return err
	}
	if err := s.db.ApproveOrganization(ctx, o.ID, s.now().UTC()); err != nil {
		return err
	}
	s.rec.RecordOrg(ctx, EventApproved, actor.User.ID, 0, o.ID, from, o.Name)
	return nil
}

// Get returns an organization by name (any spelling that normalises to it).
func (s *Service) Get(ctx context.Context, name string) (store.Organization, error) {
	return s.org(ctx, name)
}

func (s *Service) org(ctx context.Context, name string) (store.Organization, error) {
	o, err := s.db.OrganizationByName(ctx, pypkg.NormalizeName(name))
	if errors.Is(err, store.ErrNotFound) {
		return store.Organization{}, ErrNoSuchOrg
	}
	return o, err
}

// List returns every organization.
func (s *Service) List(ctx context.Context) ([]store.Organization, error) {
	return s.db.Organizations(ctx)
}

// View is what an organization's members see of it.
type View struct {
	Org         store.Organization
	Members     []store.OrgMember
	Invitations []store.OrgInvitation
	Teams       []TeamView
	Projects    []store.Project
	// Unprotected lists the members without the factor the organization requires (for its Owners to follow up).
	Unprotected []store.OrgMember
}

// TeamView is a team with its members and grants.
type TeamView struct {
	store.Team
	Members []string
	Grants  []store.TeamGrant
}

// Show returns what actor, a member, may see of an organization.
func (s *Service) Show(ctx context.Context, actor policy.Actor, name string) (View, error) {
	o, err := s.org(ctx, name)
	if err != nil {
		return View{}, err
	}
	if err := s.policy.Decide(ctx, actor, policy.ViewOrganization, policy.Target{Org: &o}); err != nil {
		return View{}, err
	}
	return s.view(ctx, o)
}

func (s *Service) view(ctx context.Context, o store.Organization) (View, error) {
	v := View{Org: o}
	var err error
	if v.Members, err = s.db.OrgMembers(ctx, o.ID); err != nil {
		return View{}, err
	}
	if v.Invitations, err = s.db.OrgInvitations(ctx, o.ID, 0, s.now()); err != nil {
		return View{}, err
	}
	if v.Projects, err = s.db.OrgProjects(ctx, o.ID); err != nil {
		return View{}, err
	}
	teams, err := s.db.Teams(ctx, o.ID)
	if err != nil {
		return View{}, err
	}
	grants, err := s.db.TeamGrants(ctx, o.ID)
	if err != nil {
		return View{}, err
	}
	for _, t := range teams {
		tv := TeamView{Team: t}
		if tv.Members, err = s.db.TeamMembers(ctx, t.ID); err != nil {
			return View{}, err
		}
		for _, g := range grants {
			if g.TeamID == t.ID {
				tv.Grants = append(tv.Grants, g)
			}
		}
		v.Teams = append(v.Teams, tv)
	}
	for _, m := range v.Members {
		if o.RequireWebAuthn && !m.HasWebAuthn || o.Require2FA && !m.TwoFactor() {
			v.Unprotected = append(v.Unprotected, m)
		}
	}
	return v, nil
}

// ShowAsOperator is Show for the server's command line.
func (s *Service) ShowAsOperator(ctx context.Context, name string) (View, error) {
	o, err := s.org(ctx, name)
	if err != nil {
		return View{}, err
	}
	return s.view(ctx, o)
}

// Settings are what an Owner sets of an organization.
type Settings struct {
	DisplayName, Description                           string
	Require2FA, RequireWebAuthn, TrustedPublishingOnly bool
	Staging                                            string
}

// UpdateSettings saves an organization's settings; they hold for every project it holds.
func (s *Service) UpdateSettings(ctx context.Context, actor policy.Actor, name string, set Settings, from audit.Request) error {
	o, err := s.org(ctx, name)
	if err != nil {
		return err
	}
	if err := s.policy.Decide(ctx, actor, policy.ManageOrganization,
		policy.Target{Org: &o, Require2FA: set.Require2FA, RequireWebAuthn: set.RequireWebAuthn}); err != nil {
		return err
	}
	if set.Staging != store.StageNothing && set.Staging != store.StageCI && set.Staging != store.StageTokens {
		return &NameError{fmt.Sprintf("Unknown staging %q: choose none, ci or tokens.", set.Staging)}
	}
	if set.DisplayName = strings.TrimSpace(set.DisplayName); set.DisplayName == "" {
		set.DisplayName = o.Name
	}
	o.DisplayName, o.Description = set.DisplayName, strings.TrimSpace(set.Description)
	o.Require2FA, o.RequireWebAuthn, o.TrustedPublishingOnly, o.Staging = set.Require2FA || set.RequireWebAuthn, set.RequireWebAuthn, set.TrustedPublishingOnly, set.Staging
	if err := s.db.UpdateOrganization(ctx, o); err != nil {
		return err
	}
	s.announce(ctx, o, fmt.Sprintf("%s changed the organization's settings: two-factor authentication required: %t, security keys required: %t, Trusted Publishing only: %t, staging: %q.",
		actor.User.Username, o.Require2FA, o.RequireWebAuthn, o.TrustedPublishingOnly, o.Staging))
	s.rec.RecordOrg(ctx, EventSettings, actor.User.ID, 0, o.ID, from, fmt.Sprintf("2FA required: %t, security keys required: %t, Trusted Publishing only: %t, staging: %q",
		o.Require2FA, o.RequireWebAuthn, o.TrustedPublishingOnly, o.Staging))
	s.invalidateAll(ctx, o.ID)
	return nil
}

func (s *Service) invalidateAll(ctx context.Context, orgID int64) {
	ps, err := s.db.OrgProjects(ctx, orgID)
	if err != nil {
		return
	}
	for _, p := range ps {
		s.index.Invalidate(p.NormalizedName)
	}
}

func (s *Service) account(ctx context.Context, username string) (store.Account, error) {
	a, err := s.db.AccountByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, ErrNoSuchUser
	}
	return a, err
}

// Invite offers a user a role in the organization; it is given when they accept.
func (s *Service) Invite(ctx context.Context, actor policy.Actor, name, username, role string, from audit.Request) error {
	o, err := s.org(ctx, name)
	if err != nil {
		return err
	}
	if err := s.policy.Decide(ctx, actor, policy.ManageOrgMembers, policy.Target{Org: &o}); err != nil {
		return err
	}
	if !validRole(role) {
		return ErrBadRole
	}
	u, err := s.account(ctx, username)
	if err != nil {
		return err
	}
	if current, err := s.db.OrgRoleOf(ctx, o.ID, u.ID); err != nil {
		return err
	} else if current != "" {
		return ErrAlreadyMember
	}
	now := s.now().UTC()
	if err := s.db.InviteOrgMember(ctx, o.ID, u.ID, role, actor.User.ID, now, now.Add(s.opts.InviteTTL)); err != nil {
		return err
	}
	s.rec.RecordOrg(ctx, EventInvited, actor.User.ID, 0, o.ID, from, fmt.Sprintf("%s invited as %s", u.Username, role))
	s.announce(ctx, o, fmt.Sprintf("%s invited %s to the organization as %s.", actor.User.Username, u.Username, role))
	return nil
}

// Answer accepts or declines actor's invitation to an organization.
func (s *Service) Answer(ctx context.Context, actor policy.Actor, name string, accept bool, from audit.Request) error {
	o, err := s.org(ctx, name)
	if err != nil {
		return err
	}
	action := policy.DeclineOrgInvitation
	if accept {
		action = policy.AcceptOrgInvitation
	}
	if err := s.policy.Decide(ctx, actor, action, policy.Target{Org: &o, InviteeID: actor.User.ID}); err != nil {
		return err
	}
	role, err := s.db.AnswerOrgInvitation(ctx, o.ID, actor.User.ID, accept, s.now().UTC())
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoInvitation
	}
	if err != nil {
		return err
	}
	kind, detail := EventDeclined, "declined the invitation"
	if accept {
		kind, detail = EventJoined, "joined as "+role
	}
	s.rec.RecordOrg(ctx, kind, actor.User.ID, 0, o.ID, from, detail)
	s.announce(ctx, o, fmt.Sprintf("%s %s.", actor.User.Username, detail))
	return nil
}

// AddMember makes a user a member at once: for the server's command line, where the operator vouches.
func (s *Service) AddMember(ctx context.Context, actor policy.Actor, name, username, role string, from audit.Request) error {
	o, err := s.org(ctx, name)
	if err != nil {
		return err
	}
	if err := s.policy.Decide(ctx, actor, policy.ManageOrgMembers, policy.Target{Org: &o}); err != nil {
		return err
	}
	if !validRole(role) {
		return ErrBadRole
	}
	u, err := s.account(ctx, username)
	if err != nil {
		return err
	}
	if err := s.db.SetOrgMember(ctx, o.ID, u.ID, role, s.now().UTC()); err != nil {
		return err
	}
	s.rec.RecordOrg(ctx, EventRoleChanged, actor.User.ID, 0, o.ID, from, fmt.Sprintf("%s is a member as %s", u.Username, role))
	s.announce(ctx, o, fmt.Sprintf("%s is now a member of the organization as %s.", u.Username, role), u.ID)
	return nil
}

// ChangeRole changes a member's role; the last Owner keeps theirs.
func (s *Service) ChangeRole(ctx context.Context, actor policy.Actor, name, username, role string, from audit.Request) error {
	o, err := s.org(ctx, name)
	if err != nil {
		return err
	}
	if err := s.policy.Decide(ctx, actor, policy.ManageOrgMembers, policy.Target{Org: &o}); err != nil {
		return err
	}
	if !validRole(role) {
		return ErrBadRole
	}
	u, err := s.account(ctx, username)
	if err != nil {
		return err
	}
	if err := memberErr(s.db.ChangeOrgRole(ctx, o.ID, u.ID, role)); err != nil {
		return err
	}
	s.rec.RecordOrg(ctx, EventRoleChanged, actor.User.ID, 0, o.ID, from, fmt.Sprintf("%s is now %s", u.Username, role))
	s.announce(ctx, o, fmt.Sprintf("%s made %s %s of the organization.", actor.User.Username, u.Username, withArticle(role)), u.ID)
	s.invalidateAll(ctx, o.ID)
	return nil
}

// RemoveMember takes a member out of the organization and its teams; the last Owner stays.
func (s *Service) RemoveMember(ctx context.Context, actor policy.Actor, name, username string, from audit.Request) error {
	o, err := s.org(ctx, name)
	if err != nil {
		return err
	}
	if err := s.policy.Decide(ctx, actor, policy.ManageOrgMembers, policy.Target{Org: &o}); err != nil {
		return err
	}
	u, err := s.account(ctx, username)
	if err != nil {
		return err
	}
	if err := memberErr(s.db.RemoveOrgMember(ctx, o.ID, u.ID)); err != nil {
		return err
	}
	s.rec.RecordOrg(ctx, EventMemberRemoved, actor.User.ID, 0, o.ID, from, u.Username+" removed")
	s.announce(ctx, o, fmt.Sprintf("%s removed %s from the organization and its teams.", actor.User.Username, u.Username), u.ID)
	s.invalidateAll(ctx, o.ID)
	return nil
}

// Leave takes actor out of the organization; the last Owner cannot leave.
func (s *Service) Leave(ctx context.Context, actor policy.Actor, name string, from audit.Request) error {
	o, err := s.org(ctx, name)
	if err != nil {
		return err
	}
	if err := s.policy.Decide(ctx, actor, policy.LeaveOrganization, policy.Target{Org: &o}); err != nil {
		return err
	}
	if err := memberErr(s.db.RemoveOrgMember(ctx, o.ID, actor.User.ID)); err != nil {
		return err
	}
	s.rec.RecordOrg(ctx, EventLeft, actor.User.ID, 0, o.ID, from, actor.User.Username+" left")
	s.announce(ctx, o, fmt.Sprintf("%s left the organization.", actor.User.Username))
	s.invalidateAll(ctx, o.ID)
	return nil
}

func memberErr(err error) error {
	switch {
	case errors.Is(err, store.ErrLastOrgOwner):
		return ErrLastOwner
	case errors.Is(err, store.ErrNotFound):
		return ErrNotMember
	}
	return err
}

// Invitations lists the invitations waiting for actor's answer.
func (s *Service) Invitations(ctx context.Context, actor policy.Actor) ([]store.OrgInvitation, error) {
	return s.db.OrgInvitations(ctx, 0, actor.User.ID, s.now())
}

// Memberships lists the organizations actor belongs to.
func (s *Service) Memberships(ctx context.Context, actor policy.Actor) ([]store.OrgInvitation, error) {
	return s.db.UserOrganizations(ctx, actor.User.ID)
}

// History is the organization's security history, for its Owners.
func (s *Service) History(ctx context.Context, actor policy.Actor, name string, limit int) ([]store.Event, error) {
	o, err := s.org(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := s.policy.Decide(ctx, actor, policy.ViewOrgHistory, policy.Target{Org: &o}); err != nil {
		return nil, err
	}
	return s.db.OrgEvents(ctx, o.ID, limit)
}

// withArticle is "an Owner", "a Manager", "a Member".
func withArticle(role string) string {
	if role == store.OrgRoleOwner {
		return "an " + role
	}
	return "a " + role
}
