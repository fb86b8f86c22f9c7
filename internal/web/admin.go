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
	adminResults   = 50
	reservedShown  = 200
	maxReasonChars = 200
)

type adminPage struct {
	Query    string
	Users    []store.Account
	Searched bool
	Reserved []store.ReservedName
	ReadOnly bool
	Self     int64
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

// Admin is the administrators' page: find and disable users, reserve project names, see the index's mode.
func (s *Site) Admin(w http.ResponseWriter, r *http.Request) error {
	v, err := s.page(w, r, policy.ViewAdmin)
	if v == nil {
		return err
	}
	ctx := r.Context()
	p := adminPage{Query: strings.TrimSpace(r.URL.Query().Get("q")), ReadOnly: s.readOnly, Self: v.account.ID}
	if len(p.Query) > maxQuery {
		p.Query = p.Query[:maxQuery]
	}
	if p.Query != "" {
		users, err := s.db.FindAccounts(ctx, p.Query, adminResults)
		if err != nil {
			return err
		}
		p.Users, p.Searched = users, true
	}
	reserved, err := s.db.ReservedNames(ctx, reservedShown)
	if err != nil {
		return err
	}
	p.Reserved = reserved
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

// DisableUser bans an account: its sessions end at once and its API tokens stop working (S6, K6).
func (s *Site) DisableUser(w http.ResponseWriter, r *http.Request) error {
	return s.setDisabled(w, r, true)
}

// EnableUser lifts a ban.
func (s *Site) EnableUser(w http.ResponseWriter, r *http.Request) error {
	return s.setDisabled(w, r, false)
}

func (s *Site) setDisabled(w http.ResponseWriter, r *http.Request, disable bool) error {
	v, err := s.post(w, r, guard{action: policy.Administer, back: "/admin/"})
	if v == nil {
		return err
	}
	ctx := r.Context()
	target, err := s.db.AccountByName(ctx, r.PostForm.Get("username"))
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
	redirect(w, r, "/admin/?notice="+notice+"&q="+url.QueryEscape(target.Username))
	return nil
}

// ReserveName keeps a project name from ever being registered (U12): a prohibited name, or one held for someone.
func (s *Site) ReserveName(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{action: policy.Administer, back: "/admin/"})
	if v == nil {
		return err
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if !pypkg.ValidProjectName(name) {
		return httperror.New(http.StatusBadRequest, "That is not a valid project name.")
	}
	if utf8.RuneCountInString(reason) > maxReasonChars || strings.ContainsFunc(reason, isControl) {
		return httperror.New(http.StatusBadRequest, "Give a reason of at most 200 characters, on one line.")
	}
	normalized := pypkg.NormalizeName(name)
	if err := s.db.ReserveName(r.Context(), normalized, reason, s.now()); err != nil {
		return err
	}
	_ = s.audit.Record(r.Context(), "name:reserve", v.account.ID, 0, requestOf(r), normalized+": "+reason)
	redirect(w, r, "/admin/?notice=name-reserved")
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
