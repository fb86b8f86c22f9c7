// Package policy decides every write. Upload, the web pages and every API call ask Decide before they change
// anything, so that each rule (roles, token scopes, and later the 2FA mandates) is written once, here.
//
// The roles follow PyPI's: a Maintainer can upload; an Owner can also manage collaborators, yank and delete. API
// tokens are for uploading only: every management action needs a signed-in web session, and role changes and
// deletions a recent password (or factor) confirmation as well, so that a leaked token or an unattended browser
// cannot take a project over or destroy it.
package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"wharf/internal/audit"
	"wharf/internal/store"
)

// Action is a kind of write.
type Action string

// Actions that the policy decides.
const (
	// CreateProject registers a new project name (with its first upload).
	CreateProject Action = "create-project"
	// Upload adds a file to an existing project.
	Upload Action = "upload"

	// ManageRoles invites, removes and changes collaborators, withdraws invitations and transfers ownership.
	ManageRoles Action = "manage-roles"
	// ViewInvitations reads a project's pending invitations.
	ViewInvitations Action = "view-invitations"
	// LeaveProject gives up the actor's own role on a project.
	LeaveProject Action = "leave-project"
	// RespondInvitation declines an invitation, which must be addressed to the actor (Target.InviteeID).
	RespondInvitation Action = "respond-invitation"
	// AcceptInvitation accepts one: RespondInvitation's rule, and the actor's email address must be verified,
	// since accepting gives a role.
	AcceptInvitation Action = "accept-invitation"
	// Yank marks a release yanked (PEP 592); Unyank restores it.
	Yank   Action = "yank"
	Unyank Action = "unyank"
	// DeleteFile, DeleteRelease and DeleteProject remove what they name; the filenames stay reserved.
	DeleteFile    Action = "delete-file"
	DeleteRelease Action = "delete-release"
	DeleteProject Action = "delete-project"
	// ViewProjectHistory reads a project's security history. It writes nothing, but what it shows (who acted,
	// from which address) is for the project's Owners only, so it is decided here like the writes.
	ViewProjectHistory Action = "view-project-history"

	// ViewReleases shows a project's releases with the forms to yank and delete them, to its collaborators.
	ViewReleases Action = "view-releases"
	// SetProject2FA turns on or off (Target.Require2FA) the project's requirement of two-factor authentication
	// of every collaborator.
	SetProject2FA Action = "set-project-2fa"

	// The actor's own account, on the website only. AddFactor enrols an authenticator app or a security key, or
	// makes new recovery codes; RemoveFactor removes one of the actor's second factors (T6: both need a recent
	// re-authentication).
	AddFactor    Action = "add-factor"
	RemoveFactor Action = "remove-factor"
	// CreateToken and RevokeToken make and revoke the actor's API tokens (S8).
	CreateToken Action = "create-token"
	RevokeToken Action = "revoke-token"
	// ChangeAccount changes the actor's email address or password, or ends their other sessions.
	ChangeAccount Action = "change-account"
	// ViewAdmin opens the administrators' pages; Administer changes what they change (users, reserved names).
	ViewAdmin  Action = "view-admin"
	Administer Action = "administer"
	// UnreserveName releases a reserved or prohibited project name, so that anyone may register it again.
	UnreserveName Action = "unreserve-name"
	// ManagePublishers adds and removes a project's Trusted Publishers; SetTrustedPublishingOnly switches the
	// project to accept uploads only from them (Target.TrustedPublishingOnly), or back. Owners only, with a second
	// factor and a recent re-authentication: a publisher is a credential that uploads.
	ManagePublishers         Action = "manage-publishers"
	SetTrustedPublishingOnly Action = "set-trusted-publishing-only"
	// SetStaging chooses which uploads of a project wait for a person's approval (staged releases); Owners only,
	// with a second factor, since approving needs one.
	SetStaging Action = "set-staging"
	// ApproveRelease publishes a staged release; DiscardRelease drops it. Owners and Maintainers, with a second
	// factor and a recent confirmation: this is where a person stands between CI and the index.
	ApproveRelease Action = "approve-release"
	DiscardRelease Action = "discard-release"
	// SetPublishMail turns on or off (Target.PublishMail) an Owner's own mail of every publish to the project (the
	// mail goes to Owners); a critical project's Owners cannot turn it off.
	SetPublishMail Action = "set-publish-mail"
	// AddPendingPublisher registers a publisher for a project name that does not exist yet: its first publish
	// creates the project, owned by the actor. It needs what creating a project needs, and a second factor.
	AddPendingPublisher Action = "add-pending-publisher"
	// RemoveLastFactor is the removal of the actor's only remaining second factor, which accounts that must keep
	// 2FA may not do. Callers decide it before removing and make the removal conditional on its answer, so that
	// two concurrent removals cannot leave such an account with none.
	RemoveLastFactor Action = "remove-last-factor"
)

// Actor is who asks, and through what credential. Build it with SessionActor or TokenActor, never by hand
// outside tests: both fill what the rules read of the account in one place (accountActor), so that a fact added
// for a rule is there whichever way the request came in.
type Actor struct {
	User store.User
	// Admin says the user administers this index.
	Admin bool
	// EmailVerified says the account has confirmed its email address. Without it an account can neither publish
	// nor be given a role: the index could not reach the person behind it, and a throwaway account could squat.
	EmailVerified bool
	// TwoFactor is what the account has of second factors.
	TwoFactor TwoFactor

	// Token is set when the request authenticated with an API token; nil for a web session.
	Token *TokenScope
	// Sudo says the web session confirmed the user's password (or a second factor) within the re-authentication
	// window (accounts.Session.Sudo). Role changes and deletions need it (S8); it means nothing with a Token.
	Sudo bool
	// KeySession says the web session proved a security key or passkey, at sign-in or at a re-authentication
	// (accounts.Session.SignedInWithKey): projects that require phishing-resistant factors accept changes only
	// from such a session.
	KeySession bool

	// Publisher is set when the request carried a token minted for Trusted Publishing: the actor is a CI job,
	// not a person, and User is zero.
	Publisher *Publisher
	// Operator is the person at the server's command line (wharf publisher, wharf issuer), who holds the database
	// and the server key anyway: the rules of people do not apply, read-only mode does. User, when set, is the
	// account the operator acts for (the owner of a pending publisher).
	Operator bool
}

