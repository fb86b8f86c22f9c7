package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"wharf/internal/audit"
	"wharf/internal/store"
)

// Phase is where the global mandate stands: every account that maintains a project must have a second factor,
// brought in by dates, as PyPI brought its own in.
type Phase int

const (
	// PhaseNone: the mandate is not announced yet.
	PhaseNone Phase = iota
	// PhaseNotice: maintainers without 2FA are told; nothing is refused.
	PhaseNotice
	// PhaseRestrict: the Restricted actions are refused to them.
	PhaseRestrict
	// PhaseEnforce: they may only enrol a factor and keep their account (the actions enforceExempt lists).
	PhaseEnforce
)

func (p Phase) String() string {
	return [...]string{"none", "notice", "restrict", "enforce"}[p]
}

// Mandate is the global mandate's configuration: the dates its phases begin (zero: never) and what the restrict
// phase refuses.
type Mandate struct {
	Notice, Restrict, Enforce time.Time
	// Restricted are the actions refused from Restrict on to maintainers without 2FA; the list is meant to grow
	// over time, as an administrator announces.
	Restricted []Action
	// EnforceAccountsFrom puts every account created at or after it under Enforce at once (zero: none): a new
	// account has no habits to lose.
	EnforceAccountsFrom time.Time
	// Brownouts are scheduled windows in which Enforce applies early, so that every maintainer without 2FA meets
	// the refusal for an hour or a day, announced beforehand, while there is still time to act.
	Brownouts []Window
}

// Window is a span of time, from Start (inclusive) to End (exclusive).
type Window struct{ Start, End time.Time }

// Contains reports whether t falls in the window.
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && t.Before(w.End) }

// ParseWindows reads a comma-separated list of windows, each START/END in RFC 3339 (or a date, meaning its
// midnight UTC), such as "2027-03-01T14:00:00Z/2027-03-01T16:00:00Z".
func ParseWindows(list string) ([]Window, error) {
	var out []Window
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		from, to, ok := strings.Cut(item, "/")
		if !ok {
			return nil, fmt.Errorf("%q is not a window: write START/END, such as 2027-03-01T14:00:00Z/2027-03-01T16:00:00Z", item)
		}
		var w Window
		for _, p := range []struct {
			s   string
			dst *time.Time
		}{{from, &w.Start}, {to, &w.End}} {
			t, err := parseInstant(strings.TrimSpace(p.s))
			if err != nil {
				return nil, fmt.Errorf("window %q: %w", item, err)
			}
			*p.dst = t
		}
		if !w.End.After(w.Start) {
			return nil, fmt.Errorf("window %q ends before it starts", item)
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b Window) int { return a.Start.Compare(b.Start) })
	return out, nil
}

func parseInstant(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a date (2027-03-01) nor an RFC 3339 time (2027-03-01T14:00:00Z)", s)
	}
	return t, nil
}

// BrownoutAt is the brown-out in force at now, if any.
func (m Mandate) BrownoutAt(now time.Time) (Window, bool) {
	for _, w := range m.Brownouts {
		if w.Contains(now) {
			return w, true
		}
	}
	return Window{}, false
}

// NextBrownout is the first brown-out that starts after now, if any.
func (m Mandate) NextBrownout(now time.Time) (Window, bool) {
	for _, w := range m.Brownouts {
		if w.Start.After(now) {
			return w, true
		}
	}
	return Window{}, false
}

// DefaultRestricted are the actions the restrict phase refuses unless configured otherwise: the ones that make
// an unprotected account reach further (a new project, a new collaborator, a new credential).
var DefaultRestricted = []Action{CreateProject, ManageRoles, CreateToken}

// enforceExempt are what an account under the enforce phase may still do: enrol a factor, keep its account and
// credentials tidy, read what it maintains, and step back from it.
var enforceExempt = map[Action]bool{
	AddFactor: true, RemoveFactor: true, RemoveLastFactor: true, ChangeAccount: true, RevokeToken: true,
	RespondInvitation: true, LeaveProject: true, ViewInvitations: true, ViewProjectHistory: true, ViewReleases: true,
	// Claiming the security-key offer helps the account enrol the strongest factor.
	ClaimKeyOffer: true,
	// The mail of every publish is the account's own setting, and tells it what is published in its name.
	SetPublishMail: true,
	// Reading one's organization and stepping back from it, as for projects.
	ViewOrganization: true, ViewOrgHistory: true, LeaveOrganization: true, DeclineOrgInvitation: true,
	// Telling the administrators of malware changes nothing the index serves.
	ReportProject: true,
}

