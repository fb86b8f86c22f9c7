package projects

import (
	"context"
	"fmt"

	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// NameStore is what the naming rules read.
type NameStore interface {
	IsNameReserved(ctx context.Context, normalized string) (bool, error)
	ProjectsByUltraName(ctx context.Context, ultra string) ([]store.Project, error)
}

// NameError is a refusal of a new project's name, worded for the person who chose it.
type NameError struct{ Reason string }

func (e *NameError) Error() string { return e.Reason }

// CheckNewName applies PyPI's rules to the name of a project about to be created, by an upload or by a pending
// Trusted Publisher (which would otherwise hold a name no upload could take): no standard library module, no file
// name, no reserved name, nothing that differs from an existing project only by confusable characters. A refusal
// is a *NameError; any other error is the store's.
func CheckNewName(ctx context.Context, db NameStore, name, normalized string) error {
	if pypkg.IsStdlibModuleName(normalized) {
		return &NameError{fmt.Sprintf("The name '%s' isn't allowed (conflict with Python Standard Library module name).", name)}
	}
	if pypkg.IsFileName(name) {
		return &NameError{fmt.Sprintf(
			"The name '%s' isn't allowed: it is the name of a file, which people pass to pip by mistake (as in 'pip install requirements.txt' for 'pip install -r requirements.txt'). Choose a different project name.", name)}
	}
	reserved, err := db.IsNameReserved(ctx, normalized)
	if err != nil {
		return err
	}
	if reserved {
		return &NameError{fmt.Sprintf("The name '%s' isn't allowed. Choose a different project name.", name)}
	}
	similar, err := db.ProjectsByUltraName(ctx, pypkg.UltraNormalizeName(name))
	if err != nil {
		return err
	}
	for _, p := range similar {
		if p.NormalizedName != normalized {
			return &NameError{fmt.Sprintf("The name '%s' is too similar to an existing project '%s'. Choose a different project name.", name, p.Name)}
		}
	}
	return nil
}
