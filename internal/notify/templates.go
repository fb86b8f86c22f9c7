package notify

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"unicode"
)

// Kinds of the messages Templates builds; they are the X-Wharf-Kind header and stable for tests and scripts.
const (
	KindVerifyEmail     = "verify-email"
	KindPasswordReset   = "password-reset"
	KindPasswordChanged = "password-changed"
	KindEmailAdded      = "email-added"
	KindTokenCreated    = "token-created"
	KindRoleChanged     = "role-changed"
	KindInvitation      = "invitation"
	KindNewLogin        = "new-login"
	KindProjectChanged  = "project-changed"
	KindFactorAdded     = "factor-added"
	KindFactorRemoved   = "factor-removed"
	KindRecoveryUsed    = "recovery-code-used"
	KindCriticalProject = "critical-project"
	KindMandateReminder = "mandate-reminder"
	KindTokenLeaked     = "token-leaked"
	KindOrgInvitation   = "org-invitation"
	KindOrgChanged      = "org-changed"
	KindProjectReported = "project-reported"
)

// Pages the security notifications point to, following PyPI's routes.
const (
	accountPath  = "/manage/account/"
	tokensPath   = "/manage/account/token/"
	resetPath    = "/account/reset-password/"
	projectsPath = "/manage/projects/"
)

//go:embed mail.tmpl
var mailTmpl string

// mailTemplates are parsed once: a mistake in them is a bug that every test finds, not a run-time condition.
var mailTemplates = template.Must(template.New("mail").Option("missingkey=error").Parse(mailTmpl))

// Templates builds the messages the account system sends, in plain text, each naming the site and saying what
// to do if the change was not the reader's.
type Templates struct {
	site string
	base string // without a trailing slash
}

// ErrForeignLink is returned for a link that does not lead to the site's own base URL. Links in mail are built
// by wharf; one elsewhere means a base URL taken from a request's Host header, and a reset link to an attacker's
// host hands them the account.
var ErrForeignLink = errors.New("notify: link is not under WHARF_BASE_URL")

// NewTemplates returns builders for a site called siteName at baseURL (WHARF_BASE_URL).
func NewTemplates(siteName, baseURL string) (*Templates, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("WHARF_BASE_URL: %q must be an absolute http(s) URL", baseURL)
	}
	siteName = clean(siteName, 100)
	if siteName == "" {
		return nil, errors.New("notify: empty site name")
	}
	return &Templates{site: siteName, base: strings.TrimSuffix(baseURL, "/")}, nil
}

// data is everything a template may use; each message fills what it needs.
type data struct {
	Site, BaseURL, AccountURL, ResetURL string
	TokensURL, ProjectsURL              string
	Link                                string
	Address, Name, Scope                string
	Project, Role, Inviter              string
	IP, UserAgent                       string
	Summary                             string
	Protected                           bool // the reader's account has a second factor
	TokenID, FoundAt, Reporter          string
	Reason                              string
}

func (t *Templates) render(kind, to string, d data) (Message, error) {
	d.Site, d.BaseURL = t.site, t.base
	d.AccountURL, d.ResetURL, d.TokensURL = t.base+accountPath, t.base+resetPath, t.base+tokensPath
	d.ProjectsURL = t.base + projectsPath
	var subject, text strings.Builder
	if err := mailTemplates.ExecuteTemplate(&subject, kind+".subject", d); err != nil {
		return Message{}, fmt.Errorf("notify: %s: %w", kind, err)
	}
	if err := mailTemplates.ExecuteTemplate(&text, kind+".text", d); err != nil {
		return Message{}, fmt.Errorf("notify: %s: %w", kind, err)
	}
	return Message{To: to, Subject: subject.String(), Text: text.String(), Kind: kind}, nil
}

// link checks that link leads into the site. It returns no part of the link in its error: verification and
// reset links carry secrets.
func (t *Templates) link(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil || hasControl(link) || !strings.HasPrefix(link, t.base+"/") || u.User != nil {
		return "", ErrForeignLink
	}
	return link, nil
}

// VerifyEmail asks the owner of to to confirm the address by opening link.
func (t *Templates) VerifyEmail(to, link string) (Message, error) {
	l, err := t.link(link)
	if err != nil {
		return Message{}, err
	}
	return t.render(KindVerifyEmail, to, data{Link: l})
}

// PasswordReset sends link, which lets the reader choose a new password.
func (t *Templates) PasswordReset(to, link string) (Message, error) {
	l, err := t.link(link)
	if err != nil {
		return Message{}, err
	}
	return t.render(KindPasswordReset, to, data{Link: l})
}

// PasswordChanged tells the account's owner that the password changed.
func (t *Templates) PasswordChanged(to string) (Message, error) {
	return t.render(KindPasswordChanged, to, data{})
}

// EmailAdded tells the account's existing addresses that added was added: they, not the new address, are the
// ones an attacker does not control.
func (t *Templates) EmailAdded(to, added string) (Message, error) {
	return t.render(KindEmailAdded, to, data{Address: clean(added, 254)})
}

// TokenCreated tells the owner that an API token called name with the given scope (e.g. "all projects" or
// "project: sampleproject") was created.
func (t *Templates) TokenCreated(to, name, scope string) (Message, error) {
	return t.render(KindTokenCreated, to, data{Name: strconv.Quote(clean(name, 100)), Scope: clean(scope, 300)})
}

