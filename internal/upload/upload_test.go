package upload_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"wharf/internal/audit"
	"wharf/internal/blob"
	"wharf/internal/disttest"
	"wharf/internal/httperror"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/ratelimit"
	"wharf/internal/store"
	"wharf/internal/store/storetest"
	"wharf/internal/tokens"
	"wharf/internal/upload"
)

type invalidations struct {
	mu    sync.Mutex
	names []string
}

func (i *invalidations) Invalidate(name string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.names = append(i.names, name)
}

type fixture struct {
	t       *testing.T
	db      *store.DB
	blobs   *blob.Disk
	tokens  *tokens.Service
	h       *upload.Handler
	index   *invalidations
	now     time.Time
	maxFile int64
}

func newFixture(t *testing.T, db *store.DB, opts ...func(*upload.Options)) *fixture {
	blobs, err := blob.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	minter, err := tokens.NewMinter(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, blobs: blobs, index: &invalidations{}, now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	clock := func() time.Time { return f.now }
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	log := audit.New(db, clock, logger)
	f.tokens = tokens.NewService(minter, db, log, clock)
	o := upload.Options{MaxFileSize: 1 << 20, MaxProjectSize: 8 << 20, Archive: pypkg.DefaultLimits()}
	for _, fn := range opts {
		fn(&o)
	}
	f.maxFile = o.MaxFileSize
	f.h = upload.New(db, blobs, f.tokens, policy.New(db), f.index, log, o, clock, logger)
	return f
}

// token creates a user (once) and a token for it.
func (f *fixture) token(username string, projects ...string) string {
	f.t.Helper()
	ctx := context.Background()
	u, err := f.db.UserByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		u = storetest.MustUser(f.t, f.db, username)
	}
	var scope []string
	if len(projects) > 0 {
		scope = projects
	}
	tok, _, err := f.tokens.Create(ctx, u, "test", scope, time.Time{}, audit.Request{})
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

// post sends a form and returns the status and message the client would get.
func (f *fixture) post(form *disttest.Form, user, pass string) (int, string) {
	body, ct := form.Encode()
	return f.postRaw(bytes.NewReader(body), int64(len(body)), ct, user, pass)
}

func (f *fixture) postRaw(body io.Reader, length int64, contentType, user, pass string) (int, string) {
	req := httptest.NewRequest("POST", "/legacy/", body)
	req.ContentLength = length
	req.Header.Set("Content-Type", contentType)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	rec := httptest.NewRecorder()
	err := f.h.ServeUpload(rec, req)
	if err == nil {
		return rec.Code, rec.Body.String()
	}
	// As the server maps them: a policy denial is a 403 with its reason.
	var denied *policy.Denied
	if errors.As(err, &denied) {
		return http.StatusForbidden, denied.Reason
	}
	var he *httperror.Error
	if !errors.As(err, &he) {
		f.t.Fatalf("upload returned a non-HTTP error: %v", err)
	}
	return he.Status, he.Message
}

func wheelForm(name, version string) *disttest.Form {
	fn := disttest.WheelName(name, version)
	return disttest.UploadForm(name, version, fn, disttest.Wheel(name, version, disttest.Metadata(name, version), nil))
}

func TestUploadRules(t *testing.T) {
	for _, engine := range storetest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			f := newFixture(t, engine.Open(t))
			tok := f.token("alice")
			if code, msg := f.post(wheelForm("demo", "1.0"), "__token__", tok); code != 200 {
				t.Fatalf("first upload: %d %s", code, msg)
			}
			bomb := disttest.Wheel("demo", "3.0", disttest.Metadata("demo", "3.0"), map[string][]byte{
				"demo/zeros.bin": make([]byte, 3<<20),
			})
			for _, tc := range []struct {
				name string
				form *disttest.Form
				user string
				code int
				msg  string
			}{
				{"U5 identical re-upload is a no-op", wheelForm("demo", "1.0"), "__token__", 200, "already uploaded"},
				{"U5 same name other bytes", disttest.UploadForm("demo", "1.0", disttest.WheelName("demo", "1.0"),
					disttest.Wheel("demo", "1.0", disttest.Metadata("demo", "1.0", "Keywords: changed"), nil)), "__token__", 400, "File already exists ('demo-1.0-py3-none-any.whl', with blake2_256 hash"},
				{"K1 password upload", wheelForm("demo", "1.1"), "alice", 403, "Username/Password authentication is no longer supported"},
				{"no credentials", wheelForm("demo", "1.1"), "", 403, "Invalid or non-existent authentication"},
				{"U3 filename for another project", disttest.UploadForm("demo", "1.1", disttest.WheelName("other", "1.1"),
					disttest.Wheel("other", "1.1", disttest.Metadata("other", "1.1"), nil)), "__token__", 400, "Start filename for 'demo' with 'demo'"},
				{"U3 filename of another version", disttest.UploadForm("demo", "1.2", disttest.WheelName("demo", "1.1"),
					disttest.Wheel("demo", "1.1", disttest.Metadata("demo", "1.1"), nil)), "__token__", 400, "Version in filename should be '1.2' not '1.1'"},
				{"U3 filetype against extension", wheelForm("demo", "1.1").Set("filetype", "sdist"), "__token__", 400, "does not match the file"},
				{"U9 metadata of another version", disttest.UploadForm("demo", "1.1", disttest.WheelName("demo", "1.1"),
					disttest.Wheel("demo", "1.1", disttest.Metadata("demo", "1.9"), nil)), "__token__", 400, "does not match the version of the upload"},
				{"U4 wrong digest", wheelForm("demo", "1.1").Set("sha256_digest", strings.Repeat("0", 64)), "__token__", 400, "The digest supplied does not match"},
				{"U4 no digest", wheelForm("demo", "1.1").Set("sha256_digest", "").Set("md5_digest", "").Set("blake2_256_digest", ""), "__token__", 400, "Include at least one message digest"},
				{"U6 wheel without METADATA", disttest.UploadForm("demo", "1.1", disttest.WheelName("demo", "1.1"),
					disttest.Wheel("demo", "1.1", nil, map[string][]byte{"demo-1.1.dist-info/METADATA": nil})), "__token__", 400, `Invalid wheel: "demo-1.1.dist-info/METADATA" not found`},
				{"U6 wheel without WHEEL", disttest.UploadForm("demo", "1.1", disttest.WheelName("demo", "1.1"),
					disttest.Wheel("demo", "1.1", disttest.Metadata("demo", "1.1"), map[string][]byte{"demo-1.1.dist-info/WHEEL": nil})), "__token__", 400, `Invalid wheel: "demo-1.1.dist-info/WHEEL" not found`},
				{"U6 sdist with two top-level directories", disttest.UploadForm("demo", "1.1", disttest.SdistName("demo", "1.1"),
					disttest.Sdist("demo", "1.1", disttest.Metadata("demo", "1.1"), map[string][]byte{"evil/x.py": []byte("x")})), "__token__", 400, "more than one top-level entry"},
				{"U6 sdist without PKG-INFO", disttest.UploadForm("demo", "1.1", disttest.SdistName("demo", "1.1"),
					disttest.Sdist("demo", "1.1", disttest.Metadata("demo", "1.1"), map[string][]byte{"demo-1.1/PKG-INFO": nil})), "__token__", 400, `Invalid sdist: "demo-1.1/PKG-INFO" not found`},
				{"U10 file over the limit", disttest.UploadForm("demo", "3.0", disttest.WheelName("demo", "3.0"), append(bomb, make([]byte, 2<<20)...)), "__token__", 413, "File too large"},
				{"invalid version", wheelForm("demo", "1.1").Set("version", "one"), "__token__", 400, "'one' is an invalid value for Version"},
				{"invalid name", wheelForm("demo", "1.1").Set("name", "-demo"), "__token__", 400, "'-demo' is an invalid value for Name"},
				{"unknown filetype", wheelForm("demo", "1.1").Set("filetype", "bdist_egg"), "__token__", 400, "Invalid value for filetype"},
				{"bad metadata version", wheelForm("demo", "1.1").Set("metadata_version", "9.9"), "__token__", 400, "invalid value for Metadata-Version"},
				{"pre-registration", wheelForm("demo", "1.1").Set(":action", "submit"), "__token__", 410, "pre-registration is no longer required"},
				{"U11 standard library name", wheelForm("asyncio", "1.0"), "__token__", 400, "conflict with Python Standard Library"},
				{"U11 look-alike of an existing project", wheelForm("dem0", "1.0"), "__token__", 400, "too similar to an existing project"},
				{"U11 a file's name", wheelForm("requirements.txt", "1.0"), "__token__", 400, "The name 'requirements.txt' isn't allowed: it is the name of a file"},
				{"U11 a file's name in another spelling", wheelForm("Setup_Py", "1.0"), "__token__", 400, "it is the name of a file"},
				{"U11 a name with a file extension", wheelForm("helpers.py", "1.0"), "__token__", 400, "it is the name of a file"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					pass := tok
					if tc.user != "__token__" {
						pass = "correct horse battery staple"
					}
					code, msg := f.post(tc.form, tc.user, pass)
					if code != tc.code || !strings.Contains(msg, tc.msg) {
						t.Errorf("got %d %q, want %d containing %q", code, msg, tc.code, tc.msg)
					}
				})
			}
			pi, err := f.db.ProjectIndex(context.Background(), "demo")
			if err != nil || len(pi.Files) != 1 {
				t.Errorf("after the refusals the project has %d files (%v), want 1", len(pi.Files), err)
			}
		})
	}
}

