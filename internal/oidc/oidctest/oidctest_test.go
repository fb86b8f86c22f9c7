package oidctest_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"wharf/internal/oidc"
	"wharf/internal/oidc/oidctest"
)

func verifier(t *testing.T, iss *oidctest.Issuer, audience string) *oidc.Verifier {
	t.Helper()
	v, err := oidc.NewVerifier(oidc.Options{Issuer: iss.URL(), Audience: audience})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// requestToken plays a CI job asking for its ID token, as gh-action-pypi-publish does.
func requestToken(t *testing.T, iss *oidctest.Issuer, bearer, audience string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, iss.TokenURL()+"&audience="+audience, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Value string `json:"value"`
	}
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, body.Value
}

func TestTokenEndpoint(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	for _, bearer := range []string{"", "wrong", iss.RequestToken() + "x"} {
		if code, _ := requestToken(t, iss, bearer, "wharf"); code != http.StatusUnauthorized {
			t.Errorf("bearer %q: status %d, want 401", bearer, code)
		}
	}

	iss.SetTokenClaims(iss.GitHubClaims(map[string]any{"repository": "acme/widget", "environment": "release"}))
	v := verifier(t, iss, "upload.example")
	seen := map[string]bool{}
	for range 2 {
		code, tok := requestToken(t, iss, iss.RequestToken(), "upload.example")
		if code != http.StatusOK {
			t.Fatalf("status %d", code)
		}
		c, err := v.Verify(context.Background(), tok)
		if err != nil {
			t.Fatal(err)
		}
		if c.Subject != "repo:acme/widget:environment:release" || c.String("environment") != "release" {
			t.Errorf("sub %q, environment %q", c.Subject, c.String("environment"))
		}
		if seen[c.JTI] {
			t.Errorf("jti %q repeated", c.JTI)
		}
		seen[c.JTI] = true
	}

	iss.SetTokenClaimsFunc(func(audience string) map[string]any {
		return iss.GoogleClaims("ci@example.iam.gserviceaccount.com", "42")
	})
	_, tok := requestToken(t, iss, iss.RequestToken(), "upload.example")
	// The function's claims are signed as they are: aud stays the helper's.
	if _, err := v.Verify(context.Background(), tok); err == nil {
		t.Error("token for audience wharf accepted for upload.example")
	}
	if _, err := verifier(t, iss, oidctest.Audience).Verify(context.Background(), tok); err != nil {
		t.Error(err)
	}
}

func TestGitHubClaimsDerive(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	c := iss.GitHubClaims(map[string]any{
		"repository":       "acme/widget",
		"ref":              "refs/heads/main",
		"job_workflow_ref": "acme/shared/.github/workflows/publish.yml@refs/heads/main",
		"sha":              nil,
	})
	got := map[string]any{}
	for _, name := range []string{"sub", "repository_owner", "workflow_ref", "job_workflow_ref", "ref_type", "sha"} {
		got[name] = c[name]
	}
	want := map[string]any{
		"sub":              "repo:acme/widget:ref:refs/heads/main",
		"repository_owner": "acme",
		"workflow_ref":     "acme/widget/.github/workflows/release.yml@refs/heads/main",
		"job_workflow_ref": "acme/shared/.github/workflows/publish.yml@refs/heads/main",
		"ref_type":         "branch",
		"sha":              nil,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, ok := c["sha"]; ok {
		t.Error("a nil override did not remove sha")
	}
}

func TestGitLabClaimsDerive(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	c := iss.GitLabClaims(map[string]any{"project_path": "group/sub/proj", "ref": "v2", "ref_type": "tag"})
	want := map[string]any{
		"namespace_path":    "group/sub",
		"sub":               "project_path:group/sub/proj:ref_type:tag:ref:v2",
		"ci_config_ref_uri": "gitlab.com/group/sub/proj//.gitlab-ci.yml@refs/tags/v2",
	}
	for name, w := range want {
		if c[name] != w {
			t.Errorf("%s = %v, want %v", name, c[name], w)
		}
	}
}

func TestRotateAndDown(t *testing.T) {
	t.Parallel()
	iss := oidctest.New(t)
	if r, e := iss.KIDs(); r != "rsa-1" || e != "ec-1" {
		t.Fatalf("kids %s, %s", r, e)
	}
	iss.Rotate()
	if r, e := iss.KIDs(); r != "rsa-2" || e != "ec-2" {
		t.Fatalf("kids after Rotate %s, %s", r, e)
	}
	resp, err := http.Get(iss.URL() + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	err = json.NewDecoder(resp.Body).Decode(&set)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || set.Keys[0].Kid != "rsa-2" || set.Keys[1].Kid != "ec-2" {
		t.Errorf("JWK set after Rotate: %+v", set.Keys)
	}

	iss.SetDown(true)
	for _, path := range []string{"/.well-known/openid-configuration", "/jwks"} {
		resp, err := http.Get(iss.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s while down: %d", path, resp.StatusCode)
		}
	}
	if d, j := iss.DiscoveryFetches(), iss.JWKSFetches(); d != 1 || j != 2 {
		t.Errorf("fetches %d, %d; want 1, 2", d, j)
	}
}
