package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"wharf/internal/audit"
	"wharf/internal/policy"
	"wharf/internal/projects"
	"wharf/internal/publishing"
	"wharf/internal/store"
	"wharf/internal/tokens"
)

// Staged releases and the settings around them. The releases page lists what waits for approval, with each file's
// hashes to compare with the build, and the forms to approve or discard it; the publishing page has the Owners'
// choice of which uploads wait, and every collaborator's switch for the mail of every publish. The rules (who may
// approve, with which factors, what a critical project keeps) are projects.Manager's and the policy's; this file
// turns forms into calls and refusals into the page the form was on.

// stagedRelease is a staged release as the releases page lists it.
type stagedRelease struct {
	Version string
	Files   []stagedFile
}

// stagedFile is one staged file with who uploaded it: a user, or the CI job of a Trusted Publisher.
type stagedFile struct {
	Filename   string
	Size       int64
	SHA256     string
	MD5        string
	Blake2b256 string
	UploadedAt time.Time
	// UploadedBy is the uploader's username ("" for a Trusted Publisher, or an account that is gone); Publisher
	// describes the CI job of a Trusted Publisher ("" for a user's token).
	UploadedBy string
	Publisher  string
}

// stagedReleases lists the project's staged releases for its releases page, naming who uploaded each file.
func (s *Site) stagedReleases(ctx context.Context, a policy.Actor, p store.Project) ([]stagedRelease, error) {
	rels, err := s.projects.StagedReleases(ctx, a, p.Name)
	if err != nil {
		return nil, err
	}
	names := map[int64]string{}
	out := make([]stagedRelease, 0, len(rels))
	for _, rel := range rels {
		row := stagedRelease{Version: rel.Version}
		for _, f := range rel.Files {
			sf := stagedFile{Filename: f.Filename, Size: f.Size, SHA256: f.SHA256, MD5: f.MD5, Blake2b256: f.Blake2b256,
				UploadedAt: f.CreatedAt}
			if f.PublisherIdentity != "" {
				var id map[string]string
				if json.Unmarshal([]byte(f.PublisherIdentity), &id) != nil {
					id = nil // an unreadable record still says a Trusted Publisher uploaded the file
				}
				sf.Publisher = tokens.DescribeIdentity(id)
			} else if f.UploadedBy != 0 {
				if _, ok := names[f.UploadedBy]; !ok {
					if acct, err := s.db.AccountByID(ctx, f.UploadedBy); err == nil {
						names[f.UploadedBy] = acct.Username
					} else {
						names[f.UploadedBy] = ""
					}
				}
				sf.UploadedBy = names[f.UploadedBy]
			}
			row.Files = append(row.Files, sf)
		}
		out = append(out, row)
	}
	return out, nil
}

// discarding is the staged release whose discarding the query asks to confirm (?discard=VERSION), or nil.
func discarding(r *http.Request, staged []stagedRelease) *stagedRelease {
	version := r.URL.Query().Get("discard")
	for i := range staged {
		if version != "" && staged[i].Version == version {
			return &staged[i]
		}
	}
	return nil
}

// ApproveRelease publishes a staged release: its files reach the index at once.
func (s *Site) ApproveRelease(w http.ResponseWriter, r *http.Request) error {
	return s.stagedAction(w, r, "release-approved", func(ctx context.Context, a policy.Actor, name, version string, from audit.Request) ([]projects.Notice, error) {
		return s.projects.Approve(ctx, a, name, version, from)
	})
}

// DiscardRelease drops a staged release: its files never reach the index.
func (s *Site) DiscardRelease(w http.ResponseWriter, r *http.Request) error {
	return s.stagedAction(w, r, "release-discarded", func(ctx context.Context, a policy.Actor, name, version string, from audit.Request) ([]projects.Notice, error) {
		return s.projects.Discard(ctx, a, name, version, from)
	})
}

// errNothingStaged says why an approval or discarding found nothing: another collaborator was first, most likely.
const errNothingStaged = "There is no staged release of that version: it was approved or discarded already."

