package publishing_test

import (
	"bytes"
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
	"wharf/internal/oidc/oidctest"
	"wharf/internal/policy"
	"wharf/internal/publishing"
	"wharf/internal/pypkg"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
	"wharf/internal/tokens"
)

// fixture is Trusted Publishing on a real, migrated database, with the real policy engine and token service, and
// a local issuer with real keys that plays GitHub Actions' (and GitLab's) issuer.
type fixture struct {
	t      *testing.T
	db     *store.DB
	svc    *publishing.Service
	tokens *tokens.Service
	policy *policy.Engine
	issuer *oidctest.Issuer
	gitlab *oidctest.Issuer
	now    time.Time
	owner  store.User
	from   audit.Request
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	f := &fixture{t: t, db: db, now: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), from: audit.Request{IP: "192.0.2.1"}}
	clock := func() time.Time { return f.now }
	f.issuer = oidctest.New(t, oidctest.WithClock(clock))
	f.gitlab = oidctest.New(t, oidctest.WithClock(clock))
	log := audit.New(db, clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	f.policy = policy.New(db, policy.BaseURL("https://index.example"), policy.Audit(log))
	minter, err := tokens.NewMinter(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	f.tokens = tokens.NewService(minter, db, log, clock)
	f.svc = publishing.New(db, f.policy, minter, log, clock, publishing.Options{Audience: oidctest.Audience,
		Builtin: map[string]string{f.issuer.URL(): publishing.GitHub, f.gitlab.URL(): publishing.GitLab}})
	f.owner = f.userWithTOTP("owner")
	return f
}

func engines(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, e := range storetest.Engines(t) {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			fn(t, newFixture(t, e.Open(t)))
		})
	}
}

func (f *fixture) userWithTOTP(name string) store.User {
	f.t.Helper()
	u := storetest.MustUser(f.t, f.db, name)
	ctx := context.Background()
	if err := f.db.PutTOTPPending(ctx, store.TOTPPending{UserID: u.ID, Sealed: []byte("s"), CreatedAt: f.now, ExpiresAt: f.now.Add(time.Hour)}); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.db.ActivateTOTP(ctx, u.ID, []byte("s"), 1, f.now); err != nil {
		f.t.Fatal(err)
	}
	return u
}

