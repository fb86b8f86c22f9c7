package store_test

import (
	"context"
	"testing"
	"time"

	"wharf/internal/store"
	"wharf/internal/store/storetest"
)

// TestListenJournal: on PostgreSQL, an instance hears of a journal write committed through another connection
// pool (another instance); on SQLite there is no channel and the call returns at once.
func TestListenJournal(t *testing.T) {
	sqlite := storetest.OpenSQLite(t)
	returned := make(chan struct{})
	go func() {
		sqlite.ListenJournal(t.Context(), func() { t.Error("SQLite called changed") }, func(err error) { t.Error(err) })
		close(returned)
	}()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("ListenJournal on SQLite did not return")
	}

	url := storetest.PostgresURL(t)
	open := func() *store.DB {
		db, err := store.Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(t.Context()); err != nil {
			t.Fatal(err)
		}
		return db
	}
	listener, writer := open(), open()
	changed := make(chan struct{}, 16)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		listener.ListenJournal(ctx, func() { changed <- struct{}{} }, func(err error) { t.Errorf("listening: %v", err) })
		close(done)
	}()
	defer func() { cancel(); <-done }()
	wait := func(what string) {
		t.Helper()
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no call within 10 s", what)
		}
	}
	wait("the call as it starts listening")

	alice := storetest.MustUser(t, writer, "alice")
	for len(changed) > 0 { // nothing before the upload is asked of this test
		<-changed
	}
	nf := store.NewFile{ProjectName: "demo", NormalizedName: "demo", UltraName: "demo", CreateProject: true,
		UploaderID: alice.ID, Version: "1.0", CanonicalVersion: "1", ReleaseMetadata: []byte(`{}`),
		Filename: "demo-1.0.tar.gz", PackageType: "sdist", PythonVersion: "source", Size: 1, SHA256: "aa",
		MD5: "m", Blake2b256: "b", Now: time.Now()}
	if _, err := writer.AddFile(t.Context(), nf); err != nil {
		t.Fatal(err)
	}
	wait("an upload through the other pool")
}
