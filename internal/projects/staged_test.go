package projects_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/projects"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// stage keeps a file for release version of p, as an upload to a staged project does.
func (f *fixture) stage(p store.Project, uploader store.User, version, filename, content string) {
	f.t.Helper()
	v, err := pypkg.ParseVersion(version)
	if err != nil {
		f.t.Fatal(err)
	}
	_, _, err = f.db.StageFile(context.Background(), store.NewFile{ProjectName: p.Name, NormalizedName: p.NormalizedName,
		UltraName: p.NormalizedName, UploaderID: uploader.ID, Version: version, CanonicalVersion: v.ReleaseKey(),
		ReleaseMetadata: []byte(`{}`), Filename: filename, PackageType: "bdist_wheel", PythonVersion: "py3", Size: 10,
		SHA256: "sha-" + content, MD5: "m", Blake2b256: "b-" + content, Now: f.now})
	if err != nil {
		f.t.Fatal(err)
	}
}

// TestStagedReleases: a staged release is visible to the collaborators with its hashes and nowhere on the index
// until a collaborator with a second factor approves it; discarding drops it; both are audited and tell the
// Owners. Without a second factor, or without a recent confirmation, nobody approves.
func TestStagedReleases(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner, maint := f.user("owner"), f.user("maint")
		p := f.project("demo", owner, "1.0")
		f.addRole(p, maint, store.RoleMaintainer)
		if _, err := f.m.SetStaging(ctx, web(maint), "demo", store.StageCI, from); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("a Maintainer changed the staging: %v", err)
		}
		notices, err := f.m.SetStaging(ctx, web(owner), "demo", store.StageCI, from)
		if err != nil || len(notices) != 2 || !strings.Contains(notices[0].Text, "Trusted Publishers wait") {
			t.Fatalf("set staging: %v %+v", err, notices)
		}
		f.stage(p, owner, "2.0", "demo-2.0-py3-none-any.whl", "a")
		f.stage(p, owner, "2.0", "demo-2.0.tar.gz", "b")
		f.stage(p, owner, "3.0", "demo-3.0-py3-none-any.whl", "c")

		releases, err := f.m.StagedReleases(ctx, web(maint), "demo")
		if err != nil || len(releases) != 2 || len(releases[0].Files) != 2 || releases[0].Files[1].SHA256 != "sha-b" {
			t.Fatalf("staged releases: %+v %v", releases, err)
		}
		stranger := f.user("stranger")
		if _, err := f.m.StagedReleases(ctx, web(stranger), "demo"); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("a stranger saw the staged releases: %v", err)
		}
		if idx, _ := f.db.ProjectIndex(ctx, "demo"); len(idx.Files) != 1 {
			t.Fatalf("staged files are on the index: %+v", idx.Files)
		}

		noFactor := policy.Actor{EmailVerified: true, User: maint, Sudo: true}
		var d *policy.Denied
		if _, err := f.m.Approve(ctx, noFactor, "demo", "2.0", from); !errors.As(err, &d) || d.Rule != policy.RulePublishingNeeds2FA {
			t.Errorf("approval without a second factor: %v", err)
		}
		unconfirmed := web(maint)
		unconfirmed.Sudo = false
		if _, err := f.m.Approve(ctx, unconfirmed, "demo", "2.0", from); !errors.Is(err, policy.ErrReauthRequired) {
			t.Errorf("approval without a recent confirmation: %v", err)
		}
		notices, err = f.m.Approve(ctx, web(maint), "demo", "2.0", from)
		if err != nil {
			t.Fatalf("approve: %v", err)
		}
		if len(notices) != 2 || !strings.Contains(notices[0].Text, "maint approved the staged release 2.0") ||
			!strings.Contains(notices[0].Text, "demo-2.0.tar.gz") {
			t.Errorf("approval notices: %+v", notices)
		}
		idx, _ := f.db.ProjectIndex(ctx, "demo")
		if len(idx.Files) != 3 || len(idx.Releases) != 2 {
			t.Errorf("after approval the index has %d files in %d releases", len(idx.Files), len(idx.Releases))
		}
		if got := f.index.take(); len(got) == 0 || got[len(got)-1] != "demo" {
			t.Errorf("the index was not invalidated: %v", got)
		}
		if _, err := f.m.Approve(ctx, web(owner), "demo", "2.0", from); !errors.Is(err, projects.ErrNoSuchRelease) {
			t.Errorf("approving again: %v", err)
		}
		if _, err := f.m.Discard(ctx, web(owner), "demo", "3.0", from); err != nil {
			t.Fatalf("discard: %v", err)
		}
		if left, _ := f.m.StagedReleases(ctx, web(owner), "demo"); len(left) != 0 {
			t.Errorf("left staged: %+v", left)
		}
		if idx, _ := f.db.ProjectIndex(ctx, "demo"); len(idx.Files) != 3 {
			t.Errorf("a discarded file reached the index")
		}
		kinds := strings.Join(f.kinds(0, p.ID), " ")
		for _, want := range []string{projects.EventStaging, projects.EventReleaseApproved, projects.EventReleaseDiscarded} {
			if !strings.Contains(kinds, want) {
				t.Errorf("the history lacks %s: %s", want, kinds)
			}
		}
	})
}

