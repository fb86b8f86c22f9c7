package projects_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/policy"
	"wharf/internal/projects"
	"wharf/internal/store"
)

func TestYank(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob := f.user("alice"), f.user("bob")
		p := f.project("demo", alice, "1.0", "2.0")
		f.addRole(p, bob, store.RoleMaintainer)
		token := policy.Actor{EmailVerified: true, User: alice, Token: &policy.TokenScope{ID: "t"}, Sudo: true}

		for _, tc := range []struct {
			name    string
			actor   policy.Actor
			version string
			reason  string
			want    error
		}{
			{"a maintainer, as on PyPI", web(bob), "1.0", "", policy.ErrDenied},
			{"an API token", token, "1.0", "", policy.ErrDenied},
			{"an unknown version", web(alice), "9.0", "", projects.ErrNoSuchRelease},
			{"not a version", web(alice), "latest", "", projects.ErrNoSuchRelease},
			{"an over-long reason", web(alice), "1.0", strings.Repeat("x", 1001), projects.ErrReasonTooLong},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.m.Yank(ctx, tc.actor, "demo", tc.version, tc.reason, from)
				wantErr(t, "Yank", err, tc.want)
			})
		}
		if got := f.index.take(); len(got) != 0 {
			t.Errorf("refused yanks invalidated %v", got)
		}

		// No password confirmation is asked: yanking is reversible and urgent when a release is broken.
		notices, err := f.m.Yank(ctx, policy.Actor{EmailVerified: true, User: alice}, "Demo", "1.0.0", "  broken on 3.13 ", from)
		if err != nil {
			t.Fatal(err)
		}
		want := []projects.Notice{
			{To: alice.ID, Kind: projects.NoticeReleaseYanked, Project: "demo", By: "alice", Detail: "1.0.0"},
			{To: bob.ID, Kind: projects.NoticeReleaseYanked, Project: "demo", By: "alice", Detail: "1.0.0"},
		}
		if diff := cmp.Diff(want, notices); diff != "" {
			t.Errorf("notices (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"demo"}, f.index.take()); diff != "" {
			t.Errorf("invalidated (-want +got):\n%s", diff)
		}
		yanked := func() map[string]string {
			pi, err := f.db.ProjectIndex(ctx, "demo")
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, r := range pi.Releases {
				if r.Yanked {
					out[r.Version] = r.YankedReason
				}
			}
			return out
		}
		if diff := cmp.Diff(map[string]string{"1.0": "broken on 3.13"}, yanked()); diff != "" {
			t.Errorf("yanked releases (-want +got):\n%s", diff)
		}

		_, err = f.m.Unyank(ctx, web(bob), "demo", "1.0", from)
		wantErr(t, "a maintainer un-yanks", err, policy.ErrDenied)
		if _, err := f.m.Unyank(ctx, web(alice), "demo", "1.0", from); err != nil {
			t.Fatal(err)
		}
		if got := yanked(); len(got) != 0 {
			t.Errorf("yanked after unyank: %v", got)
		}
		if diff := cmp.Diff([]string{projects.EventReleaseYanked, projects.EventReleaseUnyanked}, f.kinds(0, p.ID)); diff != "" {
			t.Errorf("project history (-want +got):\n%s", diff)
		}
	})
}

