package policy

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/audit"
	"wharf/internal/store"
)

type fakeRoles map[[2]int64]string

func (f fakeRoles) RoleOf(_ context.Context, projectID, userID int64) (string, error) {
	return f[[2]int64{projectID, userID}], nil
}

// EarlyEnforced: none; see TestMandate's earlyRoles.
func (fakeRoles) EarlyEnforced(context.Context, int64, int64) (bool, error) { return false, nil }

// MaintainsCritical: no project is critical; see protectedRoles.
func (fakeRoles) MaintainsCritical(context.Context, int64) (bool, error) { return false, nil }

// ProjectProtection: no project is protected; see protectedRoles.
func (fakeRoles) ProjectProtection(context.Context, int64) (store.Protection, error) {
	return store.Protection{}, nil
}

// protectedRoles adds the protection of some projects to fakeRoles.
type protectedRoles struct {
	fakeRoles
	prot map[int64]store.Protection
}

func (p protectedRoles) ProjectProtection(_ context.Context, id int64) (store.Protection, error) {
	return p.prot[id], nil
}

// MaintainsCritical: whether the user has a role on a project that prot makes critical.
func (p protectedRoles) MaintainsCritical(_ context.Context, userID int64) (bool, error) {
	for k := range p.fakeRoles {
		if k[1] == userID && p.prot[k[0]].Critical() {
			return true, nil
		}
	}
	return false, nil
}

func (f fakeRoles) RoleCount(_ context.Context, userID int64) (int, error) {
	n := 0
	for k := range f {
		if k[1] == userID {
			n++
		}
	}
	return n, nil
}

func TestDecide(t *testing.T) {
	owner := store.User{ID: 1, Username: "owner"}
	maint := store.User{ID: 2, Username: "maint"}
	stranger := store.User{ID: 3, Username: "stranger"}
	disabled := store.User{ID: 1, Username: "owner", Disabled: true}
	demo := &store.Project{ID: 10, Name: "Demo", NormalizedName: "demo"}
	e := New(fakeRoles{{10, 1}: store.RoleOwner, {10, 2}: store.RoleMaintainer})
	scoped := func(p ...string) *TokenScope { return &TokenScope{ID: "t", Projects: p} }
	unverified := store.Account{User: store.User{ID: 1, Username: "owner"}}

	for _, tc := range []struct {
		name   string
		actor  Actor
		action Action
		target Target
		denied string // substring of the reason; "" = allowed
	}{
		{"owner uploads", Actor{EmailVerified: true, User: owner, Token: &TokenScope{ID: "t"}}, Upload, Target{Project: demo}, ""},
		{"maintainer uploads", Actor{EmailVerified: true, User: maint, Token: scoped("demo")}, Upload, Target{Project: demo}, ""},
		{"stranger refused", Actor{EmailVerified: true, User: stranger, Token: &TokenScope{ID: "t"}}, Upload, Target{Project: demo}, "isn't allowed to upload"},
		{"token scoped elsewhere", Actor{EmailVerified: true, User: owner, Token: scoped("other")}, Upload, Target{Project: demo}, "not valid for project: 'demo'"},
		{"empty scope allows nothing", Actor{EmailVerified: true, User: owner, Token: &TokenScope{ID: "t", Projects: []string{}}}, Upload, Target{Project: demo}, "not valid for project"},
		{"disabled owner", Actor{EmailVerified: true, User: disabled, Token: &TokenScope{ID: "t"}}, Upload, Target{Project: demo}, "disabled"},
		{"anonymous", Actor{}, Upload, Target{Project: demo}, "authentication"},
		{"account token creates", Actor{EmailVerified: true, User: stranger, Token: &TokenScope{ID: "t"}}, CreateProject, Target{Name: "new"}, ""},
		{"scoped token cannot create", Actor{EmailVerified: true, User: owner, Token: scoped("new")}, CreateProject, Target{Name: "new"}, "cannot create the new project 'new'"},
		{"unverified owner cannot upload", Actor{User: owner, Token: &TokenScope{ID: "t"}, EmailVerified: false}, Upload, Target{Project: demo}, "has no verified email address"},
		{"unverified user cannot create", Actor{User: stranger, Token: &TokenScope{ID: "t"}, EmailVerified: false}, CreateProject, Target{Name: "new"}, "has no verified email address"},
		{"unverified stranger hears about the role first", Actor{User: stranger, Token: &TokenScope{ID: "t"}, EmailVerified: false}, Upload, Target{Project: demo}, "isn't allowed to upload"},
		{"an account's actor is unverified until it verifies", TokenActor(unverified, TokenScope{ID: "t"}), Upload, Target{Project: demo}, "has no verified email address"},
		{"an administrator's token needs a verified address too", TokenActor(store.Account{User: owner, IsAdmin: true}, TokenScope{ID: "t"}), Upload, Target{Project: demo}, "has no verified email address"},
		{"a verified account's actor uploads", TokenActor(store.Account{User: owner, EmailVerifiedAt: time.Unix(1, 0)}, TokenScope{ID: "t"}), Upload, Target{Project: demo}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Decide(context.Background(), tc.actor, tc.action, tc.target)
			if tc.denied == "" {
				if err != nil {
					t.Fatalf("Decide = %v, want allowed", err)
				}
				return
			}
			if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), tc.denied) {
				t.Fatalf("Decide = %v, want a denial containing %q", err, tc.denied)
			}
		})
	}
}

