package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"wharf/internal/orgs"
	"wharf/internal/policy"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// staticVersion changes with a static file, so that it can be cached for a long time under a URL that changes
// when it does.
func staticVersion(name string) string {
	b, err := staticFiles.ReadFile("static/" + name)
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:6])
}

var (
	styleURL    = "/static/style.css?v=" + staticVersion("style.css")
	webauthnURL = "/static/webauthn.js?v=" + staticVersion("webauthn.js")
	copyURL     = "/static/copy.js?v=" + staticVersion("copy.js")
)

// scripted are the pages with a WebAuthn ceremony, which load webauthn.js; copying (below) load copy.js; no other
// page loads a script.
var scripted = map[string]bool{"webauthn": true, "two_factor": true, "reauth": true, "login": true}

// copying are the pages with copy buttons (copy.js). The buttons are rendered hidden and the script shows them:
// the pages work without it.
var copying = map[string]bool{"project": true, "token_created": true, "recovery_codes": true}

// pages holds one template set per page: the layout plus that page's "content".
type pages map[string]*template.Template

var funcs = template.FuncMap{
	"utc": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02")
	},
	"size": func(n int64) string {
		const unit = 1024
		if n < unit {
			return strconv.FormatInt(n, 10) + " B"
		}
		div, exp := int64(unit), 0
		for m := n / unit; m >= unit; m /= unit {
			div *= unit
			exp++
		}
		return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
	},
	"event":   eventText,
	"refusal": refusal,
	"kept":    kept,
	"filled":  filled,
}

// kept is what the refused form posted in field, for the page shown again to keep the person's input; "" for every
// other form, so that a refused row's username never fills another form.
func kept(v view, form, field string) string {
	if v.FailedForm != form {
		return ""
	}
	return v.Form.Get(field)
}

// refusal shows a refused form's reason inside that form: pages call {{refusal $ "NAME"}} in the form whose hidden
// "form" field is NAME, so the reason appears where the person acted rather than at the top of a long page.
func refusal(v view, form string) template.HTML {
	if v.Error == "" || v.FailedForm != form {
		return ""
	}
	return template.HTML(`<p class="error" role="alert" id="refusal-` + template.HTMLEscapeString(form) + `">` +
		template.HTMLEscapeString(v.Error) + `</p>`)
}

