package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"wharf/internal/disttest"
	"wharf/internal/oidc/oidctest"
	"wharf/internal/store/storetest"
)

// TestTrustedPublishingFromCI plays CI jobs against the real binary: a shell script asks a local OIDC issuer (real
// keys, GitHub Actions' token endpoint) for a token, exchanges it at /_/oidc/mint-token with curl and uploads a real
// wheel with twine. A pending publisher creates its project on the first publish; once the project accepts only
// Trusted Publishing, its Owner's own API token is refused with the reason in twine's output; a job of another
// repository gets no token.
func TestTrustedPublishingFromCI(t *testing.T) {
	tool(t, "/usr/bin/twine")
	tool(t, "curl")
	script, err := filepath.Abs("testdata/ci-publish.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, engine := range storetest.Engines(t) {
		t.Run(engine.Name, func(t *testing.T) {
			issuer := oidctest.New(t)
			issuer.SetTokenClaims(issuer.GitHubClaims(nil))
			in := newInstance(t, engine)
			in.extraEnv = []string{"WHARF_OIDC_GITHUB_ISSUER=" + issuer.URL()}
			in.start()
			alice := in.userWithToken("alice")
			dir := t.TempDir()
			wheel := func(name, version string) string {
				p := filepath.Join(dir, disttest.WheelName(name, version))
				if err := os.WriteFile(p, disttest.Wheel(name, version, disttest.Metadata(name, version), nil), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			in.twine(t, alice, true, "", wheel("demo", "1.0"))
			ci := []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + issuer.TokenURL(), "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + issuer.RequestToken()}

			// Without a publisher, the job's valid token is refused with PyPI's code and the reason.
			out := shFail(t, dir, ci, script, in.URL, wheel("demo", "1.1"))
			if !strings.Contains(out, "invalid-publisher") || !strings.Contains(out, "owner/repo") {
				t.Errorf("a job without a publisher:\n%s", out)
			}
			in.mustRun("", "publisher", "add", "demo", "github", "--field", "owner=owner", "--field", "repository=repo",
				"--field", "owner_id=1234567", "--field", "workflow=release.yml")
			sh(t, dir, ci, script, in.URL, wheel("demo", "1.1"))
			if _, body := in.get("/simple/demo/"); !strings.Contains(string(body), "demo-1.1-py3-none-any.whl") {
				t.Errorf("the published file is not on the index:\n%s", body)
			}
			if out := in.mustRun("", "publisher", "list", "demo", "--json"); !strings.Contains(out, `"description": "GitHub repository owner/repo, workflow release.yml"`) {
				t.Errorf("publisher list:\n%s", out)
			}

			// A pending publisher creates its project, owned by the user who registered it.
			in.mustRun("", "publisher", "add", "fresh-thing", "github", "--pending", "--owner", "alice", "--field", "owner=owner",
				"--field", "repository=repo", "--field", "owner_id=1234567", "--field", "workflow=release.yml")
			sh(t, dir, ci, script, in.URL, wheel("fresh_thing", "0.1"))
			resp, body := in.get("/pypi/fresh-thing/json")
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"0.1"`) {
				t.Errorf("the pending publisher's project: %d\n%s", resp.StatusCode, body)
			}
			if out := in.mustRun("", "publisher", "list", "fresh-thing"); strings.Contains(out, "pending") || !strings.Contains(out, "fresh") {
				t.Errorf("the pending publisher did not become the project's:\n%s", out)
			}

			// Trusted Publishing only: the Owner's own token is refused, the job still publishes.
			in.mustRun("", "publisher", "only", "demo", "on")
			in.twine(t, alice, false, "only from its Trusted Publishers", wheel("demo", "1.2"))
			sh(t, dir, ci, script, in.URL, wheel("demo", "1.3"))

			// A job of another repository gets nothing.
			issuer.SetTokenClaims(issuer.GitHubClaims(map[string]any{"repository": "mallory/fork", "repository_owner_id": "666"}))
			out = shFail(t, dir, ci, script, in.URL, wheel("demo", "1.4"))
			if !strings.Contains(out, "invalid-publisher") {
				t.Errorf("a job of another repository:\n%s", out)
			}
			if _, body := in.get("/simple/demo/"); strings.Contains(string(body), "demo-1.2") || strings.Contains(string(body), "demo-1.4") ||
				!strings.Contains(string(body), "demo-1.3") {
				t.Errorf("the index after the refusals:\n%s", body)
			}
		})
	}
}
