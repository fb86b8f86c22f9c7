// Package upload is the legacy upload API (POST /legacy/) that twine and every publisher use, with PyPI's checks
// and PyPI-shaped messages. Nothing is visible until the blobs are durable and the database commit is done.
package upload

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"wharf/internal/audit"
	"wharf/internal/blob"
	"wharf/internal/httperror"
	"wharf/internal/policy"
	"wharf/internal/projects"
	"wharf/internal/pypkg"
	"wharf/internal/ratelimit"
	"wharf/internal/store"
)

// Store is what uploads read and write.
type Store interface {
	ProjectByName(ctx context.Context, normalized string) (store.Project, error)
	ProjectsByUltraName(ctx context.Context, ultra string) ([]store.Project, error)
	IsNameReserved(ctx context.Context, normalized string) (bool, error)
	AddFile(ctx context.Context, nf store.NewFile) (store.AddFileResult, error)
	StageFile(ctx context.Context, nf store.NewFile) (store.StagedFile, bool, error)
	FilenameUsed(ctx context.Context, filename string) (liveSHA256 string, used bool, err error)
	FileWithContent(ctx context.Context, sha256, blake2 string) (string, error)
	BlobReferenced(ctx context.Context, sha256 string) (bool, error)
}

// Blobs is where files go: staged while they stream in, inspected, then committed under their hash.
type Blobs interface {
	NewWriter(ctx context.Context) (blob.Writer, error)
	Stat(ctx context.Context, key string) (blob.Info, error)
	Delete(ctx context.Context, key string) error
}

// Authenticator turns the request's credentials into an actor, or refuses with a client error.
type Authenticator interface {
	Authenticate(r *http.Request) (policy.Actor, error)
}

// Policy is the single entry point that decides writes.
type Policy interface {
	Decide(ctx context.Context, actor policy.Actor, action policy.Action, target policy.Target) error
	// Warning is what to tell the uploader about a rule that will refuse this upload later (the 2FA mandate).
	Warning(ctx context.Context, actor policy.Actor, action policy.Action, target policy.Target) (string, error)
	// Stages says whether the upload waits for a person's approval (a staged release) instead of publishing.
	Stages(ctx context.Context, actor policy.Actor, project *store.Project) (bool, error)
}

// Announcer tells a project's Owners of a publish (or of an upload that waits for their approval), in text;
// it must not hold the upload up.
type Announcer interface {
	Announce(ctx context.Context, project store.Project, text string)
}

// Index is told when a project's pages changed.
type Index interface {
	Invalidate(normalized string)
}

// Options are the limits of the upload path.
type Options struct {
	MaxFileSize    int64
	MaxProjectSize int64
	Archive        pypkg.Limits
	ReadOnly       bool
	// Limiter bounds how fast one user or one address creates projects (U12); nil leaves creation unbounded.
	Limiter ratelimit.Limiter
	// Rules holds the creation limits; the zero value means ratelimit.DefaultRules.
	Rules ratelimit.Rules
	// BaseURL is the index's public URL, for the page where a staged release is approved.
	BaseURL string
	// Announcer mails the Owners of every publish; nil mails nobody.
	Announcer Announcer
}

// Handler serves POST /legacy/.
type Handler struct {
	db     Store
	blobs  Blobs
	auth   Authenticator
	policy Policy
	index  Index
	audit  *audit.Log
	opts   Options
	now    func() time.Time
	log    *slog.Logger
}

// New builds the upload handler.
func New(db Store, blobs Blobs, auth Authenticator, pol Policy, index Index,
	log *audit.Log, opts Options, now func() time.Time, logger *slog.Logger) *Handler {
	if opts.Rules == (ratelimit.Rules{}) {
		opts.Rules = ratelimit.DefaultRules()
	}
	return &Handler{db: db, blobs: blobs, auth: auth, policy: pol, index: index, audit: log, opts: opts, now: now, log: logger}
}