// permissions is the permission table, written out as the specification the engine must meet: who may do what
// from a web session that confirmed its password recently. Upload is the only action an API token may take.
var permissions = []struct {
	action                Action
	owner, maintainer, no bool // the actor is an Owner, a Maintainer, not a collaborator
	sudo                  bool // a recent password confirmation is also needed
}{
	{Upload, true, true, false, false},
	{ManageRoles, true, false, false, true},
	{ViewInvitations, true, false, false, false},
	{LeaveProject, true, true, false, true},
	{Yank, true, false, false, false},
	{Unyank, true, false, false, false},
	{DeleteFile, true, false, false, true},
	{DeleteRelease, true, false, false, true},
	{DeleteProject, true, false, false, true},
	{ViewProjectHistory, true, false, false, false},
	{ViewReleases, true, true, false, false},
	{SetProject2FA, true, false, false, true},
	{ManagePublishers, true, false, false, true},
	{SetTrustedPublishingOnly, true, false, false, true},
	{SetStaging, true, false, false, true},
	{ApproveRelease, true, true, false, true},
	{DiscardRelease, true, true, false, true},
	{SetPublishMail, true, false, false, false},
}

type outcome struct {
	Allowed bool
	Reauth  bool // denied only for want of a password confirmation
}

func TestDecidePermissionMatrix(t *testing.T) {
	users := map[string]store.User{
		"owner":      {ID: 1, Username: "owner"},
		"maintainer": {ID: 2, Username: "maint"},
		"stranger":   {ID: 3, Username: "stranger"},
	}
	demo := &store.Project{ID: 10, Name: "Demo", NormalizedName: "demo"}
	e := New(fakeRoles{{10, 1}: store.RoleOwner, {10, 2}: store.RoleMaintainer})
	creds := map[string]func(store.User) Actor{
		"session with confirmation":    func(u store.User) Actor { return Actor{User: u, Sudo: true, EmailVerified: true} },
		"session without confirmation": func(u store.User) Actor { return Actor{User: u, EmailVerified: true} },
		"account-wide token": func(u store.User) Actor {
			return Actor{User: u, Token: &TokenScope{ID: "t"}, Sudo: true, EmailVerified: true}
		},
		"token scoped to the project": func(u store.User) Actor {
			return Actor{User: u, Token: &TokenScope{ID: "t", Projects: []string{"demo"}}, Sudo: true, EmailVerified: true}
		},
	}
	seen := map[Action]bool{}
	for _, p := range permissions {
		seen[p.action] = true
		for who, may := range map[string]bool{"owner": p.owner, "maintainer": p.maintainer, "stranger": p.no} {
			for cred, actor := range creds {
				want := outcome{Allowed: may}
				switch {
				case !may:
				case p.action != Upload && actor(users[who]).Token != nil:
					want.Allowed = false
				case p.sudo && !actor(users[who]).Sudo:
					want = outcome{Reauth: true}
				}
				t.Run(fmt.Sprintf("%s/%s/%s", p.action, who, cred), func(t *testing.T) {
					// Roles and credentials alone: the actor has the second factor that setting up Trusted
					// Publishing also needs (TestTwoFactorRules has the rows without).
					a := actor(users[who])
					a.TwoFactor = TwoFactor{TOTP: true}
					err := e.Decide(context.Background(), a, p.action, Target{Project: demo, Name: "demo"})
					if err != nil && !errors.Is(err, ErrDenied) {
						t.Fatalf("Decide = %v, want a decision", err)
					}
					got := outcome{Allowed: err == nil, Reauth: errors.Is(err, ErrReauthRequired)}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("Decide (-want +got):\n%s\nreason: %v", diff, err)
					}
				})
			}
		}
	}
	for a := range management {
		if !seen[a] {
			t.Errorf("action %s has a rule but no row in the permission table", a)
		}
	}
}

func TestDecideManagementReasons(t *testing.T) {
	owner := store.User{ID: 1, Username: "owner"}
	maint := store.User{ID: 2, Username: "maint"}
	stranger := store.User{ID: 3, Username: "stranger"}
	demo := &store.Project{ID: 10, Name: "Demo", NormalizedName: "demo"}
	e := New(fakeRoles{{10, 1}: store.RoleOwner, {10, 2}: store.RoleMaintainer})
	web := func(u store.User) Actor { return Actor{User: u, Sudo: true} }
	on := Target{Project: demo, Name: "demo"}

	for _, tc := range []struct {
		name   string
		actor  Actor
		action Action
		target Target
		want   string // the whole reason; "" = allowed
	}{
		{"token refused for management", Actor{User: owner, Token: &TokenScope{ID: "t"}}, DeleteRelease, on,
			"API tokens can only upload. To delete releases of project 'Demo', sign in to the website as 'owner' and do it there. See /help/#apitoken"},
		{"maintainer cannot yank", web(maint), Yank, on,
			"The user 'maint' isn't allowed to yank releases of project 'Demo': only the project's Owners may, and 'maint' is a Maintainer. Ask an Owner to do it, or to make you an Owner."},
		{"stranger cannot manage roles", web(stranger), ManageRoles, on,
			"The user 'stranger' isn't allowed to manage the collaborators of project 'Demo': only the project's Owners may, and 'stranger' isn't a collaborator. Ask one of its Owners."},
		{"stranger has nothing to leave", web(stranger), LeaveProject, on,
			"The user 'stranger' has no role on project 'Demo', so there is nothing to leave."},
		{"deletion needs a confirmation", Actor{User: owner}, DeleteProject, on,
			"Confirm your password to delete project 'Demo': role changes and deletions need a password confirmation in the last few minutes."},
		{"a stranger is refused before being asked to confirm", Actor{User: stranger}, DeleteFile, on,
			"The user 'stranger' isn't allowed to delete files of project 'Demo': only the project's Owners may, and 'stranger' isn't a collaborator. Ask one of its Owners."},
		{"disabled owner", Actor{User: store.User{ID: 1, Username: "owner", Disabled: true}, Sudo: true}, ManageRoles, on,
			"The account 'owner' is disabled. Contact the administrators of this index."},
		{"anonymous", Actor{}, ViewProjectHistory, on,
			"Invalid or non-existent authentication information. See /help/#apitoken for more information."},
		{"the invitee answers", Actor{User: stranger}, RespondInvitation, Target{Project: demo, InviteeID: 3}, ""},
		{"someone else answers", Actor{User: owner, Sudo: true}, RespondInvitation, Target{Project: demo, InviteeID: 3},
			"This invitation to project 'Demo' was sent to another account. Sign in as the invited user to answer it."},
		{"the invitee with a token", Actor{User: stranger, Token: &TokenScope{ID: "t"}}, RespondInvitation, Target{Project: demo, InviteeID: 3},
			"API tokens can only upload. Answer invitations on the website, signed in as the invited user. See /help/#apitoken"},
		{"an unverified invitee may decline", Actor{User: stranger}, RespondInvitation, Target{Project: demo, InviteeID: 3}, ""},
		{"an unverified invitee may not accept", Actor{User: stranger}, AcceptInvitation, Target{Project: demo, InviteeID: 3},
			"The user 'stranger' has no verified email address, and only accounts with one can be given a role on a project. Verify your address on your account page, then accept the invitation to project 'Demo' again."},
		{"a verified invitee accepts", Actor{User: stranger, EmailVerified: true}, AcceptInvitation, Target{Project: demo, InviteeID: 3}, ""},
		{"someone else accepts", Actor{User: owner, EmailVerified: true}, AcceptInvitation, Target{Project: demo, InviteeID: 3},
			"This invitation to project 'Demo' was sent to another account. Sign in as the invited user to answer it."},
		{"no role for an unverified grantee", web(owner), ManageRoles, Target{Project: demo, Grantee: &store.Account{User: stranger}},
			"The user 'stranger' has no verified email address, so they cannot be given a role on project 'Demo'. Ask them to verify their address on their account page first."},
		{"a role for a verified grantee", web(owner), ManageRoles, Target{Project: demo, Grantee: &store.Account{User: stranger, EmailVerifiedAt: time.Unix(1, 0)}}, ""},
		{"a maintainer hears that only Owners manage roles, not about the grantee", web(maint), ManageRoles, Target{Project: demo, Grantee: &store.Account{User: stranger}},
			"The user 'maint' isn't allowed to manage the collaborators of project 'Demo': only the project's Owners may, and 'maint' is a Maintainer. Ask an Owner to do it, or to make you an Owner."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Decide(context.Background(), tc.actor, tc.action, tc.target)
			got := ""
			if err != nil {
				if !errors.Is(err, ErrDenied) {
					t.Fatalf("Decide = %v, want a denial", err)
				}
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("reason (-want +got):\n%s", diff)
			}
		})
	}
}

