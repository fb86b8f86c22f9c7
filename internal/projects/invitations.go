package projects

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/store"
)

// An invitation link's token is base64url(expiry || nonce || MAC), the expiry in Unix seconds (8 bytes,
// big-endian), a random 256-bit nonce, and an HMAC-SHA256 of the first two under the link key. The database keeps
// only the SHA-256 of the token. The length is a multiple of 3 bytes, so the encoding has no spare bits and a
// token has exactly one spelling (and one hash).
const (
	linkNonceLen = 32
	linkRawLen   = 8 + linkNonceLen + sha256.Size
)

// newLink returns a fresh token that expires at expires, and the hash under which the database keeps it.
func (m *Manager) newLink(expires time.Time) (token, hash string, err error) {
	raw := make([]byte, linkRawLen)
	binary.BigEndian.PutUint64(raw, uint64(expires.Unix()))
	if _, err := rand.Read(raw[8 : 8+linkNonceLen]); err != nil {
		return "", "", fmt.Errorf("invitation link: %w", err)
	}
	copy(raw[8+linkNonceLen:], m.linkMAC(raw[:8+linkNonceLen]))
	token = base64.RawURLEncoding.EncodeToString(raw)
	return token, linkHash(token), nil
}

func (m *Manager) linkMAC(msg []byte) []byte {
	h := hmac.New(sha256.New, m.linkKey)
	h.Write(msg)
	return h.Sum(nil)
}

// A plain SHA-256 suffices, unlike for passwords: the token carries 256 random bits, so there is nothing to guess.
func linkHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Refusals of an invitation link that its holder can tell apart by themselves; each is also ErrNoSuchInvitation.
var (
	// ErrLinkAltered: the token is not one this site signed. A mail client that cut or rewrote the link ends
	// here, and so does every forgery, which is why saying so helps no forger.
	ErrLinkAltered error = invitationError("this link is incomplete or was changed on the way: copy the whole link " +
		"from the mail into the address bar, or find the invitation under Your projects")
	// ErrInvitationExpired: the link's signed expiry has passed; only a link with a valid signature gets this.
	ErrInvitationExpired error = invitationError("this invitation has expired: ask an Owner of the project to invite you again")
)

type invitationError string

func (e invitationError) Error() string { return string(e) }

func (e invitationError) Is(target error) bool { return target == ErrNoSuchInvitation }

// CheckLink says whether a mailed link's token is one this site signed, within its expiry: nil, ErrLinkAltered
// or ErrInvitationExpired. It reads nothing; whose invitation it is, and whether it is still pending, is for the
// caller to find among the visitor's own.
func (m *Manager) CheckLink(token string) error {
	_, err := m.checkLink(token, m.now())
	return err
}

// checkLink returns the database key of a token presented by a client, and an error for anything newLink did not
// make or that has expired: such input never reaches a query. The expiry is read only once the MAC vouches for it.
func (m *Manager) checkLink(token string, now time.Time) (string, error) {
	if len(token) != base64.RawURLEncoding.EncodedLen(linkRawLen) {
		return "", ErrLinkAltered
	}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) != linkRawLen {
		return "", ErrLinkAltered
	}
	if !hmac.Equal(raw[8+linkNonceLen:], m.linkMAC(raw[:8+linkNonceLen])) {
		return "", ErrLinkAltered
	}
	if expires := time.Unix(int64(binary.BigEndian.Uint64(raw)), 0); !now.Before(expires) {
		return "", ErrInvitationExpired
	}
	return linkHash(token), nil
}

// Invited is a new invitation and what to do with it.
type Invited struct {
	Invitation store.Invitation
	// Token goes into the accept link mailed to the invitee, and nowhere else: it is shown once, never logged,
	// and only its hash is stored.
	Token   string
	Notices []Notice
}

func validRole(role string) bool { return role == store.RoleOwner || role == store.RoleMaintainer }

// Invite offers username a role on the project. Only Owners may, from a web session with a recent password
// confirmation. The invitee accepts with the link's token (Accept) or on the site (AcceptByID).
func (m *Manager) Invite(ctx context.Context, actor policy.Actor, project, username, role string, from audit.Request) (Invited, error) {
	if !validRole(role) {
		return Invited{}, ErrInvalidRole
	}
	p, err := m.project(ctx, project)
	if err != nil {
		return Invited{}, err
	}
	invitee, err := m.decideGrant(ctx, actor, p, username, role, true)
	if err != nil {
		return Invited{}, err
	}
	return m.invite(ctx, actor, p, invitee.User, role, "", from)
}

