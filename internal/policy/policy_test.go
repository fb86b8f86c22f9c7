package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"wharf/internal/store"
)

type fakeRoles map[[2]int64]string

func (f fakeRoles) RoleOf(_ context.Context, projectID, userID int64) (string, error) {
	return f[[2]int64{projectID, userID}], nil
}

func TestDecide(t *testing.T) {
	owner := store.User{ID: 1, Username: "owner"}
	maint := store.User{ID: 2, Username: "maint"}
	stranger := store.User{ID: 3, Username: "stranger"}
	disabled := store.User{ID: 1, Username: "owner", Disabled: true}
	demo := &store.Project{ID: 10, Name: "Demo", NormalizedName: "demo"}
	e := New(fakeRoles{{10, 1}: store.RoleOwner, {10, 2}: store.RoleMaintainer})
	scoped := func(p ...string) *TokenScope { return &TokenScope{ID: "t", Projects: p} }

	for _, tc := range []struct {
		name   string
		actor  Actor
		action Action
		target Target
		denied string // substring of the reason; "" = allowed
	}{
		{"owner uploads", Actor{User: owner, Token: &TokenScope{ID: "t"}}, Upload, Target{Project: demo}, ""},
		{"maintainer uploads", Actor{User: maint, Token: scoped("demo")}, Upload, Target{Project: demo}, ""},
		{"stranger refused", Actor{User: stranger, Token: &TokenScope{ID: "t"}}, Upload, Target{Project: demo}, "isn't allowed to upload"},
		{"token scoped elsewhere", Actor{User: owner, Token: scoped("other")}, Upload, Target{Project: demo}, "not valid for project: 'demo'"},
		{"empty scope allows nothing", Actor{User: owner, Token: &TokenScope{ID: "t", Projects: []string{}}}, Upload, Target{Project: demo}, "not valid for project"},
		{"disabled owner", Actor{User: disabled, Token: &TokenScope{ID: "t"}}, Upload, Target{Project: demo}, "disabled"},
		{"anonymous", Actor{}, Upload, Target{Project: demo}, "authentication"},
		{"account token creates", Actor{User: stranger, Token: &TokenScope{ID: "t"}}, CreateProject, Target{Name: "new"}, ""},
		{"scoped token cannot create", Actor{User: owner, Token: scoped("new")}, CreateProject, Target{Name: "new"}, "cannot create the new project 'new'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.Decide(context.Background(), tc.actor, tc.action, tc.target)
			if tc.denied == "" {
				if err != nil {
					t.Fatalf("Decide = %v, want allowed", err)
				}
				return
			}
			if !errors.Is(err, ErrDenied) || !strings.Contains(err.Error(), tc.denied) {
				t.Fatalf("Decide = %v, want a denial containing %q", err, tc.denied)
			}
		})
	}
}