func TestFilenameSafety(t *testing.T) {
	f := newFixture(t, storetest.OpenSQLite(t))
	tok := f.token("alice")
	for _, name := range []string{"../demo-1.0-py3-none-any.whl", `demo\..\demo-1.0-py3-none-any.whl`, "demo-1.0-py3-none-any.whl\x00",
		"demo-1.0\n-py3-none-any.whl", strings.Repeat("d", 300) + "-1.0-py3-none-any.whl", "/etc/demo-1.0-py3-none-any.whl"} {
		form := wheelForm("demo", "1.0")
		form.Filename = name
		if code, msg := f.post(form, "__token__", tok); code != 400 {
			t.Errorf("filename %q: %d %s, want 400", name, code, msg)
		}
	}
}

func TestDecompressionBomb(t *testing.T) {
	f := newFixture(t, storetest.OpenSQLite(t), func(o *upload.Options) { o.Archive.MaxTotalSize = 4 << 20 })
	tok := f.token("alice")
	bomb := disttest.Wheel("bomb", "1.0", disttest.Metadata("bomb", "1.0"), map[string][]byte{"bomb/zeros.bin": make([]byte, 64<<20)})
	if len(bomb) > 1<<20 {
		t.Fatalf("the bomb is %d bytes compressed; it must fit the 1 MiB file limit", len(bomb))
	}
	code, msg := f.post(disttest.UploadForm("bomb", "1.0", disttest.WheelName("bomb", "1.0"), bomb), "__token__", tok)
	if code != 400 || !strings.Contains(msg, "Distribution file too large: it unpacks to more than") {
		t.Errorf("bomb: %d %s", code, msg)
	}
}