// fileNameReuse is PyPI's pointer to the help on why a filename is bound to its bytes for good, on this index.
func (h *Handler) fileNameReuse() string {
	return "See " + policy.HelpURL(h.opts.BaseURL, policy.HelpFileNameReuse) + " for more information."
}

// ServeUpload handles one upload. Errors are *httperror.Error with PyPI's wording.
func (h *Handler) ServeUpload(w http.ResponseWriter, r *http.Request) error {
	actor, err := h.auth.Authenticate(r)
	if err != nil {
		return err
	}
	// The policy refuses every write in read-only mode; answering here as well spares reading a large body first.
	if h.opts.ReadOnly {
		return httperror.New(http.StatusServiceUnavailable, "Read-only mode: Uploads are temporarily disabled.")
	}
	maxBody := h.opts.MaxFileSize + maxFormBytes + 1<<20
	if r.ContentLength > maxBody {
		return tooLarge(h.opts.MaxFileSize)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)

	ctx := r.Context()
	f, err := readForm(r, func() (blob.Writer, error) { return h.blobs.NewWriter(ctx) }, h.opts.MaxFileSize)
	if err != nil {
		return err
	}
	// committed turns true once the database holds the upload; until then every object this request created is
	// removed again, so a refused or lost upload leaves nothing behind.
	committed := false
	defer func() {
		if f.file != nil {
			f.file.Abort()
		}
	}()

	req, err := h.validate(f)
	if err != nil {
		return err
	}
	ip := clientIP(r)
	project, err := h.authorize(ctx, actor, req, ip)
	if err != nil {
		return err
	}
	// Most reuses of a filename are retries: answer them before the archive is inspected or anything is stored.
	liveSHA, used, err := h.db.FilenameUsed(ctx, req.filename)
	if err != nil {
		return httperror.Wrap(err, http.StatusServiceUnavailable, "The index is temporarily unavailable. Try again later.")
	}
	if used && liveSHA == f.file.SHA256() {
		return duplicate(w)
	}
	blake2 := hex.EncodeToString(f.blake2.Sum(nil))
	if used {
		return h.addFileError(store.ErrFileExists, liveSHA == "", req.filename, blake2, req.name)
	}
	// The same bytes under a second filename (another tag, another project) are refused as PyPI refuses them; the
	// store decides it again in the commit, where concurrent uploads meet.
	if other, err := h.db.FileWithContent(ctx, f.file.SHA256(), blake2); err != nil {
		return httperror.Wrap(err, http.StatusServiceUnavailable, "The index is temporarily unavailable. Try again later.")
	} else if other != "" && other != req.filename {
		// (The same name is a staged file's: its retry is answered when it is staged again.)
		return h.contentExists(req.filename, blake2, other)
	}
	meta, metaBytes, err := h.inspect(f, req)
	if err != nil {
		return err
	}

	// Durable blobs first, then the database commit that makes them reachable: a crash in between leaves an
	// unreferenced object that fsck reports, never a row without its file.
	var created []string
	defer func() {
		if !committed {
			h.forget(created)
		}
	}()
	info, fresh, err := h.commitBlob(ctx, f.file)
	if err != nil {
		return httperror.Wrap(err, http.StatusServiceUnavailable, "The file could not be stored. Try again later.")
	}
	if fresh {
		created = append(created, info.Key)
	}
	var metadataSHA string
	if req.dist.Kind == pypkg.Wheel {
		st, err := h.blobs.NewWriter(ctx)
		if err != nil {
			return httperror.Wrap(err, http.StatusServiceUnavailable, "The file could not be stored. Try again later.")
		}
		st.Write(metaBytes)
		minfo, fresh, err := h.commitBlob(ctx, st)
		if err != nil {
			return httperror.Wrap(err, http.StatusServiceUnavailable, "The file could not be stored. Try again later.")
		}
		if fresh {
			created = append(created, minfo.Key)
		}
		metadataSHA = minfo.Key
	}

	owner, pending := policy.Creator(actor, req.normalized)
	nf := store.NewFile{
		ProjectName: req.name, NormalizedName: req.normalized, UltraName: pypkg.UltraNormalizeName(req.name),
		CreateProject: project == nil, UploaderID: actor.User.ID, OwnerID: owner, PendingPublisherID: pending,
		Version: req.version.String(), CanonicalVersion: req.version.ReleaseKey(), RequiresPython: meta.RequiresPython,
		ReleaseMetadata: releaseMetadata(meta),
		Filename:        req.filename, PackageType: req.dist.PackageType(), PythonVersion: req.dist.PythonVersion(),
		Size: info.Size, SHA256: info.Key, MD5: hex.EncodeToString(f.md5.Sum(nil)),
		Blake2b256: blake2, MetadataSHA256: metadataSHA,
		MaxProjectSize: h.opts.MaxProjectSize, Now: h.now().UTC(),
	}
	if actor.Publisher != nil {
		// The file, and a staged file, name the CI job that sent it (the release and releases pages show it).
		nf.PublisherTokenID = actor.Publisher.TokenID
	}
	if staged, err := h.policy.Stages(ctx, actor, project); err != nil {
		return httperror.Wrap(err, http.StatusServiceUnavailable, "The index is temporarily unavailable. Try again later.")
	} else if staged {
		err := h.stage(ctx, w, r, actor, nf, project)
		committed = err == nil
		return err
	}
	res, err := h.db.AddFile(ctx, nf)
	if errors.Is(err, store.ErrProjectExists) {
		// Someone registered the name while this upload was in flight: decide again, now as an upload to it.
		if project, err = h.authorize(ctx, actor, req, ip); err != nil {
			return err
		}
		nf.CreateProject = project == nil
		res, err = h.db.AddFile(ctx, nf)
	}
	if errors.Is(err, store.ErrContentExists) {
		other, _ := h.db.FileWithContent(ctx, nf.SHA256, nf.Blake2b256)
		return h.contentExists(nf.Filename, nf.Blake2b256, other)
	}
	if err != nil {
		return h.addFileError(err, errors.Is(err, store.ErrFilenameReused), nf.Filename, nf.Blake2b256, nf.ProjectName)
	}
	committed = true
	if res.Duplicate {
		return duplicate(w)
	}
	h.index.Invalidate(req.normalized)
	from := audit.Request{IP: ip, UserAgent: r.UserAgent()}
	if res.ProjectCreated {
		h.creationLimit(ctx, actor, req.normalized, ip, true)
		h.audit.Record(ctx, audit.ProjectCreated, cmp.Or(actor.User.ID, owner), res.Project.ID, from, req.name)
	}
	h.audit.Record(ctx, audit.FileUploaded, actor.User.ID, res.Project.ID, from, req.filename+credential(actor))
	h.announce(ctx, actor, res.Project, nf, from.IP, "")
	action, target := policy.Upload, policy.Target{Project: &res.Project, Name: req.normalized}
	if res.ProjectCreated {
		action = policy.CreateProject
	}
	// The upload is done: a failure to work out the warning must not turn it into an error.
	warning, err := h.policy.Warning(ctx, actor, action, target)
	if err != nil {
		h.log.Warn("upload warning", "err", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "OK\n")
	if warning != "" {
		io.WriteString(w, warning+"\n")
	}
	return nil
}

// credential says, for the history record of an upload, which credential made it. The project's page finds the
// API token of each file by the record's beginning, "<filename> with token <id>" (store.ReleaseUploads); the
// token's name is kept beside it so the history says it even after the token is gone.
func credential(actor policy.Actor) string {
	switch {
	case actor.Token != nil:
		return fmt.Sprintf(" with token %s named %q", actor.Token.ID, actor.Token.Name)
	case actor.Publisher != nil:
		return fmt.Sprintf(" with Trusted Publishing token %s from %s", actor.Publisher.TokenID, actor.Publisher.Identity)
	}
	return ""
}

// EventStaged is the audit event of an upload that waits for approval.
const EventStaged = "release:staged"

// stage keeps an upload to a project whose Owners want uploads approved: stored and checked, on no index page
// until a collaborator with a second factor approves its release on the web.
func (h *Handler) stage(ctx context.Context, w http.ResponseWriter, r *http.Request, actor policy.Actor, nf store.NewFile, project *store.Project) error {
	_, dup, err := h.db.StageFile(ctx, nf)
	switch {
	case errors.Is(err, store.ErrContentExists):
		other, _ := h.db.FileWithContent(ctx, nf.SHA256, nf.Blake2b256)
		return h.contentExists(nf.Filename, nf.Blake2b256, cmp.Or(other, "a staged file"))
	case err != nil:
		return h.addFileError(err, errors.Is(err, store.ErrFilenameReused), nf.Filename, nf.Blake2b256, nf.ProjectName)
	case dup:
		return duplicate(w)
	}
	h.audit.Record(ctx, EventStaged, actor.User.ID, project.ID, audit.Request{IP: clientIP(r), UserAgent: r.UserAgent()},
		nf.Filename+credential(actor)+", staged for approval")
	h.announce(ctx, actor, *project, nf, clientIP(r), fmt.Sprintf(
		" It is not published: it waits for a maintainer with two-factor authentication to approve release %s, or discard it, at %s/manage/project/%s/releases/.",
		nf.Version, h.opts.BaseURL, project.NormalizedName))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "OK\nStaged: %s is stored but not published. Release %s of project '%s' waits for a maintainer with two-factor authentication to approve it at %s/manage/project/%s/releases/.\n",
		nf.Filename, nf.Version, project.Name, h.opts.BaseURL, project.NormalizedName)
	return nil
}

