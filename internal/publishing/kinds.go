package publishing

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"wharf/internal/config"
	"wharf/internal/store"
)

// The kinds of publisher. GitHub, GitLab and Google have their issuers built in (their URLs are settings, for
// GitHub Enterprise or a self-managed GitLab); Custom is for an issuer an administrator registered.
const (
	GitHub = "github"
	GitLab = "gitlab"
	Google = "google"
	Custom = "oidc"
)

// Field is one thing a person types to describe a publisher.
type Field struct {
	Name     string
	Label    string
	Required bool
	Help     string
}

// Fields lists what a publisher of kind is described by, in the order forms show them; nil for an unknown kind.
// A Custom publisher's fields are its issuer's open claims (IssuerFields).
func Fields(kind string) []Field {
	switch kind {
	case GitHub:
		return []Field{
			{"owner", "Owner", true, "the user or organization that owns the repository"},
			{"repository", "Repository name", true, "without the owner"},
			{"owner_id", "Owner's numeric id", true, "the id GitHub gives the owner (https://api.github.com/users/OWNER shows it): a renamed or re-registered owner keeps no access"},
			{"workflow", "Workflow file name", true, "the file in .github/workflows/, such as release.yml"},
			{"environment", "Environment", false, "the GitHub environment the job must run in; recommended, with required reviewers"},
			{"reusable_workflow", "Reusable workflow", false, "when the publishing job is a reusable workflow: OWNER/REPO/.github/workflows/FILE.yml"},
		}
	case GitLab:
		return []Field{
			{"namespace", "Namespace", true, "the user or group, with subgroups, such as group/subgroup"},
			{"project", "Project name", true, "without the namespace"},
			{"ci_config_path", "CI configuration file", true, "such as .gitlab-ci.yml"},
			{"environment", "Environment", false, "the GitLab environment the job must run in"},
		}
	case Google:
		return []Field{
			{"email", "Service account email", true, "the account the job's identity token is for"},
			{"subject", "Subject", false, "the account's unique id, which survives a deleted and re-created account of the same email"},
		}
	}
	return nil
}

// IssuerFields are the fields of a publisher of a registered issuer: every claim the issuer leaves open.
func IssuerFields(is store.Issuer) []Field {
	var out []Field
	for _, name := range sortedKeys(is.Claims) {
		if is.Claims[name] == "" {
			out = append(out, Field{Name: name, Label: name, Required: true, Help: "the value of the token's " + name + " claim"})
		}
	}
	return out
}

