package e2e

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"wharf/internal/blob"
	"wharf/internal/blob/s3test"
)

// writeProject lays out a minimal Python project built by the given backend ("hatchling" or "setuptools").
func writeProject(t *testing.T, root, name, version, backend string, deps []string) string {
	t.Helper()
	dir := filepath.Join(root, name)
	module := strings.ToLower(strings.NewReplacer("-", "_", ".", "_").Replace(name))
	quoted := make([]string, len(deps))
	for i, d := range deps {
		quoted[i] = `"` + d + `"`
	}
	build := map[string]string{
		"hatchling":  "[build-system]\nrequires = [\"hatchling\"]\nbuild-backend = \"hatchling.build\"\n",
		"setuptools": "[build-system]\nrequires = [\"setuptools\"]\nbuild-backend = \"setuptools.build_meta\"\n",
	}[backend]
	files := map[string]string{
		"pyproject.toml": build + "\n[project]\nname = \"" + name + "\"\nversion = \"" + version + "\"\n" +
			"description = \"An end-to-end test project\"\nreadme = \"README.md\"\nrequires-python = \">=3.8\"\n" +
			"dependencies = [" + strings.Join(quoted, ", ") + "]\n",
		"README.md":             "# " + name + "\n\nBuilt by the end-to-end tests.\n",
		module + "/__init__.py": "VALUE = " + `"` + name + " " + version + `"` + "\n",
	}
	for path, body := range files {
		p := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// pick returns the built file with the given suffix (".whl" or ".tar.gz").
func pick(t *testing.T, dists []string, suffix string) string {
	t.Helper()
	for _, d := range dists {
		if strings.HasSuffix(d, suffix) {
			return d
		}
	}
	t.Fatalf("no %s among %v", suffix, dists)
	return ""
}

// buildDists runs python3-build offline and returns the built files.
func buildDists(t *testing.T, py, dir string) []string {
	t.Helper()
	sh(t, dir, nil, py, "-m", "build", "--no-isolation", "--skip-dependency-check", "--outdir", "dist", ".")
	dists, err := filepath.Glob(filepath.Join(dir, "dist", "*"))
	if err != nil || len(dists) != 2 {
		t.Fatalf("built %v (%v), want an sdist and a wheel", dists, err)
	}
	return dists
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	io.Copy(h, f)
	return hex.EncodeToString(h.Sum(nil))
}

func wheelMetadata(t *testing.T, path string) []byte {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, ".dist-info/METADATA") {
			rc, _ := f.Open()
			defer rc.Close()
			b, _ := io.ReadAll(rc)
			return b
		}
	}
	t.Fatalf("%s has no METADATA", path)
	return nil
}

type simpleJSON struct {
	Meta     map[string]any `json:"meta"`
	Name     string         `json:"name"`
	Versions []string       `json:"versions"`
	Files    []struct {
		Filename     string            `json:"filename"`
		URL          string            `json:"url"`
		Hashes       map[string]string `json:"hashes"`
		CoreMetadata any               `json:"core-metadata"`
		Size         int64             `json:"size"`
		UploadTime   string            `json:"upload-time"`
	} `json:"files"`
}

