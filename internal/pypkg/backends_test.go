package pypkg

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// requireTools says whether a missing build tool fails the test instead of
// skipping it: in CI the tools are installed (scripts/test) and must run.
func requireTools() bool {
	return os.Getenv("WHARF_REQUIRE_TOOLS") == "1" || os.Getenv("WHARF_TEST_REQUIRE") == "1"
}

func toolMissing(t *testing.T, format string, args ...any) {
	t.Helper()
	if requireTools() {
		t.Fatalf(format+" (WHARF_REQUIRE_TOOLS=1: it must be installed; scripts/test installs it)", args...)
	}
	t.Skipf(format, args...)
}

// debianPython is the interpreter with Debian's python3-build and backends
// beside it, not whatever python3 comes first on PATH.
func debianPython(t *testing.T) string {
	py := os.Getenv("WHARF_TEST_PYTHON")
	if py == "" {
		py = "/usr/bin/python3"
	}
	if _, err := os.Stat(py); err != nil {
		toolMissing(t, "%s is not installed", py)
	}
	return py
}

// TestRealBuildBackends builds a small project with each build backend
// people use and checks that every wheel and sdist it produces is
// accepted. The archive checks are strict; this is what keeps them strict
// only about what real tools never write. The data files exercise quoting
// in RECORD (a comma) and UTF-8 member names.
func TestRealBuildBackends(t *testing.T) {
	py := debianPython(t)
	data := map[string]string{"data,1.txt": "comma\n", "données.txt": "accents\n"}
	backends := []struct {
		name    string
		module  string // what must be importable
		project string // the [build-system] and metadata of pyproject.toml
		pkg     string
	}{
		{name: "setuptools", module: "setuptools", pkg: "demo_st", project: `
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"
[project]
name = "demo-st"
version = "1.0"
description = "Demo"
[tool.setuptools.package-data]
demo_st = ["*.txt"]
`},
		{name: "hatchling", module: "hatchling", pkg: "demo_hatch", project: `
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"
[project]
name = "demo.Hatch"
version = "1.0.0"
description = "Demo"
`},
		{name: "flit_core", module: "flit_core", pkg: "demo_flit", project: `
[build-system]
requires = ["flit_core"]
build-backend = "flit_core.buildapi"
[project]
name = "demo_flit"
version = "2.0"
description = "Demo"
`},
		{name: "poetry-core", module: "poetry.core", pkg: "demo_poetry", project: `
[build-system]
requires = ["poetry-core"]
build-backend = "poetry.core.masonry.api"
[tool.poetry]
name = "demo-poetry"
version = "0.1.0"
description = "Demo"
authors = ["A <a@example.com>"]
`},
	}
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			if out, err := exec.Command(py, "-c", "import build, "+be.module).CombinedOutput(); err != nil {
				toolMissing(t, "python3-build or %s is not importable by %s: %s", be.module, py, out)
			}
			dir := t.TempDir()
			files := map[string]string{
				"pyproject.toml":            be.project,
				be.pkg + "/__init__.py":     "\"\"\"Demo.\"\"\"\n",
				be.pkg + "/sub/__init__.py": "",
			}
			for name, body := range data {
				files[be.pkg+"/"+name] = body
			}
			for name, body := range files {
				p := filepath.Join(dir, name)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			// Debian's backends have no dist-info for some of their own
			// dependencies, hence --skip-dependency-check.
			cmd := exec.CommandContext(ctx, py, "-m", "build", "--no-isolation", "--skip-dependency-check", "--outdir", "dist", ".")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "SOURCE_DATE_EPOCH=1700000000")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("python3 -m build: %v\n%s", err, out)
			}
			built, err := os.ReadDir(filepath.Join(dir, "dist"))
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, de := range built {
				kinds = append(kinds, checkBuilt(t, filepath.Join(dir, "dist", de.Name())).String())
			}
			slices.Sort(kinds)
			if !slices.Equal(kinds, []string{"sdist", "wheel"}) {
				t.Errorf("built %v, want one sdist and one wheel", kinds)
			}
		})
	}
}

// checkBuilt reads one built file as an upload would and returns its kind.
func checkBuilt(t *testing.T, path string) Kind {
	t.Helper()
	name := filepath.Base(path)
	f, err := ParseFilename(name)
	if err != nil {
		t.Fatalf("ParseFilename(%q): %v", name, err)
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		t.Fatal(err)
	}
	var meta []byte
	if f.Kind == Wheel {
		meta, err = ReadWheelMetadata(file, st.Size(), f, Limits{})
	} else {
		meta, err = ReadSdistMetadata(file, st.Size(), f, Limits{})
	}
	if err != nil {
		t.Fatalf("%s refused: %v", name, err)
	}
	m, err := ParseMetadata(meta)
	if err != nil {
		t.Fatalf("%s: metadata: %v", name, err)
	}
	if !f.Matches(m.Name, m.Version) {
		t.Errorf("%s: metadata says %s %s", name, m.Name, m.Version)
	}
	return f.Kind
}