// invite creates an invitation once the decision is made; then is store.Invitation.ThenInviter.
func (m *Manager) invite(ctx context.Context, actor policy.Actor, p store.Project, invitee store.User, role, then string, from audit.Request) (Invited, error) {
	if invitee.Disabled {
		return Invited{}, ErrUserDisabled
	}
	now := m.now().UTC()
	expires := now.Add(m.ttl)
	token, hash, err := m.newLink(expires)
	if err != nil {
		return Invited{}, err
	}
	inv, err := m.db.CreateInvitation(ctx, store.Invitation{ProjectID: p.ID, InviteeID: invitee.ID, InviterID: actor.User.ID,
		Role: role, ThenInviter: then, TokenHash: hash, CreatedAt: now, ExpiresAt: expires})
	if err != nil {
		return Invited{}, storeErr(err, ErrNoSuchProject)
	}
	detail := fmt.Sprintf("invited %s as %s (invitation %d)", invitee.Username, role, inv.ID)
	if then != "" {
		detail += fmt.Sprintf("; a transfer of ownership: on acceptance %s %s", actor.User.Username, thenWords(then))
	}
	m.record(ctx, EventInvited, actor, p.ID, from, detail)
	cs, err := m.db.Collaborators(ctx, p.ID)
	if err != nil {
		return Invited{}, err
	}
	n := Notice{Project: p.Name, User: invitee.Username, Role: role, By: actor.User.Username}
	out := Invited{Invitation: inv, Token: token}
	out.Notices = append(notify([]int64{invitee.ID}, withKind(n, NoticeInvitation)),
		notify(audience(cs, false), withKind(n, NoticeInvitationSent))...)
	return out, nil
}

func withKind(n Notice, kind string) Notice {
	n.Kind = kind
	return n
}

func thenWords(then string) string {
	if then == Leave {
		return "leaves the project"
	}
	return "becomes a Maintainer"
}

// Accept accepts the invitation of a mailed link's token, for the signed-in invitee.
func (m *Manager) Accept(ctx context.Context, actor policy.Actor, token string, from audit.Request) (store.Invitation, []Notice, error) {
	hash, err := m.checkLink(token, m.now())
	if err != nil {
		return store.Invitation{}, nil, err
	}
	inv, err := m.db.InvitationByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.Invitation{}, nil, ErrNoSuchInvitation
	}
	if err != nil {
		return store.Invitation{}, nil, err
	}
	return m.accept(ctx, actor, inv, from)
}

// AcceptByID accepts an invitation listed on the invitee's own page.
func (m *Manager) AcceptByID(ctx context.Context, actor policy.Actor, id int64, from audit.Request) (store.Invitation, []Notice, error) {
	inv, err := m.invitation(ctx, id)
	if err != nil {
		return store.Invitation{}, nil, err
	}
	return m.accept(ctx, actor, inv, from)
}

func (m *Manager) invitation(ctx context.Context, id int64) (store.Invitation, error) {
	inv, err := m.db.InvitationByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Invitation{}, ErrNoSuchInvitation
	}
	return inv, err
}

// respond asks the policy whether actor may answer inv (action RespondInvitation to decline, AcceptInvitation to
// accept), and returns the invitation's project.
func (m *Manager) respond(ctx context.Context, actor policy.Actor, action policy.Action, inv store.Invitation) (store.Project, error) {
	p, err := m.db.ProjectByID(ctx, inv.ProjectID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, ErrNoSuchInvitation
	}
	if err != nil {
		return store.Project{}, err
	}
	err = m.policy.Decide(ctx, actor, action, policy.Target{Project: &p, Name: p.NormalizedName, InviteeID: inv.InviteeID, Role: inv.Role})
	return p, err
}