// TestApprovalConflict: when a staged file's name was published meanwhile, the approval publishes nothing.
func TestApprovalConflict(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner := f.user("owner")
		p := f.project("demo", owner, "1.0")
		f.stage(p, owner, "2.0", "demo-2.0.tar.gz", "x")
		f.stage(p, owner, "2.0", "demo-2.0-py3-none-any.whl", "y")
		if _, err := f.db.AddFile(ctx, store.NewFile{ProjectName: "demo", NormalizedName: "demo", UltraName: "demo",
			UploaderID: owner.ID, Version: "2.0", CanonicalVersion: "2", ReleaseMetadata: []byte(`{}`),
			Filename: "demo-2.0-py3-none-any.whl", PackageType: "bdist_wheel", PythonVersion: "py3", Size: 10,
			SHA256: "sha-other", MD5: "m", Blake2b256: "b-other", Now: f.now}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.m.Approve(ctx, web(owner), "demo", "2.0", audit.Request{}); !errors.Is(err, projects.ErrStagedConflict) {
			t.Fatalf("approval over a published name: %v", err)
		}
		if _, err := f.db.FileByFilename(ctx, "demo-2.0.tar.gz"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("half of a conflicting release was published: %v", err)
		}
		if left, _ := f.db.StagedFiles(ctx, p.ID); len(left) != 2 {
			t.Errorf("the staged files were lost: %+v", left)
		}
	})
}

// TestPublishNotices: a publish is announced to every Owner but those who turned it off, which a critical project's
// Owners cannot; Maintainers are not told.
func TestPublishNotices(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		owner, other, maint := f.user("owner"), f.user("other"), f.user("maint")
		p := f.project("demo", owner, "1.0")
		f.addRole(p, other, store.RoleOwner)
		f.addRole(p, maint, store.RoleMaintainer)
		to := func() []int64 {
			t.Helper()
			ns, err := f.m.Published(ctx, p, "owner uploaded demo-1.0")
			if err != nil {
				t.Fatal(err)
			}
			var ids []int64
			for _, n := range ns {
				if n.Text != "owner uploaded demo-1.0" || n.Kind != projects.NoticePublished {
					t.Errorf("notice %+v", n)
				}
				ids = append(ids, n.To)
			}
			return ids
		}
		if got := to(); len(got) != 2 || got[0] != owner.ID || got[1] != other.ID {
			t.Fatalf("told %v, want the two Owners", got)
		}
		if err := f.m.SetPublishMail(ctx, web(other), "demo", false); err != nil {
			t.Fatal(err)
		}
		if got := to(); len(got) != 1 || got[0] != owner.ID {
			t.Errorf("after other turned it off: %v", got)
		}
		if err := f.m.SetPublishMail(ctx, web(maint), "demo", false); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("a Maintainer changed the Owners' mail: %v", err)
		}
		if _, err := f.db.MarkCritical(ctx, []int64{p.ID}, f.now); err != nil {
			t.Fatal(err)
		}
		if got := to(); len(got) != 2 {
			t.Errorf("a critical project's Owners are not all told: %v", got)
		}
		if err := f.m.SetPublishMail(ctx, web(owner), "demo", false); !errors.Is(err, policy.ErrDenied) {
			t.Errorf("the mail was turned off on a critical project: %v", err)
		}
	})
}