// announce tells the project's Owners who published which file, from where and with what credential, so that a
// publish from a taken-over account or a leaked token cannot go unseen.
func (h *Handler) announce(ctx context.Context, actor policy.Actor, p store.Project, nf store.NewFile, ip, then string) {
	if h.opts.Announcer == nil {
		return
	}
	var who, with string
	switch {
	case actor.Publisher != nil:
		who, with = "A Trusted Publisher", " with Trusted Publishing from "+actor.Publisher.Identity
	case actor.Token != nil:
		who, with = actor.User.Username, " with the API token "+actor.Token.ID
	default:
		who = actor.User.Username
	}
	text := fmt.Sprintf("%s uploaded %s (release %s) from the address %s%s.%s", who, nf.Filename, nf.Version, ip, with, then)
	if then == "" {
		text += fmt.Sprintf(" If you did not expect it, yank the release and look at the project's history at %s/manage/project/%s/history/.",
			h.opts.BaseURL, p.NormalizedName)
	}
	h.opts.Announcer.Announce(ctx, p, text)
}

func duplicate(w http.ResponseWriter) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "OK: this file was already uploaded with the same content\n")
	return nil
}

// commitBlob makes a staged object durable and reports whether this call created it (content addressing means
// another file may already have the same bytes).
func (h *Handler) commitBlob(ctx context.Context, st blob.Writer) (blob.Info, bool, error) {
	_, err := h.blobs.Stat(ctx, st.SHA256())
	existed := err == nil
	info, err := st.Commit(ctx)
	if err != nil {
		st.Abort()
		return blob.Info{}, false, err
	}
	return info, !existed, nil
}