// OperatorActor is the actor of a command run on the server, on behalf of user (zero for none).
func OperatorActor(user store.User) Actor { return Actor{User: user, Operator: true} }

// Publisher is what a Trusted Publishing token allows: the publishers it was minted for, as they are now (a
// publisher removed since no longer counts).
type Publisher struct {
	TokenID string
	// Identity names the CI job for messages and the history ("GitHub repository o/r, workflow release.yml, ...").
	Identity string
	Grants   []PublisherGrant
}

// PublisherGrant is one publisher a Trusted Publishing token acts for.
type PublisherGrant struct {
	PublisherID int64
	// ProjectID is the project it publishes; 0 for a pending publisher, which may create the project PendingName
	// for Owner.
	ProjectID   int64
	PendingName string
	Owner       store.Account
}

// PublisherActor is the actor of a request that carried a verified Trusted Publishing token.
func PublisherActor(p Publisher) Actor { return Actor{Publisher: &p} }

// TwoFactor is an account's second factors.
type TwoFactor struct {
	TOTP     bool // an authenticator app
	WebAuthn bool // security keys or passkeys
	// Since is when the account began to have a second factor without a break since; zero when it has none.
	Since time.Time
}

// Enabled reports whether the account has any second factor.
func (f TwoFactor) Enabled() bool { return f.TOTP || f.WebAuthn }

// TokenScope is what an API token allows, after its caveats were verified.
type TokenScope struct {
	ID string
	// Name is the name its owner gave the token, for the history of what it did.
	Name     string
	Projects []string // normalised names; nil = every project of the user
	// CreatedAt is when the token was made: a token older than its account's second factor was made while the
	// account had none.
	CreatedAt time.Time
}

// Session is what the rules read of a web session.
type Session struct {
	Sudo bool // accounts.Session.Sudo
	Key  bool // accounts.Session.SignedInWithKey
}

// SessionActor is the actor of a signed-in web session.
func SessionActor(acct store.Account, s Session) Actor {
	a := accountActor(acct)
	a.Sudo, a.KeySession = s.Sudo, s.Key
	return a
}

// TokenActor is the actor of a request that carried a verified API token with scope.
func TokenActor(acct store.Account, scope TokenScope) Actor {
	a := accountActor(acct)
	a.Token = &scope
	return a
}

// accountActor is what every actor knows of its account, whatever the credential.
func accountActor(acct store.Account) Actor {
	return Actor{
		User:          acct.User,
		Admin:         acct.IsAdmin,
		EmailVerified: !acct.EmailVerifiedAt.IsZero(),
		TwoFactor:     TwoFactor{TOTP: acct.HasTOTP, WebAuthn: acct.HasWebAuthn, Since: acct.TwoFactorSince},
	}
}

// Denied is a refusal with the reason and what to do, worded for the person who gets it (on the web or in
// twine's output).
type Denied struct {
	Reason string
	// Rule names the 2FA rule that refused (RuleCritical, ...), for the security history; empty for the rules of
	// roles and credentials.
	Rule string
	// Help is the section of the help page that explains the refusal; left empty, the rule's (ruleHelp). Decide
	// and Offers end Reason with its link.
	Help HelpSection
	// Reauth says that a password confirmation is all that is missing: the web layer can send the user to it and
	// come back, rather than show the reason.
	Reauth bool
}

func (d *Denied) Error() string { return d.Reason }

// ErrDenied matches every *Denied with errors.Is; ErrReauthRequired only those that a password confirmation
// would turn into an approval.
var (
	ErrDenied         = errors.New("denied")
	ErrReauthRequired = errors.New("re-authentication required")
)

// Is lets errors.Is(err, ErrDenied) and, for a missing confirmation, errors.Is(err, ErrReauthRequired) match.
func (d *Denied) Is(target error) bool {
	return target == ErrDenied || target == ErrReauthRequired && d.Reauth
}

// Roles is what the engine reads of projects at decision time: roles, and whether a project must be protected by
// second factors.
type Roles interface {
	RoleOf(ctx context.Context, projectID, userID int64) (string, error)
	// RoleCount is how many projects the user is an Owner or Maintainer of.
	RoleCount(ctx context.Context, userID int64) (int, error)
	ProjectProtection(ctx context.Context, projectID int64) (store.Protection, error)
	// EarlyEnforced says whether an administrator placed the user or the project (0: none) under the mandate's
	// enforce phase early.
	EarlyEnforced(ctx context.Context, userID, projectID int64) (bool, error)
	// MaintainsCritical says whether the user is an Owner or Maintainer of at least one critical project.
	MaintainsCritical(ctx context.Context, userID int64) (bool, error)
}

// Engine is the policy engine.
type Engine struct {
	roles    Roles
	readOnly bool
	// criticalKeys holds every critical project to the phishing-resistant level, whatever its Owners chose.
	criticalKeys bool
	// criticalTrusted holds every critical project to Trusted Publishing only.
	criticalTrusted bool
	baseURL         string
	audit           Recorder
	mandate         Mandate
	now             func() time.Time // nil: no mandate
}

// Recorder appends to the security history; *audit.Log satisfies it.
type Recorder interface {
	Record(ctx context.Context, kind string, userID, projectID int64, from audit.Request, detail string) error
}

// EventDenied is the audit event of a refusal by the rules that protect projects with second factors.
const EventDenied = "policy:denied"

// BaseURL is the index's public URL, for the links in denials that say where to enable two-factor
// authentication.
func BaseURL(u string) Option { return func(e *Engine) { e.baseURL = strings.TrimSuffix(u, "/") } }

// Audit records the 2FA rules' refusals in the security history of the user and the project.
func Audit(r Recorder) Option { return func(e *Engine) { e.audit = r } }