func TestDeleteFileAndRelease(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob, dave := f.user("alice"), f.user("bob"), f.user("dave")
		p := f.project("demo", alice, "1.0", "2.0")
		f.addRole(p, bob, store.RoleMaintainer)
		f.project("other", dave, "1.0")

		for _, tc := range []struct {
			name     string
			actor    policy.Actor
			filename string
			want     error
		}{
			{"another project's file, by name", web(alice), "other-1.0-py3-none-any.whl", projects.ErrNoSuchFile},
			{"a maintainer", web(bob), "demo-1.0-py3-none-any.whl", policy.ErrDenied},
			{"without a password confirmation", policy.Actor{EmailVerified: true, User: alice}, "demo-1.0-py3-none-any.whl", policy.ErrReauthRequired},
			{"an API token", policy.Actor{EmailVerified: true, User: alice, Token: &policy.TokenScope{ID: "t"}, Sudo: true}, "demo-1.0-py3-none-any.whl", policy.ErrDenied},
			{"an unknown file", web(alice), "demo-9.0.tar.gz", projects.ErrNoSuchFile},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := f.m.DeleteFile(ctx, tc.actor, "demo", tc.filename, from)
				wantErr(t, "DeleteFile", err, tc.want)
			})
		}
		if _, err := f.db.FileByFilename(ctx, "other-1.0-py3-none-any.whl"); err != nil {
			t.Errorf("another project's file after the refusal: %v", err)
		}

		notices, err := f.m.DeleteFile(ctx, web(alice), "demo", "demo-1.0-py3-none-any.whl", from)
		if err != nil {
			t.Fatal(err)
		}
		want := []projects.Notice{
			{To: alice.ID, Kind: projects.NoticeFileDeleted, Project: "demo", By: "alice", Detail: "demo-1.0-py3-none-any.whl"},
			{To: bob.ID, Kind: projects.NoticeFileDeleted, Project: "demo", By: "alice", Detail: "demo-1.0-py3-none-any.whl"},
		}
		if diff := cmp.Diff(want, notices); diff != "" {
			t.Errorf("notices (-want +got):\n%s", diff)
		}
		if live, used, err := f.db.FilenameUsed(ctx, "demo-1.0-py3-none-any.whl"); err != nil || !used || live != "" {
			t.Errorf("deleted filename: live %q, used %v, %v; want reserved and gone", live, used, err)
		}
		_, err = f.m.DeleteFile(ctx, web(alice), "demo", "demo-1.0-py3-none-any.whl", from)
		wantErr(t, "delete twice", err, projects.ErrNoSuchFile)

		_, err = f.m.DeleteRelease(ctx, web(bob), "demo", "2.0", from)
		wantErr(t, "a maintainer deletes a release", err, policy.ErrDenied)
		_, err = f.m.DeleteRelease(ctx, web(alice), "demo", "3.0", from)
		wantErr(t, "an unknown release", err, projects.ErrNoSuchRelease)
		if _, err := f.m.DeleteRelease(ctx, web(alice), "demo", "2", from); err != nil {
			t.Fatal(err)
		}
		pi, err := f.db.ProjectIndex(ctx, "demo")
		if err != nil {
			t.Fatal(err)
		}
		var versions []string
		for _, r := range pi.Releases {
			versions = append(versions, r.Version)
		}
		if diff := cmp.Diff([]string{"1.0"}, versions); diff != "" || len(pi.Files) != 0 {
			t.Errorf("releases (-want +got):\n%s; %d files", diff, len(pi.Files))
		}
		if _, used, err := f.db.FilenameUsed(ctx, "demo-2.0-py3-none-any.whl"); err != nil || !used {
			t.Errorf("a deleted release's filename: used %v, %v; want reserved", used, err)
		}
		if diff := cmp.Diff([]string{"demo", "demo"}, f.index.take()); diff != "" {
			t.Errorf("invalidated (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{projects.EventFileDeleted, projects.EventReleaseDeleted}, f.kinds(0, p.ID)); diff != "" {
			t.Errorf("project history (-want +got):\n%s", diff)
		}
	})
}

