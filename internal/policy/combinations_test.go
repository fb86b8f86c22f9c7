package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"wharf/internal/store"
)

// combinedRoles is protectedRoles with early enforcement of some users and projects.
type combinedRoles struct {
	protectedRoles
	earlyUsers, earlyProjects map[int64]bool
}

func (r combinedRoles) EarlyEnforced(_ context.Context, userID, projectID int64) (bool, error) {
	return r.earlyUsers[userID] || r.earlyProjects[projectID], nil
}

// TestEveryCombination is the whole two-factor policy in one table: phase of the mandate x project state x actor x
// credential x action, every combination decided once. The expected outcome is computed from the rules as the
// issue states them (below), not from the engine's tables; a combination the loops cannot build must be named as
// impossible, and the count of rows is checked, so a dimension that silently loses its values fails.
func TestEveryCombination(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2027, 1, d, 0, 0, 0, 0, time.UTC) }
	t2fa := day(1).AddDate(0, -1, 0)
	mandate := Mandate{Notice: day(10), Restrict: day(20), Enforce: day(30), Restricted: DefaultRestricted,
		Brownouts: []Window{{day(15), day(16)}}}
	phases := []struct {
		name string
		at   time.Time
	}{{"none", day(1)}, {"notice", day(11)}, {"brown-out", day(15).Add(time.Hour)}, {"restrict", day(21)}, {"enforce", day(31)}}

	projects := []struct {
		name string
		prot store.Protection
	}{
		{"normal", store.Protection{}},
		{"critical", store.Protection{CriticalSince: t2fa}},
		{"opted-in", store.Protection{Require2FA: true}},
		{"keys-required", store.Protection{Require2FA: true, RequireWebAuthn: true}},
		{"early-enforced", store.Protection{}},
	}
	actors := []struct {
		name      string
		twoFactor TwoFactor
		admin     bool
	}{
		{"no 2FA", TwoFactor{}, false},
		{"TOTP only", TwoFactor{TOTP: true, Since: t2fa}, false},
		{"WebAuthn", TwoFactor{WebAuthn: true, Since: t2fa}, false},
		{"early-enforced user", TwoFactor{}, false},
		{"admin without 2FA", TwoFactor{}, true},
	}
	credentials := []string{"session", "session signed in with a key", "user token", "project token", "token older than the 2FA"}
	actions := []Action{CreateProject}
	for _, p := range permissions {
		actions = append(actions, p.action)
	}

	roles := combinedRoles{
		protectedRoles: protectedRoles{fakeRoles: fakeRoles{}, prot: map[int64]store.Protection{}},
		earlyUsers:     map[int64]bool{},
		earlyProjects:  map[int64]bool{},
	}
	targets := map[string]*store.Project{}
	var projectNames []string
	for i, p := range projects {
		id := int64(100 + i)
		targets[p.name] = &store.Project{ID: id, Name: p.name, NormalizedName: p.name}
		roles.prot[id] = p.prot
		projectNames = append(projectNames, p.name)
		if p.name == "early-enforced" {
			roles.earlyProjects[id] = true
		}
	}
	for i, a := range actors {
		userID := int64(1 + i)
		for j := range projects {
			roles.fakeRoles[[2]int64{int64(100 + j), userID}] = store.RoleOwner
		}
		if a.name == "early-enforced user" {
			roles.earlyUsers[userID] = true
		}
	}

	rows, impossible := 0, 0
	for _, ph := range phases {
		now := ph.at
		e := New(roles, Mandated(mandate, func() time.Time { return now }), BaseURL("https://index.example"))
		for _, pr := range projects {
			project := targets[pr.name]
			for i, ac := range actors {
				for _, cred := range credentials {
					for _, action := range actions {
						actor := Actor{User: store.User{ID: int64(1 + i), Username: "u" + fmt.Sprint(i), CreatedAt: day(1).AddDate(-1, 0, 0)},
							Admin: ac.admin, EmailVerified: true, TwoFactor: ac.twoFactor}
						switch cred {
						case "session":
							actor.Sudo = true
						case "session signed in with a key":
							actor.Sudo, actor.KeySession = true, true
						case "user token":
							actor.Token = &TokenScope{ID: "t", CreatedAt: t2fa.Add(time.Hour)}
						case "project token":
							actor.Token = &TokenScope{ID: "t", Projects: projectNames, CreatedAt: t2fa.Add(time.Hour)}
						case "token older than the 2FA":
							actor.Token = &TokenScope{ID: "t", CreatedAt: t2fa.Add(-time.Hour)}
						}
						if actor.KeySession && !ac.twoFactor.WebAuthn {
							impossible++ // only a key signs a session in with a key
							continue
						}
						if cred == "token older than the 2FA" && !ac.twoFactor.Enabled() {
							impossible++ // no 2FA to be older than: the user token's rows cover it
							continue
						}
						target := Target{Project: project, Name: project.NormalizedName, Require2FA: true}
						if action == CreateProject {
							target = Target{Name: "brand-new"}
						}
						wantAllowed, wantRule := expectedDecision(ph.name, pr.name, ac.name, ac.twoFactor, actor, action)
						rows++
						name := fmt.Sprintf("%s/%s/%s/%s/%s", ph.name, pr.name, ac.name, cred, action)
						err := e.Decide(context.Background(), actor, action, target)
						if err != nil && !errors.Is(err, ErrDenied) {
							t.Fatalf("%s: Decide = %v, want a decision", name, err)
						}
						var d *Denied
						gotRule := ""
						if errors.As(err, &d) {
							gotRule = d.Rule
						}
						if (err == nil) != wantAllowed || gotRule != wantRule {
							t.Errorf("%s: Decide = %v (rule %q), want allowed=%v rule %q", name, err, gotRule, wantAllowed, wantRule)
							continue
						}
						if wantRule != "" && !strings.Contains(d.Reason, "https://index.example/") {
							t.Errorf("%s: the denial does not say where to act: %s", name, d.Reason)
						}
						if wantRule != "" && !linksKnownSection(d, "https://index.example") {
							t.Errorf("%s: the denial does not end with the link to its help section: %s", name, d.Reason)
						}
					}
				}
			}
		}
	}
	// The impossible ones: a key session of each actor without a key, an old token of each actor without 2FA.
	withoutKey, without2FA := 0, 0
	for _, a := range actors {
		if !a.twoFactor.WebAuthn {
			withoutKey++
		}
		if !a.twoFactor.Enabled() {
			without2FA++
		}
	}
	perActorAndCredential := len(phases) * len(projects) * len(actions)
	all := perActorAndCredential * len(actors) * len(credentials)
	if wantImpossible := (withoutKey + without2FA) * perActorAndCredential; rows+impossible != all || impossible != wantImpossible {
		t.Errorf("%d rows and %d impossible combinations, want %d in all of which %d impossible", rows, impossible, all, wantImpossible)
	}
}