// Option configures an Engine.
type Option func(*Engine)

// CriticalRequiresKeys holds every critical project to the phishing-resistant level (rule 3): its collaborators'
// changes need a security key or passkey, not an authenticator app.
func CriticalRequiresKeys(on bool) Option { return func(e *Engine) { e.criticalKeys = on } }

// CriticalRequiresTrustedPublishing makes every critical project accept uploads only from its Trusted Publishers,
// whatever its Owners chose: no user's API token, which can leak, publishes to it.
func CriticalRequiresTrustedPublishing(on bool) Option {
	return func(e *Engine) { e.criticalTrusted = on }
}

// ReadOnly refuses every change to projects, by any path, while an administrator keeps the index read-only.
func ReadOnly(on bool) Option { return func(e *Engine) { e.readOnly = on } }

// New builds the engine.
func New(roles Roles, opts ...Option) *Engine {
	e := &Engine{roles: roles}
	for _, o := range opts {
		o(e)
	}
	return e
}

// writes reports whether an action changes what the index serves or who may change it. A user's own second
// factors are not projects: read-only mode leaves them alone.
func writes(a Action) bool {
	_, own := accountActions[a]
	return !own && a != ViewInvitations && a != ViewProjectHistory && a != ViewReleases && a != RemoveLastFactor &&
		a != ClaimKeyOffer && a != ViewOrganization && a != ViewOrgHistory && a != ReportProject
}

// accountRule is what an action on the actor's own account, or on the index's administration, asks.
type accountRule struct {
	sudo  bool   // a recent re-authentication
	admin bool   // an administrator
	what  string // the action in denials
}

// accountActions are taken on the website only: a leaked API token must not add a factor to an account, make
// more tokens or administer the index.
var accountActions = map[Action]accountRule{
	AddFactor:           {sudo: true, what: "change your second factors"},
	RemoveFactor:        {sudo: true, what: "change your second factors"},
	CreateToken:         {sudo: true, what: "create API tokens"},
	RevokeToken:         {sudo: true, what: "revoke API tokens"},
	ChangeAccount:       {sudo: true, what: "change your account"},
	ViewAdmin:           {admin: true, what: "see the administration pages"},
	Administer:          {admin: true, sudo: true, what: "administer the index"},
	UnreserveName:       {admin: true, sudo: true, what: "release a reserved project name"},
	ViewReports:         {admin: true, what: "see the reports of projects"},
	AddPendingPublisher: {sudo: true, what: "register a Trusted Publisher for a new project"},
}

func decideAccount(actor Actor, r accountRule) error {
	switch {
	case actor.Token != nil:
		return &Denied{Help: HelpAPIToken, Reason: fmt.Sprintf("API tokens can only upload. Sign in to the website to %s.", r.what)}
	case r.admin && !actor.Admin:
		return &Denied{Reason: fmt.Sprintf("Only the administrators of this index may %s.", r.what)}
	case r.sudo && !actor.Sudo:
		return &Denied{Reauth: true, Reason: fmt.Sprintf("Confirm your password to %s: it is needed in the last few minutes.", r.what)}
	}
	return nil
}

// Target is what an action applies to: an existing project, or only a name for a project to be created.
type Target struct {
	Project *store.Project // nil for CreateProject
	Name    string         // normalised name
	// InviteeID is the user an invitation is addressed to, for RespondInvitation and AcceptInvitation.
	InviteeID int64
	// Grantee is the account a ManageRoles action gives a role to (an invitation, a role change, a transfer of
	// ownership); nil when the action takes a role away.
	Grantee *store.Account
	// Role is the role a ManageRoles action gives Grantee, or an AcceptInvitation action gives the actor; Offer
	// says the ManageRoles action only offers it (an invitation), to be given on acceptance.
	Role  string
	Offer bool
	// Require2FA is the setting SetProject2FA asks for, and RequireWebAuthn its phishing-resistant level:
	// security keys or passkeys, not authenticator apps.
	Require2FA, RequireWebAuthn bool
	// TrustedPublishingOnly is the setting SetTrustedPublishingOnly asks for, and PublishMail SetPublishMail's.
	TrustedPublishingOnly, PublishMail bool
	// Org is the organization an organization action applies to (with Project for a move in or out).
	Org *store.Organization
}

// Decide returns nil when actor may do action on target, and a *Denied (or an internal error) otherwise.
func (e *Engine) Decide(ctx context.Context, actor Actor, action Action, target Target) error {
	err := e.decision(ctx, actor, action, target)
	var d *Denied
	if e.audit != nil && errors.As(err, &d) && worthRecording(actor, action, d) {
		var projectID int64
		if target.Project != nil {
			projectID = target.Project.ID
		}
		rule := d.Rule
		if rule == "" {
			rule = RulePermission
		}
		// The denial is news for the account's owner and for the project's: a stolen token being tried, a
		// stranger trying to publish, or a maintainer who has yet to enable 2FA.
		e.audit.Record(ctx, EventDenied, actor.User.ID, projectID, audit.Request{UserAgent: "wharf policy"},
			fmt.Sprintf("%s refused by rule %s", action, rule))
	}
	return err
}

// Offers is Decide for a page that chooses which forms to show: the same answer, and nothing recorded, since
// looking at a page is not an attempt. A page shows the form when the answer is nil or only a confirmation is
// missing (errors.Is(err, ErrReauthRequired)), and the reason otherwise.
func (e *Engine) Offers(ctx context.Context, actor Actor, action Action, target Target) error {
	return e.decision(ctx, actor, action, target)
}

