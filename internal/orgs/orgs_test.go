package orgs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"wharf/internal/audit"
	"wharf/internal/orgs"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

type noIndex struct{}

func (noIndex) Invalidate(string) {}

// told records the mails the service asks for.
type told struct {
	mu    sync.Mutex
	mails []string // "to=1,2 text"
}

func (r *told) NotifyOrg(_ context.Context, to []int64, o store.Organization, text string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mails = append(r.mails, fmt.Sprintf("to=%v %s: %s", to, o.Name, text))
}

type fixture struct {
	t      *testing.T
	db     *store.DB
	svc    *orgs.Service
	told   *told
	policy *policy.Engine
	now    time.Time
	from   audit.Request
}

func engines(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			f := &fixture{t: t, db: e.Open(t), now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), from: audit.Request{IP: "192.0.2.3"}}
			clock := func() time.Time { return f.now }
			log := audit.New(f.db, clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
			f.policy = policy.New(f.db, policy.BaseURL("https://index.example"), policy.Audit(log))
			f.svc, f.told = orgs.New(f.db, f.policy, log, noIndex{}, clock, orgs.Options{}), &told{}
			f.svc.Notify(f.told)
			fn(t, f)
		})
	}
}

// user makes an account with a verified address, and an authenticator app when totp is set.
func (f *fixture) user(name string, totp bool) store.User {
	f.t.Helper()
	u := storetest.MustUser(f.t, f.db, name)
	if totp {
		ctx := context.Background()
		if err := f.db.PutTOTPPending(ctx, store.TOTPPending{UserID: u.ID, Sealed: []byte("s"), CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}); err != nil {
			f.t.Fatal(err)
		}
		if _, err := f.db.ActivateTOTP(ctx, u.ID, []byte("s"), 1, f.now); err != nil {
			f.t.Fatal(err)
		}
	}
	return u
}