// actor is u's web session, confirmed a moment ago.
func (f *fixture) actor(u store.User) policy.Actor {
	f.t.Helper()
	acct, err := f.db.AccountByID(context.Background(), u.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return policy.SessionActor(acct, policy.Session{Sudo: true})
}

// project creates a project owned by owner, with one file.
func (f *fixture) project(name string, owner store.User) store.Project {
	f.t.Helper()
	res, err := f.db.AddFile(context.Background(), store.NewFile{
		ProjectName: name, NormalizedName: pypkg.NormalizeName(name), UltraName: pypkg.UltraNormalizeName(name),
		CreateProject: true, UploaderID: owner.ID, Version: "1.0", CanonicalVersion: "1", ReleaseMetadata: []byte(`{}`),
		Filename: name + "-1.0-py3-none-any.whl", PackageType: "bdist_wheel", PythonVersion: "py3",
		Size: 10, SHA256: "sha-" + name, MD5: "m", Blake2b256: "b-" + name, Now: f.now,
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.Project
}

var github = publishing.Spec{Kind: publishing.GitHub, Fields: map[string]string{
	"owner": "Owner", "repository": "Repo", "owner_id": "1234567", "workflow": "release.yml"}}

func (f *fixture) mint(claims map[string]any) (publishing.Minted, error) {
	return f.svc.Mint(context.Background(), f.issuer.Mint(claims), f.from)
}

func mintCode(err error) string {
	var me *publishing.MintError
	if errors.As(err, &me) {
		return me.Code
	}
	return fmt.Sprintf("not a refusal: %v", err)
}

// TestMintAndUpload: a job of the registered workflow exchanges its token once, for a token that uploads to the
// publisher's project and nothing else; the same OIDC token a second time is refused.
func TestMintAndUpload(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		demo, other := f.project("demo", f.owner), f.project("other", f.owner)
		if _, err := f.svc.Add(ctx, f.actor(f.owner), demo, github, f.from); err != nil {
			t.Fatal(err)
		}
		jwt := f.issuer.Mint(f.issuer.GitHubClaims(nil))
		minted, err := f.svc.Mint(ctx, jwt, f.from)
		if err != nil {
			t.Fatalf("Mint: %v", err)
		}
		if !minted.Expires.Equal(f.now.Add(15*time.Minute)) || !strings.HasPrefix(minted.Token, "wharf-A") {
			t.Errorf("minted %q expiring %v", minted.Token[:12], minted.Expires)
		}
		actor, err := f.tokens.Verify(ctx, minted.Token)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if actor.Publisher == nil || !strings.Contains(actor.Publisher.Identity, "GitHub repository owner/repo, workflow release.yml") ||
			!strings.Contains(actor.Publisher.Identity, "ref refs/tags/v1") {
			t.Fatalf("actor %+v", actor.Publisher)
		}
		if err := f.policy.Decide(ctx, actor, policy.Upload, policy.Target{Project: &demo, Name: "demo"}); err != nil {
			t.Errorf("upload to its project: %v", err)
		}
		if err := f.policy.Decide(ctx, actor, policy.Upload, policy.Target{Project: &other, Name: "other"}); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("upload to another project: %v", err)
		}
		if err := f.policy.Decide(ctx, actor, policy.Yank, policy.Target{Project: &demo, Name: "demo"}); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("yank with a publisher token: %v", err)
		}
		if _, err := f.svc.Mint(ctx, jwt, f.from); mintCode(err) != publishing.CodeInvalidToken || !strings.Contains(err.Error(), "exchanged already") {
			t.Errorf("replay: %v", err)
		}
		// A minted token found in public is revoked at once (K9), though it would expire in minutes.
		leaked, err := f.svc.Mint(ctx, f.issuer.Mint(f.issuer.GitHubClaims(nil)), f.from)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.tokens.RevokeLeaked(ctx, leaked.Token, "https://gist.example/1", f.from); err != nil {
			t.Fatal(err)
		}
		if _, err := f.tokens.Verify(ctx, leaked.Token); err == nil || !strings.Contains(err.Error(), "revoked") {
			t.Errorf("a leaked minted token: %v", err)
		}
		// Removing the publisher ends its tokens at once.
		pubs, _ := f.svc.Publishers(ctx, demo.ID)
		if err := f.svc.Remove(ctx, f.actor(f.owner), demo, pubs[0].ID, f.from); err != nil {
			t.Fatal(err)
		}
		if _, err := f.tokens.Verify(ctx, minted.Token); err == nil || !strings.Contains(err.Error(), "removed") {
			t.Errorf("token of a removed publisher: %v", err)
		}
		// 15 minutes later it has expired anyway.
		f.now = f.now.Add(16 * time.Minute)
		if _, err := f.tokens.Verify(ctx, minted.Token); err == nil {
			t.Error("an expired minted token verified")
		}
	})
}

