package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"wharf/internal/audit"
	"wharf/internal/httperror"
	"wharf/internal/notify"
	"wharf/internal/orgs"
	"wharf/internal/policy"
	"wharf/internal/publishing"
	"wharf/internal/store"
)

// The organizations' pages: an organization's public profile (/org/NAME/), the visitor's organizations and
// invitations with the form to create one (/manage/organizations/), and an organization's management page
// (/manage/organization/NAME/) with its members, teams, projects and settings, and its security history. Every
// change goes through orgs.Service, which asks the policy; which forms a page shows is the policy's answer too
// (Offers, which records nothing). This file turns forms into calls, and the service's refusals into errors with
// their status (orgErr): the route table shows the page again with the reason inside the refused form and what was
// typed kept (server.pageForms, Site.Refused).

const orgsPath = "/manage/organizations/"

// errNoOrgs answers the organizations' routes of a site built without orgs.Service.
var errNoOrgs = httperror.New(http.StatusNotFound, "There is no page at this address.")

func orgPath(name string) string {
	return "/manage/organization/" + url.PathEscape(name) + "/"
}

// offerOrg is offer for an action on an organization (with what target says of it): true shows the form, and a
// refusal's reason is returned to show in its place.
func (s *Site) offerOrg(ctx context.Context, actor policy.Actor, action policy.Action, org store.Organization, target policy.Target) (bool, string, error) {
	target.Org = &org
	return offered(s.policy.Offers(ctx, actor, action, target))
}

// orgStatus is the status of a refusal by orgs.Service (orgErr), or 0 for an error it does not know.
func orgStatus(err error) int {
	switch {
	case errors.Is(err, orgs.ErrNoSuchOrg), errors.Is(err, orgs.ErrNoSuchUser), errors.Is(err, orgs.ErrNoSuchTeam),
		errors.Is(err, orgs.ErrNoSuchProject), errors.Is(err, orgs.ErrNoInvitation):
		return http.StatusNotFound
	case errors.Is(err, orgs.ErrBadRole), errors.Is(err, orgs.ErrBadTeamRole), errors.Is(err, orgs.ErrNotMember),
		errors.Is(err, orgs.ErrAlreadyMember), errors.Is(err, orgs.ErrNotInOrg):
		return http.StatusBadRequest
	case errors.Is(err, orgs.ErrLastOwner), errors.Is(err, orgs.ErrInOtherOrg):
		return http.StatusConflict
	}
	return 0
}

// orgErr turns a refusal of orgs.Service into the error the route table answers with: a bad name or input a 400,
// a conflict a 409, the policy's denial as it is (a 403 with its reason), all three shown inside the refused form;
// something that is not there (the organization, an invitation already answered) the 404 page. A missing
// confirmation is answered with a redirect to give it and come back to back; orgErr then returns nil.
func orgErr(w http.ResponseWriter, r *http.Request, err error, back string) error {
	var he *httperror.Error
	var bad *orgs.NameError
	switch {
	case errors.Is(err, policy.ErrReauthRequired):
		redirect(w, r, reauthURL(back))
		return nil
	case errors.As(err, &he), errors.Is(err, policy.ErrDenied):
		return err
	case errors.As(err, &bad):
		return httperror.Wrap(err, http.StatusBadRequest, "%s", bad.Reason)
	case orgStatus(err) != 0:
		return httperror.Wrap(err, orgStatus(err), "%s", capitalize(err.Error()))
	}
	return err
}

// typed makes the service's answer that the name typed or chosen in a form is not there (notFound) a refusal of
// that form, shown inside it with the name kept and what to do (hint), rather than the 404 page of something
// missing.
func typed(err, notFound error, hint string) error {
	if errors.Is(err, notFound) {
		return httperror.Wrap(err, http.StatusBadRequest, "%s: %s.", strings.TrimSuffix(capitalize(err.Error()), "."), hint)
	}
	return err
}

// noSuchOrg turns the service's ErrNoSuchOrg into the 404 page.
func noSuchOrg(err error) error {
	if errors.Is(err, orgs.ErrNoSuchOrg) {
		return httperror.Wrap(err, http.StatusNotFound, "%s", capitalize(err.Error()))
	}
	return err
}

// ---- the public profile

type orgProfilePage struct {
	Org      store.Organization
	Projects []store.Project
}