type failingRoles struct{}

func (failingRoles) RoleOf(context.Context, int64, int64) (string, error) {
	return "", errors.New("database down")
}

func (failingRoles) RoleCount(context.Context, int64) (int, error) {
	return 0, errors.New("database down")
}

func (failingRoles) EarlyEnforced(context.Context, int64, int64) (bool, error) {
	return false, errors.New("database down")
}

func (failingRoles) MaintainsCritical(context.Context, int64) (bool, error) {
	return false, errors.New("database down")
}

func (failingRoles) ProjectProtection(context.Context, int64) (store.Protection, error) {
	return store.Protection{}, errors.New("database down")
}

func TestDecideErrorsAreNotDenials(t *testing.T) {
	demo := &store.Project{ID: 10, Name: "Demo", NormalizedName: "demo"}
	web := Actor{User: store.User{ID: 1, Username: "owner"}, Sudo: true}
	for _, tc := range []struct {
		name   string
		e      *Engine
		action Action
		target Target
	}{
		{"unknown action", New(fakeRoles{}), Action("rename"), Target{Project: demo}},
		{"management without a project", New(fakeRoles{}), DeleteProject, Target{Name: "demo"}},
		{"invitation without a project", New(fakeRoles{}), RespondInvitation, Target{InviteeID: 1}},
		{"roles unreadable", New(failingRoles{}), ManageRoles, Target{Project: demo}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Decide(context.Background(), web, tc.action, tc.target)
			if err == nil || errors.Is(err, ErrDenied) {
				t.Errorf("Decide = %v, want an internal error, not a decision", err)
			}
		})
	}
}

// TestReadOnly: in read-only mode every write is refused by the one entry point, whatever the role or credential,
// and reads that the policy decides still work.
func TestReadOnly(t *testing.T) {
	owner := store.User{ID: 1, Username: "owner"}
	demo := &store.Project{ID: 10, Name: "Demo", NormalizedName: "demo"}
	e := New(fakeRoles{{10, 1}: store.RoleOwner}, ReadOnly(true))
	for _, a := range []Action{CreateProject, Upload, ManageRoles, Yank, Unyank, DeleteFile, DeleteRelease, DeleteProject, LeaveProject} {
		err := e.Decide(context.Background(), Actor{User: owner, Sudo: true, EmailVerified: true}, a, Target{Project: demo, Name: "demo"})
		if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), "read-only mode") {
			t.Errorf("%s in read-only mode: %v", a, err)
		}
	}
	if err := e.Decide(context.Background(), Actor{User: owner}, ViewProjectHistory, Target{Project: demo}); err != nil {
		t.Errorf("reading the history in read-only mode: %v", err)
	}
}