func parsePages() (pages, error) {
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, err
	}
	p := pages{}
	for _, n := range names {
		// The layout and the partials (named _*.html) are parts of every page, not pages.
		if base := path.Base(n); base == "layout.html" || strings.HasPrefix(base, "_") {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", "templates/_*.html", n)
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", n, err)
		}
		p[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return p, nil
}

// view is what every page's template gets: the frame (who is signed in, the CSRF token for its forms) and the
// page's own Data.
type view struct {
	Site      string
	BaseURL   string
	Title     string
	StyleURL  string
	ScriptURL string
	IconURL   string
	User      *userView
	CSRF      string // a fresh token for this page's forms; empty for strangers
	Query     string // the search box
	Notice    string // a fixed message chosen by key, never text from the request
	Error     string // a form's refusal
	// Form is what a refused form posted, so the page shown again keeps the person's input; nil otherwise.
	// FailedForm is that form's "form" field: the form whose refusal shows inside it (see refusal).
	Form       url.Values
	FailedForm string
	ReadOnly   bool
	StatusCode int
	Data       any
	// Mandate announces the 2FA mandate to a signed-in maintainer without a second factor; nil for everyone else.
	Mandate *mandateView
	// Feeds are the RSS feeds the page announces (rss.go).
	Feeds []feedLink
}

// mandateView is the banner's wording of the mandate's phase and dates.
type mandateView struct {
	Phase             string
	Restrict, Enforce string // dates, "" when not set
	Restricted        string // what the restrict phase refuses, in words
	// BrownoutUntil is when the brown-out in force ends; NextBrownout the span of the next one ("" when none).
	BrownoutUntil, NextBrownout string
}

type userView struct {
	Username string
	IsAdmin  bool
	Verified bool
	Email    string
}

// render writes a page. It renders into memory first so that a template failure becomes a clean 500 rather than
// half a page.
func (s *Site) render(w http.ResponseWriter, r *http.Request, status int, name, title string, data any, formErr string) error {
	t, ok := s.pages[name]
	if !ok {
		return fmt.Errorf("web: no page %q", name)
	}
	v := view{Site: s.siteName, BaseURL: s.baseURL, Title: title, StyleURL: styleURL, IconURL: iconURL,
		Feeds: pageFeeds(name, data), Notice: notices[r.URL.Query().Get("notice")], Error: formErr,
		ReadOnly: s.readOnly, StatusCode: status, Data: data}
	if ref, ok := r.Context().Value(refusalKey{}).(refused); ok && formErr == "" {
		v.Error, v.StatusCode, status = ref.reason, ref.status, ref.status
		v.Form, v.FailedForm = ref.form, ref.form.Get("form")
	}
	if scripted[name] && s.webauthn != nil {
		v.ScriptURL = webauthnURL
	}
	if copying[name] {
		v.ScriptURL = copyURL
	}
	if u := signedIn(r); u != nil {
		v.User = &userView{Username: u.account.Username, IsAdmin: u.account.IsAdmin,
			Verified: !u.account.EmailVerifiedAt.IsZero(), Email: u.account.Email}
		v.CSRF = u.session.CSRFToken()
		v.Mandate = s.mandateBanner(r, u)
	}
	if name == "search" {
		// Only the search page repeats the query in the header's box; other pages' q (the administrators' user
		// search) is theirs.
		v.Query = r.URL.Query().Get("q")
		if len(v.Query) > maxQuery {
			v.Query = v.Query[:maxQuery]
		}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		return fmt.Errorf("web: render %s: %w", name, err)
	}
	if v.FailedForm != "" && !bytes.Contains(buf.Bytes(), []byte(`id="refusal-`+template.HTMLEscapeString(v.FailedForm)+`"`)) {
		// The refused form is not on the page any more (it was posted from an older page, or the visitor may no
		// longer use it): the reason goes at the top of the page rather than nowhere.
		v.FailedForm = ""
		buf.Reset()
		if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
			return fmt.Errorf("web: render %s: %w", name, err)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// mandateBanner words the mandate for a maintainer it concerns; a failure to read it costs the banner, not the
// page.
func (s *Site) mandateBanner(r *http.Request, u *visitor) *mandateView {
	st, err := s.policy.MandateFor(r.Context(), s.actor(u))
	if err != nil {
		s.log.Warn("mandate not read for the banner", "err", err)
		return nil
	}
	if !st.Concerned {
		return nil
	}
	day := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.DateOnly)
	}
	var refused []string
	for _, a := range st.Mandate.Restricted {
		refused = append(refused, policy.Describe(a))
	}
	v := &mandateView{Phase: st.Phase.String(), Restrict: day(st.Mandate.Restrict), Enforce: day(st.Mandate.Enforce),
		Restricted: strings.Join(refused, ", ")}
	const minute = "2006-01-02 15:04"
	if !st.Brownout.End.IsZero() {
		v.BrownoutUntil = st.Brownout.End.UTC().Format(minute)
	}
	if !st.Next.Start.IsZero() {
		v.NextBrownout = st.Next.Start.UTC().Format(minute) + " to " + st.Next.End.UTC().Format(minute)
	}
	return v
}

// refused is a form's refusal carried to the page that shows it again.
type refused struct {
	status int
	reason string
	form   url.Values
}

type refusalKey struct{}

// Refused prepares the request that shows a form's page again after the form was refused: a GET of page (the
// page's own path) whose rendering carries the refusal's status and reason inside the refused form, with what was
// posted kept in its fields. internal/server calls it for the forms registered with their page, so that a refusal
// never takes the person away from what they were doing.
func (s *Site) Refused(r *http.Request, page string, status int, reason string) *http.Request {
	ref := refused{status: status, reason: reason, form: r.PostForm}
	// Secrets are never written back into a page.
	for _, k := range []string{"password", "new_password", "confirm_password", "current_password", "code", "csrf_token", "token"} {
		ref.form.Del(k)
	}
	g := r.Clone(context.WithValue(r.Context(), refusalKey{}, ref))
	g.Method, g.URL.Path, g.URL.RawPath, g.URL.RawQuery, g.Body = http.MethodGet, page, "", "", http.NoBody
	g.Form, g.PostForm, g.MultipartForm = nil, nil, nil
	return g
}

// RenderError writes the page for a refused or failed request; internal/server calls it with the status and
// message its error mapping chose.
func (s *Site) RenderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	if err := s.render(w, r, status, "error", http.StatusText(status), msg, ""); err != nil {
		s.log.Error("error page", "err", err)
		http.Error(w, msg, status)
	}
}

// NotFound answers every path no route claims.
func (s *Site) NotFound(w http.ResponseWriter, r *http.Request) error {
	s.RenderError(w, r, http.StatusNotFound, "There is no page at this address.")
	return nil
}

// ServeStatic serves the embedded stylesheet. The URL carries the file's hash, so it may be cached for a year.
func (s *Site) ServeStatic(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("file")
	b, err := staticFiles.ReadFile("static/" + name)
	if err != nil || strings.Contains(name, "/") {
		return errNotFound
	}
	h := w.Header()
	switch path.Ext(name) {
	case ".css":
		h.Set("Content-Type", "text/css; charset=utf-8")
	case ".js":
		h.Set("Content-Type", "text/javascript; charset=utf-8")
	case ".svg":
		h.Set("Content-Type", "image/svg+xml")
	default:
		h.Set("Content-Type", "application/octet-stream")
	}
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	_, err = w.Write(b)
	return err
}

