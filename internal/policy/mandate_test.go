package policy

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"wharf/internal/store"
)

// exemptUnderEnforce is the specification of what the enforce phase leaves to a maintainer without 2FA: enrolling
// a factor, the account's own settings and credentials, reading, declining and leaving.
var exemptUnderEnforce = map[Action]bool{
	AddFactor: true, RemoveFactor: true, RemoveLastFactor: true, ChangeAccount: true, RevokeToken: true,
	RespondInvitation: true, LeaveProject: true, ViewInvitations: true, ViewProjectHistory: true, ViewReleases: true,
}

// TestMandate is rule 4's table: phase x account x action, each decided with and without the mandate. The mandate
// only ever adds refusals, and exactly these: from restrict, the restricted actions; from enforce, everything but
// the exempt ones; for accounts without a second factor that maintain a project (or would, by creating one). An
// account created after the early-enforcement date is under enforce whatever the date.
func TestMandate(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2027, 1, d, 0, 0, 0, 0, time.UTC) }
	m := Mandate{Notice: day(10), Restrict: day(20), Enforce: day(30), Restricted: DefaultRestricted, EnforceAccountsFrom: day(5)}
	roles := fakeRoles{{10, 1}: store.RoleOwner, {10, 2}: store.RoleOwner, {10, 4}: store.RoleOwner}
	project := &store.Project{ID: 10, Name: "Demo", NormalizedName: "demo"}
	old := day(1).AddDate(-1, 0, 0)
	accounts := map[string]Actor{
		"maintainer without 2FA": {User: store.User{ID: 1, Username: "bare", CreatedAt: old}},
		"maintainer with TOTP":   {User: store.User{ID: 2, Username: "totp", CreatedAt: old}, TwoFactor: TwoFactor{TOTP: true}},
		"no role, no 2FA":        {User: store.User{ID: 3, Username: "reader", CreatedAt: old}},
		"new maintainer":         {User: store.User{ID: 4, Username: "newcomer", CreatedAt: day(6)}},
	}
	plain := New(roles)
	refusals := map[string]int{}
	for _, date := range []int{1, 10, 20, 30} {
		now := day(date)
		e := New(roles, Mandated(m, func() time.Time { return now }), BaseURL("https://index.example"))
		phase := m.PhaseAt(now)
		for name, base := range accounts {
			for a := range knownActions {
				actor := base
				actor.EmailVerified, actor.Sudo, actor.Admin = true, true, true
				target := Target{Project: project, Name: "demo", InviteeID: actor.User.ID}
				if a == CreateProject {
					target = Target{Name: "new"}
				}
				t.Run(fmt.Sprintf("%s/%s/%s", phase, name, a), func(t *testing.T) {
					want := plain.Decide(context.Background(), actor, a, target)
					got := e.Decide(context.Background(), actor, a, target)
					if want != nil {
						if fmt.Sprint(got) != fmt.Sprint(want) {
							t.Fatalf("the mandate changed a refusal: %v, want %v", got, want)
						}
						return
					}
					subjectPhase := phase
					if name == "new maintainer" {
						subjectPhase = PhaseEnforce
					}
					maintains := name != "no role, no 2FA" || a == CreateProject
					refused := !actor.TwoFactor.Enabled() && maintains &&
						(subjectPhase == PhaseEnforce && !exemptUnderEnforce[a] ||
							subjectPhase == PhaseRestrict && (a == CreateProject || a == ManageRoles || a == CreateToken))
					if refused {
						refusals[fmt.Sprintf("%s/%s", phase, name)]++
					}
					var d *Denied
					switch {
					case refused && (!errors.As(got, &d) || d.Rule != RuleMandate):
						t.Fatalf("Decide = %v, want the mandate's refusal", got)
					case refused && !strings.Contains(d.Reason, "https://index.example/manage/account/"):
						t.Errorf("the refusal does not say where to act: %s", d.Reason)
					case !refused && got != nil:
						t.Fatalf("Decide = %v, want allowed", got)
					}
				})
			}
		}
	}
	// The table must exercise the refusals it specifies, not only agree that nothing is refused.
	for key, want := range map[string]int{"restrict/maintainer without 2FA": 3, "enforce/maintainer without 2FA": 13,
		"none/new maintainer": 13, "notice/maintainer without 2FA": 0, "enforce/maintainer with TOTP": 0, "restrict/no role, no 2FA": 1} {
		if refusals[key] != want {
			t.Errorf("%s: %d refusals, want %d", key, refusals[key], want)
		}
	}
}