// TestFactorRemoval: a factor change needs a recent confirmation and a web session; the last factor stays on
// accounts that can publish or administer, and goes from any other (read-only mode changes neither).
func TestFactorRemoval(t *testing.T) {
	owner := store.User{ID: 1, Username: "owner"}
	maint := store.User{ID: 2, Username: "maint"}
	reader := store.User{ID: 3, Username: "reader"}
	roles := fakeRoles{{10, 1}: store.RoleOwner, {10, 2}: store.RoleMaintainer, {11, 2}: store.RoleMaintainer}
	for _, e := range []*Engine{New(roles), New(roles, ReadOnly(true))} {
		for _, tc := range []struct {
			name   string
			actor  Actor
			action Action
			denied string
			reauth bool
		}{
			{"confirmed user removes a factor", Actor{User: reader, Sudo: true}, RemoveFactor, "", false},
			{"unconfirmed user is asked to confirm", Actor{User: reader}, RemoveFactor, "Confirm your password", true},
			{"token refused", Actor{User: reader, Token: &TokenScope{ID: "t"}, Sudo: true}, RemoveFactor, "API tokens can only upload", false},
			{"user without projects may drop the last factor", Actor{User: reader, Sudo: true}, RemoveLastFactor, "", false},
			{"owner keeps the last factor", Actor{User: owner, Sudo: true}, RemoveLastFactor, "Owner or Maintainer of a project", false},
			{"maintainer of two keeps it", Actor{User: maint, Sudo: true}, RemoveLastFactor, "of 2 projects", false},
			{"administrator keeps it", Actor{User: reader, Sudo: true, Admin: true}, RemoveLastFactor, "Administrators must keep", false},
		} {
			t.Run(fmt.Sprintf("%s/readonly=%v", tc.name, e.readOnly), func(t *testing.T) {
				err := e.Decide(context.Background(), tc.actor, tc.action, Target{})
				if tc.denied == "" {
					if err != nil {
						t.Fatalf("denied: %v", err)
					}
					return
				}
				var d *Denied
				if !errors.As(err, &d) || !strings.Contains(d.Reason, tc.denied) {
					t.Fatalf("got %v, want a denial saying %q", err, tc.denied)
				}
				if errors.Is(err, ErrReauthRequired) != tc.reauth {
					t.Fatalf("reauth = %v, want %v", !tc.reauth, tc.reauth)
				}
			})
		}
	}
	if err := New(failingRoles{}).Decide(context.Background(), Actor{User: owner, Sudo: true}, RemoveLastFactor, Target{}); err == nil || errors.Is(err, ErrDenied) {
		t.Fatalf("a failing store gave %v, want an internal error", err)
	}
}

// TestActorsKnowTheirAccount: both ways an actor is made carry every fact of the account, and the same ones; a
// field added to Actor for a new rule fails here until accountActor fills it from the account.
func TestActorsKnowTheirAccount(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	acct := store.Account{
		User:            store.User{ID: 7, Username: "alice", Email: "alice@example.com", PasswordHash: "h", CreatedAt: t0},
		EmailVerifiedAt: t0, IsAdmin: true, PasswordChangedAt: t0, HasTOTP: true, HasWebAuthn: true, TwoFactorSince: t0,
	}
	credentialFields := map[string]bool{"Token": true, "Sudo": true, "KeySession": true, "Publisher": true, "Operator": true}
	session := SessionActor(acct, Session{Sudo: true, Key: true})
	token := TokenActor(acct, TokenScope{ID: "t", CreatedAt: t0})
	for name, a := range map[string]Actor{"session": session, "token": token} {
		v := reflect.ValueOf(a)
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !credentialFields[f.Name] && v.Field(i).IsZero() {
				t.Errorf("%s actor: %s is not filled from the account", name, f.Name)
			}
		}
	}
	if token.Token == nil || !token.Token.CreatedAt.Equal(t0) {
		t.Fatal("the token's creation time was lost")
	}
	if !session.Sudo || !session.KeySession {
		t.Error("the session's facts were lost")
	}
	session.Sudo, session.KeySession, token.Token = false, false, nil
	if diff := cmp.Diff(session, token); diff != "" {
		t.Errorf("the two constructors disagree on the account (-session +token):\n%s", diff)
	}
	if !session.TwoFactor.Enabled() || (TwoFactor{}).Enabled() {
		t.Error("TwoFactor.Enabled")
	}
}

// accountPermissions is the specification of the actions on one's own account and on the index's administration:
// website only, an administrator where admin is set, a recent confirmation where sudo is set.
var accountPermissions = []struct {
	action      Action
	admin, sudo bool
}{
	{AddFactor, false, true},
	{RemoveFactor, false, true},
	{CreateToken, false, true},
	{RevokeToken, false, true},
	{ChangeAccount, false, true},
	{ViewAdmin, true, false},
	{Administer, true, true},
	{UnreserveName, true, true},
	{ViewReports, true, false},
	{AddPendingPublisher, false, true},
}

func TestDecideAccountActions(t *testing.T) {
	user := store.User{ID: 1, Username: "alice"}
	e := New(fakeRoles{}, ReadOnly(true)) // none of these changes a project, so read-only mode refuses none
	seen := map[Action]bool{}
	for _, p := range accountPermissions {
		seen[p.action] = true
		for _, tc := range []struct {
			name  string
			actor Actor
			want  outcome
		}{
			{"administrator, confirmed", Actor{User: user, Admin: true, Sudo: true}, outcome{Allowed: true}},
			{"administrator, unconfirmed", Actor{User: user, Admin: true}, outcome{Allowed: !p.sudo, Reauth: p.sudo}},
			{"user, confirmed", Actor{User: user, Sudo: true}, outcome{Allowed: !p.admin}},
			{"user, unconfirmed", Actor{User: user}, outcome{Allowed: !p.admin && !p.sudo, Reauth: !p.admin && p.sudo}},
			{"administrator's token", Actor{User: user, Admin: true, Sudo: true, Token: &TokenScope{ID: "t"}}, outcome{}},
		} {
			t.Run(fmt.Sprintf("%s/%s", p.action, tc.name), func(t *testing.T) {
				// The rules of accounts alone: a verified address and a second factor, which some actions also
				// need, are TestPublishingNeeds2FA's.
				tc.actor.EmailVerified, tc.actor.TwoFactor = true, TwoFactor{TOTP: true}
				err := e.Decide(context.Background(), tc.actor, p.action, Target{})
				if err != nil && !errors.Is(err, ErrDenied) {
					t.Fatalf("Decide = %v, want a decision", err)
				}
				got := outcome{Allowed: err == nil, Reauth: errors.Is(err, ErrReauthRequired)}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("Decide (-want +got):\n%s\nreason: %v", diff, err)
				}
			})
		}
	}
	for a := range accountActions {
		if !seen[a] {
			t.Errorf("action %s has a rule but no row in accountPermissions", a)
		}
	}
}

