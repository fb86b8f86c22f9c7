package e2e

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"wharf/internal/disttest"
	"wharf/internal/store/storetest"
)

// TestHostileUploads drives the refusals of docs/security.md's upload section through twine and curl against the
// real binary, the way a hostile or careless uploader meets them: each refusal must reach the client's output
// with its reason, and nothing refused may show up in the index.
func TestHostileUploads(t *testing.T) {
	tool(t, "/usr/bin/twine")
	curl := tool(t, "curl")
	for _, engine := range storetest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			in := newInstance(t, engine)
			in.extraEnv = []string{"WHARF_MAX_FILE_SIZE=4MiB", "WHARF_RATE_LIMITS=project-create-user=3/1h"}
			in.start()
			alice := in.userWithToken("alice")
			dir := t.TempDir()
			write := func(name string, b []byte) string {
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			wheel := disttest.Wheel("demo", "1.0", disttest.Metadata("demo", "1.0"), nil)
			in.twine(t, alice, true, "", write("demo-1.0-py3-none-any.whl", wheel))

			// The same bytes under another tag: PyPI's message, naming the file that has them.
			in.twine(t, alice, false, "already uploaded as 'demo-1.0-py3-none-any.whl'", write("demo-1.0-py2.py3-none-any.whl", wheel))

			// Over the file limit: the 413 and its reason reach twine, not a reset connection.
			noise := make([]byte, 6<<20)
			rand.Read(noise)
			big := disttest.Wheel("demo", "1.1", disttest.Metadata("demo", "1.1"), map[string][]byte{"demo/noise.bin": noise})
			in.twine(t, alice, false, "File too large. Limit for a file is 4 MiB", write("demo-1.1-py3-none-any.whl", big))

			// A decompression bomb: 200 MiB of zeros in one member, a few hundred KiB on the wire.
			bomb := disttest.Wheel("demo", "1.2", disttest.Metadata("demo", "1.2"), map[string][]byte{"demo/zeros.bin": make([]byte, 200<<20)})
			in.twine(t, alice, false, "Distribution file too large: member", write("demo-1.2-py3-none-any.whl", bomb))

			// Junk after the end of the archive: Go's and Python's zip readers open it, the index does not.
			junk := append(disttest.Wheel("demo", "1.3", disttest.Metadata("demo", "1.3"), nil), []byte("trailing junk")...)
			out := in.curlUpload(t, curl, alice, "demo", "1.3", write("demo-1.3-py3-none-any.whl", junk))
			if !strings.Contains(out, "400") || !strings.Contains(out, "Invalid wheel") {
				t.Errorf("a wheel with trailing junk: curl got\n%s", out)
			}

			// A project named after a file that people give pip by mistake.
			req := disttest.Wheel("requirements.txt", "1.0", disttest.Metadata("requirements.txt", "1.0"), nil)
			out = in.curlUpload(t, curl, alice, "requirements.txt", "1.0", write("requirements_txt-1.0-py3-none-any.whl", req))
			if !strings.Contains(out, "400") || !strings.Contains(out, "it is the name of a file") {
				t.Errorf("a project named requirements.txt: curl got\n%s", out)
			}

			// An account without a verified address cannot publish, even with a token an administrator made.
			in.mustRun("a long passphrase here\n", "user", "create", "dan", "--email", "dan@example.com", "--unverified")
			var tok struct{ Token string }
			json.Unmarshal([]byte(in.mustRun("", "token", "create", "--user", "dan", "--json")), &tok)
			in.twine(t, tok.Token, false, "has no verified email address", write("dans_thing-1.0-py3-none-any.whl",
				disttest.Wheel("dans-thing", "1.0", disttest.Metadata("dans-thing", "1.0"), nil)))

			// The project-creation limit is a setting (three an hour here); an administrator is exempt.
			bob := in.userWithToken("bob")
			var bobs []string
			for i := range 4 {
				name := fmt.Sprintf("bobs-%d", i)
				bobs = append(bobs, write(disttest.WheelName(name, "1.0"), disttest.Wheel(name, "1.0", disttest.Metadata(name, "1.0"), nil)))
			}
			in.twine(t, bob, true, "", bobs[:3]...)
			in.twine(t, bob, false, "Too many new projects", bobs[3])
			root := in.userWithToken("root")
			in.mustRun("", "user", "admin", "root")
			var moved []string
			for i := range 8 {
				name := fmt.Sprintf("moved-%d", i)
				moved = append(moved, write(disttest.WheelName(name, "1.0"), disttest.Wheel(name, "1.0", disttest.Metadata(name, "1.0"), nil)))
			}
			in.twine(t, root, true, "", moved...)

			// Disabling an account revokes its tokens for good: enabling it again does not bring them back.
			in.mustRun("", "user", "disable", "alice")
			in.mustRun("", "user", "enable", "alice")
			in.twine(t, alice, false, "the token was revoked", write("demo-1.4-py3-none-any.whl",
				disttest.Wheel("demo", "1.4", disttest.Metadata("demo", "1.4"), nil)))

			// Nothing refused is listed.
			_, body := in.get("/simple/demo/", "Accept", "application/vnd.pypi.simple.v1+json")
			var page simpleJSON
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatal(err)
			}
			if len(page.Files) != 1 || page.Files[0].Filename != "demo-1.0-py3-none-any.whl" {
				t.Errorf("demo lists %+v, want only the first wheel", page.Files)
			}
			for _, name := range []string{"requirements-txt", "dans-thing", "bobs-3"} {
				if resp, _ := in.get("/simple/" + name + "/"); resp.StatusCode != 404 {
					t.Errorf("refused project %s answers %d", name, resp.StatusCode)
				}
			}
		})
	}
}

// twine uploads files with token and checks the outcome; want is a part of twine's output when it must fail.
func (in *instance) twine(t *testing.T, token string, succeed bool, want string, files ...string) {
	t.Helper()
	args := append([]string{"upload", "--non-interactive", "--disable-progress-bar",
		"--repository-url", in.URL + "/legacy/", "-u", "__token__", "-p", token}, files...)
	cmd := exec.Command("/usr/bin/twine", args...)
	out, err := cmd.CombinedOutput()
	switch {
	case succeed && err != nil:
		t.Fatalf("twine upload %v: %v\n%s", names(files), err, out)
	case !succeed && err == nil:
		t.Fatalf("twine upload %v succeeded, want a refusal saying %q:\n%s", names(files), want, out)
	// twine wraps its messages to the terminal's width: compare the words.
	case !succeed && !strings.Contains(strings.Join(strings.Fields(string(out)), " "), want):
		t.Errorf("twine upload %v: the output does not say %q:\n%s", names(files), want, out)
	}
}

// curlUpload posts a wheel as twine would, for archives twine itself refuses to read, and returns the status line
// and body.
func (in *instance) curlUpload(t *testing.T, curl, token, name, version, path string) string {
	t.Helper()
	out, _ := exec.Command(curl, "-sS", "-i", "-u", "__token__:"+token,
		"-F", ":action=file_upload", "-F", "protocol_version=1", "-F", "metadata_version=2.1",
		"-F", "name="+name, "-F", "version="+version, "-F", "filetype=bdist_wheel",
		"-F", "sha256_digest="+sha256File(t, path), "-F", "content=@"+path, in.URL+"/legacy/").CombinedOutput()
	return string(out)
}

func names(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}