func TestOversizeBodyRefusedBeforeReading(t *testing.T) {
	f := newFixture(t, storetest.OpenSQLite(t))
	tok := f.token("alice")
	reads := &countingReader{r: strings.NewReader(strings.Repeat("x", 64<<20))}
	code, msg := f.postRaw(reads, 64<<20, "multipart/form-data; boundary=x", "__token__", tok)
	if code != 413 || reads.n != 0 {
		t.Errorf("declared oversize body: %d %s after reading %d bytes; want 413 before reading", code, msg, reads.n)
	}
	// Without a declared length (chunked), the stream is cut at the limit.
	form := wheelForm("demo", "1.0")
	form.Content = append(form.Content, make([]byte, 3<<20)...)
	body, ct := form.Encode()
	reads = &countingReader{r: bytes.NewReader(body)}
	code, _ = f.postRaw(reads, -1, ct, "__token__", tok)
	if code != 413 || reads.n > int64(f.maxFile)+16<<20 {
		t.Errorf("chunked oversize body: %d after reading %d bytes", code, reads.n)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func TestTokenScopesAndRoles(t *testing.T) {
	for _, engine := range storetest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			f := newFixture(t, engine.Open(t))
			alice := f.token("alice")
			for _, p := range []string{"proj-a", "proj-b"} {
				if code, msg := f.post(wheelForm(p, "1.0"), "__token__", alice); code != 200 {
					t.Fatalf("create %s: %d %s", p, code, msg)
				}
			}
			ctx := context.Background()
			owner, _ := f.db.UserByName(ctx, "alice")
			proj, _ := f.db.ProjectByName(ctx, "proj-a")
			if role, _ := f.db.RoleOf(ctx, proj.ID, owner.ID); role != store.RoleOwner {
				t.Errorf("first uploader's role = %q, want Owner", role)
			}
			scopedA := f.token("alice", "proj-a")
			bob := f.token("bob")
			expired, _, err := f.tokens.Create(ctx, owner, "short", nil, f.now.Add(time.Hour), audit.Request{})
			if err != nil {
				t.Fatal(err)
			}
			revoked, revokedRec, _ := f.tokens.Create(ctx, owner, "gone", nil, time.Time{}, audit.Request{})
			if err := f.db.RevokeToken(ctx, owner.ID, revokedRec.ID, f.now); err != nil {
				t.Fatal(err)
			}
			tampered := alice[:len(alice)-2] + flip(alice[len(alice)-2:])

			for _, tc := range []struct {
				name, token, project string
				code                 int
				msg                  string
			}{
				{"scoped token on its project", scopedA, "proj-a", 200, ""},
				{"K2 scoped token on another project", scopedA, "proj-b", 403, "not valid for project: 'proj-b'"},
				{"scoped token cannot create a project", scopedA, "proj-c", 403, "cannot create the new project"},
				{"stranger cannot upload", bob, "proj-a", 403, "isn't allowed to upload to project"},
				{"K2 tampered token", tampered, "proj-a", 403, "Invalid API Token"},
				{"K2 revoked token", revoked, "proj-a", 403, "Invalid API Token: the token was revoked"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					code, msg := f.post(wheelForm(tc.project, fmt.Sprintf("2.%d", len(tc.name))), "__token__", tc.token)
					if code != tc.code || !strings.Contains(msg, tc.msg) {
						t.Errorf("got %d %q, want %d containing %q", code, msg, tc.code, tc.msg)
					}
				})
			}
			f.now = f.now.Add(2 * time.Hour)
			if code, msg := f.post(wheelForm("proj-a", "9.0"), "__token__", expired); code != 403 || !strings.Contains(msg, "expired") {
				t.Errorf("K2 expired token: %d %s", code, msg)
			}
			if err := f.db.AddRole(ctx, proj.ID, mustID(t, f.db, "bob"), store.RoleMaintainer, f.now); err != nil {
				t.Fatal(err)
			}
			if code, msg := f.post(wheelForm("proj-a", "9.1"), "__token__", bob); code != 200 {
				t.Errorf("maintainer upload: %d %s", code, msg)
			}
		})
	}
}