// writesHeldBy2FA is the specification of what the 2FA rules hold: everything that publishes, updates or modifies
// a project. Reading a project's pages and leaving it stay open to a collaborator without a second factor.
var writesHeldBy2FA = map[Action]bool{
	Upload: true, ManageRoles: true, Yank: true, Unyank: true, DeleteFile: true, DeleteRelease: true, DeleteProject: true,
	SetProject2FA: true, ManagePublishers: true, SetTrustedPublishingOnly: true, SetStaging: true, ApproveRelease: true,
	DiscardRelease: true,
}

// publishingNeeds2FA is the specification of RulePublishingNeeds2FA: setting up Trusted Publishing needs the
// actor's own second factor, on any project.
var publishingNeeds2FA = map[Action]bool{ManagePublishers: true, SetTrustedPublishingOnly: true, AddPendingPublisher: true,
	SetStaging: true, ApproveRelease: true, DiscardRelease: true}

type recorded struct{ events []string }

func (r *recorded) Record(_ context.Context, kind string, userID, projectID int64, _ audit.Request, detail string) error {
	r.events = append(r.events, fmt.Sprintf("%s user=%d project=%d %s", kind, userID, projectID, detail))
	return nil
}

// TestTwoFactorRules is the table of rules 1, 2 and 3 (critical projects, projects whose Owners require 2FA or
// security keys, and the index's choice of keys for critical projects): index x project state x account x
// credential x action, for an Owner, who may do everything on a normal project. Every
// action of the permission table has its rows; the expected outcome is computed from the specification above,
// not from the engine's own tables.
func TestTwoFactorRules(t *testing.T) {
	t2fa := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	normal := &store.Project{ID: 10, Name: "Normal", NormalizedName: "normal"}
	critical := &store.Project{ID: 11, Name: "Critical", NormalizedName: "critical"}
	optedIn := &store.Project{ID: 12, Name: "Opted", NormalizedName: "opted"}
	keyed := &store.Project{ID: 13, Name: "Keyed", NormalizedName: "keyed"}
	roles := protectedRoles{
		fakeRoles: fakeRoles{{10, 1}: store.RoleOwner, {11, 1}: store.RoleOwner, {12, 1}: store.RoleOwner, {13, 1}: store.RoleOwner},
		prot:      map[int64]store.Protection{11: {CriticalSince: t2fa}, 12: {Require2FA: true}, 13: {Require2FA: true, RequireWebAuthn: true}},
	}
	rec := &recorded{}
	engines := map[string]*Engine{
		"index":                            New(roles, BaseURL("https://index.example/"), Audit(rec)),
		"index requiring keys of critical": New(roles, BaseURL("https://index.example/"), Audit(rec), CriticalRequiresKeys(true)),
	}
	owner := store.User{ID: 1, Username: "owner"}
	accounts := map[string]TwoFactor{
		"no 2FA":        {},
		"TOTP":          {TOTP: true, Since: t2fa},
		"WebAuthn":      {WebAuthn: true, Since: t2fa},
		"TOTP and keys": {TOTP: true, WebAuthn: true, Since: t2fa},
	}
	credentials := map[string]func(Actor) Actor{
		"session": func(a Actor) Actor { a.Sudo = true; return a },
		"session signed in with a key": func(a Actor) Actor {
			a.Sudo, a.KeySession = true, true
			return a
		},
		"token made after 2FA": func(a Actor) Actor {
			a.Token = &TokenScope{ID: "t", CreatedAt: t2fa.Add(time.Hour)}
			return a
		},
		"token made before 2FA": func(a Actor) Actor {
			a.Token = &TokenScope{ID: "t", CreatedAt: t2fa.Add(-time.Hour)}
			return a
		},
		"project token": func(a Actor) Actor {
			a.Token = &TokenScope{ID: "t", Projects: []string{"normal", "critical", "opted", "keyed"}, CreatedAt: t2fa.Add(time.Hour)}
			return a
		},
	}
	for _, p := range permissions {
		if p.action == SetProject2FA {
			continue // its own rules on top: TestSetProject2FA
		}
		for engineName, e := range engines {
			for _, project := range []*store.Project{normal, critical, optedIn, keyed} {
				for acctName, tf := range accounts {
					for credName, cred := range credentials {
						for _, admin := range []bool{false, true} {
							actor := cred(Actor{User: owner, EmailVerified: true, TwoFactor: tf, Admin: admin})
							if actor.KeySession && !tf.WebAuthn {
								continue // only a key signs a session in with a key
							}
							keysRequired := project == keyed || project == critical && e.criticalKeys
							// The Owner's permission without the 2FA rules: everything from a confirmed session,
							// only uploads from a token.
							wantAllowed := actor.Token == nil || p.action == Upload
							wantRule := ""
							if wantAllowed && p.action == SetPublishMail && project == critical {
								wantRule = RuleCritical // the target turns the mail off, which a critical project keeps on
							}
							if wantAllowed && wantRule == "" && writesHeldBy2FA[p.action] && project != normal {
								switch {
								case !tf.Enabled() && project == critical:
									wantRule = RuleCritical
								case !tf.Enabled():
									wantRule = RuleProjectRequires2FA
								case actor.Token != nil && actor.Token.CreatedAt.Before(tf.Since):
									wantRule = RuleTokenBefore2FA
								case keysRequired && !tf.WebAuthn:
									wantRule = RuleKeysRequired
								case keysRequired && actor.Token == nil && !actor.KeySession:
									wantRule = RuleKeysRequired
								}
							}
							if wantAllowed && wantRule == "" && publishingNeeds2FA[p.action] && !tf.Enabled() {
								wantRule = RulePublishingNeeds2FA
							}
							wantAllowed = wantAllowed && wantRule == ""
							name := fmt.Sprintf("%s/%s/%s/%s/%s/admin=%v", engineName, p.action, project.NormalizedName, acctName, credName, admin)
							t.Run(name, func(t *testing.T) {
								err := e.Decide(context.Background(), actor, p.action, Target{Project: project, Name: project.NormalizedName})
								if err != nil && !errors.Is(err, ErrDenied) {
									t.Fatalf("Decide = %v, want a decision", err)
								}
								var d *Denied
								errors.As(err, &d)
								gotRule := ""
								if d != nil {
									gotRule = d.Rule
								}
								if (err == nil) != wantAllowed || gotRule != wantRule {
									t.Fatalf("Decide = %v (rule %q), want allowed=%v rule %q", err, gotRule, wantAllowed, wantRule)
								}
								if wantRule != "" && !strings.Contains(d.Reason, "https://index.example/") {
									t.Errorf("the denial does not say where to act: %s", d.Reason)
								}
							})
						}
					}
				}
			}
		}
	}
	if len(rec.events) == 0 || !strings.HasPrefix(rec.events[0], EventDenied+" user=1 project=1") {
		t.Errorf("the 2FA refusals were not recorded: %v", rec.events[:min(len(rec.events), 3)])
	}
	inTable := map[Action]bool{}
	for _, p := range permissions {
		inTable[p.action] = true
	}
	for a := range writesHeldBy2FA {
		if !inTable[a] {
			t.Errorf("%s is held by the 2FA rules but has no row in the permission table", a)
		}
	}
	for a := range protectedWrites {
		if !writesHeldBy2FA[a] {
			t.Errorf("the engine holds %s by the 2FA rules, which the specification does not", a)
		}
	}
}

