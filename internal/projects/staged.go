package projects

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/store"
)

// ErrStagedConflict refuses an approval because a file of the release was published meanwhile under its name or
// with its content: the staged file can no longer be published as it is.
var ErrStagedConflict = errors.New("a file of this release, or one with the same content, was published meanwhile; discard the staged release and upload again")

// StagedRelease is one version of a project whose files wait for approval.
type StagedRelease struct {
	Version string
	Files   []store.StagedFile
}

// StagedReleases lists a project's staged releases with their files and hashes, for its collaborators.
func (m *Manager) StagedReleases(ctx context.Context, actor policy.Actor, project string) ([]StagedRelease, error) {
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	if err := m.policy.Decide(ctx, actor, policy.ViewReleases, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
		return nil, err
	}
	files, err := m.db.StagedFiles(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	var out []StagedRelease
	index := map[string]int{}
	for _, f := range files {
		i, ok := index[f.CanonicalVersion]
		if !ok {
			i = len(out)
			index[f.CanonicalVersion] = i
			out = append(out, StagedRelease{Version: f.Version})
		}
		out[i].Files = append(out[i].Files, f)
	}
	return out, nil
}

// Approve publishes a staged release: every staged file of the version reaches the index at once. The policy asks
// for a collaborator with a second factor and a recent confirmation (and a security key where the project requires
// one); the collaborators are told.
func (m *Manager) Approve(ctx context.Context, actor policy.Actor, project, version string, from audit.Request) ([]Notice, error) {
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	if err := m.policy.Decide(ctx, actor, policy.ApproveRelease, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
		return nil, err
	}
	key, err := releaseKey(version)
	if err != nil {
		return nil, err
	}
	files, err := m.db.ApproveStaged(ctx, p.ID, key, actor.User.ID, m.now().UTC())
	switch {
	case errors.Is(err, store.ErrFileExists), errors.Is(err, store.ErrContentExists), errors.Is(err, store.ErrFilenameReused):
		return nil, ErrStagedConflict
	case err != nil:
		return nil, storeErr(err, ErrNoSuchRelease)
	}
	m.index.Invalidate(p.NormalizedName)
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Filename
	}
	m.record(ctx, EventReleaseApproved, actor, p.ID, from, fmt.Sprintf("release %s: %s", version, strings.Join(names, ", ")))
	return m.tellCollaborators(ctx, p, Notice{Kind: NoticeReleaseApproved, Project: p.Name, By: actor.User.Username, Detail: version,
		Text: fmt.Sprintf("%s approved the staged release %s, which is now on the index: %s.", actor.User.Username, version, strings.Join(names, ", "))})
}

// Discard drops a staged release: its files never reach the index.
func (m *Manager) Discard(ctx context.Context, actor policy.Actor, project, version string, from audit.Request) ([]Notice, error) {
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	if err := m.policy.Decide(ctx, actor, policy.DiscardRelease, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
		return nil, err
	}
	key, err := releaseKey(version)
	if err != nil {
		return nil, err
	}
	files, err := m.db.DiscardStaged(ctx, p.ID, key)
	if err != nil {
		return nil, storeErr(err, ErrNoSuchRelease)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Filename
	}
	m.record(ctx, EventReleaseDiscarded, actor, p.ID, from, fmt.Sprintf("release %s: %s", version, strings.Join(names, ", ")))
	return m.tellCollaborators(ctx, p, Notice{Kind: NoticeReleaseDiscarded, Project: p.Name, By: actor.User.Username, Detail: version,
		Text: fmt.Sprintf("%s discarded the staged release %s; these files were never published: %s.", actor.User.Username, version, strings.Join(names, ", "))})
}

// SetStaging chooses which uploads wait for approval: store.StageNothing, store.StageCI or store.StageTokens.
func (m *Manager) SetStaging(ctx context.Context, actor policy.Actor, project, mode string, from audit.Request) ([]Notice, error) {
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	what, ok := stagingModes[mode]
	if !ok {
		return nil, fmt.Errorf("unknown staging mode %q", mode)
	}
	if err := m.policy.Decide(ctx, actor, policy.SetStaging, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
		return nil, err
	}
	if err := m.db.SetStaging(ctx, p.ID, mode); err != nil {
		return nil, err
	}
	m.record(ctx, EventStaging, actor, p.ID, from, what)
	return m.tellCollaborators(ctx, p, Notice{Kind: NoticeStaging, Project: p.Name, By: actor.User.Username,
		Text: fmt.Sprintf("%s changed the project's settings: %s.", actor.User.Username, what)})
}

// stagingModes says what each mode means, for the history and the mails.
var stagingModes = map[string]string{
	store.StageNothing: "uploads are published at once",
	store.StageCI:      "uploads from Trusted Publishers wait for a maintainer's approval",
	store.StageTokens:  "every upload waits for a maintainer's approval",
}

// StagingModes lists the modes with their meaning, for the settings form.
func StagingModes() map[string]string { return stagingModes }

func (m *Manager) tellCollaborators(ctx context.Context, p store.Project, n Notice) ([]Notice, error) {
	to, err := m.collaborators(ctx, p)
	if err != nil {
		return nil, err
	}
	return notify(to, n), nil
}

// Published is who hears of a publish to project p (files, by whom and from where, worded in text): every Owner,
// its organization's Owners included, so that a publish from a taken-over account cannot go unseen, except those who turned these
// mails off, which the Owners of a critical project cannot.
func (m *Manager) Published(ctx context.Context, p store.Project, text string) ([]Notice, error) {
	to, err := m.db.ProjectOwnerIDs(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	prot, err := m.db.ProjectProtection(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	if !prot.Critical() {
		out, err := m.db.PublishMailOptouts(ctx, p.ID)
		if err != nil {
			return nil, err
		}
		to = slices.DeleteFunc(to, func(id int64) bool { return out[id] })
	}
	return notify(to, Notice{Kind: NoticePublished, Project: p.Name, Text: text}), nil
}

// SetPublishMail turns the actor's mail of every publish to project on or off.
func (m *Manager) SetPublishMail(ctx context.Context, actor policy.Actor, project string, on bool) error {
	p, err := m.project(ctx, project)
	if err != nil {
		return err
	}
	if err := m.policy.Decide(ctx, actor, policy.SetPublishMail, policy.Target{Project: &p, Name: p.NormalizedName, PublishMail: on}); err != nil {
		return err
	}
	return m.db.SetPublishMail(ctx, actor.User.ID, p.ID, on)
}

// PublishMail says whether the user gets the mail of every publish to the project.
func (m *Manager) PublishMail(ctx context.Context, userID int64, p store.Project) (bool, error) {
	out, err := m.db.PublishMailOptouts(ctx, p.ID)
	if err != nil {
		return false, err
	}
	return !out[userID], nil
}
