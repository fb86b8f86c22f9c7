package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"wharf/internal/httperror"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

const (
	adminPageSize  = 50
	reservedShown  = 200
	maxReasonChars = 200
)

type adminPage struct {
	Reserved []store.ReservedName
	ReadOnly bool
	// Offer counts the codes of the security-key offer (`wharf promo load`).
	Offer store.PromoCounts
	// Waiting are the organizations waiting for an administrator's approval, on a site with organizations
	// (OrgsOn).
	OrgsOn  bool
	Waiting []orgRequest
}

// orgRequest is an organization waiting for approval, with who asked for it ("" when the account is gone).
type orgRequest struct {
	Org store.Organization
	By  string
}

// Admin is the administrators' index: the index's mode, the organizations waiting for approval, the reserved
// names, the security-key offer, and the menu of the other administration pages.
func (s *Site) Admin(w http.ResponseWriter, r *http.Request) error {
	v, err := s.page(w, r, policy.ViewAdmin)
	if v == nil {
		return err
	}
	ctx := r.Context()
	p := adminPage{ReadOnly: s.readOnly}
	if p.Reserved, err = s.db.ReservedNames(ctx, reservedShown); err != nil {
		return err
	}
	if p.Offer, err = s.db.PromoCounts(ctx); err != nil {
		return err
	}
	if p.OrgsOn = s.orgs != nil; p.OrgsOn {
		if p.Waiting, err = s.waitingOrgs(ctx); err != nil {
			return err
		}
	}
	return s.render(w, r, http.StatusOK, "admin", "Administration", p, "")
}

// listState is where an administrators' list stands: its search and the page (a cursor of store.ListPage).
type listState struct {
	Query, After, Before string
}

// listStateOf reads a list's state from the address, or, when the page is shown again after one of its forms was
// refused, from that form, which carries the state so that the refused row is on the page again.
func listStateOf(r *http.Request) listState {
	q := r.URL.Query()
	if ref, ok := r.Context().Value(refusalKey{}).(refused); ok {
		q = ref.form
	}
	st := listState{Query: strings.TrimSpace(q.Get("q")), After: q.Get("after"), Before: q.Get("before")}
	if len(st.Query) > maxQuery {
		st.Query = st.Query[:maxQuery]
	}
	return st
}

func (st listState) query() store.ListQuery {
	return store.ListQuery{Prefix: st.Query, After: st.After, Before: st.Before, Limit: adminPageSize}
}