func TestDeleteProject(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob := f.user("alice"), f.user("bob")
		p := f.project("demo", alice, "1.0")
		f.addRole(p, bob, store.RoleMaintainer)
		inv, err := f.m.Invite(ctx, web(alice), "demo", f.user("carol").Username, store.RoleMaintainer, from)
		if err != nil {
			t.Fatal(err)
		}

		_, err = f.m.DeleteProject(ctx, web(bob), "demo", from)
		wantErr(t, "a maintainer", err, policy.ErrDenied)
		_, err = f.m.DeleteProject(ctx, policy.Actor{EmailVerified: true, User: alice}, "demo", from)
		wantErr(t, "without a password confirmation", err, policy.ErrReauthRequired)

		notices, err := f.m.DeleteProject(ctx, web(alice), "demo", from)
		if err != nil {
			t.Fatal(err)
		}
		want := []projects.Notice{
			{To: alice.ID, Kind: projects.NoticeProjectDeleted, Project: "demo", By: "alice"},
			{To: bob.ID, Kind: projects.NoticeProjectDeleted, Project: "demo", By: "alice"},
		}
		if diff := cmp.Diff(want, notices); diff != "" {
			t.Errorf("notices (-want +got):\n%s", diff)
		}
		if _, err := f.db.ProjectByName(ctx, "demo"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("project after deletion: %v", err)
		}
		if reserved, err := f.db.IsNameReserved(ctx, "demo"); err != nil || !reserved {
			t.Errorf("name reserved = %v, %v; want true", reserved, err)
		}
		if _, used, err := f.db.FilenameUsed(ctx, "demo-1.0-py3-none-any.whl"); err != nil || !used {
			t.Errorf("filename reserved = %v, %v; want true", used, err)
		}
		if diff := cmp.Diff([]string{"demo"}, f.index.take()); diff != "" {
			t.Errorf("invalidated (-want +got):\n%s", diff)
		}
		kinds := f.kinds(alice.ID, 0)
		if len(kinds) == 0 || kinds[len(kinds)-1] != projects.EventProjectDeleted {
			t.Errorf("alice's history = %v, want it to end with %s", kinds, projects.EventProjectDeleted)
		}
		_, _, err = f.m.Accept(ctx, web(f.userByName("carol")), inv.Token, from)
		wantErr(t, "an invitation to the deleted project", err, projects.ErrNoSuchInvitation)
		if mine, err := f.m.Projects(ctx, web(bob)); err != nil || len(mine) != 0 {
			t.Errorf("bob's projects = %+v, %v; want none", mine, err)
		}
		_, err = f.m.DeleteProject(ctx, web(alice), "demo", from)
		wantErr(t, "delete twice", err, projects.ErrNoSuchProject)
	})
}

func TestProjectsAndHistory(t *testing.T) {
	engines(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob := f.user("alice"), f.user("bob")
		p := f.project("zeta", alice, "1.0")
		f.project("alpha", bob, "1.0")
		f.addRole(p, bob, store.RoleMaintainer)

		mine, err := f.m.Projects(ctx, web(bob))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, up := range mine {
			got = append(got, up.Project.Name+":"+up.Role)
		}
		if diff := cmp.Diff([]string{"alpha:Owner", "zeta:Maintainer"}, got); diff != "" {
			t.Errorf("Projects (-want +got):\n%s", diff)
		}
		if none, err := f.m.Projects(ctx, policy.Actor{}); err != nil || none != nil {
			t.Errorf("Projects of nobody = %v, %v", none, err)
		}

		if _, err := f.m.Yank(ctx, web(alice), "zeta", "1.0", "", from); err != nil {
			t.Fatal(err)
		}
		events, err := f.m.History(ctx, policy.Actor{EmailVerified: true, User: alice}, "zeta", 10)
		if err != nil || len(events) != 1 || events[0].Kind != projects.EventReleaseYanked || events[0].UserID != alice.ID {
			t.Errorf("History = %+v, %v", events, err)
		}
		_, err = f.m.History(ctx, web(bob), "zeta", 10)
		wantErr(t, "a maintainer reads the history", err, policy.ErrDenied)
		_, err = f.m.History(ctx, web(alice), "nothing", 10)
		wantErr(t, "an unknown project", err, projects.ErrNoSuchProject)
	})
}