func mustID(t *testing.T, db *store.DB, name string) int64 {
	u, err := db.UserByName(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

// TestConcurrentSameFilename is F5 through the whole upload path: one winner, one row, and no stray object.
func TestConcurrentSameFilename(t *testing.T) {
	for _, engine := range storetest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			f := newFixture(t, engine.Open(t))
			tok := f.token("alice")
			if code, msg := f.post(wheelForm("race", "0.1"), "__token__", tok); code != 200 {
				t.Fatalf("create: %d %s", code, msg)
			}
			var wg sync.WaitGroup
			codes := make(chan int, 50)
			for i := range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					meta := disttest.Metadata("race", "1.0", fmt.Sprintf("Keywords: k%d", i))
					form := disttest.UploadForm("race", "1.0", disttest.WheelName("race", "1.0"), disttest.Wheel("race", "1.0", meta, nil))
					code, _ := f.post(form, "__token__", tok)
					codes <- code
				}()
			}
			wg.Wait()
			close(codes)
			wins := 0
			for c := range codes {
				switch c {
				case 200:
					wins++
				case 400:
				default:
					t.Errorf("unexpected status %d", c)
				}
			}
			if wins != 1 {
				t.Errorf("%d uploads won, want exactly 1", wins)
			}
			referenced := map[string]bool{}
			f.db.EachFile(context.Background(), func(file store.File) error {
				referenced[file.SHA256], referenced[file.MetadataSHA256] = true, true
				return nil
			})
			objects := 0
			f.blobs.Walk(context.Background(), func(info blob.Info) error {
				objects++
				if !referenced[info.Key] {
					t.Errorf("object %s is referenced by no file", info.Key)
				}
				return nil
			})
			if objects != 4 {
				t.Errorf("%d objects, want 4 (two files and their metadata)", objects)
			}
		})
	}
}