// ParseActions reads a comma-separated list of action names, such as "create-project,manage-roles".
func ParseActions(list string) ([]Action, error) {
	var out []Action
	for name := range strings.SplitSeq(list, ",") {
		a := Action(strings.TrimSpace(name))
		if a == "" {
			continue
		}
		if !knownActions[a] {
			return nil, fmt.Errorf("%q is not an action; the actions are %s", a, strings.Join(actionNames(), ", "))
		}
		out = append(out, a)
	}
	return out, nil
}

var knownActions = map[Action]bool{
	CreateProject: true, Upload: true, ManageRoles: true, ViewInvitations: true, LeaveProject: true,
	RespondInvitation: true, AcceptInvitation: true, Yank: true, Unyank: true, DeleteFile: true, DeleteRelease: true,
	DeleteProject: true, ViewProjectHistory: true, ViewReleases: true, SetProject2FA: true, AddFactor: true,
	RemoveFactor: true, CreateToken: true, RevokeToken: true, ChangeAccount: true, ViewAdmin: true, Administer: true,
	RemoveLastFactor: true, ClaimKeyOffer: true, ManagePublishers: true, SetTrustedPublishingOnly: true,
	AddPendingPublisher: true, SetStaging: true, ApproveRelease: true, DiscardRelease: true, SetPublishMail: true,
	CreateOrganization: true, ViewOrganization: true, ViewOrgHistory: true, ManageOrganization: true, ManageOrgMembers: true, ManageTeams: true,
	LeaveOrganization: true, AcceptOrgInvitation: true, DeclineOrgInvitation: true, MoveProjectIn: true, MoveProjectOut: true,
	CreateOrgProject: true, UnreserveName: true, ReportProject: true, ViewReports: true,
}

func actionNames() []string {
	var out []string
	for a := range knownActions {
		out = append(out, string(a))
	}
	slices.Sort(out)
	return out
}

// Validate refuses dates out of order.
func (m Mandate) Validate() error {
	dates := []struct {
		name string
		t    time.Time
	}{{"notice", m.Notice}, {"restrict", m.Restrict}, {"enforce", m.Enforce}}
	var last time.Time
	for _, d := range dates {
		if d.t.IsZero() {
			continue
		}
		if d.t.Before(last) {
			return fmt.Errorf("the mandate's %s phase cannot begin before the phase before it", d.name)
		}
		last = d.t
	}
	return nil
}

// PhaseAt is the phase in force at now for everyone: a brown-out is the enforce phase for its duration.
func (m Mandate) PhaseAt(now time.Time) Phase {
	_, brownout := m.BrownoutAt(now)
	switch {
	case !m.Enforce.IsZero() && !now.Before(m.Enforce), brownout:
		return PhaseEnforce
	case !m.Restrict.IsZero() && !now.Before(m.Restrict):
		return PhaseRestrict
	case !m.Notice.IsZero() && !now.Before(m.Notice):
		return PhaseNotice
	}
	return PhaseNone
}

// Refuses reports whether phase refuses action to a maintainer without 2FA.
func (m Mandate) Refuses(phase Phase, action Action) bool {
	switch phase {
	case PhaseEnforce:
		return !enforceExempt[action]
	case PhaseRestrict:
		return slices.Contains(m.Restricted, action)
	}
	return false
}

// Mandated sets the global mandate, with the clock it is read against.
func Mandated(m Mandate, now func() time.Time) Option {
	return func(e *Engine) { e.mandate, e.now = m, now }
}

// RuleMandate names refusals by the global mandate.
const RuleMandate = "mandate"

// phaseFor is the phase in force for actor: the global one, or enforce for an account created after the date.
func (e *Engine) phaseFor(actor Actor) Phase {
	now := e.now()
	phase := e.mandate.PhaseAt(now)
	if from := e.mandate.EnforceAccountsFrom; !from.IsZero() && !actor.User.CreatedAt.Before(from) {
		phase = PhaseEnforce
	}
	return phase
}