// forget removes objects this request created when its upload was not recorded (it lost a race on the filename,
// or the database refused it), unless a file row references the same bytes by now.
func (h *Handler) forget(keys []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, k := range keys {
		if ref, err := h.db.BlobReferenced(ctx, k); err != nil || ref {
			continue
		}
		if err := h.blobs.Delete(ctx, k); err != nil {
			h.log.Warn("unreferenced object left for fsck", "key", k, "err", err)
		}
	}
}

// request is an upload's form after validation.
type request struct {
	name       string
	normalized string
	version    pypkg.Version
	filename   string
	dist       pypkg.Filename
}

var metadataVersions = map[string]bool{"1.0": true, "1.1": true, "1.2": true, "2.0": true, "2.1": true, "2.2": true, "2.3": true, "2.4": true}

// validate applies the checks that need only the form and the file's hashes, in PyPI's order and words.
func (h *Handler) validate(f *form) (request, error) {
	bad := func(format string, args ...any) (request, error) {
		return request{}, httperror.New(http.StatusBadRequest, format, args...)
	}
	switch action := f.get(":action"); action {
	case "file_upload":
	case "submit", "submit_pkg_info":
		return request{}, httperror.New(http.StatusGone, "Project pre-registration is no longer required or supported, upload your files instead.")
	case "":
		return bad("Invalid request: the :action field is missing.")
	default:
		return bad("Unknown action %q.", action)
	}
	if v := f.get("protocol_version"); v != "" && v != "1" {
		return bad("Unknown protocol version.")
	}
	if mv := f.get("metadata_version"); !metadataVersions[mv] {
		return bad("'%s' is an invalid value for Metadata-Version. Error: Use a known metadata version. See https://packaging.python.org/specifications/core-metadata for more information.", mv)
	}
	var req request
	req.name = f.get("name")
	if !pypkg.ValidProjectName(req.name) {
		return bad("'%s' is an invalid value for Name. Error: Start and end with a letter or numeral containing only ASCII numeric and '.', '_' and '-'. See https://packaging.python.org/specifications/core-metadata for more information.", req.name)
	}
	req.normalized = pypkg.NormalizeName(req.name)
	v, err := pypkg.ParseVersion(f.get("version"))
	if err != nil {
		return bad("'%s' is an invalid value for Version. Error: Start and end with a letter or numeral containing only ASCII numeric and '.', '_' and '-'. See https://packaging.python.org/specifications/core-metadata for more information.", f.get("version"))
	}
	req.version = v
	filetype := f.get("filetype")
	if filetype != "sdist" && filetype != "bdist_wheel" {
		return bad("Invalid value for filetype. Error: Use a known file type.")
	}
	if f.file == nil || f.file.Size() == 0 {
		return bad("Upload payload does not have a file.")
	}
	req.filename = f.filename
	dist, err := pypkg.ParseFilename(f.filename)
	if err != nil {
		return bad("%s", err.Error())
	}
	req.dist = dist
	if dist.PackageType() != filetype {
		return bad("Invalid file extension: the filetype '%s' does not match the file '%s'.", filetype, f.filename)
	}
	if pypkg.NormalizeName(dist.Name) != req.normalized {
		return bad("Start filename for '%s' with '%s'.", req.name, strings.ReplaceAll(req.normalized, "-", "_"))
	}
	if !dist.Matches(req.name, v.String()) {
		return bad("Version in filename should be '%s' not '%s'.", v.String(), dist.Version)
	}

	digests := map[string]string{
		"sha256_digest":     f.file.SHA256(),
		"md5_digest":        hex.EncodeToString(f.md5.Sum(nil)),
		"blake2_256_digest": hex.EncodeToString(f.blake2.Sum(nil)),
	}
	supplied := 0
	for field, actual := range digests {
		if given := strings.ToLower(f.get(field)); given != "" {
			supplied++
			if given != actual {
				return bad("The digest supplied does not match a digest calculated from the uploaded file.")
			}
		}
	}
	if supplied == 0 {
		return bad("Include at least one message digest.")
	}
	return req, nil
}