// OrgProfile is an organization's public page: its name, description and projects. An organization that waits
// for an administrator's approval has none yet.
func (s *Site) OrgProfile(w http.ResponseWriter, r *http.Request) error {
	if s.orgs == nil {
		return errNoOrgs
	}
	ctx := r.Context()
	o, err := s.orgs.Get(ctx, r.PathValue("name"))
	if err == nil && o.ApprovedAt.IsZero() {
		err = orgs.ErrNoSuchOrg
	}
	if err != nil {
		return noSuchOrg(err)
	}
	ps, err := s.db.OrgProjects(ctx, o.ID)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "org_profile", o.DisplayName, orgProfilePage{Org: o, Projects: ps}, "")
}

// ---- the visitor's organizations

type orgsPage struct {
	Memberships []store.OrgInvitation
	Invitations []store.OrgInvitation
}

// MyOrganizations lists the visitor's organizations and the invitations waiting for an answer, with the form to
// create an organization.
func (s *Site) MyOrganizations(w http.ResponseWriter, r *http.Request) error {
	if s.orgs == nil {
		return errNoOrgs
	}
	v, err := s.page(w, r, "")
	if v == nil {
		return err
	}
	ctx := r.Context()
	a := s.actor(v)
	var p orgsPage
	if p.Memberships, err = s.orgs.Memberships(ctx, a); err != nil {
		return err
	}
	if p.Invitations, err = s.orgs.Invitations(ctx, a); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "organizations", "Your organizations", p, "")
}

// CreateOrganization creates an organization with the visitor as its first Owner, or asks for one where an
// administrator approves them.
func (s *Site) CreateOrganization(w http.ResponseWriter, r *http.Request) error {
	if s.orgs == nil {
		return errNoOrgs
	}
	v, err := s.post(w, r, guard{back: orgsPath})
	if v == nil {
		return err
	}
	f := r.PostForm
	o, err := s.orgs.Create(r.Context(), s.actor(v), f.Get("name"), f.Get("display_name"), f.Get("description"), requestOf(r))
	if err != nil {
		return orgErr(w, r, err, orgsPath)
	}
	notice := "org-created"
	if o.ApprovedAt.IsZero() {
		notice = "org-requested"
	}
	redirect(w, r, orgPath(o.Name)+"?notice="+notice)
	return nil
}

// AnswerOrgInvitation accepts (accept=true) or declines the visitor's invitation to an organization.
func (s *Site) AnswerOrgInvitation(w http.ResponseWriter, r *http.Request) error {
	if s.orgs == nil {
		return errNoOrgs
	}
	v, err := s.post(w, r, guard{back: orgsPath})
	if v == nil {
		return err
	}
	accept := r.PostForm.Get("accept") == "true"
	name := r.PostForm.Get("org")
	if err := s.orgs.Answer(r.Context(), s.actor(v), name, accept, requestOf(r)); err != nil {
		return orgErr(w, r, err, orgsPath)
	}
	if accept {
		redirect(w, r, orgPath(name)+"?notice=org-joined")
		return nil
	}
	redirect(w, r, orgsPath+"?notice=org-declined")
	return nil
}

// ---- an organization's management page

// orgOffer is whether the visitor gets the forms of one part of the page, and if not, why.
type orgOffer struct {
	Can    bool
	Denied string
}

// settingsForm is the settings form, filled from the organization; a refused one shows what was posted instead.
type settingsForm struct {
	DisplayName, Description                           string
	Require2FA, RequireWebAuthn, TrustedPublishingOnly bool
	Staging                                            []stagingMode
}

type orgPage struct {
	orgs.View
	Me, MyRole string
	// What the visitor may do, each as the policy answers.
	ManageSettings, ManageMembers, ManageTeams, MoveOut, History, Leave orgOffer
	// MoveIn are the visitor's projects they may move into the organization; MoveInDenied why there is none.
	MoveIn       []string
	MoveInDenied string
	SettingsForm settingsForm
	// Staging is what the organization's staging means, in words.
	Staging string
	// Publishers is the form that adds one Trusted Publisher to several projects, offered with the projects the
	// policy lets the visitor manage the publishers of (PublisherProjects); CreateProject the form that registers
	// a pending publisher whose first publish creates a project in the organization. Both are absent on a site
	// without Trusted Publishing.
	Publishers, CreateProject    orgOffer
	PublisherProjects            []store.Project
	PublisherForms, PendingForms []publisherForm
}