// notices are the messages a redirect may ask the next page to show, by key, so that no text of the request
// ever reaches a page.
var notices = map[string]string{
	"totp-removed":        "The authenticator app was removed from your account.",
	"key-added":           "The security key was added to your account.",
	"key-removed":         "The security key was removed from your account.",
	"registered":          "Welcome! We sent a link to your email address: open it to verify the address.",
	"email-verified":      "Your email address is verified.",
	"verification-sent":   "We sent a new verification link to your email address.",
	"already-verified":    "Your email address is already verified.",
	"email-changed":       "Your email address was changed. We sent a verification link to the new address and a notice to the old one.",
	"password-changed":    "Your password was changed. Every other session of your account was signed out.",
	"password-reset":      "Your password was reset. Sign in with the new password.",
	"session-ended":       "The session was signed out.",
	"signed-out-others":   "Every other session of your account was signed out.",
	"signed-out":          "You are signed out.",
	"token-revoked":       "The token was revoked. Uploads with it now fail.",
	"user-disabled":       "The account was disabled and its sessions ended.",
	"early-enforced":      "It is under the mandate's enforce phase now, and the history says why.",
	"early-lifted":        "Its early enforcement is lifted, and the history says why.",
	"critical-marked":     "The project is critical now; its Owners and Maintainers are told.",
	"critical-released":   "The project is no longer critical, and the history says why.",
	"nothing-changed":     "Nothing changed: it was already so.",
	"user-enabled":        "The account was enabled again.",
	"name-reserved":       "The name is reserved: no project can be created under it.",
	"name-released":       "The name is released: a project of that name can be created again.",
	"reauthenticated":     "Password confirmed.",
	"verify-before-token": "Verify your email address before creating API tokens.",
	"invitation-accepted": "Invitation accepted: the project is now among yours.",
	"invitation-declined": "Invitation declined.",
	"invited":             "The invitation was sent.",
	"settings-changed":    "The project's settings were changed.",
	"role-changed":        "The role was changed.",
	"role-removed":        "The collaborator was removed. Their tokens scoped to the project were revoked.",
	"left":                "You left the project.",
	"invitation-revoked":  "The invitation was withdrawn.",
	"transferred":         "Ownership was transferred, or offered to a new collaborator who must accept it.",
	"yanked":              "The release was yanked.",
	"unyanked":            "The release was un-yanked.",
	"file-deleted":        "The file was deleted. Its filename stays reserved.",
	"release-deleted":     "The release was deleted. Its filenames stay reserved.",
	"project-deleted":     "The project was deleted. Its name and filenames stay reserved.",
	"key-offer-claimed":   "Your code for a free security key is below.",
	"reported":            "Thank you: your report went to the administrators of this index.",
	"recovery-saved":      "Your recovery codes are confirmed as saved.",

	"publisher-added":           "The publisher was added: its CI job can now publish the project.",
	"publisher-removed":         "The publisher was removed. Upload tokens it was given no longer work.",
	"trusted-only-on":           "Trusted Publishing only is on: user API tokens can no longer upload to the project.",
	"trusted-only-off":          "Trusted Publishing only is off: the API tokens of Owners and Maintainers upload again.",
	"pending-publisher-added":   "The pending publisher was added: its first publish creates the project, owned by you.",
	"pending-publisher-removed": "The pending publisher was removed.",

	"release-approved":  "The staged release was approved: its files are on the index now.",
	"release-discarded": "The staged release was discarded: its files were dropped and never published.",
	"staging-changed":   "The project's choice of which uploads wait for approval was saved.",
	"publish-mail-on":   "You get a mail of every publish to this project.",
	"publish-mail-off":  "You no longer get a mail of every publish to this project.",

	"org-created":          "The organization was created, with you as its Owner.",
	"org-requested":        "The organization was requested: it waits for an administrator's approval.",
	"org-joined":           "Invitation accepted: you are a member of the organization.",
	"org-declined":         "Invitation declined.",
	"org-invited":          "The invitation was sent: the user becomes a member on accepting it.",
	"org-role-changed":     "The member's role was changed.",
	"org-member-removed":   "The member was removed from the organization and its teams.",
	"org-left":             "You left the organization.",
	"org-settings-changed": "The organization's settings were saved: they hold for every project it holds.",
	"team-created":         "The team was created.",
	"team-deleted":         "The team was deleted with its roles on the projects.",
	"team-member-added":    "The member was added to the team.",
	"team-member-removed":  "The member was taken out of the team.",
	"team-grant-changed":   "The team's role on the project was changed.",
	"project-moved-in":     "The project was moved into the organization: its Owners are Owners of the project now.",
	"project-moved-out":    "The project was moved out of the organization: every role that came from it ended.",

	"org-publishers-added":        "The publisher was added to each project chosen: its CI job can now publish them.",
	"org-pending-publisher-added": "The pending publisher was added: its first publish creates the project in the organization.",
	"org-approved":                "The organization was approved: it has its public page, and its Owners their forms.",
}

