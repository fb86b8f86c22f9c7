package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"wharf/internal/audit"
	"wharf/internal/httperror"
	"wharf/internal/mandate"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// CriticalAdmin designates and releases critical projects at an administrator's word; *critical.Designator
// satisfies it.
type CriticalAdmin interface {
	Mark(ctx context.Context, actorID int64, name, reason string, from audit.Request) (bool, error)
	Release(ctx context.Context, actorID int64, name, reason string, from audit.Request) (bool, error)
}

type policyPage struct {
	Phase              string
	Notice, Restrict   string
	Enforce            string
	Restricted         string
	Brownouts          []brownoutView
	EnforceAccountsFor string
	Early              []store.EarlyEnforcement
	Critical           []store.CriticalName
}

type brownoutView struct {
	From, To string
	State    string // "now", "past" or ""
}

// AdminPolicy is the administrators' page of the two-factor policy: the mandate as configured, who is under its
// enforce phase early, and the critical projects, with the forms that change the last two (rules 1 and 5).
func (s *Site) AdminPolicy(w http.ResponseWriter, r *http.Request) error {
	if s.early == nil || s.critical == nil {
		return errNoManager
	}
	v, err := s.page(w, r, policy.ViewAdmin)
	if v == nil {
		return err
	}
	ctx := r.Context()
	st, err := s.policy.MandateFor(ctx, s.actor(v))
	if err != nil {
		return err
	}
	now := s.now()
	m := st.Mandate
	day := func(t time.Time) string {
		if t.IsZero() {
			return "not set"
		}
		return t.UTC().Format(time.DateOnly)
	}
	var restricted []string
	for _, a := range m.Restricted {
		restricted = append(restricted, policy.Describe(a))
	}
	p := policyPage{Phase: m.PhaseAt(now).String(), Notice: day(m.Notice), Restrict: day(m.Restrict), Enforce: day(m.Enforce),
		Restricted: strings.Join(restricted, ", ")}
	if !m.EnforceAccountsFrom.IsZero() {
		p.EnforceAccountsFor = day(m.EnforceAccountsFrom)
	}
	const minute = "2006-01-02 15:04"
	for _, b := range m.Brownouts {
		bv := brownoutView{From: b.Start.UTC().Format(minute), To: b.End.UTC().Format(minute)}
		switch {
		case b.Contains(now):
			bv.State = "now"
		case b.End.Before(now):
			bv.State = "past"
		}
		p.Brownouts = append(p.Brownouts, bv)
	}
	if p.Early, err = s.early.List(ctx); err != nil {
		return err
	}
	if p.Critical, err = s.db.CriticalNames(ctx); err != nil {
		return err
	}
	return s.render(w, r, http.StatusOK, "admin_policy", "Two-factor policy", p, "")
}

// EnforceEarly places a user or a project under the mandate's enforce phase now, or lifts that (form field
// "lift"), with a reason, in the history.
func (s *Site) EnforceEarly(w http.ResponseWriter, r *http.Request) error {
	if s.early == nil {
		return errNoManager
	}
	v, err := s.post(w, r, guard{action: policy.Administer, back: adminPolicyURL})
	if v == nil {
		return err
	}
	change, notice := s.early.Place, "early-enforced"
	if r.PostForm.Get("lift") != "" {
		change, notice = s.early.Lift, "early-lifted"
	}
	_, changed, err := change(r.Context(), v.account.ID, r.PostForm.Get("kind"), strings.TrimSpace(r.PostForm.Get("name")),
		strings.TrimSpace(r.PostForm.Get("reason")), requestOf(r))
	switch {
	case errors.Is(err, mandate.ErrNoSuchUser), errors.Is(err, mandate.ErrNoSuchProject), errors.Is(err, mandate.ErrNoSuchOrg):
		return httperror.Wrap(err, http.StatusNotFound, "%s", capitalize(err.Error()))
	case errors.Is(err, audit.ErrReason), errors.Is(err, mandate.ErrBadKind):
		return httperror.Wrap(err, http.StatusBadRequest, "%s", capitalize(err.Error()))
	case err != nil:
		return err
	case !changed:
		notice = "nothing-changed"
	}
	redirect(w, r, adminPolicyURL+"?notice="+notice)
	return nil
}

// CriticalProject designates a project critical, or releases it (form field "release"), with a reason, in the
// history; a designation mails the project's collaborators.
func (s *Site) CriticalProject(w http.ResponseWriter, r *http.Request) error {
	if s.critical == nil {
		return errNoManager
	}
	v, err := s.post(w, r, guard{action: policy.Administer, back: adminPolicyURL})
	if v == nil {
		return err
	}
	name := pypkg.NormalizeName(strings.TrimSpace(r.PostForm.Get("name")))
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	change, notice := s.critical.Mark, "critical-marked"
	if r.PostForm.Get("release") != "" {
		change, notice = s.critical.Release, "critical-released"
	}
	changed, err := change(r.Context(), v.account.ID, name, reason, requestOf(r))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return httperror.Wrap(err, http.StatusNotFound, "There is no project of that name.")
	case errors.Is(err, audit.ErrReason):
		return httperror.Wrap(err, http.StatusBadRequest, "%s", capitalize(err.Error()))
	case err != nil:
		return err
	case !changed:
		notice = "nothing-changed"
	}
	redirect(w, r, adminPolicyURL+"?notice="+notice)
	return nil
}

const adminPolicyURL = "/admin/policy/"
