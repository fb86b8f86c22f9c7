package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"wharf/internal/httperror"
	"wharf/internal/notify"
	"wharf/internal/policy"
	"wharf/internal/projects"
	"wharf/internal/pypkg"
	"wharf/internal/ratelimit"
	"wharf/internal/store"
)

// The management pages: a user's projects and invitations, and per project its collaborators, releases and
// security history. Every change goes through projects.Manager, which asks the policy engine; this file only
// turns HTTP into its calls, its refusals into pages, and its notices into mail.

// actor is the signed-in visitor as the policy engine sees them, with the session's re-authentication state (S8).
func (s *Site) actor(v *visitor) policy.Actor {
	return policy.SessionActor(v.account, policy.Session{Sudo: v.session.Sudo(s.now(), s.sudoWindow), Key: v.session.SignedInWithKey()})
}

func managePath(name, page string) string {
	return "/manage/project/" + url.PathEscape(name) + "/" + page + "/"
}

// manageErr turns the Manager's refusals into answers: a missing re-authentication sends the user to confirm
// the password and come back to back (a local path); a denial shows its reason; the Manager's own errors their
// message. It returns nil when it has answered with a redirect.
func manageErr(w http.ResponseWriter, r *http.Request, err error, back string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, policy.ErrReauthRequired):
		redirect(w, r, reauthURL(back))
		return nil
	case errors.Is(err, policy.ErrDenied):
		return err // the server's one mapping shows the reason
	case errors.Is(err, projects.ErrNoSuchProject), errors.Is(err, projects.ErrNoSuchRelease),
		errors.Is(err, projects.ErrNoSuchFile), errors.Is(err, projects.ErrNoSuchInvitation):
		return httperror.Wrap(err, http.StatusNotFound, "%s", capitalize(err.Error()))
	case errors.Is(err, projects.ErrNoSuchUser), errors.Is(err, projects.ErrNotCollaborator),
		errors.Is(err, projects.ErrIsCollaborator), errors.Is(err, projects.ErrAlreadyInvited),
		errors.Is(err, projects.ErrLastOwner), errors.Is(err, projects.ErrNotOwner),
		errors.Is(err, projects.ErrUserDisabled), errors.Is(err, projects.ErrInvalidRole),
		errors.Is(err, projects.ErrTransferToSelf), errors.Is(err, projects.ErrInvalidTransfer),
		errors.Is(err, projects.ErrReasonTooLong), errors.Is(err, projects.ErrInvalidRequirement):
		return httperror.Wrap(err, http.StatusBadRequest, "%s", capitalize(err.Error()))
	}
	return err
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

// errNoManager answers the management routes of a site built without a projects.Manager.
var errNoManager = httperror.New(http.StatusNotFound, "There is no page at this address.")

// mailNotices mails what the Manager says should be told, off the request path. Invitations carry the signed
// accept link; everything else is one sentence through the project-change template.
func (s *Site) mailNotices(ctx context.Context, ns []projects.Notice, inviteToken string) {
	for _, n := range ns {
		acct, err := s.db.AccountByID(ctx, n.To)
		if err != nil {
			s.log.Warn("notice recipient not found", "kind", n.Kind, "user", n.To, "err", err)
			continue
		}
		if n.Kind == projects.NoticeInvitation {
			if inviteToken == "" {
				continue
			}
			m, err := s.letters.Invitation(acct.Email, n.Project, n.Role, n.By,
				s.baseURL+"/account/invitation/?token="+url.QueryEscape(inviteToken))
			s.queue(notify.KindInvitation, m, err)
			continue
		}
		if acct.Username == n.User && n.By != n.User {
			// The user whose own role changed gets the role-change letter.
			switch n.Kind {
			case projects.NoticeRoleRemoved:
				m, err := s.letters.RoleChanged(acct.Email, n.Project, "")
				s.queue(notify.KindRoleChanged, m, err)
				continue
			case projects.NoticeRoleChanged, projects.NoticeRoleAdded, projects.NoticeOwnershipTransfer:
				m, err := s.letters.RoleChanged(acct.Email, n.Project, n.Role)
				s.queue(notify.KindRoleChanged, m, err)
				continue
			}
		}
		m, err := s.letters.ProjectChanged(acct.Email, n.Project, noticeText(n))
		s.queue(notify.KindProjectChanged, m, err)
	}
}