var (
	githubName   = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,99})$`)
	workflowFile = regexp.MustCompile(`^[A-Za-z0-9._-]+\.ya?ml$`)
	reusableRef  = regexp.MustCompile(`^[A-Za-z0-9._-]+/[A-Za-z0-9._-]+/\.github/workflows/[A-Za-z0-9._-]+\.ya?ml$`)
	gitlabPath   = regexp.MustCompile(`^[A-Za-z0-9_.][A-Za-z0-9_.+-]*(?:/[A-Za-z0-9_.][A-Za-z0-9_.+-]*)*$`)
	numeric      = regexp.MustCompile(`^[0-9]{1,20}$`)
	emailAddr    = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

// FieldError is a refusal of what a person typed to describe a publisher.
type FieldError struct{ Reason string }

func (e *FieldError) Error() string { return e.Reason }

func fieldErr(format string, args ...any) error { return &FieldError{fmt.Sprintf(format, args...)} }

// normalise checks the fields of a publisher of kind and returns what tokens are matched against (claims) and the
// value they are found by (lookup). Values are trimmed; names that the issuer compares without case are lowered.
func normalise(kind string, issuer *store.Issuer, in map[string]string) (claims map[string]string, lookup string, err error) {
	var fields []Field
	if kind == Custom {
		fields = IssuerFields(*issuer)
	} else {
		fields = Fields(kind)
	}
	if fields == nil && kind != Custom {
		return nil, "", fieldErr("Unknown kind of publisher %q: use github, gitlab, google, or a registered issuer.", kind)
	}
	claims = map[string]string{}
	known := map[string]bool{}
	for _, f := range fields {
		known[f.Name] = true
		v := strings.TrimSpace(in[f.Name])
		if v == "" && f.Required {
			return nil, "", fieldErr("Give the publisher's %s.", strings.ToLower(f.Label))
		}
		if len(v) > 200 || strings.ContainsAny(v, "\r\n\t") {
			return nil, "", fieldErr("The %s is not a valid value.", strings.ToLower(f.Label))
		}
		if v != "" {
			claims[f.Name] = v
		}
	}
	for name, v := range in {
		if !known[name] && strings.TrimSpace(v) != "" {
			return nil, "", fieldErr("A %s publisher has no field %q.", kind, name)
		}
	}
	switch kind {
	case GitHub:
		for _, n := range []string{"owner", "repository"} {
			if !githubName.MatchString(claims[n]) {
				return nil, "", fieldErr("%q is not a GitHub %s name.", claims[n], n)
			}
		}
		if !numeric.MatchString(claims["owner_id"]) {
			return nil, "", fieldErr("The owner's id is the number GitHub gives the owner, not %q.", claims["owner_id"])
		}
		if !workflowFile.MatchString(claims["workflow"]) {
			return nil, "", fieldErr("The workflow is the name of a file in .github/workflows/, such as release.yml, not %q.", claims["workflow"])
		}
		if r := claims["reusable_workflow"]; r != "" && !reusableRef.MatchString(r) {
			return nil, "", fieldErr("A reusable workflow is named OWNER/REPO/.github/workflows/FILE.yml, not %q.", r)
		}
		claims["owner"], claims["repository"] = strings.ToLower(claims["owner"]), strings.ToLower(claims["repository"])
		if e, ok := claims["environment"]; ok {
			claims["environment"] = strings.ToLower(e)
		}
		lookup = claims["owner"] + "/" + claims["repository"]
	case GitLab:
		for _, n := range []string{"namespace", "project"} {
			if !gitlabPath.MatchString(claims[n]) || n == "project" && strings.Contains(claims[n], "/") {
				return nil, "", fieldErr("%q is not a GitLab %s.", claims[n], n)
			}
		}
		if p := claims["ci_config_path"]; strings.HasPrefix(p, "/") || strings.Contains(p, "..") || strings.Contains(p, "@") {
			return nil, "", fieldErr("The CI configuration file is a path in the repository, such as .gitlab-ci.yml, not %q.", p)
		}
		claims["namespace"], claims["project"] = strings.ToLower(claims["namespace"]), strings.ToLower(claims["project"])
		lookup = claims["namespace"] + "/" + claims["project"]
	case Google:
		if !emailAddr.MatchString(claims["email"]) {
			return nil, "", fieldErr("%q is not an email address.", claims["email"])
		}
		claims["email"] = strings.ToLower(claims["email"])
		lookup = claims["email"]
	case Custom:
		lookup = fmt.Sprintf("issuer:%d", issuer.ID)
	}
	return claims, lookup, nil
}

// Claims is what the publishing rules read of a verified OIDC token.
type Claims interface {
	String(name string) string
}

// Mismatch says why a verified token does not belong to a publisher, worded for the CI log.
type Mismatch struct{ Reason string }

func (m *Mismatch) Error() string { return m.Reason }

func mismatch(format string, args ...any) error { return &Mismatch{fmt.Sprintf(format, args...)} }

// precheck refuses tokens of kind that no publisher may accept, whatever it says: GitHub's pull_request_target
// runs a workflow of the base repository with a fork's code at hand, and a token without the commit it was made for
// cannot be traced.
func precheck(kind string, c Claims) error {
	switch kind {
	case GitHub:
		if c.String("event_name") == "pull_request_target" {
			return mismatch("tokens from workflows triggered by pull_request_target are refused: such a run handles code from forks. Publish from a push, release or workflow_dispatch event.")
		}
		fallthrough
	case GitLab:
		if c.String("ref") == "" || c.String("sha") == "" {
			return mismatch("the token has no ref or sha claim: a publish must name the commit it was built from.")
		}
	}
	return nil
}

// lookupOf is the value a token of kind is looked up by, as normalise stores it.
func lookupOf(kind string, issuerID int64, c Claims) string {
	switch kind {
	case GitHub:
		return strings.ToLower(c.String("repository"))
	case GitLab:
		return strings.ToLower(c.String("project_path"))
	case Google:
		return strings.ToLower(c.String("email"))
	}
	return fmt.Sprintf("issuer:%d", issuerID)
}

// match says whether a verified token belongs to publisher p (TP2) (issuerURL is the token's issuer, and is the fixed
// claims of a registered issuer).
func match(p store.Publisher, issuerURL string, is *store.Issuer, c Claims) error {
	want := p.Claims
	switch p.Kind {
	case GitHub:
		repo := want["owner"] + "/" + want["repository"]
		if !strings.EqualFold(c.String("repository"), repo) {
			return mismatch("the token is for repository %q, not %q", c.String("repository"), repo)
		}
		if c.String("repository_owner_id") != want["owner_id"] {
			return mismatch("the repository owner's id is %q, not %q: the owner was renamed or re-created", c.String("repository_owner_id"), want["owner_id"])
		}
		workflowRef := c.String("workflow_ref")
		if !inRepo(workflowRef, repo+"/.github/workflows/", want["workflow"]) {
			return mismatch("the job's workflow is %q, not %s", workflowRef, want["workflow"])
		}
		jobRef := c.String("job_workflow_ref")
		if r := want["reusable_workflow"]; r != "" {
			if !strings.HasPrefix(strings.ToLower(jobRef), strings.ToLower(r)+"@") {
				return mismatch("the job runs %q, not the reusable workflow %s", jobRef, r)
			}
		} else if jobRef != "" && jobRef != workflowRef {
			return mismatch("the job runs the reusable workflow %q, which the publisher does not name", jobRef)
		}
		if env := want["environment"]; env != "" && !strings.EqualFold(c.String("environment"), env) {
			return mismatch("the job runs in environment %q, not %q", c.String("environment"), env)
		}
	case GitLab:
		path := want["namespace"] + "/" + want["project"]
		if !strings.EqualFold(c.String("project_path"), path) {
			return mismatch("the token is for project %q, not %q", c.String("project_path"), path)
		}
		host := issuerURL
		if u, err := url.Parse(issuerURL); err == nil {
			host = u.Host
		}
		ref := c.String("ci_config_ref_uri")
		if !inRepo(ref, host+"/"+path+"//", want["ci_config_path"]) {
			return mismatch("the job's CI configuration is %q, not %s in %s", ref, want["ci_config_path"], path)
		}
		if env := want["environment"]; env != "" && c.String("environment") != env {
			return mismatch("the job runs in environment %q, not %q", c.String("environment"), env)
		}
	case Google:
		if !strings.EqualFold(c.String("email"), want["email"]) || c.String("email_verified") != "true" {
			return mismatch("the token is for %q (verified: %s), not %q", c.String("email"), c.String("email_verified"), want["email"])
		}
		if sub := want["subject"]; sub != "" && c.String("sub") != sub {
			return mismatch("the service account's subject is %q, not %q", c.String("sub"), sub)
		}
	case Custom:
		for _, name := range sortedKeys(is.Claims) {
			v := is.Claims[name]
			if v == "" {
				v = want[name]
			}
			if c.String(name) != v {
				return mismatch("the token's %s claim is %q, not %q", name, c.String(name), v)
			}
		}
	default:
		return mismatch("unknown kind of publisher %q", p.Kind)
	}
	return nil
}

// inRepo says whether ref, "DIR FILE@REF", names file in dir: the directory (a repository's path) compared without
// case, as its host compares it, and the file exactly.
func inRepo(ref, dir, file string) bool {
	path, _, ok := strings.Cut(ref, "@")
	if !ok || len(path) != len(dir)+len(file) {
		return false
	}
	return strings.EqualFold(path[:len(dir)], dir) && path[len(dir):] == file
}

// identityOf is what files published with the token carry: who built them, from what.
func identityOf(kind, issuerURL string, c Claims) map[string]string {
	id := map[string]string{"kind": kind, "issuer": issuerURL}
	set := func(key, claim string) {
		if v := c.String(claim); v != "" {
			id[key] = v
		}
	}
	switch kind {
	case GitHub:
		set("repository", "repository")
		if ref := c.String("workflow_ref"); ref != "" {
			path, _, _ := strings.Cut(ref, "@")
			id["workflow"] = path[strings.LastIndex(path, "/")+1:]
		}
		if job, wf := c.String("job_workflow_ref"), c.String("workflow_ref"); job != "" && job != wf {
			id["reusable_workflow"] = job
		}
		set("ref", "ref")
		set("sha", "sha")
		set("environment", "environment")
	case GitLab:
		set("repository", "project_path")
		if ref := c.String("ci_config_ref_uri"); ref != "" {
			path, _, _ := strings.Cut(ref, "@")
			_, file, _ := strings.Cut(path, "//")
			id["workflow"] = file
		}
		set("ref", "ref")
		set("sha", "sha")
		set("environment", "environment")
	case Google:
		set("repository", "email")
		set("subject", "sub")
	default:
		set("subject", "sub")
		set("repository", "repository")
		set("workflow", "workflow_ref")
		set("ref", "ref")
		set("sha", "sha")
	}
	return id
}

// Describe says in a line what a publisher accepts, for pages, listings and mails.
func Describe(p store.Publisher) string {
	c := p.Claims
	var b strings.Builder
	switch p.Kind {
	case GitHub:
		fmt.Fprintf(&b, "GitHub repository %s/%s, workflow %s", c["owner"], c["repository"], c["workflow"])
		if r := c["reusable_workflow"]; r != "" {
			fmt.Fprintf(&b, " calling %s", r)
		}
	case GitLab:
		fmt.Fprintf(&b, "GitLab project %s/%s, CI file %s", c["namespace"], c["project"], c["ci_config_path"])
	case Google:
		fmt.Fprintf(&b, "Google service account %s", c["email"])
		if s := c["subject"]; s != "" {
			fmt.Fprintf(&b, " (subject %s)", s)
		}
	default:
		b.WriteString("issuer's claims")
		for _, k := range sortedKeys(c) {
			fmt.Fprintf(&b, " %s=%s", k, c[k])
		}
	}
	if env := c["environment"]; env != "" && p.Kind != Custom {
		fmt.Fprintf(&b, ", environment %s", env)
	}
	return b.String()
}

var issuerName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,39}$`)