// expectedDecision is the specification: an Owner's permissions (every action from a confirmed session, only
// uploads from a token, no new project from a project token), then rules 1 to 3 on the writes they hold, then the
// mandate (rules 4 and 5) on accounts without a second factor.
func expectedDecision(phase, project, actorName string, tf TwoFactor, actor Actor, action Action) (bool, string) {
	switch {
	case actor.Token != nil && action != Upload && action != CreateProject:
		return false, ""
	case actor.Token != nil && action == CreateProject && actor.Token.Projects != nil:
		return false, ""
	case action == SetProject2FA && !tf.Enabled():
		return false, "" // rule 2: an Owner requires 2FA only with a factor of their own
	case action == SetPublishMail && project == "critical":
		return false, RuleCritical // the targets turn the mail off, which a critical project keeps on
	}
	protected := project == "critical" || project == "opted-in" || project == "keys-required"
	if writesHeldBy2FA[action] && protected {
		switch {
		case !tf.Enabled() && project == "critical":
			return false, RuleCritical
		case !tf.Enabled():
			return false, RuleProjectRequires2FA
		case actor.Token != nil && actor.Token.CreatedAt.Before(tf.Since):
			return false, RuleTokenBefore2FA
		case project == "keys-required" && !tf.WebAuthn:
			return false, RuleKeysRequired
		case project == "keys-required" && actor.Token == nil && !actor.KeySession:
			return false, RuleKeysRequired
		}
	}
	if publishingNeeds2FA[action] && !tf.Enabled() {
		return false, RulePublishingNeeds2FA
	}
	if tf.Enabled() || exemptUnderEnforce[action] {
		return true, ""
	}
	enforced := phase == "enforce" || phase == "brown-out" || actorName == "early-enforced user" ||
		project == "early-enforced" && action != CreateProject
	switch {
	case enforced:
		return false, RuleMandate
	case phase == "restrict" && (action == CreateProject || action == ManageRoles || action == CreateToken):
		return false, RuleMandate
	}
	return true, ""
}