func noticeText(n projects.Notice) string {
	if n.Text != "" {
		return n.Text
	}
	switch n.Kind {
	case projects.NoticeInvitationSent:
		return fmt.Sprintf("%s invited %s to the project as %s.", n.By, n.User, n.Role)
	case projects.NoticeInvitationDeclined:
		return fmt.Sprintf("%s declined the invitation to the project as %s.", n.User, n.Role)
	case projects.NoticeInvitationRevoked:
		return fmt.Sprintf("%s withdrew the invitation of %s as %s.", n.By, n.User, n.Role)
	case projects.NoticeRoleAdded:
		return fmt.Sprintf("%s is now a collaborator of the project as %s (invited by %s).", n.User, n.Role, n.By)
	case projects.NoticeRoleRemoved:
		if n.User == n.By {
			return fmt.Sprintf("%s left the project (was %s).", n.User, n.Role)
		}
		return fmt.Sprintf("%s removed %s (%s) from the project.", n.By, n.User, n.Role)
	case projects.NoticeRoleChanged:
		return fmt.Sprintf("%s changed the role of %s to %s.", n.By, n.User, n.Role)
	case projects.NoticeOwnershipTransfer:
		return fmt.Sprintf("%s made %s an Owner of the project; %s.", n.By, n.User, n.Detail)
	case projects.NoticeReleaseYanked:
		return fmt.Sprintf("%s yanked release %s.", n.By, n.Detail)
	case projects.NoticeReleaseUnyanked:
		return fmt.Sprintf("%s un-yanked release %s.", n.By, n.Detail)
	case projects.NoticeFileDeleted:
		return fmt.Sprintf("%s deleted the file %s.", n.By, n.Detail)
	case projects.NoticeReleaseDeleted:
		return fmt.Sprintf("%s deleted release %s.", n.By, n.Detail)
	case projects.NoticeProjectDeleted:
		return fmt.Sprintf("%s deleted the project. Its name and filenames stay reserved.", n.By)
	case projects.NoticeRequire2FA:
		return fmt.Sprintf("%s changed the project's settings: it %s.", n.By, n.Detail)
	}
	return fmt.Sprintf("%s made a change (%s).", n.By, n.Kind)
}

// ---- your projects and invitations

type myProjectsPage struct {
	Projects    []store.UserProject
	Invitations []store.Invitation
	Publishing  bool // link each project's Trusted Publishing page
}

// MyProjects lists the visitor's projects with their role, and the invitations waiting for an answer.
func (s *Site) MyProjects(w http.ResponseWriter, r *http.Request) error {
	if s.projects == nil {
		return errNoManager
	}
	v, err := s.page(w, r, "")
	if v == nil {
		return err
	}
	ctx := r.Context()
	a := s.actor(v)
	ps, err := s.projects.Projects(ctx, a)
	if err != nil {
		return err
	}
	invs, err := s.projects.UserInvitations(ctx, a)
	if err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "manage_projects", "Your projects", myProjectsPage{Projects: ps, Invitations: invs, Publishing: s.publish != nil}, "")
}

func formID(r *http.Request, key string) (int64, error) {
	id, err := strconv.ParseInt(r.PostForm.Get(key), 10, 64)
	if err != nil || id <= 0 {
		return 0, httperror.New(http.StatusNotFound, "%s", capitalize(projects.ErrNoSuchInvitation.Error()))
	}
	return id, nil
}