// IsUnprotected says whether a member lacks the factor the organization requires.
func (p orgPage) IsUnprotected(userID int64) bool {
	return slices.ContainsFunc(p.Unprotected, func(m store.OrgMember) bool { return m.UserID == userID })
}

// ManageOrganization is an organization's page for its members: members, teams, projects and settings, with the
// forms the policy offers the visitor.
func (s *Site) ManageOrganization(w http.ResponseWriter, r *http.Request) error {
	if s.orgs == nil {
		return errNoOrgs
	}
	v, err := s.page(w, r, "")
	if v == nil {
		return err
	}
	ctx := r.Context()
	a := s.actor(v)
	view, err := s.orgs.Show(ctx, a, r.PathValue("name"))
	if err != nil {
		return noSuchOrg(err)
	}
	o := view.Org
	p := orgPage{View: view, Me: v.account.Username, Staging: stagingMeaning(o.Staging)}
	for _, m := range view.Members {
		if m.UserID == v.account.ID {
			p.MyRole = m.Role
		}
	}
	for _, part := range []struct {
		offer  *orgOffer
		action policy.Action
	}{
		{&p.ManageSettings, policy.ManageOrganization},
		{&p.ManageMembers, policy.ManageOrgMembers},
		{&p.ManageTeams, policy.ManageTeams},
		{&p.MoveOut, policy.MoveProjectOut},
		{&p.History, policy.ViewOrgHistory},
		{&p.Leave, policy.LeaveOrganization},
	} {
		if part.offer.Can, part.offer.Denied, err = s.offerOrg(ctx, a, part.action, o, policy.Target{}); err != nil {
			return err
		}
	}
	if p.MoveIn, p.MoveInDenied, err = s.movable(ctx, a, view); err != nil {
		return err
	}
	if err := s.orgPublishing(ctx, a, &p); err != nil {
		return err
	}
	p.SettingsForm = settingsForm{DisplayName: o.DisplayName, Description: o.Description, Require2FA: o.Require2FA,
		RequireWebAuthn: o.RequireWebAuthn, TrustedPublishingOnly: o.TrustedPublishingOnly, Staging: stagingModes(o.Staging)}
	return s.render(w, r, http.StatusOK, "organization", "Manage "+o.DisplayName, p, "")
}

// movable lists the projects the visitor may move into the organization: those of theirs outside it that the
// policy offers to move. With none, it says why.
func (s *Site) movable(ctx context.Context, a policy.Actor, view orgs.View) ([]string, string, error) {
	if s.projects == nil {
		return nil, "", nil
	}
	mine, err := s.projects.Projects(ctx, a)
	if err != nil {
		return nil, "", err
	}
	var names []string
	denied := ""
	for _, up := range mine {
		if slices.ContainsFunc(view.Projects, func(p store.Project) bool { return p.ID == up.Project.ID }) {
			continue
		}
		ok, why, err := s.offerOrg(ctx, a, policy.MoveProjectIn, view.Org, policy.Target{Project: &up.Project, Name: up.Project.NormalizedName})
		if err != nil {
			return nil, "", err
		}
		if ok {
			names = append(names, up.Project.Name)
		} else if denied == "" {
			denied = why
		}
	}
	if len(names) == 0 && denied == "" {
		denied = "You have no project outside the organization: only an Owner of a project may move it in."
	}
	return names, denied, nil
}

// The publisher sections of the management page, whose names prefix their forms' HTML ids and names.
const (
	orgPublishersForm = "publishers"
	orgPendingForm    = "pending"
)

// orgPublisherForms are the publishing page's empty forms, with ids prefixed so that the page's two sections of
// them do not clash.
func orgPublisherForms(issuers []store.Issuer, form string) []publisherForm {
	forms := publisherForms(issuers)
	for i := range forms {
		forms[i].ID = form + "-" + forms[i].ID
		for j := range forms[i].Fields {
			forms[i].Fields[j].ID = form + "-" + forms[i].Fields[j].ID
		}
	}
	return forms
}