// stagedAction runs an approval or a discarding of the releases page. A missing re-authentication sends the
// visitor to confirm and come back to the page; the other refusals show on it.
func (s *Site) stagedAction(w http.ResponseWriter, r *http.Request, notice string,
	do func(ctx context.Context, a policy.Actor, name, version string, from audit.Request) ([]projects.Notice, error)) error {
	if s.projects == nil {
		return errNoManager
	}
	name := r.PathValue("name")
	back := managePath(name, "releases")
	v, err := s.post(w, r, guard{back: back})
	if v == nil {
		return err
	}
	ctx := r.Context()
	ns, err := do(ctx, s.actor(v), name, r.PostForm.Get("version"), requestOf(r))
	var denied *policy.Denied
	switch {
	case err == nil:
		s.mailNotices(ctx, ns, "")
		redirect(w, r, back+"?notice="+notice)
		return nil
	case errors.Is(err, policy.ErrReauthRequired):
		redirect(w, r, reauthURL(back))
		return nil
	case errors.As(err, &denied):
		return s.renderReleases(w, r, v, name, http.StatusForbidden, denied.Reason)
	case errors.Is(err, projects.ErrStagedConflict):
		return s.renderReleases(w, r, v, name, http.StatusConflict, capitalize(err.Error()))
	case errors.Is(err, projects.ErrNoSuchRelease):
		return s.renderReleases(w, r, v, name, http.StatusNotFound, errNothingStaged)
	}
	return manageErr(w, r, err, back)
}

// ---- the publishing page's settings

// stagingMode is one choice of the staging form.
type stagingMode struct {
	Value   string // the form's value; "none" stands for store.StageNothing
	Label   string
	Meaning string
	Checked bool
}

// stagingValues are the modes in the form's order, by their form value.
var stagingValues = []struct{ value, mode, label string }{
	{"none", store.StageNothing, "Publish at once"},
	{"ci", store.StageCI, "Approve uploads from Trusted Publishers"},
	{"tokens", store.StageTokens, "Approve every upload"},
}

// stagingModes is the staging form with the project's mode checked.
func stagingModes(current string) []stagingMode {
	meanings := projects.StagingModes()
	out := make([]stagingMode, 0, len(stagingValues))
	for _, m := range stagingValues {
		out = append(out, stagingMode{Value: m.value, Label: m.label, Meaning: meanings[m.mode], Checked: m.mode == current})
	}
	return out
}

// stagingMeaning says what the project's mode means, for everyone who reads the page.
func stagingMeaning(current string) string {
	if m, ok := projects.StagingModes()[current]; ok {
		return m
	}
	return current
}

// errStagingMode refuses a staging form that chose none of its modes; it shows on the publishing page.
var errStagingMode = &publishing.FieldError{Reason: "Choose which uploads wait for approval: none, those from Trusted Publishers, or every upload."}

// SetStaging chooses which uploads of the project wait for approval; Owners only.
func (s *Site) SetStaging(w http.ResponseWriter, r *http.Request) error {
	if s.projects == nil {
		return errNoManager
	}
	return s.projectChange(w, r, func(ctx context.Context, a policy.Actor, project store.Project, _ []publisherForm) (string, error) {
		mode, ok := "", false
		for _, m := range stagingValues {
			if m.value == r.PostForm.Get("staging") {
				mode, ok = m.mode, true
			}
		}
		if !ok {
			return "", errStagingMode
		}
		ns, err := s.projects.SetStaging(ctx, a, project.Name, mode, requestOf(r))
		if err != nil {
			return "", err
		}
		s.mailNotices(ctx, ns, "")
		return "staging-changed", nil
	})
}

// PublishMail turns the visitor's mail of every publish to the project on or off. A critical project's
// collaborators cannot turn it off: the policy's refusal shows on the page.
func (s *Site) PublishMail(w http.ResponseWriter, r *http.Request) error {
	if s.projects == nil {
		return errNoManager
	}
	return s.projectChange(w, r, func(ctx context.Context, a policy.Actor, project store.Project, _ []publisherForm) (string, error) {
		on, err := strconv.ParseBool(r.PostForm.Get("on"))
		if err != nil && r.PostForm.Has("on") {
			return "", errSwitchValue
		}
		// An unticked checkbox posts nothing: off.
		notice := "publish-mail-off"
		if on {
			notice = "publish-mail-on"
		}
		return notice, s.projects.SetPublishMail(ctx, a, project.Name, on)
	})
}