// authorize finds the project and asks the policy engine; for a new name it also applies the naming rules.
func (h *Handler) authorize(ctx context.Context, actor policy.Actor, req request, ip string) (*store.Project, error) {
	p, err := h.db.ProjectByName(ctx, req.normalized)
	switch {
	case err == nil:
		if err := h.policy.Decide(ctx, actor, policy.Upload, policy.Target{Project: &p, Name: req.normalized}); err != nil {
			return nil, denial(err)
		}
		return &p, nil
	case !errors.Is(err, store.ErrNotFound):
		return nil, httperror.Wrap(err, http.StatusServiceUnavailable, "The index is temporarily unavailable. Try again later.")
	}
	if err := h.policy.Decide(ctx, actor, policy.CreateProject, policy.Target{Name: req.normalized}); err != nil {
		return nil, denial(err)
	}
	if err := h.checkNewName(ctx, req.name, req.normalized); err != nil {
		return nil, err
	}
	if err := h.creationLimit(ctx, actor, req.normalized, ip, false); err != nil {
		return nil, err
	}
	return nil, nil
}

// creationLimit checks (count false) or counts (count true) the creation of a project against the per-user and
// per-address limits. Only projects that were really created are counted, so refused uploads cost nothing.
func (h *Handler) creationLimit(ctx context.Context, actor policy.Actor, name, ip string, count bool) error {
	if h.opts.Limiter == nil || !policy.LimitsProjectCreation(actor) {
		return nil
	}
	owner, _ := policy.Creator(actor, name)
	for _, l := range []struct {
		key  string
		rule ratelimit.Rule
	}{
		{"user:" + strconv.FormatInt(owner, 10), h.opts.Rules.ProjectCreateUser},
		{"ip:" + ip, h.opts.Rules.ProjectCreateIP},
	} {
		var d ratelimit.Decision
		var err error
		if count {
			d, err = h.opts.Limiter.Hit(ctx, l.key, l.rule)
		} else {
			d, err = h.opts.Limiter.Check(ctx, l.key, l.rule)
		}
		if err != nil {
			return httperror.Wrap(err, http.StatusServiceUnavailable, "The index is temporarily unavailable. Try again later.")
		}
		if !count && !d.Allowed {
			e := httperror.New(http.StatusTooManyRequests,
				"Too many new projects: you have reached the limit on creating projects. Try again in %d minutes.",
				(ratelimit.RetryAfterSeconds(d.RetryAfter)+59)/60)
			e.Header = http.Header{"Retry-After": {strconv.Itoa(ratelimit.RetryAfterSeconds(d.RetryAfter))}}
			return e
		}
	}
	return nil
}