// TestBuildUploadInstall is the whole life of a package with the real clients: python3-build builds an sdist and a
// wheel, twine uploads them with an API token, pip installs them back into a fresh virtual environment.
func TestBuildUploadInstall(t *testing.T) {
	py := python(t)
	twine := tool(t, "/usr/bin/twine")
	for _, setup := range setups(t) {
		t.Run(setup.Name, func(t *testing.T) {
			in := newSetupInstance(t, setup)
			if setup.S3 {
				// Downloads go to the bucket here (the crash and cluster tests stream them from it).
				in.extraEnv = append(in.extraEnv, "WHARF_STORAGE_URL="+s3test.URL(in.bucket)+"&redirect=true")
			}
			in.start()
			if resp, body := in.get("/readyz"); resp.StatusCode != 200 {
				t.Fatalf("/readyz: %d %s", resp.StatusCode, body)
			}
			token := in.userWithToken("alice")
			work := t.TempDir()
			core := buildDists(t, py, writeProject(t, work, "demo-core", "1.0.0", "hatchling", nil))
			app := buildDists(t, py, writeProject(t, work, "Demo_App", "0.1", "setuptools", []string{"demo-core>=1.0"}))

			upload := func(extra []string, files ...string) []string {
				return append(append([]string{"upload", "--non-interactive", "--disable-progress-bar",
					"--repository-url", in.URL + "/legacy/", "-u", "__token__", "-p", token}, extra...), files...)
			}
			sh(t, work, nil, twine, upload(nil, core...)...)
			sh(t, work, nil, twine, upload(nil, app...)...)

			// Retries are safe: an identical re-upload is a no-op success.
			sh(t, work, nil, twine, upload(nil, core...)...)
			// Other bytes under a used filename are refused, and twine shows why.
			coreWheel, coreSdist := pick(t, core, ".whl"), pick(t, core, ".tar.gz")
			other := filepath.Join(work, "other", filepath.Base(coreWheel))
			os.MkdirAll(filepath.Dir(other), 0o755)
			rebuilt := buildDists(t, py, writeProject(t, filepath.Join(work, "again"), "demo-core", "1.0.0", "hatchling", []string{"requests"}))
			b, _ := os.ReadFile(pick(t, rebuilt, ".whl"))
			os.WriteFile(other, b, 0o644)
			if sha256File(t, other) == sha256File(t, coreWheel) {
				t.Fatal("the rebuilt wheel is byte-identical; the test needs other bytes")
			}
			out := shFail(t, work, nil, twine, upload(nil, other)...)
			if !strings.Contains(out, "File already exists") {
				t.Errorf("re-upload of other bytes: twine did not show PyPI's message:\n%s", out)
			}
			// --skip-existing recognises PyPI's answer.
			out = sh(t, work, nil, twine, upload([]string{"--skip-existing"}, other)...)
			if !strings.Contains(out, "Skipping") {
				t.Errorf("twine --skip-existing did not skip:\n%s", out)
			}
			// A password is never enough to upload.
			out = shFail(t, work, nil, twine, "upload", "--non-interactive", "--disable-progress-bar",
				"--repository-url", in.URL+"/legacy/", "-u", "alice", "-p", "correct horse battery staple", coreSdist)
			if !strings.Contains(out, "Username/Password authentication is no longer supported") {
				t.Errorf("password upload: twine did not show why it was refused:\n%s", out)
			}

			venv := filepath.Join(t.TempDir(), "venv")
			sh(t, work, nil, py, "-m", "venv", venv)
			pip := filepath.Join(venv, "bin", "pip")
			noNet := []string{"PIP_NO_CACHE_DIR=1", "PIP_DISABLE_PIP_VERSION_CHECK=1", "PIP_CONFIG_FILE=/dev/null"}
			sh(t, work, noNet, pip, "install", "--index-url", in.URL+"/simple/", "demo-app")
			got := sh(t, work, nil, filepath.Join(venv, "bin", "python"), "-c", "import demo_app, demo_core; print(demo_app.VALUE, '|', demo_core.VALUE)")
			if strings.TrimSpace(got) != "Demo_App 0.1 | demo-core 1.0.0" {
				t.Errorf("installed modules say %q", got)
			}

			dl := t.TempDir()
			sh(t, work, noNet, pip, "download", "--index-url", in.URL+"/simple/", "--only-binary", ":all:", "--no-deps", "-d", dl, "demo-core")
			wheels, _ := filepath.Glob(filepath.Join(dl, "*.whl"))
			if len(wheels) != 1 || sha256File(t, wheels[0]) != sha256File(t, coreWheel) {
				t.Fatalf("pip download gave %v, want the uploaded wheel byte for byte", wheels)
			}

			resp, body := in.get("/simple/demo-core/", "Accept", "application/vnd.pypi.simple.v1+json")
			if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.pypi.simple.v1+json" {
				t.Fatalf("PEP 691 content type %q", ct)
			}
			var page simpleJSON
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatal(err)
			}
			if len(page.Files) != 2 || len(page.Versions) != 1 || page.Versions[0] != "1.0.0" {
				t.Fatalf("PEP 691 page: %s", body)
			}
			for _, f := range page.Files {
				local := coreSdist
				if strings.HasSuffix(f.Filename, ".whl") {
					local = coreWheel
				}
				if f.Filename != filepath.Base(local) || f.Hashes["sha256"] != sha256File(t, local) {
					t.Errorf("file %s: sha256 %s, want %s of %s", f.Filename, f.Hashes["sha256"], sha256File(t, local), local)
				}
				first, _ := in.get(strings.TrimPrefix(f.URL, in.URL))
				if setup.S3 && (first.StatusCode != http.StatusFound || !strings.HasPrefix(first.Header.Get("Location"), in.bucket.Endpoint)) {
					t.Errorf("a download with redirect=true: %d to %q, want a redirect to the bucket", first.StatusCode, first.Header.Get("Location"))
				}
				dl, served := in.download(strings.TrimPrefix(f.URL, in.URL))
				if cc := dl.Header.Get("Cache-Control"); dl.StatusCode != http.StatusOK || cc != "public, max-age=31536000, immutable" {
					t.Errorf("download of %s: %d, Cache-Control %q", f.Filename, dl.StatusCode, cc)
				}
				if sum := sha256.Sum256(served); hex.EncodeToString(sum[:]) != f.Hashes["sha256"] {
					t.Errorf("served bytes of %s do not hash to the index's sha256", f.Filename)
				}
				if !strings.HasSuffix(f.Filename, ".whl") {
					continue
				}
				meta, ok := f.CoreMetadata.(map[string]any)
				if !ok {
					t.Fatalf("wheel without core-metadata: %s", body)
				}
				resp, served := in.download(strings.TrimPrefix(f.URL, in.URL) + ".metadata")
				want := wheelMetadata(t, local)
				sum := sha256.Sum256(served)
				if resp.StatusCode != 200 || string(served) != string(want) || meta["sha256"] != hex.EncodeToString(sum[:]) {
					t.Errorf("metadata file: status %d, equal to METADATA %v, hash %v vs %x", resp.StatusCode, string(served) == string(want), meta["sha256"], sum)
				}
			}

			resp, _ = in.get("/simple/Demo.Core/")
			if resp.StatusCode != 301 || resp.Header.Get("Location") != "/simple/demo-core/" {
				t.Errorf("non-normalised name: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			if resp, _ := in.get("/simple/no-such-project/"); resp.StatusCode != 404 {
				t.Errorf("unknown project: %d", resp.StatusCode)
			}
			resp, body = in.get("/pypi/demo-app/json")
			var api struct {
				Info struct {
					Name, Version string
					RequiresDist  []string `json:"requires_dist"`
				}
				Releases map[string][]any
			}
			if err := json.Unmarshal(body, &api); err != nil || resp.StatusCode != 200 {
				t.Fatalf("JSON API: %d %v %s", resp.StatusCode, err, body)
			}
			if !strings.EqualFold(strings.ReplaceAll(api.Info.Name, "_", "-"), "demo-app") || api.Info.Version != "0.1" ||
				len(api.Releases["0.1"]) != 2 || len(api.Info.RequiresDist) != 1 || !strings.HasPrefix(api.Info.RequiresDist[0], "demo-core") {
				t.Errorf("JSON API info: %+v", api)
			}

			checkFsck(t, in)
		})
	}
}