// url is the list's address at st, with notice for the page to show ("" for none).
func (st listState) url(path, notice string) string {
	q := url.Values{}
	for k, v := range map[string]string{"q": st.Query, "after": st.After, "before": st.Before, "notice": notice} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

// pager is the links to a list's neighbouring pages ("" for none).
type pager struct {
	Prev, Next string
}

func pagerOf(path string, st listState, prev, next string) pager {
	var p pager
	if prev != "" {
		p.Prev = listState{Query: st.Query, Before: prev}.url(path, "")
	}
	if next != "" {
		p.Next = listState{Query: st.Query, After: next}.url(path, "")
	}
	return p
}

const adminUsersURL = "/admin/users/"

type adminUsersPage struct {
	listState
	Users []store.AdminAccount
	Pager pager
	Self  int64
}

// AdminUsers lists the accounts by username, a page at a time, with what the administrators check of each: second
// factors and recovery codes, administration, whether it is disabled or verified, when it joined, its projects.
func (s *Site) AdminUsers(w http.ResponseWriter, r *http.Request) error {
	v, err := s.page(w, r, policy.ViewAdmin)
	if v == nil {
		return err
	}
	st := listStateOf(r)
	list, err := s.db.AdminAccounts(r.Context(), st.query())
	if err != nil {
		return err
	}
	p := adminUsersPage{listState: st, Users: list.Rows, Pager: pagerOf(adminUsersURL, st, list.Prev, list.Next),
		Self: v.account.ID}
	return s.render(w, r, http.StatusOK, "admin_users", "Users of the index", p, "")
}

// projectRow is a project of the administrators' list, with whether its collaborators all have a second factor.
type projectRow struct {
	store.AdminProject
	FullyProtected bool
	// Unprotected are its collaborators without a second factor.
	Unprotected []string
}

type adminProjectsPage struct {
	listState
	Projects []projectRow
	Pager    pager
}

// AdminProjects lists the projects by name, a page at a time, with their protection: whether they are critical
// and how they came to be, whether every collaborator has a second factor, their organization, files and size.
func (s *Site) AdminProjects(w http.ResponseWriter, r *http.Request) error {
	v, err := s.page(w, r, policy.ViewAdmin)
	if v == nil {
		return err
	}
	st := listStateOf(r)
	list, err := s.db.AdminProjects(r.Context(), st.query())
	if err != nil {
		return err
	}
	p := adminProjectsPage{listState: st, Pager: pagerOf("/admin/projects/", st, list.Prev, list.Next)}
	for _, ap := range list.Rows {
		row := projectRow{AdminProject: ap, FullyProtected: policy.FullyProtected(ap.Collaborators)}
		for _, c := range ap.Collaborators {
			if !c.TwoFactor() {
				row.Unprotected = append(row.Unprotected, c.Username)
			}
		}
		p.Projects = append(p.Projects, row)
	}
	return s.render(w, r, http.StatusOK, "admin_projects", "Projects of the index", p, "")
}

// DisableUser bans an account: its sessions end at once and its API tokens stop working (S6, K6). The form must
// carry the administrator's confirmation, since the account's owner is cut off at once.
func (s *Site) DisableUser(w http.ResponseWriter, r *http.Request) error {
	return s.setDisabled(w, r, true)
}

// EnableUser lifts a ban.
func (s *Site) EnableUser(w http.ResponseWriter, r *http.Request) error {
	return s.setDisabled(w, r, false)
}

func (s *Site) setDisabled(w http.ResponseWriter, r *http.Request, disable bool) error {
	v, err := s.post(w, r, guard{action: policy.Administer, back: adminUsersURL})
	if v == nil {
		return err
	}
	ctx := r.Context()
	username := r.PostForm.Get("username")
	if disable && r.PostForm.Get("confirm") != "yes" {
		return httperror.New(http.StatusBadRequest,
			"Tick the box to confirm: disabling '%s' signs the account out everywhere and revokes its API tokens at once.", username)
	}
	target, err := s.db.AccountByName(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return httperror.New(http.StatusNotFound, "There is no such user.")
	}
	if err != nil {
		return err
	}
	notice := "user-enabled"
	if disable {
		if target.ID == v.account.ID {
			return httperror.New(http.StatusBadRequest, "You cannot disable your own account.")
		}
		err, notice = s.users.Disable(ctx, v.account.ID, target.ID, requestOf(r)), "user-disabled"
	} else {
		err = s.users.Enable(ctx, v.account.ID, target.ID, requestOf(r))
	}
	if err != nil {
		return err
	}
	st := listState{Query: r.PostForm.Get("q"), After: r.PostForm.Get("after"), Before: r.PostForm.Get("before")}
	redirect(w, r, st.url(adminUsersURL, notice))
	return nil
}

// ReserveName keeps a project name from ever being registered (U12): a prohibited name, or one held for someone.
// The name of an existing project needs a confirmation: the reservation does not touch the project, which an
// administrator might otherwise believe.
func (s *Site) ReserveName(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{action: policy.Administer, back: "/admin/"})
	if v == nil {
		return err
	}
	ctx := r.Context()
	name := strings.TrimSpace(r.PostForm.Get("name"))
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if !pypkg.ValidProjectName(name) {
		return httperror.New(http.StatusBadRequest, "That is not a valid project name: use letters, digits, '.', '_' and '-', starting and ending with a letter or digit.")
	}
	if utf8.RuneCountInString(reason) > maxReasonChars || strings.ContainsFunc(reason, isControl) {
		return httperror.New(http.StatusBadRequest, "Give a reason of at most 200 characters, on one line.")
	}
	normalized := pypkg.NormalizeName(name)
	existing, err := s.db.ProjectByName(ctx, normalized)
	switch {
	case err == nil && r.PostForm.Get("confirm") != "yes":
		return httperror.New(http.StatusConflict,
			"'%s' is the name of an existing project; reserving it only stops new projects of that name. Tick the box to reserve it anyway.",
			existing.Name)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return err
	}
	if err := s.db.ReserveName(ctx, normalized, reason, s.now()); err != nil {
		return err
	}
	_ = s.audit.Record(ctx, "name:reserve", v.account.ID, 0, requestOf(r), normalized+": "+reason)
	redirect(w, r, "/admin/?notice=name-reserved")
	return nil
}

// UnreserveName releases a reserved name, so that anyone may create a project of that name again; the form must
// carry the administrator's confirmation.
func (s *Site) UnreserveName(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{action: policy.UnreserveName, back: "/admin/"})
	if v == nil {
		return err
	}
	ctx := r.Context()
	name := pypkg.NormalizeName(strings.TrimSpace(r.PostForm.Get("name")))
	if r.PostForm.Get("confirm") != "yes" {
		return httperror.New(http.StatusBadRequest,
			"Tick the box to confirm: once '%s' is released, anyone can create a project of that name.", name)
	}
	released, err := s.db.UnreserveName(ctx, name)
	if err != nil {
		return err
	}
	notice := "nothing-changed"
	if released {
		notice = "name-released"
		_ = s.audit.Record(ctx, "name:unreserve", v.account.ID, 0, requestOf(r), name)
	}
	redirect(w, r, "/admin/?notice="+notice)
	return nil
}

// waitingOrgs lists the organizations waiting for approval, with who asked for each.
func (s *Site) waitingOrgs(ctx context.Context) ([]orgRequest, error) {
	all, err := s.orgs.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []orgRequest
	for _, o := range all {
		if !o.ApprovedAt.IsZero() {
			continue
		}
		req := orgRequest{Org: o}
		if a, err := s.db.AccountByID(ctx, o.CreatedBy); err == nil {
			req.By = a.Username
		}
		out = append(out, req)
	}
	return out, nil
}

// ApproveOrganization approves an organization that waits for an administrator: it gets its public page, and its
// members the forms of its management page. orgs.Service asks the policy.
func (s *Site) ApproveOrganization(w http.ResponseWriter, r *http.Request) error {
	if s.orgs == nil {
		return errNoOrgs
	}
	v, err := s.post(w, r, guard{back: "/admin/"})
	if v == nil {
		return err
	}
	err = s.orgs.Approve(r.Context(), s.actor(v), r.PostForm.Get("org"), requestOf(r))
	if errors.Is(err, policy.ErrReauthRequired) {
		redirect(w, r, reauthURL("/admin/"))
		return nil
	}
	if err != nil {
		return noSuchOrg(err)
	}
	redirect(w, r, "/admin/?notice=org-approved")
	return nil
}