// TestMintRefusals: every way a valid-looking token fails to be the registered publisher's job.
func TestMintRefusals(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		demo := f.project("demo", f.owner)
		withEnv := publishing.Spec{Kind: publishing.GitHub, Fields: map[string]string{
			"owner": "owner", "repository": "envrepo", "owner_id": "1234567", "workflow": "release.yml", "environment": "PyPI"}}
		withReusable := publishing.Spec{Kind: publishing.GitHub, Fields: map[string]string{
			"owner": "owner", "repository": "reuse", "owner_id": "1234567", "workflow": "release.yml",
			"reusable_workflow": "org/shared/.github/workflows/publish.yml"}}
		for _, s := range []publishing.Spec{github, withEnv, withReusable} {
			if _, err := f.svc.Add(ctx, f.actor(f.owner), demo, s, f.from); err != nil {
				t.Fatal(err)
			}
		}
		gh := f.issuer.GitHubClaims
		for _, tc := range []struct {
			name   string
			claims map[string]any
			code   string
			why    string
		}{
			{"another repository", gh(map[string]any{"repository": "owner/elsewhere"}), publishing.CodeInvalidPublisher, "no project has a Trusted Publisher"},
			{"another owner id", gh(map[string]any{"repository_owner_id": "999"}), publishing.CodeInvalidPublisher, "renamed or re-created"},
			{"another workflow", gh(map[string]any{"workflow_ref": "owner/repo/.github/workflows/ci.yml@refs/tags/v1"}), publishing.CodeInvalidPublisher, "workflow"},
			{"the workflow's name in another case", gh(map[string]any{"workflow_ref": "owner/repo/.github/workflows/Release.yml@refs/tags/v1"}), publishing.CodeInvalidPublisher, "workflow"},
			{"an unnamed reusable workflow", gh(map[string]any{"job_workflow_ref": "evil/lib/.github/workflows/x.yml@main"}), publishing.CodeInvalidPublisher, "reusable workflow"},
			{"another environment", gh(map[string]any{"repository": "owner/envrepo", "environment": "test"}), publishing.CodeInvalidPublisher, "environment"},
			{"no environment", gh(map[string]any{"repository": "owner/envrepo"}), publishing.CodeInvalidPublisher, "environment"},
			{"another reusable workflow", gh(map[string]any{"repository": "owner/reuse", "job_workflow_ref": "org/other/.github/workflows/publish.yml@v1"}), publishing.CodeInvalidPublisher, "reusable workflow"},
			{"pull_request_target", gh(map[string]any{"event_name": "pull_request_target"}), publishing.CodeInvalidPublisher, "pull_request_target"},
			{"no sha", gh(map[string]any{"sha": nil}), publishing.CodeInvalidPublisher, "sha"},
			{"no ref", gh(map[string]any{"ref": nil}), publishing.CodeInvalidPublisher, "ref"},
			{"no jti", gh(map[string]any{"jti": nil}), publishing.CodeInvalidToken, "jti"},
			{"another audience", gh(map[string]any{"aud": "pypi"}), publishing.CodeInvalidToken, "audience"},
			{"two audiences", gh(map[string]any{"aud": []string{oidctest.Audience, "pypi"}}), publishing.CodeInvalidToken, "audience"},
			{"expired", gh(map[string]any{"exp": f.now.Add(-time.Hour).Unix(), "iat": f.now.Add(-2 * time.Hour).Unix()}), publishing.CodeInvalidToken, "expired"},
			{"an unknown issuer", gh(map[string]any{"iss": "https://ci.example.org"}), publishing.CodeInvalidToken, "not one this index trusts"},
		} {
			_, err := f.mint(tc.claims)
			if mintCode(err) != tc.code || !strings.Contains(err.Error(), tc.why) {
				t.Errorf("%s: %v, want %s mentioning %q", tc.name, err, tc.code, tc.why)
			}
		}
		// The right environment (GitHub compares environments without case) and the named reusable workflow pass.
		if _, err := f.mint(gh(map[string]any{"repository": "owner/envrepo", "environment": "pypi"})); err != nil {
			t.Errorf("the publisher's environment: %v", err)
		}
		if _, err := f.mint(gh(map[string]any{"repository": "owner/reuse", "job_workflow_ref": "org/shared/.github/workflows/publish.yml@v1"})); err != nil {
			t.Errorf("the named reusable workflow: %v", err)
		}
	})
}

// TestMintOnce: twenty exchanges of one OIDC token at once give exactly one wharf token.
func TestMintOnce(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		demo := f.project("demo", f.owner)
		if _, err := f.svc.Add(ctx, f.actor(f.owner), demo, github, f.from); err != nil {
			t.Fatal(err)
		}
		jwt := f.issuer.Mint(f.issuer.GitHubClaims(nil))
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, replays := 0, 0
		for range 20 {
			wg.Go(func() {
				_, err := f.svc.Mint(ctx, jwt, f.from)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case mintCode(err) == publishing.CodeInvalidToken:
					replays++
				default:
					t.Errorf("Mint: %v", err)
				}
			})
		}
		wg.Wait()
		if won != 1 || replays != 19 {
			t.Errorf("%d tokens and %d replays refused, want 1 and 19", won, replays)
		}
	})
}