func TestInvalidatesIndexAndRecordsAudit(t *testing.T) {
	db := storetest.OpenSQLite(t)
	f := newFixture(t, db)
	tok := f.token("alice")
	if code, msg := f.post(wheelForm("Demo.Pkg", "1.0"), "__token__", tok); code != 200 {
		t.Fatalf("upload: %d %s", code, msg)
	}
	if len(f.index.names) != 1 || f.index.names[0] != "demo-pkg" {
		t.Errorf("invalidated %v, want [demo-pkg]", f.index.names)
	}
	u, _ := db.UserByName(context.Background(), "alice")
	events, err := db.Events(context.Background(), u.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	want := "file:upload project:create token:first-use token:create"
	if strings.Join(kinds, " ") != want {
		t.Errorf("events %v, want %s", kinds, want)
	}
	for _, e := range events {
		if strings.Contains(e.Detail, tok) {
			t.Errorf("A2: event %s holds the token", e.Kind)
		}
	}
}

// TestProjectCreationLimit is U12: a user creates at most ProjectCreateUser.Limit projects an hour; uploads to
// existing projects are not limited, and the refusal says when to try again.
func TestProjectCreationLimit(t *testing.T) {
	var f *fixture
	f = newFixture(t, storetest.OpenSQLite(t), func(o *upload.Options) {
		o.Limiter = ratelimit.NewMemory(func() time.Time { return f.now }, 0)
	})
	tok := f.token("alice")
	for i := range ratelimit.DefaultRules().ProjectCreateUser.Limit {
		if code, msg := f.post(wheelForm(fmt.Sprintf("proj-%d", i), "1.0"), "__token__", tok); code != 200 {
			t.Fatalf("project %d: %d %s", i, code, msg)
		}
	}
	code, msg := f.post(wheelForm("one-too-many", "1.0"), "__token__", tok)
	if code != 429 || !strings.Contains(msg, "Too many new projects") {
		t.Errorf("project over the limit: %d %s", code, msg)
	}
	if code, msg := f.post(wheelForm("proj-0", "2.0"), "__token__", tok); code != 200 {
		t.Errorf("upload to an existing project while limited: %d %s", code, msg)
	}
	f.now = f.now.Add(time.Hour + time.Minute)
	if code, msg := f.post(wheelForm("one-too-many", "1.0"), "__token__", tok); code != 200 {
		t.Errorf("after the window: %d %s", code, msg)
	}

	// An administrator moving an index in is not limited, from the same address either.
	admin := f.token("root")
	u, err := f.db.UserByName(context.Background(), "root")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.db.SetAdmin(context.Background(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	for i := range 3 * ratelimit.DefaultRules().ProjectCreateIP.Limit {
		if code, msg := f.post(wheelForm(fmt.Sprintf("moved-%d", i), "1.0"), "__token__", admin); code != 200 {
			t.Fatalf("administrator's project %d: %d %s", i, code, msg)
		}
	}
}

// TestContentReuse: bytes the index holds are refused under any other filename (another tag of the same wheel,
// another version, another project), with PyPI's "File already exists" that twine --skip-existing knows, and the
// name of the file that has them; the identical filename stays the no-op success.
func TestContentReuse(t *testing.T) {
	for _, engine := range storetest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			f := newFixture(t, engine.Open(t))
			tok := f.token("alice")
			wheel := disttest.Wheel("demo", "1.0", disttest.Metadata("demo", "1.0"), nil)
			if code, msg := f.post(disttest.UploadForm("demo", "1.0", "demo-1.0-py3-none-any.whl", wheel), "__token__", tok); code != 200 {
				t.Fatalf("first upload: %d %s", code, msg)
			}
			for _, tc := range []struct{ name, project, version, filename string }{
				{"another tag", "demo", "1.0", "demo-1.0-py2.py3-none-any.whl"},
				{"another build number", "demo", "1.0", "demo-1.0-1-py3-none-any.whl"},
				{"another project", "copycat", "1.0", "copycat-1.0-py3-none-any.whl"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					code, msg := f.post(disttest.UploadForm(tc.project, tc.version, tc.filename, wheel), "__token__", tok)
					want := fmt.Sprintf("File already exists ('%s', with blake2_256 hash", tc.filename)
					if code != 400 || !strings.Contains(msg, want) || !strings.Contains(msg, "already uploaded as 'demo-1.0-py3-none-any.whl'") {
						t.Errorf("got %d %q, want 400 %q naming the first file", code, msg, want)
					}
				})
			}
			if code, msg := f.post(disttest.UploadForm("demo", "1.0", "demo-1.0-py3-none-any.whl", wheel), "__token__", tok); code != 200 {
				t.Errorf("identical re-upload: %d %s", code, msg)
			}
			if _, err := f.db.ProjectByName(context.Background(), "copycat"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the refused upload created its project: %v", err)
			}
		})
	}
}