// AcceptInvitation accepts an invitation listed on the visitor's projects page.
func (s *Site) AcceptInvitation(w http.ResponseWriter, r *http.Request) error {
	return s.answerInvitation(w, r, true)
}

// DeclineInvitation declines an invitation listed on the visitor's projects page.
func (s *Site) DeclineInvitation(w http.ResponseWriter, r *http.Request) error {
	return s.answerInvitation(w, r, false)
}

func (s *Site) answerInvitation(w http.ResponseWriter, r *http.Request, accept bool) error {
	if s.projects == nil {
		return errNoManager
	}
	const back = "/manage/projects/"
	v, err := s.post(w, r, guard{back: back})
	if v == nil {
		return err
	}
	id, err := formID(r, "invitation_id")
	if err != nil {
		return err
	}
	var ns []projects.Notice
	notice := "invitation-declined"
	if accept {
		_, ns, err = s.projects.AcceptByID(r.Context(), s.actor(v), id, requestOf(r))
		notice = "invitation-accepted"
	} else {
		ns, err = s.projects.Decline(r.Context(), s.actor(v), id, requestOf(r))
	}
	if err != nil {
		return manageErr(w, r, err, back)
	}
	s.mailNotices(r.Context(), ns, "")
	redirect(w, r, back+"?notice="+notice)
	return nil
}

// ---- the mailed invitation link

type invitationPage struct {
	Token      string
	Invitation store.Invitation
	Valid      bool
}