// TestPendingPublisher: a pending publisher creates its project on the first publish, for the account that
// registered it, and becomes the project's publisher; names no upload could take are refused, and another's
// pending publisher of the same name is dropped.
func TestPendingPublisher(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		f.project("taken", f.owner)
		for _, name := range []string{"taken", "os", "requirements.txt", "-bad-"} {
			if _, err := f.svc.AddPending(ctx, f.actor(f.owner), name, github, f.from); err == nil {
				t.Errorf("a pending publisher for %q was accepted", name)
			}
		}
		rival := f.userWithTOTP("rival")
		if _, err := f.svc.AddPending(ctx, f.actor(rival), "Fresh.Project", publishing.Spec{Kind: publishing.GitHub,
			Fields: map[string]string{"owner": "rival", "repository": "fresh", "owner_id": "42", "workflow": "release.yml"}}, f.from); err != nil {
			t.Fatal(err)
		}
		pending, err := f.svc.AddPending(ctx, f.actor(f.owner), "Fresh.Project", github, f.from)
		if err != nil {
			t.Fatal(err)
		}
		if pending.PendingName != "fresh-project" || !pending.ExpiresAt.Equal(f.now.Add(30*24*time.Hour)) {
			t.Errorf("pending publisher %+v", pending)
		}
		minted, err := f.mint(f.issuer.GitHubClaims(nil))
		if err != nil {
			t.Fatal(err)
		}
		actor, err := f.tokens.Verify(ctx, minted.Token)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.policy.Decide(ctx, actor, policy.CreateProject, policy.Target{Name: "fresh-project"}); err != nil {
			t.Fatalf("create the pending publisher's project: %v", err)
		}
		if err := f.policy.Decide(ctx, actor, policy.CreateProject, policy.Target{Name: "something-else"}); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("create another project: %v", err)
		}
		ownerID, pendingID := policy.Creator(actor, "fresh-project")
		if ownerID != f.owner.ID || pendingID != pending.ID {
			t.Fatalf("creator %d %d", ownerID, pendingID)
		}
		res, err := f.db.AddFile(ctx, store.NewFile{ProjectName: "Fresh.Project", NormalizedName: "fresh-project",
			UltraName: "freshproject", CreateProject: true, OwnerID: ownerID, PendingPublisherID: pendingID,
			PublisherTokenID: actor.Publisher.TokenID, Version: "1.0", CanonicalVersion: "1", ReleaseMetadata: []byte(`{}`),
			Filename: "fresh_project-1.0-py3-none-any.whl", PackageType: "bdist_wheel", PythonVersion: "py3",
			Size: 10, SHA256: "sha-fresh", MD5: "m", Blake2b256: "b-fresh", Now: f.now})
		if err != nil {
			t.Fatal(err)
		}
		if role, _ := f.db.RoleOf(ctx, res.Project.ID, f.owner.ID); role != store.RoleOwner {
			t.Errorf("the registrant's role is %q", role)
		}
		pubs, _ := f.svc.Publishers(ctx, res.Project.ID)
		if len(pubs) != 1 || pubs[0].ID != pending.ID || pubs[0].Pending() {
			t.Errorf("publishers of the new project: %+v", pubs)
		}
		if left, _ := f.svc.Pending(ctx, rival.ID); len(left) != 0 {
			t.Errorf("the rival's pending publisher of a taken name was kept: %+v", left)
		}
		// The same token's next file (the sdist after the wheel) goes to the project that now exists.
		actor, err = f.tokens.Verify(ctx, minted.Token)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.policy.Decide(ctx, actor, policy.Upload, policy.Target{Project: &res.Project, Name: "fresh-project"}); err != nil {
			t.Errorf("the second file: %v", err)
		}
		f2, err := f.db.FileByFilename(ctx, "fresh_project-1.0-py3-none-any.whl")
		if err != nil || !strings.Contains(f2.PublisherIdentity, `"repository":"owner/repo"`) {
			t.Errorf("the file's publisher: %+v %v", f2.PublisherIdentity, err)
		}
	})
}

// TestExpiredPendingPublisher: a pending publisher past its time matches nothing.
func TestExpiredPendingPublisher(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		if _, err := f.svc.AddPending(context.Background(), f.actor(f.owner), "later", github, f.from); err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(31 * 24 * time.Hour)
		if _, err := f.mint(f.issuer.GitHubClaims(nil)); mintCode(err) != publishing.CodeInvalidPublisher {
			t.Errorf("an expired pending publisher: %v", err)
		}
	})
}

