package policy

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
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
}

// DefaultRestricted are the actions the restrict phase refuses unless configured otherwise: the ones that make
// an unprotected account reach further (a new project, a new collaborator, a new credential).
var DefaultRestricted = []Action{CreateProject, ManageRoles, CreateToken}

// enforceExempt are what an account under the enforce phase may still do: enrol a factor, keep its account and
// credentials tidy, read what it maintains, and step back from it.
var enforceExempt = map[Action]bool{
	AddFactor: true, RemoveFactor: true, RemoveLastFactor: true, ChangeAccount: true, RevokeToken: true,
	RespondInvitation: true, LeaveProject: true, ViewInvitations: true, ViewProjectHistory: true, ViewReleases: true,
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
	RemoveLastFactor: true,
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

// PhaseAt is the phase in force at now for everyone.
func (m Mandate) PhaseAt(now time.Time) Phase {
	switch {
	case !m.Enforce.IsZero() && !now.Before(m.Enforce):
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
	if e.now == nil || actor.TwoFactor.Enabled() || enforceExempt[action] {
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
		return &Denied{Rule: RuleMandate, Reason: fmt.Sprintf(
			"Two-factor authentication is required of every account that maintains projects on this index, and '%s' has none: until it has, the account can only enrol a second factor and manage its own settings. %s; then create a new API token to upload.",
			actor.User.Username, enable)}
	}
	when := ""
	if !e.mandate.Enforce.IsZero() {
		when = fmt.Sprintf(" From %s nothing but enrolling a factor will be open to it.", e.mandate.Enforce.UTC().Format(time.DateOnly))
	}
	return &Denied{Rule: RuleMandate, Reason: fmt.Sprintf(
		"Two-factor authentication is becoming required of every account that maintains projects on this index, and '%s' has none, so it can no longer %s.%s %s.",
		actor.User.Username, Describe(action), when, enable)}
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
