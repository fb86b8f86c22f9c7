package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"wharf/internal/httperror"
	"wharf/internal/policy"
	"wharf/internal/publishing"
	"wharf/internal/store"
)

// The Trusted Publishing pages: a project's publishers and its "Trusted Publishing only" switch, and an account's
// pending publishers. Every change goes through publishing.Service, which asks the policy engine; this file turns
// forms into its calls and its refusals into errors with their status (publishingErr), which the route table
// shows inside the refused form with what was typed kept (server.pageForms, Site.Refused, and filled below).
//
// The pages decide which forms to show from the visitor's role, as the releases page does, and not by asking the
// policy about the changes themselves: the engine records refused changes in the security history, and looking at
// a page is not an attempt. Each change is decided when it is posted.

const pendingPath = "/manage/account/publishing/"

// publisherRow is a publisher as the pages list it.
type publisherRow struct {
	ID          int64
	Kind        string // GitHub, GitLab, Google, or the registered issuer's name
	Description string
	Project     string // the project, or the name a pending publisher creates
	AddedBy     string // "" when the account is gone
	AddedAt     time.Time
	ExpiresAt   time.Time
	Expired     bool
}

// formField is one input of a publisher form, with what was typed into it.
type formField struct {
	publishing.Field
	ID    string
	Value string
}

// publisherForm is the form that adds a publisher of one kind, or of one registered issuer.
type publisherForm struct {
	ID     string // the form's HTML id, and its name (the hidden "form" field) that a refusal shows under
	Title  string
	URL    string // a registered issuer's URL
	Kind   string
	Issuer string // a registered issuer's name
	Fields []formField
	// Project is the name typed into a pending publisher's form; Ticked the projects ticked in the organization's
	// form for several projects.
	Project string
	Ticked  []string
}

// Chose says whether project was ticked in the form.
func (f publisherForm) Chose(project string) bool { return slices.Contains(f.Ticked, project) }

// filled is the publisher forms' kept (render.go): the form f as the page shows it, filled with what was typed
// and ticked when it is the form whose refusal the page shows; as it is otherwise.
func filled(v view, f publisherForm) publisherForm {
	if v.FailedForm == "" || v.FailedForm != f.ID {
		return f
	}
	f.Fields = slices.Clone(f.Fields)
	for i := range f.Fields {
		f.Fields[i].Value = v.Form.Get(f.Fields[i].Name)
	}
	f.Project = strings.TrimSpace(v.Form.Get("project_name"))
	f.Ticked = v.Form["project"]
	return f
}

// spec is what the form describes, for the service.
func (f *publisherForm) spec() publishing.Spec {
	fields := make(map[string]string, len(f.Fields))
	for _, in := range f.Fields {
		fields[in.Name] = in.Value
	}
	return publishing.Spec{Kind: f.Kind, Issuer: f.Issuer, Fields: fields}
}

// addForms are the parts both pages share: the forms to add a publisher, and how a CI job then publishes.
type addForms struct {
	Forms     []publisherForm
	AddAction string
	Pending   bool
	Audience  string
}

type publishingPage struct {
	addForms
	Project    store.Project
	Publishers []publisherRow
	// Confirm is the publisher whose removal the visitor is asked to confirm; nil asks nothing.
	Confirm *publisherRow
	// On is the Owners' switch; InForce says whether uploads come only from publishers, by the switch or because
	// the index requires it of critical projects.
	On, InForce bool
	CanManage   bool
	Denied      string
	// Staging is which uploads wait for approval, in words, and StagingModes the Owners' form (staged.go);
	// PublishMail whether the visitor is mailed of every publish, which a Critical project keeps on. Settings
	// says whether the page has them (a site with projects.Manager), Collaborator whether the visitor may switch
	// the mail.
	Settings, Collaborator, Critical, PublishMail bool
	Staging                                       string
	StagingModes                                  []stagingMode
}

type pendingPage struct {
	addForms
	Publishers []publisherRow
	Confirm    *publisherRow
}

