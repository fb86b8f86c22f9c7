package orgs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// CreateTeam makes a team in the organization.
func (s *Service) CreateTeam(ctx context.Context, actor policy.Actor, org, team string, from audit.Request) (store.Team, error) {
	o, err := s.org(ctx, org)
	if err != nil {
		return store.Team{}, err
	}
	if err := s.policy.Decide(ctx, actor, policy.ManageTeams, policy.Target{Org: &o}); err != nil {
		return store.Team{}, err
	}
	team = strings.TrimSpace(team)
	if !pypkg.ValidProjectName(team) || len(team) > 50 {
		return store.Team{}, &NameError{fmt.Sprintf("'%s' is not a valid team name: at most 50 ASCII letters, digits, '.', '_' and '-'.", team)}
	}
	t, err := s.db.CreateTeam(ctx, store.Team{OrgID: o.ID, Name: team, NormalizedName: pypkg.NormalizeName(team), CreatedAt: s.now().UTC()})
	if errors.Is(err, store.ErrConflict) {
		return store.Team{}, &NameError{fmt.Sprintf("Organization '%s' has a team named '%s' already.", o.Name, team)}
	}
	if err != nil {
		return store.Team{}, err
	}
	s.rec.RecordOrg(ctx, EventTeamCreated, actor.User.ID, 0, o.ID, from, t.Name)
	return t, nil
}

func (s *Service) team(ctx context.Context, actor policy.Actor, org, team string) (store.Organization, store.Team, error) {
	o, err := s.org(ctx, org)
	if err != nil {
		return o, store.Team{}, err
	}
	if err := s.policy.Decide(ctx, actor, policy.ManageTeams, policy.Target{Org: &o}); err != nil {
		return o, store.Team{}, err
	}
	t, err := s.db.TeamByName(ctx, o.ID, pypkg.NormalizeName(team))
	if errors.Is(err, store.ErrNotFound) {
		return o, t, ErrNoSuchTeam
	}
	return o, t, err
}

// DeleteTeam removes a team with its grants.
func (s *Service) DeleteTeam(ctx context.Context, actor policy.Actor, org, team string, from audit.Request) error {
	o, t, err := s.team(ctx, actor, org, team)
	if err != nil {
		return err
	}
	if err := s.db.DeleteTeam(ctx, t.ID); err != nil {
		return err
	}
	s.rec.RecordOrg(ctx, EventTeamDeleted, actor.User.ID, 0, o.ID, from, t.Name)
	s.invalidateAll(ctx, o.ID)
	return nil
}

// SetTeamMember adds a member of the organization to a team (in), or takes them out.
func (s *Service) SetTeamMember(ctx context.Context, actor policy.Actor, org, team, username string, in bool, from audit.Request) error {
	o, t, err := s.team(ctx, actor, org, team)
	if err != nil {
		return err
	}
	u, err := s.account(ctx, username)
	if err != nil {
		return err
	}
	if in {
		if role, err := s.db.OrgRoleOf(ctx, o.ID, u.ID); err != nil {
			return err
		} else if role == "" {
			return ErrNotMember
		}
	}
	if err := s.db.SetTeamMember(ctx, t.ID, u.ID, in); err != nil {
		return memberErr(err)
	}
	detail := fmt.Sprintf("%s added to team %s", u.Username, t.Name)
	if !in {
		detail = fmt.Sprintf("%s taken out of team %s", u.Username, t.Name)
	}
	s.rec.RecordOrg(ctx, EventTeamMember, actor.User.ID, 0, o.ID, from, detail)
	s.announce(ctx, o, fmt.Sprintf("%s: %s.", actor.User.Username, detail), u.ID)
	s.invalidateAll(ctx, o.ID)
	return nil
}