// eventText describes a security-history event kind for people; unknown kinds show as they are.
func eventText(kind string) string {
	if t, ok := eventTexts[kind]; ok {
		return t
	}
	return kind
}

var eventTexts = map[string]string{
	"login:success":             "Signed in",
	"login:failure":             "Failed sign-in",
	"user:create":               "Account created",
	"session:reauth":            "Password confirmed",
	"session:reauth-failure":    "Wrong password at confirmation",
	"session:logout":            "Signed out",
	"session:logout-everywhere": "Signed out everywhere",
	"session:end":               "Session ended from another session",
	"password:change":           "Password changed",
	"password:change-failure":   "Wrong current password at password change",
	"password:reset-request":    "Password reset requested",
	"password:reset":            "Password reset",
	"email:verify-request":      "Verification link sent",
	"email:verify":              "Email address verified",
	"email:change":              "Email address changed",
	"user:disable":              "Account disabled",
	"user:enable":               "Account enabled",
	"user:admin-grant":          "Made an administrator",
	"user:admin-revoke":         "Administration withdrawn",
	"token:create":              "API token created",
	"token:first-use":           "API token used for the first time",
	"token:revoke":              "API token revoked",
	"token:leaked":              "API token found in public and revoked",
	"file:upload":               "File uploaded",
	"project:create":            "Project created",
	"name:reserve":              "Project name reserved",
	"name:unreserve":            "Reserved project name released",
	"role:invite":               "Collaborator invited",
	"role:invite-accept":        "Invitation accepted",
	"role:invite-decline":       "Invitation declined",
	"role:invite-revoke":        "Invitation withdrawn",
	"role:remove":               "Collaborator removed",
	"role:leave":                "Collaborator left",
	"role:change":               "Role changed",
	"project:transfer":          "Ownership transferred",
	"release:yank":              "Release yanked",
	"release:unyank":            "Release un-yanked",
	"file:remove":               "File deleted",
	"release:remove":            "Release deleted",
	"project:remove":            "Project deleted",
	"project:report":            "Project reported to the administrators",

	"mfa:totp-added":               "Authenticator app added",
	"mfa:totp-removed":             "Authenticator app removed",
	"mfa:recovery-regenerated":     "New recovery codes made",
	"mfa:recovery-used":            "Recovery code used",
	"mfa:recovery-saved":           "Recovery codes confirmed as saved",
	"mfa:webauthn-added":           "Security key added",
	"mfa:webauthn-removed":         "Security key removed",
	"mfa:webauthn-clone-suspected": "Security key refused: its signature counter went back, as a copied key's does",
	"account:key-offer-claimed":    "Security-key offer claimed",

	"policy:denied":               "Refused by the rules (the detail names the rule)",
	"policy:warned":               "Warned that two-factor authentication will be required",
	"policy:enforce-early":        "Placed under the two-factor mandate early",
	"policy:enforce-early-lifted": "Early enforcement of the two-factor mandate lifted",
	"project:critical":            "Designated a critical project",
	"project:critical-release":    "Released from being critical",
	"project:require-2fa":         "Two-factor requirement changed",

	"publisher:add":                   "Trusted Publisher added",
	"publisher:remove":                "Trusted Publisher removed",
	"publisher:token-minted":          "Upload token minted for a Trusted Publisher",
	"project:trusted-publishing-only": "Trusted Publishing only switched on or off",

	"release:staged":  "Upload staged: it waits for approval",
	"release:approve": "Staged release approved and published",
	"release:discard": "Staged release discarded",
	"project:staging": "Changed which uploads wait for approval",

	orgs.EventCreated:        "Organization created",
	orgs.EventApproved:       "Organization approved by an administrator",
	orgs.EventSettings:       "Organization settings changed",
	orgs.EventInvited:        "Member invited",
	orgs.EventJoined:         "Invitation accepted: joined the organization",
	orgs.EventDeclined:       "Invitation to the organization declined",
	orgs.EventMemberRemoved:  "Member removed",
	orgs.EventRoleChanged:    "Member's role changed",
	orgs.EventLeft:           "Member left",
	orgs.EventTeamCreated:    "Team created",
	orgs.EventTeamDeleted:    "Team deleted",
	orgs.EventTeamMember:     "Team members changed",
	orgs.EventTeamGrant:      "Team's role on a project changed",
	orgs.EventProjectMovedIn: "Project moved into the organization",
	orgs.EventProjectMoveOut: "Project moved out of the organization",
}