// TestTwoFactorDenialsForTwine: the words a maintainer reads in twine's output say which rule refused and what
// to do, with the index's own URL.
func TestTwoFactorDenialsForTwine(t *testing.T) {
	t2fa := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	roles := protectedRoles{fakeRoles: fakeRoles{{11, 1}: store.RoleMaintainer}, prot: map[int64]store.Protection{11: {CriticalSince: t2fa}}}
	e := New(roles, BaseURL("https://index.example"))
	p := &store.Project{ID: 11, Name: "Requests", NormalizedName: "requests"}
	user := store.User{ID: 1, Username: "kim"}
	for _, tc := range []struct {
		name  string
		actor Actor
		want  string
	}{
		{"no second factor", Actor{User: user, EmailVerified: true, Token: &TokenScope{ID: "t"}},
			"Project 'Requests' is a critical project: nobody without two-factor authentication can publish, update or modify it. Enable two-factor authentication for 'kim' at https://index.example/manage/account/ (a security key, a passkey or an authenticator app), then create a new API token at https://index.example/manage/account/token/ and upload with it. See https://index.example/help/#critical"},
		{"a token older than the second factor", Actor{User: user, EmailVerified: true, TwoFactor: TwoFactor{TOTP: true, Since: t2fa},
			Token: &TokenScope{ID: "t", CreatedAt: t2fa.AddDate(0, 0, -3)}},
			"Project 'Requests' is a critical project, and this API token was created on 2026-02-26, before two-factor authentication was enabled for 'kim' on 2026-03-01: it may have leaked while the account was unprotected. Create a new API token at https://index.example/manage/account/token/ and upload with it. See https://index.example/help/#apitoken"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Decide(context.Background(), tc.actor, Upload, Target{Project: p, Name: p.NormalizedName})
			if diff := cmp.Diff(tc.want, fmt.Sprint(err)); diff != "" {
				t.Errorf("reason (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNewRolesNeed2FA is rule 6: accepting a role on a protected project, and becoming an Owner of any project,
// need a second factor; an invitation may still be sent, since accepting it is what waits.
func TestNewRolesNeed2FA(t *testing.T) {
	roles := protectedRoles{
		fakeRoles: fakeRoles{{10, 1}: store.RoleOwner, {11, 1}: store.RoleOwner, {12, 1}: store.RoleOwner},
		prot:      map[int64]store.Protection{11: {CriticalSince: time.Unix(1, 0)}, 12: {Require2FA: true, RequireWebAuthn: true}},
	}
	e := New(roles)
	normal := &store.Project{ID: 10, Name: "Normal", NormalizedName: "normal"}
	critical := &store.Project{ID: 11, Name: "Critical", NormalizedName: "critical"}
	keysOnly := &store.Project{ID: 12, Name: "Keys", NormalizedName: "keys"}
	owner := Actor{User: store.User{ID: 1, Username: "owner"}, EmailVerified: true, Sudo: true, TwoFactor: TwoFactor{TOTP: true}}
	keyOwner := Actor{User: store.User{ID: 1, Username: "owner"}, EmailVerified: true, Sudo: true, TwoFactor: TwoFactor{WebAuthn: true}, KeySession: true}
	totpOnly := &store.Account{User: store.User{ID: 4, Username: "app"}, EmailVerifiedAt: time.Unix(1, 0), HasTOTP: true}
	verified := time.Unix(1, 0)
	bare := &store.Account{User: store.User{ID: 2, Username: "bare"}, EmailVerifiedAt: verified}
	keyed := &store.Account{User: store.User{ID: 3, Username: "keyed"}, EmailVerifiedAt: verified, HasWebAuthn: true}
	invitee := func(tf TwoFactor) Actor {
		return Actor{User: store.User{ID: 2, Username: "bare"}, EmailVerified: true, TwoFactor: tf}
	}
	for _, tc := range []struct {
		name   string
		actor  Actor
		action Action
		target Target
		rule   string // "" = allowed
	}{
		{"invite anyone to a critical project", owner, ManageRoles, Target{Project: critical, Grantee: bare, Role: store.RoleMaintainer, Offer: true}, ""},
		{"offer anyone ownership", owner, ManageRoles, Target{Project: normal, Grantee: bare, Role: store.RoleOwner, Offer: true}, ""},
		{"make a Maintainer of a normal project without 2FA", owner, ManageRoles, Target{Project: normal, Grantee: bare, Role: store.RoleMaintainer}, ""},
		{"make an Owner without 2FA", owner, ManageRoles, Target{Project: normal, Grantee: bare, Role: store.RoleOwner}, RuleNewRole},
		{"make an Owner with a key", owner, ManageRoles, Target{Project: normal, Grantee: keyed, Role: store.RoleOwner}, ""},
		{"a role on a critical project without 2FA", owner, ManageRoles, Target{Project: critical, Grantee: bare, Role: store.RoleMaintainer}, RuleNewRole},
		{"accept a normal Maintainer's role without 2FA", invitee(TwoFactor{}), AcceptInvitation, Target{Project: normal, InviteeID: 2, Role: store.RoleMaintainer}, ""},
		{"accept ownership without 2FA", invitee(TwoFactor{}), AcceptInvitation, Target{Project: normal, InviteeID: 2, Role: store.RoleOwner}, RuleNewRole},
		{"accept a role on a critical project without 2FA", invitee(TwoFactor{}), AcceptInvitation, Target{Project: critical, InviteeID: 2, Role: store.RoleMaintainer}, RuleNewRole},
		{"accept it with 2FA", invitee(TwoFactor{TOTP: true}), AcceptInvitation, Target{Project: critical, InviteeID: 2, Role: store.RoleOwner}, ""},
		{"decline without 2FA", invitee(TwoFactor{}), RespondInvitation, Target{Project: critical, InviteeID: 2, Role: store.RoleOwner}, ""},
		{"a role on a keys-only project to an app user", keyOwner, ManageRoles, Target{Project: keysOnly, Grantee: totpOnly, Role: store.RoleMaintainer}, RuleNewRole},
		{"a role on a keys-only project to a key holder", keyOwner, ManageRoles, Target{Project: keysOnly, Grantee: keyed, Role: store.RoleMaintainer}, ""},
		{"invite an app user to a keys-only project", keyOwner, ManageRoles, Target{Project: keysOnly, Grantee: totpOnly, Role: store.RoleMaintainer, Offer: true}, ""},
		{"accept a role on a keys-only project with an app", invitee(TwoFactor{TOTP: true}), AcceptInvitation, Target{Project: keysOnly, InviteeID: 2, Role: store.RoleMaintainer}, RuleNewRole},
		{"accept it with a key", invitee(TwoFactor{WebAuthn: true}), AcceptInvitation, Target{Project: keysOnly, InviteeID: 2, Role: store.RoleMaintainer}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Decide(context.Background(), tc.actor, tc.action, tc.target)
			var d *Denied
			got := ""
			if errors.As(err, &d) {
				got = d.Rule
			} else if err != nil {
				t.Fatal(err)
			}
			if got != tc.rule || (tc.rule == "") != (err == nil) {
				t.Errorf("Decide = %v (rule %q), want rule %q", err, got, tc.rule)
			}
		})
	}
}

// TestSetProject2FA is rule 2's switch: an Owner with a second factor turns the requirement on; turning it off is
// itself a change that the requirement holds; a critical project keeps it.
func TestSetProject2FA(t *testing.T) {
	roles := protectedRoles{
		fakeRoles: fakeRoles{{10, 1}: store.RoleOwner, {11, 1}: store.RoleOwner, {12, 1}: store.RoleOwner, {13, 1}: store.RoleOwner, {10, 2}: store.RoleMaintainer},
		prot:      map[int64]store.Protection{11: {CriticalSince: time.Unix(1, 0)}, 12: {Require2FA: true}, 13: {Require2FA: true, RequireWebAuthn: true}},
	}
	e, keysForCritical := New(roles), New(roles, CriticalRequiresKeys(true))
	normal := &store.Project{ID: 10, Name: "Normal", NormalizedName: "normal"}
	critical := &store.Project{ID: 11, Name: "Critical", NormalizedName: "critical"}
	opted := &store.Project{ID: 12, Name: "Opted", NormalizedName: "opted"}
	keysOnly := &store.Project{ID: 13, Name: "Keys", NormalizedName: "keys"}
	owner := func(tf TwoFactor) Actor {
		return Actor{User: store.User{ID: 1, Username: "owner"}, EmailVerified: true, Sudo: true, TwoFactor: tf}
	}
	withKey, without, withApp := owner(TwoFactor{WebAuthn: true}), owner(TwoFactor{}), owner(TwoFactor{TOTP: true})
	keySession := withKey
	keySession.KeySession = true
	maintainer := Actor{User: store.User{ID: 2, Username: "maint"}, EmailVerified: true, Sudo: true, TwoFactor: TwoFactor{TOTP: true}}
	const off, on, keys = "off", "on", "keys"
	for _, tc := range []struct {
		name    string
		engine  *Engine
		actor   Actor
		project *store.Project
		require string
		denied  string // "" = allowed
	}{
		{"an Owner with a key turns it on", e, withKey, normal, on, ""},
		{"an Owner without a factor cannot", e, without, normal, on, "Enable two-factor authentication for your own account"},
		{"a Maintainer cannot", e, maintainer, normal, on, "only the project's Owners may"},
		{"an Owner turns it off", e, withKey, opted, off, ""},
		{"an Owner without a factor cannot turn it off", e, without, opted, off, "requires two-factor authentication of its collaborators"},
		{"nobody turns it off on a critical project", e, withKey, critical, off, "stays required"},
		{"turning it on there is harmless", e, withKey, critical, on, ""},
		{"an Owner signed in with a key requires keys", e, keySession, normal, keys, ""},
		{"not from a session signed in otherwise", e, withKey, normal, keys, "Sign in with a security key or passkey"},
		{"nor with an app alone", e, withApp, normal, keys, "Sign in with a security key or passkey"},
		{"a critical project may require keys", e, keySession, critical, keys, ""},
		{"going back to any factor is a change the keys hold", e, withKey, keysOnly, on, "this session was not signed in with one"},
		{"from a key session it is allowed", e, keySession, keysOnly, on, ""},
		{"where the index requires keys of critical projects, they stay", keysForCritical, keySession, critical, on, "requires security keys or passkeys of its collaborators"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := Target{Project: tc.project, Name: tc.project.NormalizedName, Require2FA: tc.require != off, RequireWebAuthn: tc.require == keys}
			err := tc.engine.Decide(context.Background(), tc.actor, SetProject2FA, target)
			if tc.denied == "" {
				if err != nil {
					t.Fatalf("denied: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), tc.denied) {
				t.Fatalf("Decide = %v, want a denial saying %q", err, tc.denied)
			}
		})
	}
	if !FullyProtected([]store.Collaborator{{HasTOTP: true}, {HasWebAuthn: true}}) || FullyProtected(nil) ||
		FullyProtected([]store.Collaborator{{HasTOTP: true}, {}}) {
		t.Error("FullyProtected")
	}
	if !FullyProtectedCounts(2, 2) || FullyProtectedCounts(0, 0) || FullyProtectedCounts(2, 1) {
		t.Error("FullyProtectedCounts")
	}
}

// TestDenialsAreRecorded: every refusal of a change to a project is in the security history, naming its rule
// ("permission" for the rules of roles and credentials); reading a page whose forms are hidden and a missing
// password confirmation are not.
func TestDenialsAreRecorded(t *testing.T) {
	rec := &recorded{}
	e := New(fakeRoles{{10, 1}: store.RoleOwner, {10, 2}: store.RoleMaintainer}, Audit(rec))
	demo := &store.Project{ID: 10, Name: "Demo", NormalizedName: "demo"}
	target := Target{Project: demo, Name: "demo"}
	stranger := Actor{User: store.User{ID: 3, Username: "stranger"}, EmailVerified: true, Token: &TokenScope{ID: "t"}}
	maint := Actor{User: store.User{ID: 2, Username: "maint"}, EmailVerified: true, Sudo: true}
	owner := Actor{User: store.User{ID: 1, Username: "owner"}, EmailVerified: true}
	for _, tc := range []struct {
		name   string
		actor  Actor
		action Action
		want   string // "" = nothing recorded
	}{
		{"a stranger's upload", stranger, Upload, EventDenied + " user=3 project=10 upload refused by rule permission"},
		{"a Maintainer's deletion", maint, DeleteProject, EventDenied + " user=2 project=10 delete-project refused by rule permission"},
		{"a Maintainer reading the invitations", maint, ViewInvitations, ""},
		{"an Owner's deletion without a confirmation", owner, DeleteProject, ""},
		{"nobody's upload", Actor{}, Upload, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec.events = nil
			if err := e.Decide(context.Background(), tc.actor, tc.action, target); !errors.Is(err, ErrDenied) {
				t.Fatalf("Decide = %v, want a denial", err)
			}
			got := strings.Join(rec.events, "\n")
			if got != tc.want {
				t.Errorf("recorded %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDecideReport: any signed-in user with a verified address may report a project to the administrators, by
// the website only, whatever their role and second factors, and in read-only mode too.
func TestDecideReport(t *testing.T) {
	owner := store.User{ID: 1, Username: "owner"}
	stranger := store.User{ID: 3, Username: "stranger"}
	demo := &store.Project{ID: 10, Name: "Demo", NormalizedName: "demo"}
	roles := fakeRoles{{10, 1}: store.RoleOwner}
	for _, tc := range []struct {
		name   string
		engine *Engine
		actor  Actor
		target Target
		denied string // substring of the reason; "" = allowed
	}{
		{"a stranger reports", New(roles), Actor{User: stranger, EmailVerified: true}, Target{Project: demo}, ""},
		{"an Owner reports their own project", New(roles), Actor{User: owner, EmailVerified: true}, Target{Project: demo}, ""},
		{"in read-only mode", New(roles, ReadOnly(true)), Actor{User: stranger, EmailVerified: true}, Target{Project: demo}, ""},
		{"without a recent confirmation or a second factor", New(roles), Actor{User: stranger, EmailVerified: true, Sudo: false}, Target{Project: demo}, ""},
		{"an unverified account", New(roles), Actor{User: stranger}, Target{Project: demo}, "has no verified email address"},
		{"an API token", New(roles), Actor{User: stranger, EmailVerified: true, Token: &TokenScope{ID: "t"}}, Target{Project: demo}, "API tokens can only upload"},
		{"a Trusted Publisher", New(roles), PublisherActor(Publisher{TokenID: "tp"}), Target{Project: demo}, "can only upload"},
		{"nobody", New(roles), Actor{}, Target{Project: demo}, "authentication"},
		{"a disabled account", New(roles), Actor{User: store.User{ID: 3, Username: "stranger", Disabled: true}, EmailVerified: true}, Target{Project: demo}, "disabled"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.engine.Decide(context.Background(), tc.actor, ReportProject, tc.target)
			if tc.denied == "" {
				if err != nil {
					t.Fatalf("Decide = %v, want allowed", err)
				}
				return
			}
			if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), tc.denied) {
				t.Fatalf("Decide = %v, want a denial containing %q", err, tc.denied)
			}
		})
	}
	if err := New(roles).Decide(context.Background(), Actor{User: stranger, EmailVerified: true}, ReportProject, Target{}); err == nil || errors.Is(err, ErrDenied) {
		t.Errorf("a report without a project: %v, want an error that is not a denial", err)
	}
}
