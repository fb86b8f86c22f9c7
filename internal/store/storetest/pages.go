package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/pages"
	"wharf/internal/store"
)

// RunPages: a project's stored pages and JSON API documents are, after every write that commits, those of its rows
// at that commit, with its serial, and gone with the project. The expected pages are rendered here from ProjectIndex, a separate read.
func RunPages(t *testing.T, open func(testing.TB) *store.DB) {
	ctx := context.Background()
	db := open(t)
	alice := MustUser(t, db, "alice")
	// What each project's document says of its protection, and the epoch it was read at: a change to the one
	// that does not move the project's serial must move the epoch, or instances would keep the old document.
	type protectionSeen struct {
		serial, epoch int64
		protection    string
	}
	seen := map[string]protectionSeen{}
	checkEpoch := func(step, name string) {
		t.Helper()
		epoch, err := db.ProtectionEpoch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stamp, err := db.ProjectDocumentStamp(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		now := protectionSeen{stamp.Serial, epoch,
			fmt.Sprint(stamp.Critical, stamp.Collaborators, stamp.TwoFactorCollaborators)}
		if before, ok := seen[name]; ok && now.protection != before.protection && now.serial == before.serial &&
			now.epoch == before.epoch {
			t.Errorf("%s: the document's protection went from %s to %s and neither the serial nor the protection "+
				"epoch (%d) moved", step, before.protection, now.protection, epoch)
		}
		seen[name] = now
	}
	check := func(step, name string) {
		t.Helper()
		defer checkEpoch(step, name)
		pi, err := db.ProjectIndex(ctx, name)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		want := pages.Render(pageProject(pi))
		for _, k := range []pages.Kind{pages.HTMLGzip, pages.JSONGzip} {
			serial, gz, err := db.SimplePage(ctx, name, k == pages.JSONGzip)
			if err != nil {
				t.Fatalf("%s: form %d: %v", step, k, err)
			}
			if serial != pi.Project.LastSerial {
				t.Errorf("%s: form %d at serial %d, the project is at %d", step, k, serial, pi.Project.LastSerial)
			}
			body, err := pages.Gunzip(gz)
			if err != nil {
				t.Fatalf("%s: form %d: %v", step, k, err)
			}
			if !bytes.Equal(body, want[k-1]) {
				t.Errorf("%s: form %d differs from the project's rows:\n%s\nwant\n%s", step, k, body, want[k-1])
			}
		}
		checkDocuments(t, db, step, pi)
	}
	n := 100
	add := func(version, filename string, create bool) {
		t.Helper()
		n++
		nf := newFile("pkg", version, filename, fmt.Sprintf("%064x", n), alice.ID, create)
		nf.MetadataSHA256 = fmt.Sprintf("%064x", n+1000)
		// Each release its own metadata, so that a document showing another release's would not pass.
		nf.ReleaseMetadata = []byte(`{"summary":"release ` + version + `","description":"<b>\u2028"}`)
		if _, err := db.AddFile(ctx, nf); err != nil {
			t.Fatalf("add %s: %v", filename, err)
		}
	}
	add("1.0", "pkg-1.0.tar.gz", true)
	check("created", "pkg")
	add("1.0", "pkg-1.0-py3-none-any.whl", false)
	add("1.10", "pkg-1.10-py3-none-any.whl", false)
	add("1.9", "pkg-1.9-py3-none-any.whl", false)
	check("files added", "pkg")
	p, err := db.ProjectByName(ctx, "pkg")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.YankRelease(ctx, p.ID, "1.9", true, "broken <b>", alice.ID, t0); err != nil {
		t.Fatal(err)
	}
	check("yanked", "pkg")
	if err := db.YankRelease(ctx, p.ID, "1.9", false, "", alice.ID, t0); err != nil {
		t.Fatal(err)
	}
	check("unyanked", "pkg")
	if _, err := db.DeleteFile(ctx, "pkg-1.0.tar.gz", alice.ID, t0); err != nil {
		t.Fatal(err)
	}
	check("file deleted", "pkg")
	if _, err := db.DeleteRelease(ctx, p.ID, "1.10", alice.ID, t0); err != nil {
		t.Fatal(err)
	}
	check("release deleted", "pkg")

	if err := db.SetStaging(ctx, p.ID, store.StageTokens); err != nil {
		t.Fatal(err)
	}
	nf := newFile("pkg", "2.0", "pkg-2.0.tar.gz", fmt.Sprintf("%064x", 2), alice.ID, false)
	if _, _, err := db.StageFile(ctx, nf); err != nil {
		t.Fatal(err)
	}
	check("staged, not published", "pkg")
	if _, err := db.ApproveStaged(ctx, p.ID, "2.0", alice.ID, t0); err != nil {
		t.Fatal(err)
	}
	check("staged release approved", "pkg")

	// Two releases with metadata of their own: a seed reads all of a project's metadata at once.
	seeded := newFile("seeded", "1.0", "seeded-1.0.tar.gz", fmt.Sprintf("%064x", 3), 0, true)
	seeded2 := newFile("seeded", "1.1", "seeded-1.1.tar.gz", fmt.Sprintf("%064x", 4), 0, true)
	seeded2.ReleaseMetadata = []byte(`{"summary":"the second"}`)
	if err := db.SeedFiles(ctx, []store.NewFile{seeded, seeded2}); err != nil {
		t.Fatal(err)
	}
	check("seeded", "seeded")
	checkScan(t, db, "seeded")
	if _, err := db.MarkCritical(ctx, []int64{p.ID}, t0); err != nil {
		t.Fatal(err)
	}
	check("designated critical", "pkg")
	// The documents count the collaborators and their second factors as Collaborators lists them, whichever the factor.
	addTOTP(t, db, alice.ID)
	check("the owner has an authenticator app", "pkg")
	bob := MustUser(t, db, "bob")
	if err := db.AddRole(ctx, p.ID, bob.ID, store.RoleMaintainer, t0); err != nil {
		t.Fatal(err)
	}
	check("a maintainer without a second factor", "pkg")
	if _, err := db.AddWebAuthnCredential(ctx, store.WebAuthnCredential{UserID: bob.ID, CredentialID: []byte("bob"),
		PublicKey: []byte("pk"), AAGUID: []byte{}, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	check("the maintainer has a security key", "pkg")

	// Held by an organization, the project can be changed by the organization's Owners and its teams' members
	// too: the documents count each of them once.
	carol, dave := MustUser(t, db, "carol"), MustUser(t, db, "dave")
	_, team := orgWithTeam(t, db, p.ID, carol)
	for _, u := range []store.User{dave, carol, bob} {
		if err := db.SetTeamMember(ctx, team.ID, u.ID, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.SetTeamGrant(ctx, team.ID, p.ID, store.RoleMaintainer, carol.ID, t0); err != nil {
		t.Fatal(err)
	}
	uploaders := func(step string, want, wantFactor int) {
		t.Helper()
		check(step, "pkg")
		got, gotFactor, err := db.UploaderCounts(ctx, p.ID)
		if err != nil || got != want || gotFactor != wantFactor {
			t.Errorf("%s: %d uploaders, %d with a second factor (%v); want %d, %d", step, got, gotFactor, err, want, wantFactor)
		}
	}
	uploaders("an organization's Owner and a team member without a second factor", 4, 2)
	addTOTP(t, db, carol.ID)
	addTOTP(t, db, dave.ID)
	uploaders("every one of them with a second factor", 4, 4)
	if err := db.SetTeamMember(ctx, team.ID, dave.ID, false); err != nil {
		t.Fatal(err)
	}
	uploaders("a team member left", 3, 3)
	factors, err := db.Factors(ctx, bob.ID)
	if err != nil || len(factors) != 1 {
		t.Fatalf("bob's factors: %v %v", factors, err)
	}
	if _, err := db.RemoveFactor(ctx, bob.ID, factors[0].Kind, factors[0].ID, false); err != nil {
		t.Fatal(err)
	}
	uploaders("a maintainer removed his security key", 3, 2)
	if released, err := db.ReleaseCritical(ctx, p.ID); err != nil || !released {
		t.Fatalf("release critical: %v %v", released, err)
	}
	check("no longer critical", "pkg")

	if _, _, err := db.DeleteProject(ctx, p.ID, alice.ID, t0.Add(time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	for _, json := range []bool{false, true} {
		if _, _, err := db.SimplePage(ctx, "pkg", json); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a deleted project's page (JSON %v): %v, want ErrNotFound", json, err)
		}
	}
	checkScan(t, db, "project deleted")
	if _, err := db.ProjectDocument(ctx, "pkg"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted project's document: %v, want ErrNotFound", err)
	}
	if _, err := db.ReleaseDocument(ctx, "pkg", "2.0", "2.0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted project's release document: %v, want ErrNotFound", err)
	}
	if _, err := db.ProjectDocumentStamp(ctx, "pkg"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted project's document stamp: %v, want ErrNotFound", err)
	}
	if _, err := db.ReleaseDocumentStamp(ctx, "pkg", "2.0", "2.0"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted project's release document stamp: %v, want ErrNotFound", err)
	}
}

// checkScan holds SimplePages, chunk by chunk of every size, to every project's pages as SimplePage reads them, in
// the order of their names.
func checkScan(t *testing.T, db *store.DB, step string) {
	t.Helper()
	ctx := context.Background()
	var names []string
	if err := db.EachProjectName(ctx, func(name string) error { names = append(names, name); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatalf("%s: no project to scan", step)
	}
	for limit := 1; limit <= len(names)+1; limit++ {
		var scanned []string
		for after := ""; ; {
			n := 0
			err := db.SimplePages(ctx, after, limit, func(name string, serial int64, htmlGz, jsonGz []byte) error {
				n++
				scanned = append(scanned, name)
				after = name
				for _, form := range []struct {
					json bool
					gz   []byte
				}{{false, htmlGz}, {true, jsonGz}} {
					wantSerial, want, err := db.SimplePage(ctx, name, form.json)
					if err != nil {
						return err
					}
					if serial != wantSerial || !bytes.Equal(form.gz, want) {
						t.Errorf("%s: chunks of %d: %s (JSON %v) scanned at serial %d, %d bytes; SimplePage reads serial %d, %d bytes",
							step, limit, name, form.json, serial, len(form.gz), wantSerial, len(want))
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s: chunks of %d after %q: %v", step, limit, after, err)
			}
			if n > limit {
				t.Fatalf("%s: a chunk of %d gave %d pages", step, limit, n)
			}
			if n < limit {
				break
			}
		}
		if diff := cmp.Diff(names, scanned); diff != "" {
			t.Errorf("%s: chunks of %d scanned other projects than there are (-projects +scanned):\n%s", step, limit, diff)
		}
	}
}

// checkDocuments holds the stored JSON API documents of a project to those rendered from its rows and metadata
// now: the project's, and every release's, at the project's serial.
func checkDocuments(t *testing.T, db *store.DB, step string, pi store.ProjectIndex) {
	t.Helper()
	ctx := context.Background()
	ds := pages.NewDocuments(pageProject(pi))
	name := pi.Project.NormalizedName
	metadata := func(releaseID int64) []byte {
		meta, err := db.ReleaseMetadata(ctx, releaseID)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		return meta
	}
	prot, err := db.ProjectProtection(ctx, pi.Project.ID)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	// A project outside organizations is changed by its roles alone: the counts are those of Collaborators.
	uploaders, withSecondFactor, err := db.UploaderCounts(ctx, pi.Project.ID)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	org, err := db.ProjectOrg(ctx, pi.Project.ID)
	if err != nil {
		t.Fatalf("%s: %v", step, err)
	}
	if org == 0 {
		cs, err := db.Collaborators(ctx, pi.Project.ID)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		factors := 0
		for _, c := range cs {
			if c.TwoFactor() {
				factors++
			}
		}
		if len(cs) != uploaders || factors != withSecondFactor {
			t.Errorf("%s: UploaderCounts %d, %d; Collaborators lists %d, %d with a second factor", step, uploaders,
				withSecondFactor, len(cs), factors)
		}
	}
	compare := func(what string, got store.Document, want pages.Document, releaseID int64) {
		t.Helper()
		if got.Critical != prot.Critical() {
			t.Errorf("%s: %s says critical %v, the project's protection %v", step, what, got.Critical, prot.Critical())
		}
		if got.Collaborators != uploaders || got.TwoFactorCollaborators != withSecondFactor {
			t.Errorf("%s: %s counts %d collaborators, %d with a second factor; UploaderCounts %d, %d", step, what,
				got.Collaborators, got.TwoFactorCollaborators, uploaders, withSecondFactor)
		}
		if got.ProjectID != pi.Project.ID || got.ReleaseID != releaseID || got.Serial != pi.Project.LastSerial {
			t.Errorf("%s: %s is of project %d, release %d, serial %d; want %d, %d, %d", step, what, got.ProjectID,
				got.ReleaseID, got.Serial, pi.Project.ID, releaseID, pi.Project.LastSerial)
		}
		if diff := cmp.Diff(want, got.Document); diff != "" {
			t.Errorf("%s: %s differs from the project's rows (-want +got):\n%s", step, what, diff)
		}
	}
	// A stamp is its document without the document: the same project, release, serial and protection.
	stamped := func(what string, d store.Document, stamp func() (store.Document, error)) {
		t.Helper()
		s, err := stamp()
		if err != nil {
			t.Fatalf("%s: %s's stamp: %v", step, what, err)
		}
		d.Document = pages.Document{}
		if diff := cmp.Diff(d, s); diff != "" {
			t.Errorf("%s: %s's stamp differs from the document (-document +stamp):\n%s", step, what, diff)
		}
	}
	latest, ok := ds.Latest()
	got, err := db.ProjectDocument(ctx, name)
	if _, serr := db.ProjectDocumentStamp(ctx, name); errors.Is(err, store.ErrNotFound) != errors.Is(serr, store.ErrNotFound) {
		t.Errorf("%s: the project's document: %v; its stamp: %v", step, err, serr)
	}
	switch {
	case !ok && !errors.Is(err, store.ErrNotFound):
		t.Errorf("%s: a project without releases has a document: %v", step, err)
	case ok && err != nil:
		t.Fatalf("%s: %v", step, err)
	case ok:
		compare("the project's document", got, ds.Project(metadata(latest)), 0)
		stamped("the project's document", got, func() (store.Document, error) { return db.ProjectDocumentStamp(ctx, name) })
	}
	for _, r := range pi.Releases {
		want, _ := ds.Release(r.ID, metadata(r.ID))
		got, err := db.ReleaseDocument(ctx, name, r.Version, r.CanonicalVersion)
		if err != nil {
			t.Fatalf("%s: release %s: %v", step, r.Version, err)
		}
		compare("release "+r.Version+"'s document", got, want, r.ID)
		stamped("release "+r.Version+"'s document", got, func() (store.Document, error) {
			return db.ReleaseDocumentStamp(ctx, name, r.Version, r.CanonicalVersion)
		})
	}
}

// pageProject is what pages.Render and pages.NewDocuments take, from a ProjectIndex.
func pageProject(pi store.ProjectIndex) pages.Project {
	p := pages.Project{Name: pi.Project.NormalizedName, DisplayName: pi.Project.Name, Serial: pi.Project.LastSerial}
	for _, r := range pi.Releases {
		p.Releases = append(p.Releases, pages.Release{ID: r.ID, Version: r.Version, RequiresPython: r.RequiresPython,
			Yanked: r.Yanked, YankedReason: r.YankedReason})
	}
	for _, f := range pi.Files {
		p.Files = append(p.Files, pages.File{ReleaseID: f.ReleaseID, Filename: f.Filename, PackageType: f.PackageType,
			PythonVersion: f.PythonVersion, SHA256: f.SHA256, MD5: f.MD5, Blake2b256: f.Blake2b256,
			MetadataSHA256: f.MetadataSHA256, RequiresPython: f.RequiresPython, Size: f.Size, UploadedAt: f.UploadedAt,
			Yanked: f.Yanked, YankedReason: f.YankedReason})
	}
	return p
}