// decision applies every rule, in order: roles and credentials, the 2FA rules of the project, the actor's own
// second factor, new roles, the mandate.
func (e *Engine) decision(ctx context.Context, actor Actor, action Action, target Target) error {
	if actor.Operator {
		if e.readOnly && writes(action) {
			return &Denied{Reason: "The index is in read-only mode: no project can be changed right now. Try again later."}
		}
		return nil
	}
	err := e.decide(ctx, actor, action, target)
	if err == nil && protectedWrites[action] && target.Project != nil {
		err = e.decideProtection(ctx, actor, target.Project)
	}
	if why, ok := needsOwnFactor[action]; err == nil && ok && !actor.TwoFactor.Enabled() {
		err = &Denied{Rule: RulePublishingNeeds2FA, Reason: fmt.Sprintf(
			"Enable two-factor authentication for '%s' at %s/manage/account/ (a security key, a passkey or an authenticator app) before you %s.",
			actor.User.Username, e.baseURL, why)}
	}
	if err == nil && (action == AcceptInvitation || action == ManageRoles && target.Grantee != nil) {
		err = e.decideNewRole(ctx, actor, action, target)
	}
	if err == nil {
		err = e.decideMandate(ctx, actor, action, target)
	}
	var d *Denied
	if errors.As(err, &d) {
		d.linkHelp(e.baseURL)
	}
	return err
}

// RulePermission names, in the security history, the refusals of the rules of roles, credentials and accounts.
const RulePermission = "permission"

// worthRecording says which denials go to the security history: every one by the 2FA rules, and of the others those of
// a known account's changes to a project. Reading a page its forms are hidden on, or a missing password
// confirmation, is not news.
func worthRecording(actor Actor, action Action, d *Denied) bool {
	return d.Rule != "" || actor.User.ID != 0 && writes(action) && !d.Reauth
}

// decide applies the rules of roles, credentials, confirmations and accounts.
func (e *Engine) decide(ctx context.Context, actor Actor, action Action, target Target) error {
	if actor.Publisher != nil {
		return e.decidePublisher(actor, action, target)
	}
	if actor.User.ID == 0 {
		return &Denied{Help: HelpAPIToken, Reason: fmt.Sprintf(
			"Invalid or non-existent authentication information. See %s for more information.", HelpURL(e.baseURL, HelpAPIToken))}
	}
	if actor.User.Disabled {
		return &Denied{Reason: fmt.Sprintf("The account '%s' is disabled. Contact the administrators of this index.", actor.User.Username)}
	}
	if e.readOnly && writes(action) {
		return &Denied{Reason: "The index is in read-only mode: no project can be changed right now. Try again later."}
	}
	switch action {
	case CreateProject:
		if err := needsVerifiedEmail(actor); err != nil {
			return err
		}
		if actor.Token != nil && actor.Token.Projects != nil {
			return &Denied{Help: HelpAPIToken, Reason: fmt.Sprintf(
				"Invalid API Token: a project-scoped token cannot create the new project '%s'. Use a token scoped to your whole account for the first upload.", target.Name)}
		}
		return nil
	case Upload:
		if target.Project == nil {
			return fmt.Errorf("policy: %s needs a project", action)
		}
		if actor.Token != nil && actor.Token.Projects != nil && !slices.Contains(actor.Token.Projects, target.Project.NormalizedName) {
			return &Denied{Help: HelpAPIToken, Reason: fmt.Sprintf("Invalid API Token: project-scoped token is not valid for project: '%s'", target.Project.NormalizedName)}
		}
		role, err := e.roles.RoleOf(ctx, target.Project.ID, actor.User.ID)
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		if role != store.RoleOwner && role != store.RoleMaintainer {
			return &Denied{Reason: fmt.Sprintf(
				"The user '%s' isn't allowed to upload to project '%s'. Only its Owners and Maintainers may upload.",
				actor.User.Username, target.Project.Name)}
		}
		return needsVerifiedEmail(actor)
	case RemoveLastFactor:
		return e.decideLastFactor(ctx, actor)
	case ClaimKeyOffer:
		return e.decideKeyOffer(ctx, actor)
	case ReportProject:
		return decideReport(actor, target)
	case RespondInvitation, AcceptInvitation:
		if target.Project == nil {
			return fmt.Errorf("policy: %s needs a project", action)
		}
		if actor.Token != nil {
			return &Denied{Help: HelpAPIToken, Reason: "API tokens can only upload. Answer invitations on the website, signed in as the invited user."}
		}
		if actor.User.ID != target.InviteeID {
			return &Denied{Reason: fmt.Sprintf(
				"This invitation to project '%s' was sent to another account. Sign in as the invited user to answer it.",
				target.Project.Name)}
		}
		if action == AcceptInvitation && !actor.EmailVerified {
			return &Denied{Reason: fmt.Sprintf(
				"The user '%s' has no verified email address, and only accounts with one can be given a role on a project. Verify your address on your account page, then accept the invitation to project '%s' again.",
				actor.User.Username, target.Project.Name)}
		}
		return nil
	}
	if r, ok := orgActions[action]; ok {
		return e.decideOrg(ctx, actor, action, r, target)
	}
	if r, ok := accountActions[action]; ok {
		if action == AddPendingPublisher && actor.Token == nil {
			// The pending publisher creates a project for the actor, who must be able to own one.
			if err := needsVerifiedEmail(actor); err != nil {
				return err
			}
		}
		return decideAccount(actor, r)
	}
	r, ok := management[action]
	if !ok {
		return fmt.Errorf("policy: unknown action %q", action)
	}
	if target.Project == nil {
		return fmt.Errorf("policy: %s needs a project", action)
	}
	if err := e.decideManagement(ctx, actor, r, target.Project); err != nil {
		return err
	}
	switch action {
	case SetProject2FA:
		return e.decideProject2FA(ctx, actor, target)
	case SetTrustedPublishingOnly:
		return e.decideTrustedPublishingOnly(ctx, actor, target)
	case SetPublishMail:
		return e.decidePublishMail(ctx, target)
	}
	if g := target.Grantee; g != nil && g.EmailVerifiedAt.IsZero() {
		return &Denied{Reason: fmt.Sprintf(
			"The user '%s' has no verified email address, so they cannot be given a role on project '%s'. Ask them to verify their address on their account page first.",
			g.Username, target.Project.Name)}
	}
	return nil
}

