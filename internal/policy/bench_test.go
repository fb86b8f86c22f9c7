package policy_test

import (
	"context"
	"testing"
	"time"

	"wharf/internal/policy"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// BenchmarkDecideUpload is the decision on every upload: an Owner with a second factor and a token made after it,
// on a critical project, under a mandate in its restrict phase, read from a real SQLite database (the role and the
// project's protection are read at decision time).
func BenchmarkDecideUpload(b *testing.B) {
	db := storetest.OpenSQLite(b)
	ctx := context.Background()
	u := storetest.MustUser(b, db, "alice")
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	res, err := db.AddFile(ctx, store.NewFile{ProjectName: "demo", NormalizedName: "demo", UltraName: "demo", CreateProject: true,
		UploaderID: u.ID, Version: "1.0", CanonicalVersion: "1.0", ReleaseMetadata: []byte("{}"), Filename: "demo-1.0.tar.gz",
		PackageType: "sdist", PythonVersion: "source", Size: 1, SHA256: "s", Blake2b256: "b", Now: t0})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.MarkCritical(ctx, []int64{res.Project.ID}, t0); err != nil {
		b.Fatal(err)
	}
	m := policy.Mandate{Notice: t0, Restrict: t0, Enforce: t0.AddDate(1, 0, 0), Restricted: policy.DefaultRestricted}
	e := policy.New(db, policy.Mandated(m, func() time.Time { return t0.AddDate(0, 1, 0) }))
	actor := policy.TokenActor(store.Account{User: u, EmailVerifiedAt: t0, HasWebAuthn: true, TwoFactorSince: t0},
		policy.TokenScope{ID: "t", CreatedAt: t0.Add(time.Hour)})
	target := policy.Target{Project: &res.Project, Name: "demo"}
	b.ResetTimer()
	for b.Loop() {
		if err := e.Decide(ctx, actor, policy.Upload, target); err != nil {
			b.Fatal(err)
		}
	}
}