// InvitationLink shows the invitation of a mailed link with a button to accept it. GET changes nothing: mail
// scanners open links.
func (s *Site) InvitationLink(w http.ResponseWriter, r *http.Request) error {
	if s.projects == nil {
		return errNoManager
	}
	v, err := s.page(w, r, "")
	if v == nil {
		return err
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	token := r.URL.Query().Get("token")
	// A link cut or changed on the way, or past its signed expiry, says so before anything is looked up.
	if err := s.projects.CheckLink(token); err != nil {
		return manageErr(w, r, err, "/manage/projects/")
	}
	p := invitationPage{Token: token}
	// Only the visitor's own pending invitations are candidates, so a link shows nothing to anyone but its
	// invitee; the database keeps the SHA-256 of the link's token (projects.linkHash). Accepting checks the
	// link's signature and expiry in the Manager.
	sum := sha256.Sum256([]byte(token))
	hash := hex.EncodeToString(sum[:])
	for _, inv := range s.mustInvitations(r, v) {
		if token != "" && subtle.ConstantTimeCompare([]byte(inv.TokenHash), []byte(hash)) == 1 {
			p.Invitation, p.Valid = inv, true
		}
	}
	if !p.Valid {
		// A link this site signed, unexpired, that is not among the visitor's pending invitations.
		return httperror.New(http.StatusNotFound, "This invitation was already answered or withdrawn, or it is for "+
			"another account. Your pending invitations are listed under Your projects.")
	}
	return s.render(w, r, http.StatusOK, "invitation", "Invitation to "+p.Invitation.ProjectName, p, "")
}

func (s *Site) mustInvitations(r *http.Request, v *visitor) []store.Invitation {
	invs, err := s.projects.UserInvitations(r.Context(), s.actor(v))
	if err != nil {
		s.log.Warn("invitations", "err", err)
	}
	return invs
}

// AcceptInvitationLink accepts the invitation of a mailed link.
func (s *Site) AcceptInvitationLink(w http.ResponseWriter, r *http.Request) error {
	if s.projects == nil {
		return errNoManager
	}
	v, err := s.post(w, r, guard{back: "/manage/projects/"})
	if v == nil {
		return err
	}
	_, ns, err := s.projects.Accept(r.Context(), s.actor(v), r.PostForm.Get("token"), requestOf(r))
	if err != nil {
		return manageErr(w, r, err, "/manage/projects/")
	}
	s.mailNotices(r.Context(), ns, "")
	redirect(w, r, "/manage/projects/?notice=invitation-accepted")
	return nil
}

// ---- collaboration

type collaborationPage struct {
	Project       store.Project
	Protection    store.Protection
	KeysRequired  bool // the project is held to security keys, by its Owners or as a critical project
	Collaborators []store.Collaborator
	Invitations   []store.Invitation
	CanManage     bool
	Denied        string // why the visitor sees no forms
	Me            string
	MyRole        string
}

func (s *Site) projectOf(ctx context.Context, name string) (store.ProjectIndex, error) {
	pi, err := s.db.ProjectIndex(ctx, pypkg.NormalizeName(name))
	if errors.Is(err, store.ErrNotFound) {
		return pi, httperror.Wrap(err, http.StatusNotFound, "%s", capitalize(projects.ErrNoSuchProject.Error()))
	}
	return pi, err
}

func roleOf(cs []store.Collaborator, userID int64) string {
	for _, c := range cs {
		if c.UserID == userID {
			return c.Role
		}
	}
	return ""
}

// Collaboration lists a project's collaborators; its Owners also get the forms to invite, change roles, remove
// and transfer, and the pending invitations. Whether the forms show is the policy's decision (ViewInvitations).
func (s *Site) Collaboration(w http.ResponseWriter, r *http.Request) error {
	if s.projects == nil {
		return errNoManager
	}
	v, err := s.page(w, r, "")
	if v == nil {
		return err
	}
	ctx := r.Context()
	pi, err := s.projectOf(ctx, r.PathValue("name"))
	if err != nil {
		return err
	}
	cs, err := s.db.Collaborators(ctx, pi.Project.ID)
	if err != nil {
		return err
	}
	prot, err := s.db.ProjectProtection(ctx, pi.Project.ID)
	if err != nil {
		return err
	}
	p := collaborationPage{Project: pi.Project, Protection: prot, KeysRequired: s.policy.RequiresKeys(prot), Collaborators: cs,
		Me: v.account.Username, MyRole: roleOf(cs, v.account.ID)}
	invs, err := s.projects.ProjectInvitations(ctx, s.actor(v), pi.Project.Name)
	var denied *policy.Denied
	switch {
	case err == nil || errors.Is(err, policy.ErrReauthRequired):
		p.CanManage, p.Invitations = true, invs
	case errors.As(err, &denied):
		p.Denied = denied.Reason
	default:
		return manageErr(w, r, err, "")
	}
	return s.render(w, r, http.StatusOK, "collaboration", "Collaborators of "+pi.Project.Name, p, "")
}

// Require2FA sets what the project requires of every collaborator's second factors: nothing, any, or security
// keys and passkeys.
func (s *Site) Require2FA(w http.ResponseWriter, r *http.Request) error {
	return s.manageAction(w, r, "collaboration", "settings-changed", func(ctx context.Context, a policy.Actor, name string) ([]projects.Notice, error) {
		req, err := projects.ParseRequirement(r.PostForm.Get("require"))
		if err != nil {
			return nil, err
		}
		return s.projects.SetRequirement(ctx, a, name, req, requestOf(r))
	})
}

// Invite invites a user by username. Each invitation mails its invitee, so invitations count against the
// inviter's mail limit.
func (s *Site) Invite(w http.ResponseWriter, r *http.Request) error {
	if s.projects == nil {
		return errNoManager
	}
	name := r.PathValue("name")
	back := managePath(name, "collaboration")
	v, err := s.post(w, r, guard{back: back})
	if v == nil {
		return err
	}
	ctx := r.Context()
	counters, err := s.checkInvites(ctx, v, r)
	if err != nil {
		return err
	}
	inv, err := s.projects.Invite(ctx, s.actor(v), name, strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("role"), requestOf(r))
	if err != nil {
		return manageErr(w, r, err, back)
	}
	if _, err := s.hit(ctx, counters); err != nil {
		s.log.Error("rate limiter", "err", err)
	}
	s.mailNotices(ctx, inv.Notices, inv.Token)
	redirect(w, r, back+"?notice=invited")
	return nil
}

// inviteCounters limit the mail an inviter causes, with the mail rules (R5): per inviter and per IP.
func (s *Site) inviteCounters(inviterID int64, ip string) []keyed {
	return []keyed{
		{"invite:" + strconv.FormatInt(inviterID, 10), []ratelimit.Rule{s.rules.MailAddressHour, s.rules.MailAddressDay}},
		{ip, []ratelimit.Rule{s.rules.MailIP}},
	}
}

// checkInvites refuses while the inviter's invitation mail limit holds, and returns the counters to count a sent
// invitation on.
func (s *Site) checkInvites(ctx context.Context, v *visitor, r *http.Request) ([]keyed, error) {
	counters := s.inviteCounters(v.account.ID, clientIP(r))
	d, err := s.check(ctx, counters)
	if err != nil {
		return nil, errLimiter(err)
	}
	if !d.Allowed {
		return nil, tooMany(d, "invitations")
	}
	return counters, nil
}

// ChangeRole makes a collaborator an Owner or a Maintainer.
func (s *Site) ChangeRole(w http.ResponseWriter, r *http.Request) error {
	return s.collabAction(w, r, "role-changed", func(ctx context.Context, a policy.Actor, name string) ([]projects.Notice, error) {
		return s.projects.ChangeRole(ctx, a, name, r.PostForm.Get("username"), r.PostForm.Get("role"), requestOf(r))
	})
}

// RemoveRole removes a collaborator; removing oneself is leaving.
func (s *Site) RemoveRole(w http.ResponseWriter, r *http.Request) error {
	return s.collabAction(w, r, "role-removed", func(ctx context.Context, a policy.Actor, name string) ([]projects.Notice, error) {
		return s.projects.RemoveRole(ctx, a, name, r.PostForm.Get("username"), requestOf(r))
	})
}

// LeaveProject removes the visitor's own role.
func (s *Site) LeaveProject(w http.ResponseWriter, r *http.Request) error {
	return s.collabAction(w, r, "left", func(ctx context.Context, a policy.Actor, name string) ([]projects.Notice, error) {
		return s.projects.RemoveRole(ctx, a, name, a.User.Username, requestOf(r))
	})
}

// RevokeInvitation withdraws a pending invitation of the project.
func (s *Site) RevokeInvitation(w http.ResponseWriter, r *http.Request) error {
	return s.collabAction(w, r, "invitation-revoked", func(ctx context.Context, a policy.Actor, name string) ([]projects.Notice, error) {
		id, err := strconv.ParseInt(r.PostForm.Get("invitation_id"), 10, 64)
		if err != nil {
			return nil, projects.ErrNoSuchInvitation
		}
		return s.projects.RevokeInvitation(ctx, a, name, id, requestOf(r))
	})
}

// TransferOwnership makes another user an Owner, and the visitor a Maintainer or no collaborator.
func (s *Site) TransferOwnership(w http.ResponseWriter, r *http.Request) error {
	if s.projects == nil {
		return errNoManager
	}
	name := r.PathValue("name")
	back := managePath(name, "collaboration")
	v, err := s.post(w, r, guard{back: back})
	if v == nil {
		return err
	}
	ctx := r.Context()
	counters, err := s.checkInvites(ctx, v, r)
	if err != nil {
		return err
	}
	t, err := s.projects.TransferOwnership(ctx, s.actor(v), name, strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("then"), requestOf(r))
	if err != nil {
		return manageErr(w, r, err, back)
	}
	token := ""
	if t.Invited != nil {
		token = t.Invited.Token
		if _, err := s.hit(ctx, counters); err != nil {
			s.log.Error("rate limiter", "err", err)
		}
	}
	s.mailNotices(ctx, t.Notices, token)
	redirect(w, r, back+"?notice=transferred")
	return nil
}

// collabAction runs one change of the collaboration page.
func (s *Site) collabAction(w http.ResponseWriter, r *http.Request, notice string, do func(context.Context, policy.Actor, string) ([]projects.Notice, error)) error {
	return s.manageAction(w, r, "collaboration", notice, do)
}

// manageAction runs one change of a management page through the Manager and mails its notices. After a change that
// takes the project away from the visitor (leaving it, deleting it), the page to go back to is the projects list.
func (s *Site) manageAction(w http.ResponseWriter, r *http.Request, page, notice string, do func(context.Context, policy.Actor, string) ([]projects.Notice, error)) error {
	if s.projects == nil {
		return errNoManager
	}
	name := r.PathValue("name")
	back := managePath(name, page)
	v, err := s.post(w, r, guard{back: back})
	if v == nil {
		return err
	}
	ns, err := do(r.Context(), s.actor(v), name)
	if err != nil {
		return manageErr(w, r, err, back)
	}
	s.mailNotices(r.Context(), ns, "")
	if notice == "left" || notice == "project-deleted" {
		redirect(w, r, "/manage/projects/?notice="+notice)
		return nil
	}
	redirect(w, r, back+"?notice="+notice)
	return nil
}

// ---- releases

type manageRelease struct {
	store.Release
	Files []store.File
}

type releasesPage struct {
	Project  store.Project
	Releases []manageRelease
	MyRole   string
	// Staged are the releases waiting for approval (staged.go); Discard the one whose discarding the visitor is
	// asked to confirm (nil asks nothing); CanApprove whether the visitor gets the forms (Owners and Maintainers).
	Staged     []stagedRelease
	Discard    *stagedRelease
	CanApprove bool
	// ApproveDenied is why the visitor may not approve, shown instead of the forms.
	ApproveDenied string
}

// Releases lists a project's releases and files with the forms to yank, un-yank and delete, for its
// collaborators, and the staged releases with the forms to approve and discard them; the Manager decides each
// change.
func (s *Site) Releases(w http.ResponseWriter, r *http.Request) error {
	if s.projects == nil {
		return errNoManager
	}
	v, err := s.page(w, r, "")
	if v == nil {
		return err
	}
	return s.renderReleases(w, r, v, r.PathValue("name"), http.StatusOK, "")
}

// renderReleases writes the releases page with a refusal (formErr) of one of its forms.
func (s *Site) renderReleases(w http.ResponseWriter, r *http.Request, v *visitor, name string, status int, formErr string) error {
	ctx := r.Context()
	pi, err := s.projectOf(ctx, name)
	if err != nil {
		return err
	}
	cs, err := s.db.Collaborators(ctx, pi.Project.ID)
	if err != nil {
		return err
	}
	if err := s.policy.Decide(ctx, s.actor(v), policy.ViewReleases, policy.Target{Project: &pi.Project, Name: pi.Project.NormalizedName}); err != nil {
		return err
	}
	p := releasesPage{Project: pi.Project, MyRole: roleOf(cs, v.account.ID)}
	for i := len(pi.Releases) - 1; i >= 0; i-- {
		rel := pi.Releases[i]
		row := manageRelease{Release: rel}
		for _, f := range pi.Files {
			if f.ReleaseID == rel.ID {
				row.Files = append(row.Files, f)
			}
		}
		p.Releases = append(p.Releases, row)
	}
	if p.Staged, err = s.stagedReleases(ctx, s.actor(v), pi.Project); err != nil {
		return err
	}
	if p.CanApprove, p.ApproveDenied, err = s.offer(ctx, s.actor(v), policy.ApproveRelease, pi.Project, policy.Target{}); err != nil {
		return err
	}
	if p.CanApprove {
		p.Discard = discarding(r, p.Staged)
	}
	return s.render(w, r, status, "releases", "Releases of "+pi.Project.Name, p, formErr)
}

// releaseAction runs one change of the releases page.
func (s *Site) releaseAction(w http.ResponseWriter, r *http.Request, notice string, do func(context.Context, policy.Actor, string) ([]projects.Notice, error)) error {
	return s.manageAction(w, r, "releases", notice, do)
}

// Yank yanks a release with a reason.
func (s *Site) Yank(w http.ResponseWriter, r *http.Request) error {
	return s.releaseAction(w, r, "yanked", func(ctx context.Context, a policy.Actor, name string) ([]projects.Notice, error) {
		return s.projects.Yank(ctx, a, name, r.PostForm.Get("version"), r.PostForm.Get("reason"), requestOf(r))
	})
}

// Unyank restores a yanked release.
func (s *Site) Unyank(w http.ResponseWriter, r *http.Request) error {
	return s.releaseAction(w, r, "unyanked", func(ctx context.Context, a policy.Actor, name string) ([]projects.Notice, error) {
		return s.projects.Unyank(ctx, a, name, r.PostForm.Get("version"), requestOf(r))
	})
}

// DeleteFile deletes one file; its filename stays reserved.
func (s *Site) DeleteFile(w http.ResponseWriter, r *http.Request) error {
	return s.releaseAction(w, r, "file-deleted", func(ctx context.Context, a policy.Actor, name string) ([]projects.Notice, error) {
		filename := r.PostForm.Get("filename")
		if strings.TrimSpace(r.PostForm.Get("confirm")) != filename {
			return nil, errConfirmFile
		}
		return s.projects.DeleteFile(ctx, a, name, filename, requestOf(r))
	})
}

// DeleteRelease deletes a release and its files once its version was typed to confirm.
func (s *Site) DeleteRelease(w http.ResponseWriter, r *http.Request) error {
	return s.releaseAction(w, r, "release-deleted", func(ctx context.Context, a policy.Actor, name string) ([]projects.Notice, error) {
		version := r.PostForm.Get("version")
		if strings.TrimSpace(r.PostForm.Get("confirm")) != version {
			return nil, errConfirmRelease
		}
		return s.projects.DeleteRelease(ctx, a, name, version, requestOf(r))
	})
}

// Deletions cannot be undone and free no filename, so each asks for what it deletes to be typed: a click alone,
// or a form posted by something other than the page, deletes nothing.
var (
	errConfirmName    = httperror.New(http.StatusBadRequest, "Type the project's name exactly to confirm its deletion.")
	errConfirmFile    = httperror.New(http.StatusBadRequest, "Type the file's name exactly to confirm its deletion.")
	errConfirmRelease = httperror.New(http.StatusBadRequest, "Type the release's version exactly to confirm its deletion.")
)

// DeleteProject deletes the project once its name was typed to confirm.
func (s *Site) DeleteProject(w http.ResponseWriter, r *http.Request) error {
	return s.releaseAction(w, r, "project-deleted", func(ctx context.Context, a policy.Actor, name string) ([]projects.Notice, error) {
		if pypkg.NormalizeName(strings.TrimSpace(r.PostForm.Get("confirm"))) != pypkg.NormalizeName(name) {
			return nil, errConfirmName
		}
		return s.projects.DeleteProject(ctx, a, name, requestOf(r))
	})
}

// ---- history

type historyPage struct {
	Project string
	Events  []store.Event
}

// ProjectHistory is the project's security history, for its Owners.
func (s *Site) ProjectHistory(w http.ResponseWriter, r *http.Request) error {
	if s.projects == nil {
		return errNoManager
	}
	v, err := s.page(w, r, "")
	if v == nil {
		return err
	}
	name := r.PathValue("name")
	evs, err := s.projects.History(r.Context(), s.actor(v), name, historyLength)
	if err != nil {
		return manageErr(w, r, err, managePath(name, "history"))
	}
	return s.render(w, r, http.StatusOK, "project_history", "Security history of "+name, historyPage{Project: name, Events: evs}, "")
}