// RoleChanged tells a user that their role on project is now role; an empty role means it was removed.
func (t *Templates) RoleChanged(to, project, role string) (Message, error) {
	return t.render(KindRoleChanged, to, data{Project: clean(project, 100), Role: clean(role, 50)})
}

// Invitation invites a user to project with role on behalf of inviter; link accepts or declines.
func (t *Templates) Invitation(to, project, role, inviter, link string) (Message, error) {
	l, err := t.link(link)
	if err != nil {
		return Message{}, err
	}
	return t.render(KindInvitation, to, data{
		Project: clean(project, 100), Role: clean(role, 50), Inviter: clean(inviter, 100), Link: l,
	})
}

// OrgInvitation invites a user to organization org with role on behalf of inviter; link is the page where the
// invitee accepts or declines, signed in.
func (t *Templates) OrgInvitation(to, org, role, inviter, link string) (Message, error) {
	l, err := t.link(link)
	if err != nil {
		return Message{}, err
	}
	return t.render(KindOrgInvitation, to, data{
		Name: clean(org, 100), Role: clean(role, 50), Inviter: clean(inviter, 100), Link: l,
	})
}

// ProjectChanged tells a collaborator of project what changed on it (a role, a yank, a deletion); summary is
// one sentence that names who did it.
func (t *Templates) ProjectChanged(to, project, summary string) (Message, error) {
	return t.render(KindProjectChanged, to, data{Project: clean(project, 100), Summary: clean(summary, 500)})
}

// OrgChanged tells a member of organization org (or the person a change concerns) what changed in it: a member,
// a role, a team, a project moved in or out, a setting; summary is one sentence that names who did it.
func (t *Templates) OrgChanged(to, org, summary string) (Message, error) {
	return t.render(KindOrgChanged, to, data{Name: clean(org, 100), Summary: clean(summary, 500)})
}

// NewLogin tells the owner that someone signed in from ip with userAgent.
func (t *Templates) NewLogin(to, ip, userAgent string) (Message, error) {
	return t.render(KindNewLogin, to, data{IP: clean(ip, 64), UserAgent: clean(userAgent, 200)})
}

// clean makes a user-chosen value safe to show in a subject or a body: control and invisible formatting
// characters (line breaks, bidirectional overrides) become U+FFFD, so that a name can neither end a header nor
// disguise the text around it, and the length is bounded in runes.
func clean(s string, maxRunes int) string {
	var b strings.Builder
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if n == maxRunes {
			b.WriteString("…")
			break
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			r = unicode.ReplacementChar
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// FactorAdded tells the owner that a second factor (named by what, e.g. "authenticator app") was added (T6).
func (t *Templates) FactorAdded(to, what string) (Message, error) {
	return t.render(KindFactorAdded, to, data{Name: clean(what, 100)})
}

// FactorRemoved tells the owner that a second factor was removed (T6).
func (t *Templates) FactorRemoved(to, what string) (Message, error) {
	return t.render(KindFactorRemoved, to, data{Name: clean(what, 100)})
}

// RecoveryCodeUsed tells the owner that a recovery code was spent and how many remain (L2).
func (t *Templates) RecoveryCodeUsed(to string, remaining int) (Message, error) {
	return t.render(KindRecoveryUsed, to, data{Summary: fmt.Sprintf("%d unused codes remain.", remaining)})
}

// MandateReminder tells the maintainer username, who has no second factor, that the index is making 2FA required
// of every maintainer: schedule is one sentence on the phases and brown-outs ahead, refused one on what is refused
// already (empty: nothing yet).
func (t *Templates) MandateReminder(to, username, schedule, refused string) (Message, error) {
	return t.render(KindMandateReminder, to, data{Name: clean(username, 100), Summary: clean(schedule, 500), Scope: clean(refused, 300)})
}

// CriticalProject tells a collaborator (with role) of project that it was designated critical (why is one
// sentence), what changes, and what to do; protected says whether the reader's account has a second factor.
func (t *Templates) CriticalProject(to, project, role, why string, protected bool) (Message, error) {
	return t.render(KindCriticalProject, to, data{Project: clean(project, 100), Role: clean(role, 50),
		Summary: clean(why, 300), Protected: protected})
}

// TokenLeaked tells the owner that their API token called name, with the given id, was found in public at foundAt
// (empty when the reporter did not say where) by reporter (such as "GitHub secret scanning"), and was revoked; and
// what to do now (K9).
func (t *Templates) TokenLeaked(to, name, id, foundAt, reporter string) (Message, error) {
	return t.render(KindTokenLeaked, to, data{Name: strconv.Quote(clean(name, 100)), TokenID: clean(id, 64),
		FoundAt: clean(foundAt, 2000), Reporter: clean(reporter, 100)})
}

// ProjectReported tells an administrator that reporter reported project as reason (malware, spam, ...), in
// their words text; link is the page of the reports.
func (t *Templates) ProjectReported(to, project, reporter, reason, text, link string) (Message, error) {
	l, err := t.link(link)
	if err != nil {
		return Message{}, err
	}
	return t.render(KindProjectReported, to, data{Project: clean(project, 100), Reporter: clean(reporter, 100),
		Reason: clean(reason, 50), Summary: clean(text, 1000), Link: l})
}