// orgPublishing fills the page's Trusted Publishing sections, as the policy offers them: the publisher for
// several projects to whoever may manage the publishers of one of the projects at least, the pending publisher to
// whoever may create projects in the organization.
func (s *Site) orgPublishing(ctx context.Context, a policy.Actor, p *orgPage) error {
	if s.publish == nil {
		return nil
	}
	for _, project := range p.Projects {
		ok, why, err := s.offer(ctx, a, policy.ManagePublishers, project, policy.Target{})
		if err != nil {
			return err
		}
		if ok {
			p.PublisherProjects = append(p.PublisherProjects, project)
		} else if p.Publishers.Denied == "" {
			p.Publishers.Denied = why
		}
	}
	if p.Publishers.Can = len(p.PublisherProjects) > 0; p.Publishers.Can {
		p.Publishers.Denied = ""
	}
	var err error
	if p.CreateProject.Can, p.CreateProject.Denied, err = s.offerOrg(ctx, a, policy.CreateOrgProject, p.Org, policy.Target{}); err != nil {
		return err
	}
	issuers, err := s.db.Issuers(ctx)
	if err != nil {
		return err
	}
	p.PublisherForms, p.PendingForms = orgPublisherForms(issuers, orgPublishersForm), orgPublisherForms(issuers, orgPendingForm)
	return nil
}

// stagingFormValue reads the staging form's value as a mode; a value the form does not have is passed on as it
// is, for orgs.Service to refuse.
func stagingFormValue(value string) string {
	for _, m := range stagingValues {
		if m.value == value {
			return m.mode
		}
	}
	return value
}

// orgChange runs one change of the management page and shows the notice do returns after it; a refusal is
// returned for the route table to show inside the form it came from (orgErr). After leaving, the page to go back
// to is the visitor's organizations.
func (s *Site) orgChange(w http.ResponseWriter, r *http.Request,
	do func(ctx context.Context, v *visitor, a policy.Actor, name string, from audit.Request) (string, error)) error {
	if s.orgs == nil {
		return errNoOrgs
	}
	name := r.PathValue("name")
	v, err := s.post(w, r, guard{back: orgPath(name)})
	if v == nil {
		return err
	}
	notice, err := do(r.Context(), v, s.actor(v), name, requestOf(r))
	if err != nil {
		return orgErr(w, r, err, orgPath(name))
	}
	to := orgPath(name)
	if notice == "org-left" {
		to = orgsPath
	}
	redirect(w, r, to+"?notice="+notice)
	return nil
}

// OrgSettings saves an organization's settings: its name as shown, its description, and what it requires of every
// project it holds.
func (s *Site) OrgSettings(w http.ResponseWriter, r *http.Request) error {
	return s.orgChange(w, r, func(ctx context.Context, _ *visitor, a policy.Actor, name string, from audit.Request) (string, error) {
		f := r.PostForm
		mode := stagingFormValue(f.Get("staging"))
		return "org-settings-changed", s.orgs.UpdateSettings(ctx, a, name, orgs.Settings{
			DisplayName: f.Get("display_name"), Description: f.Get("description"),
			Require2FA: f.Get("require_2fa") == "true", RequireWebAuthn: f.Get("require_webauthn") == "true",
			TrustedPublishingOnly: f.Get("trusted_publishing_only") == "true", Staging: mode,
		}, from)
	})
}

// OrgInvite invites a user into the organization and mails them. Each invitation mails its invitee, so
// invitations count against the inviter's mail limit, as a project's do.
func (s *Site) OrgInvite(w http.ResponseWriter, r *http.Request) error {
	return s.orgChange(w, r, func(ctx context.Context, v *visitor, a policy.Actor, name string, from audit.Request) (string, error) {
		counters, err := s.checkInvites(ctx, v, r)
		if err != nil {
			return "", err
		}
		username, role := strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("role")
		if err := s.orgs.Invite(ctx, a, name, username, role, from); err != nil {
			return "", typed(err, orgs.ErrNoSuchUser, "check the username and try again")
		}
		if _, err := s.hit(ctx, counters); err != nil {
			s.log.Error("rate limiter", "err", err)
		}
		s.mailOrgInvitation(ctx, name, username, role, a.User.Username)
		return "org-invited", nil
	})
}

// mailOrgInvitation tells the invitee, with a link to the page where they answer. The invitation stands when the
// mail cannot be built; the log says why.
func (s *Site) mailOrgInvitation(ctx context.Context, org, username, role, inviter string) {
	invitee, err := s.db.AccountByName(ctx, username)
	if err != nil {
		s.log.Warn("invitee not found for the invitation mail", "org", org, "err", err)
		return
	}
	if o, err := s.orgs.Get(ctx, org); err == nil {
		org = o.Name
	}
	m, err := s.letters.OrgInvitation(invitee.Email, org, role, inviter, s.baseURL+orgsPath)
	s.queue(notify.KindOrgInvitation, m, err)
}