// publisherForms are the empty forms: one per built-in kind and one per registered issuer.
func publisherForms(issuers []store.Issuer) []publisherForm {
	forms := []publisherForm{
		{ID: "add-github", Title: "GitHub Actions", Kind: publishing.GitHub},
		{ID: "add-gitlab", Title: "GitLab CI/CD", Kind: publishing.GitLab},
		{ID: "add-google", Title: "Google Cloud", Kind: publishing.Google},
	}
	for i := range forms {
		forms[i].Fields = formFields(forms[i].ID, publishing.Fields(forms[i].Kind))
	}
	for _, is := range issuers {
		id := fmt.Sprintf("add-oidc-%d", is.ID)
		forms = append(forms, publisherForm{ID: id, Title: is.Name, URL: is.URL, Kind: publishing.Custom, Issuer: is.Name,
			Fields: formFields(id, publishing.IssuerFields(is))})
	}
	return forms
}

func formFields(formID string, fs []publishing.Field) []formField {
	out := make([]formField, len(fs))
	for i, f := range fs {
		out[i] = formField{Field: f, ID: fmt.Sprintf("%s-%d", formID, i)}
	}
	return out
}

// posted finds the form a request was posted from and fills it with what was typed, or returns nil for a kind
// this index does not have.
func posted(forms []publisherForm, r *http.Request) *publisherForm {
	kind, issuer := r.PostForm.Get("kind"), r.PostForm.Get("issuer")
	for i := range forms {
		f := &forms[i]
		if f.Kind != kind || kind == publishing.Custom && f.Issuer != issuer {
			continue
		}
		for j := range f.Fields {
			f.Fields[j].Value = r.PostForm.Get(f.Fields[j].Name)
		}
		f.Project = strings.TrimSpace(r.PostForm.Get("project_name"))
		return f
	}
	return nil
}

var errUnknownKind = httperror.New(http.StatusBadRequest, "There is no such kind of publisher here: choose one of the forms on the page.")

// rows describes publishers for a page, naming who added them.
func (s *Site) rows(ctx context.Context, ps []store.Publisher, issuers []store.Issuer) []publisherRow {
	names := map[int64]string{}
	out := make([]publisherRow, 0, len(ps))
	for _, p := range ps {
		if _, ok := names[p.CreatedBy]; !ok && p.CreatedBy != 0 {
			if a, err := s.db.AccountByID(ctx, p.CreatedBy); err == nil {
				names[p.CreatedBy] = a.Username
			}
		}
		out = append(out, publisherRow{ID: p.ID, Kind: kindLabel(p, issuers), Description: publishing.Describe(p),
			Project: p.ProjectName, AddedBy: names[p.CreatedBy], AddedAt: p.CreatedAt, ExpiresAt: p.ExpiresAt,
			Expired: !p.ExpiresAt.IsZero() && !s.now().Before(p.ExpiresAt)})
	}
	return out
}

func kindLabel(p store.Publisher, issuers []store.Issuer) string {
	switch p.Kind {
	case publishing.GitHub:
		return "GitHub"
	case publishing.GitLab:
		return "GitLab"
	case publishing.Google:
		return "Google"
	}
	for _, is := range issuers {
		if is.ID == p.IssuerID {
			return is.Name
		}
	}
	return p.Kind
}

// confirming is the row whose removal the query asks to confirm (?remove=ID), or nil.
func confirming(r *http.Request, rows []publisherRow) *publisherRow {
	id, err := strconv.ParseInt(r.URL.Query().Get("remove"), 10, 64)
	if err != nil {
		return nil
	}
	for i := range rows {
		if rows[i].ID == id {
			return &rows[i]
		}
	}
	return nil
}

// errNoPublisher answers a removal of a publisher that is not there: its row, and the form, are gone from the page.
var errNoPublisher = httperror.New(http.StatusNotFound, "There is no such publisher: it was removed already. Reload the page to see the publishers there are.")

// publishingErr turns a refusal of publishing.Service into the error the route table answers with: what was typed
// wrong a 400 with the service's reason, the policy's denial as it is (a 403), both shown inside the refused form;
// a publisher that is not there the 404 page. A missing re-authentication is answered with a redirect to confirm
// the password and come back to back; publishingErr then returns nil. Other errors go to the server's mapping.
func publishingErr(w http.ResponseWriter, r *http.Request, err error, back string) error {
	var bad *publishing.FieldError
	switch {
	case errors.Is(err, policy.ErrReauthRequired):
		redirect(w, r, reauthURL(back))
		return nil
	case errors.As(err, &bad):
		return httperror.Wrap(err, http.StatusBadRequest, "%s", bad.Reason)
	case errors.Is(err, store.ErrNotFound):
		return errNoPublisher
	}
	return err
}