// TestGitLabAndRegisteredIssuers: GitLab's project and CI file, and an issuer an administrator registered with one
// open and one fixed claim.
func TestGitLabAndRegisteredIssuers(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		demo := f.project("demo", f.owner)
		if _, err := f.svc.Add(ctx, f.actor(f.owner), demo, publishing.Spec{Kind: publishing.GitLab, Fields: map[string]string{
			"namespace": "ns", "project": "proj", "ci_config_path": ".gitlab-ci.yml"}}, f.from); err != nil {
			t.Fatal(err)
		}
		host := strings.TrimPrefix(f.gitlab.URL(), "http://")
		good := f.gitlab.GitLabClaims(map[string]any{"ci_config_ref_uri": host + "/ns/proj//.gitlab-ci.yml@refs/heads/main"})
		if _, err := f.svc.Mint(ctx, f.gitlab.Mint(good), f.from); err != nil {
			t.Errorf("GitLab: %v", err)
		}
		other := f.gitlab.GitLabClaims(map[string]any{"ci_config_ref_uri": host + "/ns/proj//deploy.yml@refs/heads/main"})
		if _, err := f.svc.Mint(ctx, f.gitlab.Mint(other), f.from); mintCode(err) != publishing.CodeInvalidPublisher {
			t.Errorf("GitLab, another CI file: %v", err)
		}

		forgejo := oidctest.New(t, oidctest.WithClock(func() time.Time { return f.now }))
		is, err := publishing.NewIssuer("forgejo", forgejo.URL(), map[string]string{"repository": "", "runner_environment": "self-hosted"}, f.now)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.AddIssuer(ctx, is); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Add(ctx, f.actor(f.owner), demo, publishing.Spec{Kind: publishing.Custom, Issuer: "forgejo",
			Fields: map[string]string{"repository": "team/app"}}, f.from); err != nil {
			t.Fatal(err)
		}
		claims := func(repo, runner string) map[string]any {
			return map[string]any{"iss": forgejo.URL(), "aud": oidctest.Audience, "sub": "repo:" + repo, "jti": repo + runner,
				"iat": f.now.Unix(), "exp": f.now.Add(5 * time.Minute).Unix(), "repository": repo, "runner_environment": runner}
		}
		if _, err := f.svc.Mint(ctx, forgejo.Mint(claims("team/app", "self-hosted")), f.from); err != nil {
			t.Errorf("registered issuer: %v", err)
		}
		for _, c := range []map[string]any{claims("team/other", "self-hosted"), claims("team/app", "cloud")} {
			if _, err := f.svc.Mint(ctx, forgejo.Mint(c), f.from); mintCode(err) != publishing.CodeInvalidPublisher {
				t.Errorf("registered issuer, %v: %v", c, err)
			}
		}
		if _, err := publishing.NewIssuer("closed", "https://ci.example.org", map[string]string{"runner": "x"}, f.now); err == nil {
			t.Error("an issuer without an open claim was accepted")
		}
		if _, err := publishing.NewIssuer("plain", "http://ci.example.org", map[string]string{"repository": ""}, f.now); err == nil {
			t.Error("an http issuer off the loopback was accepted")
		}
	})
}

// TestTrustedPublishingOnly: once an Owner switches it on, users' tokens no longer upload, and publishers still do;
// setting it up needs a second factor.
func TestTrustedPublishingOnly(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		demo := f.project("demo", f.owner)
		if _, err := f.svc.Add(ctx, f.actor(f.owner), demo, github, f.from); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.SetTrustedPublishingOnly(ctx, f.actor(f.owner), demo, true, f.from); err != nil {
			t.Fatal(err)
		}
		token, _, err := f.tokens.Create(ctx, f.owner, "laptop", nil, time.Time{}, f.from)
		if err != nil {
			t.Fatal(err)
		}
		user, err := f.tokens.Verify(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		err = f.policy.Decide(ctx, user, policy.Upload, policy.Target{Project: &demo, Name: "demo"})
		var d *policy.Denied
		if !errors.As(err, &d) || d.Rule != policy.RuleTrustedPublishingOnly || !strings.Contains(d.Reason, "only from its Trusted Publishers") {
			t.Errorf("a user's token on a Trusted Publishing only project: %v", err)
		}
		minted, err := f.mint(f.issuer.GitHubClaims(nil))
		if err != nil {
			t.Fatal(err)
		}
		pub, err := f.tokens.Verify(ctx, minted.Token)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.policy.Decide(ctx, pub, policy.Upload, policy.Target{Project: &demo, Name: "demo"}); err != nil {
			t.Errorf("the publisher: %v", err)
		}
		bare := storetest.MustUser(t, f.db, "bare")
		if err := f.db.AddRole(ctx, demo.ID, bare.ID, store.RoleOwner, f.now); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.Add(ctx, f.actor(bare), demo, github, f.from)
		if !errors.As(err, &d) || d.Rule != policy.RulePublishingNeeds2FA {
			t.Errorf("an Owner without 2FA added a publisher: %v", err)
		}
	})
}