// The rules that require second factors, as denials and audit events name them.
const (
	// RuleCritical: nobody without 2FA publishes, updates or modifies a critical project, by any path.
	RuleCritical = "critical-project"
	// RuleProjectRequires2FA: the same for a project whose Owners require 2FA of every collaborator.
	RuleProjectRequires2FA = "project-requires-2fa"
	// RuleTokenBefore2FA: on such a project, an API token made before its account's 2FA is refused: it may
	// have leaked while the account had none.
	RuleTokenBefore2FA = "token-before-2fa"
	// RuleNewRole: accepting a role on such a project, and becoming an Owner of any project, needs 2FA first.
	RuleNewRole = "new-role-needs-2fa"
	// RuleTrustedPublishingOnly: a project whose Owners switched it to Trusted Publishing only (or a critical
	// project, where the index requires it) refuses uploads with users' API tokens.
	RuleTrustedPublishingOnly = "trusted-publishing-only"
	// RulePublishingNeeds2FA: setting up Trusted Publishing (a publisher, a pending publisher, the Trusted
	// Publishing only switch) needs a second factor on the actor's account, whatever the project (TP5).
	RulePublishingNeeds2FA = "publishing-needs-2fa"
	// RuleKeysRequired: a project whose Owners require security keys or passkeys (or a critical project, where the
	// index requires them) takes changes only from a web session that proved one, and uploads only from tokens of
	// accounts that have one. An authenticator app's code can be phished; a key's answer is bound to the site.
	RuleKeysRequired = "security-key-required"
)

// needsOwnFactor are the actions that decide how a project publishes, or stand in for a person between CI and the
// index, with what the denial says of each: RulePublishingNeeds2FA holds them.
var needsOwnFactor = map[Action]string{
	ManagePublishers:         "set up Trusted Publishing: a publisher uploads without a person, so only an account protected by a second factor may set one up",
	SetTrustedPublishingOnly: "set up Trusted Publishing: a publisher uploads without a person, so only an account protected by a second factor may set one up",
	AddPendingPublisher:      "set up Trusted Publishing: a publisher uploads without a person, so only an account protected by a second factor may set one up",
	SetStaging:               "require approval of uploads: approving needs a second factor",
	ApproveRelease:           "approve a staged release: the approval is what stands between an upload and the index",
	DiscardRelease:           "discard a staged release: the approval is what stands between an upload and the index",
	CreateOrganization:       "create an organization: its Owners are Owners of all its projects",
	ManageOrganization:       "change an organization: its Owners are Owners of all its projects",
	ManageOrgMembers:         "manage an organization's members: its Owners are Owners of all its projects",
	ManageTeams:              "manage an organization's teams: they hold roles on its projects",
	MoveProjectIn:            "move a project into an organization",
	CreateOrgProject:         "create a project in an organization",
	MoveProjectOut:           "move a project out of an organization",
}

// protectedWrites are the actions that publish, update or modify a project, which the 2FA rules hold.
var protectedWrites = map[Action]bool{
	Upload: true, ManageRoles: true, Yank: true, Unyank: true, DeleteFile: true, DeleteRelease: true, DeleteProject: true,
	SetProject2FA: true, ManagePublishers: true, SetTrustedPublishingOnly: true, SetStaging: true, ApproveRelease: true,
	DiscardRelease: true,
}

// decideProtection applies RuleCritical, RuleProjectRequires2FA, RuleTokenBefore2FA and RuleKeysRequired to a
// write that the other rules allow.
func (e *Engine) decideProtection(ctx context.Context, actor Actor, p *store.Project) error {
	prot, err := e.roles.ProjectProtection(ctx, p.ID)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if actor.Publisher != nil {
		// The publisher was set up by an Owner with a second factor and a recent confirmation, and its token is
		// bound to one CI job for minutes: it is the credential these rules want uploads to come from.
		return nil
	}
	if actor.Token != nil && e.TrustedPublishingOnly(prot) {
		why := fmt.Sprintf("its Owners accept uploads to project '%s' only from its Trusted Publishers", p.Name)
		if !prot.TrustedPublishingOnly {
			why = fmt.Sprintf("project '%s' is a critical project, and this index accepts uploads to critical projects only from their Trusted Publishers", p.Name)
		}
		return &Denied{Rule: RuleTrustedPublishingOnly, Reason: fmt.Sprintf(
			"API tokens of users cannot upload here: %s. Publish from the project's CI with Trusted Publishing (its publishers are listed at %s/manage/project/%s/publishing/), or ask an Owner to add a publisher for your workflow.",
			why, e.baseURL, p.NormalizedName)}
	}
	if !prot.Critical() && !prot.Require2FA && !prot.RequireWebAuthn && !prot.OrgRequire2FA && !prot.OrgRequireWebAuthn {
		return nil
	}
	rule, why := RuleProjectRequires2FA, fmt.Sprintf("Project '%s' requires two-factor authentication of its collaborators", p.Name)
	switch {
	case prot.Critical():
		rule, why = RuleCritical, fmt.Sprintf("Project '%s' is a critical project", p.Name)
	case !prot.Require2FA && !prot.RequireWebAuthn:
		rule, why = RuleOrgRequires2FA, fmt.Sprintf("Project '%s' belongs to organization '%s', which requires two-factor authentication of its members", p.Name, prot.Org)
	}
	then := "then try again"
	if actor.Token != nil {
		then = fmt.Sprintf("then create a new API token at %s/manage/account/token/ and upload with it", e.baseURL)
	}
	if !actor.TwoFactor.Enabled() {
		return &Denied{Rule: rule, Reason: fmt.Sprintf(
			"%s: nobody without two-factor authentication can publish, update or modify it. Enable two-factor authentication for '%s' at %s/manage/account/ (a security key, a passkey or an authenticator app), %s.",
			why, actor.User.Username, e.baseURL, then)}
	}
	if actor.Token != nil && actor.Token.CreatedAt.Before(actor.TwoFactor.Since) {
		return &Denied{Rule: RuleTokenBefore2FA, Reason: fmt.Sprintf(
			"%s, and this API token was created on %s, before two-factor authentication was enabled for '%s' on %s: it may have leaked while the account was unprotected. Create a new API token at %s/manage/account/token/ and upload with it.",
			why, actor.Token.CreatedAt.UTC().Format(time.DateOnly), actor.User.Username,
			actor.TwoFactor.Since.UTC().Format(time.DateOnly), e.baseURL)}
	}
	if !e.RequiresKeys(prot) {
		return nil
	}
	why = fmt.Sprintf("Project '%s' requires a security key or passkey of its collaborators", p.Name)
	switch {
	case !prot.RequireWebAuthn && prot.OrgRequireWebAuthn:
		why = fmt.Sprintf("Project '%s' belongs to organization '%s', which requires a security key or passkey of its members", p.Name, prot.Org)
	case !prot.RequireWebAuthn:
		why = fmt.Sprintf("Project '%s' is a critical project, and this index requires a security key or passkey of the collaborators of critical projects", p.Name)
	}
	switch {
	case !actor.TwoFactor.WebAuthn:
		return &Denied{Rule: RuleKeysRequired, Reason: fmt.Sprintf(
			"%s: an authenticator app is not enough. Add a security key or passkey for '%s' at %s/manage/account/, %s.",
			why, actor.User.Username, e.baseURL, then)}
	case actor.Token == nil && !actor.KeySession:
		return &Denied{Rule: RuleKeysRequired, Reason: fmt.Sprintf(
			"%s, and this session was not signed in with one. Confirm with your security key or passkey at %s/account/reauthenticate/ (or sign in again with it), then try again.",
			why, e.baseURL)}
	}
	return nil
}