// decideMandate applies the global mandate to an action the other rules allow: it concerns accounts without a
// second factor that maintain a project, or would by creating one. An account or a project an administrator
// placed under early enforcement is under the enforce phase whatever the date.
func (e *Engine) decideMandate(ctx context.Context, actor Actor, action Action, target Target) error {
	if e.now == nil || actor.Publisher != nil || actor.TwoFactor.Enabled() || enforceExempt[action] {
		return nil
	}
	phase := e.phaseFor(actor)
	if phase != PhaseEnforce {
		var projectID int64
		if target.Project != nil {
			projectID = target.Project.ID
		}
		early, err := e.roles.EarlyEnforced(ctx, actor.User.ID, projectID)
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		if early {
			phase = PhaseEnforce
		}
	}
	if !e.mandate.Refuses(phase, action) {
		return nil
	}
	if action != CreateProject {
		n, err := e.roles.RoleCount(ctx, actor.User.ID)
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		if n == 0 {
			return nil
		}
	}
	enable := fmt.Sprintf("Enable two-factor authentication at %s/manage/account/ (a security key, a passkey or an authenticator app)", e.baseURL)
	if phase == PhaseEnforce {
		brownout := ""
		if w, ok := e.mandate.BrownoutAt(e.now()); ok && (e.mandate.Enforce.IsZero() || e.mandate.Enforce.After(e.now())) {
			brownout = fmt.Sprintf("This is a scheduled brown-out of the 2FA mandate, until %s UTC: what will be refused from %s is refused now. ",
				w.End.UTC().Format("2006-01-02 15:04"), dateOrNever(e.mandate.Enforce))
		}
		return &Denied{Rule: RuleMandate, Reason: fmt.Sprintf(
			"%sTwo-factor authentication is required of every account that maintains projects on this index, and '%s' has none: until it has, the account can only enrol a second factor and manage its own settings. %s; then create a new API token to upload.",
			brownout, actor.User.Username, enable)}
	}
	when := ""
	if !e.mandate.Enforce.IsZero() {
		when = fmt.Sprintf(" From %s nothing but enrolling a factor will be open to it.", e.mandate.Enforce.UTC().Format(time.DateOnly))
	}
	return &Denied{Rule: RuleMandate, Reason: fmt.Sprintf(
		"Two-factor authentication is becoming required of every account that maintains projects on this index, and '%s' has none, so it can no longer %s.%s %s.",
		actor.User.Username, Describe(action), when, enable)}
}

func dateOrNever(t time.Time) string {
	if t.IsZero() {
		return "the enforce phase"
	}
	return t.UTC().Format(time.DateOnly)
}

// EventWarned is the audit event of a write the mandate allows today but will refuse: the account's owner and the
// project's see that it was told.
const EventWarned = "policy:warned"

// Warning is what to tell actor, whose action the rules allow, about the mandate: that it will refuse the action
// from the enforce phase (or the next brown-out) on, and what to do now. It is empty when there is nothing to
// tell: the mandate has not begun, the account has a second factor or maintains nothing. Twine prints it from the
// upload's response with --verbose; every warning is recorded in the security history.
func (e *Engine) Warning(ctx context.Context, actor Actor, action Action, target Target) (string, error) {
	if e.now == nil || actor.Publisher != nil || actor.TwoFactor.Enabled() || !e.mandate.Refuses(PhaseEnforce, action) {
		return "", nil
	}
	now := e.now()
	if phase := e.phaseFor(actor); phase == PhaseNone || phase == PhaseEnforce {
		return "", nil
	}
	if action != CreateProject {
		n, err := e.roles.RoleCount(ctx, actor.User.ID)
		if err != nil {
			return "", fmt.Errorf("policy: %w", err)
		}
		if n == 0 {
			return "", nil
		}
	}
	when := "soon"
	if !e.mandate.Enforce.IsZero() {
		when = "from " + e.mandate.Enforce.UTC().Format(time.DateOnly)
	}
	if w, ok := e.mandate.NextBrownout(now); ok {
		when += fmt.Sprintf(" (and during a brown-out from %s to %s UTC)", w.Start.UTC().Format("2006-01-02 15:04"), w.End.UTC().Format("2006-01-02 15:04"))
	}
	warning := fmt.Sprintf(
		"WARNING: two-factor authentication is becoming required of every account that maintains projects on this index, and '%s' has none. This will be refused %s. Enable two-factor authentication at %s/manage/account/ (a security key, a passkey or an authenticator app), then create a new API token at %s/manage/account/token/. See %s",
		actor.User.Username, when, e.baseURL, e.baseURL, HelpURL(e.baseURL, HelpMandate))
	if e.audit != nil {
		var projectID int64
		if target.Project != nil {
			projectID = target.Project.ID
		}
		e.audit.Record(ctx, EventWarned, actor.User.ID, projectID, audit.Request{UserAgent: "wharf policy"},
			fmt.Sprintf("%s warned by rule %s", action, RuleMandate))
	}
	return warning, nil
}

