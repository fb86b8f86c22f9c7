// Package policy decides every write. Upload, the web pages and every API call ask Decide before they change
// anything, so that each rule (roles, token scopes, and later the 2FA mandates) is written once, here.
package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"wharf/internal/store"
)

// Action is a kind of write.
type Action string

// Actions that the policy decides.
const (
	// CreateProject registers a new project name (with its first upload).
	CreateProject Action = "create-project"
	// Upload adds a file to an existing project.
	Upload Action = "upload"
)

// Actor is who asks, and through what credential.
type Actor struct {
	User store.User
	// Token is set when the request authenticated with an API token; nil for a web session.
	Token *TokenScope
}

// TokenScope is what an API token allows, after its caveats were verified.
type TokenScope struct {
	ID       string
	Projects []string // normalised names; nil = every project of the user
}

// Denied is a refusal with the reason and what to do, worded for the person who gets it (on the web or in
// twine's output).
type Denied struct {
	Reason string
}

func (d *Denied) Error() string { return d.Reason }

// ErrDenied matches every *Denied with errors.Is.
var ErrDenied = errors.New("denied")

// Is lets errors.Is(err, ErrDenied) match.
func (d *Denied) Is(target error) bool { return target == ErrDenied }

// Roles is what the engine reads of project roles.
type Roles interface {
	RoleOf(ctx context.Context, projectID, userID int64) (string, error)
}

// Engine is the policy engine.
type Engine struct {
	roles Roles
}

// New builds the engine.
func New(roles Roles) *Engine { return &Engine{roles: roles} }

// Target is what an action applies to: an existing project, or only a name for a project to be created.
type Target struct {
	Project *store.Project // nil for CreateProject
	Name    string         // normalised name
}

// Decide returns nil when actor may do action on target, and a *Denied (or an internal error) otherwise.
func (e *Engine) Decide(ctx context.Context, actor Actor, action Action, target Target) error {
	if actor.User.ID == 0 {
		return &Denied{Reason: "Invalid or non-existent authentication information. See the help on API tokens for more information."}
	}
	if actor.User.Disabled {
		return &Denied{Reason: fmt.Sprintf("The account '%s' is disabled. Contact the administrators of this index.", actor.User.Username)}
	}
	switch action {
	case CreateProject:
		if actor.Token != nil && actor.Token.Projects != nil {
			return &Denied{Reason: fmt.Sprintf(
				"Invalid API Token: a project-scoped token cannot create the new project '%s'. Use a token scoped to your whole account for the first upload.", target.Name)}
		}
		return nil
	case Upload:
		if target.Project == nil {
			return fmt.Errorf("policy: %s needs a project", action)
		}
		if actor.Token != nil && actor.Token.Projects != nil && !slices.Contains(actor.Token.Projects, target.Project.NormalizedName) {
			return &Denied{Reason: fmt.Sprintf("Invalid API Token: project-scoped token is not valid for project: '%s'", target.Project.NormalizedName)}
		}
		role, err := e.roles.RoleOf(ctx, target.Project.ID, actor.User.ID)
		if err != nil {
			return fmt.Errorf("policy: %w", err)
		}
		if role != store.RoleOwner && role != store.RoleMaintainer {
			return &Denied{Reason: fmt.Sprintf(
				"The user '%s' isn't allowed to upload to project '%s'. Only its Owners and Maintainers may upload.",
				actor.User.Username, target.Project.Name)}
		}
		return nil
	default:
		return fmt.Errorf("policy: unknown action %q", action)
	}
}