// OrgChangeRole makes a member an Owner, a Manager or a Member.
func (s *Site) OrgChangeRole(w http.ResponseWriter, r *http.Request) error {
	return s.orgChange(w, r, func(ctx context.Context, _ *visitor, a policy.Actor, name string, from audit.Request) (string, error) {
		return "org-role-changed", s.orgs.ChangeRole(ctx, a, name, r.PostForm.Get("username"), r.PostForm.Get("role"), from)
	})
}

// OrgRemoveMember takes a member out of the organization and its teams.
func (s *Site) OrgRemoveMember(w http.ResponseWriter, r *http.Request) error {
	return s.orgChange(w, r, func(ctx context.Context, _ *visitor, a policy.Actor, name string, from audit.Request) (string, error) {
		return "org-member-removed", s.orgs.RemoveMember(ctx, a, name, r.PostForm.Get("username"), from)
	})
}

// OrgLeave takes the visitor out of the organization; the last Owner stays, and the page says so.
func (s *Site) OrgLeave(w http.ResponseWriter, r *http.Request) error {
	return s.orgChange(w, r, func(ctx context.Context, _ *visitor, a policy.Actor, name string, from audit.Request) (string, error) {
		return "org-left", s.orgs.Leave(ctx, a, name, from)
	})
}

// OrgCreateTeam makes a team in the organization.
func (s *Site) OrgCreateTeam(w http.ResponseWriter, r *http.Request) error {
	return s.orgChange(w, r, func(ctx context.Context, _ *visitor, a policy.Actor, name string, from audit.Request) (string, error) {
		_, err := s.orgs.CreateTeam(ctx, a, name, r.PostForm.Get("team"), from)
		return "team-created", err
	})
}

// OrgDeleteTeam deletes a team with its roles on the projects.
func (s *Site) OrgDeleteTeam(w http.ResponseWriter, r *http.Request) error {
	return s.orgChange(w, r, func(ctx context.Context, _ *visitor, a policy.Actor, name string, from audit.Request) (string, error) {
		return "team-deleted", s.orgs.DeleteTeam(ctx, a, name, r.PostForm.Get("team"), from)
	})
}

// OrgTeamMember adds a member of the organization to a team (in=true), or takes them out.
func (s *Site) OrgTeamMember(w http.ResponseWriter, r *http.Request) error {
	return s.orgChange(w, r, func(ctx context.Context, _ *visitor, a policy.Actor, name string, from audit.Request) (string, error) {
		in := r.PostForm.Get("in") == "true"
		notice := "team-member-removed"
		if in {
			notice = "team-member-added"
		}
		err := s.orgs.SetTeamMember(ctx, a, name, r.PostForm.Get("team"), strings.TrimSpace(r.PostForm.Get("username")), in, from)
		if in {
			err = typed(err, orgs.ErrNoSuchUser, "choose one of the organization's members")
		}
		return notice, err
	})
}

// OrgTeamGrant gives a team a role on one of the organization's projects, or takes it away (role "").
func (s *Site) OrgTeamGrant(w http.ResponseWriter, r *http.Request) error {
	return s.orgChange(w, r, func(ctx context.Context, _ *visitor, a policy.Actor, name string, from audit.Request) (string, error) {
		f := r.PostForm
		err := s.orgs.SetTeamGrant(ctx, a, name, f.Get("team"), strings.TrimSpace(f.Get("project")), f.Get("role"), from)
		if f.Get("role") != "" {
			err = typed(err, orgs.ErrNoSuchProject, "choose one of the organization's projects")
		}
		return "team-grant-changed", err
	})
}

// OrgMoveIn moves one of the visitor's projects into the organization.
func (s *Site) OrgMoveIn(w http.ResponseWriter, r *http.Request) error {
	return s.orgChange(w, r, func(ctx context.Context, _ *visitor, a policy.Actor, name string, from audit.Request) (string, error) {
		err := s.orgs.MoveIn(ctx, a, name, strings.TrimSpace(r.PostForm.Get("project")), from)
		return "project-moved-in", typed(err, orgs.ErrNoSuchProject, "type the name of one of your projects")
	})
}