// Describe names an action in a sentence ("create projects").
func Describe(a Action) string {
	switch a {
	case CreateProject:
		return "create projects"
	case ManageRoles:
		return "invite collaborators or change roles"
	case CreateToken:
		return "create API tokens"
	case Upload:
		return "upload"
	}
	return strings.ReplaceAll(string(a), "-", " ")
}

// MandateStatus is what the mandate means for one account now, for the banners that announce it.
type MandateStatus struct {
	Phase Phase
	// Brownout is the brown-out in force, and Next the one to come; zero when there is none.
	Brownout, Next Window
	// Concerned says the account maintains a project and has no second factor: the mandate is about it.
	Concerned bool
	Mandate   Mandate
}

// MandateFor says where the mandate stands for actor. It reads the account's roles only when the mandate has
// begun and the account has no second factor.
func (e *Engine) MandateFor(ctx context.Context, actor Actor) (MandateStatus, error) {
	if e.now == nil || actor.User.ID == 0 {
		return MandateStatus{}, nil
	}
	st := MandateStatus{Phase: e.phaseFor(actor), Mandate: e.mandate}
	st.Brownout, _ = e.mandate.BrownoutAt(e.now())
	st.Next, _ = e.mandate.NextBrownout(e.now())
	if actor.TwoFactor.Enabled() {
		return st, nil
	}
	if st.Phase != PhaseEnforce {
		early, err := e.roles.EarlyEnforced(ctx, actor.User.ID, 0)
		if err != nil {
			return MandateStatus{}, fmt.Errorf("policy: %w", err)
		}
		if early {
			st.Phase = PhaseEnforce
		}
	}
	if st.Phase == PhaseNone {
		return st, nil
	}
	n, err := e.roles.RoleCount(ctx, actor.User.ID)
	if err != nil {
		return MandateStatus{}, fmt.Errorf("policy: %w", err)
	}
	st.Concerned = n > 0
	return st, nil
}

// Explain words the status for an account it concerns: schedule is what is ahead (the phases to come and the
// brown-outs), refused what the mandate refuses to the account already (empty: nothing yet).
func (st MandateStatus) Explain(now time.Time) (schedule, refused string) {
	m := st.Mandate
	var restricted []string
	for _, a := range m.Restricted {
		restricted = append(restricted, Describe(a))
	}
	var parts []string
	if st.Phase < PhaseRestrict && !m.Restrict.IsZero() && m.Restrict.After(now) {
		parts = append(parts, fmt.Sprintf("From %s an account without a second factor can no longer %s.",
			m.Restrict.UTC().Format(time.DateOnly), strings.Join(restricted, ", ")))
	}
	if st.Phase < PhaseEnforce && !m.Enforce.IsZero() && m.Enforce.After(now) {
		parts = append(parts, fmt.Sprintf("From %s it will only be able to enrol a second factor and manage its own account: no uploads.",
			m.Enforce.UTC().Format(time.DateOnly)))
	}
	if !st.Next.Start.IsZero() {
		parts = append(parts, fmt.Sprintf("A brown-out will apply that in full from %s to %s UTC.",
			st.Next.Start.UTC().Format("2006-01-02 15:04"), st.Next.End.UTC().Format("2006-01-02 15:04")))
	}
	if len(parts) == 0 {
		parts = append(parts, "Nothing more is scheduled.")
	}
	switch st.Phase {
	case PhaseRestrict:
		refused = strings.Join(restricted, ", ")
	case PhaseEnforce:
		refused = "everything but enrolling a second factor and managing your account, uploads included"
	}
	return strings.Join(parts, " "), refused
}

// AccountActor is an account itself, with no credential: what a job that writes to a person (a reminder of the
// mandate) asks the policy about. Requests get SessionActor or TokenActor.
func AccountActor(acct store.Account) Actor { return accountActor(acct) }