// TestUnverifiedEmailCannotUpload: an account that never verified its address cannot publish, with a token it made
// or one an administrator made for it, to a new project or to one it owns.
func TestUnverifiedEmailCannotUpload(t *testing.T) {
	for _, engine := range storetest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			f := newFixture(t, engine.Open(t))
			alice := f.token("alice")
			if code, msg := f.post(wheelForm("demo", "1.0"), "__token__", alice); code != 200 {
				t.Fatalf("verified upload: %d %s", code, msg)
			}
			ctx := context.Background()
			u := storetest.MustUnverifiedUser(t, f.db, "dan")
			dan, _, err := f.tokens.Create(ctx, u, "test", nil, time.Time{}, audit.Request{})
			if err != nil {
				t.Fatal(err)
			}
			code, msg := f.post(wheelForm("dans-project", "1.0"), "__token__", dan)
			if code != 403 || !strings.Contains(msg, "The user 'dan' has no verified email address") {
				t.Errorf("new project: %d %q", code, msg)
			}
			// Alice verified, then changed her address: until she verifies the new one she cannot publish.
			a, _ := f.db.UserByName(ctx, "alice")
			if err := f.db.SetEmail(ctx, a.ID, "alice@new.example", f.now); err != nil {
				t.Fatal(err)
			}
			code, msg = f.post(wheelForm("demo", "1.1"), "__token__", alice)
			if code != 403 || !strings.Contains(msg, "Verify your address") {
				t.Errorf("own project with an unverified new address: %d %q", code, msg)
			}
			if err := f.db.SetEmailVerified(ctx, a.ID, "alice@new.example", f.now); err != nil {
				t.Fatal(err)
			}
			if code, msg := f.post(wheelForm("demo", "1.1"), "__token__", alice); code != 200 {
				t.Errorf("after verifying: %d %s", code, msg)
			}
		})
	}
}

// TestStagedUpload: on a project whose Owners want every upload approved, a token's upload is stored and checked
// but reaches no index page, twine is told where it waits, a retry is a no-op, and another file with the same
// content is refused as on the index.
func TestStagedUpload(t *testing.T) {
	for _, engine := range storetest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			f := newFixture(t, engine.Open(t))
			ctx := context.Background()
			tok := f.token("alice")
			if code, msg := f.post(wheelForm("demo", "1.0"), "__token__", tok); code != 200 {
				t.Fatalf("first upload: %d %s", code, msg)
			}
			demo, err := f.db.ProjectByName(ctx, "demo")
			if err != nil {
				t.Fatal(err)
			}
			if err := f.db.SetStaging(ctx, demo.ID, store.StageTokens); err != nil {
				t.Fatal(err)
			}
			wheel := disttest.Wheel("demo", "1.1", disttest.Metadata("demo", "1.1"), nil)
			form := disttest.UploadForm("demo", "1.1", "demo-1.1-py3-none-any.whl", wheel)
			code, msg := f.post(form, "__token__", tok)
			if code != 200 || !strings.Contains(msg, "Staged: demo-1.1-py3-none-any.whl is stored but not published") ||
				!strings.Contains(msg, "/manage/project/demo/releases/") {
				t.Fatalf("staged upload: %d %s", code, msg)
			}
			if _, err := f.db.FileByFilename(ctx, "demo-1.1-py3-none-any.whl"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("the staged file is on the index: %v", err)
			}
			staged, err := f.db.StagedFiles(ctx, demo.ID)
			if err != nil || len(staged) != 1 || staged[0].Version != "1.1" {
				t.Fatalf("staged files: %+v %v", staged, err)
			}
			if ref, err := f.db.BlobReferenced(ctx, staged[0].SHA256); err != nil || !ref {
				t.Errorf("the staged file's blob is not referenced, fsck would collect it: %v", err)
			}
			if code, msg := f.post(form, "__token__", tok); code != 200 || !strings.Contains(msg, "already uploaded") {
				t.Errorf("retry of a staged upload: %d %s", code, msg)
			}
			code, msg = f.post(disttest.UploadForm("demo", "1.1", "demo-1.1-py2.py3-none-any.whl", wheel), "__token__", tok)
			if code != 400 || !strings.Contains(msg, "File already exists") {
				t.Errorf("the staged content under another name: %d %s", code, msg)
			}
		})
	}
}