func publisherID(r *http.Request) int64 {
	id, err := strconv.ParseInt(r.PostForm.Get("publisher_id"), 10, 64)
	if err != nil || id <= 0 {
		return 0 // no publisher has it: the service answers store.ErrNotFound
	}
	return id
}

// ---- a project's publishers

// Publishing lists a project's Trusted Publishers for its collaborators; its Owners also get the forms to add and
// remove them and the "Trusted Publishing only" switch.
func (s *Site) Publishing(w http.ResponseWriter, r *http.Request) error {
	if s.publish == nil {
		return errNotFound
	}
	v, err := s.page(w, r, "")
	if v == nil {
		return err
	}
	pi, err := s.projectOf(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	project := pi.Project
	// Only the project's collaborators see the page (the policy's ViewReleases).
	if err := s.policy.Decide(ctx, s.actor(v), policy.ViewReleases, policy.Target{Project: &project, Name: project.NormalizedName}); err != nil {
		return err
	}
	prot, err := s.db.ProjectProtection(ctx, project.ID)
	if err != nil {
		return err
	}
	issuers, err := s.db.Issuers(ctx)
	if err != nil {
		return err
	}
	ps, err := s.publish.Publishers(ctx, project.ID)
	if err != nil {
		return err
	}
	p := publishingPage{
		addForms: addForms{Forms: publisherForms(issuers), AddAction: managePath(project.Name, "publishing") + "add/", Audience: s.publish.Audience()},
		Project:  project, Publishers: s.rows(ctx, ps, issuers),
		On: prot.TrustedPublishingOnly, InForce: s.policy.TrustedPublishingOnly(prot),
	}
	if p.CanManage, p.Denied, err = s.offer(ctx, s.actor(v), policy.ManagePublishers, project, policy.Target{}); err != nil {
		return err
	}
	if s.projects != nil {
		p.Settings, p.Critical = true, prot.Critical()
		// The switch is offered to whoever may turn the mail on; turning it off is decided when posted.
		if p.Collaborator, _, err = s.offer(ctx, s.actor(v), policy.SetPublishMail, project, policy.Target{PublishMail: true}); err != nil {
			return err
		}
		p.Staging, p.StagingModes = stagingMeaning(prot.Staging), stagingModes(prot.Staging)
		if p.PublishMail, err = s.projects.PublishMail(ctx, v.account.ID, project); err != nil {
			return err
		}
	}
	if p.CanManage {
		p.Confirm = confirming(r, p.Publishers)
	}
	return s.render(w, r, http.StatusOK, "publishing", "Trusted Publishing of "+project.Name, p, "")
}

// projectChange runs one change of the project's publishing page. do gets the page's publisher forms and returns
// the notice to show after it; a refusal is returned for the route table to show inside the refused form, with
// what was typed kept from the view (filled).
func (s *Site) projectChange(w http.ResponseWriter, r *http.Request,
	do func(ctx context.Context, a policy.Actor, project store.Project, forms []publisherForm) (string, error)) error {
	if s.publish == nil {
		return errNotFound
	}
	name := r.PathValue("name")
	back := managePath(name, "publishing")
	v, err := s.post(w, r, guard{back: back})
	if v == nil {
		return err
	}
	ctx := r.Context()
	pi, err := s.projectOf(ctx, name)
	if err != nil {
		return err
	}
	issuers, err := s.db.Issuers(ctx)
	if err != nil {
		return err
	}
	notice, err := do(ctx, s.actor(v), pi.Project, publisherForms(issuers))
	if err != nil {
		return publishingErr(w, r, err, back)
	}
	redirect(w, r, back+"?notice="+notice)
	return nil
}

// AddPublisher registers a publisher of the project.
func (s *Site) AddPublisher(w http.ResponseWriter, r *http.Request) error {
	return s.projectChange(w, r, func(ctx context.Context, a policy.Actor, project store.Project, forms []publisherForm) (string, error) {
		f := posted(forms, r)
		if f == nil {
			return "", errUnknownKind
		}
		_, err := s.publish.Add(ctx, a, project, f.spec(), requestOf(r))
		return "publisher-added", err
	})
}

// RemovePublisher removes a publisher of the project; the tokens it minted stop working at once.
func (s *Site) RemovePublisher(w http.ResponseWriter, r *http.Request) error {
	return s.projectChange(w, r, func(ctx context.Context, a policy.Actor, project store.Project, _ []publisherForm) (string, error) {
		return "publisher-removed", s.publish.Remove(ctx, a, project, publisherID(r), requestOf(r))
	})
}

var errSwitchValue = httperror.New(http.StatusBadRequest, "The form could not be read: reload the page and try again.")

// TrustedPublishingOnly switches the project to accept uploads only from its publishers, or back.
func (s *Site) TrustedPublishingOnly(w http.ResponseWriter, r *http.Request) error {
	return s.projectChange(w, r, func(ctx context.Context, a policy.Actor, project store.Project, _ []publisherForm) (string, error) {
		on, err := strconv.ParseBool(r.PostForm.Get("on"))
		if err != nil {
			return "", errSwitchValue
		}
		notice := "trusted-only-off"
		if on {
			notice = "trusted-only-on"
		}
		return notice, s.publish.SetTrustedPublishingOnly(ctx, a, project, on, requestOf(r))
	})
}

// ---- an account's pending publishers

// PendingPublishers lists the visitor's pending publishers, each waiting to create a project with its first
// publish, with the forms to add one.
func (s *Site) PendingPublishers(w http.ResponseWriter, r *http.Request) error {
	if s.publish == nil {
		return errNotFound
	}
	v, err := s.page(w, r, "")
	if v == nil {
		return err
	}
	ctx := r.Context()
	issuers, err := s.db.Issuers(ctx)
	if err != nil {
		return err
	}
	ps, err := s.publish.Pending(ctx, v.account.ID)
	if err != nil {
		return err
	}
	p := pendingPage{
		addForms:   addForms{Forms: publisherForms(issuers), AddAction: pendingPath + "add/", Pending: true, Audience: s.publish.Audience()},
		Publishers: s.rows(ctx, ps, issuers),
	}
	p.Confirm = confirming(r, p.Publishers)
	return s.render(w, r, http.StatusOK, "publishing_pending", "Your pending publishers", p, "")
}

// pendingChange runs one change of the pending publishers page; a refusal is returned for the route table to
// show inside the refused form.
func (s *Site) pendingChange(w http.ResponseWriter, r *http.Request,
	do func(ctx context.Context, a policy.Actor, forms []publisherForm) (string, error)) error {
	if s.publish == nil {
		return errNotFound
	}
	v, err := s.post(w, r, guard{back: pendingPath})
	if v == nil {
		return err
	}
	ctx := r.Context()
	issuers, err := s.db.Issuers(ctx)
	if err != nil {
		return err
	}
	notice, err := do(ctx, s.actor(v), publisherForms(issuers))
	if err != nil {
		return publishingErr(w, r, err, pendingPath)
	}
	redirect(w, r, pendingPath+"?notice="+notice)
	return nil
}

// AddPendingPublisher registers a publisher for a project that does not exist yet.
func (s *Site) AddPendingPublisher(w http.ResponseWriter, r *http.Request) error {
	return s.pendingChange(w, r, func(ctx context.Context, a policy.Actor, forms []publisherForm) (string, error) {
		f := posted(forms, r)
		if f == nil {
			return "", errUnknownKind
		}
		_, err := s.publish.AddPending(ctx, a, f.Project, f.spec(), requestOf(r))
		return "pending-publisher-added", err
	})
}

// RemovePendingPublisher removes one of the visitor's pending publishers.
func (s *Site) RemovePendingPublisher(w http.ResponseWriter, r *http.Request) error {
	return s.pendingChange(w, r, func(ctx context.Context, a policy.Actor, _ []publisherForm) (string, error) {
		return "pending-publisher-removed", s.publish.RemovePending(ctx, a, publisherID(r), requestOf(r))
	})
}