// denial passes the policy's refusals on (the server shows their reason with a 403) and words its failures.
func denial(err error) error {
	if errors.Is(err, policy.ErrDenied) {
		return err
	}
	return httperror.Wrap(err, http.StatusServiceUnavailable, "The index is temporarily unavailable. Try again later.")
}

// checkNewName refuses names a new project may not take: the standard library's, reserved ones, and look-alikes of
// existing projects, and names of files (U11, U12).
func (h *Handler) checkNewName(ctx context.Context, name, normalized string) error {
	var refused *projects.NameError
	switch err := projects.CheckNewName(ctx, h.db, name, normalized); {
	case errors.As(err, &refused):
		return httperror.New(http.StatusBadRequest, "%s", refused.Reason)
	case err != nil:
		return httperror.Wrap(err, http.StatusServiceUnavailable, "The index is temporarily unavailable. Try again later.")
	}
	return nil
}

// inspect opens the archive with caps, and checks that its metadata agrees with the form (U3, U6, U7, U9).
func (h *Handler) inspect(f *form, req request) (*pypkg.Metadata, []byte, error) {
	var raw []byte
	var err error
	if req.dist.Kind == pypkg.Wheel {
		raw, err = pypkg.ReadWheelMetadata(f.file, f.file.Size(), req.dist, h.opts.Archive)
	} else {
		raw, err = pypkg.ReadSdistMetadata(f.file, f.file.Size(), req.dist, h.opts.Archive)
	}
	if err != nil {
		// pypkg's messages say which member or limit refused the archive, for the uploader to act on.
		return nil, nil, httperror.Wrap(err, http.StatusBadRequest, "%s", err.Error())
	}
	meta, err := pypkg.ParseMetadata(raw)
	if err != nil {
		return nil, nil, httperror.New(http.StatusBadRequest, "The core metadata in the archive is not valid: %s", err.Error())
	}
	if pypkg.NormalizeName(meta.Name) != req.normalized {
		return nil, nil, httperror.New(http.StatusBadRequest, "The name in the file's metadata ('%s') does not match the name of the upload ('%s').", meta.Name, req.name)
	}
	mv, err := pypkg.ParseVersion(meta.Version)
	if err != nil || mv.Compare(req.version) != 0 {
		return nil, nil, httperror.New(http.StatusBadRequest, "The version in the file's metadata ('%s') does not match the version of the upload ('%s').", meta.Version, req.version.String())
	}
	return meta, raw, nil
}