// TestOnePublisherForSeveralProjects: one CI job registered once for several projects (an organization's) gets one
// token that uploads to each of them; a project the actor may not manage refuses the whole registration.
func TestOnePublisherForSeveralProjects(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		a, b := f.project("alpha", f.owner), f.project("beta", f.owner)
		stranger := f.userWithTOTP("stranger")
		c := f.project("gamma", stranger)
		if _, err := f.svc.AddToProjects(ctx, f.actor(f.owner), []store.Project{a, b, c}, github, f.from); !errors.Is(err, policy.ErrDenied) {
			t.Fatalf("registered on another's project: %v", err)
		}
		if ps, _ := f.svc.Publishers(ctx, a.ID); len(ps) != 0 {
			t.Fatalf("a refused registration left publishers: %+v", ps)
		}
		added, err := f.svc.AddToProjects(ctx, f.actor(f.owner), []store.Project{a, b}, github, f.from)
		if err != nil || len(added) != 2 {
			t.Fatalf("AddToProjects: %+v %v", added, err)
		}
		minted, err := f.mint(f.issuer.GitHubClaims(nil))
		if err != nil {
			t.Fatal(err)
		}
		actor, err := f.tokens.Verify(ctx, minted.Token)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []store.Project{a, b} {
			if err := f.policy.Decide(ctx, actor, policy.Upload, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
				t.Errorf("upload to %s: %v", p.Name, err)
			}
		}
		if err := f.policy.Decide(ctx, actor, policy.Upload, policy.Target{Project: &c, Name: "gamma"}); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("upload to a project without the publisher: %v", err)
		}
	})
}

// TestPendingPublisherInOrganization: an organization's Manager registers a pending publisher in it; the first
// publish creates the project inside the organization, so its Owners are Owners of it; a Member may not.
func TestPendingPublisherInOrganization(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		o, err := f.db.CreateOrganization(ctx, store.Organization{Name: "acme", NormalizedName: "acme", DisplayName: "Acme",
			CreatedAt: f.now, ApprovedAt: f.now}, "acme", f.owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		manager, member := f.userWithTOTP("manager"), f.userWithTOTP("member")
		for u, role := range map[store.User]string{manager: store.OrgRoleManager, member: store.OrgRoleMember} {
			if err := f.db.SetOrgMember(ctx, o.ID, u.ID, role, f.now); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := f.svc.AddPendingInOrg(ctx, f.actor(member), o, "rocket", github, f.from); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("a Member created a project in the organization: %v", err)
		}
		pending, err := f.svc.AddPendingInOrg(ctx, f.actor(manager), o, "rocket", github, f.from)
		if err != nil {
			t.Fatal(err)
		}
		minted, err := f.mint(f.issuer.GitHubClaims(nil))
		if err != nil {
			t.Fatal(err)
		}
		actor, err := f.tokens.Verify(ctx, minted.Token)
		if err != nil {
			t.Fatal(err)
		}
		owner, pendingID := policy.Creator(actor, "rocket")
		res, err := f.db.AddFile(ctx, store.NewFile{ProjectName: "rocket", NormalizedName: "rocket", UltraName: "r0cket",
			CreateProject: true, OwnerID: owner, PendingPublisherID: pendingID, PublisherTokenID: actor.Publisher.TokenID,
			Version: "1.0", CanonicalVersion: "1", ReleaseMetadata: []byte(`{}`), Filename: "rocket-1.0-py3-none-any.whl",
			PackageType: "bdist_wheel", PythonVersion: "py3", Size: 1, SHA256: "sha-rocket", MD5: "m", Blake2b256: "b-rocket", Now: f.now})
		if err != nil || pendingID != pending.ID {
			t.Fatalf("create: %v (pending %d)", err, pendingID)
		}
		if org, err := f.db.ProjectOrg(ctx, res.Project.ID); err != nil || org != o.ID {
			t.Errorf("the project is in organization %d, %v", org, err)
		}
		if role, _ := f.db.RoleOf(ctx, res.Project.ID, f.owner.ID); role != store.RoleOwner {
			t.Errorf("the organization's Owner is %q of the new project", role)
		}
	})
}