// web is u's confirmed web session, as the policy sees it.
func (f *fixture) web(u store.User) policy.Actor {
	f.t.Helper()
	acct, err := f.db.AccountByID(context.Background(), u.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return policy.SessionActor(acct, policy.Session{Sudo: true})
}

// token is an API token of u, as the policy sees it.
func (f *fixture) token(u store.User) policy.Actor {
	f.t.Helper()
	acct, err := f.db.AccountByID(context.Background(), u.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return policy.TokenActor(acct, policy.TokenScope{ID: "t", CreatedAt: f.now.Add(time.Hour)})
}

func (f *fixture) project(name string, owner store.User) store.Project {
	f.t.Helper()
	res, err := f.db.AddFile(context.Background(), store.NewFile{ProjectName: name, NormalizedName: name, UltraName: pypkg.UltraNormalizeName(name),
		CreateProject: true, UploaderID: owner.ID, Version: "1.0", CanonicalVersion: "1", ReleaseMetadata: []byte(`{}`),
		Filename: name + "-1.0-py3-none-any.whl", PackageType: "bdist_wheel", PythonVersion: "py3", Size: 1,
		SHA256: "sha-" + name, MD5: "m", Blake2b256: "b-" + name, Now: f.now})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.Project
}

func (f *fixture) role(p store.Project, u store.User) string {
	f.t.Helper()
	r, err := f.db.RoleOf(context.Background(), p.ID, u.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// TestOrganizationRoles is the table of who may do what in an organization: Owners everything, Managers the
// teams, Members nothing but leaving; nobody without a second factor changes anything; an outsider nothing.
func TestOrganizationRoles(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner := f.user("owner", true)
		o, err := f.svc.Create(ctx, f.web(owner), "Acme", "Acme Corp", "", f.from)
		if err != nil {
			t.Fatal(err)
		}
		people := map[string]store.User{"owner": owner}
		for _, m := range []struct{ name, role string }{{"manager", store.OrgRoleManager}, {"member", store.OrgRoleMember}} {
			u := f.user(m.name, true)
			people[m.name] = u
			if err := f.svc.AddMember(ctx, policy.OperatorActor(store.User{}), "acme", m.name, m.role, f.from); err != nil {
				t.Fatal(err)
			}
		}
		people["outsider"] = f.user("outsider", true)
		bare := f.user("bare", false)
		if err := f.db.SetOrgMember(ctx, o.ID, bare.ID, store.OrgRoleOwner, f.now); err != nil {
			t.Fatal(err)
		}
		people["owner without 2FA"] = bare
		f.user("invitee", true)

		type op struct {
			name string
			do   func(a policy.Actor) error
		}
		n := 0
		ops := []op{
			{"invite", func(a policy.Actor) error {
				n++
				return f.svc.Invite(ctx, a, "acme", "invitee", store.OrgRoleMember, f.from)
			}},
			{"create a team", func(a policy.Actor) error {
				n++
				_, err := f.svc.CreateTeam(ctx, a, "acme", fmt.Sprintf("team%d", n), f.from)
				return err
			}},
			{"change the settings", func(a policy.Actor) error {
				return f.svc.UpdateSettings(ctx, a, "acme", orgs.Settings{DisplayName: "Acme"}, f.from)
			}},
			{"see the members", func(a policy.Actor) error {
				_, err := f.svc.Show(ctx, a, "acme")
				return err
			}},
			{"see the history", func(a policy.Actor) error {
				_, err := f.svc.History(ctx, a, "acme", 10)
				return err
			}},
		}
		want := map[string]map[string]bool{
			"owner":             {"invite": true, "create a team": true, "change the settings": true, "see the members": true, "see the history": true},
			"manager":           {"create a team": true, "see the members": true},
			"member":            {"see the members": true},
			"outsider":          {},
			"owner without 2FA": {"see the members": true, "see the history": true},
		}
		for who, u := range people {
			for _, o := range ops {
				err := o.do(f.web(u))
				if err != nil && !errors.Is(err, policy.ErrDenied) {
					t.Fatalf("%s: %s: %v", who, o.name, err)
				}
				if got := err == nil; got != want[who][o.name] {
					t.Errorf("%s may %s: %v, want %v (%v)", who, o.name, got, want[who][o.name], err)
				}
			}
			// An API token never changes an organization.
			if err := f.svc.Invite(ctx, f.token(u), "acme", "invitee", store.OrgRoleMember, f.from); !errors.Is(err, policy.ErrDenied) {
				t.Errorf("%s's token invited: %v", who, err)
			}
		}
	})
}

// TestMembership: invitations are accepted by the invitee only, members leave, and the last Owner stays.
func TestMembership(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner, carol, dave := f.user("owner", true), f.user("carol", true), f.user("dave", true)
		if _, err := f.svc.Create(ctx, f.web(owner), "acme", "", "", f.from); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Create(ctx, f.web(carol), "owner", "", "", f.from); err == nil || !strings.Contains(err.Error(), "taken") {
			t.Errorf("an organization took a user's name: %v", err)
		}
		if err := f.svc.Invite(ctx, f.web(owner), "acme", "carol", store.OrgRoleManager, f.from); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Answer(ctx, f.web(dave), "acme", true, f.from); !errors.Is(err, orgs.ErrNoInvitation) {
			t.Errorf("dave accepted carol's invitation: %v", err)
		}
		if err := f.svc.Answer(ctx, f.web(carol), "acme", true, f.from); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Invite(ctx, f.web(owner), "acme", "carol", store.OrgRoleOwner, f.from); !errors.Is(err, orgs.ErrAlreadyMember) {
			t.Errorf("inviting a member: %v", err)
		}
		if err := f.svc.Leave(ctx, f.web(owner), "acme", f.from); !errors.Is(err, orgs.ErrLastOwner) {
			t.Errorf("the last Owner left: %v", err)
		}
		if err := f.svc.ChangeRole(ctx, f.web(owner), "acme", "owner", store.OrgRoleMember, f.from); !errors.Is(err, orgs.ErrLastOwner) {
			t.Errorf("the last Owner stepped down: %v", err)
		}
		if err := f.svc.ChangeRole(ctx, f.web(owner), "acme", "carol", store.OrgRoleOwner, f.from); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Leave(ctx, f.web(owner), "acme", f.from); err != nil {
			t.Errorf("an Owner with another Owner left: %v", err)
		}
		h, err := f.svc.History(ctx, f.web(carol), "acme", 20)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, e := range h {
			kinds = append(kinds, e.Kind)
		}
		for _, k := range []string{orgs.EventCreated, orgs.EventInvited, orgs.EventJoined, orgs.EventRoleChanged, orgs.EventLeft} {
			if !strings.Contains(strings.Join(kinds, " "), k) {
				t.Errorf("the history lacks %s: %v", k, kinds)
			}
		}
		mails := strings.Join(f.told.mails, "\n")
		for _, want := range []string{
			fmt.Sprintf("to=[%d] acme: owner invited carol to the organization as Manager.", owner.ID),
			fmt.Sprintf("to=[%d] acme: carol joined as Manager.", owner.ID),
			fmt.Sprintf("to=[%d %d] acme: owner made carol an Owner of the organization.", carol.ID, owner.ID),
			fmt.Sprintf("to=[%d] acme: owner left the organization.", carol.ID),
		} {
			if !strings.Contains(mails, want) {
				t.Errorf("no mail %q in:\n%s", want, mails)
			}
		}
		// Belonging to an organization counts as maintaining, for the mandate and the last factor.
		if n, err := f.db.RoleCount(ctx, carol.ID); err != nil || n != 1 {
			t.Errorf("carol's role count %d, %v", n, err)
		}
	})
}

