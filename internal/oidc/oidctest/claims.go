package oidctest

import (
	"strings"
	"time"
)

// sha is the commit the claim helpers say the job runs.
const sha = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

// GitHubClaims returns the claims GitHub Actions puts in a job's ID token: repository owner/repo, pushing tag v1
// (ref refs/tags/v1), workflow .github/workflows/release.yml, issued now by this issuer for Audience with a fresh
// jti, valid for TokenLifetime. ids are strings, as GitHub sends them.
//
// overrides replace or add claims; a nil value removes one. The derived claims follow the overridden repository,
// ref and environment unless overridden themselves: repository_owner, sub ("repo:<repository>:ref:<ref>", or
// "repo:<repository>:environment:<environment>" when an environment is given, as GitHub does), workflow_ref,
// job_workflow_ref (the same as workflow_ref: override it to play a reusable workflow) and ref_type. There is no
// environment claim unless one is given.
func (i *Issuer) GitHubClaims(overrides map[string]any) map[string]any {
	repo := stringOr(overrides, "repository", "owner/repo")
	owner, _, _ := strings.Cut(repo, "/")
	ref := stringOr(overrides, "ref", "refs/tags/v1")
	env := stringOr(overrides, "environment", "")
	sub := "repo:" + repo + ":ref:" + ref
	if env != "" {
		sub = "repo:" + repo + ":environment:" + env
	}
	workflowRef := stringOr(overrides, "workflow_ref", repo+"/.github/workflows/release.yml@"+ref)
	refType := "branch"
	if strings.HasPrefix(ref, "refs/tags/") {
		refType = "tag"
	}
	now := i.now()
	c := map[string]any{
		"iss":                   i.URL(),
		"aud":                   Audience,
		"sub":                   sub,
		"jti":                   newJTI(),
		"iat":                   now.Unix(),
		"nbf":                   now.Unix(),
		"exp":                   now.Add(TokenLifetime).Unix(),
		"repository":            repo,
		"repository_id":         "7654321",
		"repository_owner":      owner,
		"repository_owner_id":   "1234567",
		"repository_visibility": "public",
		"actor":                 owner,
		"actor_id":              "1234567",
		"workflow":              "Release",
		"workflow_ref":          workflowRef,
		"workflow_sha":          sha,
		"job_workflow_ref":      workflowRef,
		"job_workflow_sha":      sha,
		"ref":                   ref,
		"ref_type":              refType,
		"ref_protected":         "false",
		"sha":                   sha,
		"event_name":            "push",
		"run_id":                "9876543210",
		"run_number":            "1",
		"run_attempt":           "1",
		"runner_environment":    "github-hosted",
	}
	if env != "" {
		c["environment"] = env
	}
	return apply(c, overrides)
}

// GitLabClaims returns the claims GitLab CI puts in a job's ID token: project ns/proj on gitlab.com, branch main,
// configuration .gitlab-ci.yml, issued now by this issuer for Audience with a fresh jti, valid for TokenLifetime.
// ids are strings and runner_id a number, as GitLab sends them.
//
// overrides replace or add claims; a nil value removes one. The derived claims follow the overridden project_path,
// ref, ref_type and environment unless overridden themselves: namespace_path, sub
// ("project_path:<project_path>:ref_type:<ref_type>:ref:<ref>"), ref_path and ci_config_ref_uri
// ("gitlab.com/<project_path>//.gitlab-ci.yml@<ref_path>"). There is no environment claim unless one is given.
func (i *Issuer) GitLabClaims(overrides map[string]any) map[string]any {
	project := stringOr(overrides, "project_path", "ns/proj")
	namespace := project[:max(strings.LastIndex(project, "/"), 0)]
	ref := stringOr(overrides, "ref", "main")
	refType := stringOr(overrides, "ref_type", "branch")
	refPath := "refs/heads/" + ref
	if refType == "tag" {
		refPath = "refs/tags/" + ref
	}
	refPath = stringOr(overrides, "ref_path", refPath)
	env := stringOr(overrides, "environment", "")
	now := i.now()
	c := map[string]any{
		"iss":                i.URL(),
		"aud":                Audience,
		"sub":                "project_path:" + project + ":ref_type:" + refType + ":ref:" + ref,
		"jti":                newJTI(),
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(TokenLifetime).Unix(),
		"namespace_id":       "1000",
		"namespace_path":     namespace,
		"project_id":         "2000",
		"project_path":       project,
		"project_visibility": "public",
		"user_id":            "3000",
		"user_login":         "user",
		"pipeline_id":        "4000",
		"pipeline_source":    "push",
		"job_id":             "5000",
		"ref":                ref,
		"ref_type":           refType,
		"ref_path":           refPath,
		"ref_protected":      "true",
		"ci_config_ref_uri":  "gitlab.com/" + project + "//.gitlab-ci.yml@" + refPath,
		"ci_config_sha":      sha,
		"sha":                sha,
		"runner_id":          6000,
		"runner_environment": "gitlab-hosted",
	}
	if env != "" {
		c["environment"] = env
		c["environment_protected"] = "false"
	}
	return apply(c, overrides)
}

// GoogleClaims returns the claims of a Google service account's ID token for email and sub (the account's numeric
// id), with email_verified true, issued now by this issuer for Audience and valid for an hour. Like Google's, it
// has no jti and no nbf.
func (i *Issuer) GoogleClaims(email, sub string) map[string]any {
	now := i.now()
	return map[string]any{
		"iss":            i.URL(),
		"aud":            Audience,
		"azp":            sub,
		"sub":            sub,
		"email":          email,
		"email_verified": true,
		"iat":            now.Unix(),
		"exp":            now.Add(time.Hour).Unix(),
	}
}

func stringOr(m map[string]any, name, def string) string {
	if s, ok := m[name].(string); ok {
		return s
	}
	return def
}

func apply(c, overrides map[string]any) map[string]any {
	for name, v := range overrides {
		c[name] = v
		if v == nil {
			delete(c, name)
		}
	}
	return c
}
