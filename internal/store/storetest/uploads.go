package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/store"
)

// RunUploads is the suite of what the release page and the history read of who did what: the uploader and the
// credential of each file, the names behind events, and the reports of projects with the administrators to mail.
func RunUploads(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()

	t.Run("who uploaded each file", func(t *testing.T) {
		db := open(t)
		alice := MustUser(t, db, "alice")
		const live, gone = "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"
		if err := db.CreateToken(ctx, store.Token{ID: live, UserID: alice.ID, Name: "release workflow", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := db.CreatePublisherToken(ctx, store.PublisherToken{ID: "tp-1", Publishers: []int64{},
			Identity: map[string]string{"kind": "github", "repository": "octo/demo"}, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		add := func(filename string, uploader int64, publisherToken string, create bool) store.AddFileResult {
			t.Helper()
			nf := newFile("demo", "1.0", filename, "sha-"+filename, uploader, create)
			nf.PublisherTokenID = publisherToken
			res, err := db.AddFile(ctx, nf)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		res := add("demo-1.0-py3-none-any.whl", alice.ID, "", true)
		add("demo-1.0.tar.gz", alice.ID, "", false)
		add("demo-1.0-py2-none-any.whl", alice.ID, "", false)
		add("demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl", 0, "tp-1", false)
		add("demo-1.0-py3-none-win32.whl", alice.ID, "", false)
		record := func(kind, detail string) {
			t.Helper()
			if err := db.AddEvent(ctx, store.Event{CreatedAt: t0, Kind: kind, UserID: alice.ID, ProjectID: res.Project.ID, Detail: detail}); err != nil {
				t.Fatal(err)
			}
		}
		record("file:upload", `demo-1.0-py3-none-any.whl with token `+live+` named "release workflow"`)
		// A record written before the token's name was kept, naming a token that no longer exists.
		record("file:upload", `demo-1.0.tar.gz with token `+gone)
		// A file that waited for approval: its record is the staging's.
		record("release:staged", `demo-1.0-py2-none-any.whl with token `+live+` named "release workflow", staged for approval`)
		// Another file's record, and a record of another kind, name no token of the last file.
		record("file:remove", `demo-1.0-py3-none-win32.whl with token `+live)
		uploads, err := db.ReleaseUploads(ctx, res.File.ReleaseID)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]store.Upload{
			"demo-1.0-py3-none-any.whl": {Uploader: "alice", WithToken: true, TokenExists: true, TokenName: "release workflow"},
			"demo-1.0.tar.gz":           {Uploader: "alice", WithToken: true},
			"demo-1.0-py2-none-any.whl": {Uploader: "alice", WithToken: true, TokenExists: true, TokenName: "release workflow"},
			"demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl": {
				PublisherIdentity: `{"kind":"github","repository":"octo/demo"}`},
			"demo-1.0-py3-none-win32.whl": {Uploader: "alice"},
		}
		if diff := cmp.Diff(want, uploads); diff != "" {
			t.Errorf("ReleaseUploads (-want +got):\n%s", diff)
		}
	})

	t.Run("names of events, a project's history without reports, reports by page", func(t *testing.T) {
		db := open(t)
		alice, bob := MustUser(t, db, "alice"), MustUser(t, db, "bob")
		res, err := db.AddFile(ctx, newFile("demo", "1.0", "demo-1.0.tar.gz", "sha", alice.ID, true))
		if err != nil {
			t.Fatal(err)
		}
		p := res.Project.ID
		for _, e := range []store.Event{
			{Kind: "file:upload", UserID: alice.ID, ProjectID: p, Detail: "demo-1.0.tar.gz"},
			{Kind: "project:report", UserID: bob.ID, ProjectID: p, Detail: "first"},
			{Kind: "release:yank", UserID: alice.ID, ProjectID: p},
			{Kind: "project:report", UserID: bob.ID, ProjectID: p, Detail: "second"},
			{Kind: "project:report", ProjectID: p, Detail: "third"},
		} {
			e.CreatedAt = t0
			if err := db.AddEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		type row struct{ Kind, Username, ProjectName, Detail string }
		rows := func(evs []store.Event, err error) []row {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			var out []row
			for _, e := range evs {
				out = append(out, row{e.Kind, e.Username, e.ProjectName, e.Detail})
			}
			return out
		}
		if diff := cmp.Diff([]row{{"release:yank", "alice", "demo", ""}, {"file:upload", "alice", "demo", "demo-1.0.tar.gz"}},
			rows(db.ProjectEvents(ctx, p, "project:report", 10))); diff != "" {
			t.Errorf("ProjectEvents (-want +got):\n%s", diff)
		}
		if got := rows(db.Events(ctx, bob.ID, 0, 10)); len(got) != 2 || got[0].Username != "bob" || got[0].ProjectName != "demo" {
			t.Errorf("Events of bob = %+v", got)
		}
		first, err := db.EventsOfKind(ctx, "project:report", 0, 2)
		if diff := cmp.Diff([]row{{"project:report", "", "demo", "third"}, {"project:report", "bob", "demo", "second"}}, rows(first, err)); diff != "" {
			t.Errorf("EventsOfKind, first page (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]row{{"project:report", "bob", "demo", "first"}},
			rows(db.EventsOfKind(ctx, "project:report", first[1].ID, 2))); diff != "" {
			t.Errorf("EventsOfKind, next page (-want +got):\n%s", diff)
		}
	})

	t.Run("the administrators to mail", func(t *testing.T) {
		db := open(t)
		MustUser(t, db, "user")
		for _, name := range []string{"admin", "unverified", "disabled", "second"} {
			var u store.User
			if name == "unverified" {
				u = MustUnverifiedUser(t, db, name)
			} else {
				u = MustUser(t, db, name)
			}
			if err := db.SetAdmin(ctx, u.ID, true); err != nil {
				t.Fatal(err)
			}
			if name == "disabled" {
				if _, err := db.DisableUser(ctx, u.ID, t0); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := db.AdminAddresses(ctx)
		if diff := cmp.Diff([]string{"admin@example.com", "second@example.com"}, got); err != nil || diff != "" {
			t.Errorf("AdminAddresses (-want +got):\n%s%v", diff, err)
		}
	})
}
