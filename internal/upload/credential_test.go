package upload_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/disttest"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
	"wharf/internal/tokens"
)

// TestUploadRecordsCredential: the history record of an upload, published or staged, names the API token that
// made it by id and by name, and the release page's reading of the records (store.ReleaseUploads) finds it.
func TestUploadRecordsCredential(t *testing.T) {
	for _, engine := range storetest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			f := newFixture(t, engine.Open(t))
			ctx := context.Background()
			tok := f.token("alice") // named "test"
			id, err := tokens.ParseID(tok)
			if err != nil {
				t.Fatal(err)
			}
			if code, msg := f.post(wheelForm("demo", "1.0"), "__token__", tok); code != 200 {
				t.Fatalf("upload: %d %s", code, msg)
			}
			demo, err := f.db.ProjectByName(ctx, "demo")
			if err != nil {
				t.Fatal(err)
			}
			if err := f.db.SetStaging(ctx, demo.ID, store.StageTokens); err != nil {
				t.Fatal(err)
			}
			form := disttest.UploadForm("demo", "1.1", "demo-1.1-py3-none-any.whl",
				disttest.Wheel("demo", "1.1", disttest.Metadata("demo", "1.1"), nil))
			if code, msg := f.post(form, "__token__", tok); code != 200 {
				t.Fatalf("staged upload: %d %s", code, msg)
			}
			events, err := f.db.Events(ctx, 0, demo.ID, 10)
			if err != nil {
				t.Fatal(err)
			}
			details := map[string]string{}
			for _, e := range events {
				details[e.Kind] = e.Detail
			}
			want := map[string]string{
				"project:create": "demo",
				"file:upload":    `demo-1.0-py3-none-any.whl with token ` + id + ` named "test"`,
				"release:staged": `demo-1.1-py3-none-any.whl with token ` + id + ` named "test", staged for approval`,
			}
			if diff := cmp.Diff(want, details); diff != "" {
				t.Errorf("history records (-want +got):\n%s", diff)
			}
			file, err := f.db.FileByFilename(ctx, "demo-1.0-py3-none-any.whl")
			if err != nil {
				t.Fatal(err)
			}
			uploads, err := f.db.ReleaseUploads(ctx, file.ReleaseID)
			if diff := cmp.Diff(map[string]store.Upload{"demo-1.0-py3-none-any.whl": {Uploader: "alice", WithToken: true,
				TokenExists: true, TokenName: "test"}}, uploads); err != nil || diff != "" {
				t.Errorf("ReleaseUploads (-want +got):\n%s%v", diff, err)
			}
		})
	}
}