// addFileError words the store's refusals as PyPI does. deleted says the filename belonged to a deleted file.
func (h *Handler) addFileError(err error, deleted bool, filename, blake2, project string) error {
	switch {
	case deleted:
		return httperror.New(http.StatusBadRequest, "This filename has already been used, use a different version. %s", h.fileNameReuse())
	case errors.Is(err, store.ErrFileExists):
		return httperror.New(http.StatusBadRequest, "File already exists ('%s', with blake2_256 hash '%s'). %s", filename, blake2, h.fileNameReuse())
	case errors.Is(err, store.ErrProjectTooLarge):
		return httperror.New(http.StatusBadRequest, "Project size too large. Limit for project '%s' total size is %s.", project, humanSize(h.opts.MaxProjectSize))
	case errors.Is(err, store.ErrNotFound):
		return httperror.Wrap(err, http.StatusConflict, "The project '%s' was removed while this upload was in progress. Try again.", project)
	default:
		return httperror.Wrap(err, http.StatusServiceUnavailable, "The upload could not be saved. Try again later.")
	}
}

// contentExists is PyPI's answer to bytes that the index already holds under another filename, with that name.
func (h *Handler) contentExists(filename, blake2, other string) error {
	also := ""
	if other != "" {
		also = fmt.Sprintf(": the same content was already uploaded as '%s'", other)
	}
	return httperror.New(http.StatusBadRequest, "File already exists ('%s', with blake2_256 hash '%s')%s. %s",
		filename, blake2, also, h.fileNameReuse())
}

// releaseMetadata is the JSON kept with a release, in the key names of PyPI's JSON API.
func releaseMetadata(m *pypkg.Metadata) []byte {
	urls := map[string]string{}
	for _, u := range m.ProjectURLs {
		label, link, ok := strings.Cut(u, ",")
		if ok {
			urls[strings.TrimSpace(label)] = strings.TrimSpace(link)
		}
	}
	doc := map[string]any{
		"metadata_version": m.MetadataVersion, "name": m.Name, "version": m.Version, "summary": m.Summary,
		"description": m.Description, "description_content_type": m.DescriptionContentType,
		"keywords": m.Keywords, "home_page": m.HomePage, "download_url": m.DownloadURL,
		"author": m.Author, "author_email": m.AuthorEmail, "maintainer": m.Maintainer,
		"maintainer_email": m.MaintainerEmail, "license": m.License, "license_expression": m.LicenseExpression,
		"license_files": m.LicenseFiles, "classifiers": m.Classifiers, "platform": m.Platforms,
		"requires_dist": m.RequiresDist, "requires_python": m.RequiresPython, "requires_external": m.RequiresExternal,
		"project_urls": urls, "provides_extra": m.ProvidesExtra, "provides_dist": m.ProvidesDist,
		"obsoletes_dist": m.ObsoletesDist, "dynamic": m.Dynamic,
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		panic(fmt.Sprintf("encode release metadata: %v", err)) // only strings, slices and maps of strings
	}
	return bytes.TrimSpace(buf.Bytes())
}

// clientIP is the peer address; a proxy-aware version belongs to the server's middleware once proxies are configured.
func clientIP(r *http.Request) string {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i > 0 {
		host = host[:i]
	}
	return strings.Trim(host, "[]")
}