// registeredClaims are the claims the verifier checks itself; a publisher matching on them would mean nothing.
var registeredClaims = map[string]bool{"iss": true, "aud": true, "exp": true, "iat": true, "nbf": true, "jti": true}

// NewIssuer checks an issuer an administrator registers. At least one claim must be open (each publisher gives its
// own value): otherwise every publisher of the issuer would match every token it signs, and any job on that CI
// could publish every project that trusts it.
func NewIssuer(name, rawURL string, claims map[string]string, now time.Time) (store.Issuer, error) {
	if !issuerName.MatchString(name) {
		return store.Issuer{}, fieldErr("%q is not an issuer name: lowercase letters, digits and '-', such as forgejo or gitlab-internal.", name)
	}
	if err := config.CheckIssuerURL(rawURL); err != nil {
		return store.Issuer{}, &FieldError{err.Error()}
	}
	open := 0
	for k, v := range claims {
		if registeredClaims[k] {
			return store.Issuer{}, fieldErr("The %s claim is checked for every token already; name the claims that tell one CI job from another.", k)
		}
		if v == "" {
			open++
		}
	}
	if open == 0 {
		return store.Issuer{}, fieldErr("Name at least one claim each publisher gives its own value for (--claim repository, say): otherwise every publisher of the issuer accepts every job it runs.")
	}
	return store.Issuer{Name: name, URL: strings.TrimSuffix(rawURL, "/"), Claims: claims, CreatedAt: now.UTC()}, nil
}

// DescribeIssuerClaims says what a registered issuer's publishers match: the open claims and the fixed ones.
func DescribeIssuerClaims(is store.Issuer) string {
	var parts []string
	for _, k := range sortedKeys(is.Claims) {
		if v := is.Claims[k]; v != "" {
			parts = append(parts, k+"="+v)
		} else {
			parts = append(parts, k)
		}
	}
	return strings.Join(parts, " ")
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