// OrgMoveOut moves a project out of the organization; every role that came from it ends.
func (s *Site) OrgMoveOut(w http.ResponseWriter, r *http.Request) error {
	return s.orgChange(w, r, func(ctx context.Context, _ *visitor, a policy.Actor, name string, from audit.Request) (string, error) {
		return "project-moved-out", s.orgs.MoveOut(ctx, a, name, r.PostForm.Get("project"), from)
	})
}

// orgPublisherChange runs a change of the management page posted from one of the publisher forms of the section
// named form; a refusal is returned for the route table to show inside the form posted, with what was typed and
// ticked kept (publishingErr).
func (s *Site) orgPublisherChange(w http.ResponseWriter, r *http.Request, form string,
	do func(ctx context.Context, a policy.Actor, o store.Organization, f *publisherForm, from audit.Request) (string, error)) error {
	if s.orgs == nil || s.publish == nil {
		return errNoOrgs
	}
	name := r.PathValue("name")
	v, err := s.post(w, r, guard{back: orgPath(name)})
	if v == nil {
		return err
	}
	ctx := r.Context()
	o, err := s.orgs.Get(ctx, name)
	if err != nil {
		return noSuchOrg(err)
	}
	issuers, err := s.db.Issuers(ctx)
	if err != nil {
		return err
	}
	f := posted(orgPublisherForms(issuers, form), r)
	if f == nil {
		return errUnknownKind
	}
	notice, err := do(ctx, s.actor(v), o, f, requestOf(r))
	if err != nil {
		return publishingErr(w, r, err, orgPath(name))
	}
	redirect(w, r, orgPath(name)+"?notice="+notice)
	return nil
}

// OrgAddPublishers registers one Trusted Publisher for each of the organization's projects ticked in the form.
func (s *Site) OrgAddPublishers(w http.ResponseWriter, r *http.Request) error {
	return s.orgPublisherChange(w, r, orgPublishersForm, func(ctx context.Context, a policy.Actor, o store.Organization, f *publisherForm, from audit.Request) (string, error) {
		held, err := s.db.OrgProjects(ctx, o.ID)
		if err != nil {
			return "", err
		}
		var chosen []store.Project
		for _, name := range r.PostForm["project"] {
			i := slices.IndexFunc(held, func(p store.Project) bool { return p.Name == name })
			if i < 0 {
				return "", &publishing.FieldError{Reason: "The organization holds no project named '" + name + "'."}
			}
			if !slices.ContainsFunc(chosen, func(p store.Project) bool { return p.ID == held[i].ID }) {
				chosen = append(chosen, held[i])
			}
		}
		if len(chosen) == 0 {
			return "", &publishing.FieldError{Reason: "Choose the projects the publisher may publish."}
		}
		_, err = s.publish.AddToProjects(ctx, a, chosen, f.spec(), from)
		return "org-publishers-added", err
	})
}

// OrgAddPendingPublisher registers a pending publisher whose first publish creates a project in the organization.
func (s *Site) OrgAddPendingPublisher(w http.ResponseWriter, r *http.Request) error {
	return s.orgPublisherChange(w, r, orgPendingForm, func(ctx context.Context, a policy.Actor, o store.Organization, f *publisherForm, from audit.Request) (string, error) {
		_, err := s.publish.AddPendingInOrg(ctx, a, o, f.Project, f.spec(), from)
		return "org-pending-publisher-added", err
	})
}

// ---- history

type orgHistoryPage struct {
	Org    store.Organization
	Events []store.Event
}

// OrgHistory is the organization's security history, for its Owners.
func (s *Site) OrgHistory(w http.ResponseWriter, r *http.Request) error {
	if s.orgs == nil {
		return errNoOrgs
	}
	v, err := s.page(w, r, "")
	if v == nil {
		return err
	}
	ctx := r.Context()
	name := r.PathValue("name")
	evs, err := s.orgs.History(ctx, s.actor(v), name, historyLength)
	if errors.Is(err, policy.ErrReauthRequired) {
		redirect(w, r, reauthURL(orgPath(name)+"history/"))
		return nil
	}
	if err != nil {
		return noSuchOrg(err)
	}
	o, err := s.orgs.Get(ctx, name)
	if err != nil {
		return noSuchOrg(err)
	}
	return s.render(w, r, http.StatusOK, "org_history", "Security history of "+o.Name, orgHistoryPage{Org: o, Events: evs}, "")
}