// TrustedPublishingOnly says whether a project takes uploads only from its Trusted Publishers.
func (e *Engine) TrustedPublishingOnly(prot store.Protection) bool {
	return prot.TrustedPublishingOnly || prot.OrgTrustedPublishingOnly || prot.Critical() && e.criticalTrusted
}

// RequiresKeys says whether a project is held to the phishing-resistant level (rule 3): security keys or passkeys.
func (e *Engine) RequiresKeys(prot store.Protection) bool {
	return prot.RequireWebAuthn || prot.OrgRequireWebAuthn || prot.Critical() && e.criticalKeys
}

// decideNewRole applies RuleNewRole: a role on a project protected by 2FA, or an Owner's role on any project, goes
// only to an account with a second factor, and a role on a project held to the phishing-resistant level only to an
// account with a security key or passkey. An invitation may be sent to anyone; it is accepting it that waits.
func (e *Engine) decideNewRole(ctx context.Context, actor Actor, action Action, target Target) error {
	if action == ManageRoles && target.Offer {
		return nil
	}
	hasFactor, hasKey := actor.TwoFactor.Enabled(), actor.TwoFactor.WebAuthn
	if action == ManageRoles {
		hasFactor, hasKey = target.Grantee.HasTOTP || target.Grantee.HasWebAuthn, target.Grantee.HasWebAuthn
	}
	if hasKey {
		return nil
	}
	prot, err := e.roles.ProjectProtection(ctx, target.Project.ID)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	factor, help := "two-factor authentication", HelpTwoFA
	var why string
	switch {
	case e.RequiresKeys(prot):
		factor, help, why = "a security key or passkey", HelpSecurityKeys, fmt.Sprintf("project '%s' requires one of its collaborators", target.Project.Name)
	case hasFactor:
		return nil
	case prot.Critical():
		help, why = HelpCritical, fmt.Sprintf("project '%s' is a critical project", target.Project.Name)
	case prot.Require2FA:
		why = fmt.Sprintf("project '%s' requires two-factor authentication of its collaborators", target.Project.Name)
	case prot.OrgRequire2FA:
		help, why = HelpOrganizations, fmt.Sprintf("project '%s' belongs to organization '%s', which requires two-factor authentication of its members", target.Project.Name, prot.Org)
	case target.Role == store.RoleOwner:
		why = "every Owner of a project must have it"
	default:
		return nil
	}
	if action == AcceptInvitation {
		return &Denied{Rule: RuleNewRole, Help: help, Reason: fmt.Sprintf(
			"Enable %s before accepting this invitation: %s. Add one at %s/manage/account/, then accept the invitation again.",
			factor, why, e.baseURL)}
	}
	return &Denied{Rule: RuleNewRole, Help: help, Reason: fmt.Sprintf(
		"The user '%s' has no %s and cannot be given this role: %s. Ask them to add one first.",
		target.Grantee.Username, strings.TrimPrefix(factor, "a "), why)}
}

// decideProject2FA lets an Owner require 2FA of a project's collaborators only with a factor of their own (rule
// 2), and security keys only from a session that proved one (rule 3: an Owner cannot lock themselves out), and
// keeps what a critical project must have whatever its setting.
func (e *Engine) decideProject2FA(ctx context.Context, actor Actor, target Target) error {
	switch {
	case target.RequireWebAuthn && !(actor.KeySession && actor.TwoFactor.WebAuthn):
		return &Denied{Help: HelpSecurityKeys, Reason: fmt.Sprintf(
			"Sign in with a security key or passkey before requiring them of the collaborators of project '%s': add one at %s/manage/account/ if you have none, then confirm with it at %s/account/reauthenticate/.",
			target.Project.Name, e.baseURL, e.baseURL)}
	case (target.Require2FA || target.RequireWebAuthn) && !actor.TwoFactor.Enabled():
		return &Denied{Help: HelpTwoFA, Reason: fmt.Sprintf(
			"Enable two-factor authentication for your own account before requiring it of the collaborators of project '%s': add a security key, a passkey or an authenticator app at %s/manage/account/.",
			target.Project.Name, e.baseURL)}
	case target.RequireWebAuthn:
		return nil
	}
	prot, err := e.roles.ProjectProtection(ctx, target.Project.ID)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	switch {
	case prot.Critical() && e.criticalKeys:
		return &Denied{Rule: RuleCritical, Reason: fmt.Sprintf(
			"Project '%s' is a critical project: this index requires security keys or passkeys of its collaborators. Only an administrator can release a project from being critical.",
			target.Project.Name)}
	case prot.Critical() && !target.Require2FA:
		return &Denied{Rule: RuleCritical, Reason: fmt.Sprintf(
			"Project '%s' is a critical project: two-factor authentication stays required of its collaborators. Only an administrator can release a project from being critical.",
			target.Project.Name)}
	}
	return nil
}

