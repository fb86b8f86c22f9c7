package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
)

// RunAdmin is the conformance suite of the administrators' lists: pages in name order that meet without a gap or
// an overlap in both directions, searches by prefix taken literally, each account's factors and projects and each
// project's designation, organization, files and collaborators read with the page, and reserved names released.
func RunAdmin(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()

	t.Run("accounts: pages in both directions", func(t *testing.T) {
		db := open(t)
		var all []string
		for i := range 7 {
			name := fmt.Sprintf("user%02d", i)
			MustUser(t, db, name)
			all = append(all, name)
		}
		names := func(p store.ListPage[store.AdminAccount]) []string {
			var out []string
			for _, a := range p.Rows {
				out = append(out, a.Username)
			}
			return out
		}
		list := func(q store.ListQuery) store.ListPage[store.AdminAccount] {
			t.Helper()
			q.Limit = 3
			p, err := db.AdminAccounts(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		type want struct {
			Names      []string
			Prev, Next string
		}
		check := func(what string, p store.ListPage[store.AdminAccount], w want) {
			t.Helper()
			if diff := cmp.Diff(w, want{names(p), p.Prev, p.Next}); diff != "" {
				t.Errorf("%s (-want +got):\n%s", what, diff)
			}
		}
		first := list(store.ListQuery{})
		check("first page", first, want{all[0:3], "", "user02"})
		second := list(store.ListQuery{After: first.Next})
		check("second page", second, want{all[3:6], "user03", "user05"})
		last := list(store.ListQuery{After: second.Next})
		check("last page", last, want{all[6:7], "user06", ""})
		check("back from the last page", list(store.ListQuery{Before: last.Prev}), want{all[3:6], "user03", "user05"})
		check("back to the first page", list(store.ListQuery{Before: second.Prev}), want{all[0:3], "", "user02"})
	})

	t.Run("accounts: search by prefix of the name or the address", func(t *testing.T) {
		db := open(t)
		MustUser(t, db, "x_y")
		MustUser(t, db, "xzy")
		MustUser(t, db, "carol")
		umlaut, err := db.CreateUser(ctx, store.User{Username: "jorg", Email: "JÖRG@Example.com", PasswordHash: "h"})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			prefix string
			want   []string
		}{
			{"x_", []string{"x_y"}},    // '_' is no wildcard
			{"%", nil},                 // nor '%'
			{"ar", nil},                // a prefix, not any part
			{"CAR", []string{"carol"}}, // compared as ident.Key compares
			{"ＪÖＲＧ@", []string{umlaut.Username}}, // the address, in full-width letters
			{"carol@example.c", []string{"carol"}},
			{"", []string{"carol", "jorg", "x_y", "xzy"}},
		} {
			p, err := db.AdminAccounts(ctx, store.ListQuery{Prefix: tc.prefix, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range p.Rows {
				got = append(got, a.Username)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("prefix %q (-want +got):\n%s", tc.prefix, diff)
			}
		}
	})

	t.Run("accounts: factors, recovery codes and projects with the page", func(t *testing.T) {
		db := open(t)
		none, app, key, both := MustUser(t, db, "anna"), MustUser(t, db, "ben"), MustUser(t, db, "cleo"), MustUser(t, db, "dan")
		unverified := MustUnverifiedUser(t, db, "eve")
		for _, u := range []store.User{app, both} {
			addTOTP(t, db, u.ID)
		}
		for _, u := range []store.User{key, both} {
			if _, err := db.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: u.ID, CredentialID: []byte("key of " + u.Username),
				PublicKey: []byte("pk"), AAGUID: []byte{}, CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		codes := []store.RecoveryCode{{Salt: []byte("s1"), Hash: []byte("h1")}, {Salt: []byte("s2"), Hash: []byte("h2")}, {Salt: []byte("s3"), Hash: []byte("h3")}}
		if err := db.ReplaceRecoveryCodes(ctx, both.ID, codes, t0); err != nil {
			t.Fatal(err)
		}
		left, err := db.UnusedRecoveryCodes(ctx, both.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.UseRecoveryCode(ctx, both.ID, left[0].ID, t0); err != nil {
			t.Fatal(err)
		}
		if err := db.SetAdmin(ctx, key.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := db.SetUserDisabled(ctx, app.ID, true, t0); err != nil {
			t.Fatal(err)
		}
		// ben owns two projects and maintains a third through a team; dan owns one.
		for _, p := range []struct {
			name  string
			owner int64
		}{{"one", app.ID}, {"two", app.ID}, {"three", both.ID}} {
			if _, err := db.AddFile(ctx, newFile(p.name, "1.0", p.name+"-1.0.tar.gz", "sha-"+p.name, p.owner, true)); err != nil {
				t.Fatal(err)
			}
		}
		three, err := db.ProjectByName(ctx, "three")
		if err != nil {
			t.Fatal(err)
		}
		_, team := orgWithTeam(t, db, three.ID, both)
		if err := db.SetTeamMember(ctx, team.ID, app.ID, true); err != nil {
			t.Fatal(err)
		}
		if err := db.SetTeamGrant(ctx, team.ID, three.ID, store.RoleMaintainer, 0, t0); err != nil {
			t.Fatal(err)
		}

		p, err := db.AdminAccounts(ctx, store.ListQuery{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			Name                  string
			TOTP, WebAuthn        bool
			Recovery, Projects    int
			Admin, Disabled, Mail bool
		}
		var got []row
		for _, a := range p.Rows {
			got = append(got, row{a.Username, a.HasTOTP, a.HasWebAuthn, a.RecoveryCodes, a.Projects, a.IsAdmin, a.Disabled,
				!a.EmailVerifiedAt.IsZero()})
		}
		want := []row{
			{Name: none.Username, Mail: true},
			{Name: app.Username, TOTP: true, Projects: 3, Disabled: true, Mail: true},
			{Name: key.Username, WebAuthn: true, Admin: true, Mail: true},
			{Name: both.Username, TOTP: true, WebAuthn: true, Recovery: 2, Projects: 1, Mail: true},
			{Name: unverified.Username},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("AdminAccounts (-want +got):\n%s", diff)
		}
	})

	t.Run("projects: designation, organization, files and collaborators", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		addTOTP(t, db, alice.ID)
		ids := map[string]int64{}
		for _, name := range []string{"by-hand", "by-downloads", "released", "plain", "other"} {
			res, err := db.AddFile(ctx, newFile(name, "1.0", name+"-1.0.tar.gz", "sha-"+name, alice.ID, true))
			if err != nil {
				t.Fatal(err)
			}
			ids[name] = res.Project.ID
		}
		second := newFile("by-hand", "1.1", "by-hand-1.1.tar.gz", "sha-by-hand-2", alice.ID, false)
		second.Size = 250
		if _, err := db.AddFile(ctx, second); err != nil {
			t.Fatal(err)
		}
		if err := db.AddRole(ctx, ids["plain"], bob.ID, store.RoleMaintainer, t0); err != nil {
			t.Fatal(err)
		}
		org, err := db.CreateOrganization(ctx, store.Organization{Name: "acme", NormalizedName: "acme", DisplayName: "Acme",
			CreatedAt: t0, ApprovedAt: t0}, "acme", alice.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.MoveProject(ctx, ids["other"], org.ID, alice.ID, t0); err != nil {
			t.Fatal(err)
		}
		designate := func(name, detail string) {
			t.Helper()
			if _, err := db.MarkCritical(ctx, []int64{ids[name]}, t0); err != nil {
				t.Fatal(err)
			}
			if err := db.AddEvent(ctx, store.Event{CreatedAt: t0, Kind: "project:critical", ProjectID: ids[name], Detail: detail}); err != nil {
				t.Fatal(err)
			}
		}
		// by-hand was first designated by its downloads, released, then designated by an administrator: the latest
		// designation counts. released was designated by hand and released since.
		designate("by-hand", "designated critical: 1000 downloads since 2026-01-01, in the top 1 of 5 projects")
		if _, err := db.ReleaseCritical(ctx, ids["by-hand"]); err != nil {
			t.Fatal(err)
		}
		designate("by-hand", "designated critical by an administrator: security team's request")
		designate("by-downloads", "designated critical: 900 downloads since 2026-01-01, in the top 1 of 5 projects")
		designate("released", "designated critical by an administrator: held for a week")
		if _, err := db.ReleaseCritical(ctx, ids["released"]); err != nil {
			t.Fatal(err)
		}

		p, err := db.AdminProjects(ctx, store.ListQuery{Limit: 50})
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			Name                 string
			Critical, ByHand     bool
			Org                  string
			Files                int
			Size                 int64
			Collaborators        []string
			WithFactor, Existing int
		}
		var got []row
		for _, pr := range p.Rows {
			r := row{Name: pr.Name, Critical: !pr.CriticalSince.IsZero(), ByHand: pr.CriticalByHand, Org: pr.Org,
				Files: pr.Files, Size: pr.TotalSize}
			for _, c := range pr.Collaborators {
				r.Collaborators = append(r.Collaborators, c.Username+" "+c.Role)
				if c.TwoFactor() {
					r.WithFactor++
				}
			}
			got = append(got, r)
		}
		want := []row{
			{Name: "by-downloads", Critical: true, Files: 1, Size: 100, Collaborators: []string{"alice Owner"}, WithFactor: 1},
			{Name: "by-hand", Critical: true, ByHand: true, Files: 2, Size: 350, Collaborators: []string{"alice Owner"}, WithFactor: 1},
			{Name: "other", Org: "acme", Files: 1, Size: 100, Collaborators: []string{"alice Owner"}, WithFactor: 1},
			{Name: "plain", Files: 1, Size: 100, Collaborators: []string{"alice Owner", "bob Maintainer"}, WithFactor: 1},
			{Name: "released", Files: 1, Size: 100, Collaborators: []string{"alice Owner"}, WithFactor: 1},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("AdminProjects (-want +got):\n%s", diff)
		}

		for _, tc := range []struct {
			q    store.ListQuery
			want []string
			next string
		}{
			{store.ListQuery{Prefix: "By_", Limit: 50}, []string{"by-downloads", "by-hand"}, ""}, // normalised as names are
			{store.ListQuery{Prefix: "by%", Limit: 50}, nil, ""},
			{store.ListQuery{Limit: 2}, []string{"by-downloads", "by-hand"}, "by-hand"},
			{store.ListQuery{After: "by-hand", Limit: 2}, []string{"other", "plain"}, "plain"},
			{store.ListQuery{Before: "plain", Limit: 2}, []string{"by-hand", "other"}, "other"},
		} {
			p, err := db.AdminProjects(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, pr := range p.Rows {
				names = append(names, pr.NormalizedName)
			}
			if diff := cmp.Diff(tc.want, names); diff != "" || p.Next != tc.next {
				t.Errorf("%+v: next %q, want %q; (-want +got):\n%s", tc.q, p.Next, tc.next, diff)
			}
		}
	})

	t.Run("reserved names: the existing project, and release", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		taken := newFile("Taken_Name", "1.0", "taken_name-1.0.tar.gz", "sha-taken", alice.ID, true)
		taken.NormalizedName = "taken-name"
		if _, err := db.AddFile(ctx, taken); err != nil {
			t.Fatal(err)
		}
		for i, name := range []string{"taken-name", "free-name"} {
			if err := db.ReserveName(ctx, name, "held", t0.Add(time.Duration(i)*time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		names, err := db.ReservedNames(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.ReservedName{
			{Name: "free-name", Reason: "held", CreatedAt: t0.Add(time.Minute)},
			{Name: "taken-name", Reason: "held", CreatedAt: t0, Project: "Taken_Name"},
		}
		if diff := cmp.Diff(want, names); diff != "" {
			t.Errorf("ReservedNames (-want +got):\n%s", diff)
		}
		if released, err := db.UnreserveName(ctx, "free-name"); err != nil || !released {
			t.Errorf("UnreserveName of a reserved name = %v, %v", released, err)
		}
		if released, err := db.UnreserveName(ctx, "free-name"); err != nil || released {
			t.Errorf("UnreserveName again = %v, %v; want false", released, err)
		}
		if reserved, err := db.IsNameReserved(ctx, "free-name"); err != nil || reserved {
			t.Errorf("released name still reserved: %v, %v", reserved, err)
		}
	})
}

// addTOTP gives a user an authenticator app.
func addTOTP(t *testing.T, db *store.DB, userID int64) {
	t.Helper()
	ctx := context.Background()
	sealed := []byte(fmt.Sprintf("sealed %d", userID))
	if err := db.PutTOTPPending(ctx, store.TOTPPending{UserID: userID, Sealed: sealed, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ActivateTOTP(ctx, userID, sealed, 0, t0); err != nil {
		t.Fatal(err)
	}
}

// orgWithTeam makes the organization "acme", owned by owner, moves the project into it and gives it the team
// "core", with no member and no grant yet.
func orgWithTeam(t *testing.T, db *store.DB, projectID int64, owner store.User) (store.Organization, store.Team) {
	t.Helper()
	ctx := context.Background()
	org, err := db.CreateOrganization(ctx, store.Organization{Name: "acme", NormalizedName: "acme", DisplayName: "Acme",
		CreatedAt: t0, ApprovedAt: t0}, "acme", owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MoveProject(ctx, projectID, org.ID, owner.ID, t0); err != nil {
		t.Fatal(err)
	}
	team, err := db.CreateTeam(ctx, store.Team{OrgID: org.ID, Name: "core", NormalizedName: "core", CreatedAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	return org, team
}