func TestMandatePhases(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2027, 1, d, 0, 0, 0, 0, time.UTC) }
	m := Mandate{Notice: day(10), Restrict: day(20), Enforce: day(30)}
	for d, want := range map[int]Phase{1: PhaseNone, 10: PhaseNotice, 19: PhaseNotice, 20: PhaseRestrict, 30: PhaseEnforce, 31: PhaseEnforce} {
		if got := m.PhaseAt(day(d)); got != want {
			t.Errorf("day %d: %v, want %v", d, got, want)
		}
	}
	if got := (Mandate{Enforce: day(5)}).PhaseAt(day(6)); got != PhaseEnforce {
		t.Errorf("enforce alone: %v", got)
	}
	if (Mandate{}).PhaseAt(day(1)) != PhaseNone || (Mandate{Restrict: day(3), Notice: day(4)}).Validate() == nil || m.Validate() != nil {
		t.Error("an unset mandate, or the order of the dates")
	}
	acts, err := ParseActions(" create-project, upload ,")
	if err != nil || len(acts) != 2 || acts[1] != Upload {
		t.Errorf("ParseActions = %v, %v", acts, err)
	}
	if _, err := ParseActions("create-project,fly"); err == nil || !strings.Contains(err.Error(), `"fly" is not an action`) {
		t.Errorf("an unknown action: %v", err)
	}
}

// earlyRoles adds early enforcement of some users and projects to fakeRoles.
type earlyRoles struct {
	fakeRoles
	users, projects map[int64]bool
}

func (r earlyRoles) EarlyEnforced(_ context.Context, userID, projectID int64) (bool, error) {
	return r.users[userID] || r.projects[projectID], nil
}

// TestEarlyEnforcement is rule 5: a user or a project an administrator chose is under the enforce phase before
// the date, for accounts without a second factor; everyone else is under the global phase.
func TestEarlyEnforcement(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	roles := earlyRoles{
		fakeRoles: fakeRoles{{10, 1}: store.RoleOwner, {20, 2}: store.RoleOwner, {10, 2}: store.RoleOwner, {10, 3}: store.RoleOwner},
		users:     map[int64]bool{1: true, 3: true},
		projects:  map[int64]bool{20: true},
	}
	e := New(roles, Mandated(Mandate{Enforce: now.AddDate(1, 0, 0)}, func() time.Time { return now }))
	normal := &store.Project{ID: 10, Name: "Normal", NormalizedName: "normal"}
	chosen := &store.Project{ID: 20, Name: "Chosen", NormalizedName: "chosen"}
	actor := func(id int64, tf TwoFactor) Actor {
		return Actor{User: store.User{ID: id, Username: fmt.Sprint("user", id)}, EmailVerified: true, Sudo: true, TwoFactor: tf,
			Token: &TokenScope{ID: "t"}}
	}
	for _, tc := range []struct {
		name    string
		actor   Actor
		project *store.Project
		refused bool
	}{
		{"a chosen user without 2FA", actor(1, TwoFactor{}), normal, true},
		{"a chosen user with 2FA", actor(3, TwoFactor{TOTP: true}), normal, false},
		{"anyone without 2FA on a chosen project", actor(2, TwoFactor{}), chosen, true},
		{"the same account elsewhere", actor(2, TwoFactor{}), normal, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Decide(context.Background(), tc.actor, Upload, Target{Project: tc.project, Name: tc.project.NormalizedName})
			var d *Denied
			if got := errors.As(err, &d) && d.Rule == RuleMandate; got != tc.refused || (!tc.refused && err != nil) {
				t.Errorf("Decide = %v, want refused by the mandate: %v", err, tc.refused)
			}
		})
	}
	web := actor(1, TwoFactor{})
	web.Token = nil
	if err := e.Decide(context.Background(), web, AddFactor, Target{}); err != nil {
		t.Errorf("a chosen user enrolling a factor: %v", err)
	}
	st, err := e.MandateFor(context.Background(), web)
	if err != nil || st.Phase != PhaseEnforce || !st.Concerned {
		t.Errorf("MandateFor a chosen user: %+v %v", st, err)
	}
	if st, _ := e.MandateFor(context.Background(), actor(2, TwoFactor{})); st.Phase != PhaseNone {
		t.Errorf("MandateFor an account chosen by none: %+v", st)
	}
}

// TestKnownActionsAreAll: every Action constant of the package is known to ParseActions and to the tables that
// iterate over knownActions (TestMandate), so that a new action cannot escape the mandate's table.
func TestKnownActionsAreAll(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	n := 0
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(node ast.Node) bool {
			vs, ok := node.(*ast.ValueSpec)
			if !ok {
				return true
			}
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Action" {
				return false
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok {
					n++
					if a := Action(strings.Trim(lit.Value, `"`)); !knownActions[a] {
						t.Errorf("action %s is missing from knownActions", a)
					}
				}
			}
			return false
		})
	}
	if n != len(knownActions) {
		t.Errorf("%d Action constants, %d known actions", n, len(knownActions))
	}
}