// checkFsck runs wharf fsck on an instance holding the four uploaded files, each with its object, then leaves an object that no file
// names, as a crash between storing a file and recording it would: fsck must list it, and fsck --gc remove it,
// wherever the files are.
func checkFsck(t *testing.T, in *instance) {
	type report struct {
		Files, Objects int
		Problems       []any
		Unreferenced   []string
	}
	fsck := func(args ...string) report {
		t.Helper()
		out, err := in.run("", append([]string{"fsck", "--json"}, args...)...)
		var rep report
		if err != nil || json.Unmarshal([]byte(out), &rep) != nil {
			t.Fatalf("fsck %v: %v\n%s", args, err, out)
		}
		return rep
	}
	if rep := fsck(); len(rep.Problems) != 0 || len(rep.Unreferenced) != 0 || rep.Files != 4 || rep.Objects < rep.Files {
		t.Fatalf("fsck after the uploads: %+v", rep)
	}

	var store blob.Store
	var err error
	if in.bucket.Bucket != "" {
		o := in.bucket
		o.StagingDir = t.TempDir()
		store, err = blob.NewS3(t.Context(), o)
	} else {
		store, err = blob.NewDisk(filepath.Join(in.dataDir, "files"))
	}
	if err != nil {
		t.Fatal(err)
	}
	w, err := store.NewWriter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	w.Write([]byte("an object that no file names"))
	orphan, err := w.Commit(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep := fsck(); len(rep.Problems) != 0 || !slices.Equal(rep.Unreferenced, []string{orphan.Key}) {
		t.Errorf("fsck with an orphaned object: %+v; want it listed as unreferenced", rep)
	}
	fsck("--gc", "--grace", "0s")
	if _, err := store.Stat(t.Context(), orphan.Key); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("the orphaned object after fsck --gc: %v", err)
	}
	if rep := fsck(); len(rep.Problems) != 0 || len(rep.Unreferenced) != 0 {
		t.Errorf("fsck after --gc: %+v", rep)
	}
}
