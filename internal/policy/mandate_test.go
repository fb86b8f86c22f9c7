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
	ClaimKeyOffer: true, SetPublishMail: true, ViewOrganization: true, ViewOrgHistory: true, LeaveOrganization: true,
	DeclineOrgInvitation: true, ReportProject: true,
}

// TestMandate is rule 4's table: phase x account x action, each decided with and without the mandate. The mandate
// only ever adds refusals, and exactly these: from restrict, the restricted actions; from enforce, everything but
// the exempt ones; for accounts without a second factor that maintain a project (or would, by creating one). An
// account created after the early-enforcement date is under enforce whatever the date.
func TestMandate(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2027, 1, d, 0, 0, 0, 0, time.UTC) }
	m := Mandate{Notice: day(10), Restrict: day(20), Enforce: day(30), Restricted: DefaultRestricted, EnforceAccountsFrom: day(5),
		Brownouts: []Window{{day(14), day(16)}}}
	roles := fakeRoles{{10, 1}: store.RoleOwner, {10, 2}: store.RoleOwner, {10, 4}: store.RoleOwner}
	project := &store.Project{ID: 10, Name: "Demo", NormalizedName: "demo"}
	old := day(1).AddDate(-1, 0, 0)
	accounts := map[string]Actor{
		"maintainer without 2FA": {User: store.User{ID: 1, Username: "bare", CreatedAt: old}},
		"maintainer with TOTP":   {User: store.User{ID: 2, Username: "totp", CreatedAt: old}, TwoFactor: TwoFactor{TOTP: true}},
		"no role, no 2FA":        {User: store.User{ID: 3, Username: "reader", CreatedAt: old}},
		"new maintainer":         {User: store.User{ID: 4, Username: "newcomer", CreatedAt: day(6)}},
	}
	plain := New(roles, BaseURL("https://index.example"))
	refusals := map[string]int{}
	for _, date := range []int{1, 10, 15, 20, 30} {
		now := day(date)
		e := New(roles, Mandated(m, func() time.Time { return now }), BaseURL("https://index.example"))
		phase := m.PhaseAt(now)
		label := phase.String()
		if _, ok := m.BrownoutAt(now); ok {
			label = "brownout"
		}
		for name, base := range accounts {
			for a := range knownActions {
				actor := base
				actor.EmailVerified, actor.Sudo, actor.Admin = true, true, true
				target := Target{Project: project, Name: "demo", InviteeID: actor.User.ID}
				if a == CreateProject {
					target = Target{Name: "new"}
				}
				t.Run(fmt.Sprintf("%s/%s/%s", label, name, a), func(t *testing.T) {
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
						refusals[fmt.Sprintf("%s/%s", label, name)]++
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
	for key, want := range map[string]int{"restrict/maintainer without 2FA": 3, "enforce/maintainer without 2FA": 15,
		"brownout/maintainer without 2FA": 15, "brownout/maintainer with TOTP": 0,
		"none/new maintainer": 15, "notice/maintainer without 2FA": 0, "enforce/maintainer with TOTP": 0, "restrict/no role, no 2FA": 1} {
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

// TestBrownouts: a brown-out is the enforce phase for its window, announced beforehand and named in its refusals;
// windows are read from settings and kept in order.
func TestBrownouts(t *testing.T) {
	ws, err := ParseWindows(" 2027-02-01T14:00:00Z/2027-02-01T16:00:00+00:00, 2027-01-20/2027-01-21 ")
	if err != nil {
		t.Fatal(err)
	}
	at := func(d, h int) time.Time { return time.Date(2027, 1, d, h, 0, 0, 0, time.UTC) }
	want := []Window{{at(20, 0), at(21, 0)}, {at(32, 14), at(32, 16)}}
	if fmt.Sprint(ws) != fmt.Sprint(want) {
		t.Fatalf("ParseWindows = %v, want %v", ws, want)
	}
	for _, bad := range []string{"2027-01-20", "2027-01-21/2027-01-20", "soon/later"} {
		if _, err := ParseWindows(bad); err == nil {
			t.Errorf("ParseWindows(%q) accepted it", bad)
		}
	}
	m := Mandate{Notice: at(1, 0), Enforce: at(60, 0), Brownouts: ws}
	roles := fakeRoles{{10, 1}: store.RoleOwner}
	project := &store.Project{ID: 10, Name: "Demo", NormalizedName: "demo"}
	actor := Actor{User: store.User{ID: 1, Username: "bare"}, EmailVerified: true, Token: &TokenScope{ID: "t"}}
	for _, tc := range []struct {
		now      time.Time
		refused  bool
		next     Window
		brownout Window
	}{
		{at(19, 23), false, ws[0], Window{}},
		{at(20, 0), true, ws[1], ws[0]},
		{at(21, 0), false, ws[1], Window{}},
		{at(32, 15), true, Window{}, ws[1]},
	} {
		e := New(roles, Mandated(m, func() time.Time { return tc.now }), BaseURL("https://index.example"))
		err := e.Decide(context.Background(), actor, Upload, Target{Project: project, Name: "demo"})
		if refused := err != nil; refused != tc.refused {
			t.Errorf("%v: Decide = %v, want refused=%v", tc.now, err, tc.refused)
		}
		if tc.refused && !strings.Contains(fmt.Sprint(err), "scheduled brown-out of the 2FA mandate, until "+tc.brownout.End.Format("2006-01-02 15:04")) {
			t.Errorf("%v: the refusal does not name the brown-out: %v", tc.now, err)
		}
		st, err := e.MandateFor(context.Background(), actor)
		if err != nil || st.Next != tc.next || st.Brownout != tc.brownout || !st.Concerned {
			t.Errorf("%v: MandateFor = %+v, %v; want next %v, brownout %v", tc.now, st, err, tc.next, tc.brownout)
		}
	}
}

// TestMandateWarning: an upload the mandate allows today but will refuse is answered with a warning that says
// when and what to do, recorded in the security history; accounts the mandate does not concern get none.
func TestMandateWarning(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2027, 1, d, 0, 0, 0, 0, time.UTC) }
	m := Mandate{Notice: day(10), Restrict: day(20), Enforce: day(30), Restricted: DefaultRestricted, Brownouts: []Window{{day(25), day(26)}}}
	roles := fakeRoles{{10, 1}: store.RoleOwner, {10, 2}: store.RoleOwner}
	project := &store.Project{ID: 10, Name: "Demo", NormalizedName: "demo"}
	bare := Actor{User: store.User{ID: 1, Username: "bare"}, EmailVerified: true, Token: &TokenScope{ID: "t"}}
	totp := Actor{User: store.User{ID: 2, Username: "totp"}, EmailVerified: true, Token: &TokenScope{ID: "t"}, TwoFactor: TwoFactor{TOTP: true}}
	reader := Actor{User: store.User{ID: 3, Username: "reader"}, EmailVerified: true, Token: &TokenScope{ID: "t"}}
	target := Target{Project: project, Name: "demo"}
	for _, tc := range []struct {
		name   string
		date   int
		actor  Actor
		action Action
		target Target
		want   string // "" = no warning
	}{
		{"before the notice", 5, bare, Upload, target, ""},
		{"in notice", 12, bare, Upload, target, "This will be refused from 2027-01-30 (and during a brown-out from 2027-01-25 00:00 to 2027-01-26 00:00 UTC)"},
		{"in restrict, an upload still allowed", 21, bare, Upload, target, "create a new API token at https://index.example/manage/account/token/"},
		{"after the last brown-out", 27, bare, Upload, target, "This will be refused from 2027-01-30."},
		{"an account with 2FA", 12, totp, Upload, target, ""},
		{"creating a first project", 12, reader, CreateProject, Target{Name: "new"}, "'reader' has none"},
		{"in enforce there is a refusal instead", 30, bare, Upload, target, ""},
		{"an action the mandate never refuses", 12, bare, RevokeToken, Target{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorded{}
			now := day(tc.date)
			e := New(roles, Mandated(m, func() time.Time { return now }), BaseURL("https://index.example"), Audit(rec))
			got, err := e.Warning(context.Background(), tc.actor, tc.action, tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if got != "" || len(rec.events) != 0 {
					t.Errorf("Warning = %q (events %v), want none", got, rec.events)
				}
				return
			}
			if !strings.HasPrefix(got, "WARNING: ") || !strings.Contains(got, tc.want) || !strings.Contains(got, "https://index.example/manage/account/") {
				t.Errorf("Warning = %q, want one saying %q", got, tc.want)
			}
			if len(rec.events) != 1 || !strings.HasPrefix(rec.events[0], EventWarned) {
				t.Errorf("the warning was not recorded: %v", rec.events)
			}
		})
	}
}