// FullyProtected reports whether every Owner and Maintainer of a project (cs, at least one) has a second factor,
// so that no password alone can change what the project's users install.
func FullyProtected(cs []store.Collaborator) bool {
	withSecondFactor := 0
	for _, c := range cs {
		if c.TwoFactor() {
			withSecondFactor++
		}
	}
	return FullyProtectedCounts(len(cs), withSecondFactor)
}

// FullyProtectedCounts is FullyProtected from counts: of a project's Owners and Maintainers, and of those of them
// with a second factor. The JSON API reads the counts with a document instead of listing the collaborators.
func FullyProtectedCounts(collaborators, withSecondFactor int) bool {
	return collaborators > 0 && withSecondFactor == collaborators
}

// LimitsProjectCreation reports whether the rate limit on creating projects (U12) applies to actor. It exists
// against squatting and spam by ordinary accounts; an administrator moving a whole index in creates hundreds of
// projects in an hour and is trusted with the index anyway.
func LimitsProjectCreation(actor Actor) bool { return !actor.Admin }

// needsVerifiedEmail refuses publishing to an account that never confirmed its email address, by any credential,
// a token an administrator made for it included.
func needsVerifiedEmail(actor Actor) error {
	if actor.EmailVerified {
		return nil
	}
	return &Denied{Reason: fmt.Sprintf(
		"The user '%s' has no verified email address. Verify your address on your account page before uploading: the index must be able to reach the people who publish.",
		actor.User.Username)}
}

// rule is what a management action asks of the actor, besides a web session.
type rule struct {
	// ownRole marks an action on the actor's own role, which every collaborator may take; anyRole one that every
	// collaborator may take on the project; the others are for Owners only.
	ownRole, anyRole bool
	// sudo asks for a recent password confirmation: role changes and deletions (S8).
	sudo bool
	// what names the action in denials, with %s for the project's name.
	what string
}

// management is the permission table of the actions other than uploading. Yanking is for Owners only, as on
// PyPI (pypi/warehouse#12643 asks for Maintainers to yank, and is open): a Maintainer's stolen account could
// otherwise un-yank a release that the Owners withdrew for being compromised.
var management = map[Action]rule{
	ManageRoles:        {sudo: true, what: "manage the collaborators of project '%s'"},
	ViewInvitations:    {what: "see the pending invitations of project '%s'"},
	LeaveProject:       {ownRole: true, sudo: true, what: "leave project '%s'"},
	Yank:               {what: "yank releases of project '%s'"},
	Unyank:             {what: "un-yank releases of project '%s'"},
	DeleteFile:         {sudo: true, what: "delete files of project '%s'"},
	DeleteRelease:      {sudo: true, what: "delete releases of project '%s'"},
	DeleteProject:      {sudo: true, what: "delete project '%s'"},
	ViewProjectHistory: {what: "see the security history of project '%s'"},
	ViewReleases:       {anyRole: true, what: "manage the releases of project '%s'"},
	SetProject2FA:      {sudo: true, what: "change the two-factor requirement of project '%s'"},
	ManagePublishers:   {sudo: true, what: "manage the Trusted Publishers of project '%s'"},
	SetStaging:         {sudo: true, what: "change which uploads of project '%s' wait for approval"},
	ApproveRelease:     {anyRole: true, sudo: true, what: "approve staged releases of project '%s'"},
	SetPublishMail:     {what: "change the mail you get of every publish to project '%s'"},
	DiscardRelease:     {anyRole: true, sudo: true, what: "discard staged releases of project '%s'"},
	SetTrustedPublishingOnly: {sudo: true,
		what: "change whether project '%s' accepts uploads only from its Trusted Publishers"},
}

// decideManagement checks, in this order, the credential, the role and the confirmation: a user who may not act
// at all is told so, rather than asked for a password first.
func (e *Engine) decideManagement(ctx context.Context, actor Actor, r rule, p *store.Project) error {
	what := fmt.Sprintf(r.what, p.Name)
	if actor.Token != nil {
		return &Denied{Help: HelpAPIToken, Reason: fmt.Sprintf(
			"API tokens can only upload. To %s, sign in to the website as '%s' and do it there.", what, actor.User.Username)}
	}
	role, err := e.roles.RoleOf(ctx, p.ID, actor.User.ID)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	switch {
	case role == "" && r.ownRole:
		return &Denied{Reason: fmt.Sprintf("The user '%s' has no role on project '%s', so there is nothing to leave.",
			actor.User.Username, p.Name)}
	case role == "" && r.anyRole:
		return &Denied{Reason: fmt.Sprintf(
			"The user '%s' isn't allowed to %s: only its Owners and Maintainers may. Ask one of its Owners to invite you.",
			actor.User.Username, what)}
	case role == "":
		return &Denied{Reason: fmt.Sprintf(
			"The user '%s' isn't allowed to %s: only the project's Owners may, and '%s' isn't a collaborator. Ask one of its Owners.",
			actor.User.Username, what, actor.User.Username)}
	case role != store.RoleOwner && !r.ownRole && !r.anyRole:
		return &Denied{Reason: fmt.Sprintf(
			"The user '%s' isn't allowed to %s: only the project's Owners may, and '%s' is a %s. Ask an Owner to do it, or to make you an Owner.",
			actor.User.Username, what, actor.User.Username, role)}
	}
	if r.sudo && !actor.Sudo {
		return &Denied{Reauth: true, Reason: fmt.Sprintf(
			"Confirm your password to %s: role changes and deletions need a password confirmation in the last few minutes.", what)}
	}
	return nil
}