// TestGrantsFollowTheProject: the organization's Owners and its teams act on its projects while they are in it,
// and not a moment after it leaves (K7); a project moved out keeps an Owner.
func TestGrantsFollowTheProject(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner, dev, author := f.user("owner", true), f.user("dev", true), f.user("author", true)
		if _, err := f.svc.Create(ctx, f.web(owner), "acme", "", "", f.from); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"dev", "author"} {
			if err := f.svc.AddMember(ctx, policy.OperatorActor(store.User{}), "acme", u, store.OrgRoleMember, f.from); err != nil {
				t.Fatal(err)
			}
		}
		p := f.project("widget", author)
		if err := f.svc.MoveIn(ctx, f.web(owner), "acme", "widget", f.from); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("an Owner of the organization moved in a project they do not own: %v", err)
		}
		if err := f.svc.MoveIn(ctx, f.web(author), "acme", "widget", f.from); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("a Member moved a project in: %v", err)
		}
		// The project changes hands: the organization's Owner becomes its only Owner of its own.
		if err := f.db.AddRole(ctx, p.ID, owner.ID, store.RoleOwner, f.now); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.RemoveRole(ctx, p.ID, author.ID, 0, f.now); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.MoveIn(ctx, f.web(owner), "acme", "widget", f.from); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CreateTeam(ctx, f.web(owner), "acme", "devs", f.from); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.SetTeamMember(ctx, f.web(owner), "acme", "devs", "dev", true, f.from); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.SetTeamGrant(ctx, f.web(owner), "acme", "devs", "widget", store.RoleMaintainer, f.from); err != nil {
			t.Fatal(err)
		}
		if got := f.role(p, dev); got != store.RoleMaintainer {
			t.Fatalf("the team's member is %q of the project", got)
		}
		if err := f.policy.Decide(ctx, f.token(dev), policy.Upload, policy.Target{Project: &p, Name: "widget"}); err != nil {
			t.Errorf("the team's member cannot upload: %v", err)
		}
		// An organization Owner is an Owner of its projects.
		if err := f.svc.ChangeRole(ctx, policy.OperatorActor(store.User{}), "acme", "author", store.OrgRoleOwner, f.from); err != nil {
			t.Fatal(err)
		}
		if got := f.role(p, author); got != store.RoleOwner {
			t.Errorf("an organization Owner is %q of its project", got)
		}
		// What each may do on the project follows: an organization Owner deletes it, a team's Maintainer does not.
		target := policy.Target{Project: &p, Name: "widget"}
		if err := f.policy.Decide(ctx, f.web(author), policy.DeleteProject, target); err != nil {
			t.Errorf("an organization Owner cannot delete its project: %v", err)
		}
		if err := f.policy.Decide(ctx, f.web(dev), policy.DeleteProject, target); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("a team's Maintainer deleted the project: %v", err)
		}
		if err := f.policy.Decide(ctx, f.web(dev), policy.ViewReleases, target); err != nil {
			t.Errorf("a team's Maintainer cannot see the releases: %v", err)
		}

		if err := f.svc.MoveOut(ctx, f.web(dev), "acme", "widget", f.from); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("a Member moved a project out: %v", err)
		}
		if err := f.svc.MoveOut(ctx, f.web(author), "acme", "widget", f.from); err != nil {
			t.Fatal(err)
		}
		for who, u := range map[string]store.User{"the team's member": dev, "an organization Owner": author} {
			if got := f.role(p, u); got != "" {
				t.Errorf("%s is still %q of the project that left", who, got)
			}
		}
		if err := f.policy.Decide(ctx, f.token(dev), policy.Upload, policy.Target{Project: &p, Name: "widget"}); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("the team's member still uploads: %v", err)
		}
		if got := f.role(p, owner); got != store.RoleOwner {
			t.Errorf("the project's own Owner is %q after the move", got)
		}
		if grants, _ := f.db.TeamGrants(ctx, 1); len(grants) != 0 {
			t.Errorf("team grants survived the move: %+v", grants)
		}
		if err := f.svc.SetTeamGrant(ctx, f.web(owner), "acme", "devs", "widget", store.RoleMaintainer, f.from); !errors.Is(err, orgs.ErrNotInOrg) {
			t.Errorf("a team was given a project outside the organization: %v", err)
		}
	})
}

