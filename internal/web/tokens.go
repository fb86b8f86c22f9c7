package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"wharf/internal/httperror"
	"wharf/internal/notify"
	"wharf/internal/policy"
	"wharf/internal/pypkg"
	"wharf/internal/store"
)

// expiryChoices are the lifetimes the token form offers, in days; "" is no expiry.
var expiryChoices = []string{"", "1", "7", "30", "90", "365"}

const maxTokenName = 100

type tokenRow struct {
	store.Token
	Expired bool
}

type tokensPage struct {
	Tokens   []tokenRow
	Projects []listed // the user's projects, the scopes a token may have
	Verified bool
	// The form as typed, when it was refused.
	Name     string
	Scope    string
	Selected map[string]bool
	Expires  string
}

// Tokens lists the user's API tokens and offers to create one. Like PyPI it needs a recent re-authentication to
// open, since creating and revoking do. It opens as the page that revokes: an account the 2FA mandate holds may
// not create tokens, but must still see and revoke the ones it has.
func (s *Site) Tokens(w http.ResponseWriter, r *http.Request) error {
	v, err := s.page(w, r, policy.RevokeToken)
	if v == nil {
		return err
	}
	return s.tokensPage(w, r, v, http.StatusOK, tokensPage{Scope: "account"}, "")
}

func (s *Site) tokensPage(w http.ResponseWriter, r *http.Request, v *visitor, status int, p tokensPage, formErr string) error {
	ctx := r.Context()
	toks, err := s.db.TokensForUser(ctx, v.account.ID)
	if err != nil {
		return err
	}
	projects, err := s.db.ProjectsOfUser(ctx, v.account.ID)
	if err != nil {
		return err
	}
	now := s.now()
	for _, t := range toks {
		p.Tokens = append(p.Tokens, tokenRow{Token: t, Expired: !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)})
	}
	p.Projects = listProjects(projects)
	p.Verified = !v.account.EmailVerifiedAt.IsZero()
	return s.render(w, r, status, "tokens", "API tokens", p, formErr)
}

// CreateToken mints a token and shows it once, on a response no cache may keep (K8). The owner is mailed, so that
// a token made by someone else does not go unnoticed.
func (s *Site) CreateToken(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{action: policy.CreateToken, back: "/manage/account/token/"})
	if v == nil {
		return err
	}
	ctx := r.Context()
	f := tokensPage{
		Name:     strings.TrimSpace(r.PostForm.Get("name")),
		Scope:    r.PostForm.Get("scope"),
		Expires:  r.PostForm.Get("expires_days"),
		Selected: map[string]bool{},
	}
	again := func(msg string) error { return s.tokensPage(w, r, v, http.StatusBadRequest, f, msg) }
	if v.account.EmailVerifiedAt.IsZero() {
		return again("Verify your email address before creating API tokens: the link is in the mail we sent, or ask for a new one on your account page.")
	}
	if f.Name == "" || utf8.RuneCountInString(f.Name) > maxTokenName || strings.ContainsFunc(f.Name, isControl) {
		return again(fmt.Sprintf("Give the token a name of 1 to %d characters, to recognise it later.", maxTokenName))
	}
	if !slices.Contains(expiryChoices, f.Expires) {
		return again("Choose one of the offered expiry times.")
	}
	var scope []string
	switch f.Scope {
	case "account":
	case "projects":
		mine, err := s.db.ProjectsOfUser(ctx, v.account.ID)
		if err != nil {
			return err
		}
		for _, name := range r.PostForm["project"] {
			n := pypkg.NormalizeName(name)
			if !slices.ContainsFunc(mine, func(p store.ProjectSummary) bool { return p.NormalizedName == n }) {
				return again("A token can only be scoped to projects you are an Owner or Maintainer of.")
			}
			f.Selected[name] = true
			scope = append(scope, n)
		}
		if len(scope) == 0 {
			return again("Choose at least one project, or scope the token to the whole account.")
		}
	default:
		return again("Choose the token's scope.")
	}
	var expires time.Time
	if f.Expires != "" {
		days, _ := strconv.Atoi(f.Expires)
		expires = s.now().Add(time.Duration(days) * 24 * time.Hour).UTC().Truncate(time.Second)
	}
	token, rec, err := s.tokens.Create(ctx, v.account.User, f.Name, scope, expires, requestOf(r))
	if err != nil {
		return err
	}
	scopeText := "all projects"
	if len(rec.Projects) > 0 {
		scopeText = "projects: " + strings.Join(rec.Projects, ", ")
	}
	m, err := s.letters.TokenCreated(v.account.Email, rec.Name, scopeText)
	s.queue(notify.KindTokenCreated, m, err)
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	return s.render(w, r, http.StatusOK, "token_created", "Your new API token", struct {
		Token  string
		Record store.Token
		Scope  string
	}{token, rec, scopeText}, "")
}

// RevokeToken revokes one of the user's tokens; another user's token is not found, exactly like a missing one (K4).
func (s *Site) RevokeToken(w http.ResponseWriter, r *http.Request) error {
	v, err := s.post(w, r, guard{action: policy.RevokeToken, back: "/manage/account/token/"})
	if v == nil {
		return err
	}
	id := r.PostForm.Get("token_id")
	err = s.tokens.Revoke(r.Context(), v.account.ID, id, requestOf(r))
	if errors.Is(err, store.ErrNotFound) {
		return httperror.New(http.StatusNotFound, "There is no such token.")
	}
	if err != nil {
		return err
	}
	redirect(w, r, "/manage/account/token/?notice=token-revoked")
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }
