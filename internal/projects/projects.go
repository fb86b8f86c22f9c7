// Package projects holds the rules of project management: collaborators and their invitations, transfers of
// ownership, yanking and deletion. It has no HTTP. The web pages call it with the signed-in actor; every method
// asks the policy engine first, records what it did in the security history, drops the changed project's cached
// index pages, and returns the notifications the caller should mail rather than mailing them itself.
package projects

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// Store is the state the manager reads and changes; *store.DB satisfies it.
type Store interface {
	ProjectByName(ctx context.Context, normalized string) (store.Project, error)
	ProjectByID(ctx context.Context, id int64) (store.Project, error)
	AccountByName(ctx context.Context, username string) (store.Account, error)
	Collaborators(ctx context.Context, projectID int64) ([]store.Collaborator, error)
	ProjectsForUser(ctx context.Context, userID int64) ([]store.UserProject, error)
	ProjectEvents(ctx context.Context, projectID int64, except string, limit int) ([]store.Event, error)

	CreateInvitation(ctx context.Context, inv store.Invitation) (store.Invitation, error)
	InvitationByID(ctx context.Context, id int64) (store.Invitation, error)
	InvitationByHash(ctx context.Context, hash string) (store.Invitation, error)
	InvitationsForProject(ctx context.Context, projectID int64, now time.Time) ([]store.Invitation, error)
	InvitationsForUser(ctx context.Context, userID int64, now time.Time) ([]store.Invitation, error)
	AcceptInvitation(ctx context.Context, id, inviteeID int64, now time.Time) (store.Invitation, error)
	DeclineInvitation(ctx context.Context, id, inviteeID int64, now time.Time) (store.Invitation, error)
	RevokeInvitation(ctx context.Context, id, projectID int64, now time.Time) (store.Invitation, error)

	RemoveRole(ctx context.Context, projectID, userID, by int64, now time.Time) (store.RoleChange, error)
	ChangeRole(ctx context.Context, projectID, userID int64, role string, by int64, now time.Time) (store.RoleChange, error)
	TransferOwnership(ctx context.Context, projectID, fromID, toID int64, then string, now time.Time) (store.RoleChange, error)

	YankRelease(ctx context.Context, projectID int64, canonicalVersion string, yanked bool, reason string, userID int64, now time.Time) error
	FileByFilename(ctx context.Context, filename string) (store.File, error)
	DeleteFile(ctx context.Context, filename string, userID int64, now time.Time) (store.File, error)
	DeleteRelease(ctx context.Context, projectID int64, canonicalVersion string, userID int64, now time.Time) ([]store.File, error)
	DeleteProject(ctx context.Context, projectID, userID int64, now time.Time, reserveReason string) (store.Project, []store.File, error)
	SetRequire2FA(ctx context.Context, projectID int64, on, keys bool) error

	SetStaging(ctx context.Context, projectID int64, mode string) error
	StagedFiles(ctx context.Context, projectID int64) ([]store.StagedFile, error)
	ApproveStaged(ctx context.Context, projectID int64, canonicalVersion string, userID int64, now time.Time) ([]store.File, error)
	DiscardStaged(ctx context.Context, projectID int64, canonicalVersion string) ([]store.StagedFile, error)
	PublishMailOptouts(ctx context.Context, projectID int64) (map[int64]bool, error)
	SetPublishMail(ctx context.Context, userID, projectID int64, on bool) error
	ProjectProtection(ctx context.Context, projectID int64) (store.Protection, error)
	ProjectOwnerIDs(ctx context.Context, projectID int64) ([]int64, error)
}

// Decider is the policy engine; *policy.Engine satisfies it.
type Decider interface {
	Decide(ctx context.Context, actor policy.Actor, action policy.Action, target policy.Target) error
}

// Recorder appends to the security history; *audit.Log satisfies it.
type Recorder interface {
	Record(ctx context.Context, kind string, userID, projectID int64, from audit.Request, detail string) error
}

// Invalidator forgets a project's cached index pages; *simple.Index satisfies it.
type Invalidator interface {
	Invalidate(normalized string)
}

// Errors the pages turn into messages. Permission refusals are *policy.Denied instead, with their own reason.
var (
	ErrNoSuchProject = errors.New("there is no project of that name")
	ErrNoSuchUser    = errors.New("there is no user of that name")
	ErrNoSuchRelease = errors.New("the project has no release of that version")
	ErrNoSuchFile    = errors.New("the project has no file of that name")
	// ErrNoSuchInvitation covers unknown, forged, expired, answered and withdrawn invitations alike: which one it
	// was helps nobody but someone probing links.
	ErrNoSuchInvitation = errors.New("this invitation is not valid: it was already answered, has expired or was withdrawn")
	ErrNotCollaborator  = errors.New("that user has no role on the project")
	ErrIsCollaborator   = errors.New("that user is already a collaborator of the project: change their role instead")
	ErrAlreadyInvited   = errors.New("that user already has a pending invitation to the project: withdraw it first to send another")
	ErrLastOwner        = errors.New("a project must keep at least one Owner: make another collaborator an Owner first, or delete the project")
	ErrNotOwner         = errors.New("only the project's Owners can do this, and you are no longer one")
	// ErrInvalidRequirement: a form asked for a requirement of second factors that does not exist.
	ErrInvalidRequirement = errors.New("choose what to require of the collaborators: nothing, two-factor authentication, or security keys and passkeys")
	ErrUserDisabled       = errors.New("that account is disabled and cannot be given a role")
	ErrInvalidRole        = errors.New("the role must be Owner or Maintainer")
	ErrTransferToSelf     = errors.New("choose another user to transfer the project to")
	ErrInvalidTransfer    = errors.New("say whether you stay on as a Maintainer or leave the project")
	ErrReasonTooLong      = fmt.Errorf("the reason is too long: keep it under %d characters", maxReason)
)

// What the previous Owner becomes after TransferOwnership.
const (
	StayMaintainer = store.ThenMaintainer
	Leave          = store.ThenLeave
)

// maxReason bounds a yank reason, which every index page of the project carries.
const maxReason = 1000

// DefaultInvitationTTL is how long an invitation can be accepted when Options leave it unset.
const DefaultInvitationTTL = 7 * 24 * time.Hour

// Options configure a Manager. Zero values pick the defaults.
type Options struct {
	InvitationTTL time.Duration
}

// Manager applies the project-management rules. It is safe for concurrent use.
type Manager struct {
	db      Store
	policy  Decider
	rec     Recorder
	index   Invalidator
	now     func() time.Time
	linkKey []byte
	ttl     time.Duration
}

// MinKeyLen is the shortest server key New accepts, as for API tokens.
const MinKeyLen = 32

// New builds a Manager. key is the server's secret key; invitation links are signed with a key derived from it,
// so that they can be told from forgeries before any lookup and cannot be minted from a copy of the database.
func New(db Store, decider Decider, rec Recorder, index Invalidator, key []byte, now func() time.Time, opts Options) (*Manager, error) {
	if len(key) < MinKeyLen {
		return nil, fmt.Errorf("projects: key is %d bytes, need at least %d", len(key), MinKeyLen)
	}
	// A key of its own for this one purpose: a MAC made here can never be replayed as another part's MAC.
	h := hmac.New(sha256.New, key)
	h.Write([]byte("wharf-invitation-link-v1"))
	m := &Manager{db: db, policy: decider, rec: rec, index: index, now: now, linkKey: h.Sum(nil), ttl: opts.InvitationTTL}
	if m.ttl <= 0 {
		m.ttl = DefaultInvitationTTL
	}
	return m, nil
}

// Kinds of notices. They are stable strings: the caller picks a mail template by them.
const (
	// NoticeInvitation goes to the invitee, whose mail carries the accept link made from Invited.Token.
	NoticeInvitation         = "invitation"
	NoticeInvitationSent     = "invitation-sent"
	NoticeInvitationDeclined = "invitation-declined"
	NoticeInvitationRevoked  = "invitation-revoked"
	NoticeRoleAdded          = "role-added"
	NoticeRoleRemoved        = "role-removed"
	NoticeRoleChanged        = "role-changed"
	NoticeOwnershipTransfer  = "ownership-transferred"
	NoticeReleaseYanked      = "release-yanked"
	NoticeReleaseUnyanked    = "release-unyanked"
	NoticeFileDeleted        = "file-deleted"
	NoticeReleaseDeleted     = "release-deleted"
	NoticeProjectDeleted     = "project-deleted"
	NoticeRequire2FA         = "require-2fa"
	NoticeReleaseApproved    = "release-approved"
	NoticeReleaseDiscarded   = "release-discarded"
	NoticeStaging            = "staging"
	NoticePublished          = "published"
)

// Notice is a mail the caller should send. Security notices go to every Owner, the one who acted included: if
// that was a thief with a stolen session, the account's real holder learns of it from their own mailbox.
type Notice struct {
	To      int64  // the recipient's user id; the caller looks up the address
	Kind    string // one of the Notice* kinds
	Project string // the project's name as shown
	User    string // the username the change concerns: invitee, collaborator, new Owner
	Role    string // the role offered, granted, changed to or taken away
	By      string // the username of who made the change
	Detail  string // a version or a filename, for yanks and deletions
	// Text is the mail's sentence, for the kinds whose wording lives with the rule that sent them (the staged
	// releases'); "" for the others.
	Text string
}

// Kinds of the security events this package records. They are stable strings: the history pages and scripts
// read them.
const (
	EventInvited            = "role:invite"
	EventInvitationAccepted = "role:invite-accept"
	EventInvitationDeclined = "role:invite-decline"
	EventInvitationRevoked  = "role:invite-revoke"
	EventRoleRemoved        = "role:remove"
	EventRoleLeft           = "role:leave"
	EventRoleChanged        = "role:change"
	EventOwnershipTransfer  = "project:transfer"
	EventReleaseYanked      = "release:yank"
	EventReleaseUnyanked    = "release:unyank"
	EventFileDeleted        = "file:remove"
	EventReleaseDeleted     = "release:remove"
	EventProjectDeleted     = "project:remove"
	EventRequire2FA         = "project:require-2fa"
	EventReleaseApproved    = "release:approve"
	EventReleaseDiscarded   = "release:discard"
	EventStaging            = "project:staging"
)

// record appends an event and goes on when that fails: the change it describes has already happened and must not
// be reported as failed, and *audit.Log logs the failure itself.
func (m *Manager) record(ctx context.Context, kind string, actor policy.Actor, projectID int64, from audit.Request, detail string) {
	_ = m.rec.Record(ctx, kind, actor.User.ID, projectID, from, detail)
}

// project finds a project by any spelling of its name.
func (m *Manager) project(ctx context.Context, name string) (store.Project, error) {
	p, err := m.db.ProjectByName(ctx, pypkg.NormalizeName(name))
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, ErrNoSuchProject
	}
	return p, err
}

// user finds an account by username.
func (m *Manager) user(ctx context.Context, username string) (store.Account, error) {
	u, err := m.db.AccountByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, ErrNoSuchUser
	}
	return u, err
}

// decideGrant asks whether actor may give username role on p (offer: by an invitation, given on acceptance), and
// returns that account. The policy answers before "no such user" is told, so that only the project's Owners learn
// which names exist.
func (m *Manager) decideGrant(ctx context.Context, actor policy.Actor, p store.Project, username, role string, offer bool) (store.Account, error) {
	grantee, err := m.user(ctx, username)
	target := policy.Target{Project: &p, Name: p.NormalizedName, Role: role, Offer: offer}
	if err == nil {
		target.Grantee = &grantee
	}
	if derr := m.policy.Decide(ctx, actor, policy.ManageRoles, target); derr != nil {
		return store.Account{}, derr
	}
	return grantee, err
}

// releaseKey returns the key releases are stored under, as the upload computes it, so that "1.0.0" finds the
// release uploaded as "1.0"; a version that does not parse names no release.
func releaseKey(version string) (string, error) {
	v, err := pypkg.ParseVersion(version)
	if err != nil {
		return "", ErrNoSuchRelease
	}
	return v.ReleaseKey(), nil
}

// storeErr translates the store's answers to role changes into this package's errors.
func storeErr(err error, notFound error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound
	case errors.Is(err, store.ErrLastOwner):
		return ErrLastOwner
	case errors.Is(err, store.ErrNotOwner):
		return ErrNotOwner
	case errors.Is(err, store.ErrIsCollaborator):
		return ErrIsCollaborator
	case errors.Is(err, store.ErrAlreadyInvited):
		return ErrAlreadyInvited
	}
	return err
}

// audience lists the user ids notices go to: the Owners among cs (everyone in cs when all is set) and extra,
// each once, in id order.
func audience(cs []store.Collaborator, all bool, extra ...int64) []int64 {
	ids := slices.Clone(extra)
	for _, c := range cs {
		if all || c.Role == store.RoleOwner {
			ids = append(ids, c.UserID)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// notify makes one notice per recipient from a template.
func notify(to []int64, n Notice) []Notice {
	out := make([]Notice, 0, len(to))
	for _, id := range to {
		n.To = id
		out = append(out, n)
	}
	return out
}

// Projects lists the projects the actor has a role on, with the role, for a "your projects" page. It reads only
// the actor's own rows, so there is no id to tamper with.
func (m *Manager) Projects(ctx context.Context, actor policy.Actor) ([]store.UserProject, error) {
	if actor.User.ID == 0 {
		return nil, nil
	}
	return m.db.ProjectsForUser(ctx, actor.User.ID)
}

// History returns the newest security events of a project, for its Owners. Reports of the project are left out:
// they are for the administrators (policy.ViewReports), and a reporter must not be exposed to the Owners of a
// project reported as malware; nor can a flood of reports push the Owners' own events out of the page.
func (m *Manager) History(ctx context.Context, actor policy.Actor, project string, limit int) ([]store.Event, error) {
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	if err := m.policy.Decide(ctx, actor, policy.ViewProjectHistory, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
		return nil, err
	}
	return m.db.ProjectEvents(ctx, p.ID, audit.ProjectReported, limit)
}

// Requirement is what a project's Owners require of every collaborator's second factors.
type Requirement string

// The requirements, as the management page's form names them.
const (
	RequireNothing   Requirement = "none"
	RequireTwoFactor Requirement = "2fa"
	// RequireKeys: security keys or passkeys, which a phishing site cannot relay as it can an app's code.
	RequireKeys Requirement = "keys"
)

// ParseRequirement reads a requirement from a form.
func ParseRequirement(s string) (Requirement, error) {
	switch r := Requirement(s); r {
	case RequireNothing, RequireTwoFactor, RequireKeys:
		return r, nil
	}
	return "", ErrInvalidRequirement
}

// SetRequirement makes two-factor authentication (RequireTwoFactor), or security keys in particular
// (RequireKeys), a condition of every collaborator's writes to the project, or neither (RequireNothing). Only an
// Owner with a second factor may, after a recent confirmation (keys: from a session that proved one); a critical
// project keeps what the index requires of it. Every collaborator is told, since it changes what they can do.
func (m *Manager) SetRequirement(ctx context.Context, actor policy.Actor, project string, req Requirement, from audit.Request) ([]Notice, error) {
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	on, keys := req != RequireNothing, req == RequireKeys
	target := policy.Target{Project: &p, Name: p.NormalizedName, Require2FA: on, RequireWebAuthn: keys}
	if err := m.policy.Decide(ctx, actor, policy.SetProject2FA, target); err != nil {
		return nil, err
	}
	if err := m.db.SetRequire2FA(ctx, p.ID, on, keys); err != nil {
		return nil, err
	}
	detail := "no longer requires two-factor authentication of its collaborators"
	switch req {
	case RequireTwoFactor:
		detail = "requires two-factor authentication of every collaborator"
	case RequireKeys:
		detail = "requires a security key or passkey of every collaborator"
	}
	m.record(ctx, EventRequire2FA, actor, p.ID, from, detail)
	cs, err := m.db.Collaborators(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return notify(audience(cs, true), Notice{Kind: NoticeRequire2FA, Project: p.Name, By: actor.User.Username, Detail: detail}), nil
}