func (m *Manager) accept(ctx context.Context, actor policy.Actor, inv store.Invitation, from audit.Request) (store.Invitation, []Notice, error) {
	p, err := m.respond(ctx, actor, policy.AcceptInvitation, inv)
	if err != nil {
		return store.Invitation{}, nil, err
	}
	got, err := m.db.AcceptInvitation(ctx, inv.ID, actor.User.ID, m.now().UTC())
	if err != nil {
		return store.Invitation{}, nil, storeErr(err, ErrNoSuchInvitation)
	}
	detail := fmt.Sprintf("accepted the role %s offered by %s (invitation %d)", got.Role, got.InviterName, got.ID)
	if got.ThenInviter != "" {
		detail += fmt.Sprintf("; a transfer of ownership: %s %s", got.InviterName, thenWords(got.ThenInviter))
	}
	m.index.Invalidate(p.NormalizedName)
	m.record(ctx, EventInvitationAccepted, actor, p.ID, from, detail)
	cs, err := m.db.Collaborators(ctx, p.ID)
	if err != nil {
		return got, nil, err
	}
	n := Notice{Kind: NoticeRoleAdded, Project: p.Name, User: actor.User.Username, Role: got.Role, By: actor.User.Username}
	if got.ThenInviter == "" {
		return got, notify(audience(cs, false, actor.User.ID), n), nil
	}
	// The previous owner hears of it even after leaving the project.
	n.Kind, n.Detail = NoticeOwnershipTransfer, fmt.Sprintf("%s %s", got.InviterName, thenWords(got.ThenInviter))
	return got, notify(audience(cs, false, actor.User.ID, got.InviterID), n), nil
}

// Decline declines an invitation addressed to the actor.
func (m *Manager) Decline(ctx context.Context, actor policy.Actor, id int64, from audit.Request) ([]Notice, error) {
	inv, err := m.invitation(ctx, id)
	if err != nil {
		return nil, err
	}
	p, err := m.respond(ctx, actor, policy.RespondInvitation, inv)
	if err != nil {
		return nil, err
	}
	if _, err := m.db.DeclineInvitation(ctx, inv.ID, actor.User.ID, m.now().UTC()); err != nil {
		return nil, storeErr(err, ErrNoSuchInvitation)
	}
	m.record(ctx, EventInvitationDeclined, actor, p.ID, from, fmt.Sprintf("declined the role %s (invitation %d)", inv.Role, inv.ID))
	cs, err := m.db.Collaborators(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return notify(audience(cs, false), Notice{Kind: NoticeInvitationDeclined, Project: p.Name, User: actor.User.Username,
		Role: inv.Role, By: actor.User.Username}), nil
}

// RevokeInvitation withdraws a pending invitation of the project. The project in the call, not the invitation,
// decides who may: an Owner of one project cannot withdraw another's invitations by id.
func (m *Manager) RevokeInvitation(ctx context.Context, actor policy.Actor, project string, id int64, from audit.Request) ([]Notice, error) {
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	if err := m.policy.Decide(ctx, actor, policy.ManageRoles, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
		return nil, err
	}
	inv, err := m.db.RevokeInvitation(ctx, id, p.ID, m.now().UTC())
	if err != nil {
		return nil, storeErr(err, ErrNoSuchInvitation)
	}
	m.record(ctx, EventInvitationRevoked, actor, p.ID, from,
		fmt.Sprintf("withdrew the invitation of %s as %s (invitation %d)", inv.InviteeName, inv.Role, inv.ID))
	cs, err := m.db.Collaborators(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return notify(audience(cs, false, inv.InviteeID), Notice{Kind: NoticeInvitationRevoked, Project: p.Name,
		User: inv.InviteeName, Role: inv.Role, By: actor.User.Username}), nil
}

// ProjectInvitations lists a project's pending invitations, for its Owners.
func (m *Manager) ProjectInvitations(ctx context.Context, actor policy.Actor, project string) ([]store.Invitation, error) {
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	if err := m.policy.Decide(ctx, actor, policy.ViewInvitations, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
		return nil, err
	}
	return m.db.InvitationsForProject(ctx, p.ID, m.now().UTC())
}

// UserInvitations lists the pending invitations addressed to the actor. It reads only the actor's own rows, so
// there is no id to tamper with.
func (m *Manager) UserInvitations(ctx context.Context, actor policy.Actor) ([]store.Invitation, error) {
	if actor.User.ID == 0 {
		return nil, nil
	}
	return m.db.InvitationsForUser(ctx, actor.User.ID, m.now().UTC())
}