// decideLastFactor keeps a second factor on every account that can change what users install, and on every
// administrator's: once such an account has 2FA it cannot go back to a password alone. (The mandate's phases and
// the critical projects will widen who must have 2FA at all; this rule only stops anyone from dropping it.)
func (e *Engine) decideLastFactor(ctx context.Context, actor Actor) error {
	if actor.Admin {
		return &Denied{Help: HelpTwoFA, Reason: "Administrators must keep a second factor. Add another security key or authenticator app before removing this one."}
	}
	n, err := e.roles.RoleCount(ctx, actor.User.ID)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if n > 0 {
		projects := "a project"
		if n > 1 {
			projects = fmt.Sprintf("%d projects", n)
		}
		return &Denied{Help: HelpTwoFA, Reason: fmt.Sprintf(
			"This is your last second factor, and you are an Owner or Maintainer of %s: accounts that can publish must keep two-factor authentication. Add another security key or authenticator app first, then remove this one.",
			projects)}
	}
	return nil
}

// decideTrustedPublishingOnly keeps a critical project under Trusted Publishing only where the index requires it.
func (e *Engine) decideTrustedPublishingOnly(ctx context.Context, actor Actor, target Target) error {
	if target.TrustedPublishingOnly {
		return nil
	}
	prot, err := e.roles.ProjectProtection(ctx, target.Project.ID)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if prot.Critical() && e.criticalTrusted {
		return &Denied{Rule: RuleCritical, Reason: fmt.Sprintf(
			"Project '%s' is a critical project: this index accepts uploads to it only from its Trusted Publishers. Only an administrator can release a project from being critical.",
			target.Project.Name)}
	}
	return nil
}

// decidePublisher applies the rules of a Trusted Publishing token: it uploads to the projects of the publishers
// it was minted for, creates the project of a pending one (for the account that registered it, which must be
// able to own a project), and does nothing else.
func (e *Engine) decidePublisher(actor Actor, action Action, target Target) error {
	pub := actor.Publisher
	if e.readOnly && writes(action) {
		return &Denied{Reason: "The index is in read-only mode: no project can be changed right now. Try again later."}
	}
	switch action {
	case Upload:
		if target.Project == nil {
			return fmt.Errorf("policy: %s needs a project", action)
		}
		for _, g := range pub.Grants {
			if g.ProjectID == target.Project.ID {
				return nil
			}
		}
		return &Denied{Help: HelpTrustedPublishers, Reason: fmt.Sprintf(
			"Invalid API Token: this Trusted Publishing token is not valid for project '%s': no publisher of the project matches %s. An Owner can add one at %s/manage/project/%s/publishing/.",
			target.Project.NormalizedName, pub.Identity, e.baseURL, target.Project.NormalizedName)}
	case CreateProject:
		for _, g := range pub.Grants {
			if g.ProjectID != 0 || g.PendingName != target.Name {
				continue
			}
			switch {
			case g.Owner.Disabled:
				return &Denied{Reason: fmt.Sprintf("The account '%s' that registered this pending publisher is disabled.", g.Owner.Username)}
			case g.Owner.EmailVerifiedAt.IsZero():
				return &Denied{Reason: fmt.Sprintf(
					"The user '%s' who registered this pending publisher has no verified email address, and only accounts with one can own a project. Verify it on the account page, then publish again.",
					g.Owner.Username)}
			}
			return nil
		}
		return &Denied{Help: HelpTrustedPublishers, Reason: fmt.Sprintf(
			"Invalid API Token: this Trusted Publishing token cannot create the new project '%s': no pending publisher for that name matches %s. Register one at %s/manage/account/publishing/ first.",
			target.Name, pub.Identity, e.baseURL)}
	}
	return &Denied{Help: HelpTrustedPublishers, Reason: "Trusted Publishing tokens can only upload."}
}

// Creator is who owns a project that actor's upload creates under name: the uploader, or for a Trusted Publisher
// the account that registered the pending publisher (PendingPublisher), which becomes the project's publisher.
func Creator(actor Actor, name string) (ownerID, pendingPublisher int64) {
	if actor.Publisher == nil {
		return actor.User.ID, 0
	}
	for _, g := range actor.Publisher.Grants {
		if g.ProjectID == 0 && g.PendingName == name {
			return g.Owner.ID, g.PublisherID
		}
	}
	return 0, 0
}

// Stages says whether actor's upload to project waits for approval (a staged release) rather than publishing at
// once, as the project's Owners chose: uploads from Trusted Publishers, or from any token.
func (e *Engine) Stages(ctx context.Context, actor Actor, project *store.Project) (bool, error) {
	if project == nil {
		return false, nil // a new project has no Owners' choice yet
	}
	prot, err := e.roles.ProjectProtection(ctx, project.ID)
	if err != nil {
		return false, fmt.Errorf("policy: %w", err)
	}
	// The stricter of the project's choice and its organization's.
	for _, mode := range []string{prot.Staging, prot.OrgStaging} {
		switch {
		case mode == store.StageCI && actor.Publisher != nil:
			return true, nil
		case mode == store.StageTokens && (actor.Publisher != nil || actor.Token != nil):
			return true, nil
		}
	}
	return false, nil
}

// decidePublishMail keeps the mail of every publish on for a critical project's collaborators: a publish from a
// taken-over account must not go unseen where most users would install it.
func (e *Engine) decidePublishMail(ctx context.Context, target Target) error {
	if target.PublishMail {
		return nil
	}
	prot, err := e.roles.ProjectProtection(ctx, target.Project.ID)
	if err != nil {
		return fmt.Errorf("policy: %w", err)
	}
	if prot.Critical() {
		return &Denied{Rule: RuleCritical, Reason: fmt.Sprintf(
			"Project '%s' is a critical project: its collaborators get a mail of every publish, so that none goes unseen. If they are too many, sort them with a filter in your mail program; the project's history at %s/manage/project/%s/history/ lists every publish too.",
			target.Project.Name, e.baseURL, target.Project.NormalizedName)}
	}
	return nil
}
