package projects

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/store"
)

// collaborators lists who maintains a project, for the notices of a change to what it publishes.
func (m *Manager) collaborators(ctx context.Context, p store.Project) ([]int64, error) {
	cs, err := m.db.Collaborators(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return audience(cs, true), nil
}

// Yank marks a release yanked (PEP 592): installers skip it unless it is pinned exactly. Only Owners may, as on
// PyPI. The reason is shown to installers and on every index page of the project.
func (m *Manager) Yank(ctx context.Context, actor policy.Actor, project, version, reason string, from audit.Request) ([]Notice, error) {
	reason = strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) > maxReason {
		return nil, ErrReasonTooLong
	}
	return m.yank(ctx, actor, project, version, true, reason, from)
}

// Unyank restores a yanked release. Only Owners may: a release withdrawn for being compromised must not come
// back through a Maintainer's stolen account.
func (m *Manager) Unyank(ctx context.Context, actor policy.Actor, project, version string, from audit.Request) ([]Notice, error) {
	return m.yank(ctx, actor, project, version, false, "", from)
}

func (m *Manager) yank(ctx context.Context, actor policy.Actor, project, version string, yanked bool, reason string, from audit.Request) ([]Notice, error) {
	action, event, kind := policy.Yank, EventReleaseYanked, NoticeReleaseYanked
	if !yanked {
		action, event, kind = policy.Unyank, EventReleaseUnyanked, NoticeReleaseUnyanked
	}
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	if err := m.policy.Decide(ctx, actor, action, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
		return nil, err
	}
	key, err := releaseKey(version)
	if err != nil {
		return nil, err
	}
	if err := m.db.YankRelease(ctx, p.ID, key, yanked, reason, actor.User.ID, m.now().UTC()); err != nil {
		return nil, storeErr(err, ErrNoSuchRelease)
	}
	m.index.Invalidate(p.NormalizedName)
	detail := "release " + version
	if reason != "" {
		detail += ": " + reason
	}
	m.record(ctx, event, actor, p.ID, from, detail)
	to, err := m.collaborators(ctx, p)
	if err != nil {
		return nil, err
	}
	return notify(to, Notice{Kind: kind, Project: p.Name, By: actor.User.Username, Detail: version}), nil
}

// DeleteFile removes one file of the project from the index. Its filename stays reserved forever, so no other
// bytes can ever be published under it.
func (m *Manager) DeleteFile(ctx context.Context, actor policy.Actor, project, filename string, from audit.Request) ([]Notice, error) {
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	if err := m.policy.Decide(ctx, actor, policy.DeleteFile, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
		return nil, err
	}
	// Filenames are unique across projects: checking the file's project keeps an Owner of one project from
	// deleting another's files by name. A file never moves between projects, so the check cannot go stale.
	f, err := m.db.FileByFilename(ctx, filename)
	if err != nil {
		return nil, storeErr(err, ErrNoSuchFile)
	}
	if f.ProjectID != p.ID {
		return nil, ErrNoSuchFile
	}
	if _, err := m.db.DeleteFile(ctx, filename, actor.User.ID, m.now().UTC()); err != nil {
		return nil, storeErr(err, ErrNoSuchFile)
	}
	m.index.Invalidate(p.NormalizedName)
	m.record(ctx, EventFileDeleted, actor, p.ID, from, fmt.Sprintf("file %s of release %s (sha256 %s)", f.Filename, f.Version, f.SHA256))
	to, err := m.collaborators(ctx, p)
	if err != nil {
		return nil, err
	}
	return notify(to, Notice{Kind: NoticeFileDeleted, Project: p.Name, By: actor.User.Username, Detail: f.Filename}), nil
}

// DeleteRelease removes a release and all its files; every filename stays reserved.
func (m *Manager) DeleteRelease(ctx context.Context, actor policy.Actor, project, version string, from audit.Request) ([]Notice, error) {
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	if err := m.policy.Decide(ctx, actor, policy.DeleteRelease, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
		return nil, err
	}
	key, err := releaseKey(version)
	if err != nil {
		return nil, err
	}
	files, err := m.db.DeleteRelease(ctx, p.ID, key, actor.User.ID, m.now().UTC())
	if err != nil {
		return nil, storeErr(err, ErrNoSuchRelease)
	}
	m.index.Invalidate(p.NormalizedName)
	m.record(ctx, EventReleaseDeleted, actor, p.ID, from, fmt.Sprintf("release %s with %d files: %s", version, len(files), filenames(files)))
	to, err := m.collaborators(ctx, p)
	if err != nil {
		return nil, err
	}
	return notify(to, Notice{Kind: NoticeReleaseDeleted, Project: p.Name, By: actor.User.Username, Detail: version}), nil
}

func filenames(files []store.File) string {
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Filename
	}
	return strings.Join(names, ", ")
}

// DeleteProject removes a project: its releases, files, roles and invitations. Its filenames stay reserved, and
// so does its name. PyPI lets a deleted project's name be registered again; whoever does so then reaches every
// user who still installs it by that name (a "revival hijack"). Here the name is reserved instead, and only an
// administrator can release it (the reserved-names list).
func (m *Manager) DeleteProject(ctx context.Context, actor policy.Actor, project string, from audit.Request) ([]Notice, error) {
	p, err := m.project(ctx, project)
	if err != nil {
		return nil, err
	}
	if err := m.policy.Decide(ctx, actor, policy.DeleteProject, policy.Target{Project: &p, Name: p.NormalizedName}); err != nil {
		return nil, err
	}
	// Read before the roles go with the project.
	to, err := m.collaborators(ctx, p)
	if err != nil {
		return nil, err
	}
	now := m.now().UTC()
	reason := fmt.Sprintf("project %s was deleted by %s on %s", p.Name, actor.User.Username, now.Format("2006-01-02"))
	deleted, files, err := m.db.DeleteProject(ctx, p.ID, actor.User.ID, now, reason)
	if err != nil {
		return nil, storeErr(err, ErrNoSuchProject)
	}
	m.index.Invalidate(p.NormalizedName)
	// Recorded without the project's id, which no longer exists (and which events may not reference); the detail
	// names it instead.
	m.record(ctx, EventProjectDeleted, actor, 0, from, fmt.Sprintf("project %s (id %d) with %d files; name reserved",
		deleted.Name, deleted.ID, len(files)))
	return notify(to, Notice{Kind: NoticeProjectDeleted, Project: p.Name, By: actor.User.Username}), nil
}