// TestOrganizationRequires2FA: once the Owners require it, a member without a second factor cannot upload to
// the organization's projects (by any grant), is listed for the Owners, and uploads again once enrolled; the
// settings hold every project of the organization.
func TestOrganizationRequires2FA(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner, dev := f.user("owner", true), f.user("dev", false)
		if _, err := f.svc.Create(ctx, f.web(owner), "acme", "", "", f.from); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.AddMember(ctx, policy.OperatorActor(store.User{}), "acme", "dev", store.OrgRoleMember, f.from); err != nil {
			t.Fatal(err)
		}
		p := f.project("widget", owner)
		if err := f.svc.MoveIn(ctx, f.web(owner), "acme", "widget", f.from); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.CreateTeam(ctx, f.web(owner), "acme", "devs", f.from); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.SetTeamMember(ctx, f.web(owner), "acme", "devs", "dev", true, f.from); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.SetTeamGrant(ctx, f.web(owner), "acme", "devs", "widget", store.RoleMaintainer, f.from); err != nil {
			t.Fatal(err)
		}
		upload := func() error {
			return f.policy.Decide(ctx, f.token(dev), policy.Upload, policy.Target{Project: &p, Name: "widget"})
		}
		if err := upload(); err != nil {
			t.Fatalf("before the requirement: %v", err)
		}
		if err := f.svc.UpdateSettings(ctx, f.web(owner), "acme", orgs.Settings{Require2FA: true, TrustedPublishingOnly: false}, f.from); err != nil {
			t.Fatal(err)
		}
		var d *policy.Denied
		if err := upload(); !errors.As(err, &d) || d.Rule != policy.RuleOrgRequires2FA || !strings.Contains(d.Reason, "organization 'acme'") {
			t.Fatalf("a member without 2FA under the requirement: %v", err)
		}
		v, err := f.svc.Show(ctx, f.web(owner), "acme")
		if err != nil || len(v.Unprotected) != 1 || v.Unprotected[0].Username != "dev" {
			t.Errorf("the unprotected members: %+v %v", v.Unprotected, err)
		}
		f.now = f.now.Add(time.Minute)
		if err := f.db.PutTOTPPending(ctx, store.TOTPPending{UserID: dev.ID, Sealed: []byte("s"), CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.ActivateTOTP(ctx, dev.ID, []byte("s"), 1, f.now); err != nil {
			t.Fatal(err)
		}
		if err := f.policy.Decide(ctx, policy.TokenActor(mustAccount(t, f, dev), policy.TokenScope{ID: "new", CreatedAt: f.now.Add(time.Hour)}),
			policy.Upload, policy.Target{Project: &p, Name: "widget"}); err != nil {
			t.Errorf("after enrolling: %v", err)
		}
		// Requiring keys asks the Owner to have one first.
		if err := f.svc.UpdateSettings(ctx, f.web(owner), "acme", orgs.Settings{RequireWebAuthn: true}, f.from); !errors.Is(err, policy.ErrDenied) ||
			!strings.Contains(err.Error(), "Add a security key or passkey to your own account") {
			t.Errorf("an Owner without a key required keys: %v", err)
		}
		// The organization's switches hold its projects.
		if err := f.svc.UpdateSettings(ctx, f.web(owner), "acme", orgs.Settings{Require2FA: true, TrustedPublishingOnly: true, Staging: store.StageCI}, f.from); err != nil {
			t.Fatal(err)
		}
		prot, err := f.db.ProjectProtection(ctx, p.ID)
		if err != nil || !f.policy.TrustedPublishingOnly(prot) || prot.OrgStaging != store.StageCI {
			t.Errorf("the organization's switches on its project: %+v %v", prot, err)
		}
		if staged, err := f.policy.Stages(ctx, policy.PublisherActor(policy.Publisher{TokenID: "t"}), &p); err != nil || !staged {
			t.Errorf("the organization's staging: %v %v", staged, err)
		}
	})
}

