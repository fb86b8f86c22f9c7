package upload_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"wharf/internal/audit"
	"wharf/internal/disttest"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/store/storetest"
	"wharf/internal/tokens"
	"wharf/internal/upload"
)

// TestRefusalsLinkTheHelp: what twine shows for a filename used before, a token that is not valid, missing
// credentials and a token of another scope ends with the link to the help page's section, on the index's address.
func TestRefusalsLinkTheHelp(t *testing.T) {
	const base = "https://index.example"
	for _, engine := range storetest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			f := newFixture(t, engine.Open(t))
			minter, err := tokens.NewMinter(bytes.Repeat([]byte("k"), 32))
			if err != nil {
				t.Fatal(err)
			}
			clock := func() time.Time { return f.now }
			logger := slog.New(slog.NewTextHandler(io.Discard, nil))
			log := audit.New(f.db, clock, logger)
			f.tokens = tokens.NewService(minter, f.db, log, clock, tokens.BaseURL(base))
			f.h = upload.New(f.db, f.blobs, f.tokens, policy.New(f.db, policy.BaseURL(base)), f.index, log,
				upload.Options{MaxFileSize: 1 << 20, MaxProjectSize: 8 << 20, Archive: pypkg.DefaultLimits(), BaseURL: base},
				clock, logger)

			tok := f.token("alice")
			if code, msg := f.post(wheelForm("demo", "1.0"), "__token__", tok); code != 200 {
				t.Fatalf("first upload: %d %s", code, msg)
			}
			admin := storetest.MustUser(t, f.db, "admin")
			if _, err := f.db.DeleteFile(context.Background(), disttest.WheelName("demo", "1.0"), admin.ID, f.now); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name, user, pass string
				want             string
			}{
				{"a deleted file's name", "__token__", tok,
					"This filename has already been used, use a different version. See https://index.example/help/#file-name-reuse for more information."},
				{"a token that is not one", "__token__", "wharf-nonsense", "Invalid API Token: the token is malformed. See https://index.example/help/#apitoken"},
				{"no credentials", "", "", "See https://index.example/help/#apitoken"},
				{"a password", "alice", "secret", "See https://index.example/help/#apitoken"},
				{"a token of another project", "__token__", f.token("alice", "other"), "See https://index.example/help/#apitoken"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					code, msg := f.post(wheelForm("demo", "1.0"), tc.user, tc.pass)
					if code < 400 || !strings.HasSuffix(msg, tc.want) {
						t.Errorf("%d %q, want a refusal ending with %q", code, msg, tc.want)
					}
				})
			}
		})
	}
}