// SetTeamGrant gives a team a role (Owner or Maintainer) on one of the organization's projects, or takes it away
// (role "").
func (s *Service) SetTeamGrant(ctx context.Context, actor policy.Actor, org, team, project, role string, from audit.Request) error {
	o, t, err := s.team(ctx, actor, org, team)
	if err != nil {
		return err
	}
	if role != "" && role != store.RoleOwner && role != store.RoleMaintainer {
		return ErrBadTeamRole
	}
	p, err := s.db.ProjectByName(ctx, pypkg.NormalizeName(project))
	if errors.Is(err, store.ErrNotFound) {
		return ErrNoSuchProject
	}
	if err != nil {
		return err
	}
	if err := s.db.SetTeamGrant(ctx, t.ID, p.ID, role, actor.User.ID, s.now().UTC()); errors.Is(err, store.ErrNotFound) {
		return ErrNotInOrg
	} else if err != nil {
		return err
	}
	detail := fmt.Sprintf("team %s is %s of %s", t.Name, role, p.Name)
	if role == "" {
		detail = fmt.Sprintf("team %s has no role on %s", t.Name, p.Name)
	}
	s.rec.RecordOrg(ctx, EventTeamGrant, actor.User.ID, p.ID, o.ID, from, detail)
	s.announce(ctx, o, fmt.Sprintf("%s: %s.", actor.User.Username, detail))
	s.index.Invalidate(p.NormalizedName)
	return nil
}

// MoveIn puts a project into the organization: an Owner of both moves it. From then on the organization's Owners
// are its Owners, and its teams may be given roles on it.
func (s *Service) MoveIn(ctx context.Context, actor policy.Actor, org, project string, from audit.Request) error {
	o, p, err := s.orgAndProject(ctx, org, project)
	if err != nil {
		return err
	}
	if err := s.policy.Decide(ctx, actor, policy.MoveProjectIn, policy.Target{Org: &o, Project: &p, Name: p.NormalizedName}); err != nil {
		return err
	}
	switch current, err := s.db.ProjectOrg(ctx, p.ID); {
	case err != nil:
		return err
	case current == o.ID:
		return nil
	case current != 0:
		return ErrInOtherOrg
	}
	if err := s.db.MoveProject(ctx, p.ID, o.ID, actor.User.ID, s.now().UTC()); err != nil {
		return err
	}
	s.rec.RecordOrg(ctx, EventProjectMovedIn, actor.User.ID, p.ID, o.ID, from, p.Name+" moved in")
	s.announce(ctx, o, fmt.Sprintf("%s moved the project %s into the organization: its Owners are now Owners of it.", actor.User.Username, p.Name))
	s.index.Invalidate(p.NormalizedName)
	return nil
}

// MoveOut takes a project out of the organization: an Owner of the organization moves it. Every grant that came
// from the organization ends with the move (K7): its Owners and its teams no longer act on the project, and only
// the roles given to people on the project itself remain.
func (s *Service) MoveOut(ctx context.Context, actor policy.Actor, org, project string, from audit.Request) error {
	o, p, err := s.orgAndProject(ctx, org, project)
	if err != nil {
		return err
	}
	if err := s.policy.Decide(ctx, actor, policy.MoveProjectOut, policy.Target{Org: &o, Project: &p, Name: p.NormalizedName}); err != nil {
		return err
	}
	if current, err := s.db.ProjectOrg(ctx, p.ID); err != nil {
		return err
	} else if current != o.ID {
		return ErrNotInOrg
	}
	if err := s.db.MoveProject(ctx, p.ID, 0, actor.User.ID, s.now().UTC()); err != nil {
		return err
	}
	s.rec.RecordOrg(ctx, EventProjectMoveOut, actor.User.ID, p.ID, o.ID, from, p.Name+" moved out")
	s.announce(ctx, o, fmt.Sprintf("%s moved the project %s out of the organization: no role that came from the organization or its teams remains on it.", actor.User.Username, p.Name))
	s.index.Invalidate(p.NormalizedName)
	return nil
}

func (s *Service) orgAndProject(ctx context.Context, org, project string) (store.Organization, store.Project, error) {
	o, err := s.org(ctx, org)
	if err != nil {
		return o, store.Project{}, err
	}
	p, err := s.db.ProjectByName(ctx, pypkg.NormalizeName(project))
	if errors.Is(err, store.ErrNotFound) {
		return o, p, ErrNoSuchProject
	}
	return o, p, err
}