func mustAccount(t *testing.T, f *fixture, u store.User) store.Account {
	t.Helper()
	a, err := f.db.AccountByID(context.Background(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestEarlyEnforcementOfAnOrganization: naming an organization puts its members, and its projects, under the
// mandate's enforce phase early.
func TestEarlyEnforcementOfAnOrganization(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner, outsider := f.user("owner", true), f.user("outsider", false)
		o, err := f.svc.Create(ctx, f.web(owner), "acme", "", "", f.from)
		if err != nil {
			t.Fatal(err)
		}
		p := f.project("widget", owner)
		if err := f.svc.MoveIn(ctx, f.web(owner), "acme", "widget", f.from); err != nil {
			t.Fatal(err)
		}
		lone := f.project("lone", outsider)
		if _, err := f.db.EnforceEarly(ctx, store.EarlyOrg, o.ID, "audit", f.now); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name          string
			user, project int64
			want          bool
		}{
			{"a member", owner.ID, 0, true},
			{"an outsider on the organization's project", outsider.ID, p.ID, true},
			{"an outsider on another project", outsider.ID, lone.ID, false},
		} {
			if got, err := f.db.EarlyEnforced(ctx, tc.user, tc.project); err != nil || got != tc.want {
				t.Errorf("%s: %v, %v; want %v", tc.name, got, err, tc.want)
			}
		}
		list, err := f.db.EarlyEnforcements(ctx)
		if err != nil || len(list) != 1 || list[0].Kind != store.EarlyOrg || list[0].Name != "acme" {
			t.Errorf("early enforcements: %+v %v", list, err)
		}
	})
}

// TestApproval: where administrators approve new organizations, a user's waits, usable by nobody, until one does.
func TestApproval(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		log := audit.New(f.db, func() time.Time { return f.now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
		svc := orgs.New(f.db, f.policy, log, noIndex{}, func() time.Time { return f.now }, orgs.Options{RequireApproval: true})
		owner, admin := f.user("owner", true), f.user("admin", true)
		o, err := svc.Create(ctx, f.web(owner), "acme", "", "", f.from)
		if err != nil || !o.ApprovedAt.IsZero() {
			t.Fatalf("create: %+v %v", o, err)
		}
		if _, err := svc.CreateTeam(ctx, f.web(owner), "acme", "devs", f.from); err == nil || !strings.Contains(err.Error(), "waits for an administrator's approval") {
			t.Errorf("a team in an organization waiting for approval: %v", err)
		}
		if err := svc.Approve(ctx, f.web(owner), "acme", f.from); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("the requester approved their own organization: %v", err)
		}
		if err := f.db.SetAdmin(ctx, admin.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := svc.Approve(ctx, f.web(admin), "acme", f.from); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.CreateTeam(ctx, f.web(owner), "acme", "devs", f.from); err != nil {
			t.Errorf("after approval: %v", err)
		}
	})
}
